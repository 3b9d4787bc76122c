//! Which Tars task each running step waits on, and how far it is: `wait_task` writes
//! the task id and percent on every poll, the progress display reads them. A step's
//! entries are keyed by the step id the engine runs it under ([`within_step`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

tokio::task_local! {
    static STEP: String;
}

/// A task's id and the mean percent of its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    pub task_no: String,
    pub percent: u8,
}

fn board() -> &'static Mutex<HashMap<String, TaskProgress>> {
    static BOARD: OnceLock<Mutex<HashMap<String, TaskProgress>>> = OnceLock::new();
    BOARD.get_or_init(Default::default)
}

/// The steps of a batched task's items, by task id: one member polls, all show it.
fn followers() -> &'static Mutex<HashMap<String, Vec<String>>> {
    static FOLLOWERS: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    FOLLOWERS.get_or_init(Default::default)
}

/// The step the current task runs under, if any.
pub fn current_step() -> Option<String> {
    STEP.try_with(Clone::clone).ok()
}

/// Task `task_no` carries the items of `steps`: its progress is shown for each.
pub fn follow(task_no: &str, steps: Vec<String>) {
    if steps.len() > 1 {
        followers()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_no.to_string(), steps);
    }
}

/// Runs `work` as step `step`: the tasks it waits on are reported under that id, and
/// forgotten when it ends.
pub async fn within_step<F: Future>(step: &str, work: F) -> F::Output {
    let out = STEP.scope(step.to_string(), work).await;
    board().lock().unwrap_or_else(|p| p.into_inner()).remove(step);
    out
}

/// Records the task the current step waits on (nothing outside a step).
pub fn report(task_no: &str, percent: u8) {
    let Some(step) = current_step() else {
        return;
    };
    let progress = TaskProgress {
        task_no: task_no.to_string(),
        percent: percent.min(100),
    };
    let shared = followers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(task_no)
        .cloned()
        .unwrap_or_default();
    let mut board = board().lock().unwrap_or_else(|p| p.into_inner());
    for other in shared.into_iter().filter(|s| *s != step) {
        board.insert(other, progress.clone());
    }
    board.insert(step, progress);
}

/// The task step `step` waits on now, if any.
pub fn of(step: &str) -> Option<TaskProgress> {
    board()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(step)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_reports_its_task_until_it_ends() {
        let step = "start node[\"board-test\"][\"127.0.0.9\"]";
        within_step(step, async {
            report("task-1", 40);
            assert_eq!(
                of(step),
                Some(TaskProgress {
                    task_no: "task-1".into(),
                    percent: 40
                })
            );
            report("task-1", 250);
            assert_eq!(of(step).unwrap().percent, 100);
        })
        .await;
        assert_eq!(of(step), None, "forgotten once the step ended");
        report("task-2", 10);
        assert_eq!(of(step), None, "nothing recorded outside a step");
    }

    #[tokio::test]
    async fn every_step_of_a_batched_task_shows_it_while_one_polls() {
        let (poller, other) = (
            "start node[\"board-test\"][\"127.0.0.10\"]",
            "start node[\"board-test\"][\"127.0.0.11\"]",
        );
        let members = vec![poller.to_string(), other.to_string()];
        within_step(other, async {
            assert_eq!(current_step().as_deref(), Some(other));
            within_step(poller, async {
                follow("task-3", members);
                report("task-3", 60);
            })
            .await;
            assert_eq!(
                of(other),
                Some(TaskProgress {
                    task_no: "task-3".into(),
                    percent: 60
                })
            );
        })
        .await;
        assert_eq!(of(other), None, "forgotten once the step ended");
    }
}
