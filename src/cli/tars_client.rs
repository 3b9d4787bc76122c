//! The Tars client of a topology (its `tars_url` and token; `TARSFORM_TARS_TOKEN` has
//! already won over the file in `config::load`), the runtime the CLI drives it on, and
//! a blocking refresh for commands that are otherwise synchronous.

use anyhow::{Context, bail};

use crate::apply::refresh;
use crate::config::Topology;
use crate::plan::Observed;
use crate::secret::Secret;
use crate::state::State;
use crate::tars::{ClientConfig, HttpTarsClient};

/// A client for `topology`'s TarsWeb; fails when no token is set.
pub fn client_for(topology: &Topology) -> anyhow::Result<HttpTarsClient> {
    if topology.tars.token.is_empty() {
        bail!(
            "no Tars token for {}\nhint: set TARSFORM_TARS_TOKEN or [tars] tars_token (Tars web → admin → user center → token management)",
            topology.tars.url
        );
    }
    let client = HttpTarsClient::new(ClientConfig::new(
        topology.tars.url.clone(),
        topology.tars.token.clone(),
    ))
    .map_err(anyhow::Error::new)?;
    let cipher_keys = topology
        .agencies
        .iter()
        .map(|a| Secret::new(a.cipher_data_key.clone()));
    Ok(client.with_secrets(cipher_keys))
}

/// The async runtime of one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Reads what Tars reports about the topology's and the state's servers.
pub fn observe_blocking(topology: &Topology, state: Option<&State>) -> anyhow::Result<Observed> {
    let api = client_for(topology)?;
    runtime()?
        .block_on(refresh::observe(&api, topology, state))
        .with_context(|| format!("reading Tars at {}", topology.tars.url))
}
