//! The demo workspace, as the seed guide starts it: stand-in release archives in
//! `binary/`, the chain's CAs under `generated/`, agencyA's rpc and gateway already
//! running on 172.25.0.3 (their files on disk, their rows in the emulator), and
//! `config.toml` = the seed's expansion onto 172.25.0.5.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, bail};

use crate::config::{self, Format, ServiceKind};
use crate::emulator::EmulatorHandle;
use crate::pki::SystemKeys;
use crate::render;
use crate::workspace::{Layout, ensure_ca, ensure_leaf, write_text_if_changed};

/// The host the chain runs on before the expansion.
pub const OLD_HOST: &str = "172.25.0.3";
/// The new host of the seed.
pub const NEW_HOST: &str = "172.25.0.5";
/// The only ticket the demo's emulator accepts (not a real secret; never printed anyway).
pub const DEMO_TOKEN: &str = "tarsform-demo-ticket-5e8c1d7a";

/// The seed's expansion file, whose `[tars]` the demo points at its emulator.
const EXPANSION: &str = include_str!("../../../conf/expand-agencyA.toml");

/// How the chain was deployed: agencyA's rpc and gateway on 172.25.0.3.
const DEPLOYED: &str = r#"
[tars]
tars_url = "http://127.0.0.1:3000"
tars_token = ""
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"
rpc_sm_ssl = false
gateway_sm_ssl = false

[[agency]]
name = "agencyA"

    [agency.rpc]
    deploy_ip = ["172.25.0.3"]
    listen_ip = "0.0.0.0"
    listen_port = 20200
    thread_count = 4

    [agency.gateway]
    deploy_ip = ["172.25.0.3"]
    listen_ip = "0.0.0.0"
    listen_port = 30300
    peers = ["172.25.0.3:30300", "172.25.0.3:30301"]
"#;

/// Writes `binary/BcosRpcService.tgz` and `binary/BcosGatewayService.tgz`.
pub fn write_binaries(workspace: &Path) -> anyhow::Result<()> {
    let dir = workspace.join("binary");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for kind in ServiceKind::ALL {
        let path = dir.join(render::package::input_archive_name(kind));
        std::fs::write(&path, render::package::stand_in_release(kind))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Creates the CAs and agencyA's node files for 172.25.0.3 under `generated/`, and
/// seeds the emulator with both servers running there with those files and a package.
pub fn seed_running_chain(workspace: &Path, emulator: &EmulatorHandle) -> anyhow::Result<()> {
    let topology = config::parse_str(DEPLOYED, Format::Toml, "demo deploy topology", None)?;
    let layout = Layout::new(workspace.join("generated"), topology.chain.chain_id.clone());
    let ip: IpAddr = OLD_HOST.parse()?;
    let mut keys = SystemKeys::new();
    keys.prefetch(5).context("generating the demo's keys")?;
    for svc in topology.services() {
        let kind = svc.kind();
        let server = svc.server_name();
        let ca_dir = layout.ca_dir(kind);
        let (ca, _) = ensure_ca(&ca_dir, &mut keys)?;
        for purpose in kind.cert_purposes() {
            ensure_leaf(
                &ca,
                &layout.cert_dir(kind, &server, ip, purpose),
                purpose,
                &mut keys,
            )?;
        }
        let config_ini = render::config_ini(&topology, svc);
        write_text_if_changed(&layout.config_path(kind, &server, ip, "config.ini"), &config_ini)?;
        let nodes_json = render::nodes_json(svc);
        if kind == ServiceKind::Gateway {
            write_text_if_changed(&layout.config_path(kind, &server, ip, "nodes.json"), &nodes_json)?;
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let mut configs = Vec::new();
        for &file in kind.config_files() {
            let content = match file {
                "config.ini" => config_ini.clone(),
                "nodes.json" => nodes_json.clone(),
                "ca.crt" => read(&ca_dir.join("ca.crt"))?,
                _ => read(&layout.config_path(kind, &server, ip, file))?,
            };
            configs.push((file, content));
        }
        let archive = workspace
            .join("binary")
            .join(render::package::input_archive_name(kind));
        let input = std::fs::read(&archive).with_context(|| format!("reading {}", archive.display()))?;
        let package = render::package::build(&input, kind, &server)?;
        let configs: Vec<(&str, &str)> = configs.iter().map(|(f, c)| (*f, c.as_str())).collect();
        emulator.seed_deployed_server(
            topology.application(),
            &server,
            kind.obj_name(),
            OLD_HOST,
            &configs,
            &package,
        );
    }
    Ok(())
}

/// The seed's `config.toml`: conf/expand-agencyA.toml with `tars_url` and `tars_token`
/// set to the demo emulator's.
pub fn expansion_toml(base_url: &str, token: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(EXPANSION.len() + 64);
    let (mut url_set, mut token_set) = (false, false);
    for line in EXPANSION.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        match key {
            "tars_url" => {
                out.push_str(&format!("tars_url = \"{base_url}\""));
                url_set = true;
            }
            "tars_token" => {
                out.push_str(&format!("tars_token = \"{token}\""));
                token_set = true;
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !(url_set && token_set) {
        bail!("conf/expand-agencyA.toml has no `tars_url`/`tars_token` line to point at the demo emulator");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_points_at_the_emulator_and_keeps_the_seed_topology() {
        let text = expansion_toml("http://127.0.0.1:4321/", "t0k-demo-ticket").unwrap();
        let topology = config::parse_str(&text, Format::Toml, "config.toml", None).unwrap();
        assert_eq!(topology.tars.url, "http://127.0.0.1:4321/");
        assert_eq!(topology.tars.token.expose(), "t0k-demo-ticket");
        let new: IpAddr = NEW_HOST.parse().unwrap();
        let ports: Vec<(String, Vec<IpAddr>, u16)> = topology
            .services()
            .map(|s| {
                (
                    s.server_name(),
                    s.service.deploy_ip.clone(),
                    s.service.listen_port,
                )
            })
            .collect();
        assert_eq!(
            ports,
            vec![
                ("agencyABcosRpcService".to_string(), vec![new], 10200),
                ("agencyABcosGatewayService".to_string(), vec![new], 40300),
            ]
        );
        assert!(topology.chain.rpc_ca_cert_path_explicit && topology.chain.gateway_ca_cert_path_explicit);
    }

    #[test]
    fn deployed_topology_runs_agency_a_on_the_old_host() {
        let topology = config::parse_str(DEPLOYED, Format::Toml, "deploy", None).unwrap();
        let old: IpAddr = OLD_HOST.parse().unwrap();
        let ports: Vec<u16> = topology.services().map(|s| s.service.listen_port).collect();
        assert_eq!(ports, vec![20200, 30300]);
        assert!(topology.services().all(|s| s.service.deploy_ip == vec![old]));
    }

    #[test]
    fn stand_in_archives_package_like_release_archives() {
        for kind in ServiceKind::ALL {
            let input = render::package::stand_in_release(kind);
            let server = kind.server_name("agencyA");
            let package = render::package::build(&input, kind, &server).unwrap();
            assert!(!package.is_empty());
        }
    }
}
