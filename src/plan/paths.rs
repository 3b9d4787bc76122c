//! Where generated files live, as plan attributes: `workspace::Layout` (BcosBuilder's
//! layout) rendered as `/`-separated strings.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::config::{ServiceKind, Topology};
use crate::render::package::input_archive_name;
use crate::workspace::Layout;

pub struct Paths {
    layout: Layout,
    pkg_dir: PathBuf,
}

impl Paths {
    pub fn new(topology: &Topology, root: &str) -> Self {
        Paths {
            layout: Layout::new(root, topology.application()),
            pkg_dir: topology.tars.pkg_dir.clone(),
        }
    }

    /// The CA directory in use: `*_ca_cert_path` when written, else under the root.
    pub fn ca_dir(&self, topology: &Topology, kind: ServiceKind) -> String {
        text(&self.layout.ca_dir_for(&topology.chain, kind))
    }

    pub fn node_dir(&self, kind: ServiceKind, server: &str, ip: IpAddr) -> String {
        text(&self.layout.node_dir(kind, server, ip))
    }

    /// The local copy of a node's config file.
    pub fn config_path(&self, kind: ServiceKind, server: &str, ip: IpAddr, file: &str) -> String {
        text(&self.layout.config_path(kind, server, ip, file))
    }

    /// `(cert, key)` of a leaf: `ssl/ssl.crt`, `sdk/sdk.key`, ….
    pub fn cert_paths(&self, kind: ServiceKind, server: &str, ip: IpAddr, purpose: &str) -> (String, String) {
        let dir = self.layout.cert_dir(kind, server, ip, purpose);
        (
            text(&dir.join(format!("{purpose}.crt"))),
            text(&dir.join(format!("{purpose}.key"))),
        )
    }

    /// `<root>/packages/<server>.tgz` (BcosBuilder's `<root>/<server>.tgz` is left alone).
    pub fn package_path(&self, server: &str) -> String {
        text(&self.layout.package_path(server))
    }

    /// `<root>/packages/by-sha256/<hex>.tgz`: a pinned release archive once fetched.
    pub fn package_cache_path(&self, sha256: &str) -> String {
        text(&self.layout.package_cache_path(sha256))
    }

    /// `<tars_pkg_dir>/<binary>.tgz`.
    pub fn package_source(&self, kind: ServiceKind) -> String {
        text(&self.pkg_dir.join(input_archive_name(kind)))
    }
}

/// A path as plan text: `/`-separated on every platform.
fn text(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests_support::seed_topology;

    #[test]
    fn paths_are_bcosbuilders() {
        let topo = seed_topology();
        let p = Paths::new(&topo, "generated");
        let ip: IpAddr = "172.25.0.5".parse().unwrap();
        let rpc = "agencyABcosRpcService";
        assert_eq!(
            p.config_path(ServiceKind::Rpc, rpc, ip, "ssl.key"),
            "generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/ssl/ssl.key"
        );
        assert_eq!(
            p.cert_paths(ServiceKind::Rpc, rpc, ip, "sdk").0,
            "generated/rpc/chain0/agencyABcosRpcService/172.25.0.5/sdk/sdk.crt"
        );
        assert_eq!(
            p.package_path(rpc),
            "generated/packages/agencyABcosRpcService.tgz"
        );
        assert_eq!(
            p.package_source(ServiceKind::Gateway),
            "binary/BcosGatewayService.tgz"
        );
        assert_eq!(p.ca_dir(&topo, ServiceKind::Rpc), "generated/rpc/chain0/ca");
    }
}
