//! The `<state>.errored.json` dump: where a state that could not be saved is kept.
//!
//! Written only next to the state file (never to a shared temp directory), into a new
//! file created exclusively with mode 0600, flushed to disk and renamed into place:
//! a planted symlink is replaced, never followed, and the dump is whole or absent.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::store::{ERRORED_SUFFIX, sibling_path};

/// Writes `bytes` to `<state>.errored.json`; `None` when that is impossible (then
/// nothing is left behind).
pub fn dump_errored(state_path: &Path, bytes: &[u8]) -> Option<PathBuf> {
    let target = sibling_path(state_path, ERRORED_SUFFIX);
    write_private(&target, bytes).ok().map(|()| target)
}

/// Exclusive 0600 temp file beside `target`, fsync, rename over `target`, fsync the directory.
fn write_private(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    // Dropped (and removed) on any error below.
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_dump_is_private_whole_and_replaces_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("chain0.state.json");
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let dump = sibling_path(&state, ERRORED_SUFFIX);
        std::os::unix::fs::symlink(&victim, &dump).unwrap();

        assert_eq!(dump_errored(&state, b"{\"serial\": 2}\n"), Some(dump.clone()));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&dump).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&dump).unwrap(), "{\"serial\": 2}\n");
        let mode = std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    }

    #[test]
    fn no_dump_outside_the_state_directory_when_it_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}.state.json", uuid::Uuid::new_v4());
        let state = dir.path().join("missing-dir").join(&name);
        assert_eq!(dump_errored(&state, b"{}"), None);
        let in_tmp = std::env::temp_dir().join(format!("{name}{ERRORED_SUFFIX}"));
        assert!(
            std::fs::symlink_metadata(in_tmp).is_err(),
            "nothing written to the temp dir"
        );
    }
}
