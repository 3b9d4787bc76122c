//! Temporary stand-in for `crate::state` until the state branch is merged (deleted then).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::addr::{Address, ResourceKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub lineage: String,
    pub serial: u64,
    pub tool_version: String,
    pub chain_id: String,
    pub resources: BTreeMap<Address, ResourceState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: ResourceKind,
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub dependencies: BTreeSet<Address>,
    pub status: ResourceStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    Ready,
    Tainted,
}
