//! Tars calls per scenario, as upper bounds: a change that doubles the calls of a
//! scenario (or of its task polls) fails here. The bounds are the measured counts with
//! some headroom; lower them when a change saves calls.

mod common;

use std::collections::BTreeMap;

use common::{Bed, Start, Tars};

/// Fails when the scenario made more than `total` calls or more than `polls` task polls.
fn assert_within(scenario: &str, calls: &BTreeMap<&'static str, u32>, total: u32, polls: u32) {
    let sum: u32 = calls.values().sum();
    let task_polls = calls.get("task").copied().unwrap_or(0);
    eprintln!("{scenario}: {sum} calls, {task_polls} task polls: {calls:?}");
    assert!(
        sum <= total,
        "{scenario}: {sum} Tars calls, at most {total}: {calls:?}"
    );
    assert!(
        task_polls <= polls,
        "{scenario}: {task_polls} task polls, at most {polls}: {calls:?}"
    );
}

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];
const PLAN: &[&str] = &["plan", "-c", "config.toml", "--detailed-exitcode"];
const DESTROY: &[&str] = &["destroy", "-c", "config.toml", "--auto-approve"];

#[test]
fn seed_expansion_replan_and_destroy_stay_within_their_call_budgets() {
    // Measured: 65 calls, 2 polls; 17; 48 calls, 2 polls, one add_task.
    let bed = Bed::new(Start::Seed, Tars::default());
    let expansion = bed.calls_of(APPLY);
    assert_within("seed expansion (2 nodes)", &expansion, 75, 4);
    // The expansion copies the source node's rows: the CA certificate each new node
    // shares with its source needs no update (7 of the 9 rows differ).
    assert_eq!(
        expansion.get("update_config_file").copied(),
        Some(7),
        "{expansion:?}"
    );
    assert_within("re-plan, no changes", &bed.calls_of(PLAN), 18, 0);
    let destroy = bed.calls_of(DESTROY);
    // The rollback baseline reuses the plan's listings of a moment ago (62 calls before).
    assert_within("destroy (2 nodes)", &destroy, 55, 7);
    assert_eq!(
        destroy.get("add_task").copied(),
        Some(1),
        "both undeploys in one task: {destroy:?}"
    );
}

#[test]
fn a_fresh_deploy_stays_within_its_call_budget() {
    // Measured: 68–72 calls, 2–4 polls.
    let bed = Bed::new(Start::Fresh, Tars::default());
    assert_within("fresh deploy", &bed.calls_of(APPLY), 80, 5);
}
