//! Apply with rollback, end to end: the real binary against the TarsWeb emulator.
//! The seed expansion and destroy, a fault matrix over every Tars endpoint the apply
//! calls, an incomplete rollback, Ctrl-C, SIGKILL then `rollback` or roll-forward, the
//! state lock, and drift found by `plan`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

#[test]
fn seed_expansion_applies_replans_clean_and_destroys_only_the_new_host() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let before = bed.snapshot();

    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stdout, "Apply complete!", "apply");

    let after = bed.snapshot();
    let state = bed.resources().expect("state written");
    for (server, files) in [(RPC, 4), (GATEWAY, 5)] {
        let row = after
            .servers
            .iter()
            .find(|s| s.server_name == server && s.node_name == NEW)
            .unwrap_or_else(|| panic!("{server} on {NEW} missing: {after:?}"));
        assert_eq!((row.setting_state.as_str(), row.present_state.as_str()), ("active", "active"));
        assert!(row.patch_version.parse::<u64>().is_ok(), "patch version {row:?}");
        let configs: BTreeMap<&str, &str> = after
            .configs
            .iter()
            .filter(|c| c.level == 3 && c.host == NEW && c.server_name == format!("{APP}.{server}"))
            .map(|c| (c.filename.as_str(), c.content.as_str()))
            .collect();
        assert_eq!(configs.len(), files, "{server}: {configs:?}");
        for (file, content) in configs {
            let address = format!("config[\"{server}\"][\"{NEW}\"][\"{file}\"]");
            let local = state[&address]["attributes"]["local_path"]
                .as_str()
                .unwrap_or_else(|| panic!("{address} has no local_path"));
            let on_disk = std::fs::read_to_string(bed.path().join(local)).unwrap();
            assert_eq!(content, on_disk, "{address}: Tars and {local} differ");
        }
    }
    assert_eq!(rows_of(&after, OLD), rows_of(&before, OLD), "172.25.0.3 touched");

    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());

    let destroy = bed.run(&["destroy", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(destroy.code, Some(0), "{}", destroy.both());
    let gone = bed.snapshot();
    assert_eq!(rows_of(&gone, OLD), rows_of(&before, OLD), "destroy touched 172.25.0.3");
    assert_eq!(rows_of(&gone, NEW), Default::default(), "destroy left rows of 172.25.0.5");
    assert_model_eq(&before, &gone, "after destroy");
    assert!(!bed.exists(JOURNAL), "journal left after destroy");
    let _ = Duration::ZERO;
}
