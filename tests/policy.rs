//! Rego policies on plans: the shipped examples/policies and a policy written for
//! Terraform plans, run through the engine on the golden JSON of the plan scenarios,
//! and `plan --policy` through the binary.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};
use tarsform::policy::{Policies, Verdict};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn policies(dir: &str) -> Policies {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(root().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rego") {
            sources.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    sources.sort();
    Policies::load(&sources).unwrap()
}

/// The JSON plan of a golden snapshot (tests/snapshots/plan__NAME_json.snap).
fn scenario(name: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join(format!("tests/snapshots/plan__{name}_json.snap"))).unwrap();
    let body = text.splitn(3, "---\n").nth(2).expect("an insta snapshot");
    serde_json::from_str(body).unwrap()
}

fn check(p: &mut Policies, plan: &Value) -> Verdict {
    p.evaluate(&plan.to_string()).unwrap()
}

fn changes(plan: &mut Value) -> &mut Vec<Value> {
    plan["resource_changes"].as_array_mut().unwrap()
}

#[test]
fn a_terraform_policy_denying_deletes_works_unchanged() {
    let mut p = policies("tests/fixtures/policies/terraform");
    for name in ["removed_ip", "removed_agency"] {
        let plan = scenario(name);
        let deletes = plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["change"]["actions"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("delete"))
            })
            .count();
        let v = check(&mut p, &plan);
        assert!(deletes > 0);
        assert_eq!(v.denied.len(), deletes, "{name}: {v:?}");
        assert!(v.denied.iter().all(|d| d.rule == "data.main.deny"));
    }
    for name in ["seed_expansion", "listen_port_changed", "no_op"] {
        assert!(check(&mut p, &scenario(name)).passed(), "{name}");
    }
}

#[test]
fn the_example_policies_pass_the_ordinary_scenarios() {
    let mut p = policies("examples/policies");
    for name in [
        "seed_expansion",
        "listen_port_changed",
        "removed_ip",
        "removed_agency",
        "no_op",
    ] {
        let v = check(&mut p, &scenario(name));
        assert!(v.passed(), "{name}: {v:?}");
    }
}

#[test]
fn destroying_an_imported_node_is_denied() {
    let mut p = policies("examples/policies");
    let mut plan = scenario("removed_ip");
    let node = changes(&mut plan)
        .iter_mut()
        .find(|c| c["type"] == "node")
        .unwrap();
    node["change"]["before"]["imported"] = json!(true);
    let address = node["address"].as_str().unwrap().to_string();
    let v = check(&mut p, &plan);
    assert_eq!(v.denied.len(), 1, "{v:?}");
    assert_eq!(v.denied[0].rule, "data.tarsform.no_destroy_imported.deny");
    assert!(v.denied[0].message.starts_with(&address), "{v:?}");
}

#[test]
fn a_second_restart_of_one_server_is_denied() {
    let mut p = policies("examples/policies");
    let mut plan = scenario("listen_port_changed");
    let mut second = changes(&mut plan)
        .iter()
        .find(|c| c["type"] == "node" && c["change"]["actions"] == json!(["update"]))
        .unwrap()
        .clone();
    second["address"] = json!("node[\"agencyABcosRpcService\"][\"172.25.0.7\"]");
    second["index"] = json!("172.25.0.7");
    changes(&mut plan).push(second);
    let v = check(&mut p, &plan);
    assert!(!v.passed());
    assert!(
        v.denied
            .iter()
            .all(|d| d.rule == "data.tarsform.max_restarts_per_server.deny"
                && d.message.starts_with("agencyABcosRpcService: 2 nodes restart")),
        "{v:?}"
    );
}

#[test]
fn replacing_a_ca_is_denied() {
    let mut p = policies("examples/policies");
    let mut plan = scenario("seed_expansion");
    let ca = changes(&mut plan).iter_mut().find(|c| c["type"] == "ca").unwrap();
    ca["change"]["actions"] = json!(["delete", "create"]);
    let v = check(&mut p, &plan);
    assert_eq!(v.denied.len(), 1, "{v:?}");
    assert_eq!(v.denied[0].rule, "data.tarsform.no_ca_change.deny");
    assert!(
        v.denied[0]
            .message
            .starts_with("ca[\"gateway\"] would be deleted"),
        "{v:?}"
    );
}

#[test]
fn plan_with_policy_passes_or_fails_and_then_writes_no_plan_file() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let examples = root().join("examples/policies");
    let run = bed.run(&[
        "plan",
        "--policy",
        examples.to_str().unwrap(),
        "--out",
        "plans/ok.json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(run.stderr.contains("passed"), "{}", run.both());
    assert!(bed.exists("plans/ok.json"));

    let strict = bed.path().join("strict");
    std::fs::create_dir(&strict).unwrap();
    std::fs::write(
        strict.join("no_new_nodes.rego"),
        "package strict\nimport rego.v1\ndeny contains sprintf(\"%s: no new nodes this week\", [rc.address]) if {\n some rc in input.resource_changes\n rc.type == \"node\"\n \"create\" in rc.change.actions\n}\n",
    )
    .unwrap();
    let run = bed.run(&["plan", "--policy", "strict", "--out", "plans/denied.json"]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert!(
        run.stderr.contains("no new nodes this week (data.strict.deny)"),
        "{}",
        run.both()
    );
    assert!(
        run.stderr.contains("The plan file was not written"),
        "{}",
        run.both()
    );
    assert!(
        run.stdout.contains("Plan: "),
        "the plan is still shown: {}",
        run.both()
    );
    assert!(!bed.exists("plans/denied.json"));

    let run = bed.run(&["plan", "--policy", "strict", "--format", "json"]);
    assert_eq!(run.code, Some(1));
    let doc: Value = serde_json::from_str(&run.stdout).expect("only the diagnostics on stdout");
    assert!(
        doc["diagnostics"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("no new nodes this week")
    );
}
