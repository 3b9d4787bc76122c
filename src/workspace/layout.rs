//! Where each generated file lives, in BcosBuilder's layout:
//! `<root>/<type>/<chain>/ca/{ca.crt,ca.key,cert.cnf}`,
//! `<root>/<type>/<chain>/<server>/<ip>/{config.ini,nodes.json,ssl/…,sdk/…}` and
//! `<root>/<server>.tgz`.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::{ChainSettings, ServiceKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
    pub chain_id: String,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>, chain_id: impl Into<String>) -> Self {
        Layout {
            root: root.into(),
            chain_id: chain_id.into(),
        }
    }

    /// `<root>/<type>/<chain>/ca`: the default CA directory.
    pub fn ca_dir(&self, kind: ServiceKind) -> PathBuf {
        self.root.join(kind.as_str()).join(&self.chain_id).join("ca")
    }

    /// The CA directory actually used: `*_ca_cert_path` when the topology names it,
    /// otherwise [`Layout::ca_dir`] (so it follows `-o`, like BcosBuilder's `-O`).
    pub fn ca_dir_for(&self, chain: &ChainSettings, kind: ServiceKind) -> PathBuf {
        let explicit = match kind {
            ServiceKind::Rpc => chain.rpc_ca_cert_path_explicit,
            ServiceKind::Gateway => chain.gateway_ca_cert_path_explicit,
        };
        if explicit {
            chain.ca_cert_path(kind).clone()
        } else {
            self.ca_dir(kind)
        }
    }

    /// `<root>/<type>/<chain>/<server>/<ip>`.
    pub fn node_dir(&self, kind: ServiceKind, server: &str, ip: IpAddr) -> PathBuf {
        let mut dir = self.root.clone();
        for part in [kind.as_str(), &self.chain_id, server, &ip.to_string()] {
            dir.push(part);
        }
        dir
    }

    /// `<node dir>/ssl` or `<node dir>/sdk`: where a leaf of `purpose` lives.
    /// SM leaves share them: `sm_ssl`/`sm_enssl` under `ssl/`, `sm_sdk`/`sm_ensdk` under `sdk/`.
    pub fn cert_dir(&self, kind: ServiceKind, server: &str, ip: IpAddr, purpose: &str) -> PathBuf {
        self.node_dir(kind, server, ip)
            .join(crate::config::purpose_dir(purpose))
    }

    /// The local copy of one node file: `config.ini`/`nodes.json` in the node directory,
    /// `ca.crt`/`ssl.*` under `ssl/`, `sdk.*` under `sdk/`.
    pub fn config_path(&self, kind: ServiceKind, server: &str, ip: IpAddr, file: &str) -> PathBuf {
        let mut path = self.node_dir(kind, server, ip);
        if let Some(purpose) = crate::config::file_purpose(file) {
            path.push(crate::config::purpose_dir(purpose));
        }
        path.push(file);
        path
    }

    /// `<root>/packages/<server>.tgz`: the package uploaded to Tars. Never BcosBuilder's
    /// `<root>/<server>.tgz`, which tarsform does not write over.
    pub fn package_path(&self, server: &str) -> PathBuf {
        self.root.join("packages").join(format!("{server}.tgz"))
    }

    /// `<root>/packages/by-sha256/<hex>.tgz`: the cache of release archives pinned by
    /// digest (`[tars.packages]`). `sha256` is a validated hex digest, so it cannot escape.
    pub fn package_cache_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("packages")
            .join("by-sha256")
            .join(format!("{sha256}.tgz"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_bcosbuilder() {
        let layout = Layout::new("generated", "chain0");
        let ip: IpAddr = "172.25.0.5".parse().unwrap();
        let server = "agencyABcosRpcService";
        assert_eq!(
            layout.ca_dir(ServiceKind::Gateway),
            PathBuf::from("generated/gateway/chain0/ca")
        );
        assert_eq!(
            layout.config_path(ServiceKind::Rpc, server, ip, "config.ini"),
            PathBuf::from("generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/config.ini")
        );
        assert_eq!(
            layout.config_path(ServiceKind::Rpc, server, ip, "ssl.key"),
            PathBuf::from("generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/ssl/ssl.key")
        );
        assert_eq!(
            layout.config_path(ServiceKind::Rpc, server, ip, "sdk.crt"),
            PathBuf::from("generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/sdk/sdk.crt")
        );
        assert_eq!(
            layout.package_path(server),
            PathBuf::from("generated/packages/agencyABcosRpcService.tgz")
        );
        assert_eq!(
            layout.package_cache_path("ab12"),
            PathBuf::from("generated/packages/by-sha256/ab12.tgz")
        );
        // SM mode: both leaf pairs and the CA copy under ssl/, the SDK's under sdk/.
        for (file, sub) in [
            ("sm_ca.crt", "ssl"),
            ("sm_enssl.key", "ssl"),
            ("sm_ensdk.crt", "sdk"),
        ] {
            assert_eq!(
                layout.config_path(ServiceKind::Rpc, server, ip, file),
                PathBuf::from(format!(
                    "generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/{sub}/{file}"
                ))
            );
        }
        assert_eq!(
            layout.cert_dir(ServiceKind::Rpc, server, ip, "sm_enssl"),
            PathBuf::from("generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/ssl")
        );
    }
}
