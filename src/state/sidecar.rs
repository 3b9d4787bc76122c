//! The journal's sidecar: sensitive old contents (an `ssl.key` a rollback must put
//! back) that may never go into the journal, the state, plans or output. For the local
//! backend, `<state file>.journal.secrets`: mode 0600, written atomically. For a shared
//! backend, one row sealed with `age` ([`Custody`]), so a runner other than the one
//! that died can roll back. Removed when the run commits or its rollback finishes.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::backend::SecretStore;
use super::custody::{Custody, OpenError};
use super::store::{StateError, sibling_path, write_atomic};

pub const SIDECAR_SUFFIX: &str = ".journal.secrets";

/// The sidecar's name among a backend's sealed secrets.
pub const SIDECAR_SECRET: &str = "journal.secrets";

/// Keyed contents kept beside the journal. Clones share one lock, so steps running
/// in parallel do not lose each other's entries.
#[derive(Debug, Clone)]
pub struct Sidecar {
    path: PathBuf,
    sealed: Option<Sealed>,
    lock: Arc<Mutex<()>>,
}

/// Where a shared backend keeps the sidecar, and the key that seals it.
#[derive(Debug, Clone)]
struct Sealed {
    store: Arc<Mutex<Box<dyn SecretStore>>>,
    custody: Option<Arc<Custody>>,
}

impl Sidecar {
    pub fn for_state(state_path: &Path) -> Sidecar {
        Sidecar {
            path: sibling_path(state_path, SIDECAR_SUFFIX),
            sealed: None,
            lock: Default::default(),
        }
    }

    /// The sidecar as a sealed secret of a shared backend; without `custody` it can
    /// be removed, but not written or read.
    pub fn in_backend(store: Box<dyn SecretStore>, custody: Option<Arc<Custody>>) -> Sidecar {
        Sidecar {
            path: PathBuf::from(format!("{} ({SIDECAR_SECRET})", store.name().display())),
            sealed: Some(Sealed {
                store: Arc::new(Mutex::new(store)),
                custody,
            }),
            lock: Default::default(),
        }
    }

    /// Names the sidecar in messages (its file for the local backend).
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
        let bytes = match &self.sealed {
            Some(sealed) => match sealed
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(SIDECAR_SECRET)?
            {
                Some(bytes) => self.open(sealed, &bytes)?,
                None => return Ok(BTreeMap::new()),
            },
            None => match fs::read(&self.path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
                Err(e) => return Err(self.err("read the journal sidecar")(e)),
            },
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| self.err("read the journal sidecar")(io::Error::other(e.to_string())))
    }

    fn custody<'a>(&self, sealed: &'a Sealed, action: &'static str) -> Result<&'a Custody, StateError> {
        sealed.custody.as_deref().ok_or_else(|| StateError::Backend {
            path: self.path.clone(),
            action,
            message: format!(
                "the shared backend keeps the undo sidecar sealed with age, and no age identity is set\nhint: {}",
                super::custody::IDENTITY_HINT
            ),
        })
    }

    fn open(&self, sealed: &Sealed, bytes: &[u8]) -> Result<Vec<u8>, StateError> {
        let custody = self.custody(sealed, "read the journal sidecar")?;
        custody.open(bytes).map_err(|e| open_error(&self.path, e))
    }

    fn write(&self, bytes: &[u8]) -> Result<(), StateError> {
        if let Some(sealed) = &self.sealed {
            let custody = self.custody(sealed, "write the journal sidecar")?;
            let sealed_bytes = custody.seal(bytes);
            return sealed
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(SIDECAR_SECRET, &sealed_bytes);
        }
        write_atomic(&self.path, bytes).map_err(self.err("write the journal sidecar"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.path, fs::Permissions::from_mode(0o600))
                .map_err(self.err("write the journal sidecar"))?;
        }
        Ok(())
    }

    /// Stores `content` under `key` (the file stays 0600: the temp file it replaces
    /// is created 0600 and renamed into place).
    pub fn put(&self, key: &str, content: &str) -> Result<(), StateError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.read()?;
        all.insert(key.to_string(), content.to_string());
        let bytes = serde_json::to_vec(&all).expect("strings serialize");
        self.write(&bytes)
    }

    pub fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        Ok(self.read()?.remove(key))
    }

    /// Deletes the sidecar (absent is fine).
    pub fn remove(&self) -> Result<(), StateError> {
        if let Some(sealed) = &self.sealed {
            return sealed
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(SIDECAR_SECRET);
        }
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.err("remove the journal sidecar")(e)),
            _ => Ok(()),
        }
    }
}

/// A sealed secret that did not open: the wrong identity, or damaged bytes.
pub fn open_error(name: &Path, e: OpenError) -> StateError {
    let message = match e {
        OpenError::WrongKey => format!(
            "it was sealed for another age identity or passphrase\nhint: use the team's identity: {}",
            super::custody::IDENTITY_HINT
        ),
        OpenError::Damaged(why) => format!("it is not a valid age file ({why}); it was left untouched"),
    };
    StateError::Backend {
        path: name.to_path_buf(),
        action: "open a sealed secret",
        message,
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
