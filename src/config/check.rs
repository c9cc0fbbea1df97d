//! Every problem of a configuration in one run (`check-config`), one line each, naming the key
//! the way it was set (a file key or its `CHRONOGRAPH_…` variable) and its value unless that is
//! a secret; and warnings for what loads but will not work as meant.
//!
//! serde stops at the first problem, so the raw values (figment's merged dictionary) are checked
//! here first against [`expected`]: unknown keys get a "did you mean", values of the wrong type or
//! out of range are reported and dropped, and what is left is deserialised and validated as
//! usual ([`super::Config::validate`]), so its problems are reported in the same run.

use super::{url_display, Config, Finding};
use crate::domain::Source;
use crate::suggest::closest;
use figment::providers::Env;
use figment::value::{Dict, Num, Value};
use figment::{Figment, Provider};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that override file keys (`__` between keys).
const ENV_PREFIX: &str = "CHRONOGRAPH_";

/// The environment overrides: `CHRONOGRAPH_SOURCES__CELIGO__TOKEN` sets `sources.celigo.token`.
pub(super) fn env_overrides() -> Env {
    Env::prefixed(ENV_PREFIX).split("__")
}

/// The variable that sets a dotted key.
fn env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// What one key may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// A string, shown as is.
    Text,
    /// A URL, shown without its password ([`url_display`]).
    Url,
    /// A string never shown.
    Secret,
    /// A list of strings.
    Texts,
    /// A list of strings never shown.
    Secrets,
    /// `true` or `false`.
    Flag,
    /// A whole number from `min` to `max`, both included.
    Whole { min: u64, max: u64 },
    /// A table of its own keys ([`keys_of`] lists them).
    Table,
}

const fn at_least(min: u64) -> Expect {
    Expect::Whole { min, max: u64::MAX }
}

/// `[server]`, with the bounds [`super::Config::validate`] enforces too.
const SERVER: &[(&str, Expect)] = &[
    ("listen", Expect::Text),
    ("api_keys", Expect::Secrets),
    ("request_timeout_ms", at_least(1)),
    ("introspection", Expect::Flag),
    ("suggestions", Expect::Flag),
    ("graphiql", Expect::Flag),
    ("max_depth", at_least(1)),
    ("max_complexity", at_least(1)),
    ("max_aliases", at_least(1)),
    ("max_fields", at_least(1)),
    ("max_batch", at_least(1)),
    ("body_limit_bytes", at_least(1)),
    ("max_subscriptions_per_connection", at_least(1)),
    ("max_pollers", at_least(1)),
    ("max_entities", at_least(1)),
    ("ws_init_timeout_ms", at_least(1)),
    ("header_read_timeout_ms", at_least(1)),
    ("body_read_timeout_ms", at_least(1)),
    ("max_connections", at_least(1)),
    ("dedupe_requests", Expect::Flag),
    ("persisted_documents", Expect::Text),
    ("persisted_only", Expect::Flag),
    ("apq", Expect::Flag),
    ("apq_max_entries", at_least(1)),
    ("apq_max_document_bytes", at_least(1)),
    ("rate_limit", Expect::Table),
];

/// `[server.rate_limit]`.
const RATE_LIMIT: &[(&str, Expect)] = &[
    (
        "per_second",
        Expect::Whole {
            min: 1,
            max: 1_000_000,
        },
    ),
    (
        "burst",
        Expect::Whole {
            min: 1,
            max: 1_000_000,
        },
    ),
];

/// `[cache]`.
const CACHE: &[(&str, Expect)] = &[
    ("max_bytes", at_least(0)),
    ("redis_url", Expect::Url),
    ("redis_key_prefix", Expect::Text),
    ("redis_timeout_ms", Expect::Whole { min: 1, max: 5_000 }),
];

/// `[telemetry]`.
const TELEMETRY: &[(&str, Expect)] = &[("otlp_endpoint", Expect::Url)];

/// `[sources.<name>]`: every key any vendor takes ([`super::takes`] says which one does).
const SOURCE: &[(&str, Expect)] = &[
    ("base_url", Expect::Url),
    ("token", Expect::Secret),
    ("user_id", Expect::Text),
    ("auth_token", Expect::Secret),
    ("email", Expect::Text),
    ("password", Expect::Secret),
    ("client_id", Expect::Text),
    ("client_secret", Expect::Secret),
    ("entry_types", Expect::Texts),
    ("environment_id", Expect::Text),
    ("include_calculated", Expect::Flag),
    ("timeout_ms", at_least(1)),
    ("cache_ttl_s", at_least(0)),
    ("stale_if_error_s", at_least(0)),
    ("max_concurrency", at_least(1)),
    (
        "retries",
        Expect::Whole {
            min: 0,
            max: u32::MAX as u64,
        },
    ),
    ("poll_interval_ms", at_least(100)),
    ("credential_header", Expect::Text),
    ("user_id_header", Expect::Text),
];

/// The tables at the top of the file (`sources` holds one table per vendor).
const TOP: [&str; 4] = ["server", "cache", "sources", "telemetry"];

fn keys_of(table: &str) -> &'static [(&'static str, Expect)] {
    match table {
        "server" => SERVER,
        "server.rate_limit" => RATE_LIMIT,
        "cache" => CACHE,
        "telemetry" => TELEMETRY,
        _ => SOURCE,
    }
}

/// What the key at a dotted path may hold; `None` for a key Chronograph does not know.
pub(super) fn expected(key: &str) -> Option<Expect> {
    let parts: Vec<&str> = key.split('.').collect();
    let (table, name) = match parts.as_slice() {
        [table @ ("server" | "cache" | "telemetry"), name] => (*table, *name),
        ["server", "rate_limit", name] => ("server.rate_limit", *name),
        ["sources", _, name] => ("sources", *name),
        _ => return None,
    };
    keys_of(table)
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, expect)| *expect)
}

/// A whole number out of its key's bounds, as [`check_raw`] words it (for configurations built
/// in code, which never went through it).
pub(super) fn out_of_range(key: &str, value: u64) -> Option<Finding> {
    match expected(key)? {
        expect @ Expect::Whole { min, max } if value < min || value > max => Some(Finding::new(
            key,
            format!("expected {}, got {value}", expect.wanted()),
        )),
        _ => None,
    }
}

impl Expect {
    fn secret(self) -> bool {
        matches!(self, Expect::Secret | Expect::Secrets)
    }

    /// What a value of this key looks like, for the message.
    fn wanted(self) -> String {
        match self {
            Expect::Text | Expect::Url | Expect::Secret => "a string".into(),
            Expect::Texts | Expect::Secrets => "a list of strings".into(),
            Expect::Flag => "true or false".into(),
            Expect::Whole { min, max: u64::MAX } => format!("a whole number ≥ {min}"),
            Expect::Whole { min, max } => format!("a whole number from {min} to {max}"),
            Expect::Table => "a table".into(),
        }
    }

    /// Why `value` does not fit, if it does not.
    fn problem(self, value: &Value) -> Option<String> {
        let fits = match (self, value) {
            (Expect::Text | Expect::Url | Expect::Secret, Value::String(..)) => true,
            (Expect::Flag, Value::Bool(..)) => true,
            (Expect::Table, Value::Dict(..)) => true,
            (Expect::Texts | Expect::Secrets, Value::Array(_, items)) => {
                items.iter().all(|item| matches!(item, Value::String(..)))
            }
            (Expect::Whole { min, max }, Value::Num(_, num)) => {
                whole(*num).is_some_and(|n| n >= i128::from(min) && n <= i128::from(max))
            }
            _ => false,
        };
        let shown = if self.secret() {
            kind_of(value).to_string()
        } else {
            render(value)
        };
        (!fits).then(|| format!("expected {}, got {shown}", self.wanted()))
    }
}

/// A number's value if it is whole.
fn whole(num: Num) -> Option<i128> {
    num.to_i128()
        .or_else(|| num.to_u128().and_then(|n| i128::try_from(n).ok()))
}

/// A value as the user would have written it (strings quoted).
fn render(value: &Value) -> String {
    match value {
        Value::String(_, text) => format!("{text:?}"),
        Value::Char(_, c) => format!("{c:?}"),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, num) => match (whole(*num), num.to_f64()) {
            (Some(n), _) => n.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => "a number".into(),
        },
        Value::Array(_, items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Dict(..) => "a table".into(),
        Value::Empty(..) => "nothing".into(),
    }
}

/// What sort of value it is, for values never shown.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "true or false",
        Value::Num(..) => "a number",
        Value::Array(..) => "a list",
        Value::Dict(..) => "a table",
        Value::Empty(..) => "nothing",
    }
}

/// figment parses environment values (`12345` becomes a number, `true` a flag, `[a]` a list),
/// but a key that takes a string wants the variable's text as written: a numeric DealCloud
/// client id, a token of digits, `007`. Put that text back for such keys.
pub(super) fn env_text_for_strings(raw: &mut Dict, origins: &Origins) {
    for key in &origins.from_env {
        let takes_text = matches!(
            expected(key),
            Some(Expect::Text | Expect::Url | Expect::Secret)
        );
        let Some(value) = find_mut(raw, key).filter(|_| takes_text) else {
            continue;
        };
        if !matches!(value, Value::String(..)) {
            if let Some(text) = env_text(&env_var(key)) {
                *value = Value::from(text);
            }
        }
    }
}

/// The value at a dotted key.
fn find_mut<'v>(raw: &'v mut Dict, key: &str) -> Option<&'v mut Value> {
    let mut parts = key.split('.');
    let mut value = raw.get_mut(parts.next()?)?;
    for part in parts {
        match value {
            Value::Dict(_, table) => value = table.get_mut(part)?,
            _ => return None,
        }
    }
    Some(value)
}

/// A variable's text; names are matched without regard to case, as figment does.
fn env_text(name: &str) -> Option<String> {
    std::env::vars_os().find_map(|(var, text)| {
        let same = var.to_str()?.eq_ignore_ascii_case(name);
        same.then(|| text.into_string().ok()).flatten()
    })
}

/// Check the raw values of a whole configuration and drop the ones that are wrong, so that the
/// rest deserialises; one finding per problem.
pub(super) fn check_raw(root: &mut Dict) -> Vec<Finding> {
    let mut found = Vec::new();
    root.retain(|name, value| {
        if !TOP.contains(&name.as_str()) {
            found.push(unknown(name.clone(), name, TOP, ""));
            return false;
        }
        let Some(table) = as_table(name, value, &mut found) else {
            return false;
        };
        if name == "sources" {
            check_sources(table, &mut found);
        } else {
            check_keys(name, table, keys_of(name), |_| true, &mut found);
            check_subtables(name, table, &mut found);
        }
        true
    });
    found
}

/// The tables inside a top-level table (`[server.rate_limit]`), each against its own keys.
fn check_subtables(prefix: &str, table: &mut Dict, found: &mut Vec<Finding>) {
    for (name, value) in table.iter_mut() {
        let path = format!("{prefix}.{name}");
        if let Value::Dict(_, keys) = value {
            check_keys(&path, keys, keys_of(&path), |_| true, found);
        }
    }
}

/// `[sources.<name>]` of a declared source (`kind = "http"`): the keys every source takes and
/// the tables of the declaration, which [`check_declared`] reads whole.
const DECLARED: &[(&str, Expect)] = &[
    ("kind", Expect::Text),
    ("base_url", Expect::Url),
    ("auth", Expect::Table),
    ("integrations", Expect::Table),
    ("history", Expect::Table),
    ("timeout_ms", at_least(1)),
    ("cache_ttl_s", at_least(0)),
    ("stale_if_error_s", at_least(0)),
    ("max_concurrency", at_least(1)),
    (
        "retries",
        Expect::Whole {
            min: 0,
            max: u32::MAX as u64,
        },
    ),
    ("poll_interval_ms", at_least(100)),
    ("credential_header", Expect::Text),
];

/// A declared source's table: its own keys, then the whole declaration through serde (an
/// unknown or mistyped key inside it is reported, and the source left out so the rest loads).
/// What serde accepts is checked for meaning later ([`HttpSourceConfig::problems`]).
///
/// [`HttpSourceConfig::problems`]: crate::sources::declared::settings::HttpSourceConfig::problems
fn check_declared(path: &str, keys: &mut Dict, found: &mut Vec<Finding>) -> bool {
    use serde::Deserialize;
    check_keys(path, keys, DECLARED, |_| true, found);
    let table = Value::Dict(figment::value::Tag::Default, keys.clone());
    match crate::sources::declared::settings::HttpSourceConfig::deserialize(&table) {
        Ok(_) => true,
        Err(err) => {
            for err in err {
                let mut finding = super::describe_figment_error(err);
                finding.key = match finding.key.is_empty() {
                    true => path.to_string(),
                    false => format!("{path}.{}", finding.key),
                };
                if finding.reason.contains("untagged enum FieldSpec") {
                    finding.reason = "expected a JSON Pointer string or a table with `pointer`, `const` or `template` (and `format`, `values`, `default`)".into();
                }
                found.push(finding);
            }
            false
        }
    }
}

fn check_sources(table: &mut Dict, found: &mut Vec<Finding>) {
    table.retain(|name, value| {
        let path = format!("sources.{name}");
        let Some(source) = Source::ALL.into_iter().find(|s| s.config_key() == name) else {
            let declared = matches!(value, Value::Dict(_, keys) if keys.contains_key("kind"));
            if declared {
                let Some(keys) = as_table(&path, value, found) else {
                    return false;
                };
                return check_declared(&path, keys, found);
            }
            let names = Source::ALL.map(Source::config_key);
            let mut finding = unknown(path, name, names, "sources.");
            if finding.did_you_mean.is_none() {
                finding.reason =
                    "unknown source (a declared source needs `kind = \"http\"`)".into();
            }
            found.push(finding);
            return false;
        };
        let Some(keys) = as_table(&path, value, found) else {
            return false;
        };
        check_keys(&path, keys, SOURCE, |key| takes(source, key), found);
        if !keys.contains_key("base_url") {
            // Reported here; an empty stand-in lets the rest of the source be checked too.
            found.push(Finding::new(
                format!("{path}.base_url"),
                "missing (required)",
            ));
            keys.insert("base_url".into(), Value::from(String::new()));
        }
        true
    });
}

/// Check the keys of one table against `known`; unknown ones are matched against the known keys
/// `suggest` accepts.
fn check_keys(
    prefix: &str,
    table: &mut Dict,
    known: &[(&str, Expect)],
    suggest: impl Fn(&str) -> bool,
    found: &mut Vec<Finding>,
) {
    table.retain(|key, value| {
        let path = format!("{prefix}.{key}");
        let Some((_, expect)) = known.iter().find(|(name, _)| name == key) else {
            let names = known
                .iter()
                .map(|(name, _)| *name)
                .filter(|name| suggest(name));
            found.push(unknown(path, key, names, &format!("{prefix}.")));
            return false;
        };
        match expect.problem(value) {
            Some(reason) => {
                found.push(Finding::new(path, reason));
                false
            }
            None => true,
        }
    });
}

fn as_table<'v>(
    path: &str,
    value: &'v mut Value,
    found: &mut Vec<Finding>,
) -> Option<&'v mut Dict> {
    match value {
        Value::Dict(_, table) => Some(table),
        other => {
            let reason = format!("expected a table, got {}", kind_of(other));
            found.push(Finding::new(path, reason));
            None
        }
    }
}

/// An unknown key, with the closest of `names` (under `prefix`) as its "did you mean".
fn unknown<'a>(
    path: String,
    key: &str,
    names: impl IntoIterator<Item = &'a str>,
    prefix: &str,
) -> Finding {
    Finding {
        key: path,
        reason: "unknown key".into(),
        did_you_mean: closest(key, names).map(|name| format!("{prefix}{name}")),
    }
}

/// Where the values of a loaded configuration came from, to name each key the way it was set.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// The file given to `--config`, if any.
    file: Option<PathBuf>,
    /// Dotted keys set by a `CHRONOGRAPH_…` variable.
    from_env: BTreeSet<String>,
    /// Dotted keys set in the file.
    from_file: BTreeSet<String>,
}

impl Origins {
    pub(super) fn of(figment: &Figment, raw: &Dict, file: Option<&Path>) -> Origins {
        let env = env_overrides().metadata().name;
        let mut origins = Origins {
            file: file.map(Path::to_path_buf),
            ..Origins::default()
        };
        let mut stack: Vec<(String, &Value)> = raw
            .iter()
            .map(|(key, value)| (key.clone(), value))
            .collect();
        while let Some((key, value)) = stack.pop() {
            let from_env = figment
                .get_metadata(value.tag())
                .is_some_and(|metadata| metadata.name == env);
            if let Value::Dict(_, table) = value {
                stack.extend(table.iter().map(|(k, v)| (format!("{key}.{k}"), v)));
            }
            match from_env {
                true => origins.from_env.insert(key),
                false => origins.from_file.insert(key),
            };
        }
        origins
    }

    /// A key as the user set it: the `CHRONOGRAPH_…` variable that set it, else the file key
    /// (or, for a problem with the whole file, the file).
    pub fn label(&self, key: &str) -> String {
        if key.is_empty() {
            return self.file_name();
        }
        if self.from_env.contains(key) {
            env_var(key)
        } else {
            key.to_string()
        }
    }

    /// Where the value in use for `key` came from: `CHRONOGRAPH_SERVER__LISTEN`,
    /// `server.listen in chronograph.toml` or `server.listen, by default`.
    pub fn source_of(&self, key: &str) -> String {
        if self.from_env.contains(key) {
            env_var(key)
        } else if self.from_file.contains(key) {
            format!("{key} in {}", self.file_name())
        } else {
            format!("{key}, by default")
        }
    }

    /// One finding on one line: `server.max_dept: unknown key, did you mean server.max_depth?`
    /// (the suggestion spelled like the key: a variable for a variable).
    pub fn line(&self, finding: &Finding) -> String {
        let mut line = format!("{}: {}", self.label(&finding.key), finding.reason);
        if let Some(meant) = &finding.did_you_mean {
            let meant = match self.from_env.contains(&finding.key) {
                true => env_var(meant),
                false => meant.clone(),
            };
            line.push_str(&format!(", did you mean {meant}?"));
        }
        line
    }

    fn file_name(&self) -> String {
        match &self.file {
            Some(file) => file.display().to_string(),
            None => "the configuration".into(),
        }
    }
}

/// What loads but will not work as meant: `check-config` prints these and still exits 0,
/// `serve` logs them.
pub(super) fn warnings(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    for (name, cfg) in &config.sources.declared {
        found.extend(declared_warnings(name, cfg));
    }
    if config.sources.configured().is_empty() {
        found.push(Finding::new(
            "sources",
            "no source is configured: every query will answer SOURCE_NOT_CONFIGURED \
             (add a [sources.<name>] table)",
        ));
    }
    for source in Source::ALL {
        let Some(cfg) = config.sources.get(source) else {
            continue;
        };
        let prefix = format!("sources.{}", source.config_key());
        for (key, value) in cfg.credentials() {
            if value.is_some_and(|value| value.trim().is_empty()) {
                found.push(Finding::new(
                    format!("{prefix}.{key}"),
                    format!(
                        "empty: {} will refuse every call made with it",
                        source.as_str()
                    ),
                ));
            }
        }
        if let Some(reason) = path_the_adapter_adds(source, &cfg.base_url) {
            found.push(Finding::new(format!("{prefix}.base_url"), reason));
        }
    }
    found
}

/// What loads but costs more than it should: a history listed only in the order opposite to
/// what a page needs, with no way to start at its far end.
fn declared_warnings(
    name: &str,
    cfg: &crate::sources::declared::settings::HttpSourceConfig,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let Some(history) = &cfg.history else {
        return found;
    };
    let style = history.paging.style.as_deref().unwrap_or("none");
    let positional_with_total =
        matches!(style, "offset" | "page" | "index") && history.paging.total.is_some();
    if history.reverse_query.is_none() && !positional_with_total && style != "none" {
        let pages = match history.order.as_deref() {
            Some("asc") => "`first`/`after` pages (newest first)",
            _ => "`last`/`before` pages (oldest first)",
        };
        found.push(Finding::new(
            format!("sources.{name}.history.reverse_query"),
            format!(
                "not set: {pages} read each history to its end; give the query parameters that list it in the other order, or a `paging.total` with positional paging"
            ),
        ));
    }
    if cfg.credential_header.is_none() && !cfg.has_own_credentials() {
        found.push(Finding::new(
            format!("sources.{name}.auth"),
            "no credentials and no credential_header: calls go out unauthenticated",
        ));
    }
    found
}

/// Whether a source takes `key`: the keys common to every source and its vendor's own. A key
/// no vendor takes is left to the common table (which suggests a spelling).
fn takes(source: Source, key: &str) -> bool {
    let vendor_key = |source: Source| {
        let vendor = crate::sources::vendor(source);
        vendor.keys.contains(&key) || (key == "user_id_header" && vendor.user_id_header)
    };
    vendor_key(source) || !Source::ALL.into_iter().any(vendor_key)
}

/// A `base_url` whose path ends with (the start of) a path the adapter adds itself, which would
/// send every call to that path twice (`https://api.integrator.io/v1` → `/v1/v1/integrations`).
fn path_the_adapter_adds(source: Source, base_url: &str) -> Option<String> {
    let mut url = url::Url::parse(base_url).ok()?;
    let segments: Vec<String> = url
        .path_segments()?
        .filter(|segment| !segment.is_empty())
        .map(str::to_string)
        .collect();
    for added in crate::sources::vendor(source).paths {
        let parts: Vec<&str> = added.split('/').collect();
        let ends_with = |n: usize| {
            n <= segments.len()
                && segments[segments.len() - n..]
                    .iter()
                    .zip(&parts[..n])
                    .all(|(segment, part)| segment == part)
        };
        let Some(n) = (1..=parts.len()).rev().find(|&n| ends_with(n)) else {
            continue;
        };
        let doubled = format!("{}/{added}", base_url.trim_end_matches('/'));
        url.set_path(&segments[..segments.len() - n].join("/"));
        return Some(format!(
            "`{}` ends with /{}, which Chronograph adds itself (calls would go to {}/…): use {}",
            url_display(base_url),
            parts[..n].join("/"),
            url_display(&doubled),
            url_display(url.as_str().trim_end_matches('/')),
        ));
    }
    None
}

#[cfg(test)]
mod tests;
