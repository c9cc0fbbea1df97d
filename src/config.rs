//! Configuration: TOML plus `CHRONOGRAPH_…` environment overrides (DESIGN.md §8).
//!
//! Unknown keys are errors naming the key's path, secrets are `SecretString` so they never reach
//! a log line or an error message, and every value is validated once at load time.

use crate::domain::Source;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// `[telemetry]`: optional OpenTelemetry export.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL (spans go to `<url>/v1/traces`), e.g. `http://127.0.0.1:4318`.
    pub otlp_endpoint: Option<String>,
}

/// `[server]`: the HTTP surface and its limits (DESIGN.md §7).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// When non-empty, every GraphQL request needs `Authorization: Bearer <one of these>`.
    pub api_keys: Vec<SecretString>,
    pub request_timeout_ms: u64,
    pub introspection: bool,
    pub suggestions: bool,
    pub graphiql: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Most fields (and fragment spreads) one document may select once its fragments are
    /// expanded: a 1 KB document of nested fragments can otherwise stand for millions.
    pub max_fields: usize,
    pub max_batch: usize,
    pub body_limit_bytes: usize,
    /// Identical concurrent queries (same document, variables and credentials) share one
    /// execution; mutations never do.
    pub dedupe_requests: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8000".into(),
            api_keys: Vec::new(),
            request_timeout_ms: 10_000,
            introspection: true,
            suggestions: true,
            graphiql: true,
            max_depth: 15,
            max_complexity: 5_000,
            max_aliases: 50,
            max_fields: 3_000,
            max_batch: 10,
            body_limit_bytes: 1024 * 1024,
            dedupe_requests: true,
        }
    }
}

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

    fn validate(&self, problems: &mut Vec<String>) {
        if let Some(url) = &self.redis_url {
            if redis::Client::open(url.expose_secret()).is_err() {
                problems.push(
                    "cache.redis_url: not a Redis URL (redis://[user:password@]host[:port][/db], \
                     rediss:// for TLS, or unix:///path/to/socket)"
                        .into(),
                );
            }
        }
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 5_000 {
            problems.push("cache.redis_timeout_ms: must be between 1 and 5000".into());
        }
    }
}

/// A URL fit for logs and `check-config`: its password, if any, replaced by `***` (a Redis URL
/// or a source's `base_url` may carry `user:password@`). Text that is not a URL with a host
/// loses everything before its last `@`, so no spelling of a password gets through.
pub fn url_display(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.cannot_be_a_base() => {
            if url.password().is_none() {
                return text.to_string();
            }
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => {
            let start = text.find("://").map_or(0, |at| at + 3);
            match text[start..].rfind('@') {
                Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
                None => text.to_string(),
            }
        }
    }
}

/// `[sources.*]`: one optional table per vendor; an absent table means an absent source.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    pub rocketchat: Option<SourceConfig>,
    pub celigo: Option<SourceConfig>,
    pub hexabase: Option<SourceConfig>,
    pub truto: Option<SourceConfig>,
    pub dealcloud: Option<SourceConfig>,
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
        }
    }
}

/// The settings of one source. One struct serves every vendor so that `deny_unknown_fields`
/// keeps working; [`Config::validate`] rejects the keys a vendor does not take.
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

/// A configuration that could not be loaded, with one line per problem (`key.path: reason`).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![problem.into()],
        }
    }
}

/// Keys each vendor takes besides the common ones, and the ones it requires.
struct VendorKeys {
    allowed: &'static [&'static str],
    required: &'static [&'static str],
}

fn vendor_keys(source: Source) -> VendorKeys {
    match source {
        Source::Rocketchat => VendorKeys {
            allowed: &["user_id", "auth_token"],
            required: &["user_id", "auth_token"],
        },
        Source::Celigo | Source::Truto => VendorKeys {
            allowed: if source == Source::Truto {
                &["token", "environment_id"]
            } else {
                &["token"]
            },
            required: &["token"],
        },
        Source::Hexabase => VendorKeys {
            allowed: &["token", "email", "password"],
            required: &[],
        },
        Source::Dealcloud => VendorKeys {
            allowed: &[
                "client_id",
                "client_secret",
                "entry_types",
                "include_calculated",
            ],
            required: &["client_id", "client_secret"],
        },
    }
}

impl SourceConfig {
    /// Which vendor-specific keys are set, by name.
    fn present_keys(&self) -> Vec<&'static str> {
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

impl Config {
    /// Load a TOML file, apply `CHRONOGRAPH_…` overrides (`__` separates keys) and validate.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::one(format!(
                "{}: no such file (give --config a TOML file, see README.md)",
                path.display()
            )));
        }
        Self::from_figment(Figment::new().merge(Toml::file(path)))
    }

    /// Parse TOML text (with the same overrides and validation as [`Config::load`]).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let figment = figment.merge(Env::prefixed("CHRONOGRAPH_").split("__"));
        let config: Config = figment.extract().map_err(|err| ConfigError {
            problems: err.into_iter().map(describe_figment_error).collect(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Check cross-field rules and vendor keys; collect every problem, not just the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8000",
                self.server.listen
            ));
        }
        let positive = [
            (
                "server.request_timeout_ms",
                self.server.request_timeout_ms as usize,
            ),
            ("server.max_depth", self.server.max_depth),
            ("server.max_complexity", self.server.max_complexity),
            ("server.max_aliases", self.server.max_aliases),
            ("server.max_fields", self.server.max_fields),
            ("server.max_batch", self.server.max_batch),
            ("server.body_limit_bytes", self.server.body_limit_bytes),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        if self
            .server
            .api_keys
            .iter()
            .any(|k| k.expose_secret().trim().is_empty())
        {
            problems.push("server.api_keys: keys must not be empty".into());
        }
        self.cache.validate(&mut problems);
        for source in Source::ALL {
            if let Some(cfg) = self.sources.get(source) {
                validate_source(source, cfg, &mut problems);
                let authorization = [&cfg.credential_header, &cfg.user_id_header]
                    .into_iter()
                    .flatten()
                    .any(|h| h.eq_ignore_ascii_case("authorization"));
                if authorization && !self.server.api_keys.is_empty() {
                    problems.push(format!(
                        "sources.{}.credential_header: `Authorization` carries Chronograph's own api_keys; forward credentials in another header",
                        source.config_key()
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The listen address (validated at load).
    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8000)))
    }

    /// A human summary for `check-config`, with every secret replaced by `***`.
    pub fn summary(&self) -> String {
        let mut lines = vec![
            format!("server.listen = {}", self.server.listen),
            format!("server.api_keys = {} key(s)", self.server.api_keys.len()),
            format!("server.introspection = {}", self.server.introspection),
            format!("cache.max_bytes = {}", self.cache.max_bytes),
            format!("cache.redis_url = {}", self.cache.redis_display()),
        ];
        for source in Source::ALL {
            match self.sources.get(source) {
                Some(cfg) => lines.push(format!(
                    "sources.{} = {} (credentials: {}{})",
                    source.config_key(),
                    url_display(cfg.base()),
                    cfg.present_keys().join(", "),
                    cfg.credential_header
                        .as_deref()
                        .map(|h| format!("; callers' own from header {h}"))
                        .unwrap_or_default()
                )),
                None => lines.push(format!("sources.{} = not configured", source.config_key())),
            }
        }
        lines.join("\n")
    }
}

fn validate_source(source: Source, cfg: &SourceConfig, problems: &mut Vec<String>) {
    let prefix = format!("sources.{}", source.config_key());
    match url::Url::parse(cfg.base()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => problems.push(format!(
            "{prefix}.base_url: `{}` is not an http(s) URL",
            url_display(&cfg.base_url)
        )),
    }
    let keys = vendor_keys(source);
    for key in cfg.present_keys() {
        if !keys.allowed.contains(&key) {
            problems.push(format!("{prefix}.{key}: unknown key for this source"));
        }
    }
    // With forwarded credentials the configured ones are a fallback, and may be absent.
    let forwarding = cfg.credential_header.is_some();
    for key in keys.required.iter().filter(|_| !forwarding) {
        if !cfg.present_keys().contains(key) {
            problems.push(format!("{prefix}.{key}: missing (required)"));
        }
    }
    validate_forwarding(source, cfg, &prefix, problems);
    if source == Source::Hexabase && !forwarding {
        let login = cfg.email.is_some() && cfg.password.is_some();
        if cfg.token.is_none() && !login {
            problems.push(format!(
                "{prefix}.token: missing (or give email and password)"
            ));
        }
    }
    if cfg.timeout_ms == Some(0) {
        problems.push(format!("{prefix}.timeout_ms: must be greater than 0"));
    }
    if cfg.poll_interval_ms.is_some_and(|ms| ms < 100) {
        problems.push(format!("{prefix}.poll_interval_ms: must be at least 100"));
    }
    if cfg.max_concurrency == Some(0) {
        problems.push(format!("{prefix}.max_concurrency: must be greater than 0"));
    }
    if let Some(types) = &cfg.entry_types {
        if types.iter().any(|t| t.trim().is_empty()) {
            problems.push(format!("{prefix}.entry_types: entries must not be empty"));
        }
    }
}

/// Request headers that carry something else and so can never carry a vendor credential.
const RESERVED_HEADERS: [&str; 10] = [
    "accept",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "origin",
    "sec-websocket-protocol",
    "transfer-encoding",
    "upgrade",
];

/// `credential_header` / `user_id_header`: valid, distinct header names that do not collide with
/// what HTTP or Chronograph's own `Authorization` (when `api_keys` are set) already use.
fn validate_forwarding(
    source: Source,
    cfg: &SourceConfig,
    prefix: &str,
    problems: &mut Vec<String>,
) {
    let names = [
        ("credential_header", cfg.credential_header.as_deref()),
        ("user_id_header", cfg.user_id_header.as_deref()),
    ];
    for (key, name) in names {
        let Some(name) = name else { continue };
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) if RESERVED_HEADERS.contains(&header.as_str()) => {
                problems.push(format!("{prefix}.{key}: `{name}` is reserved by HTTP"))
            }
            Ok(_) => {}
            Err(_) => problems.push(format!("{prefix}.{key}: `{name}` is not a header name")),
        }
    }
    let rocketchat = source == Source::Rocketchat;
    match (&cfg.credential_header, &cfg.user_id_header) {
        (Some(_), None) if rocketchat => problems.push(format!(
            "{prefix}.user_id_header: missing (Rocket.Chat credentials are a user id and a token)"
        )),
        (None, Some(_)) => {
            problems.push(format!("{prefix}.user_id_header: needs credential_header"))
        }
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => problems.push(format!(
            "{prefix}.user_id_header: must differ from credential_header"
        )),
        (_, Some(_)) if !rocketchat => problems.push(format!(
            "{prefix}.user_id_header: unknown key for this source"
        )),
        _ => {}
    }
}

/// The dotted path of `field`, whether or not figment already appended it to `path`.
fn key_path(path: &[String], field: &str) -> String {
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    if parts.last() != Some(&field) {
        parts.push(field);
    }
    parts.join(".")
}

/// `key.path: reason` for one figment error, without values (they may be secrets).
fn describe_figment_error(err: figment::Error) -> String {
    use figment::error::Kind;
    let path = err.path.join(".");
    let reason = match &err.kind {
        Kind::UnknownField(field, _) => {
            return format!("{}: unknown key", key_path(&err.path, field))
        }
        Kind::MissingField(field) => {
            return format!("{}: missing (required)", key_path(&err.path, field))
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(_, expected) => format!("invalid value, expected {expected}"),
        Kind::Message(msg) => msg.clone(),
        other => other.to_string(),
    };
    let origin = err
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    if path.is_empty() {
        format!("{reason}{origin}")
    } else {
        format!("{path}: {reason}{origin}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_from_design_loads() {
        let text = r#"
[server]
listen = "0.0.0.0:8000"
[cache]
max_bytes = 67108864
[sources.celigo]
base_url = "https://api.integrator.io"
token = "secret-celigo"
[sources.rocketchat]
base_url = "https://chat.example.com"
user_id = "u"
auth_token = "a"
"#;
        let config = Config::from_toml_str(text).expect("valid");
        assert!(config.sources.celigo.is_some());
        assert!(!config.summary().contains("secret-celigo"));
        assert!(!format!("{config:?}").contains("secret-celigo"));
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let err = Config::from_toml_str(
            "[sources.celigo]\nbase_url='https://x.io'\ntoken='t'\ntokn='x'\n",
        )
        .expect_err("unknown key");
        assert!(
            err.to_string().contains("sources.celigo.tokn: unknown key"),
            "{err}"
        );
        let err = Config::from_toml_str(
            "[sources.celigo]\nbase_url='https://x.io'\ntoken='t'\nuser_id='x'\n",
        )
        .expect_err("key of another vendor");
        assert!(
            err.to_string()
                .contains("sources.celigo.user_id: unknown key for this source"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_reported_without_secrets() {
        let err = Config::from_toml_str(
            "[server]\nlisten='nowhere'\n[sources.celigo]\nbase_url='ftp:/x'\ntoken='hunter2'\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("server.listen"), "{text}");
        assert!(text.contains("sources.celigo.base_url"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn forwarded_credentials_make_configured_ones_optional_and_are_checked() {
        let config = Config::from_toml_str(
            "[sources.celigo]\nbase_url='https://x.io'\ncredential_header='X-Celigo-Token'\n",
        )
        .expect("a forwarding source needs no token of its own");
        assert!(config
            .summary()
            .contains("callers' own from header X-Celigo-Token"));
        let problems = |text: &str| {
            Config::from_toml_str(text)
                .expect_err("invalid")
                .to_string()
        };
        let text = problems(
            "[sources.rocketchat]\nbase_url='https://x.io'\ncredential_header='x-rc-token'\n",
        );
        assert!(
            text.contains("sources.rocketchat.user_id_header: missing"),
            "{text}"
        );
        let text =
            problems("[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Cookie'\n");
        assert!(
            text.contains("sources.celigo.credential_header: `Cookie` is reserved"),
            "{text}"
        );
        let text =
            problems("[sources.celigo]\nbase_url='https://x.io'\ncredential_header='bad header'\n");
        assert!(text.contains("is not a header name"), "{text}");
        let text =
            problems("[sources.truto]\nbase_url='https://x.io'\ntoken='t'\nuser_id_header='x-u'\n");
        assert!(
            text.contains("sources.truto.user_id_header: needs credential_header"),
            "{text}"
        );
        let text = problems("[server]\napi_keys=['k']\n[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Authorization'\n");
        assert!(
            text.contains("carries Chronograph's own api_keys"),
            "{text}"
        );
        Config::from_toml_str(
            "[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Authorization'\n",
        )
        .expect("without api_keys, Authorization may carry the vendor token");
    }

    #[test]
    fn redis_url_is_checked_and_its_password_never_shown() {
        let err = Config::from_toml_str("[cache]\nredis_url='http://:hunter2@cache:6379'\n")
            .expect_err("not a Redis URL");
        let text = err.to_string();
        assert!(text.contains("cache.redis_url: not a Redis URL"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = Config::from_toml_str("[cache]\nredis_timeout_ms=0\n").expect_err("zero");
        assert!(err.to_string().contains("cache.redis_timeout_ms"), "{err}");
        let config = Config::from_toml_str(
            "[cache]\nredis_url='redis://app:hunter2@cache.internal:6379/2'\n",
        )
        .expect("valid");
        let summary = config.summary();
        assert!(
            summary.contains("cache.redis_url = redis://app:***@cache.internal:6379/2"),
            "{summary}"
        );
        assert!(!summary.contains("hunter2") && !format!("{config:?}").contains("hunter2"));
        assert!(Config::from_toml_str("")
            .expect("empty")
            .summary()
            .contains("cache.redis_url = not set"));
    }

    #[test]
    fn url_display_masks_every_spelling_of_a_password() {
        let cases = [
            (
                "http://user:hunter2@host:9/api",
                "http://user:***@host:9/api",
            ),
            ("redis://:hunter2@cache:6379/2", "redis://:***@cache:6379/2"),
            ("https://api.integrator.io", "https://api.integrator.io"),
            ("http://user@host", "http://user@host"),
            // Not URLs with a host: everything before the last `@` goes.
            ("http://user:hun/ter2@host", "http://***@host"),
            ("user:hunter2@cache:6379", "***@cache:6379"),
            ("not a url", "not a url"),
        ];
        for (text, shown) in cases {
            assert_eq!(url_display(text), shown, "{text}");
        }
    }

    #[test]
    fn a_password_in_a_base_url_is_never_shown() {
        let config = Config::from_toml_str(
            "[sources.celigo]\nbase_url='http://user:hunter2@127.0.0.1:9'\ntoken='t'\n",
        )
        .expect("valid");
        let summary = config.summary();
        assert!(
            summary.contains("sources.celigo = http://user:***@127.0.0.1:9"),
            "{summary}"
        );
        assert!(!summary.contains("hunter2"), "{summary}");
        let err =
            Config::from_toml_str("[sources.celigo]\nbase_url='ftp://user:hunter2@x'\ntoken='t'\n")
                .expect_err("not http(s)");
        assert!(err.to_string().contains("ftp://user:***@x"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
