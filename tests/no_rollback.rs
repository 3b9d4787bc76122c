//! `apply --no-rollback`: a failed run keeps what it did, says so, and keeps the journal
//! for `tarsform apply` (roll forward) or `tarsform rollback`; it never claims a rollback.

mod common;

use common::*;

/// `apply --parallelism 1 --no-rollback`.
fn no_rollback() -> Vec<&'static str> {
    [APPLY1, &["--no-rollback"]].concat()
}
const PLAN: &[&str] = &["plan", "-c", "config.toml", "--detailed-exitcode"];

fn no_rollback_claimed(run: &Run) {
    assert!(!run.stderr.contains("Rollback complete"), "{}", run.both());
    assert!(!run.stderr.contains("Rolled back"), "{}", run.both());
}

#[test]
fn a_failed_run_keeps_its_steps_and_the_next_apply_finishes_it() {
    let bed = Bed::new(Start::Seed, Tars::faults(&["api:update_config_file#4"]));
    let run = bed.run(&no_rollback());
    assert_eq!(run.code, Some(1), "{}", run.both());
    no_rollback_claimed(&run);
    assert!(run.stderr.contains("Kept (no rollback): "), "{}", run.both());
    assert!(bed.exists(JOURNAL), "the journal is kept: {}", run.both());
    let forward = bed.apply();
    assert_eq!(forward.code, Some(0), "{}", forward.both());
    assert_eq!(bed.run(PLAN).code, Some(0));
}

#[test]
fn a_step_that_failed_part_way_is_kept_and_rollback_undoes_it() {
    // The first write of the state file fails (preflight's save): nothing completed.
    let bed = Bed::new(Start::Seed, Tars::default());
    let before = bed.snapshot();
    let run = bed.run_env(&no_rollback(), &[("TARSFORM_FAIL_STATE_WRITES", "1")]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    no_rollback_claimed(&run);
    assert!(run.stderr.contains("No space left on device"), "{}", run.both());
    // Preflight changes nothing in Tars: no journal is needed, and none is left.
    assert!(run.stderr.contains("No step completed"), "{}", run.both());
    assert!(!bed.exists(JOURNAL), "{}", run.both());
    assert_eq!(bed.snapshot(), before);

    // A step whose state save failed had made its change (a node, or a certificate's
    // files): it is kept with the completed ones, and so is the journal.
    let run = bed.run_env(&no_rollback(), &[("TARSFORM_FAIL_STATE_WRITES", "6")]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    no_rollback_claimed(&run);
    assert!(run.stderr.contains("Kept (no rollback): "), "{}", run.both());
    assert!(run.stderr.contains(" (failed part-way)"), "{}", run.both());
    assert!(bed.exists(JOURNAL), "{}", run.both());
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert!(
        rollback.stdout.contains("Rollback complete"),
        "{}",
        rollback.both()
    );
    assert_eq!(bed.snapshot(), before, "{}", rollback.both());
    assert!(!bed.exists(JOURNAL));
}
