//! A full disk in the middle of an expansion (`TARSFORM_FAIL_STATE_WRITES`): the step
//! whose state save failed had changed Tars; the rollback undoes it in Tars and in the
//! state, and the next apply expands cleanly.

use crate::target::{IP1, IP2, Target, on_every_target};
use crate::workspace::{Agency, Workspace};

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];

#[test]
fn an_expansion_whose_state_save_fails_is_rolled_back_in_tars_and_in_the_state() {
    on_every_target(full_disk_mid_expansion);
}

/// The whole state file's resources, as JSON.
fn resources(w: &Workspace) -> serde_json::Value {
    let path = w.path().join("state").join("cfdisk.state.json");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    state["resources"].clone()
}

fn full_disk_mid_expansion(t: &Target) {
    let w = Workspace::new(t, "cfdisk");
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1],
    }]);
    w.ok(APPLY);
    let (servers, state) = (t.servers("cfdisk"), resources(&w));

    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1, IP2],
    }]);
    // Write 1 is the preflight's; the 4th falls on a register, a certificate or a config.
    let run = w.run_env(APPLY, &[("TARSFORM_FAIL_STATE_WRITES", "4")]);
    let context = format!("[{}]\n{}", t.name(), run.both());
    assert_eq!(run.code, Some(1), "{context}");
    assert!(run.stderr.contains("No space left on device"), "{context}");
    assert!(run.stderr.contains("Rollback complete"), "{context}");
    let node_of = |rows: &[tarsform::tars::ServerConf]| {
        let mut nodes: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.server_name.clone(), r.node_name.clone()))
            .collect();
        nodes.sort();
        nodes
    };
    assert_eq!(node_of(&t.servers("cfdisk")), node_of(&servers), "{context}");
    assert!(t.not_running("cfdisk").is_empty(), "{context}");
    assert_eq!(resources(&w), state, "the state is as it was: {context}");

    let forward = w.ok(APPLY);
    assert!(forward.stdout.contains("Apply complete"), "{}", forward.both());
    assert_eq!(t.servers("cfdisk").len(), 4, "{}", forward.both());
    assert!(t.not_running("cfdisk").is_empty(), "{}", forward.both());
    w.ok(&["destroy", "-c", "config.toml", "--auto-approve"]);
}
