//! [`EmulatorHandle`]: inspect and poke the emulated Tars from tests and the demo
//! (snapshots, seeding a running server, node liveness, faults, out-of-band drift).

use std::sync::Arc;

use super::clock;
use super::fault::FaultRule;
use super::model::{AdapterRow, ApplicationRow, ConfigRow, PatchRow, ServerRow};
use super::state::{Inner, Shared};
use super::view::ModelView;

/// A cheap, cloneable reference to a running emulator's state.
#[derive(Debug, Clone)]
pub struct EmulatorHandle {
    pub(crate) shared: Arc<Shared>,
}

/// What [`EmulatorHandle::seed_deployed_server`] created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeededServer {
    pub server_id: u64,
    pub patch_id: u64,
    pub port: u16,
}

impl EmulatorHandle {
    fn with<T>(&self, change: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.shared.lock();
        let out = change(&mut inner);
        self.shared.persist_if_dirty(&mut inner);
        out
    }

    /// The comparable view of servers, adapters and config rows.
    pub fn snapshot(&self) -> ModelView {
        self.with(|inner| ModelView::of(&inner.model))
    }

    /// A server running on `node_ip` as BcosBuilder leaves it after `deploy`: the
    /// application, an active row with a published patch, one adapter for `obj_name`,
    /// empty server-level config rows and node rows holding `configs`.
    pub fn seed_deployed_server(
        &self,
        app: &str,
        server: &str,
        obj_name: &str,
        node_ip: &str,
        configs: &[(&str, &str)],
        package: &[u8],
    ) -> SeededServer {
        self.with(|inner| {
            let model = &mut inner.model;
            let now = clock::now();
            if !model.applications.iter().any(|a| a.f_name == app) {
                let f_id = model.next_id();
                model.applications.push(ApplicationRow {
                    f_id,
                    f_name: app.to_string(),
                    f_create_person: "admin".into(),
                    f_create_time: now.clone(),
                    f_update_person: "admin".into(),
                    f_update_time: now.clone(),
                });
            }
            if model.node(node_ip).is_none() {
                model.add_node(node_ip, true);
            }
            let column = format!("{app}.{server}");
            for patch in model.patches.iter_mut().filter(|p| p.server == column) {
                patch.default_version = false;
            }
            let patch_id = model.next_id();
            model.patches.push(PatchRow {
                id: patch_id,
                server: column.clone(),
                tgz: format!("{column}_suse_{}.tgz", clock::now_millis()),
                md5: hex::encode(<md5::Md5 as md5::Digest>::digest(package)),
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(package)),
                size: package.len() as u64,
                update_text: "upload package".into(),
                task_id: super::tasks::new_id(),
                posttime: now.clone(),
                upload_user: "admin".into(),
                default_version: true,
                publish: true,
            });
            let server_id = model
                .server_mut(app, server, node_ip)
                .map(|row| row.id)
                .unwrap_or_else(|| model.next_id());
            let mut row = ServerRow::new(server_id, app, server, node_ip);
            row.template_name = "tars.cpp.default".into();
            row.setting_state = "active".into();
            row.present_state = "active".into();
            row.patch_version = patch_id.to_string();
            row.patch_user = "admin".into();
            row.patch_time = now.clone();
            // From the launches' counter: a seeded pid must never equal a later launch's.
            row.process_id = super::tasks::next_pid();
            model.servers.retain(|s| !s.is(app, server, node_ip));
            model.servers.push(row);
            model.servers.sort_by_key(|s| s.id);

            let servant = format!("{column}.{obj_name}");
            let adapter_name = format!("{servant}Adapter");
            // Seeding again (an upgrade outside tarsform) keeps the node's adapter where it is.
            let kept = model
                .adapters
                .iter()
                .find(|a| a.node_name == node_ip && a.adapter_name == adapter_name)
                .map(|a| a.endpoint.clone());
            let used = model.used_ports(node_ip).unwrap_or_default();
            let free = (20_000..30_000).find(|p| !used.contains(p)).unwrap_or(29_999);
            let kept_port = kept.as_deref().and_then(|e| {
                let mut words = e.split_whitespace();
                words
                    .find(|w| *w == "-p")
                    .and_then(|_| words.next()?.parse::<u16>().ok())
            });
            let port = kept_port.unwrap_or(free);
            let endpoint = match (kept, kept_port) {
                (Some(endpoint), Some(_)) => endpoint,
                _ => format!("tcp -h {node_ip} -t 60000 -p {port} -e 0"),
            };
            model
                .adapters
                .retain(|a| !(a.node_name == node_ip && a.adapter_name == adapter_name));
            let adapter_id = model.next_id();
            model.adapters.push(AdapterRow {
                id: adapter_id,
                application: app.to_string(),
                server_name: server.to_string(),
                node_name: node_ip.to_string(),
                adapter_name,
                servant,
                endpoint,
                thread_num: 8,
                max_connections: 100_000,
                queuecap: 50_000,
                queuetimeout: 20_000,
                allow_ip: String::new(),
                protocol: "tars".into(),
                handlegroup: String::new(),
                posttime: now.clone(),
            });
            for (filename, content) in configs {
                let has_server_row = model
                    .configs
                    .iter()
                    .any(|c| c.level == 2 && c.server_name == column && c.filename == *filename);
                if !has_server_row {
                    model.insert_config(config_row(&column, "", filename, "", 2));
                }
                upsert_node_config(model, &column, node_ip, filename, content);
            }
            inner.dirty = true;
            SeededServer {
                server_id,
                patch_id,
                port,
            }
        })
    }

    /// Registers a live tarsnode.
    pub fn add_node(&self, ip: &str) {
        self.with(|inner| {
            inner.model.add_node(ip, true);
            inner.dirty = true;
        });
    }

    /// Brings a tarsnode up or down (registering it if unknown); its servers follow.
    pub fn set_node_alive(&self, ip: &str, alive: bool) {
        self.with(|inner| {
            inner.model.set_node_alive(ip, alive);
            inner.dirty = true;
        });
    }

    /// Adds a fault; `NodeDown` takes the node down at once (its servers go inactive).
    pub fn add_fault(&self, rule: FaultRule) {
        self.with(|inner| {
            if let FaultRule::NodeDown { ip } = &rule {
                inner.model.set_node_alive(ip, false);
                inner.dirty = true;
            }
            inner.faults.rules.push(rule);
        });
    }

    /// Removes every fault; nodes taken down by a `NodeDown` rule come back up.
    pub fn clear_faults(&self) {
        self.with(|inner| {
            for rule in std::mem::take(&mut inner.faults.rules) {
                if let FaultRule::NodeDown { ip } = rule {
                    inner.model.set_node_alive(&ip, true);
                    inner.dirty = true;
                }
            }
        });
    }

    /// Accepts `token` as a ticket of the non-admin user `uid` (who has no roles, so
    /// auth-checked endpoints answer "no privilege").
    pub fn add_user_token(&self, token: &str, uid: &str) {
        self.with(|inner| {
            inner.users.insert(token.to_string(), uid.to_string());
        });
    }

    /// Out-of-band drift: sets a node's config file content (creating the row if needed).
    pub fn edit_node_config(&self, app: &str, server: &str, node: &str, filename: &str, content: &str) {
        self.with(|inner| {
            upsert_node_config(
                &mut inner.model,
                &format!("{app}.{server}"),
                node,
                filename,
                content,
            );
            inner.dirty = true;
        });
    }

    /// Out-of-band drift: sets the endpoint of a node's adapters (as if edited in
    /// TarsWeb's UI or rolled forward). Returns how many adapters changed.
    pub fn set_adapter_endpoint(&self, app: &str, server: &str, node: &str, endpoint: &str) -> usize {
        self.with(|inner| {
            let mut changed = 0;
            for adapter in inner
                .model
                .adapters
                .iter_mut()
                .filter(|a| a.application == app && a.server_name == server && a.node_name == node)
            {
                adapter.endpoint = endpoint.to_string();
                changed += 1;
            }
            inner.dirty = true;
            changed
        })
    }

    /// Out-of-band drift: deletes a node's adapters. Returns how many went.
    pub fn delete_adapters(&self, app: &str, server: &str, node: &str) -> usize {
        self.with(|inner| {
            let before = inner.model.adapters.len();
            inner
                .model
                .adapters
                .retain(|a| !(a.application == app && a.server_name == server && a.node_name == node));
            inner.dirty = true;
            before - inner.model.adapters.len()
        })
    }

    /// The endpoints of a node's adapters, in id order.
    pub fn adapter_endpoints(&self, app: &str, server: &str, node: &str) -> Vec<String> {
        self.with(|inner| {
            inner
                .model
                .adapters
                .iter()
                .filter(|a| a.application == app && a.server_name == server && a.node_name == node)
                .map(|a| a.endpoint.clone())
                .collect()
        })
    }

    /// Out-of-band undeploy (as if done in TarsWeb's UI): the row, adapters and node
    /// configs go, and the server-level rows when no node rows remain. False if absent.
    pub fn undeploy_out_of_band(&self, app: &str, server: &str, node: &str) -> bool {
        self.with(|inner| {
            let model = &mut inner.model;
            model.delete_node_configs(app, server, node, &Default::default());
            let removed = model.undeploy(app, server, node);
            inner.dirty = true;
            removed
        })
    }

    /// Out-of-band stop (as if done in TarsWeb's UI): the node set and shown `inactive`.
    /// False if absent.
    pub fn stop_out_of_band(&self, app: &str, server: &str, node: &str) -> bool {
        self.with(|inner| {
            let Some(row) = inner.model.server_mut(app, server, node) else {
                return false;
            };
            row.setting_state = "inactive".into();
            row.present_state = "inactive".into();
            row.process_id = 0;
            inner.dirty = true;
            true
        })
    }

    /// How many requests reached `/api/<endpoint>` (including failed ones).
    pub fn call_count(&self, endpoint: &str) -> u32 {
        self.with(|inner| inner.faults.call_count(endpoint))
    }

    /// The tasks Tars holds: (serial, each item's (command, node)), oldest first.
    pub fn tasks(&self) -> Vec<(bool, Vec<(String, String)>)> {
        self.with(|inner| {
            let mut tasks: Vec<_> = inner.tasks.values().collect();
            tasks.sort_by_key(|t| t.created);
            tasks
                .into_iter()
                .map(|t| {
                    let items = t
                        .items
                        .iter()
                        .map(|i| (i.command.clone(), i.node_name.clone()))
                        .collect();
                    (t.serial, items)
                })
                .collect()
        })
    }

    /// The uploaded packages of a server: (patch id, sha256 of the tgz), oldest first.
    pub fn patches(&self, app: &str, server: &str) -> Vec<(u64, String)> {
        let column = format!("{app}.{server}");
        self.with(|inner| {
            inner
                .model
                .patches
                .iter()
                .filter(|p| p.server == column)
                .map(|p| (p.id, p.sha256.clone()))
                .collect()
        })
    }

    /// The last failure to write `--data`, if any.
    pub fn persist_error(&self) -> Option<String> {
        self.with(|inner| inner.persist_error.clone())
    }
}

fn config_row(column: &str, host: &str, filename: &str, content: &str, level: u8) -> ConfigRow {
    ConfigRow {
        id: 0,
        server_name: column.to_string(),
        set_name: String::new(),
        set_area: String::new(),
        host: host.to_string(),
        set_group: String::new(),
        filename: filename.to_string(),
        config: content.to_string(),
        level,
        posttime: clock::now(),
        lastuser: "admin".into(),
    }
}

fn upsert_node_config(
    model: &mut super::model::Model,
    column: &str,
    node: &str,
    filename: &str,
    content: &str,
) {
    let existing = model
        .configs
        .iter_mut()
        .find(|c| c.level == 3 && c.server_name == column && c.host == node && c.filename == filename);
    match existing {
        Some(row) => {
            row.config = content.to_string();
            row.posttime = clock::now();
        }
        None => {
            model.insert_config(config_row(column, node, filename, content, 3));
        }
    }
}
