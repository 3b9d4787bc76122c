//! `tarsform refresh`: under the state lock, read Tars, update the attributes Tars owns
//! (ids, digests of rows edited out of band) and print a drift report. Removes nothing;
//! saves only when something changed.

use anyhow::Context;

use super::inputs;
use super::tars_client::observe_blocking;
use super::{Outcome, RefreshArgs};
use crate::apply::refresh::drift::{self, Drift, DriftKind};
use crate::graph;
use crate::state::State;

pub fn run(args: RefreshArgs) -> anyhow::Result<Outcome> {
    let topology = inputs::load_topology(&args.config.config)?;
    let graph = graph::desired(&topology)
        .with_context(|| format!("building the resource graph of {}", args.config.config.display()))?;
    let location = super::backend::location(args.state.state.as_deref(), &args.config.config, &topology)?;
    let mut store = super::backend::open_store(&location, "refresh")?;
    super::backend::warn_on_journal(&location);
    let existing = store.load()?;
    if let Some(s) = &existing {
        inputs::check_identity(&location, s, Some(&topology.chain.chain_id))?;
    }
    let has_state = existing.is_some();
    let mut state = existing.unwrap_or_else(|| State::new(topology.chain.chain_id.clone(), String::new()));
    let observed = observe_blocking(&topology, has_state.then_some(&state))?;
    let before = state.clone();
    let drifts = drift::refresh_state(&mut state, &observed, &graph);
    let nodes: usize = observed.servers.values().map(|s| s.nodes.len()).sum();
    println!(
        "Read {} server(s) with {nodes} node(s) from Tars at {}.",
        observed.servers.len(),
        topology.tars.url
    );
    for d in &drifts {
        println!("{} {d}", symbol(d));
    }
    if drifts.is_empty() {
        println!("No drift: the state matches Tars.");
    } else {
        println!("Drift: {} difference(s).", drifts.len());
    }
    if !has_state {
        eprintln!("note: no state at `{}`; nothing was saved", location);
    } else if state != before {
        store.save(&mut state)?;
        println!("Updated the state `{}` (serial {}).", location, state.serial);
    }
    Ok(Outcome::Success)
}

fn symbol(drift: &Drift) -> &'static str {
    match drift.kind {
        DriftKind::ConfigEdited { .. } | DriftKind::IdChanged { .. } | DriftKind::AdapterChanged { .. } => {
            "~"
        }
        DriftKind::ConfigMissing | DriftKind::NodeGone => "-",
        DriftKind::NodeNotInState { .. } => "+",
    }
}
