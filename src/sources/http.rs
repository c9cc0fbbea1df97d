//! The one upstream HTTP path every adapter uses (DESIGN.md §5).
//!
//! It owns auth header injection, the per-call timeout, the response size cap, per-request
//! de-duplication of identical calls, JSON decoding into wire structs, and the mapping of every
//! failure onto a DESIGN.md §6 code. Adapters build URLs with [`Upstream::url`] (which
//! percent-encodes path segments) and never talk to `reqwest` themselves.

use crate::domain::Source;
use crate::error::{truncate_message, ErrorCode, SharedError, SourceError};
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Fetched>, SharedError>>>;

/// Per-GraphQL-request state: identical upstream calls within one request are made once, and
/// warnings collected here end up in the response's `extensions.warnings`.
#[derive(Default)]
pub struct RequestScope {
    inflight: Mutex<HashMap<String, SharedFetch>>,
    warnings: Mutex<Vec<String>>,
}

impl RequestScope {
    /// A fresh scope for one GraphQL request.
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
}

/// Counts upstream calls per source, for `/metrics`, `Query.sources` and benchmarks.
#[derive(Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl CallStats {
    /// The message of the last failed call, cleared by the next success.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn record(&self, outcome: Result<(), &SourceError>) {
        if let Ok(mut last) = self.last_error.lock() {
            // A client's unknown id or bad argument says nothing about the source's health.
            let health = outcome
                .err()
                .filter(|e| !matches!(e.code, ErrorCode::NotFound | ErrorCode::BadUserInput));
            *last = health.map(|e| e.message.clone());
        }
    }
}

/// One configured upstream: base URL, credentials and limits.
pub struct Upstream {
    source: Source,
    client: reqwest::Client,
    base: Url,
    auth: Auth,
    timeout: Duration,
    max_body_bytes: usize,
    stats: Arc<CallStats>,
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
            source,
            client,
            base,
            auth,
            timeout,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            stats: Arc::new(CallStats::default()),
        })
    }

    /// Which source this is.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Call counters for this upstream.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Build `<base>/<segments…>?<query>`; each segment is percent-encoded as one path
    /// segment, so an id can never change the route (DESIGN.md §4).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
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
            .base
            .join(link)
            .map_err(|_| self.bad_response("unusable Link header"))?;
        if url.origin() != self.base.origin() {
            return Err(self.bad_response("Link header points at another origin"));
        }
        Ok(url)
    }

    /// GET `url`, shared with any identical call already made in this request.
    pub async fn get(&self, scope: &RequestScope, url: Url) -> Result<Arc<Fetched>, SharedError> {
        let key = url.as_str().to_string();
        let shared = {
            let mut inflight = scope
                .inflight
                .lock()
                .map_err(|_| Arc::new(SourceError::internal("request state poisoned")))?;
            inflight
                .entry(key)
                .or_insert_with(|| self.spawn_get(url).boxed().shared())
                .clone()
        };
        shared.await
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
            tracing::warn!(source = self.source.as_str(), error = %err, "upstream body not in the documented shape");
            let what = if err.is_eof() { "was cut short" } else { "is not in the documented shape" };
            self.bad_response(&format!("response body {what}"))
        })
    }

    fn spawn_get(
        &self,
        url: Url,
    ) -> impl std::future::Future<Output = Result<Arc<Fetched>, SharedError>> + Send + 'static {
        let request = self.request(url.clone());
        let source = self.source;
        let max = self.max_body_bytes;
        let stats = self.stats.clone();
        let path = url.path().to_string();
        async move {
            stats.calls.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let result = execute(source, request, max).await;
            tracing::debug!(source = source.as_str(), path = %path, ok = result.is_ok(), elapsed_ms = started.elapsed().as_millis() as u64, "upstream call");
            if result.is_err() {
                stats.failures.fetch_add(1, Ordering::Relaxed);
            }
            stats.record(result.as_ref().map(|_| ()));
            result.map(Arc::new).map_err(Arc::new)
        }
    }

    fn request(&self, url: Url) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .get(url)
            .timeout(self.timeout)
            .header(http::header::ACCEPT, "application/json");
        match &self.auth {
            Auth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
            Auth::Headers(headers) => headers.iter().fold(builder, |b, (name, value)| {
                b.header(name.clone(), value.expose_secret())
            }),
        }
    }

    fn bad_response(&self, what: &str) -> SourceError {
        SourceError::upstream(
            self.source,
            ErrorCode::UpstreamBadResponse,
            format!("{} {what}", self.source.as_str()),
        )
    }
}

async fn execute(
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
    let mut body = Vec::new();
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
    let body = Bytes::from(body);
    if (200..300).contains(&status) {
        return Ok(Fetched {
            status,
            headers,
            body,
        });
    }
    Err(status_error(source, status, &headers, &body))
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
    (!clean.trim().is_empty()).then(|| truncate_message(clean.trim(), 200))
}

/// Seconds to wait, from `Retry-After` (seconds), `X-RateLimit-Reset` (epoch ms, Rocket.Chat)
/// or `ratelimit-reset` (seconds from now, Truto). Only meaningful on 429/503.
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
    if let Some(reset_ms) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        return Some(reset_ms.saturating_sub(now_ms).div_ceil(1000));
    }
    header("ratelimit-reset").and_then(|v| v.parse::<u64>().ok())
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
