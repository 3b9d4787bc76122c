//! A TarsWeb-compatible HTTP server for the demo and the tests (DESIGN.md §8): every
//! endpoint tarsform and BcosBuilder call, with TarsWeb's envelopes, error kinds,
//! Chinese/English messages and quirks (reference/tarsweb-api.md), asynchronous tasks,
//! live or down tarsnodes, fault injection, latency, and optional JSON persistence.
//!
//! I/O shell: axum + tokio; the model lives behind one mutex ([`state`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod clock;
mod endpoints;
mod fault;
mod handle;
mod http;
mod i18n;
pub mod keycenter;
mod model;
mod params;
mod persist;
mod reply;
mod state;
mod tasks;
mod view;

pub use fault::{FaultRule, FaultRuleError};

/// The name of every endpoint the emulator serves, e.g. for counting calls.
pub fn endpoint_names() -> impl Iterator<Item = &'static str> {
    endpoints::names()
}
pub use handle::{EmulatorHandle, SeededServer};
pub use view::{AdapterView, ConfigView, ModelView, ServerView};

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The only ticket accepted; any non-empty ticket when `None`.
    pub token: Option<String>,
    /// Live tarsnodes registered at start.
    pub nodes: Vec<String>,
    /// Persist the model in this JSON file (loaded at start when it exists).
    pub data: Option<PathBuf>,
    /// Delay before every response.
    pub latency: Duration,
    /// How long one task item takes from submission to its outcome.
    pub task_duration: Duration,
    pub faults: Vec<FaultRule>,
    /// Like a real TarsWeb: callers from 127.0.0.1 are admin without a valid ticket.
    pub loopback_admin: bool,
    /// Like upstream TarsWeb's koa-limit: at most this many requests per window per
    /// caller address, then HTTP 429 with `Retry-After`.
    pub rate_limit: Option<RateLimit>,
}

/// A request budget per caller address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `5000/600` (requests per seconds).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("rate limit `{text}`: write REQUESTS/SECONDS, e.g. 5000/600 (TarsWeb's default)");
        let (requests, seconds) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let seconds: u64 = seconds.trim().parse().map_err(|_| bad())?;
        if requests == 0 || seconds == 0 {
            return Err(bad());
        }
        Ok(RateLimit {
            requests,
            window: Duration::from_secs(seconds),
        })
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            nodes: Vec::new(),
            data: None,
            latency: Duration::ZERO,
            task_duration: Duration::from_millis(200),
            faults: Vec::new(),
            loopback_admin: false,
            rate_limit: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "emulator: cannot listen on {addr}: {error}\nhint: pick another address with --listen (port 0 chooses a free one)"
    )]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error("emulator: cannot read the data file {}: {error}", path.display())]
    DataRead { path: PathBuf, error: std::io::Error },
    #[error("emulator: the data file {} is not a saved emulator model: {error}\nhint: move it away to start with an empty model", path.display())]
    DataParse { path: PathBuf, error: serde_json::Error },
    #[error("emulator: cannot write the data file {}: {error}", path.display())]
    DataWrite { path: PathBuf, error: std::io::Error },
}

/// A serving emulator. Dropping it stops accepting connections, like [`Self::shutdown`]
/// without waiting or saving.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    handle: EmulatorHandle,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT/`, the `tars_url` to give clients.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> EmulatorHandle {
        self.handle.clone()
    }

    /// Stops accepting requests, finishes the ones in flight, and saves the model.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        let mut inner = self.handle.shared.lock();
        inner.dirty = true;
        self.handle.shared.persist_if_dirty(&mut inner);
    }
}

/// Loads `--data`, registers the nodes, binds the listener and serves in a spawned task.
pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    let mut model = match &config.data {
        Some(path) => persist::load(path)?.unwrap_or_default(),
        None => model::Model::default(),
    };
    for node in &config.nodes {
        model.add_node(node, true);
    }
    for rule in &config.faults {
        if let FaultRule::NodeDown { ip } = rule {
            model.set_node_alive(ip, false);
        }
    }
    let settings = state::Settings {
        token: config.token.clone(),
        data: config.data.clone(),
        latency: config.latency,
        task_duration: config.task_duration,
        loopback_admin: config.loopback_admin,
        rate_limit: config.rate_limit,
    };
    let inner = state::Inner {
        model,
        faults: fault::Faults::new(config.faults.clone()),
        dirty: config.data.is_some(),
        ..Default::default()
    };
    let shared = state::Shared::new(settings, inner);
    {
        let mut inner = shared.lock();
        shared.persist_if_dirty(&mut inner);
        if let Some(message) = inner.persist_error.take() {
            return Err(EmulatorError::DataWrite {
                path: config.data.clone().unwrap_or_default(),
                error: std::io::Error::other(message),
            });
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| EmulatorError::Bind {
            addr: config.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(|error| EmulatorError::Bind {
        addr: config.listen,
        error,
    })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = http::router(shared.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(RunningEmulator {
        addr,
        handle: EmulatorHandle { shared },
        stop,
        server,
    })
}
