//! Atomic file writes (temp file in the same directory, fsync, rename) with an explicit
//! mode, and "write only if different" helpers.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Outcome, WorkspaceError};

/// Mode of private keys.
pub(super) const SECRET_MODE: u32 = 0o600;
/// Mode of every other generated file.
pub(super) const PUBLIC_MODE: u32 = 0o644;

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` unless the file already holds exactly that.
pub fn write_text_if_changed(path: &Path, text: &str) -> Result<Outcome, WorkspaceError> {
    write_bytes_if_changed(path, text.as_bytes(), PUBLIC_MODE)
}

/// Writes a built package to `path` unless it already holds the same bytes.
pub fn write_package(path: &Path, tgz: &[u8]) -> Result<Outcome, WorkspaceError> {
    write_bytes_if_changed(path, tgz, PUBLIC_MODE)
}

fn write_bytes_if_changed(path: &Path, bytes: &[u8], mode: u32) -> Result<Outcome, WorkspaceError> {
    if read_if_exists(path)?.as_deref() == Some(bytes) {
        return Ok(Outcome::Unchanged);
    }
    write_atomic(path, bytes, mode)?;
    Ok(Outcome::Written)
}

/// Writes `text` only when `path` does not exist yet.
pub(super) fn write_if_missing(path: &Path, text: &str) -> Result<Outcome, WorkspaceError> {
    if path.exists() {
        return Ok(Outcome::Kept);
    }
    write_atomic(path, text.as_bytes(), PUBLIC_MODE)?;
    Ok(Outcome::Written)
}

pub(super) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, WorkspaceError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

pub(super) fn read_text(path: &Path) -> Result<String, WorkspaceError> {
    fs::read_to_string(path).map_err(io_error(path))
}

/// Replaces `path` with `bytes` in one rename; the file never exists with other permissions.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WorkspaceError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tarsform-")
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error(path))?;
    tmp.write_all(bytes).map_err(io_error(path))?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    tmp.persist(path).map_err(|e| io_error(path)(e.error))?;
    if mode == SECRET_MODE {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

/// Tightens an existing private key file to 0600 if group or others can read it.
pub(super) fn restrict_secret(path: &Path) -> Result<(), WorkspaceError> {
    let meta = fs::metadata(path).map_err(io_error(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(SECRET_MODE)).map_err(io_error(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_changed_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/config.ini");
        assert_eq!(write_text_if_changed(&path, "x = 1\n").unwrap(), Outcome::Written);
        assert_eq!(
            write_text_if_changed(&path, "x = 1\n").unwrap(),
            Outcome::Unchanged
        );
        assert_eq!(write_text_if_changed(&path, "x = 2\n").unwrap(), Outcome::Written);
        assert_eq!(fs::read_to_string(&path).unwrap(), "x = 2\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PUBLIC_MODE);
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }

    #[test]
    fn write_if_missing_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.cnf");
        fs::write(&path, "theirs").unwrap();
        assert_eq!(write_if_missing(&path, "ours").unwrap(), Outcome::Kept);
        assert_eq!(fs::read_to_string(&path).unwrap(), "theirs");
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "").unwrap();
        let err = write_text_if_changed(&blocker.join("config.ini"), "x").unwrap_err();
        assert!(err.to_string().contains(&blocker.display().to_string()), "{err}");
    }
}
