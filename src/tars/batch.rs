//! Batched tasks: steps the engine starts together as one group send their first task
//! as one item of a single `add_task` (non-serial: Tars runs up to 5 items at once),
//! polled once for all; each step gets the verdict of its own item. Health waits of
//! all steps share `server_list` reads per server ([`server_rows`]).
//!
//! A group is a [`Gathering`] of members. A member that reaches its task joins; one
//! that ends without a task leaves. When every member still in the group has joined,
//! the last to join sends the task. Later tasks of a member (retries, nudges) run alone.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::api::TarsApi;
use super::dto::ServerConf;
use super::error::TarsError;
use super::task::{Task, TaskItemRequest, TaskRequest};
use super::wait::{PollSchedule, TaskReport, poll_task, run_task, task_verdict};

tokio::task_local! {
    static MEMBER: (Arc<Gathering>, usize);
    /// The oldest start a `server_list` read may have for the current step.
    static FRESH_SINCE: Cell<Instant>;
}

/// One group of steps whose first tasks go out as one `add_task`.
pub struct Gathering {
    state: Mutex<Gather>,
    changed: watch::Sender<u64>,
}

struct Gather {
    /// Members that may still join (not left without joining).
    expected: usize,
    waiting: Vec<Joining>,
    joined: HashSet<usize>,
    left: HashSet<usize>,
    sent: bool,
    verdicts: HashMap<usize, Answer>,
    /// When the group's answers were ready: every member's reads after its task start here.
    answered: Option<Instant>,
}

struct Entry {
    member: usize,
    server: String,
    node: String,
    item: TaskItemRequest,
    /// The member's step, whose progress line shows the shared task.
    step: Option<String>,
}

/// A new node to register by expanding `server` from its node `source`.
#[derive(Debug, Clone)]
pub struct Registration {
    pub app: String,
    pub server: String,
    pub source: String,
    pub obj_name: String,
    pub ip: String,
}

/// How one member's registration went: `port` is `None` when no `expand_server` was
/// sent for it (the error says why; with `Ok`, the preview offered no servant for it,
/// or `existing` shows the node was registered already). `row` is the node's row in
/// the group's one `server_list` read after the expansion, when it was there.
#[derive(Debug, Clone)]
pub struct Registered {
    pub port: Option<u16>,
    pub outcome: Result<(), TarsError>,
    pub existing: Option<Box<ServerConf>>,
    pub row: Option<Box<ServerConf>>,
}

impl Registered {
    fn unsent(outcome: Result<(), TarsError>) -> Registered {
        Registered {
            port: None,
            outcome,
            existing: None,
            row: None,
        }
    }
}

/// What a member adds to the group's call.
enum Joining {
    Task(Entry),
    Register(usize, Registration),
}

enum Answer {
    Task(Result<TaskReport, TarsError>),
    Register(Registered),
}

impl Gathering {
    pub fn new(members: usize) -> Arc<Gathering> {
        Arc::new(Gathering {
            state: Mutex::new(Gather {
                expected: members,
                waiting: Vec::new(),
                joined: HashSet::new(),
                left: HashSet::new(),
                sent: false,
                verdicts: HashMap::new(),
                answered: None,
            }),
            changed: watch::channel(0).0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gather> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Runs `work` as member `member` (0-based); it leaves the group when it ends.
    pub async fn member<F: Future>(self: Arc<Self>, member: usize, work: F) -> F::Output {
        let out = MEMBER.scope((self.clone(), member), work).await;
        self.leave(member);
        out
    }

    /// A member that never joined stops counting; one that joined is unaffected.
    fn leave(&self, member: usize) {
        {
            let mut g = self.lock();
            if g.sent || g.joined.contains(&member) || !g.left.insert(member) {
                return;
            }
            g.expected = g.expected.saturating_sub(1);
        }
        self.wake();
    }

    /// Adds `joining` to the group's call and waits for its answer; `None` when this
    /// member already joined or the call was sent (the caller acts alone).
    async fn join<C: TarsApi>(
        &self,
        api: &C,
        member: usize,
        joining: Joining,
        poll: PollSchedule,
        timeout: Duration,
    ) -> Option<Answer> {
        let mut changed = self.changed.subscribe();
        {
            let mut g = self.lock();
            if g.sent || g.left.contains(&member) || !g.joined.insert(member) {
                return None;
            }
            g.waiting.push(joining);
        }
        loop {
            let batch = {
                let mut g = self.lock();
                if let Some(verdict) = g.verdicts.remove(&member) {
                    let answered = g.answered.unwrap_or_else(Instant::now);
                    drop(g);
                    task_ended_at(answered);
                    return Some(verdict);
                }
                if !g.sent && g.waiting.len() >= g.expected {
                    g.sent = true;
                    Some(std::mem::take(&mut g.waiting))
                } else {
                    None
                }
            };
            if let Some(entries) = batch {
                let mut verdicts = send_all(api, entries, poll, timeout).await;
                let mine = verdicts.remove(&member);
                // One moment for all: members' later reads may share requests.
                let answered = Instant::now();
                {
                    let mut g = self.lock();
                    g.verdicts.extend(verdicts);
                    g.answered = Some(answered);
                }
                task_ended_at(answered);
                self.wake();
                return mine;
            }
            if changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// Sends what the group gathered: its task items as one task, its registrations as one
/// expansion per server.
async fn send_all<C: TarsApi>(
    api: &C,
    entries: Vec<Joining>,
    poll: PollSchedule,
    timeout: Duration,
) -> HashMap<usize, Answer> {
    let (mut tasks, mut registrations) = (Vec::new(), Vec::new());
    for entry in entries {
        match entry {
            Joining::Task(e) => tasks.push(e),
            Joining::Register(member, r) => registrations.push((member, r)),
        }
    }
    let mut answers = HashMap::new();
    if !tasks.is_empty() {
        answers.extend(
            send(api, &tasks, poll, timeout)
                .await
                .into_iter()
                .map(|(m, v)| (m, Answer::Task(v))),
        );
    }
    answers.extend(
        register_all(api, registrations)
            .await
            .into_iter()
            .map(|(m, r)| (m, Answer::Register(r))),
    );
    answers
}

/// One `auto_port`, one `expand_server_preview` and one `expand_server` for every new
/// node of a server that expands from the same source node.
/// Registers each group of members expanding one server from one source with one
/// `server_list` read before (nodes already there are refused), one `auto_port`, one
/// `expand_server_preview`, one `expand_server` and one `server_list` read after.
async fn register_all<C: TarsApi>(
    api: &C,
    mut members: Vec<(usize, Registration)>,
) -> HashMap<usize, Registered> {
    let mut answers = HashMap::new();
    members.sort_by(|a, b| (&a.1.app, &a.1.server, &a.1.source).cmp(&(&b.1.app, &b.1.server, &b.1.source)));
    for group in
        members.chunk_by(|a, b| (&a.1.app, &a.1.server, &a.1.source) == (&b.1.app, &b.1.server, &b.1.source))
    {
        answers.extend(register_group(api, group).await);
    }
    answers
}

async fn register_group<C: TarsApi>(api: &C, group: &[(usize, Registration)]) -> Vec<(usize, Registered)> {
    use super::dto::ExpandRequest;
    let first = &group[0].1;
    let (app, server, source) = (&first.app, &first.server, &first.source);
    let fail_all = |members: &[(usize, Registration)], e: TarsError| {
        members
            .iter()
            .map(|(member, _)| (*member, Registered::unsent(Err(e.clone()))))
            .collect::<Vec<_>>()
    };
    // Any read since this step started shows whether a node was registered meanwhile.
    let before = match server_rows(api, app, server, Duration::MAX).await {
        Ok(rows) => rows,
        Err(e) => return fail_all(group, e),
    };
    let (present, fresh): (Vec<_>, Vec<_>) = group
        .iter()
        .cloned()
        .partition(|(_, r)| before.iter().any(|row| row.node_name == r.ip));
    let mut answers: Vec<(usize, Registered)> = present
        .into_iter()
        .map(|(member, r)| {
            let existing = before
                .iter()
                .find(|row| row.node_name == r.ip)
                .cloned()
                .map(Box::new);
            (
                member,
                Registered {
                    existing,
                    ..Registered::unsent(Ok(()))
                },
            )
        })
        .collect();
    if fresh.is_empty() {
        return answers;
    }
    let ips: Vec<String> = fresh.iter().map(|(_, r)| r.ip.clone()).collect();
    let ports = match api.auto_ports(&ips).await {
        Ok(ports) => ports,
        Err(e) => return [answers, fail_all(&fresh, e)].concat(),
    };
    let nodes: Vec<(&str, &str, u16)> = fresh
        .iter()
        .zip(&ports)
        .map(|((_, r), port)| (r.ip.as_str(), r.obj_name.as_str(), *port))
        .collect();
    let outcome = api
        .expand_server(&ExpandRequest::direct(app, server, source, &nodes))
        .await;
    // A refused expansion: does the source lack the servant (the preview tells)?
    if let Err(TarsError::Api(_)) = &outcome
        && !offers_servant(api, group, fresh.iter().map(|(_, r)| r.ip.as_str()).collect()).await
    {
        answers.extend(
            fresh
                .iter()
                .map(|(member, _)| (*member, Registered::unsent(Ok(())))),
        );
        return answers;
    }
    let sent: Vec<(usize, &str, u16)> = fresh
        .iter()
        .zip(ports)
        .map(|((member, r), port)| (*member, r.ip.as_str(), port))
        .collect();
    // A failed expansion, or a failed read after, leaves each member to read its row.
    let after = match &outcome {
        Ok(()) => api
            .server_list_since(app, server, Instant::now())
            .await
            .map(|(_, rows)| rows)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for (member, ip, port) in sent {
        answers.push((
            member,
            Registered {
                port: Some(port),
                outcome: outcome.clone(),
                existing: None,
                row: after
                    .iter()
                    .find(|row| row.node_name == ip)
                    .cloned()
                    .map(Box::new),
            },
        ));
    }
    answers
}

/// Sends the group's items as one task and splits the answer by item.
async fn send<C: TarsApi>(
    api: &C,
    entries: &[Entry],
    poll: PollSchedule,
    timeout: Duration,
) -> HashMap<usize, Result<TaskReport, TarsError>> {
    let req = TaskRequest {
        serial: entries.len() == 1,
        items: entries.iter().map(|e| e.item.clone()).collect(),
    };
    let command = req.command_summary();
    let started = Instant::now();
    let polled = match api.add_task(&req).await {
        Ok(task_no) => {
            super::board::follow(&task_no, entries.iter().filter_map(|e| e.step.clone()).collect());
            poll_task(api, &task_no, &command, started, poll, timeout)
                .await
                .map(|(task, polls)| (task_no, task, polls))
        }
        Err(e) => Err(e),
    };
    entries
        .iter()
        .map(|e| {
            let verdict = match &polled {
                Ok((task_no, task, polls)) => item_verdict(task_no, task, e, *polls, started.elapsed()),
                Err(err) => Err(err.clone()),
            };
            (e.member, verdict)
        })
        .collect()
}

/// The verdict of `entry`'s item in a finished task: a task of that item alone.
fn item_verdict(
    task_no: &str,
    task: &Task,
    entry: &Entry,
    polls: u32,
    elapsed: Duration,
) -> Result<TaskReport, TarsError> {
    let item = task.items.iter().find(|i| {
        i.node_name == entry.node
            && (i.server_name.is_empty() || i.server_name == entry.server)
            && i.command == entry.item.command
    });
    let Some(item) = item else {
        return Err(TarsError::TaskFailed {
            task_no: task_no.to_string(),
            command: entry.item.command.clone(),
            node: entry.node.clone(),
            status: super::task::TaskState::Unknown,
            execute_info: "the task's answer has no item for this node".to_string(),
        });
    };
    let own = Task {
        items: vec![item.clone()],
        ..task.clone()
    };
    task_verdict(task_no, &entry.item.command, own, polls, elapsed)
}

/// [`run_task`] for a one-item task on `node` of `server`: inside a group, the item joins
/// the group's task (the first time only).
pub async fn run_task_for<C: TarsApi>(
    api: &C,
    who: (&str, &str),
    req: &TaskRequest,
    poll: PollSchedule,
    timeout: Duration,
) -> Result<TaskReport, TarsError> {
    if let ([item], Ok((gathering, member))) = (req.items.as_slice(), MEMBER.try_with(Clone::clone)) {
        let entry = Entry {
            member,
            server: who.0.to_string(),
            node: who.1.to_string(),
            item: item.clone(),
            step: super::board::current_step(),
        };
        if let Some(Answer::Task(verdict)) = gathering
            .join(api, member, Joining::Task(entry), poll, timeout)
            .await
        {
            return verdict;
        }
    }
    run_task(api, req, poll, timeout).await
}

/// Inside a group, registers `registration` together with the group's other new nodes;
/// `None` outside a group or once this member acted (the caller registers alone).
/// Whether `expand_server_preview` offers the group's servant on each of `ips` (a
/// failed preview proves nothing: `true`).
async fn offers_servant<C: TarsApi>(api: &C, group: &[(usize, Registration)], ips: Vec<&str>) -> bool {
    let first = &group[0].1;
    let request = super::dto::ExpandPreviewRequest::new(&first.app, &first.server, &first.source, &ips);
    match api.expand_server_preview(&request).await {
        Ok(preview) => ips.iter().all(|ip| {
            preview
                .iter()
                .any(|i| i.node_name == *ip && i.obj_name == first.obj_name)
        }),
        Err(_) => true,
    }
}

pub async fn register_together<C: TarsApi>(api: &C, registration: Registration) -> Option<Registered> {
    let (gathering, member) = MEMBER.try_with(Clone::clone).ok()?;
    let joining = Joining::Register(member, registration);
    // Registrations poll nothing: the schedule and timeout are unused.
    let unused = (PollSchedule::fixed(Duration::ZERO), Duration::ZERO);
    match gathering.join(api, member, joining, unused.0, unused.1).await {
        Some(Answer::Register(registered)) => Some(registered),
        _ => None,
    }
}

/// The rows of `server` for a poller that accepts a read up to `max_age` old: every
/// step polling one server shares the reads. Never a read that started before the
/// current step did or before its last task ended (see [`within`]); outside a step,
/// a fresh read.
pub async fn server_rows<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    max_age: Duration,
) -> Result<Vec<ServerConf>, TarsError> {
    let now = Instant::now();
    let oldest = now.checked_sub(max_age).unwrap_or(now);
    Ok(server_rows_at(api, app, server, oldest).await?.1)
}

/// [`server_rows`] from a request started at or after `oldest`, with when the answering
/// request started (what Tars showed then).
pub async fn server_rows_at<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    oldest: Instant,
) -> Result<(Instant, Vec<ServerConf>), TarsError> {
    let since = match FRESH_SINCE.try_with(Cell::get) {
        Ok(floor) => oldest.max(floor),
        Err(_) => Instant::now(),
    };
    api.server_list_since(app, server, since).await
}

/// Notes that the current step's task ended: rows read before are stale to it.
pub(crate) fn task_ended() {
    task_ended_at(Instant::now());
}

/// [`task_ended`], known to be over at `at`.
fn task_ended_at(at: Instant) {
    let _ = FRESH_SINCE.try_with(|floor| floor.set(at));
}

/// The oldest start a read may have for the current step: when it was dispatched, or
/// when its last task ended. Outside a step: now (every read fresh).
pub fn step_floor() -> Instant {
    FRESH_SINCE.try_with(Cell::get).unwrap_or_else(|_| Instant::now())
}

/// Runs the step `work` in `gathering` as `member`, or without a group; rows read
/// before `dispatched` (when the step was started, after all it depends on ended) are
/// stale to it. Steps dispatched at one moment may share reads made since.
pub async fn within<F: Future>(
    gathering: Option<(Arc<Gathering>, usize)>,
    dispatched: Instant,
    work: F,
) -> F::Output {
    FRESH_SINCE
        .scope(Cell::new(dispatched), async move {
            match gathering {
                Some((g, member)) => g.member(member, work).await,
                None => work.await,
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tars::TaskItem;

    fn item(server: &str, node: &str, status: &str) -> TaskItem {
        serde_json::from_value(serde_json::json!({
            "server_name": server, "node_name": node, "command": "patch_tars",
            "status_info": status, "execute_info": format!("{status} on {node}")
        }))
        .unwrap()
    }

    fn entry(member: usize, server: &str, node: &str) -> Entry {
        Entry {
            member,
            server: server.into(),
            node: node.into(),
            item: TaskItemRequest {
                server_id: member as u64,
                command: "patch_tars".into(),
                parameters: Default::default(),
            },
            step: None,
        }
    }

    #[test]
    fn each_node_gets_the_verdict_of_its_own_item() {
        let task: Task = serde_json::from_value(serde_json::json!({"task_no": "t1", "status": 6})).unwrap();
        let task = Task {
            items: vec![
                item("rpc", "10.0.0.1", "EM_I_SUCCESS"),
                item("rpc", "10.0.0.2", "EM_I_FAILED"),
                item("gateway", "10.0.0.1", "EM_I_SUCCESS"),
            ],
            ..task
        };
        let ms = Duration::from_millis(1);
        let ok = item_verdict("t1", &task, &entry(0, "gateway", "10.0.0.1"), 2, ms).unwrap();
        assert_eq!(ok.task.items.len(), 1);
        assert_eq!(ok.task.items[0].server_name, "gateway");
        match item_verdict("t1", &task, &entry(1, "rpc", "10.0.0.2"), 2, ms) {
            Err(TarsError::TaskFailed {
                node, execute_info, ..
            }) => {
                assert_eq!(node, "10.0.0.2");
                assert!(execute_info.contains("10.0.0.2"), "{execute_info}");
            }
            other => panic!("{other:?}"),
        }
        match item_verdict("t1", &task, &entry(2, "rpc", "10.0.0.9"), 2, ms) {
            Err(TarsError::TaskFailed { execute_info, .. }) => {
                assert!(execute_info.contains("no item"), "{execute_info}")
            }
            other => panic!("a node without an item is not a success: {other:?}"),
        }
    }
}
