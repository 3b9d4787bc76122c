//! Refresh: reads what Tars reports about the topology's (and the state's) servers into
//! the planner's [`Observed`] snapshot, and compares it with the state ([`drift`]) and
//! with the topology for `status` ([`status`]).
//!
//! I/O through [`TarsApi`] only; [`drift`] and [`status`] are pure. Side effect worth
//! knowing: TarsWeb's `node_config_file_list` inserts an empty node row for every node
//! that lacks one (BcosBuilder triggers the same). An empty node row delivers nothing,
//! so it is reported as absent, the same as a missing row.
//! Each node's adapters come from `adapter_conf_list` (one call per node); its
//! `adapter_port` is the port of its first adapter.

pub mod adopt;
pub mod drift;
pub mod status;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::addr::Address;
use crate::config::{ServiceKind, Topology};
use crate::plan::{Observed, ObservedAdapter, ObservedConfig, ObservedNode, ObservedServer};
use crate::state::State;
use crate::tars::{TarsApi, TarsError};

/// Servers read at the same time.
pub(crate) const SERVER_CONCURRENCY: usize = 8;

/// What Tars holds for every server named in the topology or the state, the tarsnodes
/// and their liveness, and the `ca.crt` Tars serves per service type.
pub async fn observe<C: TarsApi>(
    api: &C,
    topology: &Topology,
    state: Option<&State>,
) -> Result<Observed, TarsError> {
    let app = topology.application();
    let mut observed = Observed::default();
    for node in api.list_tars_node().await? {
        let alive = node.is_alive();
        observed.tarsnodes.insert(node.node_name, alive);
    }
    let names: Vec<String> = server_names(topology, state).into_iter().collect();
    // Servers' rows may share one application-wide read made since this one began.
    let began = std::time::Instant::now();
    for chunk in names.chunks(SERVER_CONCURRENCY) {
        let reads = chunk
            .iter()
            .map(|server| observe_server_since(api, app, server, Some(began)))
            .collect();
        for (server, read) in chunk.iter().zip(join_all(reads).await) {
            if let Some(entry) = read? {
                observed.servers.insert(server.clone(), entry);
            }
        }
    }
    observed.ca_crt = served_cas(&observed);
    Ok(observed)
}

/// One server: its nodes and their config rows; `None` when Tars has no node of it.
pub async fn observe_server<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
) -> Result<Option<ObservedServer>, TarsError> {
    observe_server_since(api, app, server, None).await
}

/// [`observe_server`], whose rows may come from a `server_list` started at `since` or later.
async fn observe_server_since<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    since: Option<std::time::Instant>,
) -> Result<Option<ObservedServer>, TarsError> {
    let rows = match since {
        Some(since) => api.server_list_since(app, server, since).await?.1,
        None => api.server_list(app, Some(server)).await?,
    };
    let mut entry = ObservedServer::default();
    for row in rows
        .iter()
        .filter(|r| r.server_name.is_empty() || r.server_name == server)
    {
        entry.nodes.insert(
            row.node_name.clone(),
            ObservedNode {
                server_id: row.id,
                setting_state: row.setting_state.clone(),
                present_state: row.present_state.clone(),
                patch_version: row.patch_version.clone(),
                adapter_port: None,
                adapters: None,
                configs: Default::default(),
            },
        );
    }
    if entry.nodes.is_empty() {
        return Ok(None);
    }
    let ids: Vec<(String, u64)> = entry
        .nodes
        .iter()
        .map(|(ip, n)| (ip.clone(), n.server_id))
        .collect();
    let reads = ids.iter().map(|(_, id)| api.adapter_conf_list(*id)).collect();
    for ((ip, _), read) in ids.iter().zip(join_all(reads).await) {
        let adapters: Vec<ObservedAdapter> = read?
            .into_iter()
            .map(|a| ObservedAdapter {
                id: a.id,
                servant: a.servant,
                endpoint: a.endpoint,
            })
            .collect();
        if let Some(node) = entry.nodes.get_mut(ip) {
            node.adapter_port = adapters
                .iter()
                .find_map(|a| crate::plan::Endpoint::parse(&a.endpoint).port());
            node.adapters = Some(adapters);
        }
    }
    for server_row in api.config_file_list(app, server).await? {
        entry.configs.insert(server_row.filename.clone(), server_row.id);
        // Rows come newest first; the first one of a node wins.
        for row in api.node_config_file_list(app, server, server_row.id).await? {
            if row.config.trim().is_empty() || row.filename != server_row.filename {
                continue;
            }
            if let Some(node) = entry.nodes.get_mut(&row.node_name) {
                node.configs.entry(row.filename).or_insert(ObservedConfig {
                    id: row.id,
                    content: row.config,
                });
            }
        }
    }
    Ok(Some(entry))
}

/// Every server named by the topology or the state, sorted.
pub fn server_names(topology: &Topology, state: Option<&State>) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = topology.services().map(|s| s.server_name()).collect();
    if let Some(state) = state {
        names.extend(
            state
                .addresses()
                .filter_map(Address::server_name)
                .map(str::to_string),
        );
    }
    names
}

/// Per service type, the first non-empty `ca.crt` served to a node (servers and nodes in
/// name order, so the choice is deterministic).
fn served_cas(observed: &Observed) -> std::collections::BTreeMap<ServiceKind, String> {
    let mut cas = std::collections::BTreeMap::new();
    for (server, entry) in &observed.servers {
        let Some(kind) = ServiceKind::of_server(server) else {
            continue;
        };
        if cas.contains_key(&kind) {
            continue;
        }
        let ca = entry
            .nodes
            .values()
            .find_map(|n| n.configs.get("ca.crt").or_else(|| n.configs.get("sm_ca.crt")));
        if let Some(ca) = ca {
            cas.insert(kind, ca.content.clone());
        }
    }
    cas
}

/// Polls every future until all are done; outputs in input order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
