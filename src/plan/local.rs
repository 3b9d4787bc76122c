//! What is on local disk (gathered by `cli::inputs`): CA, leaf certificates, key digests,
//! local copies of config files and built packages. Never private key contents.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::addr::Address;
use crate::config::ServiceKind;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LocalFiles {
    /// Per service type, the CA directory's content (absent: nothing there).
    pub cas: BTreeMap<ServiceKind, LocalCa>,
    /// Per `cert[...]` address, the existing leaf.
    pub certs: BTreeMap<Address, LocalCert>,
    /// Per `config[...]` address, sha256 of the local copy (for `ssl.key`, of the key file).
    pub configs: BTreeMap<Address, String>,
    /// Per server name, its built package or why it cannot be built.
    pub packages: BTreeMap<String, LocalPackage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LocalCa {
    /// `ca.crt` (public).
    pub cert_pem: Option<String>,
    /// Not part of the inputs digest: a plan does not depend on it (apply checks it).
    #[serde(skip)]
    pub key_present: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalCert {
    /// `ssl.crt` / `sdk.crt` (public).
    pub cert_pem: String,
    pub key_present: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LocalPackage {
    /// The deterministic `<server>.tgz` built from `tars_pkg_dir`.
    Built {
        sha256: String,
        size: u64,
        path: String,
        source: String,
    },
    /// `tars_pkg_dir/<binary>.tgz` is absent or unreadable.
    Missing { source: String, reason: String },
    /// A release archive pinned by digest in `[tars.packages]`: the plan needs only the
    /// digest; apply fetches it into `cache` (whether it is there yet is not recorded, so
    /// the plan is the same either way).
    Pinned {
        version: String,
        /// sha256 of the release archive (not of the built `<server>.tgz`).
        archive_sha256: String,
        /// `url` without credentials, or `dir`.
        from: String,
        cache: String,
        path: String,
    },
}
