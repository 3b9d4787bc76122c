//! What Tars reports (filled by a refresh from the Tars client); read by the planner.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::config::ServiceKind;

/// A snapshot of the Tars side of one application.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    /// Tarsnode IP → alive (registered and reporting).
    pub tarsnodes: BTreeMap<String, bool>,
    /// Server name → what Tars has for it.
    pub servers: BTreeMap<String, ObservedServer>,
    /// The `ca.crt` Tars serves to existing nodes of this service type.
    pub ca_crt: BTreeMap<ServiceKind, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObservedServer {
    /// Server-level (level 5) config rows: file name → row id.
    pub configs: BTreeMap<String, u64>,
    /// Node IP → the node.
    pub nodes: BTreeMap<String, ObservedNode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObservedNode {
    pub server_id: u64,
    /// `active` / `inactive`, as configured.
    pub setting_state: String,
    /// `active` / `inactive` / …, as running.
    pub present_state: String,
    pub patch_version: String,
    pub adapter_port: Option<u16>,
    /// The node's adapters (`adapter_conf_list`); `None` when they were not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapters: Option<Vec<ObservedAdapter>>,
    /// Node-level config rows: file name → row.
    pub configs: BTreeMap<String, ObservedConfig>,
}

/// One adapter (`t_adapter_conf`) of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObservedAdapter {
    pub id: u64,
    /// `<app>.<server>.<obj_name>`.
    pub servant: String,
    /// `tcp -h <host> -t <timeout> -p <port> -e 0`.
    pub endpoint: String,
}

/// One node-level config row. `content` may be a private key (`ssl.key`): it is never
/// printed; `Debug` shows its length and serialization only its digest.
#[derive(Clone, Default, PartialEq)]
pub struct ObservedConfig {
    pub id: u64,
    pub content: String,
}

impl fmt::Debug for ObservedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ObservedConfig {{ id: {}, content: {} bytes }}",
            self.id,
            self.content.len()
        )
    }
}

impl Serialize for ObservedConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ObservedConfig", 2)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field(
            "content_sha256",
            &super::digest::sha256_hex(self.content.as_bytes()),
        )?;
        st.end()
    }
}

impl Observed {
    pub fn node(&self, server: &str, ip: &str) -> Option<&ObservedNode> {
        self.servers.get(server).and_then(|s| s.nodes.get(ip))
    }
}
