//! Patching a node and proving it runs: a task's verdict is evidence, the node's row
//! decides (issue 11).
//!
//! A real AdminRegistry gives a busy tarsnode 5 s per call. Under load a `patch_tars`
//! item ends FAILED ("getPatchPercent … iRet:1002", or the stop step's "succ:server state
//! is Inactive." when the start timed out) although tarsnode finishes the patch, reports
//! the new `patch_version` itself and its keep-alive starts the server seconds later. So
//! after a FAILED patch the node is read: the patch landed → wait for it to run (within
//! `--start-timeout`), nudging it with `start`/`restart` when the framework left it
//! stopped or on its old process; the patch did not land → submit it again after a
//! bounded back-off when the failure was a transient framework error.

use std::time::{Duration, Instant};

use super::tars_ops::{OpError, OpResult, Started, Timing, find_node};
use crate::tars::batch::{run_task_for, server_rows};
use crate::tars::{
    NotRunning, ServerConf, TarsApi, TarsError, TaskCommand, TaskRequest, describe_row, is_transient_failure,
    run_task, wait_running_replacing,
};

/// `patch_tars` with `patch_id` (restarts the node), then the health gate: the node must
/// run `patch_id` in a new process, `active` with one pid for the settle window. A FAILED
/// task whose node runs anyway counts as done (with a note); a patch that did not land
/// after a transient framework error is submitted again, `timing.task_retries` times.
pub async fn patch_and_check<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
    patch_id: u64,
) -> OpResult<Started> {
    let before = node_row(api, timing, app, server, ip).await?;
    // The process a restart must replace (none when the node was not running).
    let old_pid = (before.present_state == "active" && before.process_id > 0).then_some(before.process_id);
    let node = Node {
        api,
        timing,
        app,
        server,
        ip,
    };
    let req = TaskRequest::patch(before.id, patch_id);
    let mut notes = Vec::new();
    let mut attempt = 0;
    loop {
        let (task_no, execute_info) =
            match run_task_for(api, (server, ip), &req, timing.task_polls(), timing.task_timeout).await {
                Ok(report) => {
                    return match node.wait_or_relaunch(Some(patch_id), old_pid, &mut notes).await? {
                        Ok(row) => Ok(started(server, row, notes)),
                        Err(not_running) => Err(OpError::NotRunning(not_running_message(
                            server,
                            ip,
                            "patch_tars",
                            &report.task_no,
                            &not_running,
                        ))),
                    };
                }
                Err(TarsError::TaskFailed {
                    task_no,
                    execute_info,
                    ..
                }) => (task_no, execute_info),
                Err(e) => return Err(e.into()),
            };
        let failed = format!("Tars reported patch_tars task {task_no} FAILED (\"{execute_info}\")");
        match node.landed(patch_id, &before).await? {
            Landing::Landed(row) => {
                let nudged = node.nudge(&row, old_pid).await?;
                match node.wait_or_relaunch(Some(patch_id), old_pid, &mut notes).await? {
                    Ok(row) => {
                        notes.push(format!(
                            "{failed}, but node {ip} took patch {patch_id}{nudged} and runs it, active with pid {} for {:.1}s: counted as done",
                            row.process_id,
                            timing.settle.as_secs_f64()
                        ));
                        return Ok(started(server, row, notes));
                    }
                    Err(not_running) => {
                        return Err(OpError::Refused(format!(
                            "server `{server}`: patch_tars task {task_no} on node {ip} FAILED: \"{execute_info}\"; the patch landed{nudged}, but the node {not_running}"
                        )));
                    }
                }
            }
            Landing::NotLanded(last)
                if attempt < timing.task_retries && is_transient_failure(&execute_info) =>
            {
                attempt += 1;
                let wait = back_off(timing, attempt);
                notes.push(format!(
                    "{failed} and node {ip} did not take the patch ({}); retried ({attempt} of {}) after {:.1}s",
                    last.as_ref().map_or("not listed".to_string(), |r| describe_row(r, Some(patch_id))),
                    timing.task_retries,
                    wait.as_secs_f64()
                ));
                tokio::time::sleep(wait).await;
            }
            Landing::NotLanded(last) => {
                let seen = last.as_ref().map_or("is not listed".to_string(), |r| {
                    format!("shows {}", describe_row(r, Some(patch_id)))
                });
                let tried = if attempt > 0 {
                    format!(" (after {attempt} retries: {})", notes.join("; "))
                } else {
                    String::new()
                };
                return Err(OpError::Refused(format!(
                    "server `{server}`: patch_tars task {task_no} on node {ip} FAILED: \"{execute_info}\"; the node did not take patch {patch_id}: it {seen}{tried}"
                )));
            }
        }
    }
}

/// The wait before submitting a patch again: the settle window times the attempt,
/// at least one poll, at most half a minute.
fn back_off(timing: Timing, attempt: u32) -> Duration {
    (timing.settle.max(timing.poll) * attempt).min(Duration::from_secs(30))
}

/// The health gate of a node just started or restarted (no patch), restarting a lost
/// launch as [`patch_and_check`] does; with the note of the restarts.
pub async fn wait_started<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
) -> OpResult<Result<Started, NotRunning>> {
    let node = Node {
        api,
        timing,
        app,
        server,
        ip,
    };
    let mut notes = Vec::new();
    let outcome = node.wait_or_relaunch(None, None, &mut notes).await?;
    Ok(outcome.map(|row| started(server, row, notes)))
}

fn started(server: &str, row: ServerConf, notes: Vec<String>) -> Started {
    let note = (!notes.is_empty()).then(|| format!("server `{server}`: {}", notes.join("; ")));
    Started { row, note }
}

/// What the node's row says about a patch Tars reported FAILED.
enum Landing {
    /// The row shows the new patch version (tarsnode reported it).
    Landed(ServerConf),
    /// Not within the evidence window; the last row seen.
    NotLanded(Option<ServerConf>),
}

/// One node of one server, for the reads and nudges after a FAILED verdict.
struct Node<'a, C> {
    api: &'a C,
    timing: Timing,
    app: &'a str,
    server: &'a str,
    ip: &'a str,
}

impl<C: TarsApi> Node<'_, C> {
    /// The health gate, with relaunches: a real tarsnode now and then loses a launch (the
    /// process never reaches its keep-alive: the admin port tarsnode picked at random was
    /// taken) and shows the node `activating` until its 60-s activating timeout, then
    /// `inactive`, often for good (its restart limit reached). A restart reuses the port:
    /// it runs once the port is free again. A node still `activating` after
    /// [`RELAUNCH_AFTER`] (or 5/8 of a shorter time left of `--start-timeout`) is
    /// restarted once; one left `inactive` while set to run is restarted (again) while
    /// the rest leaves time to settle, [`RELAUNCHES`] times in all. tarsnode punishes more
    /// launches a minute (10 minutes without any), so a relaunch still `activating` is
    /// left to tarsnode's own timeout.
    async fn wait_or_relaunch(
        &self,
        patch: Option<u64>,
        old_pid: Option<i64>,
        notes: &mut Vec<String>,
    ) -> OpResult<Result<ServerConf, NotRunning>> {
        let (api, app, server, ip) = (self.api, self.app, self.server, self.ip);
        let gate = self.timing.gate();
        let started = Instant::now();
        let mut relaunches = Relaunches::default();
        let mut replacing = old_pid;
        loop {
            let remaining = gate.timeout.saturating_sub(started.elapsed());
            let window = (remaining * 5 / 8).min(RELAUNCH_AFTER);
            // A relaunched node needs time left to come up and settle.
            let may_relaunch =
                relaunches.verdicts.len() < RELAUNCHES && remaining.saturating_sub(window) >= gate.settle;
            let this = gate.within(if may_relaunch { window } else { remaining });
            let waiting = Instant::now();
            let not_running =
                match wait_running_replacing(api, app, server, ip, patch, replacing, this).await? {
                    Ok(row) => {
                        if let Some(note) = relaunches.note() {
                            notes.push(format!("{note} and it runs"));
                        }
                        return Ok(Ok(row));
                    }
                    // Broke (a crash loop) or no time to relaunch: the verdict stands.
                    Err(n) if !may_relaunch || waiting.elapsed() < this.timeout => {
                        return Ok(Err(relaunches.explain(n)));
                    }
                    Err(n) => n,
                };
            let row = match not_running.last.as_ref().map(|row| (launch(row), row)) {
                Some((Launch::Stuck, row)) if relaunches.verdicts.is_empty() => row,
                Some((Launch::GivenUp, row)) => row,
                // A relaunch still activating: tarsnode's own timeout comes first.
                Some((Launch::Stuck, _)) => continue,
                // Stopped, or not listed: no relaunch.
                _ => {
                    let rest = gate.within(gate.timeout.saturating_sub(started.elapsed()));
                    let outcome =
                        wait_running_replacing(api, app, server, ip, patch, replacing, rest).await?;
                    return Ok(outcome.map_err(|n| relaunches.explain(n)));
                }
            };
            if relaunches.verdicts.is_empty() {
                relaunches.stuck = format!(
                    "node {ip} stayed `{}` for {:.1}s (pid {})",
                    row.present_state,
                    started.elapsed().as_secs_f64(),
                    row.process_id
                );
            }
            relaunches
                .verdicts
                .push(self.send(row.id, TaskCommand::Restart).await?);
            replacing = Some(row.process_id).filter(|pid| *pid > 0).or(replacing);
        }
    }

    /// Reads the row until it shows that `patch_id` landed, or the evidence window passed.
    async fn landed(&self, patch_id: u64, before: &ServerConf) -> OpResult<Landing> {
        let until = Instant::now() + self.timing.evidence_window();
        let poll = self.timing.gate().poll;
        loop {
            let row = find_node(self.api, self.app, self.server, self.ip).await?;
            if let Some(row) = row.as_ref().filter(|r| shows_landed(r, before, patch_id)) {
                return Ok(Landing::Landed(row.clone()));
            }
            if Instant::now() >= until {
                return Ok(Landing::NotLanded(row));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Runs `command` on the node's row; its verdict (evidence only), for a note.
    async fn send(&self, row_id: u64, command: TaskCommand) -> OpResult<String> {
        let req = TaskRequest::single(row_id, command, Default::default());
        match run_task(self.api, &req, self.timing.task_polls(), self.timing.task_timeout).await {
            Ok(report) => Ok(format!("task {} succeeded", report.task_no)),
            Err(TarsError::TaskFailed {
                task_no,
                execute_info,
                ..
            }) => Ok(format!("task {task_no} FAILED (\"{execute_info}\")")),
            Err(e) => Err(e.into()),
        }
    }

    /// A landed patch whose restart the framework did not finish: `start` when the node
    /// was left stopped (setting_state `inactive`), `restart` when the old process still
    /// runs. Their verdicts are evidence too: the health gate decides. Returns what was
    /// done, for the note.
    async fn nudge(&self, row: &ServerConf, old_pid: Option<i64>) -> OpResult<String> {
        let command = if row.setting_state != "active" {
            TaskCommand::Start
        } else if row.present_state == "active" && old_pid == Some(row.process_id) {
            TaskCommand::Restart
        } else {
            return Ok(String::new());
        };
        let verdict = self.send(row.id, command).await?;
        Ok(format!(
            " (left {}: sent `{}`, {verdict})",
            if command == TaskCommand::Start {
                "stopped"
            } else {
                "on its old process"
            },
            command.as_str()
        ))
    }
}

/// The row shows `patch_id` as a change: a new version, or the same version with a new
/// `patch_time` (tarsnode reports both when a patch lands). A row that showed `patch_id`
/// before (an expanded node copies its source's version) proves nothing by its version.
/// How long a started node may stay `activating` before it is restarted: a start on the
/// real kit takes 2–10 s; a lost launch stays `activating` for tarsnode's 60 s, and its
/// port, taken by a connection in `TIME_WAIT`, is free again within 60 s. Restarting
/// sooner only loses the launch again (5 of 5 times on the kit) and counts towards
/// tarsnode's limits; by 65 s tarsnode relaunched it, or gave up (then it is restarted).
const RELAUNCH_AFTER: Duration = Duration::from_secs(65);

/// Restarts of one lost launch at most: one while `activating` at [`RELAUNCH_AFTER`],
/// one after tarsnode's 60-s activating timeout gave up on it (within the default
/// `--start-timeout`).
const RELAUNCHES: usize = 2;

/// How a launch that is not running looks.
enum Launch {
    /// `activating` with no keep-alive yet.
    Stuck,
    /// `inactive` although set to run: tarsnode gave up and does not relaunch it.
    GivenUp,
    /// Anything else (stopped, say): no relaunch.
    Other,
}

fn launch(row: &ServerConf) -> Launch {
    match (row.present_state.as_str(), row.setting_state.as_str()) {
        ("activating", _) => Launch::Stuck,
        ("inactive", "active") => Launch::GivenUp,
        _ => Launch::Other,
    }
}

/// The restarts sent for a lost launch, for the note or the error.
#[derive(Default)]
struct Relaunches {
    /// How the node looked before the first, e.g. "node 10.0.0.1 stayed `activating` for 65.0s (pid 7)".
    stuck: String,
    /// Each restart's task verdict.
    verdicts: Vec<String>,
}

impl Relaunches {
    /// "… : sent `restart` once (task … succeeded)"; `None` without restarts.
    fn note(&self) -> Option<String> {
        (!self.verdicts.is_empty()).then(|| {
            format!(
                "{}: sent `restart` {} ({})",
                self.stuck,
                self.times(),
                self.verdicts.join("; ")
            )
        })
    }

    fn times(&self) -> String {
        match self.verdicts.len() {
            1 => "once".into(),
            n => format!("{n} times"),
        }
    }

    /// `not_running`, with the restarts sent before it.
    fn explain(&self, not_running: NotRunning) -> NotRunning {
        if self.verdicts.is_empty() {
            return not_running;
        }
        NotRunning {
            reason: format!(
                "{}, was restarted {} ({}), and then {}",
                self.stuck,
                self.times(),
                self.verdicts.join("; "),
                not_running.reason
            ),
            last: not_running.last,
        }
    }
}

fn shows_landed(row: &ServerConf, before: &ServerConf, patch_id: u64) -> bool {
    row.patch_id() == Some(patch_id)
        && (before.patch_id() != Some(patch_id) || row.patch_time != before.patch_time)
}

/// The node's row; a group of starting steps shares one read of the server's rows.
async fn node_row<C: TarsApi>(
    api: &C,
    timing: Timing,
    app: &str,
    server: &str,
    ip: &str,
) -> OpResult<ServerConf> {
    let rows = server_rows(api, app, server, timing.gate().poll / 2).await?;
    rows.into_iter().find(|r| r.node_name == ip).ok_or_else(|| {
        OpError::Refused(format!(
            "server `{server}`: node {ip} is not registered in Tars (application {app})"
        ))
    })
}

pub(super) fn not_running_message(
    server: &str,
    ip: &str,
    command: &str,
    task_no: &str,
    not_running: &NotRunning,
) -> String {
    format!(
        "server `{server}`: node {ip} is not running although {command} task {task_no} succeeded: it {not_running}\nhint: the binary may exit at start; read its log on {ip} (Tars web → server → logs, or <tars root>/app_log/<app>/{server}/)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: &str, time: &str) -> ServerConf {
        serde_json::from_value(serde_json::json!({
            "id": 1, "node_name": "127.0.0.1", "setting_state": "active",
            "present_state": "inactive", "process_id": 0,
            "patch_version": version, "patch_time": time
        }))
        .unwrap()
    }

    #[test]
    fn a_patch_landed_only_when_the_row_changed_to_it() {
        let fresh = row("", "");
        assert!(shows_landed(&row("7", "2026-11-29 10:00:01"), &fresh, 7));
        assert!(!shows_landed(&row("6", "2026-11-29 10:00:01"), &fresh, 7));
        // An expanded node shows its source's version before any patch of its own.
        let copied = row("7", "2026-11-29 09:00:00");
        assert!(!shows_landed(&copied, &copied, 7));
        assert!(shows_landed(&row("7", "2026-11-29 10:00:01"), &copied, 7));
    }
}
