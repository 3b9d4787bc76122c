//! The planning pass: per service, its server, then per node its certs, configs and the
//! node; then CAs, tarsnodes and deletions; then targets. See `plan::plan`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::digest::{pem_sha256, sha256_hex};
use super::paths::Paths;
use super::targets;
use super::{
    Action, Attrs, CaPrecondition, LocalPackage, Observed, ObservedNode, PLAN_FORMAT_VERSION, Plan,
    PlanError, PlanInput, Preconditions, PriorState, ResourceChange, ResourceStatus, State,
};
use crate::addr::{Address, ResourceKind};
use crate::config::{ServiceKind, ServiceRef, Topology};
use crate::graph::kind_of_server;
use crate::render;

/// Files whose content is a private key: never in a plan.
const SENSITIVE_FILES: [&str; 1] = ["ssl.key"];

pub(super) fn run(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let mut p = Planner::new(input);
    if !input.options.destroy {
        for svc in input.topology.services() {
            p.plan_service(svc);
        }
        p.plan_cas();
    }
    p.plan_deletions();
    let scope = targets::scope(input, &p.changes);
    if let Some(scope) = &scope {
        p.changes.retain(|a, _| scope.contains(a));
        p.blockers.retain(|(a, _)| scope.contains(a));
    }
    if let Some((_, err)) = p.blockers.into_iter().next() {
        return Err(err);
    }
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
        inputs_digest: super::inputs_digest(input.local),
        observed_digest: input.observed.map(super::digest::json_sha256),
        refreshed: input.observed.is_some(),
        destroy: input.options.destroy,
        changes: changes.into_values().collect(),
        preconditions,
        notes: p.notes,
    })
}

/// What the planner knows about the CA of one service type.
struct CaFacts {
    dir: String,
    pem: Option<String>,
    digest: Option<String>,
    /// sha256 of the `ca.crt` bytes, as pushed to nodes.
    file_digest: String,
    key_present: bool,
}

/// The desired content of one config file.
enum Content {
    /// Text and its sha256.
    Text(String, String),
    /// A private key: only the digest of the local file.
    KeyDigest(String),
    /// Generated during apply.
    Unknown,
}

impl Content {
    fn digest(&self) -> Option<String> {
        match self {
            Content::Text(_, d) => Some(d.clone()),
            Content::KeyDigest(d) => Some(d.clone()),
            Content::Unknown => None,
        }
    }
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    topology: &'a Topology,
    paths: Paths,
    cas: BTreeMap<ServiceKind, CaFacts>,
    /// Service types with nodes that exist and stay (in Tars or in state).
    kinds_with_nodes: BTreeSet<ServiceKind>,
    /// Service types whose CA must sign new certificates.
    certs_to_sign: BTreeSet<ServiceKind>,
    changes: BTreeMap<Address, ResourceChange>,
    blockers: Vec<(Address, PlanError)>,
    preconditions: Preconditions,
    notes: Vec<String>,
}

impl<'a> Planner<'a> {
    fn new(input: &'a PlanInput<'a>) -> Self {
        let topology = input.topology;
        let cas = ServiceKind::ALL
            .into_iter()
            .map(|kind| {
                let local = input.local.cas.get(&kind);
                let pem = local.and_then(|c| c.cert_pem.clone());
                let facts = CaFacts {
                    dir: Paths::new(topology, &input.options.generated_root).ca_dir(topology, kind),
                    digest: pem.as_deref().map(pem_sha256),
                    file_digest: sha256_hex(pem.as_deref().unwrap_or_default().as_bytes()),
                    pem,
                    key_present: local.is_some_and(|c| c.key_present),
                };
                (kind, facts)
            })
            .collect();
        let mut p = Planner {
            input,
            topology,
            paths: Paths::new(topology, &input.options.generated_root),
            cas,
            kinds_with_nodes: BTreeSet::new(),
            certs_to_sign: BTreeSet::new(),
            changes: BTreeMap::new(),
            blockers: Vec::new(),
            preconditions: Preconditions::default(),
            notes: Vec::new(),
        };
        for kind in ServiceKind::ALL {
            if p.kind_has_existing_nodes(kind) {
                p.kinds_with_nodes.insert(kind);
            }
        }
        p
    }

    fn state(&self) -> Option<&'a State> {
        self.input.state
    }

    fn observed(&self) -> Option<&'a Observed> {
        self.input.observed
    }

    fn state_attrs(&self, address: &Address) -> Option<&'a Attrs> {
        self.state()
            .and_then(|s| s.resources.get(address))
            .map(|r| &r.attributes)
    }

    fn is_tainted(&self, address: &Address) -> bool {
        self.state()
            .and_then(|s| s.resources.get(address))
            .is_some_and(|r| r.status == ResourceStatus::Tainted)
    }

    fn is_desired(&self, address: &Address) -> bool {
        !self.input.options.destroy && self.input.graph.contains(address)
    }

    /// Nodes of `server` that exist and are kept: in Tars (when refreshed) or in state,
    /// minus those this plan deletes. Unmanaged nodes seen in Tars count.
    fn existing_nodes(&self, server: &str) -> BTreeSet<String> {
        let mut ips = BTreeSet::new();
        if let Some(observed) = self.observed() {
            if let Some(obs) = observed.servers.get(server) {
                ips.extend(obs.nodes.keys().cloned());
            }
        } else if let Some(state) = self.state() {
            // Node addresses of one server are contiguous in address order.
            let first = Address::node(server, "");
            ips.extend(
                state
                    .resources
                    .range(first..)
                    .map(|(a, _)| a)
                    .take_while(|a| a.kind() == ResourceKind::Node && a.server_name() == Some(server))
                    .filter_map(|a| a.ip().map(str::to_string)),
            );
        }
        ips.retain(|ip| {
            let a = Address::node(server, ip);
            let managed = self.state_attrs(&a).is_some();
            !managed || self.is_desired(&a)
        });
        ips
    }

    fn kind_has_existing_nodes(&self, kind: ServiceKind) -> bool {
        let mut servers: BTreeSet<&str> = BTreeSet::new();
        if let Some(o) = self.observed() {
            servers.extend(o.servers.keys().map(String::as_str));
        }
        if let Some(s) = self.state() {
            servers.extend(s.resources.keys().filter_map(|a| a.server_name()));
        }
        servers
            .into_iter()
            .filter(|s| kind_of_server(s) == Some(kind))
            .any(|s| !self.existing_nodes(s).is_empty())
    }

    fn push(
        &mut self,
        address: Address,
        action: Action,
        reason: impl Into<String>,
        before: Option<&Attrs>,
        after: Desired,
    ) -> Action {
        let (action, reason) = match (action, self.is_tainted(&address)) {
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
                if !after.attrs.contains_key(key) && !after.unknown.contains(key) && key != "restart_reason" {
                    after.attrs.insert(key.clone(), value.clone());
                }
            }
        }
        let depends_on = self.input.graph.dependencies(&address);
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

    fn plan_service(&mut self, svc: ServiceRef<'_>) {
        let server = svc.server_name();
        let kind = svc.kind();
        let server_action = self.plan_server(svc, &server);
        // Rendered once per service: every node of it gets the same files.
        let with_digest = |text: String| {
            let digest = sha256_hex(text.as_bytes());
            (text, digest)
        };
        let config_ini = with_digest(render::config_ini(self.topology, svc));
        let nodes_json = with_digest(match kind {
            ServiceKind::Gateway => render::nodes_json(svc),
            ServiceKind::Rpc => String::new(),
        });
        let existing = self.existing_nodes(&server);
        let mut register_source = existing.iter().next().cloned();
        for &ip_addr in &svc.service.deploy_ip {
            let ip = ip_addr.to_string();
            let node_dir = self.paths.node_dir(kind, &server, ip_addr);
            let node = NodeCtx {
                server: &server,
                ip: &ip,
                ip_addr,
                kind,
                dir: &node_dir,
                observed: self.observed().and_then(|o| o.node(&server, &ip)),
            };
            let mut new_certs = BTreeSet::new();
            for purpose in kind.cert_purposes() {
                if self.plan_cert(&node, purpose) {
                    new_certs.insert(*purpose);
                }
            }
            let mut pushed = Vec::new();
            for file in kind.config_files() {
                let content = match *file {
                    "config.ini" => Content::Text(config_ini.0.clone(), config_ini.1.clone()),
                    "nodes.json" => Content::Text(nodes_json.0.clone(), nodes_json.1.clone()),
                    _ => self.cert_file_content(&node, file, new_certs.contains("ssl")),
                };
                if self.plan_config(&node, file, content) {
                    pushed.push(*file);
                }
            }
            self.plan_node(&node, server_action, &pushed, &mut register_source);
        }
    }

    fn plan_server(&mut self, svc: ServiceRef<'_>, server: &str) -> Action {
        let address = Address::server(server);
        let kind = svc.kind();
        let before = self.state_attrs(&address);
        let package = self.input.local.packages.get(server);
        let source = self.paths.package_source(kind);
        let mut after = Desired::default();
        after.set("application", self.topology.application());
        after.set("server", server);
        after.set("obj_name", kind.obj_name());
        after.set("server_type", crate::config::SERVER_TYPE);
        after.set("template_name", crate::config::TEMPLATE_NAME);
        after.set("package_path", self.paths.package_path(server));
        after.set("package_source", source.clone());
        after.unknown("patch_id");
        let digest = match package {
            Some(LocalPackage::Built { sha256, size, .. }) => {
                after.set("package_size", *size);
                Some(sha256.clone())
            }
            _ => None,
        };
        let old = before
            .and_then(|b| b.get("package_sha256"))
            .and_then(Value::as_str);
        let in_tars = self.observed().is_some_and(|o| o.servers.contains_key(server));
        let (action, reason) = match (before, digest.as_deref()) {
            (None, _) if in_tars => (
                Action::Import,
                "exists in Tars: adopt it and upload the package".to_string(),
            ),
            (None, _) => (Action::Create, format!("new Tars server; upload {server}.tgz")),
            (Some(_), Some(new)) if old != Some(new) => (
                Action::Update,
                format!("package changed: upload {server}.tgz and patch every node"),
            ),
            (Some(_), _) => (Action::NoOp, String::new()),
        };
        match (&digest, action) {
            (Some(d), _) => after.set("package_sha256", d.clone()),
            (None, Action::NoOp) => after.set("package_sha256", old.unwrap_or_default()),
            (None, _) => {
                let reason = match package {
                    Some(LocalPackage::Missing { reason, .. }) => reason.clone(),
                    _ => format!("`{source}` was not read"),
                };
                self.blockers.push((
                    address.clone(),
                    PlanError::PackageMissing {
                        server: server.to_string(),
                        source_path: source,
                        reason,
                    },
                ));
            }
        }
        self.push(address, action, reason, before, after)
    }

    /// Plans one leaf certificate; true when it is (re)generated by apply.
    fn plan_cert(&mut self, node: &NodeCtx<'_>, purpose: &str) -> bool {
        let address = Address::cert(node.server, node.ip, purpose);
        let ca = &self.cas[&node.kind];
        let (cert_path, key_path) = self
            .paths
            .cert_paths(node.kind, node.server, node.ip_addr, purpose);
        let before = self.state_attrs(&address);
        let local = self.input.local.certs.get(&address).filter(|c| c.key_present);
        let mut after = Desired::default();
        after.set("purpose", purpose);
        after.set("ca", Address::ca(node.kind).to_string());
        after.set("cert_path", cert_path.clone());
        after.set("key_path", key_path);
        match &ca.digest {
            Some(d) => after.set("ca_sha256", d.clone()),
            None => after.unknown("ca_sha256"),
        }
        let old = |key: &str| before.and_then(|b| b.get(key)).and_then(Value::as_str);
        let tainted = self.is_tainted(&address);
        let (action, reason) = match (local, before) {
            (_, Some(_)) if tainted => (
                Action::Replace,
                "tainted: an earlier apply did not finish it; generate new ones".to_string(),
            ),
            (Some(_), _) if ca.digest.is_none() => (
                if before.is_some() {
                    Action::Replace
                } else {
                    Action::Create
                },
                format!("the CA at {} is new: sign a new key and certificate", ca.dir),
            ),
            (Some(_), None) => (Action::Import, format!("adopt the existing files at {cert_path}")),
            (Some(_), Some(_)) if old("ca_sha256").is_some_and(|d| Some(d) != ca.digest.as_deref()) => (
                Action::Replace,
                format!("signed by another CA than the one at {}", ca.dir),
            ),
            (Some(c), Some(_)) if old("cert_sha256") != Some(&pem_sha256(&c.cert_pem)) => {
                (Action::Update, format!("{cert_path} changed on disk"))
            }
            (Some(_), Some(_)) => (Action::NoOp, String::new()),
            (None, None) => (
                Action::Create,
                format!("new RSA-2048 key and certificate ({purpose})"),
            ),
            (None, Some(_)) => (
                Action::Replace,
                format!("key or certificate missing under {}: generate new ones", node.dir),
            ),
        };
        let fresh = matches!(action, Action::Create | Action::Replace);
        match local {
            Some(c) if !fresh => after.set("cert_sha256", pem_sha256(&c.cert_pem)),
            _ => after.unknown("cert_sha256"),
        }
        if fresh {
            self.certs_to_sign.insert(node.kind);
            if ca.pem.is_some() && !ca.key_present {
                self.blockers.push((
                    address.clone(),
                    PlanError::CaKeyMissing {
                        cert: address.to_string(),
                        dir: ca.dir.clone(),
                    },
                ));
            }
        }
        self.push(address, action, reason, before, after);
        fresh
    }

    fn cert_file_content(&self, node: &NodeCtx<'_>, file: &str, ssl_is_new: bool) -> Content {
        let ca = &self.cas[&node.kind];
        match file {
            "ca.crt" => match (&ca.pem, ca.digest.is_some()) {
                (Some(pem), true) => Content::Text(pem.clone(), ca.file_digest.clone()),
                _ => Content::Unknown,
            },
            _ if ssl_is_new => Content::Unknown,
            "ssl.crt" => match self
                .input
                .local
                .certs
                .get(&Address::cert(node.server, node.ip, "ssl"))
            {
                Some(c) => Content::Text(c.cert_pem.clone(), sha256_hex(c.cert_pem.as_bytes())),
                None => Content::Unknown,
            },
            _ => match self
                .input
                .local
                .configs
                .get(&Address::config(node.server, node.ip, file))
            {
                Some(d) => Content::KeyDigest(d.clone()),
                None => Content::Unknown,
            },
        }
    }

    /// Plans one config file of a node; true when apply pushes it to Tars.
    fn plan_config(&mut self, node: &NodeCtx<'_>, file: &str, content: Content) -> bool {
        let address = Address::config(node.server, node.ip, file);
        let sensitive = SENSITIVE_FILES.contains(&file);
        let state = self.state_attrs(&address);
        let new_digest = content.digest();
        let observed_row = node.observed.and_then(|n| n.configs.get(file));
        let observed_digest = observed_row.map(|row| sha256_hex(row.content.as_bytes()));
        let state_digest = state
            .and_then(|b| b.get("content_sha256"))
            .and_then(Value::as_str);
        let refreshed = self.observed().is_some();
        let what = if new_digest.is_none() {
            "regenerated with the new certificate"
        } else {
            "changed"
        };
        let mut create = false;
        let (action, reason) = match state {
            None if observed_digest.is_some() && observed_digest == new_digest => (
                Action::Import,
                format!(
                    "row {} exists in Tars: adopt it",
                    observed_row.map_or(0, |r| r.id)
                ),
            ),
            None if observed_digest.is_some() => (
                Action::Update,
                format!("exists in Tars with other content: adopt it, {file} {what}"),
            ),
            None => {
                create = true;
                (Action::Create, format!("new {file} for node {}", node.ip))
            }
            Some(_) if refreshed && node.observed.is_none() => {
                create = true;
                (
                    Action::Create,
                    "the node is gone from Tars: push it again".to_string(),
                )
            }
            Some(_) if refreshed && observed_digest.is_none() => {
                create = true;
                (
                    Action::Create,
                    "the row is missing in Tars: push it again".to_string(),
                )
            }
            Some(_) if refreshed && observed_digest.as_deref() != state_digest => (
                Action::Update,
                format!("edited outside tarsform: Tars holds other {file} content"),
            ),
            Some(_) if new_digest.is_none() || new_digest.as_deref() != state_digest => {
                (Action::Update, format!("{file} {what}"))
            }
            Some(_) => (Action::NoOp, String::new()),
        };
        if action == Action::NoOp && !self.is_tainted(&address) {
            return false;
        }
        // The old side: state, with what Tars holds when refreshed.
        let mut before = state.cloned();
        if let (Some(row), Some(digest)) = (observed_row, observed_digest) {
            let b = before.get_or_insert_with(Attrs::new);
            b.insert("config_id".into(), json!(row.id));
            if !sensitive {
                b.insert("content".into(), json!(row.content));
            }
            b.insert("content_sha256".into(), json!(digest));
        }
        let mut after = Desired::default();
        after.set("file", file);
        after.set("server", node.server);
        after.set("node", node.ip);
        after.set(
            "local_path",
            self.paths.config_path(node.kind, node.server, node.ip_addr, file),
        );
        match content {
            Content::Text(t, _) => after.set("content", t),
            Content::Unknown if !sensitive => after.unknown("content"),
            _ => {}
        }
        if sensitive {
            after.sensitive.insert("content".into());
        }
        match new_digest {
            Some(d) => after.set("content_sha256", d),
            None => after.unknown("content_sha256"),
        }
        if create {
            after.unknown("config_id");
        }
        let action = self.push(address, action, reason, before.as_ref(), after);
        matches!(action, Action::Create | Action::Update | Action::Replace)
    }

    fn plan_node(
        &mut self,
        node: &NodeCtx<'_>,
        server_action: Action,
        pushed: &[&str],
        register_source: &mut Option<String>,
    ) {
        let address = Address::node(node.server, node.ip);
        let before = self.state_attrs(&address);
        let server_package = self
            .changes
            .get(&Address::server(node.server))
            .and_then(|c| c.attr_str("package_sha256"))
            .or_else(|| {
                self.state_attrs(&Address::server(node.server))
                    .and_then(|a| a.get("package_sha256"))
                    .and_then(Value::as_str)
            })
            .unwrap_or_default()
            .to_string();
        let mut after = Desired::default();
        after.set("application", self.topology.application());
        after.set("server", node.server);
        after.set("ip", node.ip);
        after.set("obj_name", node.kind.obj_name());
        after.set("package_sha256", server_package.clone());
        let refreshed = self.observed().is_some();
        let package_changed = matches!(server_action, Action::Update | Action::Import)
            || before
                .and_then(|b| b.get("package_sha256"))
                .and_then(Value::as_str)
                .is_some_and(|old| old != server_package);
        let restart = match (pushed.is_empty(), package_changed) {
            (false, true) => Some(format!("{} and the package changed", pushed.join(", "))),
            (false, false) => Some(format!("{} changed", pushed.join(", "))),
            (true, true) => Some("the package changed".to_string()),
            (true, false) => None,
        };
        let gone = before.is_some() && refreshed && node.observed.is_none();
        let (action, reason) = if let (None, Some(obs)) = (before, node.observed) {
            after.set("server_id", obs.server_id);
            if let Some(port) = obs.adapter_port {
                after.set("adapter_port", port);
            }
            let mut reason = format!(
                "exists in Tars (server id {}): adopt it, never re-deploy",
                obs.server_id
            );
            if let Some(r) = &restart {
                after.set("restart_reason", r.clone());
                reason.push_str(&format!("; restart: {r}"));
            }
            (Action::Import, reason)
        } else if before.is_none() || gone || self.is_tainted(&address) {
            let (register, how) = match register_source.as_deref() {
                Some(source) => (
                    json!({ "method": "expand", "source": source }),
                    format!("expand from {source}"),
                ),
                None => (
                    json!({ "method": "deploy" }),
                    "deploy_server as the first node of the server".to_string(),
                ),
            };
            self.check_ca_for_new_node(node);
            register_source.get_or_insert_with(|| node.ip.to_string());
            after.set("register", register);
            after.unknown("server_id");
            after.unknown("adapter_port");
            let reason = if gone {
                format!("in state but gone from Tars: register again ({how})")
            } else if before.is_some() {
                format!("tainted: an earlier apply did not finish it; undeploy and register again ({how})")
            } else {
                format!("new node: {how}, push configs, patch and start")
            };
            (
                if before.is_some() && !gone {
                    Action::Replace
                } else {
                    Action::Create
                },
                reason,
            )
        } else if let Some(r) = restart {
            after.set("restart_reason", r.clone());
            (Action::Update, format!("restart: {r}"))
        } else {
            (Action::NoOp, String::new())
        };
        self.push(address, action, reason, before, after);
    }

    /// A new node of a service type whose nodes already exist must use their CA.
    fn check_ca_for_new_node(&mut self, node: &NodeCtx<'_>) {
        let kind = node.kind;
        let ca = &self.cas[&kind];
        let tars_ca = self.observed().and_then(|o| o.ca_crt.get(&kind));
        let matches_tars = match (tars_ca, &ca.digest) {
            (Some(t), Some(d)) => Some(pem_sha256(t) == *d),
            _ => None,
        };
        self.preconditions.ca.insert(
            kind.as_str().to_string(),
            CaPrecondition {
                dir: ca.dir.clone(),
                cert_sha256: ca.digest.clone(),
                matches_tars,
            },
        );
        if !self.kinds_with_nodes.contains(&kind) {
            return;
        }
        let err = if ca.digest.is_none() {
            PlanError::CaMissing {
                server: node.server.to_string(),
                ip: node.ip.to_string(),
                kind: kind.as_str().to_string(),
                dir: ca.dir.clone(),
            }
        } else if matches_tars == Some(false) {
            PlanError::CaMismatch {
                server: node.server.to_string(),
                ip: node.ip.to_string(),
                kind: kind.as_str().to_string(),
                dir: ca.dir.clone(),
            }
        } else {
            return;
        };
        self.blockers.push((Address::node(node.server, node.ip), err));
    }

    fn plan_cas(&mut self) {
        for kind in ServiceKind::ALL {
            let address = Address::ca(kind);
            if !self.input.graph.contains(&address) {
                continue;
            }
            let ca = &self.cas[&kind];
            let before = self.state_attrs(&address);
            let mut after = Desired::default();
            after.set("dir", ca.dir.clone());
            after.set("imported", ca.pem.is_some());
            let old = before.and_then(|b| b.get("cert_sha256")).and_then(Value::as_str);
            let (action, reason) = match (&ca.digest, before) {
                (Some(d), None) => {
                    after.set("cert_sha256", d.clone());
                    (Action::Import, format!("use the existing CA at {}", ca.dir))
                }
                (Some(d), Some(_)) => {
                    after.set("cert_sha256", d.clone());
                    if old == Some(d) {
                        (Action::NoOp, String::new())
                    } else {
                        (Action::Update, format!("ca.crt at {} differs from state", ca.dir))
                    }
                }
                (None, before) => {
                    after.unknown("cert_sha256");
                    if before.is_some() && !self.certs_to_sign.contains(&kind) {
                        self.notes.push(format!(
                            "{address}: no CA files at {}; new {kind} certificates cannot be made until they are restored",
                            ca.dir
                        ));
                        continue;
                    }
                    (
                        Action::Create,
                        format!("no CA at {}: generate one (RSA-2048, CA:TRUE)", ca.dir),
                    )
                }
            };
            self.push(address, action, reason, before, after);
        }
    }

    fn plan_deletions(&mut self) {
        let Some(state) = self.state() else { return };
        for (address, resource) in &state.resources {
            if self.is_desired(address) {
                continue;
            }
            match address.kind() {
                ResourceKind::Ca => {
                    let dir = resource
                        .attributes
                        .get("dir")
                        .and_then(Value::as_str)
                        .unwrap_or("its directory");
                    self.notes
                        .push(format!("{address} is kept: CAs are never deleted ({dir})"));
                    continue;
                }
                ResourceKind::Tarsnode => continue,
                _ => {}
            }
            let reason = self.deletion_reason(address);
            self.changes.insert(
                address.clone(),
                ResourceChange {
                    address: address.clone(),
                    action: Action::Delete,
                    reason,
                    before: Some(resource.attributes.clone()),
                    after: None,
                    after_unknown: BTreeSet::new(),
                    sensitive: if address.leaf_name().is_some_and(|f| SENSITIVE_FILES.contains(&f)) {
                        BTreeSet::from(["content".to_string()])
                    } else {
                        BTreeSet::new()
                    },
                    depends_on: resource.dependencies.clone(),
                },
            );
        }
    }

    fn deletion_reason(&self, address: &Address) -> String {
        if self.input.options.destroy {
            return "destroy requested".into();
        }
        let Some(server) = address.server_name() else {
            return "no longer in the topology".into();
        };
        let gone = match (address.kind(), self.observed()) {
            (ResourceKind::Node, Some(o)) if o.node(server, address.ip().unwrap_or_default()).is_none() => {
                " (already gone from Tars)"
            }
            _ => "",
        };
        if self.input.graph.contains(&Address::server(server)) {
            let ip = address.ip().unwrap_or_default();
            return format!("{ip} is no longer in deploy_ip of {server}{gone}");
        }
        let agency = ServiceKind::ALL
            .into_iter()
            .find_map(|k| server.strip_suffix(k.server_name("").as_str()).map(|a| (a, k)));
        match agency {
            Some((agency, kind)) if self.topology.agencies.iter().any(|a| a.name == agency) => {
                format!("agency {agency} has no {kind} service any more{gone}")
            }
            Some((agency, _)) => format!("agency {agency} was removed from the topology{gone}"),
            None => format!("{server} is no longer in the topology{gone}"),
        }
    }
}

/// One node being planned.
struct NodeCtx<'n> {
    server: &'n str,
    ip: &'n str,
    ip_addr: std::net::IpAddr,
    kind: ServiceKind,
    dir: &'n str,
    observed: Option<&'n ObservedNode>,
}

/// The `after` side of a change being built.
#[derive(Default)]
struct Desired {
    attrs: Attrs,
    unknown: BTreeSet<String>,
    sensitive: BTreeSet<String>,
}

impl Desired {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.attrs.insert(key.to_string(), value.into());
    }

    fn unknown(&mut self, key: &str) {
        self.unknown.insert(key.to_string());
    }
}

fn needs_ca(changes: &BTreeMap<Address, ResourceChange>, kind: &str) -> bool {
    changes.values().any(|c| {
        c.address.kind() == ResourceKind::Node
            && c.action == Action::Create
            && c.address
                .server_name()
                .and_then(kind_of_server)
                .map(|k| k.as_str())
                == Some(kind)
    })
}

/// `<= read` of every tarsnode hosting a node that is registered, imported or restarted.
fn plan_tarsnodes(
    input: &PlanInput<'_>,
    changes: &mut BTreeMap<Address, ResourceChange>,
    preconditions: &mut Preconditions,
    scope: Option<&BTreeSet<Address>>,
) -> Result<(), PlanError> {
    let mut busy: BTreeMap<String, usize> = BTreeMap::new();
    for c in changes.values() {
        if c.address.kind() == ResourceKind::Node
            && matches!(c.action, Action::Create | Action::Update | Action::Import)
        {
            *busy
                .entry(c.address.ip().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    for (ip, count) in busy {
        let address = Address::tarsnode(&ip);
        if scope.is_some_and(|s| !s.contains(&address)) {
            continue;
        }
        if let Some(o) = input.observed {
            match o.tarsnodes.get(&ip) {
                Some(true) => {}
                Some(false) => return Err(PlanError::TarsnodeDown { ip, state: "alive" }),
                None => {
                    return Err(PlanError::TarsnodeDown {
                        ip,
                        state: "registered",
                    });
                }
            }
        }
        preconditions.tarsnodes_alive.insert(ip.clone());
        let mut after = Attrs::new();
        after.insert("ip".into(), json!(ip));
        after.insert("alive".into(), json!(true));
        changes.insert(
            address.clone(),
            ResourceChange {
                address,
                action: Action::Read,
                reason: format!("must be registered and alive: {count} node(s) to register or restart"),
                before: None,
                after: Some(after),
                after_unknown: BTreeSet::new(),
                sensitive: BTreeSet::new(),
                depends_on: BTreeSet::new(),
            },
        );
    }
    Ok(())
}
