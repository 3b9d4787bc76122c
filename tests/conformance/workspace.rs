//! A workspace for one scenario: topology file, packages, and the `tarsform` binary.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::target::Target;

/// One agency: its name and the tarsnodes of its rpc and gateway services.
pub struct Agency<'a> {
    pub name: &'a str,
    pub ips: &'a [&'a str],
}

pub struct Workspace<'t> {
    pub dir: tempfile::TempDir,
    pub target: &'t Target,
    pub chain: String,
}

/// What one run printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn both(&self) -> String {
        format!(
            "--- exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl<'t> Workspace<'t> {
    /// A workspace for chain (= Tars application) `chain` with working packages.
    pub fn new(target: &'t Target, chain: &str) -> Workspace<'t> {
        let dir = tempfile::tempdir().expect("temp dir");
        target.write_packages(&dir.path().join("binary"), false);
        Workspace {
            dir,
            target,
            chain: chain.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config.toml` for `agencies` (ports differ per agency).
    pub fn topology(&self, agencies: &[Agency]) {
        self.topology_at(&self.target.url, agencies);
    }

    /// The same, with Tars at `url` (e.g. the kit's token-checking forwarder).
    pub fn topology_at(&self, url: &str, agencies: &[Agency]) {
        let mut text = format!(
            "[tars]\ntars_url = \"{url}\"\ntars_token = \"\"\ntars_pkg_dir = \"binary/\"\n\n[chain]\nchain_id = \"{}\"\nrpc_sm_ssl = false\ngateway_sm_ssl = false\n",
            self.chain
        );
        for (i, agency) in agencies.iter().enumerate() {
            let ips = agency
                .ips
                .iter()
                .map(|ip| format!("\"{ip}\""))
                .collect::<Vec<_>>()
                .join(", ");
            text.push_str(&format!(
                "\n[[agency]]\nname = \"{}\"\nenable_storage_security = false\n    [agency.rpc]\n    deploy_ip = [{ips}]\n    listen_ip = \"0.0.0.0\"\n    listen_port = {}\n    thread_count = 4\n    [agency.gateway]\n    deploy_ip = [{ips}]\n    listen_ip = \"0.0.0.0\"\n    listen_port = {}\n    peers = [\"127.0.0.1:30300\", \"127.0.0.2:30300\"]\n",
                agency.name,
                20200 + i,
                30300 + i
            ));
        }
        std::fs::write(self.path().join("config.toml"), text).expect("config.toml");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tarsform"));
        cmd.args(args)
            .current_dir(self.path())
            .env("TARSFORM_TARS_TOKEN", &self.target.token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in self.target.health_env() {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out: Output = cmd.output().expect("run tarsform");
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains(&self.target.token) && !run.stderr.contains(&self.target.token),
            "the token leaked"
        );
        run
    }

    /// Runs and expects exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code,
            Some(0),
            "[{}] tarsform {args:?}\n{}",
            self.target.name(),
            run.both()
        );
        run
    }

    /// Starts `tarsform ARGS` with stderr piped (for kill -9 scenarios).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tarsform")
    }

    /// Replaces both packages by ones whose binary differs (a new release) but still runs:
    /// trailing bytes after an ELF image are ignored.
    pub fn new_release(&self, tag: &str) {
        for name in ["BcosRpcService", "BcosGatewayService"] {
            let path = self.path().join("binary").join(format!("{name}.tgz"));
            let bytes = std::fs::read(&path).unwrap();
            let mut entries = Vec::new();
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                let entry_path = entry.path().unwrap().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
                let is_dir = entry.header().entry_type().is_dir();
                if !is_dir && entry_path.file_name().is_some_and(|f| f == name) {
                    data.extend_from_slice(format!("\nrelease {tag}\n").as_bytes());
                }
                entries.push((entry_path, is_dir, entry.header().mode().unwrap_or(0o755), data));
            }
            let mut out = tar::Builder::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            ));
            for (entry_path, is_dir, mode, data) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_mode(mode);
                header.set_size(if is_dir { 0 } else { data.len() as u64 });
                header.set_entry_type(if is_dir {
                    tar::EntryType::Directory
                } else {
                    tar::EntryType::Regular
                });
                out.append_data(&mut header, &entry_path, &data[..]).unwrap();
            }
            std::fs::write(&path, out.into_inner().unwrap().finish().unwrap()).unwrap();
        }
    }

    /// The node addresses in the state file.
    pub fn state_nodes(&self) -> Vec<String> {
        let path = self
            .path()
            .join("state")
            .join(format!("{}.state.json", self.chain));
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        let state: serde_json::Value = serde_json::from_str(&text).expect("state is JSON");
        state["resources"]
            .as_object()
            .map(|r| r.keys().filter(|k| k.starts_with("node[")).cloned().collect())
            .unwrap_or_default()
    }
}
