//! The one upstream HTTP path every adapter uses (DESIGN.md §5).
//!
//! It owns auth header injection, the per-call timeout, the response size cap, per-request
//! de-duplication of identical calls, JSON decoding into wire structs, and the mapping of every
//! failure onto a DESIGN.md §6 code. Adapters build URLs with [`Upstream::url`] (which
//! percent-encodes path segments) and never talk to the HTTP client themselves.
//!
//! One file per concern: [`scope`] (what a request brings), [`auth`], [`policy`], [`pipeline`]
//! (cache, single flight, retries), [`transport`], [`errors`], and the caches: [`cache`] (L1,
//! in process) and [`shared`] (L2, Redis shared by replicas).

pub mod auth;
pub mod cache;
pub mod client;
pub mod errors;
pub mod pipeline;
pub mod policy;
pub mod resilience;
pub mod scope;
pub mod settings;
pub mod shared;
#[cfg(test)]
mod tests;
pub mod transport;

pub use auth::{Auth, DynamicToken, TokenGrant, TokenProvider};
pub use errors::{refused_request, retry_after_seconds, status_error};
pub use policy::{CallOptions, CallStats, Policy};
pub use scope::{secret_fingerprint, CallerCredential, CallerCredentials, RequestScope};
pub use settings::CacheConfig;
pub use transport::{build_client, parse_next_link, Fetched, DEFAULT_MAX_BODY_BYTES};

use self::errors::{status_failure, with_rejected_field};
use self::pipeline::{admit, cache_key, fetch, hint_scope};
use self::transport::{attempt_request, Call};
use crate::domain::Source;
use crate::error::{ErrorCode, SharedError, SourceError};
use bytes::Bytes;
use futures::future::FutureExt;
use serde::de::DeserializeOwned;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub(crate) struct Inner {
    pub(crate) source: Source,
    /// The adapter's route templates: the only route labels its calls get in `/metrics`.
    pub(crate) routes: crate::metrics::RouteLabels,
    pub(crate) client: client::HttpClient,
    pub(crate) base: Url,
    pub(crate) auth: Auth,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) stats: Arc<CallStats>,
    pub(crate) policy: Arc<Policy>,
    /// Set when the source has no credentials of its own: the header a caller must send.
    pub(crate) caller_header: Option<String>,
    /// The header callers' own credentials go upstream in (else `Authorization: Bearer`).
    pub(crate) caller_credential_header: Option<http::HeaderName>,
}

/// What an adapter builds its [`Upstream`] with, handed over by `Sources::from_config`: the
/// shared HTTP client, the source's policy, and — when the source has no credentials of its
/// own — the header every caller must send theirs in.
pub struct Wiring {
    pub client: client::HttpClient,
    pub policy: Arc<Policy>,
    pub caller_header: Option<String>,
}

/// One configured upstream: base URL, credentials and limits.
pub struct Upstream {
    pub(crate) inner: Arc<Inner>,
}

impl Upstream {
    /// Build the upstream for one source. Fails only on an unusable base URL.
    pub fn new(
        source: Source,
        routes: &'static [&'static str],
        wiring: &Wiring,
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
                routes: crate::metrics::RouteLabels::new(routes),
                client: wiring.client.clone(),
                base,
                auth,
                timeout,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                stats: Arc::new(CallStats::default()),
                policy: wiring.policy.clone(),
                caller_header: wiring.caller_header.clone(),
                caller_credential_header: None,
            }),
        })
    }

    /// Send callers' own credentials in `header` instead of `Authorization: Bearer` (declared
    /// sources whose auth is a named header). Only while building: the upstream is not shared
    /// yet.
    pub fn with_caller_header_name(mut self, header: http::HeaderName) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.caller_credential_header = Some(header);
        }
        self
    }

    /// The credential a call in `scope` is made with: the caller's own, or `None` for the
    /// configured one. Fails when the source has none configured and the caller sent none.
    pub fn caller_credential(
        &self,
        scope: &RequestScope,
    ) -> Result<Option<Arc<CallerCredential>>, SourceError> {
        let source = self.inner.source;
        match (scope.credential(source), self.inner.caller_header.as_deref()) {
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

    /// The source's cache, retry, breaker and concurrency policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.inner.policy
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
        self.send_once(url, "application/json", Bytes::from(body.to_string()))
            .await
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
        self.send_once(url, "application/x-www-form-urlencoded", Bytes::from(body))
            .await
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

    /// One POST outside the GET path (credential exchanges), counted in the stats.
    async fn send_once(
        &self,
        url: Url,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Arc<Fetched>, SharedError> {
        let inner = &self.inner;
        let mut headers = http::HeaderMap::with_capacity(1);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        let out = client::Outgoing {
            method: http::Method::POST,
            url: &url,
            headers,
            body: Some(body),
            timeout: inner.timeout,
            max_body: inner.max_body_bytes,
        };
        inner.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = inner.client.exchange(inner.source, out).await;
        if let Err(err) = &result {
            inner.stats.failures.fetch_add(1, Ordering::Relaxed);
            inner.stats.record(Err(err));
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
        let policy = &inner.policy;
        let permit = admit(inner.source, policy, scope.deadline).await?;
        let result = attempt_request(
            inner,
            method,
            &url,
            body,
            scope.deadline,
            credential.as_deref(),
        )
        .await;
        drop(permit);
        scope.forget_reads();
        policy.writes.fetch_add(1, Ordering::AcqRel);
        let outcome = result.and_then(|fetched| match status_failure(inner.source, &fetched) {
            None => Ok(fetched),
            Some(err) => Err(with_rejected_field(err, &fetched.body)),
        });
        inner
            .stats
            .record_as(outcome.as_ref().map(|_| ()), credential.is_some());
        match &outcome {
            Ok(fetched) => policy.observe_success(&fetched.headers),
            Err(err) => policy.observe_failure(err),
        }
        outcome.map(Arc::new).map_err(Arc::new)
    }

    /// Drop the cached answers of `url` and of its `Link`-paged continuations (`url?…`), and
    /// with `subtree` of everything under it (`url/…`), for the credentials `scope` reads with:
    /// what a write changed must be read again. Shared (Redis) answers of these credentials
    /// are all dropped at once, on every replica.
    pub async fn invalidate(&self, scope: &RequestScope, url: &Url, subtree: bool) {
        let policy = &self.inner.policy;
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
