//! The two targets: an emulator on a loopback port, or the real Tars of the kit.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tarsform::emulator::{self, EmulatorConfig, EmulatorHandle, FaultRule, RunningEmulator};
use tarsform::secret::Secret;
use tarsform::tars::{ClientConfig, HttpTarsClient, ServerConf, TarsApi};

use crate::common::runtime;

pub const TOKEN: &str = "conformance-ticket-8c2e";
/// The kit's two tarsnodes; the emulator registers the same names.
pub const IP1: &str = "127.0.0.1";
pub const IP2: &str = "127.0.0.2";

pub enum Kind {
    Emulator(RunningEmulator),
    Real {
        kit: PathBuf,
        standin: PathBuf,
        crash: PathBuf,
    },
}

pub struct Target {
    pub kind: Kind,
    pub url: String,
    pub token: String,
    _serial: Option<MutexGuard<'static, ()>>,
}

/// One real Tars: its scenarios take turns.
static REAL: Mutex<()> = Mutex::new(());

impl Target {
    pub fn emulator() -> Target {
        let config = EmulatorConfig {
            token: Some(TOKEN.into()),
            nodes: vec![IP1.into(), IP2.into()],
            task_duration: Duration::from_millis(60),
            ..EmulatorConfig::default()
        };
        Target::from_emulator(
            runtime()
                .block_on(emulator::start(config))
                .expect("emulator starts"),
        )
    }

    /// A target for an emulator started with its own settings (its token must be [`TOKEN`]).
    pub fn from_emulator(running: RunningEmulator) -> Target {
        Target {
            url: running.base_url(),
            token: TOKEN.into(),
            kind: Kind::Emulator(running),
            _serial: None,
        }
    }

    /// The kit's Tars, reset, when `REALTARS_URL` is set.
    pub fn real() -> Option<Target> {
        let url = std::env::var("REALTARS_URL").ok().filter(|u| !u.is_empty())?;
        let var =
            |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} (from the kit's env file)"));
        let guard = REAL.lock().unwrap_or_else(|p| p.into_inner());
        let target = Target {
            url,
            token: var("REALTARS_TOKEN"),
            kind: Kind::Real {
                kit: PathBuf::from(var("REALTARS_KIT")),
                standin: PathBuf::from(var("REALTARS_STANDIN_DIR")),
                crash: PathBuf::from(var("REALTARS_STANDIN_CRASH_DIR")),
            },
            _serial: Some(guard),
        };
        target.kit_script(&["reset.sh"]);
        Some(target)
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Emulator(_) => "emulator",
            Kind::Real { .. } => "real Tars",
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self.kind, Kind::Real { .. })
    }

    pub fn handle(&self) -> Option<EmulatorHandle> {
        match &self.kind {
            Kind::Emulator(e) => Some(e.handle()),
            Kind::Real { .. } => None,
        }
    }

    /// Settle window and start timeout: the emulator's nodes settle at once.
    pub fn health_env(&self) -> [(&'static str, &'static str); 2] {
        match self.kind {
            Kind::Emulator(_) => [("TARSFORM_SETTLE", "150ms"), ("TARSFORM_START_TIMEOUT", "10s")],
            // The stand-in is up within 1–3 s; 2 s of settling keeps the real tier short.
            Kind::Real { .. } => [("TARSFORM_SETTLE", "2s"), ("TARSFORM_START_TIMEOUT", "120s")],
        }
    }

    /// Writes the rpc and gateway packages (a binary a real tarsnode runs, or one that
    /// exits at once when `crashing`) into `dir`.
    pub fn write_packages(&self, dir: &Path, crashing: bool) {
        std::fs::create_dir_all(dir).unwrap();
        match &self.kind {
            Kind::Emulator(_) => {
                let tmp = tempfile::tempdir().unwrap();
                crate::common::write_binaries(tmp.path());
                for entry in std::fs::read_dir(tmp.path().join("binary")).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
                }
            }
            Kind::Real { standin, crash, .. } => {
                let from = if crashing { crash } else { standin };
                for name in ["BcosRpcService.tgz", "BcosGatewayService.tgz"] {
                    std::fs::copy(from.join(name), dir.join(name)).unwrap();
                }
            }
        }
    }

    /// Makes the next starts crash: the emulator's rule (the real Tars gets crashing packages).
    pub fn crash_binaries(&self) {
        if let Some(h) = self.handle() {
            h.add_fault(FaultRule::Crash {
                server: "*".into(),
                ip: "*".into(),
            });
        }
    }

    /// Runs a script of the kit (`reset.sh`, `tools/forwarder.sh start`); its stdout.
    pub fn kit_script(&self, args: &[&str]) -> String {
        let Kind::Real { kit, .. } = &self.kind else {
            panic!("kit scripts need the real target")
        };
        let out = std::process::Command::new("bash")
            .arg(kit.join(args[0]))
            .args(&args[1..])
            .output()
            .expect("run a kit script");
        assert!(
            out.status.success(),
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn api(&self) -> HttpTarsClient {
        HttpTarsClient::new(ClientConfig::new(
            self.url.clone(),
            Secret::new(self.token.clone()),
        ))
        .unwrap()
    }

    /// The node rows of application `app`, as Tars reports them now.
    pub fn servers(&self, app: &str) -> Vec<ServerConf> {
        let api = self.api();
        runtime()
            .block_on(api.server_list(app, None))
            .expect("server_list")
    }

    /// `(server, ip)` of every node of `app` that is not active with one pid for `for_`.
    pub fn not_running(&self, app: &str) -> Vec<String> {
        self.servers(app)
            .into_iter()
            .filter(|s| !s.is_running())
            .map(|s| {
                format!(
                    "{}@{} ({}, pid {})",
                    s.server_name, s.node_name, s.present_state, s.process_id
                )
            })
            .collect()
    }
}

/// Runs `scenario` against the emulator, then against the real Tars when the kit is up.
pub fn on_every_target(scenario: fn(&Target)) {
    scenario(&Target::emulator());
    if let Some(real) = Target::real() {
        scenario(&real);
    }
}
