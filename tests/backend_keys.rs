//! Keys in custody (issue 12, Deliver 4): with `store_keys = true` the key holder's
//! apply stores the CA and node key material in the database sealed with `age` (no PEM
//! in the table, nothing in the output); a fresh runner with the identity fetches the
//! CA key to sign a new node's certificate and keeps no key file afterwards; without
//! the identity it plans what signs nothing, and stops clearly where a certificate must
//! be signed; another identity is refused.

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;

use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use common::{Bed, NEW, OLD, Start, Tars, assert_contains};
use mysql::prelude::Queryable;

fn identity_text(id: &age::x25519::Identity) -> String {
    format!("# team key\n{}\n", id.to_string().expose_secret())
}

/// `tarsform ARGS` in `dir`, with extra environment: (exit code, stdout + stderr).
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
    assert!(
        !both.contains("PRIVATE KEY") && !both.contains("AGE-SECRET-KEY"),
        "{both}"
    );
    (out.status.code(), both)
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "key") {
                found.push(p);
            }
        }
    }
    found
}

fn bundle(db: &mariadb::MariaDb, database: &str) -> Option<Vec<u8>> {
    db.root()
        .unwrap()
        .query_first(format!(
            "SELECT sealed FROM {database}.tarsform_secret WHERE name = 'keys.bundle'"
        ))
        .unwrap()
}

/// A runner's working directory: the topology (`toml`), the password, the packages.
fn runner(bed: &Bed, toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), toml).unwrap();
    std::fs::copy(bed.path().join("db.password"), dir.path().join("db.password")).unwrap();
    let bin = bed.path().join("binary");
    std::fs::create_dir(dir.path().join("binary")).unwrap();
    for e in std::fs::read_dir(&bin).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join("binary").join(e.file_name())).unwrap();
    }
    dir
}

#[test]
fn keys_are_sealed_in_the_database_and_a_fresh_runner_signs_with_them_and_keeps_none() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Fresh, Tars::default());
    let url = db.fresh_database();
    let database = url.rsplit('/').next().unwrap().to_string();
    std::fs::write(bed.path().join("db.password"), mariadb::PASSWORD).unwrap();
    let team = age::x25519::Identity::generate();
    std::fs::write(bed.path().join("team.agekey"), identity_text(&team)).unwrap();
    let full = std::fs::read_to_string(bed.path().join("config.toml")).unwrap()
        + &format!(
            "\n[backend]\ntype = \"mysql\"\nurl = \"{url}\"\npassword_file = \"db.password\"\nstore_keys = true\n"
        );
    let new_only = format!("deploy_ip = [\"{NEW}\"]");
    assert!(full.contains(&new_only));
    // The key holder deploys the old host only: CAs and its certificates are made here.
    let first = full.replace(&new_only, &format!("deploy_ip = [\"{OLD}\"]"));
    std::fs::write(bed.path().join("config.toml"), &first).unwrap();
    let holder_env = [("TARSFORM_AGE_IDENTITY_FILE", "team.agekey")];
    let (code, out) = run_in(
        bed.path(),
        &["apply", "-c", "config.toml", "--auto-approve"],
        &holder_env,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "Stored the chain's keys in the backend", "holder apply");
    let sealed = bundle(db, &database).expect("the keys are in the database");
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
    assert!(
        !sealed.windows(10).any(|w| w == b"-----BEGIN"),
        "PEM in the table"
    );
    let opened: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&age::decrypt(&team, &sealed).unwrap()).unwrap();
    assert!(
        opened.keys().any(|k| k.ends_with("ca/ca.key")),
        "{:?}",
        opened.keys()
    );
    assert!(!key_files(bed.path()).is_empty(), "the holder keeps its own keys");

    // The pull request adds the new host: its certificate must be signed by the CA.
    let second = full.replace(&new_only, &format!("deploy_ip = [\"{OLD}\", \"{NEW}\"]"));
    let apply = ["apply", "-c", "config.toml", "--auto-approve"];

    // No identity: plans work, also one that must sign (signing is apply's business);
    // the apply stops on the missing CA key, naming it, with Tars untouched.
    let plan = ["plan", "-c", "config.toml", "--detailed-exitcode"];
    let plain = runner(&bed, &first);
    let (code, out) = run_in(plain.path(), &plan, &[]);
    assert_eq!(code, Some(0), "{out}");
    let plain = runner(&bed, &second);
    let (code, out) = run_in(plain.path(), &plan, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert_contains(&out, "will be signed by CA sha256:", "a plan that must sign");
    let before = bed.snapshot();
    let (code, out) = run_in(plain.path(), &apply, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_contains(&out, "no age identity is set", "apply without the identity");
    assert_contains(&out, "ca.key", "the missing key is named");
    assert_eq!(before, bed.snapshot(), "nothing changed in Tars");
    assert!(key_files(plain.path()).is_empty());

    // Another identity: refused clearly.
    let wrong = runner(&bed, &second);
    std::fs::write(
        wrong.path().join("other.agekey"),
        identity_text(&age::x25519::Identity::generate()),
    )
    .unwrap();
    let (code, out) = run_in(
        wrong.path(),
        &apply,
        &[("TARSFORM_AGE_IDENTITY_FILE", "other.agekey")],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_contains(&out, "sealed for another age identity", "wrong identity");
    assert_eq!(before, bed.snapshot());

    // The team's identity (in the environment): fetched, signed, stored, removed.
    let fresh = runner(&bed, &second);
    let (code, out) = run_in(
        fresh.path(),
        &apply,
        &[("TARSFORM_AGE_IDENTITY", identity_text(&team).as_str())],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "into a private directory", "fresh runner apply");
    assert!(
        !fresh.path().join("generated/rpc/chain0/ca").exists(),
        "the CA was never written into generated/"
    );
    assert!(
        key_files(fresh.path()).is_empty(),
        "key files left on the runner: {:?}",
        key_files(fresh.path())
    );
    let opened: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&age::decrypt(&team, &bundle(db, &database).unwrap()).unwrap()).unwrap();
    assert!(
        opened.keys().any(|k| k.contains(NEW) && k.ends_with(".key")),
        "the new node's key is stored: {:?}",
        opened.keys()
    );
    let (code, out) = run_in(
        bed.path(),
        &["plan", "-c", "config.toml", "--detailed-exitcode"],
        &holder_env,
    );
    assert_eq!(code, Some(2), "the holder's older topology differs: {out}");

    // `state migrate` to another database takes the sealed keys along, byte for byte.
    let moved_url = db.fresh_database();
    let moved = moved_url.rsplit('/').next().unwrap().to_string();
    let (code, out) = run_in(
        bed.path(),
        &["state", "migrate", "-c", "config.toml", "--to", &moved_url],
        &holder_env,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "Copied the sealed secrets (keys.bundle", "migrate");
    assert_eq!(bundle(db, &moved), bundle(db, &database), "the same sealed bytes");
}
