//! The registry of configured sources: building each adapter with its policy, callers' own
//! credentials, health, and the reads that span sources (`Query.integrations`).

use super::*;
use crate::metrics::Metrics;
use crate::upstream::cache::ResponseCache;
use crate::upstream::resilience::BreakerState;
use crate::upstream::{self as http, RequestScope};
use crate::FastHash;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Default retries of an idempotent GET (so up to three attempts).
pub const DEFAULT_RETRIES: u32 = 2;
/// Default interval of subscription polling, per source.
pub const DEFAULT_POLL_MS: u64 = 15_000;
/// Default cap on concurrent calls to one source.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// What the registry reads from a source's table, built-in or declared: the keys every source
/// takes, its credentials' fingerprint, and whether it has credentials of its own.
struct Common<'a> {
    identity: String,
    base: &'a str,
    cache_ttl_s: Option<u64>,
    stale_if_error_s: Option<u64>,
    retries: Option<u32>,
    max_concurrency: Option<usize>,
    poll_interval_ms: Option<u64>,
    credential_header: Option<&'a String>,
    user_id_header: Option<&'a String>,
    own_credentials: bool,
}

impl<'a> Common<'a> {
    fn builtin(source: Source, cfg: &'a SourceConfig) -> Self {
        Common {
            identity: credential_identity(cfg),
            base: cfg.base(),
            cache_ttl_s: cfg.cache_ttl_s,
            stale_if_error_s: cfg.stale_if_error_s,
            retries: cfg.retries,
            max_concurrency: cfg.max_concurrency,
            poll_interval_ms: cfg.poll_interval_ms,
            credential_header: cfg.credential_header.as_ref(),
            user_id_header: cfg.user_id_header.as_ref(),
            own_credentials: vendor(source).has_own_credentials(cfg),
        }
    }

    fn declared(cfg: &'a declared::settings::HttpSourceConfig) -> Self {
        Common {
            identity: declared_identity(cfg),
            base: cfg.base(),
            cache_ttl_s: cfg.cache_ttl_s,
            stale_if_error_s: cfg.stale_if_error_s,
            retries: cfg.retries,
            max_concurrency: cfg.max_concurrency,
            poll_interval_ms: cfg.poll_interval_ms,
            credential_header: cfg.credential_header.as_ref(),
            user_id_header: None,
            own_credentials: cfg.has_own_credentials(),
        }
    }

    /// The source's cache, retry, breaker and concurrency policy.
    fn policy(&self, cache: Option<ResponseCache>, metrics: Arc<Metrics>) -> http::Policy {
        http::Policy::new(
            self.identity.clone(),
            cache,
            Duration::from_secs(self.cache_ttl_s.unwrap_or(0)),
            Duration::from_secs(self.stale_if_error_s.unwrap_or(0)),
            self.retries.unwrap_or(DEFAULT_RETRIES),
            self.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
            metrics,
        )
    }
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

/// [`credential_identity`] of a declared source: its base URL and every credential of its
/// auth.
pub fn declared_identity(cfg: &declared::settings::HttpSourceConfig) -> String {
    let auth = cfg.auth.clone().unwrap_or_default();
    let secret = |s: &Option<secrecy::SecretString>| {
        s.as_ref()
            .map(|v| v.expose_secret().to_string())
            .unwrap_or_default()
    };
    http::secret_fingerprint(&[
        "declared",
        cfg.base(),
        auth.kind.as_deref().unwrap_or_default(),
        &secret(&auth.token),
        auth.header.as_deref().unwrap_or_default(),
        &secret(&auth.value),
        auth.username.as_deref().unwrap_or_default(),
        &secret(&auth.password),
        auth.token_url.as_deref().unwrap_or_default(),
        auth.client_id.as_deref().unwrap_or_default(),
        &secret(&auth.client_secret),
        auth.scope.as_deref().unwrap_or_default(),
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
    configured: HashMap<Source, SourceSet, FastHash>,
    poll_intervals: HashMap<Source, Duration, FastHash>,
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
        let mut registry = Sources::default();
        let wiring = |common: &Common| crate::upstream::Wiring {
            client: client.clone(),
            policy: Arc::new(
                common
                    .policy(cache.clone(), metrics.clone())
                    .with_shared(shared.clone()),
            ),
            // Without credentials of its own, every call needs the caller's.
            caller_header: common
                .credential_header
                .cloned()
                .filter(|_| !common.own_credentials),
        };
        for source in Source::ALL {
            let Some(cfg) = sources.get(source) else {
                continue;
            };
            let common = Common::builtin(source, cfg);
            let set = (vendor(source).build)(&wiring(&common), cfg)?;
            registry.register(source, &common, set);
        }
        for source in sources.declared_sources() {
            let Some(cfg) = sources.declared(source) else {
                continue;
            };
            let common = Common::declared(cfg);
            let set = declared::HttpSource::source_set(source, &wiring(&common), cfg)?;
            registry.register(source, &common, set);
        }
        Ok(registry)
    }

    /// Add one built source: its capabilities, polling interval and credential forwarding.
    fn register(&mut self, source: Source, common: &Common, set: SourceSet) {
        if let Some(header) = common.credential_header {
            self.forwarding.push(Forwarding {
                source,
                base: common.base.to_string(),
                header: header.to_ascii_lowercase(),
                user_id_header: common.user_id_header.map(|h| h.to_ascii_lowercase()),
            });
        }
        self.configured.insert(source, set);
        self.poll_intervals.insert(
            source,
            Duration::from_millis(common.poll_interval_ms.unwrap_or(DEFAULT_POLL_MS)),
        );
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

    /// Configured sources in enum order (built-in, then declared by name).
    pub fn configured(&self) -> Vec<Source> {
        let mut all: Vec<Source> = self.configured.keys().copied().collect();
        all.sort();
        all
    }

    /// The declared sources among them (for the schema's `Source` enum).
    pub fn declared(&self) -> Vec<Source> {
        self.configured()
            .into_iter()
            .filter(|s| s.is_declared())
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
