//! `tarsform demo` end to end: the real binary runs the seed scenario (expand agencyA's
//! rpc and gateway from 172.25.0.3 onto 172.25.0.5, then destroy) on its own emulator.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The demo emulator's ticket (src/cli/demo/seed.rs); it must never be printed.
const DEMO_TOKEN: &str = "tarsform-demo-ticket-5e8c1d7a";

struct Run {
    code: Option<i32>,
    /// stdout and stderr interleaved, as on a terminal.
    output: String,
}

fn demo(args: &[&str]) -> Run {
    let log = tempfile::tempfile().expect("temp file");
    let status = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .arg("demo")
        .args(args)
        .env_remove("TARSFORM_TARS_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log.try_clone().expect("dup"))
        .status()
        .expect("run tarsform demo");
    let mut log = log;
    let mut output = String::new();
    log.seek(SeekFrom::Start(0)).unwrap();
    log.read_to_string(&mut output).unwrap();
    Run {
        code: status.code(),
        output,
    }
}

/// The part of `output` from the banner `==> title` to the next banner.
fn section<'a>(output: &'a str, title: &str) -> &'a str {
    let banner = format!("==> {title}\n");
    let start = output
        .find(&banner)
        .unwrap_or_else(|| panic!("no `{banner}` in:\n{output}"))
        + banner.len();
    let rest = &output[start..];
    &rest[..rest.find("\n==> ").unwrap_or(rest.len())]
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
}

/// The directory printed after `==> preparing the workspace`.
fn workspace_of(output: &str) -> PathBuf {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("==> preparing the workspace "))
        .expect("the demo names its workspace");
    PathBuf::from(line.trim())
}

#[test]
fn demo_expands_onto_the_new_host_then_destroys_only_it() {
    let run = demo(&[]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let out = &run.output;
    let plan = section(out, "tarsform plan");
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(plan, &format!("import server[\"{server}\"]"));
        assert_contains(plan, &format!("+ node[\"{server}\"][\"172.25.0.5\"]"));
        assert_contains(
            plan,
            &format!("+ config[\"{server}\"][\"172.25.0.5\"][\"config.ini\"]"),
        );
    }
    assert_contains(plan, "expand from 172.25.0.3");
    assert_contains(plan, r#"{"method":"expand","source":"172.25.0.3"}"#);
    assert_contains(plan, "<= tarsnode[\"172.25.0.5\"]");
    assert_contains(plan, "Plan: 4 to import, 14 to add, 0 to change, 0 to destroy.");

    let apply = section(out, "tarsform apply --auto-approve");
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(
            apply,
            &format!("register node[\"{server}\"][\"172.25.0.5\"]: done"),
        );
        assert_contains(apply, &format!("start node[\"{server}\"][\"172.25.0.5\"]: done"));
    }
    assert_contains(apply, "Apply complete!");

    let status = section(out, "tarsform status");
    assert_contains(status, "agencyABcosRpcService: 2/2 nodes active");
    assert_contains(status, "agencyABcosGatewayService: 2/2 nodes active");

    assert_contains(section(out, "tarsform plan --detailed-exitcode"), "No changes.");

    let destroy = section(out, "tarsform destroy --auto-approve");
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(
            destroy,
            &format!("undeploy node[\"{server}\"][\"172.25.0.5\"]: done"),
        );
    }
    assert!(
        !destroy.contains("172.25.0.3\"]"),
        "destroy touches no node of 172.25.0.3"
    );
    assert_contains(destroy, "Destroy complete!");
    assert_contains(out, "172.25.0.3: untouched");
    assert!(!out.contains(DEMO_TOKEN), "the demo token was printed:\n{out}");
    assert!(
        !workspace_of(out).exists(),
        "the temporary workspace is removed at the end"
    );
}

#[test]
fn demo_workspace_keeps_a_state_without_the_new_host() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let run = demo(&["--workspace", ws.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert!(!run.output.contains(DEMO_TOKEN));

    let state_text = std::fs::read_to_string(ws.join("state/chain0.state.json")).unwrap();
    assert!(!state_text.contains(DEMO_TOKEN));
    let state: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    let resources = state["resources"].as_object().expect("resources map");
    assert!(
        resources.keys().all(|a| !a.contains("172.25.0.5")),
        "destroy left: {:?}",
        resources.keys().collect::<Vec<_>>()
    );
    assert!(
        state["serial"].as_u64().unwrap() > 1,
        "apply and destroy wrote the state"
    );
    for ca in [
        "generated/rpc/chain0/ca/ca.crt",
        "generated/gateway/chain0/ca/ca.crt",
    ] {
        assert!(ws.join(ca).is_file(), "{ca}");
    }
    let old_node = Path::new("generated/gateway/chain0/agencyABcosGatewayService/172.25.0.3");
    assert!(ws.join(old_node).join("nodes.json").is_file());
    assert!(!ws.join("state/chain0.state.json.journal.json").exists());

    let again = demo(&["--workspace", ws.to_str().unwrap()]);
    assert_eq!(again.code, Some(1));
    assert_contains(&again.output, "is not empty");
    assert_contains(&again.output, "hint:");
}

#[test]
fn demo_refuses_a_token_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .arg("demo")
        .env("TARSFORM_TARS_TOKEN", "someone-elses-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(&stderr, "TARSFORM_TARS_TOKEN");
    assert_contains(&stderr, "hint:");
    assert!(!stderr.contains("someone-elses-token"));
}

#[test]
fn demo_sm_runs_national_cryptography_and_storage_security_end_to_end() {
    let run = demo(&["--sm"]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_contains(&run.output, "key-center emulator (SM4");
    let plan = section(&run.output, "tarsform plan");
    assert_contains(plan, "new SM2 key and certificate (sm_enssl)");
    assert_contains(plan, "encrypted_by");
    assert!(
        !plan.contains("[\"ssl.key\"]"),
        "an RSA key file in an SM plan:\n{plan}"
    );
    assert_contains(&run.output, "==> demo complete");
    assert!(
        !run.output.contains("PRIVATE KEY"),
        "a key leaked:\n{}",
        run.output
    );
}
