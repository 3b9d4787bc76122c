//! Storage security end to end: the real binary, the Tars emulator and the key-center
//! emulator. The key files in Tars are the key center's encryption and decrypt (AES, or
//! SM4 on an SM chain) to the local keys; the cipher data key never shows in output,
//! plans or state; a key center that is down, a wrong cipher key or a key center in the
//! wrong mode stop the apply with exit 1 and nothing changed in Tars.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};
use tarsform::emulator::keycenter::{self, KeyCenterConfig, RunningKeyCenter};
use tarsform::keycenter::cipher::{self, Algorithm};
use tarsform::secret::Secret;

const DATA_KEY: &str = "3132333435363738";

fn start_key_center(sm: bool) -> RunningKeyCenter {
    runtime()
        .block_on(keycenter::start(KeyCenterConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            super_key: Secret::new("super-key-for-tests"),
            sm,
        }))
        .expect("key center starts")
}

fn rpc(url: &str, method: &str, params: Value) -> Value {
    runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("http://{url}"))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

/// The cipher data key of [`DATA_KEY`] at this key center.
fn cipher_key(url: &str) -> String {
    rpc(url, "encDataKey", json!([DATA_KEY]))["result"]["dataKey"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A fresh bed whose agency has storage security with `url` and `cipher`.
fn secured_bed(url: &str, cipher: &str, sm: bool) -> Bed {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("rpc_sm_ssl = false", &format!("rpc_sm_ssl = {sm}"))
        .replace("gateway_sm_ssl = false", &format!("gateway_sm_ssl = {sm}"))
        .replace(
            "enable_storage_security = false",
            &format!(
                "enable_storage_security = true\nkey_center_url = \"{url}\"\ncipher_data_key = \"{cipher}\""
            ),
        );
    std::fs::write(&path, toml).unwrap();
    bed
}

fn node_files(bed: &Bed, server: &str) -> BTreeMap<String, String> {
    bed.snapshot()
        .configs
        .iter()
        .filter(|c| c.level == 3 && c.host == NEW && c.server_name == format!("{APP}.{server}"))
        .map(|c| (c.filename.clone(), c.content.clone()))
        .collect()
}

fn encrypted_keys_decrypt_to_the_local_ones(sm: bool) {
    let kc = start_key_center(sm);
    let cipher = cipher_key(&kc.url());
    let bed = secured_bed(&kc.url(), &cipher, sm);
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let algorithm = Algorithm::of(sm);
    let (keys, dir): (&[&str], &str) = if sm {
        (&["sm_ssl.key", "sm_enssl.key"], "ssl")
    } else {
        (&["ssl.key"], "ssl")
    };
    for server in [RPC, GATEWAY] {
        let kind = if server == RPC { "rpc" } else { "gateway" };
        let files = node_files(&bed, server);
        for key in keys {
            let in_tars = &files[*key];
            assert!(
                !in_tars.contains("PRIVATE KEY"),
                "{server} {key} uploaded in plain text"
            );
            let local = std::fs::read_to_string(
                bed.path()
                    .join(format!("generated/{kind}/{APP}/{server}/{NEW}/{dir}/{key}")),
            )
            .unwrap();
            let plain = cipher::decrypt_file(in_tars, &Secret::new(DATA_KEY), algorithm).expect("decrypts");
            assert_eq!(plain.expose(), local, "{server} {key}");
        }
        let ini = &files["config.ini"];
        assert!(ini.contains("[storage_security]"));
        assert!(ini.contains(&format!("cipher_data_key = {cipher}")), "{ini}");
        assert!(ini.contains(&format!("key_center_url = {}", kc.url())), "{ini}");
    }
    let state = std::fs::read_to_string(bed.path().join(STATE)).unwrap();
    let plan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "re-plan shows changes:\n{}", plan.both());
    for text in [&state, &run.stdout, &run.stderr, &plan.stdout, &plan.stderr] {
        assert!(!text.contains(&cipher), "the cipher data key leaked");
        assert!(!text.contains("PRIVATE KEY"), "a key leaked");
    }
    runtime().block_on(kc.shutdown());
}

#[test]
fn rsa_keys_in_tars_are_the_key_centers_aes_encryption() {
    encrypted_keys_decrypt_to_the_local_ones(false);
}

#[test]
fn sm_keys_in_tars_are_the_key_centers_sm4_encryption() {
    encrypted_keys_decrypt_to_the_local_ones(true);
}

/// Runs apply and checks it exits 1 naming `expected`, with nothing changed in Tars.
fn refused(bed: &Bed, expected: &str) {
    let before = bed.snapshot();
    let run = bed.apply();
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(&run.both(), expected, "the reason");
    assert_model_eq(&before, &bed.snapshot(), "after a refused apply");
}

#[test]
fn a_key_center_that_is_down_stops_the_apply_before_any_tars_change() {
    let kc = start_key_center(false);
    let (url, cipher) = (kc.url(), cipher_key(&kc.url()));
    runtime().block_on(kc.shutdown());
    refused(&secured_bed(&url, &cipher, false), "is unreachable");
}

#[test]
fn a_wrong_cipher_key_stops_the_apply_before_any_tars_change() {
    let kc = start_key_center(false);
    let bed = secured_bed(&kc.url(), "00112233445566778899aabbccddeeff", false);
    refused(&bed, "refused `encWithCipherKey`");
}

#[test]
fn a_key_center_in_the_other_mode_fails_the_round_trip() {
    // AES key center, SM chain: the node would decrypt with SM4 and fail at start.
    let kc = start_key_center(false);
    let bed = secured_bed(&kc.url(), &cipher_key(&kc.url()), true);
    refused(&bed, "does not decrypt back with SM4-CBC");
}
