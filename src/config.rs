//! Configuration: TOML plus `CHRONOGRAPH_…` environment overrides (DESIGN.md §8).
//!
//! Unknown keys are errors naming the key's path, secrets are `SecretString` so they never reach
//! a log line or an error message, and every value is validated once at load time, every problem
//! in one run (see `check`).

mod check;

pub use crate::redact::url_display;
pub use crate::sources::settings::{SourceConfig, SourcesConfig};
pub use crate::upstream::CacheConfig;
pub use check::Origins;

use crate::domain::Source;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Tag, Value};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

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
    /// Largest request body, and largest WebSocket message.
    pub body_limit_bytes: usize,
    /// Representations one `_entities` call may resolve (federation gateways batch them).
    pub max_entities: usize,
    /// Operations one WebSocket may run at once.
    pub max_subscriptions_per_connection: usize,
    /// Subscription pollers the process runs at most (one per subject set and caller).
    pub max_pollers: usize,
    /// How long a WebSocket may wait before `connection_init` (then close 4408).
    pub ws_init_timeout_ms: u64,
    /// A request's headers must arrive within this; also how long an idle keep-alive
    /// connection stays open.
    pub header_read_timeout_ms: u64,
    /// A request's body must arrive within this.
    pub body_read_timeout_ms: u64,
    /// Open client connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Identical concurrent queries (same document, variables and credentials) share one
    /// execution; mutations never do.
    pub dedupe_requests: bool,
    /// A trusted-documents manifest (JSON object, id → document), as Relay and GraphQL
    /// Codegen emit it; clients send `documentId` or the APQ hash instead of the text.
    pub persisted_documents: Option<String>,
    /// Refuse every operation that is not in `persisted_documents`.
    pub persisted_only: bool,
    /// Automatic persisted queries (Apollo's protocol): clients may register documents.
    pub apq: bool,
    /// Documents clients may register through APQ, at most (least recently used go first).
    pub apq_max_entries: usize,
    /// Largest document APQ registers (larger ones still run, unregistered).
    pub apq_max_document_bytes: usize,
    /// `[server.rate_limit]`: per-client request rate; none when the table is absent.
    pub rate_limit: Option<RateLimitConfig>,
}

/// `[server.rate_limit]`: a GCRA limit per client (API key, else caller credential, else peer
/// address), shared by replicas through Redis when `cache.redis_url` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per client (required: 0 stands for "not given", so that
    /// a table without it is reported with every other problem instead of stopping serde).
    #[serde(default)]
    pub per_second: u64,
    /// Requests a client may send at once beyond the sustained rate (default: `per_second`).
    pub burst: Option<u64>,
}

impl RateLimitConfig {
    /// The burst in use.
    pub fn burst(&self) -> u64 {
        self.burst.unwrap_or(self.per_second)
    }
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
            max_entities: 100,
            max_subscriptions_per_connection: 100,
            max_pollers: 500,
            ws_init_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_connections: 1_024,
            dedupe_requests: true,
            persisted_documents: None,
            persisted_only: false,
            apq: true,
            apq_max_entries: 1_000,
            apq_max_document_bytes: 16 * 1024,
            rate_limit: None,
        }
    }
}

/// `[cache]`'s rules beyond its types.
fn validate_cache(cache: &CacheConfig, problems: &mut Vec<Finding>) {
    if let Some(url) = &cache.redis_url {
        if redis::Client::open(url.expose_secret()).is_err() {
            problems.push(Finding::new(
                "cache.redis_url",
                format!(
                    "`{}` is not a Redis URL (redis://[user:password@]host[:port][/db], \
                         rediss:// for TLS, or unix:///path/to/socket)",
                    cache.redis_display()
                ),
            ));
        }
    }
}

/// `persisted_documents` must load; `persisted_only` needs it.
fn validate_persisted(server: &ServerConfig, problems: &mut Vec<Finding>) {
    match &server.persisted_documents {
        Some(path) => {
            if let Err(reason) = crate::server::persisted::Manifest::load(Path::new(path)) {
                problems.push(Finding::new("server.persisted_documents", reason));
            }
        }
        None if server.persisted_only => problems.push(Finding::new(
            "server.persisted_only",
            "needs server.persisted_documents (the manifest of the operations to allow)",
        )),
        None => {}
    }
}

/// One thing wrong with a configuration: the dotted key it is about (empty for the whole file),
/// why, and for an unknown key the known one it most likely meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub key: String,
    pub reason: String,
    pub did_you_mean: Option<String>,
}

impl Finding {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Finding {
            key: key.into(),
            reason: reason.into(),
            did_you_mean: None,
        }
    }
}

/// A configuration that could not be loaded: one line per problem (`key.path: reason`, the key
/// spelled the way it was set), then the warnings the rest of it gave.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![problem.into()],
            warnings: Vec::new(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration:")?;
        for problem in &self.problems {
            write!(f, "\n{problem}")?;
        }
        for warning in &self.warnings {
            write!(f, "\nwarning: {warning}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A configuration that loaded, where its values came from, and what looks wrong in it without
/// stopping it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// One line each, like problems: `check-config` prints them, `serve` logs them.
    pub warnings: Vec<String>,
    pub origins: Origins,
}

impl Config {
    /// Load a TOML file, apply `CHRONOGRAPH_…` overrides (`__` separates keys) and check it all:
    /// every problem is reported, not only the first.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::one(format!(
                "{}: no such file (give --config a TOML file, see README.md)",
                path.display()
            )));
        }
        Self::from_figment(Figment::new().merge(Toml::file(path)), Some(path))
    }

    /// [`Config::load`] for TOML text.
    pub fn load_str(text: &str) -> Result<Loaded, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)), None)
    }

    /// Parse TOML text (with the same overrides and checks as [`Config::load`]), without its
    /// warnings.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::load_str(text).map(|loaded| loaded.config)
    }

    /// Check the raw values first (every unknown key and bad value, which serde would stop at
    /// one of), deserialise what is left, and validate that, so one run reports everything.
    fn from_figment(figment: Figment, file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let figment = figment.merge(check::env_overrides());
        let mut raw: Dict = figment.extract().map_err(|err| {
            let origins = Origins::of(&figment, &Dict::new(), file);
            ConfigError {
                problems: err
                    .into_iter()
                    .map(|err| origins.line(&describe_figment_error(err)))
                    .collect(),
                warnings: Vec::new(),
            }
        })?;
        let origins = Origins::of(&figment, &raw, file);
        check::env_text_for_strings(&mut raw, &origins);
        let mut findings = check::check_raw(&mut raw);
        let lines = |findings: &[Finding]| findings.iter().map(|f| origins.line(f)).collect();
        let config = match Config::deserialize(&Value::Dict(Tag::Default, raw)) {
            Ok(config) => config,
            Err(err) => {
                findings.extend(err.into_iter().map(describe_figment_error));
                return Err(ConfigError {
                    problems: lines(&findings),
                    warnings: Vec::new(),
                });
            }
        };
        // A key whose raw value was dropped reads as unset now: say nothing more about it.
        let reported: Vec<String> = findings.iter().map(|f| f.key.clone()).collect();
        let about_reported = |finding: &Finding| {
            reported
                .iter()
                .any(|key| finding.key == *key || finding.key.starts_with(&format!("{key}.")))
        };
        let validation = config.findings();
        findings.extend(validation.into_iter().filter(|f| !about_reported(f)));
        findings.sort_by(|a, b| a.key.cmp(&b.key));
        let warnings = lines(&check::warnings(&config));
        if findings.is_empty() {
            Ok(Loaded {
                config,
                warnings,
                origins,
            })
        } else {
            Err(ConfigError {
                problems: lines(&findings),
                warnings,
            })
        }
    }

    /// Every secret of the configuration, for [`crate::redact`]: vendor credentials, API keys
    /// and the Redis URL's password.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .server
            .api_keys
            .iter()
            .map(|k| k.expose_secret().to_string())
            .collect();
        if let Some(url) = &self.cache.redis_url {
            if let Some(password) = url::Url::parse(url.expose_secret())
                .ok()
                .and_then(|u| u.password().map(str::to_string))
            {
                out.push(password);
            }
        }
        for source in Source::ALL {
            if let Some(cfg) = self.sources.get(source) {
                for secret in [
                    &cfg.token,
                    &cfg.auth_token,
                    &cfg.password,
                    &cfg.client_secret,
                ]
                .into_iter()
                .flatten()
                {
                    out.push(secret.expose_secret().to_string());
                }
            }
        }
        for cfg in self.sources.declared.values() {
            let Some(auth) = &cfg.auth else { continue };
            for secret in [
                &auth.token,
                &auth.value,
                &auth.password,
                &auth.client_secret,
            ]
            .into_iter()
            .flatten()
            {
                out.push(secret.expose_secret().to_string());
            }
        }
        out
    }

    /// Check cross-field rules, bounds and vendor keys; collect every problem, not just the
    /// first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let findings = self.findings();
        if findings.is_empty() {
            return Ok(());
        }
        let origins = Origins::default();
        Err(ConfigError {
            problems: findings.iter().map(|f| origins.line(f)).collect(),
            warnings: Vec::new(),
        })
    }

    fn findings(&self) -> Vec<Finding> {
        let mut problems = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(Finding::new(
                "server.listen",
                format!(
                    "`{}` is not an address like 127.0.0.1:8000",
                    self.server.listen
                ),
            ));
        }
        for (key, value) in self.whole_numbers() {
            problems.extend(check::out_of_range(&key, value));
        }
        if self
            .server
            .api_keys
            .iter()
            .any(|k| k.expose_secret().trim().is_empty())
        {
            problems.push(Finding::new("server.api_keys", "keys must not be empty"));
        }
        validate_cache(&self.cache, &mut problems);
        validate_persisted(&self.server, &mut problems);
        if self
            .server
            .rate_limit
            .as_ref()
            .is_some_and(|limit| limit.per_second == 0)
        {
            problems.push(Finding::new(
                "server.rate_limit.per_second",
                "missing (required)",
            ));
        }
        for source in Source::ALL {
            if let Some(cfg) = self.sources.get(source) {
                validate_source(source, cfg, &mut problems);
                let authorization = [&cfg.credential_header, &cfg.user_id_header]
                    .into_iter()
                    .flatten()
                    .any(|h| h.eq_ignore_ascii_case("authorization"));
                if authorization && !self.server.api_keys.is_empty() {
                    problems.push(Finding::new(
                        format!("sources.{}.credential_header", source.config_key()),
                        "`Authorization` carries Chronograph's own api_keys; forward credentials in another header",
                    ));
                }
            }
        }
        for (name, cfg) in &self.sources.declared {
            if let Err(reason) = Source::declare(name) {
                problems.push(Finding::new(format!("sources.{name}"), reason));
            }
            for (key, reason) in cfg.problems() {
                problems.push(Finding::new(format!("sources.{name}.{key}"), reason));
            }
            let authorization = cfg
                .credential_header
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case("authorization"));
            if authorization && !self.server.api_keys.is_empty() {
                problems.push(Finding::new(
                    format!("sources.{name}.credential_header"),
                    "`Authorization` carries Chronograph's own api_keys; forward credentials in another header",
                ));
            }
        }
        problems
    }

    /// The whole numbers that have bounds, by key (the bounds are in `check`).
    fn whole_numbers(&self) -> Vec<(String, u64)> {
        let server = &self.server;
        let mut numbers: Vec<(String, u64)> = [
            ("server.request_timeout_ms", server.request_timeout_ms),
            ("server.max_depth", server.max_depth as u64),
            ("server.max_complexity", server.max_complexity as u64),
            ("server.max_aliases", server.max_aliases as u64),
            ("server.max_fields", server.max_fields as u64),
            ("server.max_batch", server.max_batch as u64),
            ("server.body_limit_bytes", server.body_limit_bytes as u64),
            (
                "server.max_subscriptions_per_connection",
                server.max_subscriptions_per_connection as u64,
            ),
            ("server.max_pollers", server.max_pollers as u64),
            ("server.max_entities", server.max_entities as u64),
            ("server.ws_init_timeout_ms", server.ws_init_timeout_ms),
            (
                "server.header_read_timeout_ms",
                server.header_read_timeout_ms,
            ),
            ("server.body_read_timeout_ms", server.body_read_timeout_ms),
            ("server.max_connections", server.max_connections as u64),
            ("server.apq_max_entries", server.apq_max_entries as u64),
            (
                "server.apq_max_document_bytes",
                server.apq_max_document_bytes as u64,
            ),
            ("cache.redis_timeout_ms", self.cache.redis_timeout_ms),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        if let Some(limit) = server.rate_limit.as_ref().filter(|l| l.per_second > 0) {
            numbers.push(("server.rate_limit.per_second".into(), limit.per_second));
            numbers.push(("server.rate_limit.burst".into(), limit.burst()));
        }
        for source in Source::ALL {
            let Some(cfg) = self.sources.get(source) else {
                continue;
            };
            let per_source = [
                ("timeout_ms", cfg.timeout_ms),
                ("max_concurrency", cfg.max_concurrency.map(|n| n as u64)),
                ("poll_interval_ms", cfg.poll_interval_ms),
            ];
            for (key, value) in per_source {
                if let Some(value) = value {
                    numbers.push((format!("sources.{}.{key}", source.config_key()), value));
                }
            }
        }
        numbers
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
            format!(
                "server.persisted_documents = {}{}",
                self.server.persisted_documents.as_deref().unwrap_or("none"),
                if self.server.persisted_only {
                    " (persisted only)"
                } else {
                    ""
                }
            ),
            match &self.server.rate_limit {
                Some(limit) => format!(
                    "server.rate_limit = {}/s per client, burst {}",
                    limit.per_second,
                    limit.burst()
                ),
                None => "server.rate_limit = off".to_string(),
            },
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
        for (name, cfg) in &self.sources.declared {
            let style = |list: Option<&str>| list.unwrap_or("none").to_string();
            lines.push(format!(
                "sources.{name} = {} (declared: {}; integrations paged by {}, history by {}{})",
                url_display(cfg.base()),
                Source::declare(name)
                    .map(Source::as_str)
                    .unwrap_or("not a valid name"),
                style(
                    cfg.integrations
                        .as_ref()
                        .and_then(|l| l.paging.style.as_deref())
                ),
                style(cfg.history.as_ref().and_then(|l| l.paging.style.as_deref())),
                cfg.credential_header
                    .as_deref()
                    .map(|h| format!("; callers' own from header {h}"))
                    .unwrap_or_default()
            ));
        }
        lines.join("\n")
    }
}

fn validate_source(source: Source, cfg: &SourceConfig, problems: &mut Vec<Finding>) {
    let prefix = format!("sources.{}", source.config_key());
    let problem = |key: &str, reason: String| Finding::new(format!("{prefix}.{key}"), reason);
    match url::Url::parse(cfg.base()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => problems.push(problem(
            "base_url",
            format!("`{}` is not an http(s) URL", url_display(&cfg.base_url)),
        )),
    }
    let vendor = crate::sources::vendor(source);
    let present = cfg.present_keys();
    for key in &present {
        if !vendor.keys.contains(key) {
            problems.push(problem(key, "unknown key for this source".into()));
        }
    }
    // With forwarded credentials the configured ones are a fallback, and may be absent.
    let forwarding = cfg.credential_header.is_some();
    if !forwarding && !vendor.has_own_credentials(cfg) {
        match vendor.credentials {
            [] => {}
            [only] => {
                for key in only.iter().filter(|key| !present.contains(key)) {
                    problems.push(problem(key, "missing (required)".into()));
                }
            }
            [first, others @ ..] => {
                let missing = first.iter().find(|key| !present.contains(key));
                if let Some(key) = missing.or(first.first()) {
                    let others: Vec<String> = others.iter().map(|set| set.join(" and ")).collect();
                    problems.push(problem(
                        key,
                        format!("missing (or give {})", others.join(", or ")),
                    ));
                }
            }
        }
    }
    validate_forwarding(source, cfg, &prefix, problems);
    if let Some(types) = &cfg.entry_types {
        if types.iter().any(|t| t.trim().is_empty()) {
            problems.push(problem("entry_types", "entries must not be empty".into()));
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
    problems: &mut Vec<Finding>,
) {
    let problem = |key: &str, reason: String| Finding::new(format!("{prefix}.{key}"), reason);
    let names = [
        ("credential_header", cfg.credential_header.as_deref()),
        ("user_id_header", cfg.user_id_header.as_deref()),
    ];
    for (key, name) in names {
        let Some(name) = name else { continue };
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) if RESERVED_HEADERS.contains(&header.as_str()) => {
                problems.push(problem(key, format!("`{name}` is reserved by HTTP")))
            }
            Ok(_) => {}
            Err(_) => problems.push(problem(key, format!("`{name}` is not a header name"))),
        }
    }
    let two_part = crate::sources::vendor(source).user_id_header;
    match (&cfg.credential_header, &cfg.user_id_header) {
        (Some(_), None) if two_part => problems.push(problem(
            "user_id_header",
            format!(
                "missing ({} credentials are a user id and a token)",
                source.as_str()
            ),
        )),
        (None, Some(_)) => {
            problems.push(problem("user_id_header", "needs credential_header".into()))
        }
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => problems.push(problem(
            "user_id_header",
            "must differ from credential_header".into(),
        )),
        (_, Some(_)) if !two_part => problems.push(problem(
            "user_id_header",
            "unknown key for this source".into(),
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

/// One figment error as a finding, without values (they may be secrets): a TOML syntax error
/// (about the whole file, on one line without the quoted source line, which may hold a secret),
/// or what serde found that the raw checks did not.
fn describe_figment_error(err: figment::Error) -> Finding {
    use figment::error::Kind;
    let path = err.path.join(".");
    match &err.kind {
        Kind::UnknownField(field, _) => Finding::new(key_path(&err.path, field), "unknown key"),
        Kind::MissingField(field) => Finding::new(key_path(&err.path, field), "missing (required)"),
        Kind::InvalidType(actual, expected) => {
            Finding::new(path, format!("expected {expected}, found {actual}"))
        }
        Kind::InvalidValue(_, expected) => {
            Finding::new(path, format!("invalid value, expected {expected}"))
        }
        Kind::Message(message) => Finding::new(path, one_line(message)),
        other => Finding::new(path, other.to_string()),
    }
}

/// A multi-line parser message on one line, without the quoted source (`1 | token = "…`).
fn one_line(message: &str) -> String {
    let quoted_source = |line: &str| {
        line.split_once('|')
            .is_some_and(|(number, _)| number.trim().chars().all(|c| c.is_ascii_digit()))
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !quoted_source(line))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests;
