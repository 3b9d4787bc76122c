//! Expands a plan's changes into apply steps and the edges between them (pure).
//!
//! Edges follow Tars' rules, not only the resource edges (DESIGN.md §4): config rows
//! exist only once their node is registered, a node starts once its configs and its
//! server's package are in place, restarts of one server's nodes share a lane (rolling),
//! and every delete waits for every create and update.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::addr::{Address, ResourceKind};
use crate::plan::{Action, Plan, ResourceChange};

use super::engine::StepInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Token valid, tarsnodes alive, CA files as planned, packages present.
    Preflight,
    /// Creates and updates before deletes.
    Barrier,
    CreateCa,
    /// Record an existing local CA or certificate in state (after checking its digest).
    Adopt,
    IssueCert,
    UploadPackage,
    RegisterNode,
    /// Record a server as Tars runs it (its patch), without uploading.
    ImportServer,
    ImportNode,
    PushConfig,
    StartNode,
    /// `state = "stopped"`: stop a node (its inverse starts it again).
    StopNode,
    RestartNode,
    /// Undeploy before registering again (tainted node).
    UndeployForReplace,
    UndeployNode,
    /// Drop a deleted config, cert or server from state (Tars rows went with the node).
    Forget,
    /// Delete a config row of a node that stays (the other certificate set after
    /// `--switch-crypto`).
    DeleteConfig,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Preflight => "preflight",
            Op::Barrier => "barrier",
            Op::CreateCa => "create-ca",
            Op::Adopt => "adopt",
            Op::IssueCert => "issue-cert",
            Op::UploadPackage => "upload-package",
            Op::RegisterNode => "register",
            Op::ImportServer => "import-server",
            Op::ImportNode => "import-node",
            Op::PushConfig => "push-config",
            Op::StartNode => "start",
            Op::StopNode => "stop",
            Op::RestartNode => "restart",
            Op::UndeployForReplace => "undeploy-for-replace",
            Op::UndeployNode => "undeploy",
            Op::Forget => "forget",
            Op::DeleteConfig => "delete-config",
        }
    }

    /// Steps that only tear down; they run after the barrier.
    pub fn is_teardown(self) -> bool {
        matches!(self, Op::UndeployNode | Op::Forget | Op::DeleteConfig)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub op: Op,
    /// The resource the step works on (the plan change it belongs to).
    pub address: Option<Address>,
    pub lane: Option<String>,
}

impl StepInfo for Step {
    fn id(&self) -> &str {
        &self.id
    }
    fn lane(&self) -> Option<&str> {
        self.lane.as_deref()
    }
    /// Rough Tars round trips (a task counts its polls), for the critical path.
    fn weight(&self) -> u32 {
        match self.op {
            Op::StartNode | Op::RestartNode | Op::StopNode | Op::UploadPackage => 6,
            Op::UndeployNode | Op::UndeployForReplace => 5,
            Op::RegisterNode => 4,
            Op::Preflight | Op::PushConfig | Op::DeleteConfig | Op::ImportServer | Op::ImportNode => 2,
            Op::CreateCa | Op::IssueCert => 1,
            Op::Adopt | Op::Barrier | Op::Forget => 0,
        }
    }
    /// Certificate and CA work (keys are made on background threads) and state-only
    /// steps never hold one of the Tars slots.
    fn calls_tars(&self) -> bool {
        !matches!(
            self.op,
            Op::CreateCa | Op::IssueCert | Op::Adopt | Op::Barrier | Op::Forget
        )
    }
    /// Steps whose Tars work is one task per node: started together, their tasks go
    /// out as one `add_task` (lanes still hold: one restart or stop per server at a time).
    /// New nodes registered together expand their server with one `expand_server`.
    fn batch(&self) -> Option<&str> {
        match self.op {
            Op::StartNode
            | Op::StopNode
            | Op::RestartNode
            | Op::UndeployNode
            | Op::UndeployForReplace
            | Op::RegisterNode => Some(self.op.as_str()),
            _ => None,
        }
    }
    fn affinity(&self) -> Option<&str> {
        self.address.as_ref().and_then(Address::server_name)
    }
    /// Registrations are not task items: a group expands each server once, whatever
    /// its size (`--task-batch 1` still registers one node at a time).
    fn batch_limit(&self, task_batch: usize) -> usize {
        match self.op {
            Op::RegisterNode if task_batch > 1 => task_batch.max(super::tars_ops::REGISTRATION_BATCH),
            _ => task_batch,
        }
    }
    /// New nodes' starts become ready one by one as their certificates and pushes end:
    /// a short group waits a moment for more (see `Timing::start_gather`).
    fn gathers(&self) -> bool {
        self.op == Op::StartNode
    }
}

/// The steps of a plan and `(step, depends_on)` edges between their ids.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    pub steps: Vec<Step>,
    pub edges: Vec<(String, String)>,
}

/// A new node with `state = "stopped"`: registered and configured, never started.
fn stays_stopped(change: &crate::plan::ResourceChange) -> bool {
    change.attr_str("run_state") == Some("stopped")
}

pub fn step_id(op: Op, address: Option<&Address>) -> String {
    match address {
        Some(a) => format!("{} {a}", op.as_str()),
        None => op.as_str().to_string(),
    }
}

struct Builder {
    steps: BTreeMap<String, Step>,
    edges: Vec<(String, String)>,
    /// (op, address) → id, for dependency lookups.
    by_op: BTreeMap<(Op, Address), String>,
}

impl Builder {
    fn add(&mut self, op: Op, address: &Address, lane: Option<String>) -> String {
        let id = step_id(op, Some(address));
        self.by_op.insert((op, address.clone()), id.clone());
        self.steps.insert(
            id.clone(),
            Step {
                id: id.clone(),
                op,
                address: Some(address.clone()),
                lane,
            },
        );
        id
    }

    fn find(&self, op: Op, address: &Address) -> Option<String> {
        self.by_op.get(&(op, address.clone())).cloned()
    }

    fn depend(&mut self, step: &str, on: Option<String>) {
        if let Some(on) = on
            && on != step
        {
            self.edges.push((step.to_string(), on));
        }
    }
}

/// Expands `plan` into steps. Every step waits for the preflight.
pub fn expand(plan: &Plan) -> Expanded {
    let mut b = Builder {
        steps: BTreeMap::new(),
        edges: Vec::new(),
        by_op: BTreeMap::new(),
    };
    for change in &plan.changes {
        let a = &change.address;
        let ops: &[Op] = match (a.kind(), change.action) {
            (_, Action::NoOp | Action::Read) | (ResourceKind::Tarsnode, _) => &[],
            (ResourceKind::Ca, Action::Import | Action::Update) => &[Op::Adopt],
            (ResourceKind::Ca, Action::Delete) => &[],
            (ResourceKind::Ca, _) => &[Op::CreateCa],
            (ResourceKind::Cert, Action::Import) => &[Op::Adopt],
            (ResourceKind::Cert, Action::Delete) => &[Op::Forget],
            (ResourceKind::Cert, _) => &[Op::IssueCert],
            (ResourceKind::Config, Action::Delete) if node_stays(plan, a) => &[Op::DeleteConfig],
            (ResourceKind::Config, Action::Delete) => &[Op::Forget],
            (ResourceKind::Config, _) => &[Op::PushConfig],
            (ResourceKind::Server, Action::Delete) => &[Op::Forget],
            (ResourceKind::Server, Action::Import) if change.attr("adopted_as_is").is_some() => {
                &[Op::ImportServer]
            }
            (ResourceKind::Server, _) => &[Op::UploadPackage],
            (ResourceKind::Node, Action::Create) if stays_stopped(change) => &[Op::RegisterNode],
            (ResourceKind::Node, Action::Create) => &[Op::RegisterNode, Op::StartNode],
            (ResourceKind::Node, Action::Replace) if stays_stopped(change) => {
                &[Op::UndeployForReplace, Op::RegisterNode]
            }
            (ResourceKind::Node, Action::Replace) => {
                &[Op::UndeployForReplace, Op::RegisterNode, Op::StartNode]
            }
            (ResourceKind::Node, Action::Update) => match change.attr_str("run_command") {
                Some("stop") => &[Op::StopNode],
                Some("start") => &[Op::StartNode],
                _ => &[Op::RestartNode],
            },
            (ResourceKind::Node, Action::Import) => {
                if change.attr_str("run_command") == Some("stop") {
                    &[Op::ImportNode, Op::StopNode]
                } else if change.attr("restart_reason").is_some() {
                    &[Op::ImportNode, Op::RestartNode]
                } else {
                    &[Op::ImportNode]
                }
            }
            (ResourceKind::Node, Action::Delete) => &[Op::UndeployNode],
        };
        for op in ops {
            let server = a.server_name().unwrap_or_default();
            // Row deletions of one server run one at a time: the last one also removes
            // the server-level row (see `delete_config`). Pushes of one server's file run one
            // at a time: TarsWeb creates the file's server-level row on the first, and two
            // concurrent firsts fail its unique key ("system error").
            let lane = match op {
                Op::RestartNode | Op::StopNode => Some(server.to_string()),
                Op::DeleteConfig => Some(format!("{server} config rows")),
                Op::PushConfig => a.leaf_name().map(|file| format!("{server} {file} rows")),
                _ => None,
            };
            b.add(*op, a, lane);
        }
    }
    let ids: Vec<Step> = b.steps.values().cloned().collect();
    for step in &ids {
        let Some(a) = &step.address else { continue };
        let node = match a.kind() {
            ResourceKind::Node => Some(a.clone()),
            _ => a.owning_node(),
        };
        let server = a.server_name().map(Address::server);
        let node_ready = |b: &Builder| {
            node.as_ref()
                .and_then(|n| b.find(Op::RegisterNode, n).or_else(|| b.find(Op::ImportNode, n)))
        };
        // The server's package in place: uploaded, or recorded as Tars runs it.
        let upload = |b: &Builder| {
            server.as_ref().and_then(|s| {
                b.find(Op::UploadPackage, s)
                    .or_else(|| b.find(Op::ImportServer, s))
            })
        };
        match step.op {
            Op::IssueCert => {
                if let Some(kind) = crate::config::ServiceKind::ALL
                    .into_iter()
                    .find(|k| a.server_name().is_some_and(|s| s.ends_with(server_suffix(*k))))
                {
                    let ca = Address::ca(kind);
                    let dep = b.find(Op::CreateCa, &ca).or_else(|| b.find(Op::Adopt, &ca));
                    b.depend(&step.id, dep);
                }
            }
            Op::PushConfig => {
                let dep = node_ready(&b);
                b.depend(&step.id, dep);
                if let (Some(n), Some(purpose)) = (&node, a.leaf_name().and_then(crate::config::file_purpose))
                {
                    let cert = Address::cert(&n.keys()[0], &n.keys()[1], purpose);
                    let dep = b.find(Op::IssueCert, &cert).or_else(|| b.find(Op::Adopt, &cert));
                    b.depend(&step.id, dep);
                }
            }
            Op::RegisterNode => {
                let dep = b.find(Op::UndeployForReplace, a);
                b.depend(&step.id, dep);
                let dep = upload(&b);
                b.depend(&step.id, dep);
                if let Some(source) = expand_source(plan, a) {
                    let src = Address::node(a.server_name().unwrap_or_default(), source);
                    let dep = b
                        .find(Op::RegisterNode, &src)
                        .or_else(|| b.find(Op::ImportNode, &src));
                    b.depend(&step.id, dep);
                    // The expansion copies the source's rows: with two or more nodes
                    // copying them, the files they share are pushed to the source first,
                    // so the copies need no update. (That costs a listing of each file
                    // between the source's push and the copies': one new node saves less.)
                    if expansions_from(plan, &src) >= 2 {
                        for file in shared_files(plan, a, &src) {
                            let dep = b.find(Op::PushConfig, &Address::config(&src.keys()[0], source, file));
                            b.depend(&step.id, dep);
                        }
                    }
                }
            }
            Op::StartNode | Op::RestartNode | Op::StopNode => {
                let dep = b.find(Op::RegisterNode, a).or_else(|| b.find(Op::ImportNode, a));
                b.depend(&step.id, dep);
                let dep = upload(&b);
                b.depend(&step.id, dep);
                let configs: Vec<String> = b
                    .by_op
                    .iter()
                    .filter(|((op, addr), _)| *op == Op::PushConfig && addr.owning_node().as_ref() == Some(a))
                    .map(|(_, id)| id.clone())
                    .collect();
                for c in configs {
                    b.depend(&step.id, Some(c));
                }
            }
            Op::Forget => {
                let owners: Vec<String> = match a.kind() {
                    ResourceKind::Server => b
                        .by_op
                        .iter()
                        .filter(|((op, addr), _)| {
                            *op == Op::UndeployNode && addr.server_name() == a.server_name()
                        })
                        .map(|(_, id)| id.clone())
                        .collect(),
                    _ => node.iter().filter_map(|n| b.find(Op::UndeployNode, n)).collect(),
                };
                for o in owners {
                    b.depend(&step.id, Some(o));
                }
            }
            _ => {}
        }
    }
    let mut steps: Vec<Step> = b.steps.values().cloned().collect();
    let mut edges = b.edges;
    if !steps.is_empty() {
        let preflight = Step {
            id: step_id(Op::Preflight, None),
            op: Op::Preflight,
            address: None,
            lane: None,
        };
        let barrier = Step {
            id: step_id(Op::Barrier, None),
            op: Op::Barrier,
            address: None,
            lane: None,
        };
        for s in &steps {
            edges.push((s.id.clone(), preflight.id.clone()));
            if s.op.is_teardown() {
                edges.push((s.id.clone(), barrier.id.clone()));
            } else {
                edges.push((barrier.id.clone(), s.id.clone()));
            }
        }
        edges.push((barrier.id.clone(), preflight.id.clone()));
        steps.insert(0, barrier);
        steps.insert(0, preflight);
    }
    edges.sort();
    edges.dedup();
    Expanded { steps, edges }
}

fn server_suffix(kind: crate::config::ServiceKind) -> &'static str {
    match kind {
        crate::config::ServiceKind::Rpc => "BcosRpcService",
        crate::config::ServiceKind::Gateway => "BcosGatewayService",
    }
}

/// Whether the node owning config `a` stays in Tars (not deleted or registered again by
/// this plan): its deleted rows must then be removed in Tars, not only forgotten.
fn node_stays(plan: &Plan, a: &Address) -> bool {
    a.owning_node().is_some_and(|n| {
        !plan
            .change(&n)
            .is_some_and(|c| matches!(c.action, Action::Delete | Action::Replace))
    })
}

/// The plan's changes from `first` on (addresses sort by kind, then server, node and
/// file: one node's configs, or one server's nodes, are a contiguous run).
fn changes_from<'p>(plan: &'p Plan, first: &Address) -> &'p [ResourceChange] {
    &plan.changes[plan.changes.partition_point(|c| c.address < *first)..]
}

/// The config changes of `node` in the plan.
fn config_changes<'p>(plan: &'p Plan, node: &Address) -> impl Iterator<Item = &'p ResourceChange> {
    let (server, ip) = (&node.keys()[0], &node.keys()[1]);
    changes_from(plan, &Address::config(server, ip, ""))
        .iter()
        .take_while(move |c| {
            c.address.kind() == ResourceKind::Config
                && c.address.keys()[0] == *server
                && c.address.keys()[1] == *ip
        })
}

/// How many new nodes of `source`'s server the plan expands from `source`.
fn expansions_from(plan: &Plan, source: &Address) -> usize {
    let (server, ip) = (&source.keys()[0], source.keys()[1].as_str());
    changes_from(plan, &Address::node(server, ""))
        .iter()
        .take_while(|c| c.address.kind() == ResourceKind::Node && c.address.keys()[0] == *server)
        .filter(|c| expand_source(plan, &c.address) == Some(ip))
        .count()
}

/// Files `node` is planned to hold with the same content as `source`: equal known
/// digests, or the CA certificate (one CA per service kind).
fn shared_files<'p>(plan: &'p Plan, node: &Address, source: &Address) -> Vec<&'p str> {
    use crate::config::CertMode;
    let theirs: BTreeMap<&str, Option<&str>> = config_changes(plan, source)
        .filter_map(|c| Some((c.address.leaf_name()?, c.attr_str("content_sha256"))))
        .collect();
    config_changes(plan, node)
        .filter_map(|c| {
            let file = c.address.leaf_name()?;
            let same = match (theirs.get(file)?, c.attr_str("content_sha256")) {
                _ if [CertMode::Rsa, CertMode::Sm]
                    .iter()
                    .any(|m| m.ca_cert_file() == file) =>
                {
                    true
                }
                (Some(a), Some(b)) => *a == b,
                _ => false,
            };
            same.then_some(file)
        })
        .collect()
}

/// The node a new node is expanded from, when the plan says so.
pub fn expand_source<'p>(plan: &'p Plan, node: &Address) -> Option<&'p str> {
    let register = plan.change(node)?.after.as_ref()?.get("register")?;
    (register.get("method")?.as_str()? == "expand").then(|| register.get("source")?.as_str())?
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apply::engine::StepDag;
    use crate::plan::{Attrs, Preconditions, ResourceChange};

    fn change(address: Address, action: Action, after: Attrs) -> ResourceChange {
        ResourceChange {
            address,
            action,
            reason: String::new(),
            before: None,
            after: Some(after),
            after_unknown: Default::default(),
            sensitive: Default::default(),
            depends_on: Default::default(),
        }
    }

    fn plan(mut changes: Vec<ResourceChange>) -> Plan {
        changes.sort_by(|a, b| a.address.cmp(&b.address));
        Plan {
            format_version: 1,
            tool_version: "test".into(),
            chain_id: "chain0".into(),
            application: "chain0".into(),
            tars_url: "http://127.0.0.1:1/".into(),
            generated_root: "generated".into(),
            prior: None,
            topology_digest: String::new(),
            inputs_digest: String::new(),
            observed_digest: None,
            refreshed: true,
            destroy: false,
            changes,
            preconditions: Preconditions::default(),
            notes: vec![],
            drift: vec![],
        }
    }

    const RPC: &str = "agencyABcosRpcService";

    fn seed_like() -> Plan {
        let mut changes = vec![
            change(Address::server(RPC), Action::Import, Attrs::new()),
            change(
                Address::ca(crate::config::ServiceKind::Rpc),
                Action::Import,
                Attrs::new(),
            ),
            change(
                Address::cert(RPC, "10.0.0.5", "ssl"),
                Action::Create,
                Attrs::new(),
            ),
            change(
                Address::node(RPC, "10.0.0.5"),
                Action::Create,
                Attrs::from([(
                    "register".to_string(),
                    json!({"method": "expand", "source": "10.0.0.3"}),
                )]),
            ),
            change(Address::node(RPC, "10.0.0.4"), Action::Update, Attrs::new()),
            change(Address::node(RPC, "10.0.0.6"), Action::Update, Attrs::new()),
            change(Address::node(RPC, "10.0.0.9"), Action::Delete, Attrs::new()),
            change(
                Address::config(RPC, "10.0.0.9", "config.ini"),
                Action::Delete,
                Attrs::new(),
            ),
        ];
        for file in ["config.ini", "ssl.key"] {
            changes.push(change(
                Address::config(RPC, "10.0.0.5", file),
                Action::Create,
                Attrs::new(),
            ));
        }
        changes.push(change(
            Address::config(RPC, "10.0.0.4", "config.ini"),
            Action::Update,
            Attrs::new(),
        ));
        plan(changes)
    }

    fn deps(expanded: &Expanded, step: &str) -> Vec<String> {
        let mut d: Vec<String> = expanded
            .edges
            .iter()
            .filter(|(s, _)| s == step)
            .map(|(_, on)| on.clone())
            .collect();
        d.sort();
        d
    }

    #[test]
    fn a_new_node_is_registered_configured_then_started() {
        let e = expand(&seed_like());
        let node = format!("node[\"{RPC}\"][\"10.0.0.5\"]");
        let push = format!("push-config config[\"{RPC}\"][\"10.0.0.5\"][\"config.ini\"]");
        let key = format!("push-config config[\"{RPC}\"][\"10.0.0.5\"][\"ssl.key\"]");
        assert!(deps(&e, &push).contains(&format!("register {node}")));
        assert!(deps(&e, &key).contains(&format!("issue-cert cert[\"{RPC}\"][\"10.0.0.5\"][\"ssl\"]")));
        let start = deps(&e, &format!("start {node}"));
        for needed in [
            format!("register {node}"),
            push,
            key,
            format!("upload-package server[\"{RPC}\"]"),
        ] {
            assert!(start.contains(&needed), "start waits for {needed}: {start:?}");
        }
        let cert = deps(&e, &format!("issue-cert cert[\"{RPC}\"][\"10.0.0.5\"][\"ssl\"]"));
        assert!(cert.contains(&"adopt ca[\"rpc\"]".to_string()), "{cert:?}");
    }

    #[test]
    fn a_node_waits_for_its_server_recorded_as_tars_runs_it() {
        let mut p = seed_like();
        let server = p
            .changes
            .iter_mut()
            .find(|c| c.address == Address::server(RPC))
            .unwrap();
        server
            .after
            .get_or_insert_with(Attrs::new)
            .insert("adopted_as_is".into(), json!(true));
        let e = expand(&p);
        let node = format!("node[\"{RPC}\"][\"10.0.0.5\"]");
        let import = format!("import-server server[\"{RPC}\"]");
        assert!(deps(&e, &format!("start {node}")).contains(&import));
        assert!(deps(&e, &format!("register {node}")).contains(&import));
    }

    #[test]
    fn a_deleted_row_of_a_node_that_stays_is_deleted_in_tars_one_per_server_at_a_time() {
        let mut p = seed_like();
        for file in ["ca.crt", "ssl.key"] {
            p.changes.push(change(
                Address::config(RPC, "10.0.0.4", file),
                Action::Delete,
                Attrs::new(),
            ));
        }
        p.changes.sort_by(|a, b| a.address.cmp(&b.address));
        let e = expand(&p);
        let step = |id: String| e.steps.iter().find(|s| s.id == id).cloned();
        for file in ["ca.crt", "ssl.key"] {
            let id = format!("delete-config config[\"{RPC}\"][\"10.0.0.4\"][\"{file}\"]");
            let s = step(id.clone()).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(s.lane.as_deref(), Some(format!("{RPC} config rows").as_str()));
            assert!(deps(&e, &id).contains(&"barrier".to_string()));
        }
        // The row of a node this plan undeploys is only forgotten.
        let forget = format!("forget config[\"{RPC}\"][\"10.0.0.9\"][\"config.ini\"]");
        assert!(step(forget).is_some());
    }

    #[test]
    fn pushes_of_one_servers_file_share_a_lane() {
        let mut p = seed_like();
        p.changes.push(change(
            Address::config(RPC, "10.0.0.6", "config.ini"),
            Action::Create,
            Attrs::new(),
        ));
        p.changes.sort_by(|a, b| a.address.cmp(&b.address));
        let e = expand(&p);
        let lane = |ip: &str, file: &str| {
            let id = format!("push-config config[\"{RPC}\"][\"{ip}\"][\"{file}\"]");
            e.steps.iter().find(|s| s.id == id).and_then(|s| s.lane.clone())
        };
        assert_eq!(lane("10.0.0.5", "config.ini"), lane("10.0.0.6", "config.ini"));
        assert!(lane("10.0.0.5", "config.ini").is_some());
        assert_ne!(lane("10.0.0.5", "config.ini"), lane("10.0.0.5", "ssl.key"));
    }

    #[test]
    fn deletes_wait_for_every_create_and_update() {
        let e = expand(&seed_like());
        let undeploy = format!("undeploy node[\"{RPC}\"][\"10.0.0.9\"]");
        assert_eq!(
            deps(&e, &undeploy),
            vec!["barrier".to_string(), "preflight".to_string()]
        );
        let barrier = deps(&e, "barrier");
        assert!(barrier.contains(&format!("start node[\"{RPC}\"][\"10.0.0.5\"]")));
        assert!(barrier.contains(&format!("restart node[\"{RPC}\"][\"10.0.0.4\"]")));
        assert!(!barrier.contains(&undeploy));
        let forget = deps(
            &e,
            &format!("forget config[\"{RPC}\"][\"10.0.0.9\"][\"config.ini\"]"),
        );
        assert!(forget.contains(&undeploy), "{forget:?}");
    }

    #[test]
    fn restarts_of_one_server_share_a_lane_and_wait_for_their_configs() {
        let e = expand(&seed_like());
        let lanes: Vec<_> = e
            .steps
            .iter()
            .filter(|s| s.op == Op::RestartNode)
            .map(|s| s.lane.clone())
            .collect();
        assert_eq!(lanes, vec![Some(RPC.to_string()), Some(RPC.to_string())]);
        let restart = deps(&e, &format!("restart node[\"{RPC}\"][\"10.0.0.4\"]"));
        assert!(restart.contains(&format!(
            "push-config config[\"{RPC}\"][\"10.0.0.4\"][\"config.ini\"]"
        )));
    }

    #[test]
    fn expansion_waits_for_a_source_registered_in_the_same_run() {
        let mut p = seed_like();
        p.changes.push(change(
            Address::node(RPC, "10.0.0.3"),
            Action::Create,
            Attrs::from([("register".to_string(), json!({"method": "deploy"}))]),
        ));
        p.changes.sort_by(|a, b| a.address.cmp(&b.address));
        let e = expand(&p);
        let register = deps(&e, &format!("register node[\"{RPC}\"][\"10.0.0.5\"]"));
        assert!(
            register.contains(&format!("register node[\"{RPC}\"][\"10.0.0.3\"]")),
            "{register:?}"
        );
    }

    /// The seed-like plan with 10.0.0.3 deployed in the same run, and `more` new nodes
    /// besides 10.0.0.5 expanded from it.
    fn expansions_of_one_source(more: &[&str]) -> Plan {
        let mut p = seed_like();
        p.changes.push(change(
            Address::node(RPC, "10.0.0.3"),
            Action::Create,
            Attrs::from([("register".to_string(), json!({"method": "deploy"}))]),
        ));
        for ip in more {
            p.changes.push(change(
                Address::node(RPC, ip),
                Action::Create,
                Attrs::from([(
                    "register".to_string(),
                    json!({"method": "expand", "source": "10.0.0.3"}),
                )]),
            ));
        }
        let digest = |d: &str| Attrs::from([("content_sha256".to_string(), json!(d))]);
        // config.ini: same content as the new node's; ssl.key: its own; ca.crt: one CA.
        for (node, file, attrs) in [
            ("10.0.0.3", "config.ini", digest("same")),
            ("10.0.0.3", "ssl.key", digest("key-3")),
            ("10.0.0.3", "ca.crt", Attrs::new()),
            ("10.0.0.5", "ca.crt", Attrs::new()),
        ] {
            p.changes
                .push(change(Address::config(RPC, node, file), Action::Create, attrs));
        }
        p.changes.sort_by(|a, b| a.address.cmp(&b.address));
        for c in &mut p.changes {
            if c.address == Address::config(RPC, "10.0.0.5", "config.ini") {
                c.after = Some(digest("same"));
            }
            if c.address == Address::config(RPC, "10.0.0.5", "ssl.key") {
                c.after = Some(digest("key-5"));
            }
        }
        p
    }

    #[test]
    fn expansions_wait_for_the_files_they_copy_unchanged_from_their_source() {
        let e = expand(&expansions_of_one_source(&["10.0.0.7"]));
        let register = deps(&e, &format!("register node[\"{RPC}\"][\"10.0.0.5\"]"));
        let push = |file: &str| format!("push-config config[\"{RPC}\"][\"10.0.0.3\"][\"{file}\"]");
        assert!(register.contains(&push("config.ini")), "{register:?}");
        assert!(register.contains(&push("ca.crt")), "{register:?}");
        assert!(!register.contains(&push("ssl.key")), "{register:?}");
        assert!(StepDag::new(e.steps, &e.edges).is_ok());
        // One copy saves less than the listing the wait costs: no wait.
        let e = expand(&expansions_of_one_source(&[]));
        let register = deps(&e, &format!("register node[\"{RPC}\"][\"10.0.0.5\"]"));
        assert!(
            !register.iter().any(|d| d.starts_with("push-config")),
            "{register:?}"
        );
    }

    #[test]
    fn the_expanded_steps_form_a_dag_and_an_empty_plan_has_no_steps() {
        let e = expand(&seed_like());
        assert!(StepDag::new(e.steps, &e.edges).is_ok());
        assert!(expand(&plan(vec![])).steps.is_empty());
    }
}
