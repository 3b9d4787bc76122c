//! The state commands against the real binary: locking across processes,
//! force-unlock, and list/show/rm over a state written by the store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tarsform::addr::{Address, ResourceKind};
use tarsform::state::{Journal, JournalFile, ResourceState, State, StateStore, read_state};

const RPC: &str = "agencyABcosRpcService";
const NEW_IP: &str = "172.25.0.5";

fn tarsform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run tarsform")
}

/// Runs in `dir`, finding the state from the topology's chain id.
fn tarsform_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("TARSFORM_TARS_TOKEN")
        .output()
        .expect("run tarsform")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A state with a server and one node of it, saved through the store.
fn seeded(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("state").join("chain0.state.json");
    let mut state = State::new("chain0", "5b0c6f7e-0000-4000-8000-000000000001");
    state.insert(
        Address::server(RPC),
        ResourceState::new(ResourceKind::Server).with_attribute("patch_id", 7),
    );
    state.insert(
        Address::node(RPC, NEW_IP),
        ResourceState::new(ResourceKind::Node)
            .with_attribute("adapter_port", 20200)
            .with_dependency(Address::server(RPC)),
    );
    StateStore::open(&path, "seed").unwrap().save(&mut state).unwrap();
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn list_show_and_rm_round_trip_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let node = format!("node[\"{RPC}\"][\"{NEW_IP}\"]");

    let out = tarsform(&["state", "list", "--state", arg(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("server[\"{RPC}\"]\n{node}\n"));
    assert_eq!(text(&out.stderr), "");
    // A filter: a kind, or an address prefix.
    let out = tarsform(&["state", "list", "node", "--state", arg(&path)]);
    assert_eq!(text(&out.stdout), format!("{node}\n"), "{}", text(&out.stderr));
    let prefix = format!("node[\"{RPC}\"]");
    let out = tarsform(&["state", "list", &prefix, "server", "--state", arg(&path)]);
    assert_eq!(text(&out.stdout), format!("server[\"{RPC}\"]\n{node}\n"));
    let out = tarsform(&["state", "list", "node[\"elsewhere\"]", "--state", arg(&path)]);
    assert!(out.status.success() && text(&out.stdout).is_empty());
    // Terraform's dotted spelling is answered with ours.
    let out = tarsform(&["state", "show", &format!("node.{RPC}"), "--state", arg(&path)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&prefix), "{}", text(&out.stderr));

    let journal = Journal::new("run-7", "apply", "2026-01-01T00:00:00Z", "sha256:00");
    let left = JournalFile::create(&path, journal).unwrap();
    let out = tarsform(&["state", "list", "--state", arg(&path)]);
    let warning = text(&out.stderr);
    assert!(
        warning.contains("run-7") && warning.contains("tarsform rollback"),
        "{warning}"
    );
    left.remove().unwrap();

    let out = tarsform(&["state", "show", &node, "--state", arg(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("adapter_port = 20200") && shown.contains("status = ready"),
        "{shown}"
    );

    let out = tarsform(&["state", "rm", &node, "--state", arg(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("Removed {node}\n"));
    let after = read_state(&path).unwrap().unwrap();
    assert_eq!(after.serial, 2);
    assert!(after.get(&Address::node(RPC, NEW_IP)).is_none());
    assert_eq!(
        read_state(&path.with_file_name("chain0.state.json.backup"))
            .unwrap()
            .unwrap()
            .serial,
        1
    );

    let out = tarsform(&["state", "show", &node, "--state", arg(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("state list"), "{}", text(&out.stderr));
}

#[test]
fn a_second_process_fails_fast_and_names_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let held = StateStore::open(&path, "apply").unwrap();
    let id = held.lock_info().id.clone();

    let started = Instant::now();
    let out = tarsform(&[
        "state",
        "rm",
        &format!("server[\"{RPC}\"]"),
        "--state",
        arg(&path),
    ]);
    let took = started.elapsed();

    assert_eq!(out.status.code(), Some(1));
    assert!(
        took < Duration::from_secs(5),
        "waited {took:?} instead of failing fast"
    );
    let err = text(&out.stderr);
    assert!(err.contains(&id) && err.contains("apply"), "{err}");
    assert!(err.contains(&format!("tarsform force-unlock {id}")), "{err}");
    assert_eq!(
        read_state(&path).unwrap().unwrap().resources.len(),
        2,
        "nothing removed"
    );

    // A live holder cannot be force-unlocked, even with the right id.
    let out = tarsform(&["force-unlock", &id, "--state", arg(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("held by a running process"),
        "{}",
        text(&out.stderr)
    );

    drop(held);
    let out = tarsform(&[
        "state",
        "rm",
        &format!("server[\"{RPC}\"]"),
        "--state",
        arg(&path),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("still depends on"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn force_unlock_refuses_a_wrong_id_and_clears_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let lock = path.with_file_name("chain0.state.json.lock");
    // What a killed run leaves: its lock record, with no process holding the OS lock.
    let record = r#"{"id":"0d4c1a52-1111-4000-8000-00000000dead","who":"ops@bastion","pid":4242,"operation":"apply","created":"2026-01-01T00:00:00Z"}"#;
    std::fs::write(&lock, record).unwrap();

    let out = tarsform(&["force-unlock", "wrong-id", "--state", arg(&path)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("0d4c1a52-1111-4000-8000-00000000dead") && err.contains("wrong-id"),
        "{err}"
    );
    assert!(lock.exists());

    let out = tarsform(&[
        "force-unlock",
        "0d4c1a52-1111-4000-8000-00000000dead",
        "--state",
        arg(&path),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ops@bastion"));
    assert!(!lock.exists());
}

#[test]
fn a_corrupt_state_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let broken = "{\n  \"format_version\": 1,\n  \"serial\": \"two\"\n}\n";
    std::fs::write(&path, broken).unwrap();

    for args in [
        vec!["state", "list", "--state", arg(&path)],
        vec!["state", "rm", "server[\"x\"]", "--state", arg(&path)],
    ] {
        let out = tarsform(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("chain0.state.json") && err.contains("line 3"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

#[test]
fn the_default_state_path_comes_from_the_chain_id() {
    let dir = tempfile::tempdir().unwrap();
    let topology = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/expand-agencyA.toml");
    let out = tarsform_in(dir.path(), &["state", "list", "-c", topology]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("state/chain0.state.json"),
        "{}",
        text(&out.stderr)
    );

    seeded(&dir);
    let out = tarsform_in(dir.path(), &["state", "list", "-c", topology]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}
