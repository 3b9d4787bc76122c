//! Where generated files live (BcosBuilder's layout), as `/`-separated strings.

use crate::config::ServiceKind;

/// `<root>/<type>/<chain>/<server>/<ip>`.
pub fn node_dir(root: &str, kind: ServiceKind, chain: &str, server: &str, ip: &str) -> String {
    format!("{}/{kind}/{chain}/{server}/{ip}", root.trim_end_matches('/'))
}

/// Local copy of a config file of a node: `config.ini`/`nodes.json` at the node
/// directory, certificates and keys under `ssl/`.
pub fn config_path(node_dir: &str, file: &str) -> String {
    match file {
        "config.ini" | "nodes.json" => format!("{node_dir}/{file}"),
        _ => format!("{node_dir}/ssl/{file}"),
    }
}

/// `(cert, key)` of a leaf: `ssl/ssl.crt`, `sdk/sdk.key`, ….
pub fn cert_paths(node_dir: &str, purpose: &str) -> (String, String) {
    (
        format!("{node_dir}/{purpose}/{purpose}.crt"),
        format!("{node_dir}/{purpose}/{purpose}.key"),
    )
}

/// `<root>/<server>.tgz`.
pub fn package_path(root: &str, server: &str) -> String {
    format!("{}/{server}.tgz", root.trim_end_matches('/'))
}

/// `<tars_pkg_dir>/<binary>.tgz`.
pub fn package_source(pkg_dir: &str, kind: ServiceKind) -> String {
    format!("{}/{}.tgz", pkg_dir.trim_end_matches('/'), kind.binary_name())
}
