//! Reads what Tars reports about the topology's servers into the planner's
//! [`Observed`] snapshot. Listing node config rows has a TarsWeb side effect (it
//! creates missing empty node rows), as it does for BcosBuilder.

use std::collections::BTreeSet;

use crate::addr::Address;
use crate::config::{ServiceKind, Topology};
use crate::plan::{Observed, ObservedConfig, ObservedNode, ObservedServer};
use crate::state::State;
use crate::tars::{TarsApi, TarsError};

/// Every server named by the topology or the state.
fn server_names(topology: &Topology, state: Option<&State>) -> BTreeSet<String> {
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
    for server in server_names(topology, state) {
        let rows = api.server_list(app, Some(&server)).await?;
        if rows.is_empty() {
            continue;
        }
        let mut entry = ObservedServer::default();
        for row in &rows {
            entry.nodes.insert(
                row.node_name.clone(),
                ObservedNode {
                    server_id: row.id,
                    setting_state: row.setting_state.clone(),
                    present_state: row.present_state.clone(),
                    patch_version: row.patch_version.clone(),
                    adapter_port: None,
                    configs: Default::default(),
                },
            );
        }
        for server_row in api.config_file_list(app, &server).await? {
            entry.configs.insert(server_row.filename.clone(), server_row.id);
            for row in api.node_config_file_list(app, &server, server_row.id).await? {
                if let Some(node) = entry.nodes.get_mut(&row.node_name) {
                    node.configs.insert(
                        row.filename.clone(),
                        ObservedConfig {
                            id: row.id,
                            content: row.config,
                        },
                    );
                }
            }
        }
        if let Some(kind) = ServiceKind::of_server(&server)
            && let std::collections::btree_map::Entry::Vacant(slot) = observed.ca_crt.entry(kind)
            && let Some(ca) = entry
                .nodes
                .values()
                .filter_map(|n| n.configs.get("ca.crt"))
                .map(|c| c.content.clone())
                .find(|c| !c.trim().is_empty())
        {
            slot.insert(ca);
        }
        observed.servers.insert(server, entry);
    }
    Ok(observed)
}
