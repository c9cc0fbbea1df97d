//! Per-source protection: circuit breaker, retry budget and full-jitter backoff (DESIGN.md §5).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Circuit-breaker states, as `Query.sources` and `/readyz` show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The GraphQL / JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
        }
    }
}

#[derive(Debug)]
struct BreakerInner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

/// Opens after `threshold` consecutive failures (5xx, timeouts, refused connections), stays
/// open for `cooldown`, then lets one probe call through (half-open): its success closes the
/// breaker, its failure opens it again. A slow or broken source then costs nothing but an
/// immediate `UPSTREAM_UNAVAILABLE` on its own fields.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<BreakerInner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(BreakerInner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: None,
                probe_in_flight: false,
            }),
        }
    }

    /// Current state (an open breaker whose cooldown passed reports half-open).
    pub fn state(&self) -> BreakerState {
        let Ok(inner) = self.inner.lock() else {
            return BreakerState::Closed;
        };
        match (inner.state, inner.opened_at) {
            (BreakerState::Open, Some(at)) if at.elapsed() >= self.cooldown => {
                BreakerState::HalfOpen
            }
            (state, _) => state,
        }
    }

    /// Whether a call may go out now. In half-open state only one probe is admitted.
    pub fn admit(&self) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return true;
        };
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if inner
                    .opened_at
                    .is_some_and(|at| at.elapsed() >= self.cooldown)
                {
                    inner.state = BreakerState::HalfOpen;
                    inner.probe_in_flight = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen => {
                if inner.probe_in_flight {
                    false
                } else {
                    inner.probe_in_flight = true;
                    true
                }
            }
        }
    }

    /// Record a call that reached the upstream and got a usable answer (any 2xx–4xx).
    pub fn success(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.state = BreakerState::Closed;
            inner.consecutive_failures = 0;
            inner.opened_at = None;
            inner.probe_in_flight = false;
        }
    }

    /// Record a failure that says the source is unhealthy.
    pub fn failure(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
            inner.probe_in_flight = false;
            if inner.state == BreakerState::HalfOpen || inner.consecutive_failures >= self.threshold
            {
                inner.state = BreakerState::Open;
                inner.opened_at = Some(Instant::now());
            }
        }
    }

    /// Seconds until an open breaker lets a probe through.
    pub fn retry_after(&self) -> Option<u64> {
        let inner = self.inner.lock().ok()?;
        let at = inner.opened_at?;
        (inner.state == BreakerState::Open)
            .then(|| self.cooldown.saturating_sub(at.elapsed()).as_secs().max(1))
    }
}

/// Retries are paid from a budget that successful calls refill (one token per ten successes,
/// capped), so a failing source cannot multiply its own load by the retry count.
#[derive(Debug)]
pub struct RetryBudget {
    /// Tokens in tenths.
    tenths: AtomicU64,
    cap_tenths: u64,
}

impl RetryBudget {
    /// A full budget of `tokens` retries.
    pub fn new(tokens: u64) -> Self {
        RetryBudget {
            tenths: AtomicU64::new(tokens * 10),
            cap_tenths: tokens * 10,
        }
    }

    /// Take one retry token, if any are left.
    pub fn try_take(&self) -> bool {
        self.tenths
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(10))
            .is_ok()
    }

    /// A success earns a tenth of a token.
    pub fn earn(&self) {
        let _ = self
            .tenths
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some((t + 1).min(self.cap_tenths))
            });
    }
}

/// Full-jitter backoff: a random wait in `[0, min(cap, base · 2^attempt)]`.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let nanos = ceiling.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(jitter_seed() % (nanos + 1))
}

/// A cheap per-call random number (no `rand` dependency): the clock's nanoseconds mixed with a
/// counter through splitmix64.
fn jitter_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = now ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_probes_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(breaker.admit());
            breaker.failure();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.admit());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.admit(), "one probe");
        assert!(!breaker.admit(), "only one probe");
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit());
        breaker.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn budget_limits_retries_and_refills_from_successes() {
        let budget = RetryBudget::new(2);
        assert!(budget.try_take());
        assert!(budget.try_take());
        assert!(!budget.try_take());
        for _ in 0..10 {
            budget.earn();
        }
        assert!(budget.try_take());
        assert!(!budget.try_take());
    }

    #[test]
    fn jitter_stays_under_the_cap() {
        for attempt in 0..20 {
            let wait = full_jitter(attempt, Duration::from_millis(100), Duration::from_secs(2));
            assert!(wait <= Duration::from_secs(2));
        }
        assert!(
            full_jitter(0, Duration::from_millis(100), Duration::from_secs(2))
                <= Duration::from_millis(100)
        );
    }
}
