//! Shared helpers of the apply end-to-end tests: a TarsWeb emulator per scenario on a
//! loopback port, a workspace as the seed guide starts it (release archives in `binary/`,
//! `config.toml` = conf/expand-agencyA.toml, optionally the chain's CAs and agencyA
//! running on 172.25.0.3), the real `tarsform` binary, and readers of what a run left
//! behind (the emulator's model, the state file, the journal).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tarsform::config::ServiceKind;
use tarsform::emulator::{self, EmulatorConfig, EmulatorHandle, FaultRule, ModelView, RunningEmulator};

pub const TOKEN: &str = "e2e-ticket-4f1c9a0d7b2e";
pub const APP: &str = "chain0";
pub const OLD: &str = "172.25.0.3";
pub const NEW: &str = "172.25.0.5";
pub const RPC: &str = "agencyABcosRpcService";
pub const GATEWAY: &str = "agencyABcosGatewayService";
pub const STATE: &str = "state/chain0.state.json";
pub const JOURNAL: &str = "state/chain0.state.json.journal.json";
pub const LOCK: &str = "state/chain0.state.json.lock";
/// `apply` and `destroy` one step at a time (a deterministic order of steps).
pub const APPLY1: &[&str] = &[
    "apply",
    "-c",
    "config.toml",
    "--auto-approve",
    "--parallelism",
    "1",
];
pub const DESTROY1: &[&str] = &[
    "destroy",
    "-c",
    "config.toml",
    "--auto-approve",
    "--parallelism",
    "1",
];

const EXPANSION: &str = include_str!("../../conf/expand-agencyA.toml");

/// One tokio runtime hosts every emulator of a test binary.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// How a scenario's emulator behaves.
#[derive(Debug, Clone)]
pub struct Tars {
    pub latency: Duration,
    pub task: Duration,
    pub faults: Vec<FaultRule>,
}

impl Default for Tars {
    fn default() -> Self {
        Tars {
            latency: Duration::ZERO,
            task: Duration::from_millis(40),
            faults: Vec::new(),
        }
    }
}

impl Tars {
    pub fn latency_ms(ms: u64) -> Self {
        Tars {
            latency: Duration::from_millis(ms),
            ..Tars::default()
        }
    }

    pub fn faults(rules: &[&str]) -> Self {
        Tars {
            faults: rules.iter().map(|r| r.parse().expect("fault rule")).collect(),
            ..Tars::default()
        }
    }
}

/// Where the deployment starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing in Tars, no CA on disk: the plan creates the CAs and deploys.
    Fresh,
    /// The seed: the chain's CAs on disk, agencyA's rpc and gateway running on 172.25.0.3.
    Seed,
}

/// An emulator and a workspace wired to it.
pub struct Bed {
    pub emulator: RunningEmulator,
    pub dir: tempfile::TempDir,
}

/// The exit code and output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn both(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Bed {
    pub fn new(start: Start, tars: Tars) -> Bed {
        let config = EmulatorConfig {
            token: Some(TOKEN.into()),
            nodes: vec![OLD.into(), NEW.into()],
            latency: tars.latency,
            task_duration: tars.task,
            faults: tars.faults,
            ..EmulatorConfig::default()
        };
        let bed = Bed::empty(config, expansion_toml);
        if start == Start::Seed {
            bed.seed();
        }
        bed
    }

    /// An emulator started from `config` and a workspace with the stand-in binaries and
    /// `topology(emulator URL)` as config.toml; nothing applied.
    pub fn empty(config: EmulatorConfig, topology: impl FnOnce(&str) -> String) -> Bed {
        let emulator = runtime()
            .block_on(emulator::start(config))
            .expect("emulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        write_binaries(dir.path());
        std::fs::write(dir.path().join("config.toml"), topology(&emulator.base_url())).expect("config.toml");
        Bed { emulator, dir }
    }

    /// Tars calls per endpoint the emulator has received so far.
    pub fn call_counts(&self) -> BTreeMap<&'static str, u32> {
        let handle = self.handle();
        emulator::endpoint_names()
            .map(|e| (e, handle.call_count(e)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Runs `args`, which must succeed, and returns the Tars calls it made per endpoint.
    pub fn calls_of(&self, args: &[&str]) -> BTreeMap<&'static str, u32> {
        let before = self.call_counts();
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.both());
        self.call_counts()
            .into_iter()
            .map(|(e, n)| (e, n - before.get(e).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn handle(&self) -> EmulatorHandle {
        self.emulator.handle()
    }

    pub fn snapshot(&self) -> ModelView {
        self.handle().snapshot()
    }

    /// The CAs (shared by every bed of the test binary), agencyA's files of 172.25.0.3,
    /// and its two servers in the emulator as BcosBuilder's deploy leaves them.
    fn seed(&self) {
        let cas = seed_cas();
        for kind in ServiceKind::ALL {
            let ca_dir = self.path().join(format!("generated/{}/chain0/ca", kind.as_str()));
            std::fs::create_dir_all(&ca_dir).unwrap();
            for (name, content) in &cas[kind_index(kind)] {
                std::fs::write(ca_dir.join(name), content).unwrap();
            }
            let server = kind.server_name("agencyA");
            let ca_crt = &cas[kind_index(kind)]
                .iter()
                .find(|(n, _)| n == "ca.crt")
                .unwrap()
                .1;
            let configs: Vec<(&str, String)> = kind
                .config_files()
                .iter()
                .map(|&file| {
                    let content = match file {
                        "ca.crt" => ca_crt.clone(),
                        other => format!("; {other} of {server} on {OLD}, deployed by BcosBuilder\n"),
                    };
                    (file, content)
                })
                .collect();
            let configs: Vec<(&str, &str)> = configs.iter().map(|(f, c)| (*f, c.as_str())).collect();
            let package = tarsform::render::package::build(
                &tarsform::render::package::stand_in_release(kind),
                kind,
                &server,
            )
            .unwrap();
            self.handle()
                .seed_deployed_server(APP, &server, kind.obj_name(), OLD, &configs, &package);
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        // A long sweep can run a copied binary while the tree is rebuilt.
        let bin =
            std::env::var_os("TARSFORM_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tarsform").into());
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(self.path())
            .env("TARSFORM_TARS_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            // The emulator's nodes settle at once: a short health-gate window suffices.
            .env("TARSFORM_SETTLE", "100ms")
            .env("TARSFORM_START_TIMEOUT", "10s")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `tarsform ARGS` in the workspace and waits for it.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run tarsform");
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token leaked:\n{}",
            run.both()
        );
        run
    }

    /// Like [`Bed::run`] with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .expect("run tarsform");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn apply(&self) -> Run {
        self.run(&["apply", "-c", "config.toml", "--auto-approve"])
    }

    /// Starts `tarsform ARGS` with its stderr read line by line in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tarsform");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            rx,
            reader: Some(reader),
        }
    }

    /// Saves the plan as `p.json`, with `edit` applied to it (a hand-edited saved plan).
    pub fn edited_saved_plan(&self, edit: impl FnOnce(&mut tarsform::plan::Plan)) {
        let out = self.run(&["plan", "-c", "config.toml", "--out", "p.json"]);
        assert!(out.code == Some(0) || out.code == Some(2), "{}", out.both());
        let path = self.path().join("p.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut plan = tarsform::plan::saved::from_file_text(&text).unwrap();
        edit(&mut plan);
        std::fs::write(path, tarsform::plan::saved::to_file_text(&plan)).unwrap();
    }

    /// The state file's `resources`, `None` when the file does not exist.
    pub fn resources(&self) -> Option<Map<String, Value>> {
        let text = std::fs::read_to_string(self.path().join(STATE)).ok()?;
        let state: Value = serde_json::from_str(&text).expect("state is JSON");
        Some(state["resources"].as_object().cloned().unwrap_or_default())
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path().join(relative).exists()
    }

    /// Private keys under the new host's node folders (left by a run that was undone?).
    pub fn new_host_keys(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.path().join("generated"), &mut |p| {
            let under_new = p.components().any(|c| c.as_os_str() == NEW);
            if under_new && p.extension().is_some_and(|e| e == "key") {
                found.push(p.to_path_buf());
            }
        });
        found
    }
}

/// A spawned run of the binary.
pub struct Running {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Waits until a stderr line contains `needle`; panics after `limit`.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no stderr line with `{needle}` within {limit:?}; got:\n{}",
                    self.lines.lock().unwrap().join("\n")
                ),
            }
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    pub fn finish(mut self) -> Run {
        let status = self.child.wait().expect("wait");
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout).unwrap();
        }
        Run {
            code: status.code(),
            stdout,
            stderr: self.lines.lock().unwrap().join("\n"),
        }
    }
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, visit);
        } else {
            visit(&path);
        }
    }
}

fn kind_index(kind: ServiceKind) -> usize {
    match kind {
        ServiceKind::Rpc => 0,
        ServiceKind::Gateway => 1,
    }
}

/// `(file name, content)` of the rpc and gateway CA directories, made once per binary
/// with `tarsform::workspace::ensure_ca` (RSA key generation is the slow part).
fn seed_cas() -> &'static [Vec<(String, String)>; 2] {
    static CAS: OnceLock<[Vec<(String, String)>; 2]> = OnceLock::new();
    CAS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut keys = tarsform::pki::SystemKeys::new();
        ServiceKind::ALL.map(|kind| {
            let dir = tmp.path().join(kind.as_str());
            tarsform::workspace::ensure_ca(&dir, &mut keys).expect("CA");
            ["ca.crt", "ca.key", "cert.cnf"]
                .iter()
                .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
                .collect()
        })
    })
}

pub fn write_binaries(workspace: &Path) {
    let dir = workspace.join("binary");
    std::fs::create_dir_all(&dir).unwrap();
    for kind in ServiceKind::ALL {
        std::fs::write(
            dir.join(format!("{}.tgz", kind.binary_name())),
            tarsform::render::package::stand_in_release(kind),
        )
        .unwrap();
    }
}

/// conf/expand-agencyA.toml pointed at `base_url` (the token comes from the environment).
pub fn expansion_toml(base_url: &str) -> String {
    let mut out = String::new();
    for line in EXPANSION.lines() {
        if line.trim_start().starts_with("tars_url") {
            out.push_str(&format!("tars_url = \"{base_url}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains(base_url),
        "conf/expand-agencyA.toml has no tars_url line"
    );
    out
}

/// The rows of one node in a snapshot: its server rows, adapters and node configs.
pub fn rows_of(view: &ModelView, ip: &str) -> ModelView {
    ModelView {
        servers: view
            .servers
            .iter()
            .filter(|s| s.node_name == ip)
            .cloned()
            .collect(),
        adapters: view
            .adapters
            .iter()
            .filter(|a| a.node_name == ip)
            .cloned()
            .collect(),
        configs: view.configs.iter().filter(|c| c.host == ip).cloned().collect(),
    }
}

/// Asserts the model equals `before`, showing both as JSON when it does not.
pub fn assert_model_eq(before: &ModelView, after: &ModelView, context: &str) {
    if before != after {
        panic!(
            "{context}: the emulator's model differs from before the apply\n--- before\n{}\n--- after\n{}",
            serde_json::to_string_pretty(before).unwrap(),
            serde_json::to_string_pretty(after).unwrap()
        );
    }
}

pub fn assert_contains(text: &str, needle: &str, context: &str) {
    assert!(text.contains(needle), "{context}: missing `{needle}` in:\n{text}");
}
