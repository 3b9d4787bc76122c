//! Group commit for the journal: steps that append while a write is under way share the
//! next write (one fsync, or one statement for MySQL), and each still returns only once
//! its own entry is durable.

use std::sync::{Arc, Mutex as SyncMutex};

use super::storage_thread::{StorageThread, locked};
use crate::state::{JournalEntry, JournalFile};

/// Entries waiting for a write, and the sequence number of the last one queued.
#[derive(Default)]
struct Queue {
    waiting: Vec<JournalEntry>,
    queued: u64,
}

/// The file and what its writes achieved; updated on the storage thread.
struct Written {
    /// `None` once handed back by [`GroupJournal::into_file`].
    file: Option<JournalFile>,
    /// Every entry up to this sequence number is durable.
    through: u64,
    /// A failed write: the last sequence number it held, and its error.
    failed: Option<(u64, String)>,
}

const CLOSED: &str = "the journal was closed before this entry was written";

pub struct GroupJournal {
    queue: SyncMutex<Queue>,
    written: Arc<SyncMutex<Written>>,
    /// One flush at a time.
    turn: tokio::sync::Mutex<()>,
    storage: Arc<StorageThread>,
}

impl GroupJournal {
    pub fn new(file: JournalFile, storage: Arc<StorageThread>) -> GroupJournal {
        GroupJournal {
            queue: SyncMutex::new(Queue::default()),
            written: Arc::new(SyncMutex::new(Written {
                file: Some(file),
                through: 0,
                failed: None,
            })),
            turn: tokio::sync::Mutex::new(()),
            storage,
        }
    }

    /// Appends `entry`, durably, before returning; refused once an append failed.
    pub async fn append(&self, entry: JournalEntry) -> Result<(), String> {
        let seq = {
            let mut queue = locked(&self.queue);
            queue.waiting.push(entry);
            queue.queued += 1;
            queue.queued
        };
        let _turn = self.turn.lock().await;
        self.flush().await?;
        let written = locked(&self.written);
        match &written.failed {
            _ if written.through >= seq => Ok(()),
            Some((through, error)) if *through >= seq => Err(error.clone()),
            _ => Err("the journal entry was not written".to_string()),
        }
    }

    /// Appends `entry` even after a failed append (rollback progress), after the
    /// entries queued before it.
    pub async fn append_anyway(&self, entry: JournalEntry) -> Result<(), String> {
        let _turn = self.turn.lock().await;
        let _ = self.flush().await;
        let written = self.written.clone();
        self.storage
            .run(move || match &mut locked(&written).file {
                Some(file) => file.append_anyway(entry).map_err(|e| e.to_string()),
                None => Err(CLOSED.to_string()),
            })
            .await?
    }

    /// Writes every queued entry in one append.
    async fn flush(&self) -> Result<(), String> {
        let (batch, through) = {
            let mut queue = locked(&self.queue);
            (std::mem::take(&mut queue.waiting), queue.queued)
        };
        if batch.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let count = batch.len();
        let written = self.written.clone();
        self.storage
            .run(move || {
                let mut written = locked(&written);
                let appended = match &mut written.file {
                    Some(file) => file.append_all(batch).map_err(|e| e.to_string()),
                    None => Err(CLOSED.to_string()),
                };
                match appended {
                    Ok(()) => written.through = through,
                    Err(e) => written.failed = Some((through, e)),
                }
            })
            .await?;
        tracing::debug!(
            entries = count,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "journal appended"
        );
        Ok(())
    }

    /// True once an append failed (no wait: a busy journal counts as not broken).
    pub fn is_broken(&self) -> bool {
        self.written
            .try_lock()
            .map(|w| w.file.as_ref().is_some_and(JournalFile::is_broken))
            .unwrap_or(false)
    }

    /// The journal file, once no append runs (waits for one in progress).
    pub fn into_file(self) -> JournalFile {
        locked(&self.written)
            .file
            .take()
            .expect("the journal is handed back once")
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::state::backend::JournalStore;
    use crate::state::{Journal, StateError, StepPhase};

    /// A journal in memory whose writes take 20 ms; counts writes, fails from write `fail_from`.
    #[derive(Debug, Clone)]
    struct SlowStore {
        bytes: Arc<SyncMutex<Option<Vec<u8>>>>,
        writes: Arc<AtomicUsize>,
        fail_from: usize,
        name: PathBuf,
    }

    impl JournalStore for SlowStore {
        fn name(&self) -> &Path {
            &self.name
        }
        fn read(&self) -> Result<Option<Vec<u8>>, StateError> {
            Ok(locked(&self.bytes).clone())
        }
        fn write_all(&mut self, bytes: &[u8]) -> Result<(), StateError> {
            *locked(&self.bytes) = Some(bytes.to_vec());
            Ok(())
        }
        fn append(&mut self, line: &[u8]) -> Result<(), StateError> {
            std::thread::sleep(Duration::from_millis(20));
            if self.writes.fetch_add(1, Ordering::SeqCst) + 1 >= self.fail_from {
                return Err(StateError::Io {
                    path: self.name.clone(),
                    action: "append to the journal",
                    source: std::io::Error::other("disk full"),
                });
            }
            locked(&self.bytes)
                .get_or_insert_default()
                .extend_from_slice(line);
            Ok(())
        }
        fn append_many(&mut self, lines: &[Vec<u8>]) -> Result<(), StateError> {
            self.append(&lines.concat())
        }
        fn clear(&mut self) -> Result<(), StateError> {
            *locked(&self.bytes) = None;
            Ok(())
        }
    }

    impl SlowStore {
        fn new(fail_from: usize) -> SlowStore {
            SlowStore {
                bytes: Arc::default(),
                writes: Arc::default(),
                fail_from,
                name: PathBuf::from("memory"),
            }
        }

        fn journal(&self) -> GroupJournal {
            let head = Journal::new("run-1", "apply", "2026-01-01T00:00:00Z", "sha256:ab");
            let file = JournalFile::create(Box::new(self.clone()) as Box<dyn JournalStore>, head).unwrap();
            GroupJournal::new(file, Arc::new(StorageThread::start()))
        }

        fn steps(&self) -> Vec<String> {
            let store: Box<dyn JournalStore> = Box::new(self.clone());
            JournalFile::load(store)
                .unwrap()
                .unwrap()
                .entries
                .into_iter()
                .map(|e| e.step)
                .collect()
        }
    }

    fn entry(step: usize) -> JournalEntry {
        JournalEntry::new(format!("s{step}"), StepPhase::Started, serde_json::json!({}), "t")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_made_together_share_writes_and_each_is_durable_on_return() {
        let store = SlowStore::new(usize::MAX);
        let journal = Arc::new(store.journal());
        let appends: Vec<_> = (0..12)
            .map(|i| {
                let journal = journal.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    journal.append(entry(i)).await.unwrap();
                    assert!(store.steps().contains(&format!("s{i}")), "s{i} durable on return");
                })
            })
            .collect();
        for append in appends {
            append.await.unwrap();
        }
        let writes = store.writes.load(Ordering::SeqCst);
        assert!(writes < 12, "12 concurrent appends took {writes} writes");
        let mut steps = store.steps();
        assert_eq!(steps.len(), 12);
        steps.sort();
        steps.dedup();
        assert_eq!(steps.len(), 12, "each entry once");
        let file = Arc::try_unwrap(journal).ok().unwrap().into_file();
        assert_eq!(file.journal().entries.len(), 12);
    }

    #[tokio::test]
    async fn a_failed_write_fails_its_entries_and_stops_later_ones_but_not_rollback_records() {
        let store = SlowStore::new(2);
        let journal = store.journal();
        journal.append(entry(1)).await.unwrap();
        let err = journal.append(entry(2)).await.unwrap_err();
        assert!(err.contains("disk full"), "{err}");
        assert!(journal.is_broken());
        let err = journal.append(entry(3)).await.unwrap_err();
        assert!(err.contains("earlier append failed"), "{err}");
        // Rollback progress is still attempted (this store keeps failing).
        let err = journal.append_anyway(entry(4)).await.unwrap_err();
        assert!(err.contains("disk full"), "{err}");
        assert_eq!(store.steps(), ["s1"]);
    }
}
