//! The source traits and the registry of configured sources.
//!
//! Traits are named by what they provide and speak only domain types; each vendor adapter
//! implements the ones it can. Nothing outside an adapter knows a vendor's field names.

pub mod celigo;
pub mod dealcloud;
pub mod hexabase;
pub mod rocketchat;
pub mod settings;
pub mod stream;
pub mod truto;

use crate::domain::{
    Connection, Flow, HistoryEntry, HistoryFilter, Integration, Source, SubjectRef, Team,
};
use crate::error::{SharedError, SourceError, SourceResult};
use crate::metrics::Metrics;
use crate::upstream::cache::ResponseCache;
use crate::upstream::resilience::BreakerState;
use crate::upstream::{self as http, RequestScope};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
pub use settings::{SourceConfig, SourcesConfig, Vendor};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stream::{StreamPage, StreamWindow};

/// What the adapter of `source` declares about its vendor.
pub fn vendor(source: Source) -> &'static Vendor {
    match source {
        Source::Celigo => &celigo::VENDOR,
        Source::Dealcloud => &dealcloud::VENDOR,
        Source::Hexabase => &hexabase::VENDOR,
        Source::Rocketchat => &rocketchat::VENDOR,
        Source::Truto => &truto::VENDOR,
    }
}

/// Decode one element of a vendor list into its wire struct. Elements not in the documented
/// shape are skipped and logged so the rest of the page survives (DESIGN.md §4).
pub fn decode_item<'a, T: serde::Deserialize<'a>>(
    source: Source,
    value: &'a serde_json::Value,
    what: &str,
) -> Option<T> {
    match T::deserialize(value) {
        Ok(item) => Some(item),
        Err(err) => {
            tracing::warn!(source = source.as_str(), what, error = %crate::redact::scrub(&err.to_string()), "skipping an element not in the documented shape");
            None
        }
    }
}

/// Decode one element of a vendor list, kept as JSON text, into its wire struct (typed
/// decoding skips what Chronograph does not read instead of building a JSON tree). Elements
/// not in the documented shape are skipped and logged.
pub fn decode_raw_item<T: serde::de::DeserializeOwned>(
    source: Source,
    raw: &serde_json::value::RawValue,
    what: &str,
) -> Option<T> {
    match serde_json::from_str(raw.get()) {
        Ok(item) => Some(item),
        Err(err) => {
            tracing::warn!(source = source.as_str(), what, error = %crate::redact::scrub(&err.to_string()), "skipping an element not in the documented shape");
            None
        }
    }
}

/// Decode a page of vendor items with `map` (which logs and drops the ones not in the
/// documented shape), and never in silence: a page none of whose items decode is
/// `UPSTREAM_BAD_RESPONSE`; one where only some do keeps those and warns how many were skipped
/// (DESIGN.md §10: partial results carry warnings).
pub fn decode_page<R, T>(
    source: Source,
    scope: &http::RequestScope,
    items: Vec<R>,
    mut map: impl FnMut(R) -> Option<T>,
) -> Result<Vec<T>, SourceError> {
    let total = items.len();
    let decoded: Vec<T> = items.into_iter().filter_map(&mut map).collect();
    check_skipped(source, scope, total, decoded.len())?;
    Ok(decoded)
}

/// The rule of [`decode_page`] for adapters that decode item by item: `decoded` of `total`
/// items of one page were in the documented shape.
pub fn check_skipped(
    source: Source,
    scope: &http::RequestScope,
    total: usize,
    decoded: usize,
) -> Result<(), SourceError> {
    let skipped = total.saturating_sub(decoded);
    if skipped > 0 && decoded == 0 {
        return Err(SourceError::upstream(
            source,
            crate::error::ErrorCode::UpstreamBadResponse,
            format!(
                "{}: none of the {total} items of a page is in the documented shape",
                source.as_str()
            ),
        ));
    }
    if skipped > 0 {
        scope.warn(format!(
            "{}: skipped {skipped} of {total} items of a page that are not in the documented shape",
            source.as_str()
        ));
    }
    Ok(())
}

/// A prefix of a vendor-ordered list; `complete` when nothing follows it upstream.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub complete: bool,
}

/// Sources that list integrations.
#[async_trait]
pub trait IntegrationSource: Send + Sync {
    /// At least `need` integrations from the head of the vendor's order (all when `None`),
    /// fetching no more upstream pages than that takes.
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>>;

    /// One integration; `None` when the vendor does not know the id.
    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>>;
}

/// Sources that keep a history per subject.
#[async_trait]
pub trait HistorySource: Send + Sync {
    /// The entries of one subject inside `window` (timeline order), filtered by `filter`.
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage>;

    /// The one spelling of `subject` this source uses in ids and cursors, so that every
    /// spelling a vendor accepts gives the same ids, cursors and cache entries (DealCloud: an
    /// entry type's `apiName` becomes its numeric id). When it cannot be worked out the subject
    /// is kept as given (its read then succeeds or fails on its own).
    async fn canonical_subject(&self, _scope: &RequestScope, subject: &SubjectRef) -> SubjectRef {
        subject.clone()
    }

    /// One entry by id, for `node(id)`; `None` when it is gone.
    async fn history_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_id: &str,
        observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>>;
}

/// Sources whose integrations contain flows and connections (Celigo).
#[async_trait]
pub trait FlowSource: Send + Sync {
    /// Flows of many integrations at once (the adapter picks per-integration or bulk calls).
    async fn flows(
        &self,
        scope: &RequestScope,
        integration_ids: &[String],
    ) -> SourceResult<HashMap<String, Vec<Arc<Flow>>>>;

    /// Connections of one integration.
    async fn connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
    ) -> SourceResult<Vec<Arc<Connection>>>;

    /// Connections one flow reads from or writes to.
    async fn flow_connections(
        &self,
        scope: &RequestScope,
        flow: &Flow,
    ) -> SourceResult<Vec<Arc<Connection>>>;

    /// One connection by id, searched under its integration when known.
    async fn connection(
        &self,
        scope: &RequestScope,
        id: &str,
        integration_id: Option<&str>,
    ) -> SourceResult<Option<Arc<Connection>>>;
}

/// Sources whose integrations belong to teams (Truto).
#[async_trait]
pub trait TeamSource: Send + Sync {
    /// One team; `None` when unknown.
    async fn team(&self, scope: &RequestScope, id: &str) -> SourceResult<Option<Arc<Team>>>;
}

/// A partial update of an integration: only the fields that are `Some` change. For the JSON
/// fields, `Some(None)` removes the field upstream; the typed ones cannot be removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegrationUpdate {
    pub settings: Option<Option<serde_json::Value>>,
    pub version: Option<String>,
    pub tag: Option<Option<String>>,
    pub update_in_progress: Option<bool>,
    pub flow_groupings: Option<Vec<FlowGrouping>>,
    pub aliases: Option<Option<serde_json::Value>>,
}

impl IntegrationUpdate {
    /// Whether the update changes nothing (and should not reach the vendor).
    pub fn is_empty(&self) -> bool {
        *self == IntegrationUpdate::default()
    }
}

/// A named group of an integration's flows.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowGrouping {
    /// The vendor id of an existing grouping; `None` creates one.
    pub source_id: Option<String>,
    pub name: String,
    pub settings: Option<serde_json::Value>,
}

/// What creating a revision (snapshot) of an integration did.
#[derive(Clone, Debug)]
pub struct RevisionOutcome {
    /// `false` when the vendor skipped it because nothing changed since the last one.
    pub created: bool,
    /// The vendor id of the new revision, when the answer names it.
    pub revision_id: Option<String>,
    /// The revision as the vendor returned it, if it returned one.
    pub raw: Option<crate::domain::RawJson>,
}

/// An integration and the connections registered with it, after a registration change.
#[derive(Clone, Debug)]
pub struct Registration {
    pub integration: Arc<Integration>,
    pub connection_ids: Vec<String>,
}

/// Sources whose integrations can be changed through Chronograph (Celigo, DESIGN.md §2
/// mutations). Every method is one upstream write, never retried; the adapter drops the cached
/// reads the write changed and answers with the state after it.
#[async_trait]
pub trait IntegrationWriteSource: Send + Sync {
    /// Register connections with an integration; answers the registered ids afterwards.
    async fn register_connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_ids: &[String],
    ) -> SourceResult<Registration>;

    /// Unregister one connection from an integration; answers the registered ids afterwards.
    async fn unregister_connection(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_id: &str,
    ) -> SourceResult<Registration>;

    /// Snapshot an integration; with `ignore_if_no_changes`, the vendor may skip it.
    async fn create_revision(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        ignore_if_no_changes: bool,
    ) -> SourceResult<RevisionOutcome>;

    /// Copy an integration (and its flows); answers the new integration.
    async fn clone_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        name: Option<&str>,
    ) -> SourceResult<Arc<Integration>>;

    /// Change some fields of an integration; answers the integration afterwards.
    async fn update_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        update: &IntegrationUpdate,
    ) -> SourceResult<Arc<Integration>>;
}

/// What one configured source provides.
#[derive(Clone, Default)]
pub struct SourceSet {
    pub integrations: Option<Arc<dyn IntegrationSource>>,
    pub history: Option<Arc<dyn HistorySource>>,
    pub flows: Option<Arc<dyn FlowSource>>,
    pub teams: Option<Arc<dyn TeamSource>>,
    pub upstream: Option<Arc<http::Upstream>>,
    pub writes: Option<Arc<dyn IntegrationWriteSource>>,
}

/// Default retries of an idempotent GET (so up to three attempts).
pub const DEFAULT_RETRIES: u32 = 2;
/// Default interval of subscription polling, per source.
pub const DEFAULT_POLL_MS: u64 = 15_000;
/// Default cap on concurrent calls to one source.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// The cache, retry, breaker and concurrency policy of one source from its config.
fn policy_for(
    cfg: &SourceConfig,
    cache: Option<ResponseCache>,
    metrics: Arc<Metrics>,
) -> http::Policy {
    http::Policy::new(
        credential_identity(cfg),
        cache,
        Duration::from_secs(cfg.cache_ttl_s.unwrap_or(0)),
        Duration::from_secs(cfg.stale_if_error_s.unwrap_or(0)),
        cfg.retries.unwrap_or(DEFAULT_RETRIES),
        cfg.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
        metrics,
    )
}

/// A fingerprint of everything that identifies the caller to the vendor, so cached answers
/// and shared in-flight calls never cross credentials. The secrets themselves are not kept.
pub fn credential_identity(cfg: &SourceConfig) -> String {
    let secret = |s: &Option<secrecy::SecretString>| {
        s.as_ref()
            .map(|v| v.expose_secret().to_string())
            .unwrap_or_default()
    };
    http::secret_fingerprint(&[
        "configured",
        cfg.base(),
        &secret(&cfg.token),
        cfg.user_id.as_deref().unwrap_or_default(),
        &secret(&cfg.auth_token),
        cfg.email.as_deref().unwrap_or_default(),
        &secret(&cfg.password),
        cfg.client_id.as_deref().unwrap_or_default(),
        &secret(&cfg.client_secret),
        cfg.environment_id.as_deref().unwrap_or_default(),
    ])
}

/// What `Query.sources` reports for one source.
#[derive(Clone, Debug)]
pub struct SourceHealth {
    pub source: Source,
    pub healthy: bool,
    pub breaker: BreakerState,
    pub last_error: Option<String>,
    pub last_error_code: Option<crate::error::ErrorCode>,
    pub rate_limit_remaining: Option<i64>,
    pub retry_after_seconds: Option<u64>,
}

/// The registry of configured sources.
#[derive(Clone, Default)]
pub struct Sources {
    configured: HashMap<Source, SourceSet>,
    poll_intervals: HashMap<Source, Duration>,
    forwarding: Vec<Forwarding>,
}

/// Where callers send their own credentials for one source (`credential_header`).
#[derive(Clone, Debug)]
struct Forwarding {
    source: Source,
    base: String,
    header: String,
    user_id_header: Option<String>,
}

/// Longest credential header value accepted (vendor tokens are far shorter).
const MAX_CREDENTIAL_BYTES: usize = 4096;

impl Sources {
    /// Build every adapter the config names, each with its cache, retry, breaker and
    /// concurrency policy.
    pub fn from_config(
        sources: &SourcesConfig,
        cache: &crate::upstream::CacheConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Sources, SourceError> {
        let client = http::build_client()?;
        let shared = crate::upstream::shared::SharedStore::from_config(cache, metrics.clone())?;
        let cache = ResponseCache::new(cache.max_bytes, metrics.clone());
        let mut configured = HashMap::new();
        let mut poll_intervals = HashMap::new();
        let mut forwarding = Vec::new();
        for source in Source::ALL {
            let Some(cfg) = sources.get(source) else {
                continue;
            };
            let vendor = vendor(source);
            let wiring = crate::upstream::Wiring {
                client: client.clone(),
                policy: Arc::new(
                    policy_for(cfg, cache.clone(), metrics.clone()).with_shared(shared.clone()),
                ),
                // Without credentials of its own, every call needs the caller's.
                caller_header: cfg
                    .credential_header
                    .clone()
                    .filter(|_| !vendor.has_own_credentials(cfg)),
            };
            let set = (vendor.build)(&wiring, cfg)?;
            if let Some(header) = &cfg.credential_header {
                forwarding.push(Forwarding {
                    source,
                    base: cfg.base().to_string(),
                    header: header.to_ascii_lowercase(),
                    user_id_header: cfg.user_id_header.as_ref().map(|h| h.to_ascii_lowercase()),
                });
            }
            configured.insert(source, set);
            poll_intervals.insert(
                source,
                Duration::from_millis(cfg.poll_interval_ms.unwrap_or(DEFAULT_POLL_MS)),
            );
        }
        Ok(Sources {
            configured,
            poll_intervals,
            forwarding,
        })
    }

    /// At least `need` integrations (all when `None`) of one source, or of every configured
    /// source in enum order: each source is asked only for what the ones before it did not
    /// give. A source that fails costs only its own integrations (then the listing is not
    /// complete) and its error is returned beside the listing.
    pub async fn list_integrations(
        &self,
        scope: &RequestScope,
        source: Option<Source>,
        mut need: Option<usize>,
    ) -> Result<(Listing<Arc<Integration>>, Vec<SharedError>), SourceError> {
        let wanted = match source {
            Some(one) => {
                self.get(one)?;
                vec![one]
            }
            None => self.configured(),
        };
        let mut listing = Listing {
            items: Vec::new(),
            complete: true,
        };
        let mut failures = Vec::new();
        for one in wanted {
            if need == Some(0) {
                listing.complete = false;
                break;
            }
            let Some(src) = self.get(one).ok().and_then(|s| s.integrations.clone()) else {
                continue;
            };
            match src.list_integrations(scope, need).await {
                Ok(part) => {
                    need = need.map(|n| n.saturating_sub(part.items.len()));
                    listing.complete &= part.complete;
                    listing.items.extend(part.items);
                    if !part.complete {
                        break;
                    }
                }
                Err(err) => {
                    failures.push(err);
                    listing.complete = false;
                }
            }
        }
        Ok((listing, failures))
    }

    /// The request headers that may carry callers' own credentials (lower case), for CORS.
    pub fn credential_headers(&self) -> Vec<String> {
        self.forwarding
            .iter()
            .flat_map(|f| std::iter::once(f.header.clone()).chain(f.user_id_header.clone()))
            .collect()
    }

    /// The callers' own credentials a request carries, read with `header` (which looks a
    /// lower-case header name up). A header that is present but unusable (empty, too long,
    /// not visible ASCII, or a Rocket.Chat token without its user id) is a client error
    /// naming the header, never its value.
    pub fn caller_credentials<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<http::CallerCredentials, SourceError> {
        let mut credentials = http::CallerCredentials::default();
        let usable = |name: &str, value: &str| {
            let ok = !value.trim().is_empty()
                && value.len() <= MAX_CREDENTIAL_BYTES
                && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
            if ok {
                // `Bearer <token>` and a bare token mean the same (the scheme is added when sent).
                let value = value.trim();
                let token = match value.get(..7) {
                    Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
                    _ => value,
                };
                Ok(token.to_string())
            } else {
                Err(SourceError::bad_input(format!(
                    "the `{name}` header is not a usable credential (1 to {MAX_CREDENTIAL_BYTES} visible ASCII characters)"
                )))
            }
        };
        for forwarding in &self.forwarding {
            let token = header(&forwarding.header);
            let user_id = forwarding
                .user_id_header
                .as_deref()
                .map(|name| (name, header(name)));
            let (token, user_id) = match (token, user_id) {
                (None, None | Some((_, None))) => continue,
                (Some(token), None) => (usable(&forwarding.header, token)?, None),
                (Some(token), Some((name, Some(user)))) => (
                    usable(&forwarding.header, token)?,
                    Some(usable(name, user)?),
                ),
                (Some(_), Some((name, None))) | (None, Some((name, Some(_)))) => {
                    return Err(SourceError::bad_input(format!(
                        "send `{}` and `{name}` together",
                        forwarding.header
                    )))
                }
            };
            credentials.insert(
                forwarding.source,
                http::CallerCredential::new(
                    &forwarding.base,
                    secrecy::SecretString::from(token),
                    user_id,
                ),
            );
        }
        Ok(credentials)
    }

    /// Register a history provider for `source` directly (embedding Chronograph with custom
    /// sources, and tests of the timeline engine with in-memory streams).
    pub fn with_history(mut self, source: Source, history: Arc<dyn HistorySource>) -> Self {
        self.configured.entry(source).or_default().history = Some(history);
        self
    }

    /// Configured sources in enum order.
    pub fn configured(&self) -> Vec<Source> {
        Source::ALL
            .into_iter()
            .filter(|s| self.configured.contains_key(s))
            .collect()
    }

    /// Health of every configured source, in enum order (for `Query.sources`, `/readyz` and
    /// `/metrics`).
    pub fn health(&self) -> Vec<SourceHealth> {
        self.configured()
            .into_iter()
            .map(|source| {
                let upstream = self
                    .configured
                    .get(&source)
                    .and_then(|s| s.upstream.as_ref());
                let policy = upstream.map(|u| u.policy());
                let breaker = policy.map_or(BreakerState::Closed, |p| p.breaker.state());
                let last_error = upstream.and_then(|u| u.stats().last_error());
                let last_error_code = upstream.and_then(|u| u.stats().last_error_code());
                SourceHealth {
                    source,
                    healthy: breaker == BreakerState::Closed && last_error.is_none(),
                    breaker,
                    last_error,
                    last_error_code,
                    rate_limit_remaining: policy.and_then(|p| p.rate_limit_remaining()),
                    retry_after_seconds: policy.and_then(|p| p.retry_after_seconds()),
                }
            })
            .collect()
    }

    /// How often subscriptions poll `source` for new entries.
    pub fn poll_interval(&self, source: Source) -> Duration {
        self.poll_intervals
            .get(&source)
            .copied()
            .unwrap_or(Duration::from_millis(DEFAULT_POLL_MS))
    }

    /// The capabilities of one source, or `SOURCE_NOT_CONFIGURED`.
    pub fn get(&self, source: Source) -> Result<&SourceSet, SourceError> {
        self.configured
            .get(&source)
            .ok_or_else(|| SourceError::not_configured(source))
    }
}
