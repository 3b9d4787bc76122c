//! `examples/gitops/run-local.sh`: the GitOps sequence (plan --out, show, apply the saved
//! plan, drift check, stale-plan refusal) against `tarsform emulator` on loopback,
//! with the binary under test.

use std::path::Path;
use std::process::Command;

#[test]
fn gitops_example_script_runs_the_documented_sequence() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops/run-local.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("TARSFORM_BIN", env!("CARGO_BIN_EXE_tarsform"))
        .env_remove("KEEP_WORKDIR")
        .env_remove("TARSFORM_TARS_TOKEN")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run-local.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("run-local: OK"),
        "the script did not reach its end:\n{stdout}"
    );
    for step in [
        "pull request: plan --format markdown --out plans/pr.plan.json",
        "merge: apply the reviewed saved plan",
        "the topology changes again before merge: the saved plan is refused as stale",
    ] {
        assert!(stdout.contains(step), "step `{step}` did not run:\n{stdout}");
    }
}
