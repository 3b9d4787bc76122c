//! The verification pass (STYLE.md item 12): what Tars shows for every node an apply
//! touches, observed before the first step (and journaled), observed again after a
//! rollback and compared — or compared with the planned result after a successful
//! apply. A rollback is complete only when the observations are equal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::tars_ops::OpResult;
use crate::addr::{Address, ResourceKind};
use crate::plan::{Action, Plan, sha256_hex};
use crate::state::State;
use crate::tars::TarsApi;

/// One node config row: its Tars id and the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSeen {
    pub id: u64,
    pub sha256: String,
}

/// What Tars shows for one registered node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSeen {
    pub id: u64,
    pub setting_state: String,
    pub patch_version: String,
    /// File name → row.
    pub configs: BTreeMap<String, RowSeen>,
}

/// Node address → what Tars shows (`None`: not registered).
pub type Observation = BTreeMap<Address, Option<NodeSeen>>;

/// The nodes `plan` changes in Tars: node changes and the owners of config changes.
pub fn touched_nodes(plan: &Plan) -> Vec<Address> {
    let mut nodes: Vec<Address> = plan
        .changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .filter_map(|c| match c.address.kind() {
            ResourceKind::Node => Some(c.address.clone()),
            ResourceKind::Config => c.address.owning_node(),
            _ => None,
        })
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Reads what Tars shows for `nodes`: per server one `server_list`, one
/// `config_file_list` and one `node_config_file_list` per file, whatever the number of
/// its nodes; servers read in parallel, a bounded number at a time.
///
/// With `since`, a server's rows may come from a `server_list` request started then or
/// later (the plan's own reads a moment ago); without, every read is fresh.
///
/// `known` holds server-level config rows this run read already (server → rows): their
/// ids serve to list node rows without another `config_file_list`.
pub async fn observe<C: TarsApi>(
    api: &C,
    app: &str,
    nodes: &[Address],
    since: Option<std::time::Instant>,
    known: &BTreeMap<String, Vec<crate::tars::ConfigFile>>,
) -> OpResult<Observation> {
    let mut by_server: BTreeMap<&str, Vec<&Address>> = BTreeMap::new();
    for node in nodes {
        by_server.entry(node.keys()[0].as_str()).or_default().push(node);
    }
    let servers: Vec<(&str, Vec<&Address>)> = by_server.into_iter().collect();
    let mut out = Observation::new();
    for chunk in servers.chunks(super::refresh::SERVER_CONCURRENCY) {
        let reads = chunk
            .iter()
            .map(|(server, nodes)| observe_server(api, app, server, nodes, since, known.get(*server)))
            .collect();
        for read in super::refresh::join_all(reads).await {
            out.extend(read?);
        }
    }
    Ok(out)
}

/// [`observe`] for the `nodes` of one server.
async fn observe_server<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    nodes: &[&Address],
    since: Option<std::time::Instant>,
    known: Option<&Vec<crate::tars::ConfigFile>>,
) -> OpResult<Observation> {
    let rows = match since {
        Some(since) => api.server_list_since(app, server, since).await?.1,
        None => api.server_list(app, Some(server)).await?,
    };
    let mut out = Observation::new();
    for node in nodes {
        let ip = &node.keys()[1];
        let seen = rows.iter().find(|r| &r.node_name == ip).map(|row| NodeSeen {
            id: row.id,
            setting_state: row.setting_state.clone(),
            patch_version: row.patch_version.trim().to_string(),
            configs: BTreeMap::new(),
        });
        out.insert((*node).clone(), seen);
    }
    if out.values().all(Option::is_none) {
        return Ok(out);
    }
    for row in node_rows(api, app, server, known, since).await? {
        let seen = RowSeen {
            id: row.id,
            sha256: sha256_hex(row.config.as_bytes()),
        };
        let node = nodes.iter().find(|n| n.keys()[1] == row.node_name);
        if let Some(Some(entry)) = node.and_then(|n| out.get_mut(*n)) {
            entry.configs.insert(row.filename, seen);
        }
    }
    Ok(out)
}

/// Every node-level config row of `server`, listed under the `known` server-level rows
/// when they all still list (a removed one fails), else under a fresh read of them.
/// With `since`, listings started then or later serve (the plan's reads a moment ago).
async fn node_rows<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    known: Option<&Vec<crate::tars::ConfigFile>>,
    since: Option<std::time::Instant>,
) -> OpResult<Vec<crate::tars::ConfigFile>> {
    // Without `since`, only requests started from now on serve: a fresh read.
    let since = since.unwrap_or_else(std::time::Instant::now);
    let list = |id: u64| async move {
        api.node_config_file_list_since(app, server, id, since)
            .await
            .map(|(_, rows)| rows)
    };
    if let Some(known) = known.filter(|rows| !rows.is_empty()) {
        let mut rows = Vec::new();
        let mut all_listed = true;
        for server_row in known {
            match list(server_row.id).await {
                Ok(listed) => rows.extend(listed),
                Err(_) => {
                    all_listed = false;
                    break;
                }
            }
        }
        if all_listed {
            return Ok(rows);
        }
    }
    let mut rows = Vec::new();
    for server_row in api.config_file_list_since(app, server, since).await?.1 {
        rows.extend(list(server_row.id).await?);
    }
    Ok(rows)
}

/// One way Tars differs from what was expected, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub address: Address,
    pub tars_id: Option<u64>,
    pub expected: String,
    pub found: String,
    pub fix: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self
            .tars_id
            .map(|i| format!(" (Tars id {i})"))
            .unwrap_or_default();
        write!(
            f,
            "{}{id}: expected {}, found {}\n    fix: {}",
            self.address, self.expected, self.found, self.fix
        )
    }
}

/// How strictly [`compare`] reads the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every field and every row (a rollback against the observation before the run).
    Exact,
    /// The planned result: rows the expectation names, patch when it names one, no ids.
    Planned,
}

fn short(digest: &str) -> String {
    format!("content sha256 {}…", &digest[..digest.len().min(12)])
}

/// Every difference between `expected` and `found`, in address order.
pub fn compare(expected: &Observation, found: &Observation, mode: Expect, fix_cmd: &str) -> Vec<Difference> {
    let mut out = Vec::new();
    for (node, want) in expected {
        let got = found.get(node).cloned().flatten();
        let (server, ip) = (&node.keys()[0], &node.keys()[1]);
        match (want, &got) {
            (None, None) => {}
            (None, Some(g)) => out.push(Difference {
                address: node.clone(),
                tars_id: Some(g.id),
                expected: "not registered".into(),
                found: format!("registered ({})", g.setting_state),
                fix: format!("undeploy {server} on {ip} in Tars web (Operations → Undeploy), or {fix_cmd}"),
            }),
            (Some(_), None) => out.push(Difference {
                address: node.clone(),
                tars_id: None,
                expected: "registered".into(),
                found: "not registered".into(),
                fix: format!("{fix_cmd} (it registers {server} on {ip} again)"),
            }),
            (Some(w), Some(g)) => {
                let id = Some(g.id);
                if w.setting_state != g.setting_state {
                    out.push(Difference {
                        address: node.clone(),
                        tars_id: id,
                        expected: format!("setting_state `{}`", w.setting_state),
                        found: format!("setting_state `{}`", g.setting_state),
                        fix: format!("start or stop {server} on {ip} in Tars web, or {fix_cmd}"),
                    });
                }
                if (mode == Expect::Exact || !w.patch_version.is_empty())
                    && w.patch_version != g.patch_version
                {
                    out.push(Difference {
                        address: node.clone(),
                        tars_id: id,
                        expected: format!("patch `{}`", w.patch_version),
                        found: format!("patch `{}`", g.patch_version),
                        fix: format!(
                            "publish patch {} to {server} on {ip} in Tars web, or {fix_cmd}",
                            w.patch_version
                        ),
                    });
                }
                let mut files: Vec<&String> = w.configs.keys().collect();
                if mode == Expect::Exact {
                    files.extend(g.configs.keys());
                    files.sort();
                    files.dedup();
                }
                for file in files {
                    let address = Address::config(server, ip, file);
                    match (w.configs.get(file), g.configs.get(file)) {
                        (Some(a), Some(b)) if a.sha256 == b.sha256 => {}
                        (Some(a), Some(b)) => out.push(Difference {
                            address,
                            tars_id: Some(b.id),
                            expected: short(&a.sha256),
                            found: short(&b.sha256),
                            fix: format!(
                                "put the expected content back in config row {} in Tars web, or {fix_cmd}",
                                b.id
                            ),
                        }),
                        (Some(a), None) => out.push(Difference {
                            address,
                            tars_id: None,
                            expected: short(&a.sha256),
                            found: "no row".into(),
                            fix: format!("add the node config {file} for {ip} in Tars web, or {fix_cmd}"),
                        }),
                        (None, Some(b)) => out.push(Difference {
                            address,
                            tars_id: Some(b.id),
                            expected: "no row".into(),
                            found: short(&b.sha256),
                            fix: format!("delete config row {} in Tars web, or {fix_cmd}", b.id),
                        }),
                        (None, None) => {}
                    }
                }
            }
        }
    }
    out
}

/// The planned result for the touched nodes, from the plan and the state the run
/// wrote: nodes the state no longer holds absent; others active with their server's patch
/// (inactive with their own, when stopped by `state = "stopped"`) and each
/// config row holding the content whose digest the state records.
pub fn planned_result(plan: &Plan, state: &State) -> Observation {
    let mut out = Observation::new();
    for node in touched_nodes(plan) {
        // Deleted, or already gone when the plan was made (a killed run undeployed it).
        if plan.change(&node).is_some_and(|c| c.action == Action::Delete) || state.get(&node).is_none() {
            out.insert(node, None);
            continue;
        }
        let server = Address::server(&node.keys()[0]);
        // `state = "stopped"`: set inactive, with the patch it had (none if never started).
        let stopped = state
            .get(&node)
            .and_then(|r| r.attributes.get("run_state"))
            .and_then(|v| v.as_str())
            == Some("stopped");
        let patch = state
            .get(&node)
            .and_then(|r| r.attributes.get("patch_id"))
            .or_else(|| {
                (!stopped)
                    .then(|| state.get(&server).and_then(|r| r.attributes.get("patch_id")))
                    .flatten()
            })
            .and_then(|v| v.as_u64())
            .map(|p| p.to_string())
            .unwrap_or_default();
        let configs = state
            .resources
            .iter()
            .filter(|(a, _)| a.kind() == ResourceKind::Config && a.owning_node().as_ref() == Some(&node))
            .filter_map(|(a, r)| {
                let digest = r.attributes.get("content_sha256")?.as_str()?;
                Some((
                    a.leaf_name()?.to_string(),
                    RowSeen {
                        id: 0,
                        sha256: digest.to_string(),
                    },
                ))
            })
            .collect();
        out.insert(
            node,
            Some(NodeSeen {
                id: 0,
                setting_state: if stopped { "inactive" } else { "active" }.into(),
                patch_version: patch,
                configs,
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RPC: &str = "agencyABcosRpcService";

    fn seen(patch: &str, configs: &[(&str, u64, &str)]) -> Option<NodeSeen> {
        Some(NodeSeen {
            id: 7,
            setting_state: "active".into(),
            patch_version: patch.into(),
            configs: configs
                .iter()
                .map(|(f, id, d)| {
                    (
                        f.to_string(),
                        RowSeen {
                            id: *id,
                            sha256: d.to_string(),
                        },
                    )
                })
                .collect(),
        })
    }

    #[test]
    fn equal_observations_have_no_differences() {
        let a = Observation::from([(
            Address::node(RPC, "10.0.0.5"),
            seen("3", &[("config.ini", 1, "ab")]),
        )]);
        assert!(compare(&a, &a.clone(), Expect::Exact, "run `tarsform rollback`").is_empty());
    }

    #[test]
    fn each_difference_names_address_id_expected_found_and_fix() {
        let node = Address::node(RPC, "10.0.0.5");
        let gone = Address::node(RPC, "10.0.0.6");
        let before = Observation::from([
            (
                node.clone(),
                seen("3", &[("config.ini", 1, "aaaa"), ("ssl.key", 2, "kk")]),
            ),
            (gone.clone(), None),
        ]);
        let after = Observation::from([
            (
                node.clone(),
                seen("4", &[("config.ini", 1, "bbbb"), ("nodes.json", 9, "nn")]),
            ),
            (gone.clone(), seen("4", &[])),
        ]);
        let diffs = compare(&before, &after, Expect::Exact, "run `tarsform rollback`");
        let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(diffs.len(), 5, "{text:#?}");
        assert!(
            text[0].contains("patch `3`") && text[0].contains("patch `4`"),
            "{}",
            text[0]
        );
        assert!(
            text.iter()
                .any(|t| t.contains("config.ini") && t.contains("Tars id 1") && t.contains("aaaa"))
        );
        assert!(text.iter().any(|t| t.contains("ssl.key") && t.contains("no row")));
        assert!(
            text.iter()
                .any(|t| t.contains("nodes.json") && t.contains("delete config row 9"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("10.0.0.6") && t.contains("undeploy"))
        );
        // The planned result ignores rows it does not name.
        let planned = Observation::from([(node.clone(), seen("4", &[("config.ini", 0, "bbbb")]))]);
        assert!(compare(&planned, &after, Expect::Planned, "x").is_empty());
    }
}
