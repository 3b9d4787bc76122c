//! Rendering, certificates, packages and the generated/ workspace.
//!
//! Golden files live under `tests/fixtures/golden/`: `bcosbuilder/` holds what BcosBuilder
//! generates for its two upstream examples and for SM/storage-security variants of the deploy
//! example (made by running its `ServiceConfigGenerator`; compared after parsing as INI/JSON), the other
//! folders hold our own output (compared byte for byte; regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use tarsform::config::{Agency, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use tarsform::pki::FixedKeys;
use tarsform::render;
use tarsform::secret::Secret;
use tarsform::workspace::{self, Layout, Outcome, PackageOutcome, WorkspaceError};
use x509_parser::prelude::{FromDer, X509Certificate};

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
        state: Default::default(),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        peers_auto: false,
        prevent_destroy: None,
        nodes: Default::default(),
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
            packages: Default::default(),
        },
        chain: ChainSettings {
            chain_id: "chain0".into(),
            rpc_ca_cert_path: "generated/rpc/chain0/ca".into(),
            gateway_ca_cert_path: "generated/gateway/chain0/ca".into(),
            rpc_ca_cert_path_explicit: false,
            gateway_ca_cert_path_explicit: false,
            rpc_sm_ssl: false,
            gateway_sm_ssl: false,
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

/// The deploy example with national cryptography (`rpc_sm_ssl`, and `gateway_sm_ssl` when
/// `sm_gateway`) and storage security for agencyA; the upstream files were made by
/// BcosBuilder's own generator (`ServiceConfigGenerator`) from the same TOML.
fn sm_storage_example(sm_gateway: bool) -> Topology {
    let mut t = deploy_example();
    t.chain.rpc_sm_ssl = true;
    t.chain.gateway_sm_ssl = sm_gateway;
    let a = &mut t.agencies[0];
    a.enable_storage_security = true;
    a.key_center_url = "127.0.0.1:8150".into();
    a.cipher_data_key = "ed157f4588b86d61a2e1745efe71e6ea".into();
    t
}

#[test]
fn sm_and_storage_security_example_matches_bcosbuilder() {
    check_example("sm_storage", &sm_storage_example(true));
}

#[test]
fn sm_rpc_with_rsa_gateway_matches_bcosbuilder() {
    check_example("mixed", &sm_storage_example(false));
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

// ---- certificates and the generated/ workspace ----

fn fixed_keys() -> FixedKeys {
    let pems = (1..=4)
        .map(|i| std::fs::read_to_string(golden_dir().join(format!("keys/key{i}.pem"))).unwrap())
        .collect();
    FixedKeys::new(pems)
}

fn der_of(pem_text: &str) -> Vec<u8> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap();
    assert_eq!(block.label, "CERTIFICATE");
    block.contents
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Checks `leaf_path` against `ca_path`: signature, CA flags, RSA-2048, ~36500 days.
fn assert_leaf_of(ca_path: &Path, leaf_path: &Path) {
    let ca_der = der_of(&std::fs::read_to_string(ca_path).unwrap());
    let leaf_der = der_of(&std::fs::read_to_string(leaf_path).unwrap());
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    leaf.verify_signature(Some(ca.public_key())).unwrap_or_else(|e| {
        panic!(
            "{} does not verify against {}: {e}",
            leaf_path.display(),
            ca_path.display()
        )
    });
    let leaf_bc = leaf
        .basic_constraints()
        .unwrap()
        .expect("leaf has basicConstraints");
    assert!(!leaf_bc.value.ca, "{} must be CA:FALSE", leaf_path.display());
    if let Some(ca_bc) = ca.basic_constraints().unwrap() {
        assert!(ca_bc.value.ca, "CA must be CA:TRUE");
    }
    let usage = leaf.key_usage().unwrap().expect("leaf has keyUsage").value;
    assert!(usage.digital_signature() && usage.non_repudiation() && usage.key_encipherment());
    let key = leaf.public_key().parsed().unwrap();
    assert_eq!(key.key_size(), 2048);
    assert_eq!(
        leaf.signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
    );
    let days = (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 86_400;
    assert_eq!(days, 36500);
    let subject = leaf.subject().to_string();
    assert!(
        subject.contains("CN=FISCO-BCOS")
            && subject.contains("O=fisco-bcos")
            && subject.contains("OU=agency"),
        "{subject}"
    );
}

/// The expand example with its CA paths under `root`.
fn expand_in(root: &Path) -> (Topology, Layout) {
    let mut topology = expand_example();
    topology.chain.rpc_ca_cert_path = root.join("rpc/chain0/ca");
    topology.chain.gateway_ca_cert_path = root.join("gateway/chain0/ca");
    topology.tars.pkg_dir = root.join("binary");
    let layout = Layout::new(root, "chain0");
    (topology, layout)
}

fn outcomes(report: &[workspace::FileOutcome]) -> BTreeMap<PathBuf, Outcome> {
    report.iter().map(|f| (f.path.clone(), f.outcome)).collect()
}

#[test]
fn render_writes_every_file_of_the_expand_example() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    let report = workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    assert!(report.iter().all(|f| f.outcome == Outcome::Written), "{report:?}");

    let rpc_node = dir.path().join("rpc/chain0/agencyABcosRpcService/172.25.0.5");
    let gw_node = dir
        .path()
        .join("gateway/chain0/agencyABcosGatewayService/172.25.0.5");
    let mut expected = vec![
        dir.path().join("rpc/chain0/ca/ca.crt"),
        dir.path().join("rpc/chain0/ca/ca.key"),
        dir.path().join("rpc/chain0/ca/cert.cnf"),
        dir.path().join("gateway/chain0/ca/ca.crt"),
        dir.path().join("gateway/chain0/ca/ca.key"),
        dir.path().join("gateway/chain0/ca/cert.cnf"),
        rpc_node.join("config.ini"),
        gw_node.join("config.ini"),
        gw_node.join("nodes.json"),
    ];
    for (node, purpose) in [(&rpc_node, "ssl"), (&rpc_node, "sdk"), (&gw_node, "ssl")] {
        for file in [
            "ca.crt",
            "cert.cnf",
            &format!("{purpose}.crt"),
            &format!("{purpose}.key"),
        ] {
            expected.push(node.join(purpose).join(file));
        }
    }
    let mut written: Vec<PathBuf> = report.iter().map(|f| f.path.clone()).collect();
    written.sort();
    expected.sort();
    assert_eq!(written, expected);

    assert_eq!(
        std::fs::read_to_string(rpc_node.join("config.ini")).unwrap(),
        std::fs::read_to_string(golden_dir().join("expand/agencyABcosRpcService/config.ini")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(gw_node.join("nodes.json")).unwrap(),
        std::fs::read_to_string(golden_dir().join("expand/agencyABcosGatewayService/nodes.json")).unwrap()
    );
    for key in expected
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
    {
        assert_eq!(mode_of(key), 0o600, "{}", key.display());
        assert!(
            std::fs::read_to_string(key)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }
    assert_eq!(mode_of(&rpc_node.join("config.ini")), 0o644);
}

#[test]
fn every_leaf_verifies_against_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (mut topology, layout) = expand_in(dir.path());
    // Two IPs per service, so each CA signs several leaves.
    for agency in &mut topology.agencies {
        for svc in [agency.rpc.as_mut(), agency.gateway.as_mut()]
            .into_iter()
            .flatten()
        {
            svc.deploy_ip.push("172.25.0.6".parse().unwrap());
        }
    }
    workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    let mut checked = 0;
    for svc in topology.services() {
        let kind = svc.kind();
        let ca = layout.ca_dir_for(&topology.chain, kind).join("ca.crt");
        let ca_der = der_of(&std::fs::read_to_string(&ca).unwrap());
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        assert!(ca_cert.basic_constraints().unwrap().unwrap().value.ca);
        assert_eq!(ca_cert.public_key().parsed().unwrap().key_size(), 2048);
        for &ip in &svc.service.deploy_ip {
            for purpose in kind.cert_purposes() {
                let leaf_dir = layout.cert_dir(kind, &svc.server_name(), ip, purpose);
                assert_leaf_of(&ca, &leaf_dir.join(format!("{purpose}.crt")));
                assert_eq!(
                    std::fs::read(leaf_dir.join("ca.crt")).unwrap(),
                    std::fs::read(&ca).unwrap()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn rendering_twice_keeps_certificates_and_rewrites_changed_configs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut topology, layout) = expand_in(dir.path());
    let first = workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    let snapshot: BTreeMap<PathBuf, Vec<u8>> = first
        .iter()
        .map(|f| (f.path.clone(), std::fs::read(&f.path).unwrap()))
        .collect();

    let second = workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    for (path, outcome) in outcomes(&second) {
        assert_ne!(outcome, Outcome::Written, "{} rewritten", path.display());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            snapshot[&path],
            "{} changed",
            path.display()
        );
    }

    topology.agencies[0].rpc.as_mut().unwrap().listen_port = 10201;
    let third = outcomes(&workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap());
    let rpc_ini = layout.config_path(
        ServiceKind::Rpc,
        "agencyABcosRpcService",
        "172.25.0.5".parse().unwrap(),
        "config.ini",
    );
    assert_eq!(third[&rpc_ini], Outcome::Written);
    assert!(
        std::fs::read_to_string(&rpc_ini)
            .unwrap()
            .contains("listen_port = 10201")
    );
    let written: Vec<_> = third.iter().filter(|(_, o)| **o == Outcome::Written).collect();
    assert_eq!(written.len(), 1, "{written:?}");
}

#[test]
fn an_existing_bcosbuilder_ca_is_imported_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    let ca_dir = layout.ca_dir_for(&topology.chain, ServiceKind::Rpc);
    std::fs::create_dir_all(&ca_dir).unwrap();
    let mut originals = BTreeMap::new();
    for file in ["ca.crt", "ca.key"] {
        let bytes = std::fs::read(golden_dir().join("bcosbuilder/ca").join(file)).unwrap();
        std::fs::write(ca_dir.join(file), &bytes).unwrap();
        originals.insert(file, bytes);
    }
    std::fs::write(ca_dir.join("cert.cnf"), "# theirs\n").unwrap();

    let report = outcomes(&workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap());
    assert_eq!(report[&ca_dir.join("ca.crt")], Outcome::Kept);
    assert_eq!(report[&ca_dir.join("ca.key")], Outcome::Kept);
    assert_eq!(report[&ca_dir.join("cert.cnf")], Outcome::Kept);
    for (file, bytes) in &originals {
        assert_eq!(
            &std::fs::read(ca_dir.join(file)).unwrap(),
            bytes,
            "{file} was modified"
        );
    }
    assert_eq!(
        std::fs::read_to_string(ca_dir.join("cert.cnf")).unwrap(),
        "# theirs\n"
    );
    assert_eq!(
        mode_of(&ca_dir.join("ca.key")),
        0o600,
        "imported key tightened to 0600"
    );
    let node = layout.node_dir(
        ServiceKind::Rpc,
        "agencyABcosRpcService",
        "172.25.0.5".parse().unwrap(),
    );
    for purpose in ["ssl", "sdk"] {
        assert_leaf_of(
            &ca_dir.join("ca.crt"),
            &node.join(purpose).join(format!("{purpose}.crt")),
        );
        assert_eq!(
            std::fs::read(node.join(purpose).join("ca.crt")).unwrap(),
            originals["ca.crt"]
        );
    }
}

#[test]
fn a_ca_missing_its_key_is_an_error_not_a_new_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    let ca_dir = layout.ca_dir_for(&topology.chain, ServiceKind::Rpc);
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(golden_dir().join("bcosbuilder/ca/ca.crt"), ca_dir.join("ca.crt")).unwrap();
    let err = workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap_err();
    assert!(matches!(err, WorkspaceError::Incomplete { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ca.key") && text.contains(&ca_dir.display().to_string()) && text.contains("hint:"),
        "{text}"
    );
    assert!(!ca_dir.join("ca.key").exists());
}

#[test]
fn a_kept_leaf_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    // Replace the rpc CA by BcosBuilder's: the existing leaves no longer match it.
    let ca_dir = layout.ca_dir_for(&topology.chain, ServiceKind::Rpc);
    for file in ["ca.crt", "ca.key"] {
        std::fs::copy(golden_dir().join("bcosbuilder/ca").join(file), ca_dir.join(file)).unwrap();
    }
    let err = workspace::generate(&topology, &layout, &mut fixed_keys())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ssl.crt") && err.contains("not signed by this CA") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn keys_needed_counts_missing_cas_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    assert_eq!(workspace::keys_needed(&topology, &layout), 2 + 3);
    workspace::generate(&topology, &layout, &mut fixed_keys()).unwrap();
    assert_eq!(workspace::keys_needed(&topology, &layout), 0);
}

// ---- packages ----

/// A release-style archive: `./<binary>/<binary>` plus a README, with the owner's metadata.
fn release_archive(binary: &str, content: &[u8], mtime: u64) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in [
        (format!("./{binary}/README"), b"readme".as_slice(), 0o644),
        (format!("./{binary}/{binary}"), content, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(mtime);
        header.set_uid(1000);
        header.set_username("builder").unwrap();
        tar.append_data(&mut header, path, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn packages_are_deterministic_and_hold_one_renamed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    std::fs::create_dir_all(&topology.tars.pkg_dir).unwrap();
    for binary in ["BcosRpcService", "BcosGatewayService"] {
        let archive = release_archive(binary, format!("ELF {binary}").as_bytes(), 1_700_000_000);
        std::fs::write(topology.tars.pkg_dir.join(format!("{binary}.tgz")), archive).unwrap();
    }
    let first = workspace::packages(&topology, &layout).unwrap();
    assert_eq!(first.len(), 2);

    // Same binary, different archive metadata: the same package.
    let archive = release_archive("BcosRpcService", b"ELF BcosRpcService", 1_800_000_000);
    std::fs::write(topology.tars.pkg_dir.join("BcosRpcService.tgz"), archive).unwrap();
    let second = workspace::packages(&topology, &layout).unwrap();
    for (a, b) in first.iter().zip(&second) {
        let (PackageOutcome::Built { file: fa, sha256: sa }, PackageOutcome::Built { file: fb, sha256: sb }) =
            (a, b)
        else {
            panic!("not built: {a:?} {b:?}");
        };
        assert_eq!(sa, sb);
        assert_eq!(fa.outcome, Outcome::Written);
        assert_eq!(fb.outcome, Outcome::Unchanged);
        assert_eq!(
            render::package::sha256_hex(&std::fs::read(&fb.path).unwrap()),
            *sb
        );
    }

    let tgz = std::fs::read(layout.package_path("agencyABcosGatewayService")).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
    let mut entries = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        let h = entry.header();
        entries.push((
            entry.path().unwrap().display().to_string(),
            h.mode().unwrap(),
            h.mtime().unwrap(),
            h.uid().unwrap(),
            h.username().unwrap().unwrap_or_default().to_string(),
            content,
        ));
    }
    assert_eq!(
        entries,
        [(
            "agencyABcosGatewayService/agencyABcosGatewayService".to_string(),
            0o755,
            0,
            0,
            String::new(),
            "ELF BcosGatewayService".to_string()
        )]
    );
}

#[test]
fn packages_without_input_archives_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (topology, layout) = expand_in(dir.path());
    let report = workspace::packages(&topology, &layout).unwrap();
    assert_eq!(report.len(), 2);
    assert!(
        matches!(&report[0], PackageOutcome::MissingInput { server, input }
        if server == "agencyABcosRpcService" && input.ends_with("BcosRpcService.tgz"))
    );
    assert!(!layout.package_path("agencyABcosRpcService").exists());
}

// ---- the command ----

fn tarsform(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .current_dir(dir)
        .env_remove("TARSFORM_TARS_TOKEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn render_command_writes_then_keeps_and_reports_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/expand-agencyA.toml");
    std::fs::copy(&conf, dir.path().join("expand.toml")).unwrap();
    std::fs::create_dir_all(dir.path().join("binary")).unwrap();
    let archive = release_archive("BcosRpcService", b"ELF rpc", 1);
    std::fs::write(dir.path().join("binary/BcosRpcService.tgz"), archive).unwrap();

    let (ok, stdout, stderr) = tarsform(dir.path(), &["render", "-c", "expand.toml", "-o", "generated"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("written ")).count(),
        22,
        "{stdout}"
    );
    assert!(
        stdout.contains("written   generated/packages/agencyABcosRpcService.tgz  sha256:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "skipped   generated/packages/agencyABcosGatewayService.tgz  (binary/BcosGatewayService.tgz not found)"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("held no CA, so a new one was created"),
        "{stderr}"
    );
    let ini = dir
        .path()
        .join("generated/gateway/chain0/agencyABcosGatewayService/172.25.0.5/config.ini");
    assert_eq!(
        std::fs::read_to_string(ini).unwrap(),
        std::fs::read_to_string(golden_dir().join("expand/agencyABcosGatewayService/config.ini")).unwrap()
    );

    let (ok, stdout, stderr) = tarsform(dir.path(), &["render", "-c", "expand.toml"]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("written"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("kept ")).count(),
        15,
        "{stdout}"
    );
    assert!(!stderr.contains("new one was created"), "{stderr}");
}

/// BcosBuilder's deploy example plus its expand example, read as one topology
/// (`-c config-deploy-example.toml -c config-service-expand-example.toml`), and the
/// same chain written as one file with per-node ports.
fn deploy_plus_expand() -> (Topology, Topology) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/topology");
    let load = |f: &str| tarsform::config::load(&dir.join(f)).unwrap();
    let merged = tarsform::config::merge(
        load("config-deploy-example.toml"),
        "config-deploy-example.toml",
        load("config-service-expand-example.toml"),
        "config-service-expand-example.toml",
    )
    .unwrap();
    let one = r#"[tars]
tars_url = "http://127.0.0.1:3000"
tars_token = "t0ken-for-tests"
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"

[[agency]]
name = "agencyA"
    [agency.rpc]
    deploy_ip = ["172.25.0.3", "172.25.0.5"]
    listen_port = 20200
    [agency.rpc.node."172.25.0.5"]
    listen_port = 10200
    [agency.gateway]
    deploy_ip = ["172.25.0.3", "172.25.0.5"]
    listen_port = 30300
    peers = "auto"
    [agency.gateway.node."172.25.0.5"]
    listen_port = 40300

[[agency]]
name = "agencyB"
    [agency.rpc]
    deploy_ip = ["172.25.0.3"]
    listen_port = 20201
    [agency.gateway]
    deploy_ip = ["172.25.0.3"]
    listen_port = 30301
    peers = "auto"
"#;
    let one = tarsform::config::parse_str(one, tarsform::config::Format::Toml, "one.toml", None).unwrap();
    (merged, one)
}

/// Each node rendered with its own settings equals what BcosBuilder rendered for it:
/// the deploy example's file on 172.25.0.3, the expand example's on 172.25.0.5.
#[test]
fn deploy_plus_expand_as_one_topology_renders_each_node_as_bcosbuilder_did() {
    let (merged, one) = deploy_plus_expand();
    let mut checked = 0;
    for (form, topology) in [("two_files", &merged), ("one_file", &one)] {
        for svc in topology.services() {
            let server = svc.server_name();
            for &ip in &svc.service.deploy_ip {
                let node = svc.service.for_node(ip);
                let one_node = tarsform::config::ServiceRef {
                    agency: svc.agency,
                    service: &node,
                };
                let ini = render::config_ini(topology, one_node);
                let example = if ip.to_string() == "172.25.0.5" {
                    "expand"
                } else {
                    "deploy"
                };
                let upstream = std::fs::read_to_string(
                    golden_dir().join(format!("bcosbuilder/{example}/{server}.config.ini")),
                )
                .unwrap();
                assert_eq!(parse_ini(&ini), parse_ini(&upstream), "{server} on {ip}");
                assert_eq!(section_order(&ini), section_order(&upstream), "{server} on {ip}");
                assert_golden(&format!("deploy_expand/{form}/{server}/{ip}/config.ini"), &ini);
                if svc.kind() == ServiceKind::Gateway {
                    // The expand file gives agencyA the expand example's list; agencyB
                    // keeps the deploy example's, unless `peers = "auto"` lists them all.
                    let json = render::nodes_json(one_node);
                    let source = if form == "two_files" && svc.agency.name == "agencyB" {
                        "deploy/agencyBBcosGatewayService"
                    } else {
                        "expand/agencyABcosGatewayService"
                    };
                    let upstream = std::fs::read_to_string(
                        golden_dir().join(format!("bcosbuilder/{source}.nodes.json")),
                    )
                    .unwrap();
                    assert_eq!(
                        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
                        serde_json::from_str::<serde_json::Value>(&upstream).unwrap(),
                        "{server} on {ip}"
                    );
                    assert_golden(&format!("deploy_expand/{form}/{server}/{ip}/nodes.json"), &json);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 6, "six nodes, in both forms");
}
