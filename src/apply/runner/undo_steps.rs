//! Running inverses: one journaled undo, the deferred restarts after a rollback, and
//! the commit of a successful run.

use super::*;

impl<C: TarsApi> TarsRunner<C> {
    /// Runs one inverse against Tars and the local files.
    pub async fn run_undo(&self, undo: &Undo) -> Result<(), String> {
        self.run_undo_inner(undo)
            .await
            .map_err(|e| redact(&e.to_string()))
    }

    pub(super) async fn run_undo_inner(&self, undo: &Undo) -> StepResult<()> {
        let app = self.app().to_string();
        let api = &*self.api;
        match undo {
            Undo::Nothing => {}
            Undo::RemoveFiles { paths, replaced } => local_ops::undo_files(paths, replaced)?,
            Undo::UndeployNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::UndeployTars)
                        .await?;
                }
                tars_ops::clean_after_undeploy(api, &app, server, ip).await?;
            }
            Undo::DeleteConfigRow {
                server,
                ip,
                file,
                created_local,
            } => {
                for row in tars_ops::node_rows(api, &app, server, ip).await? {
                    if &row.filename == file {
                        api.delete_config_file(row.id).await?;
                    }
                }
                if let Some(p) = created_local {
                    local_ops::undo_files(std::slice::from_ref(p), &[])?;
                }
            }
            Undo::RestoreConfig {
                id,
                file,
                content,
                public_content,
                ..
            } => {
                let old = content.as_ref().or(public_content.as_ref()).ok_or_else(|| {
                    plan_err(format!(
                        "the old content of {file} (row {id}) is sensitive and was not kept"
                    ))
                })?;
                api.update_config_file(*id, old, "tarsform rollback").await?;
            }
            Undo::StopNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::Stop).await?;
                }
            }
            Undo::RestartNode {
                server,
                ip,
                previous_patch,
                repatched,
            } => {
                self.pending_restarts
                    .lock()
                    .expect("restart lock")
                    .push(PendingRestart {
                        server: server.clone(),
                        ip: ip.clone(),
                        previous_patch: *previous_patch,
                        repatched: *repatched,
                    });
            }
            Undo::Redeploy {
                server,
                ip,
                obj_name,
                patch_id,
                files,
            } => {
                // Registered as at first: expanded from a remaining node (TarsWeb copies its
                // adapter settings), deployed when none remains.
                let source = api
                    .server_list(&app, Some(server))
                    .await?
                    .into_iter()
                    .map(|s| s.node_name)
                    .filter(|n| n != ip)
                    .min();
                tars_ops::register_node(api, &app, server, obj_name, ip, source.as_deref()).await?;
                for (file, path) in files {
                    let content = local_ops::read_text(path)?;
                    let row = tars_ops::node_row(api, self.timing, &app, server, ip, file).await?;
                    api.update_config_file(row.id, &content, "tarsform rollback")
                        .await?;
                }
                if let Some(patch) = patch_id {
                    let started =
                        tars_ops::patch_and_check(api, self.timing, &app, server, ip, *patch).await?;
                    self.note(started.note);
                }
            }
        }
        Ok(())
    }

    /// Undoes what failed steps may have left (a node registered before a later read
    /// failed), then restarts the nodes whose restart was undone, now that their configs
    /// are back. Returns `(step or node, error)` for each that failed.
    pub async fn finish_rollback(&self) -> Vec<(String, String)> {
        let unsettled = std::mem::take(&mut *self.unsettled.lock().expect("unsettled lock"));
        let mut failures = Vec::new();
        for (step, undo) in unsettled {
            if let Err(e) = self.run_undo(&undo).await {
                failures.push((step, format!("{e}\n  by hand: {}", undo.manual_hint())));
            }
        }
        let pending = std::mem::take(&mut *self.pending_restarts.lock().expect("restart lock"));
        let app = self.app().to_string();
        for p in pending {
            let result = match (p.repatched, p.previous_patch) {
                (true, Some(prev)) => {
                    tars_ops::patch_and_check(&*self.api, self.timing, &app, &p.server, &p.ip, prev)
                        .await
                        .map(|started| self.note(started.note))
                }
                _ => {
                    tars_ops::command_node(
                        &*self.api,
                        self.timing,
                        &app,
                        &p.server,
                        &p.ip,
                        TaskCommand::Restart,
                    )
                    .await
                }
            };
            if let Err(e) = result {
                failures.push((
                    format!("restart {} on {}", p.server, p.ip),
                    redact(&e.to_string()),
                ));
            }
        }
        failures
    }

    /// After success: drop files of deleted nodes and backups of replaced leaves.
    pub fn commit_files(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for dir in self.commit_removals.lock().expect("removals lock").drain(..) {
            if let Err(e) = local_ops::remove_dir(&dir) {
                problems.push(e.to_string());
            }
            // The server's folder goes too once its last node is gone.
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        problems
    }

    /// Restores the state entries a step replaced (used by crash recovery too).
    pub async fn restore_prior(
        &self,
        prior: &BTreeMap<Address, Option<ResourceState>>,
    ) -> Result<(), String> {
        self.restore_state(prior).await.map_err(|e| e.to_string())
    }

    pub async fn journal_phase(&self, step: &str, phase: StepPhase, detail: Value) {
        let _ = self.journal(step, phase, detail).await;
    }
}
