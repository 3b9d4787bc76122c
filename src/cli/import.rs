//! `tarsform import ADDR`: under the state lock, adopt a node that already runs in Tars
//! (with its config rows) into the state, so the next plan does not register it again.

use anyhow::Context;

use super::inputs::{self, GENERATED_ROOT};
use super::tars_client::{client_for, runtime};
use super::{ImportArgs, Outcome};
use crate::addr::Address;
use crate::apply::refresh::{self, adopt};
use crate::graph;

pub fn run(args: ImportArgs) -> anyhow::Result<Outcome> {
    let address: Address = args.address.parse()?;
    let topology = inputs::load_topology(&args.config.config)?;
    let graph = graph::desired(&topology)
        .with_context(|| format!("building the resource graph of {}", args.config.config.display()))?;
    let location = super::backend::location(args.state.state.as_deref(), &args.config.config, &topology)?;
    let mut store = super::backend::open_store(&location, "import")?;
    super::backend::warn_on_journal(&location);
    inputs::read_checked_state(&location, Some(&topology.chain.chain_id))?;
    let mut state = store.load_or_new(&topology.chain.chain_id)?;
    adopt::check_importable(&address, &graph, &state)?;
    let server = address.server_name().unwrap_or_default();
    let api = client_for(&topology)?;
    let observed = runtime()?
        .block_on(refresh::observe_server(&api, topology.application(), server))
        .with_context(|| format!("reading server `{server}` from Tars at {}", topology.tars.url))?;
    let adopted = adopt::adopt(
        &mut state,
        &address,
        &topology,
        &graph,
        observed.as_ref(),
        GENERATED_ROOT,
    )?;
    store.save(&mut state)?;
    println!("Imported {} (server id {}).", adopted.node, adopted.server_id);
    for config in &adopted.configs {
        println!("Imported {config}.");
    }
    for config in &adopted.kept {
        println!("Kept {config}: already in the state.");
    }
    println!(
        "Saved the state `{}` (serial {}). Run `tarsform plan` to see what still differs.",
        location, state.serial
    );
    Ok(Outcome::Success)
}
