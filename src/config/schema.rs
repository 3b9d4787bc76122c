//! The topology file as written: serde structs mirroring BcosBuilder's Pro `config.toml`.
//!
//! Every key is optional here and keeps its location; defaults, ranges and cross-checks
//! live in `validate`. Unknown keys are denied. `decode` fills these structs from a
//! located tree and collects every structural error; plain serde (`toml::from_str`)
//! reads the same structs when locations are not needed. Pure data.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::tree::Loc;
use crate::secret::Secret;

/// A value with the line:column it came from (when the format gives it).
/// Equality ignores the location.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub loc: Option<Loc>,
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|value| Located { value, loc: None })
    }
}

pub type Opt<T> = Option<Located<T>>;

/// Where a section starts. Like [`Located`], it takes no part in equality.
#[derive(Debug, Clone, Copy, Default)]
pub struct At(pub Option<Loc>);

impl PartialEq for At {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub tars: Option<RawTars>,
    pub chain: Option<RawChain>,
    #[serde(default)]
    pub agency: Vec<RawAgency>,
    /// Consensus groups: accepted and ignored for rpc/gateway.
    pub group: Option<IgnoredAny>,
    /// Where the state lives (tarsform's own section; BcosBuilder has none).
    pub backend: Option<RawBackend>,
}

/// `[backend]`: `type = "local" | "mysql"`, `url` (no password), `password_file`,
/// `store_keys`, `identity_file`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    #[serde(rename = "type")]
    pub kind: Opt<String>,
    pub url: Opt<String>,
    pub password_file: Opt<String>,
    pub store_keys: Opt<bool>,
    pub identity_file: Opt<String>,
    #[serde(skip)]
    pub loc: At,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTars {
    pub tars_url: Opt<String>,
    pub tars_token: Opt<Secret>,
    pub tars_pkg_dir: Opt<String>,
    /// tarsform only: `[tars.packages.<rpc|gateway|server>]` release archives by digest.
    pub packages: Option<std::collections::BTreeMap<String, RawPackage>>,
    /// Where the `[tars]` header is.
    #[serde(skip)]
    pub loc: At,
}

/// `[tars.packages.<key>]`: `version`, `sha256` and one source, `url` or `dir`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub version: Opt<String>,
    pub sha256: Opt<String>,
    pub url: Opt<String>,
    pub dir: Opt<String>,
    #[serde(skip)]
    pub loc: At,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    pub chain_id: Opt<String>,
    pub rpc_sm_ssl: Opt<bool>,
    pub gateway_sm_ssl: Opt<bool>,
    pub rpc_ca_cert_path: Opt<String>,
    pub gateway_ca_cert_path: Opt<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgency {
    pub name: Opt<String>,
    pub failover_cluster_url: Opt<String>,
    pub enable_storage_security: Opt<bool>,
    pub key_center_url: Opt<String>,
    pub cipher_data_key: Opt<String>,
    pub rpc: Option<RawService>,
    pub gateway: Option<RawService>,
    /// `[[agency.group]]` / `[[agency.group.node]]`: accepted and ignored.
    pub group: Option<IgnoredAny>,
    #[serde(skip)]
    pub loc: At,
}

/// `[agency.rpc]` and `[agency.gateway]` share BcosBuilder's `ServiceInfoConfig` keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub deploy_ip: Opt<Vec<Located<String>>>,
    pub listen_ip: Opt<String>,
    pub listen_port: Opt<i64>,
    pub thread_count: Opt<i64>,
    pub peers: Opt<Vec<Located<String>>>,
    /// tarsform only: whether plans may destroy nodes of this service that tarsform
    /// imported (default: protected).
    pub prevent_destroy: Opt<bool>,
    /// tarsform only: `"started"` (default) or `"stopped"`, for every node of the service.
    pub state: Opt<String>,
    /// tarsform only: `[agency.rpc.node."<ip>"]` settings of one node.
    pub node: Option<std::collections::BTreeMap<String, RawNode>>,
    /// Used only by BcosBuilder's no-Tars `build` mode: type-checked, then ignored.
    pub tars_listen_ip: Opt<String>,
    pub tars_listen_port: Opt<i64>,
    #[serde(skip)]
    pub loc: At,
}

/// `[agency.<type>.node."<ip>"]`: what one node sets differently from its service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub listen_ip: Opt<String>,
    pub listen_port: Opt<i64>,
    pub thread_count: Opt<i64>,
    /// `"started"` or `"stopped"`: the node's own run state.
    pub state: Opt<String>,
    /// Where the node's table starts.
    #[serde(skip)]
    pub loc: At,
}
