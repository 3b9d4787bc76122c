//! The live status report of `tarsform status`: per server and node what Tars reports,
//! the adapter port from the state, and whether the config rows match the state.
//!
//! Pure: built from the topology, the state and an [`Observed`] snapshot. Its JSON
//! shape is stable (`format_version`); the CLI prints it or a table of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::addr::{Address, ResourceKind};
use crate::config::Topology;
use crate::plan::{Observed, ObservedNode, sha256_hex};
use crate::state::State;

/// Version of the `status --json` document.
pub const STATUS_FORMAT_VERSION: &str = "1.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub format_version: &'static str,
    pub application: String,
    pub tarsnodes: Vec<TarsnodeStatus>,
    pub servers: Vec<ServerStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TarsnodeStatus {
    pub ip: String,
    pub alive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    pub server: String,
    /// Nodes Tars reports as set and running `active`.
    pub active: usize,
    /// Nodes declared, in state or in Tars.
    pub total: usize,
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub ip: String,
    /// Named by the topology's `deploy_ip`.
    pub declared: bool,
    /// Recorded in the state.
    pub managed: bool,
    pub in_tars: bool,
    pub server_id: Option<u64>,
    pub setting_state: Option<String>,
    pub present_state: Option<String>,
    pub patch_version: Option<String>,
    /// From the state (Tars' adapters are not read).
    pub adapter_port: Option<u64>,
    /// The state records the node as stopped by `state = "stopped"`.
    pub stopped_by_config: bool,
    /// `None` when the tarsnode is not registered.
    pub tarsnode_alive: Option<bool>,
    /// The worst of `configs`; `unmanaged` when the state has no rows for the node.
    pub config: ConfigHealth,
    pub configs: BTreeMap<String, ConfigHealth>,
}

impl NodeStatus {
    pub fn is_active(&self) -> bool {
        self.setting_state.as_deref() == Some("active") && self.present_state.as_deref() == Some("active")
    }
}

/// How a config row in Tars compares with the state. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigHealth {
    Unmanaged,
    Ok,
    Drift,
    Missing,
}

impl ConfigHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigHealth::Unmanaged => "-",
            ConfigHealth::Ok => "ok",
            ConfigHealth::Drift => "drift",
            ConfigHealth::Missing => "missing",
        }
    }
}

pub fn build(topology: &Topology, state: Option<&State>, observed: &Observed) -> StatusReport {
    let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for svc in topology.services() {
        let ips = svc.service.deploy_ip.iter().map(ToString::to_string);
        declared.entry(svc.server_name()).or_default().extend(ips);
    }
    let managed: BTreeSet<Address> = state
        .map(|s| {
            s.addresses()
                .filter(|a| a.kind() == ResourceKind::Node)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let servers = super::server_names(topology, state)
        .into_iter()
        .map(|server| {
            let mut ips = declared.get(&server).cloned().unwrap_or_default();
            ips.extend(
                managed
                    .iter()
                    .filter(|a| a.server_name() == Some(server.as_str()))
                    .filter_map(|a| a.ip().map(str::to_string)),
            );
            if let Some(entry) = observed.servers.get(&server) {
                ips.extend(entry.nodes.keys().cloned());
            }
            let nodes: Vec<NodeStatus> = ips
                .into_iter()
                .map(|ip| NodeStatus {
                    declared: declared.get(&server).is_some_and(|d| d.contains(&ip)),
                    managed: managed.contains(&Address::node(&server, &ip)),
                    ..node_status(&server, &ip, state, observed)
                })
                .collect();
            ServerStatus {
                active: nodes.iter().filter(|n| n.is_active()).count(),
                total: nodes.len(),
                server,
                nodes,
            }
        })
        .collect();
    StatusReport {
        format_version: STATUS_FORMAT_VERSION,
        application: topology.application().to_string(),
        tarsnodes: observed
            .tarsnodes
            .iter()
            .map(|(ip, alive)| TarsnodeStatus {
                ip: ip.clone(),
                alive: *alive,
            })
            .collect(),
        servers,
    }
}

fn node_status(server: &str, ip: &str, state: Option<&State>, observed: &Observed) -> NodeStatus {
    let obs: Option<&ObservedNode> = observed.node(server, ip);
    let node_attrs = state.and_then(|s| s.get(&Address::node(server, ip)));
    let configs = config_health(server, ip, state, obs);
    NodeStatus {
        ip: ip.to_string(),
        declared: false,
        managed: false,
        in_tars: obs.is_some(),
        server_id: obs.map(|o| o.server_id),
        setting_state: obs.map(|o| o.setting_state.clone()),
        present_state: obs.map(|o| o.present_state.clone()),
        patch_version: obs.map(|o| o.patch_version.clone()),
        adapter_port: node_attrs
            .and_then(|r| r.attributes.get("adapter_port"))
            .and_then(Value::as_u64),
        stopped_by_config: node_attrs
            .and_then(|r| r.attributes.get("run_state"))
            .and_then(Value::as_str)
            == Some("stopped"),
        tarsnode_alive: observed.tarsnodes.get(ip).copied(),
        config: configs.values().copied().max().unwrap_or(ConfigHealth::Unmanaged),
        configs,
    }
}

/// Every config row the state holds for the node, compared with Tars.
fn config_health(
    server: &str,
    ip: &str,
    state: Option<&State>,
    obs: Option<&ObservedNode>,
) -> BTreeMap<String, ConfigHealth> {
    let Some(state) = state else {
        return BTreeMap::new();
    };
    let node = Address::node(server, ip);
    state
        .resources
        .iter()
        .filter(|(a, _)| a.kind() == ResourceKind::Config && a.owning_node().as_ref() == Some(&node))
        .filter_map(|(a, r)| {
            let file = a.leaf_name()?;
            let recorded = r.attributes.get("content_sha256").and_then(Value::as_str);
            let health = match obs.and_then(|o| o.configs.get(file)) {
                None => ConfigHealth::Missing,
                Some(row) if Some(sha256_hex(row.content.as_bytes()).as_str()) == recorded => {
                    ConfigHealth::Ok
                }
                Some(_) => ConfigHealth::Drift,
            };
            Some((file.to_string(), health))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests_support::seed_topology;
    use crate::plan::{ObservedConfig, ObservedServer};
    use crate::state::ResourceState;

    const RPC: &str = "agencyABcosRpcService";
    const NEW: &str = "172.25.0.5";

    #[test]
    fn nodes_are_the_union_of_topology_state_and_tars_with_config_health() {
        let mut state = State::new("chain0", "l");
        state.insert(
            Address::node(RPC, NEW),
            ResourceState::new(ResourceKind::Node).with_attribute("adapter_port", 20001),
        );
        for (file, content) in [("config.ini", "a"), ("ca.crt", "c"), ("ssl.crt", "s")] {
            state.insert(
                Address::config(RPC, NEW, file),
                ResourceState::new(ResourceKind::Config)
                    .with_attribute("content_sha256", sha256_hex(content.as_bytes())),
            );
        }
        let mut node = ObservedNode {
            server_id: 9,
            setting_state: "active".into(),
            present_state: "active".into(),
            patch_version: "4".into(),
            ..Default::default()
        };
        for (id, (file, content)) in [("config.ini", "a"), ("ca.crt", "edited")].iter().enumerate() {
            node.configs.insert(
                file.to_string(),
                ObservedConfig {
                    id: id as u64,
                    content: content.to_string(),
                },
            );
        }
        let mut server = ObservedServer::default();
        server.nodes.insert(NEW.into(), node);
        server.nodes.insert("172.25.0.3".into(), ObservedNode::default());
        let mut observed = Observed::default();
        observed.servers.insert(RPC.into(), server);
        observed.tarsnodes.insert(NEW.into(), true);

        let report = build(&seed_topology(), Some(&state), &observed);
        let names: Vec<&str> = report.servers.iter().map(|s| s.server.as_str()).collect();
        assert_eq!(names, ["agencyABcosGatewayService", RPC]);
        let rpc = &report.servers[1];
        assert_eq!((rpc.active, rpc.total), (1, 2));
        let old = &rpc.nodes[0];
        assert_eq!(
            (old.ip.as_str(), old.declared, old.managed, old.in_tars),
            ("172.25.0.3", false, false, true)
        );
        assert_eq!(old.config, ConfigHealth::Unmanaged);
        assert_eq!(old.tarsnode_alive, None);
        let new = &rpc.nodes[1];
        assert!(new.declared && new.managed && new.is_active());
        assert_eq!(new.adapter_port, Some(20001));
        assert_eq!(new.configs["config.ini"], ConfigHealth::Ok);
        assert_eq!(new.configs["ca.crt"], ConfigHealth::Drift);
        assert_eq!(new.configs["ssl.crt"], ConfigHealth::Missing);
        assert_eq!(new.config, ConfigHealth::Missing);
        let gateway = &report.servers[0];
        assert_eq!((gateway.active, gateway.total), (0, 1));
        assert!(!gateway.nodes[0].in_tars);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["servers"][1]["nodes"][1]["configs"]["ca.crt"], "drift");
        assert_eq!(json["format_version"], STATUS_FORMAT_VERSION);
    }
}
