//! The `mysql` state backend against a private MariaDB on loopback: compare-and-swap
//! saves, history, pull/push, migration, the session lock across processes (racing
//! applies, `--lock-timeout`, a holder killed with SIGKILL) and a rollback finished from
//! another working directory through the backend's journal.

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;

use std::path::Path;
use std::time::Duration;

use common::{APP, Bed, NEW, RPC, Start, Tars, assert_contains, assert_model_eq};
use mysql::prelude::Queryable;
use tarsform::addr::{Address, ResourceKind};
use tarsform::secret::Secret;
use tarsform::state::backend::MysqlTarget;
use tarsform::state::{JournalFile, ResourceState, State, StateError, StateLocation, StateStore};

const WAIT: Duration = Duration::from_secs(60);

fn location(url: &str) -> StateLocation {
    let target = MysqlTarget::new(url, APP, Some(Secret::new(mariadb::PASSWORD))).unwrap();
    StateLocation::Mysql(target)
}

fn a_state(lineage: &str) -> State {
    let mut s = State::new(APP, lineage);
    s.insert(
        Address::server(RPC),
        ResourceState::new(ResourceKind::Server).with_attribute("patch_id", 7),
    );
    s
}

/// Points the bed's topology at a fresh database; the password comes from a file.
fn use_mysql(bed: &Bed, db: &mariadb::MariaDb) -> String {
    let url = db.fresh_database();
    let password_file = bed.path().join("db.password");
    std::fs::write(&password_file, format!("{}\n", mariadb::PASSWORD)).unwrap();
    append_backend(&bed.path().join("config.toml"), &url, &password_file);
    url
}

fn append_backend(config: &Path, url: &str, password_file: &Path) {
    let mut toml = std::fs::read_to_string(config).unwrap();
    toml.push_str(&format!(
        "\n[backend]\ntype = \"mysql\"\nurl = \"{url}\"\npassword_file = \"{}\"\n",
        password_file.display()
    ));
    std::fs::write(config, toml).unwrap();
}

#[test]
fn saves_are_compare_and_swap_and_every_version_is_kept() {
    let Some(db) = mariadb::server() else { return };
    let at = location(&db.fresh_database());
    let mut store = StateStore::open_at(&at, "test", Duration::ZERO).unwrap();
    assert_eq!(store.load().unwrap(), None);
    let mut s = a_state("lineage-a");
    store.save(&mut s).unwrap();
    store.save(&mut s).unwrap();
    assert_eq!(s.serial, 2);
    assert_eq!(store.load().unwrap().unwrap(), s);

    // A copy read at serial 1 is stale once serial 2 is stored; another lineage is refused.
    let mut stale = s.clone();
    stale.serial = 1;
    let err = store.save(&mut stale).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Stale {
                on_disk: 2,
                ours: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(stale.serial, 1, "a refused save leaves the serial as it was");
    let err = store.save(&mut a_state("lineage-b")).unwrap_err();
    assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
    assert_eq!(store.load().unwrap().unwrap(), s, "nothing was overwritten");

    let history = store.backend().history().unwrap();
    let serials: Vec<u64> = history.iter().map(|v| v.serial).collect();
    assert_eq!(serials, [1, 2]);
    assert!(
        history
            .iter()
            .all(|v| v.operation == "test" && v.written_by.contains('@'))
    );
    assert_eq!(store.backend().version(1).unwrap().unwrap().serial, 1);
}

#[test]
fn a_second_lock_fails_fast_naming_the_holder_and_force_unlock_needs_a_dead_one() {
    let Some(db) = mariadb::server() else { return };
    let at = location(&db.fresh_database());
    let held = StateStore::open_at(&at, "apply", Duration::ZERO).unwrap();
    let err = StateStore::open_at(&at, "plan", Duration::ZERO)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&held.lock_info().id) && err.contains("apply"),
        "{err}"
    );
    let err = at.open().unwrap().force_unlock(&held.lock_info().id).unwrap_err();
    assert!(matches!(err, StateError::LockHeld { .. }), "{err}");

    // A waiting open proceeds once the holder lets go.
    let id = held.lock_info().id.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(held);
    });
    let waited = StateStore::open_at(&at, "plan", Duration::from_secs(30)).unwrap();
    releaser.join().unwrap();
    assert_eq!(
        waited.abandoned_lock(),
        None,
        "the holder removed its record: {id}"
    );
}

#[test]
fn the_journal_lives_in_the_backend_and_only_the_lock_holder_writes_it() {
    let Some(db) = mariadb::server() else { return };
    let at = location(&db.fresh_database());
    let store = StateStore::open_at(&at, "apply", Duration::ZERO).unwrap();
    let journal = tarsform::state::Journal::new("run-1", "apply", "2026-01-01T00:00:00Z", "sha256:ab");
    let mut file = JournalFile::create(store.journal().unwrap(), journal).unwrap();
    let entry = |phase| tarsform::state::JournalEntry::new("a", phase, serde_json::json!({"step": "a"}), "t");
    file.append(entry(tarsform::state::StepPhase::Started)).unwrap();
    file.append(entry(tarsform::state::StepPhase::Completed)).unwrap();

    // Another connection (no lock) reads it, but cannot write it.
    let reader = at.open().unwrap();
    let back = JournalFile::load(reader.journal().unwrap()).unwrap().unwrap();
    assert_eq!(&back, file.journal());
    let mut intruder = JournalFile::resume(reader.journal().unwrap()).unwrap().unwrap();
    let err = intruder
        .append(entry(tarsform::state::StepPhase::Undone))
        .unwrap_err();
    assert!(matches!(err, StateError::LockLost { .. }), "{err}");

    // Entries written together (group commit) land in one statement, in order; an
    // intruder's batch inserts none of its rows.
    let steps = ["b", "c", "d", "e"];
    let batch = |phase| {
        steps
            .iter()
            .map(|s| tarsform::state::JournalEntry::new(*s, phase, serde_json::json!({"step": s}), "t"))
            .collect::<Vec<_>>()
    };
    file.append_all(batch(tarsform::state::StepPhase::Started))
        .unwrap();
    let back = JournalFile::load(reader.journal().unwrap()).unwrap().unwrap();
    assert_eq!(&back, file.journal());
    let order: Vec<&str> = back.entries.iter().map(|e| e.step.as_str()).collect();
    assert_eq!(order, ["a", "a", "b", "c", "d", "e"]);
    let mut intruder = JournalFile::resume(reader.journal().unwrap()).unwrap().unwrap();
    let err = intruder
        .append_all(batch(tarsform::state::StepPhase::Undone))
        .unwrap_err();
    assert!(matches!(err, StateError::LockLost { .. }), "{err}");
    let back = JournalFile::load(reader.journal().unwrap()).unwrap().unwrap();
    assert_eq!(back.entries.len(), 6, "the intruder's rows are not there");

    file.remove().unwrap();
    assert_eq!(JournalFile::load(reader.journal().unwrap()).unwrap(), None);
}

#[test]
fn bodies_are_stored_compressed_and_a_schema_1_database_still_reads() {
    let Some(db) = mariadb::server() else { return };
    let url = db.fresh_database();
    let at = location(&url);
    let mut store = StateStore::open_at(&at, "test", Duration::ZERO).unwrap();
    let mut s = a_state("lineage-z");
    store.save(&mut s).unwrap();
    let database = url.rsplit('/').next().unwrap().to_string();
    let mut root = db.root().unwrap();
    root.query_drop(format!("USE `{database}`")).unwrap();
    let (stored, version): (Vec<u8>, u32) = root
        .query_first("SELECT body, (SELECT version FROM tarsform_schema) FROM tarsform_state")
        .unwrap()
        .unwrap();
    assert_eq!(&stored[..2], [0x1f, 0x8b], "gzip, not JSON");
    assert_eq!(version, 2);
    drop(store);

    // A database written by schema 1: plain JSON bodies. It reads and is raised to 2.
    let json = serde_json::to_vec_pretty(&s).unwrap();
    root.exec_drop("UPDATE tarsform_state SET body = ?", (&json,))
        .unwrap();
    root.query_drop("UPDATE tarsform_schema SET version = 1").unwrap();
    let mut store = StateStore::open_at(&at, "test", Duration::ZERO).unwrap();
    assert_eq!(store.load().unwrap().unwrap(), s);
    let version: Option<u32> = root.query_first("SELECT version FROM tarsform_schema").unwrap();
    assert_eq!(version, Some(2));
    store.save(&mut s).unwrap();
    assert_eq!(store.load().unwrap().unwrap(), s);

    // A torn body is a clear error naming the state, not a panic.
    root.exec_drop(
        "UPDATE tarsform_state SET body = ?",
        (&stored[..stored.len() - 8],),
    )
    .unwrap();
    let err = store.load().unwrap_err().to_string();
    assert!(err.contains("not valid gzip") && err.contains(&database), "{err}");
}

#[test]
fn pull_push_history_and_migrate_through_the_binary() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Seed, Tars::default());
    let local_state = bed.path().join("state/chain0.state.json");
    std::fs::create_dir_all(local_state.parent().unwrap()).unwrap();
    let mut seeded = a_state("5b0c6f7e-0000-4000-8000-000000000001");
    StateStore::open(&local_state, "seed")
        .unwrap()
        .save(&mut seeded)
        .unwrap();
    StateStore::open(&local_state, "seed")
        .unwrap()
        .save(&mut seeded)
        .unwrap();
    let url = use_mysql(&bed, db);

    // The local file moves into the database with its lineage and serial.
    let run = bed.run(&["state", "migrate", "--to", &url, "--backend", "local"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stderr, "serial 2", "migrate");
    let pulled = bed.run(&["state", "pull"]);
    assert_eq!(pulled.code, Some(0), "{}", pulled.both());
    let in_db: State = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(
        (in_db.lineage.as_str(), in_db.serial),
        (seeded.lineage.as_str(), 2)
    );
    assert_eq!(in_db.resources, seeded.resources);

    // Push an edited pull; pulling again gives exactly what push wrote.
    let mut edited = in_db.clone();
    edited.remove(&Address::server(RPC));
    std::fs::write(
        bed.path().join("edited.json"),
        serde_json::to_vec_pretty(&edited).unwrap(),
    )
    .unwrap();
    let run = bed.run(&["state", "push", "edited.json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stderr, "as serial 3", "push");
    let again: State = serde_json::from_str(&bed.run(&["state", "pull"]).stdout).unwrap();
    assert_eq!(again.serial, 3);
    assert!(again.resources.is_empty());
    assert_eq!(again.lineage, seeded.lineage);

    // An old copy and another lineage are refused.
    let run = bed.run(&["state", "push", "state/chain0.state.json"]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(&run.stderr, "already at serial 3", "stale push");
    let mut foreign = a_state("another-lineage");
    foreign.serial = 9;
    std::fs::write(
        bed.path().join("foreign.json"),
        serde_json::to_vec(&foreign).unwrap(),
    )
    .unwrap();
    let run = bed.run(&["state", "push", "foreign.json"]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(&run.stderr, "lineage", "foreign push");

    let run = bed.run(&["state", "history"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let serials: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(serials, ["2", "3"], "{}", run.stdout);
    assert_contains(&run.stdout, "state migrate", "history");
    assert_contains(&run.stdout, "state push", "history");
    let old = bed.run(&["state", "pull", "--serial", "2"]);
    assert_eq!(serde_json::from_str::<State>(&old.stdout).unwrap(), in_db);

    // And back to a local file.
    let run = bed.run(&["state", "migrate", "--to", "back.json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let back = tarsform::state::read_state(&bed.path().join("back.json"))
        .unwrap()
        .unwrap();
    assert_eq!((back.serial, back.lineage), (3, seeded.lineage.clone()));
    let secrets = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !secrets.contains(mariadb::PASSWORD),
        "the password leaked: {secrets}"
    );
}

#[test]
fn racing_applies_one_wins_the_other_names_the_holder_and_a_lock_timeout_waits() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Seed, Tars::latency_ms(60));
    use_mysql(&bed, db);
    let apply = ["apply", "-c", "config.toml", "--auto-approve"];
    let mut first = bed.spawn(&apply);
    first.wait_for_line("preflight: started", WAIT);

    let second = bed.apply();
    assert_eq!(second.code, Some(1), "{}", second.both());
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the second apply waited for the first"
    );
    assert_contains(
        &second.stderr,
        "is locked by another tarsform run",
        "second apply",
    );
    assert_contains(&second.stderr, "operation: apply", "second apply");
    assert_contains(&second.stderr, "tarsform force-unlock", "second apply");

    let waiting = bed.spawn(&[
        "apply",
        "-c",
        "config.toml",
        "--auto-approve",
        "--lock-timeout",
        "5m",
    ]);
    let first = first.finish();
    assert_eq!(first.code, Some(0), "{}", first.both());
    let waited = waiting.finish();
    assert_eq!(waited.code, Some(0), "{}", waited.both());
    assert!(!waited.stderr.contains("is locked"), "{}", waited.both());
    assert_contains(&waited.stdout, "No changes", "the waiting apply, after the first");
    assert!(
        !bed.exists("state/chain0.state.json"),
        "nothing was written locally"
    );
}

#[test]
fn a_killed_holder_releases_its_lock_and_another_directory_rolls_its_run_back() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Seed, Tars::latency_ms(40));
    let url = use_mysql(&bed, db);
    let before = bed.snapshot();
    let mut run = bed.spawn(&["apply", "-c", "config.toml", "--auto-approve"]);
    run.wait_for_line(&format!("register node[\"{RPC}\"][\"{NEW}\"]: done"), WAIT);
    run.signal("KILL");
    let killed = run.finish();
    assert_eq!(killed.code, None, "killed by a signal: {}", killed.both());

    // The dead run's lock record is still there, its session lock is gone.
    let mut root = db.root().unwrap();
    let database = url.rsplit('/').next().unwrap();
    let rows: Vec<String> = root
        .query(format!("SELECT lock_id FROM {database}.tarsform_lock"))
        .unwrap();
    assert_eq!(rows.len(), 1, "the killed run left its lock record");

    // A second working directory with only the topology and the password.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(bed.path().join("config.toml"), other.path().join("config.toml")).unwrap();
    std::fs::copy(bed.path().join("db.password"), other.path().join("db.password")).unwrap();
    let config = std::fs::read_to_string(other.path().join("config.toml"))
        .unwrap()
        .replace(
            &bed.path().display().to_string(),
            &other.path().display().to_string(),
        );
    std::fs::write(other.path().join("config.toml"), config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(["rollback", "-c", "config.toml", "--auto-approve"])
        .current_dir(other.path())
        .env("TARSFORM_TARS_TOKEN", common::TOKEN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_contains(&stderr, "stale lock record is cleared", "rollback after a kill");
    assert_contains(&stderr, &rows[0], "rollback names the stale lock");
    assert_model_eq(&before, &bed.snapshot(), "after the rollback");
    let rows: Vec<String> = root
        .query(format!("SELECT lock_id FROM {database}.tarsform_lock"))
        .unwrap();
    assert!(rows.is_empty(), "the stale record was cleared: {rows:?}");
    let journal: Vec<u64> = root
        .query(format!("SELECT seq FROM {database}.tarsform_journal"))
        .unwrap();
    assert!(journal.is_empty(), "the journal is finished");
    assert!(!other.path().join("state").exists() && !bed.exists("state"));
}
