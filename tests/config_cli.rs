//! `tarsform validate` over malformed and valid topologies, through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASE: &str = r#"[tars]
tars_url = "http://127.0.0.1:3000"
tars_token = ""

[chain]
chain_id = "chain0"
rpc_sm_ssl = false

[[agency]]
name = "agencyA"
enable_storage_security = false
    [agency.rpc]
    deploy_ip = ["172.25.0.5"]
    listen_port = 10200
    [agency.gateway]
    deploy_ip = ["172.25.0.5"]
    listen_port = 40300
    peers = ["172.25.0.3:30300"]
"#;

const AGENCY_B: &str = r#"
[[agency]]
name = "agencyB"
    [agency.rpc]
    deploy_ip = ["172.25.0.6"]
    listen_port = 10200
"#;

/// BASE with `from` replaced by `to` (which must occur).
fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

fn validate(path: &Path, env_token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tarsform"));
    cmd.arg("validate")
        .arg("-c")
        .arg(path)
        .env_remove("TARSFORM_TARS_TOKEN");
    if let Some(t) = env_token {
        cmd.env("TARSFORM_TARS_TOKEN", t);
    }
    cmd.output().expect("run tarsform")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `validate` on `text` and checks exit 1 and that stderr names every `expected` part.
fn rejects(file_name: &str, text: &str, expected: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(&write(&dir, file_name, text), None);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for part in expected {
        assert!(stderr.contains(part), "missing {part:?} in:\n{stderr}");
    }
    stderr
}

macro_rules! rejected {
    ($($name:ident: $file:expr, $text:expr => [$($part:expr),+ $(,)?];)+) => {
        $(
            #[test]
            fn $name() {
                let text: String = $text.into();
                rejects($file, &text, &[$($part),+]);
            }
        )+
    };
}

rejected! {
    toml_syntax_error: "t.toml", base_with("\"http://127.0.0.1:3000\"", "\"http://127.0.0.1:3000")
        => ["TOML syntax error", "t.toml:2:"];
    yaml_syntax_error: "t.yaml", "tars:\n  tars_url: [\"http://h\"\nchain: {}\n".to_string()
        => ["YAML syntax error", "t.yaml:"];
    unknown_top_level_section: "t.toml", base_with("[chain]", "[chian]")
        => ["`chian`: unknown key", "did you mean `chain`?"];
    unknown_key_in_tars: "t.toml", base_with("tars_token = \"\"", "tars_tokn = \"\"")
        => ["`tars.tars_tokn`: unknown key", "did you mean `tars_token`?", "t.toml:3:1"];
    unknown_key_in_chain: "t.toml", base_with("chain_id = ", "chainid = ")
        => ["`chain.chainid`", "did you mean `chain_id`?"];
    unknown_key_in_agency: "t.toml", base_with("enable_storage_security", "enable_storage_securty")
        => ["`agency[0].enable_storage_securty`", "did you mean `enable_storage_security`?"];
    unknown_key_in_rpc: "t.toml", base_with("listen_port = 10200", "listen_prot = 10200")
        => ["`agency[0].rpc.listen_prot`", "did you mean `listen_port`?"];
    unknown_key_in_gateway: "t.toml", base_with("peers = ", "peer = ")
        => ["`agency[0].gateway.peer`", "did you mean `peers`?"];
    string_deploy_ip: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = \"172.25.0.5\"")
        => ["`agency[0].rpc.deploy_ip`", "expected a list of strings, found a string"];
    quoted_false_is_not_a_bool: "t.toml", base_with("rpc_sm_ssl = false", "rpc_sm_ssl = \"false\"")
        => ["`chain.rpc_sm_ssl`", "expected a boolean", "remove the quotes"];
    float_port: "t.toml", base_with("listen_port = 10200", "listen_port = 10200.0")
        => ["`agency[0].rpc.listen_port`", "expected an integer, found a float"];
    empty_deploy_ip: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = []")
        => ["`agency[0].rpc.deploy_ip`", "is empty"];
    non_ip_entry: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = [\"172.25.0.5\", \"node-5\"]")
        => ["`agency[0].rpc.deploy_ip[1]`", "`node-5` is not an IP address"];
    non_string_entry: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = [\"172.25.0.5\", 5]")
        => ["`agency[0].rpc.deploy_ip[1]`", "expected a string, found an integer"];
    duplicate_ips: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = [\"172.25.0.5\", \"172.25.0.5\"]")
        => ["`agency[0].rpc.deploy_ip[1]`", "duplicate IP 172.25.0.5"];
    duplicate_agency_names: "t.toml", format!("{BASE}{}", AGENCY_B.replace("agencyB", "agencyA"))
        => ["`agency[1].name`", "duplicate agency name `agencyA`"];
    chain_id_not_alphanumeric: "t.toml", base_with("\"chain0\"", "\"chain-0\"")
        => ["`chain.chain_id`", "letters|numbers", "chain-0"];
    agency_name_not_alphanumeric: "t.toml", base_with("\"agencyA\"", "\"agency_A\"")
        => ["`agency[0].name`", "letters|numbers", "agency_A"];
    port_zero: "t.toml", base_with("listen_port = 10200", "listen_port = 0")
        => ["`agency[0].rpc.listen_port`", "port 0 is outside 1..65535"];
    port_70000: "t.toml", base_with("listen_port = 40300", "listen_port = 70000")
        => ["`agency[0].gateway.listen_port`", "port 70000 is outside 1..65535"];
    rpc_and_gateway_on_one_port: "t.toml", base_with("listen_port = 40300", "listen_port = 10200")
        => ["`agency[0].gateway.listen_port`", "agency[0].rpc (`agencyA`) already listens on 172.25.0.5 port 10200"];
    port_clash_across_agencies: "t.toml", format!("{BASE}{}", AGENCY_B.replace("172.25.0.6", "172.25.0.5"))
        => ["`agency[1].rpc.listen_port`", "already listens on 172.25.0.5 port 10200"];
    peer_without_port: "t.toml", base_with("\"172.25.0.3:30300\"", "\"172.25.0.3\", \"172.25.0.3:99999\"")
        => ["`agency[0].gateway.peers[0]`", "`agency[0].gateway.peers[1]`", "is not `ip:port`"];
    peers_on_rpc: "t.toml", base_with("listen_port = 10200", "listen_port = 10200\n    peers = [\"172.25.0.3:30300\"]")
        => ["`agency[0].rpc.peers`", "gateway only"];
    missing_tars_section: "t.toml", base_with("[tars]\ntars_url = \"http://127.0.0.1:3000\"\ntars_token = \"\"\n", "")
        => ["`tars`: missing section `[tars]`"];
    missing_tars_url: "t.toml", base_with("tars_url = \"http://127.0.0.1:3000\"\n", "")
        => ["`tars.tars_url`: missing required key", "t.toml:1:"];
    ftp_tars_url: "t.toml", base_with("http://127.0.0.1:3000", "ftp://127.0.0.1:3000")
        => ["`tars.tars_url`", "not an http:// or https:// URL"];
    rpc_sm_ssl_true: "t.toml", base_with("rpc_sm_ssl = false", "rpc_sm_ssl = true")
        => ["`chain.rpc_sm_ssl`", "SM2 certificates are not supported yet", "set `rpc_sm_ssl = false`"];
    gateway_sm_ssl_true: "t.toml", base_with("rpc_sm_ssl = false", "gateway_sm_ssl = true")
        => ["`chain.gateway_sm_ssl`", "set `gateway_sm_ssl = false`"];
    agency_as_plain_table: "t.toml", base_with("[[agency]]", "[agency]")
        => ["`agency`", "expected an array of tables", "[[agency]]"];
    missing_deploy_ip: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]\n    listen_port = 10200", "listen_port = 10200")
        => ["`agency[0].rpc.deploy_ip`: missing required key"];
    missing_agency_name: "t.toml", base_with("name = \"agencyA\"\n", "")
        => ["`agency[0].name`: missing required key"];
    thread_count_zero: "t.toml", base_with("listen_port = 10200", "listen_port = 10200\n    thread_count = 0")
        => ["`agency[0].rpc.thread_count`", "positive integer"];
    empty_file: "t.toml", "\n  \n".to_string()
        => ["t.toml", "the file is empty"];
    newline_in_key_center_url_would_inject_config_ini_lines: "t.toml", base_with(
        "enable_storage_security = false",
        "enable_storage_security = true\nkey_center_url = \"127.0.0.1:31443\\n[storage_security]\\nenable = false\"",
    ) => ["t.toml:12:18: `agency[0].key_center_url`", "contains a newline", "config.ini", "hint: write the value on one line"];
    escape_in_failover_cluster_url: "t.toml", base_with(
        "enable_storage_security = false",
        "failover_cluster_url = \"127.0.0.1:2379\\u001b[2J\"",
    ) => ["`agency[0].failover_cluster_url`", "U+001B"];
    chain_id_too_long: "t.toml", base_with("\"chain0\"", &format!("\"{}\"", "c".repeat(65)))
        => ["`chain.chain_id`", "65 characters; at most 64"];
    agency_name_too_long: "t.toml", base_with("\"agencyA\"", &format!("\"{}\"", "a".repeat(100)))
        => ["`agency[0].name`", "100 characters; at most 64"];
    unspecified_deploy_ip: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]", "deploy_ip = [\"0.0.0.0\"]")
        => ["`agency[0].rpc.deploy_ip[0]`", "0.0.0.0 is the unspecified address", "hint:"];
    broadcast_and_multicast_deploy_ip: "t.toml", base_with("deploy_ip = [\"172.25.0.5\"]\n    listen_port = 40300", "deploy_ip = [\"255.255.255.255\", \"224.0.0.5\"]\n    listen_port = 40300")
        => ["`agency[0].gateway.deploy_ip[0]`", "broadcast", "`agency[0].gateway.deploy_ip[1]`", "multicast"];
    yaml_unknown_key_and_quoted_bool: "t.yml",
        "tars: {tars_url: \"http://h\"}\nchain: {rpc_sm_ssl: \"false\"}\nagency:\n  - name: a\n    rpc: {deploy_ip: [\"1.2.3.4\"], listen_prt: 1}\n".to_string()
        => ["`chain.rpc_sm_ssl`", "expected a boolean", "`agency[0].rpc.listen_prt`", "did you mean `listen_port`?"];
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let out = validate(&path, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("absent.toml") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn several_errors_are_reported_at_once() {
    let text = base_with("\"chain0\"", "\"chain-0\"")
        .replace("listen_port = 10200", "listen_port = 0")
        .replace("peers = ", "peer = ")
        .replace("http://", "ftp://");
    let stderr = rejects(
        "t.toml",
        &text,
        &[
            "4 error(s)",
            "tars.tars_url",
            "chain.chain_id",
            "agency[0].rpc.listen_port",
            "agency[0].gateway.peer",
        ],
    );
    // In file order, each with its line:column.
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].contains("t.toml:2:") && lines[3].contains("t.toml:18:"),
        "{stderr}"
    );
}

#[test]
fn token_in_the_file_never_reaches_stderr() {
    let token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.Zm9v";
    let with_token = base_with("tars_token = \"\"", &format!("tars_token = \"{token}\""));
    let cases = [
        // Syntax error on the token line itself.
        with_token.replace(&format!("\"{token}\""), &format!("\"{token}")),
        // Type and value errors elsewhere.
        with_token.replace("\"chain0\"", &format!("\"{token}\"")),
        with_token.replace("rpc_sm_ssl = false", &format!("rpc_sm_ssl = \"{token}\"")),
    ];
    for text in cases {
        let stderr = rejects("t.toml", &text, &["error(s)"]);
        assert!(!stderr.contains(token), "{stderr}");
        assert!(!stderr.contains("c2VjcmV0"), "{stderr}");
    }
}

#[test]
fn env_token_overrides_the_file_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "t.toml", BASE);
    let out = validate(&path, None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(token: empty)"));

    let out = validate(&path, Some("env-secret-42"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("(token: set)"), "{stdout}");
    assert!(!stdout.contains("env-secret-42"));

    let broken = write(&dir, "b.toml", &base_with("\"chain0\"", "\"env-secret-42\""));
    let out = validate(&broken, Some("env-secret-42"));
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("env-secret-42"));
}

#[test]
fn upstream_examples_and_conf_files_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        "tests/fixtures/topology/config-service-expand-example.toml",
        "tests/fixtures/topology/config-deploy-example.toml",
        "conf/expand-agencyA.toml",
        "conf/expand-agencyA.yaml",
        "conf/deploy-two-agencies.toml",
    ];
    for file in files {
        let out = validate(&root.join(file), None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with("chain chain0 on Tars http://127.0.0.1:3000/"),
            "{file}: {stdout}"
        );
    }
    let out = validate(&root.join("conf/expand-agencyA.toml"), None);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("host 172.25.0.5: agencyABcosRpcService, agencyABcosGatewayService")
    );
}

#[test]
fn credentials_in_tars_url_are_refused_and_never_printed() {
    let text = base_with("http://127.0.0.1:3000", "http://admin:hunter22@127.0.0.1:3000");
    let stderr = rejects(
        "t.toml",
        &text,
        &[
            "t.toml:2:12: `tars.tars_url`",
            "user name or password",
            "(sensitive)@127.0.0.1:3000",
            "hint:",
        ],
    );
    assert!(
        !stderr.contains("hunter22") && !stderr.contains("admin"),
        "{stderr}"
    );
}

#[test]
fn a_short_token_is_refused_and_never_garbles_the_output() {
    // Regression: `tars_token = "t"` turned the summary into `Plan: 7 (sensitive)o add`.
    let text = base_with("tars_token = \"\"", "tars_token = \"t\"");
    let stderr = rejects(
        "t.toml",
        &text,
        &[
            "t.toml:3:14: `tars.tars_token`",
            "shorter than 8 characters",
            "hint:",
        ],
    );
    assert!(
        !stderr.contains("(sensitive)"),
        "nothing to redact here: {stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = validate(&write(&dir, "t.toml", BASE), Some("short"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`TARSFORM_TARS_TOKEN`: the Tars token is shorter than 8"),
        "{stderr}"
    );
}

#[test]
fn a_cipher_key_with_a_control_character_is_not_quoted() {
    let text = base_with(
        "enable_storage_security = false",
        "cipher_data_key = \"0123456789abcdef\\r0123\"",
    );
    let stderr = rejects(
        "t.toml",
        &text,
        &["`agency[0].cipher_data_key`", "a carriage return"],
    );
    assert!(!stderr.contains("0123456789abcdef"), "{stderr}");
}
