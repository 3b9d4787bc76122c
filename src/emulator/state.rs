//! The shared server state: the model, in-memory tasks, faults and tokens behind one
//! mutex, plus the settings fixed at start. Persists the model when it changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::fault::Faults;
use super::model::Model;
use super::persist;
use super::tasks::Task;

/// Settings fixed when the emulator starts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: Option<String>,
    pub data: Option<PathBuf>,
    pub latency: Duration,
    pub task_duration: Duration,
    pub loopback_admin: bool,
    pub rate_limit: Option<super::RateLimit>,
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub struct Inner {
    pub model: Model,
    pub tasks: BTreeMap<String, Task>,
    pub faults: Faults,
    /// Extra tokens of non-admin users: token → uid.
    pub users: BTreeMap<String, String>,
    /// The model changed since it was last persisted.
    pub dirty: bool,
    /// The last failure to write `--data` (the emulator has no logger).
    pub persist_error: Option<String>,
    /// Requests per caller address in the current rate-limit window, and its start.
    pub rate: BTreeMap<std::net::IpAddr, (std::time::Instant, u32)>,
}

impl Inner {
    /// Counts a request from `ip`; `Some(seconds to wait)` when it is over the budget.
    pub fn over_limit(&mut self, limit: super::RateLimit, ip: std::net::IpAddr) -> Option<u64> {
        let now = std::time::Instant::now();
        let (start, count) = self.rate.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= limit.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        (*count > limit.requests).then(|| (limit.window - now.duration_since(*start)).as_secs().max(1))
    }
}

impl Inner {
    /// Whether `node` is registered and sending heartbeats (`node-down` rules mark
    /// their node down in the model when they are added).
    pub fn node_alive(&self, node: &str) -> bool {
        self.model.node(node).is_some_and(|n| n.alive)
    }
}

#[derive(Debug)]
pub struct Shared {
    pub settings: Settings,
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(settings: Settings, inner: Inner) -> Arc<Shared> {
        Arc::new(Shared {
            settings,
            inner: Mutex::new(inner),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent rows (no multi-step invariants
        // are half-written across an await), so keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the model to `--data` if it changed. Errors are reported, not fatal.
    pub fn persist_if_dirty(&self, inner: &mut Inner) {
        if !inner.dirty {
            return;
        }
        inner.dirty = false;
        if let Some(path) = &self.settings.data
            && let Err(err) = persist::save(path, &inner.model)
        {
            inner.persist_error = Some(err.to_string());
        }
    }
}

/// The uid a ticket logs in as, or `None` (kind B). With `--token`, only that token (or a
/// token added for another user) is accepted; without it, any non-empty ticket is admin.
pub fn uid_for(settings: &Settings, inner: &Inner, ticket: Option<&str>) -> Option<String> {
    let ticket = ticket.filter(|t| !t.is_empty())?;
    if let Some(uid) = inner.users.get(ticket) {
        return Some(uid.clone());
    }
    match &settings.token {
        Some(token) if token != ticket => None,
        _ => Some("admin".to_string()),
    }
}
