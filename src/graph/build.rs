//! Topology → desired resources and their dependencies (DESIGN.md §3).

#[cfg(test)]
use crate::compact::VecSet;
use std::collections::BTreeMap;

use super::{GraphError, ResourceGraph};
use crate::addr::Address;
use crate::config::{ServiceKind, Topology, file_purpose};

/// The desired resource graph of a topology.
///
/// Vertices: a `tarsnode` per deploy IP, a `ca` per service type in use, and per node
/// its `cert`s, `config`s, its `server` and the `node` itself. Edges: cert → ca;
/// config (ca.crt, ssl.*; in SM mode sm_ca.crt, sm_ssl.* → sm_ssl, sm_enssl.* → sm_enssl)
/// → its cert; node → tarsnode, server, its configs.
pub fn desired(topology: &Topology) -> Result<ResourceGraph, GraphError> {
    let mut g = ResourceGraph::default();
    let mut tarsnodes = BTreeMap::new();
    let mut cas = BTreeMap::new();
    for svc in topology.services() {
        let kind = svc.kind();
        let server = svc.server_name();
        let ca = match cas.get(&kind) {
            Some(&ix) => ix,
            None => {
                let ix = g.add(Address::ca(kind))?;
                cas.insert(kind, ix);
                ix
            }
        };
        let server_ix = g.add(Address::server(&server))?;
        for ip in &svc.service.deploy_ip {
            let ip = ip.to_string();
            let tarsnode = match tarsnodes.get(&ip) {
                Some(&ix) => ix,
                None => {
                    let ix = g.add(Address::tarsnode(&ip))?;
                    tarsnodes.insert(ip.clone(), ix);
                    ix
                }
            };
            let node = g.add(Address::node(&server, &ip))?;
            g.depend(node, tarsnode);
            g.depend(node, server_ix);
            let mode = topology.chain.cert_mode(kind);
            let mut certs = BTreeMap::new();
            for purpose in mode.cert_purposes(kind) {
                let cert = g.add(Address::cert(&server, &ip, purpose))?;
                g.depend(cert, ca);
                certs.insert(*purpose, cert);
            }
            for file in mode.config_files(kind) {
                let config = g.add(Address::config(&server, &ip, file))?;
                if let Some(&cert) = file_purpose(file).and_then(|p| certs.get(p)) {
                    g.depend(config, cert);
                }
                g.depend(node, config);
            }
        }
    }
    g.check()
}

/// The service kind of a server name built by [`ServiceKind::server_name`].
pub(crate) fn kind_of_server(server: &str) -> Option<ServiceKind> {
    ServiceKind::ALL
        .into_iter()
        .find(|k| server.ends_with(k.server_suffix()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests_support::seed_topology;

    #[test]
    fn seed_expansion_has_every_resource_and_edge() {
        let g = desired(&seed_topology()).unwrap();
        let rpc = "agencyABcosRpcService";
        let ip = "172.25.0.5";
        // 1 tarsnode + 2 ca + 2 servers + rpc (2 certs, 4 configs, node) + gateway (1, 5, 1)
        assert_eq!(g.len(), 1 + 2 + 2 + 7 + 7);
        assert_eq!(
            g.dependencies(&Address::node(rpc, ip)),
            VecSet::from([
                Address::tarsnode(ip),
                Address::server(rpc),
                Address::config(rpc, ip, "config.ini"),
                Address::config(rpc, ip, "ca.crt"),
                Address::config(rpc, ip, "ssl.crt"),
                Address::config(rpc, ip, "ssl.key"),
            ])
        );
        assert_eq!(
            g.dependencies(&Address::config(rpc, ip, "ssl.key")),
            VecSet::from([Address::cert(rpc, ip, "ssl")])
        );
        assert!(g.dependencies(&Address::config(rpc, ip, "config.ini")).is_empty());
        assert_eq!(
            g.dependencies(&Address::cert(rpc, ip, "sdk")),
            VecSet::from([Address::ca(ServiceKind::Rpc)])
        );
        let order = g.toposort().unwrap();
        let pos = |a: &Address| order.iter().position(|x| x == a).unwrap();
        assert!(pos(&Address::ca(ServiceKind::Rpc)) < pos(&Address::cert(rpc, ip, "ssl")));
        assert!(pos(&Address::cert(rpc, ip, "ssl")) < pos(&Address::config(rpc, ip, "ssl.crt")));
        assert!(pos(&Address::config(rpc, ip, "ssl.crt")) < pos(&Address::node(rpc, ip)));
    }

    #[test]
    fn server_names_map_back_to_their_kind() {
        assert_eq!(kind_of_server("agencyABcosRpcService"), Some(ServiceKind::Rpc));
        assert_eq!(kind_of_server("xBcosGatewayService"), Some(ServiceKind::Gateway));
        assert_eq!(kind_of_server("other"), None);
    }
}
