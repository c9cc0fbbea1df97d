//! `[sources.*]`: the settings of each source, and what each adapter declares about its vendor
//! ([`Vendor`]) so that config checking, the registry, the schema and the demo ask the adapter
//! instead of matching on vendors.

use super::SourceSet;
use crate::domain::Source;
use crate::error::SourceError;
use crate::upstream::Wiring;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// What an adapter knows about its vendor beyond its code: the config keys it takes, the
/// credentials it needs, the paths it adds to `base_url`, what it can do, and how it is built.
/// Each adapter has one (`src/sources/<vendor>/mod.rs`, `VENDOR`); [`super::vendor`] finds it.
pub struct Vendor {
    /// The keys of its `[sources.<name>]` table besides the ones every source takes.
    pub keys: &'static [&'static str],
    /// Its own credentials: one of these key sets, complete (the first is the one named when
    /// none is). Without them every call needs the caller's (`credential_header`).
    pub credentials: &'static [&'static [&'static str]],
    /// Callers' credentials come in two headers (`credential_header` and `user_id_header`).
    pub user_id_header: bool,
    /// The paths its calls put after `base_url` (`check-config` warns when `base_url` already
    /// ends with one).
    pub paths: &'static [&'static str],
    /// It has teams (`Query.team`, `Integration.team`).
    pub teams: bool,
    /// Its integrations can be changed (the mutations).
    pub writes: bool,
    /// Build its adapters.
    pub build: fn(&Wiring, &SourceConfig) -> Result<SourceSet, SourceError>,
}

impl Vendor {
    /// Whether `cfg` holds a complete set of its own credentials.
    pub fn has_own_credentials(&self, cfg: &SourceConfig) -> bool {
        let present = cfg.present_keys();
        self.credentials
            .iter()
            .any(|set| set.iter().all(|key| present.contains(key)))
    }
}

/// `[sources.*]`: one optional table per vendor; an absent table means an absent source. Any
/// other name is a declared source (`kind = "http"`); config checking has rejected every other
/// unknown name before this is deserialised.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SourcesConfig {
    pub rocketchat: Option<SourceConfig>,
    pub celigo: Option<SourceConfig>,
    pub hexabase: Option<SourceConfig>,
    pub truto: Option<SourceConfig>,
    pub dealcloud: Option<SourceConfig>,
    /// Declared sources by name (`[sources.github_deliveries]`).
    #[serde(flatten)]
    pub declared: std::collections::BTreeMap<String, super::declared::settings::HttpSourceConfig>,
}

impl SourcesConfig {
    /// The table of one source, if configured.
    pub fn get(&self, source: Source) -> Option<&SourceConfig> {
        match source {
            Source::Rocketchat => self.rocketchat.as_ref(),
            Source::Celigo => self.celigo.as_ref(),
            Source::Hexabase => self.hexabase.as_ref(),
            Source::Truto => self.truto.as_ref(),
            Source::Dealcloud => self.dealcloud.as_ref(),
            Source::Declared(_) => None,
        }
    }

    /// The declaration of a declared source, if configured.
    pub fn declared(&self, source: Source) -> Option<&super::declared::settings::HttpSourceConfig> {
        match source {
            Source::Declared(_) => self.declared.get(source.config_key()),
            _ => None,
        }
    }

    /// The declared sources, in name order (their names interned as [`Source`]s). A name that
    /// cannot be a source was reported by config checking and is left out.
    pub fn declared_sources(&self) -> Vec<Source> {
        let mut sources: Vec<Source> = self
            .declared
            .keys()
            .filter_map(|name| Source::declare(name).ok())
            .collect();
        sources.sort();
        sources
    }

    /// Every configured source: the built-in ones in enum order, then the declared ones.
    pub fn configured(&self) -> Vec<Source> {
        let mut all: Vec<Source> = Source::ALL
            .into_iter()
            .filter(|s| self.get(*s).is_some())
            .collect();
        all.extend(self.declared_sources());
        all
    }

    /// Where the table of one built-in source goes (`None` for a declared one).
    pub fn slot(&mut self, source: Source) -> Option<&mut Option<SourceConfig>> {
        match source {
            Source::Rocketchat => Some(&mut self.rocketchat),
            Source::Celigo => Some(&mut self.celigo),
            Source::Hexabase => Some(&mut self.hexabase),
            Source::Truto => Some(&mut self.truto),
            Source::Dealcloud => Some(&mut self.dealcloud),
            Source::Declared(_) => None,
        }
    }
}

/// The settings of one source. One struct serves every vendor so that `deny_unknown_fields`
/// keeps working; config validation rejects the keys a vendor does not take ([`Vendor::keys`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub base_url: String,
    pub token: Option<SecretString>,
    pub user_id: Option<String>,
    pub auth_token: Option<SecretString>,
    pub email: Option<String>,
    pub password: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub entry_types: Option<Vec<String>>,
    pub environment_id: Option<String>,
    pub include_calculated: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub cache_ttl_s: Option<u64>,
    pub stale_if_error_s: Option<u64>,
    pub max_concurrency: Option<usize>,
    pub retries: Option<u32>,
    /// How often `historyAdded` subscriptions poll this source (default 15 s).
    pub poll_interval_ms: Option<u64>,
    /// Multi-tenant use: a request header whose value is the caller's own credential for this
    /// source (a bearer token; Rocket.Chat's `X-Auth-Token`). When a request carries it,
    /// Chronograph calls the vendor with it instead of the configured credentials, and cached
    /// answers are kept apart per credential. With it set, the configured credentials become
    /// optional: without them, a request that does not send the header gets
    /// `UNAUTHENTICATED` for this source's fields.
    pub credential_header: Option<String>,
    /// Rocket.Chat only: the request header carrying the caller's `X-User-Id`, sent together
    /// with `credential_header`.
    pub user_id_header: Option<String>,
}

impl SourceConfig {
    /// Per-call upstream timeout (default 5 s).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(5_000))
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

fn exposed(secret: &Option<SecretString>) -> Option<&str> {
    secret.as_ref().map(|secret| secret.expose_secret())
}

impl SourceConfig {
    /// The credentials as set, by key (an empty one is worth a warning).
    pub fn credentials(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("token", exposed(&self.token)),
            ("user_id", self.user_id.as_deref()),
            ("auth_token", exposed(&self.auth_token)),
            ("email", self.email.as_deref()),
            ("password", exposed(&self.password)),
            ("client_id", self.client_id.as_deref()),
            ("client_secret", exposed(&self.client_secret)),
        ]
    }

    /// Which vendor-specific keys are set, by name.
    pub fn present_keys(&self) -> Vec<&'static str> {
        let flags = [
            ("token", self.token.is_some()),
            ("user_id", self.user_id.is_some()),
            ("auth_token", self.auth_token.is_some()),
            ("email", self.email.is_some()),
            ("password", self.password.is_some()),
            ("client_id", self.client_id.is_some()),
            ("client_secret", self.client_secret.is_some()),
            ("entry_types", self.entry_types.is_some()),
            ("environment_id", self.environment_id.is_some()),
            ("include_calculated", self.include_calculated.is_some()),
        ];
        flags
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_takes_its_credential_keys_and_adds_a_path() {
        for source in Source::ALL {
            let vendor = crate::sources::vendor(source);
            assert!(!vendor.paths.is_empty(), "{source:?} adds no path");
            for set in vendor.credentials {
                assert!(!set.is_empty(), "{source:?} has an empty credential set");
                for key in *set {
                    assert!(vendor.keys.contains(key), "{source:?} does not take {key}");
                }
            }
        }
    }

    #[test]
    fn own_credentials_are_any_complete_set() {
        let hexabase = crate::sources::vendor(Source::Hexabase);
        let login = SourceConfig {
            email: Some("a@b.c".into()),
            password: Some(SecretString::from("pw")),
            ..SourceConfig::default()
        };
        assert!(hexabase.has_own_credentials(&login));
        let half = SourceConfig {
            email: Some("a@b.c".into()),
            ..SourceConfig::default()
        };
        assert!(!hexabase.has_own_credentials(&half));
        let rocketchat = crate::sources::vendor(Source::Rocketchat);
        assert!(!rocketchat.has_own_credentials(&login));
    }
}
