//! `--switch-crypto` end to end against the Tars emulator, both ways (RSA → SM and
//! SM → RSA): the switch removes the other set's rows (node and server level), the next
//! plan says "No changes", and a switch that fails half-way (a Tars call fails while the
//! old rows are being deleted) rolls back to the old rows and contents.

mod common;

use std::collections::BTreeMap;

use common::*;

const SM_SET: [&str; 5] = [
    "sm_ca.crt",
    "sm_enssl.crt",
    "sm_enssl.key",
    "sm_ssl.crt",
    "sm_ssl.key",
];
const RSA_SET: [&str; 3] = ["ca.crt", "ssl.crt", "ssl.key"];

fn set_sm(bed: &Bed, sm: bool) {
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let (from, to) = if sm { ("false", "true") } else { ("true", "false") };
    let toml = toml
        .replace(&format!("rpc_sm_ssl = {from}"), &format!("rpc_sm_ssl = {to}"))
        .replace(
            &format!("gateway_sm_ssl = {from}"),
            &format!("gateway_sm_ssl = {to}"),
        );
    std::fs::write(&path, toml).unwrap();
}

/// A fresh chain applied with SM SSL on or off for both services.
fn applied(sm: bool, tars: Tars) -> Bed {
    let bed = Bed::new(Start::Fresh, tars);
    set_sm(&bed, sm);
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    bed
}

/// `(level, file) → content` of one server's rows (level 2: server, 3: the new host).
fn rows(bed: &Bed, server: &str) -> BTreeMap<(u8, String), String> {
    bed.snapshot()
        .configs
        .iter()
        .filter(|c| c.server_name == format!("{APP}.{server}") && (c.level == 2 || c.host == NEW))
        .map(|c| ((c.level, c.filename.clone()), c.content.clone()))
        .collect()
}

fn switch(bed: &Bed) -> Run {
    bed.run(&["apply", "-c", "config.toml", "--auto-approve", "--switch-crypto"])
}

fn assert_only_set(bed: &Bed, sm: bool, context: &str) {
    let (kept, gone): (&[&str], &[&str]) = if sm {
        (&SM_SET, &RSA_SET)
    } else {
        (&RSA_SET, &SM_SET)
    };
    for server in [RPC, GATEWAY] {
        let rows = rows(bed, server);
        for level in [2, 3] {
            for file in kept {
                assert!(
                    rows.contains_key(&(level, file.to_string())),
                    "{context}: {server} level {level} {file} missing: {rows:?}"
                );
            }
            for file in gone {
                assert!(
                    !rows.contains_key(&(level, file.to_string())),
                    "{context}: {server} level {level} {file} left: {rows:?}"
                );
            }
        }
        let ini = &rows[&(3, "config.ini".to_string())];
        assert!(ini.contains(&format!("sm_ssl = {sm}")), "{context}: {ini}");
    }
}

#[test]
fn switching_both_ways_removes_the_old_rows_and_the_next_plan_is_clean() {
    for start_sm in [false, true] {
        let bed = applied(start_sm, Tars::default());
        for sm in [!start_sm, start_sm] {
            let context = format!(
                "{} → {}",
                if sm { "RSA" } else { "SM" },
                if sm { "SM" } else { "RSA" }
            );
            set_sm(&bed, sm);
            let plan = bed.run(&["plan", "-c", "config.toml", "--switch-crypto"]);
            assert_eq!(plan.code, Some(0), "{context}: {}", plan.both());
            assert_contains(&plan.stdout, "every certificate and key is replaced", &context);
            assert_contains(&plan.stdout, "removed from Tars", &context);
            let run = switch(&bed);
            assert_eq!(run.code, Some(0), "{context}: {}", run.both());
            assert_contains(&run.stderr, "delete-config", &context);
            assert_only_set(&bed, sm, &context);
            let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
            assert_eq!(
                replan.code,
                Some(0),
                "{context}: re-plan shows changes:\n{}",
                replan.both()
            );
            assert_contains(&replan.stdout, "No changes", &context);
            let state = std::fs::read_to_string(bed.path().join(STATE)).unwrap();
            assert!(!state.contains("PRIVATE KEY"), "{context}: a key in state");
        }
    }
}

#[test]
fn a_switch_that_fails_while_deleting_the_old_rows_rolls_back_to_them() {
    for start_sm in [false, true] {
        let context = if start_sm { "SM → RSA" } else { "RSA → SM" };
        // The fresh apply deletes nothing: the second delete is the switch's second
        // old row, after the new rows were pushed and the nodes restarted.
        let bed = applied(start_sm, Tars::faults(&["api:delete_config_file#2"]));
        let before = bed.snapshot();
        let state_before = bed.resources().unwrap();
        set_sm(&bed, !start_sm);
        let run = switch(&bed);
        assert_eq!(run.code, Some(1), "{context}: {}", run.both());
        assert_contains(&run.stderr, "delete_config_file", context);
        assert_contains(&run.stderr, "Rollback complete", context);
        // Every row and content as before: the deleted old rows are back, the new rows gone.
        assert_model_eq(&before, &bed.snapshot(), context);
        let state_after = bed.resources().unwrap();
        assert_eq!(
            state_before.keys().collect::<Vec<_>>(),
            state_after.keys().collect::<Vec<_>>(),
            "{context}: state"
        );
        assert!(!bed.exists(JOURNAL), "{context}: journal left");

        // The switch then goes through, and the next plan is clean.
        bed.handle().clear_faults();
        let run = switch(&bed);
        assert_eq!(run.code, Some(0), "{context}: {}", run.both());
        assert_only_set(&bed, !start_sm, context);
        let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
        assert_eq!(replan.code, Some(0), "{context}: re-plan:\n{}", replan.both());
    }
}

/// The switch RSA → SM killed (SIGKILL) right after journal entry `k`: the bed and the
/// model before the switch; `None` when the run finished first.
fn switch_killed_at(k: usize) -> Option<(Bed, tarsform::emulator::ModelView)> {
    let bed = applied(false, Tars::default());
    let before = bed.snapshot();
    set_sm(&bed, true);
    let args = [
        "apply",
        "-c",
        "config.toml",
        "--auto-approve",
        "--switch-crypto",
        "--parallelism",
        "1",
    ];
    let run = bed.run_env(&args, &[("TARSFORM_CRASH_AFTER_ENTRY", &k.to_string())]);
    run.code.is_none().then_some((bed, before))
}

fn deleted_a_row(bed: &Bed) -> bool {
    let journal = tarsform::state::JournalFile::load(&bed.path().join(STATE))
        .unwrap()
        .expect("a journal");
    journal
        .entries
        .iter()
        .any(|e| e.phase == tarsform::state::StepPhase::Completed && e.step.starts_with("delete-config "))
}

#[test]
fn a_switch_killed_after_deleting_an_old_row_is_rolled_back_by_tarsform_rollback() {
    // About the first kill point after which an old row is gone: binary search.
    let (mut lo, mut hi) = (1, 400);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match switch_killed_at(mid) {
            Some((bed, _)) if !deleted_a_row(&bed) => lo = mid + 1,
            _ => hi = mid,
        }
    }
    // Local steps (keys, certificates) run beside the Tars slot, so the journal's order can
    // shift by a step or two between runs: the first kill at or after `lo` that lands
    // after a delete-config step.
    let (bed, before) = (lo..lo + 30)
        .filter_map(switch_killed_at)
        .find(|(bed, _)| deleted_a_row(bed))
        .expect("killed after a delete-config step");
    assert_ne!(
        bed.snapshot(),
        before,
        "the kill came after the switch changed Tars"
    );
    let journal = std::fs::read_to_string(bed.path().join(JOURNAL)).unwrap();
    assert!(!journal.contains("PRIVATE KEY"), "key material in the journal");
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_contains(&rollback.stdout, "Rollback complete", "rollback");
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    // Back on RSA in Tars and in state: the topology still asks for SM, so the plan
    // asks for the flag again.
    let plan = bed.run(&["plan", "-c", "config.toml"]);
    assert_contains(&plan.stderr, "--switch-crypto", "after rollback");
}

#[test]
fn old_rows_only_tars_holds_are_removed_by_the_switch_too() {
    let bed = applied(false, Tars::default());
    // The state forgets the old rows (as after a lost state): only Tars has them.
    for file in RSA_SET {
        for server in [RPC, GATEWAY] {
            let address = format!("config[\"{server}\"][\"{NEW}\"][\"{file}\"]");
            let rm = bed.run(&["state", "rm", "-c", "config.toml", &address]);
            assert_eq!(rm.code, Some(0), "{}", rm.both());
        }
    }
    set_sm(&bed, true);
    let plan = bed.run(&["plan", "-c", "config.toml", "--switch-crypto"]);
    assert_eq!(plan.code, Some(0), "{}", plan.both());
    assert_contains(
        &plan.stdout,
        &format!("- config[\"{RPC}\"][\"{NEW}\"][\"ssl.key\"]"),
        "the row only Tars holds is deleted",
    );
    assert!(!plan.stdout.contains("BEGIN"), "key material in the plan");
    let run = switch(&bed);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_only_set(&bed, true, "RSA → SM");
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());
}
