//! Running a Tars task to its end: submit, poll `task` until every item is final.
//!
//! "Accepted" is not success (DESIGN.md §4): [`run_task`] returns `Ok` only when every
//! item succeeded, a typed `TaskFailed` naming the node and the registry's log
//! otherwise, and `TaskTimeout` when the deadline passes first.

use std::time::{Duration, Instant};

use super::api::TarsApi;
use super::error::TarsError;
use super::task::{Task, TaskRequest, TaskState};
use super::untrusted::{MESSAGE_MAX_CHARS, cut, escape_unsafe};

/// A value from Tars, safe to put in an error.
fn shown(text: &str) -> String {
    cut(&escape_unsafe(text), MESSAGE_MAX_CHARS)
}

/// A task that finished successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReport {
    pub task_no: String,
    /// The last poll's answer: every item succeeded.
    pub task: Task,
    /// How many times `task` was polled.
    pub polls: u32,
    pub elapsed: Duration,
}

/// Submits `req`, then polls every `poll` until the task is final or `timeout` passed.
pub async fn run_task<C: TarsApi>(
    api: &C,
    req: &TaskRequest,
    poll: Duration,
    timeout: Duration,
) -> Result<TaskReport, TarsError> {
    let started = Instant::now();
    let task_no = api.add_task(req).await?;
    wait_task(api, &task_no, &req.command_summary(), started, poll, timeout).await
}

/// Polls an already submitted task; `started` is when the deadline began.
pub async fn wait_task<C: TarsApi>(
    api: &C,
    task_no: &str,
    command: &str,
    started: Instant,
    poll: Duration,
    timeout: Duration,
) -> Result<TaskReport, TarsError> {
    let deadline = started + timeout;
    let mut polls = 0;
    let mut last = "not polled yet".to_string();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(TarsError::TaskTimeout {
                task_no: shown(task_no),
                command: command.to_string(),
                waited: now - started,
                last: shown(&last),
            });
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
        let task = api.task(task_no).await?;
        polls += 1;
        last = describe(&task);
        if task.is_finished() {
            return finish(task_no, command, task, polls, started.elapsed());
        }
    }
}

fn finish(
    task_no: &str,
    command: &str,
    task: Task,
    polls: u32,
    elapsed: Duration,
) -> Result<TaskReport, TarsError> {
    let numbering = task.numbering();
    let failed = task
        .items
        .iter()
        .filter(|item| item.state(numbering) != TaskState::Success)
        .min_by_key(|item| (item.state(numbering) != TaskState::Failed, item.item_no.clone()));
    if let Some(item) = failed {
        return Err(TarsError::TaskFailed {
            task_no: shown(task_no),
            command: shown(&item.command),
            node: shown(&item.node_name),
            status: item.state(numbering),
            execute_info: shown(&item.execute_info),
        });
    }
    let state = task.state();
    if state != TaskState::Success {
        return Err(TarsError::TaskFailed {
            task_no: shown(task_no),
            command: command.to_string(),
            node: "(no items reported)".to_string(),
            status: state,
            execute_info: String::new(),
        });
    }
    Ok(TaskReport {
        task_no: task_no.to_string(),
        task,
        polls,
        elapsed,
    })
}

/// "node 172.25.0.5 running 40%" for each item, for timeout messages.
fn describe(task: &Task) -> String {
    if task.items.is_empty() {
        return task.state().to_string();
    }
    let numbering = task.numbering();
    task.items
        .iter()
        .map(|i| format!("node {} {} {}%", i.node_name, i.state(numbering), i.percent))
        .collect::<Vec<_>>()
        .join(", ")
}
