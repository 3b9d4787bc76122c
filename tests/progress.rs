//! Progress that breathes: without a terminal, a step that waits on a slow Tars task
//! prints a "still running … [10s elapsed] (task …, N %)" line every 10 s.

mod common;

use std::time::Duration;

use common::{Bed, Start, Tars};

#[test]
fn a_slow_task_gets_still_running_lines_with_its_task_and_percent() {
    let bed = Bed::new(
        Start::Seed,
        Tars {
            task: Duration::from_secs(12),
            ..Tars::default()
        },
    );
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let beats: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(": still running… ["))
        .collect();
    assert!(!beats.is_empty(), "no heartbeat in\n{}", run.stderr);
    for beat in &beats {
        assert!(beat.starts_with("  start node["), "{beat}");
        assert!(beat.contains("s elapsed] (task "), "{beat}");
        assert!(beat.ends_with(" %)"), "{beat}");
    }
    let first = run
        .stderr
        .lines()
        .position(|l| l.contains("still running"))
        .unwrap();
    let done = run
        .stderr
        .lines()
        .position(|l| l.starts_with("  start node[") && l.contains(": done"))
        .unwrap();
    assert!(
        first < done,
        "the heartbeat comes while the step runs:\n{}",
        run.stderr
    );
}
