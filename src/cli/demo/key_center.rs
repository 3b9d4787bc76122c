//! The demo's key center (`demo --sm`): the key-center emulator in SM4 mode on a free
//! loopback port, and the cipher data key of a fresh data key made with it.

use anyhow::Context;

use crate::emulator::keycenter::{self, KeyCenterConfig, RunningKeyCenter};
use crate::secret::Secret;

/// Starts it on its own runtime; returns the runtime (keep it alive), the server and the
/// cipher data key to write into `config.toml`.
pub fn start() -> anyhow::Result<(tokio::runtime::Runtime, RunningKeyCenter, String)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the key center's runtime")?;
    let super_key = Secret::new(uuid::Uuid::new_v4().simple().to_string());
    let config = KeyCenterConfig {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        super_key: super_key.clone(),
        sm: true,
    };
    let running = runtime.block_on(keycenter::start(config))?;
    let data_key = hex::encode(uuid::Uuid::new_v4().as_bytes());
    let cipher = keycenter::cipher_data_key(&super_key, true, &data_key);
    Ok((runtime, running, cipher))
}
