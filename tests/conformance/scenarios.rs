//! The scenarios, each run on every target (see `target::on_every_target`).

use std::io::{BufRead, BufReader};

use tarsform::tars::{TarsApi, TaskCommand, TaskRequest, run_task};

use crate::common::runtime;
use crate::target::{IP1, IP2, Target, on_every_target};
use crate::workspace::{Agency, Run, Workspace};

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];

fn contains(run: &Run, needle: &str, t: &Target) {
    assert!(
        run.stdout.contains(needle) || run.stderr.contains(needle),
        "[{}] expected `{needle}` in\n{}",
        t.name(),
        run.both()
    );
}

/// Every node of `app` runs, and there are `count` of them: checked right after the
/// command printed "complete", never waited for.
fn all_running(t: &Target, app: &str, count: usize) {
    let rows = t.servers(app);
    assert_eq!(rows.len(), count, "[{}] nodes of {app}: {rows:#?}", t.name());
    let idle = t.not_running(app);
    assert!(
        idle.is_empty(),
        "[{}] not running at \"Apply complete\": {idle:?}",
        t.name()
    );
}

#[test]
fn deploy_upgrade_expand_replan_shrink_destroy() {
    on_every_target(lifecycle);
}

fn lifecycle(t: &Target) {
    let w = Workspace::new(t, "cflife");
    let a_on_1 = Agency {
        name: "agencyA",
        ips: &[IP1],
    };
    let b_on_1 = Agency {
        name: "agencyB",
        ips: &[IP1],
    };
    w.topology(&[a_on_1, b_on_1]);
    let deploy = w.ok(APPLY);
    contains(&deploy, "Apply complete", t);
    contains(&deploy, "Tars calls:", t);
    all_running(t, "cflife", 4);

    // Upgrade: a new release of both binaries restarts every node on its new patch.
    let before: Vec<String> = t.servers("cflife").into_iter().map(|s| s.patch_version).collect();
    w.new_release("2");
    let upgrade = w.ok(APPLY);
    contains(&upgrade, "Apply complete", t);
    all_running(t, "cflife", 4);
    let after: Vec<String> = t.servers("cflife").into_iter().map(|s| s.patch_version).collect();
    assert!(
        before.iter().all(|p| !after.contains(p)),
        "[{}] patches {before:?} → {after:?}",
        t.name()
    );

    // Seed expansion: agencyA's rpc and gateway onto the second tarsnode.
    w.topology(&[
        Agency {
            name: "agencyA",
            ips: &[IP1, IP2],
        },
        Agency {
            name: "agencyB",
            ips: &[IP1],
        },
    ]);
    contains(&w.ok(APPLY), "Apply complete", t);
    all_running(t, "cflife", 6);
    let replan = w.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "[{}] {}", t.name(), replan.both());
    contains(&replan, "No changes", t);
    contains(&w.ok(&["status", "-c", "config.toml"]), "2/2 nodes active", t);

    // Shrink back, then destroy.
    w.topology(&[
        Agency {
            name: "agencyA",
            ips: &[IP1],
        },
        Agency {
            name: "agencyB",
            ips: &[IP1],
        },
    ]);
    contains(&w.ok(APPLY), "Apply complete", t);
    all_running(t, "cflife", 4);
    assert!(t.servers("cflife").iter().all(|s| s.node_name == IP1));
    contains(
        &w.ok(&["destroy", "-c", "config.toml", "--auto-approve"]),
        "Destroy complete",
        t,
    );
    assert!(
        t.servers("cflife").is_empty(),
        "[{}] left after destroy",
        t.name()
    );
}

#[test]
fn crashing_binary_fails_the_apply_and_rolls_back() {
    on_every_target(crashing_binary);
}

fn crashing_binary(t: &Target) {
    let w = Workspace::new(t, "cfcrash");
    t.write_packages(&w.path().join("binary"), true);
    t.crash_binaries();
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1],
    }]);
    // A real tarsnode keeps a crashing binary "activating" for 60 s; 15 s proves the point.
    let timeout = if t.is_real() { "15s" } else { "1s" };
    let run = w.run_env(APPLY, &[("TARSFORM_START_TIMEOUT", timeout)]);
    assert_eq!(run.code, Some(1), "[{}] {}", t.name(), run.both());
    contains(&run, "is not running although patch_tars task", t);
    contains(&run, "activating", t);
    contains(&run, "Rollback complete", t);
    assert!(
        !run.stdout.contains("Apply complete"),
        "[{}] {}",
        t.name(),
        run.both()
    );
    assert!(
        t.servers("cfcrash").is_empty(),
        "[{}] nodes left in Tars",
        t.name()
    );
    assert!(w.state_nodes().is_empty(), "[{}] nodes left in state", t.name());
}

#[test]
fn an_upgrade_to_a_crashing_binary_is_rolled_back_to_the_running_release() {
    on_every_target(crashing_upgrade);
}

fn crashing_upgrade(t: &Target) {
    let w = Workspace::new(t, "cfcrashup");
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1],
    }]);
    contains(&w.ok(APPLY), "Apply complete", t);
    let before: Vec<(String, String)> = t
        .servers("cfcrashup")
        .into_iter()
        .map(|s| (s.server_name, s.patch_version))
        .collect();
    t.write_packages(&w.path().join("binary"), true);
    w.new_release("crashing");
    t.crash_binaries();
    let timeout = if t.is_real() { "15s" } else { "1s" };
    let run = w.run_env(APPLY, &[("TARSFORM_START_TIMEOUT", timeout)]);
    assert_eq!(run.code, Some(1), "[{}] {}", t.name(), run.both());
    contains(&run, "is not running although patch_tars task", t);
    contains(&run, "Rollback complete", t);
    let after: Vec<(String, String)> = t
        .servers("cfcrashup")
        .into_iter()
        .map(|s| (s.server_name, s.patch_version))
        .collect();
    assert_eq!(
        before,
        after,
        "[{}] patches after the rollback\n{}",
        t.name(),
        run.both()
    );
    all_running(t, "cfcrashup", 2);
}

#[test]
fn kill_9_then_rollback_then_roll_forward() {
    on_every_target(kill_then_rollback_then_roll_forward);
}

/// Starts an apply and kills it (SIGKILL) once the first node start began.
fn apply_killed_at_first_start(w: &Workspace) {
    let mut child = w.spawn(APPLY);
    let stderr = child.stderr.take().expect("stderr piped");
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        if line.contains("start node[") && line.contains("started") {
            break;
        }
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
}

fn kill_then_rollback_then_roll_forward(t: &Target) {
    let w = Workspace::new(t, "cfkill");
    w.topology(&[
        Agency {
            name: "agencyA",
            ips: &[IP1],
        },
        Agency {
            name: "agencyB",
            ips: &[IP1],
        },
    ]);
    apply_killed_at_first_start(&w);
    let rollback = w.ok(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert!(
        t.servers("cfkill").is_empty(),
        "[{}] after rollback\n{}",
        t.name(),
        rollback.both()
    );
    assert!(w.state_nodes().is_empty(), "[{}] state after rollback", t.name());

    apply_killed_at_first_start(&w);
    let forward = w.ok(APPLY);
    contains(&forward, "rolls forward", t);
    contains(&forward, "Apply complete", t);
    all_running(t, "cfkill", 4);
    w.ok(&["destroy", "-c", "config.toml", "--auto-approve"]);
}

#[test]
fn drift_made_out_of_band_is_planned_and_fixed() {
    on_every_target(drift);
}

fn drift(t: &Target) {
    let w = Workspace::new(t, "cfdrift");
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1],
    }]);
    w.ok(APPLY);
    let (app, rpc, gateway) = ("cfdrift", "agencyABcosRpcService", "agencyABcosGatewayService");
    let api = t.api();
    let rt = runtime();
    // A config edited in Tars web.
    let row = rt.block_on(async {
        let server_row = api
            .config_file_list(app, rpc)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.filename == "config.ini")
            .expect("config.ini row");
        let rows = api.node_config_file_list(app, rpc, server_row.id).await.unwrap();
        rows.into_iter().find(|r| r.node_name == IP1).expect("node row")
    });
    rt.block_on(api.update_config_file(row.id, "[edited]\nby=hand\n", "out of band"))
        .unwrap();
    // The gateway stopped by an operator.
    let gw = t
        .servers(app)
        .into_iter()
        .find(|s| s.server_name == gateway)
        .unwrap();
    let stop = TaskRequest::single(gw.id, TaskCommand::Stop, Default::default());
    rt.block_on(run_task(
        &api,
        &stop,
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(60),
    ))
    .expect("stop task");

    let plan = w.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "[{}] {}", t.name(), plan.both());
    contains(
        &plan,
        "config[\"agencyABcosRpcService\"][\"127.0.0.1\"][\"config.ini\"]",
        t,
    );
    // A managed node that is not active makes `status` exit 1, naming it.
    let status = w.run(&["status", "-c", "config.toml"]);
    assert_eq!(status.code, Some(1), "[{}] {}", t.name(), status.both());
    contains(&status, "inactive", t);
    contains(&status, "not active", t);

    contains(&w.ok(APPLY), "Apply complete", t);
    w.ok(&["status", "-c", "config.toml"]);
    let content = rt
        .block_on(api.config_file(row.id))
        .unwrap()
        .map(|r| r.config)
        .unwrap_or_default();
    assert!(
        !content.contains("by=hand"),
        "[{}] config not restored: {content}",
        t.name()
    );
    w.ok(&["destroy", "-c", "config.toml", "--auto-approve"]);
}

#[test]
fn a_dead_or_unknown_tarsnode_stops_the_apply_before_any_change() {
    on_every_target(dead_tarsnode);
}

fn dead_tarsnode(t: &Target) {
    let w = Workspace::new(t, "cfdead");
    let (ip, expected) = match t.handle() {
        Some(h) => {
            h.set_node_alive(IP2, false);
            (IP2, "not alive")
        }
        None => ("127.0.0.3", "not registered"),
    };
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[ip],
    }]);
    let run = w.run(APPLY);
    assert_ne!(run.code, Some(0), "[{}] {}", t.name(), run.both());
    contains(&run, expected, t);
    assert!(
        t.servers("cfdead").is_empty(),
        "[{}] something was created",
        t.name()
    );
    if let Some(h) = t.handle() {
        h.set_node_alive(IP2, true);
    }
}

#[test]
fn a_tars_without_its_registry_is_caught_in_preflight() {
    // Only the emulator: stopping the real framework would cost the suite a restart.
    let t = Target::emulator();
    t.handle()
        .unwrap()
        .add_fault(tarsform::emulator::FaultRule::RegistryDown);
    let w = Workspace::new(&t, "cfreg");
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1],
    }]);
    let run = w.run(APPLY);
    assert_eq!(run.code, Some(1), "{}", run.both());
    contains(&run, "Tars cannot reach it now: check_tars_node failed", &t);
    assert!(t.servers("cfreg").is_empty());
}

#[test]
fn a_wrong_token_is_rejected() {
    on_every_target(token_rejected);
}

fn token_rejected(t: &Target) {
    let w = Workspace::new(t, "cftoken");
    // The real TarsWeb skips the ticket check for 127.0.0.1 callers: go through the
    // kit's forwarder, which connects from 127.0.0.2.
    let url = if t.is_real() {
        t.kit_script(&["tools/forwarder.sh", "start", "13300"])
    } else {
        t.url.clone()
    };
    w.topology_at(
        &url,
        &[Agency {
            name: "agencyA",
            ips: &[IP1],
        }],
    );
    let plan = ["plan", "-c", "config.toml"];
    let bad = w.run_env(&plan, &[("TARSFORM_TARS_TOKEN", "not-the-token")]);
    let good = w.run(&plan);
    if t.is_real() {
        t.kit_script(&["tools/forwarder.sh", "stop", "13300"]);
    }
    assert_eq!(bad.code, Some(1), "[{}] {}", t.name(), bad.both());
    contains(&bad, "token", t);
    assert_eq!(good.code, Some(0), "[{}] {}", t.name(), good.both());
}

#[test]
fn nodes_batched_into_one_task_each_get_their_own_verdict() {
    on_every_target(batched_items);
}

/// What tarsform's batching relies on: Tars runs a non-serial task's items independently
/// and reports each with its server and node, so one item's failure is that node's alone.
fn batched_items(t: &Target) {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use tarsform::tars::batch::{Gathering, run_task_for};
    use tarsform::tars::{PollSchedule, TaskItemRequest};

    let w = Workspace::new(t, "cfbatch");
    w.topology(&[Agency {
        name: "agencyA",
        ips: &[IP1, IP2],
    }]);
    contains(&w.ok(APPLY), "Apply complete", t);
    all_running(t, "cfbatch", 4);
    let rows = t.servers("cfbatch");
    let tasks_before = t.handle().map(|h| h.call_count("add_task"));
    // Four nodes' tasks go out as one: three restarts and a command Tars does not know.
    let api = Arc::new(t.api());
    let gathering = Gathering::new(rows.len());
    let verdicts = runtime().block_on(async {
        let mut members = tokio::task::JoinSet::new();
        for (i, row) in rows.iter().cloned().enumerate() {
            let command = if i == 0 { "no_such_command" } else { "restart" };
            let req = TaskRequest {
                serial: true,
                items: vec![TaskItemRequest {
                    server_id: row.id,
                    command: command.to_string(),
                    parameters: BTreeMap::new(),
                }],
            };
            let (api, gathering) = (api.clone(), gathering.clone());
            members.spawn(async move {
                let who = (row.server_name.as_str(), row.node_name.as_str());
                let poll = PollSchedule::fixed(Duration::from_millis(250));
                let verdict = gathering
                    .member(i, run_task_for(&*api, who, &req, poll, Duration::from_secs(120)))
                    .await;
                (i, row.node_name.clone(), verdict)
            });
        }
        let mut out = Vec::new();
        while let Some(done) = members.join_next().await {
            out.push(done.expect("member task"));
        }
        out.sort_by_key(|(i, ..)| *i);
        out
    });
    if let (Some(before), Some(handle)) = (tasks_before, t.handle()) {
        assert_eq!(
            handle.call_count("add_task") - before,
            1,
            "one add_task for four nodes"
        );
    }
    let tasks: std::collections::BTreeSet<String> = verdicts
        .iter()
        .map(|(_, _, v)| match v {
            Ok(report) => report.task_no.clone(),
            Err(tarsform::tars::TarsError::TaskFailed { task_no, .. }) => task_no.clone(),
            Err(e) => panic!("[{}] {e}", t.name()),
        })
        .collect();
    assert_eq!(tasks.len(), 1, "[{}] one task: {verdicts:?}", t.name());
    for (i, node, verdict) in &verdicts {
        match (i, verdict) {
            (0, Err(tarsform::tars::TarsError::TaskFailed { node: failed, .. })) => {
                assert_eq!(failed, node, "[{}] the failure names its node", t.name())
            }
            (0, other) => panic!("[{}] the unknown command must fail alone: {other:?}", t.name()),
            (_, Ok(report)) => {
                assert_eq!(report.task.items.len(), 1, "[{}] its own item only", t.name());
                assert_eq!(&report.task.items[0].node_name, node);
            }
            (_, Err(e)) => panic!("[{}] a restart on {node} failed: {e}", t.name()),
        }
    }
    contains(
        &w.ok(&["destroy", "-c", "config.toml", "--auto-approve"]),
        "Destroy complete",
        t,
    );
}
