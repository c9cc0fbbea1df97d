//! How a source's calls are treated: cache TTLs, retries, the breaker, concurrency, rate-limit
//! hints, and the per-source call statistics.

use super::cache::ResponseCache;
use super::resilience::{Breaker, RetryBudget};
use super::scope::SharedAttempt;
use super::shared::SharedStore;
use crate::error::{ErrorCode, SourceError};
use crate::metrics::Metrics;
use crate::FastHash;
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts upstream calls per source, for `/metrics`, `Query.sources` and benchmarks.
#[derive(Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub(crate) last_error: Mutex<Option<(ErrorCode, String)>>,
}

impl CallStats {
    /// The message of the last failed call, cleared by the next success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|(_, message)| message.clone()))
    }

    /// The code of the last failed call, cleared by the next success.
    pub fn last_error_code(&self) -> Option<ErrorCode> {
        self.last_error
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|(code, _)| *code))
    }

    pub(crate) fn record(&self, outcome: Result<(), &SourceError>) {
        self.record_as(outcome, false);
    }

    /// Record an outcome; `caller` when it was reached with a caller's own credential, whose
    /// rejection (one tenant's bad token) says nothing about the source's health either.
    pub(crate) fn record_as(&self, outcome: Result<(), &SourceError>, caller: bool) {
        if caller
            && outcome
                .as_ref()
                .is_err_and(|e| e.code == ErrorCode::UpstreamUnauthorized)
        {
            return;
        }
        if let Ok(mut last) = self.last_error.lock() {
            // A client's unknown id or bad argument says nothing about the source's health.
            let health = outcome
                .err()
                .filter(|e| !matches!(e.code, ErrorCode::NotFound | ErrorCode::BadUserInput));
            *last = health.map(|e| (e.code, e.message.clone()));
        }
    }
}

/// How one call may be treated. Reads with a side effect (Hexabase history) opt out of
/// everything that could repeat or reuse them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallOptions {
    /// Retry on 429 / 5xx / timeouts / refused connections (idempotent GETs only).
    pub retry: bool,
    /// Serve from and store into the cross-request cache (and stale-if-error).
    pub cache: bool,
    /// Share one in-flight call between concurrent requests with the same credentials.
    pub share: bool,
    /// Hand back non-2xx answers as they are (after any retries) instead of mapping them to
    /// errors, for adapters that react to a status themselves (a 401 → log in again).
    pub keep_status: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            retry: true,
            cache: true,
            share: true,
            keep_status: false,
        }
    }
}

impl CallOptions {
    /// For calls whose every repetition changes upstream state: no retry, no cache, no sharing.
    pub const SIDE_EFFECT: CallOptions = CallOptions {
        retry: false,
        cache: false,
        share: false,
        keep_status: false,
    };
}

/// Longest `Retry-After` / backoff Chronograph waits inside one request before giving up and
/// reporting `UPSTREAM_RATE_LIMITED` with `retryAfterSeconds` to the client instead.
pub(crate) const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// The resilience and caching policy of one source, installed by `Sources::from_config`.
pub struct Policy {
    /// Fingerprint of the credentials: part of every cache and single-flight key.
    pub identity: String,
    pub cache: Option<ResponseCache>,
    pub ttl: Duration,
    pub stale_if_error: Duration,
    pub retries: u32,
    pub budget: RetryBudget,
    pub breaker: Breaker,
    pub limiter: tokio::sync::Semaphore,
    pub metrics: Arc<Metrics>,
    pub(crate) inflight: Mutex<HashMap<String, SharedAttempt, FastHash>>,
    pub(crate) hints: Mutex<RateHints>,
    /// Redis shared with other replicas (second-level cache, pause hints), if configured.
    pub(crate) shared: Option<Arc<SharedStore>>,
    /// Counts writes: a read that started before a write neither fills the cache nor is shared
    /// with reads that start after it.
    pub(crate) writes: AtomicU64,
}

/// What the upstream last said about its rate limit.
#[derive(Default, Clone, Copy)]
pub(crate) struct RateHints {
    pub(crate) remaining: Option<i64>,
    pub(crate) retry_until: Option<Instant>,
}

impl Policy {
    /// A policy with the given knobs and a fresh breaker and budget.
    pub fn new(
        identity: String,
        cache: Option<ResponseCache>,
        ttl: Duration,
        stale_if_error: Duration,
        retries: u32,
        max_concurrency: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Policy {
            identity,
            cache,
            ttl,
            stale_if_error,
            retries,
            budget: RetryBudget::new(20),
            breaker: Breaker::new(5, Duration::from_secs(10)),
            limiter: tokio::sync::Semaphore::new(max_concurrency.max(1)),
            metrics,
            inflight: Mutex::new(HashMap::default()),
            hints: Mutex::new(RateHints::default()),
            shared: None,
            writes: AtomicU64::new(0),
        }
    }

    /// Share answers and pause hints with other replicas through `shared` (`[cache]
    /// redis_url`); `None` keeps everything in this process.
    pub fn with_shared(mut self, shared: Option<Arc<SharedStore>>) -> Self {
        self.shared = shared;
        self
    }

    /// The upstream's last `X-RateLimit-Remaining` / `ratelimit-remaining`.
    pub fn rate_limit_remaining(&self) -> Option<i64> {
        self.hints.lock().ok().and_then(|h| h.remaining)
    }

    /// Seconds the upstream (or the open breaker) asked us to wait, if that time has not passed.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        let until = self.hints.lock().ok().and_then(|h| h.retry_until);
        let upstream = until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .map(|d| d.as_secs().max(1));
        upstream.or_else(|| self.breaker.retry_after())
    }

    pub(crate) fn note_headers(&self, headers: &HeaderMap) {
        let remaining = ["x-ratelimit-remaining", "ratelimit-remaining"]
            .iter()
            .find_map(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
            });
        if let (Some(remaining), Ok(mut hints)) = (remaining, self.hints.lock()) {
            hints.remaining = Some(remaining);
        }
    }

    /// What a successful answer tells the breaker and the rate-limit hints.
    pub(crate) fn observe_success(&self, headers: &HeaderMap) {
        self.breaker.success();
        self.note_headers(headers);
    }

    /// What a failed call tells the breaker and the rate-limit hints: only the upstream's own
    /// failures (5xx, timeouts, refused connections) count toward opening the breaker; a 429
    /// records how long to wait; anything else is an answer, so the upstream is up.
    pub(crate) fn observe_failure(&self, err: &SourceError) {
        match err.code {
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout => self.breaker.failure(),
            ErrorCode::UpstreamRateLimited => self.note_retry_after(err.retry_after_seconds),
            _ => self.breaker.success(),
        }
    }

    pub(crate) fn note_retry_after(&self, seconds: Option<u64>) {
        if let (Some(seconds), Ok(mut hints)) = (seconds, self.hints.lock()) {
            hints.retry_until = Some(Instant::now() + Duration::from_secs(seconds));
        }
    }
}
