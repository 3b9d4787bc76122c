//! Which backend holds the state: `--state PATH` (a local file), else `--backend`
//! (`local` or a `mysql://` URL), else the topology's `[backend]`, else the local
//! `state/<chain_id>.state.json`. The global flags are read once from the command line.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::{BackendSettings, ConfigErrors, Topology};
use crate::secret::Secret;
use crate::state::backend::MysqlTarget;
use crate::state::custody::Custody;
use crate::state::{JournalFile, StateLocation, StateStore, default_state_path};

/// Names the variable holding the database password.
pub const PASSWORD_ENV: &str = "TARSFORM_BACKEND_PASSWORD";
/// Names the variable holding a file with the database password.
pub const PASSWORD_FILE_ENV: &str = "TARSFORM_BACKEND_PASSWORD_FILE";

/// Names the variables holding the age key for secrets kept in the backend.
pub const IDENTITY_ENV: &str = "TARSFORM_AGE_IDENTITY";
pub const IDENTITY_FILE_ENV: &str = "TARSFORM_AGE_IDENTITY_FILE";
pub const PASSPHRASE_ENV: &str = "TARSFORM_AGE_PASSPHRASE";

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
    location_with(state_arg, topology, || crate::config::load_backend(config))
}

/// As [`location`], with the topology file's `[backend]` from `backend` (called only
/// when needed).
pub fn location_with(
    state_arg: Option<&Path>,
    topology: &Topology,
    backend: impl FnOnce() -> Result<BackendSettings, ConfigErrors>,
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
    let settings = backend()?;
    let url = match flag.as_deref().map(str::trim) {
        Some("local") => None,
        Some(url) => Some(url.to_string()),
        None => settings.mysql_url.clone(),
    };
    match url {
        None => Ok(StateLocation::Local(default_state_path(chain_id))),
        Some(url) => Ok(StateLocation::Mysql(
            mysql_target(&url, chain_id, settings.password_file.as_deref())?
                .with_custody(custody(settings.identity_file.as_deref())?),
        )),
    }
}

/// A `mysql://` location for `chain_id`, with the password from the environment or a file.
pub fn mysql_target(url: &str, chain_id: &str, password_file: Option<&Path>) -> anyhow::Result<MysqlTarget> {
    let password = password(password_file)?;
    MysqlTarget::new(url, chain_id, password).map_err(anyhow::Error::msg)
}

/// The age key for secrets in the backend: `TARSFORM_AGE_IDENTITY` (the identity
/// itself), else the file named by `TARSFORM_AGE_IDENTITY_FILE` or `[backend]
/// identity_file`, else `TARSFORM_AGE_PASSPHRASE`, else none.
pub fn custody(identity_file: Option<&Path>) -> anyhow::Result<Option<Custody>> {
    if let Ok(text) = std::env::var(IDENTITY_ENV)
        && !text.trim().is_empty()
    {
        return Custody::from_identity_text(&text)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("{IDENTITY_ENV}: {why}"));
    }
    let file = std::env::var_os(IDENTITY_FILE_ENV)
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .or_else(|| identity_file.map(Path::to_path_buf));
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "reading the age identity file `{}`\nhint: set `identity_file` (or {IDENTITY_FILE_ENV}) to a readable file made by `age-keygen`",
                file.display()
            )
        })?;
        return Custody::from_identity_text(&text)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("age identity file `{}`: {why}", file.display()));
    }
    match std::env::var(PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => Custody::from_passphrase(&p)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("{PASSPHRASE_ENV}: {why}")),
        _ => Ok(None),
    }
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

/// With `[backend] store_keys = true`: fetches the chain's keys from the backend for
/// this command (removed when it ends); otherwise nothing.
pub fn keys_on_runner(
    config: &Path,
    location: &StateLocation,
    store: &StateStore,
    topology: &Topology,
) -> anyhow::Result<super::key_custody::KeysOnRunner> {
    use super::key_custody::KeysOnRunner;
    if !crate::config::load_backend(config)?.store_keys {
        return Ok(KeysOnRunner::off());
    }
    let custody = match location {
        StateLocation::Mysql(target) => target.custody().cloned(),
        StateLocation::Local(_) => return Ok(KeysOnRunner::off()),
    };
    KeysOnRunner::fetch(store, custody, topology, Path::new(super::inputs::GENERATED_ROOT))
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
