//! Which backend holds the state: `--state PATH` (a local file), else `--backend`
//! (`local` or a `mysql://` URL), else the topology's `[backend]`, else the local
//! `state/<chain_id>.state.json`. The global flags are read once from the command line.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Topology;
use crate::secret::Secret;
use crate::state::backend::MysqlTarget;
use crate::state::{JournalFile, StateLocation, StateStore, default_state_path};

/// Names the variable holding the database password.
pub const PASSWORD_ENV: &str = "TARSFORM_BACKEND_PASSWORD";
/// Names the variable holding a file with the database password.
pub const PASSWORD_FILE_ENV: &str = "TARSFORM_BACKEND_PASSWORD_FILE";

/// `--backend` and `--lock-timeout`, valid for every command.
#[derive(Debug, Clone, Default)]
pub struct BackendFlags {
    pub backend: Option<String>,
    pub lock_timeout: Duration,
}

static FLAGS: OnceLock<BackendFlags> = OnceLock::new();

/// Records the global flags; called once by `main`.
pub fn set_flags(flags: BackendFlags) {
    let _ = FLAGS.set(flags);
}

fn flags() -> BackendFlags {
    FLAGS.get().cloned().unwrap_or_default()
}

/// How long to wait for another run's lock (`--lock-timeout`, default 0: fail at once).
pub fn lock_timeout() -> Duration {
    flags().lock_timeout
}

/// Where the state of `topology`'s chain lives for this command; `config` is the
/// topology file, read again for its `[backend]`.
pub fn location(
    state_arg: Option<&Path>,
    config: &Path,
    topology: &Topology,
) -> anyhow::Result<StateLocation> {
    let chain_id = &topology.chain.chain_id;
    let flag = flags().backend.filter(|b| !b.trim().is_empty());
    if let Some(path) = state_arg {
        if flag.as_deref().is_some_and(|b| b.trim() != "local") {
            bail!(
                "--state PATH names a local state file; it cannot be combined with --backend mysql://…\nhint: drop one of them"
            );
        }
        return Ok(StateLocation::Local(path.to_path_buf()));
    }
    let settings = crate::config::load_backend(config)?;
    let url = match flag.as_deref().map(str::trim) {
        Some("local") => None,
        Some(url) => Some(url.to_string()),
        None => settings.mysql_url.clone(),
    };
    match url {
        None => Ok(StateLocation::Local(default_state_path(chain_id))),
        Some(url) => Ok(StateLocation::Mysql(mysql_target(
            &url,
            chain_id,
            settings.password_file.as_deref(),
        )?)),
    }
}

/// A `mysql://` location for `chain_id`, with the password from the environment or a file.
pub fn mysql_target(url: &str, chain_id: &str, password_file: Option<&Path>) -> anyhow::Result<MysqlTarget> {
    let password = password(password_file)?;
    MysqlTarget::new(url, chain_id, password).map_err(anyhow::Error::msg)
}

/// `TARSFORM_BACKEND_PASSWORD`, else the file named by `TARSFORM_BACKEND_PASSWORD_FILE`
/// or `[backend] password_file` (first line, trimmed), else none.
fn password(password_file: Option<&Path>) -> anyhow::Result<Option<Secret>> {
    if let Ok(value) = std::env::var(PASSWORD_ENV)
        && !value.is_empty()
    {
        return Ok(Some(Secret::new(value)));
    }
    let file = std::env::var_os(PASSWORD_FILE_ENV)
        .map(PathBuf::from)
        .or_else(|| password_file.map(Path::to_path_buf));
    let Some(file) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading the backend password file `{}`\nhint: set `password_file` (or {PASSWORD_FILE_ENV}) to a readable file, or set {PASSWORD_ENV}",
            file.display()
        )
    })?;
    Ok(Some(Secret::new(text.lines().next().unwrap_or_default().trim())))
}

/// Opens the state at `location` under its lock, waiting `--lock-timeout`.
pub fn open_store(location: &StateLocation, operation: &str) -> anyhow::Result<StateStore> {
    let store = StateStore::open_at(location, operation, lock_timeout()).map_err(anyhow::Error::new)?;
    if let Some(old) = store.abandoned_lock() {
        eprintln!(
            "note: took over the lock left by a killed run ({} by {}, pid {}, {} since {}); its stale lock record is cleared",
            old.id, old.who, old.pid, old.operation, old.created
        );
    }
    Ok(store)
}

/// Warns on stderr when an unfinished run left its journal in the backend.
pub fn warn_on_journal(location: &StateLocation) {
    let found = location.open().and_then(|b| b.journal()).and_then(|store| {
        let name = store.name().display().to_string();
        Ok(JournalFile::load(store)?.map(|journal| (name, journal)))
    });
    match found {
        Ok(None) => {}
        Ok(Some((name, journal))) => eprintln!(
            "warning: an interrupted {} (run {}, started {}) left {name}; the plan may not match Tars.\n  hint: run `tarsform rollback` to undo it, or `tarsform apply` to finish it",
            journal.operation, journal.run_id, journal.started
        ),
        Err(err) => eprintln!("warning: {err}"),
    }
}
