//! Batched tasks: steps the engine starts together as one group send their first task
//! as one item of a single `add_task` (non-serial: Tars runs up to 5 items at once),
//! polled once for all; each step gets the verdict of its own item. The group's health
//! waits share one `server_list` read per server and poll.
//!
//! A group is a [`Gathering`] of members. A member that reaches its task joins; one
//! that ends without a task leaves. When every member still in the group has joined,
//! the last to join sends the task. Later tasks of a member (retries, nudges) run alone.

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
}

/// One group of steps whose first tasks go out as one `add_task`.
pub struct Gathering {
    state: Mutex<Gather>,
    changed: watch::Sender<u64>,
    /// `(app, server)` → the last `server_list` read and when it was made.
    rows: Mutex<HashMap<(String, String), Arc<RowsRead>>>,
}

/// One server's last `server_list` read and when it was asked (one reader at a time).
type RowsRead = tokio::sync::Mutex<Option<(Instant, Vec<ServerConf>)>>;

struct Gather {
    /// Members that may still join (not left without joining).
    expected: usize,
    waiting: Vec<Entry>,
    joined: HashSet<usize>,
    left: HashSet<usize>,
    sent: bool,
    verdicts: HashMap<usize, Result<TaskReport, TarsError>>,
    /// When each member's last task ended: rows read before then are stale to it.
    task_ended: HashMap<usize, Instant>,
}

struct Entry {
    member: usize,
    server: String,
    node: String,
    item: TaskItemRequest,
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
                task_ended: HashMap::new(),
            }),
            changed: watch::channel(0).0,
            rows: Mutex::new(HashMap::new()),
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

    /// Adds `item` to the group's task and waits for its verdict; `None` when this
    /// member already joined or the task was sent (the caller runs its task alone).
    async fn join<C: TarsApi>(
        &self,
        api: &C,
        member: usize,
        (server, node): (&str, &str),
        item: &TaskItemRequest,
        poll: PollSchedule,
        timeout: Duration,
    ) -> Option<Result<TaskReport, TarsError>> {
        let mut changed = self.changed.subscribe();
        {
            let mut g = self.lock();
            if g.sent || g.left.contains(&member) || !g.joined.insert(member) {
                return None;
            }
            g.waiting.push(Entry {
                member,
                server: server.to_string(),
                node: node.to_string(),
                item: item.clone(),
            });
        }
        loop {
            let batch = {
                let mut g = self.lock();
                if let Some(verdict) = g.verdicts.remove(&member) {
                    g.task_ended.insert(member, Instant::now());
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
                let mut verdicts = send(api, &entries, poll, timeout).await;
                let mine = verdicts.remove(&member);
                self.lock().verdicts.extend(verdicts);
                self.wake();
                return mine;
            }
            if changed.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The rows of `server`, read at most once per `max_age` for the whole group (never
    /// a read from before `member`'s last task ended).
    async fn server_rows<C: TarsApi>(
        &self,
        api: &C,
        member: usize,
        app: &str,
        server: &str,
        max_age: Duration,
    ) -> Result<Vec<ServerConf>, TarsError> {
        let not_before = self.lock().task_ended.get(&member).copied();
        let slot = self
            .rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((app.to_string(), server.to_string()))
            .or_default()
            .clone();
        let mut last = slot.lock().await;
        if let Some((at, rows)) = last.as_ref()
            && at.elapsed() < max_age
            && not_before.is_none_or(|t| *at > t)
        {
            return Ok(rows.clone());
        }
        let asked = Instant::now();
        let rows = api.server_list(app, Some(server)).await?;
        *last = Some((asked, rows.clone()));
        Ok(rows)
    }
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
        Ok(task_no) => poll_task(api, &task_no, &command, started, poll, timeout)
            .await
            .map(|(task, polls)| (task_no, task, polls)),
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
    if let ([item], Ok((gathering, member))) = (req.items.as_slice(), MEMBER.try_with(Clone::clone))
        && let Some(verdict) = gathering.join(api, member, who, item, poll, timeout).await
    {
        return verdict;
    }
    run_task(api, req, poll, timeout).await
}

/// `server_list` of `server`; inside a group, one read per `max_age` serves every member.
pub async fn server_rows<C: TarsApi>(
    api: &C,
    app: &str,
    server: &str,
    max_age: Duration,
) -> Result<Vec<ServerConf>, TarsError> {
    match MEMBER.try_with(Clone::clone) {
        Ok((gathering, member)) => gathering.server_rows(api, member, app, server, max_age).await,
        Err(_) => api.server_list(app, Some(server)).await,
    }
}

/// Notes that the current member's task ended (rows read before are stale to it).
pub(crate) fn task_ended() {
    let _ = MEMBER.try_with(|(g, member)| {
        g.lock().task_ended.insert(*member, Instant::now());
    });
}

/// Runs `work` in `gathering` as `member`, or plainly without a group.
pub async fn within<F: Future>(gathering: Option<(Arc<Gathering>, usize)>, work: F) -> F::Output {
    match gathering {
        Some((g, member)) => g.member(member, work).await,
        None => work.await,
    }
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
