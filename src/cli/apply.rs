//! `tarsform apply` and `tarsform destroy`: plan (or load a saved plan), ask, then run
//! the steps with rollback, and report. Orchestration only: the work is in `apply`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::sync::watch;

use super::backend;
use super::inputs::{self, GENERATED_ROOT};
use super::tars_client::{client_for, runtime};
use super::{ApplyArgs, DestroyArgs, Outcome};
use crate::apply::engine::{self, ExecOptions, ExecReport, StepDag};
use crate::apply::json_events::JsonLines;
use crate::apply::key_pool::{keys_needed, pooled_keys};
use crate::apply::package_fetch;
use crate::apply::progress::Progress;
use crate::apply::runner::{Book, TarsRunner};
use crate::apply::tars_ops::Timing;
use crate::apply::verify::{Difference, Expect, Observation};
use crate::apply::{state_check, steps};
use crate::plan::{self, Plan, PlanInput, PlanOptions, saved};
use crate::state::store::now_rfc3339;
use crate::state::{Journal, JournalEntry, JournalFile, StateStore, StepPhase};
use crate::tars::HttpTarsClient;
use crate::view;

/// What the user asked for, common to apply, destroy and restart.
pub(super) struct Request<'a> {
    pub config: &'a Path,
    pub state: Option<&'a Path>,
    pub targets: &'a [String],
    pub destroy: bool,
    pub auto_approve: bool,
    pub parallelism: usize,
    pub rollback: bool,
    pub planfile: Option<&'a Path>,
    pub timing: Timing,
    pub run_timeout: std::time::Duration,
    pub switch_crypto: bool,
    /// `tarsform restart`: a plan of restarts only.
    pub restart: bool,
    /// Stream JSON events to stdout instead of the human report.
    pub json: bool,
}

pub fn run(args: ApplyArgs) -> anyhow::Result<Outcome> {
    // The plan made here is applied here: its package builds are kept for the uploads.
    crate::render::package::keep_builds();
    execute(Request {
        config: &args.config.config,
        state: args.state.state.as_deref(),
        targets: &args.target,
        destroy: false,
        auto_approve: args.auto_approve,
        parallelism: args.parallelism,
        rollback: !args.no_rollback,
        planfile: args.planfile.as_deref(),
        timing: args.health.timing(),
        run_timeout: args.run_timeout.timeout,
        switch_crypto: args.switch_crypto,
        restart: false,
        json: args.json,
    })
}

pub fn run_destroy(args: DestroyArgs) -> anyhow::Result<Outcome> {
    execute(Request {
        config: &args.config.config,
        state: args.state.state.as_deref(),
        targets: &args.target,
        destroy: true,
        auto_approve: args.auto_approve,
        parallelism: args.parallelism,
        rollback: true,
        planfile: None,
        timing: args.health.timing(),
        run_timeout: args.run_timeout.timeout,
        switch_crypto: false,
        restart: false,
        json: args.json,
    })
}

pub(super) fn execute(req: Request<'_>) -> anyhow::Result<Outcome> {
    let started = std::time::SystemTime::now();
    let topology = inputs::load_topology(req.config)?;
    let location = backend::location(req.state, req.config, &topology)?;
    let operation = match (req.destroy, req.restart) {
        (true, _) => "destroy",
        (false, true) => "restart",
        (false, false) => "apply",
    };
    let mut store = backend::open_store(&location, operation)?;
    let leftover = JournalFile::load(store.journal()?).map_err(anyhow::Error::new)?;
    // Half-created CAs and certificates of the interrupted run go before planning, so
    // the plan creates them afresh.
    if let Some(j) = &leftover {
        clean_leftovers(j, &mut store)?;
    }
    let mut keys = backend::keys_on_runner(req.config, &location, &store, &topology)?;
    let rt = runtime()?;
    let api = Arc::new(client_for(&topology)?.with_run_limit(req.run_timeout));
    let ctx = inputs::gather_at(req.config, topology.clone(), location, GENERATED_ROOT)?;
    // When this run read Tars to plan (no saved plan).
    let mut refreshed_at = None;
    let plan = match req.planfile {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let plan = saved::from_file_text(&text).with_context(|| format!("loading {}", path.display()))?;
            saved::check_fresh(
                &plan,
                ctx.state.as_ref(),
                &plan::topology_digest(&ctx.topology),
                &plan::inputs_digest(&ctx.local),
            )
            .with_context(|| format!("{} cannot be applied", path.display()))?;
            inputs::check_plan_identity(
                &plan,
                &ctx.topology,
                &format!("the saved plan {}", path.display()),
                "the file was edited; run `tarsform plan --out` again",
            )?;
            plan
        }
        None => {
            refreshed_at = Some(std::time::Instant::now());
            let observed = rt
                .block_on(crate::apply::refresh::observe(
                    &*api,
                    &ctx.topology,
                    ctx.state.as_ref(),
                ))
                .context("reading Tars before planning")?;
            let options = PlanOptions {
                targets: super::plan::parse_targets(req.targets)?,
                destroy: req.destroy,
                generated_root: GENERATED_ROOT.into(),
                switch_crypto: req.switch_crypto,
                restart: req.restart,
            };
            plan::plan(&PlanInput {
                topology: &ctx.topology,
                graph: &ctx.graph,
                state: ctx.state.as_ref(),
                observed: Some(&observed),
                local: &ctx.local,
                options: &options,
            })?
        }
    };
    if req.restart {
        super::restart::check_only_restarts(&plan)?;
    }
    let token = &topology.tars.token;
    let events = req.json.then(|| Arc::new(JsonLines::default()));
    match (&events, req.planfile) {
        (Some(events), _) => {
            events.emit(&view::events::version(&now_rfc3339()));
            for c in &plan.changes {
                events.emit(&token.redact_in(&view::events::planned_change(c, &now_rfc3339())));
            }
        }
        (None, Some(path)) => print!(
            "{}",
            token.redact_in(&view::saved_plan_brief(&plan, &path.display().to_string()))
        ),
        (None, None) => print!("{}", token.redact_in(&view::human(&plan, inputs::stdout_color()))),
    }
    std::io::stdout().flush().ok();
    if let Some(j) = &leftover {
        eprintln!(
            "note: an interrupted {} (run {}) left a journal; this run rolls forward from what Tars reports now",
            j.operation, j.run_id
        );
    }
    keys.check_plan(&plan)?;
    if !plan.has_changes() {
        if leftover.is_some() {
            discard_journal(&store)?;
        }
        if let Some(events) = &events {
            events.emit(&view::events::change_summary(&plan, operation, &now_rfc3339()));
        }
        return Ok(Outcome::Success);
    }
    if req.planfile.is_none() && !req.auto_approve {
        if req.json {
            bail!(
                "--json needs --auto-approve or a saved plan: there is no prompt in a JSON stream\nhint: `tarsform plan --out FILE`, review it, then `tarsform apply --json FILE`"
            );
        }
        confirm(
            operation,
            "pass --auto-approve, or apply a saved plan (`tarsform plan --out FILE`, then `tarsform apply FILE`)",
        )?;
    }
    // Pinned release archives in the cache and verified before any Tars change.
    let fetched = rt
        .block_on(package_fetch::ensure_for_plan(
            &plan,
            &topology,
            GENERATED_ROOT,
            &package_limits()?,
        ))
        .map_err(|e| anyhow::anyhow!(e))?;
    for line in fetched {
        eprintln!("{line}");
    }
    if leftover.is_some() {
        discard_journal(&store)?;
    }
    let state = store
        .load_or_new(&topology.chain.chain_id)
        .map_err(anyhow::Error::new)?;
    let plan = Arc::new(plan);
    let mut journal = JournalFile::create(
        store.journal()?,
        Journal::new(
            uuid::Uuid::new_v4().to_string(),
            operation,
            now_rfc3339(),
            plan.inputs_digest.clone(),
        )
        .with_lineage(state.lineage.clone()),
    )
    .map_err(anyhow::Error::new)?;
    journal
        .append(JournalEntry::new(
            "run",
            StepPhase::Started,
            serde_json::json!({ "plan": &*plan }),
            now_rfc3339(),
        ))
        .map_err(anyhow::Error::new)?;
    let book = Book {
        state,
        store,
        journal,
    };
    let client = api.clone();
    let runner = Arc::new(
        TarsRunner::new(
            api,
            plan.clone(),
            req.timing,
            book,
            pooled_keys(keys_needed(&plan)),
        )
        .with_storage_security(crate::apply::runner::storage_security_of(&topology)),
    );
    let options = ExecOptions {
        parallelism: req.parallelism.max(1),
        rollback: req.rollback,
        task_batch: req.timing.task_batch,
        gather: req.timing.start_gather,
    };
    // The rollback baseline: what Tars shows for every touched node before any step.
    // Auto-approved, the plan's reads were a moment ago: its server rows may serve.
    let recent = refreshed_at.filter(|_| req.auto_approve);
    let baseline = match rt.block_on(async {
        let seen = runner.observe_touched_since(recent).await?;
        runner.record_baseline(&seen).await?;
        Ok::<_, String>(seen)
    }) {
        Ok(seen) => seen,
        Err(e) => {
            let runner = Arc::try_unwrap(runner).map_err(|_| anyhow::anyhow!("runner still shared"))?;
            let book = runner.into_book();
            book.journal.remove().map_err(anyhow::Error::new)?;
            bail!("reading Tars before the first step (the rollback baseline): {e}");
        }
    };
    let reporter = events.clone().map(|e| e as Arc<dyn engine::Reporter>);
    let (report, runner) = rt.block_on(run_steps(&plan, runner, options, reporter))?;
    let runner = Arc::try_unwrap(runner).map_err(|_| anyhow::anyhow!("apply steps still running"))?;
    let verdict = rt.block_on(verify_outcome(&runner, &report, &baseline, options.rollback));
    for note in runner.take_notes() {
        eprintln!("note: {note}");
    }
    report_calls(&plan, client.calls());
    report_schedule(&report.schedule);
    let outcome = finish(
        &plan,
        runner,
        Ended {
            report,
            verdict,
            rollback: options.rollback,
            started,
        },
        operation,
        events.is_none(),
        &mut keys,
    )?;
    if let (Some(events), Outcome::Success) = (&events, outcome) {
        events.emit(&view::events::change_summary(&plan, operation, &now_rfc3339()));
    }
    Ok(outcome)
}

/// Download bounds of pinned packages: the defaults, or the environment's.
fn package_limits() -> anyhow::Result<package_fetch::FetchLimits> {
    let mut limits = package_fetch::FetchLimits::default();
    if let Ok(text) = std::env::var(package_fetch::MAX_SIZE_ENV) {
        limits.max_bytes = package_fetch::parse_size(&text).ok_or_else(|| {
            anyhow::anyhow!(
                "{}={text:?} is not a size\nhint: e.g. `512MiB` or `2GiB`",
                package_fetch::MAX_SIZE_ENV
            )
        })?;
    }
    if let Ok(text) = std::env::var(package_fetch::TIMEOUT_ENV) {
        limits.timeout = super::run_timeout::parse_duration(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", package_fetch::TIMEOUT_ENV))?;
    }
    Ok(limits)
}

/// Removes the half-made CAs and certificates of an interrupted run and puts their
/// state entries back as they were before it, so the plan issues them afresh.
fn clean_leftovers(journal: &Journal, store: &mut StateStore) -> anyhow::Result<()> {
    let cleaned = crate::apply::recover::clean_local_leftovers(journal, Path::new(GENERATED_ROOT));
    for problem in &cleaned.problems {
        eprintln!("warning: cleaning what the interrupted run left: {problem}");
    }
    if let Some(mut state) = store.load().map_err(anyhow::Error::new)?
        && cleaned.fix_state(&mut state)
    {
        store.save(&mut state).map_err(anyhow::Error::new)?;
        let names: Vec<String> = cleaned.state_fixes.keys().map(ToString::to_string).collect();
        eprintln!(
            "note: the interrupted run left {} half made; removed its files and put the state back for it",
            names.join(", ")
        );
    }
    Ok(())
}

/// What the verification pass found: differences, or why it could not look.
type Verdict = Result<Vec<Difference>, String>;

/// After success, Tars against the planned result; after a rollback, against the
/// baseline. Nothing to verify when rollback was disabled.
async fn verify_outcome(
    runner: &TarsRunner<HttpTarsClient>,
    report: &ExecReport,
    baseline: &Observation,
    rollback: bool,
) -> Verdict {
    if report.succeeded() {
        let planned = runner.planned_result().await;
        runner.verify(&planned, Expect::Planned).await
    } else if rollback || report.completed.is_empty() {
        // Without a rollback, a run where no step completed should have left Tars as it was.
        runner.verify(baseline, Expect::Exact).await
    } else {
        Ok(Vec::new())
    }
}

/// "Tars calls: 1350 for 20 nodes (67.5 per node)", on stderr.
fn report_calls(plan: &Plan, calls: u64) {
    let nodes = plan
        .changes
        .iter()
        .filter(|c| c.address.kind() == crate::addr::ResourceKind::Node)
        .count();
    let per_node = match nodes {
        0 => String::new(),
        n => format!(" for {n} node(s) ({:.1} per node)", calls as f64 / n as f64),
    };
    eprintln!("Tars calls: {calls}{per_node}");
}

/// "Steps: 11.3 s; no schedule beats 5.7 s (critical path 5.2 s, Tars work per slot 5.7 s)".
fn report_schedule(times: &engine::ScheduleTimes) {
    if times.wall.is_zero() {
        return;
    }
    eprintln!(
        "Steps: {:.1} s; no schedule beats {:.1} s (critical path {:.1} s, Tars work per slot {:.1} s)",
        times.wall.as_secs_f64(),
        times.bound().as_secs_f64(),
        times.critical_path.as_secs_f64(),
        times.per_slot.as_secs_f64()
    );
}

/// Expands the plan, runs it, and (after a failure) restarts nodes whose configs were restored.
/// Hands the runner back once no step task holds it any more.
/// `reporter` replaces the progress bar (`apply --json`).
async fn run_steps(
    plan: &Plan,
    runner: Arc<TarsRunner<HttpTarsClient>>,
    options: ExecOptions,
    reporter: Option<Arc<dyn engine::Reporter>>,
) -> anyhow::Result<(ExecReport, Arc<TarsRunner<HttpTarsClient>>)> {
    let expanded = steps::expand(plan);
    let dag = StepDag::new(expanded.steps, &expanded.edges).map_err(anyhow::Error::new)?;
    let progress = Arc::new(Progress::new(dag.len(), std::io::stderr().is_terminal()));
    let reporter = reporter.unwrap_or_else(|| progress.clone());
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        let interrupted = wait_for_signal().await;
        eprintln!("\n{interrupted}: no new step starts; finishing the steps in flight, then rolling back");
        let _ = cancel_tx.send(true);
    });
    let ticking = progress.clone();
    let ticks = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            ticking.tick();
        }
    });
    let mut report = engine::execute(dag, runner.clone(), options, cancel_rx, reporter).await;
    ticks.abort();
    signals.abort();
    // Step tasks drop their handle on the runner just after reporting; wait for them.
    for _ in 0..500 {
        if Arc::strong_count(&runner) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if !report.succeeded() && options.rollback {
        report.undo_failed.extend(runner.finish_rollback().await);
    }
    progress.finish();
    Ok((report, runner))
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "interrupted";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
            _ = term.recv() => "terminated (SIGTERM)",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

/// How the steps ended, and what Tars showed afterwards.
struct Ended {
    report: ExecReport,
    verdict: Verdict,
    /// False with `--no-rollback`.
    rollback: bool,
    /// When the command started.
    started: std::time::SystemTime,
}

/// The `<state>.errored.json` a failed save of this run left, if any.
fn dump_of_this_run(store: &StateStore, started: std::time::SystemTime) -> Option<std::path::PathBuf> {
    let dump = crate::state::store::sibling_path(store.path(), crate::state::store::ERRORED_SUFFIX);
    let modified = std::fs::metadata(&dump).and_then(|m| m.modified()).ok()?;
    (modified >= started).then_some(dump)
}

fn finish(
    plan: &Plan,
    runner: TarsRunner<HttpTarsClient>,
    ended: Ended,
    operation: &str,
    print_summary: bool,
    keys: &mut super::key_custody::KeysOnRunner,
) -> anyhow::Result<Outcome> {
    let Ended {
        report,
        verdict,
        rollback,
        started,
    } = ended;
    let sidecar = runner.sidecar().clone();
    if report.succeeded() {
        for problem in runner.commit_files() {
            eprintln!("warning: {problem}");
        }
        let book = runner.into_book();
        book.journal.remove().map_err(anyhow::Error::new)?;
        sidecar.remove().map_err(anyhow::Error::new)?;
        keys.upload(&book.store)?;
        match verdict {
            Ok(d) if d.is_empty() => {}
            Ok(d) => bail!(
                "every step succeeded, but Tars does not show the planned result:\n  - {}\nhint: run `tarsform plan` to see the difference, then `tarsform apply`",
                d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n  - ")
            ),
            Err(e) => bail!(
                "every step succeeded, but the result could not be verified: {e}\nhint: run `tarsform plan --detailed-exitcode`: 0 means Tars is as planned"
            ),
        }
        let s = plan.summary();
        if !print_summary {
            return Ok(Outcome::Success);
        }
        if operation == "destroy" {
            println!("\nDestroy complete! Resources: {} destroyed.", s.destroy);
        } else if operation == "restart" {
            println!(
                "\nRestart complete! {} node(s) restarted, each active and settled.",
                s.change
            );
        } else {
            let imported = match s.import {
                0 => String::new(),
                n => format!("{n} imported, "),
            };
            println!(
                "\nApply complete! Resources: {imported}{} added, {} changed, {} destroyed.",
                s.add, s.change, s.destroy
            );
        }
        return Ok(Outcome::Success);
    }
    let journal_broken = runner.journal_broken();
    let unsettled = runner.unsettled_steps();
    let before = runner.state_before();
    let mut book = runner.into_book();
    eprintln!();
    for (step, error) in &report.failed {
        eprintln!("Error: {step} failed:\n  {}", error.replace('\n', "\n  "));
    }
    if report.cancelled {
        eprintln!("Error: the {} was interrupted", operation);
    }
    if !report.kept.is_empty() || !rollback {
        let mut kept = report.kept.clone();
        kept.extend(unsettled.iter().map(|s| format!("{s} (failed part-way)")));
        let unchanged = matches!(&verdict, Ok(d) if d.is_empty());
        if kept.is_empty() && unchanged {
            // Nothing completed, none that failed changed anything, and Tars shows so.
            book.journal.remove().map_err(anyhow::Error::new)?;
            sidecar.remove().map_err(anyhow::Error::new)?;
            eprintln!(
                "No step completed, and Tars shows every touched node as before this run (verified; --no-rollback: nothing was rolled back)."
            );
            return Ok(Outcome::FailedRolledBack);
        }
        if kept.is_empty() {
            eprintln!("No step completed, but Tars does not show every touched node as before this run:");
            print_verdict(&verdict);
            eprintln!(
                "The journal {} is kept.\nhint: run `tarsform apply` to finish, or `tarsform rollback` to undo",
                book.journal.path().display()
            );
            return Ok(Outcome::FailedRolledBack);
        }
        eprintln!(
            "Kept (no rollback): {}.\nhint: run `tarsform apply` to finish, or `tarsform rollback` to undo",
            kept.join(", ")
        );
        return Ok(Outcome::FailedRolledBack);
    }
    if !report.undone.is_empty() {
        eprintln!(
            "Rolled back {} step(s): {}",
            report.undone.len(),
            report.undone.join(", ")
        );
    }
    let differences = match &verdict {
        Ok(d) => d.clone(),
        Err(_) => Vec::new(),
    };
    let rolled_back =
        report.undo_failed.is_empty() && verdict.is_ok() && differences.is_empty() && !journal_broken;
    let state_as_before =
        state_check::ensure_after_rollback(rolled_back, &mut book.store, &before, "this run");
    if let Some(Ok(())) = &state_as_before {
        if let Some(dump) = dump_of_this_run(&book.store, started) {
            eprintln!(
                "note: `{}` holds a state this run could not save; the rollback made it obsolete: delete it, do not move it over the state",
                dump.display()
            );
        }
        book.journal.remove().map_err(anyhow::Error::new)?;
        sidecar.remove().map_err(anyhow::Error::new)?;
        eprintln!(
            "Rollback complete: Tars shows every touched node as before this run (verified), and the state is as it was."
        );
        return Ok(Outcome::FailedRolledBack);
    }
    eprintln!("Rollback INCOMPLETE. These need manual attention:");
    for (step, error) in &report.undo_failed {
        eprintln!("  - {step}: {}", error.replace('\n', "\n    "));
    }
    print_verdict(&verdict);
    if let Some(Err(e)) = &state_as_before {
        eprintln!("  - {e}");
    }
    if journal_broken {
        eprintln!(
            "  - the journal could not be written (is the disk full?); the state may list what the rollback removed"
        );
    }
    eprintln!(
        "The journal {} is kept: fix the cause, then run `tarsform rollback` (or `tarsform apply` to roll forward).",
        book.journal.path().display()
    );
    Ok(Outcome::RollbackIncomplete)
}

/// Prints each difference the verification found (or why it could not look).
pub(super) fn print_verdict(verdict: &Verdict) {
    match verdict {
        Ok(differences) => {
            for d in differences {
                eprintln!("  - {}", d.to_string().replace('\n', "\n  "));
            }
        }
        Err(e) => eprintln!("  - the rollback could not be verified: {e}"),
    }
}

fn discard_journal(store: &StateStore) -> anyhow::Result<()> {
    if let Some(file) = JournalFile::resume(store.journal()?).map_err(anyhow::Error::new)? {
        file.remove().map_err(anyhow::Error::new)?;
    }
    store.sidecar().remove().map_err(anyhow::Error::new)
}

/// Asks for `yes` on a terminal; refuses to run unattended.
pub(crate) fn confirm(operation: &str, unattended_hint: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {operation} without confirmation: stdin is not a terminal\nhint: {unattended_hint}"
        );
    }
    eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if answer.trim() != "yes" {
        bail!("{operation} cancelled");
    }
    Ok(())
}
