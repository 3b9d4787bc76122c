//! Per-node settings: `[agency.<type>.node."<ip>"]` with `listen_ip`, `listen_port` and
//! `thread_count` for one node of the service (BcosBuilder's expand files give a new
//! host its own ports). Keys are IPs of `deploy_ip`; what a node leaves out comes from
//! its service. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::schema::{Opt, RawService};
use super::{ConfigError, NodeSettings};

/// The checked `node` tables of one service; errors go to `errors`.
pub(super) fn node_settings(
    path: &str,
    raw: &RawService,
    deploy_ip: Option<&[IpAddr]>,
    service: &NodeSettings,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<IpAddr, NodeSettings> {
    let mut out = BTreeMap::new();
    for (key, node) in raw.node.iter().flatten() {
        let node_path = format!("{path}.node.\"{key}\"");
        let loc = node.loc.0;
        let error = |message: String, hint: &str| ConfigError {
            path: node_path.clone(),
            location: loc,
            message,
            hint: Some(hint.to_string()),
        };
        let Ok(ip) = key.trim().parse::<IpAddr>() else {
            errors.push(error(
                format!("`{key}` is not an IP address"),
                "name the node by its deploy IP: [agency.rpc.node.\"172.25.0.5\"]",
            ));
            continue;
        };
        if deploy_ip.is_some_and(|ips| !ips.contains(&ip)) {
            errors.push(error(
                format!("{ip} is not in `deploy_ip`"),
                "add the IP to deploy_ip, or remove this node table",
            ));
            continue;
        }
        let mut settings = service.clone();
        if let Some(l) = &node.listen_ip {
            match l.value.trim().parse::<IpAddr>() {
                Ok(_) => settings.listen_ip = l.value.trim().to_string(),
                Err(_) => errors.push(ConfigError {
                    path: format!("{node_path}.listen_ip"),
                    location: l.loc,
                    message: format!("`{}` is not an IP address", l.value),
                    hint: Some("usually `0.0.0.0` (all interfaces)".into()),
                }),
            }
        }
        if let Some(p) = number(
            &format!("{node_path}.listen_port"),
            &node.listen_port,
            1,
            65535,
            errors,
        ) {
            settings.listen_port = p as u16;
        }
        if let Some(t) = number(
            &format!("{node_path}.thread_count"),
            &node.thread_count,
            1,
            u32::MAX as i64,
            errors,
        ) {
            settings.thread_count = t as u32;
        }
        if let Some(state) = run_state(&format!("{node_path}.state"), &node.state, errors) {
            settings.state = state;
        }
        if settings != *service {
            out.insert(ip, settings);
        }
    }
    out
}

/// The port of `ip` as written: its node table's `listen_port`, if any.
pub(super) fn raw_port_of(raw: &RawService, ip: IpAddr) -> Option<i64> {
    raw.node
        .iter()
        .flatten()
        .find(|(k, _)| k.trim().parse::<IpAddr>().ok() == Some(ip))
        .and_then(|(_, n)| n.listen_port.as_ref().map(|p| p.value))
}

/// `"started"` or `"stopped"`; anything else is an error naming the key.
pub(super) fn run_state(
    path: &str,
    field: &Opt<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<super::RunState> {
    let f = field.as_ref()?;
    let state = super::RunState::parse(&f.value);
    if state.is_none() {
        errors.push(ConfigError {
            path: path.to_string(),
            location: f.loc,
            message: format!("`{}` is not a run state", f.value),
            hint: Some("write `state = \"started\"` (the default) or `state = \"stopped\"`".into()),
        });
    }
    state
}

fn number(path: &str, field: &Opt<i64>, min: i64, max: i64, errors: &mut Vec<ConfigError>) -> Option<i64> {
    let f = field.as_ref()?;
    if (min..=max).contains(&f.value) {
        Some(f.value)
    } else {
        errors.push(ConfigError {
            path: path.to_string(),
            location: f.loc,
            message: format!("{} is outside {min}..{max}", f.value),
            hint: None,
        });
        None
    }
}
