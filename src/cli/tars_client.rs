//! The Tars client of a topology (its `tars_url` and token; `TARSFORM_TARS_TOKEN` has
//! already won over the file in `config::load`), the runtime the CLI drives it on, and
//! a blocking refresh for commands that are otherwise synchronous.

use std::sync::OnceLock;

use anyhow::{Context, bail};

use crate::apply::refresh;
use crate::config::Topology;
use crate::plan::Observed;
use crate::secret::Secret;
use crate::state::State;
use crate::tars::budget::DEFAULT_MAX_RPS;
use crate::tars::{ClientConfig, HttpTarsClient, RateBudget};

static MAX_RPS: OnceLock<f64> = OnceLock::new();

/// Records `--max-rps`; called once by `main`.
pub fn set_max_rps(rate: f64) {
    let _ = MAX_RPS.set(rate);
}

/// `--max-rps`: a number of requests per second, 0 for no limit.
pub fn parse_max_rps(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
        .ok_or_else(|| format!("`{text}` is not a rate; write requests per second, e.g. 6.5 (0: no limit)"))
}

/// A client for `topology`'s TarsWeb; fails when no token is set.
pub fn client_for(topology: &Topology) -> anyhow::Result<HttpTarsClient> {
    if topology.tars.token.is_empty() {
        bail!(
            "no Tars token for {}\nhint: set TARSFORM_TARS_TOKEN or [tars] tars_token (Tars web → admin → user center → token management)",
            topology.tars.url
        );
    }
    let mut config = ClientConfig::new(topology.tars.url.clone(), topology.tars.token.clone());
    config.max_rps = RateBudget::max_rps(*MAX_RPS.get().unwrap_or(&DEFAULT_MAX_RPS));
    // Per-call limit in seconds (e.g. `0.5`), for slow proxies and the recovery tests.
    if let Ok(text) = std::env::var("TARSFORM_CALL_TIMEOUT") {
        let secs: f64 = text
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .with_context(|| format!("TARSFORM_CALL_TIMEOUT=`{text}`: expected a number of seconds > 0"))?;
        config.timeout = std::time::Duration::from_secs_f64(secs);
    }
    let client = HttpTarsClient::new(config).map_err(anyhow::Error::new)?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn max_rps_is_a_rate_or_zero() {
        assert_eq!(super::parse_max_rps("6.5"), Ok(6.5));
        assert_eq!(super::parse_max_rps("0"), Ok(0.0));
        for bad in ["", "-1", "fast", "inf", "NaN"] {
            let err = super::parse_max_rps(bad).unwrap_err();
            assert!(err.contains("requests per second"), "{bad}: {err}");
        }
    }
}
