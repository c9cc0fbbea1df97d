//! State that replicas share through Redis (DESIGN.md §9, `[cache] redis_url`).
//!
//! Two things live there:
//!
//! - **A second-level cache** under each replica's moka cache. Keys are
//!   `<prefix>answer:<sha256 of the moka key>`; the moka key already holds the credential
//!   fingerprint, so tenants never share an entry, and neither a URL nor a credential fingerprint
//!   appears in Redis keys. A value is one upstream answer (status, the headers adapters read,
//!   body) and the lifetime it was written with; it expires (`SET … PX`) after
//!   `cache_ttl_s + stale_if_error_s`, exactly like the moka entry. Its age is that lifetime
//!   minus the key's remaining `PTTL`, read atomically with the value: Redis's clock alone
//!   decides, so clock skew between replicas does not shift freshness or the stale-if-error
//!   window.
//! - **"Retry until" hints** per source and credentials: `<prefix>rate:<sha256>` when an
//!   upstream answered 429 with a wait, `<prefix>breaker:<sha256>` while a replica's circuit
//!   breaker is open. The key expires when the pause ends (its `PTTL` is the time left; the
//!   value, the writer's epoch millisecond of that moment, is for people inspecting Redis). A
//!   replica about to call an upstream reads them, so it does not hammer an upstream another
//!   replica was told to leave alone.
//!
//! Redis is an optimisation, never a dependency of a request: every operation has a short
//! timeout, a failure makes the replica skip Redis for a moment ([`PAUSE_AFTER_ERROR`]) and
//! serve from its own state, and is counted (`chronograph_redis_errors_total`) and logged at
//! most once per [`WARN_EVERY`].

use super::settings::CacheConfig;
use crate::metrics::Metrics;
use crate::upstream::Fetched;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// After a failed Redis operation, skip Redis for this long: a dead or black-holed server then
/// costs one timeout per interval, not one per request.
pub const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(1);

/// At most one "Redis unavailable" warning per this interval (the counter has every failure).
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// Answers larger than this are kept in the replica's own cache only: one huge value would
/// blow the Redis timeout for itself and everything queued behind it on the connection.
pub const MAX_SHARED_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The response headers kept with a shared answer: the ones adapters read from a cached answer
/// (`Link` drives Celigo paging). An allow-list, so nothing like `Set-Cookie` reaches Redis.
const KEPT_HEADERS: [&str; 2] = ["content-type", "link"];

/// Format tag of a stored answer; a value with another tag (an older or newer Chronograph)
/// reads as a miss.
const ANSWER_TAG: &[u8; 4] = b"CGA2";

/// Why calls to an upstream are paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintKind {
    /// The upstream answered 429 with a wait (`Retry-After` and friends).
    RateLimited,
    /// A replica's circuit breaker for the source is open.
    BreakerOpen,
}

impl HintKind {
    fn key_part(self) -> &'static str {
        match self {
            HintKind::RateLimited => "rate",
            HintKind::BreakerOpen => "breaker",
        }
    }
}

/// A pause some replica recorded, with the time still left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hint {
    pub kind: HintKind,
    pub wait: Duration,
}

/// An answer read back from Redis, with how long ago it was first stored.
#[derive(Debug)]
pub struct SharedAnswer {
    pub fetched: Fetched,
    pub age: Duration,
}

/// The connection to Redis and its failure bookkeeping. Cloned per source via `Arc`.
pub struct SharedStore {
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    metrics: Arc<Metrics>,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    paused_until: Option<Instant>,
    last_warning: Option<Instant>,
}

impl SharedStore {
    /// The store `[cache]` asks for, or `None` without `redis_url` (then nothing connects).
    /// Nothing is contacted here: the connection opens on first use, so a replica starts even
    /// while Redis is down.
    pub fn from_config(
        cache: &CacheConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Arc<SharedStore>>, crate::error::SourceError> {
        let Some(url) = &cache.redis_url else {
            return Ok(None);
        };
        let client = redis::Client::open(url.expose_secret()).map_err(|_| {
            crate::error::SourceError::internal("cache.redis_url is not a usable Redis URL")
        })?;
        tracing::info!(redis = %cache.redis_display(), "sharing cache and rate-limit hints through Redis");
        Ok(Some(Arc::new(SharedStore {
            client,
            connection: tokio::sync::OnceCell::new(),
            prefix: cache.redis_key_prefix.clone(),
            timeout: cache.redis_timeout(),
            metrics,
            health: Mutex::new(Health::default()),
        })))
    }

    /// The shared answer under a moka cache key, if one is stored, readable and written in the
    /// current generation of `scope` (a source and its credentials); and that generation, to
    /// write a fresh answer under. `None` when Redis could not be read.
    pub async fn answer(
        &self,
        cache_key: &str,
        scope: &str,
    ) -> Option<(Option<SharedAnswer>, u64)> {
        let key = self.key("answer", cache_key);
        let read = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(self.key("generation", scope))
            .cmd("GET")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .clone();
        let (generation, value, left_ms): (Option<u64>, Option<Vec<u8>>, i64) = self
            .run(|mut c| async move { read.query_async(&mut c).await })
            .await?;
        let generation = generation.unwrap_or(0);
        let answer = value
            .as_deref()
            .and_then(decode_answer)
            .filter(|(_, _, written_in)| *written_in == generation)
            .and_then(|(fetched, keep_for_ms, _)| {
                let left_ms = u64::try_from(left_ms).ok()?;
                let age = Duration::from_millis(keep_for_ms.saturating_sub(left_ms));
                Some(SharedAnswer { fetched, age })
            });
        Some((answer, generation))
    }

    /// Share a fresh upstream answer for `keep_for` (fresh TTL + stale-if-error window), as of
    /// `generation` (read by [`SharedStore::answer`] before the upstream call: an answer that
    /// raced a write is then never served). Oversized answers and empty lifetimes are not shared.
    pub async fn store_answer(
        &self,
        cache_key: &str,
        generation: u64,
        fetched: &Fetched,
        keep_for: Duration,
    ) {
        let millis = keep_for.as_millis() as u64;
        if millis == 0 || fetched.body.len() > MAX_SHARED_BODY_BYTES {
            return;
        }
        let value = encode_answer(fetched, millis, generation);
        self.set_px(self.key("answer", cache_key), value, millis)
            .await;
    }

    /// A write changed upstream state for `scope`: every shared answer of it becomes a miss on
    /// every replica at once (their in-process caches keep theirs until `cache_ttl_s` ends).
    pub async fn invalidate(&self, scope: &str) {
        let bump = redis::cmd("INCR")
            .arg(self.key("generation", scope))
            .clone();
        let _: Option<u64> = self
            .run(|mut c| async move { bump.query_async(&mut c).await })
            .await;
    }

    /// The longest pause any replica recorded for `scope` (a source and its credentials).
    pub async fn hint(&self, scope: &str) -> Option<Hint> {
        let kinds = [HintKind::RateLimited, HintKind::BreakerOpen];
        let mut read = redis::pipe();
        for kind in kinds {
            read.cmd("PTTL").arg(self.key(kind.key_part(), scope));
        }
        let left: Vec<i64> = self
            .run(|mut c| async move { read.query_async(&mut c).await })
            .await?;
        kinds
            .into_iter()
            .zip(left)
            .filter_map(|(kind, left_ms)| {
                let left_ms = u64::try_from(left_ms).ok().filter(|ms| *ms > 0)?;
                let wait = Duration::from_millis(left_ms);
                Some(Hint { kind, wait })
            })
            .max_by_key(|hint| hint.wait)
    }

    /// Tell every replica to pause calls for `scope` for `wait`. The key expires when the pause
    /// ends; a later write replaces an earlier one (last writer wins).
    pub async fn publish_hint(&self, scope: &str, kind: HintKind, wait: Duration) {
        let millis = wait.as_millis() as u64;
        if millis == 0 {
            return;
        }
        let until = now_ms().saturating_add(millis).to_string();
        self.set_px(self.key(kind.key_part(), scope), until.into_bytes(), millis)
            .await;
    }

    /// Run a Lua script (`EVAL`) on the one key `<prefix><kind>:<sha256(material)>` with whole
    /// number arguments: for state that must change atomically across replicas (the rate limit
    /// of `server::rate_limit`). `None` when Redis is unavailable, like every operation here.
    pub async fn eval<T>(&self, script: &str, kind: &str, material: &str, args: &[u64]) -> Option<T>
    where
        T: redis::FromRedisValue + Send,
    {
        let mut eval = redis::cmd("EVAL");
        eval.arg(script).arg(1).arg(self.key(kind, material));
        for arg in args {
            eval.arg(*arg);
        }
        self.run(|mut c| async move { eval.query_async(&mut c).await })
            .await
    }

    /// `SET key value PX millis`; a failure is only counted (see [`SharedStore::run`]).
    async fn set_px(&self, key: String, value: Vec<u8>, millis: u64) {
        let set = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .clone();
        let _: Option<()> = self
            .run(|mut c| async move { set.query_async(&mut c).await })
            .await;
    }

    /// `<prefix><kind>:<hex sha256(material)>`.
    fn key(&self, kind: &str, material: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, material.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{kind}:{hex}", self.prefix)
    }

    /// Run one operation under the timeout; `None` (after recording the failure) when Redis is
    /// paused, unreachable, slow or answers with an error.
    async fn run<T, F, Fut>(&self, operation: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.paused() {
            return None;
        }
        let call = async { operation(self.connection().await?).await };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within redis_timeout_ms");
                None
            }
        }
    }

    async fn connection(&self) -> RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(PAUSE_AFTER_ERROR);
        self.connection
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    fn paused(&self) -> bool {
        self.health
            .lock()
            .ok()
            .and_then(|h| h.paused_until)
            .is_some_and(|until| Instant::now() < until)
    }

    fn failed(&self, reason: &str) {
        self.metrics.redis_errors.fetch_add(1, Ordering::Relaxed);
        let Ok(mut health) = self.health.lock() else {
            return;
        };
        let now = Instant::now();
        health.paused_until = Some(now + PAUSE_AFTER_ERROR);
        if health
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            health.last_warning = Some(now);
            tracing::warn!(
                reason,
                "Redis unavailable; serving from this replica's own cache and limits"
            );
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `CGA2`, the lifetime in ms the value was written with (u64), the generation (u64), status (u16), header count
/// (u16), per header name length (u16) + name + value length (u32) + value, then the body.
/// Big-endian throughout.
pub fn encode_answer(fetched: &Fetched, keep_for_ms: u64, generation: u64) -> Vec<u8> {
    let headers: Vec<(&HeaderName, &HeaderValue)> = fetched
        .headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .collect();
    let mut out = Vec::with_capacity(fetched.body.len() + 64);
    out.extend_from_slice(ANSWER_TAG);
    out.extend_from_slice(&keep_for_ms.to_be_bytes());
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&fetched.status.to_be_bytes());
    out.extend_from_slice(&(headers.len() as u16).to_be_bytes());
    for (name, value) in headers {
        out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&fetched.body);
    out
}

/// The answer, the lifetime and the generation it was written with, or `None` for anything not
/// written by [`encode_answer`] (another format version, a cut value, invalid header bytes).
pub fn decode_answer(bytes: &[u8]) -> Option<(Fetched, u64, u64)> {
    let mut reader = Reader(bytes);
    if reader.take(ANSWER_TAG.len())? != ANSWER_TAG {
        return None;
    }
    let keep_for_ms = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
    let generation = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
    let status = u16::from_be_bytes(reader.take(2)?.try_into().ok()?);
    let count = u16::from_be_bytes(reader.take(2)?.try_into().ok()?);
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let name_len = u16::from_be_bytes(reader.take(2)?.try_into().ok()?);
        let name = HeaderName::from_bytes(reader.take(usize::from(name_len))?).ok()?;
        let value_len = u32::from_be_bytes(reader.take(4)?.try_into().ok()?);
        let value = HeaderValue::from_bytes(reader.take(usize::try_from(value_len).ok()?)?).ok()?;
        headers.append(name, value);
    }
    let fetched = Fetched {
        status,
        headers,
        body: Bytes::copy_from_slice(reader.0),
    };
    Some((fetched, keep_for_ms, generation))
}

/// A cursor over a stored value that fails instead of reading past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Fetched {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append(
            "link",
            HeaderValue::from_static("<https://x/a?after=1>; rel=\"next\""),
        );
        headers.append(
            "link",
            HeaderValue::from_static("<https://x/a>; rel=\"first\""),
        );
        headers.insert("set-cookie", HeaderValue::from_static("session=secret"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("7"));
        Fetched {
            status: 200,
            headers,
            body: Bytes::from_static(b"[{\"_id\":\"65f0\"}]"),
        }
    }

    #[test]
    fn answers_round_trip_with_the_headers_adapters_read() {
        let encoded = encode_answer(&answer(), 90_000, 7);
        let (decoded, keep_for_ms, generation) = decode_answer(&encoded).expect("decodes");
        assert_eq!(keep_for_ms, 90_000);
        assert_eq!(generation, 7);
        assert_eq!(decoded.status, 200);
        assert_eq!(decoded.body, answer().body);
        assert_eq!(
            decoded.next_link().as_deref(),
            Some("https://x/a?after=1"),
            "Link survives, so paging works from a shared answer"
        );
        assert_eq!(decoded.headers.get_all("link").iter().count(), 2);
        assert_eq!(decoded.headers["content-type"], "application/json");
        assert!(
            decoded.headers.get("set-cookie").is_none(),
            "allow-list only"
        );
        assert!(decoded.headers.get("x-ratelimit-remaining").is_none());
    }

    #[test]
    fn empty_bodies_and_no_headers_round_trip() {
        let fetched = Fetched {
            status: 204,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        let (decoded, _, _) = decode_answer(&encode_answer(&fetched, 0, 0)).expect("decodes");
        assert_eq!(decoded.status, 204);
        assert!(decoded.body.is_empty() && decoded.headers.is_empty());
    }

    #[test]
    fn foreign_or_damaged_values_read_as_misses() {
        let encoded = encode_answer(&answer(), 5, 0);
        assert!(decode_answer(b"").is_none());
        assert!(decode_answer(b"CGA1rest").is_none(), "other format version");
        let header_end = 4 + 8 + 8 + 2 + 2 + 2 + "content-type".len() + 4 + 3;
        assert!(
            decode_answer(&encoded[..header_end]).is_none(),
            "cut inside the headers"
        );
        let mut bad_name = encoded.clone();
        bad_name[4 + 8 + 8 + 2 + 2 + 2] = b' ';
        assert!(decode_answer(&bad_name).is_none(), "invalid header name");
    }

    #[test]
    fn keys_hide_their_material_and_carry_the_prefix() {
        let store = SharedStore {
            client: redis::Client::open("redis://127.0.0.1:1").expect("valid url"),
            connection: tokio::sync::OnceCell::new(),
            prefix: "cg:".into(),
            timeout: Duration::from_millis(100),
            metrics: Arc::new(Metrics::default()),
            health: Mutex::new(Health::default()),
        };
        let key = store.key(
            "answer",
            "CELIGO|0123abcd|https://api.integrator.io/v1/flows",
        );
        assert!(key.starts_with("cg:answer:"), "{key}");
        assert_eq!(key.len(), "cg:answer:".len() + 64);
        assert!(!key.contains("integrator"));
        assert_ne!(
            key,
            store.key(
                "answer",
                "CELIGO|0123abce|https://api.integrator.io/v1/flows"
            )
        );
    }
}
