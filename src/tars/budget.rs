//! The client-side request budget (`--max-rps`): a token bucket kept as GCRA's
//! "theoretical arrival time", so a reservation is one subtraction under a lock and the
//! wait happens outside it.
//!
//! TarsWeb's koa-limit answers 429 after 5,000 requests per caller address in 10 minutes.
//! The bucket refills at `rate` per second and holds [`BURST_SECONDS`] of requests, so any
//! 10-minute window sees at most `rate × (600 + BURST_SECONDS)` requests: 4,680 at the
//! default 6.5/s, below the server's 5,000, while a whole 20-node deploy (~700 calls)
//! runs unthrottled inside the burst.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default `--max-rps`.
pub const DEFAULT_MAX_RPS: f64 = 6.5;

/// How many seconds of requests may be sent at once before the rate applies.
pub const BURST_SECONDS: f64 = 120.0;

/// How many requests a client may send: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBudget {
    pub per_second: f64,
    pub burst: u32,
}

impl RateBudget {
    /// `--max-rps RATE`: `RATE` per second with [`BURST_SECONDS`] of burst; `None` for 0 (no limit).
    pub fn max_rps(rate: f64) -> Option<RateBudget> {
        (rate.is_finite() && rate > 0.0).then(|| RateBudget {
            per_second: rate,
            burst: (rate * BURST_SECONDS).clamp(1.0, f64::from(u32::MAX)) as u32,
        })
    }
}

/// A shared request budget; cheap to reserve from many tasks.
#[derive(Debug)]
pub struct Budget {
    /// Time between requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now the schedule may run (the burst).
    tolerance: Duration,
    /// When the next request would be due at the sustained rate.
    due: Mutex<Option<Instant>>,
}

impl Budget {
    /// `None` when the rate is not a positive number.
    pub fn new(limit: RateBudget) -> Option<Budget> {
        let rate = limit.per_second;
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let interval = Duration::from_secs_f64(1.0 / rate);
        Some(Budget {
            interval,
            tolerance: interval * limit.burst.saturating_sub(1),
            due: Mutex::new(None),
        })
    }

    /// Takes one request from the budget at `now`; returns how long to wait before sending.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        let next = due.map_or(now, |d| d.max(now));
        let allowed = next.checked_sub(self.tolerance).map_or(now, |a| a.max(now));
        *due = Some(next + self.interval);
        allowed - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let budget = Budget::new(RateBudget::max_rps(2.0).unwrap()).unwrap();
        let start = Instant::now() + Duration::from_secs(1000);
        let burst = (2.0 * BURST_SECONDS) as usize;
        for i in 0..burst {
            assert_eq!(
                budget.reserve(start),
                Duration::ZERO,
                "request {i} is within the burst"
            );
        }
        let waits: Vec<Duration> = (0..3).map(|_| budget.reserve(start)).collect();
        assert_eq!(
            waits,
            [500, 1000, 1500].map(Duration::from_millis).to_vec(),
            "after the burst, one request per half second"
        );
    }

    #[test]
    fn any_ten_minutes_stay_below_tarsweb_limit_at_the_default() {
        let budget = Budget::new(RateBudget::max_rps(DEFAULT_MAX_RPS).unwrap()).unwrap();
        let start = Instant::now() + Duration::from_secs(1000);
        let window = Duration::from_secs(600);
        let sent = (0..6000)
            .map(|_| budget.reserve(start))
            .filter(|wait| *wait < window)
            .count();
        assert!(sent < 5000, "{sent} requests in the first 10 minutes");
        assert!(sent > 4000, "the budget is not needlessly tight: {sent}");
    }

    #[test]
    fn an_idle_budget_refills() {
        let budget = Budget::new(RateBudget::max_rps(1.0).unwrap()).unwrap();
        let start = Instant::now() + Duration::from_secs(1000);
        for _ in 0..200 {
            budget.reserve(start);
        }
        assert!(budget.reserve(start) > Duration::ZERO);
        let later = start + Duration::from_secs(500);
        assert_eq!(budget.reserve(later), Duration::ZERO);
    }

    #[test]
    fn no_budget_for_a_rate_that_is_not_positive() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RateBudget::max_rps(rate).is_none(), "{rate}");
            let raw = RateBudget {
                per_second: rate,
                burst: 5,
            };
            assert!(Budget::new(raw).is_none(), "{rate}");
        }
    }
}
