//! Taking over a chain BcosBuilder deployed: its `generated/` layout (CA with `ca.srl`,
//! node folders, its own `generated/<server>.tgz`), its rows in Tars. The takeover
//! restarts no node and leaves BcosBuilder's files alone; every CA failure mode stops
//! at plan with exit 1 and nothing changed.

mod common;

use std::net::IpAddr;
use std::path::Path;

use common::{APP, Bed, OLD, Run, Start, Tars};
use serde_json::Value;
use tarsform::config::ServiceKind;
use tarsform::pki::SystemKeys;
use tarsform::workspace::{Layout, ensure_ca, ensure_leaf, write_text_if_changed};

/// BcosBuilder's own package bytes: tarsform must never write over them.
const BCOSBUILDER_TGZ: &[u8] = b"BcosBuilder's generated/<server>.tgz";

fn deploy_toml(base_url: &str, extra_chain: &str) -> String {
    format!(
        r#"[tars]
tars_url = "{base_url}"
tars_token = ""
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"
rpc_sm_ssl = false
gateway_sm_ssl = false
{extra_chain}

[[agency]]
name = "agencyA"

    [agency.rpc]
    deploy_ip = ["{OLD}"]
    listen_ip = "0.0.0.0"
    listen_port = 20200
    thread_count = 4

    [agency.gateway]
    deploy_ip = ["{OLD}"]
    listen_ip = "0.0.0.0"
    listen_port = 30300
    peers = ["{OLD}:30300"]
"#
    )
}

/// The chain as BcosBuilder's `-o deploy` leaves it, on disk and in Tars.
fn bcosbuilder_chain() -> Bed {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let root = bed.path();
    std::fs::write(
        root.join("config.toml"),
        deploy_toml(&bed.emulator.base_url(), ""),
    )
    .unwrap();
    let topology = tarsform::config::load(&root.join("config.toml")).unwrap();
    let layout = Layout::new(root.join("generated"), APP);
    let ip: IpAddr = OLD.parse().unwrap();
    let mut keys = SystemKeys::new();
    for svc in topology.services() {
        let (kind, server) = (svc.kind(), svc.server_name());
        let ca_dir = layout.ca_dir(kind);
        let (ca, _) = ensure_ca(&ca_dir, &mut keys).unwrap();
        std::fs::write(ca_dir.join("ca.srl"), "5F3A1C0E9B2D4A67\n").unwrap();
        for purpose in kind.cert_purposes() {
            ensure_leaf(
                &ca,
                &layout.cert_dir(kind, &server, ip, purpose),
                purpose,
                &mut keys,
            )
            .unwrap();
        }
        let config_ini = tarsform::render::config_ini(&topology, svc);
        let nodes_json = tarsform::render::nodes_json(svc);
        write_text_if_changed(&layout.config_path(kind, &server, ip, "config.ini"), &config_ini).unwrap();
        if kind == ServiceKind::Gateway {
            write_text_if_changed(&layout.config_path(kind, &server, ip, "nodes.json"), &nodes_json).unwrap();
        }
        let mut configs = Vec::new();
        for &file in kind.config_files() {
            let content = match file {
                "config.ini" => config_ini.clone(),
                "nodes.json" => nodes_json.clone(),
                "ca.crt" => std::fs::read_to_string(ca_dir.join("ca.crt")).unwrap(),
                _ => std::fs::read_to_string(layout.config_path(kind, &server, ip, file)).unwrap(),
            };
            configs.push((file, content));
        }
        std::fs::write(root.join(format!("generated/{server}.tgz")), BCOSBUILDER_TGZ).unwrap();
        let configs: Vec<(&str, &str)> = configs.iter().map(|(f, c)| (*f, c.as_str())).collect();
        bed.handle()
            .seed_deployed_server(APP, &server, kind.obj_name(), OLD, &configs, BCOSBUILDER_TGZ);
    }
    bed
}

fn plan_json(bed: &Bed) -> Value {
    let run = bed.run(&["plan", "-c", "config.toml", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    serde_json::from_str(&run.stdout).unwrap()
}

/// `(server, ip, patch version)` of every node in the emulator.
fn patch_versions(bed: &Bed) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = bed
        .snapshot()
        .servers
        .into_iter()
        .map(|r| (r.server_name, r.node_name, r.patch_version))
        .collect();
    out.sort();
    out
}

fn generated_tgz(bed: &Bed) -> Vec<Vec<u8>> {
    ["agencyABcosRpcService", "agencyABcosGatewayService"]
        .iter()
        .map(|s| std::fs::read(bed.path().join(format!("generated/{s}.tgz"))).unwrap())
        .collect()
}

fn assert_fails_unchanged(bed: &Bed, args: &[&str], needles: &[&str]) -> Run {
    let before = bed.snapshot();
    let state_before = std::fs::read(bed.path().join(common::STATE)).ok();
    let run = bed.run(args);
    assert_eq!(run.code, Some(1), "{args:?}: {}", run.both());
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{args:?}: no `{needle}` in\n{}",
            run.both()
        );
    }
    common::assert_model_eq(&before, &bed.snapshot(), "a failed plan");
    assert_eq!(
        std::fs::read(bed.path().join(common::STATE)).ok(),
        state_before,
        "{args:?} changed the state"
    );
    run
}

fn move_dir(from: &Path, to: &Path) {
    std::fs::rename(from, to).unwrap();
}

#[test]
fn a_bcosbuilder_chain_is_taken_over_with_no_restart_and_its_files_untouched() {
    let bed = bcosbuilder_chain();
    let patches = patch_versions(&bed);
    assert!(!patches.is_empty());
    let plan = plan_json(&bed);
    assert_eq!(plan["summary"]["restart"], 0, "{:#}", plan["restarts"]);
    assert_eq!(plan["summary"]["add"], 0, "{:#}", plan["resource_changes"]);
    assert_eq!(plan["summary"]["change"], 0, "{:#}", plan["resource_changes"]);
    assert_eq!(plan["summary"]["destroy"], 0);
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert!(human.stdout.contains("Restarts: 0 node(s)."), "{}", human.stdout);

    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_eq!(patch_versions(&bed), patches, "the takeover re-patched a node");
    assert_eq!(generated_tgz(&bed), vec![BCOSBUILDER_TGZ.to_vec(); 2]);
    let again = bed.run(&["plan", "-c", "config.toml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.both());
    let resources = bed.resources().unwrap();
    assert!(
        resources[r#"ca["rpc"]"#]["attributes"]["cert_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

#[test]
fn every_ca_failure_mode_stops_at_plan_with_nothing_changed() {
    let bed = bcosbuilder_chain();
    let generated = bed.path().join("generated");
    let aside = bed.path().join("generated.aside");

    // No state, no generated/: the nodes in Tars are named with what they are served.
    move_dir(&generated, &aside);
    for cmd in ["plan", "apply"] {
        let mut args = vec![cmd, "-c", "config.toml"];
        if cmd == "apply" {
            args.push("--auto-approve");
        }
        assert_fails_unchanged(
            &bed,
            &args,
            &[
                "the rpc CA at `generated/rpc/chain0/ca` is missing",
                r#"node["agencyABcosRpcService"]["172.25.0.3"]: Tars serves ca.crt sha256:"#,
                "its ssl.crt",
            ],
        );
    }
    move_dir(&aside, &generated);

    // Another existing CA (the gateway's) at rpc_ca_cert_path, without state.
    let wrong = deploy_toml(
        &bed.emulator.base_url(),
        r#"rpc_ca_cert_path = "generated/gateway/chain0/ca""#,
    );
    std::fs::write(bed.path().join("wrong.toml"), &wrong).unwrap();
    assert_fails_unchanged(
        &bed,
        &["plan", "-c", "wrong.toml"],
        &[
            "is not the CA these nodes were issued from",
            "its ssl.crt does not verify against this CA",
        ],
    );

    // Take over, then the same mistakes with state.
    assert_eq!(bed.apply().code, Some(0));
    assert_fails_unchanged(
        &bed,
        &["plan", "-c", "wrong.toml"],
        &["is not the CA recorded in state"],
    );
    assert_fails_unchanged(
        &bed,
        &["plan", "-c", "wrong.toml", "--refresh=false"],
        &["is not the CA recorded in state"],
    );
    // A typo in the path, or generated/ gone: the CA in state keeps the plan honest.
    let typo = deploy_toml(
        &bed.emulator.base_url(),
        r#"rpc_ca_cert_path = "generated/rpc/chian0/ca""#,
    );
    std::fs::write(bed.path().join("typo.toml"), &typo).unwrap();
    move_dir(&generated, &aside);
    for config in ["config.toml", "typo.toml"] {
        let run = bed.run(&["plan", "-c", config]);
        assert_eq!(run.code, Some(0), "{}", run.both());
        assert!(run.stdout.contains("No changes."), "{config}: {}", run.both());
    }
}
