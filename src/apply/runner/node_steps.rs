//! Steps on one node in Tars: register, push a config file, restart, undeploy.

use super::*;

impl<C: TarsApi> TarsRunner<C> {
    pub(super) async fn register(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let obj = Self::after_str(change, "obj_name")?;
        let source = expand_source(&self.plan, &change.address);
        let undeploy = Undo::UndeployNode {
            server: server.into(),
            ip: ip.into(),
        };
        let (row, port) = match tars_ops::register_node(&*self.api, app, server, obj, ip, source).await {
            Ok(registered) => registered,
            Err(e @ OpError::Unsettled(_)) => {
                let step = format!("{} {}", Op::RegisterNode.as_str(), change.address);
                self.unsettled
                    .lock()
                    .expect("unsettled lock")
                    .push((step, undeploy));
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let entry = Self::entry(
            change,
            &[("server_id", json!(row.id)), ("adapter_port", json!(port))],
            ResourceStatus::Tainted,
        );
        Ok(Outcome {
            undo: undeploy,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    pub(super) async fn push_config(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let address = &change.address;
        let (server, ip, file) = (&address.keys()[0], &address.keys()[1], &address.keys()[2]);
        let local_path = PathBuf::from(Self::after_str(change, "local_path")?);
        let planned = change
            .after
            .as_ref()
            .and_then(|a| a.get("content"))
            .and_then(Value::as_str);
        let mut created_local = None;
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
                if !local_path.exists() {
                    created_local = Some(local_path.clone());
                }
                if local_ops::read_text(&local_path).ok().as_deref() != Some(text) {
                    local_ops::write_file(&local_path, text.as_bytes(), false)?;
                }
                text.to_string()
            }
            None => local_ops::read_text(&local_path)?,
        };
        let mut digest = sha256_hex(content.as_bytes());
        Self::check_planned_digest(change, "content_sha256", &digest, &local_path)?;
        // Storage security: Tars gets the encrypted key; state keeps both digests.
        let plain_digest = digest.clone();
        let encrypted = self.upload_text(server, file, &content).await?;
        let content = match encrypted {
            Some(text) => {
                digest = sha256_hex(text.as_bytes());
                text
            }
            None => content,
        };
        let row = tars_ops::node_row(&*self.api, self.timing, app, server, ip, file).await?;
        let old = self
            .api
            .config_file(row.id)
            .await?
            .map(|r| r.config)
            .unwrap_or_default();
        if old != content {
            self.api
                .update_config_file(row.id, &content, "tarsform apply")
                .await?;
        }
        let sensitive = change.sensitive.contains("content");
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
                public_content: (!sensitive).then(|| old.clone()),
                content_lost: sensitive,
                content: Some(old),
            }
        };
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

    pub(super) async fn restart(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let row = tars_ops::find_node(&*self.api, app, server, ip)
            .await?
            .ok_or_else(|| {
                plan_err(format!(
                    "server `{server}`: node {ip} is not in Tars; run `tarsform plan`"
                ))
            })?;
        let patch = self.patch_id_of(server).await?;
        let previous = row.patch_id();
        let repatched = previous != Some(patch);
        if repatched {
            tars_ops::patch_and_check(&*self.api, self.timing, app, server, ip, patch).await?;
        } else {
            tars_ops::command_node(&*self.api, self.timing, app, server, ip, TaskCommand::Restart).await?;
        }
        let mut entry = self
            .current_entry(&change.address)
            .await
            .unwrap_or_else(|| Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready));
        for (k, v) in change.after.clone().unwrap_or_default() {
            if !change.after_unknown.contains(&k)
                && !matches!(k.as_str(), "restart_reason" | "register" | "content")
            {
                entry.attributes.insert(k, v);
            }
        }
        entry.attributes.insert("patch_id".into(), json!(patch));
        entry.status = ResourceStatus::Ready;
        Ok(Outcome {
            undo: Undo::RestartNode {
                server: server.into(),
                ip: ip.into(),
                previous_patch: previous,
                repatched,
            },
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    /// Undeploys a node; its inverse registers it again from the local files. When
    /// `replacing`, the node stays in state (tainted) and its files stay on disk.
    pub(super) async fn undeploy(
        &self,
        change: &ResourceChange,
        app: &str,
        replacing: bool,
    ) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let obj = change.attr_str("obj_name").unwrap_or_default().to_string();
        let forget = if replacing {
            vec![]
        } else {
            vec![(change.address.clone(), None)]
        };
        let Some(row) = tars_ops::find_node(&*self.api, app, server, ip).await? else {
            return Ok(Outcome {
                undo: Undo::Nothing,
                state: forget,
            });
        };
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
        tars_ops::clean_after_undeploy(&*self.api, app, server, ip).await?;
        if !replacing
            && let Some((_, path)) = files.iter().find(|(f, _)| f == "config.ini")
            && let Some(dir) = path.parent()
        {
            self.commit_removals
                .lock()
                .expect("removals lock")
                .push(dir.to_path_buf());
        }
        Ok(Outcome {
            undo: Undo::Redeploy {
                server: server.into(),
                ip: ip.into(),
                obj_name: obj,
                patch_id: row.patch_id(),
                files,
            },
            state: forget,
        })
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
}
