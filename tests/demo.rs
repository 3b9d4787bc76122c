//! `tarsform demo` end to end: the real binary runs the seed scenario (expand agencyA's
//! rpc and gateway from 172.25.0.3 onto 172.25.0.5, then destroy) on its own emulator.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo emulator's ticket (src/cli/demo/seed.rs); it must never be printed.
const DEMO_TOKEN: &str = "tarsform-demo-ticket-5e8c1d7a";

struct Run {
    code: Option<i32>,
    /// stdout then stderr.
    output: String,
}

fn demo(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .arg("demo")
        .args(args)
        .env_remove("TARSFORM_TARS_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tarsform demo");
    Run {
        code: out.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
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
    for banner in [
        "==> tarsform plan",
        "==> tarsform apply --auto-approve",
        "==> tarsform status",
        "==> tarsform plan --detailed-exitcode",
        "==> tarsform destroy --auto-approve",
    ] {
        assert_contains(out, banner);
    }
    assert_contains(out, "Apply complete!");
    assert_contains(out, "No changes.");
    assert_contains(out, "Destroy complete!");
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(out, &format!("register node[\"{server}\"][\"172.25.0.5\"]: done"));
        assert_contains(out, &format!("undeploy node[\"{server}\"][\"172.25.0.5\"]: done"));
    }
    assert_contains(out, "expand from 172.25.0.3");
    assert_contains(out, r#"{"method":"expand","source":"172.25.0.3"}"#);
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
