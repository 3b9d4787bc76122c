//! Gateway peers that do not fit the topology: a gateway no `peers` list names (nobody
//! connects to it), or a peer that is no gateway of the topology (a dangling entry).
//! Warnings only: peers may name gateways outside this topology on purpose.
//! Also fills `peers = "auto"`: every gateway of the chain, then the extra entries. Pure.

use std::collections::BTreeSet;

use super::{ServiceKind, Topology};

/// The `peers` entry that stands for every gateway of the chain.
pub const AUTO: &str = "auto";

/// For each gateway with `peers = "auto"`: `peers` becomes every gateway endpoint of the
/// topology, sorted by IP and port (BcosBuilder's examples list them so), then the entries
/// written besides `"auto"`. Idempotent, so merged files can be resolved again.
pub fn resolve_auto(topology: &mut Topology) {
    let mut endpoints: Vec<std::net::SocketAddr> = gateway_endpoints(topology)
        .iter()
        .filter_map(|(_, e)| e.parse().ok())
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let all: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    for agency in &mut topology.agencies {
        let Some(gateway) = agency.gateway.as_mut().filter(|g| g.peers_auto) else {
            continue;
        };
        let mut peers = all.clone();
        for extra in &gateway.peers {
            if !peers.iter().any(|p| normalize(p) == normalize(extra)) {
                peers.push(extra.clone());
            }
        }
        gateway.peers = peers;
    }
}

/// `(server, ip:port)` of every gateway node, in topology order.
fn gateway_endpoints(topology: &Topology) -> Vec<(String, String)> {
    topology
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
        .collect()
}

/// One line per problem, sorted.
pub fn peer_warnings(topology: &Topology) -> Vec<String> {
    let gateways = gateway_endpoints(topology);
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

    fn gateway(agency: &str, ip: &str, port: u16, peers: &str) -> String {
        format!(
            "[[agency]]\nname = \"{agency}\"\n[agency.gateway]\ndeploy_ip = [\"{ip}\"]\nlisten_port = {port}\npeers = {peers}\n"
        )
    }

    const TARS: &str = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"t0ken-for-tests\"\n";

    #[test]
    fn peers_auto_lists_every_gateway_of_the_chain_then_the_extra_entries() {
        let text = format!(
            "{TARS}{}{}",
            gateway("agencyA", "172.25.0.3", 30300, "\"auto\""),
            gateway(
                "agencyB",
                "172.25.0.5",
                30301,
                "[\"auto\", \"10.9.9.9:30300\", \"172.25.0.3:30300\"]"
            )
        );
        let t = parse_str(&text, Format::Toml, "f.toml", None).unwrap();
        let peers = |i: usize| t.agencies[i].gateway.as_ref().unwrap().peers.clone();
        assert_eq!(peers(0), ["172.25.0.3:30300", "172.25.0.5:30301"]);
        assert_eq!(
            peers(1),
            ["172.25.0.3:30300", "172.25.0.5:30301", "10.9.9.9:30300"]
        );
        let mut again = t.clone();
        resolve_auto(&mut again);
        assert_eq!(again, t, "resolving twice changes nothing");
        assert!(
            peer_warnings(&t).iter().all(|w| w.contains("10.9.9.9:30300")),
            "{:#?}",
            peer_warnings(&t)
        );
    }

    #[test]
    fn peers_auto_covers_gateways_added_by_a_later_file() {
        let base = parse_str(
            &format!("{TARS}{}", gateway("agencyA", "172.25.0.3", 30300, "\"auto\"")),
            Format::Toml,
            "config.toml",
            None,
        )
        .unwrap();
        let expand = parse_str(
            &format!("{TARS}{}", gateway("agencyA", "172.25.0.5", 40300, "\"auto\"")),
            Format::Toml,
            "expand.toml",
            None,
        )
        .unwrap();
        let merged = crate::config::merge(base, "config.toml", expand, "expand.toml").unwrap();
        let gw = merged.agencies[0].gateway.as_ref().unwrap();
        assert_eq!(gw.peers, ["172.25.0.3:30300", "172.25.0.5:40300"]);
        assert!(peer_warnings(&merged).is_empty(), "{:#?}", peer_warnings(&merged));
    }

    #[test]
    fn a_peer_that_is_neither_auto_nor_ip_port_is_an_error_with_the_auto_hint() {
        let text = format!(
            "{TARS}{}",
            gateway("agencyA", "172.25.0.3", 30300, "\"automatic\"")
        );
        let err = parse_str(&text, Format::Toml, "f.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`automatic` is not `ip:port`"), "{err}");
        assert!(err.contains("\"auto\" for every gateway"), "{err}");
    }
}
