//! Gateway peers that do not fit the topology: a gateway no `peers` list names (nobody
//! connects to it), or a peer that is no gateway of the topology (a dangling entry).
//! Warnings only: peers may name gateways outside this topology on purpose. Pure.

use std::collections::BTreeSet;

use super::{ServiceKind, Topology};

/// One line per problem, sorted.
pub fn peer_warnings(topology: &Topology) -> Vec<String> {
    let gateways: Vec<(String, String)> = topology
        .services()
        .filter(|s| s.kind() == ServiceKind::Gateway)
        .flat_map(|s| {
            let server = s.server_name();
            s.service
                .deploy_ip
                .iter()
                .map(move |&ip| (server.clone(), endpoint(ip, s.service.listen_port_of(ip))))
                .collect::<Vec<_>>()
        })
        .collect();
    let peers: BTreeSet<(String, String)> = topology
        .services()
        .filter(|s| s.kind() == ServiceKind::Gateway)
        .flat_map(|s| {
            let server = s.server_name();
            s.service
                .peers
                .iter()
                .map(move |p| (normalize(p), server.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let named: BTreeSet<&str> = peers.iter().map(|(p, _)| p.as_str()).collect();
    let known: BTreeSet<&str> = gateways.iter().map(|(_, e)| e.as_str()).collect();
    let mut out = Vec::new();
    for (server, at) in &gateways {
        if !named.contains(at.as_str()) {
            out.push(format!(
                "gateway `{server}` on {at} is in no `peers` list: no gateway connects to it (add \"{at}\" to peers)"
            ));
        }
    }
    for (peer, server) in &peers {
        if !known.contains(peer.as_str()) {
            out.push(format!(
                "`{server}` peers name {peer}, where no gateway of the topology listens (outside this topology, or removed?)"
            ));
        }
    }
    out.sort();
    out
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

fn normalize(peer: &str) -> String {
    peer.trim()
        .parse::<std::net::SocketAddr>()
        .map_or_else(|_| peer.trim().to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, parse_str};

    #[test]
    fn a_gateway_in_no_peers_list_and_a_dangling_peer_are_named() {
        let text = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"t0ken-for-tests\"\n\
            [[agency]]\nname = \"agencyA\"\n[agency.gateway]\ndeploy_ip = [\"172.25.0.3\", \"172.25.0.5\"]\n\
            listen_port = 30300\npeers = [\"172.25.0.3:30300\", \"172.25.0.6:30300\"]\n";
        let t = parse_str(text, Format::Toml, "f.toml", None).unwrap();
        let w = peer_warnings(&t);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].contains("`agencyABcosGatewayService` peers name 172.25.0.6:30300"),
            "{w:#?}"
        );
        assert!(
            w[1].contains("on 172.25.0.5:30300 is in no `peers` list"),
            "{w:#?}"
        );
        let fixed = text.replace("\"172.25.0.6:30300\"", "\"172.25.0.5:30300\"");
        assert!(peer_warnings(&parse_str(&fixed, Format::Toml, "f.toml", None).unwrap()).is_empty());
    }
}
