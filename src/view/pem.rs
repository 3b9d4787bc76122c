//! Certificates and keys as fingerprints: a reviewer compares digests, not 20 lines of
//! base64, and a private key never reaches the output.
//!
//! The digest is [`crate::plan::pem_sha256`] of the whole text, the same one the plan's
//! `cert_sha256`, `ca_sha256` and `content_sha256` attributes carry.

use x509_parser::pem::Pem;

/// How many hex digits of the sha256 are shown.
const SHOWN_DIGITS: usize = 16;

/// `sha256:4b7904d021575d15… (CN=FISCO-BCOS, not after 2126-11-05)` for a certificate,
/// `(sensitive: key, sha256 …)` for a private key, `None` when `text` is not PEM only
/// (a config file that merely quotes a certificate stays text).
pub(crate) fn summary(text: &str) -> Option<String> {
    // Anything holding a private key, torn or not, is never shown.
    if text.contains("PRIVATE KEY-----") {
        return Some(format!("(sensitive: key, sha256 {})", short_digest(text)));
    }
    let trimmed = text.trim();
    if !trimmed.starts_with("-----BEGIN ") || !trimmed.ends_with("-----") {
        return None;
    }
    let mut parts = Vec::new();
    for block in Pem::iter_from_buffer(trimmed.as_bytes()) {
        let block = block.ok()?;
        if block.label == "CERTIFICATE" || block.label.ends_with(" CERTIFICATE") {
            parts.push(certificate_facts(&block));
        } else {
            parts.push(block.label.to_lowercase());
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("sha256:{} ({})", short_digest(text), parts.join("; ")))
}

fn short_digest(text: &str) -> String {
    let digest = crate::plan::pem_sha256(text);
    format!("{}…", &digest[..SHOWN_DIGITS])
}

/// `CN=…, not after YYYY-MM-DD`, or `certificate` when it does not parse.
fn certificate_facts(block: &Pem) -> String {
    let Ok(cert) = block.parse_x509() else {
        return "certificate".into();
    };
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(|cn| format!("CN={cn}, "))
        .unwrap_or_default();
    let end = cert.validity().not_after.to_datetime().date();
    format!("{cn}not after {end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::view::fixtures::cert_pem as ca_pem;

    #[test]
    fn a_certificate_shows_its_digest_subject_and_expiry() {
        let pem = ca_pem("FISCO-BCOS");
        let shown = summary(&pem).unwrap();
        let digest = crate::plan::pem_sha256(&pem);
        assert_eq!(
            shown,
            format!("sha256:{}… (CN=FISCO-BCOS, not after 2126-11-05)", &digest[..16])
        );
    }

    #[test]
    fn a_private_key_shows_only_that_it_is_one() {
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let shown = summary(&key).unwrap();
        assert!(shown.starts_with("(sensitive: key, sha256 "), "{shown}");
        assert!(!shown.contains("BEGIN"));
        // A certificate and its key in one file is still sensitive.
        let both = format!("{}{key}", ca_pem("x"));
        assert!(summary(&both).unwrap().starts_with("(sensitive: key"));
        // So is a torn one, or one quoted inside a config file.
        let torn = &key[..key.len() / 2];
        assert!(
            summary(&format!("{torn}\n-----END PRIVATE KEY-----"))
                .unwrap()
                .starts_with("(sensitive")
        );
        assert!(
            summary(&format!("[ssl]\nkey = {key}"))
                .unwrap()
                .starts_with("(sensitive")
        );
    }

    #[test]
    fn text_that_only_quotes_pem_stays_text() {
        assert_eq!(summary("[cert]\nca = -----BEGIN CERTIFICATE-----\n"), None);
        assert_eq!(summary("listen_port = 20200"), None);
        // Torn PEM is not summarised as a certificate.
        assert_eq!(
            summary("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"),
            None
        );
    }

    #[test]
    fn a_bundle_lists_each_certificate() {
        let bundle = format!("{}{}", ca_pem("root"), ca_pem("issuer"));
        let shown = summary(&bundle).unwrap();
        assert!(
            shown.contains("CN=root, not after 2126-11-05; CN=issuer"),
            "{shown}"
        );
    }
}
