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

/// Lines as a terminal 80 columns wide shows them (long lines wrap).
fn screen_lines(output: &str) -> usize {
    output
        .lines()
        .map(|l| l.chars().count().div_ceil(80).max(1))
        .sum()
}

const PLAN: &str = "tarsform plan -out demo.tfplan";
const APPLY: &str = "tarsform apply demo.tfplan";

#[test]
fn demo_tells_the_seed_story_on_two_screens() {
    let run = demo(&[]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let out = &run.output;
    let lines = screen_lines(out);
    assert!(lines <= 100, "{lines} lines at 80 columns:\n{out}");

    // What runs before: agencyA on the old host.
    assert_contains(
        out,
        "agencyA's rpc (20200) and gateway (30300) are running on 172.25.0.3",
    );
    let plan = section(out, PLAN);
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(plan, &format!("import server[\"{server}\"]"));
        assert_contains(
            plan,
            &format!("+ node[\"{server}\"][\"172.25.0.5\"]  (new node: expand from 172.25.0.3"),
        );
    }
    assert_contains(
        plan,
        "+ config[\"agencyABcosRpcService\"][\"172.25.0.5\"]: ca.crt, config.ini, ssl.crt, ssl.key",
    );
    assert_contains(plan, "<= tarsnode[\"172.25.0.5\"]");
    assert_contains(plan, "Plan: 4 to import, 14 to add, 0 to change, 0 to destroy.");
    // The key diffs: the new nodes listen on the new ports.
    assert_contains(
        plan,
        "config.ini of agencyABcosRpcService, 172.25.0.5 against 172.25.0.3:\n    -listen_port = 20200\n    +listen_port = 10200\n",
    );
    assert_contains(plan, "-listen_port = 30300\n    +listen_port = 40300");
    assert!(
        !plan.contains("<<-EOT"),
        "the full plan in the short demo:\n{plan}"
    );

    let apply = section(out, APPLY);
    assert_contains(apply, "Plan: 4 to import, 14 to add");
    assert_contains(apply, "register 2, start 2");
    assert_contains(
        apply,
        "Apply complete! Resources: 4 imported, 14 added, 0 changed, 0 destroyed.",
    );
    assert!(
        !apply.contains(": started"),
        "progress lines in the short demo:\n{apply}"
    );

    let status = section(out, "tarsform status");
    assert_contains(status, "agencyABcosRpcService: 2/2 nodes active");
    assert_contains(status, "agencyABcosGatewayService: 2/2 nodes active");

    let replan = section(out, "tarsform plan --detailed-exitcode");
    assert_contains(replan, "No changes.");
    assert_contains(replan, "Verified: the plan read Tars again and exited 0");

    let destroy = section(out, "tarsform destroy --auto-approve");
    assert_contains(destroy, "Warning: this plan destroys 2 node(s)");
    assert_contains(destroy, "undeploy 2");
    assert_contains(destroy, "Destroy complete! Resources: 16 destroyed.");
    assert_contains(
        destroy,
        "Verified: 172.25.0.5: no node left; 172.25.0.3: untouched",
    );
    assert!(!out.contains(DEMO_TOKEN), "the demo token was printed:\n{out}");
    assert!(!out.contains("-----BEGIN"), "PEM in the demo:\n{out}");
    assert!(
        !workspace_of(out).exists(),
        "the temporary workspace is removed at the end"
    );
}

#[test]
fn demo_verbose_prints_every_change_and_step() {
    let run = demo(&["--verbose"]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    let out = &run.output;
    let plan = section(out, PLAN);
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(
            plan,
            &format!("+ config[\"{server}\"][\"172.25.0.5\"][\"config.ini\"]"),
        );
    }
    assert_contains(plan, r#"{"method":"expand","source":"172.25.0.3"}"#);
    assert_contains(plan, "listen_port = 10200");
    assert_contains(plan, "cert_pem    = sha256:");
    let apply = section(out, APPLY);
    for server in ["agencyABcosRpcService", "agencyABcosGatewayService"] {
        assert_contains(
            apply,
            &format!("register node[\"{server}\"][\"172.25.0.5\"]: done"),
        );
        assert_contains(apply, &format!("start node[\"{server}\"][\"172.25.0.5\"]: done"));
    }
    assert_contains(apply, "Apply complete!");
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
    assert!(
        screen_lines(out) > 400,
        "--verbose prints the whole plan and every step"
    );
    assert!(!out.contains(DEMO_TOKEN));
    assert!(!out.contains("-----BEGIN"), "PEM in the demo:\n{out}");
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
    let run = demo(&["--sm", "--verbose"]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_contains(&run.output, "key-center emulator (SM4");
    let plan = section(&run.output, PLAN);
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
