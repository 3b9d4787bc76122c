//! Reading PEM certificates and keys back, and their digests.

use rcgen::{KeyPair, PKCS_RSA_SHA256};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;

use super::PkiError;

/// The DER of the first `CERTIFICATE` block of `pem`.
pub(super) fn cert_der(pem: &str, what: &str) -> Result<Vec<u8>, PkiError> {
    let bad = |reason: String| PkiError::BadCert {
        what: what.to_string(),
        reason,
    };
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if block.label != "CERTIFICATE" {
        return Err(bad(format!("found a `{}` block", block.label)));
    }
    Ok(block.contents)
}

/// Parses `der` as an X.509 certificate.
pub(super) fn parse_cert<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::BadCert {
            what: what.to_string(),
            reason: e.to_string(),
        })
}

/// An unencrypted RSA private key in PEM (PKCS#8 or PKCS#1).
pub(super) fn parse_rsa_key(pem: &str, what: &str) -> Result<KeyPair, PkiError> {
    let key = KeyPair::from_pem(pem).map_err(|e| PkiError::BadKey {
        what: what.to_string(),
        reason: e.to_string(),
    })?;
    if key.algorithm() != &PKCS_RSA_SHA256 {
        return Err(PkiError::WrongKeyType {
            what: what.to_string(),
            found: format!("{:?}", key.algorithm()),
        });
    }
    Ok(key)
}

/// Fails unless `key` is the private half of the public key in `cert`.
pub(super) fn check_key_matches(
    cert: &X509Certificate,
    key: &KeyPair,
    key_what: &str,
    cert_what: &str,
) -> Result<(), PkiError> {
    if cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw() {
        Ok(())
    } else {
        Err(PkiError::KeyMismatch {
            key: key_what.to_string(),
            cert: cert_what.to_string(),
        })
    }
}

/// sha256 hex of the certificate's DER, the digest recorded in plans and state. Text that
/// is not a PEM certificate is digested as is, so it still gets a stable, distinct value.
pub fn cert_digest(pem: &str) -> String {
    match cert_der(pem, "certificate") {
        Ok(der) => hex::encode(Sha256::digest(&der)),
        Err(_) => hex::encode(Sha256::digest(pem.as_bytes())),
    }
}
