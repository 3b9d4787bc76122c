//! The certificate set of one service type: RSA, or national cryptography (SM2/SM3,
//! `rpc_sm_ssl`/`gateway_sm_ssl = true`). It decides the CA files, the leaves made per
//! node and the files pushed to Tars, as BcosBuilder does (reference/bcosbuilder.md §4).

use serde::Serialize;

use super::ServiceKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertMode {
    Rsa,
    Sm,
}

impl CertMode {
    pub fn of(sm_ssl: bool) -> Self {
        if sm_ssl { CertMode::Sm } else { CertMode::Rsa }
    }

    pub fn is_sm(self) -> bool {
        self == CertMode::Sm
    }

    /// `RSA-2048` or `SM2`: the key type named in plans and errors.
    pub fn key_type(self) -> &'static str {
        match self {
            CertMode::Rsa => "RSA-2048",
            CertMode::Sm => "SM2",
        }
    }

    /// The CA certificate in the CA directory and in each node's `ssl/`.
    pub fn ca_cert_file(self) -> &'static str {
        match self {
            CertMode::Rsa => "ca.crt",
            CertMode::Sm => "sm_ca.crt",
        }
    }

    pub fn ca_key_file(self) -> &'static str {
        match self {
            CertMode::Rsa => "ca.key",
            CertMode::Sm => "sm_ca.key",
        }
    }

    /// Leaves made for each node: the node's own (`ssl`, or `sm_ssl` + `sm_enssl`) and,
    /// for rpc, the SDK's (`sdk`, or `sm_sdk` + `sm_ensdk`), which stay local.
    pub fn cert_purposes(self, kind: ServiceKind) -> &'static [&'static str] {
        match (self, kind) {
            (CertMode::Rsa, _) => kind.cert_purposes(),
            (CertMode::Sm, ServiceKind::Rpc) => &["sm_ssl", "sm_enssl", "sm_sdk", "sm_ensdk"],
            (CertMode::Sm, ServiceKind::Gateway) => &["sm_ssl", "sm_enssl"],
        }
    }

    /// Config files pushed to Tars for each node, in BcosBuilder's upload order.
    pub fn config_files(self, kind: ServiceKind) -> &'static [&'static str] {
        match (self, kind) {
            (CertMode::Rsa, _) => kind.config_files(),
            (CertMode::Sm, ServiceKind::Rpc) => &[
                "config.ini",
                "sm_ca.crt",
                "sm_ssl.crt",
                "sm_ssl.key",
                "sm_enssl.crt",
                "sm_enssl.key",
            ],
            (CertMode::Sm, ServiceKind::Gateway) => &[
                "config.ini",
                "nodes.json",
                "sm_ca.crt",
                "sm_ssl.crt",
                "sm_ssl.key",
                "sm_enssl.crt",
                "sm_enssl.key",
            ],
        }
    }

    /// The private keys among the pushed files: what storage security encrypts.
    pub fn key_files(self) -> &'static [&'static str] {
        match self {
            CertMode::Rsa => &["ssl.key"],
            CertMode::Sm => &["sm_ssl.key", "sm_enssl.key"],
        }
    }
}

/// Every node file that is a private key, in either mode: secret everywhere.
pub const SECRET_FILES: [&str; 3] = ["ssl.key", "sm_ssl.key", "sm_enssl.key"];

/// The leaf a pushed certificate file belongs to: `ssl.crt` → `ssl`, `sm_enssl.key` →
/// `sm_enssl`; the CA copy belongs to the node's first leaf. `None` for other files.
pub fn file_purpose(file: &str) -> Option<&str> {
    match file {
        "ca.crt" => Some("ssl"),
        "sm_ca.crt" => Some("sm_ssl"),
        _ => file
            .strip_suffix(".crt")
            .or_else(|| file.strip_suffix(".key"))
            .filter(|p| matches!(*p, "ssl" | "sdk" | "sm_ssl" | "sm_enssl" | "sm_sdk" | "sm_ensdk")),
    }
}

/// The node sub-directory of a leaf: `ssl` (node) or `sdk` (SDK), as BcosBuilder lays it out.
pub fn purpose_dir(purpose: &str) -> &'static str {
    if purpose.ends_with("sdk") { "sdk" } else { "ssl" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm_file_sets_follow_bcosbuilder() {
        let sm = CertMode::Sm;
        assert_eq!(sm.config_files(ServiceKind::Rpc).len(), 6);
        assert_eq!(sm.config_files(ServiceKind::Gateway)[1], "nodes.json");
        assert_eq!(sm.cert_purposes(ServiceKind::Gateway), ["sm_ssl", "sm_enssl"]);
        assert_eq!(
            CertMode::Rsa.config_files(ServiceKind::Rpc),
            ServiceKind::Rpc.config_files()
        );
        for file in sm.config_files(ServiceKind::Gateway).iter().skip(2) {
            let purpose = file_purpose(file).unwrap();
            assert!(
                sm.cert_purposes(ServiceKind::Gateway).contains(&purpose),
                "{file}"
            );
        }
        for key in sm.key_files().iter().chain(CertMode::Rsa.key_files()) {
            assert!(SECRET_FILES.contains(key));
        }
        assert_eq!(file_purpose("config.ini"), None);
        assert_eq!(purpose_dir("sm_ensdk"), "sdk");
        assert_eq!(purpose_dir("sm_enssl"), "ssl");
    }
}
