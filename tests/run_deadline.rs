//! `--timeout`: one deadline for every Tars call of an apply or rollback. A slow Tars
//! can no longer keep a run going forever; past the deadline no further Tars call is
//! made, the journal stays, and `tarsform rollback` restores what the run changed.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn an_apply_past_its_timeout_stops_calling_tars_and_rollback_restores_the_model() {
    // Each Tars task takes 8 s: the run's 3 s pass while it waits for the first one.
    let slow_tasks = Tars {
        task: Duration::from_secs(8),
        ..Tars::default()
    };
    let bed = Bed::new(Start::Seed, slow_tasks);
    let before = bed.snapshot();
    let started = Instant::now();
    let run = bed.run(&["apply", "-c", "config.toml", "--auto-approve", "--timeout", "3s"]);
    assert_eq!(run.code, Some(3), "{}", run.both());
    assert_contains(&run.stderr, "time limit of 3s (--timeout) has passed", "apply");
    // A hang guard, not a benchmark: without the deadline the run would go on.
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(bed.exists(JOURNAL), "the journal is kept for rollback");
    assert_ne!(bed.snapshot(), before, "the run changed Tars before its deadline");

    let run = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    assert!(!bed.exists(JOURNAL));
}

#[test]
fn a_bad_timeout_is_refused_by_the_argument_parser() {
    let bed = Bed::new(Start::Seed, Tars::default());
    for bad in ["0s", "soon", "1d"] {
        let run = bed.run(&["apply", "-c", "config.toml", "--auto-approve", "--timeout", bad]);
        assert_eq!(run.code, Some(1), "{bad}: {}", run.both());
        assert_contains(&run.stderr, "write e.g. 90s, 45m or 2h", bad);
    }
}
