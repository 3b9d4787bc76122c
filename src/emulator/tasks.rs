//! The task engine of tarsAdminRegistry (tarsweb-api.md §7), as the real framework
//! 3.0.17 shows it: items are RUNNING from the start (no NOT_START or PREPARE is ever
//! seen), then SUCCESS | FAILED (or CANCEL after a failure in a serial task) over the
//! task duration, and a successful item changes the model. `percent` goes 0 → 100 for
//! patches and stays 0 for other commands and failed items; `execute_info` carries
//! tarsnode's texts ("server is activating, please check: …", "succ:"). New
//! numbering (with PREPARE): 0 not started, 2 running, 3 success, 4 failed, 5 cancelled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::task::JoinSet;

use super::clock;
use super::state::{Inner, Shared};

pub const NOT_START: u8 = 0;
pub const RUNNING: u8 = 2;
pub const SUCCESS: u8 = 3;
pub const FAILED: u8 = 4;
pub const CANCEL: u8 = 5;
pub const PARTIAL: u8 = 6;

/// Parallel workers for a non-serial task.
const WORKERS: usize = 5;

/// Non-patch tasks are forgotten this long after creation.
pub const EXPIRY: std::time::Duration = std::time::Duration::from_secs(300);

/// One task item, serialized as TarsWeb's `task` item.
#[derive(Debug, Clone, Serialize)]
pub struct TaskItem {
    pub task_no: String,
    pub item_no: String,
    pub application: String,
    pub server_name: String,
    pub node_name: String,
    pub command: String,
    pub start_time: String,
    pub end_time: String,
    pub status: u8,
    pub status_info: String,
    pub execute_info: String,
    pub percent: u8,
    #[serde(skip)]
    pub parameters: BTreeMap<String, String>,
}

impl TaskItem {
    fn set_status(&mut self, status: u8) {
        self.status = status;
        self.status_info = status_name(status).to_string();
    }
}

/// A submitted task, serialized as TarsWeb's `task` data.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub task_no: String,
    pub serial: bool,
    pub status: u8,
    pub create_time: String,
    #[serde(rename = "userName")]
    pub user_name: String,
    pub items: Vec<TaskItem>,
    #[serde(skip)]
    pub created: Instant,
}

impl Task {
    pub fn new(task_no: String, serial: bool, user_name: String, items: Vec<TaskItem>) -> Task {
        let mut task = Task {
            task_no,
            serial,
            status: NOT_START,
            create_time: clock::now(),
            user_name,
            items,
            created: Instant::now(),
        };
        task.refresh_status();
        task
    }

    /// A task whose items are all patches is kept in the DB; others expire from memory.
    pub fn expired(&self) -> bool {
        let persistent = self
            .items
            .iter()
            .all(|i| matches!(i.command.as_str(), "patch_tars" | "grace_patch_tars"));
        !persistent && self.created.elapsed() > EXPIRY
    }

    /// `checkTaskRspStatus`: the common item state, or PARIAL for a mix.
    fn refresh_status(&mut self) {
        let first = self.items.first().map_or(NOT_START, |i| i.status);
        self.status = if self.items.iter().all(|i| i.status == first) {
            first
        } else {
            PARTIAL
        };
    }
}

pub fn item(
    task_no: &str,
    row: &super::model::ServerRow,
    command: &str,
    parameters: BTreeMap<String, String>,
) -> TaskItem {
    TaskItem {
        task_no: task_no.to_string(),
        item_no: new_id(),
        application: row.application.clone(),
        server_name: row.server_name.clone(),
        node_name: row.node_name.clone(),
        command: command.to_string(),
        start_time: String::new(),
        end_time: String::new(),
        status: RUNNING,
        status_info: status_name(RUNNING).to_string(),
        execute_info: String::new(),
        percent: 0,
        parameters,
    }
}

fn is_patch(command: &str) -> bool {
    matches!(command, "patch_tars" | "grace_patch_tars")
}

/// 32 lowercase hex characters.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn status_name(status: u8) -> &'static str {
    match status {
        NOT_START => "EM_I_NOT_START",
        1 => "EM_I_PREPARE",
        RUNNING => "EM_I_RUNNING",
        SUCCESS => "EM_I_SUCCESS",
        FAILED => "EM_I_FAILED",
        CANCEL => "EM_I_CANCEL",
        _ => "EM_I_PAUSE_FLOW",
    }
}

/// Runs a submitted task to completion in the background.
pub fn spawn(shared: Arc<Shared>, task_no: String) {
    tokio::spawn(async move { run(shared, task_no).await });
}

async fn run(shared: Arc<Shared>, task_no: String) {
    let (serial, count) = {
        let inner = shared.lock();
        match inner.tasks.get(&task_no) {
            Some(task) => (task.serial, task.items.len()),
            None => return,
        }
    };
    if serial {
        for index in 0..count {
            if !run_item(&shared, &task_no, index, true).await {
                break;
            }
        }
    } else {
        let permits = Arc::new(tokio::sync::Semaphore::new(WORKERS));
        let mut workers = JoinSet::new();
        for index in 0..count {
            let (shared, task_no, permits) = (shared.clone(), task_no.clone(), permits.clone());
            workers.spawn(async move {
                let _permit = permits.acquire().await;
                run_item(&shared, &task_no, index, false).await
            });
        }
        while workers.join_next().await.is_some() {}
    }
}

/// One item: RUNNING for the task duration, then its outcome. True on success. In a
/// serial task a failure cancels the later items in the same update.
async fn run_item(shared: &Arc<Shared>, task_no: &str, index: usize, serial: bool) -> bool {
    let half = shared.settings.task_duration / 2;
    tokio::time::sleep(half).await;
    update(shared, task_no, |task, _| {
        let item = &mut task.items[index];
        item.set_status(RUNNING);
        item.start_time = clock::now();
        if is_patch(&item.command) {
            item.percent = 100;
        }
    });
    tokio::time::sleep(shared.settings.task_duration - half).await;
    let mut ok = false;
    let mut dies_later = None;
    let mut late_start = None;
    let mut gives_up = None;
    update(shared, task_no, |task, inner| {
        let mut outcome = execute(inner, &task.items[index], &task.user_name);
        if outcome.is_ok()
            && let Some(late) = delay_launch(inner, &task.items[index])
        {
            late_start = Some(late);
            outcome = Err("succ:server state is Inactive.".into());
        }
        ok = outcome.is_ok();
        let item = &mut task.items[index];
        if let Some(after) = inner.faults.lost_launch_gives_up(&item.node_name) {
            // A launch still `activating` now may be a lost one: tarsnode gives up on it.
            gives_up = inner
                .model
                .server_mut(&item.application, &item.server_name, &item.node_name)
                .filter(|row| row.present_state == "activating")
                .map(|row| (row.id, row.process_id, after));
        }
        if ok && inner.faults.dies_later(&item.server_name, &item.node_name) {
            dies_later = inner
                .model
                .server_mut(&item.application, &item.server_name, &item.node_name)
                .filter(|row| row.present_state == "active")
                .map(|row| (row.id, row.process_id));
        }
        item.set_status(if ok { SUCCESS } else { FAILED });
        item.execute_info = outcome.unwrap_or_else(|log| log);
        item.end_time = clock::now();
        item.percent = if ok && is_patch(&item.command) { 100 } else { 0 };
        if serial && !ok {
            for later in task.items.iter_mut().skip(index + 1) {
                later.set_status(CANCEL);
                later.execute_info = "cancelled: an earlier item of this serial task failed".into();
            }
        }
    });
    if let Some((id, launch, delay)) = late_start {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut inner = shared.lock();
            if !inner.faults.is_latest_launch(id, launch) {
                return;
            }
            if let Some(row) = inner
                .model
                .servers
                .iter_mut()
                .find(|r| r.id == id && r.setting_state == "active" && r.present_state == "inactive")
            {
                // tarsnode's keep-alive starts the server AdminRegistry gave up on.
                row.present_state = "active".into();
                row.process_id = next_pid();
                inner.dirty = true;
            }
        });
    }
    if let Some((id, pid, after)) = gives_up {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mut inner = shared.lock();
            if let Some(row) = inner
                .model
                .servers
                .iter_mut()
                .find(|r| r.id == id && r.process_id == pid && r.present_state == "activating")
            {
                // tarsnode's activating timeout: shown stopped, still set to run.
                row.present_state = "inactive".into();
                inner.dirty = true;
            }
        });
    }
    if let Some((id, pid)) = dies_later {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(shared.settings.task_duration * 5).await;
            let mut inner = shared.lock();
            if let Some(row) = inner
                .model
                .servers
                .iter_mut()
                .find(|r| r.id == id && r.process_id == pid)
            {
                // tarsnode notices the exit and starts the binary again.
                row.present_state = "activating".into();
                row.process_id = pid + 1;
                inner.dirty = true;
            }
        });
    }
    ok
}

/// A `late-start` rule on the item's node: the launch the item just did has not
/// happened yet (the node is left `inactive`); the row id, the launch number and when
/// tarsnode's keep-alive will start it.
fn delay_launch(inner: &mut Inner, item: &TaskItem) -> Option<(u64, u64, std::time::Duration)> {
    let launches = match item.command.as_str() {
        "start" | "restart" => true,
        "patch_tars" | "grace_patch_tars" => item.parameters.get("bak_flag").map(String::as_str) != Some("1"),
        _ => false,
    };
    let delay = inner.faults.late_start(&item.node_name).filter(|_| launches)?;
    let row = inner
        .model
        .server_mut(&item.application, &item.server_name, &item.node_name)?;
    row.present_state = "inactive".into();
    row.process_id = 0;
    let id = row.id;
    inner.dirty = true;
    Some((id, inner.faults.launch(id), delay))
}

/// Applies `change` to the task (taken out of the table meanwhile) and the model.
fn update(shared: &Shared, task_no: &str, change: impl FnOnce(&mut Task, &mut Inner)) {
    let mut guard = shared.lock();
    let inner = &mut *guard;
    let Some(mut task) = inner.tasks.remove(task_no) else {
        return;
    };
    change(&mut task, inner);
    task.refresh_status();
    inner.tasks.insert(task_no.to_string(), task);
    shared.persist_if_dirty(inner);
}

/// Carries out one item on the model; `Ok(log)` or `Err(log)` for `execute_info`.
fn execute(inner: &mut Inner, item: &TaskItem, uid: &str) -> Result<String, String> {
    let node = &item.node_name;
    if is_patch(&item.command) && inner.model.node(node).is_some() && inner.faults.refuse_patch(node) {
        return Err(format!(
            "tarsAdminRegistry batchPatch error, ret:-1, info:tarspatch preparePatchFile error: ServantProxy::invoke errno:-7 ({node})"
        ));
    }
    let running = inner
        .model
        .server_mut(&item.application, &item.server_name, node)
        .filter(|row| row.present_state == "active")
        .map(|row| row.process_id);
    let outcome = execute_item(inner, item, uid);
    if outcome.is_ok() && is_patch(&item.command) && inner.faults.no_restart(node) {
        if let Some(pid) = running
            && let Some(row) = inner.model.server_mut(&item.application, &item.server_name, node)
        {
            // The patch landed; the restart never reached tarsnode: the old process runs.
            row.present_state = "active".into();
            row.process_id = pid;
        }
        return Err(format!("getPatchPercent {node} error, iRet:1002"));
    }
    if outcome.is_ok() && inner.faults.busy(node) {
        // The work is done, but AdminRegistry's call timed out: a false failure.
        return Err(format!("getPatchPercent {node} error, iRet:1002"));
    }
    outcome
}

fn execute_item(inner: &mut Inner, item: &TaskItem, uid: &str) -> Result<String, String> {
    let (app, server, node) = (&item.application, &item.server_name, &item.node_name);
    if inner.faults.task_fails(&item.command, node) {
        return Err(format!(
            "{} {app}.{server} on {node} failed: injected fault (task:{}@{node})",
            item.command, item.command
        ));
    }
    if inner.model.node(node).is_none() {
        return Err(format!(
            "tarsnode {node} is not registered (EM_TARS_NODE_NOT_REGISTRY_ERR)"
        ));
    }
    if !inner.node_alive(node) || inner.faults.registry_down() {
        return Err(format!(
            "tarsnode {node} is not alive: no heartbeat (EM_TARS_CALL_NODE_TIMEOUT_ERR)"
        ));
    }
    let model = &mut inner.model;
    let Some(running) = model
        .server_mut(app, server, node)
        .map(|row| row.patch_version.clone())
    else {
        return Err(format!("server {app}.{server} does not exist on {node}"));
    };
    // A `crash:` rule makes the newest package of the server exit at once (an older
    // one, e.g. the one a rollback puts back, runs).
    let launched = match item.command.as_str() {
        "patch_tars" | "grace_patch_tars" => item.parameters.get("patch_id").cloned().unwrap_or_default(),
        _ => running,
    };
    let column = format!("{app}.{server}");
    let newest = model
        .patches
        .iter()
        .filter(|p| p.server == column)
        .map(|p| p.id)
        .max();
    let mut crashes =
        inner.faults.crashes(server, node) && newest.is_some_and(|id| id.to_string() == launched);
    let launches = match item.command.as_str() {
        "start" | "restart" => true,
        "patch_tars" | "grace_patch_tars" => item.parameters.get("bak_flag").map(String::as_str) != Some("1"),
        _ => false,
    };
    if launches && let Some(row) = inner.model.server_mut(app, server, node).map(|r| r.id) {
        // A lost launch looks like a binary that exits at once, until it is started again.
        crashes |= inner.faults.lose_launch(row, node);
    }
    let model = &mut inner.model;
    inner.dirty = true;
    let activating = activating_text(app, server);
    match item.command.as_str() {
        "start" | "restart" => {
            start(model, app, server, node, crashes);
            Ok(activating)
        }
        "stop" => {
            let row = model.server_mut(app, server, node).expect("checked above");
            row.setting_state = "inactive".into();
            row.present_state = "inactive".into();
            row.process_id = 0;
            Ok("succ:".into())
        }
        "patch_tars" | "grace_patch_tars" => {
            let patch_id = item.parameters.get("patch_id").cloned().unwrap_or_default();
            let column = format!("{app}.{server}");
            let Some(patch) = model
                .patches
                .iter_mut()
                .find(|p| p.id.to_string() == patch_id && p.server == column)
            else {
                return Err(format!("patch {patch_id:?} of {column} not found"));
            };
            patch.publish = true;
            let row = model.server_mut(app, server, node).expect("checked above");
            row.patch_version = patch_id;
            row.patch_user = uid.to_string();
            row.patch_time = clock::now();
            if item.parameters.get("bak_flag").map(String::as_str) == Some("1") {
                return Ok("succ:".into());
            }
            start(model, app, server, node, crashes);
            Ok(activating)
        }
        "undeploy_tars" => {
            // tarsnode reports the stop only for a server it has installed (patched);
            // a never-patched node's undeploy says nothing (TarsWeb 3.0.15 on the kit).
            let installed = model
                .server_mut(app, server, node)
                .is_some_and(|row| !row.patch_version.is_empty());
            model.undeploy(app, server, node);
            Ok(if installed {
                "succ:server state is Inactive. "
            } else {
                ""
            }
            .into())
        }
        _ => Err("command not support!".into()),
    }
}

/// tarsnode's answer once it launched a binary (it cannot know yet whether it stays up).
fn activating_text(app: &str, server: &str) -> String {
    format!(
        "server is activating, please check: find server exe: /usr/local/app/tars/tarsnode/data/{app}.{server}/bin/{server}"
    )
}

/// Launches the binary: `active` with a new process id, or, for a binary that exits at
/// once (`crash:` rule), `activating` for good.
fn start(model: &mut super::model::Model, app: &str, server: &str, node: &str, crashes: bool) {
    let row = model
        .server_mut(app, server, node)
        .expect("checked by the caller");
    row.setting_state = "active".into();
    row.present_state = if crashes { "activating" } else { "active" }.into();
    row.flow_state = "active".into();
    row.process_id = next_pid();
}

/// A fresh process id for every launch, as a restart gets from the kernel.
pub(super) fn next_pid() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(10_000);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
