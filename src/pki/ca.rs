//! The chain-level CA of one service type: created once, or imported from BcosBuilder's
//! `ca.crt` + `ca.key` (PKCS#1 or PKCS#8) and never replaced.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::keys::KeySource;
use super::parse::{cert_der, check_key_matches, parse_cert, parse_rsa_key};
use super::{PkiError, VALIDITY_DAYS};
use crate::secret::Secret;

/// A new CA's files: `ca.crt` and `ca.key`.
#[derive(Debug, Clone)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: Secret,
}

/// A loaded CA, ready to sign leaves. Its `Debug` never shows the key.
#[derive(Debug)]
pub struct Ca {
    cert_pem: String,
    issuer: CaIssuer,
}

/// The signing half of a CA: RSA (rcgen) or SM2 (national cryptography).
#[derive(Debug)]
pub(super) enum CaIssuer {
    Rsa(Box<Issuer<'static, KeyPair>>),
    Sm(Box<super::sm2::SmIssuer>),
}

impl Ca {
    /// `ca.crt` as loaded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// sha256 hex of the CA certificate's DER.
    pub fn digest(&self) -> String {
        super::cert_digest(&self.cert_pem)
    }

    /// Whether this is an SM2 CA (`sm_ca.crt`), which signs only SM leaves.
    pub fn is_sm(&self) -> bool {
        matches!(self.issuer, CaIssuer::Sm(_))
    }

    pub(super) fn issuer(&self) -> &CaIssuer {
        &self.issuer
    }
}

/// Parameters every certificate shares: subject `CN=FISCO-BCOS, O=<org>, OU=<unit>`,
/// 36500 days from the key source's clock, a serial from the key source.
pub(super) fn base_params(
    keys: &mut dyn KeySource,
    key: &rcgen::KeyPair,
    org: &str,
    unit: &str,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "FISCO-BCOS");
    params.distinguished_name.push(DnType::OrganizationName, org);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, unit);
    params.not_before = keys.not_before();
    params.not_after = params.not_before + time::Duration::days(VALIDITY_DAYS);
    params.serial_number = Some(keys.serial_for(key));
    params
}

/// A self-signed CA: subject `CN=FISCO-BCOS, O=FISCO-BCOS, OU=chain`, `CA:TRUE`.
pub fn new_ca(keys: &mut dyn KeySource) -> Result<CaMaterial, PkiError> {
    let key = keys.next_key()?;
    let mut params = base_params(keys, &key, "FISCO-BCOS", "chain");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).map_err(|e| PkiError::Sign {
        what: "CA".into(),
        reason: e.to_string(),
    })?;
    Ok(CaMaterial {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// A new CA of the given mode: RSA (`ca.crt`/`ca.key`) or SM2 (`sm_ca.crt`/`sm_ca.key`).
pub fn new_ca_for(sm: bool, keys: &mut dyn KeySource) -> Result<CaMaterial, PkiError> {
    if sm {
        super::sm2::new_sm_ca(keys)
    } else {
        new_ca(keys)
    }
}

/// Loads a CA certificate and its key, checking that the key belongs to the certificate.
/// The key type follows the certificate: SM2 (`sm_ca.*`) or RSA (`ca.*`).
pub fn load_ca(cert_pem: &str, key_pem: &Secret) -> Result<Ca, PkiError> {
    if super::sm2::is_sm2_cert(cert_pem) {
        let issuer = super::sm2::load_sm_issuer(cert_pem, key_pem)?;
        return Ok(Ca {
            cert_pem: cert_pem.to_string(),
            issuer: CaIssuer::Sm(Box::new(issuer)),
        });
    }
    let key = parse_rsa_key(key_pem.expose(), "CA key")?;
    let der = cert_der(cert_pem, "CA certificate")?;
    check_key_matches(
        &parse_cert(&der, "CA certificate")?,
        &key,
        "CA key",
        "CA certificate",
    )?;
    let issuer = Issuer::from_ca_cert_der(&der.into(), key).map_err(|e| PkiError::BadCert {
        what: "CA certificate".into(),
        reason: e.to_string(),
    })?;
    Ok(Ca {
        cert_pem: cert_pem.to_string(),
        issuer: CaIssuer::Rsa(Box::new(issuer)),
    })
}
