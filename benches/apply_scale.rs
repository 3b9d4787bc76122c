//! Apply at scale (a measurement, not a test): 5 agencies × (rpc + gateway) onto 10 new
//! hosts each, i.e. 100 nodes, against the TarsWeb emulator with 20 ms of latency per
//! call. The release `tarsform` binary applies the same topology into fresh workspaces
//! with `--parallelism 1` and with the default (10); for each run it prints the wall
//! time, the calls Tars received, their summed latency, the CPU time of the apply and of
//! the emulator, the apply's peak RSS, and the apply's own step time next to the bound no
//! schedule could beat (the longest chain of measured step times, or the Tars steps'
//! summed time over the slots), and the bound the machine sets: the CPU time of the apply
//! and the emulator over the cores (RSA key generation alone is ~0.2 s of CPU a node).
//!
//! `APPLY_SCALE_BACKEND=local,mysql` runs each parallelism once per state backend (mysql:
//! a private MariaDB on loopback, started as the tests start theirs).
//!
//!   cargo bench --bench apply_scale
//!   APPLY_SCALE_AGENCIES=2 APPLY_SCALE_HOSTS=4 APPLY_SCALE_LATENCY_MS=20 \
//!   APPLY_SCALE_TASK_MS=50 APPLY_SCALE_PARALLELISM=1,10 cargo bench --bench apply_scale
//!   APPLY_SCALE_PARALLELISM=10 APPLY_SCALE_BACKEND=local,mysql cargo bench --bench apply_scale
//!
//! `APPLY_SCALE_LOG=debug APPLY_SCALE_LOG_DIR=/tmp/logs` keeps each apply's stderr with
//! that `TARSFORM_LOG` filter (state saves, journal appends, Tars calls with times).

#[path = "../tests/support/mariadb.rs"]
mod mariadb;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tarsform::config::ServiceKind;
use tarsform::emulator::{self, EmulatorConfig, EmulatorHandle};

const TOKEN: &str = "apply-scale-bench-ticket";

struct Settings {
    agencies: usize,
    hosts: usize,
    latency: Duration,
    task: Duration,
    parallelism: Vec<usize>,
    backends: Vec<String>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn number(name: &str, default: u64) -> u64 {
    env_or(name, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{name} must be a number"))
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            agencies: number("APPLY_SCALE_AGENCIES", 5) as usize,
            hosts: number("APPLY_SCALE_HOSTS", 10) as usize,
            latency: Duration::from_millis(number("APPLY_SCALE_LATENCY_MS", 20)),
            task: Duration::from_millis(number("APPLY_SCALE_TASK_MS", 50)),
            parallelism: env_or("APPLY_SCALE_PARALLELISM", "1,10")
                .split(',')
                .map(|p| p.trim().parse().expect("APPLY_SCALE_PARALLELISM: numbers"))
                .collect(),
            backends: env_or("APPLY_SCALE_BACKEND", "local")
                .split(',')
                .map(|b| b.trim().to_string())
                .collect(),
        }
    }

    fn hosts_of(&self, agency: usize) -> Vec<String> {
        (1..=self.hosts).map(|h| format!("10.20.{agency}.{h}")).collect()
    }

    fn all_hosts(&self) -> Vec<String> {
        (1..=self.agencies).flat_map(|a| self.hosts_of(a)).collect()
    }

    /// Every agency's rpc and gateway on its own hosts.
    fn topology(&self, tars_url: &str) -> String {
        let mut toml = format!(
            "[tars]\ntars_url = \"{tars_url}\"\ntars_token = \"\"\ntars_pkg_dir = \"binary/\"\n\n\
             [chain]\nchain_id = \"chain0\"\nrpc_sm_ssl = false\ngateway_sm_ssl = false\n"
        );
        for a in 1..=self.agencies {
            let hosts = self.hosts_of(a);
            let list = |port: Option<u16>| {
                hosts
                    .iter()
                    .map(|h| match port {
                        Some(p) => format!("\"{h}:{p}\""),
                        None => format!("\"{h}\""),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            toml.push_str(&format!(
                "\n[[agency]]\nname = \"agency{a}\"\n\
                 [agency.rpc]\ndeploy_ip = [{ips}]\nlisten_ip = \"0.0.0.0\"\nlisten_port = 20200\nthread_count = 4\n\
                 [agency.gateway]\ndeploy_ip = [{ips}]\nlisten_ip = \"0.0.0.0\"\nlisten_port = 30300\npeers = [{peers}]\n",
                ips = list(None),
                peers = list(Some(30300)),
            ));
        }
        toml
    }
}

struct Measured {
    wall: Duration,
    calls: u64,
    by_endpoint: Vec<(&'static str, u64)>,
    /// The apply's own "Steps: …" line: step wall time and the schedule's lower bound.
    schedule: String,
    peak_rss_kib: Option<u64>,
    /// User + system CPU seconds of the apply process.
    apply_cpu: Option<f64>,
    /// CPU seconds of this process (the emulator) during the run.
    emulator_cpu: f64,
}

/// No schedule beats the apply's own bound (critical path, Tars work per slot), nor the
/// CPU time of the apply and the emulator spread over the machine's cores.
struct Bound {
    schedule: Option<f64>,
    cpu_seconds: f64,
    cores: usize,
}

impl Bound {
    fn cpu(&self) -> f64 {
        self.cpu_seconds / self.cores as f64
    }

    fn max(&self) -> f64 {
        self.schedule.unwrap_or(0.0).max(self.cpu())
    }
}

impl Measured {
    fn bound(&self) -> Option<Bound> {
        let schedule = self
            .schedule
            .split("no schedule beats ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok());
        Some(Bound {
            schedule,
            cpu_seconds: self.apply_cpu? + self.emulator_cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        })
    }
}

/// A number from `/usr/bin/time -v` output, e.g. `Maximum resident set size (kbytes)`.
fn time_v_field(report: &str, label: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(label)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU seconds used so far by this process, all threads (`/proc/self/stat` utime +
/// stime, at Linux's usual 100 ticks per second).
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// VmHWM (peak RSS) of a running process.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Appends a `[backend]` section for a fresh MariaDB database (`mysql`), or nothing.
fn backend_section(backend: &str, dir: &Path) -> String {
    match backend {
        "local" => String::new(),
        "mysql" => {
            let db = mariadb::server().expect("APPLY_SCALE_BACKEND=mysql needs MariaDB");
            let password = dir.join("db.password");
            std::fs::write(&password, mariadb::PASSWORD).unwrap();
            format!(
                "\n[backend]\ntype = \"mysql\"\nurl = \"{}\"\npassword_file = \"{}\"\n",
                db.fresh_database(),
                password.display()
            )
        }
        other => panic!("APPLY_SCALE_BACKEND: `{other}` is not local or mysql"),
    }
}

fn apply_once(
    settings: &Settings,
    parallelism: usize,
    backend: &str,
    rt: &tokio::runtime::Runtime,
) -> Measured {
    let running = rt
        .block_on(emulator::start(EmulatorConfig {
            token: Some(TOKEN.into()),
            nodes: settings.all_hosts(),
            latency: settings.latency,
            task_duration: settings.task,
            ..EmulatorConfig::default()
        }))
        .expect("emulator starts");
    let handle: EmulatorHandle = running.handle();
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("binary");
    std::fs::create_dir_all(&binary).unwrap();
    for kind in ServiceKind::ALL {
        std::fs::write(
            binary.join(format!("{}.tgz", kind.binary_name())),
            tarsform::render::package::stand_in_release(kind),
        )
        .unwrap();
    }
    let topology = settings.topology(&running.base_url()) + &backend_section(backend, dir.path());
    std::fs::write(dir.path().join("config.toml"), topology).unwrap();

    let time_v = Path::new("/usr/bin/time");
    let rss_file = dir.path().join("time-v.txt");
    let exe = env!("CARGO_BIN_EXE_tarsform");
    let args = [
        "apply",
        "-c",
        "config.toml",
        "--auto-approve",
        "--parallelism",
        &parallelism.to_string(),
    ]
    .map(str::to_string);
    let mut command = if time_v.exists() {
        let mut c = Command::new(time_v);
        c.arg("-v").arg("-o").arg(&rss_file).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    command
        .args(&args)
        .current_dir(dir.path())
        .env("TARSFORM_TARS_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env("TARSFORM_SETTLE", "100ms")
        // The emulator has no rate limit; the bench measures scheduling, not the budget.
        .env("TARSFORM_MAX_RPS", "0")
        .env("TARSFORM_LOG", env_or("APPLY_SCALE_LOG", ""))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let cpu_before = own_cpu();
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn tarsform");
    let mut stderr = child.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let mut polled_rss = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        polled_rss = vm_hwm(child.id()).or(polled_rss);
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed();
    let emulator_cpu = own_cpu() - cpu_before;
    let log = drain.join().unwrap();
    if let Ok(dir) = std::env::var("APPLY_SCALE_LOG_DIR") {
        let name = format!("{backend}-p{parallelism}-{}.log", started.elapsed().as_millis());
        std::fs::write(Path::new(&dir).join(name), &log).expect("APPLY_SCALE_LOG_DIR is writable");
    }
    assert!(
        status.success(),
        "apply --parallelism {parallelism} failed:\n{log}"
    );
    let by_endpoint: Vec<(&'static str, u64)> = tarsform::emulator::endpoint_names()
        .map(|e| (e, u64::from(handle.call_count(e))))
        .filter(|(_, n)| *n > 0)
        .collect();
    let calls = by_endpoint.iter().map(|(_, n)| n).sum();
    let report = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let peak_rss_kib = time_v_field(&report, "Maximum resident set size (kbytes)")
        .map(|k| k as u64)
        .or(polled_rss);
    let apply_cpu = time_v_field(&report, "User time (seconds)")
        .zip(time_v_field(&report, "System time (seconds)"))
        .map(|(u, s)| u + s);
    drop(running);
    let schedule = log
        .lines()
        .find_map(|l| l.strip_prefix("Steps: "))
        .unwrap_or("no schedule line")
        .to_string();
    Measured {
        wall,
        calls,
        by_endpoint,
        schedule,
        peak_rss_kib,
        apply_cpu,
        emulator_cpu,
    }
}

fn main() {
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let nodes = settings.agencies * settings.hosts * 2;
    println!(
        "apply_scale: {} agencies x 2 services x {} hosts = {nodes} nodes; latency {:?}/call, task {:?}",
        settings.agencies, settings.hosts, settings.latency, settings.task
    );
    let mut results = Vec::new();
    let mut cpu_bounds: Vec<(String, usize, f64)> = Vec::new();
    for backend in &settings.backends {
        for &p in &settings.parallelism {
            let m = apply_once(&settings, p, backend, &rt);
            let latency_sum = settings.latency * m.calls as u32;
            println!(
                "  {backend:>5} --parallelism {p:>2}: wall {:>7.2} s | steps {} | {} calls ({:.1} per node), summed latency {:>7.2} s ({:.2}x wall) | CPU: apply {}, emulator {:.1} s | peak RSS {}",
                m.wall.as_secs_f64(),
                m.schedule,
                m.calls,
                m.calls as f64 / nodes as f64,
                latency_sum.as_secs_f64(),
                latency_sum.as_secs_f64() / m.wall.as_secs_f64(),
                m.apply_cpu
                    .map(|c| format!("{c:.1} s"))
                    .unwrap_or_else(|| "unknown".into()),
                m.emulator_cpu,
                m.peak_rss_kib
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "unknown".into())
            );
            let per_endpoint: Vec<String> = m.by_endpoint.iter().map(|(e, n)| format!("{e} {n}")).collect();
            println!("        calls: {}", per_endpoint.join(", "));
            if let Some(bound) = m.bound() {
                println!(
                    "        bound {:.2} s = max(schedule {}, CPU {:.1} s / {} cores = {:.2} s); wall / bound {:.2}",
                    bound.max(),
                    bound
                        .schedule
                        .map(|s| format!("{s:.1} s"))
                        .unwrap_or_else(|| "unknown".into()),
                    bound.cpu_seconds,
                    bound.cores,
                    bound.cpu(),
                    m.wall.as_secs_f64() / bound.max()
                );
                cpu_bounds.push((backend.clone(), p, bound.cpu()));
            }
            results.push((backend.clone(), p, m.wall));
        }
    }
    let first_backend = &settings.backends[0];
    // Repeated backends (`local,mysql,local,mysql`) interleave runs; compare medians.
    let median_wall = |b: &str, p: usize| -> Option<(Duration, usize)> {
        let mut w: Vec<Duration> = results
            .iter()
            .filter(|r| r.0 == b && r.1 == p)
            .map(|r| r.2)
            .collect();
        w.sort();
        (!w.is_empty()).then(|| (w[w.len() / 2], w.len()))
    };
    if let (Some(&p0), Some(&p1)) = (settings.parallelism.first(), settings.parallelism.last())
        && p0 != p1
        && let (Some((w0, _)), Some((w1, _))) =
            (median_wall(first_backend, p0), median_wall(first_backend, p1))
    {
        println!(
            "  speed-up of --parallelism {p1} over {p0}: {:.2}x",
            w0.as_secs_f64() / w1.as_secs_f64()
        );
        // Key generation and packaging need their CPU time whatever the parallelism.
        if let Some((_, _, cpu)) = cpu_bounds.iter().find(|b| &b.0 == first_backend && b.1 == p1) {
            println!(
                "  the most any parallelism could gain over {p0} on this machine: {:.2}x (its wall over the CPU bound of --parallelism {p1})",
                w0.as_secs_f64() / cpu
            );
        }
    }
    let mut others: Vec<&String> = settings.backends.iter().filter(|b| *b != first_backend).collect();
    others.sort();
    others.dedup();
    for backend in others {
        for &p in &settings.parallelism {
            if let (Some((base, n0)), Some((other, n1))) =
                (median_wall(first_backend, p), median_wall(backend, p))
            {
                println!(
                    "  {backend} vs {first_backend} at --parallelism {p}: {:+.1} % wall time (medians: {:.2} s of {n1} run(s) vs {:.2} s of {n0})",
                    (other.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0,
                    other.as_secs_f64(),
                    base.as_secs_f64()
                );
            }
        }
    }
}
