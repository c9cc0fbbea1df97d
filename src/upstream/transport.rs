//! One HTTP exchange: the request with its credentials and timeout, the answer read whole
//! under the size cap, and the shared client (`client.rs`). No retries, caches or policy here.

use super::auth::Auth;
use super::client::{HttpClient, Outgoing};
use super::pipeline::{decimal, remaining, timeout_error};
use super::scope::CallerCredential;
use super::Inner;
use crate::domain::Source;
use crate::error::{ErrorCode, SourceError};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::HeaderMap;
use secrecy::ExposeSecret;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
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
    let mut headers = request_headers(inner, credential)?;
    let body = body.map(|body| {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Bytes::from(body.to_string())
    });
    inner.stats.calls.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let route = inner.routes.label(url.path());
    let span = tracing::debug_span!("upstream", source = inner.source.as_str(), route);
    let out = Outgoing {
        method,
        url,
        headers,
        body,
        timeout,
        max_body: inner.max_body_bytes,
    };
    let result = inner
        .client
        .exchange(inner.source, out)
        .instrument(span)
        .await;
    let elapsed = started.elapsed();
    // The status as text without a heap string (this runs for every call).
    let mut digits = [0u8; 20];
    let outcome: std::borrow::Cow<'_, str> = match &result {
        Ok(fetched) => decimal(u64::from(fetched.status), &mut digits).into(),
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

/// A header value holding a credential: never logged (`sensitive`), and refused if it cannot
/// be sent as a header at all.
fn secret_value(source: Source, text: &str) -> Result<HeaderValue, SourceError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        SourceError::upstream(
            source,
            ErrorCode::UpstreamUnauthorized,
            format!(
                "the {} credential holds characters a header cannot carry",
                source.as_str()
            ),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn bearer(source: Source, token: &str) -> Result<HeaderValue, SourceError> {
    secret_value(source, &format!("Bearer {token}"))
}

/// The credential headers of a call (the caller's own, else the source's).
pub(crate) fn request_headers(
    inner: &Inner,
    credential: Option<&CallerCredential>,
) -> Result<HeaderMap, SourceError> {
    let source = inner.source;
    let mut headers = HeaderMap::with_capacity(4);
    if let Some(credential) = credential {
        let token = credential.token.expose_secret();
        match &credential.user_id {
            // Rocket.Chat: the caller's user id and token in the vendor's own two headers.
            Some(user_id) => {
                headers.insert(
                    HeaderName::from_static("x-user-id"),
                    secret_value(source, user_id)?,
                );
                headers.insert(
                    HeaderName::from_static("x-auth-token"),
                    secret_value(source, token)?,
                );
            }
            None => match &inner.caller_credential_header {
                Some(header) => {
                    headers.insert(header.clone(), secret_value(source, token)?);
                }
                None => {
                    headers.insert(AUTHORIZATION, bearer(source, token)?);
                }
            },
        }
        return Ok(headers);
    }
    match &inner.auth {
        Auth::Bearer(token) => {
            headers.insert(AUTHORIZATION, bearer(source, token.expose_secret())?);
        }
        Auth::Headers(pairs) => {
            for (name, value) in pairs {
                headers.append(name.clone(), secret_value(source, value.expose_secret())?);
            }
        }
        Auth::Dynamic(slot) => {
            if let Some(token) = slot.bearer() {
                headers.insert(AUTHORIZATION, bearer(source, token.expose_secret())?);
            }
        }
    }
    Ok(headers)
}

/// The shared HTTP client: connection pooling across all sources.
pub fn build_client() -> Result<HttpClient, SourceError> {
    HttpClient::new()
}
