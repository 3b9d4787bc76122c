//! Machine-readable output through the binary: the Terraform-shaped plan JSON of
//! `plan --format json` and `show --json`, `apply --json` events (one object per
//! line), JSON diagnostics for errors, and the short report of `apply PLANFILE`.

mod common;

use common::*;
use serde_json::Value;

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"))
        })
        .collect()
}

#[test]
fn plan_json_and_show_json_follow_terraforms_format() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.run(&["plan", "--format", "json", "--out", "plans/p.json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["format_version"], "1.0");
    let changes = plan["resource_changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for c in changes {
        for field in ["address", "mode", "type", "name", "provider_name", "change"] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
        assert_ne!(c["change"]["actions"], serde_json::json!(["import"]), "{c}");
    }
    // The seed's servers on 172.25.0.3 are adopted: Terraform's importing, not an "import" action.
    assert!(
        changes.iter().any(|c| c["change"].get("importing").is_some()),
        "{}",
        run.stdout
    );
    assert!(
        plan["planned_values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .len()
            >= changes.len()
    );
    assert_eq!(plan["configuration"]["provider_config"]["tars"]["name"], "tars");

    let show = bed.run(&["show", "plans/p.json", "--json"]);
    assert_eq!(show.code, Some(0), "{}", show.both());
    assert_eq!(
        show.stdout, run.stdout,
        "show --json prints what plan --format json printed"
    );

    let status = bed.run(&["status", "--json"]);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["format_version"], "1.0");
}

#[test]
fn errors_under_json_are_json_diagnostics_on_stdout() {
    let bed = Bed::new(Start::Fresh, Tars::default());
    for args in [
        &["plan", "-c", "missing.toml", "--format", "json"][..],
        &["show", "plans/missing.json", "--json"],
        &["status", "-c", "missing.toml", "--json"],
    ] {
        let run = bed.run(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.both());
        let doc: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.both()));
        assert_eq!(doc["valid"], false);
        assert_eq!(doc["diagnostics"][0]["severity"], "error");
        assert!(
            run.stderr.contains("error:"),
            "{args:?}: the message is on stderr too"
        );
    }
    let run = bed.run(&["apply", "-c", "missing.toml", "--json", "--auto-approve"]);
    assert_eq!(run.code, Some(1));
    let stream = lines(&run.stdout);
    assert_eq!(stream.last().unwrap()["type"], "diagnostic", "{}", run.stdout);
}

#[test]
fn apply_json_streams_one_event_per_line_and_apply_planfile_prints_only_the_summary() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let plan = bed.run(&["plan", "--out", "plans/p.json"]);
    assert_eq!(plan.code, Some(0), "{}", plan.both());

    let refused = bed.run(&["apply", "--json"]);
    assert_eq!(refused.code, Some(1));
    assert!(refused.stderr.contains("--auto-approve"), "{}", refused.both());

    let run = bed.run(&["apply", "--json", "plans/p.json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let events = lines(&run.stdout);
    assert_eq!(events[0]["type"], "version");
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"planned_change") && kinds.contains(&"apply_start"),
        "{kinds:?}"
    );
    let done = events.iter().filter(|e| e["type"] == "apply_complete").count();
    assert_eq!(done, kinds.iter().filter(|k| **k == "apply_start").count());
    let node = events
        .iter()
        .find(|e| e["type"] == "apply_complete" && e["hook"]["resource"]["resource_type"] == "node")
        .expect("a node step completes");
    assert!(node["hook"]["elapsed_seconds"].as_f64().is_some(), "{node}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "change_summary");
    assert_eq!(last["changes"]["operation"], "apply");

    // A saved plan is applied with its summary and path, not printed again.
    let bed = Bed::new(Start::Seed, Tars::default());
    let plan = bed.run(&["plan", "--out", "plans/p.json"]);
    let run = bed.run(&["apply", "plans/p.json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(
        run.stdout.starts_with("Applying the saved plan plans/p.json"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("will be created"), "{}", run.stdout);
    let summary = plan.stdout.lines().find(|l| l.starts_with("Plan: ")).unwrap();
    assert!(run.stdout.contains(summary), "{}", run.stdout);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    assert!(run.stdout.lines().count() < 12, "{}", run.stdout);
}
