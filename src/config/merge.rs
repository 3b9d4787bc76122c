//! Several topology files as one (`-c config.toml -c expand.toml`): the files describe
//! one chain; agencies merge by name; a later file adds IPs to a service, each with the
//! settings that file gives it (so BcosBuilder's deploy + expand files become one
//! topology with per-node ports). Conflicting values are errors naming both files. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Agency, ConfigError, ConfigErrors, NodeSettings, Service, ServiceKind, Topology};

/// `later` (read from `later_file`) merged into `base` (from `base_file`).
pub fn merge(
    base: Topology,
    base_file: &str,
    later: Topology,
    later_file: &str,
) -> Result<Topology, ConfigErrors> {
    let mut errors = Vec::new();
    let mut conflict = |path: &str, ours: String, theirs: String, hint: &str| {
        errors.push(ConfigError {
            path: path.to_string(),
            location: None,
            message: format!("`{theirs}` here, but `{ours}` in {base_file}"),
            hint: Some(hint.to_string()),
        });
    };
    let same_chain =
        "files given with -c describe one chain: make the value the same, or drop it from the later file";
    if base.chain.chain_id != later.chain.chain_id {
        conflict(
            "chain.chain_id",
            base.chain.chain_id.clone(),
            later.chain.chain_id.clone(),
            same_chain,
        );
    }
    if base.tars.url != later.tars.url {
        conflict(
            "tars.tars_url",
            base.tars.url.clone(),
            later.tars.url.clone(),
            same_chain,
        );
    }
    if base.tars.pkg_dir != later.tars.pkg_dir {
        conflict(
            "tars.tars_pkg_dir",
            base.tars.pkg_dir.display().to_string(),
            later.tars.pkg_dir.display().to_string(),
            same_chain,
        );
    }
    for (key, pin) in &later.tars.packages {
        if let Some(ours) = base.tars.packages.get(key).filter(|ours| *ours != pin) {
            conflict(
                &format!("tars.packages.{key}"),
                format!("{} from {}", ours.label(), ours.source.shown()),
                format!("{} from {}", pin.label(), pin.source.shown()),
                "one package per key: pin it in one file only",
            );
        }
    }
    for kind in ServiceKind::ALL {
        let (ours, theirs) = (base.chain.ca_cert_path(kind), later.chain.ca_cert_path(kind));
        if ours != theirs {
            conflict(
                &format!("chain.{kind}_ca_cert_path"),
                ours.display().to_string(),
                theirs.display().to_string(),
                "one CA per service type: point both files at the same CA directory",
            );
        }
    }
    let mut merged = base;
    merged.chain.rpc_ca_cert_path_explicit |= later.chain.rpc_ca_cert_path_explicit;
    merged.chain.gateway_ca_cert_path_explicit |= later.chain.gateway_ca_cert_path_explicit;
    for (key, pin) in later.tars.packages {
        merged.tars.packages.entry(key).or_insert(pin);
    }
    if merged.tars.token.expose().is_empty() {
        merged.tars.token = later.tars.token.clone();
    }
    for agency in later.agencies {
        match merged.agencies.iter_mut().find(|a| a.name == agency.name) {
            None => merged.agencies.push(agency),
            Some(ours) => merge_agency(ours, agency, &mut conflict),
        }
    }
    check_ports(&merged, &mut errors);
    super::peers::resolve_auto(&mut merged);
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(ConfigErrors {
            file: later_file.to_string(),
            errors,
        })
    }
}

fn merge_agency(ours: &mut Agency, theirs: Agency, conflict: &mut impl FnMut(&str, String, String, &str)) {
    let name = ours.name.clone();
    let same = "one agency, one value: make it the same in both files, or drop it from the later file";
    if ours.failover_cluster_url != theirs.failover_cluster_url {
        conflict(
            &format!("agency `{name}`.failover_cluster_url"),
            ours.failover_cluster_url.clone(),
            theirs.failover_cluster_url.clone(),
            same,
        );
    }
    if ours.enable_storage_security != theirs.enable_storage_security {
        conflict(
            &format!("agency `{name}`.enable_storage_security"),
            ours.enable_storage_security.to_string(),
            theirs.enable_storage_security.to_string(),
            same,
        );
    }
    for kind in ServiceKind::ALL {
        let slot = match kind {
            ServiceKind::Rpc => (&mut ours.rpc, theirs.rpc.clone()),
            ServiceKind::Gateway => (&mut ours.gateway, theirs.gateway.clone()),
        };
        match slot {
            (_, None) => {}
            (mine @ None, Some(s)) => *mine = Some(s),
            (Some(mine), Some(s)) => merge_service(&format!("agency `{name}`.{kind}"), mine, s, conflict),
        }
    }
}

fn merge_service(
    path: &str,
    ours: &mut Service,
    theirs: Service,
    conflict: &mut impl FnMut(&str, String, String, &str),
) {
    for &ip in &theirs.deploy_ip {
        let wanted = settings(&theirs, ip);
        if ours.deploy_ip.contains(&ip) {
            let have = settings(ours, ip);
            if have != wanted {
                conflict(
                    &format!("{path}.deploy_ip {ip}"),
                    describe(&have),
                    describe(&wanted),
                    "a node is declared in both files with different settings: keep it in one file",
                );
            }
            continue;
        }
        ours.deploy_ip.push(ip);
        if wanted != settings(ours, ip) {
            ours.nodes.insert(ip, wanted);
        }
    }
    ours.peers_auto |= theirs.peers_auto;
    for peer in theirs.peers {
        if !ours.peers.contains(&peer) {
            ours.peers.push(peer);
        }
    }
    match (ours.prevent_destroy, theirs.prevent_destroy) {
        (Some(a), Some(b)) if a != b => conflict(
            &format!("{path}.prevent_destroy"),
            a.to_string(),
            b.to_string(),
            "one service, one value: set it in one file",
        ),
        (None, b) => ours.prevent_destroy = b,
        _ => {}
    }
}

fn settings(service: &Service, ip: IpAddr) -> NodeSettings {
    let one = service.for_node(ip);
    NodeSettings {
        listen_ip: one.listen_ip,
        listen_port: one.listen_port,
        thread_count: one.thread_count,
        state: one.state,
    }
}

fn describe(s: &NodeSettings) -> String {
    format!(
        "listen_ip {}, listen_port {}, thread_count {}, state {}",
        s.listen_ip,
        s.listen_port,
        s.thread_count,
        s.state.as_str()
    )
}

/// Two services on one IP cannot listen on one port, once the files are merged.
fn check_ports(topology: &Topology, errors: &mut Vec<ConfigError>) {
    let mut taken: BTreeMap<(IpAddr, u16), String> = BTreeMap::new();
    for svc in topology.services() {
        for &ip in &svc.service.deploy_ip {
            let port = svc.service.listen_port_of(ip);
            let owner = svc.server_name();
            if let Some(other) = taken.insert((ip, port), owner.clone()) {
                errors.push(ConfigError {
                    path: format!("{owner} on {ip}"),
                    location: None,
                    message: format!("`{other}` already listens on {ip} port {port}"),
                    hint: Some("give each service on one host its own listen_port".into()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, parse_str};

    fn file(chain_extra: &str, ip: &str, rpc_port: u16, gw_port: u16) -> Topology {
        let text = format!(
            "[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"t0ken-for-tests\"\n[chain]\nchain_id = \"chain0\"\n{chain_extra}\n\
             [[agency]]\nname = \"agencyA\"\n[agency.rpc]\ndeploy_ip = [\"{ip}\"]\nlisten_port = {rpc_port}\n\
             [agency.gateway]\ndeploy_ip = [\"{ip}\"]\nlisten_port = {gw_port}\npeers = [\"{ip}:{gw_port}\"]\n"
        );
        parse_str(&text, Format::Toml, "f.toml", None).unwrap()
    }

    #[test]
    fn bcosbuilders_deploy_and_expand_files_become_one_topology_with_per_node_ports() {
        let deploy = file("", "172.25.0.3", 20200, 30300);
        let expand = file("", "172.25.0.5", 10200, 40300);
        let t = merge(deploy, "config.toml", expand, "expand.toml").unwrap();
        let rpc = t.agencies[0].rpc.as_ref().unwrap();
        let old: IpAddr = "172.25.0.3".parse().unwrap();
        let new: IpAddr = "172.25.0.5".parse().unwrap();
        assert_eq!(rpc.deploy_ip, vec![old, new]);
        assert_eq!((rpc.listen_port_of(old), rpc.listen_port_of(new)), (20200, 10200));
        let gw = t.agencies[0].gateway.as_ref().unwrap();
        assert_eq!(gw.listen_port_of(new), 40300);
        assert_eq!(gw.peers, vec!["172.25.0.3:30300", "172.25.0.5:40300"]);
    }

    #[test]
    fn another_chain_or_a_node_declared_twice_differently_is_an_error() {
        let deploy = file("", "172.25.0.3", 20200, 30300);
        let other = file("", "172.25.0.3", 20201, 30300);
        let err = merge(deploy.clone(), "config.toml", other, "expand.toml").unwrap_err();
        assert!(err.to_string().contains("listen_port 20201"), "{err}");
        let mut chain1 = file("", "172.25.0.5", 10200, 40300);
        chain1.chain.chain_id = "chain1".into();
        let err = merge(deploy, "config.toml", chain1, "expand.toml").unwrap_err();
        assert!(
            err.to_string()
                .contains("`chain.chain_id`: `chain1` here, but `chain0` in config.toml"),
            "{err}"
        );
    }
}
