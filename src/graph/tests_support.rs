//! Topologies built in code for unit tests of the pure core.

use std::path::PathBuf;

use crate::config::{Agency, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use crate::secret::Secret;

pub(crate) fn service(kind: ServiceKind, ips: &[&str], port: u16) -> Service {
    Service {
        kind,
        deploy_ip: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        listen_ip: "0.0.0.0".into(),
        listen_port: port,
        thread_count: 4,
        state: Default::default(),
        peers: match kind {
            ServiceKind::Gateway => vec!["172.25.0.3:30300".into(), "172.25.0.5:40300".into()],
            ServiceKind::Rpc => vec![],
        },
        peers_auto: false,
        prevent_destroy: None,
        nodes: Default::default(),
    }
}

pub(crate) fn agency(name: &str, rpc: Option<Service>, gateway: Option<Service>) -> Agency {
    Agency {
        name: name.into(),
        failover_cluster_url: "127.0.0.1:2379".into(),
        enable_storage_security: false,
        key_center_url: String::new(),
        cipher_data_key: String::new(),
        rpc,
        gateway,
    }
}

pub(crate) fn topology(agencies: Vec<Agency>) -> Topology {
    Topology {
        tars: TarsSettings {
            url: "http://127.0.0.1:3000/".into(),
            token: Secret::new("s3cr3t-token"),
            pkg_dir: PathBuf::from("binary/"),
            packages: Default::default(),
        },
        chain: ChainSettings {
            chain_id: "chain0".into(),
            rpc_ca_cert_path: PathBuf::from("generated/rpc/chain0/ca"),
            gateway_ca_cert_path: PathBuf::from("generated/gateway/chain0/ca"),
            rpc_ca_cert_path_explicit: true,
            gateway_ca_cert_path_explicit: true,
            rpc_sm_ssl: false,
            gateway_sm_ssl: false,
        },
        agencies,
    }
}

/// The founding scenario: agencyA's rpc and gateway onto 172.25.0.5.
pub(crate) fn seed_topology() -> Topology {
    topology(vec![agency(
        "agencyA",
        Some(service(ServiceKind::Rpc, &["172.25.0.5"], 10200)),
        Some(service(ServiceKind::Gateway, &["172.25.0.5"], 40300)),
    )])
}
