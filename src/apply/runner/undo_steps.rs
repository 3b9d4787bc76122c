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
            Undo::RemoveFiles { paths, replaced } => {
                local_ops::undo_files(Path::new(&self.plan.generated_root), paths, replaced)?
            }
            Undo::UndeployNode { server, ip } => {
                // A registration whose answer was lost may land a little later: read
                // back a few times before concluding it never happened.
                let found =
                    tars_ops::read_back(self.timing, || tars_ops::find_node(api, &app, server, ip)).await?;
                if found.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::UndeployTars)
                        .await?;
                }
                tars_ops::clean_after_undeploy(api, &app, server, ip, std::time::Instant::now()).await?;
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
                // The server-level row the push may have added, when no node uses it.
                self.drop_unused_server_row(server, file).await?;
                if let Some(p) = created_local {
                    let root = Path::new(&self.plan.generated_root);
                    local_ops::undo_files(root, std::slice::from_ref(p), &[])?;
                }
            }
            Undo::RestoreConfig { id, file, old, .. } => {
                let old = self.kept(old)?;
                let now = api.config_file(*id).await?.map(|r| r.config);
                if now.as_deref() != Some(old.as_str()) {
                    tars_ops::update_config(api, self.timing, *id, "", &old, "tarsform rollback").await?;
                }
                let _ = file;
            }
            Undo::RecreateConfigRow {
                server,
                ip,
                file,
                old,
                server_old,
            } => {
                self.recreate_config(server, ip, file, old, server_old.as_ref())
                    .await?
            }
            Undo::StopNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::Stop).await?;
                }
            }
            Undo::StartNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::Start).await?;
                }
            }
            Undo::RestartNode {
                server,
                ip,
                previous_patch,
                repatched,
                was_stopped,
            } => {
                self.pending_restarts
                    .lock()
                    .expect("restart lock")
                    .push(PendingRestart {
                        server: server.clone(),
                        ip: ip.clone(),
                        previous_patch: *previous_patch,
                        repatched: *repatched,
                        was_stopped: *was_stopped,
                    });
            }
            Undo::Redeploy {
                server,
                ip,
                obj_name,
                patch_id,
                configs,
                was_active,
                adapter_endpoint,
            } => {
                // Registered as at first: expanded from a remaining node (TarsWeb copies its
                // adapter settings), deployed when none remains. Skipped when the undeploy
                // never happened (a crash between its record and its task).
                if tars_ops::find_node(api, &app, server, ip).await?.is_none() {
                    let source = api
                        .server_list(&app, Some(server))
                        .await?
                        .into_iter()
                        .map(|s| s.node_name)
                        .filter(|n| n != ip)
                        .min();
                    let (row, _) = tars_ops::register_node(
                        api,
                        self.timing,
                        &app,
                        server,
                        obj_name,
                        ip,
                        source.as_deref(),
                    )
                    .await?;
                    // The old endpoint (port) again: the state records it.
                    let servant = format!("{app}.{server}.{obj_name}");
                    let adapter = api
                        .adapter_conf_list(row.id)
                        .await?
                        .into_iter()
                        .find(|a| a.servant == servant);
                    if let (Some(adapter), Some(endpoint)) = (adapter, adapter_endpoint)
                        && adapter.endpoint != *endpoint
                    {
                        api.update_adapter_endpoint(adapter.id, &servant, endpoint)
                            .await?;
                    }
                }
                for kept in configs {
                    let content = self.kept(&kept.content)?;
                    let row = tars_ops::node_row(api, self.timing, &app, server, ip, &kept.file).await?;
                    if row.config != content {
                        tars_ops::update_config(
                            api,
                            self.timing,
                            row.id,
                            &row.config,
                            &content,
                            "tarsform rollback",
                        )
                        .await?;
                    }
                }
                let row = tars_ops::find_node(api, &app, server, ip).await?;
                let running = row
                    .as_ref()
                    .is_some_and(|r| r.setting_state == "active" && r.patch_id() == *patch_id);
                if let (Some(patch), true, false) = (patch_id, *was_active, running) {
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
        for (step, record) in unsettled {
            if let Err(e) = self.undo_recorded(&step, &record).await {
                failures.push((step, e));
            }
        }
        let pending = std::mem::take(&mut *self.pending_restarts.lock().expect("restart lock"));
        let app = self.app().to_string();
        for p in pending {
            let current = match tars_ops::find_node(&*self.api, &app, &p.server, &p.ip).await {
                Ok(row) => row.and_then(|r| r.patch_id()),
                Err(e) => {
                    failures.push((
                        format!("restart {} on {}", p.server, p.ip),
                        redact(&e.to_string()),
                    ));
                    continue;
                }
            };
            let result = match (p.repatched, p.previous_patch) {
                // The patch never landed (the step failed before it): nothing to put back.
                (true, Some(prev)) if current == Some(prev) => Ok(()),
                (true, Some(prev)) => {
                    tars_ops::patch_and_check(&*self.api, self.timing, &app, &p.server, &p.ip, prev)
                        .await
                        .map(|started| self.note(started.note))
                }
                // Stopped before the run: stopped again below, no restart.
                _ if p.was_stopped => Ok(()),
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
            let result = match result {
                Ok(()) if p.was_stopped => {
                    tars_ops::stop_node(&*self.api, self.timing, &app, &p.server, &p.ip).await
                }
                other => other,
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

    /// After success: drop the local files of deleted nodes (each one checked to lie
    /// inside the generated root; never a whole directory a file names) and the
    /// backups of replaced leaves.
    pub fn commit_files(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let root = Path::new(&self.plan.generated_root);
        let files: Vec<PathBuf> = self
            .commit_removals
            .lock()
            .expect("removals lock")
            .drain(..)
            .chain(self.commit_backups.lock().expect("backups lock").drain(..))
            .collect();
        for file in files {
            let result = crate::workspace::inside(root, &file)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    local_ops::remove_file_and_empty_parents(&file, root).map_err(|e| e.to_string())
                });
            if let Err(e) = result {
                problems.push(e);
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
        let _ = self.journal_anyway(step, phase, detail).await;
    }
}

/// Journal step ids of the run's own records (not steps to undo).
pub const RUN_RECORD: &str = "run";
pub const OBSERVE_RECORD: &str = "observe";

impl<C: TarsApi> TarsRunner<C> {
    /// What Tars shows now for every node the plan touches (reads retried, so one
    /// failed read does not spoil a verification).
    pub async fn observe_touched(&self) -> Result<Observation, String> {
        self.observe_touched_since(Some(std::time::Instant::now())).await
    }

    /// [`Self::observe_touched`], where server rows read at or after `since` may serve.
    pub async fn observe_touched_since(
        &self,
        since: Option<std::time::Instant>,
    ) -> Result<Observation, String> {
        let nodes = verify::touched_nodes(&self.plan);
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(self.timing.poll).await;
            }
            let known = self.server_rows.lock().expect("server rows lock").clone();
            match verify::observe(&*self.api, self.app(), &nodes, since, &known).await {
                Ok(seen) => return Ok(seen),
                Err(e) => last = redact(&e.to_string()),
            }
        }
        Err(format!("reading Tars to verify: {last}"))
    }

    /// Journals the observation taken before the first step.
    pub async fn record_baseline(&self, seen: &Observation) -> Result<(), String> {
        self.journal(OBSERVE_RECORD, StepPhase::Completed, json!({ "observed": seen }))
            .await
            .map_err(|e| e.to_string())
    }

    /// The differences between what Tars shows now and `expected`.
    pub async fn verify(&self, expected: &Observation, mode: Expect) -> Result<Vec<Difference>, String> {
        let found = self.observe_touched().await?;
        let fix = match mode {
            Expect::Exact => "run `tarsform rollback` again",
            Expect::Planned => "run `tarsform apply` again",
        };
        Ok(verify::compare(expected, &found, mode, fix))
    }

    /// The planned result, from the plan and the state this run wrote.
    pub async fn planned_result(&self) -> Observation {
        let ledger = self.ledger.lock().await;
        verify::planned_result(&self.plan, &ledger.state)
    }

    /// True when the state could not be saved since the last change (a full disk).
    pub fn journal_broken(&self) -> bool {
        self.journal.is_broken()
    }
}
