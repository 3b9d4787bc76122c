//! `tarsform rollback`: undo an interrupted apply from its journal.
//!
//! Completed steps are undone from the inverse they journaled; a step whose outcome is
//! unknown (the run died while it ran, or it failed half-way) gets the inverse its
//! operation implies, which checks Tars before acting.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;

use super::inputs;
use super::tars_client::{client_for, runtime};
use super::{Outcome, RollbackArgs};
use crate::addr::Address;
use crate::apply::engine::Runner;
use crate::apply::runner::{Book, TarsRunner, system_keys};
use crate::apply::steps::{Op, Step};
use crate::apply::tars_ops::Timing;
use crate::apply::undo::{Undo, UndoRecord};
use crate::plan::{Action, Plan};
use crate::state::{JournalFile, ResourceState, StepHistory, StepPhase};

pub fn run(args: RollbackArgs) -> anyhow::Result<Outcome> {
    let topology = inputs::load_topology(&args.config.config)?;
    let location = super::backend::location(args.state.state.as_deref(), &args.config.config, &topology)?;
    let store = super::backend::open_store(&location, "rollback")?;
    inputs::read_checked_state(&location, Some(&topology.chain.chain_id))?;
    let Some(journal) = JournalFile::load(store.journal()?).map_err(anyhow::Error::new)? else {
        println!("Nothing to roll back: there is no journal for {location}.");
        return Ok(Outcome::Success);
    };
    let plan: Plan = journal
        .entries
        .iter()
        .find(|e| e.step == "run")
        .and_then(|e| e.detail.get("plan"))
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .context("reading the plan recorded in the journal")?
        .context("the journal records no plan; undo it by hand")?;
    eprintln!(
        "Rolling back the interrupted {} (run {}, started {}).",
        journal.operation, journal.run_id, journal.started
    );
    let pending: Vec<(String, Option<UndoRecord>, StartInfo)> = journal
        .pending_undo()
        .into_iter()
        .filter(|h| h.step != "run")
        .map(|h| classify(&h))
        .collect();
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
        Timing::default(),
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
    rt.block_on(async {
        for (step_id, record, start) in &pending {
            let record = match record {
                Some(r) => r.clone(),
                None => UndoRecord {
                    undo: infer_undo(&plan, start),
                    prior_state: start.prior_state.clone(),
                },
            };
            let step = Step {
                id: step_id.clone(),
                op: start.op.unwrap_or(Op::Barrier),
                address: start.address.clone(),
                lane: None,
            };
            eprintln!("  undo {step_id}");
            match runner.undo(&step, &record).await {
                Ok(()) => undone += 1,
                Err(e) => failures.push((step_id.clone(), e)),
            }
        }
        failures.extend(runner.finish_rollback().await);
    });
    let book = runner.into_book();
    if failures.is_empty() {
        book.journal.remove().map_err(anyhow::Error::new)?;
        println!(
            "Rollback complete! {undone} step(s) undone; Tars and the state are as before the interrupted run."
        );
        Ok(Outcome::Success)
    } else {
        eprintln!("Rollback INCOMPLETE. These need manual attention:");
        for (step, error) in &failures {
            eprintln!("  - {step}: {}", error.replace('\n', "\n    "));
        }
        eprintln!(
            "The journal {} is kept; run `tarsform rollback` again once fixed.",
            book.journal.path().display()
        );
        Ok(Outcome::RollbackIncomplete)
    }
}

/// What the `started` entry of a step recorded.
#[derive(Debug, Clone, Default)]
struct StartInfo {
    op: Option<Op>,
    address: Option<Address>,
    prior_state: BTreeMap<Address, Option<ResourceState>>,
}

/// The journaled inverse of a completed step, or `None` when its outcome is unknown.
fn classify(history: &StepHistory<'_>) -> (String, Option<UndoRecord>, StartInfo) {
    let start = history
        .entries
        .iter()
        .find(|e| e.phase == StepPhase::Started)
        .map(|e| StartInfo {
            op: e
                .detail
                .get("op")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok()),
            address: e
                .detail
                .get("address")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok()),
            prior_state: e
                .detail
                .get("prior_state")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        })
        .unwrap_or_default();
    let record = history
        .entries
        .iter()
        .rev()
        .find(|e| e.phase == StepPhase::Completed)
        .and_then(|e| serde_json::from_value::<UndoRecord>(e.detail.clone()).ok());
    (history.step.to_string(), record, start)
}

/// The inverse implied by a step whose outcome is unknown; each one checks Tars first.
fn infer_undo(plan: &Plan, start: &StartInfo) -> Undo {
    let Some(address) = &start.address else {
        return Undo::Nothing;
    };
    let keys = address.keys();
    let attr = |key: &str| {
        plan.change(address)
            .and_then(|c| c.attr(key))
            .and_then(Value::as_str)
            .map(std::path::PathBuf::from)
    };
    match start.op {
        Some(Op::RegisterNode) => Undo::UndeployNode {
            server: keys[0].clone(),
            ip: keys[1].clone(),
        },
        Some(Op::StartNode) => Undo::StopNode {
            server: keys[0].clone(),
            ip: keys[1].clone(),
        },
        Some(Op::RestartNode) => Undo::RestartNode {
            server: keys[0].clone(),
            ip: keys[1].clone(),
            previous_patch: None,
            repatched: false,
        },
        Some(Op::PushConfig) if plan.change(address).is_some_and(|c| c.action == Action::Create) => {
            Undo::DeleteConfigRow {
                server: keys[0].clone(),
                ip: keys[1].clone(),
                file: keys[2].clone(),
                created_local: None,
            }
        }
        Some(Op::IssueCert) if start.prior_state.values().all(Option::is_none) => Undo::RemoveFiles {
            paths: [attr("cert_path"), attr("key_path")]
                .into_iter()
                .flatten()
                .collect(),
            replaced: vec![],
        },
        Some(Op::CreateCa) => match attr("dir") {
            Some(dir) => Undo::RemoveFiles {
                paths: ["ca.crt", "ca.key", "cert.cnf"]
                    .iter()
                    .map(|f| dir.join(f))
                    .collect(),
                replaced: vec![],
            },
            None => Undo::Nothing,
        },
        _ => Undo::Nothing,
    }
}
