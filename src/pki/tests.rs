//! Unit tests of issuance with fixed keys (fast and deterministic).

use super::*;
use crate::secret::Secret;

fn fixed_keys() -> FixedKeys {
    FixedKeys::new(vec![
        include_str!("../../tests/fixtures/golden/keys/key1.pem").to_string(),
        include_str!("../../tests/fixtures/golden/keys/key2.pem").to_string(),
        include_str!("../../tests/fixtures/golden/keys/key3.pem").to_string(),
    ])
}

fn loaded(material: &CaMaterial) -> Ca {
    load_ca(&material.cert_pem, &material.key_pem).unwrap()
}

#[test]
fn fixed_keys_give_byte_identical_certificates() {
    let first = new_ca(&mut fixed_keys()).unwrap();
    let second = new_ca(&mut fixed_keys()).unwrap();
    assert_eq!(first.cert_pem, second.cert_pem);
    assert_eq!(first.key_pem, second.key_pem);
    let ca = loaded(&first);
    let leaf_a = issue_leaf(&ca, "ssl", &mut fixed_keys()).unwrap();
    let leaf_b = issue_leaf(&ca, "ssl", &mut fixed_keys()).unwrap();
    assert_eq!(leaf_a.cert_pem, leaf_b.cert_pem);
}

#[test]
fn each_certificate_of_one_source_gets_its_own_serial() {
    let mut keys = fixed_keys();
    let ca = loaded(&new_ca(&mut keys).unwrap());
    let a = issue_leaf(&ca, "ssl", &mut keys).unwrap();
    let b = issue_leaf(&ca, "sdk", &mut keys).unwrap();
    let c = issue_leaf(&ca, "ssl", &mut keys).unwrap(); // same key as the CA: the cycle wrapped
    let serial = |pem: &str| {
        let der = parse::cert_der(pem, "t").unwrap();
        parse::parse_cert(&der, "t").unwrap().raw_serial().to_vec()
    };
    let serials = [serial(&a.cert_pem), serial(&b.cert_pem), serial(&c.cert_pem)];
    assert_ne!(serials[0], serials[1]);
    assert_ne!(serials[0], serials[2]);
    assert_ne!(serials[1], serials[2]);
}

#[test]
fn leaf_keys_are_unencrypted_pkcs8() {
    let mut keys = fixed_keys();
    let ca = loaded(&new_ca(&mut keys).unwrap());
    let leaf = issue_leaf(&ca, "sdk", &mut keys).unwrap();
    assert!(leaf.key_pem.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    verify_leaf(&ca, &leaf.cert_pem, &leaf.key_pem, "sdk.crt").unwrap();
}

#[test]
fn load_ca_rejects_a_key_of_another_certificate() {
    let ca = new_ca(&mut fixed_keys()).unwrap();
    let other_key = Secret::new(include_str!("../../tests/fixtures/golden/keys/key2.pem"));
    let err = load_ca(&ca.cert_pem, &other_key).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("hint:"));
}

#[test]
fn load_ca_imports_an_openssl_v1_ca_with_a_pkcs1_key() {
    let cert = include_str!("../../tests/fixtures/golden/bcosbuilder/ca/ca.crt");
    let key = Secret::new(include_str!("../../tests/fixtures/golden/bcosbuilder/ca/ca.key"));
    let ca = load_ca(cert, &key).unwrap();
    let leaf = issue_leaf(&ca, "ssl", &mut fixed_keys()).unwrap();
    verify_leaf(&ca, &leaf.cert_pem, &leaf.key_pem, "ssl.crt").unwrap();
}

#[test]
fn verify_leaf_rejects_a_leaf_of_another_ca() {
    let mut keys = fixed_keys();
    let ours = loaded(&new_ca(&mut keys).unwrap());
    let cert = include_str!("../../tests/fixtures/golden/bcosbuilder/ca/ca.crt");
    let key = Secret::new(include_str!("../../tests/fixtures/golden/bcosbuilder/ca/ca.key"));
    let theirs = load_ca(cert, &key).unwrap();
    let leaf = issue_leaf(&theirs, "ssl", &mut keys).unwrap();
    let err = verify_leaf(&ours, &leaf.cert_pem, &leaf.key_pem, "ssl.crt").unwrap_err();
    assert!(matches!(err, PkiError::NotSignedByCa { .. }), "{err}");
}

#[test]
fn unknown_purpose_is_refused() {
    let mut keys = fixed_keys();
    let ca = loaded(&new_ca(&mut keys).unwrap());
    assert!(matches!(
        issue_leaf(&ca, "node", &mut keys),
        Err(PkiError::UnknownPurpose(_))
    ));
}

#[test]
fn cert_digest_is_the_sha256_of_the_der() {
    let ca = new_ca(&mut fixed_keys()).unwrap();
    let digest = cert_digest(&ca.cert_pem);
    assert_eq!(digest.len(), 64);
    assert_eq!(digest, loaded(&ca).digest());
    assert_ne!(digest, cert_digest("garbage"));
}

#[test]
fn errors_and_debug_never_show_private_keys() {
    let ca = new_ca(&mut fixed_keys()).unwrap();
    let key_body = ca.key_pem.expose().lines().nth(1).unwrap().to_string();
    assert!(!format!("{ca:?}").contains(&key_body));
    assert!(!format!("{:?}", loaded(&ca)).contains(&key_body));
    let err = load_ca(
        &ca.cert_pem,
        &Secret::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("AAAA"), "{err}");
}

#[test]
fn system_keys_prefetch_makes_rsa_2048_keys() {
    let mut keys = SystemKeys::new();
    keys.prefetch(2).unwrap();
    let a = keys.next_key().unwrap();
    let b = keys.next_key().unwrap();
    assert_ne!(a.public_key_raw(), b.public_key_raw());
    assert_eq!(a.algorithm(), &rcgen::PKCS_RSA_SHA256);
    // RSA-2048: the PKCS#1 public key holds a 257-byte modulus (leading zero) in ~270 bytes.
    assert!(
        (268..=272).contains(&a.public_key_raw().len()),
        "{}",
        a.public_key_raw().len()
    );
}

#[test]
fn sm_signed_by_tells_an_sm_leaf_of_its_ca_from_one_of_another_ca() {
    use super::sm2::{issue_sm_leaf, load_sm_issuer, new_sm_ca, sm_signed_by};
    let mut keys = fixed_keys();
    let ca = new_sm_ca(&mut keys).unwrap();
    let other = new_sm_ca(&mut keys).unwrap();
    let issuer = load_sm_issuer(&ca.cert_pem, &ca.key_pem).unwrap();
    let leaf = issue_sm_leaf(&issuer, "sm_ssl", &mut keys).unwrap();
    assert_eq!(sm_signed_by(&leaf.cert_pem, &ca.cert_pem), Some(true));
    assert_eq!(sm_signed_by(&leaf.cert_pem, &other.cert_pem), Some(false));
    assert_eq!(sm_signed_by("not a certificate", &ca.cert_pem), None);
}
