//! A journal is untrusted input: an edited one may name any file in its undo records
//! or any generated directory in its plan. `rollback` and the roll-forward `apply`
//! touch only files inside the workspace's `generated/`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tarsform::state::journal::encode;
use tarsform::state::{Journal, JournalEntry, JournalFile, StepPhase};

const ROLLBACK: &[&str] = &["rollback", "-c", "config.toml", "--auto-approve"];

/// Files outside the workspace the forged journal names.
struct Victims {
    _dir: tempfile::TempDir,
    removed: PathBuf,
    overwritten: PathBuf,
    backup: PathBuf,
}

impl Victims {
    fn new() -> Victims {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Victims {
            removed: file("precious.key", "keep me"),
            overwritten: file("authorized_keys", "mine"),
            backup: file("planted", "the attacker's"),
            _dir: dir,
        }
    }

    fn untouched(&self, run: &Run) {
        let read = |p: &Path| {
            std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}\n{}", p.display(), run.both()))
        };
        assert_eq!(read(&self.removed), "keep me");
        assert_eq!(read(&self.overwritten), "mine");
        assert_eq!(read(&self.backup), "the attacker's");
    }
}

/// A seed apply killed after its first journal entries, with a forged certificate step
/// whose write-ahead inverse names `victims`.
fn forged(victims: &Victims, edit_plan: impl Fn(&mut serde_json::Value)) -> Bed {
    let bed = Bed::new(Start::Seed, Tars::default());
    let killed = bed.run_env(APPLY1, &[("TARSFORM_CRASH_AFTER_ENTRY", "3")]);
    assert_eq!(killed.code, None, "killed: {}", killed.both());
    let path = bed.path().join(STATE);
    let mut journal: Journal = JournalFile::load(&path).unwrap().expect("a journal");
    for entry in journal.entries.iter_mut().filter(|e| e.step == "run") {
        if let Some(plan) = entry.detail.get_mut("plan") {
            edit_plan(plan);
        }
    }
    let step = format!("issue-cert cert[\"{RPC}\"][\"{NEW}\"][\"ssl\"]");
    let at = "2026-11-30T00:00:00Z";
    journal.entries.push(JournalEntry::new(
        &step,
        StepPhase::Started,
        serde_json::json!({ "op": "issue-cert", "address": format!("cert[\"{RPC}\"][\"{NEW}\"][\"ssl\"]"), "prior_state": {} }),
        at,
    ));
    journal.entries.push(JournalEntry::new(
        &step,
        StepPhase::Prepared,
        serde_json::json!({ "undo": {
            "undo": "remove_files",
            "paths": [victims.removed],
            "replaced": [[victims.backup, victims.overwritten]],
        }}),
        at,
    ));
    std::fs::write(JournalFile::path_for(&path), encode(&journal)).unwrap();
    bed
}

#[test]
fn a_forged_undo_naming_files_outside_the_workspace_touches_none_of_them() {
    for command in [ROLLBACK, APPLY1] {
        let victims = Victims::new();
        let bed = forged(&victims, |_| {});
        let run = bed.run(command);
        victims.untouched(&run);
        assert!(
            run.stderr.contains("outside the generated directory"),
            "{command:?} names the refused path:\n{}",
            run.both()
        );
    }
}

#[test]
fn a_journal_whose_plan_names_another_generated_directory_is_refused() {
    let victims = Victims::new();
    let root = victims.removed.parent().unwrap().display().to_string();
    let bed = forged(&victims, |plan| plan["generated_root"] = root.clone().into());
    let run = bed.run(ROLLBACK);
    victims.untouched(&run);
    assert_ne!(run.code, Some(0), "{}", run.both());
    assert!(run.stderr.contains("generated"), "{}", run.both());
}

#[test]
fn a_journal_whose_plan_is_for_another_tars_application_is_refused() {
    let victims = Victims::new();
    let bed = forged(&victims, |plan| plan["application"] = "payments".into());
    let run = bed.run(ROLLBACK);
    victims.untouched(&run);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert!(
        run.stderr
            .contains("is for chain `chain0` (Tars application `payments`), not `chain0`"),
        "{}",
        run.both()
    );
}

#[test]
fn a_saved_plan_naming_another_generated_directory_is_refused() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let elsewhere = tempfile::tempdir().unwrap();
    bed.edited_saved_plan(|plan| plan.generated_root = elsewhere.path().display().to_string());
    let before = bed.snapshot();
    let run = bed.run(&["apply", "p.json", "-c", "config.toml"]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert!(
        run.stderr.contains("as the generated directory, not `generated`"),
        "{}",
        run.both()
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "written elsewhere"
    );
    assert_model_eq(&before, &bed.snapshot(), "after the refused plan");
}
