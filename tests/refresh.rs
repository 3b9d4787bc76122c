//! Refresh, import and status against the emulator on 127.0.0.1: agencyA's rpc and
//! gateway seeded on 172.25.0.3 as BcosBuilder leaves them, then the real binary plans
//! imports (never creates), adopts the nodes, sees out-of-band edits and undeploys as
//! drift, reports a live status, and never prints the token.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tarsform::apply::refresh::observe;
use tarsform::config::ServiceKind;
use tarsform::emulator::{self, EmulatorConfig, EmulatorHandle, RunningEmulator};
use tarsform::tars::{ClientConfig, HttpTarsClient};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.refresh-s3cr3t.sig";
const APP: &str = "chain0";
const RPC: &str = "agencyABcosRpcService";
const GATEWAY: &str = "agencyABcosGatewayService";
const OLD: &str = "172.25.0.3";
const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n";
const SSL_CRT: &str = "-----BEGIN CERTIFICATE-----\nMIIBfakeLeaf\n-----END CERTIFICATE-----\n";
const SSL_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEfakeKeyMaterial\n-----END PRIVATE KEY-----\n";

/// A running emulator with agencyA seeded, and a workspace whose topology points at it.
struct Bed {
    rt: tokio::runtime::Runtime,
    emulator: Option<RunningEmulator>,
    dir: tempfile::TempDir,
}

impl Bed {
    fn new() -> Bed {
        let bed = Bed::empty();
        bed.seed();
        bed
    }

    /// The emulator with a live tarsnode and nothing deployed.
    fn empty() -> Bed {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let emulator = rt
            .block_on(emulator::start(EmulatorConfig {
                token: Some(TOKEN.into()),
                nodes: vec![OLD.into()],
                task_duration: Duration::from_millis(20),
                ..Default::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_workspace(dir.path(), &emulator.base_url());
        Bed {
            rt,
            emulator: Some(emulator),
            dir,
        }
    }

    fn handle(&self) -> EmulatorHandle {
        self.emulator.as_ref().unwrap().handle()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Both servers on OLD with the files BcosBuilder would have pushed.
    fn seed(&self) {
        let topology = tarsform::config::load(&self.path().join("config.toml")).unwrap();
        // The CA BcosBuilder left behind, the one the seeded nodes are served.
        for kind in ["rpc", "gateway"] {
            let dir = self.path().join(format!("generated/{kind}/{APP}/ca"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("ca.crt"), CA).unwrap();
            std::fs::write(dir.join("ca.key"), "not a key: never read by plan").unwrap();
        }
        for svc in topology.services() {
            let config_ini = tarsform::render::config_ini(&topology, svc);
            let nodes_json = tarsform::render::nodes_json(svc);
            let mut files = vec![("config.ini", config_ini.as_str())];
            if svc.kind() == ServiceKind::Gateway {
                files.push(("nodes.json", nodes_json.as_str()));
            }
            files.extend([("ca.crt", CA), ("ssl.crt", SSL_CRT), ("ssl.key", SSL_KEY)]);
            self.handle().seed_deployed_server(
                APP,
                &svc.server_name(),
                svc.kind().obj_name(),
                OLD,
                &files,
                b"package",
            );
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_token(args, TOKEN)
    }

    fn run_with_token(&self, args: &[&str], token: &str) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
            .args(args)
            .current_dir(self.path())
            .env("TARSFORM_TARS_TOKEN", token)
            .env("NO_COLOR", "1")
            .env("TARSFORM_SETTLE", "100ms")
            .output()
            .unwrap();
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains(TOKEN), "token leaked: {text}");
            assert!(!text.contains("MIIEfakeKeyMaterial"), "key leaked: {text}");
        }
        out
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn plan_json(&self) -> Value {
        serde_json::from_str(&self.ok(&["plan", "-c", "config.toml", "--format", "json"])).unwrap()
    }

    fn import_both(&self) {
        for server in [RPC, GATEWAY] {
            let address = format!(r#"node["{server}"]["{OLD}"]"#);
            let text = self.ok(&["import", "-c", "config.toml", &address]);
            assert!(
                text.contains(&format!("Imported {address} (server id ")),
                "{text}"
            );
        }
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join("state/chain0.state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            self.rt.block_on(emulator.shutdown());
        }
    }
}

fn write_workspace(dir: &Path, tars_url: &str) {
    let topology = format!(
        r#"[tars]
tars_url = "{tars_url}"
tars_token = ""
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"

[[agency]]
name = "agencyA"

    [agency.rpc]
    deploy_ip = ["{OLD}"]
    listen_port = 20200

    [agency.gateway]
    deploy_ip = ["{OLD}"]
    listen_port = 30300
    peers = ["{OLD}:30300"]
"#
    );
    std::fs::write(dir.join("config.toml"), topology).unwrap();
    std::fs::create_dir(dir.join("binary")).unwrap();
    for binary in ["BcosRpcService", "BcosGatewayService"] {
        std::fs::write(dir.join(format!("binary/{binary}.tgz")), release_tgz(binary)).unwrap();
    }
}

/// A stand-in release archive holding `<binary>/<binary>`.
fn release_tgz(binary: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let body = b"\x7fELF stand-in";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, format!("{binary}/{binary}"), &body[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn node(server: &str) -> String {
    format!(r#"node["{server}"]["{OLD}"]"#)
}

fn config(server: &str, file: &str) -> String {
    format!(r#"config["{server}"]["{OLD}"]["{file}"]"#)
}

/// `address → actions` of a JSON plan.
fn actions(plan: &Value) -> std::collections::BTreeMap<String, Vec<String>> {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            // Terraform's JSON marks an import with `change.importing` (actions no-op or update).
            let importing = c["change"].get("importing").map(|_| "import".to_string());
            let acts = importing
                .into_iter()
                .chain(
                    c["change"]["actions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                )
                .filter(|a| !(a == "no-op" && c["change"].get("importing").is_some()))
                .collect();
            (c["address"].as_str().unwrap().to_string(), acts)
        })
        .collect()
}

#[test]
fn observe_returns_the_seeded_rows_and_contents() {
    let bed = Bed::new();
    let topology = tarsform::config::load(&bed.path().join("config.toml")).unwrap();
    let api = HttpTarsClient::new(ClientConfig::new(
        bed.emulator.as_ref().unwrap().base_url(),
        tarsform::secret::Secret::new(TOKEN),
    ))
    .unwrap();
    let observed = bed.rt.block_on(observe(&api, &topology, None)).unwrap();
    assert_eq!(observed.tarsnodes.get(OLD), Some(&true));
    assert_eq!(observed.servers.len(), 2);
    let rpc = observed.node(RPC, OLD).expect("rpc node observed");
    assert_eq!(
        (rpc.setting_state.as_str(), rpc.present_state.as_str()),
        ("active", "active")
    );
    assert!(rpc.patch_version.parse::<u64>().is_ok(), "{}", rpc.patch_version);
    let files: Vec<&str> = rpc.configs.keys().map(String::as_str).collect();
    assert_eq!(files, ["ca.crt", "config.ini", "ssl.crt", "ssl.key"]);
    assert_eq!(rpc.configs["ssl.crt"].content, SSL_CRT);
    assert!(rpc.configs["config.ini"].content.contains("[rpc]"));
    let gateway = observed.node(GATEWAY, OLD).unwrap();
    assert!(gateway.configs.contains_key("nodes.json"));
    assert_eq!(
        observed.servers[RPC].configs.len(),
        4,
        "server-level rows by file"
    );
    for kind in ServiceKind::ALL {
        assert_eq!(observed.ca_crt.get(&kind).map(String::as_str), Some(CA));
    }
    // One list per server-level file: 4 rpc + 5 gateway (each may add empty node rows).
    assert_eq!(bed.handle().call_count("node_config_file_list"), 9);
    let debug = format!("{observed:?}");
    assert!(!debug.contains("MIIEfakeKeyMaterial"), "{debug}");
}

#[test]
fn plan_imports_seeded_nodes_and_after_import_never_redeploys() {
    let bed = Bed::new();
    let plan = actions(&bed.plan_json());
    for server in [RPC, GATEWAY] {
        // Imported, and updated when the import restarts it (Terraform's importing + update).
        assert_eq!(plan[&node(server)][0], "import", "{plan:#?}");
        assert_eq!(plan[&config(server, "config.ini")], ["import"], "{plan:#?}");
    }
    assert!(
        !plan
            .iter()
            .any(|(a, acts)| a.starts_with("node[") && acts == &["create"])
    );

    bed.import_both();
    let state = bed.state();
    let rpc = &state["resources"][node(RPC)]["attributes"];
    assert!(rpc["server_id"].as_u64().is_some(), "{rpc}");
    assert!(rpc["patch_id"].as_u64().is_some(), "{rpc}");
    let key = &state["resources"][config(RPC, "ssl.key")]["attributes"];
    assert!(key["content_sha256"].is_string() && key.get("content").is_none());
    let again = bed.run(&["import", "-c", "config.toml", &node(RPC)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in the state"));

    let plan = actions(&bed.plan_json());
    for server in [RPC, GATEWAY] {
        let acts = plan.get(&node(server)).cloned().unwrap_or_default();
        assert!(!acts.contains(&"create".to_string()), "{server}: {acts:?}");
        assert!(!plan.contains_key(&config(server, "config.ini")), "{plan:#?}");
    }
    assert!(!plan.contains_key(&config(GATEWAY, "nodes.json")), "{plan:#?}");

    let undeclared = bed.run(&[
        "import",
        "-c",
        "config.toml",
        r#"node["agencyABcosRpcService"]["10.1.1.1"]"#,
    ]);
    assert_eq!(undeclared.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&undeclared.stderr).contains("not declared by the topology"));
}

#[test]
fn out_of_band_edit_is_drift_for_refresh_and_an_update_with_a_diff_for_plan() {
    let bed = Bed::new();
    bed.import_both();
    assert!(bed.ok(&["refresh", "-c", "config.toml"]).contains("No drift"));
    let serial = bed.state()["serial"].as_u64().unwrap();

    let imported = bed.state()["resources"][config(RPC, "config.ini")]["attributes"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let edited = imported.replace("listen_port = 20200", "listen_port = 20299");
    assert_ne!(edited, imported);
    bed.handle()
        .edit_node_config(APP, RPC, OLD, "config.ini", &edited);
    let text = bed.ok(&["refresh", "-c", "config.toml"]);
    assert!(
        text.contains(&format!(
            "~ {} edited out of band (sha256 ",
            config(RPC, "config.ini")
        )),
        "{text}"
    );
    assert!(text.contains("Drift: 1 difference(s)."), "{text}");
    let state = bed.state();
    assert_eq!(state["serial"].as_u64().unwrap(), serial + 1);
    assert_eq!(
        state["resources"][config(RPC, "config.ini")]["attributes"]["content"],
        edited.as_str()
    );

    let human = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(
        human.contains(&format!("~ {}", config(RPC, "config.ini"))),
        "{human}"
    );
    assert!(human.contains("-listen_port = 20299"), "{human}");
    assert!(human.contains("+listen_port = 20200"), "{human}");

    assert!(bed.ok(&["refresh", "-c", "config.toml"]).contains("No drift"));
    assert_eq!(
        bed.state()["serial"].as_u64().unwrap(),
        serial + 1,
        "no change, no write"
    );
}

#[test]
fn a_node_undeployed_out_of_band_is_reported_gone_and_planned_as_create() {
    let bed = Bed::new();
    bed.import_both();
    assert!(bed.handle().undeploy_out_of_band(APP, RPC, OLD));
    let text = bed.ok(&["refresh", "-c", "config.toml"]);
    assert!(
        text.contains(&format!("- {} gone from Tars", node(RPC))),
        "{text}"
    );
    assert!(bed.state()["resources"].get(node(RPC)).is_some(), "kept in state");
    let plan = actions(&bed.plan_json());
    assert_eq!(plan[&node(RPC)], ["create"], "{plan:#?}");
    assert!(!plan.contains_key(&node(GATEWAY)) || plan[&node(GATEWAY)] != ["create"]);
}

#[test]
fn status_shows_live_nodes_with_config_health() {
    let bed = Bed::new();
    let before: Value = serde_json::from_str(&bed.ok(&["status", "-c", "config.toml", "--json"])).unwrap();
    assert_eq!(before["servers"][1]["nodes"][0]["config"], "unmanaged");
    assert_eq!(before["servers"][1]["nodes"][0]["managed"], false);

    bed.import_both();
    bed.handle()
        .edit_node_config(APP, GATEWAY, OLD, "nodes.json", "{\"nodes\":[]}");
    let json: Value = serde_json::from_str(&bed.ok(&["status", "-c", "config.toml", "--json"])).unwrap();
    assert_eq!(json["format_version"], "1.0");
    assert_eq!(json["application"], APP);
    assert_eq!(json["tarsnodes"][0]["ip"], OLD);
    assert_eq!(json["tarsnodes"][0]["alive"], true);
    let servers: Vec<&str> = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server"].as_str().unwrap())
        .collect();
    assert_eq!(servers, [GATEWAY, RPC]);
    let rpc = &json["servers"][1];
    assert_eq!(
        (rpc["active"].as_u64(), rpc["total"].as_u64()),
        (Some(1), Some(1))
    );
    let n = &rpc["nodes"][0];
    assert_eq!(n["ip"], OLD);
    assert_eq!(
        (n["declared"].clone(), n["managed"].clone(), n["in_tars"].clone()),
        (true.into(), true.into(), true.into())
    );
    assert_eq!(
        (n["setting_state"].as_str(), n["present_state"].as_str()),
        (Some("active"), Some("active"))
    );
    assert_eq!(n["config"], "ok");
    let gw = &json["servers"][0]["nodes"][0];
    assert_eq!(gw["config"], "drift");
    assert_eq!(gw["configs"]["nodes.json"], "drift");
    assert_eq!(gw["configs"]["config.ini"], "ok");

    let table = bed.ok(&["status", "-c", "config.toml"]);
    assert!(table.starts_with("SERVER"), "{table}");
    assert!(table.contains(&format!("{GATEWAY}: 1/1 nodes active")), "{table}");
    assert!(table.contains("tarsnodes: 1/1 alive"), "{table}");

    bed.handle().set_node_alive(OLD, false);
    // A managed node that is not active makes status fail (exit 1), after the table.
    let down = bed.run(&["status", "-c", "config.toml"]);
    assert_eq!(down.status.code(), Some(1));
    let table = String::from_utf8_lossy(&down.stdout);
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(table.contains(&format!("{RPC}: 0/1 nodes active")), "{table}");
    assert!(table.contains("(down: 172.25.0.3)"), "{table}");
    assert!(stderr.contains("2 managed node(s) not active"), "{stderr}");
}

#[test]
fn a_wrong_or_missing_token_exits_1_with_a_hint_and_never_prints_it() {
    let bed = Bed::new();
    let wrong = "wrong-t0ken-value";
    for args in [
        vec!["plan", "-c", "config.toml"],
        vec!["status", "-c", "config.toml"],
        vec!["refresh", "-c", "config.toml"],
    ] {
        let out = bed.run_with_token(&args, wrong);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("rejected the token"), "{stderr}");
        assert!(stderr.contains("hint: get a token"), "{stderr}");
        assert!(!stderr.contains(wrong), "{stderr}");
    }
    let out = bed.run_with_token(&["import", "-c", "config.toml", &node(RPC)], wrong);
    assert_eq!(out.status.code(), Some(1));
    assert!(!bed.path().join("state/chain0.state.json").exists());

    let out = bed.run_with_token(&["status", "-c", "config.toml"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("set TARSFORM_TARS_TOKEN or [tars] tars_token"),
        "{stderr}"
    );
    let offline = bed.run_with_token(&["plan", "-c", "config.toml", "--refresh=false"], "");
    assert!(offline.status.success(), "--refresh=false needs no Tars");
}

#[test]
fn status_with_tars_unreachable_exits_1_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    write_workspace(dir.path(), &format!("http://127.0.0.1:{port}/"));
    let out = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(["status", "-c", "config.toml"])
        .current_dir(dir.path())
        .env("TARSFORM_TARS_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach TarsWeb"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[test]
fn after_apply_refresh_finds_no_drift_and_status_is_all_ok() {
    let bed = Bed::empty();
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    let text = bed.ok(&["refresh", "-c", "config.toml"]);
    assert!(text.contains("No drift"), "{text}");
    let plan = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(plan.contains("No changes."), "{plan}");
    let json: Value = serde_json::from_str(&bed.ok(&["status", "-c", "config.toml", "--json"])).unwrap();
    for server in json["servers"].as_array().unwrap() {
        let n = &server["nodes"][0];
        assert_eq!(n["config"], "ok", "{server}");
        assert!(n["adapter_port"].as_u64().is_some(), "{server}");
        assert_eq!(
            (server["active"].as_u64(), server["total"].as_u64()),
            (Some(1), Some(1))
        );
    }
}

/// The node's one adapter endpoint in the emulator.
fn endpoint_of(bed: &Bed, server: &str) -> String {
    let endpoints = bed.handle().adapter_endpoints(APP, server, OLD);
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    endpoints[0].clone()
}

#[test]
fn an_adapter_endpoint_changed_out_of_band_is_drift_fixed_by_apply() {
    let bed = Bed::empty();
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    let registered = endpoint_of(&bed, RPC);
    let recorded = bed.state()["resources"][node(RPC)]["attributes"]["adapter_endpoint"].clone();
    assert_eq!(
        recorded.as_str(),
        Some(registered.as_str()),
        "apply records the endpoint"
    );
    assert!(registered.contains(" -t 60000 "), "{registered}");
    let gateway_before = endpoint_of(&bed, GATEWAY);

    // A roll-forward outside tarsform: the same port, another timeout.
    let rolled = registered.replace(" -t 60000 ", " -t 20000 ");
    assert_eq!(bed.handle().set_adapter_endpoint(APP, RPC, OLD, &rolled), 1);
    let refresh = bed.ok(&["refresh", "-c", "config.toml"]);
    assert!(
        refresh.contains(&format!(
            "is `{rolled}` in Tars, recorded `{registered}`; the next plan sets it back"
        )),
        "{refresh}"
    );
    let plan = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(plan.contains("Objects have changed outside tarsform"), "{plan}");
    assert!(
        plan.contains(&format!(
            "is `{rolled}` in Tars, tarsform recorded `{registered}`"
        )),
        "{plan}"
    );
    assert!(plan.contains(&format!("back to `{registered}`")), "{plan}");
    let json = bed.plan_json();
    let acts = actions(&json);
    assert_eq!(acts[&node(RPC)], ["update"], "{acts:?}");
    assert_eq!(
        acts.get(&node(GATEWAY)),
        None,
        "only the drifted node changes: {acts:?}"
    );

    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(endpoint_of(&bed, RPC), registered);
    assert_eq!(endpoint_of(&bed, GATEWAY), gateway_before);
    let again = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(again.contains("No changes."), "{again}");
}

#[test]
fn import_records_the_adapter_and_a_moved_one_is_planned_back() {
    let bed = Bed::new();
    bed.import_both();
    let seeded = endpoint_of(&bed, GATEWAY);
    let recorded = bed.state()["resources"][node(GATEWAY)]["attributes"].clone();
    assert_eq!(
        recorded["adapter_endpoint"].as_str(),
        Some(seeded.as_str()),
        "{recorded}"
    );
    assert!(recorded["adapter_port"].as_u64().is_some(), "{recorded}");
    let before = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(!before.contains("changed outside tarsform"), "{before}");

    let moved = "tcp -h 172.25.0.9 -t 60000 -p 24444 -e 0";
    bed.handle().set_adapter_endpoint(APP, GATEWAY, OLD, moved);
    let plan = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(
        plan.contains(&format!("is `{moved}` in Tars, tarsform recorded `{seeded}`")),
        "{plan}"
    );
    assert!(plan.contains(&format!("back to `{seeded}`")), "{plan}");
}

#[test]
fn an_adapter_moved_to_another_host_and_port_is_set_back_by_apply() {
    let bed = Bed::empty();
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    let registered = endpoint_of(&bed, GATEWAY);
    bed.handle()
        .set_adapter_endpoint(APP, GATEWAY, OLD, "tcp -h 172.25.0.9 -t 60000 -p 24444 -e 0");
    let plan = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(plan.contains("(changed outside tarsform)"), "{plan}");
    // The repair reads as a sentence, not as a JSON object.
    assert!(
        plan.contains(&format!(
            "= adapter {APP}.{GATEWAY}.GatewayServiceObj: endpoint tcp -h 172.25.0.9 -t 60000 -p 24444 -e 0 → {registered} (will be set back)"
        )),
        "{plan}"
    );
    assert!(
        !plan.lines().any(|l| l.contains("adapter_fix") && l.contains('{')),
        "{plan}"
    );
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(endpoint_of(&bed, GATEWAY), registered);
    let again = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(again.contains("No changes."), "{again}");
}

#[test]
fn an_adapter_deleted_out_of_band_is_added_back_by_apply() {
    let bed = Bed::empty();
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    let registered = endpoint_of(&bed, RPC);
    assert_eq!(bed.handle().delete_adapters(APP, RPC, OLD), 1);
    let plan = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(plan.contains("(deleted outside tarsform)"), "{plan}");
    assert!(
        plan.contains(&format!(
            "add adapter `{APP}.{RPC}.RpcServiceObj` back as `{registered}`"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "= adapter {APP}.{RPC}.RpcServiceObj: missing → {registered} (will be added back)"
        )),
        "{plan}"
    );
    bed.ok(&["apply", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(endpoint_of(&bed, RPC), registered);
    let again = bed.ok(&["plan", "-c", "config.toml"]);
    assert!(again.contains("No changes."), "{again}");
}
