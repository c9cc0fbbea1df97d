//! The GET pipeline: cache (L1, then L2), single flight across requests, admission
//! (concurrency, pauses, breaker), retries with backoff, and stale-if-error.

use super::cache::{CachedAnswer, ResponseCache};
use super::errors::status_failure;
use super::policy::{CallOptions, Policy, MAX_RETRY_WAIT};
use super::resilience::full_jitter;
use super::scope::CallerCredential;
use super::shared::{HintKind, SharedStore};
use super::transport::{attempt, Call, Fetched};
use super::Inner;
use crate::domain::Source;
use crate::error::{ErrorCode, SharedError, SourceError};
use futures::future::FutureExt;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Serve one GET: cache, then (shared) attempts, then stale-if-error. Returns the answer and
/// whether it is a stale one.
pub(crate) async fn fetch(
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
    let policy = inner.policy.clone();
    // Built with pushes, not `format!` (this runs for every call).
    let mut key = cache_key(&inner, &policy, call.credential.as_deref());
    key.push_str(call.url.as_str());
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
            shared_key(&key, epoch),
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
pub(crate) fn is_upstream_failure(err: &SourceError) -> bool {
    matches!(
        err.code,
        ErrorCode::UpstreamUnavailable
            | ErrorCode::UpstreamTimeout
            | ErrorCode::UpstreamRateLimited
            | ErrorCode::UpstreamBadResponse
    )
}

/// One in-flight call per (credentials, URL) across all concurrent requests.
pub(crate) async fn shared_attempts(
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
pub(crate) async fn attempts(
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
        let result = attempt(&inner, &call).await;
        let (err, answer) = match result {
            Ok(fetched) => match status_failure(source, &fetched) {
                None => {
                    inner.stats.record(Ok(()));
                    policy.budget.earn();
                    policy.observe_success(&fetched.headers);
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
        policy.observe_failure(&err);
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
/// Redis's clock, see [`super::shared`]) against this source's TTL, as for an in-process entry.
pub(crate) async fn second_level(
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
pub(crate) fn hint_scope(source: Source, policy: &Policy, call: &Call) -> String {
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
pub(crate) async fn shared_pause(
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
pub(crate) async fn publish_pause(source: Source, policy: &Policy, call: &Call, err: &SourceError) {
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
pub(crate) async fn admit(
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
pub(crate) fn cache_key(
    inner: &Inner,
    policy: &Policy,
    credential: Option<&CallerCredential>,
) -> String {
    let identity = credential.map_or(policy.identity.as_str(), |c| c.identity());
    let source = inner.source.as_str();
    let mut key = String::with_capacity(source.len() + identity.len() + 2 + 96);
    key.push_str(source);
    key.push('|');
    key.push_str(identity);
    key.push('|');
    key
}

/// The key of a shared attempt: the call's key and the write epoch it started in
/// (`key#epoch`, without `format!`).
fn shared_key(key: &str, epoch: u64) -> String {
    let mut digits = [0u8; 20];
    let epoch = decimal(epoch, &mut digits);
    let mut shared = String::with_capacity(key.len() + 1 + epoch.len());
    shared.push_str(key);
    shared.push('#');
    shared.push_str(epoch);
    shared
}

/// `n` in decimal, written into `digits` (no heap string: this runs for every call).
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&digits[at..]).unwrap_or("0")
}

pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

pub(crate) fn timeout_error(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamTimeout,
        format!(
            "{} did not answer within the request deadline",
            source.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shared_key_is_the_key_and_its_epoch() {
        for epoch in [0, 7, 10, 1234567890, u64::MAX] {
            assert_eq!(
                super::shared_key("CELIGO|t|u", epoch),
                format!("CELIGO|t|u#{epoch}")
            );
        }
    }
}
