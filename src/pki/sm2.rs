//! National cryptography (SM2 keys, SM2-with-SM3 signatures) for rpc/gateway certificates,
//! compatible with BcosBuilder's `generate_cert.sh` SM mode (reference/bcosbuilder.md §4.2):
//! CA `CN=FISCO-BCOS, O=FISCO-BCOS, OU=chain` with SKI/AKI, `CA:TRUE`, keyUsage
//! `cRLSign, keyCertSign`; per service a signing leaf (`sm_ssl`/`sm_sdk`, keyUsage
//! `digitalSignature, nonRepudiation`) and an encryption leaf (`sm_enssl`/`sm_ensdk`,
//! keyUsage `keyAgreement, keyEncipherment, dataEncipherment`), both `CA:FALSE`.
//! Signatures use the standard SM2 user ID `1234567812345678`, the one OpenSSL 3 and
//! TASSL use by default. Keys are unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).

use std::str::FromStr;
use std::time::Duration;

use sm2::dsa::signature::{Keypair, Signer, Verifier};
use sm2::dsa::{SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::AnyRef;
use x509_cert::der::asn1::GeneralizedTime;
use x509_cert::der::flagset::FlagSet;
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{
    AlgorithmIdentifier, SignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::time::{Time, Validity};

use super::PkiError;
use super::keys::KeySource;
use crate::secret::Secret;

/// The SM2 distinguishing identifier of every signature (GM/T 0009 default).
pub const SM2_USER_ID: &str = "1234567812345678";

/// OID of the SM2 curve (`1.2.156.10197.1.301`).
pub const SM2_CURVE_OID: &str = "1.2.156.10197.1.301";

/// OID of the sm2-with-sm3 signature (`1.2.156.10197.1.501`).
pub const SM2_SM3_OID: &str = "1.2.156.10197.1.501";

/// A loaded SM CA: its certificate and signing key. `Debug` never shows the key.
pub struct SmIssuer {
    cert: Certificate,
    key: sm2::SecretKey,
}

impl std::fmt::Debug for SmIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmIssuer(sensitive)")
    }
}

/// Whether `cert_pem` holds an SM2 public key (an SM CA or leaf).
pub fn is_sm2_cert(cert_pem: &str) -> bool {
    Certificate::from_pem(cert_pem.trim_start().as_bytes())
        .is_ok_and(|c| spki_is_sm2(c.tbs_certificate().subject_public_key_info()))
}

fn spki_is_sm2(spki: &SubjectPublicKeyInfoOwned) -> bool {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok());
    curve.is_some_and(|oid| oid.to_string() == SM2_CURVE_OID)
}

/// The leaf roles of SM mode: `(OU, key usages)` by purpose.
fn leaf_role(purpose: &str) -> Option<(&'static str, FlagSet<KeyUsages>)> {
    let sign = KeyUsages::DigitalSignature | KeyUsages::NonRepudiation;
    let enc = KeyUsages::KeyAgreement | KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment;
    match purpose {
        "sm_ssl" => Some(("ssl", sign)),
        "sm_sdk" => Some(("sdk", sign)),
        "sm_enssl" => Some(("enssl", enc)),
        "sm_ensdk" => Some(("ensdk", enc)),
        _ => None,
    }
}

/// Whether `purpose` names an SM leaf (`sm_ssl`, `sm_enssl`, `sm_sdk`, `sm_ensdk`).
pub fn is_sm_purpose(purpose: &str) -> bool {
    leaf_role(purpose).is_some()
}

/// A self-signed SM CA: `sm_ca.crt` and `sm_ca.key`.
pub fn new_sm_ca(keys: &mut dyn KeySource) -> Result<super::CaMaterial, PkiError> {
    let key = keys.next_sm2_key();
    let subject = name("chain", "FISCO-BCOS")?;
    let profile = SmProfile {
        subject: subject.clone(),
        issuer: subject,
        role: Role::Ca,
        issuer_ski: None,
    };
    let cert = build(profile, &key, &key, keys, "SM CA")?;
    Ok(super::CaMaterial {
        cert_pem: cert,
        key_pem: key_pem(&key)?,
    })
}

/// Loads `sm_ca.crt` + `sm_ca.key` (PKCS#8 or SEC1 PEM), checking that they match.
pub fn load_sm_issuer(cert_pem: &str, key_pem: &Secret) -> Result<SmIssuer, PkiError> {
    let cert = parse(cert_pem, "SM CA certificate")?;
    let key = parse_key(key_pem, "SM CA key")?;
    check_match(&cert, &key, "SM CA key", "SM CA certificate")?;
    Ok(SmIssuer { cert, key })
}

/// Issues the SM leaf `purpose` signed by `ca`.
pub fn issue_sm_leaf(
    ca: &SmIssuer,
    purpose: &str,
    keys: &mut dyn KeySource,
) -> Result<super::LeafMaterial, PkiError> {
    let (unit, usages) = leaf_role(purpose).ok_or_else(|| PkiError::UnknownPurpose(purpose.into()))?;
    let key = keys.next_sm2_key();
    let issuer_ski = ca
        .cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0.as_bytes().to_vec());
    let profile = SmProfile {
        subject: name(unit, "fisco-bcos")?,
        issuer: ca.cert.tbs_certificate().subject().clone(),
        role: Role::Leaf(usages),
        issuer_ski,
    };
    let cert = build(profile, &key, &ca.key, keys, purpose)?;
    Ok(super::LeafMaterial {
        cert_pem: cert,
        key_pem: key_pem(&key)?,
    })
}

/// Checks an existing SM leaf: signed by `ca` (SM2 with SM3) and `key_pem` is its key.
pub fn verify_sm_leaf(ca: &SmIssuer, cert_pem: &str, key_pem: &Secret, what: &str) -> Result<(), PkiError> {
    let cert = parse(cert_pem, what)?;
    if !signed_by(&cert, &ca.cert) {
        return Err(PkiError::NotSignedByCa { what: what.into() });
    }
    let key_what = format!("the private key of {what}");
    let key = parse_key(key_pem, &key_what)?;
    check_match(&cert, &key, &key_what, what)
}

/// Whether SM2 certificate `leaf_pem` is signed (SM2 with SM3) by the key of SM2
/// certificate `ca_pem`; `None` when either is not a readable SM2 certificate.
pub fn sm_signed_by(leaf_pem: &str, ca_pem: &str) -> Option<bool> {
    let leaf = parse(leaf_pem, "certificate").ok()?;
    let ca = parse(ca_pem, "CA certificate").ok()?;
    Some(signed_by(&leaf, &ca))
}

/// The SM CA certificate as PEM.
pub fn issuer_cert_pem(ca: &SmIssuer) -> Result<String, PkiError> {
    ca.cert.to_pem(LineEnding::LF).map_err(|e| PkiError::BadCert {
        what: "SM CA certificate".into(),
        reason: e.to_string(),
    })
}

/// True when `cert` carries an sm2-with-sm3 signature that `issuer`'s key verifies.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.signature_algorithm().oid.to_string() != SM2_SM3_OID {
        return false;
    }
    let spki = &issuer.tbs_certificate().subject_public_key_info();
    let Ok(key) = VerifyingKey::from_sec1_bytes(SM2_USER_ID, spki.subject_public_key.raw_bytes()) else {
        return false;
    };
    let Some(sig) = cert.signature().as_bytes() else {
        return false;
    };
    let Ok(der_sig) = sm2::dsa::DerSignature::try_from(sig) else {
        return false;
    };
    let Ok(sig) = sm2::dsa::Signature::try_from(der_sig) else {
        return false;
    };
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    key.verify(&tbs, &sig).is_ok()
}

/// `CN=FISCO-BCOS, O=<org>, OU=<unit>`, in that order (as `-subj /CN=../O=../OU=..`).
fn name(unit: &str, org: &str) -> Result<Name, PkiError> {
    // RFC 4514 strings list the RDNs last-first.
    Name::from_str(&format!("OU={unit},O={org},CN=FISCO-BCOS")).map_err(|e| PkiError::Sign {
        what: "subject".into(),
        reason: e.to_string(),
    })
}

fn key_pem(key: &sm2::SecretKey) -> Result<Secret, PkiError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| Secret::new(pem.as_str()))
        .map_err(|e| PkiError::KeyGeneration(format!("cannot encode an SM2 key: {e}")))
}

fn parse(cert_pem: &str, what: &str) -> Result<Certificate, PkiError> {
    let cert = Certificate::from_pem(cert_pem.trim_start().as_bytes()).map_err(|e| PkiError::BadCert {
        what: what.into(),
        reason: e.to_string(),
    })?;
    if !spki_is_sm2(cert.tbs_certificate().subject_public_key_info()) {
        return Err(PkiError::WrongKeyType {
            what: what.into(),
            found: cert
                .tbs_certificate()
                .subject_public_key_info()
                .algorithm
                .oid
                .to_string(),
        });
    }
    Ok(cert)
}

/// An unencrypted SM2 private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
fn parse_key(pem: &Secret, what: &str) -> Result<sm2::SecretKey, PkiError> {
    let text = pem.expose().trim_start();
    let parsed = if text.starts_with("-----BEGIN EC PRIVATE KEY") {
        sm2::SecretKey::from_sec1_pem(text).map_err(|e| e.to_string())
    } else {
        sm2::SecretKey::from_pkcs8_pem(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|reason| PkiError::BadKey {
        what: what.into(),
        reason: format!("expected an SM2 key: {reason}"),
    })
}

fn check_match(
    cert: &Certificate,
    key: &sm2::SecretKey,
    key_what: &str,
    cert_what: &str,
) -> Result<(), PkiError> {
    let public = sm2::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&key.public_key(), false);
    let in_cert = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    if public.as_bytes() == in_cert {
        Ok(())
    } else {
        Err(PkiError::KeyMismatch {
            key: key_what.into(),
            cert: cert_what.into(),
        })
    }
}

/// Signs `subject_key`'s certificate with `issuer_key`, from the key source's clock and serial.
fn build(
    profile: SmProfile,
    subject_key: &sm2::SecretKey,
    issuer_key: &sm2::SecretKey,
    keys: &mut dyn KeySource,
    what: &str,
) -> Result<String, PkiError> {
    let sign_err = |reason: String| PkiError::Sign {
        what: what.into(),
        reason,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(&subject_key.public_key())
        .map_err(|e| sign_err(e.to_string()))?;
    let spki_der = spki.to_der().map_err(|e| sign_err(e.to_string()))?;
    let serial = SerialNumber::new(&keys.sm_serial(&spki_der)).map_err(|e| sign_err(e.to_string()))?;
    let start = keys.not_before().unix_timestamp().max(0) as u64;
    let end = start + super::VALIDITY_DAYS as u64 * 86_400;
    let time = |secs: u64| {
        GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
            .map(Time::GeneralTime)
            .map_err(|e| sign_err(e.to_string()))
    };
    let validity = Validity::new(time(start)?, time(end)?);
    let builder =
        CertificateBuilder::new(profile, serial, validity, spki).map_err(|e| sign_err(e.to_string()))?;
    let signer = DerSigner(SigningKey::new(SM2_USER_ID, issuer_key).map_err(|e| sign_err(e.to_string()))?);
    let cert = builder.build(&signer).map_err(|e| sign_err(e.to_string()))?;
    cert.to_pem(LineEnding::LF).map_err(|e| sign_err(e.to_string()))
}

enum Role {
    Ca,
    Leaf(FlagSet<KeyUsages>),
}

/// The extensions of `generate_cert.sh`'s `v3_ca`, `v3_req` and `v3enc_req` sections.
struct SmProfile {
    subject: Name,
    issuer: Name,
    role: Role,
    issuer_ski: Option<Vec<u8>>,
}

impl BuilderProfile for SmProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut out: Vec<Extension> = Vec::new();
        match &self.role {
            Role::Ca => {
                let ski = SubjectKeyIdentifier::try_from(spk)?;
                out.push(ski.to_extension(subject, &out)?);
                let aki = AuthorityKeyIdentifier {
                    key_identifier: Some(ski.0.clone()),
                    ..Default::default()
                };
                out.push(aki.to_extension(subject, &out)?);
                let bc = BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                };
                out.push(bc.to_extension(subject, &out)?);
                let usage = KeyUsage(KeyUsages::CRLSign | KeyUsages::KeyCertSign);
                out.push(usage.to_extension(subject, &out)?);
            }
            Role::Leaf(usages) => {
                let bc = BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                };
                out.push(bc.to_extension(subject, &out)?);
                out.push(KeyUsage(*usages).to_extension(subject, &out)?);
                if let Some(ski) = &self.issuer_ski {
                    let id = x509_cert::der::asn1::OctetString::new(ski.clone())?;
                    let aki = AuthorityKeyIdentifier {
                        key_identifier: Some(id),
                        ..Default::default()
                    };
                    out.push(aki.to_extension(subject, &out)?);
                }
            }
        }
        Ok(out)
    }
}

/// An SM2 signer whose signatures are DER `SEQUENCE { r, s }`, the form X.509 needs.
struct DerSigner(SigningKey);

impl Keypair for DerSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key().clone()
    }
}

impl Signer<sm2::dsa::DerSignature> for DerSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<sm2::dsa::DerSignature, sm2::dsa::signature::Error> {
        let sig: sm2::dsa::Signature = self.0.try_sign(msg)?;
        Ok(sig.into())
    }
}

impl SignatureAlgorithmIdentifier for DerSigner {
    type Params = AnyRef<'static>;

    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<Self::Params> =
        <SigningKey as SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

/// A fresh SM2 key from the operating system's random source.
pub(super) fn random_key() -> sm2::SecretKey {
    sm2::SecretKey::generate()
}
