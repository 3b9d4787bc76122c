//! Apply with rollback, end to end: the real binary against the TarsWeb emulator.
//! The seed expansion and destroy, a fault matrix over every Tars endpoint the apply
//! calls, an incomplete rollback, Ctrl-C, SIGKILL then `rollback` or roll-forward, the
//! state lock, drift found by `plan` (and a failed update undone), a failed destroy
//! undone.

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
    let handle = bed.handle();
    assert_eq!(
        (
            handle.call_count("expand_server"),
            handle.call_count("deploy_server")
        ),
        (2, 0),
        "new nodes are expanded from {OLD}, never deployed"
    );

    let after = bed.snapshot();
    let state = bed.resources().expect("state written");
    for (server, files) in [(RPC, 4), (GATEWAY, 5)] {
        let row = after
            .servers
            .iter()
            .find(|s| s.server_name == server && s.node_name == NEW)
            .unwrap_or_else(|| panic!("{server} on {NEW} missing: {after:?}"));
        assert_eq!(
            (row.setting_state.as_str(), row.present_state.as_str()),
            ("active", "active")
        );
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
    assert_eq!(
        rows_of(&gone, OLD),
        rows_of(&before, OLD),
        "destroy touched 172.25.0.3"
    );
    assert_eq!(
        rows_of(&gone, NEW),
        Default::default(),
        "destroy left rows of 172.25.0.5"
    );
    assert_model_eq(&before, &gone, "after destroy");
    assert!(!bed.exists(JOURNAL), "journal left after destroy");
}

fn apply_args(parallelism: usize) -> Vec<String> {
    let p = parallelism.to_string();
    [
        "apply",
        "-c",
        "config.toml",
        "--auto-approve",
        "--parallelism",
        &p,
    ]
    .map(str::to_string)
    .to_vec()
}

/// `(endpoint, calls)` of a clean apply from `start`.
fn calls_of_clean_apply(start: Start, parallelism: usize) -> Vec<(&'static str, u32)> {
    let bed = Bed::new(start, Tars::default());
    let args = apply_args(parallelism);
    let run = bed.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, Some(0), "clean apply: {}", run.both());
    let handle = bed.handle();
    tarsform::emulator::endpoint_names()
        .map(|e| (e, handle.call_count(e)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// What one faulted apply did.
#[derive(Debug)]
enum FaultOutcome {
    /// Failed before any step (reading Tars to plan): nothing to undo.
    FailedBeforeSteps,
    RolledBack,
    /// The fault hit a call the client tolerates (`add_application` when the application
    /// exists; `application_list`, which only confirms that) or never came (a run made
    /// fewer calls than the clean one): the apply succeeded and a re-plan is clean.
    Tolerated {
        fired: bool,
    },
}

impl std::fmt::Display for FaultOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultOutcome::FailedBeforeSteps => f.write_str("failed while reading Tars to plan"),
            FaultOutcome::RolledBack => f.write_str("failed, rolled back"),
            FaultOutcome::Tolerated { fired: true } => f.write_str("tolerated, applied"),
            FaultOutcome::Tolerated { fired: false } => f.write_str("never reached, applied"),
        }
    }
}

/// Applies with `rule` active and checks the run failed and left Tars, the state and
/// the disk as they were, or succeeded cleanly.
fn apply_with_fault(start: Start, parallelism: usize, rule: &str) -> Result<FaultOutcome, String> {
    let bed = Bed::new(start, Tars::faults(&[rule]));
    let before = bed.snapshot();
    let args = apply_args(parallelism);
    let run = bed.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let fired = match rule.parse().unwrap() {
        tarsform::emulator::FaultRule::ApiCall { endpoint, nth } => bed.handle().call_count(&endpoint) >= nth,
        _ => true,
    };
    let what = rule.trim_start_matches("api:").split(['#', '@']).next().unwrap();
    // `application_list` only confirms that a failed `add_application` found the
    // application already there; when it fails, the `add_application` error is the one
    // reported.
    let what = match what.trim_start_matches("task:") {
        "application_list" => "add_application",
        other => other,
    };
    let fail = |msg: String| Err(format!("{start:?} {rule}: {msg}\n{}", run.both()));
    match run.code {
        Some(0) => {
            // The re-plan checks the outcome, not the fault: a rule the apply never reached
            // (health polls make the count of reads vary) must not fail the re-plan.
            bed.handle().clear_faults();
            let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
            if replan.code != Some(0) {
                return fail(format!(
                    "apply succeeded but the re-plan is not clean:\n{}",
                    replan.both()
                ));
            }
            Ok(FaultOutcome::Tolerated { fired })
        }
        Some(1) => {
            if !run.stderr.contains(what) {
                return fail(format!("stderr does not name `{what}`"));
            }
            let before_steps = run.stderr.contains("reading Tars before");
            if !before_steps && !run.stderr.contains("Rollback complete") {
                return fail("no `Rollback complete`".into());
            }
            let after = bed.snapshot();
            if after != before {
                return fail(format!(
                    "the model changed:\n--- before\n{}\n--- after\n{}",
                    serde_json::to_string_pretty(&before).unwrap(),
                    serde_json::to_string_pretty(&after).unwrap()
                ));
            }
            if let Some(resources) = bed.resources().filter(|r| !r.is_empty()) {
                return fail(format!("state resources left: {:?}", resources.keys()));
            }
            if bed.exists(JOURNAL) {
                return fail("journal left".into());
            }
            let keys = bed.new_host_keys();
            if !keys.is_empty() {
                return fail(format!("keys of the undone run left: {keys:?}"));
            }
            Ok(if before_steps {
                FaultOutcome::FailedBeforeSteps
            } else {
                FaultOutcome::RolledBack
            })
        }
        other => fail(format!("exit code {other:?}, expected 1 (or 0 if tolerated)")),
    }
}

/// Runs `cases` on `workers` threads; results in input order.
fn in_parallel<T: Send, R: Send>(
    cases: Vec<T>,
    workers: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<(T, R)> {
    let queue = std::sync::Mutex::new(cases.into_iter().enumerate().collect::<Vec<_>>());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((i, case)) = next else { break };
                    let result = work(&case);
                    done.lock().unwrap().push((i, case, result));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(i, _, _)| *i);
    done.into_iter().map(|(_, c, r)| (c, r)).collect()
}

/// The fault matrix: every call of every endpoint a clean apply makes fails in turn
/// (the first, middle and last call of endpoints called more than 10 times), from the
/// seed's start at the default parallelism and from a fresh Tars at `--parallelism 1`,
/// where the N-th call is the same call in every run (so e.g. the `server_list` read
/// right after `deploy_server` registered a node always fails in one case); plus a
/// failing `patch_tars` task on the new host.
#[test]
fn every_failing_tars_call_is_rolled_back_to_the_state_before_apply() {
    let runs = [(Start::Seed, 10), (Start::Fresh, 1)];
    let counted: Vec<_> = runs
        .iter()
        .map(|&(start, p)| (start, p, calls_of_clean_apply(start, p)))
        .collect();
    let mut cases = Vec::new();
    for (start, parallelism, calls) in &counted {
        for &(endpoint, n) in calls {
            let nths: Vec<u32> = if n <= 10 {
                (1..=n).collect()
            } else {
                vec![1, n.div_ceil(2), n]
            };
            for nth in nths {
                cases.push((*start, *parallelism, format!("api:{endpoint}#{nth}")));
            }
        }
        cases.push((*start, *parallelism, format!("task:patch_tars@{NEW}")));
    }
    let results = in_parallel(cases, 4, |(start, p, rule)| apply_with_fault(*start, *p, rule));
    let mut table = String::new();
    for (start, p, calls) in &counted {
        table.push_str(&format!("{start:?} apply (--parallelism {p}) calls: {calls:?}\n"));
    }
    let mut failures = Vec::new();
    for ((start, _, rule), result) in &results {
        match result {
            Ok(outcome) => table.push_str(&format!("  {start:?} {rule}: {outcome}\n")),
            Err(e) => failures.push(e.clone()),
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}\n{}", table, failures.join("\n\n"));
    let rolled_back = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(FaultOutcome::RolledBack)))
        .count();
    assert!(
        rolled_back >= results.len() / 2,
        "too few faults reached a step:\n{table}"
    );
}

/// Asserts Tars, the state, the journal and the new host's keys are as before the apply.
fn assert_undone(bed: &Bed, before: &tarsform::emulator::ModelView, context: &str) {
    assert_model_eq(before, &bed.snapshot(), context);
    let left = bed.resources().unwrap_or_default();
    assert!(
        left.is_empty(),
        "{context}: state resources left: {:?}",
        left.keys()
    );
    assert!(!bed.exists(JOURNAL), "{context}: journal left");
    assert_eq!(
        bed.new_host_keys(),
        Vec::<std::path::PathBuf>::new(),
        "{context}: keys left"
    );
}

fn node_step(op: &str, server: &str) -> String {
    format!("{op} node[\"{server}\"][\"{NEW}\"]")
}

#[test]
fn a_failing_undo_exits_3_names_it_and_keeps_the_journal_for_rollback() {
    let faults = [
        format!("task:patch_tars@{NEW}"),
        format!("task:undeploy_tars@{NEW}"),
    ];
    let bed = Bed::new(Start::Seed, Tars::faults(&[&faults[0], &faults[1]]));
    let before = bed.snapshot();
    let run = bed.apply();
    assert_eq!(run.code, Some(3), "{}", run.both());
    assert_contains(&run.stderr, "Rollback INCOMPLETE", "apply");
    assert_contains(&run.stderr, &format!("- {}", node_step("register", RPC)), "apply");
    assert_contains(&run.stderr, "undeploy_tars", "apply");
    assert_contains(&run.stderr, "tarsform rollback", "apply");
    assert!(bed.exists(JOURNAL), "the journal must remain");
    assert!(
        bed.snapshot().servers.iter().any(|s| s.node_name == NEW),
        "the nodes whose undeploy failed are still there"
    );

    bed.handle().clear_faults();
    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_contains(&rollback.stdout, "Rollback complete", "rollback");
    assert_undone(&bed, &before, "after rollback");
}

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];
const SLOW: u64 = 150;
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn ctrl_c_stops_new_steps_and_rolls_back() {
    let bed = Bed::new(Start::Seed, Tars::latency_ms(SLOW));
    let before = bed.snapshot();
    let mut apply = bed.spawn(APPLY);
    apply.wait_for_line(&format!("{}: done", node_step("register", GATEWAY)), WAIT);
    apply.signal("INT");
    let run = apply.finish();
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(&run.stderr, "interrupted (SIGINT)", "apply");
    assert_contains(&run.stderr, "Rollback complete", "apply");
    assert_undone(&bed, &before, "after Ctrl-C");
}

/// Starts an apply on a slow Tars and kills it (SIGKILL) once a node is registered.
fn killed_apply() -> (Bed, tarsform::emulator::ModelView) {
    let bed = Bed::new(Start::Seed, Tars::latency_ms(SLOW));
    let before = bed.snapshot();
    let mut apply = bed.spawn(APPLY);
    apply.wait_for_line(&format!("{}: done", node_step("register", RPC)), WAIT);
    apply.signal("KILL");
    let run = apply.finish();
    assert_eq!(run.code, None, "killed by a signal: {}", run.both());
    assert!(bed.exists(JOURNAL), "a killed apply leaves its journal");
    assert_ne!(bed.snapshot(), before, "killed after changing Tars");
    (bed, before)
}

#[test]
fn after_sigkill_rollback_restores_the_model_before_apply() {
    let (bed, before) = killed_apply();
    let run = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stdout, "Rollback complete", "rollback");
    assert_undone(&bed, &before, "after rollback");
}

#[test]
fn after_sigkill_apply_rolls_forward_to_the_planned_result() {
    let (bed, before) = killed_apply();
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stdout, "Apply complete!", "roll forward");
    let after = bed.snapshot();
    for server in [RPC, GATEWAY] {
        let rows: Vec<_> = after
            .servers
            .iter()
            .filter(|s| s.server_name == server && s.node_name == NEW)
            .collect();
        assert_eq!(rows.len(), 1, "{server}: {after:?}");
        assert_eq!(
            (rows[0].setting_state.as_str(), rows[0].present_state.as_str()),
            ("active", "active")
        );
    }
    assert_eq!(rows_of(&after, OLD), rows_of(&before, OLD), "172.25.0.3 touched");
    assert!(!bed.exists(JOURNAL), "journal left after rolling forward");
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "re-plan shows changes:\n{}", replan.both());
}

#[test]
fn a_second_apply_fails_fast_with_the_lock_holder_and_a_force_unlock_hint() {
    let bed = Bed::new(Start::Seed, Tars::latency_ms(SLOW));
    let mut first = bed.spawn(APPLY);
    first.wait_for_line("preflight: started", WAIT);
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bed.path().join(LOCK)).unwrap()).unwrap();
    let id = lock["id"].as_str().expect("lock id").to_string();

    let second = bed.apply();
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the second apply returned only after the first ended: it waited for the lock"
    );
    assert_eq!(second.code, Some(1), "{}", second.both());
    assert_contains(&second.stderr, &id, "second apply");
    assert_contains(
        &second.stderr,
        &format!("tarsform force-unlock {id}"),
        "second apply",
    );
    assert!(
        !second.stderr.contains("preflight"),
        "the second apply ran steps:\n{}",
        second.both()
    );

    let first = first.finish();
    assert_eq!(first.code, Some(0), "{}", first.both());
    assert_contains(&first.stdout, "Apply complete!", "first apply");
}

fn config_content(view: &tarsform::emulator::ModelView, server: &str, file: &str) -> String {
    view.configs
        .iter()
        .find(|c| {
            c.level == 3 && c.host == NEW && c.server_name == format!("{APP}.{server}") && c.filename == file
        })
        .map(|c| c.content.clone())
        .unwrap_or_else(|| panic!("no {file} row of {server} on {NEW}"))
}

#[test]
fn drift_is_planned_as_update_or_create_and_its_apply_is_undone_on_failure() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let applied = config_content(&bed.snapshot(), RPC, "config.ini");
    let edited = applied.replace("listen_port = 10200", "listen_port = 10299");
    assert_ne!(edited, applied);
    bed.handle()
        .edit_node_config(APP, RPC, NEW, "config.ini", &edited);

    let plan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.both());
    let address = format!("config[\"{RPC}\"][\"{NEW}\"][\"config.ini\"]");
    assert_contains(&plan.stdout, &format!("~ {address}"), "plan after an edit");
    assert_contains(&plan.stdout, "-listen_port = 10299", "plan after an edit");
    assert_contains(&plan.stdout, "+listen_port = 10200", "plan after an edit");

    // The update (push the config, restart the node) fails at the restart: undone.
    let drifted = bed.snapshot();
    bed.handle()
        .add_fault(format!("task:restart@{NEW}").parse().unwrap());
    let failed = bed.apply();
    assert_eq!(failed.code, Some(1), "{}", failed.both());
    assert_contains(&failed.stderr, "Rollback complete", "failed update");
    assert_model_eq(&drifted, &bed.snapshot(), "after the failed update");
    bed.handle().clear_faults();
    let fixed = bed.apply();
    assert_eq!(fixed.code, Some(0), "{}", fixed.both());
    assert_eq!(config_content(&bed.snapshot(), RPC, "config.ini"), applied);

    assert!(bed.handle().undeploy_out_of_band(APP, GATEWAY, NEW));
    let plan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.both());
    assert_contains(
        &plan.stdout,
        &format!("+ node[\"{GATEWAY}\"][\"{NEW}\"]"),
        "plan after an undeploy",
    );
    let redeployed = bed.apply();
    assert_eq!(redeployed.code, Some(0), "{}", redeployed.both());
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "{}", replan.both());
}

#[test]
fn a_node_stopped_out_of_band_whose_restart_fails_is_stopped_again_by_the_rollback() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(bed.handle().stop_out_of_band(APP, RPC, NEW));
    let plan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.both());
    // The plan starts it again by a restart; the restart runs but the binary exits at
    // once: the rollback must leave it stopped, as it was (restarting it again would not
    // be the state before, and the rollback's verification would say so).
    let stopped = bed.snapshot();
    bed.handle()
        .add_fault(format!("crash:{RPC}@{NEW}").parse().unwrap());
    let failed = bed.apply();
    assert_eq!(failed.code, Some(1), "{}", failed.both());
    assert_contains(
        &failed.stderr,
        "Rollback complete",
        "failed restart of a stopped node",
    );
    assert_model_eq(&stopped, &bed.snapshot(), "after the failed restart");
    assert!(!bed.exists(JOURNAL), "journal left:\n{}", failed.both());
    bed.handle().clear_faults();
    let fixed = bed.apply();
    assert_eq!(fixed.code, Some(0), "{}", fixed.both());
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "{}", replan.both());
}

#[test]
fn a_failed_destroy_is_rolled_back_by_registering_the_undeployed_node_again() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    let applied = bed.snapshot();
    let tasks = bed.handle().call_count("add_task");
    // The first undeploy succeeds, the second is refused: the first node comes back.
    // (One task a node: batched, both undeploys would be one add_task.)
    let rule = format!("api:add_task#{}", tasks + 2);
    bed.handle().add_fault(rule.parse().unwrap());
    let destroy = bed.run(&[
        "destroy",
        "-c",
        "config.toml",
        "--auto-approve",
        "--parallelism",
        "1",
        "--task-batch",
        "1",
    ]);
    assert_eq!(destroy.code, Some(1), "{}", destroy.both());
    assert_contains(&destroy.stderr, "Rollback complete", "failed destroy");
    assert_model_eq(&applied, &bed.snapshot(), "after the failed destroy");
    bed.handle().clear_faults();
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "{}", replan.both());
}

/// Every write a clean apply makes, answered after the client gave up (the write has
/// landed): the apply reads Tars back and goes on, or rolls back to the model from
/// before; a failing task on each task kind and a tarsnode going down are undone too.
#[test]
fn every_late_write_and_failing_task_ends_applied_or_rolled_back() {
    const WRITES: [&str; 6] = [
        "expand_server",
        "add_config_file",
        "update_config_file",
        "delete_config_file",
        "add_task",
        "upload_patch_package",
    ];
    let calls = calls_of_clean_apply(Start::Seed, 1);
    let mut cases: Vec<String> = calls
        .iter()
        .filter(|(e, _)| WRITES.contains(e))
        .flat_map(|&(e, n)| (1..=n).map(move |i| format!("late:{e}#{i}@2500")))
        .collect();
    for command in ["patch_tars", "restart", "stop", "undeploy_tars"] {
        cases.push(format!("task:{command}@{NEW}"));
    }
    let results = in_parallel(cases, 4, |rule| {
        let bed = Bed::new(Start::Seed, Tars::faults(&[rule]));
        let before = bed.snapshot();
        let args = apply_args(1);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = bed.run_env(&args, &[("TARSFORM_CALL_TIMEOUT", "1")]);
        let outcome = match run.code {
            Some(0) if run.stdout.contains("Apply complete!") => {
                let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
                (replan.code == Some(0)).then_some("applied")
            }
            Some(1) if run.stderr.contains("Rollback complete") => {
                (bed.snapshot() == before && !bed.exists(JOURNAL) && bed.new_host_keys().is_empty())
                    .then_some("rolled back")
            }
            _ => None,
        };
        outcome.ok_or_else(|| format!("{rule}: exit {:?}\n{}", run.code, run.both()))
    });
    let mut table = String::new();
    let mut failures = Vec::new();
    for (rule, r) in &results {
        match r {
            Ok(o) => table.push_str(&format!("  {rule}: {o}\n")),
            Err(e) => failures.push(e.clone()),
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n\n"));
}

#[test]
fn an_expansion_whose_source_lost_its_servant_names_it_and_rolls_back() {
    // The expansion is sent without a preview; a refused one is explained by it.
    let bed = Bed::new(Start::Seed, Tars::default());
    let out = bed.run(&["plan", "-c", "config.toml", "--out", "p.json"]);
    assert!(out.code == Some(0) || out.code == Some(2), "{}", out.both());
    assert_eq!(bed.handle().delete_adapters(APP, RPC, OLD), 1);
    let before = bed.snapshot();
    let run = bed.run(&["apply", "p.json", "-c", "config.toml"]);
    assert_eq!(run.code, Some(1), "{}", run.both());
    assert_contains(
        &run.stderr,
        &format!("expand_server_preview from {OLD} offered no `RpcServiceObj` servant for {NEW}"),
        "the reason",
    );
    assert_contains(&run.stderr, "Rollback complete", "the rollback");
    assert_model_eq(&before, &bed.snapshot(), "after the rollback");
}
