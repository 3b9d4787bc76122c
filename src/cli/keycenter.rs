//! `tarsform keycenter`: serve the key-center emulator (a stand-in for
//! FISCO-BCOS/key-manager) until Ctrl-C, for the demo and tests of storage security.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use super::Outcome;
use crate::emulator::keycenter::{self, KeyCenterConfig};
use crate::secret::Secret;

#[derive(Debug, Args)]
pub struct KeycenterArgs {
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long = "listen", default_value = "127.0.0.1:8150")]
    pub listen: String,
    /// The super key that encrypts data keys into cipher data keys.
    #[arg(
        long = "super-key",
        env = "TARSFORM_KEYCENTER_SUPER_KEY",
        hide_env_values = true
    )]
    pub super_key: String,
    /// Encrypt with SM4 (for chains with `sm_crypto`, i.e. `*_sm_ssl = true`) instead of AES.
    #[arg(long = "sm")]
    pub sm: bool,
}

pub fn run(args: KeycenterArgs) -> anyhow::Result<Outcome> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {}: expected IP:PORT, e.g. 127.0.0.1:8150", args.listen))?;
    if args.super_key.trim().is_empty() {
        anyhow::bail!("--super-key is empty\nhint: give a secret, or set TARSFORM_KEYCENTER_SUPER_KEY");
    }
    let config = KeyCenterConfig {
        listen,
        super_key: Secret::new(args.super_key),
        sm: args.sm,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = keycenter::start(config).await?;
        let mut stdout = std::io::stdout();
        let mode = if args.sm { "SM4" } else { "AES-256" };
        writeln!(stdout, "tarsform keycenter ({mode}) listening on {}", running.url())?;
        writeln!(
            stdout,
            "make a cipher data key: curl -X POST --data '{{\"jsonrpc\":\"2.0\",\"method\":\"encDataKey\",\"params\":[\"<hex data key>\"],\"id\":1}}' http://{}",
            running.url()
        )?;
        stdout.flush()?;
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        running.shutdown().await;
        Ok(Outcome::Success)
    })
}
