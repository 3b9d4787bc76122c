//! Taking over a chain BcosBuilder deployed: its `generated/` layout (CA with `ca.srl`,
//! node folders, its own `generated/<server>.tgz`), its rows in Tars. The takeover
//! restarts no node and leaves BcosBuilder's files alone; every CA failure mode stops
//! at plan with exit 1 and nothing changed.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{APP, Bed, NEW, OLD, Run, Start, Tars};
use serde_json::Value;
use tarsform::config::ServiceKind;
use tarsform::pki::SystemKeys;
use tarsform::secret::Secret;
use tarsform::tars::{ClientConfig, HttpTarsClient, TarsApi, TaskCommand, TaskRequest, run_task};
use tarsform::workspace::{Layout, ensure_ca, ensure_leaf, write_text_if_changed};

/// BcosBuilder's own package bytes: tarsform must never write over them.
const BCOSBUILDER_TGZ: &[u8] = b"BcosBuilder's generated/<server>.tgz";

fn deploy_toml(base_url: &str, extra_chain: &str) -> String {
    host_toml(
        base_url,
        extra_chain,
        OLD,
        20200,
        30300,
        &[&format!("{OLD}:30300")],
    )
}

/// One BcosBuilder topology file: agencyA's rpc and gateway on `ip`.
fn host_toml(
    base_url: &str,
    extra_chain: &str,
    ip: &str,
    rpc_port: u16,
    gw_port: u16,
    peers: &[&str],
) -> String {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
    let peers = peers.join(", ");
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
    deploy_ip = ["{ip}"]
    listen_ip = "0.0.0.0"
    listen_port = {rpc_port}
    thread_count = 4

    [agency.gateway]
    deploy_ip = ["{ip}"]
    listen_ip = "0.0.0.0"
    listen_port = {gw_port}
    peers = [{peers}]
"#
    )
}

/// The chain as BcosBuilder's `-o deploy` leaves it, on disk and in Tars.
fn bcosbuilder_chain() -> Bed {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let toml = deploy_toml(&bed.emulator.base_url(), "");
    bcosbuilder_runs(&bed, "config.toml", &toml, BCOSBUILDER_TGZ);
    bed
}

/// BcosBuilder's deploy (config.toml, 20200/30300 on the old host) and its expand
/// example (expand.toml, 10200/40300 on the new host), both run.
fn bcosbuilder_expanded_chain() -> Bed {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let url = bed.emulator.base_url();
    let peers = [format!("{OLD}:30300"), format!("{NEW}:40300")];
    let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
    bcosbuilder_runs(
        &bed,
        "config.toml",
        &host_toml(&url, "", OLD, 20200, 30300, &peers),
        BCOSBUILDER_TGZ,
    );
    bcosbuilder_runs(
        &bed,
        "expand.toml",
        &host_toml(&url, "", NEW, 10200, 40300, &peers),
        BCOSBUILDER_TGZ,
    );
    bed
}

/// What one BcosBuilder run over `file` leaves: the CA (made once, then reused), each
/// node's folder, its own `generated/<server>.tgz`, and the rows in Tars.
fn bcosbuilder_runs(bed: &Bed, file: &str, toml: &str, package: &[u8]) {
    let root = bed.path();
    std::fs::write(root.join(file), toml).unwrap();
    let topology = tarsform::config::load(&root.join(file)).unwrap();
    let layout = Layout::new(root.join("generated"), APP);
    let mut keys = SystemKeys::new();
    for svc in topology.services() {
        let (kind, server) = (svc.kind(), svc.server_name());
        let ca_dir = layout.ca_dir(kind);
        let (ca, _) = ensure_ca(&ca_dir, &mut keys).unwrap();
        std::fs::write(ca_dir.join("ca.srl"), "5F3A1C0E9B2D4A67\n").unwrap();
        for &ip in &svc.service.deploy_ip {
            seed_node(bed, &topology, svc, ip, &ca, &mut keys, package);
        }
        std::fs::write(root.join(format!("generated/{server}.tgz")), package).unwrap();
    }
}

fn seed_node(
    bed: &Bed,
    topology: &tarsform::config::Topology,
    svc: tarsform::config::ServiceRef<'_>,
    ip: IpAddr,
    ca: &tarsform::pki::Ca,
    keys: &mut SystemKeys,
    package: &[u8],
) {
    let layout = Layout::new(bed.path().join("generated"), APP);
    let (kind, server) = (svc.kind(), svc.server_name());
    for purpose in kind.cert_purposes() {
        ensure_leaf(ca, &layout.cert_dir(kind, &server, ip, purpose), purpose, keys).unwrap();
    }
    let config_ini = tarsform::render::config_ini(topology, svc);
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
            "ca.crt" => std::fs::read_to_string(layout.ca_dir(kind).join("ca.crt")).unwrap(),
            _ => std::fs::read_to_string(layout.config_path(kind, &server, ip, file)).unwrap(),
        };
        configs.push((file, content));
    }
    let configs: Vec<(&str, &str)> = configs.iter().map(|(f, c)| (*f, c.as_str())).collect();
    bed.handle()
        .seed_deployed_server(APP, &server, kind.obj_name(), &ip.to_string(), &configs, package);
}

fn plan_json(bed: &Bed) -> Value {
    plan_json_of(bed, &["-c", "config.toml"])
}

fn plan_json_of(bed: &Bed, files: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend(files);
    let run = bed.run(&args);
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

#[test]
fn bcosbuilders_deploy_and_expand_files_are_taken_over_as_one_topology_with_per_node_ports() {
    let bed = bcosbuilder_expanded_chain();
    let patches = patch_versions(&bed);
    assert_eq!(patches.len(), 4, "{patches:?}");
    let files = ["-c", "config.toml", "-c", "expand.toml"];
    let plan = plan_json_of(&bed, &files);
    assert_eq!(plan["summary"]["restart"], 0, "{:#}", plan["restarts"]);
    assert_eq!(plan["summary"]["change"], 0, "{:#}", plan["resource_changes"]);
    assert_eq!(plan["summary"]["add"], 0);

    let run = bed.run(&[
        "apply",
        "-c",
        "config.toml",
        "-c",
        "expand.toml",
        "--auto-approve",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert_eq!(patch_versions(&bed), patches, "the takeover re-patched a node");
    let again = bed.run(&["plan", "-c", "config.toml", "-c", "expand.toml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.both());

    // The same chain in one file, with the new host's ports in its node tables.
    let one = format!(
        r#"[tars]
tars_url = "{url}"
tars_token = ""
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"

[[agency]]
name = "agencyA"

    [agency.rpc]
    deploy_ip = ["{OLD}", "{NEW}"]
    listen_port = 20200

    [agency.rpc.node."{NEW}"]
    listen_port = 10200

    [agency.gateway]
    deploy_ip = ["{OLD}", "{NEW}"]
    listen_port = 30300
    peers = ["{OLD}:30300", "{NEW}:40300"]

    [agency.gateway.node."{NEW}"]
    listen_port = 40300
"#,
        url = bed.emulator.base_url()
    );
    std::fs::write(bed.path().join("one.toml"), &one).unwrap();
    let single = bed.run(&["plan", "-c", "one.toml"]);
    assert!(single.stdout.contains("No changes."), "{one}\n{}", single.both());
    // `peers = "auto"` derives the same list from the gateways of the chain.
    let auto = one.replace(
        &format!(r#"peers = ["{OLD}:30300", "{NEW}:40300"]"#),
        r#"peers = "auto""#,
    );
    assert_ne!(auto, one);
    std::fs::write(bed.path().join("auto.toml"), &auto).unwrap();
    let derived = bed.run(&["plan", "-c", "auto.toml"]);
    assert!(
        derived.stdout.contains("No changes."),
        "{auto}\n{}",
        derived.both()
    );

    // Forgetting the expand file would destroy BcosBuilder's nodes: refused.
    let forgot = bed.run(&["plan", "-c", "config.toml"]);
    assert_eq!(forgot.code, Some(1), "{}", forgot.both());
    assert!(
        forgot
            .stderr
            .contains("would destroy 2 node(s) that tarsform imported"),
        "{}",
        forgot.both()
    );
}

#[test]
fn drift_that_matters_is_shown_and_fixed_out_of_band_patch_and_stopped_node() {
    let bed = bcosbuilder_chain();
    assert_eq!(bed.apply().code, Some(0));
    let recorded = patch_versions(&bed);

    // An out-of-band upgrade: BcosBuilder's `-o upgrade` with another package.
    let toml = std::fs::read_to_string(bed.path().join("config.toml")).unwrap();
    bcosbuilder_runs(&bed, "config.toml", &toml, b"an upgrade done outside tarsform");
    assert_ne!(patch_versions(&bed), recorded);
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert_eq!(human.code, Some(0), "{}", human.both());
    assert!(
        human.stdout.contains("Objects have changed outside tarsform"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("(patched outside tarsform)"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("Restarts: 2 node(s)."), "{}", human.stdout);
    // refresh records what runs, and never leaves the old package next to the new patch.
    let refresh = bed.run(&["refresh", "-c", "config.toml"]);
    assert_eq!(refresh.code, Some(0), "{}", refresh.both());
    let node = &bed.resources().unwrap()[&format!(r#"node["agencyABcosRpcService"]["{OLD}"]"#)]["attributes"];
    assert!(
        node["package_sha256"]
            .as_str()
            .unwrap()
            .starts_with("tars-patch:"),
        "{node}"
    );
    let offline = plan_json_of(&bed, &["-c", "config.toml", "--refresh=false"]);
    assert_eq!(offline["summary"]["restart"], 2, "{:#}", offline["restarts"]);
    let applied = bed.apply();
    assert_eq!(applied.code, Some(0), "{}", applied.both());
    assert_eq!(
        patch_versions(&bed),
        recorded,
        "re-patched to the recorded package"
    );
    let again = bed.run(&["plan", "-c", "config.toml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.both());

    // A node stopped outside tarsform.
    let api = HttpTarsClient::new(ClientConfig::new(
        bed.emulator.base_url(),
        Secret::new(common::TOKEN),
    ))
    .unwrap();
    let rt = common::runtime();
    let row = rt
        .block_on(api.server_list(APP, Some("agencyABcosRpcService")))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let stop = TaskRequest::single(row.id, TaskCommand::Stop, Default::default());
    rt.block_on(run_task(
        &api,
        &stop,
        Duration::from_millis(20),
        Duration::from_secs(10),
    ))
    .unwrap();
    let status = bed.run(&["status", "-c", "config.toml"]);
    assert_eq!(status.code, Some(1), "{}", status.both());
    assert!(
        status.stderr.contains("1 managed node(s) not active"),
        "{}",
        status.both()
    );
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert!(
        human.stdout.contains("(stopped outside tarsform)"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("start it"), "{}", human.stdout);
    assert_eq!(bed.apply().code, Some(0));
    let status = bed.run(&["status", "-c", "config.toml"]);
    assert_eq!(status.code, Some(0), "{}", status.both());
}

/// `(server, ip, setting_state)` of every node in the emulator.
fn setting_states(bed: &Bed) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = bed
        .snapshot()
        .servers
        .into_iter()
        .map(|r| (r.server_name, r.node_name, r.setting_state))
        .collect();
    out.sort();
    out
}

/// `config.toml` with `line` added under `[agency.<service>]`.
fn with_service_line(bed: &Bed, service: &str, line: &str) {
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let header = format!("    [agency.{service}]\n");
    assert!(toml.contains(&header), "{toml}");
    std::fs::write(&path, toml.replacen(&header, &format!("{header}    {line}\n"), 1)).unwrap();
}

fn rpc_node_attrs(bed: &Bed) -> Value {
    bed.resources().unwrap()[&format!(r#"node["agencyABcosRpcService"]["{OLD}"]"#)]["attributes"].clone()
}

#[test]
fn run_state_stopped_then_started_is_planned_applied_and_recorded() {
    let bed = bcosbuilder_chain();
    assert_eq!(bed.apply().code, Some(0));
    let patches = patch_versions(&bed);
    let original = std::fs::read_to_string(bed.path().join("config.toml")).unwrap();

    with_service_line(&bed, "rpc", r#"state = "stopped""#);
    let plan = plan_json(&bed);
    assert_eq!(plan["summary"]["change"], 1, "{:#}", plan["resource_changes"]);
    assert_eq!(
        plan["summary"]["restart"], 0,
        "a stop is no restart: {:#}",
        plan["restarts"]
    );
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert!(
        human.stdout.contains(r#"stop it (state = "stopped")"#),
        "{}",
        human.stdout
    );
    assert_eq!(bed.apply().code, Some(0));
    let states = setting_states(&bed);
    assert!(
        states.contains(&("agencyABcosRpcService".into(), OLD.into(), "inactive".into()))
            && states.contains(&("agencyABcosGatewayService".into(), OLD.into(), "active".into())),
        "{states:?}"
    );
    assert_eq!(rpc_node_attrs(&bed)["run_state"], "stopped");
    assert!(rpc_node_attrs(&bed).get("run_command").is_none());
    // Stopped on purpose: no drift, no change, and status is fine with it.
    let again = bed.run(&["plan", "-c", "config.toml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.both());
    assert!(!again.stdout.contains("outside tarsform"), "{}", again.stdout);
    let status = bed.run(&["status", "-c", "config.toml"]);
    assert_eq!(status.code, Some(0), "{}", status.both());
    assert!(
        status.stdout.contains(r#"stopped (state = "stopped")"#),
        "{}",
        status.stdout
    );

    // Back to started (the key removed): a start, then nothing to do.
    std::fs::write(bed.path().join("config.toml"), &original).unwrap();
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert!(
        human.stdout.contains(r#"start it (state = "started")"#),
        "{}",
        human.stdout
    );
    assert_eq!(bed.apply().code, Some(0));
    assert!(setting_states(&bed).iter().all(|(_, _, s)| s == "active"));
    assert_eq!(patch_versions(&bed), patches, "started with the package it had");
    assert_eq!(rpc_node_attrs(&bed)["run_state"], "started");
    let again = bed.run(&["plan", "-c", "config.toml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.both());
}

#[test]
fn a_node_started_outside_tarsform_while_it_should_be_stopped_is_drift() {
    let bed = bcosbuilder_chain();
    with_service_line(&bed, "gateway", r#"state = "stopped""#);
    // Adopting a running node with state = "stopped" stops it, and restarts nothing.
    let plan = plan_json(&bed);
    assert_eq!(plan["summary"]["restart"], 0, "{:#}", plan["restarts"]);
    assert_eq!(plan["summary"]["change"], 1, "the stop counts as a change");
    assert_eq!(bed.apply().code, Some(0));
    let gateway = ("agencyABcosGatewayService".to_string(), OLD.to_string());
    let state_of = |bed: &Bed| {
        setting_states(bed)
            .into_iter()
            .find(|(s, n, _)| (s, n) == (&gateway.0, &gateway.1))
            .unwrap()
            .2
    };
    assert_eq!(state_of(&bed), "inactive");

    let api = HttpTarsClient::new(ClientConfig::new(
        bed.emulator.base_url(),
        Secret::new(common::TOKEN),
    ))
    .unwrap();
    let rt = common::runtime();
    let row = rt
        .block_on(api.server_list(APP, Some(&gateway.0)))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let start = TaskRequest::single(row.id, TaskCommand::Start, Default::default());
    rt.block_on(run_task(
        &api,
        &start,
        Duration::from_millis(20),
        Duration::from_secs(10),
    ))
    .unwrap();
    assert_eq!(state_of(&bed), "active");
    let human = bed.run(&["plan", "-c", "config.toml"]);
    assert!(
        human.stdout.contains("Objects have changed outside tarsform")
            && human.stdout.contains("(started outside tarsform)"),
        "{}",
        human.stdout
    );
    assert_eq!(bed.apply().code, Some(0));
    assert_eq!(state_of(&bed), "inactive");
}

#[test]
fn a_failed_stop_is_rolled_back_and_the_stopped_nodes_start_again() {
    let bed = bcosbuilder_expanded_chain();
    let files = ["-c", "config.toml", "-c", "expand.toml"];
    let mut apply = vec!["apply"];
    apply.extend(files);
    apply.push("--auto-approve");
    assert_eq!(bed.run(&apply).code, Some(0));
    let before = setting_states(&bed);
    let state_before = bed.resources().unwrap();
    for file in ["config.toml", "expand.toml"] {
        let path = bed.path().join(file);
        let toml = std::fs::read_to_string(&path).unwrap();
        let toml = toml.replacen(
            "    [agency.rpc]\n",
            "    [agency.rpc]\n    state = \"stopped\"\n",
            1,
        );
        std::fs::write(&path, toml).unwrap();
    }
    bed.handle()
        .add_fault(format!("task:stop@{NEW}").parse().unwrap());
    let run = bed.run(&apply);
    assert_eq!(run.code, Some(1), "{}", run.both());
    // The rpc nodes stop one at a time (in step order): the old host's stop ran, and was undone.
    assert!(
        run.stderr
            .contains(&format!(r#"undo stop node["agencyABcosRpcService"]["{OLD}"]"#)),
        "{}",
        run.both()
    );
    assert_eq!(setting_states(&bed), before, "{}", run.both());
    assert_eq!(bed.resources().unwrap(), state_before, "{}", run.both());
}

#[test]
fn restart_is_a_rolling_plan_of_restarts_only() {
    let bed = bcosbuilder_expanded_chain();
    let files = ["-c", "config.toml", "-c", "expand.toml"];
    let mut apply = vec!["apply"];
    apply.extend(files);
    apply.push("--auto-approve");
    assert_eq!(bed.run(&apply).code, Some(0));
    let patches = patch_versions(&bed);
    let api = HttpTarsClient::new(ClientConfig::new(
        bed.emulator.base_url(),
        Secret::new(common::TOKEN),
    ))
    .unwrap();
    let rt = common::runtime();
    let pids = |server: &str| -> Vec<i64> {
        let mut rows = rt.block_on(api.server_list(APP, Some(server))).unwrap();
        rows.sort_by(|a, b| a.node_name.cmp(&b.node_name));
        rows.iter().map(|r| r.process_id).collect()
    };
    let (rpc, gateway) = ("agencyABcosRpcService", "agencyABcosGatewayService");
    let (rpc_before, gateway_before) = (pids(rpc), pids(gateway));

    let target = format!(r#"server["{rpc}"]"#);
    let mut restart = vec!["restart"];
    restart.extend(files);
    restart.extend(["--target", target.as_str(), "--auto-approve"]);
    let run = bed.run(&restart);
    assert_eq!(run.code, Some(0), "{}", run.both());
    assert!(run.stdout.contains("Restarts: 2 node(s)."), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Restart complete! 2 node(s) restarted, each active and settled."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("requested (`tarsform restart`)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("every node of server `{rpc}` restarts")),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(&format!("server `{gateway}` restarts")),
        "notes only what the target restarts: {}",
        run.stdout
    );
    let rpc_after = pids(rpc);
    assert!(
        rpc_after.iter().zip(&rpc_before).all(|(a, b)| a != b),
        "{rpc_before:?} → {rpc_after:?}"
    );
    assert_eq!(pids(gateway), gateway_before, "outside the target");
    assert_eq!(patch_versions(&bed), patches);
    let mut plan = vec!["plan"];
    plan.extend(files);
    let again = bed.run(&plan);
    assert!(again.stdout.contains("No changes."), "{}", again.both());

    // With other changes pending, a restart would carry them: refused, nothing changed.
    let path = bed.path().join("config.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, toml.replace("thread_count = 4", "thread_count = 8")).unwrap();
    let mut restart = vec!["restart"];
    restart.extend(files);
    restart.push("--auto-approve");
    let before = bed.snapshot();
    let refused = bed.run(&restart);
    assert_eq!(refused.code, Some(1), "{}", refused.both());
    assert!(refused.stderr.contains("pending change(s)"), "{}", refused.both());
    assert!(refused.stderr.contains("config.ini"), "{}", refused.both());
    common::assert_model_eq(&before, &bed.snapshot(), "a refused restart");
}
