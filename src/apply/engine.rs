//! The generic step executor: runs a DAG of steps with bounded parallelism, stops
//! scheduling on the first failure or on cancellation, lets steps in flight finish,
//! then undoes the completed steps in reverse completion order (rustup's
//! `Transaction`: rollback is data). It knows nothing about Tars; a [`Runner`] does
//! the work of each step and returns the data its undo needs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use tokio::sync::{mpsc, watch};

/// What the engine needs to know about a step.
pub trait StepInfo {
    /// Unique, stable id (used in the journal and reports).
    fn id(&self) -> &str;
    /// Steps sharing a lane run one at a time (rolling restarts of one server).
    fn lane(&self) -> Option<&str> {
        None
    }
    /// Among ready steps, lower values start first (then the critical path, then the id).
    fn priority(&self) -> u8 {
        0
    }
    /// Relative cost, for the critical path (the longest chain of waiting work starts first).
    fn weight(&self) -> u32 {
        1
    }
    /// Steps that call Tars take one of the `parallelism` slots; local ones (key and
    /// certificate work, state bookkeeping) have slots of their own.
    fn calls_tars(&self) -> bool {
        true
    }
    /// Ready Tars steps of the same kind start together as one group, up to
    /// `task_batch` of them in one slot: their tasks go to Tars as one (see `tars::batch`).
    fn batch(&self) -> Option<&str> {
        None
    }
    /// Within a batch kind, steps of the same affinity (e.g. one server's nodes) are
    /// grouped first: their health waits share reads.
    fn affinity(&self) -> Option<&str> {
        None
    }
    /// The most steps of this one's kind in one group, given `--task-batch`.
    fn batch_limit(&self, task_batch: usize) -> usize {
        task_batch
    }
    /// A short group of this kind may wait up to [`ExecOptions::gather`] for more steps
    /// of its kind that are still to become ready (fewer, fuller tasks).
    fn gathers(&self) -> bool {
        false
    }
}

/// Performs steps and their inverses.
pub trait Runner: Send + Sync + 'static {
    type Step: StepInfo + Send + Sync + 'static;
    /// What a completed step recorded for its undo.
    type Undo: Clone + Send + Sync + 'static;

    fn run(&self, step: &Self::Step) -> impl Future<Output = Result<Self::Undo, String>> + Send;
    fn undo(&self, step: &Self::Step, undo: &Self::Undo) -> impl Future<Output = Result<(), String>> + Send;
}

/// Observes progress (progress bars on a terminal, plain lines otherwise, captured in tests).
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event<'_>);
}

#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Started { step: &'a str },
    Completed { step: &'a str },
    Failed { step: &'a str, error: &'a str },
    Skipped { step: &'a str },
    UndoStarted { step: &'a str },
    Undone { step: &'a str },
    UndoFailed { step: &'a str, error: &'a str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagError {
    Cycle { steps: Vec<String> },
    UnknownDependency { step: String, dependency: String },
    DuplicateStep { step: String },
}

impl std::fmt::Display for DagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DagError::Cycle { steps } => write!(f, "the apply steps form a cycle: {}", steps.join(" -> ")),
            DagError::UnknownDependency { step, dependency } => {
                write!(f, "step `{step}` depends on unknown step `{dependency}`")
            }
            DagError::DuplicateStep { step } => write!(f, "step `{step}` is listed twice"),
        }
    }
}

impl std::error::Error for DagError {}

/// A DAG of steps: an edge `a -> b` means `b` waits for `a`.
pub struct StepDag<S> {
    graph: DiGraph<S, ()>,
}

impl<S: StepInfo> StepDag<S> {
    /// Builds the DAG from steps and `(step, depends_on)` pairs of ids; rejects cycles.
    pub fn new(steps: Vec<S>, edges: &[(String, String)]) -> Result<Self, DagError> {
        let mut graph = DiGraph::new();
        let mut index: HashMap<String, NodeIndex> = HashMap::new();
        for step in steps {
            let id = step.id().to_string();
            if index.contains_key(&id) {
                return Err(DagError::DuplicateStep { step: id });
            }
            index.insert(id, graph.add_node(step));
        }
        for (step, dep) in edges {
            let to = *index.get(step).ok_or_else(|| DagError::UnknownDependency {
                step: step.clone(),
                dependency: dep.clone(),
            })?;
            let from = *index.get(dep).ok_or_else(|| DagError::UnknownDependency {
                step: step.clone(),
                dependency: dep.clone(),
            })?;
            graph.update_edge(from, to, ());
        }
        if petgraph::algo::is_cyclic_directed(&graph) {
            let sccs = petgraph::algo::tarjan_scc(&graph);
            let cycle = sccs.into_iter().find(|c| c.len() > 1).unwrap_or_default();
            let mut steps: Vec<String> = cycle.iter().map(|i| graph[*i].id().to_string()).collect();
            steps.sort();
            return Err(DagError::Cycle { steps });
        }
        Ok(StepDag { graph })
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Step ids in a deterministic topological order (ties broken by id).
    pub fn order(&self) -> Vec<&str> {
        let mut indegree: BTreeMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| (n, self.graph.neighbors_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BTreeSet<(&str, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (self.graph[*n].id(), *n))
            .collect();
        let mut out = Vec::new();
        while let Some(first) = ready.pop_first() {
            out.push(first.0);
            for next in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                let d = indegree.get_mut(&next).expect("node index");
                *d -= 1;
                if *d == 0 {
                    ready.insert((self.graph[next].id(), next));
                }
            }
        }
        out
    }

    pub fn steps(&self) -> impl Iterator<Item = &S> {
        self.graph.node_weights()
    }

    /// The ids of the steps `id` waits for.
    pub fn dependencies_of(&self, id: &str) -> Vec<&str> {
        self.graph
            .node_indices()
            .find(|n| self.graph[*n].id() == id)
            .map(|n| {
                let mut deps: Vec<&str> = self
                    .graph
                    .neighbors_directed(n, Direction::Incoming)
                    .map(|d| self.graph[d].id())
                    .collect();
                deps.sort();
                deps
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    pub parallelism: usize,
    /// Undo completed steps after a failure or cancellation.
    pub rollback: bool,
    /// The most steps of one kind started together as one group ([`StepInfo::batch`]).
    pub task_batch: usize,
    /// How long a short group of a gathering kind ([`StepInfo::gathers`]) may wait, from
    /// its first member's readiness, while more of its kind are still to come.
    pub gather: std::time::Duration,
}

/// What happened to every step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecReport {
    /// In completion order.
    pub completed: Vec<String>,
    /// `(step, error)` of steps that failed.
    pub failed: Vec<(String, String)>,
    /// Steps never started because of a failure or cancellation.
    pub skipped: Vec<String>,
    pub cancelled: bool,
    /// In undo order.
    pub undone: Vec<String>,
    pub undo_failed: Vec<(String, String)>,
    /// Completed steps left in place (rollback disabled).
    pub kept: Vec<String>,
    /// How long the steps took, against the schedule's lower bound.
    pub schedule: ScheduleTimes,
}

/// The forward run's wall time and what no schedule could beat: the longest chain of
/// measured step times, and the Tars steps' summed time over the slots (or one lane's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleTimes {
    pub wall: std::time::Duration,
    pub critical_path: std::time::Duration,
    pub per_slot: std::time::Duration,
}

impl ScheduleTimes {
    /// The lower bound of the wall time.
    pub fn bound(&self) -> std::time::Duration {
        self.critical_path.max(self.per_slot)
    }
}

impl ExecReport {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && !self.cancelled && self.skipped.is_empty()
    }

    /// True when a failure was followed by a rollback that undid everything.
    pub fn rolled_back_cleanly(&self) -> bool {
        !self.succeeded() && self.undo_failed.is_empty() && self.kept.is_empty()
    }
}

enum Done<U> {
    Ok(NodeIndex, U, std::time::Duration),
    Err(NodeIndex, String, std::time::Duration),
    /// Stopped before it began: a failure or cancellation came while it waited.
    NotRun(NodeIndex),
}

/// Runs the DAG. `cancel` flips to `true` on Ctrl-C/SIGTERM: no new step starts.
///
/// The scheduler starts a step only when it can run at once: its lane is free and a slot
/// of its kind is (`parallelism` slots for steps that call Tars, as many again for local
/// ones). Among startable steps, lower `priority` first, then the longest remaining chain
/// of work (critical path), then the id.
pub async fn execute<R: Runner>(
    dag: StepDag<R::Step>,
    runner: Arc<R>,
    options: ExecOptions,
    mut cancel: watch::Receiver<bool>,
    reporter: Arc<dyn Reporter>,
) -> ExecReport {
    let rank = critical_path_rank(&dag.graph);
    let graph = Arc::new(dag.graph);
    let limit = options.parallelism.max(1);
    let task_batch = options.task_batch.max(1);
    let mut waiting: HashMap<NodeIndex, usize> = graph
        .node_indices()
        .map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    let key = |n: NodeIndex| ReadyKey {
        priority: graph[n].priority(),
        rank: Reverse(rank[n.index()]),
        id: graph[n].id().to_string(),
        node: n,
    };
    let mut ready: BTreeSet<ReadyKey> = waiting
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| key(*n))
        .collect();
    let mut held = Gather::new(&graph, &waiting, options.gather);
    let (tx, mut rx) = mpsc::unbounded_channel::<Done<R::Undo>>();
    let mut slots = Slots::default();
    let mut stopping = *cancel.borrow();
    let mut report = ExecReport {
        cancelled: stopping,
        ..ExecReport::default()
    };
    let mut completed: Vec<(NodeIndex, R::Undo)> = Vec::new();
    let mut started: HashSet<NodeIndex> = HashSet::new();
    let halt = Arc::new(AtomicBool::new(stopping));
    let mut watching = true;
    let began = std::time::Instant::now();
    let mut step_times: HashMap<NodeIndex, std::time::Duration> = HashMap::new();

    loop {
        // Set again by this round's held groups (a stopping run holds nothing).
        held.wake_at = None;
        if !stopping {
            let mut near = Near::default();
            let mut near =
                |kind: &str, taken: &HashSet<NodeIndex>| near.of(kind, &graph, &waiting, &started, taken);
            // Every step started this round: after all it depends on ended.
            let dispatched = std::time::Instant::now();
            for group in slots.pick(&ready, &*graph, limit, task_batch, &mut near, &mut held) {
                let gathering = (group.len() > 1).then(|| crate::tars::batch::Gathering::new(group.len()));
                for (member, picked) in group.into_iter().enumerate() {
                    ready.remove(&picked);
                    let node = picked.node;
                    started.insert(node);
                    let (graph, runner, tx, reporter, halt) = (
                        graph.clone(),
                        runner.clone(),
                        tx.clone(),
                        reporter.clone(),
                        halt.clone(),
                    );
                    let gathering = gathering.clone().map(|g| (g, member));
                    tokio::spawn(crate::tars::batch::within(gathering, dispatched, async move {
                        if halt.load(Ordering::SeqCst) {
                            let _ = tx.send(Done::NotRun(node));
                            return;
                        }
                        let step = &graph[node];
                        reporter.event(Event::Started { step: step.id() });
                        let began = std::time::Instant::now();
                        let done = match crate::tars::board::within_step(step.id(), runner.run(step)).await {
                            Ok(undo) => {
                                reporter.event(Event::Completed { step: step.id() });
                                Done::Ok(node, undo, began.elapsed())
                            }
                            Err(e) => {
                                reporter.event(Event::Failed {
                                    step: step.id(),
                                    error: &e,
                                });
                                Done::Err(node, e, began.elapsed())
                            }
                        };
                        let _ = tx.send(done);
                    }));
                }
            }
        }
        if slots.in_flight() == 0 {
            break;
        }
        let wake_at = held.wake_at;
        tokio::select! {
            done = rx.recv() => {
                let done = done.expect("sender held by the loop");
                slots.release(done.node(), &graph[done.node()]);
                match done {
                    Done::Ok(node, undo, took) => {
                        step_times.insert(node, took);
                        report.completed.push(graph[node].id().to_string());
                        completed.push((node, undo));
                        for next in graph.neighbors_directed(node, Direction::Outgoing) {
                            let d = waiting.get_mut(&next).expect("node index");
                            *d -= 1;
                            if *d == 0 {
                                ready.insert(key(next));
                                held.became_ready(next, &graph[next]);
                            }
                        }
                    }
                    Done::Err(node, e, took) => {
                        step_times.insert(node, took);
                        report.failed.push((graph[node].id().to_string(), e));
                        stopping = true;
                        halt.store(true, Ordering::SeqCst);
                    }
                    Done::NotRun(node) => {
                        started.remove(&node);
                    }
                }
            }
            _ = until(wake_at) => {}
            changed = cancel.changed(), if watching && !report.cancelled => {
                if changed.is_err() {
                    watching = false;
                } else if *cancel.borrow() {
                    report.cancelled = true;
                    stopping = true;
                    halt.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    report.schedule = schedule_times(&graph, &step_times, &slots.shared, limit, began.elapsed());
    let mut skipped: Vec<String> = graph
        .node_indices()
        .filter(|n| !started.contains(n))
        .map(|n| graph[n].id().to_string())
        .collect();
    skipped.sort();
    for s in &skipped {
        reporter.event(Event::Skipped { step: s });
    }
    report.skipped = skipped;

    if report.succeeded() {
        return report;
    }
    if !options.rollback {
        report.kept = report.completed.clone();
        return report;
    }
    for (node, undo) in completed.iter().rev() {
        let step = &graph[*node];
        reporter.event(Event::UndoStarted { step: step.id() });
        match runner.undo(step, undo).await {
            Ok(()) => {
                reporter.event(Event::Undone { step: step.id() });
                report.undone.push(step.id().to_string());
            }
            Err(e) => {
                reporter.event(Event::UndoFailed {
                    step: step.id(),
                    error: &e,
                });
                report.undo_failed.push((step.id().to_string(), e));
            }
        }
    }
    report
}

/// A ready step's place in the queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyKey {
    priority: u8,
    rank: Reverse<u64>,
    id: String,
    node: NodeIndex,
}

/// Steps in flight: per kind of slot, the lanes in use, and the groups sharing a slot.
#[derive(Default)]
struct Slots {
    tars: usize,
    local: usize,
    lanes: HashSet<String>,
    /// A grouped step → its group's number; a group holds one slot until its last step ends.
    group_of: HashMap<NodeIndex, usize>,
    group_left: HashMap<usize, usize>,
    groups: usize,
    /// How many steps shared each grouped step's slot (for the schedule's bound).
    shared: HashMap<NodeIndex, u32>,
}

impl Slots {
    fn in_flight(&self) -> usize {
        self.tars + self.local
    }

    /// Takes the ready steps that can start now, in queue order, and marks their slots.
    /// A batchable Tars step brings up to `task_batch - 1` ready steps of its kind (whose
    /// lanes are free) into its slot.
    fn pick<S: StepInfo>(
        &mut self,
        ready: &BTreeSet<ReadyKey>,
        graph: &DiGraph<S, ()>,
        limit: usize,
        task_batch: usize,
        near: &mut dyn FnMut(&str, &HashSet<NodeIndex>) -> bool,
        gather: &mut Gather,
    ) -> Vec<Vec<ReadyKey>> {
        let mut picked: Vec<Vec<ReadyKey>> = Vec::new();
        let mut taken: HashSet<NodeIndex> = HashSet::new();
        for key in ready {
            if self.tars >= limit && self.local >= limit {
                break;
            }
            if taken.contains(&key.node) {
                continue;
            }
            let step = &graph[key.node];
            let count = if step.calls_tars() { self.tars } else { self.local };
            if count >= limit || step.lane().is_some_and(|l| self.lanes.contains(l)) {
                continue;
            }
            let mut group = vec![key.clone()];
            if let Some(kind) = step.batch().filter(|_| step.calls_tars()) {
                let task_batch = step.batch_limit(task_batch).max(1);
                let mut lanes: HashSet<&str> = step.lane().into_iter().collect();
                let (akin, others): (Vec<&ReadyKey>, Vec<&ReadyKey>) = ready
                    .iter()
                    .filter(|o| graph[o.node].batch() == Some(kind))
                    .partition(|o| graph[o.node].affinity() == step.affinity());
                for other in akin.into_iter().chain(others) {
                    if group.len() >= task_batch {
                        break;
                    }
                    let s = &graph[other.node];
                    if other.node == key.node
                        || taken.contains(&other.node)
                        || !s.calls_tars()
                        || s.lane()
                            .is_some_and(|l| self.lanes.contains(l) || lanes.contains(l))
                    {
                        continue;
                    }
                    lanes.extend(s.lane());
                    group.push(other.clone());
                }
                // A short group waits while more of its kind are one completion away,
                // or (a gathering kind) for a while when more are still to come.
                if group.len() < task_batch
                    && (near(kind, &taken) || (self.in_flight() > 0 && gather.holds(step, kind, &group)))
                {
                    continue;
                }
            }
            for member in &group {
                taken.insert(member.node);
            }
            self.take(step);
            for other in &group[1..] {
                if let Some(lane) = graph[other.node].lane() {
                    self.lanes.insert(lane.to_string());
                }
            }
            if group.len() > 1 {
                self.groups += 1;
                self.group_left.insert(self.groups, group.len());
                for member in &group {
                    self.group_of.insert(member.node, self.groups);
                    self.shared.insert(member.node, group.len() as u32);
                }
            }
            picked.push(group);
        }
        picked
    }

    fn take<S: StepInfo>(&mut self, step: &S) {
        if step.calls_tars() {
            self.tars += 1;
        } else {
            self.local += 1;
        }
        if let Some(lane) = step.lane() {
            self.lanes.insert(lane.to_string());
        }
    }

    fn release<S: StepInfo>(&mut self, node: NodeIndex, step: &S) {
        if let Some(lane) = step.lane() {
            self.lanes.remove(lane);
        }
        if let Some(group) = self.group_of.remove(&node) {
            let left = self.group_left.get_mut(&group).expect("group of a grouped step");
            *left -= 1;
            if *left > 0 {
                return;
            }
            self.group_left.remove(&group);
        }
        if step.calls_tars() {
            self.tars -= 1;
        } else {
            self.local -= 1;
        }
    }
}

/// Gathering kinds' bookkeeping: when each step became ready, how many of each kind are
/// still to become ready, and the earliest moment a held group stops waiting.
struct Gather {
    window: std::time::Duration,
    ready_at: HashMap<NodeIndex, tokio::time::Instant>,
    to_come: HashMap<String, usize>,
    wake_at: Option<tokio::time::Instant>,
}

impl Gather {
    fn new<S: StepInfo>(
        graph: &DiGraph<S, ()>,
        waiting: &HashMap<NodeIndex, usize>,
        window: std::time::Duration,
    ) -> Self {
        let now = tokio::time::Instant::now();
        let mut to_come: HashMap<String, usize> = HashMap::new();
        let mut ready_at = HashMap::new();
        for n in graph.node_indices() {
            let step = &graph[n];
            let Some(kind) = step.batch().filter(|_| step.gathers()) else {
                continue;
            };
            if waiting[&n] == 0 {
                ready_at.insert(n, now);
            } else {
                *to_come.entry(kind.to_string()).or_default() += 1;
            }
        }
        Gather {
            window,
            ready_at,
            to_come,
            wake_at: None,
        }
    }

    fn became_ready<S: StepInfo>(&mut self, node: NodeIndex, step: &S) {
        if let Some(kind) = step.batch().filter(|_| step.gathers()) {
            self.ready_at.insert(node, tokio::time::Instant::now());
            if let Some(n) = self.to_come.get_mut(kind) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Whether `group` (short) waits: its kind gathers, more are to come, and its
    /// oldest member has waited less than the window.
    fn holds<S: StepInfo>(&mut self, step: &S, kind: &str, group: &[ReadyKey]) -> bool {
        if !step.gathers() || self.window.is_zero() || self.to_come.get(kind).is_none_or(|n| *n == 0) {
            return false;
        }
        let Some(oldest) = group.iter().filter_map(|k| self.ready_at.get(&k.node)).min() else {
            return false;
        };
        let until = *oldest + self.window;
        if until <= tokio::time::Instant::now() {
            return false;
        }
        self.wake_at = Some(self.wake_at.map_or(until, |w| w.min(until)));
        true
    }
}

/// Resolves at `at` (never, without one): when the earliest held group stops waiting.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a step of a batch kind is near: not started, but each step it waits for has
/// begun (in flight, done, or starting in this round) or is ready and never held (no batch
/// kind). A held step thus waits for in-flight or startable work only: no deadlock.
/// Remembered per kind until more steps start.
#[derive(Default)]
struct Near {
    known: HashMap<String, (usize, bool)>,
}

impl Near {
    fn of<S: StepInfo>(
        &mut self,
        kind: &str,
        graph: &DiGraph<S, ()>,
        waiting: &HashMap<NodeIndex, usize>,
        started: &HashSet<NodeIndex>,
        taken: &HashSet<NodeIndex>,
    ) -> bool {
        if let Some((seen, near)) = self.known.get(kind)
            && (*seen == taken.len() || *near)
        {
            return *near;
        }
        let begun = |n: &NodeIndex| started.contains(n) || taken.contains(n);
        let near = graph.node_indices().any(|n| {
            graph[n].batch() == Some(kind)
                && !begun(&n)
                && waiting.get(&n).is_some_and(|w| *w > 0)
                && graph
                    .neighbors_directed(n, Direction::Incoming)
                    .all(|p| begun(&p) || (waiting.get(&p) == Some(&0) && graph[p].batch().is_none()))
        });
        self.known.insert(kind.to_string(), (taken.len(), near));
        near
    }
}

/// The wall time against the bound of the steps that ran, with their measured times.
fn schedule_times<S: StepInfo>(
    graph: &DiGraph<S, ()>,
    took: &HashMap<NodeIndex, std::time::Duration>,
    shared: &HashMap<NodeIndex, u32>,
    limit: usize,
    wall: std::time::Duration,
) -> ScheduleTimes {
    use std::time::Duration;
    let time = |n: NodeIndex| took.get(&n).copied().unwrap_or_default();
    let mut finish: HashMap<NodeIndex, Duration> = HashMap::new();
    let order = petgraph::algo::toposort(graph, None).unwrap_or_default();
    for node in order {
        let start = graph
            .neighbors_directed(node, Direction::Incoming)
            .filter_map(|p| finish.get(&p).copied())
            .max()
            .unwrap_or_default();
        finish.insert(node, start + time(node));
    }
    // Steps that shared a slot count their share of it.
    let tars: Duration = graph
        .node_indices()
        .filter(|n| graph[*n].calls_tars())
        .map(|n| time(n) / shared.get(&n).copied().unwrap_or(1).max(1))
        .sum();
    let mut lanes: HashMap<&str, Duration> = HashMap::new();
    for node in graph.node_indices() {
        if let Some(lane) = graph[node].lane() {
            *lanes.entry(lane).or_default() += time(node);
        }
    }
    let per_slot = (tars / limit.max(1) as u32).max(lanes.values().copied().max().unwrap_or_default());
    ScheduleTimes {
        wall,
        critical_path: finish.values().copied().max().unwrap_or_default(),
        per_slot,
    }
}

/// For each step, its weight plus the heaviest chain of steps that wait on it.
fn critical_path_rank<S: StepInfo>(graph: &DiGraph<S, ()>) -> Vec<u64> {
    let mut rank = vec![0u64; graph.node_count()];
    let order = petgraph::algo::toposort(graph, None).unwrap_or_default();
    for node in order.into_iter().rev() {
        let below = graph
            .neighbors_directed(node, Direction::Outgoing)
            .map(|n| rank[n.index()])
            .max()
            .unwrap_or(0);
        rank[node.index()] = u64::from(graph[node].weight()) + below;
    }
    rank
}

impl<U> Done<U> {
    fn node(&self) -> NodeIndex {
        match self {
            Done::Ok(n, ..) | Done::Err(n, ..) | Done::NotRun(n) => *n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;
    use std::time::Duration;

    struct TestStep {
        id: String,
        lane: Option<String>,
    }

    struct Prioritised(&'static str, u8);

    impl StepInfo for Prioritised {
        fn id(&self) -> &str {
            self.0
        }
        fn priority(&self) -> u8 {
            self.1
        }
    }

    #[derive(Default)]
    struct Recorder(StdMutex<Vec<String>>);

    impl Runner for Recorder {
        type Step = Prioritised;
        type Undo = ();

        async fn run(&self, step: &Prioritised) -> Result<(), String> {
            self.0.lock().unwrap().push(step.0.to_string());
            Ok(())
        }

        async fn undo(&self, _: &Prioritised, _: &()) -> Result<(), String> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn lower_priority_ready_steps_start_first() {
        let steps = vec![
            Prioritised("a-late", 1),
            Prioritised("b-early", 0),
            Prioritised("c-early", 0),
        ];
        let dag = StepDag::new(steps, &[]).unwrap();
        let runner = Arc::new(Recorder::default());
        let (_tx, rx) = watch::channel(false);
        let opts = ExecOptions {
            parallelism: 1,
            rollback: true,
            task_batch: 1,
            gather: std::time::Duration::ZERO,
        };
        execute(dag, runner.clone(), opts, rx, Arc::new(Quiet)).await;
        assert_eq!(*runner.0.lock().unwrap(), vec!["b-early", "c-early", "a-late"]);
    }

    /// A step with a weight and a kind of slot, recording start and end order.
    struct Weighted {
        id: &'static str,
        weight: u32,
        tars: bool,
    }

    impl StepInfo for Weighted {
        fn id(&self) -> &str {
            self.id
        }
        fn weight(&self) -> u32 {
            self.weight
        }
        fn calls_tars(&self) -> bool {
            self.tars
        }
    }

    #[test]
    fn the_bound_is_the_longest_measured_chain_or_the_work_per_slot() {
        let steps = vec![
            Weighted {
                id: "a",
                weight: 1,
                tars: true,
            },
            Weighted {
                id: "b",
                weight: 1,
                tars: true,
            },
            Weighted {
                id: "c",
                weight: 1,
                tars: true,
            },
            Weighted {
                id: "ca",
                weight: 1,
                tars: false,
            },
        ];
        let edges = [("b".to_string(), "a".to_string())];
        let dag = StepDag::new(steps, &edges).unwrap();
        let ms = Duration::from_millis;
        let took: HashMap<NodeIndex, Duration> = dag
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    ms(match dag.graph[n].id {
                        "a" => 100,
                        "b" => 200,
                        "c" => 250,
                        _ => 900,
                    }),
                )
            })
            .collect();
        let times = schedule_times(&dag.graph, &took, &HashMap::new(), 2, ms(1000));
        assert_eq!(times.critical_path, ms(900), "the local step alone");
        assert_eq!(times.per_slot, ms(275), "550 ms of Tars work over 2 slots");
        assert_eq!(times.bound(), ms(900));
        let times = schedule_times(&dag.graph, &took, &HashMap::new(), 1, ms(1000));
        assert_eq!(times.per_slot, ms(550));
        let without_local: HashMap<NodeIndex, Duration> =
            took.into_iter().filter(|(n, _)| dag.graph[*n].tars).collect();
        let times = schedule_times(&dag.graph, &without_local, &HashMap::new(), 8, ms(1000));
        assert_eq!(times.critical_path, ms(300), "a then b");
    }

    /// `(step, depends_on)` edges as the DAG takes them.
    fn owned(edges: &[(&str, &str)]) -> Vec<(String, String)> {
        edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Records when each step of type `S` starts and ends (each takes 30 ms).
    struct Timeline<S>(StdMutex<Vec<String>>, std::marker::PhantomData<fn(S)>);

    impl<S> Default for Timeline<S> {
        fn default() -> Self {
            Timeline(StdMutex::default(), std::marker::PhantomData)
        }
    }

    impl<S: StepInfo + Send + Sync + 'static> Runner for Timeline<S> {
        type Step = S;
        type Undo = ();

        async fn run(&self, step: &S) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("start {}", step.id()));
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.0.lock().unwrap().push(format!("end {}", step.id()));
            Ok(())
        }

        async fn undo(&self, _: &S, _: &()) -> Result<(), String> {
            Ok(())
        }
    }

    async fn timeline(steps: Vec<Weighted>, edges: &[(&str, &str)], parallelism: usize) -> Vec<String> {
        let edges = owned(edges);
        let dag = StepDag::new(steps, &edges).unwrap();
        let runner = Arc::new(Timeline::<Weighted>::default());
        let (_tx, rx) = watch::channel(false);
        let opts = ExecOptions {
            parallelism,
            rollback: true,
            task_batch: 1,
            gather: std::time::Duration::ZERO,
        };
        let report = execute(dag, runner.clone(), opts, rx, Arc::new(Quiet)).await;
        assert!(report.succeeded(), "{report:?}");
        runner.0.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn the_head_of_the_longest_chain_starts_first() {
        let step = |id, weight| Weighted {
            id,
            weight,
            tars: true,
        };
        // "a-short" sorts first by id, but "z-head" leads the heavier chain.
        let steps = vec![step("a-short", 1), step("z-head", 1), step("z-tail", 5)];
        let seen = timeline(steps, &[("z-tail", "z-head")], 1).await;
        assert_eq!(seen[0], "start z-head", "{seen:?}");
    }

    #[tokio::test]
    async fn local_steps_do_not_take_the_tars_slots() {
        let steps = vec![
            Weighted {
                id: "tars-call",
                weight: 1,
                tars: true,
            },
            Weighted {
                id: "make-cert",
                weight: 1,
                tars: false,
            },
        ];
        let seen = timeline(steps, &[], 1).await;
        // Both start before either ends: the local step ran beside the Tars call.
        assert!(
            seen[0].starts_with("start") && seen[1].starts_with("start"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn tars_steps_are_bounded_by_parallelism_alone() {
        let steps = vec![
            Weighted {
                id: "a",
                weight: 1,
                tars: true,
            },
            Weighted {
                id: "b",
                weight: 1,
                tars: true,
            },
        ];
        let seen = timeline(steps, &[], 1).await;
        assert_eq!(seen, vec!["start a", "end a", "start b", "end b"]);
    }

    /// A step with a batch kind and a lane.
    struct Batched {
        id: &'static str,
        kind: Option<&'static str>,
        lane: Option<&'static str>,
    }

    impl StepInfo for Batched {
        fn id(&self) -> &str {
            self.id
        }
        fn lane(&self) -> Option<&str> {
            self.lane
        }
        fn batch(&self) -> Option<&str> {
            self.kind
        }
        fn gathers(&self) -> bool {
            self.kind == Some("start")
        }
    }

    /// The timeline of `steps` with a gathering window of `gather`.
    async fn gathered(steps: Vec<Batched>, edges: &[(&str, &str)], gather: Duration) -> Vec<String> {
        let edges = owned(edges);
        let runner = Arc::new(Timeline::<Batched>::default());
        let (_tx, rx) = watch::channel(false);
        let opts = ExecOptions {
            parallelism: 4,
            rollback: true,
            task_batch: 5,
            gather,
        };
        let report = execute(
            StepDag::new(steps, &edges).unwrap(),
            runner.clone(),
            opts,
            rx,
            Arc::new(Quiet),
        )
        .await;
        assert!(report.succeeded(), "{report:?}");
        runner.0.lock().unwrap().clone()
    }

    /// A start ready at once, another one three plain steps (~90 ms) away.
    fn far_starts() -> (Vec<Batched>, [(&'static str, &'static str); 3]) {
        let steps = vec![
            start("a-start", None),
            plain("p1"),
            plain("p2"),
            plain("p3"),
            start("c-start", None),
        ];
        (steps, [("p2", "p1"), ("p3", "p2"), ("c-start", "p3")])
    }

    #[tokio::test]
    async fn a_short_group_of_a_gathering_kind_waits_for_more_of_its_kind_within_the_window() {
        let (steps, edges) = far_starts();
        let seen = gathered(steps, &edges, Duration::from_secs(5)).await;
        let at = |e: &str| seen.iter().position(|s| s == e).unwrap();
        assert!(at("start a-start") > at("end p3"), "{seen:?}");
        assert!(
            at("start c-start") < at("end a-start"),
            "both start together: {seen:?}"
        );
        let (steps, edges) = far_starts();
        let seen = gathered(steps, &edges, Duration::ZERO).await;
        let at = |e: &str| seen.iter().position(|s| s == e).unwrap();
        assert!(at("start a-start") < at("end p1"), "no window, no wait: {seen:?}");
    }

    /// Steps that take their time: `fail` fails after 10 ms, `slow` takes 300 ms.
    struct Paced;

    impl Runner for Paced {
        type Step = Batched;
        type Undo = ();

        async fn run(&self, step: &Batched) -> Result<(), String> {
            let ms = match step.id {
                "fail" => 10,
                "slow" => 300,
                _ => 30,
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if step.id == "fail" {
                Err("failed".into())
            } else {
                Ok(())
            }
        }

        async fn undo(&self, _: &Batched, _: &()) -> Result<(), String> {
            Ok(())
        }
    }

    /// CPU time of this thread so far, in clock ticks (`/proc/thread-self/stat`).
    #[cfg(target_os = "linux")]
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_run_does_not_spin_on_a_held_groups_deadline() {
        // "a-start" is held (a start is still to come after p → q); "fail" stops the run
        // before the hold's deadline, while "slow" stays in flight for 300 ms.
        let steps = vec![
            start("a-start", None),
            plain("fail"),
            plain("slow"),
            plain("p"),
            plain("q"),
            start("c-start", None),
        ];
        let edges = owned(&[("q", "p"), ("c-start", "q")]);
        let (_tx, rx) = watch::channel(false);
        let opts = ExecOptions {
            parallelism: 4,
            rollback: false,
            task_batch: 5,
            gather: Duration::from_millis(50),
        };
        let before = thread_cpu_ticks();
        let report = execute(
            StepDag::new(steps, &edges).unwrap(),
            Arc::new(Paced),
            opts,
            rx,
            Arc::new(Quiet),
        )
        .await;
        let spent = thread_cpu_ticks() - before;
        assert!(!report.succeeded(), "{report:?}");
        assert!(report.skipped.contains(&"a-start".to_string()), "{report:?}");
        // Spinning until "slow" ends would cost ~25 ticks (250 ms) of CPU.
        assert!(spent < 10, "{spent} ticks of CPU while waiting: {report:?}");
    }

    #[tokio::test]
    async fn a_gathering_group_waits_no_longer_than_the_window() {
        let (steps, edges) = far_starts();
        let began = std::time::Instant::now();
        let seen = gathered(steps, &edges, Duration::from_millis(40)).await;
        let at = |e: &str| seen.iter().position(|s| s == e).unwrap();
        assert!(at("start a-start") < at("end p3"), "{seen:?}");
        assert!(at("start a-start") > at("start p1"), "{seen:?}");
        assert!(began.elapsed() < Duration::from_secs(5), "{seen:?}");
    }

    /// The timeline and the most steps in flight at once.
    async fn batched(
        steps: Vec<Batched>,
        edges: &[(&str, &str)],
        parallelism: usize,
        task_batch: usize,
    ) -> (Vec<String>, usize) {
        let edges = owned(edges);
        let dag = StepDag::new(steps, &edges).unwrap();
        let runner = Arc::new(Timeline::<Batched>::default());
        let (_tx, rx) = watch::channel(false);
        let opts = ExecOptions {
            parallelism,
            rollback: true,
            task_batch,
            gather: std::time::Duration::ZERO,
        };
        let report = execute(dag, runner.clone(), opts, rx, Arc::new(Quiet)).await;
        assert!(report.succeeded(), "{report:?}");
        let seen = runner.0.lock().unwrap().clone();
        let (mut now, mut most) = (0usize, 0usize);
        for event in &seen {
            if event.starts_with("start") {
                now += 1;
                most = most.max(now);
            } else {
                now -= 1;
            }
        }
        (seen, most)
    }

    /// A step with no batch kind.
    fn plain(id: &'static str) -> Batched {
        Batched {
            id,
            kind: None,
            lane: None,
        }
    }

    fn start(id: &'static str, lane: Option<&'static str>) -> Batched {
        Batched {
            id,
            kind: Some("start"),
            lane,
        }
    }

    #[tokio::test]
    async fn ready_steps_of_one_kind_share_one_slot_up_to_the_batch_size() {
        let steps = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]
            .map(|id| start(id, None))
            .into();
        let (seen, most) = batched(steps, &[], 1, 3).await;
        assert_eq!(most, 3, "{seen:?}");
        let (seen, most) = batched(["a", "b", "c"].map(|id| start(id, None)).into(), &[], 1, 1).await;
        assert_eq!(most, 1, "--task-batch 1 batches nothing: {seen:?}");
        let (seen, most) = batched(["a", "b", "c"].map(plain).into(), &[], 1, 5).await;
        assert_eq!(most, 1, "steps without a kind are not batched: {seen:?}");
    }

    #[tokio::test]
    async fn a_step_never_waits_for_a_step_that_waits_for_it() {
        let steps = vec![start("a", None), start("b", None)];
        let run = batched(steps, &[("b", "a")], 2, 5);
        let (seen, _) = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("a held step waited for its own dependant");
        assert_eq!(seen, vec!["start a", "end a", "start b", "end b"]);
    }

    #[tokio::test]
    async fn a_batch_never_holds_two_steps_of_one_lane() {
        let steps = vec![
            start("a1", Some("a")),
            start("a2", Some("a")),
            start("b1", Some("b")),
            start("b2", Some("b")),
        ];
        let (seen, most) = batched(steps, &[], 1, 5).await;
        assert_eq!(most, 2, "one step of each lane at a time: {seen:?}");
    }

    #[tokio::test]
    async fn a_short_batch_waits_while_more_of_its_kind_are_near() {
        let steps = vec![start("a-start", None), plain("b-push"), start("c-start", None)];
        let (seen, _) = batched(steps, &[("c-start", "b-push")], 2, 5).await;
        let at = |e: &str| seen.iter().position(|s| s == e).unwrap();
        assert!(at("start a-start") > at("end b-push"), "{seen:?}");
        assert!(
            at("start c-start") < at("end a-start"),
            "both start together: {seen:?}"
        );
    }

    impl StepInfo for TestStep {
        fn id(&self) -> &str {
            &self.id
        }
        fn lane(&self) -> Option<&str> {
            self.lane.as_deref()
        }
    }

    #[derive(Default)]
    struct FakeRunner {
        fail_run: Vec<&'static str>,
        fail_undo: Vec<&'static str>,
        log: StdMutex<Vec<String>>,
        concurrent: StdMutex<(usize, usize)>,
    }

    impl Runner for FakeRunner {
        type Step = TestStep;
        type Undo = String;

        async fn run(&self, step: &TestStep) -> Result<String, String> {
            {
                let mut c = self.concurrent.lock().unwrap();
                c.0 += 1;
                c.1 = c.1.max(c.0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.concurrent.lock().unwrap().0 -= 1;
            self.log.lock().unwrap().push(format!("run {}", step.id));
            if self.fail_run.contains(&step.id.as_str()) {
                return Err(format!("{} broke", step.id));
            }
            Ok(format!("undo-{}", step.id))
        }

        async fn undo(&self, step: &TestStep, undo: &String) -> Result<(), String> {
            assert_eq!(undo, &format!("undo-{}", step.id));
            self.log.lock().unwrap().push(format!("undo {}", step.id));
            if self.fail_undo.contains(&step.id.as_str()) {
                return Err("cannot undo".into());
            }
            Ok(())
        }
    }

    struct Quiet;
    impl Reporter for Quiet {
        fn event(&self, _: Event<'_>) {}
    }

    fn dag(ids: &[&str], edges: &[(&str, &str)]) -> StepDag<TestStep> {
        let steps = ids
            .iter()
            .map(|i| TestStep {
                id: i.to_string(),
                lane: None,
            })
            .collect();
        let edges = owned(edges);
        StepDag::new(steps, &edges).unwrap()
    }

    async fn exec(d: StepDag<TestStep>, runner: Arc<FakeRunner>, parallelism: usize) -> ExecReport {
        let (_tx, rx) = watch::channel(false);
        execute(
            d,
            runner,
            ExecOptions {
                parallelism,
                rollback: true,
                task_batch: 1,
                gather: std::time::Duration::ZERO,
            },
            rx,
            Arc::new(Quiet),
        )
        .await
    }

    #[test]
    fn cycle_is_reported_with_its_steps() {
        let steps = ["a", "b", "c"]
            .iter()
            .map(|i| TestStep {
                id: i.to_string(),
                lane: None,
            })
            .collect();
        let edges = vec![
            ("a".into(), "b".into()),
            ("b".into(), "a".into()),
            ("c".into(), "a".into()),
        ];
        let err = StepDag::new(steps, &edges).err().unwrap();
        assert_eq!(
            err,
            DagError::Cycle {
                steps: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn order_respects_dependencies_deterministically() {
        let d = dag(&["c", "b", "a"], &[("a", "c"), ("b", "c")]);
        assert_eq!(d.order(), vec!["c", "a", "b"]);
    }

    #[tokio::test]
    async fn all_steps_run_in_dependency_order() {
        let runner = Arc::new(FakeRunner::default());
        let report = exec(
            dag(&["a", "b", "c"], &[("b", "a"), ("c", "b")]),
            runner.clone(),
            4,
        )
        .await;
        assert!(report.succeeded());
        assert_eq!(report.completed, vec!["a", "b", "c"]);
    }

    #[tokio::test]
    async fn parallelism_is_bounded() {
        let ids: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let runner = Arc::new(FakeRunner::default());
        let report = exec(dag(&refs, &[]), runner.clone(), 3).await;
        assert!(report.succeeded());
        let max = runner.concurrent.lock().unwrap().1;
        assert!((2..=3).contains(&max), "max concurrency {max}");
    }

    #[tokio::test]
    async fn steps_in_one_lane_never_overlap() {
        let steps = (0..4)
            .map(|i| TestStep {
                id: format!("r{i}"),
                lane: Some("server".into()),
            })
            .collect();
        let runner = Arc::new(FakeRunner::default());
        let (_tx, rx) = watch::channel(false);
        let d = StepDag::new(steps, &[]).unwrap();
        let opts = ExecOptions {
            parallelism: 4,
            rollback: true,
            task_batch: 1,
            gather: std::time::Duration::ZERO,
        };
        let report = execute(d, runner.clone(), opts, rx, Arc::new(Quiet)).await;
        assert!(report.succeeded());
        assert_eq!(runner.concurrent.lock().unwrap().1, 1);
    }

    #[tokio::test]
    async fn failure_undoes_completed_steps_in_reverse_and_skips_the_rest() {
        let runner = Arc::new(FakeRunner {
            fail_run: vec!["c"],
            ..Default::default()
        });
        let report = exec(
            dag(&["a", "b", "c", "d"], &[("b", "a"), ("c", "b"), ("d", "c")]),
            runner.clone(),
            1,
        )
        .await;
        assert_eq!(report.failed, vec![("c".to_string(), "c broke".to_string())]);
        assert_eq!(report.skipped, vec!["d"]);
        assert_eq!(report.undone, vec!["b", "a"]);
        assert!(report.rolled_back_cleanly());
        let log = runner.log.lock().unwrap().clone();
        assert_eq!(log, vec!["run a", "run b", "run c", "undo b", "undo a"]);
    }

    #[tokio::test]
    async fn a_failed_undo_is_reported_and_the_rest_still_undone() {
        let runner = Arc::new(FakeRunner {
            fail_run: vec!["c"],
            fail_undo: vec!["b"],
            ..Default::default()
        });
        let report = exec(dag(&["a", "b", "c"], &[("b", "a"), ("c", "b")]), runner, 1).await;
        assert_eq!(
            report.undo_failed,
            vec![("b".to_string(), "cannot undo".to_string())]
        );
        assert_eq!(report.undone, vec!["a"]);
        assert!(!report.rolled_back_cleanly());
    }

    #[tokio::test]
    async fn cancellation_stops_new_steps_and_rolls_back() {
        let runner = Arc::new(FakeRunner::default());
        let (tx, rx) = watch::channel(false);
        let d = dag(&["a", "b", "c"], &[("b", "a"), ("c", "b")]);
        let handle = tokio::spawn(execute(
            d,
            runner,
            ExecOptions {
                parallelism: 1,
                rollback: true,
                task_batch: 1,
                gather: std::time::Duration::ZERO,
            },
            rx,
            Arc::new(Quiet),
        ));
        tokio::time::sleep(Duration::from_millis(15)).await;
        tx.send(true).unwrap();
        let report = handle.await.unwrap();
        assert!(report.cancelled);
        assert!(!report.skipped.is_empty());
        let mut undone = report.undone.clone();
        undone.reverse();
        assert_eq!(undone, report.completed);
    }

    #[tokio::test]
    async fn without_rollback_completed_steps_are_kept() {
        let runner = Arc::new(FakeRunner {
            fail_run: vec!["b"],
            ..Default::default()
        });
        let (_tx, rx) = watch::channel(false);
        let d = dag(&["a", "b"], &[("b", "a")]);
        let report = execute(
            d,
            runner,
            ExecOptions {
                parallelism: 2,
                rollback: false,
                task_batch: 1,
                gather: std::time::Duration::ZERO,
            },
            rx,
            Arc::new(Quiet),
        )
        .await;
        assert_eq!(report.kept, vec!["a"]);
        assert!(report.undone.is_empty());
    }
}
