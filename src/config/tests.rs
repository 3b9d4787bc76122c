//! End-to-end tests of `parse_str`: upstream examples, locations, redaction.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;

const EXPAND: &str = include_str!("../../tests/fixtures/topology/config-service-expand-example.toml");
const DEPLOY: &str = include_str!("../../tests/fixtures/topology/config-deploy-example.toml");

fn toml(text: &str) -> Result<Topology, ConfigErrors> {
    parse_str(text, Format::Toml, "t.toml", None)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn upstream_expand_example_loads() {
    let t = toml(EXPAND).unwrap();
    assert_eq!(t.tars.url, "http://127.0.0.1:3000/");
    assert_eq!(t.tars.pkg_dir, PathBuf::from("binary/"));
    assert!(t.tars.token.is_empty());
    assert_eq!(t.chain.chain_id, "chain0");
    assert!(t.chain.rpc_ca_cert_path_explicit);
    let a = &t.agencies[0];
    assert_eq!(a.name, "agencyA");
    let rpc = a.rpc.as_ref().unwrap();
    assert_eq!(
        (rpc.deploy_ip.clone(), rpc.listen_port),
        (vec![ip("172.25.0.5")], 10200)
    );
    let gw = a.gateway.as_ref().unwrap();
    assert_eq!(gw.listen_port, 40300);
    assert_eq!(gw.thread_count, 4);
    assert_eq!(
        gw.peers,
        ["172.25.0.3:30300", "172.25.0.3:30301", "172.25.0.5:40300"]
    );
}

#[test]
fn upstream_deploy_example_loads_ignoring_groups() {
    let t = toml(DEPLOY).unwrap();
    let names: Vec<&str> = t.agencies.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["agencyA", "agencyB"]);
    assert_eq!(t.services().count(), 4);
    assert!(!t.chain.rpc_ca_cert_path_explicit);
    assert_eq!(t.chain.rpc_ca_cert_path, PathBuf::from("generated/rpc/chain0/ca"));
    assert_eq!(t.agencies[1].gateway.as_ref().unwrap().listen_port, 30301);
}

/// The hand-written decoder and plain serde over the schema structs agree.
#[test]
fn decoder_matches_serde_schema() {
    for text in [EXPAND, DEPLOY] {
        let strict: schema::RawTopology = ::toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let decoded = decode::decode(&tree::from_toml(text).unwrap(), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(decoded, strict);
    }
}

#[test]
fn yaml_twin_equals_toml() {
    let yaml = r#"
tars: {tars_url: "http://127.0.0.1:3000", tars_token: "", tars_pkg_dir: "binary/"}
chain:
  chain_id: chain0
  rpc_sm_ssl: false
  gateway_sm_ssl: false
  rpc_ca_cert_path: generated/rpc/chain0/ca
  gateway_ca_cert_path: generated/gateway/chain0/ca
agency:
  - name: agencyA
    enable_storage_security: false
    rpc: {deploy_ip: ["172.25.0.5"], listen_ip: 0.0.0.0, listen_port: 10200, thread_count: 4}
    gateway:
      deploy_ip: ["172.25.0.5"]
      listen_ip: 0.0.0.0
      listen_port: 40300
      peers: ["172.25.0.3:30300", "172.25.0.3:30301", "172.25.0.5:40300"]
"#;
    let y = parse_str(yaml, Format::Yaml, "t.yaml", None).unwrap();
    assert_eq!(y, toml(EXPAND).unwrap());
}

#[test]
fn errors_carry_path_line_column_and_hint() {
    let text = "[tars]\ntars_url = \"http://h:3000\"\n[[agency]]\nname = \"a\"\n[agency.rpc]\ndeploy_ip = [\"1.1.1.1\"]\nlisten_prot = 1\n";
    let errs = toml(text).unwrap_err().errors;
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert_eq!(e.path, "agency[0].rpc.listen_prot");
    assert_eq!(e.location, Some((7, 1)));
    assert_eq!(e.hint.as_deref(), Some("did you mean `listen_port`?"));
    assert_eq!(e.message, "unknown key `listen_prot` (agency `a`)");
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let text = "[tars]\ntars_url = \"ftp://h\"\ncolour = 1\n[chain]\nchain_id = \"c-1\"\n[[agency]]\nname = \"a\"\n[agency.rpc]\ndeploy_ip = \"1.1.1.1\"\nlisten_port = 20200.0\n";
    let errs = toml(text).unwrap_err().errors;
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tars.tars_url",
            "tars.colour",
            "chain.chain_id",
            "agency[0].rpc.deploy_ip",
            "agency[0].rpc.listen_port"
        ]
    );
}

#[test]
fn token_never_appears_in_errors() {
    let secret = "s3cr3t-T0KEN.value";
    let cases = [
        format!(
            "[tars]\ntars_url = \"http://h\"\ntars_token = \"{secret}\"\n[[agency]]\nname = \"{secret}\"\n"
        ),
        format!("[tars]\ntars_url = \"http://h\"\ntars_token = \"{secret}\n"),
        format!("[tars]\ntars_url = \"{secret}\"\ntars_token = '{secret}'\n"),
        format!(
            "[tars]\ntars_url = \"http://h\"\ntars_token = \"{secret}\"\n[chain]\nchain_id = \"{secret}\"\n"
        ),
    ];
    for text in cases {
        let rendered = toml(&text).unwrap_err().to_string();
        assert!(!rendered.contains(secret), "{rendered}");
    }
    let env = parse_str(
        "[tars]\ntars_url = \"x\"\n",
        Format::Toml,
        "t",
        Some("envsecret42"),
    )
    .unwrap_err();
    assert!(!env.to_string().contains("envsecret42"));
}

#[test]
fn empty_and_garbage_inputs_are_errors_not_panics() {
    for text in [
        "",
        "  \n",
        "\u{0}",
        "[[",
        "a = [",
        "tars = 1",
        "[tars]\ntars_url = 1e400",
    ] {
        assert!(toml(text).is_err(), "{text:?}");
    }
    for text in ["- 1", "tars: [", "~", "tars: !tag 1", "1: 2"] {
        assert!(parse_str(text, Format::Yaml, "y", None).is_err(), "{text:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Cutting or splicing the upstream example anywhere never panics, in either format.
    #[test]
    fn mangled_input_never_panics(
        start in 0usize..3500,
        len in 0usize..40,
        junk in "[\\[\\]=\"': a-z0-9\n-]{0,6}",
    ) {
        for text in [EXPAND, DEPLOY] {
            let chars: Vec<char> = text.chars().collect();
            let start = start.min(chars.len());
            let end = (start + len).min(chars.len());
            let mangled: String = chars[..start].iter().copied().chain(junk.chars()).chain(chars[end..].iter().copied()).collect();
            for format in [Format::Toml, Format::Yaml] {
                if let Err(e) = parse_str(&mangled, format, "t", None) {
                    proptest::prop_assert!(!e.errors.is_empty());
                    proptest::prop_assert!(e.errors.iter().all(|x| !x.message.is_empty()));
                }
            }
        }
    }
}

#[test]
fn format_follows_the_extension() {
    assert_eq!(Format::from_path(Path::new("a/b.YML")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("b.yaml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("config.toml")), Format::Toml);
    assert_eq!(Format::from_path(Path::new("config")), Format::Toml);
}

#[test]
fn summary_names_chain_agencies_and_hosts() {
    let s = summary(&toml(DEPLOY).unwrap());
    assert!(s.starts_with("chain chain0 on Tars http://127.0.0.1:3000/ (token: empty): 2 agencies, 4 services, 4 nodes on 1 host."), "{s}");
    assert!(
        s.contains("agency agencyB: rpc port 20201 on 172.25.0.3; gateway port 30301 on 172.25.0.3, 2 peers"),
        "{s}"
    );
    assert!(s.contains("host 172.25.0.3: agencyABcosRpcService, agencyABcosGatewayService, agencyBBcosRpcService, agencyBBcosGatewayService"), "{s}");
}

#[test]
fn long_echoed_values_are_shortened_in_errors() {
    let chain = "c!".repeat(100_000);
    let key = "k".repeat(100_000);
    let text = EXPAND.replacen(
        "chain_id=\"chain0\"",
        &format!("chain_id = \"{chain}\"\n{key} = 1"),
        1,
    );
    let err = toml(&text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.len() < 2_000, "{} bytes", shown.len());
    assert!(shown.contains("chain_id must be letters"), "{shown}");
    assert!(shown.contains("(200000 characters)"), "{shown}");
    assert!(shown.contains("unknown key `kkkk"), "{shown}");
}

#[test]
fn a_flood_of_errors_is_cut_after_the_first_hundred() {
    let ips = (0..500).map(|_| "\"1.1.1.1\"").collect::<Vec<_>>().join(", ");
    let text = format!(
        "[tars]\ntars_url = \"http://x\"\n[[agency]]\nname = \"a\"\n[agency.rpc]\ndeploy_ip = [{ips}]\n"
    );
    let err = toml(&text).unwrap_err();
    assert_eq!(err.errors.len(), 499);
    let shown = err.to_string();
    assert!(shown.starts_with("499 error(s) in t.toml:"), "{shown}");
    assert_eq!(shown.matches("duplicate IP").count(), MAX_SHOWN_ERRORS);
    assert!(
        shown.ends_with("… and 399 more error(s); fix these first"),
        "{shown}"
    );
}

#[test]
fn identical_errors_are_reported_once() {
    let headers: String = (1..=300)
        .map(|i| format!("[[{}]]\n", vec!["a"; i].join(".")))
        .collect();
    let err = toml(&format!("[tars]\ntars_url = \"http://x\"\n{headers}")).unwrap_err();
    let messages: Vec<_> = err
        .errors
        .iter()
        .map(|e| (&e.path, e.location, &e.message))
        .collect();
    let unique: std::collections::BTreeSet<_> = messages.iter().collect();
    assert_eq!(messages.len(), unique.len(), "{err}");
}
