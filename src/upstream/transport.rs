//! One HTTP exchange: the request with its credentials and timeout, the answer read whole
//! under the size cap, and the shared `reqwest` client. No retries, caches or policy here.

use super::auth::Auth;
use super::errors::{too_large, transport_error};
use super::pipeline::{remaining, timeout_error};
use super::scope::CallerCredential;
use super::Inner;
use crate::domain::Source;
use crate::error::{ErrorCode, SourceError};
use crate::metrics::route_label;
use bytes::Bytes;
use http::HeaderMap;
use secrecy::ExposeSecret;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use url::Url;

/// Largest upstream body accepted; anything larger is `UPSTREAM_BAD_RESPONSE`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

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

impl Fetched {
    /// Whether the upstream refused the credentials with a 401 (a login or an OAuth2 token
    /// may have expired; a 403 is a permission problem a new token does not fix).
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// One HTTP attempt with the per-call timeout cut to the request deadline.
pub(crate) async fn attempt(inner: &Inner, call: &Call) -> Result<Fetched, SourceError> {
    attempt_request(
        inner,
        http::Method::GET,
        &call.url,
        None,
        call.deadline,
        call.credential.as_deref(),
    )
    .await
}

/// Longest upstream URL Chronograph sends; vendors refuse far shorter ones than servers
/// accept (Rocket.Chat drops the connection), and no real id comes near it.
pub(crate) const MAX_URL_BYTES: usize = 2_048;

/// One HTTP attempt of any method, counted in the stats and metrics.
pub(crate) async fn attempt_request(
    inner: &Inner,
    method: http::Method,
    url: &Url,
    body: Option<&serde_json::Value>,
    deadline: Option<Instant>,
    credential: Option<&CallerCredential>,
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
    let route = route_label(inner.routes, url.path());
    let span = tracing::debug_span!("upstream", source = inner.source.as_str(), route);
    let result = receive(inner.source, request, inner.max_body_bytes)
        .instrument(span)
        .await;
    let elapsed = started.elapsed();
    // The status as text without a heap string (this runs for every call).
    let mut digits = [0u8; 5];
    let outcome: std::borrow::Cow<'_, str> = match &result {
        Ok(fetched) => {
            let mut n = fetched.status;
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            std::str::from_utf8(&digits[at..]).map_or_else(
                |_| fetched.status.to_string().into(),
                std::borrow::Cow::Borrowed,
            )
        }
        Err(err) => err.code.as_str().to_ascii_lowercase().into(),
    };
    inner
        .policy
        .metrics
        .upstream(inner.source, route, &outcome, elapsed);
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
pub(crate) struct Call {
    pub(crate) url: Url,
    pub(crate) deadline: Option<Instant>,
    /// The caller's own credential; `None` uses the configured ones.
    pub(crate) credential: Option<Arc<CallerCredential>>,
}

pub(crate) fn build_request(
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
            None => match &inner.caller_credential_header {
                Some(header) => builder.header(header.clone(), credential.token.expose_secret()),
                None => builder.bearer_auth(credential.token.expose_secret()),
            },
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
pub(crate) async fn receive(
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
