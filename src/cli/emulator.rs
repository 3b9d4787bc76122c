//! `tarsform emulator`: serve the TarsWeb emulator until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use super::{EmulatorArgs, Outcome};
use crate::emulator::{self, EmulatorConfig, FaultRule};

/// Builds the config from the flags, starts the server and prints its URL on stdout.
pub fn run_cli(args: EmulatorArgs) -> anyhow::Result<Outcome> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {}: expected IP:PORT, e.g. 127.0.0.1:3000", args.listen))?;
    let faults = args
        .fail
        .iter()
        .map(|rule| rule.parse::<FaultRule>())
        .collect::<Result<Vec<_>, _>>()?;
    let config = EmulatorConfig {
        listen,
        token: args.token,
        nodes: args.node,
        data: args.data,
        latency: Duration::from_millis(args.latency_ms),
        task_duration: Duration::from_millis(args.task_ms),
        faults,
        loopback_admin: args.loopback_admin,
        rate_limit: args.rate_limit,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = emulator::start(config).await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "tarsform emulator listening on {}", running.base_url())?;
        stdout.flush()?;
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        let handle = running.handle();
        running.shutdown().await;
        if let Some(error) = handle.persist_error() {
            eprintln!("warning: {error}");
        }
        Ok(Outcome::Success)
    })
}
