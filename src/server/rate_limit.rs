//! Per-client rate limits (`[server.rate_limit]`): GCRA, the generic cell rate algorithm.
//!
//! Each client has a "theoretical arrival time" (TAT): a request of weight `w` moves it
//! `w × interval` on (interval = 1 s / `per_second`), starting from now if it is in the past;
//! the request is allowed when the new TAT is at most `burst × interval` ahead of now, else it
//! is refused and told to come back when it would be (`Retry-After`). One number per client,
//! no timers, exact at any rate.
//!
//! The client is the API key it sent (when `server.api_keys` are set), else the fingerprint of
//! the vendor credentials it forwards, else its peer address; keys and credentials are only
//! ever kept as SHA-256 fingerprints, and `/metrics` counts by class alone.
//!
//! With `[cache] redis_url` the TAT lives in Redis and one Lua script reads, checks and moves
//! it atomically (using Redis's clock, so replica clock skew does not matter): every replica
//! enforces the same limit. When Redis does not answer, the replica decides from its own map
//! (never lets everything through), counts it and warns (`SharedStore` logs at most every
//! 30 s). The local map is bounded; an entry idle for longer than the burst window is dropped,
//! which loses nothing (its TAT is in the past).

use crate::config::RateLimitConfig;
use crate::metrics::edge::ClientClass;
use crate::metrics::Metrics;
use crate::upstream::shared::SharedStore;
use crate::upstream::CallerCredentials;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients tracked at once by one replica (about 100 bytes each).
const LOCAL_CLIENTS: u64 = 100_000;

/// GCRA in Redis: KEYS[1] holds the TAT in microseconds of Redis's clock; ARGV = interval,
/// tolerance (both µs) and weight. Returns 0 when allowed, else the µs to wait.
const GCRA_SCRIPT: &str = r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval * weight
local ahead = next_tat - now
if ahead > tolerance then
  return ahead - tolerance
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil(ahead / 1000) + 1)
return 0
"#;

/// Who a request is counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub class: ClientClass,
    /// `k:`/`c:` + a fingerprint, or `a:` + the address: never a raw key or credential.
    key: String,
}

impl Client {
    /// The API key (when `server.api_keys` are set and the request carries one: it was checked
    /// before), else the caller's forwarded vendor credentials, else the peer address.
    pub fn identify(
        api_keys: bool,
        authorization: Option<&str>,
        credentials: &CallerCredentials,
        peer: Option<IpAddr>,
    ) -> Client {
        let bearer = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(key) = bearer.filter(|_| api_keys) {
            return Client {
                class: ClientClass::ApiKey,
                key: format!("k:{}", crate::upstream::scope::secret_fingerprint(&[key])),
            };
        }
        if !credentials.is_empty() {
            let identities = credentials.identities();
            return Client {
                class: ClientClass::Credential,
                key: format!(
                    "c:{}",
                    crate::upstream::scope::secret_fingerprint(&[&identities])
                ),
            };
        }
        let address = peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        Client {
            class: ClientClass::Address,
            key: format!("a:{address}"),
        }
    }
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

/// The limiter of `[server.rate_limit]`.
pub struct RateLimiter {
    interval_us: u64,
    burst: u64,
    local: moka::sync::Cache<String, Arc<Mutex<u64>>>,
    epoch: Instant,
    shared: Option<Arc<SharedStore>>,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    /// A limiter for `config`, sharing its state through `shared` when given.
    pub fn new(
        config: &RateLimitConfig,
        shared: Option<Arc<SharedStore>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let interval_us = (1_000_000 / config.per_second.max(1)).max(1);
        let burst = config.burst().max(1);
        let window = Duration::from_micros(interval_us.saturating_mul(burst + 1));
        RateLimiter {
            interval_us,
            burst,
            local: moka::sync::Cache::builder()
                .max_capacity(LOCAL_CLIENTS)
                .time_to_idle(window)
                .build(),
            epoch: Instant::now(),
            shared,
            metrics,
        }
    }

    /// Count `weight` requests (the operations of a batch; at most the burst, so any batch can
    /// pass from a full allowance) against `client`.
    pub async fn check(&self, client: &Client, weight: u64) -> Decision {
        let weight = weight.clamp(1, self.burst);
        let decision = match self.check_shared(client, weight).await {
            Some(decision) => decision,
            None => self.check_local(client, weight),
        };
        self.metrics
            .edge
            .rate_limit(client.class, decision == Decision::Allowed);
        decision
    }

    fn tolerance_us(&self) -> u64 {
        self.interval_us.saturating_mul(self.burst)
    }

    /// The decision Redis took, or `None` without Redis or when it did not answer.
    async fn check_shared(&self, client: &Client, weight: u64) -> Option<Decision> {
        let shared = self.shared.as_ref()?;
        let args = [self.interval_us, self.tolerance_us(), weight];
        let wait: Option<i64> = shared
            .eval(GCRA_SCRIPT, "ratelimit", &client.key, &args)
            .await;
        let Some(wait) = wait else {
            self.metrics
                .edge
                .rate_limit_local_fallbacks
                .fetch_add(1, Ordering::Relaxed);
            return None;
        };
        Some(match u64::try_from(wait).unwrap_or(0) {
            0 => Decision::Allowed,
            wait => Decision::Limited {
                retry_after: Duration::from_micros(wait),
            },
        })
    }

    fn check_local(&self, client: &Client, weight: u64) -> Decision {
        let now = self.epoch.elapsed().as_micros() as u64;
        let cell = self
            .local
            .get_with_by_ref(&client.key, || Arc::new(Mutex::new(now)));
        let mut tat = cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = (*tat).max(now) + self.interval_us.saturating_mul(weight);
        let ahead = next - now;
        if ahead > self.tolerance_us() {
            return Decision::Limited {
                retry_after: Duration::from_micros(ahead - self.tolerance_us()),
            };
        }
        *tat = next;
        Decision::Allowed
    }
}

/// Whole seconds to put in `Retry-After` (at least 1: HTTP cannot say less).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The error of a refused request: `RATE_LIMITED`, with `retryAfterSeconds`.
pub fn limited_error(retry_after_seconds: u64) -> async_graphql::ServerError {
    let message = format!(
        "too many requests from this client (server.rate_limit): retry in {retry_after_seconds} s"
    );
    let mut error = crate::schema::guard::coded(
        async_graphql::ServerError::new(message, None),
        crate::error::ErrorCode::RateLimited,
    );
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("retryAfterSeconds", retry_after_seconds);
    error
}

/// The peer address of a request, as the accept loop recorded it (`None` for a router served
/// some other way, e.g. in benchmarks).
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u64, burst: u64) -> RateLimiter {
        let config = RateLimitConfig {
            per_second,
            burst: Some(burst),
        };
        RateLimiter::new(&config, None, Arc::new(Metrics::default()))
    }

    fn address(last: u8) -> Client {
        Client::identify(
            false,
            None,
            &CallerCredentials::default(),
            Some(IpAddr::from([10, 0, 0, last])),
        )
    }

    #[tokio::test]
    async fn allows_the_burst_then_refuses_until_the_interval_passes() {
        let limiter = limiter(1, 3);
        let client = address(1);
        for _ in 0..3 {
            assert_eq!(limiter.check(&client, 1).await, Decision::Allowed);
        }
        let Decision::Limited { retry_after } = limiter.check(&client, 1).await else {
            panic!("the fourth request is over the burst");
        };
        assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        assert!(retry_after > Duration::from_millis(900), "{retry_after:?}");
        assert_eq!(retry_after_seconds(retry_after), 1);
        // Another client has its own allowance.
        assert_eq!(limiter.check(&address(2), 1).await, Decision::Allowed);
    }

    #[tokio::test]
    async fn a_batch_counts_each_operation_up_to_the_burst() {
        let limiter = limiter(1, 5);
        let client = address(3);
        assert_eq!(limiter.check(&client, 50).await, Decision::Allowed);
        assert!(matches!(
            limiter.check(&client, 1).await,
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn clients_are_fingerprints_never_raw_keys() {
        let client = Client::identify(
            true,
            Some("Bearer sekrit-key"),
            &CallerCredentials::default(),
            None,
        );
        assert_eq!(client.class, ClientClass::ApiKey);
        assert!(!client.key.contains("sekrit"), "{}", client.key);
        // Without api_keys an Authorization header is not a client identity.
        let client = Client::identify(
            false,
            Some("Bearer sekrit-key"),
            &CallerCredentials::default(),
            None,
        );
        assert_eq!(client.class, ClientClass::Address);
    }
}
