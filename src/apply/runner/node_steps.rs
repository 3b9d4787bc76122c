//! Steps on one node in Tars: register, push a config file, restart, undeploy. Each
//! records its inverse (write-ahead) before its first change to Tars.

use super::*;
use crate::apply::steps::step_id;
use crate::apply::undo::KeptConfig;
use crate::tars::ConfigFile;

impl<C: TarsApi> TarsRunner<C> {
    pub(super) async fn register(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let obj = Self::after_str(change, "obj_name")?;
        let source = expand_source(&self.plan, &change.address);
        let undeploy = Undo::UndeployNode {
            server: server.into(),
            ip: ip.into(),
        };
        self.prepare(&step_id(Op::RegisterNode, Some(&change.address)), &undeploy)
            .await?;
        let (row, port) =
            tars_ops::register_node(&*self.api, self.timing, app, server, obj, ip, source).await?;
        let mut filled = vec![("server_id", json!(row.id)), ("adapter_port", json!(port))];
        // The endpoint as registered: later plans compare Tars' adapter with it.
        let servant = format!("{app}.{server}.{obj}");
        if let Some(adapter) = self
            .api
            .adapter_conf_list(row.id)
            .await?
            .into_iter()
            .find(|a| a.servant == servant)
        {
            filled.push(("adapter_endpoint", json!(adapter.endpoint)));
        }
        let entry = Self::entry(change, &filled, ResourceStatus::Tainted);
        Ok(Outcome {
            undo: undeploy,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    pub(super) async fn push_config(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let address = &change.address;
        let step = step_id(Op::PushConfig, Some(address));
        let (server, ip, file) = (&address.keys()[0], &address.keys()[1], &address.keys()[2]);
        let local_path = self.layout_path(change, "local_path", file)?;
        let planned = change
            .after
            .as_ref()
            .and_then(|a| a.get("content"))
            .and_then(Value::as_str);
        let created_local = (planned.is_some() && !local_path.exists()).then(|| local_path.clone());
        // A new node's row may come from a listing another node's push just read.
        let row = self
            .node_config_row(app, server, ip, file, change.action == Action::Create)
            .await?;
        // The listing was just read: its content is the row's content now.
        let old = row.config.clone();
        let undo = if change.action == Action::Create || old.trim().is_empty() {
            Undo::DeleteConfigRow {
                server: server.clone(),
                ip: ip.clone(),
                file: file.clone(),
                created_local,
            }
        } else {
            Undo::RestoreConfig {
                id: row.id,
                server: server.clone(),
                ip: ip.clone(),
                file: file.clone(),
                old: self.keep(&step, file, &old)?,
            }
        };
        self.prepare(&step, &undo).await?;
        // Storage security: the plan holds config.ini with the cipher data key redacted.
        let restored = match (planned, self.storage.get(server.as_str())) {
            (Some(text), Some(security)) => Some(crate::plan::restore_cipher_key(
                text,
                security.cipher_data_key.expose(),
            )),
            _ => None,
        };
        let planned = restored.as_deref().or(planned);
        let content = match planned {
            Some(text) => {
                if local_ops::read_text(&local_path).ok().as_deref() != Some(text) {
                    local_ops::write_file(&local_path, text.as_bytes(), false)?;
                }
                text.to_string()
            }
            None => local_ops::read_text(&local_path)?,
        };
        let plain_digest = sha256_hex(content.as_bytes());
        Self::check_planned_digest(change, "content_sha256", &plain_digest, &local_path)?;
        // Storage security: Tars gets the encrypted key; state keeps both digests.
        let content = match self.upload_text(server, file, &content).await? {
            Some(encrypted) => encrypted,
            None => content,
        };
        let digest = sha256_hex(content.as_bytes());
        if old != content {
            tars_ops::update_config(&*self.api, self.timing, row.id, &old, &content, "tarsform apply")
                .await?;
        }
        let mut filled = vec![("config_id", json!(row.id)), ("content_sha256", json!(digest))];
        if digest != plain_digest {
            filled.push(("plain_sha256", json!(plain_digest)));
        }
        let entry = Self::entry(change, &filled, ResourceStatus::Ready);
        Ok(Outcome {
            undo,
            state: vec![(address.clone(), Some(entry))],
        })
    }

    /// The node-level row of `file` on `ip`, under the server-level row this run already
    /// read for `server` when it has one (one `config_file_list` per server, not per file).
    /// With `listed_will_do` (a row this run creates content for), a row in the last
    /// listing of the file serves: one listing covers every node registered before it.
    async fn node_config_row(
        &self,
        app: &str,
        server: &str,
        ip: &str,
        file: &str,
        listed_will_do: bool,
    ) -> StepResult<ConfigFile> {
        let key = (server.to_string(), file.to_string());
        if listed_will_do
            && let Some(row) = self
                .node_listings
                .lock()
                .expect("node listings lock")
                .get(&key)
                .and_then(|rows| rows.iter().find(|r| r.node_name == ip))
        {
            return Ok(row.clone());
        }
        let (row, listing) = self.node_config_listing(app, server, ip, file).await?;
        self.node_listings
            .lock()
            .expect("node listings lock")
            .insert(key, listing);
        Ok(row)
    }

    async fn node_config_listing(
        &self,
        app: &str,
        server: &str,
        ip: &str,
        file: &str,
    ) -> StepResult<(ConfigFile, Vec<ConfigFile>)> {
        let known = self
            .server_rows
            .lock()
            .expect("server rows lock")
            .get(server)
            .cloned();
        let cached = known
            .as_ref()
            .and_then(|rows| rows.iter().find(|r| r.filename == file))
            .cloned();
        if let Some(server_row) = &cached
            && let Ok(found) =
                tars_ops::node_listing_with(&*self.api, self.timing, app, server, ip, server_row).await
        {
            return Ok(found);
        }
        // A cached row that led nowhere is read again; a file the cache lacks is added.
        let known = known.filter(|_| cached.is_none());
        let rows = tars_ops::server_rows_with(&*self.api, app, server, file, known, self.timing.poll).await?;
        // Merged, not replaced: pushes of other files may have added rows meanwhile.
        {
            let mut cache = self.server_rows.lock().expect("server rows lock");
            let kept = cache.entry(server.to_string()).or_default();
            for row in &rows {
                if !kept.iter().any(|k| k.id == row.id) {
                    kept.push(row.clone());
                }
            }
        }
        let server_row = rows
            .into_iter()
            .find(|r| r.filename == file)
            .ok_or_else(|| plan_err(format!("server `{server}`: no server-level row of {file}")))?;
        Ok(tars_ops::node_listing_with(&*self.api, self.timing, app, server, ip, &server_row).await?)
    }

    /// `state = "stopped"`: stops the node (write-ahead: start it again, when it ran)
    /// and records the run state once Tars shows the node set to inactive.
    pub(super) async fn stop(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let row = tars_ops::find_node(&*self.api, app, server, ip)
            .await?
            .ok_or_else(|| {
                plan_err(format!(
                    "server `{server}`: node {ip} is not in Tars; run `tarsform plan`"
                ))
            })?;
        let undo = if row.setting_state == "active" || row.present_state == "active" {
            Undo::StartNode {
                server: server.into(),
                ip: ip.into(),
            }
        } else {
            Undo::Nothing
        };
        self.prepare(&step_id(Op::StopNode, Some(&change.address)), &undo)
            .await?;
        tars_ops::stop_node(&*self.api, self.timing, app, server, ip).await?;
        let mut entry = self
            .current_entry(&change.address)
            .await
            .unwrap_or_else(|| Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready));
        entry.attributes.insert(
            "run_state".into(),
            json!(crate::config::RunState::Stopped.as_str()),
        );
        entry.status = ResourceStatus::Ready;
        Ok(Outcome {
            undo,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    pub(super) async fn restart(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let row = tars_ops::find_node(&*self.api, app, server, ip)
            .await?
            .ok_or_else(|| {
                plan_err(format!(
                    "server `{server}`: node {ip} is not in Tars; run `tarsform plan`"
                ))
            })?;
        let previous = row.patch_id();
        let patch = self.node_patch(change, previous).await?;
        let repatched = previous != Some(patch);
        let was_stopped = row.setting_state != "active";
        let undo = Undo::RestartNode {
            was_stopped,
            server: server.into(),
            ip: ip.into(),
            previous_patch: previous,
            repatched,
        };
        self.prepare(&step_id(Op::RestartNode, Some(&change.address)), &undo)
            .await?;
        // A failure after this point is undone from the write-ahead record above (the
        // node took the new patch but did not prove it runs, or the task failed).
        self.fix_adapter(change).await?;
        if repatched {
            let started = tars_ops::patch_and_check(&*self.api, self.timing, app, server, ip, patch).await?;
            self.note(started.note);
        } else {
            let note =
                tars_ops::command_node_noted(&*self.api, self.timing, app, server, ip, TaskCommand::Restart)
                    .await?;
            self.note(note);
        }
        let mut entry = self
            .current_entry(&change.address)
            .await
            .unwrap_or_else(|| Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready));
        for (k, v) in change.after.clone().unwrap_or_default() {
            if !change.after_unknown.contains(&k)
                && !matches!(k.as_str(), "register" | "content")
                && !crate::plan::TRANSIENT_ATTRS.contains(&k.as_str())
            {
                entry.attributes.insert(k, v);
            }
        }
        entry.attributes.insert("patch_id".into(), json!(patch));
        entry.status = ResourceStatus::Ready;
        Ok(Outcome {
            undo,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    /// Undeploys a node; its inverse registers it again with the config contents Tars
    /// held (read before the undeploy). When `replacing`, the node stays in state
    /// (tainted) and its files stay on disk.
    pub(super) async fn undeploy(
        &self,
        change: &ResourceChange,
        app: &str,
        replacing: bool,
    ) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let op = if replacing {
            Op::UndeployForReplace
        } else {
            Op::UndeployNode
        };
        let step = step_id(op, Some(&change.address));
        let obj = change.attr_str("obj_name").unwrap_or_default().to_string();
        let forget = if replacing {
            vec![]
        } else {
            vec![(change.address.clone(), None)]
        };
        // Nodes of a server undeployed together share the reads made since they started.
        let started = crate::tars::batch::step_floor();
        let Some(row) = tars_ops::find_node_since(&*self.api, app, server, ip, started).await? else {
            return Ok(Outcome {
                undo: Undo::Nothing,
                state: forget,
            });
        };
        let mut configs = Vec::new();
        for r in tars_ops::node_rows_since(&*self.api, app, server, ip, started).await? {
            let content = self.keep(&format!("{step} {}", r.filename), &r.filename, &r.config)?;
            configs.push(KeptConfig {
                file: r.filename,
                content,
            });
        }
        let servant = format!("{app}.{server}.{obj}");
        let adapter_endpoint = self
            .api
            .adapter_conf_list(row.id)
            .await?
            .into_iter()
            .find(|a| a.servant == servant)
            .map(|a| a.endpoint);
        let undo = Undo::Redeploy {
            server: server.into(),
            ip: ip.into(),
            obj_name: obj,
            patch_id: row.patch_id(),
            configs,
            was_active: row.setting_state == "active",
            adapter_endpoint,
        };
        self.prepare(&step, &undo).await?;
        let files = self.local_files_of(server, ip).await;
        tars_ops::command_node(
            &*self.api,
            self.timing,
            app,
            server,
            ip,
            TaskCommand::UndeployTars,
        )
        .await?;
        // After the undeploy task: nodes it undeployed together share their listings.
        let undeployed = crate::tars::batch::step_floor();
        tars_ops::clean_after_undeploy(&*self.api, app, server, ip, undeployed).await?;
        if !replacing {
            // Derived from the layout, never from the paths the state names.
            let layout = crate::workspace::Layout::new(&self.plan.generated_root, &self.plan.application);
            if let (Some(kind), Ok(ip_addr)) =
                (ServiceKind::of_server(server), ip.parse::<std::net::IpAddr>())
            {
                let mut removals = self.commit_removals.lock().expect("removals lock");
                removals.extend(
                    files
                        .iter()
                        .map(|(file, _)| layout.config_path(kind, server, ip_addr, file)),
                );
                for purpose in ["ssl", "sdk"] {
                    let dir = layout.cert_dir(kind, server, ip_addr, purpose);
                    removals.extend(["ca.crt", "cert.cnf"].map(|f| dir.join(f)));
                }
            }
        }
        Ok(Outcome { undo, state: forget })
    }

    /// `(file, local path)` of every config of a node recorded in state.
    pub(super) async fn local_files_of(&self, server: &str, ip: &str) -> Vec<(String, PathBuf)> {
        let ledger = self.ledger.lock().await;
        let node = Address::node(server, ip);
        ledger
            .state
            .resources
            .iter()
            .filter(|(a, _)| a.kind() == ResourceKind::Config && a.owning_node().as_ref() == Some(&node))
            .filter_map(|(a, r)| {
                let path = r.attributes.get("local_path")?.as_str()?;
                Some((a.leaf_name()?.to_string(), PathBuf::from(path)))
            })
            .collect()
    }

    /// Sets a node's adapter endpoint back to the recorded one (`after.adapter_fix`,
    /// planned for drift) before its restart or start, which makes Tars use it. Returns
    /// the endpoint set. Left fixed if the restart then fails: it is what was recorded.
    pub(super) async fn fix_adapter(&self, change: &ResourceChange) -> StepResult<Option<String>> {
        let Some(fix) = change.attr("adapter_fix") else {
            return Ok(None);
        };
        let field = |key: &str| fix.get(key).filter(|v| !v.is_null());
        let (Some(servant), Some(endpoint)) = (
            field("servant").and_then(Value::as_str),
            field("endpoint").and_then(Value::as_str),
        ) else {
            return Err(plan_err(format!(
                "{}: the plan's `adapter_fix` needs `servant` and `endpoint`; run `tarsform plan` again",
                change.address
            )));
        };
        // With an id the adapter is set back; without one it is added back.
        let updated = match field("id").and_then(Value::as_u64) {
            Some(id) => self.api.update_adapter_endpoint(id, servant, endpoint).await?,
            None => {
                let (server, ip) = node_keys(&change.address);
                let app = Self::after_str(change, "application")?;
                self.api.add_adapter(app, server, ip, servant, endpoint).await?
            }
        };
        if updated
            .endpoint
            .split_whitespace()
            .ne(endpoint.split_whitespace())
        {
            return Err(plan_err(format!(
                "{}: Tars kept adapter `{servant}` at `{}` after the update to `{endpoint}`",
                change.address, updated.endpoint
            )));
        }
        Ok(Some(endpoint.to_string()))
    }
}
