//! The journal's sidecar `<state file>.journal.secrets`: sensitive old contents (an
//! `ssl.key` a rollback must put back) that may never go into the journal, the state,
//! plans or output. Mode 0600, written atomically, removed when the run commits or its
//! rollback finishes.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::store::{StateError, sibling_path, write_atomic};

pub const SIDECAR_SUFFIX: &str = ".journal.secrets";

/// Keyed contents kept beside the journal. Clones share one lock, so steps running
/// in parallel do not lose each other's entries.
#[derive(Debug, Clone)]
pub struct Sidecar {
    path: PathBuf,
    lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Sidecar {
    pub fn for_state(state_path: &Path) -> Sidecar {
        Sidecar {
            path: sibling_path(state_path, SIDECAR_SUFFIX),
            lock: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str) -> impl FnOnce(io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn read(&self) -> Result<BTreeMap<String, String>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.err("read the journal sidecar")(io::Error::other(e.to_string()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.err("read the journal sidecar")(e)),
        }
    }

    /// Stores `content` under `key` (the file stays 0600: the temp file it replaces
    /// is created 0600 and renamed into place).
    pub fn put(&self, key: &str, content: &str) -> Result<(), StateError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.read()?;
        all.insert(key.to_string(), content.to_string());
        let bytes = serde_json::to_vec(&all).expect("strings serialize");
        write_atomic(&self.path, &bytes).map_err(self.err("write the journal sidecar"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.path, fs::Permissions::from_mode(0o600))
                .map_err(self.err("write the journal sidecar"))?;
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        Ok(self.read()?.remove(key))
    }

    /// Deletes the sidecar (absent is fine).
    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.err("remove the journal sidecar")(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_remove_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let car = Sidecar::for_state(&dir.path().join("chain0.state.json"));
        assert_eq!(car.get("a").unwrap(), None);
        car.put("a", "-----BEGIN PRIVATE KEY-----\nx").unwrap();
        car.put("b", "y").unwrap();
        assert_eq!(
            car.get("a").unwrap().as_deref(),
            Some("-----BEGIN PRIVATE KEY-----\nx")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(car.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(car.path().ends_with("chain0.state.json.journal.secrets"));
        car.remove().unwrap();
        car.remove().unwrap();
        assert!(!car.path().exists());
    }
}
