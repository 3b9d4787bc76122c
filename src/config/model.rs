//! The validated, typed topology: what every later stage reads.
//!
//! Built only by `config::load`/`config::parse` after validation; it never holds
//! unchecked input. Pure data, no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::secret::Secret;

/// Tars application objects, server names and file names follow BcosBuilder exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Rpc,
    Gateway,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 2] = [ServiceKind::Rpc, ServiceKind::Gateway];

    /// `rpc` or `gateway`: the `-t` value, the generated folder and the `ca["…"]` key.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Rpc => "rpc",
            ServiceKind::Gateway => "gateway",
        }
    }

    pub fn parse(s: &str) -> Option<ServiceKind> {
        match s {
            "rpc" => Some(ServiceKind::Rpc),
            "gateway" => Some(ServiceKind::Gateway),
            _ => None,
        }
    }

    /// `<agency>BcosRpcService` / `<agency>BcosGatewayService`.
    pub fn server_name(self, agency: &str) -> String {
        format!("{agency}{}", self.server_suffix())
    }

    /// What follows the agency's name in the server name.
    pub fn server_suffix(self) -> &'static str {
        match self {
            ServiceKind::Rpc => "BcosRpcService",
            ServiceKind::Gateway => "BcosGatewayService",
        }
    }

    /// The Tars servant object: `RpcServiceObj` / `GatewayServiceObj`.
    pub fn obj_name(self) -> &'static str {
        match self {
            ServiceKind::Rpc => "RpcServiceObj",
            ServiceKind::Gateway => "GatewayServiceObj",
        }
    }

    /// The binary name inside `tars_pkg_dir/<binary>.tgz`.
    pub fn binary_name(self) -> &'static str {
        match self {
            ServiceKind::Rpc => "BcosRpcService",
            ServiceKind::Gateway => "BcosGatewayService",
        }
    }

    /// Config files pushed to Tars for each node, in BcosBuilder's upload order.
    pub fn config_files(self) -> &'static [&'static str] {
        match self {
            ServiceKind::Rpc => &["config.ini", "ca.crt", "ssl.crt", "ssl.key"],
            ServiceKind::Gateway => &["config.ini", "nodes.json", "ca.crt", "ssl.crt", "ssl.key"],
        }
    }

    /// Leaf certificates made for each node: `ssl` always, `sdk` for rpc.
    pub fn cert_purposes(self) -> &'static [&'static str] {
        match self {
            ServiceKind::Rpc => &["ssl", "sdk"],
            ServiceKind::Gateway => &["ssl"],
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Tars application = chain_id`, constants of the server registration.
pub const SERVER_TYPE: &str = "tars_cpp";
pub const TEMPLATE_NAME: &str = "tars.cpp.default";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub tars: TarsSettings,
    pub chain: ChainSettings,
    /// In file order; names are unique (validated).
    pub agencies: Vec<Agency>,
}

/// `[backend]`: where the state lives ([`super::load_backend`]); the default is the
/// local state file. Not part of the [`Topology`]: it is not what is deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendSettings {
    /// `None` for the local file; `Some(url)` (without password) for MySQL.
    pub mysql_url: Option<String>,
    /// A file holding the database password (`TARSFORM_BACKEND_PASSWORD` wins).
    pub password_file: Option<PathBuf>,
    /// Keep CA and node private keys in the backend, encrypted with age.
    pub store_keys: bool,
    /// The age identity file (`TARSFORM_AGE_IDENTITY` wins).
    pub identity_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TarsSettings {
    /// Always ends with `/`.
    pub url: String,
    /// From the file, or `TARSFORM_TARS_TOKEN` (which wins). May be empty for
    /// commands that never call Tars.
    #[serde(skip)]
    pub token: Secret,
    /// Directory holding `BcosRpcService.tgz` / `BcosGatewayService.tgz`, as written
    /// in the file (relative paths are relative to the working directory, like BcosBuilder).
    pub pkg_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainSettings {
    pub chain_id: String,
    /// CA directory per service type; defaults to `generated/<type>/<chain>/ca`.
    pub rpc_ca_cert_path: PathBuf,
    pub gateway_ca_cert_path: PathBuf,
    /// Whether the CA path was written in the file (expansions must name it).
    pub rpc_ca_cert_path_explicit: bool,
    pub gateway_ca_cert_path_explicit: bool,
    /// National cryptography (SM2/SM3 SSL) per service type; serialized only when on, so
    /// an RSA topology's digest is what it was before SM existed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rpc_sm_ssl: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gateway_sm_ssl: bool,
}

impl ChainSettings {
    /// RSA or SM certificates for `kind` (`rpc_sm_ssl` / `gateway_sm_ssl`).
    pub fn cert_mode(&self, kind: ServiceKind) -> super::CertMode {
        super::CertMode::of(match kind {
            ServiceKind::Rpc => self.rpc_sm_ssl,
            ServiceKind::Gateway => self.gateway_sm_ssl,
        })
    }

    pub fn ca_cert_path(&self, kind: ServiceKind) -> &PathBuf {
        match kind {
            ServiceKind::Rpc => &self.rpc_ca_cert_path,
            ServiceKind::Gateway => &self.gateway_ca_cert_path,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agency {
    pub name: String,
    pub failover_cluster_url: String,
    pub enable_storage_security: bool,
    pub key_center_url: String,
    /// A secret like the token: serialized as `(sensitive)` when set.
    #[serde(serialize_with = "redacted")]
    pub cipher_data_key: String,
    pub rpc: Option<Service>,
    pub gateway: Option<Service>,
}

impl Agency {
    pub fn service(&self, kind: ServiceKind) -> Option<&Service> {
        match kind {
            ServiceKind::Rpc => self.rpc.as_ref(),
            ServiceKind::Gateway => self.gateway.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub kind: ServiceKind,
    /// One Tars node per IP, in file order, no duplicates (validated).
    pub deploy_ip: Vec<IpAddr>,
    pub listen_ip: String,
    pub listen_port: u16,
    pub thread_count: u32,
    /// `state = "started" | "stopped"`: whether the nodes run.
    #[serde(skip_serializing_if = "RunState::is_started")]
    pub state: RunState,
    /// Gateway only: `ip:port` strings written to nodes.json (validated).
    pub peers: Vec<String>,
    /// `peers = "auto"` (or `"auto"` in the list): `peers` also lists every gateway of the
    /// chain, filled in once all files are read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub peers_auto: bool,
    /// `prevent_destroy`: `None` protects the nodes tarsform imported, `Some(false)`
    /// lets plans destroy them, `Some(true)` protects every node of the service.
    pub prevent_destroy: Option<bool>,
    /// Per-IP settings that differ from the service's (BcosBuilder's expand files).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<IpAddr, NodeSettings>,
}

/// `listen_ip`, `listen_port`, `thread_count` and run state of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSettings {
    pub listen_ip: String,
    pub listen_port: u16,
    pub thread_count: u32,
    #[serde(skip_serializing_if = "RunState::is_started")]
    pub state: RunState,
}

/// Whether a node should run (`state = "started"`, the default) or stay stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    #[default]
    Started,
    Stopped,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Started => "started",
            RunState::Stopped => "stopped",
        }
    }

    pub fn is_started(&self) -> bool {
        *self == RunState::Started
    }

    /// `"started"` / `"stopped"`; anything else is `None`.
    pub fn parse(value: &str) -> Option<RunState> {
        match value.trim() {
            "started" => Some(RunState::Started),
            "stopped" => Some(RunState::Stopped),
            _ => None,
        }
    }
}

impl Service {
    /// The service as one node sees it: its own settings, when it has any.
    pub fn for_node(&self, ip: IpAddr) -> Service {
        let mut one = self.clone();
        if let Some(n) = self.nodes.get(&ip) {
            one.listen_ip = n.listen_ip.clone();
            one.listen_port = n.listen_port;
            one.thread_count = n.thread_count;
            one.state = n.state;
        }
        one.nodes.clear();
        one
    }

    /// The port the node at `ip` listens on.
    pub fn listen_port_of(&self, ip: IpAddr) -> u16 {
        self.nodes.get(&ip).map_or(self.listen_port, |n| n.listen_port)
    }
}

/// One service of one agency, with the names derived from it.
#[derive(Debug, Clone, Copy)]
pub struct ServiceRef<'a> {
    pub agency: &'a Agency,
    pub service: &'a Service,
}

impl ServiceRef<'_> {
    pub fn kind(&self) -> ServiceKind {
        self.service.kind
    }

    pub fn server_name(&self) -> String {
        self.service.kind.server_name(&self.agency.name)
    }

    /// Whether `server` is this service's Tars server name (without building the name).
    pub fn is_server(&self, server: &str) -> bool {
        server.strip_prefix(self.agency.name.as_str()) == Some(self.kind().server_suffix())
    }
}

impl Topology {
    /// Every service of every agency: agencies in file order, rpc before gateway.
    pub fn services(&self) -> impl Iterator<Item = ServiceRef<'_>> {
        self.agencies.iter().flat_map(|agency| {
            ServiceKind::ALL
                .into_iter()
                .filter_map(move |kind| agency.service(kind).map(|service| ServiceRef { agency, service }))
        })
    }

    /// The service whose Tars server is `server`.
    pub fn service_of(&self, server: &str) -> Option<ServiceRef<'_>> {
        self.services().find(|s| s.is_server(server))
    }

    /// The Tars application: the chain id.
    pub fn application(&self) -> &str {
        &self.chain.chain_id
    }
}

impl ServiceKind {
    /// The service type of a server name (`…BcosRpcService` / `…BcosGatewayService`).
    pub fn of_server(server: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| {
            server
                .strip_suffix(k.server_suffix())
                .is_some_and(|agency| !agency.is_empty())
        })
    }
}

fn redacted<S: serde::Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if value.is_empty() {
        ""
    } else {
        crate::secret::REDACTED
    })
}
