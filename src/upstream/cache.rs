//! The shared upstream cache (DESIGN.md §5): moka, bounded by bytes, per-entry lifetime of
//! `cache_ttl_s + stale_if_error_s`. Keys include the credential identity, so one tenant never
//! sees another's answers. Entries younger than the TTL are served as hits; older ones only when
//! the upstream fails, as stale-if-error answers with a warning.

use crate::metrics::Metrics;
use crate::upstream::Fetched;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One cached upstream answer.
#[derive(Clone)]
pub struct CachedAnswer {
    pub fetched: Arc<Fetched>,
    pub stored_at: Instant,
    /// How long the entry is kept at all (fresh TTL + stale-if-error window).
    keep_for: Duration,
}

impl CachedAnswer {
    /// An answer first stored `age` ago (by another replica, read back from Redis), kept for
    /// what is left of `ttl + stale`; `None` when nothing is left.
    pub fn aged(
        fetched: Arc<Fetched>,
        age: Duration,
        ttl: Duration,
        stale: Duration,
    ) -> Option<Self> {
        let keep_for = (ttl + stale).checked_sub(age).filter(|d| !d.is_zero())?;
        Some(CachedAnswer {
            fetched,
            stored_at: Instant::now().checked_sub(age)?,
            keep_for,
        })
    }
}

struct KeepFor;

impl Expiry<String, CachedAnswer> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &CachedAnswer,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

/// Cache of upstream GET answers shared by every request.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Cache<String, CachedAnswer>,
}

impl ResponseCache {
    /// A cache of at most `max_bytes` of bodies; `None` when `max_bytes` is 0 (caching off).
    pub fn new(max_bytes: u64, metrics: Arc<Metrics>) -> Option<Self> {
        if max_bytes == 0 {
            return None;
        }
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &CachedAnswer| {
                u32::try_from(key.len() + value.fetched.body.len() + 256).unwrap_or(u32::MAX)
            })
            .expire_after(KeepFor)
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    metrics.cache_evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Some(ResponseCache { inner })
    }

    /// The entry under `key`, fresh or stale.
    pub async fn get(&self, key: &str) -> Option<CachedAnswer> {
        self.inner.get(key).await
    }

    /// Store an answer for `ttl` (fresh) plus `stale` (served only when the upstream fails).
    pub async fn insert(&self, key: String, fetched: Arc<Fetched>, ttl: Duration, stale: Duration) {
        let keep_for = ttl + stale;
        if keep_for.is_zero() {
            return;
        }
        let answer = CachedAnswer {
            fetched,
            stored_at: Instant::now(),
            keep_for,
        };
        self.inner.insert(key, answer).await;
    }

    /// Store an answer built elsewhere (an aged one from Redis) for what is left of its life.
    pub async fn insert_answer(&self, key: String, answer: CachedAnswer) {
        self.inner.insert(key, answer).await;
    }

    /// Drop every entry whose key `matches` (a write invalidates the answers it changed). Takes
    /// effect at once for lookups; moka frees the memory in the background.
    pub fn invalidate_where(&self, matches: impl Fn(&str) -> bool + Send + Sync + 'static) {
        if let Err(err) = self.inner.invalidate_entries_if(move |key, _| matches(key)) {
            tracing::warn!(error = %err, "cache invalidation was refused");
        }
    }
}
