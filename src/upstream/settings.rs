//! `[cache]`: what the upstream caches are built from.

use crate::redact::url_display;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// `[cache]`: the shared upstream cache (DESIGN.md §5) and, with `redis_url`, the state
/// replicas share (DESIGN.md §9).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub max_bytes: u64,
    /// Redis (or Valkey) as second-level cache and store of rate-limit and breaker hints
    /// shared by replicas; a secret because it may carry a password.
    pub redis_url: Option<SecretString>,
    /// Prepended to every Redis key, so several deployments can share one Redis.
    pub redis_key_prefix: String,
    /// Longest wait for one Redis operation before the replica carries on without it.
    pub redis_timeout_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 64 * 1024 * 1024,
            redis_url: None,
            redis_key_prefix: "chronograph:".into(),
            redis_timeout_ms: 200,
        }
    }
}

impl CacheConfig {
    /// The per-operation Redis timeout.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// `redis_url` fit for logs and `check-config`: any password replaced by `***`.
    pub fn redis_display(&self) -> String {
        match &self.redis_url {
            Some(url) => url_display(url.expose_secret()),
            None => "not set".into(),
        }
    }
}
