//! The local side of apply: CA and leaf files, local copies of config files, packages.
//!
//! Files are written atomically; private keys are mode 0600. Every function returns the
//! files it created so the step's inverse can delete exactly those.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::{CertMode, ServiceKind};
use crate::pki::{self, KeySource};
use crate::secret::Secret;
use crate::state::store::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Pki(#[from] pki::PkiError),
    #[error("{0}")]
    Refused(String),
}

type LocalResult<T> = Result<T, LocalError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a file; an absent one is read from the keys fetched for this run, if any.
pub fn read_text(path: &Path) -> LocalResult<String> {
    fs::read_to_string(super::fetched_keys::resolve(path)).map_err(io_err(path))
}

/// Writes `text` (mode 0644, or 0600 when `private`); creates parent directories.
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> LocalResult<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    write_atomic(path, bytes).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
    }
    Ok(())
}

/// Writes the file only when absent; returns whether it did.
fn write_new(path: &Path, bytes: &[u8], private: bool, created: &mut Vec<PathBuf>) -> LocalResult<()> {
    if !path.exists() {
        write_file(path, bytes, private)?;
        created.push(path.to_path_buf());
    }
    Ok(())
}

/// Creates a CA in `dir`: RSA (ca.crt, ca.key, cert.cnf) or SM (sm_ca.crt, sm_ca.key).
/// Refuses when a CA is already there.
pub fn create_ca(dir: &Path, sm: bool, keys: &mut dyn KeySource) -> LocalResult<(String, Vec<PathBuf>)> {
    let mode = CertMode::of(sm);
    let (crt, key) = (dir.join(mode.ca_cert_file()), dir.join(mode.ca_key_file()));
    if crt.exists() || key.exists() {
        return Err(LocalError::Refused(format!(
            "{}: a CA appeared since the plan was made; never overwritten\nhint: run `tarsform plan` again",
            dir.display()
        )));
    }
    let material = pki::new_ca_for(sm, keys)?;
    let mut created = Vec::new();
    write_new(&key, material.key_pem.expose().as_bytes(), true, &mut created)?;
    write_new(&crt, material.cert_pem.as_bytes(), false, &mut created)?;
    if !sm {
        write_new(
            &dir.join("cert.cnf"),
            pki::cert_cnf().as_bytes(),
            false,
            &mut created,
        )?;
    }
    Ok((material.cert_pem, created))
}

/// The files a CA in `dir` consists of: `sm_ca.*` when `sm`, else `ca.*` and its `cert.cnf`.
pub fn ca_files(dir: &Path, sm: bool) -> Vec<PathBuf> {
    let names: &[&str] = if sm {
        &["sm_ca.crt", "sm_ca.key"]
    } else {
        &["ca.crt", "ca.key", "cert.cnf"]
    };
    names.iter().map(|f| dir.join(f)).collect()
}

/// The write-ahead inverse of [`issue_cert`]: remove what it may create, put back what
/// it may move aside. Computed before any file is touched.
pub fn issue_cert_undo(purpose: &str, cert_path: &Path, key_path: &Path) -> crate::apply::undo::Undo {
    let dir = cert_path.parent().unwrap_or(Path::new("."));
    let sm = pki::sm2::is_sm_purpose(purpose);
    let mut paths = vec![key_path.to_path_buf(), cert_path.to_path_buf()];
    let mut beside = vec![dir.join(CertMode::of(sm).ca_cert_file())];
    if !sm {
        beside.push(dir.join("cert.cnf"));
    }
    paths.extend(beside.into_iter().filter(|p| !p.exists()));
    let replaced = [cert_path, key_path]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| (backup_path(p), p.to_path_buf()))
        .collect();
    crate::apply::undo::Undo::RemoveFiles { paths, replaced }
}

/// Loads the CA of `dir` for signing: `sm_ca.*` when `sm`, else `ca.*`.
pub fn load_ca(dir: &Path, sm: bool) -> LocalResult<pki::Ca> {
    let mode = CertMode::of(sm);
    let cert = read_text(&dir.join(mode.ca_cert_file()))?;
    let key = Secret::new(read_text(&dir.join(mode.ca_key_file()))?);
    Ok(pki::load_ca(&cert, &key)?)
}

/// What [`issue_cert`] did to the files of a leaf.
#[derive(Debug, Default)]
pub struct IssuedFiles {
    pub created: Vec<PathBuf>,
    /// `(backup, original)`: files replaced, moved aside until the run commits.
    pub replaced: Vec<(PathBuf, PathBuf)>,
}

/// Issues a leaf into `cert_path`/`key_path`, copying `ca.crt` and `cert.cnf` beside
/// it. Existing leaf files are moved to `<file>.tarsform-old` (restored on rollback).
pub fn issue_cert(
    ca_dir: &Path,
    purpose: &str,
    cert_path: &Path,
    key_path: &Path,
    keys: &mut dyn KeySource,
) -> LocalResult<(String, IssuedFiles)> {
    let sm = pki::sm2::is_sm_purpose(purpose);
    let ca = load_ca(ca_dir, sm)?;
    let leaf = pki::issue_leaf(&ca, purpose, keys)?;
    let mut files = IssuedFiles::default();
    for path in [cert_path, key_path] {
        if path.exists() {
            let backup = backup_path(path);
            fs::rename(path, &backup).map_err(io_err(path))?;
            files.replaced.push((backup, path.to_path_buf()));
        }
    }
    write_file(key_path, leaf.key_pem.expose().as_bytes(), true)?;
    files.created.push(key_path.to_path_buf());
    write_file(cert_path, leaf.cert_pem.as_bytes(), false)?;
    files.created.push(cert_path.to_path_buf());
    let dir = cert_path.parent().unwrap_or(Path::new("."));
    write_new(
        &dir.join(CertMode::of(sm).ca_cert_file()),
        ca.cert_pem().as_bytes(),
        false,
        &mut files.created,
    )?;
    if !sm {
        write_new(
            &dir.join("cert.cnf"),
            pki::cert_cnf().as_bytes(),
            false,
            &mut files.created,
        )?;
    }
    Ok((leaf.cert_pem, files))
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tarsform-old");
    path.with_file_name(name)
}

/// Deletes files this run created (with temporary files an interrupted atomic write
/// left beside them) and puts replaced ones back. A created path whose original was
/// never moved aside (a crash before the move) is the original: it stays. The paths come
/// from a journal: unless every one lies inside `root` (the generated directory), none
/// is touched.
pub fn undo_files(root: &Path, created: &[PathBuf], replaced: &[(PathBuf, PathBuf)]) -> LocalResult<()> {
    let named = created
        .iter()
        .chain(replaced.iter().flat_map(|(backup, original)| [backup, original]));
    for path in named {
        crate::workspace::inside(root, path).map_err(|e| LocalError::Refused(e.to_string()))?;
    }
    for path in created {
        remove_temp_siblings(path)?;
        let unmoved = replaced
            .iter()
            .any(|(backup, original)| original == path && !backup.exists());
        if unmoved {
            continue;
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    for (backup, original) in replaced {
        if backup.exists() {
            fs::rename(backup, original).map_err(io_err(original))?;
        }
    }
    // Folders left empty (a half-issued `ssl/`, a node folder) go too.
    for path in created {
        let mut dir = path.parent();
        for _ in 0..3 {
            match dir {
                Some(d)
                    if !d.as_os_str().is_empty()
                        && crate::workspace::inside(root, d).is_ok()
                        && fs::remove_dir(d).is_ok() =>
                {
                    dir = d.parent()
                }
                _ => break,
            }
        }
    }
    Ok(())
}

/// Removes `.<name>.*.tmp` beside `path` (what [`write_atomic`] leaves when killed).
pub fn remove_temp_siblings(path: &Path) -> LocalResult<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let entries = match fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let p = entry.path();
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}

/// Removes one file if present, then its parent directories while they are empty,
/// up to (not including) `stop`.
pub fn remove_file_and_empty_parents(path: &Path, stop: &Path) -> LocalResult<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Builds `<server>.tgz` from `source` and checks it is the package the plan reviewed.
/// The plan's own build (this run) or the workspace's `built` file is used when it has
/// the reviewed digest.
pub fn build_package(
    source: &Path,
    kind: ServiceKind,
    server: &str,
    expected_sha256: Option<&str>,
    built: &Path,
) -> LocalResult<Vec<u8>> {
    // A release pinned by digest: the cached archive is verified again before use.
    let pinned = expected_sha256.and_then(|e| e.strip_prefix(crate::plan::PINNED_PREFIX));
    if let Some(expected) = expected_sha256.filter(|e| !e.is_empty() && pinned.is_none()) {
        if let Some(package) = crate::render::package::recall(expected) {
            return Ok(package.as_ref().clone());
        }
        if let Ok(package) = fs::read(built)
            && crate::render::package::sha256_hex(&package) == expected
        {
            return Ok(package);
        }
    }
    let input = fs::read(source).map_err(io_err(source))?;
    if let Some(pinned) = pinned {
        let actual = crate::render::package::sha256_hex(&input);
        if actual != pinned {
            return Err(LocalError::Refused(format!(
                "{}: the cached release archive has sha256 {actual}, not the pinned {pinned}\nhint: delete the file and run apply again; it is fetched anew",
                source.display()
            )));
        }
    }
    let package = crate::render::package::build(&input, kind, server)
        .map_err(|e| LocalError::Refused(format!("{}: {e}", source.display())))?;
    let digest = crate::render::package::sha256_hex(&package);
    if let Some(expected) = expected_sha256.filter(|e| !e.is_empty() && pinned.is_none())
        && digest != expected
    {
        return Err(LocalError::Refused(format!(
            "{}: the package built now (sha256 {digest}) is not the one in the plan ({expected})\nhint: the binary changed since the plan; run `tarsform plan` again",
            source.display()
        )));
    }
    Ok(package)
}

/// The `package_sha256` state records for an uploaded package: the plan's pinned release
/// identity, or the built package's own digest.
pub fn package_identity(expected_sha256: Option<&str>, package: &[u8]) -> String {
    match expected_sha256.filter(|e| e.starts_with(crate::plan::PINNED_PREFIX)) {
        Some(pinned) => pinned.to_string(),
        None => crate::render::package::sha256_hex(package),
    }
}
