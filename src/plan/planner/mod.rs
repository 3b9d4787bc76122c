//! The planning pass: per service, its server, then per node its certs, configs and the
//! node; then CAs, tarsnodes and deletions; then targets. See `plan::plan`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use super::digest::{pem_sha256, sha256_hex};
use super::paths::Paths;
use super::targets;
use super::{
    Action, Attrs, CaPrecondition, LocalPackage, Observed, ObservedNode, PLAN_FORMAT_VERSION, Plan,
    PlanError, PlanInput, Preconditions, PriorState, ResourceChange, ResourceState, ResourceStatus, State,
};
use crate::addr::{Address, ResourceKind};
use crate::compact::VecSet;
use crate::config::{ServiceKind, ServiceRef, Topology};
use crate::graph::kind_of_server;
use crate::render;

mod adapter;
mod ca;
mod ca_continuity;
mod cert;
mod config;
mod delete;
mod existing;
mod node;
mod protect;
mod server;
mod switch;
mod tarsnode;

pub use adapter::{AdapterCheck, check as check_adapter, servant as servant_name};
pub use node::RESTART_REQUESTED;
use server::PlannedServer;
pub use server::{PINNED_PREFIX, pinned_identity};
use tarsnode::{needs_ca, plan_tarsnodes};

/// Attributes that say what apply does, not what is: never carried into state.
pub const TRANSIENT_ATTRS: [&str; 4] = ["restart_reason", "run_command", "repatch", "adapter_fix"];

/// Files whose content is a private key (RSA or SM): never in a plan.
const SENSITIVE_FILES: [&str; 3] = crate::config::SECRET_FILES;

pub(super) fn run(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    // Hashing the local files (tens of MB at scale) needs nothing the planning makes:
    // it is done alongside.
    std::thread::scope(|scope| {
        let digest = scope.spawn(|| super::inputs_digest(input.local));
        plan_with(input, || {
            digest
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// The plan of `input`; `inputs_digest` gives the digest of its local files.
fn plan_with(input: &PlanInput<'_>, inputs_digest: impl FnOnce() -> String) -> Result<Plan, PlanError> {
    let mut p = Planner::new(input);
    // Full-restart notes go here, once targets have narrowed the changes.
    let mut restart_notes_at = None;
    if !input.options.destroy {
        p.check_crypto_switches()?;
        p.check_ca_continuity()?;
        for svc in input.topology.services() {
            p.plan_service(svc);
        }
        p.plan_switch_leftovers();
        p.plan_cas();
        restart_notes_at = Some(p.notes.len());
        p.notes.extend(crate::config::peer_warnings(input.topology));
    }
    p.plan_deletions();
    let scope = targets::scope(input, &p.changes);
    if let Some(scope) = &scope {
        p.changes.retain(|a, _| scope.contains(a));
        p.blockers.retain(|(a, _)| scope.contains(a));
    }
    if let Some(at) = restart_notes_at {
        let others = p.notes.split_off(at);
        p.note_full_restarts();
        p.notes.extend(others);
    }
    if let Some((_, err)) = p.blockers.into_iter().next() {
        return Err(err);
    }
    protect::check(input, &p.changes)?;
    let mut changes = p.changes;
    let mut preconditions = p.preconditions;
    plan_tarsnodes(input, &mut changes, &mut preconditions, scope.as_ref())?;
    preconditions.ca.retain(|kind, _| needs_ca(&changes, kind));
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        chain_id: input.topology.chain.chain_id.clone(),
        application: input.topology.application().to_string(),
        tars_url: input.topology.tars.url.clone(),
        generated_root: input.options.generated_root.clone(),
        prior: input.state.map(|s| PriorState {
            lineage: s.lineage.clone(),
            serial: s.serial,
        }),
        topology_digest: super::topology_digest(input.topology),
        inputs_digest: inputs_digest(),
        observed_digest: input.observed.map(super::digest::json_sha256),
        refreshed: input.observed.is_some(),
        destroy: input.options.destroy,
        changes: changes.into_values().collect(),
        preconditions,
        notes: p.notes,
        drift: p.drift,
    })
}

/// What the planner knows about the CA of one service type.
struct CaFacts<'a> {
    dir: String,
    /// The CA certificate in use: the local `ca.crt`, else the one recorded in state.
    pem: Option<&'a str>,
    digest: Option<String>,
    /// sha256 of the `ca.crt` bytes, as pushed to nodes.
    file_digest: String,
    key_present: bool,
    /// Whether `ca.crt` is on disk (else `pem` comes from state, if anywhere).
    local: bool,
    /// The CA fingerprint recorded in state.
    state_digest: Option<String>,
}

/// The desired content of one config file, borrowed: copied into a change only when
/// there is one.
enum Content<'c> {
    /// Text and its sha256.
    Text(&'c str, Cow<'c, str>),
    /// A private key: only the digest of the local file.
    KeyDigest(Cow<'c, str>),
    /// Generated during apply.
    Unknown,
}

impl Content<'_> {
    fn digest(&self) -> Option<&str> {
        match self {
            Content::Text(_, d) | Content::KeyDigest(d) => Some(d),
            Content::Unknown => None,
        }
    }
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    topology: &'a Topology,
    paths: Paths,
    /// The state's resources by address: a hash lookup for each resource planned,
    /// cheaper than a search of the state's ordered map.
    recorded: HashMap<&'a Address, &'a ResourceState>,
    cas: BTreeMap<ServiceKind, CaFacts<'a>>,
    /// Service types with nodes that exist and stay (in Tars or in state).
    kinds_with_nodes: BTreeSet<ServiceKind>,
    /// Service types switching between RSA and SM (`--switch-crypto`).
    switching: BTreeSet<ServiceKind>,
    /// Service types whose CA must sign new certificates.
    certs_to_sign: BTreeSet<ServiceKind>,
    changes: BTreeMap<Address, ResourceChange>,
    blockers: Vec<(Address, PlanError)>,
    preconditions: Preconditions,
    notes: Vec<String>,
    /// What changed outside tarsform, one line per object.
    drift: Vec<String>,
}

impl<'a> Planner<'a> {
    fn new(input: &'a PlanInput<'a>) -> Self {
        let topology = input.topology;
        let cas = ServiceKind::ALL
            .into_iter()
            .map(|kind| {
                let local = input.local.cas.get(&kind);
                let local_pem = local.and_then(|c| c.cert_pem.as_deref());
                let recorded = input
                    .state
                    .and_then(|s| s.resources.get(&Address::ca(kind)))
                    .map(|r| &r.attributes);
                let recorded_str = |key: &str| recorded.and_then(|a| a.get(key)).and_then(Value::as_str);
                let state_digest = recorded_str("cert_sha256").map(str::to_string);
                let is_local = local_pem.is_some();
                // A recorded CA of the other key type (a switch RSA ↔ SM) is not this CA.
                let sm = topology.chain.cert_mode(kind).is_sm();
                let recorded_pem =
                    recorded_str("cert_pem").filter(|pem| crate::pki::sm2::is_sm2_cert(pem) == sm);
                let pem = local_pem.or(recorded_pem);
                let facts = CaFacts {
                    dir: Paths::new(topology, &input.options.generated_root).ca_dir(topology, kind),
                    digest: pem.map(pem_sha256),
                    file_digest: sha256_hex(pem.unwrap_or_default().as_bytes()),
                    pem,
                    key_present: local.is_some_and(|c| c.key_present),
                    local: is_local,
                    state_digest,
                };
                (kind, facts)
            })
            .collect();
        let mut p = Planner {
            input,
            topology,
            paths: Paths::new(topology, &input.options.generated_root),
            recorded: match input.state {
                Some(s) => {
                    let mut index = HashMap::with_capacity(s.resources.len());
                    index.extend(&s.resources);
                    index
                }
                None => HashMap::new(),
            },
            cas,
            kinds_with_nodes: BTreeSet::new(),
            switching: BTreeSet::new(),
            certs_to_sign: BTreeSet::new(),
            changes: BTreeMap::new(),
            blockers: Vec::new(),
            preconditions: Preconditions::default(),
            notes: Vec::new(),
            drift: Vec::new(),
        };
        for kind in ServiceKind::ALL {
            if p.kind_has_existing_nodes(kind) {
                p.kinds_with_nodes.insert(kind);
            }
        }
        p
    }

    /// Records the change of `address` (`tainted` as the state says) unless it is none.
    fn push(
        &mut self,
        address: Address,
        tainted: bool,
        action: Action,
        reason: impl Into<String>,
        before: Option<&Attrs>,
        after: Desired,
    ) -> Action {
        let (action, reason) = match (action, tainted) {
            (Action::NoOp | Action::Update | Action::Import, true) => (
                Action::Replace,
                "tainted: an earlier apply did not finish it".to_string(),
            ),
            (a, _) => (a, reason.into()),
        };
        if action == Action::NoOp {
            return action;
        }
        let before = before.cloned();
        let mut after = after;
        if let (Some(before), Action::Update | Action::Import) = (&before, action) {
            // Ids and ports Tars gave earlier stay what they are.
            for (key, value) in before {
                if !after.attrs.contains_key(key)
                    && !after.unknown.contains(key)
                    && !TRANSIENT_ATTRS.contains(&key.as_str())
                {
                    after.attrs.insert(key.clone(), value.clone());
                }
            }
        }
        // The graph's copy of the address: its keys are shared, not held twice.
        let (address, depends_on) = match self.input.graph.vertex(&address) {
            Some((shared, dependencies)) => (shared.clone(), dependencies),
            None => (address, VecSet::new()),
        };
        self.changes.insert(
            address.clone(),
            ResourceChange {
                address,
                action,
                reason,
                before,
                after: Some(after.attrs),
                after_unknown: after.unknown,
                sensitive: after.sensitive,
                depends_on,
            },
        );
        action
    }

    /// Says so when every running node of a server restarts in this plan.
    fn note_full_restarts(&mut self) {
        for svc in self.topology.services() {
            let server = svc.server_name();
            let running = self.existing_nodes(&server);
            let restarting = running
                .iter()
                .filter(|ip| {
                    self.changes.get(&Address::node(&server, ip)).is_some_and(|c| {
                        (c.action == Action::Update && c.attr("run_command").is_none())
                            || (c.action == Action::Import && c.attr("restart_reason").is_some())
                    })
                })
                .count();
            if restarting > 0 && restarting == running.len() {
                self.notes.push(format!(
                    "every node of server `{server}` restarts ({restarting} node(s), one at a time); \
                     with one node the service is down while it restarts"
                ));
            }
        }
    }

    fn plan_service(&mut self, svc: ServiceRef<'_>) {
        let server = svc.server_name();
        let kind = svc.kind();
        let server_action = self.plan_server(svc, &server);
        let planned_server = self.planned_server(&server, server_action);
        // nodes.json is the same for every node of the service.
        let nodes_json = with_digest(match kind {
            ServiceKind::Gateway => render::nodes_json(svc),
            ServiceKind::Rpc => String::new(),
        });
        let existing = self.existing_nodes(&server);
        let mut register_source = existing.iter().next().cloned();
        // config.ini depends on the node's listen_ip/listen_port/thread_count only: the
        // nodes without settings of their own share one rendering.
        let mut shared_ini = None;
        for &ip_addr in &svc.service.deploy_ip {
            let ip = ip_addr.to_string();
            let own = svc.service.nodes.get(&ip_addr);
            let own_ini;
            let config_ini = match own {
                Some(_) => {
                    own_ini = self.config_ini(svc, &svc.service.for_node(ip_addr));
                    &own_ini
                }
                None => shared_ini.get_or_insert_with(|| self.config_ini(svc, svc.service)),
            };
            let node_dir = self.paths.node_dir(kind, &server, ip_addr);
            let address = Address::node(&server, &ip);
            let (before, tainted) = self.recorded(&address);
            let node = NodeCtx {
                address,
                before,
                tainted,
                server: &server,
                ip: &ip,
                ip_addr,
                kind,
                dir: &node_dir,
                observed: self.observed().and_then(|o| o.node(&server, &ip)),
                run: own.map_or(svc.service.state, |n| n.state),
                storage: svc.agency.enable_storage_security.then_some(svc.agency),
            };
            let mode = self.topology.chain.cert_mode(kind);
            let mut new_certs = BTreeSet::new();
            for purpose in mode.cert_purposes(kind) {
                if self.plan_cert(&node, purpose) {
                    new_certs.insert(*purpose);
                }
            }
            let mut pushed = Vec::new();
            for file in mode.config_files(kind) {
                let content = match *file {
                    "config.ini" => Content::Text(&config_ini.0, Cow::Borrowed(&config_ini.1)),
                    "nodes.json" => Content::Text(&nodes_json.0, Cow::Borrowed(&nodes_json.1)),
                    _ => {
                        let purpose = crate::config::file_purpose(file).unwrap_or("ssl");
                        self.cert_file_content(&node, file, new_certs.contains(purpose))
                    }
                };
                if self.plan_config(&node, file, content) {
                    pushed.push(*file);
                }
            }
            self.plan_node(&node, &planned_server, &pushed, &mut register_source);
        }
    }
}

impl Planner<'_> {
    /// The `config.ini` of a node of `svc` whose settings are `service`, and its digest.
    /// Storage security: the cipher data key is a secret; the plan keeps the digest of the
    /// real file and a text with the key redacted (apply puts it back).
    fn config_ini(&self, svc: ServiceRef<'_>, service: &crate::config::Service) -> (String, String) {
        let (text, digest) = with_digest(render::config_ini(
            self.topology,
            ServiceRef {
                agency: svc.agency,
                service,
            },
        ));
        match storage_secret(svc) {
            Some(key) => (redact_cipher_key(&text, key), digest),
            None => (text, digest),
        }
    }
}

/// A file's text and its sha256.
fn with_digest(text: String) -> (String, String) {
    let digest = sha256_hex(text.as_bytes());
    (text, digest)
}

/// One node being planned.
struct NodeCtx<'n> {
    address: Address,
    /// What the state records of the node, and whether it is tainted.
    before: Option<&'n Attrs>,
    tainted: bool,
    server: &'n str,
    ip: &'n str,
    ip_addr: std::net::IpAddr,
    kind: ServiceKind,
    dir: &'n str,
    observed: Option<&'n ObservedNode>,
    /// `state = "started" | "stopped"` of this node.
    run: crate::config::RunState,
    /// The node's agency when it has storage security (`enable_storage_security`).
    storage: Option<&'n crate::config::Agency>,
}

/// The `after` side of a change being built.
#[derive(Default)]
struct Desired {
    attrs: Attrs,
    unknown: VecSet<String>,
    sensitive: VecSet<String>,
}

impl Desired {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.attrs.insert(key.to_string(), value.into());
    }

    fn unknown(&mut self, key: &str) {
        self.unknown.insert(key.to_string());
    }
}

/// The cipher data key of `svc`'s agency when storage security is on.
fn storage_secret<'s>(svc: ServiceRef<'s>) -> Option<&'s str> {
    let agency = svc.agency;
    (agency.enable_storage_security && !agency.cipher_data_key.is_empty())
        .then_some(agency.cipher_data_key.as_str())
}

/// `cipher_data_key = (sensitive)` in place of the key.
pub fn redact_cipher_key(config_ini: &str, key: &str) -> String {
    config_ini.replace(
        &format!("cipher_data_key = {key}"),
        &format!("cipher_data_key = {}", crate::secret::REDACTED),
    )
}

/// The inverse of [`redact_cipher_key`], at apply.
pub fn restore_cipher_key(config_ini: &str, key: &str) -> String {
    config_ini.replace(
        &format!("cipher_data_key = {}", crate::secret::REDACTED),
        &format!("cipher_data_key = {key}"),
    )
}

impl Planner<'_> {
    /// A service type whose running nodes use the other certificate set (a key file of
    /// the other mode in the state or in Tars) switches only with `--switch-crypto`;
    /// then its CA continuity is not checked (a new CA of the new type is intended).
    fn check_crypto_switches(&mut self) -> Result<(), PlanError> {
        for svc in self.topology.services() {
            let kind = svc.kind();
            let mode = self.topology.chain.cert_mode(kind);
            let other = crate::config::CertMode::of(!mode.is_sm());
            let old_key = other.key_files()[0];
            let server = svc.server_name();
            for ip in &svc.service.deploy_ip {
                let ip = ip.to_string();
                // Running with the old set: its key present and the new one absent.
                let new_key = mode.key_files()[0];
                let in_state = self.state().is_some_and(|s| {
                    s.get(&Address::config(&server, &ip, old_key)).is_some()
                        && s.get(&Address::config(&server, &ip, new_key)).is_none()
                });
                let in_tars = self
                    .observed()
                    .and_then(|o| o.node(&server, &ip))
                    .is_some_and(|n| n.configs.contains_key(old_key) && !n.configs.contains_key(new_key));
                if !(in_state || in_tars) {
                    continue;
                }
                if !self.input.options.switch_crypto {
                    return Err(PlanError::CryptoSwitch {
                        server,
                        ip,
                        from: other.key_type(),
                        to: mode.key_type(),
                        flag: match kind {
                            ServiceKind::Rpc => "rpc_sm_ssl",
                            ServiceKind::Gateway => "gateway_sm_ssl",
                        },
                        keep: other.is_sm(),
                    });
                }
                self.notes.push(format!(
                    "{}: switches from {} to {} certificates: every certificate and key is replaced \
                     (a {} CA and leaves already in the workspace are used again), and the {} rows are removed from Tars",
                    Address::node(&server, &ip),
                    other.key_type(),
                    mode.key_type(),
                    mode.key_type(),
                    other.key_type()
                ));
                self.switching.insert(kind);
            }
        }
        Ok(())
    }
}
