//! Identical reads in flight at once share requests. A caller reuses only a reply whose
//! request started after the caller arrived, so it sees Tars at least as new as its own
//! request would have: a step that just changed a node still reads the change. Ten nodes
//! of one server polling `server_list` together cost about two requests, not ten.
//! A poller may accept a reply a little older ([`Coalescer::read_since`]): a request
//! started at or after a moment it names (never before its own last change).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::TarsError;
use super::http::Reply;

#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Debug, Default)]
struct Slot {
    /// Requests started for this key so far.
    started: AtomicU64,
    /// The last successful reply, the number of its request and when that request
    /// started; held while a request runs.
    last: tokio::sync::Mutex<Option<(u64, Instant, Reply)>>,
}

impl Coalescer {
    /// The reply to the read `key`, from `fetch` or from a request that started after
    /// this call did, or at or after `since`. Failures are never shared: a waiter sends
    /// its own request.
    /// Returns when the answering request started, with its reply.
    pub async fn read_since<F, Fut>(
        &self,
        key: String,
        since: Option<Instant>,
        fetch: F,
    ) -> Result<(Instant, Reply), TarsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Reply, TarsError>>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let arrived = slot.started.load(Ordering::SeqCst);
        let mut last = slot.last.lock().await;
        if let Some((request, at, reply)) = &*last
            && (*request > arrived || since.is_some_and(|since| *at >= since))
        {
            return Ok((*at, reply.clone()));
        }
        let request = slot.started.fetch_add(1, Ordering::SeqCst) + 1;
        let at = Instant::now();
        let result = fetch().await;
        if let Ok(reply) = &result {
            *last = Some((request, at, reply.clone()));
        }
        result.map(|reply| (at, reply))
    }
}
