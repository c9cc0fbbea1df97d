//! Error types shared by every layer, and their mapping to GraphQL `extensions.code`.
//!
//! Clients program against the codes of DESIGN.md §6, so the set is closed: every failure in
//! the gateway ends up as exactly one [`ErrorCode`], and the message never carries credentials,
//! long upstream bodies, stack traces or file paths.

use crate::domain::Source;
use async_graphql::{ErrorExtensions, Value};
use std::fmt;
use std::sync::Arc;

/// The closed set of `extensions.code` values (DESIGN.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadUserInput,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    QueryTooComplex,
    Unauthenticated,
    NotFound,
    SourceNotConfigured,
    UpstreamUnauthorized,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamBadResponse,
    Internal,
    /// A persisted document (APQ hash or `documentId`) the gateway does not hold, or, with
    /// `server.persisted_only`, any operation that is not in the manifest.
    PersistedQueryNotFound,
    /// The client went over `[server.rate_limit]`; `retryAfterSeconds` says when to come back.
    RateLimited,
}

impl ErrorCode {
    /// The wire spelling used in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::SourceNotConfigured => "SOURCE_NOT_CONFIGURED",
            ErrorCode::UpstreamUnauthorized => "UPSTREAM_UNAUTHORIZED",
            ErrorCode::UpstreamRateLimited => "UPSTREAM_RATE_LIMITED",
            ErrorCode::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::UpstreamBadResponse => "UPSTREAM_BAD_RESPONSE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::RateLimited => "RATE_LIMITED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one source call (or of the client's input to it), carried through loaders as
/// `Arc<SourceError>` so one upstream failure can be reported by every field that needed it.
///
/// It deliberately does not implement `Display`: async-graphql converts anything displayable
/// into an error *without* extensions, so `?` on a `SourceError` in a resolver would silently
/// drop `extensions.code`. Conversion goes through [`SourceError::to_graphql`] instead.
#[derive(Clone, Debug)]
pub struct SourceError {
    pub code: ErrorCode,
    pub source: Option<Source>,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl SourceError {
    /// An error attributed to one upstream source.
    pub fn upstream(source: Source, code: ErrorCode, message: impl Into<String>) -> Self {
        SourceError {
            code,
            source: Some(source),
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// An error in the client's own arguments.
    pub fn bad_input(message: impl Into<String>) -> Self {
        SourceError {
            code: ErrorCode::BadUserInput,
            source: None,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// The field needs a source that this deployment has not configured.
    pub fn not_configured(source: Source) -> Self {
        SourceError::upstream(
            source,
            ErrorCode::SourceNotConfigured,
            format!(
                "source {} is not configured on this gateway",
                source.as_str()
            ),
        )
    }

    /// Something went wrong inside Chronograph itself.
    pub fn internal(message: impl Into<String>) -> Self {
        SourceError {
            code: ErrorCode::Internal,
            source: None,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// Attach the number of seconds the upstream asked us to wait.
    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after_seconds = seconds;
        self
    }

    /// Turn into a GraphQL error with the extensions clients rely on.
    pub fn to_graphql(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, ext| {
            ext.set("code", self.code.as_str());
            if let Some(source) = self.source {
                ext.set("source", source.as_str());
            }
            if let Some(seconds) = self.retry_after_seconds {
                ext.set("retryAfterSeconds", Value::from(seconds));
            }
        })
    }
}

/// Loader results carry errors behind an `Arc` so a shared failure is cloned cheaply.
pub type SharedError = Arc<SourceError>;

/// Result of any source operation.
pub type SourceResult<T> = Result<T, SharedError>;

/// Convert a shared loader error into a GraphQL error.
pub fn gql(err: SharedError) -> async_graphql::Error {
    err.to_graphql()
}

/// A bare `BAD_USER_INPUT` GraphQL error.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    SourceError::bad_input(message).to_graphql()
}

/// Cut a vendor message down so error strings never carry long upstream bodies (DESIGN.md §6).
pub fn truncate_message(text: &str, max_chars: usize) -> String {
    // No more bytes than the cap means no more characters either: nothing to count.
    if text.len() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}
