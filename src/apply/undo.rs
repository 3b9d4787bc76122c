//! The inverse of each completed step, as data (journaled, so a later `rollback` can
//! run it after a crash). Never holds private key material: a sensitive old config
//! content is kept in memory only and marked `content_lost` in the journal.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::addr::Address;
use crate::state::ResourceState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    Nothing,
    /// Delete the local files this run created (CA, leaf certificates) and put back
    /// the ones it moved aside (`(backup, original)`).
    RemoveFiles {
        paths: Vec<PathBuf>,
        #[serde(default)]
        replaced: Vec<(PathBuf, PathBuf)>,
    },
    /// Undeploy a node this run registered.
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
        #[serde(skip)]
        content: Option<String>,
        /// The old content is sensitive and was not journaled.
        content_lost: bool,
        /// Public old content, journaled for crash recovery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_content: Option<String>,
    },
    /// Stop a node this run started.
    StopNode {
        server: String,
        ip: String,
    },
    /// Restart a node after its configs are restored (and re-patch the old package).
    RestartNode {
        server: String,
        ip: String,
        previous_patch: Option<u64>,
        repatched: bool,
    },
    /// Register an undeployed node again from the local files kept until commit.
    Redeploy {
        server: String,
        ip: String,
        obj_name: String,
        patch_id: Option<u64>,
        files: Vec<(String, PathBuf)>,
    },
}

/// A completed step's inverse plus the state entries it replaced.
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
            Undo::RestoreConfig { id, file, .. } => format!("restore config row {id} ({file}) in Tars web"),
            Undo::StopNode { server, ip } => format!("stop {server} on {ip} in Tars web"),
            Undo::RestartNode { server, ip, .. } => format!("restart {server} on {ip} in Tars web"),
            Undo::Redeploy { server, ip, .. } => {
                format!("run `tarsform apply` to register {server} on {ip} again")
            }
        }
    }
}
