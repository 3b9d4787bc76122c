//! Import: the state entries that adopt a node already running in Tars (the node and
//! its config rows), so the next plan updates it instead of registering it again.
//!
//! Pure: built from the topology, its graph and what Tars reports for the server.

use std::net::IpAddr;

use serde_json::json;

use super::drift::public_content;
use crate::addr::{Address, ResourceKind};
use crate::config::{ServiceKind, Topology};
use crate::graph::ResourceGraph;
use crate::plan::paths::Paths;
use crate::plan::{ObservedServer, sha256_hex};
use crate::state::{ResourceState, State};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error(
        "`{0}` is not a node address\nhint: import takes a node, e.g. node[\"agencyABcosRpcService\"][\"172.25.0.3\"]; its config rows come with it"
    )]
    NotANode(Address),
    #[error("`{0}` is not declared by the topology\nhint: add its IP to deploy_ip of the service first")]
    NotDeclared(Address),
    #[error("`{0}` is already in the state\nhint: `tarsform state rm '{0}'` first to import it again")]
    AlreadyInState(Address),
    #[error(
        "`{address}` does not exist in Tars: server `{server}` has no node {ip}\nhint: run `tarsform plan` to create it instead"
    )]
    NotInTars {
        address: Address,
        server: String,
        ip: String,
    },
}

/// What an import adds to the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub node: Address,
    pub server_id: u64,
    /// Config rows added, in address order.
    pub configs: Vec<Address>,
    /// Config rows already in the state, left as they were.
    pub kept: Vec<Address>,
}

/// Checks `address` before Tars is asked: a declared node not yet in the state.
pub fn check_importable(address: &Address, graph: &ResourceGraph, state: &State) -> Result<(), ImportError> {
    if address.kind() != ResourceKind::Node {
        return Err(ImportError::NotANode(address.clone()));
    }
    if !graph.contains(address) {
        return Err(ImportError::NotDeclared(address.clone()));
    }
    if state.get(address).is_some() {
        return Err(ImportError::AlreadyInState(address.clone()));
    }
    Ok(())
}

/// Records the node `address` and its non-empty config rows from `observed` in `state`.
/// `generated_root` places the local copies (`local_path`), as the planner does.
pub fn adopt(
    state: &mut State,
    address: &Address,
    topology: &Topology,
    graph: &ResourceGraph,
    observed: Option<&ObservedServer>,
    generated_root: &str,
) -> Result<Adopted, ImportError> {
    check_importable(address, graph, state)?;
    let (server, ip) = match (address.server_name(), address.ip()) {
        (Some(s), Some(i)) => (s, i),
        _ => return Err(ImportError::NotANode(address.clone())),
    };
    let not_in_tars = || ImportError::NotInTars {
        address: address.clone(),
        server: server.to_string(),
        ip: ip.to_string(),
    };
    let node = observed.and_then(|o| o.nodes.get(ip)).ok_or_else(not_in_tars)?;
    let (Some(kind), Ok(ip_addr)) = (ServiceKind::of_server(server), ip.parse::<IpAddr>()) else {
        return Err(ImportError::NotDeclared(address.clone()));
    };
    let mut entry = ResourceState::new(ResourceKind::Node)
        .with_attribute("application", topology.application())
        .with_attribute("server", server)
        .with_attribute("ip", ip)
        .with_attribute("obj_name", kind.obj_name())
        .with_attribute("server_id", node.server_id)
        .with_attribute("imported", true);
    if let Ok(patch) = node.patch_version.trim().parse::<u64>() {
        entry = entry.with_attribute("patch_id", patch);
    }
    if let Some(port) = node.adapter_port {
        entry = entry.with_attribute("adapter_port", port);
    }
    // The servant's endpoint as found: later plans compare Tars' adapter with it.
    let servant = format!("{}.{server}.{}", topology.application(), kind.obj_name());
    let adapter = node.adapters.iter().flatten().find(|a| a.servant == servant);
    if let Some(adapter) = adapter {
        entry = entry.with_attribute("adapter_endpoint", adapter.endpoint.as_str());
    }
    entry.dependencies = graph.dependencies(address);
    state.insert(address.clone(), entry);

    let paths = Paths::new(topology, generated_root);
    let mut adopted = Adopted {
        node: address.clone(),
        server_id: node.server_id,
        configs: Vec::new(),
        kept: Vec::new(),
    };
    for file in topology.chain.cert_mode(kind).config_files(kind) {
        let Some(row) = node.configs.get(*file) else {
            continue;
        };
        let config = Address::config(server, ip, file);
        if state.get(&config).is_some() {
            adopted.kept.push(config);
            continue;
        }
        let mut entry = ResourceState::new(ResourceKind::Config)
            .with_attribute("file", *file)
            .with_attribute("server", server)
            .with_attribute("node", ip)
            .with_attribute("local_path", paths.config_path(kind, server, ip_addr, file))
            .with_attribute("config_id", row.id)
            .with_attribute("content_sha256", sha256_hex(row.content.as_bytes()));
        if let Some(content) = public_content(file, row) {
            entry.attributes.insert("content".into(), json!(content));
        }
        entry.dependencies = graph.dependencies(&config);
        state.insert(config.clone(), entry);
        adopted.configs.push(config);
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{desired, tests_support::seed_topology};
    use crate::plan::{ObservedConfig, ObservedNode};

    const RPC: &str = "agencyABcosRpcService";
    const IP: &str = "172.25.0.5";

    fn observed() -> ObservedServer {
        let mut node = ObservedNode {
            server_id: 42,
            patch_version: "7".into(),
            ..Default::default()
        };
        let key = "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n";
        for (id, file, content) in [
            (1, "config.ini", "[rpc]\n"),
            (2, "ssl.key", key),
            (3, "stray.txt", "x"),
        ] {
            node.configs.insert(
                file.into(),
                ObservedConfig {
                    id,
                    content: content.into(),
                },
            );
        }
        let mut server = ObservedServer::default();
        server.nodes.insert(IP.into(), node);
        server
    }

    #[test]
    fn adopts_the_node_and_its_declared_rows_without_key_material() {
        let topo = seed_topology();
        let graph = desired(&topo).unwrap();
        let mut state = State::new("chain0", "l");
        let node = Address::node(RPC, IP);
        let adopted = adopt(&mut state, &node, &topo, &graph, Some(&observed()), "generated").unwrap();
        assert_eq!(adopted.server_id, 42);
        assert_eq!(
            adopted.configs,
            vec![
                Address::config(RPC, IP, "config.ini"),
                Address::config(RPC, IP, "ssl.key")
            ]
        );
        let attrs = &state.get(&node).unwrap().attributes;
        assert_eq!(attrs["server_id"], json!(42));
        assert_eq!(attrs["patch_id"], json!(7));
        assert_eq!(attrs["obj_name"], json!("RpcServiceObj"));
        assert!(
            state
                .get(&node)
                .unwrap()
                .dependencies
                .contains(&Address::server(RPC))
        );
        let ini = &state
            .get(&Address::config(RPC, IP, "config.ini"))
            .unwrap()
            .attributes;
        assert_eq!(ini["content"], json!("[rpc]\n"));
        assert_eq!(ini["config_id"], json!(1));
        assert_eq!(
            ini["local_path"],
            json!("generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/config.ini")
        );
        let key = &state
            .get(&Address::config(RPC, IP, "ssl.key"))
            .unwrap()
            .attributes;
        assert!(key.get("content").is_none());
        assert!(state.check_no_secrets().is_ok());
    }

    #[test]
    fn refuses_undeclared_duplicate_non_node_and_absent_addresses() {
        let topo = seed_topology();
        let graph = desired(&topo).unwrap();
        let mut state = State::new("chain0", "l");
        let err = |state: &mut State, a: Address, o: Option<&ObservedServer>| {
            adopt(state, &a, &topo, &graph, o, "generated").unwrap_err()
        };
        let obs = observed();
        assert!(matches!(
            err(&mut state, Address::node(RPC, "10.0.0.1"), Some(&obs)),
            ImportError::NotDeclared(_)
        ));
        assert!(matches!(
            err(&mut state, Address::server(RPC), Some(&obs)),
            ImportError::NotANode(_)
        ));
        let absent = err(&mut state, Address::node(RPC, IP), None);
        assert!(absent.to_string().contains("does not exist in Tars"), "{absent}");
        assert!(state.is_empty());
        adopt(
            &mut state,
            &Address::node(RPC, IP),
            &topo,
            &graph,
            Some(&obs),
            "generated",
        )
        .unwrap();
        assert!(matches!(
            err(&mut state, Address::node(RPC, IP), Some(&obs)),
            ImportError::AlreadyInState(_)
        ));
    }
}
