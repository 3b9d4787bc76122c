//! Node certificates signed by the CA: `ssl` (node-to-node and the Tars config files) and,
//! for rpc, `sdk` (handed to SDK clients). Both: subject `CN=FISCO-BCOS, O=fisco-bcos,
//! OU=agency`, `CA:FALSE`, keyUsage nonRepudiation, digitalSignature, keyEncipherment.

use rcgen::{IsCa, KeyUsagePurpose};

use super::PkiError;
use super::ca::{Ca, CaIssuer};
use super::keys::KeySource;
use super::parse::{cert_der, check_key_matches, parse_cert, parse_rsa_key};
use crate::secret::Secret;

/// A leaf's files: `<purpose>.crt` and `<purpose>.key` (unencrypted PKCS#8).
#[derive(Debug, Clone)]
pub struct LeafMaterial {
    pub cert_pem: String,
    pub key_pem: Secret,
}

/// Issues a `purpose` (`ssl` or `sdk`) leaf signed by `ca`.
/// SM purposes (`sm_ssl`, `sm_enssl`, `sm_sdk`, `sm_ensdk`) need an SM CA.
pub fn issue_leaf(ca: &Ca, purpose: &str, keys: &mut dyn KeySource) -> Result<LeafMaterial, PkiError> {
    let issuer = match (ca.issuer(), super::sm2::is_sm_purpose(purpose)) {
        (CaIssuer::Sm(sm), true) => return super::sm2::issue_sm_leaf(sm, purpose, keys),
        (CaIssuer::Rsa(rsa), false) if matches!(purpose, "ssl" | "sdk") => rsa,
        (CaIssuer::Sm(_), false) | (CaIssuer::Rsa(_), true) => {
            return Err(PkiError::ModeMismatch {
                purpose: purpose.to_string(),
                ca: if ca.is_sm() { "an SM2" } else { "an RSA" },
            });
        }
        _ => return Err(PkiError::UnknownPurpose(purpose.to_string())),
    };
    let key = keys.next_key()?;
    let mut params = super::ca::base_params(keys, &key, "fisco-bcos", "agency");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::ContentCommitment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params.signed_by(&key, issuer).map_err(|e| PkiError::Sign {
        what: purpose.to_string(),
        reason: e.to_string(),
    })?;
    Ok(LeafMaterial {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// Checks an existing leaf before it is kept: its certificate is signed by `ca` and
/// `key_pem` is its private key.
pub fn verify_leaf(ca: &Ca, cert_pem: &str, key_pem: &Secret, what: &str) -> Result<(), PkiError> {
    if let CaIssuer::Sm(sm) = ca.issuer() {
        return super::sm2::verify_sm_leaf(sm, cert_pem, key_pem, what);
    }
    let ca_der = cert_der(ca.cert_pem(), "CA certificate")?;
    let ca_cert = parse_cert(&ca_der, "CA certificate")?;
    let der = cert_der(cert_pem, what)?;
    let cert = parse_cert(&der, what)?;
    cert.verify_signature(Some(ca_cert.public_key()))
        .map_err(|_| PkiError::NotSignedByCa {
            what: what.to_string(),
        })?;
    let key_what = format!("the private key of {what}");
    let key = parse_rsa_key(key_pem.expose(), &key_what)?;
    check_key_matches(&cert, &key, &key_what, what)
}
