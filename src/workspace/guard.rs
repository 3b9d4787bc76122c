//! Paths tarsform writes or deletes must lie inside the generated root: a state or a
//! saved plan naming any other path (absolute, `..`, or through a symlink that leads
//! out) is refused.

use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error(
        "{}: outside the generated directory {}; refusing to write or delete it\nhint: the state or saved plan was edited by hand; run `tarsform plan` again from the topology",
        path.display(),
        root.display()
    )]
    Outside { path: PathBuf, root: PathBuf },
    #[error("{}: cannot resolve: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// `path` resolved (symlinks followed as far as the path exists) when it lies inside
/// `root`, also resolved.
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, PathError> {
    let outside = || PathError::Outside {
        path: path.to_path_buf(),
        root: root.to_path_buf(),
    };
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(outside());
    }
    let cwd = std::env::current_dir().map_err(|source| PathError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let root = resolve(&cwd.join(root)).map_err(|source| PathError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let resolved = resolve(&cwd.join(path)).map_err(|source| PathError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if resolved.starts_with(&root) && resolved != root {
        Ok(resolved)
    } else {
        Err(outside())
    }
}

/// Canonicalises the longest existing prefix and appends the rest unchanged.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(canon) => {
                let mut out = canon;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    return Err(e);
                };
                rest.push(name);
                if !existing.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_pass_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("generated");
        std::fs::create_dir_all(root.join("rpc/chain0")).unwrap();
        assert!(inside(&root, &root.join("rpc/chain0/x/172.25.0.5/config.ini")).is_ok());
        for bad in [
            dir.path().join("elsewhere/config.ini"),
            root.join("rpc/../../escape"),
            PathBuf::from("/etc/passwd"),
            root.clone(),
        ] {
            let err = inside(&root, &bad).unwrap_err().to_string();
            assert!(err.contains("outside the generated directory"), "{err}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
            assert!(inside(&root, &root.join("link/secret")).is_err());
        }
    }
}
