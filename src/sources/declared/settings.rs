//! `[sources.<name>]` with `kind = "http"`: a REST history API declared in configuration
//! (README, "Declared sources").
//!
//! Everything a declaration can get wrong is reported by [`HttpSourceConfig::problems`], one
//! `(key, reason)` per problem, so `check-config` names them all in one run.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One declared source.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Always `"http"`.
    pub kind: String,
    #[serde(default)]
    pub base_url: String,
    pub auth: Option<AuthConfig>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub max_concurrency: Option<usize>,
    pub cache_ttl_s: Option<u64>,
    pub stale_if_error_s: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    /// Callers may send their own credential in this request header; it is sent upstream the
    /// way `auth` sends the configured one (bearer token, or the named header).
    pub credential_header: Option<String>,
    pub integrations: Option<ListConfig<IntegrationFields>>,
    pub history: Option<ListConfig<HistoryFields>>,
}

impl HttpSourceConfig {
    /// Per-call upstream timeout (default 5 s).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(5_000))
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// Whether the source has credentials of its own (else callers must send theirs).
    pub fn has_own_credentials(&self) -> bool {
        self.auth
            .as_ref()
            .is_some_and(|auth| auth.kind.as_deref() != Some("none"))
    }
}

/// `[sources.<name>.auth]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `bearer`, `header`, `basic`, `oauth2` or `none`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `bearer`: the token.
    pub token: Option<SecretString>,
    /// `header`: the header's name and value, or several headers (`headers = { "X-Auth-Token"
    /// = "…", "X-User-Id" = "…" }`).
    pub header: Option<String>,
    pub value: Option<SecretString>,
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// `basic`.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// `oauth2` (client credentials): the token endpoint (absolute URL), client and scope.
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scope: Option<String>,
}

/// How one list (integrations, or the history of one integration) is read.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig<F> {
    /// Path after `base_url`; in history, `{sourceId}` stands for the integration's id
    /// (percent-encoded as one segment).
    #[serde(default)]
    pub path: String,
    /// Extra query parameters sent with every call.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Query parameters that make the upstream list in the opposite of `order` (Rocket.Chat's
    /// `sort`), so `last`/`before` pages read from their own end.
    pub reverse_query: Option<BTreeMap<String, String>>,
    /// Where the items are in the body (a JSON Pointer; empty: the body is the list).
    #[serde(default)]
    pub items: String,
    /// The upstream's order: `desc` (newest first) or `asc`.
    pub order: Option<String>,
    /// The most items the upstream gives per call (default 100).
    pub page_size: Option<u64>,
    #[serde(default)]
    pub paging: PagingConfig,
    /// Datetime parameters that bound what the upstream returns (`since` inclusive, `until`
    /// exclusive), in `window_format`.
    pub since_param: Option<String>,
    pub until_param: Option<String>,
    pub window_format: Option<String>,
    /// Integrations only: the path of one integration, `{id}` standing for its id (else
    /// `integration(id)` looks it up in the list).
    pub item_path: Option<String>,
    pub fields: F,
}

/// `paging`: how the next page is asked for.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingConfig {
    /// `offset`, `page`, `link`, `cursor`, `index` or `none` (default).
    pub style: Option<String>,
    /// `offset`: parameter names (default `offset` / `limit`).
    pub offset_param: Option<String>,
    pub limit_param: Option<String>,
    /// `page`: parameter names (default `page` / `per_page`) and the first page's number
    /// (default 1).
    pub page_param: Option<String>,
    pub size_param: Option<String>,
    pub first_page: Option<u64>,
    /// `offset` / `page` / `index`: where the total count is in the body (else the list ends
    /// at a short page).
    pub total: Option<String>,
    /// `cursor`: the parameter the token goes back in, and where the next token is: a body
    /// JSON Pointer (`next`), else the same parameter of the `Link: rel="next"` URL.
    pub cursor_param: Option<String>,
    pub next: Option<String>,
    /// `index`: the window's parameters (default `from_index` / `to_index`, end exclusive).
    pub from_param: Option<String>,
    pub to_param: Option<String>,
}

/// A field mapping: a JSON Pointer (`"/id"`), or a table with a pointer, a constant, or a
/// template, and for `kind`/`status` a value table with a default.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    Pointer(String),
    Table(FieldTable),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    pub pointer: Option<String>,
    /// A fixed value, where the upstream has no field.
    #[serde(rename = "const")]
    pub constant: Option<String>,
    /// Text with `{/json/pointer}` placeholders (summaries).
    pub template: Option<String>,
    /// Datetimes: `rfc3339` (default), `epoch_s`, `epoch_ms` or `utc` (zone-less, read as UTC).
    pub format: Option<String>,
    /// `kind` / `status` / `enabled`: upstream value (as text) → our value.
    pub values: Option<BTreeMap<String, String>>,
    /// The value when the pointer finds nothing or the value table has no entry.
    pub default: Option<String>,
}

impl FieldSpec {
    pub fn table(&self) -> FieldTable {
        match self {
            FieldSpec::Pointer(pointer) => FieldTable {
                pointer: Some(pointer.clone()),
                ..FieldTable::default()
            },
            FieldSpec::Table(table) => table.clone(),
        }
    }
}

/// `integrations.fields`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationFields {
    pub id: Option<FieldSpec>,
    pub name: Option<FieldSpec>,
    pub description: Option<FieldSpec>,
    pub enabled: Option<FieldSpec>,
    pub created_at: Option<FieldSpec>,
    pub updated_at: Option<FieldSpec>,
}

/// `history.fields`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFields {
    pub id: Option<FieldSpec>,
    /// When it happened (`occurred_at`; `at` is the same).
    #[serde(alias = "at")]
    pub occurred_at: Option<FieldSpec>,
    pub updated_at: Option<FieldSpec>,
    pub kind: Option<FieldSpec>,
    pub status: Option<FieldSpec>,
    pub summary: Option<FieldSpec>,
    pub error: Option<FieldSpec>,
    pub actor_id: Option<FieldSpec>,
    pub actor_name: Option<FieldSpec>,
}

/// Paging styles.
pub const STYLES: [&str; 6] = ["offset", "page", "link", "cursor", "index", "none"];
/// Datetime formats.
pub const FORMATS: [&str; 4] = ["rfc3339", "epoch_s", "epoch_ms", "utc"];
const AUTH_TYPES: [&str; 5] = ["bearer", "header", "basic", "oauth2", "none"];

/// Whether `pointer` is a JSON Pointer (RFC 6901): empty, or `/`-separated tokens whose `~`
/// is followed by `0` or `1`.
pub fn valid_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    if !pointer.starts_with('/') {
        return false;
    }
    let bytes = pointer.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

/// The placeholders of a template (`{/a/b}`), or the reason it is not one.
pub fn template_pointers(template: &str) -> Result<Vec<&str>, String> {
    let mut pointers = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a `{` without its `}`".to_string())?;
        let pointer = &after[..close];
        if !pointer.starts_with('/') || !valid_pointer(pointer) {
            return Err(format!("`{{{pointer}}}` is not a JSON Pointer placeholder"));
        }
        pointers.push(pointer);
        rest = &after[close + 1..];
    }
    Ok(pointers)
}

impl HttpSourceConfig {
    /// Every problem of the declaration, as `(key under the source, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut problem = |key: &str, reason: String| found.push((key.to_string(), reason));
        if self.kind != "http" {
            problem("kind", format!("expected \"http\", got {:?}", self.kind));
        }
        match url::Url::parse(self.base()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ if self.base_url.is_empty() => problem("base_url", "missing (required)".into()),
            _ => problem(
                "base_url",
                format!(
                    "not an http(s) URL: {}",
                    crate::redact::url_display(&self.base_url)
                ),
            ),
        }
        if let Some(auth) = &self.auth {
            auth.problems(&mut problem);
        }
        match &self.integrations {
            None => problem("integrations", "missing (required)".into()),
            Some(list) => {
                list.problems("integrations", false, &mut problem);
                let fields = &list.fields;
                if fields.id.is_none() {
                    problem("integrations.fields.id", "missing (required)".into());
                }
                for (name, spec) in [
                    ("id", &fields.id),
                    ("name", &fields.name),
                    ("description", &fields.description),
                    ("enabled", &fields.enabled),
                    ("created_at", &fields.created_at),
                    ("updated_at", &fields.updated_at),
                ] {
                    if let Some(spec) = spec {
                        spec_problems(
                            &format!("integrations.fields.{name}"),
                            spec,
                            field_values(name),
                            &mut problem,
                        );
                    }
                }
                if let Some(path) = &list.item_path {
                    if !path.contains("{id}") {
                        problem(
                            "integrations.item_path",
                            "needs `{id}` where the integration's id goes".into(),
                        );
                    }
                }
            }
        }
        match &self.history {
            None => problem("history", "missing (required)".into()),
            Some(list) => {
                list.problems("history", true, &mut problem);
                let in_query = list
                    .query
                    .values()
                    .chain(list.reverse_query.iter().flat_map(|q| q.values()))
                    .any(|v| v.contains("{sourceId}"));
                if !list.path.contains("{sourceId}") && !in_query {
                    problem(
                        "history.path",
                        format!(
                            "needs `{{sourceId}}` where the integration's id goes (in the path, or in a `query` value when the API takes it as a parameter), got {:?}",
                            list.path
                        ),
                    );
                }
                let fields = &list.fields;
                if fields.id.is_none() {
                    problem("history.fields.id", "missing (required)".into());
                }
                if fields.occurred_at.is_none() && fields.updated_at.is_none() {
                    problem(
                        "history.fields.occurred_at",
                        "missing: an entry needs `occurred_at` (or `at`) or `updated_at` to be ordered".into(),
                    );
                }
                for (name, spec) in [
                    ("id", &fields.id),
                    ("occurred_at", &fields.occurred_at),
                    ("updated_at", &fields.updated_at),
                    ("kind", &fields.kind),
                    ("status", &fields.status),
                    ("summary", &fields.summary),
                    ("error", &fields.error),
                    ("actor_id", &fields.actor_id),
                    ("actor_name", &fields.actor_name),
                ] {
                    if let Some(spec) = spec {
                        spec_problems(
                            &format!("history.fields.{name}"),
                            spec,
                            field_values(name),
                            &mut problem,
                        );
                    }
                }
            }
        }
        found
    }
}

/// What a field's value table may map to.
fn field_values(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "kind" => Some(&[
            "WEBHOOK_EXECUTION",
            "COMMENT",
            "ACTION",
            "AUDIT",
            "RECORD_CHANGED",
            "RECORD_DELETED",
            "RECORD_MERGED",
        ]),
        "status" => Some(&["OK", "ERROR", "RUNNING"]),
        "enabled" => Some(&["true", "false"]),
        _ => None,
    }
}

fn spec_problems(
    key: &str,
    spec: &FieldSpec,
    allowed: Option<&[&str]>,
    problem: &mut impl FnMut(&str, String),
) {
    let table = spec.table();
    let sources = [
        table.pointer.is_some(),
        table.constant.is_some(),
        table.template.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if sources > 1 {
        problem(key, "give one of `pointer`, `const` and `template`".into());
    }
    if sources == 0 && table.default.is_none() {
        problem(
            key,
            "needs a `pointer`, a `const`, a `template` or a `default`".into(),
        );
    }
    if let Some(pointer) = &table.pointer {
        if !valid_pointer(pointer) {
            problem(
                key,
                format!("{pointer:?} is not a JSON Pointer (empty, or starting with `/`; `~` only as ~0 or ~1)"),
            );
        }
    }
    if let Some(template) = &table.template {
        if let Err(reason) = template_pointers(template) {
            problem(key, format!("template: {reason}"));
        }
    }
    let is_time = key.ends_with("_at");
    if let Some(format) = &table.format {
        if !is_time {
            problem(key, "`format` applies to datetimes only".into());
        } else if !FORMATS.contains(&format.as_str()) {
            problem(
                key,
                format!(
                    "unknown datetime format {format:?} (one of {})",
                    FORMATS.join(", ")
                ),
            );
        }
    }
    let check = |value: &str, what: &str, problem: &mut dyn FnMut(&str, String)| {
        if let Some(allowed) = allowed {
            if !allowed.contains(&value) {
                problem(
                    key,
                    format!("{what} {value:?} is not one of {}", allowed.join(", ")),
                );
            }
        }
    };
    for value in table.values.iter().flat_map(|values| values.values()) {
        check(value, "value", &mut *problem);
    }
    if table.values.is_some() && allowed.is_none() {
        problem(
            key,
            "`values` applies to kind, status and enabled only".into(),
        );
    }
    if let (Some(default), Some(_)) = (&table.default, allowed) {
        check(default, "default", &mut *problem);
    }
    if let (Some(constant), Some(_)) = (&table.constant, allowed) {
        check(constant, "const", &mut *problem);
    }
}

impl<F> ListConfig<F> {
    fn problems(&self, prefix: &str, history: bool, problem: &mut impl FnMut(&str, String)) {
        let key = |name: &str| format!("{prefix}.{name}");
        if self.path.is_empty() {
            problem(&key("path"), "missing (required)".into());
        } else if !self.path.starts_with('/') {
            problem(
                &key("path"),
                format!("must start with `/`, got {:?}", self.path),
            );
        }
        if !valid_pointer(&self.items) {
            problem(
                &key("items"),
                format!(
                    "{:?} is not a JSON Pointer (empty, or starting with `/`)",
                    self.items
                ),
            );
        }
        match self.order.as_deref() {
            Some("desc" | "asc") => {}
            None if !history => {}
            None => problem(
                &key("order"),
                "missing: say how the upstream orders its history (`desc`: newest first, or `asc`)"
                    .into(),
            ),
            Some(other) => problem(
                &key("order"),
                format!("expected \"desc\" or \"asc\", got {other:?}"),
            ),
        }
        if self.page_size == Some(0) {
            problem(
                &key("page_size"),
                "expected a whole number ≥ 1, got 0".into(),
            );
        }
        let style = self.paging.style.as_deref().unwrap_or("none");
        if !STYLES.contains(&style) {
            problem(
                &key("paging.style"),
                format!(
                    "unknown paging style {style:?} (one of {})",
                    STYLES.join(", ")
                ),
            );
        }
        for (name, pointer) in [("total", &self.paging.total), ("next", &self.paging.next)] {
            if let Some(pointer) = pointer {
                if !valid_pointer(pointer) || pointer.is_empty() {
                    problem(
                        &key(&format!("paging.{name}")),
                        format!("{pointer:?} is not a JSON Pointer (starting with `/`)"),
                    );
                }
            }
        }
        if style == "cursor" && self.paging.cursor_param.is_none() {
            problem(
                &key("paging.cursor_param"),
                "missing: the `cursor` style sends the next token back in this parameter".into(),
            );
        }
        if let Some(format) = &self.window_format {
            if !FORMATS.contains(&format.as_str()) {
                problem(
                    &key("window_format"),
                    format!(
                        "unknown datetime format {format:?} (one of {})",
                        FORMATS.join(", ")
                    ),
                );
            }
        }
        if !history && (self.since_param.is_some() || self.until_param.is_some()) {
            problem(
                &key("since_param"),
                "only history takes datetime parameters".into(),
            );
        }
    }
}

impl AuthConfig {
    fn problems(&self, problem: &mut impl FnMut(&str, String)) {
        let kind = self.kind.as_deref().unwrap_or("");
        let missing = |name: &str, problem: &mut dyn FnMut(&str, String)| {
            problem(
                &format!("auth.{name}"),
                format!("missing: `{kind}` auth needs it"),
            )
        };
        match kind {
            "bearer" => {
                if self.token.is_none() {
                    missing("token", problem);
                }
            }
            "header" if self.headers.is_some() => {
                for name in self.headers.iter().flat_map(|h| h.keys()) {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        problem(
                            "auth.headers",
                            format!("{name:?} is not a valid HTTP header name"),
                        );
                    }
                }
                if self.header.is_some() || self.value.is_some() {
                    problem(
                        "auth.headers",
                        "give either `header` and `value` or `headers`".into(),
                    );
                }
            }
            "header" => {
                if self.header.is_none() {
                    missing("header", problem);
                } else if self
                    .header
                    .as_deref()
                    .is_some_and(|h| http::HeaderName::from_bytes(h.as_bytes()).is_err())
                {
                    problem("auth.header", "not a valid HTTP header name".into());
                }
                if self.value.is_none() {
                    missing("value", problem);
                }
            }
            "basic" => {
                if self.username.is_none() {
                    missing("username", problem);
                }
                if self.password.is_none() {
                    missing("password", problem);
                }
            }
            "oauth2" => {
                match self.token_url.as_deref().map(url::Url::parse) {
                    None => missing("token_url", problem),
                    Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => {}
                    Some(_) => problem("auth.token_url", "not an absolute http(s) URL".into()),
                }
                if self.client_id.is_none() {
                    missing("client_id", problem);
                }
                if self.client_secret.is_none() {
                    missing("client_secret", problem);
                }
            }
            "none" => {}
            "" => problem(
                "auth.type",
                format!("missing (one of {})", AUTH_TYPES.join(", ")),
            ),
            other => problem(
                "auth.type",
                format!(
                    "unknown auth type {other:?} (one of {})",
                    AUTH_TYPES.join(", ")
                ),
            ),
        }
    }
}
