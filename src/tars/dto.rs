//! Typed requests and responses of the TarsWeb endpoints tarsform calls.
//!
//! Responses are decoded tolerantly (see [`super::de`]): ids as numbers or strings,
//! `null` as empty, unknown fields ignored, so old and new TarsWeb versions both
//! decode. Requests send real JSON types (booleans, numbers) where TarsWeb tests
//! truthiness, because the strings `"false"` that BcosBuilder sends count as true.

use serde::{Deserialize, Serialize};

use super::de;

/// A `t_server_conf` row: one instance of a server on one node (`server_list`, `server`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerConf {
    /// The per-node "server id" used by `add_task`.
    #[serde(deserialize_with = "de::u64_lenient")]
    pub id: u64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub application: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server_type: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub template_name: String,
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub enable_set: bool,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_area: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_group: String,
    /// `active` or `inactive`: what the operator asked for.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub setting_state: String,
    /// `active`, `inactive`, `activating`, `deactivating`, `destroyed`: what the node reports.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub present_state: String,
    /// After a successful patch: the patch id as a string; `""` before.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub patch_version: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub patch_time: String,
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub bak_flag: bool,
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub process_id: i64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub flow_state: String,
}

impl ServerConf {
    /// Both Tars and the node say the instance runs.
    pub fn is_running(&self) -> bool {
        self.setting_state == "active" && self.present_state == "active"
    }

    /// The patch id this node runs, if any.
    pub fn patch_id(&self) -> Option<u64> {
        self.patch_version.trim().parse().ok()
    }
}

/// A `t_node_info` row from `list_tars_node`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TarsNodeInfo {
    #[serde(deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub present_state: String,
    /// `YYYY-MM-DD HH:MM:SS` of the registry's connection, `""` when not connected.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub last_heartbeat: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub endpoint_ip: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub tars_version: String,
}

impl TarsNodeInfo {
    /// Registered and connected to the registry.
    pub fn is_alive(&self) -> bool {
        self.present_state == "active" && !self.last_heartbeat.trim().is_empty()
    }

    /// Whether `last_heartbeat` is the registry's answer of this very request (its
    /// long-connection time, `YYYY-MM-DD HH:MM:SS`), not the database's value that
    /// TarsWeb shows when it cannot reach the registry (a raw date, `…T…Z`).
    pub fn heartbeat_is_live(&self) -> bool {
        let b = self.last_heartbeat.as_bytes();
        b.len() == 19
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b' ',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            })
    }
}

/// `list_tars_node`'s data: `{count, rows}` (or, tolerated, a bare list).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum NodePage {
    Page {
        #[serde(default)]
        rows: Vec<TarsNodeInfo>,
    },
    List(Vec<TarsNodeInfo>),
}

impl NodePage {
    pub(crate) fn into_rows(self) -> Vec<TarsNodeInfo> {
        match self {
            NodePage::Page { rows } | NodePage::List(rows) => rows,
        }
    }
}

/// An application name from `application_list`: `{f_name, …}` or a bare string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ApplicationEntry {
    Row {
        #[serde(deserialize_with = "de::string_lenient")]
        f_name: String,
    },
    Name(String),
}

impl ApplicationEntry {
    pub(crate) fn name(&self) -> &str {
        match self {
            ApplicationEntry::Row { f_name } | ApplicationEntry::Name(f_name) => f_name,
        }
    }
}

/// What `add_application` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCreated {
    Created,
    /// TarsWeb refused a duplicate (a "system error"), and the application was found.
    AlreadyExists,
}

/// One element of `auto_port`'s data.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AutoPort {
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(deserialize_with = "de::port_lenient")]
    pub port: u16,
}

/// Body of `POST api/deploy_server` (tarsweb-api.md §6.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployRequest {
    pub application: String,
    pub server_name: String,
    pub node_name: String,
    pub server_type: String,
    pub template_name: String,
    pub enable_set: bool,
    pub set_name: String,
    pub set_area: String,
    pub set_group: String,
    pub operator: String,
    pub developer: String,
    pub adapters: Vec<Adapter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adapter {
    pub obj_name: String,
    pub port: u16,
    pub bind_ip: String,
    pub port_type: String,
    pub protocol: String,
    pub thread_num: u32,
    pub max_connections: u32,
    pub queuecap: u32,
    pub queuetimeout: u32,
    pub node_name: String,
    pub auth: u32,
    pub allow_ip: String,
    pub handlegroup: String,
}

impl DeployRequest {
    /// BcosBuilder's deploy body: one `tars_cpp` server with one tcp servant on `node`.
    pub fn bcos(app: &str, server: &str, node: &str, obj_name: &str, port: u16) -> Self {
        DeployRequest {
            application: app.to_string(),
            server_name: server.to_string(),
            node_name: node.to_string(),
            server_type: "tars_cpp".to_string(),
            template_name: "tars.cpp.default".to_string(),
            enable_set: false,
            set_name: String::new(),
            set_area: String::new(),
            set_group: String::new(),
            operator: String::new(),
            developer: String::new(),
            adapters: vec![Adapter {
                obj_name: obj_name.to_string(),
                port,
                bind_ip: node.to_string(),
                port_type: "tcp".to_string(),
                protocol: "tars".to_string(),
                thread_num: 8,
                max_connections: 100_000,
                queuecap: 50_000,
                queuetimeout: 20_000,
                node_name: node.to_string(),
                auth: 0,
                allow_ip: String::new(),
                handlegroup: String::new(),
            }],
        }
    }
}

/// `deploy_server`'s data: `server_conf` is one object up to v2.4.23, a list since.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeployResponse {
    #[serde(default, deserialize_with = "de::one_or_many")]
    pub server_conf: Vec<ServerConf>,
}

/// Body of `POST api/expand_server_preview` (§6.12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpandPreviewRequest {
    pub application: String,
    pub server_name: String,
    /// The existing node to copy from.
    pub node_name: String,
    pub set: String,
    pub expand_nodes: Vec<String>,
    pub enable_set: bool,
    pub set_name: String,
    pub set_area: String,
    pub set_group: String,
    pub copy_node_config: bool,
}

impl ExpandPreviewRequest {
    /// Preview copying `server` from `source` onto `targets`, without sets or config copies.
    pub fn new(app: &str, server: &str, source: &str, targets: &[&str]) -> Self {
        ExpandPreviewRequest {
            application: app.to_string(),
            server_name: server.to_string(),
            node_name: source.to_string(),
            set: String::new(),
            expand_nodes: targets.iter().map(|t| t.to_string()).collect(),
            enable_set: false,
            set_name: String::new(),
            set_area: String::new(),
            set_group: String::new(),
            copy_node_config: false,
        }
    }
}

/// One element of `expand_server_preview`'s data: a servant to create on a node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpandPreviewItem {
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub application: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set: String,
    #[serde(deserialize_with = "de::string_lenient")]
    pub obj_name: String,
    #[serde(deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub bind_ip: String,
    #[serde(default, deserialize_with = "de::port_lenient")]
    pub port: u16,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub template_name: String,
    /// `未扩容`/`no expand` for a new node, `已存在`/`existent` for the source.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub status: String,
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub auth: i64,
}

/// Body of `POST api/expand_server` (§6.13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpandRequest {
    pub application: String,
    pub server_name: String,
    /// The existing node whose rows and adapters are copied.
    pub node_name: String,
    pub set: String,
    /// Always true: the new nodes get copies of the source's node-level config rows
    /// (as BcosBuilder's `"false"`, which TarsWeb takes as truthy, does). A file both
    /// nodes share then needs no update, and every row is there at the first listing.
    pub copy_node_config: bool,
    pub expand_preview_servers: Vec<ExpandServer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpandServer {
    pub node_name: String,
    pub bind_ip: String,
    pub obj_name: String,
    pub port: u16,
    pub set: String,
}

impl ExpandRequest {
    /// Expand from `source` onto each `(ip, obj_name, port)`: the item a preview offers
    /// for a node without sets (TarsWeb reads nothing else of it).
    pub fn direct(app: &str, server: &str, source: &str, nodes: &[(&str, &str, u16)]) -> Self {
        let servers = nodes
            .iter()
            .map(|(ip, obj_name, port)| ExpandServer::new(ip, ip, obj_name, *port))
            .collect();
        Self::with_servers(app, server, source, servers)
    }

    /// Expand from `source` with the preview's items, each given its chosen port.
    pub fn from_preview(app: &str, server: &str, source: &str, items: &[(ExpandPreviewItem, u16)]) -> Self {
        let servers = items
            .iter()
            .map(|(item, port)| {
                let bind_ip = if item.bind_ip.is_empty() {
                    &item.node_name
                } else {
                    &item.bind_ip
                };
                ExpandServer::new(&item.node_name, bind_ip, &item.obj_name, *port)
            })
            .collect();
        Self::with_servers(app, server, source, servers)
    }

    fn with_servers(app: &str, server: &str, source: &str, servers: Vec<ExpandServer>) -> Self {
        ExpandRequest {
            application: app.to_string(),
            server_name: server.to_string(),
            node_name: source.to_string(),
            set: String::new(),
            copy_node_config: true,
            expand_preview_servers: servers,
        }
    }
}

impl ExpandServer {
    fn new(node_name: &str, bind_ip: &str, obj_name: &str, port: u16) -> Self {
        ExpandServer {
            node_name: node_name.to_string(),
            bind_ip: bind_ip.to_string(),
            obj_name: obj_name.to_string(),
            port,
            set: String::new(),
        }
    }
}

/// A `t_config_files` row (`configListStruct`). `level` is the stored level:
/// 1 application, 2 server, 3 node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfigFile {
    #[serde(deserialize_with = "de::u64_lenient")]
    pub id: u64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server_name: String,
    /// The node (`host`) of a level-3 row; `""` otherwise.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_area: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub set_group: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub filename: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub config: String,
    #[serde(default, deserialize_with = "de::u64_or_zero")]
    pub level: u64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub posttime: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub lastuser: String,
}

/// A `t_server_patchs` row: an uploaded package (`get_server_patch`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Patch {
    #[serde(deserialize_with = "de::u64_lenient")]
    pub id: u64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub tgz: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub comment: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub posttime: String,
}

/// `pages/server/api/ticket`'s data.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TicketOwner {
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub uid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_conf_tolerates_strings_nulls_and_unknown_keys() {
        let row: ServerConf = serde_json::from_value(json!({
            "id": "17", "application": "chain0", "server_name": "agencyABcosRpcService",
            "node_name": "172.25.0.3", "enable_set": "N", "set_name": null,
            "setting_state": "active", "present_state": "active", "patch_version": "19",
            "bak_flag": 0, "process_id": 1234, "some_future_key": [1, 2]
        }))
        .unwrap();
        assert_eq!(row.id, 17);
        assert!(!row.enable_set);
        assert_eq!(row.set_name, "");
        assert!(row.is_running());
        assert_eq!(row.patch_id(), Some(19));
    }

    #[test]
    fn only_the_registrys_own_heartbeat_counts_as_live() {
        let node = |heartbeat: &str| TarsNodeInfo {
            last_heartbeat: heartbeat.to_string(),
            ..serde_json::from_value(json!({"node_name": "10.0.0.1", "present_state": "active"})).unwrap()
        };
        assert!(node("2026-11-30 07:52:13").heartbeat_is_live());
        // The database's value, shown when TarsWeb cannot reach its registry.
        assert!(!node("2026-11-30T07:52:13.000Z").heartbeat_is_live());
        assert!(!node("").heartbeat_is_live());
        assert!(!node("2026-11-30 07:52").heartbeat_is_live());
        assert!(!node("2026-11-30 07:52:1x").heartbeat_is_live());
    }

    #[test]
    fn deploy_request_sends_real_booleans() {
        let body = serde_json::to_value(DeployRequest::bcos(
            "chain0",
            "S",
            "172.25.0.5",
            "RpcServiceObj",
            24567,
        ))
        .unwrap();
        assert_eq!(body["enable_set"], json!(false));
        assert_eq!(body["adapters"][0]["port"], json!(24567));
        assert_eq!(body["adapters"][0]["bind_ip"], "172.25.0.5");
        let preview = serde_json::to_value(ExpandPreviewRequest::new(
            "chain0",
            "S",
            "172.25.0.3",
            &["172.25.0.5"],
        ))
        .unwrap();
        assert_eq!(preview["copy_node_config"], json!(false));
        assert_eq!(preview["expand_nodes"], json!(["172.25.0.5"]));
    }

    #[test]
    fn node_page_accepts_page_or_list() {
        let page: NodePage = serde_json::from_value(json!({"count": 1, "rows": [
            {"node_name": "172.25.0.5", "present_state": "active", "last_heartbeat": "2024-01-01 10:00:00"}
        ]}))
        .unwrap();
        let rows = page.into_rows();
        assert!(rows[0].is_alive());
        let list: NodePage = serde_json::from_value(json!([
            {"node_name": "172.25.0.6", "present_state": "active", "last_heartbeat": ""}
        ]))
        .unwrap();
        assert!(!list.into_rows()[0].is_alive());
    }
}
