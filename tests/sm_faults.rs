//! The seed scenario and a representative part of the fault matrix with SM SSL on
//! (`rpc_sm_ssl = gateway_sm_ssl = true`), and storage security on for a subset: the
//! seed's agencyA runs on 172.25.0.3 with BcosBuilder's SM file set and SM CAs, the
//! expansion to 172.25.0.5 pushes the SM set, and a failing Tars call at any endpoint
//! rolls back to the model before the apply.
//!
//! The RSA matrix (tests/apply_e2e.rs) fails every call of every endpoint in turn; here
//! each endpoint fails at its first and its last call from the SM seed, and at its first
//! call from a fresh Tars with storage security (same code paths, SM files and the key
//! center in the loop), which keeps this file to a few minutes on two busy cores.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::*;
use tarsform::config::{CertMode, ServiceKind};
use tarsform::emulator::keycenter::{self, KeyCenterConfig, RunningKeyCenter};
use tarsform::secret::Secret;

/// `(file, content)` of the SM CA directories of rpc and gateway, made once per binary.
fn sm_cas() -> &'static [Vec<(String, String)>; 2] {
    static CAS: OnceLock<[Vec<(String, String)>; 2]> = OnceLock::new();
    CAS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut keys = tarsform::pki::SystemKeys::new();
        [ServiceKind::Rpc, ServiceKind::Gateway].map(|kind| {
            let dir = tmp.path().join(kind.as_str());
            tarsform::workspace::ensure_ca_in(&dir, CertMode::Sm, &mut keys).expect("SM CA");
            ["sm_ca.crt", "sm_ca.key"]
                .iter()
                .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
                .collect()
        })
    })
}

/// Storage security: the key center's address and the cipher data key.
struct Security {
    url: String,
    cipher: String,
}

fn start_key_center() -> (RunningKeyCenter, Security) {
    let kc = runtime()
        .block_on(keycenter::start(KeyCenterConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            super_key: Secret::new("super-key-for-sm-faults"),
            sm: true,
        }))
        .expect("key center starts");
    let url = kc.url();
    let answer: serde_json::Value = runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("http://{url}"))
            .json(&serde_json::json!({"jsonrpc": "2.0", "method": "encDataKey", "params": ["3132333435363738"], "id": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let cipher = answer["result"]["dataKey"].as_str().unwrap().to_string();
    (kc, Security { url, cipher })
}

/// A bed with SM SSL on for both services (and storage security when given); from the
/// seed, agencyA runs on 172.25.0.3 with the SM file set and the SM CAs are on disk.
fn sm_bed(start: Start, tars: Tars, security: Option<&Security>) -> Bed {
    let bed = Bed::new(Start::Fresh, tars);
    let path = bed.path().join("config.toml");
    let mut toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("rpc_sm_ssl = false", "rpc_sm_ssl = true")
        .replace("gateway_sm_ssl = false", "gateway_sm_ssl = true");
    if let Some(s) = security {
        toml = toml.replace(
            "enable_storage_security = false",
            &format!(
                "enable_storage_security = true\nkey_center_url = \"{}\"\ncipher_data_key = \"{}\"",
                s.url, s.cipher
            ),
        );
    }
    std::fs::write(&path, toml).unwrap();
    if start == Start::Seed {
        seed_sm(&bed);
    }
    bed
}

fn seed_sm(bed: &Bed) {
    for (i, kind) in [ServiceKind::Rpc, ServiceKind::Gateway].into_iter().enumerate() {
        let ca_dir = bed.path().join(format!("generated/{}/{APP}/ca", kind.as_str()));
        std::fs::create_dir_all(&ca_dir).unwrap();
        for (name, content) in &sm_cas()[i] {
            std::fs::write(ca_dir.join(name), content).unwrap();
        }
        let server = kind.server_name("agencyA");
        let ca_crt = &sm_cas()[i][0].1;
        let configs: Vec<(&str, String)> = CertMode::Sm
            .config_files(kind)
            .iter()
            .map(|&file| {
                let content = match file {
                    "sm_ca.crt" => ca_crt.clone(),
                    other => format!("; {other} of {server} on {OLD}, deployed by BcosBuilder\n"),
                };
                (file, content)
            })
            .collect();
        let configs: Vec<(&str, &str)> = configs.iter().map(|(f, c)| (*f, c.as_str())).collect();
        let package = tarsform::render::package::build(
            &tarsform::render::package::stand_in_release(kind),
            kind,
            &server,
        )
        .unwrap();
        bed.handle()
            .seed_deployed_server(APP, &server, kind.obj_name(), OLD, &configs, &package);
    }
}

fn new_host_rows(bed: &Bed, server: &str) -> BTreeMap<String, String> {
    bed.snapshot()
        .configs
        .iter()
        .filter(|c| c.level == 3 && c.host == NEW && c.server_name == format!("{APP}.{server}"))
        .map(|c| (c.filename.clone(), c.content.clone()))
        .collect()
}

/// The seed scenario with SM SSL on: apply, re-plan clean, destroy only the new host.
fn seed_scenario(security: Option<&Security>) {
    let bed = sm_bed(Start::Seed, Tars::default(), security);
    let before = bed.snapshot();
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let handle = bed.handle();
    assert_eq!(
        (
            handle.call_count("expand_server"),
            handle.call_count("deploy_server")
        ),
        (2, 0),
        "new nodes are expanded from {OLD}"
    );
    let state = bed.resources().expect("state written");
    for (server, kind) in [(RPC, ServiceKind::Rpc), (GATEWAY, ServiceKind::Gateway)] {
        let rows = new_host_rows(&bed, server);
        let expected: Vec<&str> = {
            let mut files = CertMode::Sm.config_files(kind).to_vec();
            files.sort();
            files
        };
        assert_eq!(
            rows.keys().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "{server}"
        );
        // The new host gets the seed's SM CA.
        let old_ca = bed
            .snapshot()
            .configs
            .iter()
            .find(|c| {
                c.host == OLD && c.filename == "sm_ca.crt" && c.server_name == format!("{APP}.{server}")
            })
            .map(|c| c.content.clone())
            .unwrap();
        assert_eq!(rows["sm_ca.crt"], old_ca, "{server}: another CA than the seed's");
        for (file, content) in &rows {
            let address = format!("config[\"{server}\"][\"{NEW}\"][\"{file}\"]");
            let local = state[&address]["attributes"]["local_path"].as_str().unwrap();
            let on_disk = std::fs::read_to_string(bed.path().join(local)).unwrap();
            let encrypted = security.is_some() && file.ends_with(".key");
            if encrypted {
                assert!(
                    !content.contains("PRIVATE KEY"),
                    "{address}: a plaintext key in Tars"
                );
                assert_ne!(content, &on_disk, "{address}");
            } else if file != "config.ini" || security.is_none() {
                assert_eq!(content, &on_disk, "{address}: Tars and {local} differ");
            }
        }
        assert!(rows["config.ini"].contains("sm_crypto = true"));
        let ini = &rows["config.ini"];
        let section = &ini[ini.find("[storage_security]").expect("[storage_security]")..];
        let enable = section
            .lines()
            .find(|l| l.starts_with("enable"))
            .unwrap_or_default();
        assert_eq!(
            enable.replace(' ', ""),
            format!("enable={}", security.is_some()),
            "{server}: storage security in config.ini"
        );
    }
    assert_eq!(
        rows_of(&bed.snapshot(), OLD),
        rows_of(&before, OLD),
        "172.25.0.3 touched"
    );
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());
    let destroy = bed.run(&["destroy", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(destroy.code, Some(0), "{}", destroy.both());
    assert_model_eq(&before, &bed.snapshot(), "after destroy");
}

#[test]
fn sm_seed_expansion_applies_replans_clean_and_destroys_only_the_new_host() {
    seed_scenario(None);
}

#[test]
fn sm_seed_expansion_with_storage_security_encrypts_the_keys_and_replans_clean() {
    let (_kc, security) = start_key_center();
    seed_scenario(Some(&security));
}

/// Applies with `rule` active; Ok when the run succeeded with a clean re-plan, or failed
/// and left Tars, the state, the journal and the new host's keys as before.
fn apply_with_fault(start: Start, security: Option<&Security>, rule: &str) -> Result<&'static str, String> {
    let bed = sm_bed(start, Tars::faults(&[rule]), security);
    let before = bed.snapshot();
    let run = bed.run(&["apply", "-c", "config.toml", "--auto-approve"]);
    let fail = |msg: String| Err(format!("{start:?} {rule}: {msg}\n{}", run.both()));
    match run.code {
        Some(0) => {
            bed.handle().clear_faults();
            let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
            if replan.code != Some(0) {
                return fail(format!(
                    "applied, but the re-plan is not clean:\n{}",
                    replan.both()
                ));
            }
            Ok("tolerated or never reached, applied")
        }
        Some(1) => {
            let before_steps = run.stderr.contains("reading Tars before");
            if !before_steps && !run.stderr.contains("Rollback complete") {
                return fail("no `Rollback complete`".into());
            }
            let after = bed.snapshot();
            if after != before {
                return fail(format!(
                    "the model changed:\n--- before\n{}\n--- after\n{}",
                    serde_json::to_string_pretty(&before).unwrap(),
                    serde_json::to_string_pretty(&after).unwrap()
                ));
            }
            if let Some(left) = bed.resources().filter(|r| !r.is_empty()) {
                return fail(format!("state resources left: {:?}", left.keys()));
            }
            if bed.exists(JOURNAL) {
                return fail("journal left".into());
            }
            let keys = bed.new_host_keys();
            if !keys.is_empty() {
                return fail(format!("keys of the undone run left: {keys:?}"));
            }
            Ok(if before_steps {
                "failed while reading Tars to plan"
            } else {
                "failed, rolled back"
            })
        }
        other => fail(format!("exit code {other:?}, expected 1 (or 0 if tolerated)")),
    }
}

/// Each endpoint a clean apply calls fails at its first call (and its last one with
/// `last`), plus a failing `patch_tars` task on the new host.
fn fault_cases(start: Start, security: Option<&Security>, last: bool) -> Vec<String> {
    let bed = sm_bed(start, Tars::default(), security);
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "clean apply: {}", run.both());
    let handle = bed.handle();
    let mut cases = Vec::new();
    for endpoint in tarsform::emulator::endpoint_names() {
        let n = handle.call_count(endpoint);
        if n > 0 {
            cases.push(format!("api:{endpoint}#1"));
        }
        if n > 1 && last {
            cases.push(format!("api:{endpoint}#{n}"));
        }
    }
    cases.push(format!("task:patch_tars@{NEW}"));
    cases
}

fn run_matrix(start: Start, security: Option<&Security>, last: bool) {
    let cases = fault_cases(start, security, last);
    let queue = std::sync::Mutex::new(cases.clone());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some(rule) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let result = apply_with_fault(start, security, &rule);
                    results.lock().unwrap().push((rule, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    let table: String = results
        .iter()
        .map(|(rule, r)| format!("  {start:?} {rule}: {}\n", r.as_ref().map_or("FAILED", |s| s)))
        .collect();
    eprintln!("{table}");
    let failures: Vec<&String> = results.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{table}\n{}",
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    let rolled_back = results
        .iter()
        .filter(|(_, r)| r.as_deref() == Ok("failed, rolled back"))
        .count();
    assert!(
        rolled_back >= results.len() / 2,
        "too few faults reached a step:\n{table}"
    );
}

#[test]
fn sm_seed_every_endpoint_failing_is_rolled_back() {
    run_matrix(Start::Seed, None, true);
}

#[test]
fn sm_fresh_with_storage_security_every_endpoint_failing_is_rolled_back() {
    let (_kc, security) = start_key_center();
    run_matrix(Start::Fresh, Some(&security), false);
}
