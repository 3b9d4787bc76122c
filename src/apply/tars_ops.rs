//! The Tars call sequences of the apply steps (DESIGN.md §4), one function each.
//!
//! Every function does exactly what its step says and reports what it changed so the
//! caller can record the inverse. Tasks count only when Tars reports success.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::tars::{
    ConfigFile, DeployRequest, ExpandPreviewRequest, ExpandRequest, HealthGate, PollSchedule, ServerConf,
    TarsApi, TarsError, TaskCommand, TaskRequest, run_task,
};

/// Tars runs up to 5 items of a non-serial task at once (tarsAdminRegistry).
pub const DEFAULT_TASK_BATCH: usize = 5;

/// The most new nodes of one batch registered together (one `expand_server` per
/// server: TarsWeb expands a node list in one transaction, not as task items).
pub const REGISTRATION_BATCH: usize = 20;

/// Polling and waiting limits.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The first task poll, and the pause between read-backs.
    pub poll: Duration,
    /// Task polls back off up to this (see [`PollSchedule`]).
    pub poll_max: Duration,
    pub task_timeout: Duration,
    /// How many times to list node config rows before giving up (TarsWeb returns the
    /// list from before it creates the missing rows).
    pub row_attempts: u32,
    /// A started node must stay `active` with one process id this long.
    pub settle: Duration,
    /// How long a started node may take to become `active` (a real tarsnode restarts a
    /// service that did not come up after its 60-s activating timeout).
    pub start_timeout: Duration,
    /// Extra attempts of a patch that failed with a transient framework error.
    pub task_retries: u32,
    /// The most nodes whose tasks go to Tars as one `add_task` (`--task-batch`).
    pub task_batch: usize,
    /// How long a short group of new nodes' starts waits for more starts still to come
    /// (their certificates or pushes under way), so that fewer, fuller tasks go out.
    pub start_gather: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll: Duration::from_millis(500),
            poll_max: Duration::from_millis(2500),
            task_timeout: Duration::from_secs(330),
            row_attempts: 5,
            settle: Duration::from_secs(5),
            start_timeout: Duration::from_secs(120),
            task_retries: 2,
            task_batch: DEFAULT_TASK_BATCH,
            start_gather: Duration::from_secs(1),
        }
    }
}

impl Timing {
    /// Real tasks take 1–6 s an item: first poll after 0.5 s, then up to 2.5 s apart.
    /// A short settle window (an emulator whose nodes settle at once) polls sooner:
    /// a fifth of it, at least 20 ms, and at most five times that between polls.
    pub fn for_settle(settle: Duration, start_timeout: Duration) -> Timing {
        let poll = (settle / 5).clamp(Duration::from_millis(20), Duration::from_millis(500));
        Timing {
            settle,
            start_timeout,
            poll,
            poll_max: poll * 5,
            ..Timing::default()
        }
    }

    pub fn task_polls(&self) -> PollSchedule {
        PollSchedule {
            first: self.poll,
            max: self.poll_max,
        }
    }

    pub fn gate(&self) -> HealthGate {
        HealthGate::new(self.settle, self.start_timeout)
    }

    /// How long a node whose patch was reported FAILED gets to show the patch landed.
    pub(crate) fn evidence_window(&self) -> Duration {
        (self.settle * 4).max(Duration::from_millis(500))
    }
}

/// A node that was started and proved it runs.
#[derive(Debug, Clone)]
pub struct Started {
    pub row: ServerConf,
    /// Something the operator should know (a FAILED task whose node runs anyway, retries).
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Tars(#[from] TarsError),
    #[error("{0}")]
    Refused(String),
    /// Tars reported the task done, but the node did not prove it runs: it changed.
    #[error("{0}")]
    NotRunning(String),
}

pub type OpResult<T> = Result<T, OpError>;

/// The row of `server` on node `ip`, if registered.
pub async fn find_node<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
) -> OpResult<Option<ServerConf>> {
    Ok(api
        .server_list(app, Some(server))
        .await?
        .into_iter()
        .find(|s| s.node_name == ip))
}

/// The patches the nodes of `server` run, as Tars reports them.
pub async fn running_patches<C: TarsApi>(api: &C, app: &str, server: &str) -> OpResult<Vec<Option<u64>>> {
    Ok(api
        .server_list(app, Some(server))
        .await?
        .into_iter()
        .filter(|s| s.server_name.is_empty() || s.server_name == server)
        .map(|s| s.patch_id())
        .collect())
}

/// [`find_node`] from a `server_list` request started at or after `since`: nodes whose
/// steps started together share one listing.
pub async fn find_node_since<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
    since: Instant,
) -> OpResult<Option<ServerConf>> {
    Ok(api
        .server_list_since(app, server, since)
        .await?
        .1
        .into_iter()
        .find(|s| s.node_name == ip))
}

async fn require_node<C: TarsApi>(api: &C, app: &str, server: &str, ip: &str) -> OpResult<ServerConf> {
    find_node(api, app, server, ip).await?.ok_or_else(|| {
        OpError::Refused(format!(
            "server `{server}`: node {ip} is not registered in Tars (application {app})"
        ))
    })
}

/// True when a failed call may still have landed in Tars: it timed out, or the
/// connection broke after the request was sent (a connect failure sent nothing).
pub fn outcome_unknown(e: &TarsError) -> bool {
    matches!(
        e,
        TarsError::Timeout { .. } | TarsError::Protocol(_) | TarsError::Http(_)
    )
}

/// How many times an unknown outcome is read back, `timing.poll` apart.
const READ_BACK_ATTEMPTS: u32 = 5;

/// Reads Tars back until `landed` answers `Some` (bounded): did a call whose outcome is
/// unknown take effect?
pub async fn read_back<T, F, Fut>(timing: Timing, mut landed: F) -> OpResult<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = OpResult<Option<T>>>,
{
    for attempt in 0..READ_BACK_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(timing.poll).await;
        }
        if let Some(found) = landed().await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Registers a new node: `deploy_server` for the first node of a server, otherwise
/// `expand_server` from `source`. Never re-deploys a node that exists (deploy upserts).
/// Returns the node's row and its adapter port. A registering call whose outcome is
/// unknown is read back: the step goes on when the node is there.
pub async fn register_node<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    obj_name: &str,
    ip: &str,
    source: Option<&str>,
) -> OpResult<(ServerConf, u16)> {
    let already = |existing: ServerConf| {
        OpError::Refused(format!(
            "server `{server}`: node {ip} is already registered (server id {}); refusing deploy_server, which would reset it\nhint: run `tarsform plan` again: it will import the node",
            existing.id
        ))
    };
    let no_servant = |source: &str| {
        OpError::Refused(format!(
            "server `{server}`: expand_server_preview from {source} offered no `{obj_name}` servant for {ip}"
        ))
    };
    // New nodes of one server registered together share one expansion and its reads
    // before and after (`tars::batch`).
    let together = match source {
        Some(source) => {
            let registration = crate::tars::batch::Registration {
                app: app.to_string(),
                server: server.to_string(),
                source: source.to_string(),
                obj_name: obj_name.to_string(),
                ip: ip.to_string(),
            };
            crate::tars::batch::register_together(api, registration).await
        }
        None => None,
    };
    let (port, sent, row) = match together {
        Some(registered) => match (registered.existing, registered.port, registered.outcome) {
            (Some(existing), _, _) => return Err(already(*existing)),
            (None, Some(port), outcome) => (port, outcome, registered.row),
            (None, None, Ok(())) => return Err(no_servant(source.unwrap_or_default())),
            (None, None, Err(e)) => return Err(e.into()),
        },
        None => {
            // Any read since this step started shows whether the node appeared meanwhile.
            let rows = crate::tars::batch::server_rows(api, app, server, Duration::MAX).await?;
            if let Some(existing) = rows.into_iter().find(|r| r.node_name == ip) {
                return Err(already(existing));
            }
            let port = api.auto_port(ip).await?;
            let sent = match source {
                None => api
                    .deploy_server(&DeployRequest::bcos(app, server, ip, obj_name, port))
                    .await
                    .map(|_| ()),
                Some(source) => {
                    let sent = api
                        .expand_server(&ExpandRequest::direct(
                            app,
                            server,
                            source,
                            &[(ip, obj_name, port)],
                        ))
                        .await;
                    // Refused: the preview tells whether the source lacks the servant.
                    if let Err(TarsError::Api(_)) = &sent
                        && let Ok(preview) = api
                            .expand_server_preview(&ExpandPreviewRequest::new(app, server, source, &[ip]))
                            .await
                        && !preview
                            .iter()
                            .any(|i| i.node_name == ip && i.obj_name == obj_name)
                    {
                        return Err(no_servant(source));
                    }
                    sent
                }
            };
            (port, sent, None)
        }
    };
    match sent {
        Ok(()) => {}
        Err(e) if outcome_unknown(&e) => match read_back(timing, || find_node(api, app, server, ip)).await? {
            Some(row) => return Ok((row, port)),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }
    let row = match row {
        Some(row) => *row,
        None => require_node(api, app, server, ip).await?,
    };
    Ok((row, port))
}

/// Sets a config row's content. When the outcome is unknown the row is read back:
/// the new content there means it landed; otherwise the error stands (the step's
/// write-ahead inverse puts the old content back either way).
pub async fn update_config<C: TarsApi>(
    api: &C,
    timing: Timing,
    id: u64,
    old: &str,
    new: &str,
    reason: &str,
) -> OpResult<()> {
    match api.update_config_file(id, new, reason).await {
        Ok(_) => Ok(()),
        Err(e) if outcome_unknown(&e) => {
            let landed = read_back(timing, || async {
                let now = api.config_file(id).await?.map(|r| r.config);
                Ok((now.as_deref() == Some(new) && new != old).then_some(()))
            })
            .await?;
            landed.ok_or_else(|| e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs one task on one node and waits until Tars reports success.
pub async fn run_on_node<C: TarsApi>(api: &C, timing: Timing, req: TaskRequest) -> OpResult<()> {
    run_task(api, &req, timing.task_polls(), timing.task_timeout).await?;
    Ok(())
}

use super::health::not_running_message;
pub use super::health::patch_and_check;

/// A plain task (`stop`, `restart`, `undeploy_tars`) on a registered node; a `start` or
/// `restart` must then pass the health gate.
pub async fn command_node<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
    command: TaskCommand,
) -> OpResult<()> {
    command_node_noted(api, timing, app, server, ip, command)
        .await
        .map(|_| ())
}

/// [`command_node`], with what the operator should know of a start (a lost launch restarted).
pub async fn command_node_noted<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
    command: TaskCommand,
) -> OpResult<Option<String>> {
    // A group of steps shares one read of the server's rows, and one task.
    let rows = crate::tars::batch::server_rows(api, app, server, timing.gate().poll / 2).await?;
    let row = rows.into_iter().find(|r| r.node_name == ip).ok_or_else(|| {
        OpError::Refused(format!(
            "server `{server}`: node {ip} is not registered in Tars (application {app})"
        ))
    })?;
    let req = TaskRequest::single(row.id, command, BTreeMap::new());
    let starts = matches!(command, TaskCommand::Start | TaskCommand::Restart);
    let polls = timing.task_polls();
    let task_no = match crate::tars::batch::run_task_for(api, (server, ip), &req, polls, timing.task_timeout)
        .await
    {
        Ok(report) => report.task_no,
        // A start whose verdict is FAILED is evidence too: the node's row decides.
        Err(TarsError::TaskFailed {
            task_no,
            execute_info,
            ..
        }) if starts && crate::tars::is_transient_failure(&execute_info) => {
            return match super::health::wait_started(api, timing, app, server, ip).await? {
                Ok(started) => Ok(started.note),
                Err(not_running) => Err(OpError::Refused(format!(
                    "server `{server}`: {} task {task_no} on node {ip} FAILED: \"{execute_info}\"; the node {not_running}",
                    command.as_str()
                ))),
            };
        }
        Err(e) => return Err(e.into()),
    };
    if !starts {
        return Ok(None);
    }
    match super::health::wait_started(api, timing, app, server, ip).await? {
        Ok(started) => Ok(started.note),
        Err(not_running) => Err(OpError::NotRunning(not_running_message(
            server,
            ip,
            command.as_str(),
            &task_no,
            &not_running,
        ))),
    }
}

/// Stops a node and checks that Tars shows it set to inactive.
pub async fn stop_node<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
) -> OpResult<()> {
    command_node(api, timing, app, server, ip, TaskCommand::Stop).await?;
    let row = require_node(api, app, server, ip).await?;
    if row.setting_state == "active" {
        return Err(OpError::Refused(format!(
            "server `{server}`: node {ip} is still set to active after the stop task; stop it in Tars web"
        )));
    }
    Ok(())
}

/// The server-level rows of `server` (every file), with `file`'s created with content
/// "\n" if missing.
/// `known`: the rows this run read before; when they lack `file`, it is added at once.
/// After adding, waits `settle`: TarsWeb then inserts the node rows of every node of the
/// server without awaiting them, and a listing that races those inserts (it inserts
/// missing node rows too) can hit the unique key and crash TarsWeb.
pub async fn server_rows_with<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    file: &str,
    known: Option<Vec<ConfigFile>>,
    settle: Duration,
) -> OpResult<Vec<ConfigFile>> {
    let has = |rows: &[ConfigFile]| rows.iter().any(|r| r.filename == file);
    let mut rows = match known {
        Some(rows) => rows,
        None => api.config_file_list(app, server).await?,
    };
    if has(&rows) {
        return Ok(rows);
    }
    match api.add_config_file(app, server, file, "\n").await {
        Ok(row) if row.id > 0 && row.filename == file => {
            tokio::time::sleep(settle).await;
            rows.push(row);
            return Ok(rows);
        }
        Ok(_) | Err(TarsError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let rows = api.config_file_list(app, server).await?;
    if has(&rows) {
        return Ok(rows);
    }
    Err(OpError::Refused(format!(
        "server `{server}`: the server-level row of {file} did not appear after adding it"
    )))
}

/// The server-level (placeholder) row of `file`, created with content "\n" if missing.
async fn server_row<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    file: &str,
    settle: Duration,
) -> OpResult<ConfigFile> {
    let rows = server_rows_with(api, app, server, file, None, settle).await?;
    rows.into_iter()
        .find(|r| r.filename == file)
        .ok_or_else(|| OpError::Refused(format!("server `{server}`: no server-level row of {file}")))
}

/// The node-level row of `file` on `ip`, listing until TarsWeb has created it.
pub async fn node_row<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
    file: &str,
) -> OpResult<ConfigFile> {
    let server_row = server_row(api, app, server, file, timing.poll).await?;
    let (row, _) = node_listing_with(api, timing, app, server, ip, &server_row).await?;
    Ok(row)
}

/// [`node_row`] under a known server-level row, with the whole listing it was found in
/// (every node's row of the file).
pub async fn node_listing_with<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
    server_row: &ConfigFile,
) -> OpResult<(ConfigFile, Vec<ConfigFile>)> {
    let file = &server_row.filename;
    let attempts = timing.row_attempts.max(1);
    for attempt in 0..attempts {
        // TarsWeb creates missing node rows while it lists, racing its own background
        // inserts after `add_config_file`: a "system error" (500) then is worth a retry.
        let rows = match api.node_config_file_list(app, server, server_row.id).await {
            Ok(rows) => rows,
            Err(e) if e.ret_code() == Some(500) && attempt + 1 < attempts => {
                tokio::time::sleep(timing.poll).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(row) = rows.iter().find(|r| r.node_name == ip && &r.filename == file) {
            return Ok((row.clone(), rows));
        }
        if attempt > 0 {
            tokio::time::sleep(timing.poll).await;
        }
    }
    Err(OpError::Refused(format!(
        "server `{server}`: Tars did not create the node-level row of {file} for {ip} after {} listings\nhint: is node {ip} registered?",
        timing.row_attempts
    )))
}

/// Every node-level row of `server` on `ip`, read now.
pub async fn node_rows<C: TarsApi>(api: &C, app: &str, server: &str, ip: &str) -> OpResult<Vec<ConfigFile>> {
    node_rows_since(api, app, server, ip, Instant::now()).await
}

/// [`node_rows`] from listings started at or after `since`.
pub async fn node_rows_since<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
    since: Instant,
) -> OpResult<Vec<ConfigFile>> {
    let mut out = Vec::new();
    for server_row in api.config_file_list_since(app, server, since).await?.1 {
        let rows = api
            .node_config_file_list_since(app, server, server_row.id, since)
            .await?
            .1;
        out.extend(rows.into_iter().filter(|r| r.node_name == ip));
    }
    Ok(out)
}

/// Removes what an undeploy left: node rows of `ip`, and the server-level rows when no
/// node of the server remains. Nodes of one server undeployed together clean at the same
/// time: a server-level row another one deleted meanwhile is skipped, not an error.
/// `undeployed` is when the undeploy ended: listings started since then may serve, so
/// nodes undeployed by one task share them (each deletes only its own rows).
pub async fn clean_after_undeploy<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
    undeployed: Instant,
) -> OpResult<()> {
    for server_row in api.config_file_list_since(app, server, undeployed).await?.1 {
        let listed = api
            .node_config_file_list_since(app, server, server_row.id, undeployed)
            .await;
        let rows = match listed.map(|(_, rows)| rows) {
            Ok(rows) => rows,
            Err(_) if server_row_gone(api, app, server, server_row.id).await? => continue,
            Err(e) => return Err(e.into()),
        };
        for row in rows.into_iter().filter(|r| r.node_name == ip) {
            api.delete_config_file(row.id).await?;
        }
    }
    if api.server_list_since(app, server, undeployed).await?.1.is_empty() {
        for row in api.config_file_list(app, server).await? {
            match api.delete_config_file(row.id).await {
                Ok(()) => {}
                Err(_) if server_row_gone(api, app, server, row.id).await? => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// True when `server`'s config row `id` is no longer listed.
async fn server_row_gone<C: TarsApi>(api: &C, app: &str, server: &str, id: u64) -> OpResult<bool> {
    Ok(!api
        .config_file_list(app, server)
        .await?
        .iter()
        .any(|r| r.id == id))
}

/// Uploads a package to an existing application and returns the patch id (looked up
/// by task id, never trusted from the upload response).
pub async fn upload_package<C: TarsApi>(api: &C, app: &str, server: &str, bytes: &[u8]) -> OpResult<u64> {
    let task_id = crate::tars::new_upload_task_id();
    let file_name = format!("{server}.tgz");
    api.upload_patch_package(app, server, &task_id, &file_name, bytes, "tarsform apply")
        .await?;
    let patch = api.get_server_patch(&task_id).await?.ok_or_else(|| {
        OpError::Refused(format!(
            "server `{server}`: Tars knows no patch for upload task {task_id}"
        ))
    })?;
    Ok(patch.id)
}
