//! The state store (DESIGN.md §5): the OS lock on `<file>.lock`, loading, and atomic
//! saves with a once-per-run `<file>.backup` and an `<file>.errored.json` dump on failure.
//!
//! I/O only; the model lives in `model.rs`. Every sibling file is the state file's name
//! plus a suffix, next to it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::errored_dump::dump_errored;
use super::model::{FORMAT_VERSION, State, TOOL_VERSION};

/// Suffixes of the files kept next to a state file.
pub const LOCK_SUFFIX: &str = ".lock";
pub const BACKUP_SUFFIX: &str = ".backup";
pub const ERRORED_SUFFIX: &str = ".errored.json";

/// `state/<chain_id>.state.json`, relative to the working directory.
pub fn default_state_path(chain_id: &str) -> PathBuf {
    Path::new("state").join(format!("{chain_id}.state.json"))
}

/// `<file><suffix>` next to `path`, e.g. `state/chain0.state.json.lock`.
pub fn sibling_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Who holds the lock; written as JSON into `<file>.lock` while it is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    pub operation: String,
    /// RFC 3339, UTC.
    pub created: String,
}

impl LockInfo {
    fn new(operation: &str) -> Self {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{}@{}", user_name(), host_name()),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: now_rfc3339(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "  lock id:   {}\n  who:       {}\n  pid:       {}\n  operation: {}\n  created:   {}",
            self.id, self.who, self.pid, self.operation, self.created
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}", locked_message(path, info.as_deref()))]
    Locked {
        path: PathBuf,
        info: Option<Box<LockInfo>>,
    },
    #[error("state `{}`: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error(
        "`{}` is not a valid tarsform file: {source}\nhint: the file was left untouched; repair it by hand or restore it from `{}`",
        path.display(), sibling_path(path, BACKUP_SUFFIX).display()
    )]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "state `{}` has format_version {found}, but this tarsform {TOOL_VERSION} reads up to {FORMAT_VERSION}\nhint: upgrade tarsform to use this state",
        path.display()
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error(
        "state `{}` has lineage {on_disk}, not {ours}: it is a different state\nhint: check --state; never copy one chain's state over another's",
        path.display()
    )]
    LineageMismatch {
        path: PathBuf,
        on_disk: String,
        ours: String,
    },
    #[error(
        "state `{}` was written (serial {on_disk}) after this copy was read (serial {ours})\nhint: run the command again",
        path.display()
    )]
    Stale { path: PathBuf, on_disk: u64, ours: u64 },
    #[error(
        "state `{}` has serial {serial}, the largest possible: it cannot be written again\nhint: the serial was edited by hand; restore `{}` or set a smaller serial",
        path.display(), sibling_path(path, BACKUP_SUFFIX).display()
    )]
    SerialExhausted { path: PathBuf, serial: u64 },
    #[error(
        "refusing to write `{}`: {object} `{attribute}` looks like private key material\nhint: store a digest or a file path instead; private keys stay in their 0600 files",
        path.display()
    )]
    SecretAttribute {
        path: PathBuf,
        object: String,
        attribute: String,
    },
    #[error("{}", write_failed_message(path, errored.as_deref(), source))]
    WriteFailed {
        path: PathBuf,
        errored: Option<PathBuf>,
        source: io::Error,
    },
    #[error("state `{}` has no lock record to remove (`{}` is absent or empty)", path.display(), sibling_path(path, LOCK_SUFFIX).display())]
    NoLock { path: PathBuf },
    #[error(
        "lock `{given}` is not the lock on `{}`; the current lock is:\n{}\nhint: pass the id shown above",
        path.display(), info.describe()
    )]
    LockIdMismatch {
        path: PathBuf,
        given: String,
        info: Box<LockInfo>,
    },
    #[error(
        "`{}` is not a valid journal: {source}\nhint: the file was left untouched; repair it, or remove it once you have checked by hand what that run changed in Tars",
        path.display()
    )]
    CorruptJournal {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "an unfinished {operation} (run {run_id}, started {started}) left its journal `{}`\nhint: run `tarsform rollback` to undo it, or `tarsform apply` to finish it",
        path.display()
    )]
    JournalExists {
        path: PathBuf,
        run_id: String,
        operation: String,
        started: String,
    },
    #[error("{}", held_message(path, info.as_deref()))]
    LockHeld {
        path: PathBuf,
        info: Option<Box<LockInfo>>,
    },
}

fn locked_message(path: &Path, info: Option<&LockInfo>) -> String {
    match info {
        Some(info) => format!(
            "state `{}` is locked by another tarsform run:\n{}\nhint: wait for it to finish; if that process is gone, run `tarsform force-unlock {}`",
            path.display(),
            info.describe(),
            info.id
        ),
        None => format!(
            "state `{}` is locked by another tarsform run (its lock information is not written yet)\nhint: wait for it to finish and try again",
            path.display()
        ),
    }
}

fn held_message(path: &Path, info: Option<&LockInfo>) -> String {
    let who = info.map(|i| format!(":\n{}", i.describe())).unwrap_or_default();
    let pid = info.map(|i| format!(" (pid {})", i.pid)).unwrap_or_default();
    format!(
        "refusing to unlock `{}`: the lock is held by a running process{who}\nhint: wait for it, or stop that process{pid} first; its lock is released when it exits",
        path.display()
    )
}

fn write_failed_message(path: &Path, errored: Option<&Path>, source: &io::Error) -> String {
    let path = path.display();
    match errored {
        Some(dump) => format!(
            "could not write state `{path}`: {source}\n`{path}` still holds the previous state; the new state was saved to `{}`\nhint: inspect `{}` and, once the problem is fixed, move it over `{path}`",
            dump.display(),
            dump.display()
        ),
        None => format!(
            "could not write state `{path}`: {source}\n`{path}` still holds the previous state and the new state could not be saved anywhere\nhint: fix the problem, then run `tarsform refresh` to bring the state up to date"
        ),
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename,
/// fsync the directory. Readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = dir_of(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Removes the temp files a killed writer of this state (or its backup, journal sidecar)
/// left behind. Called with the lock held, so no other writer has one open.
fn remove_stale_temp_files(path: &Path) {
    let prefix = format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy());
    let Ok(entries) = fs::read_dir(dir_of(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The current time as RFC 3339 UTC, for lock infos and journal entries.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string())
}

fn user_name() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Reads a JSON file with a `format_version`; `None` when it does not exist.
pub(crate) fn read_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    supported: u32,
) -> Result<Option<T>, StateError> {
    #[derive(Deserialize)]
    struct Header {
        format_version: u32,
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                action: "read",
                source,
            });
        }
    };
    let corrupt = |source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if header.format_version > supported {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: header.format_version,
        });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

/// Reads a state file without locking it (for read-only commands). A resource whose
/// `kind` is not the kind of its address makes the file corrupt.
pub fn read_state(path: &Path) -> Result<Option<State>, StateError> {
    let state: Option<State> = read_versioned(path, FORMAT_VERSION)?;
    let mismatch = state
        .iter()
        .flat_map(|s| &s.resources)
        .find(|(address, resource)| address.kind() != resource.kind);
    if let Some((address, resource)) = mismatch {
        return Err(StateError::Corrupt {
            path: path.to_path_buf(),
            source: serde::de::Error::custom(format!(
                "resource `{address}` has kind `{}`, not `{}`",
                resource.kind,
                address.kind()
            )),
        });
    }
    Ok(state)
}

type Writer = fn(&Path, &[u8]) -> io::Result<()>;

/// A state file held under its OS lock for this value's lifetime.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    lock_file: File,
    lock: LockInfo,
    abandoned: Option<LockInfo>,
    /// Set once the first save of this run has kept (or had no) previous file.
    backed_up: bool,
    writer: Writer,
}

impl StateStore {
    /// Takes the lock on `<path>.lock` or fails at once with [`StateError::Locked`].
    /// Creates the state's directory when missing.
    pub fn open(path: &Path, operation: &str) -> Result<StateStore, StateError> {
        let io_err = |action, source| StateError::Io {
            path: path.to_path_buf(),
            action,
            source,
        };
        fs::create_dir_all(dir_of(path)).map_err(|e| io_err("create its directory", e))?;
        let lock_path = sibling_path(path, LOCK_SUFFIX);
        // A releasing run removes the lock file; retry if we locked a removed one.
        for _ in 0..5 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| io_err("open its lock file", e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(StateError::Locked {
                        path: path.to_path_buf(),
                        info: read_lock_info(&lock_path).map(Box::new),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_err("lock", e)),
            }
            if !is_same_file(&file, &lock_path) {
                continue;
            }
            let mut file = file;
            let abandoned = read_info_from(&mut file);
            let lock = LockInfo::new(operation);
            write_lock_info(&mut file, &lock).map_err(|e| io_err("write its lock file", e))?;
            remove_stale_temp_files(path);
            return Ok(StateStore {
                path: path.to_path_buf(),
                lock_file: file,
                lock,
                abandoned,
                backed_up: false,
                writer: write_atomic,
            });
        }
        Err(io_err(
            "lock",
            io::Error::other("the lock file kept being replaced"),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This run's lock.
    pub fn lock_info(&self) -> &LockInfo {
        &self.lock
    }

    /// The lock record of a run that ended without releasing it (killed), if any.
    pub fn abandoned_lock(&self) -> Option<&LockInfo> {
        self.abandoned.as_ref()
    }

    /// The state, or `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<State>, StateError> {
        read_state(&self.path)
    }

    /// The state on disk, or a new empty one for `chain_id` with a fresh lineage.
    pub fn load_or_new(&self, chain_id: &str) -> Result<State, StateError> {
        Ok(self
            .load()?
            .unwrap_or_else(|| State::new(chain_id, uuid::Uuid::new_v4().to_string())))
    }

    /// Increments `serial` and writes the state atomically. The first save of this
    /// store keeps the previous file as `<file>.backup`. On a write failure the new
    /// state is dumped to `<file>.errored.json` and the previous file is left intact.
    pub fn save(&mut self, state: &mut State) -> Result<(), StateError> {
        if let Err(found) = state.check_no_secrets() {
            let object = found
                .address
                .map(|a| format!("resource `{a}` attribute"))
                .unwrap_or_else(|| "attribute".to_string());
            return Err(StateError::SecretAttribute {
                path: self.path.clone(),
                object,
                attribute: found.path,
            });
        }
        let next_serial = state.serial.checked_add(1).ok_or(StateError::SerialExhausted {
            path: self.path.clone(),
            serial: state.serial,
        })?;
        let previous = if self.backed_up {
            None
        } else {
            self.check_previous(state)?
        };
        state.serial = next_serial;
        state.format_version = FORMAT_VERSION;
        state.tool_version = TOOL_VERSION.to_string();
        let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes to JSON");
        bytes.push(b'\n');
        let written = match &previous {
            Some(old) => (self.writer)(&sibling_path(&self.path, BACKUP_SUFFIX), old),
            None => Ok(()),
        }
        .and_then(|()| (self.writer)(&self.path, &bytes));
        match written {
            Ok(()) => {
                self.backed_up = true;
                super::crash_point::after_state_save();
                Ok(())
            }
            Err(source) => Err(StateError::WriteFailed {
                path: self.path.clone(),
                errored: dump_errored(&self.path, &bytes),
                source,
            }),
        }
    }

    /// Before the first write: the file on disk must be ours (same lineage, not newer);
    /// returns its bytes for the backup.
    fn check_previous(&self, state: &State) -> Result<Option<Vec<u8>>, StateError> {
        let Some(on_disk) = read_state(&self.path)? else {
            return Ok(None);
        };
        if on_disk.lineage != state.lineage {
            return Err(StateError::LineageMismatch {
                path: self.path.clone(),
                on_disk: on_disk.lineage,
                ours: state.lineage.clone(),
            });
        }
        if on_disk.serial > state.serial {
            return Err(StateError::Stale {
                path: self.path.clone(),
                on_disk: on_disk.serial,
                ours: state.serial,
            });
        }
        fs::read(&self.path).map(Some).map_err(|source| StateError::Io {
            path: self.path.clone(),
            action: "read",
            source,
        })
    }

    #[cfg(test)]
    fn with_writer(mut self, writer: Writer) -> Self {
        self.writer = writer;
        self
    }
}

impl Drop for StateStore {
    /// Removes the lock file while still holding the lock; closing releases it.
    fn drop(&mut self) {
        let _ = fs::remove_file(sibling_path(&self.path, LOCK_SUFFIX));
        let _ = self.lock_file.unlock();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Address, ResourceKind};
    use crate::state::model::ResourceState;

    fn state_with_node() -> State {
        let mut s = State::new("chain0", "lineage-a");
        s.insert(
            Address::node("agencyABcosRpcService", "172.25.0.5"),
            ResourceState::new(ResourceKind::Node).with_attribute("adapter_port", 20001),
        );
        s
    }

    fn path_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("state").join("chain0.state.json")
    }

    #[test]
    fn save_load_round_trip_increments_serial() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut store = StateStore::open(&path, "test").unwrap();
        assert_eq!(store.load().unwrap(), None);
        let mut s = state_with_node();
        store.save(&mut s).unwrap();
        assert_eq!(s.serial, 1);
        store.save(&mut s).unwrap();
        assert_eq!(s.serial, 2);
        assert_eq!(store.load().unwrap().unwrap(), s);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n") && text.contains("\"serial\": 2"), "{text}");
    }

    #[test]
    fn a_kind_that_contradicts_its_address_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = r#"{"format_version":1,"lineage":"l","serial":1,"tool_version":"0.1.0","chain_id":"chain0",
            "resources":{"tarsnode[\"172.25.0.5\"]":{"kind":"node","status":"ready"}}}"#;
        fs::write(&path, text).unwrap();
        let err = read_state(&path).unwrap_err().to_string();
        assert!(err.contains("has kind `node`, not `tarsnode`"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn the_largest_serial_is_refused_not_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut store = StateStore::open(&path, "test").unwrap();
        let mut s = state_with_node();
        s.serial = u64::MAX;
        let err = store.save(&mut s).unwrap_err();
        assert!(
            matches!(err, StateError::SerialExhausted { serial: u64::MAX, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("hint:"));
        assert_eq!(s.serial, u64::MAX);
        assert!(!path.exists());
    }

    #[test]
    fn backup_is_kept_once_per_store_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let backup = sibling_path(&path, BACKUP_SUFFIX);
        let mut s = state_with_node();
        {
            let mut store = StateStore::open(&path, "first run").unwrap();
            store.save(&mut s).unwrap();
            assert!(!backup.exists(), "nothing to back up on the very first write");
            store.save(&mut s).unwrap();
        }
        let mut store = StateStore::open(&path, "second run").unwrap();
        let mut s = store.load().unwrap().unwrap();
        store.save(&mut s).unwrap();
        store.save(&mut s).unwrap();
        let kept = read_state(&backup).unwrap().unwrap();
        assert_eq!(kept.serial, 2, "backup is the state before this run");
        assert_eq!(read_state(&path).unwrap().unwrap().serial, 4);
    }

    fn failing_writer(path: &Path, bytes: &[u8]) -> io::Result<()> {
        if path.to_string_lossy().ends_with(".state.json") {
            Err(io::Error::other("disk full (injected)"))
        } else {
            write_atomic(path, bytes)
        }
    }

    #[test]
    fn failed_save_keeps_previous_state_and_dumps_errored_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut s = state_with_node();
        StateStore::open(&path, "t").unwrap().save(&mut s).unwrap();
        let before = fs::read(&path).unwrap();

        let mut store = StateStore::open(&path, "t").unwrap().with_writer(failing_writer);
        s.remove(&Address::node("agencyABcosRpcService", "172.25.0.5"));
        let err = store.save(&mut s).unwrap_err();
        let message = err.to_string();
        let errored = sibling_path(&path, ERRORED_SUFFIX);
        assert!(message.contains("disk full (injected)"), "{message}");
        assert!(
            message.contains(&format!("move it over `{}`", path.display())),
            "{message}"
        );
        assert!(message.contains(&errored.display().to_string()), "{message}");
        assert_eq!(fs::read(&path).unwrap(), before, "previous state untouched");
        assert_eq!(read_state(&path).unwrap().unwrap().serial, 1);
        let dumped = read_state(&errored).unwrap().unwrap();
        assert_eq!(dumped.serial, 2);
        assert!(dumped.resources.is_empty());
    }

    #[test]
    fn corrupt_file_is_an_error_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "{\"format_version\": 1,\n \"lineage\": }").unwrap();
        let mut store = StateStore::open(&path, "t").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("chain0.state.json") && err.contains("line 2 column"),
            "{err}"
        );
        let mut s = state_with_node();
        assert!(matches!(store.save(&mut s), Err(StateError::Corrupt { .. })));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"format_version\": 1,\n \"lineage\": }"
        );
    }

    #[test]
    fn newer_format_version_asks_to_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut v = serde_json::to_value(state_with_node()).unwrap();
        v["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
        v["new_field"] = serde_json::json!({"x": 1});
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, v.to_string()).unwrap();
        let err = read_state(&path).unwrap_err().to_string();
        assert!(err.contains("upgrade tarsform"), "{err}");
    }

    #[test]
    fn another_lineage_or_newer_serial_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut s = state_with_node();
        StateStore::open(&path, "t").unwrap().save(&mut s).unwrap();
        let mut other = State::new("chain0", "lineage-b");
        let err = StateStore::open(&path, "t")
            .unwrap()
            .save(&mut other)
            .unwrap_err();
        assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
        let mut old = state_with_node();
        let err = StateStore::open(&path, "t").unwrap().save(&mut old).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Stale {
                    on_disk: 1,
                    ours: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn private_key_attributes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let mut store = StateStore::open(&path, "t").unwrap();
        for (name, value) in [
            ("key_pem", "abc"),
            ("private_key", "abc"),
            ("content", "-----BEGIN PRIVATE KEY-----\nMIIEsecret"),
        ] {
            let mut s = state_with_node();
            s.get_mut(&Address::node("agencyABcosRpcService", "172.25.0.5"))
                .unwrap()
                .attributes
                .insert(name.into(), value.into());
            let err = store.save(&mut s).unwrap_err().to_string();
            assert!(err.contains(name) && !err.contains("MIIEsecret"), "{err}");
            assert_eq!(s.serial, 0);
        }
        assert!(!path.exists());
    }

    #[test]
    fn the_lock_holder_removes_temp_files_a_killed_writer_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let state_dir = path.parent().unwrap();
        std::fs::create_dir_all(state_dir).unwrap();
        let stale = state_dir.join(format!(
            ".{}.a1B2c3.tmp",
            path.file_name().unwrap().to_string_lossy()
        ));
        let foreign = state_dir.join(".other.json.a1B2c3.tmp");
        std::fs::write(&stale, "half a state").unwrap();
        std::fs::write(&foreign, "not ours").unwrap();
        let _store = StateStore::open(&path, "apply").unwrap();
        assert!(!stale.exists());
        assert!(foreign.exists(), "only this state's temp files go");
    }

    #[test]
    fn second_open_fails_fast_with_the_lock_info() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let held = StateStore::open(&path, "apply").unwrap();
        let err = StateStore::open(&path, "plan").unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&held.lock_info().id), "{message}");
        assert!(
            message.contains("apply") && message.contains("force-unlock"),
            "{message}"
        );
        drop(held);
        assert!(!sibling_path(&path, LOCK_SUFFIX).exists());
        StateStore::open(&path, "plan").unwrap();
    }

    #[test]
    fn force_unlock_needs_the_right_id_and_a_dead_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir);
        let held = StateStore::open(&path, "apply").unwrap();
        let live_id = held.lock_info().id.clone();
        let err = force_unlock(&path, &live_id).unwrap_err();
        assert!(matches!(err, StateError::LockHeld { .. }), "{err}");
        drop(held);

        // A killed run leaves its lock record behind, but the OS lock died with it.
        let lock_path = sibling_path(&path, LOCK_SUFFIX);
        let killed = LockInfo::new("apply");
        let abandon = || fs::write(&lock_path, serde_json::to_vec(&killed).unwrap()).unwrap();
        abandon();
        let err = force_unlock(&path, "not-the-id").unwrap_err().to_string();
        assert!(err.contains(&killed.id) && err.contains("not-the-id"), "{err}");
        assert!(lock_path.exists());
        assert_eq!(force_unlock(&path, &killed.id).unwrap(), killed);
        assert!(!lock_path.exists());
        assert!(matches!(
            force_unlock(&path, &killed.id),
            Err(StateError::NoLock { .. })
        ));

        abandon();
        let store = StateStore::open(&path, "plan").unwrap();
        assert_eq!(store.abandoned_lock(), Some(&killed));
    }

    #[test]
    fn default_path_and_siblings() {
        assert_eq!(default_state_path("chain0"), Path::new("state/chain0.state.json"));
        assert_eq!(
            sibling_path(Path::new("state/chain0.state.json"), LOCK_SUFFIX),
            Path::new("state/chain0.state.json.lock")
        );
    }
}
