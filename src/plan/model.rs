//! The plan: what apply will do, resource by resource. Also the saved-plan file format
//! and the contract with the apply engine, so it is self-sufficient: the executor never
//! reads the topology.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::addr::Address;
use crate::compact::{VecMap, VecSet};

/// Bumped when the plan file changes incompatibly.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Attribute name → value, as in state.
pub type Attrs = VecMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    pub chain_id: String,
    /// The Tars application (= chain id).
    pub application: String,
    /// TarsWeb base URL, ends with `/`. Never the token.
    pub tars_url: String,
    /// Root of the generated files (`generated/` by default).
    pub generated_root: String,
    /// The state the plan was made against; `None` when there was no state.
    pub prior: Option<PriorState>,
    /// sha256 of the topology (token excluded).
    pub topology_digest: String,
    /// sha256 of the local inputs read: CA, certificates, keys (digests only), packages.
    pub inputs_digest: String,
    /// sha256 of what Tars reported, when refreshed.
    pub observed_digest: Option<String>,
    /// Whether Tars was read before planning.
    pub refreshed: bool,
    pub destroy: bool,
    /// Sorted by address; no-ops are left out.
    pub changes: Vec<ResourceChange>,
    pub preconditions: Preconditions,
    /// Things the operator should know that are not changes (kept CAs, unmanaged nodes).
    pub notes: Vec<String>,
    /// Objects that changed outside tarsform (the plan fixes each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorState {
    pub lineage: String,
    pub serial: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    /// Why, in words: `"restart: config.ini changed"`.
    pub reason: String,
    pub before: Option<Attrs>,
    pub after: Option<Attrs>,
    /// Attributes of `after` known only once applied (adapter port, Tars ids, new digests).
    #[serde(default, skip_serializing_if = "VecSet::is_empty")]
    pub after_unknown: VecSet<String>,
    /// Attributes never shown (their value is never in the plan either).
    #[serde(default, skip_serializing_if = "VecSet::is_empty")]
    pub sensitive: VecSet<String>,
    /// For creates and updates: what must exist first. For deletes: what the resource
    /// depended on (deleted after it).
    pub depends_on: VecSet<Address>,
}

impl ResourceChange {
    /// An attribute of `after`, or of `before` for a delete.
    pub fn attr(&self, name: &str) -> Option<&serde_json::Value> {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .and_then(|a| a.get(name))
    }

    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(|v| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
    Read,
    Import,
}

impl Action {
    /// Terraform's plan symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Read => "<=",
            Action::Import => "import",
        }
    }

    /// The verb used in headings: "will be created".
    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "is unchanged",
            Action::Create => "will be created",
            Action::Update => "will be updated in-place",
            Action::Replace => "must be replaced",
            Action::Delete => "will be destroyed",
            Action::Read => "will be read during apply",
            Action::Import => "will be imported",
        }
    }

    /// `change.actions` in Terraform's JSON plan.
    pub fn json_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::Replace => &["delete", "create"],
            Action::Delete => &["delete"],
            Action::Read => &["read"],
            Action::Import => &["import"],
        }
    }
}

/// Facts checked before the first step of apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preconditions {
    /// IPs whose tarsnode must be registered and alive.
    pub tarsnodes_alive: BTreeSet<String>,
    /// Per service type (`rpc`/`gateway`): the CA apply must sign with.
    pub ca: BTreeMap<String, CaPrecondition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaPrecondition {
    pub dir: String,
    /// sha256 of `ca.crt`; `None` when the CA is created by this plan.
    pub cert_sha256: Option<String>,
    /// Whether Tars was seen serving this same `ca.crt` to existing nodes.
    pub matches_tars: Option<bool>,
    /// `sm_ca.crt` for an SM CA; absent means `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// The CA's private key file when this plan signs certificates with an existing CA
    /// whose key was not here at plan time: apply checks it before any change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_with_key: Option<String>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub import: usize,
    pub read: usize,
    /// Nodes whose apply restarts them (a restart or a re-patch of a running node).
    pub restart: usize,
    /// Nodes undeployed (deleted or replaced).
    pub nodes_destroyed: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1
                }
                Action::Delete => s.destroy += 1,
                Action::Import => {
                    s.import += 1;
                    // Like Terraform: an import that also changes (restart, stop) counts as a change.
                    if c.attr("restart_reason").is_some() || c.attr("run_command").is_some() {
                        s.change += 1;
                    }
                }
                Action::Read => s.read += 1,
                Action::NoOp => {}
            }
        }
        s.restart = self.restarts().len();
        s.nodes_destroyed = self.nodes_destroyed().len();
        s
    }

    /// Node changes whose apply restarts a node that runs, with the reason (a stop or a
    /// start by `state = ...` is no restart).
    pub fn restarts(&self) -> Vec<&ResourceChange> {
        self.changes
            .iter()
            .filter(|c| c.address.kind() == crate::addr::ResourceKind::Node)
            .filter(|c| match c.action {
                Action::Update => c.attr("run_command").is_none(),
                Action::Import => c.attr("restart_reason").is_some(),
                _ => false,
            })
            .collect()
    }

    /// Node changes that undeploy a node (delete, or replace).
    pub fn nodes_destroyed(&self) -> Vec<&ResourceChange> {
        self.changes
            .iter()
            .filter(|c| c.address.kind() == crate::addr::ResourceKind::Node)
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .collect()
    }

    /// Whether any node is created, changed, imported or destroyed.
    pub fn touches_nodes(&self) -> bool {
        self.changes.iter().any(|c| {
            c.address.kind() == crate::addr::ResourceKind::Node
                && !matches!(c.action, Action::NoOp | Action::Read)
        })
    }

    /// True when apply would change something (reads alone change nothing).
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| !matches!(c.action, Action::NoOp | Action::Read))
    }

    pub fn change(&self, address: &Address) -> Option<&ResourceChange> {
        self.changes
            .binary_search_by(|c| c.address.cmp(address))
            .ok()
            .map(|i| &self.changes[i])
    }
}
