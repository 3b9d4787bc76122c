//! The local backend (DESIGN.md §5): a state file under an OS lock on `<file>.lock`,
//! atomic saves with a once-per-run `<file>.backup`, an `<file>.errored.json` dump on
//! failure, and the journal in `<file>.journal.json`. Every sibling file is the state
//! file's name plus a suffix, next to it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Expected, JournalStore, StateBackend, StateVersion};
use crate::state::errored_dump::dump_errored;
use crate::state::journal::JOURNAL_SUFFIX;
use crate::state::model::State;
use crate::state::sidecar::Sidecar;
use crate::state::store::{
    BACKUP_SUFFIX, LOCK_SUFFIX, LockInfo, StateError, dir_of, read_state, remove_stale_temp_files,
    sibling_path, write_atomic,
};

pub(crate) type Writer = fn(&Path, &[u8]) -> io::Result<()>;

/// How often a waiting `lock` tries again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// A state file; locked between `lock` and `unlock` (or drop).
#[derive(Debug)]
pub struct LocalBackend {
    path: PathBuf,
    lock_file: Option<File>,
    /// Set once the first save of this run has kept (or had no) previous file.
    backed_up: bool,
    writer: Writer,
}

impl LocalBackend {
    pub fn new(path: &Path) -> Self {
        LocalBackend {
            path: path.to_path_buf(),
            lock_file: None,
            backed_up: false,
            writer: write_atomic,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_writer(mut self, writer: Writer) -> Self {
        self.writer = writer;
        self
    }

    fn io_err(&self, action: &'static str, source: io::Error) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    /// One attempt: `Ok(None)` when another process holds the lock.
    fn try_lock(&mut self, lock: &LockInfo) -> Result<Option<Option<LockInfo>>, StateError> {
        let lock_path = sibling_path(&self.path, LOCK_SUFFIX);
        // A releasing run removes the lock file; retry if we locked a removed one.
        for _ in 0..5 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| self.io_err("open its lock file", e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(self.io_err("lock", e)),
            }
            if !is_same_file(&file, &lock_path) {
                continue;
            }
            let mut file = file;
            let abandoned = read_info_from(&mut file);
            write_lock_info(&mut file, lock).map_err(|e| self.io_err("write its lock file", e))?;
            remove_stale_temp_files(&self.path);
            self.lock_file = Some(file);
            return Ok(Some(abandoned));
        }
        Err(self.io_err("lock", io::Error::other("the lock file kept being replaced")))
    }

    /// Before the first write: the file on disk must be ours (same lineage, not newer);
    /// returns its bytes for the backup.
    fn check_previous(&self, expected: &Expected<'_>) -> Result<Option<Vec<u8>>, StateError> {
        let Some(on_disk) = read_state(&self.path)? else {
            return Ok(None);
        };
        if on_disk.lineage != expected.lineage {
            return Err(StateError::LineageMismatch {
                path: self.path.clone(),
                on_disk: on_disk.lineage,
                ours: expected.lineage.to_string(),
            });
        }
        if on_disk.serial > expected.serial {
            return Err(StateError::Stale {
                path: self.path.clone(),
                on_disk: on_disk.serial,
                ours: expected.serial,
            });
        }
        fs::read(&self.path)
            .map(Some)
            .map_err(|source| self.io_err("read", source))
    }
}

impl StateBackend for LocalBackend {
    fn name(&self) -> &Path {
        &self.path
    }

    /// Takes the lock on `<path>.lock`, trying again until `wait` has passed. Creates
    /// the state's directory when missing.
    fn lock(&mut self, lock: &LockInfo, wait: Duration) -> Result<Option<LockInfo>, StateError> {
        fs::create_dir_all(dir_of(&self.path)).map_err(|e| self.io_err("create its directory", e))?;
        let deadline = Instant::now() + wait;
        loop {
            if let Some(abandoned) = self.try_lock(lock)? {
                return Ok(abandoned);
            }
            if Instant::now() >= deadline {
                return Err(StateError::Locked {
                    path: self.path.clone(),
                    info: read_lock_info(&sibling_path(&self.path, LOCK_SUFFIX)).map(Box::new),
                });
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// Removes the lock file while still holding the lock; closing releases it.
    fn unlock(&mut self) {
        if let Some(file) = self.lock_file.take() {
            let _ = fs::remove_file(sibling_path(&self.path, LOCK_SUFFIX));
            let _ = file.unlock();
        }
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        read_state(&self.path)
    }

    /// The OS lock keeps other writers out, so the file is compared once, before the
    /// first write of the run, which also keeps it as `<file>.backup`. On a write
    /// failure the new state is dumped to `<file>.errored.json`.
    fn save(&mut self, expected: Expected<'_>, _state: &State, bytes: &[u8]) -> Result<(), StateError> {
        let previous = if self.backed_up {
            None
        } else {
            self.check_previous(&expected)?
        };
        let written = match &previous {
            Some(old) => (self.writer)(&sibling_path(&self.path, BACKUP_SUFFIX), old),
            None => Ok(()),
        }
        .and_then(|()| match crate::state::crash_point::refused_state_write() {
            Some(full) => Err(full),
            None => (self.writer)(&self.path, bytes),
        });
        match written {
            Ok(()) => {
                self.backed_up = true;
                Ok(())
            }
            Err(source) => Err(StateError::WriteFailed {
                path: self.path.clone(),
                errored: dump_errored(&self.path, bytes),
                source,
            }),
        }
    }

    /// The file and its `.backup`: the local backend keeps one version back.
    fn history(&self) -> Result<Vec<StateVersion>, StateError> {
        let backup = sibling_path(&self.path, BACKUP_SUFFIX);
        let mut versions = Vec::new();
        for path in [&backup, &self.path] {
            if let Some(state) = read_state(path)? {
                versions.push(StateVersion {
                    serial: state.serial,
                    lineage: state.lineage,
                    written_at: modified(path),
                    written_by: String::new(),
                    operation: String::new(),
                });
            }
        }
        Ok(versions)
    }

    fn version(&self, serial: u64) -> Result<Option<State>, StateError> {
        let backup = sibling_path(&self.path, BACKUP_SUFFIX);
        for path in [&self.path, &backup] {
            if let Some(state) = read_state(path)?.filter(|s| s.serial == serial) {
                return Ok(Some(state));
            }
        }
        Ok(None)
    }

    /// Removes the lock record if its id is `id` and no live process holds it.
    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, StateError> {
        force_unlock(&self.path, id)
    }

    fn journal(&self) -> Result<Box<dyn JournalStore>, StateError> {
        Ok(Box::new(LocalJournal::new(sibling_path(
            &self.path,
            JOURNAL_SUFFIX,
        ))))
    }

    /// `<file>.journal.secrets`, 0600.
    fn sidecar(&self) -> Sidecar {
        Sidecar::for_state(&self.path)
    }

    /// Keys stay in their 0600 files next to the workspace.
    fn secrets(&self) -> Option<Box<dyn super::SecretStore>> {
        None
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        self.unlock();
    }
}

/// `<state file>.journal.json`.
#[derive(Debug)]
pub struct LocalJournal {
    path: PathBuf,
}

impl LocalJournal {
    pub fn new(path: PathBuf) -> Self {
        LocalJournal { path }
    }

    fn io_err(&self, action: &'static str) -> impl Fn(io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }
}

impl JournalStore for LocalJournal {
    fn name(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Option<Vec<u8>>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_err("read the journal")(e)),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        write_atomic(&self.path, bytes).map_err(self.io_err("write the journal"))
    }

    /// Appended and synced before returning; a failed append is cut back to the
    /// length before it where the file system allows, so no torn bytes stay behind.
    fn append(&mut self, line: &[u8]) -> Result<(), StateError> {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(self.io_err("append to the journal"))?;
        let before = file
            .metadata()
            .map_err(self.io_err("append to the journal"))?
            .len();
        let written = file.write_all(line).and_then(|()| file.sync_data());
        if written.is_err() {
            let _ = file.set_len(before).and_then(|()| file.sync_data());
        }
        written.map_err(self.io_err("append to the journal"))
    }

    /// One write and one sync for all the lines; a failure cuts them all back.
    fn append_many(&mut self, lines: &[Vec<u8>]) -> Result<(), StateError> {
        self.append(&lines.concat())
    }

    fn clear(&mut self) -> Result<(), StateError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io_err("remove the journal")(e)),
            _ => Ok(()),
        }
    }
}

fn modified(path: &Path) -> String {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| {
            time::OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn read_lock_info(lock_path: &Path) -> Option<LockInfo> {
    let text = fs::read_to_string(lock_path).ok()?;
    serde_json::from_str(&text).ok()
}

fn read_info_from(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_lock_info(file: &mut File, info: &LockInfo) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    let mut text = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    text.push(b'\n');
    file.write_all(&text)?;
    file.sync_all()
}

#[cfg(unix)]
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// Removes the lock record of `path` if its id is `id` and no live process holds it.
/// Returns the removed record.
pub fn force_unlock(path: &Path, id: &str) -> Result<LockInfo, StateError> {
    let lock_path = sibling_path(path, LOCK_SUFFIX);
    let mut file = match OpenOptions::new().read(true).write(true).open(&lock_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateError::NoLock {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                action: "open its lock file",
                source,
            });
        }
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StateError::LockHeld {
                path: path.to_path_buf(),
                info: read_lock_info(&lock_path).map(Box::new),
            });
        }
        Err(TryLockError::Error(source)) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                action: "lock",
                source,
            });
        }
    }
    let Some(info) = read_info_from(&mut file) else {
        return Err(StateError::NoLock {
            path: path.to_path_buf(),
        });
    };
    if info.id != id {
        return Err(StateError::LockIdMismatch {
            path: path.to_path_buf(),
            given: id.to_string(),
            info: Box::new(info),
        });
    }
    fs::remove_file(&lock_path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        action: "remove its lock file",
        source,
    })?;
    Ok(info)
}
