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

/// Runs `work` as step `step`: the tasks it waits on are reported under that id, and
/// forgotten when it ends.
pub async fn within_step<F: Future>(step: &str, work: F) -> F::Output {
    let out = STEP.scope(step.to_string(), work).await;
    board().lock().unwrap_or_else(|p| p.into_inner()).remove(step);
    out
}

/// Records the task the current step waits on (nothing outside a step).
pub fn report(task_no: &str, percent: u8) {
    let _ = STEP.try_with(|step| {
        let progress = TaskProgress {
            task_no: task_no.to_string(),
            percent: percent.min(100),
        };
        board()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(step.clone(), progress);
    });
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
}
