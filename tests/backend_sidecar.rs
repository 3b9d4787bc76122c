//! The undo sidecar in the shared backend (issue 12, Deliver 2 and 4): a destroy killed
//! after it kept a node's `ssl.key` for its undo leaves that key sealed with `age` in
//! the database (not PEM, no local file); a second working directory rolls the run
//! back with the team's identity, and refuses clearly without it or with another one.

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;

use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;
use common::{Bed, DESTROY1, Start, Tars, assert_contains, assert_model_eq};
use mysql::prelude::Queryable;
use tarsform::state::StepPhase;

/// The bed's topology on a fresh database, with the password and identity in files.
fn use_mysql(bed: &Bed, db: &mariadb::MariaDb, identity: &str) -> String {
    let url = db.fresh_database();
    std::fs::write(bed.path().join("db.password"), format!("{}\n", mariadb::PASSWORD)).unwrap();
    std::fs::write(bed.path().join("team.agekey"), identity).unwrap();
    let mut toml = std::fs::read_to_string(bed.path().join("config.toml")).unwrap();
    toml.push_str(&format!(
        "\n[backend]\ntype = \"mysql\"\nurl = \"{url}\"\npassword_file = \"db.password\"\nidentity_file = \"team.agekey\"\n"
    ));
    std::fs::write(bed.path().join("config.toml"), toml).unwrap();
    url
}

fn new_identity() -> String {
    let id = age::x25519::Identity::generate();
    format!("# team key\n{}\n", id.to_string().expose_secret())
}

/// The journal's entries as the database holds them.
fn journal_in_db(db: &mariadb::MariaDb, database: &str) -> Vec<tarsform::state::JournalEntry> {
    let lines: Vec<Vec<u8>> = db
        .root()
        .unwrap()
        .query(format!(
            "SELECT line FROM {database}.tarsform_journal ORDER BY seq"
        ))
        .unwrap();
    if lines.is_empty() {
        return Vec::new();
    }
    tarsform::state::journal::decode(&lines.concat())
        .unwrap()
        .journal
        .entries
}

fn sealed_sidecar(db: &mariadb::MariaDb, database: &str) -> Option<Vec<u8>> {
    db.root()
        .unwrap()
        .query_first(format!(
            "SELECT sealed FROM {database}.tarsform_secret WHERE name = 'journal.secrets'"
        ))
        .unwrap()
}

/// `tarsform ARGS` in `dir` (a second runner), with extra environment.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .current_dir(dir)
        .env("TARSFORM_TARS_TOKEN", common::TOKEN)
        .env("NO_COLOR", "1")
        .env("TARSFORM_SETTLE", "100ms")
        .env("TARSFORM_START_TIMEOUT", "10s")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let both = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), both)
}

#[test]
fn a_killed_destroy_seals_the_old_key_in_the_database_and_another_runner_rolls_it_back() {
    let Some(db) = mariadb::server() else { return };
    let identity = new_identity();
    // The first kill point where the journal's last record is an undeploy's write-ahead
    // (its inverse keeps the node's ssl.key in the sidecar).
    let mut found = None;
    for k in 1..200 {
        let bed = Bed::new(Start::Seed, Tars::default());
        let url = use_mysql(&bed, db, &identity);
        let database = url.rsplit('/').next().unwrap().to_string();
        let applied = bed.apply();
        assert_eq!(applied.code, Some(0), "{}", applied.both());
        let before = bed.snapshot();
        let run = bed.run_env(DESTROY1, &[("TARSFORM_CRASH_AFTER_ENTRY", &k.to_string())]);
        assert!(
            run.code.is_none(),
            "the destroy finished before an undeploy: {}",
            run.both()
        );
        let entries = journal_in_db(db, &database);
        if entries
            .last()
            .is_some_and(|e| e.phase == StepPhase::Prepared && e.step.starts_with("undeploy "))
        {
            found = Some((bed, database, before));
            break;
        }
    }
    let (bed, database, before) = found.expect("a kill point after an undeploy's write-ahead record");

    let sealed = sealed_sidecar(db, &database).expect("the sidecar is in the database");
    assert!(sealed.starts_with(b"age-encryption.org/v1"), "not an age file");
    assert!(
        !sealed.windows(10).any(|w| w == b"-----BEGIN"),
        "PEM in the table"
    );
    assert!(
        !bed.exists("state"),
        "nothing local: the state is in the database"
    );
    let journal: Vec<Vec<u8>> = db
        .root()
        .unwrap()
        .query(format!("SELECT line FROM {database}.tarsform_journal"))
        .unwrap();
    assert!(!journal.concat().windows(11).any(|w| w == b"PRIVATE KEY"));

    // A second runner: the topology, the password, no state, no generated/.
    let other = tempfile::tempdir().unwrap();
    for file in ["config.toml", "db.password"] {
        std::fs::copy(bed.path().join(file), other.path().join(file)).unwrap();
    }
    let config = std::fs::read_to_string(other.path().join("config.toml")).unwrap();
    let without_identity = config.replace("identity_file = \"team.agekey\"\n", "");
    assert_ne!(config, without_identity);
    std::fs::write(other.path().join("config.toml"), without_identity).unwrap();
    let rollback = ["rollback", "-c", "config.toml", "--auto-approve"];

    // Without the identity: the undo that needs the key fails clearly; nothing lost.
    let (code, out) = run_in(other.path(), &rollback, &[]);
    assert_eq!(code, Some(3), "{out}");
    assert_contains(&out, "no age identity is set", "rollback without the identity");
    assert_contains(&out, "TARSFORM_AGE_IDENTITY_FILE", "the hint");
    assert!(sealed_sidecar(db, &database).is_some(), "the sidecar is kept");

    // Another identity: refused, naming the cause.
    std::fs::write(other.path().join("wrong.agekey"), new_identity()).unwrap();
    let (code, out) = run_in(
        other.path(),
        &rollback,
        &[("TARSFORM_AGE_IDENTITY_FILE", "wrong.agekey")],
    );
    assert_eq!(code, Some(3), "{out}");
    assert_contains(&out, "sealed for another age identity", "wrong identity");
    assert!(
        !out.contains("AGE-SECRET-KEY") && !out.contains("PRIVATE KEY"),
        "{out}"
    );

    // The team's identity: the node comes back with its old key.
    std::fs::write(other.path().join("team.agekey"), &identity).unwrap();
    let (code, out) = run_in(
        other.path(),
        &rollback,
        &[("TARSFORM_AGE_IDENTITY_FILE", "team.agekey")],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "Rollback complete", "rollback with the identity");
    assert!(
        !out.contains("AGE-SECRET-KEY") && !out.contains("PRIVATE KEY"),
        "{out}"
    );
    assert_model_eq(&before, &bed.snapshot(), "after the rollback from another runner");
    assert_eq!(sealed_sidecar(db, &database), None, "the sidecar is removed");
    assert!(journal_in_db(db, &database).is_empty(), "the journal is finished");
    assert!(!other.path().join("state").exists());
}
