//! SM2/SM3 certificates checked by OpenSSL 3: every leaf verifies against its CA, carries
//! the key usages of BcosBuilder's `sm_cert.cnf`, and its key loads; a CA made by the
//! OpenSSL CLI is adopted and signs our leaves.
//!
//! OpenSSL 3.0 verifies SM2 signatures without the user ID unless told one, while TASSL,
//! GM TLS and FISCO BCOS use the standard ID `1234567812345678`: so `verify` runs with
//! `-vfyopt distid:1234567812345678` and the CLI CA is signed with `-sigopt distid:…`.

use std::path::Path;
use std::process::Command;

use tarsform::pki::{self, SystemKeys};
use tarsform::secret::Secret;

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const DISTID: &str = "distid:1234567812345678";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Issues every SM leaf from `ca` into `dir` and checks each with OpenSSL.
fn issue_and_check_all(ca: &pki::Ca, dir: &Path) {
    let expected = [
        ("sm_ssl", "OU = ssl", "Digital Signature, Non Repudiation"),
        (
            "sm_enssl",
            "OU = enssl",
            "Key Encipherment, Data Encipherment, Key Agreement",
        ),
        ("sm_sdk", "OU = sdk", "Digital Signature, Non Repudiation"),
        (
            "sm_ensdk",
            "OU = ensdk",
            "Key Encipherment, Data Encipherment, Key Agreement",
        ),
    ];
    for (purpose, unit, usages) in expected {
        let leaf = pki::issue_leaf(ca, purpose, &mut SystemKeys::new()).unwrap();
        write(dir, &format!("{purpose}.crt"), &leaf.cert_pem);
        write(dir, &format!("{purpose}.key"), leaf.key_pem.expose());
        let crt = format!("{purpose}.crt");
        let (ok, text) = openssl(&["verify", "-vfyopt", DISTID, "-CAfile", "sm_ca.crt", &crt], dir);
        assert!(ok, "openssl verify {purpose}: {text}");
        assert!(text.contains(&format!("{crt}: OK")), "{text}");
        let (ok, text) = openssl(&["x509", "-in", &crt, "-noout", "-text"], dir);
        assert!(ok, "{text}");
        assert!(
            text.contains("Signature Algorithm: SM2-with-SM3"),
            "{purpose}: {text}"
        );
        assert!(text.contains("ASN1 OID: SM2"), "{purpose}: {text}");
        assert!(
            text.contains(&format!("CN = FISCO-BCOS, O = fisco-bcos, {unit}")),
            "{text}"
        );
        assert!(text.contains("CA:FALSE"), "{purpose}: {text}");
        assert!(text.contains(usages), "{purpose} key usages: {text}");
        // The key loads in OpenSSL and is the certificate's key.
        let key = format!("{purpose}.key");
        let (ok, key_pub) = openssl(&["pkey", "-in", &key, "-pubout"], dir);
        assert!(ok, "openssl loads {key}: {key_pub}");
        let (ok, cert_pub) = openssl(&["x509", "-in", &crt, "-noout", "-pubkey"], dir);
        assert!(ok, "{cert_pub}");
        assert_eq!(key_pub, cert_pub, "{purpose}: the key belongs to the certificate");
        pki::verify_leaf(ca, &leaf.cert_pem, &leaf.key_pem, &crt).unwrap();
    }
    // 36500 days, like `-days 36500`.
    let (_, dates) = openssl(
        &["x509", "-in", "sm_ssl.crt", "-noout", "-startdate", "-enddate"],
        dir,
    );
    let year = |prefix: &str| -> i32 {
        let line = dates.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    assert_eq!(year("notAfter") - year("notBefore"), 100, "{dates}");
}

#[test]
fn our_sm_ca_and_leaves_verify_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let material = pki::new_ca_for(true, &mut SystemKeys::new()).unwrap();
    write(dir.path(), "sm_ca.crt", &material.cert_pem);
    write(dir.path(), "sm_ca.key", material.key_pem.expose());
    let (ok, text) = openssl(&["x509", "-in", "sm_ca.crt", "-noout", "-text"], dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    assert!(
        text.contains("CN = FISCO-BCOS, O = FISCO-BCOS, OU = chain"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    let (ok, text) = openssl(&["pkey", "-in", "sm_ca.key", "-noout"], dir.path());
    assert!(ok, "the CA key loads: {text}");
    let ca = pki::load_ca(&material.cert_pem, &material.key_pem).unwrap();
    assert!(ca.is_sm());
    // Its self-signature uses the standard SM2 user ID.
    pki::verify_leaf(&ca, &material.cert_pem, &material.key_pem, "sm_ca.crt").unwrap();
    issue_and_check_all(&ca, dir.path());
}

#[test]
fn a_ca_made_by_the_openssl_cli_is_adopted_and_signs_our_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "sm_ca.key",
        ],
        dir.path(),
    );
    assert!(ok, "{text}");
    let (ok, text) = openssl(
        &[
            "req",
            "-new",
            "-x509",
            "-sm3",
            "-sigopt",
            DISTID,
            "-days",
            "36500",
            "-key",
            "sm_ca.key",
            "-subj",
            "/CN=FISCO-BCOS/O=FISCO-BCOS/OU=chain",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=cRLSign,keyCertSign",
            "-out",
            "sm_ca.crt",
        ],
        dir.path(),
    );
    assert!(ok, "{text}");
    let cert = std::fs::read_to_string(dir.path().join("sm_ca.crt")).unwrap();
    let key = Secret::new(std::fs::read_to_string(dir.path().join("sm_ca.key")).unwrap());
    let ca = pki::load_ca(&cert, &key).expect("an OpenSSL-made SM CA is adopted");
    assert!(ca.is_sm());
    issue_and_check_all(&ca, dir.path());
}

#[test]
fn an_sm_ca_refuses_rsa_purposes_and_an_rsa_ca_refuses_sm_ones() {
    let sm = pki::new_ca_for(true, &mut SystemKeys::new()).unwrap();
    let sm = pki::load_ca(&sm.cert_pem, &sm.key_pem).unwrap();
    let err = pki::issue_leaf(&sm, "ssl", &mut SystemKeys::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be signed by an SM2 CA"), "{err}");
    let rsa = pki::new_ca(&mut SystemKeys::new()).unwrap();
    let rsa = pki::load_ca(&rsa.cert_pem, &rsa.key_pem).unwrap();
    let err = pki::issue_leaf(&rsa, "sm_ssl", &mut SystemKeys::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be signed by an RSA CA"), "{err}");
}

#[test]
fn a_leaf_of_another_sm_ca_or_a_wrong_key_is_refused() {
    let a = pki::new_ca_for(true, &mut SystemKeys::new()).unwrap();
    let a = pki::load_ca(&a.cert_pem, &a.key_pem).unwrap();
    let b = pki::new_ca_for(true, &mut SystemKeys::new()).unwrap();
    let b = pki::load_ca(&b.cert_pem, &b.key_pem).unwrap();
    let leaf = pki::issue_leaf(&a, "sm_ssl", &mut SystemKeys::new()).unwrap();
    let other = pki::issue_leaf(&a, "sm_enssl", &mut SystemKeys::new()).unwrap();
    let err = pki::verify_leaf(&b, &leaf.cert_pem, &leaf.key_pem, "sm_ssl.crt").unwrap_err();
    assert!(err.to_string().contains("is not signed by this CA"), "{err}");
    let err = pki::verify_leaf(&a, &leaf.cert_pem, &other.key_pem, "sm_ssl.crt").unwrap_err();
    assert!(err.to_string().contains("does not belong to"), "{err}");
    // A CA key that is not the certificate's key is refused at load.
    let c = pki::new_ca_for(true, &mut SystemKeys::new()).unwrap();
    let err = pki::load_ca(&c.cert_pem, &other.key_pem).unwrap_err();
    assert!(err.to_string().contains("does not belong to"), "{err}");
    // Error text never holds key material.
    assert!(!err.to_string().contains("PRIVATE KEY"));
}
