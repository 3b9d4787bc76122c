//! Keys fetched from the backend's key custody for this process live in a private
//! directory (0700), never in `generated/`. Reads of a workspace path that is absent
//! fall back to the same relative path under that directory.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

static ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Sets (or clears) the directory holding the fetched keys.
pub fn set_root(root: Option<PathBuf>) {
    *ROOT.lock().unwrap_or_else(|e| e.into_inner()) = root;
}

/// Where a fetched copy of `path` lives under `root` (absolute paths lose their `/`).
pub fn under(root: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join(relative)
}

/// `path` itself when it exists (or nothing was fetched), else its fetched copy.
pub fn resolve(path: &Path) -> PathBuf {
    if path.exists() {
        return path.to_path_buf();
    }
    fetched_copy(path).unwrap_or_else(|| path.to_path_buf())
}

/// `read(resolve(path))`, with one system call when `path` is there to read.
pub fn read_resolved<T>(path: &Path, mut read: impl FnMut(&Path) -> io::Result<T>) -> io::Result<T> {
    match read(path) {
        Err(e) if !path.exists() => match fetched_copy(path) {
            Some(copy) => read(&copy),
            None => Err(e),
        },
        done => done,
    }
}

/// `resolve(path).is_file()`, with one system call when `path` exists.
pub fn is_file_resolved(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file(),
        Err(_) => fetched_copy(path).is_some_and(|copy| copy.is_file()),
    }
}

/// The fetched copy of `path`, when keys were fetched and it is among them.
fn fetched_copy(path: &Path) -> Option<PathBuf> {
    let root = ROOT.lock().unwrap_or_else(|e| e.into_inner()).clone();
    root.map(|r| under(&r, path)).filter(|fetched| fetched.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_paths_resolve_to_their_fetched_copy() {
        let fetched = tempfile::tempdir().unwrap();
        let copy = under(fetched.path(), Path::new("generated/rpc/chain0/ca/ca.key"));
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, "k").unwrap();
        assert_eq!(
            under(fetched.path(), Path::new("/abs/ca.key")),
            fetched.path().join("abs/ca.key")
        );
        set_root(Some(fetched.path().to_path_buf()));
        assert_eq!(resolve(Path::new("generated/rpc/chain0/ca/ca.key")), copy);
        let missing = Path::new("generated/gateway/chain0/ca/ca.key");
        assert_eq!(resolve(missing), missing);
        set_root(None);
        assert_eq!(
            resolve(Path::new("generated/rpc/chain0/ca/ca.key")),
            Path::new("generated/rpc/chain0/ca/ca.key")
        );
    }
}
