//! A pull request's plan on a CI runner: an empty workspace (the topology and the
//! release archives from the repository, no `generated/`, no keys, no state file) with
//! the state in the shared backend plans exactly what the machine that holds the keys
//! plans: the same changes, reasons, values and digests. Only what describes the local
//! files differs: the `inputs_digest` and notes saying the certificates were checked
//! against the state because there is no local copy.

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;

use std::path::Path;
use std::process::Command;

use common::{Bed, Start, TOKEN, Tars};

fn plan_json(dir: &Path, refresh: bool) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsform"));
    command
        .args([
            "plan",
            "-c",
            "config.toml",
            "--format",
            "json",
            "--detailed-exitcode",
        ])
        .arg(format!("--refresh={refresh}"))
        .current_dir(dir)
        .env("NO_COLOR", "1");
    // Without refresh the runner holds no Tars token at all.
    match refresh {
        true => command.env("TARSFORM_TARS_TOKEN", TOKEN),
        false => command.env_remove("TARSFORM_TARS_TOKEN"),
    };
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan without what describes the local files, and those notes.
fn without_local_inputs(plan: &str) -> (serde_json::Value, Vec<String>) {
    let mut plan: serde_json::Value = serde_json::from_str(plan).expect("plan JSON");
    let object = plan.as_object_mut().unwrap();
    object.remove("inputs_digest").expect("an inputs digest");
    let notes = object.remove("notes").expect("notes");
    let notes = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    (plan, notes)
}

/// `address: actions (reason)` per planned change, for a readable difference.
fn changes(plan: &str) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(plan).expect("plan JSON");
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {} ({})",
                c["address"], c["change"]["actions"], c["action_reason"]
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_runner_without_generated_or_keys_plans_what_the_key_holder_plans() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Seed, Tars::default());
    let url = db.fresh_database();
    std::fs::write(bed.path().join("db.password"), mariadb::PASSWORD).unwrap();
    let config = bed.path().join("config.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!(
        "\n[backend]\ntype = \"mysql\"\nurl = \"{url}\"\npassword_file = \"db.password\"\n"
    ));
    std::fs::write(&config, &toml).unwrap();
    let applied = bed.apply();
    assert_eq!(applied.code, Some(0), "{}", applied.both());

    // The pull request: four threads more for the new rpc node.
    let changed = toml.replacen("thread_count = 4", "thread_count = 8", 1);
    assert_ne!(changed, toml);
    std::fs::write(&config, &changed).unwrap();
    let runner = tempfile::tempdir().unwrap();
    std::fs::write(runner.path().join("config.toml"), &changed).unwrap();
    std::fs::copy(bed.path().join("db.password"), runner.path().join("db.password")).unwrap();
    copy_dir(&bed.path().join("binary"), &runner.path().join("binary"));

    for refresh in [true, false] {
        let (code, on_holder, stderr) = plan_json(bed.path(), refresh);
        assert_eq!(code, Some(2), "the change is planned on the key holder: {stderr}");
        let (code, on_runner, stderr) = plan_json(runner.path(), refresh);
        assert_eq!(code, Some(2), "{stderr}\n{on_runner}");
        assert_eq!(
            changes(&on_runner),
            changes(&on_holder),
            "the runner plans other changes (refresh {refresh}); stderr:\n{stderr}"
        );
        let (holder_plan, holder_notes) = without_local_inputs(&on_holder);
        let (runner_plan, runner_notes) = without_local_inputs(&on_runner);
        assert_eq!(runner_plan, holder_plan, "refresh {refresh}");
        let extra: Vec<&String> = runner_notes
            .iter()
            .filter(|n| !holder_notes.contains(n))
            .collect();
        assert_eq!(
            runner_notes.len(),
            holder_notes.len() + extra.len(),
            "{runner_notes:?}"
        );
        assert!(!extra.is_empty());
        for note in extra {
            assert!(
                note.contains("kept as recorded in state")
                    || note.contains("against the CA certificate in state"),
                "{note}"
            );
        }
    }
    assert!(
        !runner.path().join("generated").exists(),
        "planning wrote no files"
    );
    assert!(!runner.path().join("state").exists());
}
