//! The apply journal `<state file>.journal.json` (DESIGN.md §5, STYLE.md item 5).
//!
//! The model ([`Journal`], [`JournalEntry`], [`StepPhase`]) is pure; [`JournalFile`]
//! reads and rewrites the file atomically. The apply engine owns the meaning of each
//! entry's `detail`; this module only refuses private key material in it. A journal
//! left on disk means a run did not finish: later commands must roll it back or forward.

use std::collections::BTreeMap;
use std::io;
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
    /// Write-ahead: the step's inverse, recorded before its first change (the detail
    /// holds `undo`). A later `prepared` or `completed` record replaces it.
    Prepared,
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

/// One framed journal record: `J <length> <checksum> <json>\n`, where `length` is the
/// byte length of `json` and `checksum` the first 16 hex digits of its SHA-256. A line
/// cut short by a crash or a full disk, or with the next record glued onto it, fails
/// its length or checksum and is skipped; every record that checks is used.
pub fn frame<T: Serialize>(value: &T) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("journal records serialize to JSON");
    let mut out = format!("J {} {} ", json.len(), checksum(&json)).into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    out
}

fn checksum(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// The records found in journal bytes, in order, and how many bytes were skipped as
/// torn or damaged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unframed<'a> {
    pub records: Vec<&'a [u8]>,
    pub skipped_bytes: usize,
}

/// Splits journal bytes into checked records (pure; the backend stores the bytes).
pub fn unframe(bytes: &[u8]) -> Unframed<'_> {
    let mut out = Unframed::default();
    let mut pos = 0;
    while pos < bytes.len() {
        if let Some((json, next)) = record_at(bytes, pos) {
            out.records.push(json);
            pos = next;
            continue;
        }
        // Resynchronise on the next record marker.
        let next = find(&bytes[pos + 1..], b"J ").map_or(bytes.len(), |i| pos + 1 + i);
        out.skipped_bytes += next - pos;
        pos = next;
    }
    out
}

/// The record starting at `pos` and where the next one starts, if it checks.
fn record_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = bytes[pos..].strip_prefix(b"J ")?;
    let space = rest.iter().position(|b| *b == b' ')?;
    let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    let rest = &rest[space + 1..];
    let (sum, rest) = (rest.get(..16)?, rest.get(16..)?);
    let rest = rest.strip_prefix(b" ")?;
    let json = rest.get(..len)?;
    if rest.get(len) != Some(&b'\n') || checksum(json).as_bytes() != sum {
        return None;
    }
    let header = 2 + space + 1 + 16 + 1;
    Some((json, pos + header + len + 1))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A journal decoded from bytes, with what was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub journal: Journal,
    /// Bytes of torn or damaged records left out (a crash or full disk mid-append).
    pub skipped_bytes: usize,
    /// Records that checked but did not parse as entries.
    pub unreadable: usize,
}

/// Decodes journal bytes: the header is the first record; every later record that
/// checks is an entry. Pure.
pub fn decode(bytes: &[u8]) -> Result<Decoded, serde_json::Error> {
    let unframed = unframe(bytes);
    let mut records = unframed.records.into_iter();
    let header: Header = match records.next() {
        Some(h) => serde_json::from_slice(h)?,
        None => {
            return Err(<serde_json::Error as serde::de::Error>::custom(
                "line 1: no header record with a matching length and checksum (not a tarsform journal, or written by an older version)",
            ));
        }
    };
    let mut entries = Vec::new();
    let mut unreadable = 0;
    for r in records {
        match serde_json::from_slice::<JournalEntry>(r) {
            Ok(e) => entries.push(e),
            Err(_) => unreadable += 1,
        }
    }
    Ok(Decoded {
        journal: Journal {
            run_id: header.run_id,
            operation: header.operation,
            started: header.started,
            plan_digest: header.plan_digest,
            lineage: header.lineage,
            entries,
        },
        skipped_bytes: unframed.skipped_bytes,
        unreadable,
    })
}

/// Encodes a whole journal (header and entries), as written when a run starts. Pure.
pub fn encode(journal: &Journal) -> Vec<u8> {
    let mut out = frame(&Header {
        run_id: journal.run_id.clone(),
        operation: journal.operation.clone(),
        started: journal.started.clone(),
        plan_digest: journal.plan_digest.clone(),
        lineage: journal.lineage.clone(),
    });
    for e in &journal.entries {
        out.extend(frame(e));
    }
    out
}

/// The first record of the file.
#[derive(Serialize, Deserialize)]
struct Header {
    run_id: String,
    operation: String,
    started: String,
    plan_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lineage: Option<String>,
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
/// The journal is a header record then one record per entry ([`frame`]), appended
/// durably as it happens (the local store: one write and one fsync; the shared
/// backend: one fenced insert), so recording a step costs one short write whatever
/// the journal's length. Once an append fails the journal refuses further step
/// records ([`JournalFile::is_broken`]): the run must stop before its next Tars call.
#[derive(Debug)]
pub struct JournalFile {
    store: Box<dyn JournalStore>,
    journal: Journal,
    broken: bool,
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
                run_id: left.journal.run_id,
                operation: left.journal.operation,
                started: left.journal.started,
            });
        }
        for entry in &journal.entries {
            check_secret(store.name(), entry)?;
        }
        store.write_all(&encode(&journal))?;
        Ok(Self::open(store, journal))
    }

    fn open(store: Box<dyn JournalStore>, journal: Journal) -> JournalFile {
        JournalFile {
            store,
            journal,
            broken: false,
        }
    }

    /// The journal left by an unfinished run, if any.
    pub fn load(at: impl JournalAt) -> Result<Option<Journal>, StateError> {
        Ok(Self::load_decoded(at)?.map(|d| d.journal))
    }

    /// Like [`Self::load`], with what was skipped as torn or damaged.
    pub fn load_decoded(at: impl JournalAt) -> Result<Option<Decoded>, StateError> {
        Self::parse(&*at.into_store())
    }

    fn parse(store: &dyn JournalStore) -> Result<Option<Decoded>, StateError> {
        let Some(bytes) = store.read()? else {
            return Ok(None);
        };
        decode(&bytes)
            .map(Some)
            .map_err(|source| StateError::CorruptJournal {
                path: store.name().to_path_buf(),
                source,
            })
    }

    /// Reopens a leftover journal to record rollback or roll-forward progress.
    pub fn resume(at: impl JournalAt) -> Result<Option<JournalFile>, StateError> {
        let store = at.into_store();
        Ok(Self::parse(&*store)?.map(|d| Self::open(store, d.journal)))
    }

    /// Sends later writes to `store` (tests inject a full disk this way).
    pub fn with_store(mut self, store: Box<dyn JournalStore>) -> JournalFile {
        self.store = store;
        self
    }

    /// Names the journal in messages (its file for the local backend).
    pub fn path(&self) -> &Path {
        self.store.name()
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// True once an append failed: the run must not make another Tars call.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Records one entry: appended and made durable before returning. Refused once an
    /// earlier append failed.
    pub fn append(&mut self, entry: JournalEntry) -> Result<(), StateError> {
        if self.broken {
            return Err(self.writes_stopped());
        }
        self.append_anyway(entry)
    }

    fn writes_stopped(&self) -> StateError {
        StateError::Io {
            path: self.path().to_path_buf(),
            action: "append to the journal (an earlier append failed)",
            source: io::Error::other("journal writes stopped"),
        }
    }

    /// Records an entry even after a failed append (rollback progress is worth
    /// recording once space is back; the undo records it follows are idempotent).
    pub fn append_anyway(&mut self, entry: JournalEntry) -> Result<(), StateError> {
        check_secret(self.store.name(), &entry)?;
        if let Err(e) = self.store.append(&frame(&entry)) {
            self.broken = true;
            return Err(e);
        }
        self.journal.entries.push(entry);
        super::crash_point::after_journal_entry(self.journal.entries.len());
        Ok(())
    }

    /// Records several entries with one durable write (group commit), in order.
    /// Refused, with none written, once an earlier append failed.
    pub fn append_all(&mut self, entries: Vec<JournalEntry>) -> Result<(), StateError> {
        if self.broken {
            return Err(self.writes_stopped());
        }
        for entry in &entries {
            check_secret(self.store.name(), entry)?;
        }
        let lines: Vec<Vec<u8>> = entries.iter().map(frame).collect();
        if let Err(e) = self.store.append_many(&lines) {
            self.broken = true;
            return Err(e);
        }
        for entry in entries {
            self.journal.entries.push(entry);
            super::crash_point::after_journal_entry(self.journal.entries.len());
        }
        Ok(())
    }

    /// Deletes the journal: the run committed or was fully rolled back.
    pub fn remove(mut self) -> Result<(), StateError> {
        self.store.clear()
    }
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
    use std::io::Write;

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
    fn a_torn_record_with_the_next_one_glued_on_is_skipped_and_the_rest_used() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        let mut file = JournalFile::create(&state, journal()).unwrap();
        file.append(entry("a", StepPhase::Started)).unwrap();
        let path = file.path().to_path_buf();
        let mut bytes = fs::read(&path).unwrap();
        let torn = frame(&entry("a", StepPhase::Completed));
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        bytes.extend(frame(&entry("a", StepPhase::Undone)));
        fs::write(&path, &bytes).unwrap();
        let back = JournalFile::load_decoded(&state).unwrap().unwrap();
        let phases: Vec<_> = back.journal.entries.iter().map(|e| e.phase).collect();
        assert_eq!(phases, [StepPhase::Started, StepPhase::Undone]);
        assert_eq!(back.skipped_bytes, torn.len() / 2);

        // A record whose checksum fails (a flipped byte) is skipped too.
        let good = frame(&entry("b", StepPhase::Started));
        let mut flipped = good.clone();
        let n = flipped.len() - 3;
        flipped[n] ^= 1;
        let mut damaged = bytes[..bytes.len()].to_vec();
        damaged.extend(flipped);
        damaged.extend(good);
        fs::write(&path, &damaged).unwrap();
        let back = JournalFile::load_decoded(&state).unwrap().unwrap();
        assert_eq!(back.journal.entries.len(), 3);
        assert!(back.skipped_bytes > torn.len() / 2);
    }

    #[test]
    fn unframe_round_trips_any_sequence_and_stops_at_nothing() {
        let mut bytes = Vec::new();
        for i in 0..5 {
            bytes.extend(frame(&json!({ "i": i, "text": "J 3 x \n" })));
        }
        let u = unframe(&bytes);
        assert_eq!(u.records.len(), 5);
        assert_eq!(u.skipped_bytes, 0);
        for cut in 0..bytes.len() {
            let u = unframe(&bytes[..cut]);
            assert!(u.records.len() <= 5);
        }
    }

    /// A disk that takes `room` more bytes, then fails with ENOSPC after a partial write
    /// (the worst case: the torn tail stays in the file).
    #[derive(Debug)]
    struct FullDisk {
        file: LocalJournal,
        path: PathBuf,
        room: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl JournalStore for FullDisk {
        fn name(&self) -> &Path {
            &self.path
        }
        fn read(&self) -> Result<Option<Vec<u8>>, StateError> {
            self.file.read()
        }
        fn write_all(&mut self, bytes: &[u8]) -> Result<(), StateError> {
            self.file.write_all(bytes)
        }
        fn append(&mut self, bytes: &[u8]) -> Result<(), StateError> {
            use std::sync::atomic::Ordering;
            let room = self.room.load(Ordering::SeqCst);
            let take = bytes.len().min(room);
            let mut f = fs::OpenOptions::new().append(true).open(&self.path).unwrap();
            f.write_all(&bytes[..take]).unwrap();
            self.room.store(room - take, Ordering::SeqCst);
            if take < bytes.len() {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    action: "append to the journal",
                    source: io::Error::from_raw_os_error(libc::ENOSPC),
                });
            }
            Ok(())
        }
        fn clear(&mut self) -> Result<(), StateError> {
            self.file.clear()
        }
    }

    #[test]
    fn a_full_disk_stops_step_records_and_space_freed_later_recovers_the_journal() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        let room = std::sync::Arc::new(AtomicUsize::new(
            frame(&entry("a", StepPhase::Started)).len() + 20,
        ));
        let mut file = JournalFile::create(&state, journal())
            .unwrap()
            .with_store(Box::new(FullDisk {
                file: LocalJournal::new(JournalFile::path_for(&state)),
                path: JournalFile::path_for(&state),
                room: room.clone(),
            }));
        file.append(entry("a", StepPhase::Started)).unwrap();
        let err = file
            .append(entry("a", StepPhase::Completed))
            .unwrap_err()
            .to_string();
        assert!(err.contains("append to the journal"), "{err}");
        assert!(file.is_broken());
        room.store(usize::MAX, Ordering::SeqCst);
        // The run stops: no further step records, even with space back.
        assert!(file.append(entry("b", StepPhase::Started)).is_err());
        // Rollback progress is still recorded, glued onto the torn tail.
        file.append_anyway(entry("a", StepPhase::Undone)).unwrap();
        let back = JournalFile::load_decoded(&state).unwrap().unwrap();
        let phases: Vec<_> = back.journal.entries.iter().map(|e| e.phase).collect();
        assert_eq!(phases, [StepPhase::Started, StepPhase::Undone]);
        assert_eq!(back.skipped_bytes, 20);
        assert!(back.journal.pending_undo().is_empty());
    }

    #[test]
    fn a_failed_append_on_a_real_full_file_system_is_cut_back() {
        // Needs root for a small tmpfs; elsewhere the injected writer above covers it.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small");
        fs::create_dir(&mnt).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return;
        }
        let result = std::panic::catch_unwind(|| {
            let state = mnt.join("chain0.state.json");
            let mut file = JournalFile::create(&state, journal()).unwrap();
            let filler = mnt.join("filler");
            let mut f = fs::File::create(&filler).unwrap();
            while f.write_all(&[0u8; 4096]).is_ok() {}
            drop(f);
            let big = JournalEntry::new("a", StepPhase::Started, json!({ "pad": "x".repeat(20_000) }), "t");
            assert!(file.append(big).is_err());
            assert!(file.is_broken());
            let before = fs::read(file.path()).unwrap();
            assert_eq!(decode(&before).unwrap().skipped_bytes, 0, "torn bytes left");
            fs::remove_file(&filler).unwrap();
            file.append_anyway(entry("a", StepPhase::Undone)).unwrap();
            assert_eq!(JournalFile::load(&state).unwrap().unwrap().entries.len(), 1);
        });
        let _ = std::process::Command::new("umount").arg(&mnt).status();
        result.unwrap();
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
