//! Recovery regressions (issue 9): writes that land after the client's timeout, a
//! rollback that cannot restore a row (exit 3 with the difference), torn journals,
//! a kill inside `create-ca`, undo records and their 0600 sidecar, and paths named by a
//! hand-edited state or saved plan.

mod common;

use std::path::Path;

use common::*;
use tarsform::state::{JournalFile, StepPhase};

const SIDECAR: &str = "state/chain0.state.json.journal.secrets";
const PLAN: &[&str] = &["plan", "-c", "config.toml", "--detailed-exitcode"];

fn journal_of(bed: &Bed) -> tarsform::state::Journal {
    JournalFile::load(&bed.path().join(STATE))
        .unwrap()
        .expect("a journal")
}

/// Runs `args` killed after journal entry `k`; `None` when the run finished first.
fn killed_at(bed: &Bed, args: &[&str], k: usize) -> Option<Run> {
    let run = bed.run_env(args, &[("TARSFORM_CRASH_AFTER_ENTRY", &k.to_string())]);
    (run.code.is_none()).then_some(run)
}

/// A fresh bed of `start` killed at the first kill point whose journal satisfies `hit`
/// (after `setup`). Steps that are ready together may start in any order, so the
/// predicate looks at the journal, and every kill point is tried.
fn kill_where(
    start: Start,
    setup: impl Fn(&Bed),
    args: &[&str],
    hit: impl Fn(&tarsform::state::Journal) -> bool,
) -> (Bed, tarsform::emulator::ModelView) {
    for k in 1..300 {
        let bed = Bed::new(start, Tars::default());
        setup(&bed);
        let before = bed.snapshot();
        if killed_at(&bed, args, k).is_none() {
            break;
        }
        if hit(&journal_of(&bed)) {
            return (bed, before);
        }
    }
    panic!("no journal entry matched");
}

fn applied(bed: &Bed) {
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
}

#[test]
fn a_registration_that_lands_after_the_timeout_is_read_back_and_the_apply_goes_on() {
    let bed = Bed::new(Start::Fresh, Tars::faults(&["late:deploy_server#1@2500"]));
    let run = bed.run_env(
        &["apply", "-c", "config.toml", "--auto-approve"],
        &[("TARSFORM_CALL_TIMEOUT", "1")],
    );
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stdout, "Apply complete!", "apply");
    let replan = bed.run(PLAN);
    assert_eq!(replan.code, Some(0), "{}", replan.both());
}

#[test]
fn a_config_row_added_after_the_timeout_is_removed_by_the_rollback() {
    let bed = Bed::new(Start::Fresh, Tars::faults(&["late:add_config_file#1@2500"]));
    let before = bed.snapshot();
    let run = bed.run_env(APPLY1, &[("TARSFORM_CALL_TIMEOUT", "1")]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(&run.stderr, "Rollback complete", "apply");
    assert_model_eq(&before, &bed.snapshot(), "after the rollback");
    assert!(!bed.exists(JOURNAL) && !bed.exists(SIDECAR));
}

#[test]
fn an_update_that_lands_after_the_timeout_counts_as_done() {
    let bed = Bed::new(Start::Seed, Tars::default());
    applied(&bed);
    let path = bed.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("listen_port = 10200", "listen_port = 10201")).unwrap();
    let n = bed.handle().call_count("update_config_file") + 1;
    bed.handle()
        .add_fault(format!("late:update_config_file#{n}@2500").parse().unwrap());
    let run = bed.run_env(APPLY1, &[("TARSFORM_CALL_TIMEOUT", "1")]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_eq!(bed.run(PLAN).code, Some(0));
}

#[test]
fn a_rollback_that_cannot_restore_a_row_prints_the_difference_and_exits_3() {
    let bed = Bed::new(Start::Seed, Tars::default());
    applied(&bed);
    let path = bed.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("listen_port = 10200", "listen_port = 10201")).unwrap();
    let before = bed.snapshot();
    let n = bed.handle().call_count("update_config_file");
    // The push lands, the restart fails, and the restore of the old content is refused.
    for rule in [
        format!("task:restart@{NEW}"),
        format!("api:update_config_file#{}", n + 2),
    ] {
        bed.handle().add_fault(rule.parse().unwrap());
    }
    let run = bed.run(APPLY1);
    assert_eq!(run.code, Some(3), "{}", run.both());
    assert!(!run.stderr.contains("Rollback complete"), "{}", run.both());
    let address = format!("config[\"{RPC}\"][\"{NEW}\"][\"config.ini\"]");
    for needle in [
        "Rollback INCOMPLETE",
        address.as_str(),
        "Tars id",
        "expected content sha256",
        "found content sha256",
        "fix: put the expected content back in config row",
        "tarsform rollback",
    ] {
        assert_contains(&run.stderr, needle, "apply");
    }
    assert!(bed.exists(JOURNAL));

    bed.handle().clear_faults();
    // Unattended and unapproved: the steps are listed, nothing is undone.
    let asked = bed.run(&["rollback", "-c", "config.toml"]);
    assert_eq!(asked.code, Some(1), "{}", asked.both());
    assert_contains(
        &asked.stderr,
        "will be undone, in this order",
        "unapproved rollback",
    );
    assert_contains(
        &asked.stderr,
        "refusing to roll back without confirmation",
        "unapproved rollback",
    );
    assert!(bed.exists(JOURNAL), "an unapproved rollback keeps the journal");
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_contains(&rollback.stdout, "Rollback complete", "rollback");
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    assert!(!bed.exists(JOURNAL) && !bed.exists(SIDECAR));
}

#[test]
fn a_killed_undeploy_keeps_the_key_in_a_0600_sidecar_and_rollback_registers_the_node_again() {
    let is_undeploy_record = |j: &tarsform::state::Journal| {
        j.entries
            .last()
            .is_some_and(|e| e.phase == StepPhase::Prepared && e.step.starts_with("undeploy "))
    };
    let (bed, before) = kill_where(Start::Seed, applied, DESTROY1, is_undeploy_record);
    let journal = std::fs::read_to_string(bed.path().join(JOURNAL)).unwrap();
    assert!(!journal.contains("PRIVATE KEY"), "key material in the journal");
    let sidecar = std::fs::read_to_string(bed.path().join(SIDECAR)).expect("sidecar");
    assert!(sidecar.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(bed.path().join(SIDECAR))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Kill again inside the undeploy task, so the node is really gone first.
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_contains(&rollback.stdout, "Rollback complete", "rollback");
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    assert!(!bed.exists(SIDECAR), "sidecar left");
    assert_eq!(bed.run(PLAN).code, Some(0));
}

#[test]
fn after_the_undeploy_ran_rollback_restores_the_node_with_its_old_contents() {
    // Killed after the first undeploy completed: the node is gone from Tars.
    let done = |j: &tarsform::state::Journal| {
        j.entries
            .iter()
            .any(|e| e.phase == StepPhase::Completed && e.step.starts_with("undeploy "))
    };
    let (bed, before) = kill_where(Start::Seed, applied, DESTROY1, done);
    assert_ne!(
        bed.snapshot(),
        before,
        "the kill came after a node was undeployed"
    );
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    assert_eq!(bed.run(PLAN).code, Some(0));
}

#[test]
fn a_torn_journal_record_is_skipped_and_both_rollback_and_apply_recover() {
    let started = |j: &tarsform::state::Journal| {
        j.entries
            .iter()
            .any(|e| e.phase == StepPhase::Completed && e.step.starts_with("register "))
    };
    for roll_back in [true, false] {
        let (bed, before) = kill_where(Start::Seed, |_| {}, APPLY1, started);
        // A torn append (a full disk) with the next record glued on.
        let path = bed.path().join(JOURNAL);
        let mut bytes = std::fs::read(&path).unwrap();
        let record = tarsform::state::journal::frame(&tarsform::state::JournalEntry::new(
            "x",
            StepPhase::Started,
            serde_json::json!({}),
            "t",
        ));
        bytes.extend_from_slice(&record[..record.len() / 2]);
        std::fs::write(&path, bytes).unwrap();
        if roll_back {
            let run = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
            assert_eq!(run.code, Some(0), "{}", run.both());
            assert_contains(&run.stderr, "torn or damaged record", "rollback");
            assert_model_eq(&before, &bed.snapshot(), "after rollback");
        } else {
            let run = bed.run(APPLY1);
            assert_eq!(run.code, Some(0), "{}", run.both());
            assert_eq!(bed.run(PLAN).code, Some(0));
        }
        assert!(!bed.exists(JOURNAL));
    }
}

#[test]
fn a_kill_inside_create_ca_is_cleaned_up_and_the_next_apply_rolls_forward() {
    let inside = |j: &tarsform::state::Journal| {
        j.entries
            .last()
            .is_some_and(|e| e.phase == StepPhase::Prepared && e.step.starts_with("create-ca "))
    };
    let (bed, _) = kill_where(Start::Fresh, |_| {}, APPLY1, inside);
    // As if killed between the key and the certificate of the CA the journal names.
    let step = journal_of(&bed).entries.last().unwrap().step.clone();
    let kind = if step.contains("gateway") {
        "gateway"
    } else {
        "rpc"
    };
    let ca = bed.path().join(format!("generated/{kind}/chain0/ca"));
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("ca.key"), "half").unwrap();
    std::fs::write(ca.join(".ca.crt.a1b2c3.tmp"), "half").unwrap();
    let run = bed.run(APPLY1);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(!ca.join(".ca.crt.a1b2c3.tmp").exists());
    assert_eq!(bed.run(PLAN).code, Some(0));
    let again = bed.run(APPLY1);
    assert_eq!(again.code, Some(0), "{}", again.both());
}

#[test]
fn a_state_naming_a_path_outside_the_workspace_never_gets_it_deleted() {
    let bed = Bed::new(Start::Seed, Tars::default());
    applied(&bed);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("precious/config.ini");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::write(&victim, "keep me").unwrap();
    let state_path = bed.path().join(STATE);
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let address = format!("config[\"{RPC}\"][\"{NEW}\"][\"config.ini\"]");
    state["resources"][&address]["attributes"]["local_path"] = victim.display().to_string().into();
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let target = format!("node[\"{RPC}\"][\"{NEW}\"]");
    let run = bed.run(&[
        "destroy",
        "-c",
        "config.toml",
        "--auto-approve",
        "--target",
        &target,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(victim.exists(), "{}", run.both());
    assert!(Path::new(&victim).parent().unwrap().exists());
    // The node's own files, from the layout, are gone.
    let node_dir = bed.path().join(format!("generated/rpc/chain0/{RPC}/{NEW}"));
    assert!(!node_dir.join("config.ini").exists(), "{}", node_dir.display());
}

#[test]
fn a_saved_plan_naming_a_path_outside_the_workspace_is_refused() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let outside = tempfile::tempdir().unwrap();
    let evil = outside.path().join("config.ini");
    let address = format!("config[\"{RPC}\"][\"{NEW}\"][\"config.ini\"]");
    bed.edited_saved_plan(|plan| {
        let change = plan
            .changes
            .iter_mut()
            .find(|c| c.address.to_string() == address)
            .unwrap();
        change
            .after
            .as_mut()
            .unwrap()
            .insert("local_path".into(), evil.display().to_string().into());
    });
    let before = bed.snapshot();
    let run = bed.run(&["apply", "p.json", "-c", "config.toml"]);
    assert_ne!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stderr, "workspace layout", "apply");
    assert!(!evil.exists(), "written outside the workspace");
    assert_model_eq(&before, &bed.snapshot(), "after the refused plan");
}

/// True when the state lists a certificate whose `issue-cert` step has no "completed"
/// record: the run was killed between the state save and the journal record.
fn cert_saved_but_unfinished(bed: &Bed) -> bool {
    let journal = journal_of(bed);
    let Some(resources) = bed.resources() else {
        return false;
    };
    journal
        .entries
        .iter()
        .filter(|e| e.step.starts_with("issue-cert ") && e.phase == StepPhase::Started)
        .filter(|started| {
            !journal
                .entries
                .iter()
                .any(|e| e.step == started.step && e.phase == StepPhase::Completed)
        })
        .filter_map(|e| e.detail.get("address").and_then(|a| a.as_str()))
        .any(|address| resources.contains_key(address))
}

/// A fresh bed killed right after the first state save that lists an unfinished cert,
/// with the model from before the run.
fn killed_between_cert_save_and_record() -> (Bed, tarsform::emulator::ModelView) {
    for k in 1..200 {
        let bed = Bed::new(Start::Fresh, Tars::default());
        let before = bed.snapshot();
        let run = bed.run_env(APPLY1, &[("TARSFORM_CRASH_AFTER_SAVE", &k.to_string())]);
        assert!(
            run.code.is_none(),
            "the run ended before save {k}: {}",
            run.both()
        );
        if cert_saved_but_unfinished(&bed) {
            return (bed, before);
        }
    }
    panic!("no kill point between a certificate's state save and its journal record");
}

#[test]
fn a_kill_between_a_certificate_save_and_its_record_rolls_forward() {
    let (bed, _) = killed_between_cert_save_and_record();
    let run = bed.run(APPLY1);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stdout, "Apply complete!", "roll forward");
    assert_eq!(bed.run(PLAN).code, Some(0), "no changes after the roll forward");
}

#[test]
fn a_kill_between_a_certificate_save_and_its_record_rolls_back_then_forward() {
    let (bed, before) = killed_between_cert_save_and_record();
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_model_eq(&before, &bed.snapshot(), "after the rollback");
    let run = bed.run(APPLY1);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_eq!(bed.run(PLAN).code, Some(0), "no changes after the roll forward");
}
