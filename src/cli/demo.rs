//! `tarsform demo`: the seed scenario end to end on an in-process emulator. agencyA's
//! rpc and gateway run on 172.25.0.3; the demo plans and applies their expansion onto
//! 172.25.0.5, shows the status, re-plans (no changes), and destroys the new nodes.
//!
//! Orchestration only: it calls the real commands (`plan`, `apply`, `destroy`) from
//! inside a workspace directory, as an operator would.

mod capture;
mod check;
mod emulator_thread;
mod key_center;
mod seed;
mod story;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{
    ApplyArgs, ConfigArg, DemoArgs, DestroyArgs, Outcome, PlanArgs, PlanFormat, RunTimeoutArg, StateArg,
    StatusArgs,
};
use crate::emulator::EmulatorConfig;
use crate::view;
use emulator_thread::EmulatorThread;
use seed::{DEMO_TOKEN, NEW_HOST, OLD_HOST};

/// How long one emulated Tars task takes.
const TASK_DURATION: Duration = Duration::from_millis(50);

pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    if std::env::var(crate::config::TOKEN_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        bail!(
            "{} is set and would replace the demo emulator's token\nhint: run the demo without it: `env -u {} tarsform demo`",
            crate::config::TOKEN_ENV,
            crate::config::TOKEN_ENV
        );
    }
    let (workspace, temp) = workspace_dir(args.workspace)?;
    banner(&format!(
        "starting the Tars emulator (tarsnodes {OLD_HOST} and {NEW_HOST})"
    ));
    let emulator = EmulatorThread::start(EmulatorConfig {
        token: Some(DEMO_TOKEN.to_string()),
        nodes: vec![OLD_HOST.to_string(), NEW_HOST.to_string()],
        task_duration: TASK_DURATION,
        ..Default::default()
    })?;
    eprintln!("    TarsWeb API at {}", emulator.base_url());
    banner(&format!("preparing the workspace {}", workspace.display()));
    seed::write_binaries(&workspace)?;
    seed::seed_running_chain(&workspace, emulator.handle(), args.sm)?;
    eprintln!("    agencyA's rpc (20200) and gateway (30300) are running on {OLD_HOST}");
    let config = workspace.join("config.toml");
    let mut toml = seed::expansion_toml(emulator.base_url(), DEMO_TOKEN)?;
    // Kept alive until the demo ends: the key center serves apply's encryptions.
    let key_center = if args.sm {
        let (runtime, running, cipher) = key_center::start()?;
        eprintln!(
            "    key-center emulator (SM4, stand-in for FISCO-BCOS/key-manager) at {}",
            running.url()
        );
        toml = seed::with_storage_security(&seed::with_sm(&toml), &running.url(), &cipher);
        Some((runtime, running))
    } else {
        None
    };
    std::fs::write(&config, toml).with_context(|| format!("writing {}", config.display()))?;
    eprintln!("    config.toml: expand agencyA's rpc (10200) and gateway (40300) onto {NEW_HOST}");
    if args.sm {
        eprintln!("    national cryptography: rpc_sm_ssl = gateway_sm_ssl = true; storage security on");
    }

    let home = std::env::current_dir().ok();
    std::env::set_current_dir(&workspace).with_context(|| format!("entering {}", workspace.display()))?;
    let result = scenario(&emulator, &workspace, args.verbose);
    if let Some(home) = home {
        let _ = std::env::set_current_dir(home);
    }
    if let Some((runtime, running)) = key_center {
        runtime.block_on(running.shutdown());
    }
    result?;
    banner("demo complete");
    if temp.is_none() {
        eprintln!("    the workspace is kept in {}", workspace.display());
    }
    Ok(Outcome::Success)
}

/// Where the demo saves its plan, inside the workspace.
const PLAN_FILE: &str = "demo.tfplan";

/// plan → apply → status → plan (no changes) → destroy, in the workspace. Without
/// `verbose` each command's output is condensed to the lines that tell the story.
fn scenario(emulator: &EmulatorThread, workspace: &Path, verbose: bool) -> anyhow::Result<()> {
    let before = emulator.handle().snapshot();

    banner(&format!("tarsform plan -out {PLAN_FILE}"));
    let (outcome, output) = command(verbose, || super::plan::run(plan_args(false, Some(PLAN_FILE))))?;
    expect_success("plan", outcome)?;
    if !verbose {
        tell_plan(workspace, &output)?;
    }

    banner(&format!("tarsform apply {PLAN_FILE}"));
    let (outcome, output) = command(verbose, || {
        super::apply::run(ApplyArgs {
            planfile: Some(PathBuf::from(PLAN_FILE)),
            config: config_arg(),
            state: StateArg { state: None },
            auto_approve: true,
            parallelism: 10,
            no_rollback: false,
            switch_crypto: false,
            target: Vec::new(),
            health: emulator_health(),
            run_timeout: RunTimeoutArg::default(),
            json: false,
        })
    })?;
    expect_success("apply", outcome)?;
    print!("{}", story::condense(&output));

    banner("tarsform status");
    expect_success(
        "status",
        super::status::run(StatusArgs {
            config: config_arg(),
            state: StateArg { state: None },
            json: false,
        })?,
    )?;

    banner("tarsform plan --detailed-exitcode");
    let (outcome, output) = command(verbose, || super::plan::run(plan_args(true, None)))?;
    match outcome {
        Outcome::Success => {}
        Outcome::ChangesPresent => bail!("the plan after apply still has changes; apply did not converge"),
        other => bail!("plan ended with exit code {}", other.exit_code()),
    }
    print!("{}", story::condense(&output));
    println!("Verified: the plan read Tars again and exited 0 (nothing left to do).");

    banner("tarsform destroy --auto-approve");
    let (outcome, output) = command(verbose, || {
        super::apply::run_destroy(DestroyArgs {
            config: config_arg(),
            state: StateArg { state: None },
            target: Vec::new(),
            auto_approve: true,
            parallelism: 10,
            health: emulator_health(),
            run_timeout: RunTimeoutArg::default(),
            json: false,
        })
    })?;
    expect_success("destroy", outcome)?;
    print!("{}", story::condense(&output));
    check::destroy_left_old_host_alone(&before, &emulator.handle().snapshot(), OLD_HOST, NEW_HOST)?;
    println!(
        "Verified: {NEW_HOST}: no node left; {OLD_HOST}: untouched (same servers, adapters and configs as before the demo)"
    );
    Ok(())
}

/// Runs a command: live with `verbose`, else captured (and printed whole if it fails).
fn command(verbose: bool, f: impl FnOnce() -> anyhow::Result<Outcome>) -> anyhow::Result<(Outcome, String)> {
    if verbose {
        return Ok((f()?, String::new()));
    }
    let (result, output) = capture::captured(f)?;
    match result {
        Ok(outcome @ (Outcome::Success | Outcome::ChangesPresent)) => Ok((outcome, output)),
        other => {
            eprint!("{output}");
            other.map(|o| (o, String::new()))
        }
    }
}

/// The saved plan, one line per change, and how the new nodes' config.ini differ from the
/// running ones'.
fn tell_plan(workspace: &Path, output: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(PLAN_FILE).with_context(|| format!("reading {PLAN_FILE}"))?;
    let plan = crate::plan::saved::from_file_text(&text).with_context(|| PLAN_FILE.to_string())?;
    print!("{}", view::outline(&plan, super::inputs::stdout_color()));
    for change in &plan.changes {
        let (Some(path), Some(content)) = (change.attr_str("local_path"), change.attr_str("content")) else {
            continue;
        };
        if change.address.leaf_name() != Some("config.ini") || !path.contains(NEW_HOST) {
            continue;
        }
        let old = PathBuf::from(path.replace(NEW_HOST, OLD_HOST));
        let server = change.attr_str("server").unwrap_or("?");
        println!("config.ini of {server}, {NEW_HOST} against {OLD_HOST}:");
        for line in story::config_delta(workspace, &old, content)? {
            println!("    {line}");
        }
    }
    println!(
        "(the full plan is {} lines: `tarsform demo --verbose`, or `tarsform show {PLAN_FILE}` in a kept workspace)",
        output.lines().count()
    );
    Ok(())
}

fn config_arg() -> ConfigArg {
    ConfigArg {
        config: PathBuf::from("config.toml"),
    }
}

fn plan_args(detailed_exitcode: bool, out: Option<&str>) -> PlanArgs {
    PlanArgs {
        config: config_arg(),
        state: StateArg { state: None },
        out: out.map(PathBuf::from),
        format: PlanFormat::Human,
        refresh: true,
        target: Vec::new(),
        destroy: false,
        detailed_exitcode,
        switch_crypto: false,
        policy: None,
        full: false,
    }
}

fn expect_success(command: &str, outcome: Outcome) -> anyhow::Result<()> {
    match outcome {
        Outcome::Success => Ok(()),
        other => bail!("{command} failed (exit code {})", other.exit_code()),
    }
}

/// `==> text` on stderr, after whatever the last command wrote to stdout.
fn banner(text: &str) {
    let _ = std::io::stdout().flush();
    eprintln!("\n==> {text}");
}

/// `--workspace DIR` (created; must be empty), or a temporary directory removed at the end.
fn workspace_dir(arg: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match arg {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let dir = dir
                .canonicalize()
                .with_context(|| format!("resolving {}", dir.display()))?;
            if !is_empty_dir(&dir)? {
                bail!(
                    "the demo workspace {} is not empty\nhint: pass a new or empty directory to --workspace",
                    dir.display()
                );
            }
            Ok((dir, None))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("tarsform-demo-")
                .tempdir()
                .context("creating a temporary workspace")?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok(entries.next().is_none())
}

/// The embedded emulator's nodes settle at once: a short settle window is enough.
fn emulator_health() -> super::health::HealthArgs {
    super::health::HealthArgs {
        settle: std::time::Duration::from_millis(200),
        start_timeout: std::time::Duration::from_secs(30),
        task_batch: crate::apply::tars_ops::DEFAULT_TASK_BATCH,
    }
}
