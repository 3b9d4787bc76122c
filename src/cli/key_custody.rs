//! Keys in custody (`[backend] store_keys = true`, issue 12 Deliver 4): the CA
//! directories and every node's `ssl/` and `sdk/` files (certificates and their private
//! keys) kept in the shared backend as one bundle sealed with `age`.
//!
//! `apply`/`destroy` fetch the bundle's files that are missing here before planning into
//! a private directory (0700, keys 0600; never into `generated/`), which reads of absent
//! workspace files fall back to ([`crate::apply::fetched_keys`]) and which is removed
//! at exit. They upload the bundle again after a successful run when it changed, and,
//! when they fetched anything, remove at exit every bundled file this run made: a fresh
//! runner keeps no key material (the machine that made the keys keeps its own). Without an identity nothing is fetched (plans work;
//! an apply that must sign a certificate stops on the missing `ca.key`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::addr::ResourceKind;
use crate::config::{ServiceKind, Topology};
use crate::plan::{Action, Plan};
use crate::state::StateStore;
use crate::state::custody::{Custody, IDENTITY_HINT};
use crate::state::sidecar::open_error;

/// The bundle's name among the backend's sealed secrets.
pub const KEYS_SECRET: &str = "keys.bundle";

/// Directory names whose files are bundled (CA, node SSL and SDK material).
const BUNDLED_DIRS: [&str; 3] = ["ca", "ssl", "sdk"];

/// Keys fetched for this command; removes what was not here before when dropped.
#[derive(Debug, Default)]
pub struct KeysOnRunner {
    /// Bundled files present before the command (never removed).
    present: Vec<PathBuf>,
    /// Roots scanned for bundled files.
    roots: Vec<PathBuf>,
    custody: Option<Arc<Custody>>,
    /// The bundle as fetched (or empty): uploaded again only when it changed.
    fetched: BTreeMap<String, String>,
    active: bool,
    /// The backend holds keys this runner cannot open (no identity).
    locked_away: bool,
    /// Files were fetched: this is a runner, not the machine that made the keys.
    fetched_here: bool,
    /// The private directory holding the fetched files (removed when dropped).
    fetched_dir: Option<tempfile::TempDir>,
}

impl KeysOnRunner {
    /// Nothing kept in custody (`store_keys` off, or the local backend).
    pub fn off() -> Self {
        Self::default()
    }

    /// Fetches the bundle's missing files from `store`'s backend.
    pub fn fetch(
        store: &StateStore,
        custody: Option<Arc<Custody>>,
        topology: &Topology,
        generated_root: &Path,
    ) -> anyhow::Result<Self> {
        let Some(secrets) = store.backend().secrets() else {
            anyhow::bail!(
                "`[backend] store_keys = true` needs the shared backend (`type = \"mysql\"`)\nhint: remove `store_keys`, or move the state with `tarsform state migrate --to mysql://…`"
            );
        };
        let mut roots = vec![generated_root.to_path_buf()];
        for kind in [ServiceKind::Rpc, ServiceKind::Gateway] {
            roots.push(topology.chain.ca_cert_path(kind).clone());
        }
        let present = bundled_files(&roots);
        let mut keys = KeysOnRunner {
            present,
            roots,
            custody: custody.clone(),
            fetched: BTreeMap::new(),
            active: true,
            locked_away: false,
            fetched_here: false,
            fetched_dir: None,
        };
        let Some(sealed) = secrets.get(KEYS_SECRET)? else {
            return Ok(keys);
        };
        let Some(custody) = custody else {
            eprintln!(
                "note: the backend keeps this chain's keys (store_keys), but no age identity is set, so none were fetched; an apply that must sign a certificate will stop\n  hint: {IDENTITY_HINT}"
            );
            keys.locked_away = true;
            return Ok(keys);
        };
        let plain = custody.open(&sealed).map_err(|e| {
            open_error(
                &PathBuf::from(format!("{} ({KEYS_SECRET})", secrets.name().display())),
                e,
            )
        })?;
        keys.fetched =
            serde_json::from_slice(&plain).context("the key bundle in the backend is not valid")?;
        let dir = private_dir().context("creating a private directory for the fetched keys")?;
        let mut wrote = 0;
        for (name, content) in &keys.fetched {
            let path = PathBuf::from(name);
            if path.exists() || !is_bundled(&path) {
                continue;
            }
            let copy = crate::apply::fetched_keys::under(dir.path(), &path);
            write_private(&copy, content).with_context(|| format!("fetching `{name}` from the backend"))?;
            wrote += 1;
        }
        keys.fetched_here = wrote > 0;
        if wrote > 0 {
            crate::apply::fetched_keys::set_root(Some(dir.path().to_path_buf()));
            keys.fetched_dir = Some(dir);
            eprintln!(
                "Fetched {wrote} key and certificate file(s) from the backend into a private directory (removed when this command ends)."
            );
        }
        Ok(keys)
    }

    /// Refuses, before any change, a plan that signs certificates when the CA key is
    /// in the backend and this runner has no identity to open it.
    pub fn check_plan(&self, plan: &Plan) -> anyhow::Result<()> {
        if !self.locked_away {
            return Ok(());
        }
        let signs: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.address.kind() == ResourceKind::Cert)
            .filter(|c| matches!(c.action, Action::Create | Action::Replace | Action::Update))
            .map(|c| c.address.to_string())
            .collect();
        if signs.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "this apply signs {} (with the CA key, ca.key), but the keys are in the backend sealed with age and no age identity is set; nothing was changed\nhint: {IDENTITY_HINT}",
            signs.join(", ")
        )
    }

    /// After a successful run: uploads the bundle when its files changed.
    pub fn upload(&mut self, store: &StateStore) -> anyhow::Result<()> {
        if !self.active {
            return Ok(());
        }
        let Some(custody) = self.custody.clone() else {
            return Ok(());
        };
        let Some(mut secrets) = store.backend().secrets() else {
            return Ok(());
        };
        let mut bundle = self.fetched.clone();
        for path in bundled_files(&self.roots) {
            let content =
                std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
            bundle.insert(path.display().to_string(), content);
        }
        if bundle == self.fetched {
            return Ok(());
        }
        let plain = serde_json::to_vec(&bundle).expect("strings serialize");
        secrets.put(KEYS_SECRET, &custody.seal(&plain))?;
        self.fetched = bundle;
        eprintln!("Stored the chain's keys in the backend, sealed with age.");
        Ok(())
    }
}

impl Drop for KeysOnRunner {
    fn drop(&mut self) {
        if let Some(dir) = self.fetched_dir.take() {
            crate::apply::fetched_keys::set_root(None);
            drop(dir);
        }
        if !self.active || !self.fetched_here {
            return;
        }
        for path in bundled_files(&self.roots) {
            if !self.present.contains(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Is `path` a file of a CA, `ssl/` or `sdk/` directory?
fn is_bundled(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|d| BUNDLED_DIRS.iter().any(|b| d == *b))
}

/// Every bundled file under `roots`, sorted, without duplicates.
fn bundled_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for root in roots {
        walk(root, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found),
            Ok(t) if t.is_file() && is_bundled(&path) => found.push(path),
            _ => {}
        }
    }
}

/// A new directory only this user can enter (0700), removed when dropped.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("tarsform-keys-").tempdir()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Writes `content` to `path` (creating its directories, 0700); `.key` files are 0600.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mode = if path.extension().is_some_and(|e| e == "key") {
        0o600
    } else {
        0o644
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    use std::io::Write;
    options.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_ssl_and_sdk_files_are_bundled_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("generated");
        for (rel, text) in [
            ("rpc/chain0/ca/ca.key", "k"),
            ("rpc/chain0/ca/ca.crt", "c"),
            ("rpc/chain0/BcosRpcService/10.0.0.1/ssl/ssl.key", "k"),
            ("rpc/chain0/BcosRpcService/10.0.0.1/config.ini", "x"),
            ("packages/BcosRpcService.tgz", "x"),
        ] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let files = bundled_files(&[root.clone(), root.join("rpc/chain0/ca")]);
        let names: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "rpc/chain0/BcosRpcService/10.0.0.1/ssl/ssl.key",
                "rpc/chain0/ca/ca.crt",
                "rpc/chain0/ca/ca.key"
            ]
        );
        let fetched = root.join("gateway/chain0/ca/ca.key");
        write_private(&fetched, "k").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&fetched).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(write_private(&fetched, "again").is_err(), "never overwrites");
    }

    #[test]
    fn fetched_keys_live_in_a_private_directory_removed_at_drop() {
        let dir = private_dir().unwrap();
        let root = dir.path().to_path_buf();
        let copy = crate::apply::fetched_keys::under(&root, Path::new("generated/rpc/chain0/ca/ca.key"));
        write_private(&copy, "k").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&root), 0o700);
            assert_eq!(mode(copy.parent().unwrap()), 0o700);
            assert_eq!(mode(&copy), 0o600);
        }
        let mut keys = KeysOnRunner::off();
        keys.fetched_dir = Some(dir);
        drop(keys);
        assert!(!root.exists(), "the private directory is removed");
    }
}
