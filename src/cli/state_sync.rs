//! `tarsform state pull | push FILE | history | migrate --to WHERE`: moving whole
//! states in and out of a backend, with the same lineage and serial checks as a save.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::backend;
use super::state::state_location;
use super::{Outcome, StateListArgs, StateMigrateArgs, StatePullArgs, StatePushArgs};
use crate::config::BackendSettings;
use crate::state::backend::StateVersion;
use crate::state::store::{encode_state, parse_state};
use crate::state::{JournalFile, StateLocation, default_state_path};

/// Prints the current state (or `--serial N` from the history) as JSON on stdout.
pub fn pull(args: StatePullArgs) -> anyhow::Result<Outcome> {
    let location = state_location(&args.state, &args.config)?;
    let backend = location.open()?;
    let state = match args.serial {
        Some(serial) => backend.version(serial)?.with_context(|| {
            format!("`{location}` keeps no version with serial {serial}\nhint: `tarsform state history` lists the kept versions")
        })?,
        None => backend
            .load()?
            .with_context(|| format!("no state at `{location}`: nothing has been applied yet"))?,
    };
    std::io::stdout().write_all(&encode_state(&state))?;
    Ok(Outcome::Success)
}

/// Writes a state file into the backend under its lock: same chain, same lineage as
/// the stored state, and not older than it.
pub fn push(args: StatePushArgs) -> anyhow::Result<Outcome> {
    let location = state_location(&args.state, &args.config)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut state = parse_state(&args.file, &bytes)?;
    let mut store = backend::open_store(&location, "state push")?;
    let stored = store.load()?;
    if let Some(current) = &stored {
        if current.chain_id != state.chain_id {
            bail!(
                "`{}` is the state of chain `{}`, but `{location}` holds chain `{}`\nhint: push it to that chain's backend",
                args.file.display(),
                state.chain_id,
                current.chain_id
            );
        }
        if state.serial < current.serial {
            bail!(
                "`{}` has serial {}, but `{location}` is already at serial {}: it was written after this copy was pulled\nhint: `tarsform state pull` again and redo the edit",
                args.file.display(),
                state.serial,
                current.serial
            );
        }
    }
    let current_serial = stored.as_ref().map(|s| s.serial).unwrap_or(0);
    let serial = state.serial.max(current_serial + 1);
    store.save_as(&mut state, serial)?;
    eprintln!(
        "Pushed `{}` to `{location}` as serial {} (lineage {}).",
        args.file.display(),
        state.serial,
        state.lineage
    );
    Ok(Outcome::Success)
}

/// Lists the kept versions, oldest first.
pub fn history(args: StateListArgs) -> anyhow::Result<Outcome> {
    let location = state_location(&args.state, &args.config)?;
    let versions = location.open()?.history()?;
    if versions.is_empty() {
        eprintln!("No state at `{location}`: nothing has been applied yet.");
        return Ok(Outcome::Success);
    }
    print!("{}", history_table(&versions));
    Ok(Outcome::Success)
}

fn history_table(versions: &[StateVersion]) -> String {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<[String; 5]> =
        std::iter::once(["SERIAL", "LINEAGE", "WRITTEN", "BY", "OPERATION"].map(String::from))
            .chain(versions.iter().map(|v| {
                [
                    v.serial.to_string(),
                    v.lineage.clone(),
                    dash(&v.written_at),
                    dash(&v.written_by),
                    dash(&v.operation),
                ]
            }))
            .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

/// Copies the current state to another backend with its lineage and serial, both
/// sides locked. The source is left as it was.
pub fn migrate(args: StateMigrateArgs) -> anyhow::Result<Outcome> {
    let from = state_location(&args.state, &args.config)?;
    let source = backend::open_store(&from, "state migrate")?;
    let mut state = source
        .load()?
        .with_context(|| format!("no state at `{from}`: nothing to migrate"))?;
    let settings = crate::config::load_backend(&args.config.config).unwrap_or_default();
    let to = destination(&args.to, &state.chain_id, &settings)?;
    if to == from {
        bail!("`{to}` is where the state already is\nhint: pass another backend to --to");
    }
    if let Some(journal) = JournalFile::load(source.journal()?)? {
        bail!(
            "an unfinished {} (run {}) left its journal in `{from}`\nhint: finish it first with `tarsform rollback` or `tarsform apply`, then migrate",
            journal.operation,
            journal.run_id
        );
    }
    let mut target = backend::open_store(&to, "state migrate")?;
    if let Some(journal) = JournalFile::load(target.journal()?)? {
        bail!(
            "`{to}` holds the journal of an unfinished {} (run {})\nhint: finish it there first",
            journal.operation,
            journal.run_id
        );
    }
    let serial = state.serial;
    target.save_as(&mut state, serial)?;
    let copied = match (source.backend().secrets(), target.backend().secrets()) {
        (Some(from_secrets), Some(mut to_secrets)) => copy_secrets(&*from_secrets, &mut *to_secrets)?,
        (Some(from_secrets), None) => {
            let names = from_secrets.names()?;
            if !names.is_empty() {
                eprintln!(
                    "warning: `{to}` cannot keep sealed secrets; {} stay in `{from}` (keys in custody: run `tarsform apply` there with the age identity to fetch them, or keep the CA directories)",
                    names.join(", ")
                );
            }
            Vec::new()
        }
        _ => Vec::new(),
    };
    if !copied.is_empty() {
        eprintln!(
            "Copied the sealed secrets ({}) as they are: the same age identity opens them.",
            copied.join(", ")
        );
    }
    drop(target);
    drop(source);
    eprintln!(
        "Migrated the state of chain `{}` (lineage {}, serial {}) from `{from}` to `{to}`; `{from}` was left as it was.",
        state.chain_id, state.lineage, state.serial
    );
    eprintln!(
        "Next: point the topology's `[backend]` (or --backend) at `{}`.",
        args.to
    );
    Ok(Outcome::Success)
}

/// Copies every sealed secret (keys in custody, undo sidecars) byte for byte; returns
/// the names copied.
fn copy_secrets(
    from: &dyn crate::state::backend::SecretStore,
    to: &mut dyn crate::state::backend::SecretStore,
) -> anyhow::Result<Vec<String>> {
    let mut copied = Vec::new();
    for name in from.names()? {
        if let Some(sealed) = from.get(&name)? {
            to.put(&name, &sealed)?;
            copied.push(name);
        }
    }
    Ok(copied)
}

/// `local` (the default file), a file path, or a `mysql://` URL.
fn destination(to: &str, chain_id: &str, settings: &BackendSettings) -> anyhow::Result<StateLocation> {
    let to = to.trim();
    if to == "local" {
        return Ok(StateLocation::Local(default_state_path(chain_id)));
    }
    if to.contains("://") {
        return Ok(StateLocation::Mysql(
            backend::mysql_target(to, chain_id, settings.password_file.as_deref())?
                .with_custody(backend::custody(settings.identity_file.as_deref())?),
        ));
    }
    Ok(StateLocation::Local(PathBuf::from(Path::new(to))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sealed blobs in memory.
    #[derive(Debug, Default)]
    struct Blobs(std::collections::BTreeMap<String, Vec<u8>>, PathBuf);

    impl crate::state::backend::SecretStore for Blobs {
        fn name(&self) -> &Path {
            &self.1
        }
        fn get(&self, name: &str) -> Result<Option<Vec<u8>>, crate::state::StateError> {
            Ok(self.0.get(name).cloned())
        }
        fn put(&mut self, name: &str, sealed: &[u8]) -> Result<(), crate::state::StateError> {
            self.0.insert(name.into(), sealed.to_vec());
            Ok(())
        }
        fn remove(&mut self, name: &str) -> Result<(), crate::state::StateError> {
            self.0.remove(name);
            Ok(())
        }
        fn names(&self) -> Result<Vec<String>, crate::state::StateError> {
            Ok(self.0.keys().cloned().collect())
        }
    }

    #[test]
    fn sealed_secrets_are_copied_byte_for_byte() {
        let mut from = Blobs::default();
        from.0
            .insert("keys.bundle".into(), b"age-encryption.org/v1 k".to_vec());
        from.0
            .insert("sidecar-run1".into(), b"age-encryption.org/v1 s".to_vec());
        let mut to = Blobs::default();
        to.0.insert("keys.bundle".into(), b"older".to_vec());
        let copied = copy_secrets(&from, &mut to).unwrap();
        assert_eq!(copied, ["keys.bundle", "sidecar-run1"]);
        assert_eq!(to.0, from.0);
    }

    #[test]
    fn history_is_a_table_with_dashes_for_unknowns() {
        let v = |serial, by: &str| StateVersion {
            serial,
            lineage: "l-1".into(),
            written_at: "2026-01-01T00:00:00Z".into(),
            written_by: by.into(),
            operation: if by.is_empty() {
                String::new()
            } else {
                "apply".into()
            },
        };
        assert_eq!(
            history_table(&[v(1, ""), v(12, "ci@runner")]),
            "SERIAL  LINEAGE  WRITTEN               BY         OPERATION\n\
             1       l-1      2026-01-01T00:00:00Z  -          -\n\
             12      l-1      2026-01-01T00:00:00Z  ci@runner  apply\n"
        );
    }

    #[test]
    fn destinations_are_local_a_path_or_mysql() {
        assert_eq!(
            destination("local", "chain0", &BackendSettings::default()).unwrap(),
            StateLocation::Local("state/chain0.state.json".into())
        );
        assert_eq!(
            destination("other/s.json", "chain0", &BackendSettings::default()).unwrap(),
            StateLocation::Local("other/s.json".into())
        );
        let err = destination("mysql://u:pw@h/db", "chain0", &BackendSettings::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds a password") && !err.contains("pw@"), "{err}");
    }
}
