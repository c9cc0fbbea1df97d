//! The one upstream HTTP path every adapter uses (DESIGN.md §5).
//!
//! It owns auth header injection, the per-call timeout, the response size cap, per-request
//! de-duplication of identical calls, JSON decoding into wire structs, and the mapping of every
//! failure onto a DESIGN.md §6 code. Adapters build URLs with [`Upstream::url`] (which
//! percent-encodes path segments) and never talk to `reqwest` themselves.

use super::resilience::{full_jitter, Breaker, RetryBudget};
use crate::cache::{CachedAnswer, ResponseCache};
use crate::domain::Source;
use crate::error::{truncate_message, ErrorCode, SharedError, SourceError};
use crate::metrics::{route_label, Metrics};
use crate::shared_store::{HintKind, SharedStore};
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;
use url::Url;

/// Largest upstream body accepted; anything larger is `UPSTREAM_BAD_RESPONSE`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How an adapter authenticates.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// Fixed headers (Rocket.Chat's `X-Auth-Token` + `X-User-Id`).
    Headers(Vec<(http::HeaderName, SecretString)>),
    /// `Authorization: Bearer <token>` with a token the adapter obtains and replaces at run
    /// time (Hexabase login, DealCloud OAuth2); no header until it has one.
    Dynamic(Arc<DynamicToken>),
}

/// A successful upstream answer, kept whole so de-duplicated callers can share it.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Fetched {
    /// The `rel="next"` target of a `Link` header, if any.
    pub fn next_link(&self) -> Option<String> {
        self.headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_next_link)
    }
}

/// Extract `<url>; rel="next"` from one `Link` header value (which may list several links).
pub fn parse_next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| target.to_string())
    })
}

type SharedFetch = Shared<BoxFuture<'static, Result<(Arc<Fetched>, bool), SharedError>>>;
type SharedAttempt = Shared<BoxFuture<'static, Result<Arc<Fetched>, SharedError>>>;

/// Per-GraphQL-request state: identical upstream calls within one request are made once, and
/// warnings collected here end up in the response's `extensions.warnings`.
#[derive(Default)]
pub struct RequestScope {
    inflight: Mutex<HashMap<String, SharedFetch>>,
    warnings: Mutex<Vec<String>>,
    deadline: Option<Instant>,
    credentials: CallerCredentials,
}

/// A caller's own credential for one source, read from request headers (multi-tenant use,
/// `credential_header` in the config). It is sent instead of the configured credentials, and
/// its fingerprint replaces theirs in every cache and single-flight key, so answers fetched
/// with one caller's credential never reach another caller.
pub struct CallerCredential {
    token: SecretString,
    user_id: Option<String>,
    identity: String,
}

impl CallerCredential {
    /// A credential for the upstream at `base_url`: a token (bearer, or Rocket.Chat's
    /// `X-Auth-Token`) and, for Rocket.Chat, the user id that goes with it.
    pub fn new(base_url: &str, token: SecretString, user_id: Option<String>) -> Self {
        crate::redact::remember(token.expose_secret());
        let identity = secret_fingerprint(&[
            "caller",
            base_url,
            token.expose_secret(),
            user_id.as_deref().unwrap_or_default(),
        ]);
        CallerCredential {
            token,
            user_id,
            identity,
        }
    }

    /// The fingerprint that keys cached answers fetched with this credential.
    pub fn identity(&self) -> &str {
        &self.identity
    }
}

impl std::fmt::Debug for CallerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerCredential")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The callers' credentials of one request (or subscription), by source.
#[derive(Clone, Debug, Default)]
pub struct CallerCredentials {
    by_source: Vec<(Source, Arc<CallerCredential>)>,
}

impl CallerCredentials {
    /// Add the credential for `source` (replacing any earlier one).
    pub fn insert(&mut self, source: Source, credential: CallerCredential) {
        self.by_source.retain(|(s, _)| *s != source);
        self.by_source.push((source, Arc::new(credential)));
    }

    /// The caller's credential for `source`, if the request carried one.
    pub fn get(&self, source: Source) -> Option<&Arc<CallerCredential>> {
        self.by_source
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, c)| c)
    }

    /// Whether no source has a caller credential.
    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    /// Every credential's fingerprint, in a stable order: part of the keys of anything shared
    /// between requests (request de-duplication, subscription pollers).
    pub fn identities(&self) -> String {
        let mut parts: Vec<String> = self
            .by_source
            .iter()
            .map(|(s, c)| format!("{}={}", s.as_str(), c.identity))
            .collect();
        parts.sort();
        parts.join(",")
    }
}

/// A collision-resistant fingerprint (SHA-256, first 128 bits, hex) of secret material: cache
/// keys derived from it must not be forgeable by a caller choosing its own credential.
pub fn secret_fingerprint(parts: &[&str]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part.as_bytes());
    }
    let digest = context.finish();
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RequestScope {
    /// A fresh scope for one GraphQL request without a deadline (tools and tests).
    pub fn new() -> Arc<Self> {
        Arc::new(RequestScope::default())
    }

    /// Record a response-level warning (de-duplicated).
    pub fn warn(&self, warning: impl Into<String>) {
        let warning = warning.into();
        if let Ok(mut list) = self.warnings.lock() {
            if !list.contains(&warning) {
                list.push(warning);
            }
        }
    }

    /// The warnings recorded so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A fresh scope whose calls use the callers' own credentials where the request carried
    /// them, and must finish by `deadline` when one is given.
    pub fn for_caller(deadline: Option<Instant>, credentials: CallerCredentials) -> Arc<Self> {
        Arc::new(RequestScope {
            deadline,
            credentials,
            ..RequestScope::default()
        })
    }

    /// The caller's own credential for `source`, if the request carried one.
    pub fn credential(&self, source: Source) -> Option<&Arc<CallerCredential>> {
        self.credentials.get(source)
    }

    /// Forget every read made so far in this request, so a read after a write (a mutation's
    /// answer, the next mutation of the same operation) goes upstream instead of reusing an
    /// answer from before the write.
    pub fn forget_reads(&self) {
        if let Ok(mut inflight) = self.inflight.lock() {
            inflight.clear();
        }
    }
}

/// Counts upstream calls per source, for `/metrics`, `Query.sources` and benchmarks.
#[derive(Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    last_error: Mutex<Option<(ErrorCode, String)>>,
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

    fn record(&self, outcome: Result<(), &SourceError>) {
        self.record_as(outcome, false);
    }

    /// Record an outcome; `caller` when it was reached with a caller's own credential, whose
    /// rejection (one tenant's bad token) says nothing about the source's health either.
    fn record_as(&self, outcome: Result<(), &SourceError>, caller: bool) {
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
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

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
    inflight: Mutex<HashMap<String, SharedAttempt>>,
    hints: Mutex<RateHints>,
    /// Redis shared with other replicas (second-level cache, pause hints), if configured.
    shared: Option<Arc<SharedStore>>,
    /// Counts writes: a read that started before a write neither fills the cache nor is shared
    /// with reads that start after it.
    writes: AtomicU64,
}

/// What the upstream last said about its rate limit.
#[derive(Default, Clone, Copy)]
struct RateHints {
    remaining: Option<i64>,
    retry_until: Option<Instant>,
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
            inflight: Mutex::new(HashMap::new()),
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

    fn note_headers(&self, headers: &HeaderMap) {
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

    fn note_retry_after(&self, seconds: Option<u64>) {
        if let (Some(seconds), Ok(mut hints)) = (seconds, self.hints.lock()) {
            hints.retry_until = Some(Instant::now() + Duration::from_secs(seconds));
        }
    }
}

struct Inner {
    source: Source,
    client: reqwest::Client,
    base: Url,
    auth: Auth,
    timeout: Duration,
    max_body_bytes: usize,
    stats: Arc<CallStats>,
    policy: OnceLock<Arc<Policy>>,
    /// Set when the source has no credentials of its own: the header a caller must send.
    caller_header: OnceLock<String>,
}

/// One configured upstream: base URL, credentials and limits.
pub struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    /// Build the upstream for one source. Fails only on an unusable base URL.
    pub fn new(
        source: Source,
        client: reqwest::Client,
        base_url: &str,
        auth: Auth,
        timeout: Duration,
    ) -> Result<Self, SourceError> {
        let base = Url::parse(base_url.trim_end_matches('/')).map_err(|_| {
            SourceError::internal(format!("{}: invalid base_url", source.config_key()))
        })?;
        Ok(Upstream {
            inner: Arc::new(Inner {
                source,
                client,
                base,
                auth,
                timeout,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                stats: Arc::new(CallStats::default()),
                policy: OnceLock::new(),
                caller_header: OnceLock::new(),
            }),
        })
    }

    /// Attach the source's cache, retry, breaker and concurrency policy (once; later calls
    /// are ignored). Without one, every call is a single plain attempt.
    pub fn install(&self, policy: Arc<Policy>) {
        let _ = self.inner.policy.set(policy);
    }

    /// Make every call need the caller's own credential (sent in `header`): the source has no
    /// configured credentials to fall back on. Calls without one fail `UNAUTHENTICATED`.
    pub fn require_caller_credential(&self, header: &str) {
        let _ = self.inner.caller_header.set(header.to_string());
    }

    /// The credential a call in `scope` is made with: the caller's own, or `None` for the
    /// configured one. Fails when the source has none configured and the caller sent none.
    pub fn caller_credential(
        &self,
        scope: &RequestScope,
    ) -> Result<Option<Arc<CallerCredential>>, SourceError> {
        let source = self.inner.source;
        match (scope.credential(source), self.inner.caller_header.get()) {
            (Some(credential), _) => Ok(Some(credential.clone())),
            (None, None) => Ok(None),
            (None, Some(header)) => Err(SourceError::upstream(
                source,
                ErrorCode::Unauthenticated,
                format!(
                    "{} is read with each caller's own credentials: send them in the `{header}` header",
                    source.as_str()
                ),
            )),
        }
    }

    /// The installed policy, if any.
    pub fn policy(&self) -> Option<&Arc<Policy>> {
        self.inner.policy.get()
    }

    /// Which source this is.
    pub fn source(&self) -> Source {
        self.inner.source
    }

    /// Call counters for this upstream.
    pub fn stats(&self) -> &CallStats {
        &self.inner.stats
    }

    /// Build `<base>/<segments…>?<query>`; each segment is percent-encoded as one path
    /// segment, so an id can never change the route (DESIGN.md §4).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Accept a URL an upstream handed back (a `Link` target) only if it points at the same
    /// origin, so a hostile upstream cannot make Chronograph send credentials elsewhere.
    pub fn follow(&self, link: &str) -> Result<Url, SourceError> {
        let url = self
            .inner
            .base
            .join(link)
            .map_err(|_| self.bad_response("unusable Link header"))?;
        if url.origin() != self.inner.base.origin() {
            return Err(self.bad_response("Link header points at another origin"));
        }
        Ok(url)
    }

    /// GET `url`, shared with any identical call already made in this request.
    pub async fn get(&self, scope: &RequestScope, url: Url) -> Result<Arc<Fetched>, SharedError> {
        self.get_with(scope, url, CallOptions::default()).await
    }

    /// GET `url` with explicit options (see [`CallOptions::SIDE_EFFECT`]). Within one request
    /// an identical URL is fetched once whatever the options.
    pub async fn get_with(
        &self,
        scope: &RequestScope,
        url: Url,
        options: CallOptions,
    ) -> Result<Arc<Fetched>, SharedError> {
        let credential = self.caller_credential(scope).map_err(Arc::new)?;
        let generation = match &self.inner.auth {
            Auth::Dynamic(slot) if credential.is_none() => slot.generation(),
            _ => 0,
        };
        let key = if options.keep_status || generation > 0 {
            format!("keep={} token={generation} {url}", options.keep_status)
        } else {
            url.as_str().to_string()
        };
        let shared = {
            let mut inflight = scope
                .inflight
                .lock()
                .map_err(|_| Arc::new(SourceError::internal("request state poisoned")))?;
            inflight
                .entry(key)
                .or_insert_with(|| {
                    fetch(self.inner.clone(), url, options, scope.deadline, credential)
                        .boxed()
                        .shared()
                })
                .clone()
        };
        let (fetched, stale) = shared.await?;
        if stale {
            scope.warn(format!(
                "{} is failing: some data was served from the cache and may be out of date",
                self.inner.source.as_str()
            ));
        }
        Ok(fetched)
    }

    /// GET and decode JSON into a wire struct.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        scope: &RequestScope,
        url: Url,
    ) -> Result<(T, Arc<Fetched>), SharedError> {
        let fetched = self.get(scope, url).await?;
        let value = self.decode(&fetched).map_err(Arc::new)?;
        Ok((value, fetched))
    }

    /// Decode a body, mapping any mismatch to `UPSTREAM_BAD_RESPONSE`. An empty 204 decodes as
    /// JSON `[]` (Celigo answers empty lists that way).
    pub fn decode<T: DeserializeOwned>(&self, fetched: &Fetched) -> Result<T, SourceError> {
        let body: &[u8] = if fetched.status == 204 && fetched.body.is_empty() {
            b"[]"
        } else {
            &fetched.body
        };
        serde_json::from_slice(body).map_err(|err| {
            tracing::warn!(source = self.inner.source.as_str(), error = %crate::redact::scrub(&err.to_string()), "upstream body not in the documented shape");
            let what = if err.is_eof() { "was cut short" } else { "is not in the documented shape" };
            self.bad_response(&format!("response body {what}"))
        })
    }

    /// GET for a call with a read side effect (Hexabase item history marks entries read): it
    /// is never retried, cached or shared across requests. Identical calls within one request
    /// (same URL, same token generation) are still made once. Any HTTP status comes back as
    /// is, so the adapter can log in again on a 401 (a rejected call read nothing); pass the
    /// answer to [`Upstream::check`] for the rest.
    pub async fn get_no_retry(
        &self,
        scope: &RequestScope,
        url: Url,
    ) -> Result<Arc<Fetched>, SharedError> {
        let options = CallOptions {
            keep_status: true,
            ..CallOptions::SIDE_EFFECT
        };
        self.get_with(scope, url, options).await
    }

    /// GET of an idempotent call that returns any HTTP status as is (after retries of
    /// transient failures), so an adapter with a run-time token can refresh it on a 401 and
    /// repeat the call once (the new token generation makes it a new call).
    pub async fn get_any_status(
        &self,
        scope: &RequestScope,
        url: Url,
    ) -> Result<Arc<Fetched>, SharedError> {
        let options = CallOptions {
            cache: false,
            keep_status: true,
            ..CallOptions::default()
        };
        self.get_with(scope, url, options).await
    }

    /// POST a JSON body with no `Authorization` header: credential exchanges (Hexabase
    /// login). Never shared and never retried; any HTTP status comes back as is.
    pub async fn post_json(
        &self,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<Arc<Fetched>, SharedError> {
        let request = self
            .inner
            .client
            .post(url)
            .timeout(self.inner.timeout)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.send_once(request).await
    }

    /// POST an `application/x-www-form-urlencoded` body with no `Authorization` header:
    /// OAuth2 token requests (DealCloud). Never shared and never retried; any HTTP status
    /// comes back as is.
    pub async fn post_form(
        &self,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<Arc<Fetched>, SharedError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .inner
            .client
            .post(url)
            .timeout(self.inner.timeout)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send_once(request).await
    }

    /// Map an answer of the any-status calls onto DESIGN.md §6 (every non-2xx is an error,
    /// exactly as `get` maps it) and record the outcome in the source's health.
    pub fn check(&self, fetched: Arc<Fetched>) -> Result<Arc<Fetched>, SharedError> {
        self.check_as(fetched, false)
    }

    /// [`Upstream::check`] for an answer to a call made in `scope`: made with a caller's own
    /// credential, its rejection is that caller's problem, not the source's health.
    pub fn check_for(
        &self,
        scope: &RequestScope,
        fetched: Arc<Fetched>,
    ) -> Result<Arc<Fetched>, SharedError> {
        self.check_as(fetched, scope.credential(self.inner.source).is_some())
    }

    fn check_as(&self, fetched: Arc<Fetched>, caller: bool) -> Result<Arc<Fetched>, SharedError> {
        match status_failure(self.inner.source, &fetched) {
            None => {
                self.inner.stats.record(Ok(()));
                Ok(fetched)
            }
            Some(err) => {
                self.inner.stats.record_as(Err(&err), caller);
                Err(Arc::new(err))
            }
        }
    }

    /// One request outside the GET path (credential exchanges), counted in the stats.
    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Arc<Fetched>, SharedError> {
        self.inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = receive(self.inner.source, request, self.inner.max_body_bytes).await;
        if let Err(err) = &result {
            self.inner.stats.failures.fetch_add(1, Ordering::Relaxed);
            self.inner.stats.record(Err(err));
        }
        result.map(Arc::new).map_err(Arc::new)
    }

    fn bad_response(&self, what: &str) -> SourceError {
        SourceError::upstream(
            self.inner.source,
            ErrorCode::UpstreamBadResponse,
            format!("{} {what}", self.inner.source.as_str()),
        )
    }

    /// Send one write (`POST`, `PUT`, `PATCH`, `DELETE`) with an optional JSON body and the
    /// source's credentials. A write changes upstream state, so it is never retried (not on a
    /// 429, a 5xx or a timeout either: the first attempt may have been applied), never cached
    /// and never shared; an open breaker refuses it with `UPSTREAM_UNAVAILABLE`. A non-2xx
    /// answer maps onto DESIGN.md §6 as a read's does, and a 400/422 also names the field the
    /// vendor rejected. Afterwards this request forgets what it read before, and reads that
    /// started before the write no longer fill the cache; the adapter drops the cached answers
    /// the write changed with [`Upstream::invalidate`].
    pub async fn send_write(
        &self,
        scope: &RequestScope,
        method: http::Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Arc<Fetched>, SharedError> {
        let inner = &self.inner;
        let credential = self.caller_credential(scope).map_err(Arc::new)?;
        let policy = inner.policy.get();
        let permit = match policy {
            Some(policy) => Some(admit(inner.source, policy, scope.deadline).await?),
            None => None,
        };
        let result = attempt_request(
            inner,
            method,
            &url,
            body,
            scope.deadline,
            credential.as_deref(),
            policy,
        )
        .await;
        drop(permit);
        scope.forget_reads();
        if let Some(policy) = policy {
            policy.writes.fetch_add(1, Ordering::AcqRel);
        }
        let outcome = result.and_then(|fetched| match status_failure(inner.source, &fetched) {
            None => Ok(fetched),
            Some(err) => Err(with_rejected_field(err, &fetched.body)),
        });
        inner
            .stats
            .record_as(outcome.as_ref().map(|_| ()), credential.is_some());
        if let Some(policy) = policy {
            match &outcome {
                Ok(fetched) => {
                    policy.note_headers(&fetched.headers);
                    policy.breaker.success();
                }
                Err(err) => match err.code {
                    ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout => {
                        policy.breaker.failure()
                    }
                    ErrorCode::UpstreamRateLimited => {
                        policy.note_retry_after(err.retry_after_seconds)
                    }
                    _ => policy.breaker.success(),
                },
            }
        }
        outcome.map(Arc::new).map_err(Arc::new)
    }

    /// Drop the cached answers of `url` and of its `Link`-paged continuations (`url?…`), and
    /// with `subtree` of everything under it (`url/…`), for the credentials `scope` reads with:
    /// what a write changed must be read again. Shared (Redis) answers of these credentials
    /// are all dropped at once, on every replica.
    pub async fn invalidate(&self, scope: &RequestScope, url: &Url, subtree: bool) {
        let Some(policy) = self.inner.policy.get() else {
            return;
        };
        if let Some(shared) = &policy.shared {
            let call = Call {
                url: url.clone(),
                deadline: None,
                credential: scope.credential(self.inner.source).cloned(),
            };
            shared
                .invalidate(&hint_scope(self.inner.source, policy, &call))
                .await;
        }
        let Some(cache) = &policy.cache else {
            return;
        };
        let credential = scope.credential(self.inner.source);
        let exact = format!(
            "{}{url}",
            cache_key(&self.inner, policy, credential.map(Arc::as_ref))
        );
        let paged = format!("{exact}?");
        let below = format!("{exact}/");
        cache.invalidate_where(move |key| {
            key == exact || key.starts_with(&paged) || (subtree && key.starts_with(&below))
        });
    }
}

impl Fetched {
    /// Whether the upstream refused the credentials with a 401 (a login or an OAuth2 token
    /// may have expired; a 403 is a permission problem a new token does not fix).
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// A bearer token an adapter obtains at run time and may replace (a Hexabase login, a
/// DealCloud OAuth2 token). The generation counts replacements, so a caller that saw a token
/// rejected can tell whether someone else already replaced it, and calls made with different
/// tokens are never de-duplicated into one.
#[derive(Default)]
pub struct DynamicToken {
    state: Mutex<(u64, Option<SecretString>)>,
}

impl DynamicToken {
    /// A slot holding a configured token, or nothing until the adapter obtains one.
    pub fn new(initial: Option<SecretString>) -> Arc<Self> {
        Arc::new(DynamicToken {
            state: Mutex::new((0, initial)),
        })
    }

    /// How many times the token was replaced.
    pub fn generation(&self) -> u64 {
        self.state.lock().map(|s| s.0).unwrap_or(0)
    }

    /// Whether there is a token to send.
    pub fn is_set(&self) -> bool {
        self.state.lock().map(|s| s.1.is_some()).unwrap_or(false)
    }

    /// Install a new token and return its generation.
    pub fn replace(&self, token: SecretString) -> u64 {
        crate::redact::remember(token.expose_secret());
        match self.state.lock() {
            Ok(mut state) => {
                state.0 += 1;
                state.1 = Some(token);
                state.0
            }
            Err(_) => 0,
        }
    }

    fn bearer(&self) -> Option<SecretString> {
        self.state.lock().ok().and_then(|s| s.1.clone())
    }
}

/// Serve one GET: cache, then (shared) attempts, then stale-if-error. Returns the answer and
/// whether it is a stale one.
async fn fetch(
    inner: Arc<Inner>,
    url: Url,
    options: CallOptions,
    deadline: Option<Instant>,
    credential: Option<Arc<CallerCredential>>,
) -> Result<(Arc<Fetched>, bool), SharedError> {
    let call = Call {
        url,
        deadline,
        credential,
    };
    let Some(policy) = inner.policy.get().cloned() else {
        let result = attempt(&inner, &call, None).await.and_then(|fetched| {
            match status_failure(inner.source, &fetched) {
                Some(err) if !options.keep_status => Err(err),
                _ => Ok(fetched),
            }
        });
        inner
            .stats
            .record_as(result.as_ref().map(|_| ()), call.credential.is_some());
        return result.map(|f| (Arc::new(f), false)).map_err(Arc::new);
    };
    let key = format!(
        "{}{}",
        cache_key(&inner, &policy, call.credential.as_deref()),
        call.url
    );
    let epoch = policy.writes.load(Ordering::Acquire);
    let cache = policy.cache.as_ref().filter(|_| options.cache);
    let cached = match cache {
        Some(cache) => cache.get(&key).await,
        None => None,
    };
    if let Some(hit) = cached
        .as_ref()
        .filter(|c| c.stored_at.elapsed() < policy.ttl)
    {
        policy.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok((hit.fetched.clone(), false));
    }
    if cache.is_some() {
        policy.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
    }
    let keeps = !(policy.ttl + policy.stale_if_error).is_zero();
    let shared = policy.shared.as_ref().filter(|_| options.cache && keeps);
    let (cached, generation) = match shared {
        Some(shared) => {
            let scope = hint_scope(inner.source, &policy, &call);
            match second_level(shared, &policy, cache, &key, &scope, cached).await {
                ControlFlow::Break(fresh) => return Ok((fresh, false)),
                ControlFlow::Continue(found) => found,
            }
        }
        None => (cached, None),
    };
    let result = if options.share {
        shared_attempts(
            inner.clone(),
            policy.clone(),
            format!("{key}#{epoch}"),
            call,
            options,
        )
        .await
    } else {
        attempts(inner.clone(), policy.clone(), call, options).await
    };
    match result {
        Ok(fetched) => {
            // A read that started before a write may hold the old state: serve it, keep it not.
            let keep = policy.writes.load(Ordering::Acquire) == epoch
                && (200..300).contains(&fetched.status);
            if let (Some(shared), Some(generation)) = (shared.filter(|_| keep), generation) {
                let keep_for = policy.ttl + policy.stale_if_error;
                shared
                    .store_answer(&key, generation, &fetched, keep_for)
                    .await;
            }
            if let Some(cache) = cache.filter(|_| keep) {
                cache
                    .insert(key, fetched.clone(), policy.ttl, policy.stale_if_error)
                    .await;
            }
            Ok((fetched, false))
        }
        Err(err) if is_upstream_failure(&err) => match cached {
            Some(stale) => {
                policy
                    .metrics
                    .cache_stale_served
                    .fetch_add(1, Ordering::Relaxed);
                Ok((stale.fetched, true))
            }
            None => Err(err),
        },
        Err(err) => Err(err),
    }
}

/// Failures that say the source is unwell (as opposed to "your request was wrong").
fn is_upstream_failure(err: &SourceError) -> bool {
    matches!(
        err.code,
        ErrorCode::UpstreamUnavailable
            | ErrorCode::UpstreamTimeout
            | ErrorCode::UpstreamRateLimited
            | ErrorCode::UpstreamBadResponse
    )
}

/// One in-flight call per (credentials, URL) across all concurrent requests.
async fn shared_attempts(
    inner: Arc<Inner>,
    policy: Arc<Policy>,
    key: String,
    call: Call,
    options: CallOptions,
) -> Result<Arc<Fetched>, SharedError> {
    let shared = {
        let mut inflight = policy
            .inflight
            .lock()
            .map_err(|_| Arc::new(SourceError::internal("upstream state poisoned")))?;
        match inflight.get(&key) {
            Some(existing) => existing.clone(),
            None => {
                let owner = policy.clone();
                let done_key = key.clone();
                let call = async move {
                    let result = attempts(inner, owner.clone(), call, options).await;
                    if let Ok(mut inflight) = owner.inflight.lock() {
                        inflight.remove(&done_key);
                    }
                    result
                }
                .boxed()
                .shared();
                inflight.insert(key, call.clone());
                call
            }
        }
    };
    shared.await
}

/// Attempts under the breaker, the concurrency limit, the retry policy and the deadline.
async fn attempts(
    inner: Arc<Inner>,
    policy: Arc<Policy>,
    call: Call,
    options: CallOptions,
) -> Result<Arc<Fetched>, SharedError> {
    let deadline = call.deadline;
    let source = inner.source;
    if let Err(err) = shared_pause(source, &policy, &call, deadline).await {
        inner.stats.record(Err(&err));
        return Err(Arc::new(err));
    }
    let _permit = admit(source, &policy, deadline).await?;
    let mut attempt_no = 0u32;
    loop {
        let result = attempt(&inner, &call, Some(&policy)).await;
        let (err, answer) = match result {
            Ok(fetched) => match status_failure(source, &fetched) {
                None => {
                    inner.stats.record(Ok(()));
                    policy.breaker.success();
                    policy.budget.earn();
                    policy.note_headers(&fetched.headers);
                    return Ok(Arc::new(fetched));
                }
                Some(err) => (err, Some(fetched)),
            },
            Err(err) => (err, None),
        };
        inner.stats.record_as(Err(&err), call.credential.is_some());
        if let Some(answer) = &answer {
            policy.note_headers(&answer.headers);
        }
        let give_up = |err: SourceError, answer: Option<Fetched>| match answer {
            Some(answer) if options.keep_status => Ok(Arc::new(answer)),
            _ => Err(Arc::new(err)),
        };
        match err.code {
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout => policy.breaker.failure(),
            ErrorCode::UpstreamRateLimited => policy.note_retry_after(err.retry_after_seconds),
            _ => policy.breaker.success(),
        }
        publish_pause(source, &policy, &call, &err).await;
        let retryable = options.retry
            && attempt_no < policy.retries
            && matches!(
                err.code,
                ErrorCode::UpstreamUnavailable
                    | ErrorCode::UpstreamTimeout
                    | ErrorCode::UpstreamRateLimited
            );
        if !retryable {
            return give_up(err, answer);
        }
        let wait = match err.retry_after_seconds {
            Some(seconds) => Duration::from_secs(seconds),
            None => full_jitter(attempt_no, Duration::from_millis(50), MAX_RETRY_WAIT),
        };
        let fits = wait <= MAX_RETRY_WAIT && remaining(deadline).is_none_or(|left| wait < left);
        if !fits || !policy.budget.try_take() || !policy.breaker.admit() {
            return give_up(err, answer);
        }
        policy.metrics.retry(source);
        tracing::debug!(
            source = source.as_str(),
            attempt = attempt_no + 1,
            wait_ms = wait.as_millis() as u64,
            "retrying upstream call"
        );
        tokio::time::sleep(wait).await;
        attempt_no += 1;
    }
}

/// Look an in-process miss up in Redis. A fresh shared answer fills the in-process cache and
/// is served (`Break`); otherwise the younger of the in-process and the shared stale entry is
/// kept as the stale-if-error fallback (`Continue`). Freshness is the shared answer's age (by
/// Redis's clock, see `shared_store`) against this source's TTL, as for an in-process entry.
async fn second_level(
    shared: &SharedStore,
    policy: &Policy,
    cache: Option<&ResponseCache>,
    key: &str,
    scope: &str,
    cached: Option<CachedAnswer>,
) -> ControlFlow<Arc<Fetched>, (Option<CachedAnswer>, Option<u64>)> {
    let Some((stored, generation)) = shared.answer(key, scope).await else {
        return ControlFlow::Continue((cached, None));
    };
    let stored = stored.and_then(|stored| {
        let fetched = Arc::new(stored.fetched);
        CachedAnswer::aged(fetched, stored.age, policy.ttl, policy.stale_if_error)
    });
    let Some(stored) = stored else {
        policy
            .metrics
            .cache_l2_misses
            .fetch_add(1, Ordering::Relaxed);
        return ControlFlow::Continue((cached, Some(generation)));
    };
    if stored.stored_at.elapsed() < policy.ttl {
        policy.metrics.cache_l2_hits.fetch_add(1, Ordering::Relaxed);
        let fresh = stored.fetched.clone();
        if let Some(cache) = cache {
            cache.insert_answer(key.to_string(), stored).await;
        }
        return ControlFlow::Break(fresh);
    }
    policy
        .metrics
        .cache_l2_misses
        .fetch_add(1, Ordering::Relaxed);
    let younger = match cached {
        Some(local) if local.stored_at >= stored.stored_at => local,
        _ => stored,
    };
    ControlFlow::Continue((Some(younger), Some(generation)))
}

/// What pause hints are about: one source under one set of credentials.
fn hint_scope(source: Source, policy: &Policy, call: &Call) -> String {
    let identity = call
        .credential
        .as_ref()
        .map_or(policy.identity.as_str(), |c| c.identity());
    format!("{}|{}", source.as_str(), identity)
}

/// Before calling an upstream, honour a pause any replica (this one included) recorded in
/// Redis: a rate-limit wait that fits [`MAX_RETRY_WAIT`] and the deadline is waited out, as a
/// `Retry-After` would be; a longer one is `UPSTREAM_RATE_LIMITED` with `retryAfterSeconds`, and
/// an open breaker elsewhere is `UPSTREAM_UNAVAILABLE`, both without calling the upstream.
async fn shared_pause(
    source: Source,
    policy: &Policy,
    call: &Call,
    deadline: Option<Instant>,
) -> Result<(), SourceError> {
    let Some(shared) = &policy.shared else {
        return Ok(());
    };
    let Some(hint) = shared.hint(&hint_scope(source, policy, call)).await else {
        return Ok(());
    };
    let seconds = hint.wait.as_millis().div_ceil(1000) as u64;
    let err = match hint.kind {
        HintKind::RateLimited => {
            policy.note_retry_after(Some(seconds));
            let fits = remaining(deadline).is_none_or(|left| hint.wait < left);
            if hint.wait <= MAX_RETRY_WAIT && fits {
                tokio::time::sleep(hint.wait).await;
                return Ok(());
            }
            SourceError::upstream(
                source,
                ErrorCode::UpstreamRateLimited,
                format!(
                    "{} rate limit reached; calls are paused until its wait is over",
                    source.as_str()
                ),
            )
        }
        HintKind::BreakerOpen => SourceError::upstream(
            source,
            ErrorCode::UpstreamUnavailable,
            format!(
                "{} is failing repeatedly; calls are paused (circuit open, shared between replicas)",
                source.as_str()
            ),
        ),
    };
    policy.metrics.shared_pauses.fetch_add(1, Ordering::Relaxed);
    Err(err.with_retry_after(Some(seconds.max(1))))
}

/// After a failed attempt, share what it taught: a 429's wait, or that the breaker is now open
/// (for the rest of its cooldown).
async fn publish_pause(source: Source, policy: &Policy, call: &Call, err: &SourceError) {
    let Some(shared) = &policy.shared else {
        return;
    };
    let pause = match err.code {
        ErrorCode::UpstreamRateLimited => {
            err.retry_after_seconds.map(|s| (HintKind::RateLimited, s))
        }
        ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout => policy
            .breaker
            .retry_after()
            .map(|s| (HintKind::BreakerOpen, s)),
        _ => None,
    };
    if let Some((kind, seconds)) = pause {
        let scope = hint_scope(source, policy, call);
        shared
            .publish_hint(&scope, kind, Duration::from_secs(seconds))
            .await;
    }
}

/// Pass the breaker and take a slot of the source's concurrency limit before the deadline.
async fn admit(
    source: Source,
    policy: &Policy,
    deadline: Option<Instant>,
) -> Result<tokio::sync::SemaphorePermit<'_>, SharedError> {
    if !policy.breaker.admit() {
        let err = SourceError::upstream(
            source,
            ErrorCode::UpstreamUnavailable,
            format!(
                "{} is failing repeatedly; calls are paused (circuit open)",
                source.as_str()
            ),
        )
        .with_retry_after(policy.breaker.retry_after());
        return Err(Arc::new(err));
    }
    let permit = match remaining(deadline) {
        Some(left) => tokio::time::timeout(left, policy.limiter.acquire())
            .await
            .ok(),
        None => Some(policy.limiter.acquire().await),
    };
    match permit {
        Some(Ok(permit)) => Ok(permit),
        _ => Err(Arc::new(timeout_error(source))),
    }
}

/// The cache key of a GET: the credentials' identity (the caller's own, or the configured
/// ones) keeps tenants apart. `url` is left out to give the prefix of a key.
fn cache_key(inner: &Inner, policy: &Policy, credential: Option<&CallerCredential>) -> String {
    let identity = credential.map_or(policy.identity.as_str(), |c| c.identity());
    format!("{}|{}|", inner.source.as_str(), identity)
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

fn timeout_error(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamTimeout,
        format!(
            "{} did not answer within the request deadline",
            source.as_str()
        ),
    )
}

/// One HTTP attempt with the per-call timeout cut to the request deadline.
async fn attempt(
    inner: &Inner,
    call: &Call,
    policy: Option<&Arc<Policy>>,
) -> Result<Fetched, SourceError> {
    attempt_request(
        inner,
        http::Method::GET,
        &call.url,
        None,
        call.deadline,
        call.credential.as_deref(),
        policy,
    )
    .await
}

/// Longest upstream URL Chronograph sends; vendors refuse far shorter ones than servers
/// accept (Rocket.Chat drops the connection), and no real id comes near it.
const MAX_URL_BYTES: usize = 2_048;

/// One HTTP attempt of any method, counted in the stats and metrics.
async fn attempt_request(
    inner: &Inner,
    method: http::Method,
    url: &Url,
    body: Option<&serde_json::Value>,
    deadline: Option<Instant>,
    credential: Option<&CallerCredential>,
    policy: Option<&Arc<Policy>>,
) -> Result<Fetched, SourceError> {
    // Ids and arguments come from callers: an oversize one is refused here, before any call,
    // so it can neither reach the vendor nor count against the source's health.
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(SourceError::upstream(
            inner.source,
            ErrorCode::BadUserInput,
            format!(
                "an id or argument for {} is too long (the request would be over {MAX_URL_BYTES} bytes)",
                inner.source.as_str()
            ),
        ));
    }
    let timeout = match remaining(deadline) {
        Some(left) if left.is_zero() => return Err(timeout_error(inner.source)),
        Some(left) => inner.timeout.min(left),
        None => inner.timeout,
    };
    let mut request = build_request(inner, method, url.clone(), timeout, credential);
    if let Some(body) = body {
        request = request
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    inner.stats.calls.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let span = tracing::debug_span!("upstream", source = inner.source.as_str(), route = %route_label(url.path()));
    let result = receive(inner.source, request, inner.max_body_bytes)
        .instrument(span)
        .await;
    let elapsed = started.elapsed();
    if let Some(policy) = policy {
        let outcome = match &result {
            Ok(fetched) => fetched.status.to_string(),
            Err(err) => err.code.as_str().to_ascii_lowercase(),
        };
        policy
            .metrics
            .upstream(inner.source, &route_label(url.path()), &outcome, elapsed);
    }
    tracing::debug!(source = inner.source.as_str(), path = %url.path(), ok = result.is_ok(), elapsed_ms = elapsed.as_millis() as u64, "upstream call");
    let failed = match &result {
        Ok(fetched) => !(200..300).contains(&fetched.status),
        Err(_) => true,
    };
    if failed {
        inner.stats.failures.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// One GET to make: where, by when, and with whose credentials.
struct Call {
    url: Url,
    deadline: Option<Instant>,
    /// The caller's own credential; `None` uses the configured ones.
    credential: Option<Arc<CallerCredential>>,
}

fn build_request(
    inner: &Inner,
    method: http::Method,
    url: Url,
    timeout: Duration,
    credential: Option<&CallerCredential>,
) -> reqwest::RequestBuilder {
    let builder = inner
        .client
        .request(method, url)
        .timeout(timeout)
        .header(http::header::ACCEPT, "application/json");
    if let Some(credential) = credential {
        return match &credential.user_id {
            // Rocket.Chat: the caller's user id and token in the vendor's own two headers.
            Some(user_id) => builder
                .header("x-user-id", user_id.as_str())
                .header("x-auth-token", credential.token.expose_secret()),
            None => builder.bearer_auth(credential.token.expose_secret()),
        };
    }
    match &inner.auth {
        Auth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
        Auth::Headers(headers) => headers.iter().fold(builder, |b, (name, value)| {
            b.header(name.clone(), value.expose_secret())
        }),
        Auth::Dynamic(slot) => match slot.bearer() {
            Some(token) => builder.bearer_auth(token.expose_secret()),
            None => builder,
        },
    }
}

/// Send a request and read its whole answer, whatever the status; only transport failures,
/// oversized and cut-short bodies are errors.
async fn receive(
    source: Source,
    request: reqwest::RequestBuilder,
    max_body: usize,
) -> Result<Fetched, SourceError> {
    let mut response = request
        .send()
        .await
        .map_err(|err| transport_error(source, &err))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if response
        .content_length()
        .is_some_and(|len| len as usize > max_body)
    {
        return Err(too_large(source));
    }
    // Sized from Content-Length where given (already checked against the cap), so a large
    // body is not grown by doubling into twice its size.
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(0, |len| (len as usize).min(max_body)),
    );
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_body {
                    return Err(too_large(source));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) if err.is_timeout() => return Err(transport_error(source, &err)),
            Err(_) => {
                return Err(SourceError::upstream(
                    source,
                    ErrorCode::UpstreamBadResponse,
                    format!("{} response body was cut short", source.as_str()),
                ))
            }
        }
    }
    // `Bytes` keeps the whole allocation alive (in caches too, which weigh only the length):
    // give back what doubling left unused.
    if body.capacity() - body.len() > body.len() / 8 {
        body.shrink_to_fit();
    }
    Ok(Fetched {
        status,
        headers,
        body: Bytes::from(body),
    })
}

/// The error a non-2xx answer stands for, if it is one.
fn status_failure(source: Source, fetched: &Fetched) -> Option<SourceError> {
    (!(200..300).contains(&fetched.status))
        .then(|| status_error(source, fetched.status, &fetched.headers, &fetched.body))
}

fn too_large(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamBadResponse,
        format!("{} response exceeds the size cap", source.as_str()),
    )
}

fn transport_error(source: Source, err: &reqwest::Error) -> SourceError {
    if err.is_timeout() {
        SourceError::upstream(
            source,
            ErrorCode::UpstreamTimeout,
            format!("{} did not answer in time", source.as_str()),
        )
    } else {
        SourceError::upstream(
            source,
            ErrorCode::UpstreamUnavailable,
            format!(
                "{} is unreachable (connection failed or was closed)",
                source.as_str()
            ),
        )
    }
}

/// Map a non-2xx answer by status first and body second (upstreams/README.md hazard 1).
pub fn status_error(source: Source, status: u16, headers: &HeaderMap, body: &[u8]) -> SourceError {
    let vendor = vendor_message(body);
    let detail = vendor.map(|m| format!(": {m}")).unwrap_or_default();
    let name = source.as_str();
    let (code, message) = match status {
        400 | 422 => (
            ErrorCode::BadUserInput,
            format!("{name} rejected the request{detail}"),
        ),
        401 | 403 => (
            ErrorCode::UpstreamUnauthorized,
            format!("{name} refused the credentials ({status}){detail}"),
        ),
        404 => (ErrorCode::NotFound, format!("{name} has no such object")),
        // The request was too long: provoked by a caller's argument, not a sign of ill health.
        414 | 431 => (
            ErrorCode::BadUserInput,
            format!(
                "{name} refused the request as too long ({status}): an id or argument is too long"
            ),
        ),
        408 | 504 => (
            ErrorCode::UpstreamTimeout,
            format!("{name} timed out ({status})"),
        ),
        429 => (
            ErrorCode::UpstreamRateLimited,
            format!("{name} rate limit reached"),
        ),
        500..=599 => (
            ErrorCode::UpstreamUnavailable,
            format!("{name} failed ({status})"),
        ),
        _ => (
            ErrorCode::UpstreamBadResponse,
            format!("{name} answered with unexpected status {status}"),
        ),
    };
    SourceError::upstream(source, code, message)
        .with_retry_after(retry_after_seconds(headers, status))
}

/// Pull a short human message out of any of the vendors' error envelopes.
fn vendor_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let candidates = [
        value.pointer("/errors/0/message"),
        value.get("message"),
        value.get("error").filter(|e| e.is_string()),
    ];
    let text = candidates.into_iter().flatten().find_map(|v| v.as_str())?;
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let clean = crate::redact::scrub(clean.trim());
    (!clean.trim().is_empty()).then(|| truncate_message(clean.trim(), 200))
}

/// Add the field a vendor named in a 400/422 envelope (`errors[0].field`) to the message, so
/// a client knows which input to fix.
fn with_rejected_field(err: SourceError, body: &[u8]) -> SourceError {
    if err.code != ErrorCode::BadUserInput {
        return err;
    }
    let field = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/errors/0/field")
                .and_then(|f| f.as_str())
                .map(str::to_string)
        })
        .map(|f| crate::redact::scrub(&f.chars().filter(|c| !c.is_control()).collect::<String>()))
        .filter(|f| !f.trim().is_empty());
    match field {
        Some(field) => SourceError {
            message: format!(
                "{} (field `{}`)",
                err.message,
                truncate_message(field.trim(), 60)
            ),
            ..err
        },
        None => err,
    }
}

/// Seconds to wait, from `Retry-After` (seconds), `X-RateLimit-Reset` (Rocket.Chat: epoch ms)
/// or `ratelimit-reset` (Truto: seconds from now), whatever unit the reset header turns out
/// to carry (see [`reset_in_seconds`]). Only meaningful on 429/503.
pub fn retry_after_seconds(headers: &HeaderMap, status: u16) -> Option<u64> {
    if status != 429 && status != 503 {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(secs);
    }
    let reset = header("x-ratelimit-reset").or_else(|| header("ratelimit-reset"));
    reset
        .and_then(|v| v.parse::<u64>().ok())
        .map(reset_in_seconds)
}

/// A rate-limit reset header's value as seconds from now. Vendors disagree on its unit
/// (upstreams/README.md hazard 6): Rocket.Chat's `X-RateLimit-Reset` is an epoch in
/// milliseconds, Truto's `ratelimit-reset` seconds from now, and other APIs send epoch
/// seconds under the same names. The magnitude tells them apart: no wait is 30 years long,
/// and no epoch of this century is under 10^9.
fn reset_in_seconds(value: u64) -> u64 {
    const EPOCH_SECONDS_MIN: u64 = 1_000_000_000;
    const EPOCH_MILLIS_MIN: u64 = 1_000_000_000_000;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if value >= EPOCH_MILLIS_MIN {
        value.saturating_sub(now.as_millis() as u64).div_ceil(1000)
    } else if value >= EPOCH_SECONDS_MIN {
        value.saturating_sub(now.as_secs())
    } else {
        value
    }
}

/// The shared `reqwest` client: connection pooling across all sources.
pub fn build_client() -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .user_agent(concat!("chronograph/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|_| SourceError::internal("could not build the HTTP client"))
}

/// A 400 that the client's own arguments cannot have caused (Chronograph built every part of
/// the request) is the upstream refusing Chronograph's request: `UPSTREAM_BAD_RESPONSE`, not
/// `BAD_USER_INPUT`, which DESIGN.md §10 keeps for 400s the client caused.
pub fn refused_request(err: SharedError) -> SharedError {
    if err.code != ErrorCode::BadUserInput {
        return err;
    }
    Arc::new(SourceError {
        code: ErrorCode::UpstreamBadResponse,
        message: format!(
            "{} (the request Chronograph built was refused)",
            err.message
        ),
        ..(*err).clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_found_among_several() {
        let header = r#"<https://api.integrator.io/v1/integrations?skip=0>; rel="prev", <https://api.integrator.io/v1/integrations?after=65f&limit=1000>; rel="next""#;
        assert_eq!(
            parse_next_link(header).as_deref(),
            Some("https://api.integrator.io/v1/integrations?after=65f&limit=1000")
        );
        assert_eq!(parse_next_link(r#"<https://x/y>; rel="prev""#), None);
    }

    #[test]
    fn url_segments_are_percent_encoded() {
        let client = reqwest::Client::new();
        let up = Upstream::new(
            Source::Celigo,
            client,
            "http://127.0.0.1:9/",
            Auth::Bearer(SecretString::from("t")),
            Duration::from_secs(1),
        )
        .expect("valid");
        let url = up.url(
            &["v1", "integrations", "../x?y#z/w"],
            &[("from", "2024-01-01T00:00:00Z")],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/integrations/..%2Fx%3Fy%23z%2Fw?from=2024-01-01T00%3A00%3A00Z"
        );
        assert!(up.follow("http://evil.example/v1/x").is_err());
        assert!(up.follow("http://127.0.0.1:9/v1/x?after=1").is_ok());
    }

    #[test]
    fn rate_limit_headers_of_every_vendor() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("header"));
        assert_eq!(retry_after_seconds(&h, 429), Some(7));
        let mut h = HeaderMap::new();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        h.insert(
            "x-ratelimit-reset",
            (now_ms + 41_500).to_string().parse().expect("header"),
        );
        assert_eq!(retry_after_seconds(&h, 429), Some(42));
        let mut h = HeaderMap::new();
        h.insert("ratelimit-reset", "10".parse().expect("header"));
        assert_eq!(retry_after_seconds(&h, 429), Some(10));
        assert_eq!(retry_after_seconds(&h, 500), None);
        // Epoch seconds under either name, and seconds-from-now under Rocket.Chat's name.
        let now_s = now_ms / 1000;
        for name in ["x-ratelimit-reset", "ratelimit-reset"] {
            let mut h = HeaderMap::new();
            h.insert(name, (now_s + 30).to_string().parse().expect("header"));
            let wait = retry_after_seconds(&h, 429).expect("a wait");
            assert!((29..=31).contains(&wait), "{name}: {wait}");
        }
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "12".parse().expect("header"));
        assert_eq!(retry_after_seconds(&h, 429), Some(12));
    }

    #[test]
    fn error_bodies_are_summarised_not_dumped() {
        let long = format!(
            "{{\"errors\":[{{\"code\":\"x\",\"message\":\"{}\"}}]}}",
            "a".repeat(500)
        );
        let err = status_error(Source::Celigo, 400, &HeaderMap::new(), long.as_bytes());
        assert_eq!(err.code, ErrorCode::BadUserInput);
        assert!(err.message.chars().count() < 260, "{}", err.message);
        let err = status_error(
            Source::Celigo,
            503,
            &HeaderMap::new(),
            b"<html>stack trace at /srv/app.js</html>",
        );
        assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
        assert!(!err.message.contains("/srv"));
    }
}
