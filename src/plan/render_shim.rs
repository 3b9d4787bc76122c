//! Temporary stand-in for `crate::render` until the render branch is merged (deleted then).

use crate::config::{ServiceRef, Topology};

pub fn config_ini(topology: &Topology, svc: ServiceRef<'_>) -> String {
    let s = svc.service;
    let section = match svc.kind() {
        crate::config::ServiceKind::Rpc => "rpc",
        crate::config::ServiceKind::Gateway => "p2p",
    };
    format!(
        "[{section}]\nlisten_ip = {}\nlisten_port = {}\nthread_count = {}\n\n[chain]\nchain_id = {}\n",
        s.listen_ip,
        s.listen_port,
        s.thread_count,
        topology.application()
    )
}

pub fn nodes_json(svc: ServiceRef<'_>) -> String {
    serde_json::json!({ "nodes": svc.service.peers }).to_string()
}
