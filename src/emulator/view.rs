//! [`ModelView`]: a comparable snapshot of what Tars holds for the deployment: server
//! rows, adapters and config rows, without ids, timestamps, ports, tasks or patches, so
//! "model after rollback == model before apply" is a meaningful assertion.

use serde::Serialize;

use super::model::Model;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelView {
    pub servers: Vec<ServerView>,
    pub adapters: Vec<AdapterView>,
    pub configs: Vec<ConfigView>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ServerView {
    pub application: String,
    pub server_name: String,
    pub node_name: String,
    pub setting_state: String,
    pub present_state: String,
    pub patch_version: String,
    pub server_type: String,
    pub template_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AdapterView {
    pub servant: String,
    pub node_name: String,
    /// The endpoint with its `-p PORT` removed (ports are picked at random).
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConfigView {
    /// Stored level: 1 application, 2 server, 3 node.
    pub level: u8,
    pub server_name: String,
    pub host: String,
    pub filename: String,
    pub content: String,
}

fn without_port(endpoint: &str) -> String {
    let mut words = endpoint.split_whitespace();
    let mut kept = Vec::new();
    while let Some(word) = words.next() {
        if word == "-p" {
            words.next();
        } else {
            kept.push(word);
        }
    }
    kept.join(" ")
}

impl ModelView {
    pub fn of(model: &Model) -> ModelView {
        let mut servers: Vec<ServerView> = model
            .servers
            .iter()
            .map(|s| ServerView {
                application: s.application.clone(),
                server_name: s.server_name.clone(),
                node_name: s.node_name.clone(),
                setting_state: s.setting_state.clone(),
                present_state: s.present_state.clone(),
                patch_version: s.patch_version.clone(),
                server_type: s.server_type.clone(),
                template_name: s.template_name.clone(),
            })
            .collect();
        let mut adapters: Vec<AdapterView> = model
            .adapters
            .iter()
            .map(|a| AdapterView {
                servant: a.servant.clone(),
                node_name: a.node_name.clone(),
                endpoint: without_port(&a.endpoint),
            })
            .collect();
        let mut configs: Vec<ConfigView> = model
            .configs
            .iter()
            .map(|c| ConfigView {
                level: c.level,
                server_name: c.server_name.clone(),
                host: c.host.clone(),
                filename: c.filename.clone(),
                content: c.config.clone(),
            })
            .collect();
        servers.sort();
        adapters.sort();
        configs.sort();
        ModelView {
            servers,
            adapters,
            configs,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_port_is_dropped_from_endpoints() {
        assert_eq!(
            super::without_port("tcp -h 10.0.0.1 -t 60000 -p 23456 -e 0"),
            "tcp -h 10.0.0.1 -t 60000 -e 0"
        );
    }
}
