//! The CA directory and the leaf directories (`ssl/`, `sdk/`) on disk. Existing
//! certificates are imported and kept, never overwritten; missing ones are created.

use std::path::Path;

use super::files::{
    PUBLIC_MODE, SECRET_MODE, read_text, restrict_secret, write_atomic, write_if_missing,
    write_text_if_changed,
};
use super::{FileOutcome, Outcome, WorkspaceError};
use crate::config::CertMode;
use crate::pki::{self, Ca, KeySource};
use crate::secret::Secret;

/// Loads the CA in `dir` (`ca.crt` + `ca.key`, or `sm_ca.crt` + `sm_ca.key` in SM mode),
/// or creates it when both are absent; writes `cert.cnf` (RSA) if missing. A CA with only
/// one of its two files is an error.
pub fn ensure_ca(dir: &Path, keys: &mut dyn KeySource) -> Result<(Ca, Vec<FileOutcome>), WorkspaceError> {
    ensure_ca_in(dir, CertMode::Rsa, keys)
}

/// [`ensure_ca`] for either mode: `sm_ca.crt` + `sm_ca.key` (and no `cert.cnf`) in SM mode.
pub fn ensure_ca_in(
    dir: &Path,
    mode: CertMode,
    keys: &mut dyn KeySource,
) -> Result<(Ca, Vec<FileOutcome>), WorkspaceError> {
    let cert_path = dir.join(mode.ca_cert_file());
    let key_path = dir.join(mode.ca_key_file());
    let pki_error = |source| WorkspaceError::Pki {
        path: dir.to_path_buf(),
        source,
    };
    let mut report = match pair_state(dir, mode.ca_cert_file(), mode.ca_key_file())? {
        PairState::Both => {
            restrict_secret(&key_path)?;
            vec![
                FileOutcome::new(&cert_path, Outcome::Kept),
                FileOutcome::new(&key_path, Outcome::Kept),
            ]
        }
        PairState::Neither => {
            let material = pki::new_ca_for(mode.is_sm(), keys).map_err(pki_error)?;
            write_atomic(&key_path, material.key_pem.expose().as_bytes(), SECRET_MODE)?;
            write_atomic(&cert_path, material.cert_pem.as_bytes(), PUBLIC_MODE)?;
            vec![
                FileOutcome::new(&cert_path, Outcome::Written),
                FileOutcome::new(&key_path, Outcome::Written),
            ]
        }
    };
    let ca = pki::load_ca(&read_text(&cert_path)?, &Secret::new(read_text(&key_path)?)).map_err(pki_error)?;
    if ca.is_sm() != mode.is_sm() {
        return Err(pki_error(pki::PkiError::WrongKeyType {
            what: cert_path.display().to_string(),
            found: CertMode::of(ca.is_sm()).key_type().to_string(),
        }));
    }
    if !mode.is_sm() {
        let cnf_path = dir.join("cert.cnf");
        report.push(FileOutcome::new(
            &cnf_path,
            write_if_missing(&cnf_path, &pki::cert_cnf())?,
        ));
    }
    Ok((ca, report))
}

/// Keeps the `purpose` leaf in `dir` (`<purpose>.crt` + `<purpose>.key`) if it is signed by
/// `ca`, or issues it when both files are absent; also writes `ca.crt` and `cert.cnf` there.
pub fn ensure_leaf(
    ca: &Ca,
    dir: &Path,
    purpose: &str,
    keys: &mut dyn KeySource,
) -> Result<Vec<FileOutcome>, WorkspaceError> {
    let cert_name = format!("{purpose}.crt");
    let key_name = format!("{purpose}.key");
    let cert_path = dir.join(&cert_name);
    let key_path = dir.join(&key_name);
    let pki_error = |source| WorkspaceError::Pki {
        path: cert_path.clone(),
        source,
    };
    let mut report = match pair_state(dir, &cert_name, &key_name)? {
        PairState::Both => {
            let key = Secret::new(read_text(&key_path)?);
            pki::verify_leaf(ca, &read_text(&cert_path)?, &key, &cert_name).map_err(pki_error)?;
            restrict_secret(&key_path)?;
            vec![
                FileOutcome::new(&cert_path, Outcome::Kept),
                FileOutcome::new(&key_path, Outcome::Kept),
            ]
        }
        PairState::Neither => {
            let leaf = pki::issue_leaf(ca, purpose, keys).map_err(pki_error)?;
            write_atomic(&key_path, leaf.key_pem.expose().as_bytes(), SECRET_MODE)?;
            write_atomic(&cert_path, leaf.cert_pem.as_bytes(), PUBLIC_MODE)?;
            vec![
                FileOutcome::new(&cert_path, Outcome::Written),
                FileOutcome::new(&key_path, Outcome::Written),
            ]
        }
    };
    let mode = CertMode::of(ca.is_sm());
    let ca_copy = dir.join(mode.ca_cert_file());
    report.push(FileOutcome::new(
        &ca_copy,
        write_text_if_changed(&ca_copy, ca.cert_pem())?,
    ));
    if !mode.is_sm() {
        let cnf_path = dir.join("cert.cnf");
        report.push(FileOutcome::new(
            &cnf_path,
            write_if_missing(&cnf_path, &pki::cert_cnf())?,
        ));
    }
    Ok(report)
}

enum PairState {
    Both,
    Neither,
}

/// Both files of a certificate/key pair exist, or neither; anything else is an error.
fn pair_state(dir: &Path, cert: &str, key: &str) -> Result<PairState, WorkspaceError> {
    match (dir.join(cert).exists(), dir.join(key).exists()) {
        (true, true) => Ok(PairState::Both),
        (false, false) => Ok(PairState::Neither),
        (cert_exists, _) => {
            let (present, missing) = if cert_exists { (cert, key) } else { (key, cert) };
            Err(WorkspaceError::Incomplete {
                dir: dir.to_path_buf(),
                present: present.to_string(),
                missing: missing.to_string(),
            })
        }
    }
}
