//! Planner, views and saved plans: snapshot scenarios around the seed expansion
//! (agencyA rpc + gateway onto 172.25.0.5), the staleness matrix, properties, and
//! the rule that the Tars token never reaches any output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use tarsform::addr::{Address, ResourceKind, Target};
use tarsform::config::{Agency, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use tarsform::graph;
use tarsform::plan::{
    self, Action, LocalCa, LocalCert, LocalFiles, LocalPackage, Observed, ObservedConfig, ObservedNode,
    ObservedServer, Plan, PlanError, PlanInput, PlanOptions, pem_sha256, saved, sha256_hex,
};
use tarsform::secret::Secret;
use tarsform::state::{ResourceStatus, State};
use tarsform::view;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.s3cr3t-t0ken";
const OLD: &str = "172.25.0.3";
const NEW: &str = "172.25.0.5";

// ---------------------------------------------------------------- inputs

fn service(kind: ServiceKind, ips: &[&str], port: u16) -> Service {
    Service {
        kind,
        deploy_ip: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        listen_ip: "0.0.0.0".into(),
        listen_port: port,
        thread_count: 4,
        state: Default::default(),
        peers: match kind {
            ServiceKind::Gateway => vec![
                "172.25.0.3:30300".into(),
                "172.25.0.3:30301".into(),
                "172.25.0.5:40300".into(),
            ],
            ServiceKind::Rpc => vec![],
        },
        peers_auto: false,
        prevent_destroy: None,
        nodes: Default::default(),
    }
}

fn agency(name: &str, ips: &[&str], rpc_port: u16, gateway_port: u16) -> Agency {
    Agency {
        name: name.into(),
        failover_cluster_url: "127.0.0.1:2379".into(),
        enable_storage_security: false,
        key_center_url: String::new(),
        cipher_data_key: String::new(),
        rpc: Some(service(ServiceKind::Rpc, ips, rpc_port)),
        gateway: Some(service(ServiceKind::Gateway, ips, gateway_port)),
    }
}

fn topology(agencies: Vec<Agency>) -> Topology {
    Topology {
        tars: TarsSettings {
            url: "http://127.0.0.1:3000/".into(),
            token: Secret::new(TOKEN),
            pkg_dir: PathBuf::from("binary/"),
            packages: Default::default(),
        },
        chain: ChainSettings {
            chain_id: "chain0".into(),
            rpc_ca_cert_path: PathBuf::from("generated/rpc/chain0/ca"),
            gateway_ca_cert_path: PathBuf::from("generated/gateway/chain0/ca"),
            rpc_ca_cert_path_explicit: true,
            gateway_ca_cert_path_explicit: true,
            rpc_sm_ssl: false,
            gateway_sm_ssl: false,
        },
        agencies,
    }
}

/// The expand example: agencyA's rpc and gateway onto 172.25.0.5.
fn seed() -> Topology {
    topology(vec![agency("agencyA", &[NEW], 10200, 40300)])
}

fn fake_pem(what: &str) -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        sha256_hex(what.as_bytes())
    )
}

fn ca_pem(kind: ServiceKind) -> String {
    fake_pem(&format!("ca {kind}"))
}

/// What disk holds before the expansion: both CAs and the release packages.
fn local_before() -> LocalFiles {
    let mut local = LocalFiles::default();
    for kind in ServiceKind::ALL {
        local.cas.insert(
            kind,
            LocalCa {
                cert_pem: Some(ca_pem(kind)),
                key_present: true,
            },
        );
    }
    for agency in ["agencyA", "agencyB"] {
        for kind in ServiceKind::ALL {
            let server = kind.server_name(agency);
            local.packages.insert(
                server.clone(),
                LocalPackage::Built {
                    sha256: sha256_hex(format!("package {server} v1").as_bytes()),
                    size: 4096,
                    path: format!("generated/{server}.tgz"),
                    source: format!("binary/{}.tgz", kind.binary_name()),
                },
            );
        }
    }
    local
}

/// Tars as BcosBuilder left it: agencyA (and agencyB) rpc and gateway on 172.25.0.3.
fn observed_before() -> Observed {
    let mut o = Observed::default();
    o.tarsnodes.insert(OLD.into(), true);
    o.tarsnodes.insert(NEW.into(), true);
    o.tarsnodes.insert("172.25.0.6".into(), true);
    for kind in ServiceKind::ALL {
        o.ca_crt.insert(kind, ca_pem(kind));
        for (i, agency) in ["agencyA", "agencyB"].into_iter().enumerate() {
            let server = kind.server_name(agency);
            let mut s = ObservedServer::default();
            for (j, file) in kind.config_files().iter().enumerate() {
                s.configs.insert(file.to_string(), 100 + j as u64);
            }
            s.nodes.insert(
                OLD.into(),
                ObservedNode {
                    server_id: 10 + i as u64,
                    setting_state: "active".into(),
                    present_state: "active".into(),
                    patch_version: "1".into(),
                    adapter_port: Some(9000),
                    adapters: None,
                    configs: BTreeMap::new(),
                },
            );
            o.servers.insert(server, s);
        }
    }
    o
}

/// Values apply learns: generated certificates and keys, Tars ids, ports.
fn fill(address: &Address, key: &str) -> Value {
    let leaf = |purpose: &str| Address::cert(address.server_name().unwrap(), address.ip().unwrap(), purpose);
    match (address.kind(), key) {
        (ResourceKind::Cert, "cert_sha256") => json!(pem_sha256(&fake_pem(&address.to_string()))),
        (ResourceKind::Config, "content") => json!(fake_pem(&leaf("ssl").to_string())),
        (ResourceKind::Config, "content_sha256") => match address.leaf_name() {
            Some("ssl.crt") => json!(sha256_hex(fake_pem(&leaf("ssl").to_string()).as_bytes())),
            _ => json!(sha256_hex(format!("key of {}", leaf("ssl")).as_bytes())),
        },
        (ResourceKind::Config, "config_id") => json!(500),
        (ResourceKind::Server, "patch_id") => json!(19),
        (ResourceKind::Node, "server_id") => json!(42),
        (ResourceKind::Node, "adapter_port") => json!(9001),
        _ => json!(format!("{key} of {address}")),
    }
}

/// Disk and Tars after `plan` was applied as planned.
fn after_apply(plan: &Plan, local: &LocalFiles, observed: &Observed) -> (LocalFiles, Observed) {
    let mut local = local.clone();
    let mut observed = observed.clone();
    for c in &plan.changes {
        let a = &c.address;
        if c.action == Action::Delete {
            match a.kind() {
                ResourceKind::Cert => {
                    local.certs.remove(a);
                }
                ResourceKind::Node => {
                    if let Some(s) = observed.servers.get_mut(a.server_name().unwrap()) {
                        s.nodes.remove(a.ip().unwrap());
                    }
                }
                _ => {}
            }
            continue;
        }
        match a.kind() {
            ResourceKind::Cert if c.after_unknown.contains("cert_sha256") => {
                local.certs.insert(
                    a.clone(),
                    LocalCert {
                        cert_pem: fake_pem(&a.to_string()),
                        key_present: true,
                    },
                );
                let ssl_key = Address::config(a.server_name().unwrap(), a.ip().unwrap(), "ssl.key");
                if a.leaf_name() == Some("ssl") {
                    local.configs.insert(
                        ssl_key.clone(),
                        fill(&ssl_key, "content_sha256").as_str().unwrap().into(),
                    );
                }
            }
            ResourceKind::Node => {
                let server = observed
                    .servers
                    .entry(a.server_name().unwrap().into())
                    .or_default();
                server
                    .nodes
                    .entry(a.ip().unwrap().into())
                    .or_insert_with(|| ObservedNode {
                        server_id: 42,
                        setting_state: "active".into(),
                        present_state: "active".into(),
                        patch_version: "19".into(),
                        adapter_port: Some(9001),
                        adapters: None,
                        configs: BTreeMap::new(),
                    });
            }
            _ => {}
        }
    }
    // Config rows in Tars carry what was pushed.
    for c in &plan.changes {
        let a = &c.address;
        if a.kind() != ResourceKind::Config || c.action == Action::Delete {
            continue;
        }
        let content = match c.attr_str("content") {
            Some(t) if !c.after_unknown.contains("content") => t.to_string(),
            _ if a.leaf_name() == Some("ssl.key") => format!(
                "key of {}",
                Address::cert(a.server_name().unwrap(), a.ip().unwrap(), "ssl")
            ),
            _ => fill(a, "content").as_str().unwrap().to_string(),
        };
        let node = observed
            .servers
            .get_mut(a.server_name().unwrap())
            .and_then(|s| s.nodes.get_mut(a.ip().unwrap()))
            .expect("a pushed config has a registered node");
        node.configs
            .insert(a.leaf_name().unwrap().into(), ObservedConfig { id: 500, content });
    }
    (local, observed)
}

struct World {
    topology: Topology,
    state: Option<State>,
    observed: Observed,
    local: LocalFiles,
}

impl World {
    fn seed() -> Self {
        World {
            topology: seed(),
            state: None,
            observed: observed_before(),
            local: local_before(),
        }
    }

    fn plan_with(&self, refresh: bool, options: PlanOptions) -> Result<Plan, PlanError> {
        let graph = graph::desired(&self.topology)?;
        plan::plan(&PlanInput {
            topology: &self.topology,
            graph: &graph,
            state: self.state.as_ref(),
            observed: refresh.then_some(&self.observed),
            local: &self.local,
            options: &options,
        })
    }

    fn plan(&self) -> Plan {
        self.plan_with(true, PlanOptions::default()).unwrap()
    }

    /// Applies a plan of the current topology as planned.
    fn apply(&mut self) -> Plan {
        let plan = self.plan();
        let (local, observed) = after_apply(&plan, &self.local, &self.observed);
        self.state = Some(plan::state_after(&plan, self.state.as_ref(), fill));
        self.local = local;
        self.observed = observed;
        plan
    }
}

fn actions(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| format!("{} {}", c.action.symbol(), c.address))
        .collect()
}

/// `prior` is the state the plan was made against (it fills the JSON's `prior_state`).
fn snapshot_all(name: &str, plan: &Plan, prior: Option<&State>) {
    let human = view::human(plan, false);
    let markdown = view::markdown(plan);
    let json = view::json_with_state(plan, prior);
    for text in [&human, &markdown, &json, &saved::to_file_text(plan)] {
        assert!(!text.contains(TOKEN), "the token leaked into {name}");
        assert!(!text.contains("s3cr3t"), "the token leaked into {name}");
        assert!(!text.contains("PRIVATE KEY"), "a private key leaked into {name}");
    }
    // Reviewers read fingerprints, not PEM; the JSON keeps the certificates whole.
    for text in [&human, &markdown] {
        assert!(!text.contains("-----BEGIN"), "PEM in the {name} view:\n{text}");
    }
    insta::assert_snapshot!(format!("{name}_human"), human);
    insta::assert_snapshot!(format!("{name}_markdown"), markdown);
    insta::assert_snapshot!(format!("{name}_json"), json);
}

// ---------------------------------------------------------------- scenarios

#[test]
fn seed_expansion_from_empty_state() {
    let w = World::seed();
    let plan = w.plan();
    let rpc = "agencyABcosRpcService";
    let node = plan.change(&Address::node(rpc, NEW)).unwrap();
    assert_eq!(node.action, Action::Create);
    assert_eq!(
        node.attr("register"),
        Some(&json!({"method": "expand", "source": OLD}))
    );
    assert_eq!(plan.change(&Address::tarsnode(NEW)).unwrap().action, Action::Read);
    assert_eq!(plan.preconditions.ca["rpc"].matches_tars, Some(true));
    let key = plan.change(&Address::config(rpc, NEW, "ssl.key")).unwrap();
    assert!(key.sensitive.contains("content"));
    assert!(key.attr("content").is_none());
    assert_eq!(plan.summary().destroy, 0);
    let colored = view::human(&plan, true);
    assert!(
        colored.contains("\x1b[32m  +\x1b[0m node["),
        "creates are green on a terminal"
    );
    snapshot_all("seed_expansion", &plan, w.state.as_ref());
}

#[test]
fn replanning_after_apply_is_a_no_op() {
    let mut w = World::seed();
    w.apply();
    let plan = w.plan();
    assert_eq!(
        actions(&plan),
        Vec::<String>::new(),
        "{}",
        view::human(&plan, false)
    );
    let offline = w.plan_with(false, PlanOptions::default()).unwrap();
    assert!(!offline.has_changes(), "{}", view::human(&offline, false));
    snapshot_all("no_op", &plan, w.state.as_ref());
}

#[test]
fn changed_listen_port_updates_config_and_restarts_the_node() {
    let mut w = World::seed();
    w.apply();
    w.topology.agencies[0].rpc.as_mut().unwrap().listen_port = 10201;
    let plan = w.plan();
    let rpc = "agencyABcosRpcService";
    assert_eq!(
        actions(&plan),
        vec![
            format!("<= {}", Address::tarsnode(NEW)),
            format!("~ {}", Address::config(rpc, NEW, "config.ini")),
            format!("~ {}", Address::node(rpc, NEW)),
        ]
    );
    let node = plan.change(&Address::node(rpc, NEW)).unwrap();
    assert_eq!(node.reason, "restart: config.ini changed");
    assert!(
        view::human(&plan, false).contains("-listen_port = 10200\n            +listen_port = 10201")
            || view::human(&plan, false).contains("+listen_port = 10201")
    );
    snapshot_all("listen_port_changed", &plan, w.state.as_ref());
}

#[test]
fn removed_ip_deletes_its_node_configs_and_certs() {
    let mut w = World::seed();
    w.topology = topology(vec![agency("agencyA", &[NEW, "172.25.0.6"], 10200, 40300)]);
    w.apply();
    w.topology = seed();
    let plan = w.plan();
    assert!(
        plan.changes.iter().all(|c| c.action == Action::Delete),
        "{:?}",
        actions(&plan)
    );
    assert!(plan.changes.iter().all(|c| c.address.ip() == Some("172.25.0.6")));
    assert_eq!(plan.summary().destroy, 2 + 3 + 9);
    snapshot_all("removed_ip", &plan, w.state.as_ref());
}

#[test]
fn removed_agency_deletes_its_servers_and_keeps_the_cas() {
    let mut w = World::seed();
    w.topology = topology(vec![
        agency("agencyA", &[NEW], 10200, 40300),
        agency("agencyB", &[NEW], 10201, 40301),
    ]);
    w.apply();
    w.topology = seed();
    let plan = w.plan();
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == Action::Delete && c.address.server_name().unwrap().starts_with("agencyB"))
    );
    assert!(plan.change(&Address::server("agencyBBcosRpcService")).is_some());
    assert!(plan.change(&Address::ca(ServiceKind::Rpc)).is_none());
    snapshot_all("removed_agency", &plan, w.state.as_ref());
}

#[test]
fn destroy_deletes_everything_but_the_cas() {
    let mut w = World::seed();
    w.apply();
    let plan = w
        .plan_with(
            true,
            PlanOptions {
                destroy: true,
                ..PlanOptions::default()
            },
        )
        .unwrap();
    assert_eq!(plan.summary().destroy, 2 + 2 + 3 + 9);
    assert!(
        plan.notes.iter().any(|n| n.contains("ca[\"rpc\"] is kept")),
        "{:?}",
        plan.notes
    );
    assert!(view::markdown(&plan).contains("> [!WARNING]"));
}

// ---------------------------------------------------------------- rules

#[test]
fn a_node_in_tars_but_not_in_state_is_imported_never_redeployed() {
    let mut w = World::seed();
    w.topology = topology(vec![agency("agencyA", &[OLD], 20200, 30300)]);
    let plan = w.plan();
    let node = plan.change(&Address::node("agencyABcosRpcService", OLD)).unwrap();
    assert_eq!(node.action, Action::Import);
    assert!(node.attr("register").is_none());
    assert!(
        plan.changes
            .iter()
            .all(|c| !(c.address.kind() == ResourceKind::Node && c.action == Action::Create))
    );
}

#[test]
fn expanding_without_the_existing_ca_fails_and_without_its_key_leaves_signing_to_apply() {
    let mut w = World::seed();
    w.local.cas.remove(&ServiceKind::Rpc);
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("generated/rpc/chain0/ca") && err.contains("agencyABcosRpcService"),
        "{err}"
    );
    // From state only, nodes in state count as existing too.
    let mut w = World::seed();
    w.apply();
    w.topology = topology(vec![agency("agencyA", &[NEW, "172.25.0.6"], 10200, 40300)]);
    w.local.cas.remove(&ServiceKind::Gateway);
    // The state keeps the CA certificate, so continuity holds; signing is apply's business.
    let plan = w.plan_with(false, PlanOptions::default()).unwrap();
    let digest = w
        .state
        .as_ref()
        .unwrap()
        .get(&Address::ca(ServiceKind::Gateway))
        .unwrap()
        .attributes["cert_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let signed: Vec<&String> = plan
        .notes
        .iter()
        .filter(|n| n.contains(&format!("will be signed by CA sha256:{digest} at apply")))
        .collect();
    assert!(!signed.is_empty(), "{:?}", plan.notes);
    let new_cert = Address::cert("agencyABcosGatewayService", "172.25.0.6", "ssl");
    assert_eq!(plan.change(&new_cert).unwrap().action, Action::Create);
    assert_eq!(
        plan.preconditions.ca["gateway"].signs_with_key.as_deref(),
        Some("generated/gateway/chain0/ca/ca.key")
    );
}

#[test]
fn expanding_with_another_ca_than_tars_serves_fails() {
    let mut w = World::seed();
    w.observed
        .ca_crt
        .insert(ServiceKind::Gateway, fake_pem("another CA"));
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::CaContinuity { kind, nodes, .. }
            if kind == "gateway" && nodes.iter().any(|n| n.contains("agencyABcosGatewayService"))),
        "{err}"
    );
    assert!(err.to_string().contains("generated/gateway/chain0/ca"));
}

#[test]
fn a_fresh_chain_deploys_the_first_node_and_expands_the_rest() {
    let mut w = World::seed();
    w.observed = Observed::default();
    w.observed.tarsnodes.insert(NEW.into(), true);
    w.observed.tarsnodes.insert("172.25.0.6".into(), true);
    w.local.cas.clear();
    w.topology = topology(vec![agency("agencyA", &[NEW, "172.25.0.6"], 10200, 40300)]);
    let plan = w.plan();
    let rpc = "agencyABcosRpcService";
    assert_eq!(
        plan.change(&Address::node(rpc, NEW)).unwrap().attr("register"),
        Some(&json!({"method": "deploy"}))
    );
    assert_eq!(
        plan.change(&Address::node(rpc, "172.25.0.6"))
            .unwrap()
            .attr("register"),
        Some(&json!({"method": "expand", "source": NEW}))
    );
    assert_eq!(
        plan.change(&Address::ca(ServiceKind::Rpc)).unwrap().action,
        Action::Create
    );
    let ca_crt = plan.change(&Address::config(rpc, NEW, "ca.crt")).unwrap();
    assert!(ca_crt.after_unknown.contains("content"));
}

#[test]
fn an_out_of_band_edit_in_tars_is_updated_back_with_a_diff() {
    let mut w = World::seed();
    w.apply();
    let rpc = "agencyABcosRpcService";
    let row = w
        .observed
        .servers
        .get_mut(rpc)
        .unwrap()
        .nodes
        .get_mut(NEW)
        .unwrap()
        .configs
        .get_mut("config.ini")
        .unwrap();
    row.content = row.content.replace("thread_count = 4", "thread_count = 64");
    let plan = w.plan();
    let change = plan.change(&Address::config(rpc, NEW, "config.ini")).unwrap();
    assert_eq!(change.action, Action::Update);
    assert!(change.reason.contains("outside tarsform"), "{}", change.reason);
    assert!(view::human(&plan, false).contains("-thread_count = 64"));
    assert_eq!(
        plan.change(&Address::node(rpc, NEW)).unwrap().action,
        Action::Update
    );
    // Without refresh the edit is invisible.
    assert!(!w.plan_with(false, PlanOptions::default()).unwrap().has_changes());
}

#[test]
fn a_node_in_state_but_gone_from_tars_is_created_again() {
    let mut w = World::seed();
    w.apply();
    w.observed
        .servers
        .get_mut("agencyABcosRpcService")
        .unwrap()
        .nodes
        .remove(NEW);
    let plan = w.plan();
    let node = plan.change(&Address::node("agencyABcosRpcService", NEW)).unwrap();
    assert_eq!(node.action, Action::Create);
    assert!(node.reason.contains("gone from Tars"), "{}", node.reason);
    // Listed with the other changes made outside tarsform, above the plan.
    let gone = format!(
        "{}: in the state, but gone from Tars (undeployed outside tarsform)",
        Address::node("agencyABcosRpcService", NEW)
    );
    assert_eq!(plan.drift, vec![gone.clone()]);
    let text = view::human(&plan, false);
    assert!(
        text.starts_with("Objects have changed outside tarsform"),
        "{text}"
    );
    assert!(text.contains(&gone), "{text}");
    assert_eq!(
        plan.change(&Address::config("agencyABcosRpcService", NEW, "config.ini"))
            .unwrap()
            .action,
        Action::Create
    );
}

#[test]
fn a_tainted_node_is_replaced() {
    let mut w = World::seed();
    w.apply();
    let state = w.state.as_mut().unwrap();
    state
        .resources
        .get_mut(&Address::node("agencyABcosRpcService", NEW))
        .unwrap()
        .status = ResourceStatus::Tainted;
    let plan = w.plan();
    let node = plan.change(&Address::node("agencyABcosRpcService", NEW)).unwrap();
    assert_eq!(node.action, Action::Replace);
    // Never "expand from" the node being undeployed.
    let register = node.after.as_ref().unwrap()["register"].to_string();
    assert!(!register.contains(NEW), "{register}");
    // Undeploying drops the node's rows in Tars: every config is pushed again.
    for file in ServiceKind::Rpc.config_files() {
        let config = plan.change(&Address::config("agencyABcosRpcService", NEW, file));
        assert_eq!(config.map(|c| c.action), Some(Action::Create), "{file}");
    }
}

#[test]
fn a_missing_package_blocks_only_plans_that_upload_it() {
    let mut w = World::seed();
    // A server Tars does not run yet needs the archive.
    w.observed.servers.remove("agencyABcosRpcService");
    w.local.packages.insert(
        "agencyABcosRpcService".into(),
        LocalPackage::Missing {
            source: "binary/BcosRpcService.tgz".into(),
            reason: "no such file".into(),
        },
    );
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("agencyABcosRpcService") && err.contains("binary/BcosRpcService.tgz"),
        "{err}"
    );
    let mut w = World::seed();
    w.apply();
    w.local.packages.clear();
    assert!(!w.plan().has_changes());
}

#[test]
fn a_new_package_updates_the_server_and_restarts_its_nodes() {
    let mut w = World::seed();
    w.apply();
    w.local.packages.insert(
        "agencyABcosGatewayService".into(),
        LocalPackage::Built {
            sha256: sha256_hex(b"v2"),
            size: 1,
            path: "p".into(),
            source: "s".into(),
        },
    );
    let plan = w.plan();
    let node = plan
        .change(&Address::node("agencyABcosGatewayService", NEW))
        .unwrap();
    assert_eq!(node.reason, "restart: the package changed");
    assert_eq!(
        plan.change(&Address::server("agencyABcosGatewayService"))
            .unwrap()
            .action,
        Action::Update
    );
}

#[test]
fn a_down_tarsnode_fails_a_plan_that_needs_it() {
    let mut w = World::seed();
    w.observed.tarsnodes.insert(NEW.into(), false);
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::TarsnodeDown { ip, .. } if ip == NEW),
        "{err}"
    );
}

#[test]
fn targets_restrict_the_plan_to_matches_and_their_dependencies() {
    let w = World::seed();
    let target: Target = "node[\"agencyABcosRpcService\"]".parse().unwrap();
    let plan = w
        .plan_with(
            true,
            PlanOptions {
                targets: vec![target],
                ..PlanOptions::default()
            },
        )
        .unwrap();
    assert!(
        plan.changes
            .iter()
            .all(|c| !c.address.to_string().contains("Gateway")),
        "{:?}",
        actions(&plan)
    );
    assert!(
        plan.change(&Address::cert("agencyABcosRpcService", NEW, "sdk"))
            .is_some()
    );
    assert!(plan.change(&Address::ca(ServiceKind::Rpc)).is_some());
    assert!(plan.change(&Address::ca(ServiceKind::Gateway)).is_none());
    // A targeted delete takes what depends on it, not what it depends on.
    let mut w = World::seed();
    w.topology = topology(vec![agency("agencyA", &[NEW, "172.25.0.6"], 10200, 40300)]);
    w.apply();
    let target: Target = "node[\"agencyABcosRpcService\"][\"172.25.0.6\"]".parse().unwrap();
    let plan = w
        .plan_with(
            true,
            PlanOptions {
                targets: vec![target],
                destroy: true,
                ..PlanOptions::default()
            },
        )
        .unwrap();
    assert_eq!(plan.summary().destroy, 1 + 4 + 2, "{:?}", actions(&plan));
}

// ---------------------------------------------------------------- saved plans

#[test]
fn saved_plans_round_trip_and_staleness_is_explained() {
    let mut w = World::seed();
    let fresh_plan = w.plan();
    let text = saved::to_file_text(&fresh_plan);
    assert_eq!(saved::from_file_text(&text).unwrap(), fresh_plan);
    let topo = plan::topology_digest(&w.topology);
    let inputs = plan::inputs_digest(&w.local);
    saved::check_fresh(&fresh_plan, None, &topo, &inputs).unwrap();

    w.apply();
    let state = w.state.clone().unwrap();
    let stale = |p: &Plan, s: Option<&State>, t: &str, i: &str| {
        saved::check_fresh(p, s, t, i).unwrap_err().to_string()
    };
    // Made against no state, a state now exists.
    assert!(stale(&fresh_plan, Some(&state), &topo, &inputs).contains("made with no state"));
    let planned = w.plan();
    let topo = plan::topology_digest(&w.topology);
    let inputs = plan::inputs_digest(&w.local);
    saved::check_fresh(&planned, Some(&state), &topo, &inputs).unwrap();
    let mut moved = state.clone();
    moved.serial += 1;
    assert!(stale(&planned, Some(&moved), &topo, &inputs).contains("serial 1 → 2"));
    let mut other = state.clone();
    other.lineage = "11111111-2222-4333-8444-555555555555".into();
    assert!(stale(&planned, Some(&other), &topo, &inputs).contains("lineage changed"));
    assert!(stale(&planned, None, &topo, &inputs).contains("no state exists now"));
    assert!(stale(&planned, Some(&state), "x", &inputs).contains("topology file changed"));
    let all = stale(&planned, Some(&moved), "x", "y");
    assert!(
        all.contains("serial") && all.contains("topology") && all.contains("local inputs"),
        "{all}"
    );
    let wrong = text.replace("\"format_version\": 1", "\"format_version\": 99");
    assert!(
        saved::from_file_text(&wrong)
            .unwrap_err()
            .to_string()
            .contains("99")
    );
}

// ---------------------------------------------------------------- properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arb_topology() -> impl Strategy<Value = Topology> {
        let ips = proptest::sample::subsequence(vec![OLD, NEW, "172.25.0.6", "172.25.0.7"], 1..4);
        let one = (ips.clone(), ips, any::<bool>(), any::<bool>(), 1u16..3);
        proptest::collection::vec(one, 1..4).prop_map(|agencies| {
            topology(
                agencies
                    .into_iter()
                    .enumerate()
                    .map(|(i, (rpc_ips, gw_ips, rpc, gw, port))| {
                        let mut a = agency(&format!("agency{i}"), &[], 20200 + port, 30300 + port);
                        a.rpc = rpc.then(|| service(ServiceKind::Rpc, &rpc_ips, 20200 + port));
                        a.gateway =
                            (gw || !rpc).then(|| service(ServiceKind::Gateway, &gw_ips, 30300 + port));
                        a
                    })
                    .collect(),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn planning_is_deterministic_and_apply_converges(topo in arb_topology(), refresh in any::<bool>()) {
            let mut w = World { topology: topo, state: None, observed: observed_before(), local: local_before() };
            w.observed.tarsnodes.insert("172.25.0.7".into(), true);
            for agency in ["agency0", "agency1", "agency2"] {
                for kind in ServiceKind::ALL {
                    let server = kind.server_name(agency);
                    w.local.packages.insert(server.clone(), LocalPackage::Built {
                        sha256: sha256_hex(server.as_bytes()), size: 1, path: "p".into(), source: "s".into() });
                }
            }
            let first = w.plan_with(refresh, PlanOptions::default()).unwrap();
            let again = w.plan_with(refresh, PlanOptions::default()).unwrap();
            prop_assert_eq!(saved::to_file_text(&first), saved::to_file_text(&again));
            prop_assert_eq!(view::human(&first, true), view::human(&again, true));
            w.apply();
            let after = w.plan_with(refresh, PlanOptions::default()).unwrap();
            prop_assert!(!after.has_changes(), "{}", view::human(&after, false));
        }
    }
}

// ---------------------------------------------------------------- command line

mod cli {
    use std::path::Path;
    use std::process::{Command, Output};

    use super::TOKEN;

    fn release_tgz(binary: &str) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let body = b"\x7fELF fake binary";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, format!("{binary}/{binary}"), &body[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/expand-agencyA.toml");
        std::fs::copy(fixture, dir.path().join("config.toml")).unwrap();
        std::fs::create_dir(dir.path().join("binary")).unwrap();
        for binary in ["BcosRpcService", "BcosGatewayService"] {
            std::fs::write(
                dir.path().join(format!("binary/{binary}.tgz")),
                release_tgz(binary),
            )
            .unwrap();
        }
        dir
    }

    fn tarsform(dir: &Path, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
            .args(args)
            .current_dir(dir)
            .env_remove("TARSFORM_TARS_TOKEN")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(TOKEN) && !text.contains("s3cr3t"),
                "token leaked: {text}"
            );
        }
        out
    }

    fn stdout(out: &Output) -> String {
        String::from_utf8(out.stdout.clone()).unwrap()
    }

    #[test]
    fn plan_saves_a_plan_that_show_reads_and_never_prints_the_token() {
        let dir = workspace();
        let d = dir.path();
        let out = tarsform(
            d,
            &[
                "plan",
                "-c",
                "config.toml",
                "--refresh=false",
                "--out",
                "plans/expand.plan.json",
                "--detailed-exitcode",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(
            text.contains("Plan: 18 to add, 0 to change, 0 to destroy."),
            "{text}"
        );
        assert!(
            text.contains("register       = {\"method\":\"deploy\"}"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "no colour when not a terminal");
        let saved = std::fs::read_to_string(d.join("plans/expand.plan.json")).unwrap();
        assert!(!saved.contains("s3cr3t"));
        assert!(saved.contains("\"prior\": null"));

        let show = tarsform(d, &["show", "plans/expand.plan.json", "--json"]);
        assert!(show.status.success());
        let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(json["resource_changes"].as_array().unwrap().len(), 19);

        let md = tarsform(
            d,
            &[
                "plan",
                "-c",
                "config.toml",
                "--refresh=false",
                "--format",
                "markdown",
            ],
        );
        assert_eq!(md.status.code(), Some(0));
        assert!(stdout(&md).starts_with("### tarsform plan for `chain0`"));
    }

    #[test]
    fn show_without_a_plan_reads_the_state_and_graph_prints_mermaid() {
        let dir = workspace();
        let d = dir.path();
        let none = tarsform(d, &["show", "-c", "config.toml"]);
        assert!(none.status.success());
        assert!(String::from_utf8_lossy(&none.stderr).contains("No state at state/chain0.state.json"));

        let graph = tarsform(d, &["graph", "-c", "config.toml", "--format", "mermaid"]);
        assert!(graph.status.success());
        let text = stdout(&graph);
        assert!(text.starts_with("flowchart RL\n"));
        // cert → ca 3, cert files → ssl cert 6, node → tarsnode and server 4, node → configs 9
        assert_eq!(text.matches("-->").count(), 22, "{text}");
    }

    #[test]
    fn show_lists_the_state_and_its_json() {
        let dir = workspace();
        let d = dir.path();
        let mut w = super::World::seed();
        w.apply();
        std::fs::create_dir(d.join("state")).unwrap();
        let state = serde_json::to_vec_pretty(w.state.as_ref().unwrap()).unwrap();
        std::fs::write(d.join("state/chain0.state.json"), state).unwrap();
        let human = tarsform(d, &["show", "-c", "config.toml"]);
        assert!(
            human.status.success(),
            "{}",
            String::from_utf8_lossy(&human.stderr)
        );
        let text = stdout(&human);
        assert!(text.contains("# state of chain chain0 (lineage 00000000-0000-4000-8000-000000000000, serial 1, 18 resources)"), "{text}");
        assert!(
            text.contains("node[\"agencyABcosRpcService\"][\"172.25.0.5\"] {"),
            "{text}"
        );
        let json = tarsform(d, &["show", "--state", "state/chain0.state.json", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(json["values"]["resources"].as_array().unwrap().len(), 18);
        assert_eq!(json["serial"], 1);
    }

    #[test]
    fn a_bad_target_is_an_error_that_names_it() {
        let dir = workspace();
        let out = tarsform(
            dir.path(),
            &[
                "plan",
                "-c",
                "config.toml",
                "--refresh=false",
                "--target",
                "nod[\"x\"]",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--target nod[\"x\"]"));
    }
}

// ---------------------------------------------------------------- CA continuity

fn packages_only(local: &LocalFiles) -> LocalFiles {
    LocalFiles {
        packages: local.packages.clone(),
        ..LocalFiles::default()
    }
}

#[test]
fn without_generated_a_plan_checks_the_ca_from_state_and_changes_nothing() {
    let mut w = World::seed();
    w.apply();
    w.local = packages_only(&w.local);
    for refresh in [true, false] {
        let plan = w.plan_with(refresh, PlanOptions::default()).unwrap();
        assert!(!plan.has_changes(), "refresh={refresh}: {:?}", actions(&plan));
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("checked against the CA certificate in state"))
        );
    }
}

#[test]
fn without_generated_or_state_a_plan_over_existing_nodes_fails_naming_them() {
    let mut w = World::seed();
    w.local = packages_only(&w.local);
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, PlanError::CaContinuity { .. }), "{text}");
    assert!(text.contains("is missing"), "{text}");
    assert!(
        text.contains("node[\"agencyABcosRpcService\"][\"172.25.0.3\"]: Tars serves ca.crt sha256:"),
        "{text}"
    );
    assert!(text.contains("hint: point `rpc_ca_cert_path`"), "{text}");
}

#[test]
fn an_old_state_without_the_ca_certificate_and_no_ca_files_fails() {
    let mut w = World::seed();
    w.apply();
    let state = w.state.as_mut().unwrap();
    for kind in ServiceKind::ALL {
        state
            .resources
            .get_mut(&Address::ca(kind))
            .unwrap()
            .attributes
            .remove("cert_pem");
    }
    w.local = packages_only(&w.local);
    let err = w.plan_with(false, PlanOptions::default()).unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    assert!(err.to_string().contains("state records ca.crt"), "{err}");
}

#[test]
fn another_ca_at_the_path_fails_with_and_without_state() {
    // Without state: Tars serves the rpc CA, the path holds the gateway's.
    let mut w = World::seed();
    w.local.cas.get_mut(&ServiceKind::Rpc).unwrap().cert_pem = Some(ca_pem(ServiceKind::Gateway));
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::CaContinuity { kind, .. } if kind == "rpc"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("is not the CA these nodes were issued from")
    );
    // With state, refreshed or not: the CA recorded in state wins, rotation is explicit.
    let mut w = World::seed();
    w.apply();
    w.local.cas.get_mut(&ServiceKind::Rpc).unwrap().cert_pem = Some(ca_pem(ServiceKind::Gateway));
    for refresh in [true, false] {
        let err = w.plan_with(refresh, PlanOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("is not the CA recorded in state"),
            "refresh={refresh}: {err}"
        );
    }
}

#[test]
fn a_ca_is_created_only_when_no_node_of_its_type_exists() {
    let mut w = World::seed();
    w.observed.servers.retain(|s, _| s.contains("Gateway"));
    w.observed.ca_crt.remove(&ServiceKind::Rpc);
    w.local.cas.remove(&ServiceKind::Rpc);
    let plan = w.plan();
    assert_eq!(
        plan.change(&Address::ca(ServiceKind::Rpc)).unwrap().action,
        Action::Create
    );
    assert!(
        plan.change(&Address::ca(ServiceKind::Gateway))
            .is_none_or(|c| c.action != Action::Create)
    );
}

// ---------------------------------------------------------------- protection and targets

const RPC_SERVER: &str = "agencyABcosRpcService";

fn without_rpc() -> Topology {
    let mut a = agency("agencyA", &[NEW], 10200, 40300);
    a.rpc = None;
    topology(vec![a])
}

fn mark_imported(w: &mut World, node: &Address) {
    w.state
        .as_mut()
        .unwrap()
        .resources
        .get_mut(node)
        .unwrap()
        .attributes
        .insert("imported".into(), json!(true));
}

#[test]
fn an_imported_node_is_destroyed_only_when_targeted_or_allowed() {
    let mut w = World::seed();
    w.apply();
    let node = Address::node(RPC_SERVER, NEW);
    mark_imported(&mut w, &node);
    w.topology = without_rpc();
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::ProtectedNodes { nodes } if nodes == &vec![node.to_string()]),
        "{err}"
    );
    assert!(err.to_string().contains("-c config.toml -c expand.toml"), "{err}");

    let targeted = PlanOptions {
        targets: vec![format!("server[\"{RPC_SERVER}\"]").parse::<Target>().unwrap()],
        ..PlanOptions::default()
    };
    let plan = w.plan_with(true, targeted).unwrap();
    assert_eq!(plan.change(&node).unwrap().action, Action::Delete);
    // The server target takes the node's certs and configs with it.
    for file in ServiceKind::Rpc.config_files() {
        let c = plan.change(&Address::config(RPC_SERVER, NEW, file));
        assert_eq!(c.map(|c| c.action), Some(Action::Delete), "{file}");
    }
    for purpose in ServiceKind::Rpc.cert_purposes() {
        let c = plan.change(&Address::cert(RPC_SERVER, NEW, purpose));
        assert_eq!(c.map(|c| c.action), Some(Action::Delete), "{purpose}");
    }
    assert_eq!(plan.summary().nodes_destroyed, 1);
    for text in [
        view::human(&plan, false),
        view::markdown(&plan),
        view::json(&plan),
    ] {
        assert!(text.contains("this plan destroys 1 node(s)"), "{text}");
    }
}

#[test]
fn prevent_destroy_false_allows_and_true_protects_every_node() {
    let mut w = World::seed();
    w.apply();
    let node = Address::node(RPC_SERVER, NEW);
    mark_imported(&mut w, &node);
    // The IP leaves deploy_ip; the service stays and says whether that is allowed.
    let mut topo = topology(vec![agency("agencyA", &["172.25.0.6"], 10200, 40300)]);
    topo.agencies[0].rpc.as_mut().unwrap().prevent_destroy = Some(false);
    w.topology = topo.clone();
    w.observed.tarsnodes.insert("172.25.0.6".into(), true);
    let plan = w.plan_with(true, PlanOptions::default()).unwrap();
    assert_eq!(plan.change(&node).unwrap().action, Action::Delete);

    mark_imported(&mut w, &node);
    w.state
        .as_mut()
        .unwrap()
        .resources
        .get_mut(&node)
        .unwrap()
        .attributes
        .insert("imported".into(), json!(false));
    topo.agencies[0].rpc.as_mut().unwrap().prevent_destroy = Some(true);
    w.topology = topo;
    let err = w.plan_with(true, PlanOptions::default()).unwrap_err();
    assert!(matches!(err, PlanError::ProtectedNodes { .. }), "{err}");
}

#[test]
fn a_node_tarsform_created_is_not_protected_by_default() {
    let mut w = World::seed();
    w.apply();
    w.topology = without_rpc();
    let plan = w.plan();
    assert_eq!(
        plan.change(&Address::node(RPC_SERVER, NEW)).unwrap().action,
        Action::Delete
    );
}

// ---------------------------------------------------------------- PR comment

/// The comment as GitHub would render it (tables, alerts), through pulldown-cmark.
fn comment_html(plan: &Plan) -> String {
    let md = view::markdown(plan);
    let options = pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_GFM;
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new_ext(&md, options));
    html
}

#[test]
fn pr_comment_shows_port_changes_and_restarts_before_the_collapsed_plan() {
    let mut w = World::seed();
    w.apply();
    w.topology.agencies[0].rpc.as_mut().unwrap().listen_port = 10201;
    let html = comment_html(&w.plan());
    let details = html.find("<details>").expect("the full plan is collapsed");
    for visible in [
        "<table>",
        "update</td>",
        "-listen_port = 10200",
        "+listen_port = 10201",
        "Restarts (1):",
        "config.ini changed",
        "```mermaid",
    ]
    .iter()
    .map(|s| s.replace("```mermaid", "language-mermaid"))
    {
        let at = html
            .find(&visible)
            .unwrap_or_else(|| panic!("no `{visible}` in:\n{html}"));
        assert!(
            at < details,
            "`{visible}` only inside the collapsed plan:\n{html}"
        );
    }
    assert!(
        html.contains("<summary>Full plan: 3 change(s)</summary>"),
        "{html}"
    );
}

#[test]
fn pr_comment_warns_of_destroys_with_a_github_alert() {
    let mut w = World::seed();
    w.topology = topology(vec![agency("agencyA", &[NEW, "172.25.0.6"], 10200, 40300)]);
    w.apply();
    w.topology = seed();
    let plan = w.plan();
    let html = comment_html(&plan);
    assert!(html.contains("markdown-alert-warning"), "{html}");
    assert!(html.contains("This plan destroys 14 resource(s)"), "{html}");
    assert!(html.contains("<details>") && html.contains("</details>"));
    assert!(view::markdown(&plan).contains("> [!WARNING]"));
}

#[test]
fn apply_result_comment_reports_success_and_failures() {
    let ok = concat!(
        r#"{"type":"apply_complete","@message":"start node: done","hook":{"action":"start"}}"#,
        "\n",
        r#"{"type":"change_summary","@message":"Apply complete! Resources: 0 imported, 1 added, 0 changed, 0 destroyed."}"#,
        "\nnot json\n"
    );
    let md = view::markdown_apply(ok);
    assert!(md.starts_with("### tarsform apply: ✅ Applied\n"), "{md}");
    assert!(md.contains("| start | 1 |"), "{md}");
    assert!(md.contains("1 line(s) of the event stream were not JSON"), "{md}");
    let failed = concat!(
        r#"{"type":"apply_errored","@message":"start node: FAILED: boom"}"#,
        "\n",
        r#"{"type":"rollback_errored","@message":"undo register node: FAILED: gone"}"#,
        "\n"
    );
    let md = view::markdown_apply(failed);
    assert!(md.contains("FAILED, rollback INCOMPLETE"), "{md}");
    assert!(
        md.contains("> [!CAUTION]") && md.contains("> - start node: FAILED: boom"),
        "{md}"
    );
}

// ---------------------------------------------------------------- graph --plan

/// A DOT node: the clusters it sits in (outermost first), its label and fill colour.
#[derive(Debug)]
struct DotNode {
    clusters: Vec<String>,
    label: String,
    fill: String,
}

/// Reads `view::plan_dot`'s output: clusters (with their labels), nodes and edges; panics
/// on unbalanced braces or an edge to an undeclared node.
fn parse_dot(dot: &str) -> (Vec<DotNode>, Vec<(String, String)>) {
    let attr = |line: &str, key: &str| -> String {
        let start = line.find(&format!("{key} = \"")).map(|i| i + key.len() + 4);
        start
            .map(|s| line[s..s + line[s..].find("\"").unwrap()].to_string())
            .unwrap_or_default()
    };
    let mut stack: Vec<String> = Vec::new();
    let mut ids = BTreeMap::new();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let lines: Vec<&str> = dot.lines().map(str::trim).collect();
    assert!(
        lines[0].starts_with("digraph") && lines.last() == Some(&"}"),
        "{dot}"
    );
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.starts_with("subgraph cluster_") {
            stack.push(attr(lines[i + 1], "label"));
        } else if *line == "}" {
            stack.pop();
        } else if let Some((from, to)) = line.trim_end_matches(';').split_once(" -> ") {
            edges.push((from.to_string(), to.to_string()));
        } else if line.starts_with('r') && line.contains("[label") {
            let id = line.split(' ').next().unwrap().to_string();
            ids.insert(id, ());
            nodes.push(DotNode {
                clusters: stack.clone(),
                label: attr(line, "label").replace("\\n", "\n"),
                fill: attr(line, "fillcolor"),
            });
        }
    }
    assert!(stack.is_empty(), "unbalanced clusters:\n{dot}");
    for (from, to) in &edges {
        assert!(
            ids.contains_key(from) && ids.contains_key(to),
            "edge {from} -> {to}:\n{dot}"
        );
    }
    (nodes, edges)
}

#[test]
fn graph_of_a_plan_clusters_two_agencies_by_host_with_short_coloured_labels() {
    let mut w = World::seed();
    w.topology = topology(vec![
        agency("agencyA", &[NEW], 10200, 40300),
        agency("agencyB", &[NEW, "172.25.0.6"], 10201, 40301),
    ]);
    let plan = w.plan();
    let dot = view::plan_dot(&plan, false);
    let (nodes, edges) = parse_dot(&dot);
    assert!(edges.is_empty(), "no order edges unless asked");
    let in_cluster = |agency: &str, host: &str| -> Vec<&DotNode> {
        nodes
            .iter()
            .filter(|n| n.clusters == [agency.to_string(), host.to_string()])
            .collect()
    };
    for (agency, host) in [("agencyA", NEW), ("agencyB", NEW), ("agencyB", "172.25.0.6")] {
        let labels: Vec<&str> = in_cluster(agency, host)
            .iter()
            .map(|n| n.label.as_str())
            .collect();
        assert_eq!(labels.len(), 2, "{agency}/{host}: {labels:?}\n{dot}");
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with(&format!("rpc {host}\n+ create"))),
            "{labels:?}"
        );
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with(&format!("gateway {host}\n+ create"))),
            "{labels:?}"
        );
    }
    assert!(
        nodes.iter().all(|n| n.label.lines().all(|l| l.len() <= 30)),
        "{dot}"
    );
    assert!(
        nodes
            .iter()
            .filter(|n| n.label.contains("create"))
            .all(|n| n.fill == "#c8f7c5")
    );
    // Everything drawn is a server or node in its agency, or a CA or tarsnode outside.
    assert!(nodes.len() < 20, "{} boxes:\n{dot}", nodes.len());
    let ordered = view::plan_dot(&plan, true);
    let (_, edges) = parse_dot(&ordered);
    assert!(!edges.is_empty(), "--order draws the apply order:\n{ordered}");
}
