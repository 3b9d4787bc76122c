//! Gathering plan inputs from disk: the topology, its graph, the state, and the local
//! files the planner compares (CA, leaf certificates, key digests, config copies,
//! packages; see [`gather_local`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use super::local_files::{gather_local, gather_packages};
use crate::config::{BackendSettings, Topology};
use crate::graph::{self, ResourceGraph};
use crate::plan::LocalFiles;
use crate::state::{self, State, StateLocation};

/// Where generated files live, as BcosBuilder's default `-O`.
pub const GENERATED_ROOT: &str = "generated";

/// A plan read from a file (a saved plan, the one a journal records) is for this
/// topology's chain and Tars application, and places local files in the workspace's
/// generated directory, or it is refused: `hint` says what to do.
pub fn check_plan_identity(
    plan: &crate::plan::Plan,
    topology: &Topology,
    source: &str,
    hint: &str,
) -> anyhow::Result<()> {
    let chain = &topology.chain.chain_id;
    let problem = if plan.generated_root != GENERATED_ROOT {
        format!(
            "names `{}` as the generated directory, not `{GENERATED_ROOT}` (the workspace layout)",
            plan.generated_root
        )
    } else if &plan.chain_id != chain || plan.application != topology.application() {
        format!(
            "is for chain `{}` (Tars application `{}`), not `{chain}` of the topology",
            plan.chain_id, plan.application
        )
    } else {
        return Ok(());
    };
    anyhow::bail!("{source} {problem}; refusing it\nhint: {hint}")
}

/// Everything `plan` reads from disk.
pub struct PlanContext {
    pub topology: Topology,
    pub graph: ResourceGraph,
    pub location: StateLocation,
    pub state: Option<State>,
    pub local: LocalFiles,
}

/// The topology of `path`, merged with the later `-c` files when there are any.
pub fn load_topology(path: &Path) -> anyhow::Result<Topology> {
    load_topology_and_backend(path).map(|(topology, _)| topology)
}

/// [`load_topology`], and the `[backend]` of `path` (parsed with it, not again).
pub fn load_topology_and_backend(path: &Path) -> anyhow::Result<(Topology, BackendSettings)> {
    let files = super::config_files::files_for(path);
    let (mut topology, backend) = crate::config::load_full(path).map_err(anyhow::Error::new)?;
    let mut name = path.display().to_string();
    for file in &files[1..] {
        let later = crate::config::load(file).map_err(anyhow::Error::new)?;
        let later_name = file.display().to_string();
        topology = crate::config::merge(topology, &name, later, &later_name).map_err(anyhow::Error::new)?;
        name = later_name;
    }
    if let Some(key) = crate::config::unknown_servers(&topology).first() {
        anyhow::bail!(
            "{}: `[tars.packages.{key}]` names no service of the topology\nhint: use `rpc`, `gateway` or a server name such as {}",
            path.display(),
            topology
                .services()
                .next()
                .map_or("agencyABcosRpcService".to_string(), |s| s.server_name())
        );
    }
    Ok((topology, backend))
}

/// `--state`, or `state/<chain_id>.state.json`.
pub fn state_path(arg: Option<&Path>, chain_id: &str) -> PathBuf {
    arg.map(Path::to_path_buf)
        .unwrap_or_else(|| state::default_state_path(chain_id))
}

pub fn gather(config: &Path, state_arg: Option<&Path>, root: &str) -> anyhow::Result<PlanContext> {
    let (topology, backend) = load_topology_and_backend(config)?;
    let location = super::backend::location_with(state_arg, &topology, || Ok(backend))?;
    gather_at(config, topology, location, root)
}

/// As [`gather`], for a topology already loaded and its state's location.
pub fn gather_at(
    config: &Path,
    topology: Topology,
    location: StateLocation,
    root: &str,
) -> anyhow::Result<PlanContext> {
    // The state (tens of MB at scale) is parsed while the graph is built and the local
    // files are read: neither needs the other.
    let (graph_and_local, state) = std::thread::scope(|scope| {
        let state = scope.spawn(|| read_checked_state(&location, Some(&topology.chain.chain_id)));
        let graph_and_local = graph::desired(&topology).map(|graph| {
            let local = gather_local(&topology, &graph, root);
            (graph, local)
        });
        let state = state
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (graph_and_local, state)
    });
    let (graph, mut local) =
        graph_and_local.with_context(|| format!("building the resource graph of {}", config.display()))?;
    let state = state?;
    gather_packages(&topology, root, &mut local, |server| {
        state
            .as_ref()?
            .get(&crate::addr::Address::server(server))?
            .attributes
            .get("package_sha256")?
            .as_str()
    });
    super::backend::warn_on_journal(&location);
    Ok(PlanContext {
        topology,
        graph,
        location,
        state,
        local,
    })
}

/// Reads the state at `location` (unlocked) and refuses it unless it is this chain's
/// (`chain_id`, when the topology is known) and its journal's.
pub fn read_checked_state(location: &StateLocation, chain_id: Option<&str>) -> anyhow::Result<Option<State>> {
    let state = location
        .read()
        .with_context(|| format!("reading the state {location}"))?;
    if let Some(s) = &state {
        check_identity(location, s, chain_id)?;
    }
    Ok(state)
}

/// Refuses `state` (read from `location`) when it belongs to another chain than
/// `chain_id` or another lineage than its journal. Nothing is read from Tars or
/// written before this check passes.
pub fn check_identity(location: &StateLocation, state: &State, chain_id: Option<&str>) -> anyhow::Result<()> {
    // A journal that cannot be read is reported by the commands that use it.
    let journal_lineage = location
        .open()
        .and_then(|backend| backend.journal())
        .and_then(state::JournalFile::load)
        .ok()
        .flatten()
        .and_then(|j| j.lineage);
    state
        .check_identity(chain_id, journal_lineage.as_deref())
        .map_err(|e| {
            let hint = match e {
                state::IdentityError::ForeignChain { .. } => {
                    "pass --state with this chain's state file, or put the other chain's state back where it belongs; nothing was changed"
                }
                state::IdentityError::ForeignJournal { .. } => {
                    "the journal belongs to another state: restore the state that run wrote, or move the journal away once you have checked Tars by hand; nothing was changed"
                }
            };
            anyhow::anyhow!("refusing to use state `{location}`: it {e}\nhint: {hint}")
        })
}

static NO_COLOR_FLAG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--no-color` was given.
pub fn set_no_color(no_color: bool) {
    NO_COLOR_FLAG.store(no_color, std::sync::atomic::Ordering::Relaxed);
}

/// Colour is allowed: no `--no-color`, and `NO_COLOR` unset or empty (no-color.org).
pub fn color_allowed() -> bool {
    !NO_COLOR_FLAG.load(std::sync::atomic::Ordering::Relaxed)
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Colour only for a terminal, and only when allowed.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && color_allowed()
}
