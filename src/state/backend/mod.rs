//! Where the state lives (DESIGN.md §5): the [`StateBackend`] trait and its two
//! implementations, a local file ([`local`]) and a shared MySQL/MariaDB database
//! ([`mysql`]). The model and its encoding stay in `model.rs`/`store.rs`; the journal's
//! framing stays in `journal.rs` and reaches storage as opaque bytes ([`JournalStore`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::State;
use super::sidecar::Sidecar;
use super::store::{LockInfo, StateError};

pub mod local;
pub mod mysql;
mod packed_body;

pub use local::LocalBackend;
pub use mysql::{MysqlBackend, MysqlTarget};

/// The stored version a save replaces: a compare-and-swap on lineage and serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    pub lineage: &'a str,
    /// The serial the caller read (0 when there was no state yet).
    pub serial: u64,
}

/// One kept version of the state, for `state history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion {
    pub serial: u64,
    pub lineage: String,
    /// RFC 3339, UTC; empty when unknown.
    pub written_at: String,
    /// `user@host`; empty when unknown.
    pub written_by: String,
    /// The command that wrote it; empty when unknown.
    pub operation: String,
}

/// Storage for one chain's state, its lock, its history and its journal.
pub trait StateBackend: Send + fmt::Debug {
    /// Names the state in messages: a file path, or the database and chain id.
    fn name(&self) -> &Path;

    /// Takes the lock for this command, waiting up to `wait` for another holder.
    /// Returns the lock record of a holder that died without releasing it.
    fn lock(&mut self, lock: &LockInfo, wait: Duration) -> Result<Option<LockInfo>, StateError>;

    /// Releases the lock if held (dropping the backend releases it too).
    fn unlock(&mut self);

    /// The current state, or `None` when there is none yet.
    fn load(&self) -> Result<Option<State>, StateError>;

    /// Writes `state` (already stamped with its new serial; `bytes` is its encoding)
    /// only if the stored state is still `expected`: a lost race is an error, never
    /// an overwrite.
    fn save(&mut self, expected: Expected<'_>, state: &State, bytes: &[u8]) -> Result<(), StateError>;

    /// The kept versions, oldest first.
    fn history(&self) -> Result<Vec<StateVersion>, StateError>;

    /// One kept version by serial.
    fn version(&self, serial: u64) -> Result<Option<State>, StateError>;

    /// Removes a dead holder's lock record if its id is `id`.
    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, StateError>;

    /// Where this state's apply journal is kept.
    fn journal(&self) -> Result<Box<dyn JournalStore>, StateError>;

    /// Where this state's undo sidecar is kept (secret old contents for rollback).
    fn sidecar(&self) -> Sidecar;

    /// Sealed secrets kept with a shared state (`None` for the local file).
    fn secrets(&self) -> Option<Box<dyn SecretStore>>;
}

/// Named sealed blobs kept with a shared state (the undo sidecar, keys in custody).
/// The bytes are already encrypted; the store never sees plain secrets.
pub trait SecretStore: Send + fmt::Debug {
    /// Names the store in messages.
    fn name(&self) -> &Path;
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Writes durably before returning.
    fn put(&mut self, name: &str, sealed: &[u8]) -> Result<(), StateError>;
    /// Deletes (absent is fine).
    fn remove(&mut self, name: &str) -> Result<(), StateError>;
    /// Every name kept, sorted.
    fn names(&self) -> Result<Vec<String>, StateError>;
}

/// Opaque storage for the journal: `journal.rs` frames and parses the bytes.
pub trait JournalStore: Send + fmt::Debug {
    /// Names the journal in messages.
    fn name(&self) -> &Path;
    /// Everything written so far, or `None` when there is no journal.
    fn read(&self) -> Result<Option<Vec<u8>>, StateError>;
    /// Replaces the journal with `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), StateError>;
    /// Appends one framed line, durably, before returning.
    fn append(&mut self, line: &[u8]) -> Result<(), StateError>;
    /// Appends several framed lines in order, durably; a store that can writes them
    /// all or none (one write, one sync).
    fn append_many(&mut self, lines: &[Vec<u8>]) -> Result<(), StateError> {
        lines.iter().try_for_each(|line| self.append(line))
    }
    /// Deletes the journal.
    fn clear(&mut self) -> Result<(), StateError>;
}

/// Which backend holds a chain's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    Local(PathBuf),
    Mysql(MysqlTarget),
}

impl StateLocation {
    /// Connects (for MySQL) without taking the lock.
    pub fn open(&self) -> Result<Box<dyn StateBackend>, StateError> {
        Ok(match self {
            StateLocation::Local(path) => Box::new(LocalBackend::new(path)),
            StateLocation::Mysql(target) => Box::new(MysqlBackend::connect(target)?),
        })
    }

    /// The state file, for the local backend.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            StateLocation::Local(path) => Some(path),
            StateLocation::Mysql(_) => None,
        }
    }

    /// The state without locking it (for read-only commands).
    pub fn read(&self) -> Result<Option<State>, StateError> {
        self.open()?.load()
    }
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Local(path) => write!(f, "{}", path.display()),
            StateLocation::Mysql(target) => write!(f, "{}", target.name().display()),
        }
    }
}

/// How long to wait for the lock: `30s`, `5m`, `500ms` or a number of seconds.
pub fn parse_lock_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. `30s`, `5m` or `500ms`"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value.saturating_mul(60))),
        _ => Err(format!(
            "`{text}`: unknown unit `{unit}`; use `ms`, `s` or `m`, e.g. `30s`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_parse_with_units() {
        assert_eq!(parse_lock_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_lock_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_lock_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_lock_timeout("7"), Ok(Duration::from_secs(7)));
        assert!(parse_lock_timeout("1h").unwrap_err().contains("unknown unit `h`"));
        assert!(parse_lock_timeout("soon").unwrap_err().contains("not a duration"));
    }
}
