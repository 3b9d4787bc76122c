//! The one-paragraph description `tarsform validate` prints for a valid topology. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::model::Topology;

/// Chain, Tars, agencies, services and nodes per host, e.g.
/// `chain chain0 on Tars http://127.0.0.1:3000/ (token: set): 1 agency, 2 services, 2 nodes on 1 host.`
pub fn summary(t: &Topology) -> String {
    let services: Vec<_> = t.services().collect();
    let mut per_host: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for s in &services {
        for ip in &s.service.deploy_ip {
            per_host.entry(*ip).or_default().push(s.server_name());
        }
    }
    let nodes: usize = per_host.values().map(Vec::len).sum();
    let token = if t.tars.token.is_empty() { "empty" } else { "set" };
    let mut out = format!(
        "chain {} on Tars {} (token: {token}): {}, {}, {} on {}.",
        t.chain.chain_id,
        t.tars.url,
        count(t.agencies.len(), "agency", "agencies"),
        count(services.len(), "service", "services"),
        count(nodes, "node", "nodes"),
        count(per_host.len(), "host", "hosts"),
    );
    for a in &t.agencies {
        let parts: Vec<String> = a
            .rpc
            .iter()
            .chain(a.gateway.iter())
            .map(|s| {
                // Nodes with their own port are named with it: "port 10200 on 172.25.0.5".
                let ips: Vec<String> = s
                    .deploy_ip
                    .iter()
                    .map(|&ip| match s.listen_port_of(ip) {
                        p if p == s.listen_port => ip.to_string(),
                        p => format!("{ip} (port {p})"),
                    })
                    .collect();
                let peers = if s.peers.is_empty() {
                    String::new()
                } else {
                    format!(", {}", count(s.peers.len(), "peer", "peers"))
                };
                format!("{} port {} on {}{peers}", s.kind, s.listen_port, ips.join(", "))
            })
            .collect();
        let parts = if parts.is_empty() {
            "no services".to_string()
        } else {
            parts.join("; ")
        };
        out.push_str(&format!("\n  agency {}: {parts}", a.name));
    }
    for (ip, servers) in &per_host {
        out.push_str(&format!("\n  host {ip}: {}", servers.join(", ")));
    }
    for (key, pin) in &t.tars.packages {
        out.push_str(&format!(
            "\n  package {key}: {} from {}",
            pin.label(),
            pin.source.shown()
        ));
    }
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use crate::config::{Format, parse_str};

    #[test]
    fn a_node_with_its_own_port_is_named_with_it() {
        let text = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"t0ken-for-tests\"\n\
            [[agency]]\nname = \"agencyA\"\n[agency.rpc]\ndeploy_ip = [\"172.25.0.3\", \"172.25.0.5\"]\n\
            listen_port = 20200\n[agency.rpc.node.\"172.25.0.5\"]\nlisten_port = 10200\n";
        let s = super::summary(&parse_str(text, Format::Toml, "f.toml", None).unwrap());
        assert!(
            s.contains("rpc port 20200 on 172.25.0.3, 172.25.0.5 (port 10200)"),
            "{s}"
        );
    }

    #[test]
    fn pinned_packages_are_listed_without_url_credentials() {
        let text = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"t0ken-for-tests\"\n\
            [tars.packages.rpc]\nversion = \"v3.4.0\"\n\
            sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
            url = \"https://u:secret@mirror.example/BcosRpcService.tgz\"\n";
        let s = super::summary(&parse_str(text, Format::Toml, "f.toml", None).unwrap());
        assert!(
            s.contains("package rpc: v3.4.0 (sha256 9f86d081884c) from https://(sensitive)@mirror.example/BcosRpcService.tgz"),
            "{s}"
        );
        assert!(!s.contains("secret"), "{s}");
    }
}
