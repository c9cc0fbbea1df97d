//! What one GraphQL request (or subscription) brings to its upstream calls: in-request
//! de-duplication, warnings, the deadline and the callers' own credentials.

use super::transport::Fetched;
use crate::domain::Source;
use crate::error::SharedError;
use crate::FastHash;
use futures::future::{BoxFuture, Shared};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(crate) type SharedFetch = Shared<BoxFuture<'static, Result<(Arc<Fetched>, bool), SharedError>>>;
pub(crate) type SharedAttempt = Shared<BoxFuture<'static, Result<Arc<Fetched>, SharedError>>>;
/// One value decoded from this request's upstream answers, made by whichever caller asks first.
type MemoSlot = Arc<tokio::sync::OnceCell<Arc<dyn std::any::Any + Send + Sync>>>;

/// Per-GraphQL-request state: identical upstream calls within one request are made once, and
/// warnings collected here end up in the response's `extensions.warnings`.
#[derive(Default)]
pub struct RequestScope {
    pub(crate) inflight: Mutex<HashMap<String, SharedFetch, FastHash>>,
    pub(crate) warnings: Mutex<Vec<String>>,
    /// Values decoded from answers read in this request ([`RequestScope::memo`]).
    memo: Mutex<HashMap<(String, std::any::TypeId), MemoSlot, FastHash>>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) credentials: CallerCredentials,
}

/// A caller's own credential for one source, read from request headers (multi-tenant use,
/// `credential_header` in the config). It is sent instead of the configured credentials, and
/// its fingerprint replaces theirs in every cache and single-flight key, so answers fetched
/// with one caller's credential never reach another caller.
pub struct CallerCredential {
    pub(crate) token: SecretString,
    pub(crate) user_id: Option<String>,
    pub(crate) identity: String,
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
    pub(crate) by_source: Vec<(Source, Arc<CallerCredential>)>,
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
        if let Ok(mut memo) = self.memo.lock() {
            memo.clear();
        }
    }

    /// The value `make` builds for `key`, built once in this request however many callers ask
    /// (concurrent ones wait for the first). An adapter keys it by what it read (the URL), so
    /// an answer that in-request de-duplication already shares is also decoded once: the
    /// batches of one DataLoader each asking for the same bulk list, for instance. A failure
    /// is not kept; the next caller builds again (its upstream call is still shared).
    pub async fn memo<T, F>(&self, key: &str, make: F) -> Result<Arc<T>, SharedError>
    where
        T: Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, SharedError>>,
    {
        let slot = match self.memo.lock() {
            Ok(mut memo) => memo
                .entry((key.to_string(), std::any::TypeId::of::<T>()))
                .or_default()
                .clone(),
            // A poisoned map only loses the sharing, not the answer.
            Err(_) => MemoSlot::default(),
        };
        let value = slot
            .get_or_try_init(|| async {
                make.await
                    .map(|value| Arc::new(value) as Arc<dyn std::any::Any + Send + Sync>)
            })
            .await?
            .clone();
        // Slots are keyed by type as well, so this cannot fail.
        value.downcast::<T>().map_err(|_| {
            Arc::new(crate::error::SourceError::internal(
                "request memo holds another type",
            ))
        })
    }
}
