//! `tarsform rollback`: undo an interrupted apply from its journal.
//!
//! Every step is undone from the inverse its records hold: the completed record's, or
//! the write-ahead one a step writes before its first change (a step without either
//! changed nothing). Each inverse checks Tars before acting. Afterwards Tars is read
//! again and compared with the observation the run journaled before its first step:
//! "Rollback complete" only when they are equal, else exit 3 with each difference.

use std::sync::Arc;

use anyhow::Context;

use super::apply::print_verdict;
use super::inputs;
use super::tars_client::{client_for, runtime};
use super::{Outcome, RollbackArgs};
use crate::apply::engine::Runner;
use crate::apply::runner::{Book, OBSERVE_RECORD, RUN_RECORD, TarsRunner, system_keys};
use crate::apply::steps::{Op, Step};
use crate::apply::verify::{Expect, Observation};
use crate::apply::{recover, state_check};
use crate::plan::Plan;
use crate::state::JournalFile;

pub fn run(args: RollbackArgs) -> anyhow::Result<Outcome> {
    let topology = inputs::load_topology(&args.config.config)?;
    let location = super::backend::location(args.state.state.as_deref(), &args.config.config, &topology)?;
    let store = super::backend::open_store(&location, "rollback")?;
    inputs::read_checked_state(&location, Some(&topology.chain.chain_id))?;
    let Some(decoded) = JournalFile::load_decoded(store.journal()?).map_err(anyhow::Error::new)? else {
        println!("Nothing to roll back: there is no journal for {location}.");
        return Ok(Outcome::Success);
    };
    if decoded.skipped_bytes > 0 || decoded.unreadable > 0 {
        eprintln!(
            "note: the journal has a torn or damaged record ({} bytes skipped, {} unreadable); every record that checks is used",
            decoded.skipped_bytes, decoded.unreadable
        );
    }
    let journal = decoded.journal;
    let plan: Plan = journal
        .entries
        .iter()
        .find(|e| e.step == RUN_RECORD)
        .and_then(|e| e.detail.get("plan"))
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .context("reading the plan recorded in the journal")?
        .context("the journal records no plan; undo it by hand")?;
    inputs::check_plan_identity(
        &plan,
        &topology,
        "the plan the journal records",
        "the journal was edited and cannot be trusted: undo its steps by hand, then remove it",
    )?;
    let baseline: Option<Observation> = journal
        .entries
        .iter()
        .find(|e| e.step == OBSERVE_RECORD)
        .and_then(|e| e.detail.get("observed"))
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .context("reading the observation recorded in the journal")?;
    eprintln!(
        "Rolling back the interrupted {} (run {}, started {}).",
        journal.operation, journal.run_id, journal.started
    );
    let pending = recover::pending(&journal, &[RUN_RECORD, OBSERVE_RECORD]);
    if !pending.is_empty() {
        eprintln!("These {} step(s) will be undone, in this order:", pending.len());
        for r in &pending {
            eprintln!("  - {}", r.step);
        }
        if !args.auto_approve {
            super::apply::confirm(
                "roll back",
                "pass --auto-approve (a pipeline that recovers a crashed run does)",
            )?;
        }
    }
    let state = store
        .load_or_new(&topology.chain.chain_id)
        .map_err(anyhow::Error::new)?;
    let file = JournalFile::resume(store.journal()?)
        .map_err(anyhow::Error::new)?
        .context("journal vanished")?;
    let api = Arc::new(client_for(&topology)?.with_run_limit(args.run_timeout.timeout));
    let plan = Arc::new(plan);
    let runner = TarsRunner::new(
        api,
        plan.clone(),
        args.health.timing(),
        Book {
            state,
            store,
            journal: file,
        },
        system_keys(),
    );
    let rt = runtime()?;
    let mut failures = Vec::new();
    let mut undone = 0;
    let verdict = rt.block_on(async {
        for r in &pending {
            let step = Step {
                id: r.step.clone(),
                op: r.op.unwrap_or(Op::Barrier),
                address: r.address.clone(),
                lane: None,
            };
            eprintln!("  undo {}", r.step);
            match runner.undo(&step, &r.record).await {
                Ok(()) => undone += 1,
                Err(e) => failures.push((r.step.clone(), e)),
            }
        }
        failures.extend(runner.finish_rollback().await);
        match &baseline {
            Some(b) => runner.verify(b, Expect::Exact).await,
            // A run killed before its observation made no step either.
            None if pending.is_empty() => Ok(Vec::new()),
            None => Err("the journal holds no observation from before the run".into()),
        }
    });
    let broken = runner.journal_broken();
    let sidecar = runner.sidecar().clone();
    let mut book = runner.into_book();
    let clean = matches!(&verdict, Ok(d) if d.is_empty());
    // Each entry the undone steps wrote, as before the earliest of them (latest first).
    let mut before = state_check::Expected::new();
    for r in &pending {
        before.extend(r.record.prior_state.clone());
    }
    let state_as_before = state_check::ensure_after_rollback(
        failures.is_empty() && clean && !broken,
        &mut book.store,
        &before,
        "the interrupted run",
    );
    if let Some(Ok(())) = &state_as_before {
        book.journal.remove().map_err(anyhow::Error::new)?;
        sidecar.remove().map_err(anyhow::Error::new)?;
        println!(
            "Rollback complete! {undone} step(s) undone; Tars shows every touched node as before the interrupted run (verified), and the state is as it was."
        );
        Ok(Outcome::Success)
    } else {
        eprintln!("Rollback INCOMPLETE. These need manual attention:");
        for (step, error) in &failures {
            eprintln!("  - {step}: {}", error.replace('\n', "\n    "));
        }
        print_verdict(&verdict);
        if let Some(Err(e)) = &state_as_before {
            eprintln!("  - {e}");
        }
        if broken {
            eprintln!("  - the journal could not be written (is the disk full?)");
        }
        eprintln!(
            "The journal {} is kept; run `tarsform rollback` again once fixed.",
            book.journal.path().display()
        );
        Ok(Outcome::RollbackIncomplete)
    }
}
