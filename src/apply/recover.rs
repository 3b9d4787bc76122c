//! Reading a leftover journal: each step's inverse as its records say (never inferred
//! from the step kind), and the cleanup of local steps a killed run left half done.

use serde_json::Value;

use super::local_ops;
use super::steps::Op;
use super::undo::{Undo, UndoRecord};
use std::collections::BTreeMap;
use std::path::Path;

use crate::addr::Address;
use crate::state::{Journal, ResourceState, StepHistory, StepPhase};

/// One step of a leftover journal, as rollback needs it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub step: String,
    pub op: Option<Op>,
    pub address: Option<Address>,
    /// The inverse: the completed record's, else the last write-ahead one, else nothing
    /// (a step changes nothing before its write-ahead record).
    pub record: UndoRecord,
    pub last_phase: StepPhase,
}

fn field<T: serde::de::DeserializeOwned>(detail: &Value, key: &str) -> Option<T> {
    detail
        .get(key)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// What the journal says about one step.
pub fn recorded(history: &StepHistory<'_>) -> Recorded {
    let started = history.entries.iter().find(|e| e.phase == StepPhase::Started);
    let completed = history
        .entries
        .iter()
        .rev()
        .find(|e| e.phase == StepPhase::Completed)
        .and_then(|e| serde_json::from_value::<UndoRecord>(e.detail.clone()).ok());
    let prepared = history
        .entries
        .iter()
        .rev()
        .find(|e| e.phase == StepPhase::Prepared)
        .and_then(|e| field::<Undo>(&e.detail, "undo"));
    let prior_state = started
        .and_then(|e| field(&e.detail, "prior_state"))
        .unwrap_or_default();
    let record = completed.unwrap_or(UndoRecord {
        undo: prepared.unwrap_or(Undo::Nothing),
        prior_state,
    });
    Recorded {
        step: history.step.to_string(),
        op: started.and_then(|e| field(&e.detail, "op")),
        address: started.and_then(|e| field(&e.detail, "address")),
        record,
        last_phase: history.last_phase(),
    }
}

/// Steps to undo, latest first, without the run's own records.
pub fn pending(journal: &Journal, skip: &[&str]) -> Vec<Recorded> {
    journal
        .pending_undo()
        .iter()
        .filter(|h| !skip.contains(&h.step))
        .map(recorded)
        .collect()
}

/// What cleaning a killed run's half-done local steps did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Steps whose files could not be put back, with the reason.
    pub problems: Vec<String>,
    /// State entries to put back as they were before each cleaned step (`None`: absent),
    /// so the state never lists a CA or certificate whose files were just removed.
    pub state_fixes: BTreeMap<Address, Option<ResourceState>>,
}

impl Cleaned {
    /// Applies the state fixes; true when the state changed.
    pub fn fix_state(&self, state: &mut crate::state::State) -> bool {
        let mut changed = false;
        for (address, prior) in &self.state_fixes {
            let before = state.get(address).cloned();
            if before.as_ref() == prior.as_ref() {
                continue;
            }
            match prior {
                Some(entry) => state.insert(address.clone(), entry.clone()),
                None => state.remove(address),
            };
            changed = true;
        }
        changed
    }
}

/// Undoes the local steps (CA, certificates) a killed run left without an outcome, so
/// rolling forward starts from clean files, and says which state entries go back with
/// them (the step may have saved its entry before the kill).
pub fn clean_local_leftovers(journal: &Journal, generated_root: &Path) -> Cleaned {
    let mut cleaned = Cleaned::default();
    // Latest first: the earliest step's prior entry for an address is the one kept.
    for r in pending(journal, &[]) {
        let local = matches!(r.op, Some(Op::CreateCa | Op::IssueCert));
        let unfinished = !matches!(r.last_phase, StepPhase::Completed | StepPhase::Undone);
        let Undo::RemoveFiles { paths, replaced } = &r.record.undo else {
            continue;
        };
        if !(local && unfinished) {
            continue;
        }
        match local_ops::undo_files(generated_root, paths, replaced) {
            Ok(()) => cleaned.state_fixes.extend(r.record.prior_state.clone()),
            Err(e) => cleaned.problems.push(format!("{}: {e}", r.step)),
        }
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::JournalEntry;
    use serde_json::json;

    fn entry(step: &str, phase: StepPhase, detail: Value) -> JournalEntry {
        JournalEntry::new(step, phase, detail, "t")
    }

    #[test]
    fn the_inverse_comes_from_records_never_from_the_step_kind() {
        let mut j = Journal::new("r", "apply", "t", "d");
        let undo = Undo::UndeployNode {
            server: "s".into(),
            ip: "10.0.0.5".into(),
        };
        j.entries.extend([
            entry("a", StepPhase::Started, json!({"op": Op::RegisterNode})),
            entry("a", StepPhase::Prepared, json!({"undo": undo})),
            entry("b", StepPhase::Started, json!({"op": Op::UndeployNode})),
        ]);
        let p = pending(&j, &[]);
        assert_eq!(p[0].step, "b");
        assert_eq!(
            p[0].record.undo,
            Undo::Nothing,
            "b changed nothing before its record"
        );
        assert_eq!(p[1].record.undo, undo);
        assert_eq!(p[1].op, Some(Op::RegisterNode));
    }

    #[test]
    fn a_half_created_ca_is_removed_with_its_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::write(ca.join("ca.key"), "k").unwrap();
        std::fs::write(ca.join(".ca.crt.x1y2.tmp"), "half").unwrap();
        let undo = Undo::RemoveFiles {
            paths: local_ops::ca_files(&ca, false),
            replaced: vec![],
        };
        let mut j = Journal::new("r", "apply", "t", "d");
        j.entries.extend([
            entry(
                "create-ca ca[\"rpc\"]",
                StepPhase::Started,
                json!({"op": Op::CreateCa}),
            ),
            entry(
                "create-ca ca[\"rpc\"]",
                StepPhase::Prepared,
                json!({"undo": undo}),
            ),
        ]);
        assert!(clean_local_leftovers(&j, dir.path()).problems.is_empty());
        assert!(
            !ca.exists(),
            "the emptied CA folder stays: {:?}",
            std::fs::read_dir(&ca).ok().map(|d| d.count())
        );
    }
}
