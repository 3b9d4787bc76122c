//! Makes the working directory look as it would after `tarsform apply` of its topology,
//! without Tars: the generated files on disk (as `tarsform render` writes them) and a
//! state that records every resource of the plan as applied. `tarsform plan
//! --refresh=false` then finds no changes. For benchmarks of large topologies
//! (`benches/plan_view_10k.sh`), where an apply against the emulator takes too long.
//!
//! usage: matching_state [CONFIG]   (default: config.toml; run in the workspace)
//!
//! Leaves are signed with a few keys used again and again (a few per core): RSA key
//! generation would take minutes for 10,000 nodes, and a plan only reads the
//! certificates' digests.
//! Tars ids (config rows, server ids, ports, patches) are made up, counting up.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, bail};
use tarsform::addr::Address;
use tarsform::cli::inputs::{GENERATED_ROOT, gather_local, gather_packages, load_topology};
use tarsform::config::{Agency, Topology};
use tarsform::pki::FixedKeys;
use tarsform::plan::{self, Plan, PlanInput, PlanOptions};
use tarsform::state::{StateStore, default_state_path};
use tarsform::workspace::{self, Layout};

/// Distinct keys the leaves of one thread cycle through.
const KEYS: usize = 4;

fn main() -> anyhow::Result<()> {
    let config = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "config.toml".into()));
    let topology = load_topology(&config)?;
    let layout = Layout::new(GENERATED_ROOT, topology.chain.chain_id.clone());
    let files = render_workspace(&topology, &layout)?;
    workspace::packages(&topology, &layout)?;
    let graph = tarsform::graph::desired(&topology)?;
    let mut local = gather_local(&topology, &graph, GENERATED_ROOT);
    gather_packages(&topology, GENERATED_ROOT, &mut local, |_| None);
    let everything = plan::plan(&PlanInput {
        topology: &topology,
        graph: &graph,
        state: None,
        observed: None,
        local: &local,
        options: &PlanOptions::default(),
    })?;
    let (resources, path) = write_state_after(&everything, &topology.chain.chain_id)?;
    eprintln!(
        "matching_state: {files} files under {GENERATED_ROOT}/, {resources} resources in {}",
        path.display()
    );
    Ok(())
}

/// Saves, as the chain's new state (fresh lineage), the state `plan` leads to once
/// applied. Returns how many resources it holds and where it is.
fn write_state_after(plan: &Plan, chain_id: &str) -> anyhow::Result<(usize, PathBuf)> {
    let path = default_state_path(chain_id);
    let mut store = StateStore::open(&path, "matching_state")?;
    let prior = store.load_or_new(chain_id)?;
    if !prior.resources.is_empty() {
        bail!(
            "{} already holds resources; run in an empty workspace",
            path.display()
        );
    }
    let next_id = Cell::new(1000_u64);
    let unknown = RefCell::new(Vec::new());
    let mut state = plan::state_after(plan, Some(&prior), |address: &Address, key: &str| {
        if !matches!(key, "config_id" | "server_id" | "adapter_port" | "patch_id") {
            unknown.borrow_mut().push(format!("{address}.{key}"));
        }
        next_id.set(next_id.get() + 1);
        serde_json::json!(next_id.get())
    });
    let unknown = unknown.into_inner();
    if let Some(first) = unknown.first() {
        bail!(
            "{} value(s) known only after apply besides Tars ids, e.g. {first}",
            unknown.len()
        );
    }
    store.save(&mut state).context("writing the state")?;
    Ok((state.resources.len(), path))
}

/// Writes the generated files as `tarsform render` does; once the first agency has made
/// the CAs, the others are shared out among the cores, each with keys of its own.
/// Returns how many files there are.
fn render_workspace(topology: &Topology, layout: &Layout) -> anyhow::Result<usize> {
    let render = |agencies: &[Agency]| -> anyhow::Result<Vec<PathBuf>> {
        let part = Topology {
            agencies: agencies.to_vec(),
            ..topology.clone()
        };
        let mut keys = FixedKeys::new(fixed_keys()?);
        let files = workspace::generate(&part, layout, &mut keys)?;
        Ok(files.into_iter().map(|f| f.path).collect())
    };
    let Some((first, rest)) = topology.agencies.split_first() else {
        return Ok(0);
    };
    let mut files: BTreeSet<PathBuf> = render(std::slice::from_ref(first))?.into_iter().collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let share = rest.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rest
            .chunks(share)
            .map(|chunk| scope.spawn(move || render(chunk)))
            .collect();
        for handle in handles {
            files.extend(handle.join().expect("a rendering thread panicked")?);
        }
        Ok(files.len())
    })
}

/// A few RSA-2048 keys for the CAs and leaves to share.
fn fixed_keys() -> anyhow::Result<Vec<String>> {
    (0..KEYS)
        .map(|_| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
            Ok(key.serialize_pem())
        })
        .collect()
}
