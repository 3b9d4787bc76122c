//! Drift: how the state differs from what Tars reports, and the updates `refresh` makes
//! to attributes Tars owns (server ids, patch ids, config row ids and contents).
//!
//! Pure. Nothing is removed: a node gone from Tars stays in the state, and the next plan
//! registers it again; an unmanaged node is only reported.

use std::fmt;

use serde_json::{Value, json};

use crate::addr::{Address, ResourceKind};
use crate::graph::ResourceGraph;
use crate::plan::{Observed, ObservedConfig, ObservedNode, sha256_hex};
use crate::state::model::find_secret;
use crate::state::{ResourceState, State};

/// One difference between the state and Tars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub address: Address,
    pub kind: DriftKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftKind {
    /// The row's content changed outside tarsform (sha256 before and after).
    ConfigEdited { from: String, to: String },
    /// The node is in Tars but the row is absent or empty.
    ConfigMissing,
    /// In the state, not in Tars.
    NodeGone,
    /// In Tars, not in the state; `declared` when the topology names it.
    NodeNotInState { declared: bool },
    /// The node's adapter differs from the recorded one (`found` is `None` when Tars
    /// has none); reported, not written: the next plan sets it back.
    AdapterChanged {
        servant: String,
        found: Option<String>,
        recorded: Option<String>,
    },
    /// An id Tars assigns changed (the node was re-registered or re-patched).
    IdChanged {
        attribute: &'static str,
        from: Value,
        to: Value,
    },
}

impl Drift {
    /// True when `refresh` wrote this difference into the state.
    pub fn updates_state(&self) -> bool {
        matches!(
            self.kind,
            DriftKind::ConfigEdited { .. } | DriftKind::IdChanged { .. }
        )
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.address;
        match &self.kind {
            DriftKind::ConfigEdited { from, to } => write!(
                f,
                "{a} edited out of band (sha256 {} → {}); the next plan shows the update",
                short(from),
                short(to)
            ),
            DriftKind::ConfigMissing => {
                write!(f, "{a} missing in Tars; the next plan pushes it again")
            }
            DriftKind::NodeGone => write!(f, "{a} gone from Tars; the next plan registers it again"),
            DriftKind::NodeNotInState { declared: true } => write!(
                f,
                "{a} present in Tars but not in state (run `tarsform import '{a}'`)"
            ),
            DriftKind::NodeNotInState { declared: false } => write!(
                f,
                "{a} present in Tars but neither in the topology nor in state (not managed)"
            ),
            DriftKind::AdapterChanged {
                servant,
                found,
                recorded,
            } => write!(
                f,
                "{a} adapter `{servant}` is {} in Tars, recorded {}; the next plan sets it back",
                found
                    .as_deref()
                    .map_or("missing".to_string(), |e| format!("`{e}`")),
                recorded
                    .as_deref()
                    .map_or("with no endpoint".to_string(), |e| format!("`{e}`")),
            ),
            DriftKind::IdChanged { attribute, from, to } => {
                write!(f, "{a} {attribute} changed in Tars: {from} → {to}")
            }
        }
    }
}

fn short(digest: &str) -> String {
    match digest.get(..12) {
        Some(head) if digest.len() > 12 => format!("{head}…"),
        _ => digest.to_string(),
    }
}

/// Files whose content is a private key: only their digest is kept.
pub fn is_sensitive_file(file: &str) -> bool {
    file.ends_with(".key")
}

/// Compares `state` with `observed`, updates the attributes Tars owns in `state`, and
/// returns every difference in address order.
pub fn refresh_state(state: &mut State, observed: &Observed, graph: &ResourceGraph) -> Vec<Drift> {
    let mut drifts = Vec::new();
    for (address, resource) in state.resources.iter_mut() {
        match address.kind() {
            ResourceKind::Node => refresh_node(address, resource, observed, &mut drifts),
            ResourceKind::Config => refresh_config(address, resource, observed, &mut drifts),
            _ => {}
        }
    }
    for (server, entry) in &observed.servers {
        for ip in entry.nodes.keys() {
            let address = Address::node(server, ip);
            if state.get(&address).is_none() {
                let declared = graph.contains(&address);
                drifts.push(Drift {
                    address,
                    kind: DriftKind::NodeNotInState { declared },
                });
            }
        }
    }
    drifts.sort_by(|a, b| a.address.cmp(&b.address));
    drifts
}

fn observed_node<'o>(address: &Address, observed: &'o Observed) -> Option<&'o ObservedNode> {
    observed.node(address.server_name()?, address.ip()?)
}

fn refresh_node(
    address: &Address,
    resource: &mut ResourceState,
    observed: &Observed,
    drifts: &mut Vec<Drift>,
) {
    let Some(node) = observed_node(address, observed) else {
        drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::NodeGone,
        });
        return;
    };
    let attr = |key: &str| {
        resource
            .attributes
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let servant = crate::plan::servant_name(
        attr("application"),
        address.server_name().unwrap_or_default(),
        attr("obj_name"),
    );
    match crate::plan::check_adapter(
        &servant,
        address.ip().unwrap_or_default(),
        &resource.attributes,
        node,
    ) {
        crate::plan::AdapterCheck::Fine => {}
        crate::plan::AdapterCheck::Drifted {
            found,
            wanted,
            servant,
            ..
        } => drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::AdapterChanged {
                servant,
                found: Some(found),
                recorded: Some(wanted),
            },
        }),
        crate::plan::AdapterCheck::Missing { servant, wanted } => drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::AdapterChanged {
                servant,
                found: None,
                recorded: wanted,
            },
        }),
    }
    let patch = node.patch_version.trim().parse::<u64>().ok();
    let changed = patch.is_some_and(|p| resource.attributes.get("patch_id") != Some(&json!(p)));
    let mut set_id = |attribute: &'static str, to: Value| {
        let from = resource.attributes.get(attribute).cloned().unwrap_or(Value::Null);
        if from != to {
            resource.attributes.insert(attribute.to_string(), to.clone());
            drifts.push(Drift {
                address: address.clone(),
                kind: DriftKind::IdChanged { attribute, from, to },
            });
        }
    };
    set_id("server_id", json!(node.server_id));
    if let Some(patch) = patch {
        set_id("patch_id", json!(patch));
    }
    // A patch tarsform did not upload: the package the state names no longer runs.
    if let (true, Some(patch)) = (changed, patch) {
        resource
            .attributes
            .insert("package_sha256".into(), json!(format!("tars-patch:{patch}")));
    }
}

fn refresh_config(
    address: &Address,
    resource: &mut ResourceState,
    observed: &Observed,
    drifts: &mut Vec<Drift>,
) {
    let (Some(node), Some(file)) = (address.owning_node(), address.leaf_name()) else {
        return;
    };
    // A gone node is reported once, on the node.
    let Some(node) = observed_node(&node, observed) else {
        return;
    };
    let Some(row) = node.configs.get(file) else {
        drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::ConfigMissing,
        });
        return;
    };
    let attrs = &mut resource.attributes;
    let old_id = attrs.get("config_id").cloned().unwrap_or(Value::Null);
    if old_id != json!(row.id) {
        attrs.insert("config_id".into(), json!(row.id));
        drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::IdChanged {
                attribute: "config_id",
                from: old_id,
                to: json!(row.id),
            },
        });
    }
    let digest = sha256_hex(row.content.as_bytes());
    let old = attrs
        .get("content_sha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if old != digest {
        attrs.insert("content_sha256".into(), json!(digest));
        match public_content(file, row) {
            Some(content) => attrs.insert("content".into(), json!(content)),
            None => attrs.remove("content"),
        };
        drifts.push(Drift {
            address: address.clone(),
            kind: DriftKind::ConfigEdited {
                from: old,
                to: digest,
            },
        });
    }
}

/// The row's content when it may be kept in state: not a key file, no key material.
pub fn public_content<'r>(file: &str, row: &'r ObservedConfig) -> Option<&'r str> {
    let content = row.content.as_str();
    (!is_sensitive_file(file) && find_secret("content", &json!(content)).is_none()).then_some(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{desired, tests_support::seed_topology};
    use crate::plan::{ObservedConfig, ObservedServer};
    use crate::state::ResourceState;

    const RPC: &str = "agencyABcosRpcService";
    const IP: &str = "172.25.0.5";

    fn state_with_node() -> State {
        let mut s = State::new("chain0", "l");
        s.insert(
            Address::node(RPC, IP),
            ResourceState::new(ResourceKind::Node)
                .with_attribute("server_id", 7)
                .with_attribute("patch_id", 3),
        );
        s.insert(
            Address::config(RPC, IP, "config.ini"),
            ResourceState::new(ResourceKind::Config)
                .with_attribute("config_id", 11)
                .with_attribute("content", "a=1")
                .with_attribute("content_sha256", sha256_hex(b"a=1")),
        );
        s.insert(
            Address::config(RPC, IP, "ssl.key"),
            ResourceState::new(ResourceKind::Config)
                .with_attribute("config_id", 12)
                .with_attribute("content_sha256", sha256_hex(b"k")),
        );
        s
    }

    fn observed(configs: &[(&str, u64, &str)], patch: &str) -> Observed {
        let mut node = ObservedNode {
            server_id: 7,
            patch_version: patch.into(),
            ..Default::default()
        };
        for (file, id, content) in configs {
            node.configs.insert(
                file.to_string(),
                ObservedConfig {
                    id: *id,
                    content: content.to_string(),
                },
            );
        }
        let mut server = ObservedServer::default();
        server.nodes.insert(IP.into(), node);
        let mut o = Observed::default();
        o.servers.insert(RPC.into(), server);
        o
    }

    #[test]
    fn in_sync_state_has_no_drift_and_is_unchanged() {
        let graph = desired(&seed_topology()).unwrap();
        let mut state = state_with_node();
        let before = state.clone();
        let o = observed(&[("config.ini", 11, "a=1"), ("ssl.key", 12, "k")], "3");
        assert_eq!(refresh_state(&mut state, &o, &graph), vec![]);
        assert_eq!(state, before);
    }

    #[test]
    fn out_of_band_edits_update_digests_and_ids_but_never_store_keys() {
        let graph = desired(&seed_topology()).unwrap();
        let mut state = state_with_node();
        let key = "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n";
        let o = observed(&[("config.ini", 21, "a=2"), ("ssl.key", 12, key)], "4");
        let drifts = refresh_state(&mut state, &o, &graph);
        let text: Vec<String> = drifts.iter().map(ToString::to_string).collect();
        assert_eq!(drifts.len(), 4, "{text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("config_id changed in Tars: 11 → 21"))
        );
        assert!(text.iter().any(|t| t.contains("patch_id changed in Tars: 3 → 4")));
        assert!(text.iter().any(|t| {
            t.starts_with(r#"config["agencyABcosRpcService"]["172.25.0.5"]["ssl.key"] edited out of band"#)
        }));
        assert!(drifts.iter().all(Drift::updates_state));
        let ini = &state
            .get(&Address::config(RPC, IP, "config.ini"))
            .unwrap()
            .attributes;
        assert_eq!(ini["content"], json!("a=2"));
        assert_eq!(ini["content_sha256"], json!(sha256_hex(b"a=2")));
        let key_attrs = &state
            .get(&Address::config(RPC, IP, "ssl.key"))
            .unwrap()
            .attributes;
        assert_eq!(key_attrs["content_sha256"], json!(sha256_hex(key.as_bytes())));
        assert!(state.check_no_secrets().is_ok());
    }

    #[test]
    fn gone_nodes_and_missing_rows_are_reported_not_removed() {
        let graph = desired(&seed_topology()).unwrap();
        let mut state = state_with_node();
        let o = observed(&[("ssl.key", 12, "k")], "3");
        let drifts = refresh_state(&mut state, &o, &graph);
        assert_eq!(drifts.len(), 1);
        assert_eq!(drifts[0].kind, DriftKind::ConfigMissing);
        assert!(!drifts[0].updates_state());

        let before = state.clone();
        let drifts = refresh_state(&mut state, &Observed::default(), &graph);
        assert_eq!(drifts.len(), 1, "the node alone, not its rows: {drifts:?}");
        assert_eq!(drifts[0].kind, DriftKind::NodeGone);
        assert!(
            drifts[0]
                .to_string()
                .ends_with("gone from Tars; the next plan registers it again")
        );
        assert_eq!(state, before);
    }

    #[test]
    fn nodes_in_tars_only_get_an_import_hint_when_declared() {
        let graph = desired(&seed_topology()).unwrap();
        let mut state = State::new("chain0", "l");
        let mut o = observed(&[], "");
        o.servers
            .get_mut(RPC)
            .unwrap()
            .nodes
            .insert("10.9.9.9".into(), ObservedNode::default());
        let drifts = refresh_state(&mut state, &o, &graph);
        assert_eq!(
            drifts.iter().map(|d| d.kind.clone()).collect::<Vec<_>>(),
            vec![
                DriftKind::NodeNotInState { declared: false },
                DriftKind::NodeNotInState { declared: true },
            ]
        );
        assert!(drifts[1].to_string().contains("run `tarsform import"));
        assert!(state.is_empty());
    }
}
