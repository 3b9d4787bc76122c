//! The apply journal `<state file>.journal.json` (DESIGN.md §5, STYLE.md item 5).
//!
//! The model ([`Journal`], [`JournalEntry`], [`StepPhase`]) is pure; [`JournalFile`]
//! reads and rewrites the file atomically. The apply engine owns the meaning of each
//! entry's `detail`; this module only refuses private key material in it. A journal
//! left on disk means a run did not finish: later commands must roll it back or forward.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backend::JournalStore;
use super::backend::local::LocalJournal;
use super::model::find_secret;
use super::store::{StateError, sibling_path};

pub const JOURNAL_SUFFIX: &str = ".journal.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    pub operation: String,
    /// RFC 3339.
    pub started: String,
    pub plan_digest: String,
    /// The lineage of the state this run writes; a state with another is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    pub entries: Vec<JournalEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The step id.
    pub step: String,
    pub phase: StepPhase,
    /// Opaque to this module: the apply engine stores the step and its inverse data.
    pub detail: serde_json::Value,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    Started,
    Completed,
    Failed,
    Undone,
    UndoFailed,
}

/// Every entry of one step, in journal order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepHistory<'a> {
    pub step: &'a str,
    pub entries: Vec<&'a JournalEntry>,
}

impl StepHistory<'_> {
    pub fn last_phase(&self) -> StepPhase {
        self.entries.last().map(|e| e.phase).unwrap_or(StepPhase::Started)
    }
}

impl JournalEntry {
    pub fn new(
        step: impl Into<String>,
        phase: StepPhase,
        detail: serde_json::Value,
        at: impl Into<String>,
    ) -> Self {
        JournalEntry {
            step: step.into(),
            phase,
            detail,
            at: at.into(),
        }
    }
}

impl Journal {
    pub fn new(
        run_id: impl Into<String>,
        operation: impl Into<String>,
        started: impl Into<String>,
        plan_digest: impl Into<String>,
    ) -> Self {
        Journal {
            run_id: run_id.into(),
            operation: operation.into(),
            started: started.into(),
            plan_digest: plan_digest.into(),
            lineage: None,
            entries: Vec::new(),
        }
    }

    /// Records the lineage of the state this run writes.
    pub fn with_lineage(mut self, lineage: impl Into<String>) -> Self {
        self.lineage = Some(lineage.into());
        self
    }

    /// Each step's entries, steps in the order they first appear.
    pub fn steps(&self) -> Vec<StepHistory<'_>> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_step: BTreeMap<&str, Vec<&JournalEntry>> = BTreeMap::new();
        for entry in &self.entries {
            let list = by_step.entry(entry.step.as_str()).or_default();
            if list.is_empty() {
                order.push(entry.step.as_str());
            }
            list.push(entry);
        }
        order
            .into_iter()
            .map(|step| StepHistory {
                step,
                entries: by_step.remove(step).unwrap_or_default(),
            })
            .collect()
    }

    /// Steps that started and have no outcome yet (the run died while they ran).
    pub fn in_flight(&self) -> Vec<StepHistory<'_>> {
        self.steps()
            .into_iter()
            .filter(|s| s.last_phase() == StepPhase::Started)
            .collect()
    }

    /// Steps not undone yet, latest first: the order rollback walks them.
    pub fn pending_undo(&self) -> Vec<StepHistory<'_>> {
        let mut steps: Vec<_> = self
            .steps()
            .into_iter()
            .filter(|s| s.last_phase() != StepPhase::Undone)
            .collect();
        steps.reverse();
        steps
    }

    /// The first entry detail that looks like private key material: (step, JSON path).
    pub fn find_secret(&self) -> Option<(String, String)> {
        self.entries
            .iter()
            .find_map(|e| find_secret("", &e.detail).map(|path| (e.step.clone(), path)))
    }
}

/// Where a journal is kept: a state file's path (the local journal next to it) or a
/// backend's journal store.
pub trait JournalAt {
    fn into_store(self) -> Box<dyn JournalStore>;
}

impl JournalAt for &Path {
    fn into_store(self) -> Box<dyn JournalStore> {
        Box::new(LocalJournal::new(JournalFile::path_for(self)))
    }
}

impl JournalAt for &PathBuf {
    fn into_store(self) -> Box<dyn JournalStore> {
        self.as_path().into_store()
    }
}

impl JournalAt for Box<dyn JournalStore> {
    fn into_store(self) -> Box<dyn JournalStore> {
        self
    }
}

/// An open journal: the in-memory journal and where it is written.
///
/// The journal is JSON Lines: a header line (`run_id`, `operation`, `started`,
/// `plan_digest`), then one line per entry, appended durably as it happens, so
/// recording a step costs one short write whatever the journal's length. A last line
/// cut short by a crash is ignored on load. The bytes are kept by a [`JournalStore`]
/// (a file next to the state, or rows in the shared backend).
#[derive(Debug)]
pub struct JournalFile {
    store: Box<dyn JournalStore>,
    journal: Journal,
}

/// The first line of the file.
#[derive(Serialize, Deserialize)]
struct Header {
    run_id: String,
    operation: String,
    started: String,
    plan_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lineage: Option<String>,
}

impl JournalFile {
    /// `<state file>.journal.json`.
    pub fn path_for(state_path: &Path) -> PathBuf {
        sibling_path(state_path, JOURNAL_SUFFIX)
    }

    /// Starts a journal for a run; fails if one is left from an unfinished run.
    pub fn create(at: impl JournalAt, journal: Journal) -> Result<JournalFile, StateError> {
        let mut store = at.into_store();
        if let Some(left) = Self::parse(&*store)? {
            return Err(StateError::JournalExists {
                path: store.name().to_path_buf(),
                run_id: left.run_id,
                operation: left.operation,
                started: left.started,
            });
        }
        let mut text = line(&Header {
            run_id: journal.run_id.clone(),
            operation: journal.operation.clone(),
            started: journal.started.clone(),
            plan_digest: journal.plan_digest.clone(),
            lineage: journal.lineage.clone(),
        });
        for entry in &journal.entries {
            check_secret(store.name(), entry)?;
            text.extend(line(entry));
        }
        store.write_all(&text)?;
        Ok(JournalFile { store, journal })
    }

    /// The journal left by an unfinished run, if any.
    pub fn load(at: impl JournalAt) -> Result<Option<Journal>, StateError> {
        Self::parse(&*at.into_store())
    }

    fn parse(store: &dyn JournalStore) -> Result<Option<Journal>, StateError> {
        let Some(text) = store.read()? else {
            return Ok(None);
        };
        let corrupt = |source| StateError::CorruptJournal {
            path: store.name().to_path_buf(),
            source,
        };
        let mut lines = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
        let header: Header = serde_json::from_slice(lines.next().unwrap_or_default()).map_err(corrupt)?;
        let lines: Vec<&[u8]> = lines.collect();
        let mut entries = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            match serde_json::from_slice::<JournalEntry>(l) {
                Ok(entry) => entries.push(entry),
                // A crash while appending cuts the last line short: that entry never happened.
                Err(e) if i + 1 == lines.len() && e.is_eof() => {}
                Err(e) => return Err(corrupt(e)),
            }
        }
        Ok(Some(Journal {
            run_id: header.run_id,
            operation: header.operation,
            started: header.started,
            plan_digest: header.plan_digest,
            lineage: header.lineage,
            entries,
        }))
    }

    /// Reopens a leftover journal to record rollback or roll-forward progress.
    pub fn resume(at: impl JournalAt) -> Result<Option<JournalFile>, StateError> {
        let store = at.into_store();
        Ok(Self::parse(&*store)?.map(|journal| JournalFile { store, journal }))
    }

    /// Names the journal in messages (its file for the local backend).
    pub fn path(&self) -> &Path {
        self.store.name()
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Records one entry: appended and made durable before returning.
    pub fn append(&mut self, entry: JournalEntry) -> Result<(), StateError> {
        check_secret(self.store.name(), &entry)?;
        self.store.append(&line(&entry))?;
        self.journal.entries.push(entry);
        Ok(())
    }

    /// Deletes the journal: the run committed or was fully rolled back.
    pub fn remove(mut self) -> Result<(), StateError> {
        self.store.clear()
    }
}

/// One compact JSON line.
fn line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).expect("journal lines serialize to JSON");
    bytes.push(b'\n');
    bytes
}

/// Refuses an entry whose detail looks like private key material.
fn check_secret(path: &Path, entry: &JournalEntry) -> Result<(), StateError> {
    match find_secret("", &entry.detail) {
        Some(attribute) => Err(StateError::SecretAttribute {
            path: path.to_path_buf(),
            object: format!("journal step `{}` detail", entry.step),
            attribute,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn entry(step: &str, phase: StepPhase) -> JournalEntry {
        JournalEntry::new(step, phase, json!({"step": step}), "2026-01-01T00:00:00Z")
    }

    fn journal() -> Journal {
        Journal::new("run-1", "apply", "2026-01-01T00:00:00Z", "sha256:ab")
    }

    #[test]
    fn phases_serialize_snake_case() {
        let v = serde_json::to_value(entry("s", StepPhase::UndoFailed)).unwrap();
        assert_eq!(v["phase"], json!("undo_failed"));
    }

    #[test]
    fn in_flight_and_pending_undo_follow_the_last_phase() {
        let mut j = journal();
        for (s, p) in [
            ("a", StepPhase::Started),
            ("a", StepPhase::Completed),
            ("b", StepPhase::Started),
            ("c", StepPhase::Started),
            ("c", StepPhase::Completed),
            ("c", StepPhase::Undone),
            ("d", StepPhase::Started),
            ("d", StepPhase::Failed),
        ] {
            j.entries.push(entry(s, p));
        }
        let flight: Vec<_> = j.in_flight().iter().map(|s| s.step).collect();
        assert_eq!(flight, ["b"]);
        let undo: Vec<_> = j.pending_undo().iter().map(|s| s.step).collect();
        assert_eq!(undo, ["d", "b", "a"]);
        assert_eq!(j.steps()[0].entries.len(), 2);
    }

    #[test]
    fn file_create_append_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        assert_eq!(JournalFile::load(&state).unwrap(), None);
        let mut file = JournalFile::create(&state, journal()).unwrap();
        assert_eq!(file.path(), dir.path().join("chain0.state.json.journal.json"));
        file.append(entry("a", StepPhase::Started)).unwrap();
        file.append(entry("a", StepPhase::Completed)).unwrap();
        let back = JournalFile::load(&state).unwrap().unwrap();
        assert_eq!(back.entries.len(), 2);
        assert_eq!(&back, file.journal());

        let again = JournalFile::create(&state, journal()).unwrap_err().to_string();
        assert!(again.contains("run-1") && again.contains("rollback"), "{again}");

        let resumed = JournalFile::resume(&state).unwrap().unwrap();
        resumed.remove().unwrap();
        assert_eq!(JournalFile::load(&state).unwrap(), None);
    }

    #[test]
    fn private_key_in_detail_is_refused_and_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.state.json");
        let mut file = JournalFile::create(&state, journal()).unwrap();
        let bad = JournalEntry::new(
            "config push",
            StepPhase::Started,
            json!({"old_content": "-----BEGIN RSA PRIVATE KEY-----\nMIIE"}),
            "t",
        );
        let err = file.append(bad).unwrap_err().to_string();
        assert!(err.contains("old_content") && !err.contains("MIIE"), "{err}");
        assert!(file.journal().entries.is_empty());
        let on_disk = fs::read_to_string(file.path()).unwrap();
        assert!(!on_disk.contains("PRIVATE KEY"));
    }

    #[test]
    fn corrupt_journal_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.state.json");
        fs::write(JournalFile::path_for(&state), "{\"run_id\": 3").unwrap();
        let err = JournalFile::load(&state).unwrap_err().to_string();
        assert!(
            err.contains("s.state.json.journal.json") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn a_last_line_cut_by_a_crash_is_ignored_but_a_damaged_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        let mut file = JournalFile::create(&state, journal()).unwrap();
        file.append(entry("a", StepPhase::Started)).unwrap();
        file.append(entry("a", StepPhase::Completed)).unwrap();
        let path = file.path().to_path_buf();
        let whole = fs::read_to_string(&path).unwrap();
        fs::write(&path, &whole[..whole.len() - 10]).unwrap();
        let back = JournalFile::load(&state).unwrap().unwrap();
        assert_eq!(back.entries.len(), 1);
        let lines: Vec<&str> = whole.lines().collect();
        fs::write(&path, format!("{}\n{{\"step\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(
            JournalFile::load(&state),
            Err(StateError::CorruptJournal { .. })
        ));
    }

    #[test]
    fn appending_writes_one_line_per_entry() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        let mut file = JournalFile::create(&state, journal()).unwrap();
        for _ in 0..3 {
            file.append(entry("a", StepPhase::Started)).unwrap();
        }
        let text = fs::read_to_string(file.path()).unwrap();
        assert_eq!(text.lines().count(), 4);
    }
}
