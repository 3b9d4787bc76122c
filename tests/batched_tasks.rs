//! Batched Tars tasks (issue 15): nodes that start, stop or undeploy together go to Tars
//! as one multi-item `add_task`, and their health waits share `server_list` reads. Each
//! node keeps its own journal entry and undo record: an item that fails fails its node's
//! step only, and the rollback undoes exactly what the other items did.

mod common;

use std::collections::BTreeMap;

use common::{Bed, JOURNAL, TOKEN};
use tarsform::emulator::EmulatorConfig;

const AGENCIES: usize = 3;
const HOSTS: usize = 4;
/// An rpc and a gateway node on every host.
const NODES: u32 = (AGENCIES * HOSTS * 2) as u32;

fn host(agency: usize, h: usize) -> String {
    format!("10.20.{agency}.{h}")
}

/// Every agency's rpc and gateway on its own `hosts` hosts (the apply_scale bench's shape).
fn topology(tars_url: &str, hosts: usize) -> String {
    let mut toml = format!(
        "[tars]\ntars_url = \"{tars_url}\"\ntars_token = \"\"\ntars_pkg_dir = \"binary/\"\n\n\
         [chain]\nchain_id = \"chain0\"\nrpc_sm_ssl = false\ngateway_sm_ssl = false\n"
    );
    for a in 1..=AGENCIES {
        let hosts: Vec<String> = (1..=hosts).map(|h| host(a, h)).collect();
        let list = |port: &str| {
            hosts
                .iter()
                .map(|h| format!("\"{h}{port}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        toml.push_str(&format!(
            "\n[[agency]]\nname = \"agency{a}\"\n\
             [agency.rpc]\ndeploy_ip = [{ips}]\nlisten_ip = \"0.0.0.0\"\nlisten_port = 20200\nthread_count = 4\n\
             [agency.gateway]\ndeploy_ip = [{ips}]\nlisten_ip = \"0.0.0.0\"\nlisten_port = 30300\npeers = [{peers}]\n",
            ips = list(""),
            peers = list(":30300"),
        ));
    }
    toml
}

/// An empty emulator with every host's tarsnode, and a workspace deploying the grid.
fn grid_bed(hosts: usize) -> Bed {
    let nodes = (1..=AGENCIES)
        .flat_map(|a| (1..=hosts).map(move |h| host(a, h)))
        .collect();
    let config = EmulatorConfig {
        token: Some(TOKEN.into()),
        nodes,
        task_duration: std::time::Duration::from_millis(40),
        ..EmulatorConfig::default()
    };
    Bed::empty(config, |url| topology(url, hosts))
}

fn total(calls: &BTreeMap<&'static str, u32>) -> u32 {
    calls.values().sum()
}

fn of(calls: &BTreeMap<&'static str, u32>, endpoint: &str) -> u32 {
    calls.get(endpoint).copied().unwrap_or(0)
}

/// The items of the tasks the emulator holds, per task: (serial, [(command, node)]).
fn multi_item_tasks(bed: &Bed, command: &str) -> Vec<(bool, Vec<String>)> {
    bed.handle()
        .tasks()
        .into_iter()
        .filter(|(_, items)| items.len() > 1 && items.iter().all(|(c, _)| c == command))
        .map(|(serial, items)| (serial, items.into_iter().map(|(_, node)| node).collect()))
        .collect()
}

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];
const DESTROY: &[&str] = &["destroy", "-c", "config.toml", "--auto-approve"];

#[test]
fn nodes_that_start_together_share_one_task_and_one_health_read_per_server() {
    let batched = grid_bed(HOSTS);
    let deploy = batched.calls_of(APPLY);
    let unbatched = grid_bed(HOSTS);
    let one_by_one = unbatched.calls_of(&[APPLY, &["--task-batch", "1"]].concat());
    eprintln!(
        "fresh deploy of {NODES} nodes: batched {} calls ({:.1}/node), {deploy:?}\n  one task a node: {} calls ({:.1}/node), {one_by_one:?}",
        total(&deploy),
        f64::from(total(&deploy)) / f64::from(NODES),
        total(&one_by_one),
        f64::from(total(&one_by_one)) / f64::from(NODES),
    );
    assert_eq!(
        of(&one_by_one, "add_task"),
        NODES,
        "--task-batch 1: one task a node"
    );
    // Measured: 5 tasks (24 nodes in batches of up to 5: new nodes' starts wait a
    // moment for more), 10 polls, 300–310 calls; one task a node: 24 tasks, 48 polls,
    // ~450 calls. Which steps are ready together depends on timing, so the bounds catch
    // "no batching" and a doubling, not the spread.
    assert!(
        of(&deploy, "add_task") < NODES / 2,
        "batches of up to 5 nodes: {deploy:?}"
    );
    assert!(of(&deploy, "task") <= NODES, "{deploy:?}");
    let tasks = multi_item_tasks(&batched, "patch_tars");
    assert!(
        !tasks.is_empty(),
        "no multi-item patch task: {:?}",
        batched.handle().tasks()
    );
    for (serial, nodes) in &tasks {
        assert!(!serial, "a batched task runs its items in parallel: {nodes:?}");
        assert!(nodes.len() <= 5, "--task-batch 5 holds: {nodes:?}");
    }
    // Health reads of one batched task share one application-wide read: measured 44
    // batched, 108 one task a node.
    assert!(of(&deploy, "server_list") <= 90, "{deploy:?}");
    // Three listings a server's file: two for the first node (TarsWeb creates its row
    // while listing), one after the expansion copied the rows to the others.
    assert!(of(&deploy, "node_config_file_list") <= 90, "{deploy:?}");
    // The expansion copies the first node's rows: the files every node of a server
    // shares (config.ini, nodes.json, ca.crt) need no update on the others. Measured 63
    // updates for 108 rows (108 before the copies).
    assert!(of(&deploy, "update_config_file") <= 75, "{deploy:?}");
    assert!(total(&deploy) <= 400, "{deploy:?}");
    // A server's new nodes become ready together (after the first node's shared files)
    // and expand it at once: 18 expanded nodes (6 servers × 3) measured 6
    // `expand_server` and 12 `auto_port` calls (one a node: 18, 24).
    assert!(of(&deploy, "expand_server") <= 9, "{deploy:?}");
    assert!(of(&deploy, "auto_port") <= 15, "{deploy:?}");
    // The preflight pings one tarsnode; the registry's live heartbeats vouch for the rest.
    assert_eq!(of(&deploy, "check_tars_node"), 1, "{deploy:?}");
    assert_eq!(of(&one_by_one, "check_tars_node"), 1, "{one_by_one:?}");

    let destroy = batched.calls_of(DESTROY);
    eprintln!("destroy of {NODES} nodes: {} calls, {destroy:?}", total(&destroy));
    // Measured: 5 tasks, 8–10 polls, 160 calls (297 when each undeploy read its
    // server's rows alone, 395 with the rollback baseline reading them again too).
    assert!(of(&destroy, "add_task") < NODES, "{destroy:?}");
    assert!(total(&destroy) <= 200, "{destroy:?}");
    assert!(of(&destroy, "node_config_file_list") <= 70, "{destroy:?}");
    assert!(
        !multi_item_tasks(&batched, "undeploy_tars").is_empty(),
        "no multi-item undeploy task: {:?}",
        batched.handle().tasks()
    );
    assert!(batched.snapshot().servers.is_empty(), "destroy left servers");
}

/// After a failed apply: Tars as `before`, no journal, no state resources.
fn assert_rolled_back(bed: &Bed, before: &tarsform::emulator::ModelView, out: &str) {
    common::assert_model_eq(before, &bed.snapshot(), "after the rollback");
    assert!(!bed.exists(JOURNAL), "journal left:\n{out}");
    assert!(
        bed.resources().unwrap_or_default().is_empty(),
        "state resources left:\n{out}"
    );
}

/// Which steps are ready together depends on timing (under CI load a batch can shrink to
/// one node). Runs `attempt` on fresh beds until it reports that batching happened, at
/// most five times; every attempt checks its rollback in full either way.
fn until_batched(what: &str, attempt: impl Fn() -> Result<(), String>) {
    let mut seen = Vec::new();
    for _ in 0..5 {
        match attempt() {
            Ok(()) => return,
            Err(why) => seen.push(why),
        }
    }
    panic!("{what} in none of 5 runs: {seen:#?}");
}

#[test]
fn a_failed_item_fails_its_node_only_and_the_rollback_undoes_the_others_exactly() {
    until_batched("the failing item shared a task with other nodes", || {
        // 12 nodes: an rpc and a gateway on 2 hosts of each agency.
        let bed = grid_bed(2);
        let failing = host(2, 2);
        bed.handle()
            .add_fault(format!("task:patch_tars@{failing}").parse().expect("fault rule"));
        let before = bed.snapshot();
        // Two Tars slots: the starts wait for the pushes, then leave in batches.
        let run = bed.run(&[APPLY, &["--parallelism", "2"]].concat());
        assert_ne!(run.code, Some(0), "the apply must fail: {}", run.both());
        let out = run.both();
        let failed: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("start node[") && l.to_lowercase().contains("fail"))
            .collect();
        assert!(
            !failed.is_empty() && failed.iter().all(|l| l.contains(&failing)),
            "only the starts on {failing} fail: {failed:?}\n{out}"
        );
        assert_rolled_back(&bed, &before, &out);
        let shared = multi_item_tasks(&bed, "patch_tars")
            .into_iter()
            .any(|(_, nodes)| nodes.contains(&failing) && nodes.iter().any(|n| n != &failing));
        shared
            .then_some(())
            .ok_or_else(|| format!("tasks: {:?}", bed.handle().tasks()))
    });
}

#[test]
fn a_failed_batched_expansion_fails_its_nodes_and_the_rollback_leaves_tars_as_it_was() {
    until_batched("one failed expand_server carried several nodes", || {
        // 4 hosts an agency: each server's first node is deployed, its 3 others expand from it.
        let bed = grid_bed(HOSTS);
        bed.handle()
            .add_fault("api:expand_server#2".parse().expect("fault rule"));
        let before = bed.snapshot();
        let run = bed.run(APPLY);
        assert_ne!(run.code, Some(0), "the apply must fail: {}", run.both());
        let out = run.both();
        let failed: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("  register node[") && l.contains("FAILED"))
            .collect();
        assert!(
            !failed.is_empty() && failed.iter().all(|l| l.contains("expand_server")),
            "the registrations of the failed expansion fail: {failed:#?}\n{out}"
        );
        assert_rolled_back(&bed, &before, &out);
        // One expand_server carried several nodes: its failure fails each of their steps.
        let calls = bed.handle().call_count("expand_server");
        (failed.len() >= 2 && calls < 18)
            .then_some(())
            .ok_or_else(|| format!("{calls} expand_server calls; failed registrations: {failed:#?}"))
    });
}

#[test]
fn a_failed_batched_undeploy_registers_the_others_again_with_the_contents_they_shared_reads_of() {
    until_batched("the failing undeploy shared a task with other nodes", || {
        // 12 nodes; the undeploys of a server's nodes read its rows once, together.
        let bed = grid_bed(2);
        let applied = bed.run(APPLY);
        assert_eq!(applied.code, Some(0), "{}", applied.both());
        let before = bed.snapshot();
        let failing = host(2, 2);
        bed.handle().add_fault(
            format!("task:undeploy_tars@{failing}")
                .parse()
                .expect("fault rule"),
        );
        let run = bed.run(DESTROY);
        assert_ne!(run.code, Some(0), "the destroy must fail: {}", run.both());
        let out = run.both();
        assert!(out.contains("Rollback complete"), "{out}");
        common::assert_model_eq(&before, &bed.snapshot(), "after the rolled-back destroy");
        assert!(!bed.exists(JOURNAL), "journal left:\n{out}");
        bed.handle().clear_faults();
        let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
        assert_eq!(replan.code, Some(0), "{}", replan.both());
        let shared = multi_item_tasks(&bed, "undeploy_tars")
            .into_iter()
            .any(|(_, nodes)| nodes.contains(&failing) && nodes.iter().any(|n| n != &failing));
        shared
            .then_some(())
            .ok_or_else(|| format!("tasks: {:?}", bed.handle().tasks()))
    });
}
