//! The `mysql` backend (MySQL 5.7/8.0, MariaDB 10.x): a chain's state as a row keyed by
//! chain id, every version kept in a history table, a `GET_LOCK` session lock on one
//! dedicated connection plus a lock-info row, and the journal as rows of opaque lines.
//!
//! Every write runs on the connection that holds the lock and checks, in the same
//! statement or transaction, that it still does (`IS_USED_LOCK(name) = CONNECTION_ID()`):
//! a connection lost mid-run (and with it the lock) can never write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, TxOpts};

use super::packed_body;
use super::{Expected, JournalStore, SecretStore, StateBackend, StateVersion};
use crate::plan::sha256_hex;
use crate::secret::Secret;
use crate::state::custody::Custody;
use crate::state::model::State;
use crate::state::sidecar::Sidecar;
use crate::state::store::{LockInfo, StateError, now_rfc3339, parse_state};

/// The version of the tables below; a newer one in the database asks to upgrade.
/// 2: state bodies are stored gzip-compressed (see `packed_body`); 1's plain JSON
/// rows still read, and a database at 1 is raised to 2 on first use.
pub const SCHEMA_VERSION: u32 = 2;

/// How long one statement may go unanswered (a server whose disk is full waits forever).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest single `GET_LOCK` wait, well inside [`STATEMENT_TIMEOUT`].
const LOCK_ROUND: Duration = Duration::from_secs(30);

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tarsform_schema (
        id TINYINT NOT NULL PRIMARY KEY,
        version INT UNSIGNED NOT NULL
    ) ENGINE=InnoDB",
    "INSERT IGNORE INTO tarsform_schema (id, version) VALUES (1, 2)",
    "CREATE TABLE IF NOT EXISTS tarsform_state (
        chain_id VARBINARY(255) NOT NULL PRIMARY KEY,
        lineage VARBINARY(64) NOT NULL,
        serial BIGINT UNSIGNED NOT NULL,
        body LONGBLOB NOT NULL,
        updated_at VARCHAR(40) NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS tarsform_state_history (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        chain_id VARBINARY(255) NOT NULL,
        lineage VARBINARY(64) NOT NULL,
        serial BIGINT UNSIGNED NOT NULL,
        body LONGBLOB NOT NULL,
        written_at VARCHAR(40) NOT NULL,
        written_by VARCHAR(255) NOT NULL,
        operation VARCHAR(64) NOT NULL,
        UNIQUE KEY version (chain_id, lineage, serial)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS tarsform_lock (
        chain_id VARBINARY(255) NOT NULL PRIMARY KEY,
        lock_id VARCHAR(64) NOT NULL,
        who VARCHAR(255) NOT NULL,
        pid INT UNSIGNED NOT NULL,
        operation VARCHAR(64) NOT NULL,
        created VARCHAR(40) NOT NULL,
        connection_id BIGINT UNSIGNED NOT NULL
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS tarsform_journal (
        seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        chain_id VARBINARY(255) NOT NULL,
        line LONGBLOB NOT NULL,
        KEY chain (chain_id, seq)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS tarsform_secret (
        chain_id VARBINARY(255) NOT NULL,
        name VARBINARY(255) NOT NULL,
        sealed LONGBLOB NOT NULL,
        updated_at VARCHAR(40) NOT NULL,
        PRIMARY KEY (chain_id, name)
    ) ENGINE=InnoDB",
];

/// Where a chain's state lives in MySQL: a `mysql://user@host:port/db` URL (never with
/// a password), the chain id, and the password from the environment or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlTarget {
    url: String,
    chain_id: String,
    password: Option<Secret>,
    name: PathBuf,
    custody: Option<Arc<Custody>>,
}

impl MysqlTarget {
    /// Checks the URL: `mysql://`, a database name, no password in it.
    pub fn new(url: &str, chain_id: &str, password: Option<Secret>) -> Result<Self, String> {
        let url = url.trim();
        if !url.starts_with("mysql://") {
            return Err(format!(
                "backend url `{}` must start with `mysql://`, e.g. `mysql://tarsform@127.0.0.1:3306/tarsform`",
                redact_url(url)
            ));
        }
        let opts = Opts::from_url(url)
            .map_err(|e| format!("backend url `{}` is not a MySQL URL: {e}", redact_url(url)))?;
        if opts.get_pass().is_some() {
            return Err(format!(
                "backend url `{}` holds a password; remove it and set TARSFORM_BACKEND_PASSWORD (or `password_file`) instead",
                redact_url(url)
            ));
        }
        if opts.get_db_name().is_none_or(str::is_empty) {
            return Err(format!(
                "backend url `{url}` names no database; add one, e.g. `mysql://tarsform@127.0.0.1:3306/tarsform`"
            ));
        }
        let base = url.split('?').next().unwrap_or(url);
        Ok(MysqlTarget {
            url: url.to_string(),
            chain_id: chain_id.to_string(),
            password,
            name: PathBuf::from(format!("{base}#{chain_id}")),
            custody: None,
        })
    }

    /// The age key that seals the undo sidecar and keys in custody.
    pub fn with_custody(mut self, custody: Option<Custody>) -> Self {
        self.custody = custody.map(Arc::new);
        self
    }

    pub fn custody(&self) -> Option<&Arc<Custody>> {
        self.custody.as_ref()
    }

    /// `mysql://user@host:port/db#chain_id`, for messages.
    pub fn name(&self) -> &Path {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    fn opts(&self) -> Opts {
        let opts = Opts::from_url(&self.url).expect("checked in MysqlTarget::new");
        OptsBuilder::from_opts(opts)
            .pass(self.password.as_ref().map(|p| p.expose().to_string()))
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .read_timeout(Some(STATEMENT_TIMEOUT))
            .write_timeout(Some(STATEMENT_TIMEOUT))
            .tcp_keepalive_time_ms(Some(10_000))
            .into()
    }
}

/// `scheme://user:***@host…` — never prints a password that was put in a URL.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{}", &rest[authority_end..])
        }
        _ => url.to_string(),
    }
}

/// One chain's state in a MySQL database, over one dedicated connection.
#[derive(Debug)]
pub struct MysqlBackend {
    session: Session,
    held: Option<LockInfo>,
    custody: Option<Arc<Custody>>,
}

/// The one pinned connection of a command, shared by the state, its journal and its
/// sealed secrets: the `GET_LOCK` taken on it fences every write.
#[derive(Debug, Clone)]
struct Session {
    name: PathBuf,
    chain_id: String,
    lock_name: String,
    conn: Arc<Mutex<Conn>>,
}

impl Session {
    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn err(&self, action: &'static str) -> impl Fn(mysql::Error) -> StateError + '_ {
        move |e| backend_err(&self.name, action, e)
    }

    fn lock_lost(&self) -> StateError {
        StateError::LockLost {
            path: self.name.clone(),
        }
    }

    /// Runs `write` in a transaction that first checks this connection holds the lock.
    fn fenced(
        &self,
        action: &'static str,
        write: impl FnOnce(&mut mysql::Transaction<'_>) -> Result<(), mysql::Error>,
    ) -> Result<(), StateError> {
        let mut conn = self.conn();
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .map_err(self.err(action))?;
        let fenced: Option<Option<i64>> = tx
            .exec_first("SELECT IS_USED_LOCK(?) = CONNECTION_ID()", (&self.lock_name,))
            .map_err(self.err(action))?;
        if fenced.flatten() != Some(1) {
            return Err(self.lock_lost());
        }
        write(&mut tx).map_err(self.err(action))?;
        tx.commit().map_err(self.err(action))
    }

    /// The state in a stored body (compressed or, from schema 1, plain JSON).
    fn parse_body(&self, stored: &[u8]) -> Result<State, StateError> {
        let json = packed_body::unpack(stored).map_err(|message| StateError::Backend {
            path: self.name.clone(),
            action: "read the state",
            message,
        })?;
        parse_state(&self.name, &json)
    }

    /// A copy of this session under another name (errors name the journal, not the state).
    fn named(&self, name: PathBuf) -> Session {
        Session { name, ..self.clone() }
    }
}

impl MysqlBackend {
    /// Connects and creates the tables on first use.
    pub fn connect(target: &MysqlTarget) -> Result<MysqlBackend, StateError> {
        let name = target.name.clone();
        let fail = |action| {
            let name = name.clone();
            move |e: mysql::Error| backend_err(&name, action, e)
        };
        let mut conn = Conn::new(target.opts()).map_err(fail("connect to the database"))?;
        for statement in SCHEMA {
            conn.query_drop(*statement).map_err(fail("create its tables"))?;
        }
        let version: Option<u32> = conn
            .query_first("SELECT version FROM tarsform_schema WHERE id = 1")
            .map_err(fail("read the schema version"))?;
        if let Some(found) = version.filter(|v| *v > SCHEMA_VERSION) {
            return Err(StateError::Backend {
                path: name,
                action: "use its tables",
                message: format!(
                    "the database has tarsform schema version {found}, this tarsform knows up to {SCHEMA_VERSION}; upgrade tarsform"
                ),
            });
        }
        conn.exec_drop(
            "UPDATE tarsform_schema SET version = ? WHERE id = 1 AND version < ?",
            (SCHEMA_VERSION, SCHEMA_VERSION),
        )
        .map_err(fail("raise the schema version"))?;
        let database: Option<String> = conn
            .query_first("SELECT DATABASE()")
            .map_err(fail("read the database name"))?;
        let lock_name = format!(
            "tarsform:{}",
            &sha256_hex(format!("{}/{}", database.unwrap_or_default(), target.chain_id).as_bytes())[..40]
        );
        Ok(MysqlBackend {
            session: Session {
                name,
                chain_id: target.chain_id.clone(),
                lock_name,
                conn: Arc::new(Mutex::new(conn)),
            },
            held: None,
            custody: target.custody.clone(),
        })
    }

    fn lock_row(&self, conn: &mut Conn) -> Result<Option<(LockInfo, u64)>, StateError> {
        let row: Option<(String, String, u32, String, String, u64)> = conn
            .exec_first(
                "SELECT lock_id, who, pid, operation, created, connection_id FROM tarsform_lock WHERE chain_id = ?",
                (&self.session.chain_id,),
            )
            .map_err(self.session.err("read its lock record"))?;
        Ok(row.map(|(id, who, pid, operation, created, connection)| {
            (
                LockInfo {
                    id,
                    who,
                    pid,
                    operation,
                    created,
                },
                connection,
            )
        }))
    }

    /// The connection id of the session holding the lock, if any.
    fn holder(&self, conn: &mut Conn) -> Result<Option<u64>, StateError> {
        let holder: Option<Option<u64>> = conn
            .exec_first("SELECT IS_USED_LOCK(?)", (&self.session.lock_name,))
            .map_err(self.session.err("read its lock"))?;
        Ok(holder.flatten())
    }
}

fn backend_err(name: &Path, action: &'static str, e: mysql::Error) -> StateError {
    StateError::Backend {
        path: name.to_path_buf(),
        action,
        message: e.to_string(),
    }
}

impl StateBackend for MysqlBackend {
    fn name(&self) -> &Path {
        &self.session.name
    }

    /// `GET_LOCK` on this backend's own connection, held until `unlock` or until the
    /// connection closes (a killed process releases it), then the lock-info row.
    fn lock(&mut self, lock: &LockInfo, wait: Duration) -> Result<Option<LockInfo>, StateError> {
        let mut conn = self.session.conn();
        // GET_LOCK in rounds shorter than the statement timeout, so a long --lock-timeout
        // never looks like a server that stopped answering.
        let deadline = Instant::now() + wait;
        let got = loop {
            let round = deadline.saturating_duration_since(Instant::now()).min(LOCK_ROUND);
            let got: Option<Option<i64>> = conn
                .exec_first(
                    "SELECT GET_LOCK(?, ?)",
                    (&self.session.lock_name, round.as_secs_f64()),
                )
                .map_err(self.session.err("take its lock"))?;
            if got.flatten() != Some(0) || Instant::now() >= deadline {
                break got.flatten();
            }
        };
        if got != Some(1) {
            let holder = self.holder(&mut conn)?;
            let info = self
                .lock_row(&mut conn)?
                .filter(|(_, connection)| Some(*connection) == holder)
                .map(|(info, _)| Box::new(info));
            return Err(StateError::Locked {
                path: self.session.name.clone(),
                info,
            });
        }
        let abandoned = self.lock_row(&mut conn)?.map(|(info, _)| info);
        conn.exec_drop(
            "REPLACE INTO tarsform_lock (chain_id, lock_id, who, pid, operation, created, connection_id)
             VALUES (?, ?, ?, ?, ?, ?, CONNECTION_ID())",
            (
                &self.session.chain_id,
                &lock.id,
                &lock.who,
                lock.pid,
                &lock.operation,
                &lock.created,
            ),
        )
        .map_err(self.session.err("write its lock record"))?;
        drop(conn);
        self.held = Some(lock.clone());
        Ok(abandoned)
    }

    fn unlock(&mut self) {
        let Some(lock) = self.held.take() else {
            return;
        };
        let mut conn = self.session.conn();
        let _ = conn.exec_drop(
            "DELETE FROM tarsform_lock WHERE chain_id = ? AND lock_id = ?",
            (&self.session.chain_id, &lock.id),
        );
        let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (&self.session.lock_name,));
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        let body: Option<Vec<u8>> = self
            .session
            .conn()
            .exec_first(
                "SELECT body FROM tarsform_state WHERE chain_id = ?",
                (&self.session.chain_id,),
            )
            .map_err(self.session.err("read the state"))?;
        body.map(|b| self.session.parse_body(&b)).transpose()
    }

    /// One transaction: the row is read `FOR UPDATE`, compared with `expected`, the
    /// lock checked, then the row and a history entry written.
    fn save(&mut self, expected: Expected<'_>, state: &State, bytes: &[u8]) -> Result<(), StateError> {
        let (written_by, operation) = self
            .held
            .as_ref()
            .map(|l| (l.who.clone(), l.operation.clone()))
            .unwrap_or_default();
        let body = packed_body::pack(bytes);
        let mut conn = self.session.conn();
        let result = (|| -> Result<Result<(), StateError>, mysql::Error> {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let stored: Option<(String, u64)> = tx.exec_first(
                "SELECT lineage, serial FROM tarsform_state WHERE chain_id = ? FOR UPDATE",
                (&self.session.chain_id,),
            )?;
            let fenced: Option<Option<i64>> = tx.exec_first(
                "SELECT IS_USED_LOCK(?) = CONNECTION_ID()",
                (&self.session.lock_name,),
            )?;
            if fenced.flatten() != Some(1) {
                return Ok(Err(StateError::LockLost {
                    path: self.session.name.clone(),
                }));
            }
            match stored {
                Some((lineage, _)) if lineage != expected.lineage => {
                    return Ok(Err(StateError::LineageMismatch {
                        path: self.session.name.clone(),
                        on_disk: lineage,
                        ours: expected.lineage.to_string(),
                    }));
                }
                Some((_, serial)) if serial > expected.serial => {
                    return Ok(Err(StateError::Stale {
                        path: self.session.name.clone(),
                        on_disk: serial,
                        ours: expected.serial,
                    }));
                }
                _ => {}
            }
            let now = now_rfc3339();
            tx.exec_drop(
                "INSERT INTO tarsform_state (chain_id, lineage, serial, body, updated_at) VALUES (?, ?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE lineage = VALUES(lineage), serial = VALUES(serial),
                 body = VALUES(body), updated_at = VALUES(updated_at)",
                (&self.session.chain_id, &state.lineage, state.serial, &body, &now),
            )?;
            tx.exec_drop(
                "INSERT INTO tarsform_state_history (chain_id, lineage, serial, body, written_at, written_by, operation)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                (&self.session.chain_id, &state.lineage, state.serial, &body, &now, &written_by, &operation),
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })();
        drop(conn);
        match result {
            Ok(outcome) => outcome,
            Err(e) => Err(StateError::Backend {
                path: self.session.name.clone(),
                action: "save the state",
                message: format!("{e}; the database keeps the previous state"),
            }),
        }
    }

    fn history(&self) -> Result<Vec<StateVersion>, StateError> {
        let rows: Vec<(u64, String, String, String, String)> = self
            .session
            .conn()
            .exec(
                "SELECT serial, lineage, written_at, written_by, operation FROM tarsform_state_history
                 WHERE chain_id = ? ORDER BY id",
                (&self.session.chain_id,),
            )
            .map_err(self.session.err("read the state history"))?;
        Ok(rows
            .into_iter()
            .map(
                |(serial, lineage, written_at, written_by, operation)| StateVersion {
                    serial,
                    lineage,
                    written_at,
                    written_by,
                    operation,
                },
            )
            .collect())
    }

    fn version(&self, serial: u64) -> Result<Option<State>, StateError> {
        let body: Option<Vec<u8>> = self
            .session
            .conn()
            .exec_first(
                "SELECT body FROM tarsform_state_history WHERE chain_id = ? AND serial = ? ORDER BY id DESC LIMIT 1",
                (&self.session.chain_id, serial),
            )
            .map_err(self.session.err("read the state history"))?;
        body.map(|b| self.session.parse_body(&b)).transpose()
    }

    /// Removes the lock-info row when no live session holds the lock.
    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, StateError> {
        let mut conn = self.session.conn();
        let row = self.lock_row(&mut conn)?;
        if let Some(holder) = self.holder(&mut conn)? {
            let info = row.filter(|(_, c)| *c == holder).map(|(info, _)| Box::new(info));
            return Err(StateError::LockHeld {
                path: self.session.name.clone(),
                info,
            });
        }
        let Some((info, _)) = row else {
            return Err(StateError::NoLock {
                path: self.session.name.clone(),
            });
        };
        if info.id != id {
            return Err(StateError::LockIdMismatch {
                path: self.session.name.clone(),
                given: id.to_string(),
                info: Box::new(info),
            });
        }
        conn.exec_drop(
            "DELETE FROM tarsform_lock WHERE chain_id = ? AND lock_id = ?",
            (&self.session.chain_id, id),
        )
        .map_err(self.session.err("remove its lock record"))?;
        Ok(info)
    }

    fn journal(&self) -> Result<Box<dyn JournalStore>, StateError> {
        Ok(Box::new(MysqlJournal {
            session: self
                .session
                .named(PathBuf::from(format!("{} journal", self.session.name.display()))),
        }))
    }

    /// One sealed row in `tarsform_secret`, written on the lock's connection.
    fn sidecar(&self) -> Sidecar {
        Sidecar::in_backend(Box::new(self.secret_store()), self.custody.clone())
    }

    fn secrets(&self) -> Option<Box<dyn SecretStore>> {
        Some(Box::new(self.secret_store()))
    }
}

impl MysqlBackend {
    /// The chain's sealed secrets (`tarsform_secret`), on this backend's connection.
    pub fn secret_store(&self) -> MysqlSecrets {
        MysqlSecrets {
            session: self.session.clone(),
        }
    }
}

/// Sealed blobs (`age` files) keyed by chain id and name; writes are fenced by the lock.
#[derive(Debug)]
pub struct MysqlSecrets {
    session: Session,
}

impl SecretStore for MysqlSecrets {
    fn name(&self) -> &Path {
        &self.session.name
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.session
            .conn()
            .exec_first(
                "SELECT sealed FROM tarsform_secret WHERE chain_id = ? AND name = ?",
                (&self.session.chain_id, name),
            )
            .map_err(self.session.err("read a sealed secret"))
    }

    fn put(&mut self, name: &str, sealed: &[u8]) -> Result<(), StateError> {
        self.session.fenced("write a sealed secret", |tx| {
            tx.exec_drop(
                "REPLACE INTO tarsform_secret (chain_id, name, sealed, updated_at) VALUES (?, ?, ?, ?)",
                (&self.session.chain_id, name, sealed, now_rfc3339()),
            )
        })
    }

    fn remove(&mut self, name: &str) -> Result<(), StateError> {
        self.session.fenced("remove a sealed secret", |tx| {
            tx.exec_drop(
                "DELETE FROM tarsform_secret WHERE chain_id = ? AND name = ?",
                (&self.session.chain_id, name),
            )
        })
    }

    fn names(&self) -> Result<Vec<String>, StateError> {
        self.session
            .conn()
            .exec(
                "SELECT name FROM tarsform_secret WHERE chain_id = ? ORDER BY name",
                (&self.session.chain_id,),
            )
            .map_err(self.session.err("list the sealed secrets"))
    }
}

impl Drop for MysqlBackend {
    fn drop(&mut self) {
        self.unlock();
    }
}

/// The journal as rows of opaque lines, written on the lock's connection.
#[derive(Debug)]
pub struct MysqlJournal {
    session: Session,
}

impl JournalStore for MysqlJournal {
    fn name(&self) -> &Path {
        &self.session.name
    }

    fn read(&self) -> Result<Option<Vec<u8>>, StateError> {
        let lines: Vec<Vec<u8>> = self
            .session
            .conn()
            .exec(
                "SELECT line FROM tarsform_journal WHERE chain_id = ? ORDER BY seq",
                (&self.session.chain_id,),
            )
            .map_err(self.session.err("read the journal"))?;
        Ok((!lines.is_empty()).then(|| lines.concat()))
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.session.fenced("write the journal", |tx| {
            tx.exec_drop(
                "DELETE FROM tarsform_journal WHERE chain_id = ?",
                (&self.session.chain_id,),
            )?;
            tx.exec_drop(
                "INSERT INTO tarsform_journal (chain_id, line) VALUES (?, ?)",
                (&self.session.chain_id, bytes),
            )
        })
    }

    /// One fenced insert: a connection that lost the lock inserts nothing.
    fn append(&mut self, line: &[u8]) -> Result<(), StateError> {
        let mut conn = self.session.conn();
        conn.exec_drop(
            "INSERT INTO tarsform_journal (chain_id, line)
             SELECT ?, ? FROM DUAL WHERE IS_USED_LOCK(?) = CONNECTION_ID()",
            (&self.session.chain_id, line, &self.session.lock_name),
        )
        .map_err(self.session.err("append to the journal"))?;
        if conn.affected_rows() == 1 {
            Ok(())
        } else {
            Err(self.session.lock_lost())
        }
    }

    /// One fenced statement for all the lines: all inserted, in order, or none.
    fn append_many(&mut self, lines: &[Vec<u8>]) -> Result<(), StateError> {
        if lines.len() <= 1 {
            return lines.iter().try_for_each(|line| self.append(line));
        }
        let rows = (0..lines.len())
            .map(|n| format!("SELECT {n} AS n, ? AS c, ? AS l"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let query = format!(
            "INSERT INTO tarsform_journal (chain_id, line)
             SELECT c, l FROM ({rows}) AS batch WHERE IS_USED_LOCK(?) = CONNECTION_ID() ORDER BY n"
        );
        let mut params: Vec<mysql::Value> = Vec::with_capacity(lines.len() * 2 + 1);
        for line in lines {
            params.push(self.session.chain_id.as_str().into());
            params.push(line.as_slice().into());
        }
        params.push(self.session.lock_name.as_str().into());
        let mut conn = self.session.conn();
        conn.exec_drop(query, params)
            .map_err(self.session.err("append to the journal"))?;
        if conn.affected_rows() == lines.len() as u64 {
            Ok(())
        } else {
            Err(self.session.lock_lost())
        }
    }

    fn clear(&mut self) -> Result<(), StateError> {
        self.session.fenced("remove the journal", |tx| {
            tx.exec_drop(
                "DELETE FROM tarsform_journal WHERE chain_id = ?",
                (&self.session.chain_id,),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_must_be_mysql_name_a_database_and_hold_no_password() {
        let ok = MysqlTarget::new("mysql://tf@127.0.0.1:3306/tarsform", "chain0", None).unwrap();
        assert_eq!(ok.name(), Path::new("mysql://tf@127.0.0.1:3306/tarsform#chain0"));
        let err = MysqlTarget::new("mysql://tf:hunter2@127.0.0.1/tarsform", "c", None).unwrap_err();
        assert!(
            err.contains("TARSFORM_BACKEND_PASSWORD") && !err.contains("hunter2"),
            "{err}"
        );
        let err = MysqlTarget::new("postgres://tf:hunter2@h/db", "c", None).unwrap_err();
        assert!(err.contains("mysql://") && !err.contains("hunter2"), "{err}");
        let err = MysqlTarget::new("mysql://tf@127.0.0.1:3306", "c", None).unwrap_err();
        assert!(err.contains("names no database"), "{err}");
    }
}
