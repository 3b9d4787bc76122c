//! The emulated TarsWeb database: servers, adapters, config files, patches,
//! applications and tarsnodes (tarsweb-api.md §4), with the id counters and the
//! operations several endpoints share. Rows serialize in TarsWeb's key order, so a row
//! is also its API shape. Persisted as JSON by `persist`.

use serde::{Deserialize, Serialize};

use super::clock;

/// `db_tars.t_server_conf`; serializes as TarsWeb's ServerConf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRow {
    pub id: u64,
    pub application: String,
    pub server_name: String,
    pub node_name: String,
    pub server_type: String,
    pub enable_set: bool,
    pub set_name: Option<String>,
    pub set_area: Option<String>,
    pub set_group: Option<String>,
    pub setting_state: String,
    pub present_state: String,
    pub bak_flag: bool,
    pub template_name: String,
    pub profile: String,
    pub async_thread_num: u32,
    pub base_path: String,
    pub exe_path: String,
    pub start_script_path: String,
    pub stop_script_path: String,
    pub monitor_script_path: String,
    pub patch_time: String,
    pub patch_version: String,
    pub patch_user: String,
    pub process_id: u32,
    pub posttime: String,
    pub enable_group: bool,
    pub ip_group_name: String,
    pub flow_state: String,
    pub run_type: String,
    /// An int in TarsWeb's answers; older data files hold it as a string.
    #[serde(serialize_with = "int_or_zero", deserialize_with = "text_or_int")]
    pub base_image_id: String,
    pub source: String,
}

/// Writes a numeric text as its number, anything else as 0 (TarsWeb's int column).
fn int_or_zero<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(text.trim().parse().unwrap_or(0))
}

/// Reads a string or a number as text.
fn text_or_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "base_image_id: unexpected {other}"
        ))),
    }
}

impl ServerRow {
    /// `serverConfFields()` defaults: inactive/inactive, never patched.
    pub fn new(id: u64, application: &str, server_name: &str, node_name: &str) -> ServerRow {
        ServerRow {
            id,
            application: application.to_string(),
            server_name: server_name.to_string(),
            node_name: node_name.to_string(),
            server_type: "tars_cpp".to_string(),
            enable_set: false,
            set_name: None,
            set_area: None,
            set_group: None,
            setting_state: "inactive".to_string(),
            present_state: "inactive".to_string(),
            bak_flag: false,
            template_name: String::new(),
            profile: String::new(),
            async_thread_num: 3,
            base_path: String::new(),
            exe_path: String::new(),
            start_script_path: String::new(),
            stop_script_path: String::new(),
            monitor_script_path: String::new(),
            patch_time: clock::EPOCH.to_string(),
            patch_version: String::new(),
            patch_user: String::new(),
            process_id: 0,
            posttime: clock::now(),
            enable_group: false,
            ip_group_name: String::new(),
            flow_state: "active".to_string(),
            run_type: String::new(),
            base_image_id: String::new(),
            source: String::new(),
        }
    }

    pub fn is(&self, application: &str, server_name: &str, node_name: &str) -> bool {
        self.application == application && self.server_name == server_name && self.node_name == node_name
    }

    /// Whether the row belongs to the set given by a request (`None`/empty: non-set rows).
    pub fn in_set(&self, set: &SetKey) -> bool {
        if set.name.is_empty() {
            !self.enable_set
        } else {
            self.enable_set
                && self.set_name.as_deref() == Some(set.name.as_str())
                && self.set_area.as_deref() == Some(set.area.as_str())
                && self.set_group.as_deref() == Some(set.group.as_str())
        }
    }
}

/// A set name/area/group triple (all empty for non-set servers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetKey {
    pub name: String,
    pub area: String,
    pub group: String,
}

/// `db_tars.t_adapter_conf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterRow {
    pub id: u64,
    pub application: String,
    pub server_name: String,
    pub node_name: String,
    pub adapter_name: String,
    pub servant: String,
    pub endpoint: String,
    pub thread_num: i64,
    pub max_connections: i64,
    pub queuecap: i64,
    pub queuetimeout: i64,
    pub allow_ip: String,
    pub protocol: String,
    pub handlegroup: String,
    pub posttime: String,
}

impl AdapterRow {
    /// The port parsed from the endpoint (`-p N`), as TarsWeb does.
    pub fn port(&self) -> Option<u16> {
        let mut words = self.endpoint.split_whitespace();
        while let Some(word) = words.next() {
            if word == "-p" {
                return words.next().and_then(|p| p.parse().ok());
            }
        }
        None
    }

    /// The servant's object name (`RpcServiceObj`).
    pub fn obj_name(&self) -> &str {
        self.servant.rsplit('.').next().unwrap_or_default()
    }
}

/// `db_tars.t_config_files`; serializes as TarsWeb's ConfigFile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRow {
    pub id: u64,
    pub server_name: String,
    pub set_name: String,
    pub set_area: String,
    #[serde(rename = "node_name")]
    pub host: String,
    pub set_group: String,
    pub filename: String,
    pub config: String,
    /// Stored level: 1 application, 2 server, 3 node.
    pub level: u8,
    pub posttime: String,
    pub lastuser: String,
}

impl ConfigRow {
    pub fn in_set(&self, set: &SetKey) -> bool {
        self.set_name == set.name && self.set_area == set.area && self.set_group == set.group
    }
}

/// `db_tars.t_server_patchs` joined with `t_patch_task`. The package bytes are not
/// kept, only their digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRow {
    pub id: u64,
    /// `app.module`
    pub server: String,
    pub tgz: String,
    pub md5: String,
    pub sha256: String,
    pub size: u64,
    pub update_text: String,
    pub task_id: String,
    pub posttime: String,
    pub upload_user: String,
    pub default_version: bool,
    pub publish: bool,
}

/// `db_tars_web.t_application`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationRow {
    pub f_id: u64,
    pub f_name: String,
    pub f_create_person: String,
    pub f_create_time: String,
    pub f_update_person: String,
    pub f_update_time: String,
}

/// `db_tars.t_node_info`, reduced to what the emulator needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    pub node_name: String,
    /// Whether the tarsnode sends heartbeats.
    pub alive: bool,
    pub last_reg_time: String,
    pub last_heartbeat: String,
}

/// Every table, plus the auto-increment counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub servers: Vec<ServerRow>,
    pub adapters: Vec<AdapterRow>,
    pub configs: Vec<ConfigRow>,
    pub patches: Vec<PatchRow>,
    pub applications: Vec<ApplicationRow>,
    pub nodes: Vec<NodeRow>,
    next_id: u64,
}

impl Model {
    /// A fresh id, unique across tables (TarsWeb's tables each count from 1; callers only
    /// rely on uniqueness per table).
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn server(&self, id: u64) -> Option<&ServerRow> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn server_mut(&mut self, application: &str, server: &str, node: &str) -> Option<&mut ServerRow> {
        self.servers.iter_mut().find(|s| s.is(application, server, node))
    }

    pub fn node(&self, name: &str) -> Option<&NodeRow> {
        self.nodes.iter().find(|n| n.node_name == name)
    }

    /// Registers a tarsnode (or revives a known one).
    pub fn add_node(&mut self, name: &str, alive: bool) {
        let now = clock::now();
        match self.nodes.iter_mut().find(|n| n.node_name == name) {
            Some(node) => node.alive = alive,
            None => self.nodes.push(NodeRow {
                node_name: name.to_string(),
                alive,
                last_reg_time: now.clone(),
                last_heartbeat: now,
            }),
        }
        self.nodes.sort_by(|a, b| a.node_name.cmp(&b.node_name));
    }

    /// Marks a node alive or down; its servers follow (heartbeat lost → inactive).
    pub fn set_node_alive(&mut self, name: &str, alive: bool) {
        self.add_node(name, alive);
        for server in self.servers.iter_mut().filter(|s| s.node_name == name) {
            if alive {
                server.present_state = server.setting_state.clone();
            } else {
                server.present_state = "inactive".to_string();
                server.process_id = 0;
            }
        }
    }

    /// Inserts a config row and returns its id.
    pub fn insert_config(&mut self, mut row: ConfigRow) -> u64 {
        row.id = self.next_id();
        let id = row.id;
        self.configs.push(row);
        id
    }

    /// Node rows of `app.server` are removed for `node`; the server-level rows go too
    /// when no node rows remain (TarsWeb's `undeploy_tars` submission side effects).
    pub fn delete_node_configs(&mut self, application: &str, server: &str, node: &str, set: &SetKey) {
        let column = format!("{application}.{server}");
        self.configs
            .retain(|c| !(c.level == 3 && c.server_name == column && c.host == node && c.in_set(set)));
        let nodes_left = self
            .configs
            .iter()
            .any(|c| c.level == 3 && c.server_name == column);
        if !nodes_left {
            self.configs
                .retain(|c| !(c.level == 2 && c.server_name == column));
        }
    }

    /// The registry's undeploy: the server row, its adapters and its node configs go.
    pub fn undeploy(&mut self, application: &str, server: &str, node: &str) -> bool {
        let before = self.servers.len();
        self.servers.retain(|s| !s.is(application, server, node));
        self.adapters
            .retain(|a| !(a.application == application && a.server_name == server && a.node_name == node));
        let column = format!("{application}.{server}");
        self.configs
            .retain(|c| !(c.level == 3 && c.server_name == column && c.host == node));
        before != self.servers.len()
    }

    /// Ports used by adapters on `node`; `None` if an endpoint has no `-p` (TarsWeb throws).
    pub fn used_ports(&self, node: &str) -> Option<Vec<u16>> {
        self.adapters
            .iter()
            .filter(|a| a.node_name == node)
            .map(AdapterRow::port)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(model: &mut Model, level: u8, host: &str) {
        model.insert_config(ConfigRow {
            id: 0,
            server_name: "chain0.S".into(),
            set_name: String::new(),
            set_area: String::new(),
            host: host.into(),
            set_group: String::new(),
            filename: "config.ini".into(),
            config: String::new(),
            level,
            posttime: clock::now(),
            lastuser: "admin".into(),
        });
    }

    #[test]
    fn deleting_the_last_node_configs_deletes_the_server_level_rows() {
        let mut model = Model::default();
        config(&mut model, 2, "");
        config(&mut model, 3, "10.0.0.1");
        config(&mut model, 3, "10.0.0.2");
        model.delete_node_configs("chain0", "S", "10.0.0.1", &SetKey::default());
        assert_eq!(model.configs.len(), 2);
        model.delete_node_configs("chain0", "S", "10.0.0.2", &SetKey::default());
        assert!(model.configs.is_empty());
    }

    #[test]
    fn adapter_port_is_parsed_from_the_endpoint() {
        let adapter = AdapterRow {
            id: 1,
            application: "a".into(),
            server_name: "s".into(),
            node_name: "n".into(),
            adapter_name: "a.s.ObjAdapter".into(),
            servant: "a.s.Obj".into(),
            endpoint: "tcp -h 10.0.0.1 -t 60000 -p 23456 -e 0".into(),
            thread_num: 8,
            max_connections: 1,
            queuecap: 1,
            queuetimeout: 1,
            allow_ip: String::new(),
            protocol: "tars".into(),
            handlegroup: String::new(),
            posttime: clock::now(),
        };
        assert_eq!(adapter.port(), Some(23456));
        assert_eq!(adapter.obj_name(), "Obj");
    }
}
