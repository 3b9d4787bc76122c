//! A disk that fills up in the middle of a run (`TARSFORM_FAIL_STATE_WRITES`: the n-th
//! write of the state file fails with ENOSPC). The step whose save failed had already
//! changed Tars; the rollback undoes it, and "the state is as it was" must hold: the
//! state file lists exactly what it listed before the run.

mod common;

use common::*;

const PLAN: &[&str] = &["plan", "-c", "config.toml", "--detailed-exitcode"];

/// Runs `args` with the `write`-th state write failing; checks the run rolled back with
/// the claim, left no journal, and Tars and the state file as they were.
fn rolled_back_as_before(bed: &Bed, args: &[&str], write: usize) -> Run {
    let tars_before = bed.snapshot();
    let state_before = bed.resources().unwrap_or_default();
    let run = bed.run_env(args, &[("TARSFORM_FAIL_STATE_WRITES", &write.to_string())]);
    let context = format!("state write {write} failing: {}", run.both());
    assert_eq!(run.code, Some(1), "{context}");
    assert!(run.stderr.contains("No space left on device"), "{context}");
    assert!(run.stderr.contains("Rollback complete"), "{context}");
    assert!(!bed.exists(JOURNAL), "journal left: {context}");
    assert_eq!(bed.snapshot(), tars_before, "Tars not as before: {context}");
    let state_after = bed.resources().unwrap_or_default();
    let listed = |m: &serde_json::Map<String, serde_json::Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        listed(&state_after),
        listed(&state_before),
        "the state lists other resources than before the run: {context}"
    );
    assert_eq!(state_after, state_before, "{context}");
    // Only the state file's write fails here, so the new state was dumped beside it: the
    // save error says to move it over the state, which the rollback made wrong.
    assert!(bed.exists("state/chain0.state.json.errored.json"), "{context}");
    assert!(
        run.stderr
            .contains("the rollback made it obsolete: delete it, do not move it over the state"),
        "{context}"
    );
    run
}

#[test]
fn an_apply_whose_state_save_fails_leaves_the_state_as_it_was() {
    // Writes 2–16 fall on steps that changed Tars or the disk (registers, configs,
    // certificates, imports), whichever the schedule ran at that moment.
    for write in [2, 5, 8, 11, 14, 16] {
        let bed = Bed::new(Start::Seed, Tars::default());
        rolled_back_as_before(&bed, APPLY1, write);
        assert!(bed.new_host_keys().is_empty(), "keys left: write {write}");
        let replan = bed.run(PLAN);
        assert_eq!(
            replan.code,
            Some(2),
            "the expansion is planned again:\n{}",
            replan.both()
        );
    }
}

#[test]
fn a_destroy_whose_state_save_fails_leaves_the_state_as_it_was() {
    for write in [1, 3, 6, 10] {
        let bed = Bed::new(Start::Seed, Tars::default());
        let applied = bed.apply();
        assert_eq!(applied.code, Some(0), "{}", applied.both());
        rolled_back_as_before(&bed, DESTROY1, write);
        let replan = bed.run(PLAN);
        assert_eq!(
            replan.code,
            Some(0),
            "no changes after the rollback:\n{}",
            replan.both()
        );
    }
}
