//! The state store (DESIGN.md §5): a chain's state held under its backend's lock for a
//! command, with compare-and-swap saves; the errors every backend reports; the state's
//! encoding. Where the bytes live is the backend's business (`backend/`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backend::{Expected, JournalStore, LocalBackend, StateBackend, StateLocation};
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
    #[error("state `{}`: cannot {action}: {message}", path.display())]
    Backend {
        path: PathBuf,
        action: &'static str,
        message: String,
    },
    #[error(
        "state `{}`: this run no longer holds the lock (its database connection was lost), so nothing was written\nhint: check the database, then run `tarsform rollback` or `tarsform apply` again",
        path.display()
    )]
    LockLost { path: PathBuf },
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
pub(crate) fn remove_stale_temp_files(path: &Path) {
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

pub(crate) fn dir_of(path: &Path) -> &Path {
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

/// Parses JSON with a `format_version` (read by `version`); `name` names its origin in
/// errors. A newer format is reported as such even when it does not parse.
fn parse_versioned<T: serde::de::DeserializeOwned>(
    name: &Path,
    bytes: &[u8],
    supported: u32,
    version: impl Fn(&T) -> u32,
) -> Result<T, StateError> {
    #[derive(Deserialize)]
    struct Header {
        format_version: u32,
    }
    let corrupt = |source| StateError::Corrupt {
        path: name.to_path_buf(),
        source,
    };
    // Parsed whole once; the header alone only when that fails or names a newer format.
    let parsed = serde_json::from_slice::<T>(bytes);
    if parsed.as_ref().is_ok_and(|value| version(value) <= supported) {
        return parsed.map_err(corrupt);
    }
    let header: Header = serde_json::from_slice(bytes).map_err(corrupt)?;
    if header.format_version > supported {
        return Err(StateError::TooNew {
            path: name.to_path_buf(),
            found: header.format_version,
        });
    }
    parsed.map_err(corrupt)
}

/// Reads a state file without locking it (for read-only commands).
pub fn read_state(path: &Path) -> Result<Option<State>, StateError> {
    match fs::read(path) {
        Ok(bytes) => parse_state(path, &bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        }),
    }
}

/// Parses a stored state; `name` names its origin in errors. A resource whose `kind`
/// is not the kind of its address makes it corrupt.
pub fn parse_state(name: &Path, bytes: &[u8]) -> Result<State, StateError> {
    let state: State = parse_versioned(name, bytes, FORMAT_VERSION, |s: &State| s.format_version)?;
    let mismatch = state
        .resources
        .iter()
        .find(|(address, resource)| address.kind() != resource.kind);
    if let Some((address, resource)) = mismatch {
        return Err(StateError::Corrupt {
            path: name.to_path_buf(),
            source: serde::de::Error::custom(format!(
                "resource `{address}` has kind `{}`, not `{}`",
                resource.kind,
                address.kind()
            )),
        });
    }
    Ok(state)
}

/// A chain's state held under its backend's lock for this value's lifetime.
#[derive(Debug)]
pub struct StateStore {
    backend: Box<dyn StateBackend>,
    lock: LockInfo,
    abandoned: Option<LockInfo>,
}

impl StateStore {
    /// Takes the lock on the local `<path>.lock` or fails at once with
    /// [`StateError::Locked`]. Creates the state's directory when missing.
    pub fn open(path: &Path, operation: &str) -> Result<StateStore, StateError> {
        Self::with_backend(Box::new(LocalBackend::new(path)), operation, Duration::ZERO)
    }

    /// Opens the backend at `location` and takes its lock, waiting up to `wait`.
    pub fn open_at(
        location: &StateLocation,
        operation: &str,
        wait: Duration,
    ) -> Result<StateStore, StateError> {
        Self::with_backend(location.open()?, operation, wait)
    }

    /// Takes `backend`'s lock for `operation`, waiting up to `wait`.
    pub fn with_backend(
        mut backend: Box<dyn StateBackend>,
        operation: &str,
        wait: Duration,
    ) -> Result<StateStore, StateError> {
        let lock = LockInfo::new(operation);
        let abandoned = backend.lock(&lock, wait)?;
        Ok(StateStore {
            backend,
            lock,
            abandoned,
        })
    }

    /// Names the state in messages (the file path for the local backend).
    pub fn path(&self) -> &Path {
        self.backend.name()
    }

    /// This run's lock.
    pub fn lock_info(&self) -> &LockInfo {
        &self.lock
    }

    /// The lock record of a run that ended without releasing it (killed), if any.
    pub fn abandoned_lock(&self) -> Option<&LockInfo> {
        self.abandoned.as_ref()
    }

    /// The backend, for history, journal and force-unlock.
    pub fn backend(&self) -> &dyn StateBackend {
        &*self.backend
    }

    /// Where this state's journal is kept.
    pub fn journal(&self) -> Result<Box<dyn JournalStore>, StateError> {
        self.backend.journal()
    }

    /// Where this state's undo sidecar is kept.
    pub fn sidecar(&self) -> crate::state::Sidecar {
        self.backend.sidecar()
    }

    /// The state, or `None` when there is none yet.
    pub fn load(&self) -> Result<Option<State>, StateError> {
        self.backend.load()
    }

    /// The stored state, or a new empty one for `chain_id` with a fresh lineage.
    pub fn load_or_new(&self, chain_id: &str) -> Result<State, StateError> {
        Ok(self
            .load()?
            .unwrap_or_else(|| State::new(chain_id, uuid::Uuid::new_v4().to_string())))
    }

    /// Increments `serial` and writes the state if the stored one is still the version
    /// it was read as (same lineage, not newer). With the local backend the first save
    /// of this store keeps the previous file as `<file>.backup`, and a write failure
    /// dumps the new state to `<file>.errored.json`, leaving the previous file intact.
    pub fn save(&mut self, state: &mut State) -> Result<(), StateError> {
        let next_serial = self.check_writable(state)?;
        self.write(state, state.serial, next_serial)
    }

    /// Writes `state` as serial `serial` (at least 1): the stored state, if any, must
    /// have its lineage and a smaller serial. Used by `state push` and `state migrate`.
    pub fn save_as(&mut self, state: &mut State, serial: u64) -> Result<(), StateError> {
        self.check_writable(state)?;
        let serial = serial.max(1);
        self.write(state, serial - 1, serial)
    }

    fn write(&mut self, state: &mut State, expected_serial: u64, next_serial: u64) -> Result<(), StateError> {
        let before = (state.serial, state.format_version, state.tool_version.clone());
        let lineage = state.lineage.clone();
        let expected = Expected {
            lineage: &lineage,
            serial: expected_serial,
        };
        state.serial = next_serial;
        state.format_version = FORMAT_VERSION;
        state.tool_version = TOOL_VERSION.to_string();
        let bytes = encode_state(state);
        tracing::debug!(bytes = bytes.len(), serial = next_serial, "state encoded");
        match self.backend.save(expected, state, &bytes) {
            Err(e) if !matches!(e, StateError::WriteFailed { .. }) => {
                (state.serial, state.format_version, state.tool_version) = before;
                Err(e)
            }
            Ok(()) => {
                super::crash_point::after_state_save();
                Ok(())
            }
            done => done,
        }
    }

    /// Refuses private key material and an exhausted serial; returns the next serial.
    fn check_writable(&self, state: &State) -> Result<u64, StateError> {
        if let Err(found) = state.check_no_secrets() {
            let object = found
                .address
                .map(|a| format!("resource `{a}` attribute"))
                .unwrap_or_else(|| "attribute".to_string());
            return Err(StateError::SecretAttribute {
                path: self.path().to_path_buf(),
                object,
                attribute: found.path,
            });
        }
        state.serial.checked_add(1).ok_or(StateError::SerialExhausted {
            path: self.path().to_path_buf(),
            serial: state.serial,
        })
    }
}

impl Drop for StateStore {
    fn drop(&mut self) {
        self.backend.unlock();
    }
}

/// The state as stored: pretty JSON with a final newline.
pub fn encode_state(state: &State) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes to JSON");
    bytes.push(b'\n');
    bytes
}

/// Removes the local lock record of `path` if its id is `id` and no live process holds
/// it. Returns the removed record.
pub fn force_unlock(path: &Path, id: &str) -> Result<LockInfo, StateError> {
    super::backend::local::force_unlock(path, id)
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

        let backend = LocalBackend::new(&path).with_writer(failing_writer);
        let mut store = StateStore::with_backend(Box::new(backend), "t", Duration::ZERO).unwrap();
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
