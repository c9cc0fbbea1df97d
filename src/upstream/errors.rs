//! Mapping what an upstream answered onto DESIGN.md §6 codes, with vendor text scrubbed and
//! cut short, and reading the rate-limit headers of every vendor.

use super::transport::Fetched;
use crate::domain::Source;
use crate::error::{truncate_message, ErrorCode, SharedError, SourceError};
use http::HeaderMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The error a non-2xx answer stands for, if it is one.
pub(crate) fn status_failure(source: Source, fetched: &Fetched) -> Option<SourceError> {
    (!(200..300).contains(&fetched.status))
        .then(|| status_error(source, fetched.status, &fetched.headers, &fetched.body))
}

pub(crate) fn too_large(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamBadResponse,
        format!("{} response exceeds the size cap", source.as_str()),
    )
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
pub(crate) fn vendor_message(body: &[u8]) -> Option<String> {
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
pub(crate) fn with_rejected_field(err: SourceError, body: &[u8]) -> SourceError {
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
pub(crate) fn reset_in_seconds(value: u64) -> u64 {
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
