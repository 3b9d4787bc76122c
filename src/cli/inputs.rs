//! Gathering plan inputs from disk: the topology, its graph, the state, and the local
//! files the planner compares (CA, leaf certificates, key digests, config copies,
//! packages). Private keys are never read into memory beyond hashing them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;

use std::net::IpAddr;

use crate::addr::{Address, ResourceKind};
use crate::apply::fetched_keys;
use crate::config::{BackendSettings, ServiceKind, Topology};
use crate::graph::{self, ResourceGraph};
use crate::plan::paths::Paths;
use crate::plan::{LocalCa, LocalCert, LocalFiles, LocalPackage, sha256_hex};
use crate::render;
use crate::state::{self, State, StateLocation};

/// Where generated files live, as BcosBuilder's default `-O`.
pub const GENERATED_ROOT: &str = "generated";

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
    let graph = graph::desired(&topology)
        .with_context(|| format!("building the resource graph of {}", config.display()))?;
    let state = read_checked_state(&location, Some(&topology.chain.chain_id))?;
    super::backend::warn_on_journal(&location);
    let local = gather_local(&topology, &graph, root);
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

/// A workspace file, or its copy among the keys fetched from the backend for this run.
fn fetched(path: &Path) -> PathBuf {
    fetched_keys::resolve(path)
}

/// The text of a workspace file (or of its fetched copy).
fn read_text(path: &Path) -> Option<String> {
    fetched_keys::read_resolved(path, |p| std::fs::read_to_string(p)).ok()
}

/// Whether a workspace file (or its fetched copy) is there.
fn is_file(path: &Path) -> bool {
    fetched_keys::is_file_resolved(path)
}

/// Reads what the planner compares, for every resource of the graph (keys fetched from
/// the backend's custody count as present).
pub fn gather_local(topology: &Topology, graph: &ResourceGraph, root: &str) -> LocalFiles {
    let paths = Paths::new(topology, root);
    let mut local = LocalFiles::default();
    for kind in ServiceKind::ALL {
        if !graph.contains(&Address::ca(kind)) {
            continue;
        }
        let dir = PathBuf::from(paths.ca_dir(topology, kind));
        let mode = topology.chain.cert_mode(kind);
        let cert_pem = read_text(&dir.join(mode.ca_cert_file()));
        let key_present = is_file(&dir.join(mode.ca_key_file()));
        if cert_pem.is_some() || key_present {
            local.cas.insert(
                kind,
                LocalCa {
                    cert_pem,
                    key_present,
                },
            );
        }
    }
    // A server with no directory (here or fetched) has no files: one look, not one per file.
    let mut server_dirs: std::collections::HashMap<String, bool> = Default::default();
    for address in graph.addresses() {
        let (Some(server), Some(ip)) = (address.server_name(), address.ip()) else {
            continue;
        };
        let (Some(kind), Ok(ip)) = (graph::kind_of_server(server), ip.parse::<IpAddr>()) else {
            continue;
        };
        let has_dir = match server_dirs.get(server) {
            Some(known) => *known,
            None => {
                let node_dir = PathBuf::from(paths.node_dir(kind, server, ip));
                let exists = node_dir.parent().is_some_and(|dir| fetched(dir).is_dir());
                *server_dirs.entry(server.to_string()).or_insert(exists)
            }
        };
        if !has_dir {
            continue;
        }
        match (address.kind(), address.leaf_name()) {
            (ResourceKind::Cert, Some(purpose)) => {
                let (cert, key) = paths.cert_paths(kind, server, ip, purpose);
                if let Some(cert_pem) = read_text(Path::new(&cert)) {
                    let key_present = is_file(Path::new(&key));
                    local.certs.insert(
                        address.clone(),
                        LocalCert {
                            cert_pem,
                            key_present,
                        },
                    );
                }
            }
            (ResourceKind::Config, Some(file)) => {
                let path = paths.config_path(kind, server, ip, file);
                if let Ok(bytes) = fetched_keys::read_resolved(Path::new(&path), |p| std::fs::read(p)) {
                    local.configs.insert(address.clone(), sha256_hex(&bytes));
                }
            }
            _ => {}
        }
    }
    for svc in topology.services() {
        let server = svc.server_name();
        if let Some(pin) = crate::config::pin_for(&topology.tars.packages, &server, svc.kind()) {
            let package = LocalPackage::Pinned {
                version: pin.version.clone(),
                archive_sha256: pin.sha256.clone(),
                from: pin.source.shown(),
                cache: paths.package_cache_path(&pin.sha256),
                path: paths.package_path(&server),
            };
            local.packages.insert(server, package);
            continue;
        }
        let source = paths.package_source(svc.kind());
        let built = std::fs::read(&source)
            .map_err(|e| format!("cannot read `{source}`: {e}"))
            .and_then(|bytes| {
                render::package::build(&bytes, svc.kind(), &server).map_err(|e| format!("`{source}`: {e}"))
            });
        let package = match built {
            Ok(built) => LocalPackage::Built {
                sha256: sha256_hex(&built),
                size: built.len() as u64,
                path: paths.package_path(&server),
                source,
            },
            Err(reason) => LocalPackage::Missing { reason, source },
        };
        local.packages.insert(server, package);
    }
    local
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
