//! Running a Tars task to its end: submit, poll `task` until every item is final.
//!
//! "Accepted" is not success (DESIGN.md §4): [`run_task`] returns `Ok` only when every
//! item succeeded, a typed `TaskFailed` naming the node and the registry's log
//! otherwise, and `TaskTimeout` when the deadline passes first.
//!
//! A task's verdict is evidence, not truth: a real tarsnode reports a patch SUCCESS
//! while the binary is still "activating" (and may crash), and FAILED when its answer
//! to AdminRegistry timed out although the node starts. [`wait_running`] reads the
//! node itself: `present_state` `active`, one process id, for a settle window.

use std::time::{Duration, Instant};

use super::api::TarsApi;
use super::dto::ServerConf;
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

/// When to poll a task: first after `first`, then each wait [`PollSchedule::GROWTH`]
/// times longer, up to `max`. A real tarsnode takes 1–6 s per item, so polling at a
/// fixed short interval mostly asks "still running?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    pub first: Duration,
    pub max: Duration,
}

impl PollSchedule {
    pub const GROWTH: f64 = 1.5;

    /// The same wait every time.
    pub fn fixed(every: Duration) -> Self {
        PollSchedule {
            first: every,
            max: every,
        }
    }

    /// The wait before poll number `n` (0 is the first).
    pub fn wait(&self, n: u32) -> Duration {
        let grown = self.first.as_secs_f64() * Self::GROWTH.powi(n.min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max.max(self.first).as_secs_f64()))
    }
}

impl From<Duration> for PollSchedule {
    fn from(every: Duration) -> Self {
        PollSchedule::fixed(every)
    }
}

/// Submits `req`, then polls on `poll`'s schedule until the task is final or `timeout` passed.
pub async fn run_task<C: TarsApi>(
    api: &C,
    req: &TaskRequest,
    poll: impl Into<PollSchedule>,
    timeout: Duration,
) -> Result<TaskReport, TarsError> {
    let started = Instant::now();
    let task_no = api.add_task(req).await?;
    wait_task(
        api,
        &task_no,
        &req.command_summary(),
        started,
        poll.into(),
        timeout,
    )
    .await
}

/// Polls an already submitted task; `started` is when the deadline began.
pub async fn wait_task<C: TarsApi>(
    api: &C,
    task_no: &str,
    command: &str,
    started: Instant,
    poll: PollSchedule,
    timeout: Duration,
) -> Result<TaskReport, TarsError> {
    let (task, polls) = poll_task(api, task_no, command, started, poll, timeout).await?;
    task_verdict(task_no, command, task, polls, started.elapsed())
}

/// Polls a submitted task until every item is final; the last answer and the polls made.
pub async fn poll_task<C: TarsApi>(
    api: &C,
    task_no: &str,
    command: &str,
    started: Instant,
    poll: PollSchedule,
    timeout: Duration,
) -> Result<(Task, u32), TarsError> {
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
        tokio::time::sleep(poll.wait(polls).min(deadline - now)).await;
        let task = api.task(task_no).await?;
        polls += 1;
        last = describe(&task);
        super::board::report(task_no, mean_percent(&task));
        if task.is_finished() {
            super::batch::task_ended();
            return Ok((task, polls));
        }
    }
}

/// A finished task's verdict: `Ok` only when every item succeeded.
pub(crate) fn task_verdict(
    task_no: &str,
    command: &str,
    task: Task,
    polls: u32,
    elapsed: Duration,
) -> Result<TaskReport, TarsError> {
    finish(task_no, command, task, polls, elapsed)
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

/// The mean percent of the task's items (0 without items).
fn mean_percent(task: &Task) -> u8 {
    let n = task.items.len() as i64;
    let sum: i64 = task.items.iter().map(|i| i.percent.clamp(0, 100)).sum();
    if n == 0 { 0 } else { (sum / n) as u8 }
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

/// What "running" means after a start, restart or patch: the node's row shows
/// `present_state` `active` with one process id for `settle`, within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthGate {
    pub settle: Duration,
    pub timeout: Duration,
    pub poll: Duration,
}

impl HealthGate {
    /// Polls about five times per settle window, at most once a second.
    pub fn new(settle: Duration, timeout: Duration) -> Self {
        let poll = (settle / 5).clamp(Duration::from_millis(20), Duration::from_secs(1));
        HealthGate {
            settle,
            timeout,
            poll,
        }
    }

    /// The same gate with a shorter deadline.
    pub fn within(self, timeout: Duration) -> Self {
        HealthGate {
            timeout: self.timeout.min(timeout),
            ..self
        }
    }
}

/// Why a node did not prove it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRunning {
    /// E.g. "stayed `activating` for 20.0s (pid 19262)".
    pub reason: String,
    /// The last row seen, if the node was listed at all.
    pub last: Option<ServerConf>,
}

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Waits until `server` on `ip` runs (and runs `patch`, when given) per `gate`.
pub async fn wait_running<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
    patch: Option<u64>,
    gate: HealthGate,
) -> Result<Result<ServerConf, NotRunning>, TarsError> {
    wait_running_replacing(api, app, server, ip, patch, None, gate).await
}

/// [`wait_running`], where a row that still shows `old_pid` (the process from before a
/// restart) does not count: a patch whose restart never happened leaves the old binary up.
pub async fn wait_running_replacing<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    ip: &str,
    patch: Option<u64>,
    old_pid: Option<i64>,
    gate: HealthGate,
) -> Result<Result<ServerConf, NotRunning>, TarsError> {
    let started = Instant::now();
    let mut watch = Watch {
        old_pid,
        ..Watch::default()
    };
    loop {
        // Steps polling one server share reads up to a poll old; a row counts as of
        // when its request started.
        let (seen_at, rows) = super::batch::server_rows_at(api, app, server, watch.oldest_read(gate)).await?;
        let row = rows.into_iter().find(|s| s.node_name == ip);
        match watch.observe(row, patch, seen_at, gate.settle) {
            Verdict::Running(row) => return Ok(Ok(*row)),
            Verdict::Broke(reason) => {
                return Ok(Err(NotRunning {
                    reason,
                    last: watch.last,
                }));
            }
            Verdict::Waiting => {}
        }
        let now = Instant::now();
        let waited = now - started;
        if waited >= gate.timeout {
            let reason = match &watch.last {
                None => format!("is not listed in Tars after {:.1}s", waited.as_secs_f64()),
                Some(row) => format!(
                    "did not stay active within {:.1}s: last seen {}{}{}",
                    waited.as_secs_f64(),
                    describe_row(row, patch),
                    watch.old_process_note(row),
                    watch.restart_note()
                ),
            };
            return Ok(Err(NotRunning {
                reason,
                last: watch.last,
            }));
        }
        tokio::time::sleep(watch.next_read(now, gate).min(gate.timeout - waited)).await;
    }
}

/// "present_state `activating`, setting_state `active`, pid 19262, patch 3".
pub fn describe_row(row: &ServerConf, patch: Option<u64>) -> String {
    let patch_note = match patch {
        Some(p) if row.patch_id() != Some(p) => format!(" (expected {p})"),
        _ => String::new(),
    };
    format!(
        "present_state `{}`, setting_state `{}`, pid {}, patch `{}`{patch_note}",
        row.present_state, row.setting_state, row.process_id, row.patch_version
    )
}

/// How often a node may drop out of `active` (or change its pid) while it starts before
/// the step fails: a real tarsnode restarts a service whose first launch lost a port race
/// and it then runs; a binary that keeps dying does not settle.
const MAX_RESTARTS: u32 = 2;

/// The settle window's bookkeeping: since when the node has been active with which pid,
/// and how often an active streak broke.
#[derive(Debug, Default)]
struct Watch {
    active_since: Option<(Instant, i64)>,
    restarts: Vec<String>,
    last: Option<ServerConf>,
    /// The process from before a restart: it does not count as the started node.
    old_pid: Option<i64>,
}

enum Verdict {
    Running(Box<ServerConf>),
    Broke(String),
    Waiting,
}

impl Watch {
    fn observe(
        &mut self,
        row: Option<ServerConf>,
        patch: Option<u64>,
        now: Instant,
        settle: Duration,
    ) -> Verdict {
        let Some(row) = row else {
            if self.active_since.is_some() {
                return Verdict::Broke("was active, then vanished from Tars".into());
            }
            return Verdict::Waiting;
        };
        let on_patch = patch.is_none_or(|p| row.patch_id() == Some(p));
        let replaced = self.old_pid.is_none_or(|old| old != row.process_id);
        let active = row.is_running() && on_patch && replaced;
        let broke = match (self.active_since, active) {
            (Some((_, pid)), true) if pid != row.process_id => {
                Some(format!("its process changed (pid {pid} → {})", row.process_id))
            }
            (Some((_, pid)), false) => Some(format!(
                "was active (pid {pid}), then showed {}",
                describe_row(&row, patch)
            )),
            _ => None,
        };
        if let Some(what) = broke {
            self.restarts.push(what);
            self.active_since = None;
            if self.restarts.len() as u32 > MAX_RESTARTS {
                let verdict = Verdict::Broke(format!(
                    "did not settle: it left `active` {} times while starting ({}); a {:.1}s settle window needs one process that stays up",
                    self.restarts.len(),
                    self.restarts.join("; "),
                    settle.as_secs_f64()
                ));
                self.last = Some(row);
                return verdict;
            }
        }
        let verdict = match (self.active_since, active) {
            (_, false) => Verdict::Waiting,
            (None, true) => {
                self.active_since = Some((now, row.process_id));
                if settle.is_zero() {
                    Verdict::Running(Box::new(row.clone()))
                } else {
                    Verdict::Waiting
                }
            }
            (Some((since, _)), true) if now - since >= settle => Verdict::Running(Box::new(row.clone())),
            (Some(_), true) => Verdict::Waiting,
        };
        self.last = Some(row);
        verdict
    }

    /// The wait before the next read: a poll until the node shows active, then until
    /// the settle window ends (the same pid then proves one process ran throughout; a
    /// crash in between shows as another pid or state).
    fn next_read(&self, now: Instant, gate: HealthGate) -> Duration {
        match self.active_since {
            Some((since, _)) => (since + gate.settle)
                .saturating_duration_since(now)
                .max(gate.poll / 5),
            None => gate.poll,
        }
    }

    /// The oldest request a read may share: a poll old, and once active, none from
    /// before the settle window's end.
    fn oldest_read(&self, gate: HealthGate) -> Instant {
        let now = Instant::now();
        let recent = now.checked_sub(gate.poll).unwrap_or(now);
        match self.active_since {
            Some((since, _)) => recent.max((since + gate.settle).min(now)),
            None => recent,
        }
    }

    /// " (still the process from before the restart)" when the row shows the old pid.
    fn old_process_note(&self, row: &ServerConf) -> &'static str {
        if self.old_pid == Some(row.process_id) && row.process_id != 0 {
            " (still the process from before the restart)"
        } else {
            ""
        }
    }

    /// " (it left `active` once: …)" for timeout messages.
    fn restart_note(&self) -> String {
        match self.restarts.len() {
            0 => String::new(),
            n => format!(" (it left `active` {n} time(s): {})", self.restarts.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_polls_back_off_to_the_cap() {
        let schedule = PollSchedule {
            first: Duration::from_millis(500),
            max: Duration::from_millis(2500),
        };
        let waits: Vec<u128> = (0..6).map(|n| schedule.wait(n).as_millis()).collect();
        assert_eq!(waits, [500, 750, 1125, 1687, 2500, 2500]);
        assert_eq!(schedule.wait(u32::MAX), Duration::from_millis(2500));
        let fixed = PollSchedule::fixed(Duration::from_millis(20));
        assert_eq!(fixed.wait(0), fixed.wait(9));
    }

    fn row(present: &str, pid: i64) -> Option<ServerConf> {
        serde_json::from_value(serde_json::json!({
            "id": 1, "node_name": "127.0.0.1", "setting_state": "active",
            "present_state": present, "process_id": pid, "patch_version": "7"
        }))
        .ok()
    }

    fn feed(steps: &[(&str, i64, u64)], settle_ms: u64) -> Vec<&'static str> {
        let start = Instant::now();
        let mut watch = Watch::default();
        steps
            .iter()
            .map(|(present, pid, at)| {
                let now = start + Duration::from_millis(*at);
                match watch.observe(row(present, *pid), Some(7), now, Duration::from_millis(settle_ms)) {
                    Verdict::Running(_) => "running",
                    Verdict::Broke(_) => "broke",
                    Verdict::Waiting => "waiting",
                }
            })
            .collect()
    }

    #[test]
    fn running_needs_one_pid_active_for_the_whole_window() {
        let steps = [
            ("activating", 5, 0),
            ("active", 5, 100),
            ("active", 5, 600),
            ("active", 5, 1100),
        ];
        assert_eq!(feed(&steps, 1000), ["waiting", "waiting", "waiting", "running"]);
    }

    #[test]
    fn an_early_restart_starts_the_window_again() {
        let steps = [
            ("active", 5, 0),
            ("active", 6, 500),
            ("active", 6, 1400),
            ("active", 6, 1600),
        ];
        assert_eq!(feed(&steps, 1000), ["waiting", "waiting", "waiting", "running"]);
    }

    #[test]
    fn a_node_that_keeps_dropping_out_fails() {
        let steps = [
            ("active", 5, 0),
            ("activating", 6, 100),
            ("active", 6, 200),
            ("active", 7, 300),
            ("active", 7, 400),
            ("inactive", 0, 500),
        ];
        assert_eq!(
            feed(&steps, 1000),
            ["waiting", "waiting", "waiting", "waiting", "waiting", "broke"]
        );
    }

    #[test]
    fn the_process_from_before_the_restart_is_not_the_started_node() {
        let mut watch = Watch {
            old_pid: Some(5),
            ..Watch::default()
        };
        let start = Instant::now();
        let settle = Duration::from_millis(100);
        assert!(matches!(
            watch.observe(row("active", 5), Some(7), start, settle),
            Verdict::Waiting
        ));
        assert!(matches!(
            watch.observe(row("active", 5), Some(7), start + Duration::from_secs(1), settle),
            Verdict::Waiting
        ));
        assert_eq!(
            watch.old_process_note(watch.last.as_ref().unwrap()),
            " (still the process from before the restart)"
        );
        assert!(matches!(
            watch.observe(row("active", 6), Some(7), start + Duration::from_secs(2), settle),
            Verdict::Waiting
        ));
        assert!(matches!(
            watch.observe(row("active", 6), Some(7), start + Duration::from_secs(3), settle),
            Verdict::Running(_)
        ));
    }

    #[test]
    fn another_patch_is_not_running() {
        let mut watch = Watch::default();
        let now = Instant::now();
        let verdict = watch.observe(row("active", 5), Some(8), now, Duration::ZERO);
        assert!(matches!(verdict, Verdict::Waiting));
        assert!(describe_row(watch.last.as_ref().unwrap(), Some(8)).contains("(expected 8)"));
    }
}
