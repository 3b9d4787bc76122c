//! Rendering, certificates, packages and the generated/ workspace.
//!
//! Golden files live under `tests/fixtures/golden/`: `bcosbuilder/` holds what BcosBuilder
//! generates for its two upstream examples (compared after parsing as INI/JSON), the other
//! folders hold our own output (compared byte for byte; regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tarsform::config::{Agency, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use tarsform::render;
use tarsform::secret::Secret;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn service(kind: ServiceKind, deploy: &[&str], port: u16, peers: &[&str]) -> Service {
    Service {
        kind,
        deploy_ip: ips(deploy),
        listen_ip: "0.0.0.0".into(),
        listen_port: port,
        thread_count: 4,
        peers: peers.iter().map(|p| p.to_string()).collect(),
    }
}

fn agency(name: &str, rpc: Option<Service>, gateway: Option<Service>) -> Agency {
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

fn topology(agencies: Vec<Agency>, pkg_dir: &Path) -> Topology {
    Topology {
        tars: TarsSettings {
            url: "http://127.0.0.1:3000/".into(),
            token: Secret::new(""),
            pkg_dir: pkg_dir.to_path_buf(),
        },
        chain: ChainSettings {
            chain_id: "chain0".into(),
            rpc_ca_cert_path: "generated/rpc/chain0/ca".into(),
            gateway_ca_cert_path: "generated/gateway/chain0/ca".into(),
            rpc_ca_cert_path_explicit: false,
            gateway_ca_cert_path_explicit: false,
        },
        agencies,
    }
}

/// `config-deploy-example.toml`: two agencies on 172.25.0.3.
fn deploy_example() -> Topology {
    let peers = ["172.25.0.3:30300", "172.25.0.3:30301"];
    let host = ["172.25.0.3"];
    topology(
        vec![
            agency(
                "agencyA",
                Some(service(ServiceKind::Rpc, &host, 20200, &[])),
                Some(service(ServiceKind::Gateway, &host, 30300, &peers)),
            ),
            agency(
                "agencyB",
                Some(service(ServiceKind::Rpc, &host, 20201, &[])),
                Some(service(ServiceKind::Gateway, &host, 30301, &peers)),
            ),
        ],
        Path::new("binary"),
    )
}

/// `config-service-expand-example.toml`: agencyA onto 172.25.0.5.
fn expand_example() -> Topology {
    let peers = ["172.25.0.3:30300", "172.25.0.3:30301", "172.25.0.5:40300"];
    let host = ["172.25.0.5"];
    topology(
        vec![agency(
            "agencyA",
            Some(service(ServiceKind::Rpc, &host, 10200, &[])),
            Some(service(ServiceKind::Gateway, &host, 40300, &peers)),
        )],
        Path::new("binary/"),
    )
}

/// Sections → keys → values; `;` lines are comments, as for any INI reader.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            out.entry(section.clone()).or_default();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key = value");
        let previous = out
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_string(), value.trim().to_string());
        assert!(previous.is_none(), "duplicate key {key} in [{section}]");
    }
    out
}

fn section_order(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with('[')).collect()
}

/// Compares `actual` with our golden file, or rewrites it under `UPDATE_GOLDEN=1`.
fn assert_golden(relative: &str, actual: &str) {
    let path = golden_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "{relative} differs from its golden file");
}

fn check_example(name: &str, topology: &Topology) {
    let mut checked = 0;
    for svc in topology.services() {
        let server = svc.server_name();
        let ini = render::config_ini(topology, svc);
        let upstream =
            std::fs::read_to_string(golden_dir().join(format!("bcosbuilder/{name}/{server}.config.ini")))
                .unwrap();
        assert_eq!(
            parse_ini(&ini),
            parse_ini(&upstream),
            "{name}/{server} config.ini"
        );
        assert_eq!(
            section_order(&ini),
            section_order(&upstream),
            "{name}/{server} sections"
        );
        assert_golden(&format!("{name}/{server}/config.ini"), &ini);
        if svc.kind() == ServiceKind::Gateway {
            let json = render::nodes_json(svc);
            let upstream =
                std::fs::read_to_string(golden_dir().join(format!("bcosbuilder/{name}/{server}.nodes.json")))
                    .unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                parsed,
                serde_json::from_str::<serde_json::Value>(&upstream).unwrap()
            );
            assert_golden(&format!("{name}/{server}/nodes.json"), &json);
        }
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn deploy_example_matches_bcosbuilder() {
    check_example("deploy", &deploy_example());
}

#[test]
fn expand_example_matches_bcosbuilder() {
    check_example("expand", &expand_example());
}

#[test]
fn rpc_config_ini_is_the_reference_example_verbatim() {
    let topology = deploy_example();
    let svc = topology.services().next().unwrap();
    let ini = render::config_ini(&topology, svc);
    let upstream =
        std::fs::read_to_string(golden_dir().join("bcosbuilder/deploy/agencyABcosRpcService.config.ini"))
            .unwrap();
    assert_eq!(ini, upstream);
}

#[test]
fn gateway_sections_come_in_bcosbuilder_order() {
    let topology = expand_example();
    let gateway = topology
        .services()
        .find(|s| s.kind() == ServiceKind::Gateway)
        .unwrap();
    let ini = render::config_ini(&topology, gateway);
    assert_eq!(
        section_order(&ini),
        [
            "[p2p]",
            "[certificate_blacklist]",
            "[certificate_whitelist]",
            "[service]",
            "[cert]",
            "[chain]",
            "[storage_security]",
            "[failover]",
            "[flow_control]",
            "[log]"
        ]
    );
    let p2p = &parse_ini(&ini)["p2p"];
    assert_eq!(p2p["uuid"], render::gateway_uuid("chain0", "agencyA"));
    assert_eq!(p2p["listen_port"], "40300");
}

#[test]
fn uuid_is_shared_by_the_rpc_and_gateway_of_an_agency() {
    let topology = deploy_example();
    let uuids: Vec<(String, String)> = topology
        .services()
        .map(|svc| {
            let ini = parse_ini(&render::config_ini(&topology, svc));
            let section = if svc.kind() == ServiceKind::Rpc {
                "rpc"
            } else {
                "p2p"
            };
            (svc.agency.name.clone(), ini[section]["uuid"].clone())
        })
        .collect();
    assert_eq!(
        uuids[0],
        ("agencyA".into(), "898fb2f0-e306-3fe5-bbd9-45d968dda95a".into())
    );
    assert_eq!(uuids[1], uuids[0]);
    assert_eq!(
        uuids[2],
        ("agencyB".into(), "d25207b0-9c6a-375c-b757-3d60c2b1ad45".into())
    );
    assert_eq!(uuids[3], uuids[2]);
}

#[test]
fn nodes_json_is_one_python_style_line() {
    let topology = expand_example();
    let gateway = topology
        .services()
        .find(|s| s.kind() == ServiceKind::Gateway)
        .unwrap();
    assert_eq!(
        render::nodes_json(gateway),
        r#"{"nodes": ["172.25.0.3:30300", "172.25.0.3:30301", "172.25.0.5:40300"]}"#
    );
}
