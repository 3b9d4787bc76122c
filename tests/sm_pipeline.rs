//! National cryptography through the whole pipeline, the real binary against the Tars
//! emulator: plan says SM2, apply creates the SM CA and both leaf pairs, pushes the SM
//! file set (never `ca.crt`/`ssl.*`), OpenSSL verifies what Tars holds, keys stay out of
//! plans and state, and a re-plan is clean. A chain may use SM for rpc and RSA for gateway.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

/// The expansion topology with `rpc_sm_ssl`/`gateway_sm_ssl` set.
fn sm_bed(rpc: bool, gateway: bool) -> Bed {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("rpc_sm_ssl = false", &format!("rpc_sm_ssl = {rpc}"))
        .replace("gateway_sm_ssl = false", &format!("gateway_sm_ssl = {gateway}"));
    std::fs::write(&path, toml).unwrap();
    bed
}

/// `file → content` of one server's node-level rows on the new host.
fn node_files(bed: &Bed, server: &str) -> BTreeMap<String, String> {
    bed.snapshot()
        .configs
        .iter()
        .filter(|c| c.level == 3 && c.host == NEW && c.server_name == format!("{APP}.{server}"))
        .map(|c| (c.filename.clone(), c.content.clone()))
        .collect()
}

fn openssl_verify(dir: &std::path::Path, ca: &str, leaf: &str) -> (bool, String) {
    let out = Command::new("openssl")
        .args([
            "verify",
            "-vfyopt",
            "distid:1234567812345678",
            "-CAfile",
            ca,
            leaf,
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sm_ssl_chain_deploys_the_sm_file_set_and_openssl_verifies_it() {
    let bed = sm_bed(true, true);
    let plan = bed.run(&["plan", "-c", "config.toml"]);
    assert_eq!(plan.code, Some(0), "{}", plan.both());
    assert_contains(&plan.stdout, "SM2", "plan names the key type");
    assert_contains(&plan.stdout, "sm_enssl", "plan has the encryption leaf");

    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    for (server, expected) in [
        (
            RPC,
            vec![
                "config.ini",
                "sm_ca.crt",
                "sm_enssl.crt",
                "sm_enssl.key",
                "sm_ssl.crt",
                "sm_ssl.key",
            ],
        ),
        (
            GATEWAY,
            vec![
                "config.ini",
                "nodes.json",
                "sm_ca.crt",
                "sm_enssl.crt",
                "sm_enssl.key",
                "sm_ssl.crt",
                "sm_ssl.key",
            ],
        ),
    ] {
        let files = node_files(&bed, server);
        assert_eq!(files.keys().collect::<Vec<_>>(), expected, "{server}");
        assert!(files["config.ini"].contains("sm_ssl = true"));
        assert!(files["config.ini"].contains("sm_crypto = true"));
        // What Tars holds verifies against the SM CA, with OpenSSL 3.
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in &files {
            std::fs::write(tmp.path().join(name), content).unwrap();
        }
        for leaf in ["sm_ssl.crt", "sm_enssl.crt"] {
            let (ok, text) = openssl_verify(tmp.path(), "sm_ca.crt", leaf);
            assert!(ok, "{server} {leaf}: {text}");
        }
    }
    // The rpc's SDK set stays local, both pairs, signed by the same CA.
    let sdk = bed.path().join(format!("generated/rpc/{APP}/{RPC}/{NEW}/sdk"));
    for file in [
        "sm_sdk.crt",
        "sm_sdk.key",
        "sm_ensdk.crt",
        "sm_ensdk.key",
        "sm_ca.crt",
    ] {
        assert!(sdk.join(file).is_file(), "sdk/{file} missing");
    }
    let (ok, text) = openssl_verify(&sdk, "sm_ca.crt", "sm_ensdk.crt");
    assert!(ok, "{text}");
    // No key material in state or in the plan output.
    let state = std::fs::read_to_string(bed.path().join(STATE)).expect("state written");
    for text in [&state, &plan.stdout, &run.stdout, &run.stderr] {
        assert!(!text.contains("PRIVATE KEY"), "a private key leaked");
    }
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());
}

#[test]
fn sm_rpc_and_rsa_gateway_are_independent() {
    let bed = sm_bed(true, false);
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let rpc = node_files(&bed, RPC);
    let gateway = node_files(&bed, GATEWAY);
    assert!(
        rpc.contains_key("sm_enssl.key") && !rpc.contains_key("ssl.key"),
        "{rpc:?}"
    );
    assert!(
        gateway.contains_key("ssl.key") && !gateway.contains_key("sm_ssl.key"),
        "{gateway:?}"
    );
    assert!(gateway["config.ini"].contains("sm_ssl = false"));
    assert!(bed.exists(&format!("generated/rpc/{APP}/ca/sm_ca.key")));
    assert!(bed.exists(&format!("generated/gateway/{APP}/ca/ca.key")));
}

#[test]
fn switching_a_running_service_to_sm_needs_the_flag_and_replaces_every_certificate() {
    let bed = sm_bed(false, false);
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, toml.replace("rpc_sm_ssl = false", "rpc_sm_ssl = true")).unwrap();

    let before = bed.snapshot();
    let refused = bed.run(&["plan", "-c", "config.toml"]);
    assert_eq!(refused.code, Some(1), "{}", refused.both());
    assert_contains(
        &refused.stderr,
        "runs with RSA-2048 certificates but the topology asks for SM2",
        "why",
    );
    assert_contains(&refused.stderr, "--switch-crypto", "the fix");
    let refused = bed.apply();
    assert_eq!(refused.code, Some(1), "{}", refused.both());
    assert_model_eq(&before, &bed.snapshot(), "a refused switch");

    let plan = bed.run(&["plan", "-c", "config.toml", "--switch-crypto"]);
    assert_eq!(plan.code, Some(0), "{}", plan.both());
    assert_contains(
        &plan.stdout,
        "every certificate and key is replaced",
        "the plan says so",
    );
    let run = bed.run(&["apply", "-c", "config.toml", "--auto-approve", "--switch-crypto"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let rpc = node_files(&bed, RPC);
    for file in [
        "sm_ca.crt",
        "sm_enssl.crt",
        "sm_enssl.key",
        "sm_ssl.crt",
        "sm_ssl.key",
    ] {
        assert!(rpc.contains_key(file), "{file} missing: {rpc:?}");
    }
    assert!(rpc["config.ini"].contains("sm_ssl = true"));
    assert!(
        node_files(&bed, GATEWAY).contains_key("ssl.key"),
        "the gateway stays RSA"
    );
    // The RSA rows are gone, and the next plan (CA continuity on the SM rows) is clean.
    assert!(
        !rpc.contains_key("ca.crt") && !rpc.contains_key("ssl.key"),
        "{rpc:?}"
    );
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());
}
