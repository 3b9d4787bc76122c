//! The inverse of each step, as data. Written to the journal before the step's first
//! change (write-ahead, phase `prepared`) and again when it completes, so a rollback
//! (in the run or `tarsform rollback` after a crash) always has it. Never holds private
//! key material: a sensitive old content is kept in the journal's 0600 sidecar and
//! named here by its key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::addr::Address;
use crate::state::ResourceState;

/// A config content an inverse puts back: inline when public, else a sidecar key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    Inline(String),
    Sidecar(String),
}

/// One node-level config row as it was before the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptConfig {
    pub file: String,
    pub content: Kept,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    Nothing,
    /// Delete the local files this run created (CA, leaf certificates, with any
    /// temporary files of an interrupted write) and put back the ones it moved aside
    /// (`(backup, original)`).
    RemoveFiles {
        paths: Vec<PathBuf>,
        #[serde(default)]
        replaced: Vec<(PathBuf, PathBuf)>,
    },
    /// Undeploy a node this run registered (if Tars has it).
    UndeployNode {
        server: String,
        ip: String,
    },
    /// Delete the node config row this run filled (and the local copy it created).
    DeleteConfigRow {
        server: String,
        ip: String,
        file: String,
        created_local: Option<PathBuf>,
    },
    /// Put back the content a config row had before.
    RestoreConfig {
        id: u64,
        server: String,
        ip: String,
        file: String,
        old: Kept,
    },
    /// Add back a node config row this run deleted (a node that stays, after
    /// `--switch-crypto`) with its old content, and the server-level row with its old
    /// content when the run deleted that too.
    RecreateConfigRow {
        server: String,
        ip: String,
        file: String,
        old: Kept,
        #[serde(default)]
        server_old: Option<Kept>,
    },
    /// Stop a node this run started.
    StopNode {
        server: String,
        ip: String,
    },
    /// Start a node this run stopped (`state = "stopped"`).
    StartNode {
        server: String,
        ip: String,
    },
    /// Restart a node after its configs are restored (and re-patch the old package); stop
    /// it instead when it was stopped before the run.
    RestartNode {
        server: String,
        ip: String,
        previous_patch: Option<u64>,
        repatched: bool,
        #[serde(default)]
        was_stopped: bool,
    },
    /// Register an undeployed node again as it was: expanded from a remaining node
    /// (deployed when none remains), its config rows' old contents, its old patch, and
    /// started only when it was (a node registered but never started stays inactive).
    Redeploy {
        server: String,
        ip: String,
        obj_name: String,
        patch_id: Option<u64>,
        configs: Vec<KeptConfig>,
        #[serde(default = "was_active_by_default")]
        was_active: bool,
        /// The servant's endpoint before the undeploy, set again after registering
        /// (which picks a new port).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adapter_endpoint: Option<String>,
    },
}

/// Records written before `was_active` existed were made for running nodes.
fn was_active_by_default() -> bool {
    true
}

/// A step's inverse plus the state entries it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoRecord {
    pub undo: Undo,
    /// Address → the entry before the step (`None`: absent).
    pub prior_state: BTreeMap<Address, Option<ResourceState>>,
}

impl Undo {
    /// What a person must do when this inverse could not run.
    pub fn manual_hint(&self) -> String {
        match self {
            Undo::Nothing => "nothing".into(),
            Undo::RemoveFiles { paths, .. } => format!(
                "delete {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Undo::UndeployNode { server, ip } => {
                format!("undeploy node {ip} of server {server} in Tars web (or `tarsform rollback` later)")
            }
            Undo::DeleteConfigRow { server, ip, file, .. } => {
                format!("delete the node config {file} of {server} on {ip} in Tars web")
            }
            Undo::RestoreConfig { id, file, .. } => format!(
                "restore config row {id} ({file}) in Tars web, or run `tarsform rollback` (the journal keeps the old content)"
            ),
            Undo::RecreateConfigRow { server, ip, file, .. } => format!(
                "add the node config {file} of {server} on {ip} again in Tars web, or run `tarsform rollback` (the journal keeps the old content)"
            ),
            Undo::StopNode { server, ip } => format!("stop {server} on {ip} in Tars web"),
            Undo::StartNode { server, ip } => format!("start {server} on {ip} in Tars web"),
            Undo::RestartNode {
                server,
                ip,
                was_stopped: true,
                ..
            } => format!("stop {server} on {ip} in Tars web"),
            Undo::RestartNode { server, ip, .. } => format!("restart {server} on {ip} in Tars web"),
            Undo::Redeploy { server, ip, .. } => {
                format!("run `tarsform rollback` to register {server} on {ip} again")
            }
        }
    }
}
