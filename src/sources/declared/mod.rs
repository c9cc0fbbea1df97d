//! Declared sources (`kind = "http"`): any REST API that lists integrations and a history per
//! integration, described in configuration instead of code (README, "Declared sources").
//!
//! Paging styles: `offset`, `page`, `link`, `cursor`, `index` and `none` ([`settings`]). A
//! history read walks the upstream list in the order the page needs (`first`/`after`: newest
//! first; `last`/`before`: oldest first), with the same keyset rules as the built-in adapters:
//! a first page of N is one call asking for N + 1 items, a page after a cursor reads from the
//! head to the cursor (offset paging asks for the depth the previous page reached plus N + 1),
//! and ties at the cut are never split. When the upstream can only list in the other order:
//! `reverse_query` flips it (Rocket.Chat's `sort`); else positional paging with a `total` reads
//! from the far end backwards; else (`link`, `cursor`, `none` without a total) the list is read
//! to its end, at most [`MAX_CALLS`] calls, which `check-config` warns about.

mod decode;
mod mapping;
pub mod settings;
#[cfg(test)]
mod tests;

use super::keyset::Order;
use super::stream::{StreamPage, StreamWindow};
use super::{HistorySource, IntegrationSource, Listing, SourceSet};
use crate::domain::{HistoryEntry, HistoryFilter, Integration, Source, SubjectRef};
use crate::domain::{ListAt, RawJson, RawList};
use crate::error::{ErrorCode, SharedError, SourceError, SourceResult};
use crate::upstream::{Auth, Fetched, RequestScope, TokenGrant, TokenProvider, Upstream, Wiring};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decode::{Captured, Plan};
use mapping::{Format, HistoryMap, IntegrationMap};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use settings::{AuthConfig, HttpSourceConfig, ListConfig};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub use settings::HttpSourceConfig as Config;

/// Upper bound on the upstream calls one read may make.
pub const MAX_CALLS: usize = 1_000;
/// Items per call when the declaration gives no `page_size`.
const DEFAULT_PAGE_SIZE: usize = 100;

/// What the registry asks of every source, for declared ones.
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &[],
    credentials: &[],
    user_id_header: false,
    paths: &[],
    teams: false,
    writes: false,
    build: |_, _| {
        Err(SourceError::internal(
            "declared sources are built from their declaration",
        ))
    },
};

/// How the next page is asked for.
#[derive(Clone, Debug)]
enum Paging {
    None,
    Offset {
        offset: String,
        limit: String,
    },
    Page {
        page: String,
        size: String,
        first: u64,
    },
    Index {
        from: String,
        to: String,
    },
    Link {
        size: Option<String>,
    },
    Cursor {
        param: String,
        next: Option<String>,
        size: Option<String>,
    },
}

impl Paging {
    fn positional(&self) -> bool {
        matches!(
            self,
            Paging::Offset { .. } | Paging::Page { .. } | Paging::Index { .. }
        )
    }
}

/// One list as declared.
#[derive(Clone, Debug)]
struct List {
    path: Vec<String>,
    query: Vec<(String, String)>,
    reverse_query: Option<Vec<(String, String)>>,
    items: String,
    order: Order,
    page_size: usize,
    paging: Paging,
    total: Option<String>,
    since_param: Option<String>,
    until_param: Option<String>,
    window_format: Format,
    /// What a page's body is read for: the list, its total and its next token.
    page_plan: Plan,
    total_slot: Option<usize>,
    next_slot: Option<usize>,
    /// What each item is read for (the mappings register their pointers in it).
    item_plan: Plan,
    /// Where the items are, for `raw`.
    raw_at: ListAt,
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl List {
    fn new<F>(cfg: &ListConfig<F>) -> List {
        let paging = &cfg.paging;
        let name = |set: &Option<String>, default: &str| {
            set.clone().unwrap_or_else(|| default.to_string())
        };
        let style = paging.style.as_deref().unwrap_or("none");
        let size = paging.size_param.clone().or(paging.limit_param.clone());
        let mut page_plan = Plan::default();
        page_plan.list_at(&cfg.items);
        let total_slot = paging.total.as_deref().map(|p| page_plan.slot(p));
        let next_slot = match style {
            "cursor" => paging.next.as_deref().map(|p| page_plan.slot(p)),
            _ => None,
        };
        List {
            path: cfg
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            query: pairs(&cfg.query),
            reverse_query: cfg.reverse_query.as_ref().map(pairs),
            items: cfg.items.clone(),
            order: match cfg.order.as_deref() {
                Some("asc") => Order::OldestFirst,
                _ => Order::NewestFirst,
            },
            page_size: cfg
                .page_size
                .map_or(DEFAULT_PAGE_SIZE, |n| n.clamp(1, 10_000) as usize),
            paging: match style {
                "offset" => Paging::Offset {
                    offset: name(&paging.offset_param, "offset"),
                    limit: name(&paging.limit_param, "limit"),
                },
                "page" => Paging::Page {
                    page: name(&paging.page_param, "page"),
                    size: name(&paging.size_param, "per_page"),
                    first: paging.first_page.unwrap_or(1),
                },
                "index" => Paging::Index {
                    from: name(&paging.from_param, "from_index"),
                    to: name(&paging.to_param, "to_index"),
                },
                "link" => Paging::Link { size },
                "cursor" => Paging::Cursor {
                    param: name(&paging.cursor_param, "cursor"),
                    next: paging.next.clone(),
                    size,
                },
                _ => Paging::None,
            },
            total: paging.total.clone(),
            since_param: cfg.since_param.clone(),
            until_param: cfg.until_param.clone(),
            window_format: Format::parse(cfg.window_format.as_deref()),
            page_plan,
            total_slot,
            next_slot,
            item_plan: Plan::default(),
            raw_at: if cfg.items.is_empty() {
                ListAt::Root
            } else {
                // Once per declared list, for the life of the process.
                ListAt::Pointer(Box::leak(cfg.items.clone().into_boxed_str()))
            },
        }
    }

    /// The route template `/metrics` labels this list's calls with.
    fn route(&self) -> String {
        let segments: Vec<&str> = self
            .path
            .iter()
            .map(|s| if s.contains('{') { ":id" } else { s.as_str() })
            .collect();
        format!("/{}", segments.join("/"))
    }
}

/// The list a call reads: its path segments (ids substituted) and the integration whose
/// history it is (for `{sourceId}` in query values).
struct Target {
    segments: Vec<String>,
    subject: String,
}

/// One read of one list: which list, where, which way, and the time window asked for.
struct Reader<'a> {
    list: &'a List,
    target: Target,
    /// Read with `reverse_query` (the opposite of the list's own order).
    reversed: bool,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
}

/// Where a read is in a list.
#[derive(Clone, Debug)]
enum At {
    /// The first call.
    Start,
    /// Item `n` of the list (positional paging).
    Position(usize),
    /// A URL the upstream handed back (`Link: rel="next"`).
    Url(Url),
    /// A token the upstream handed back.
    Token(String),
}

/// One page as read: each item's mapped values, and its place in the body for `raw`.
struct Page {
    items: Vec<(Captured, RawJson)>,
    /// Where the next page is; `None` at the end.
    next: Option<At>,
    total: Option<usize>,
}

/// A declared source.
pub struct HttpSource {
    source: Source,
    up: Arc<Upstream>,
    token: Option<Arc<TokenProvider>>,
    integrations: List,
    integration_map: IntegrationMap,
    item_path: Option<Vec<String>>,
    history: List,
    history_map: HistoryMap,
}

/// OAuth2 client credentials at a declared token endpoint.
struct ClientCredentials {
    source: Source,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireToken {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[async_trait]
impl TokenGrant for ClientCredentials {
    async fn obtain(&self, up: &Upstream) -> SourceResult<(SecretString, Option<Duration>)> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.as_str()));
        }
        let fetched = up.check(up.post_form(self.token_url.clone(), &form).await?)?;
        let answer: WireToken = up.decode(&fetched).map_err(Arc::new)?;
        let token = answer
            .access_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Arc::new(SourceError::upstream(
                    self.source,
                    ErrorCode::UpstreamBadResponse,
                    format!(
                        "{}: the token answer carries no access_token",
                        self.source.as_str()
                    ),
                ))
            })?;
        // Without `expires_in`, the token is kept until it is refused.
        Ok((
            SecretString::from(token),
            answer.expires_in.map(Duration::from_secs),
        ))
    }
}

fn basic(username: &str, password: &str) -> SecretString {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    SecretString::from(format!("Basic {encoded}"))
}

impl HttpSource {
    /// Build a declared source and register what it provides (integrations and history).
    pub fn source_set(
        source: Source,
        wiring: &Wiring,
        cfg: &HttpSourceConfig,
    ) -> Result<SourceSet, SourceError> {
        let invalid =
            |what: &str| SourceError::internal(format!("{}: {what}", source.config_key()));
        let integrations_cfg = cfg
            .integrations
            .as_ref()
            .ok_or_else(|| invalid("no integrations"))?;
        let history_cfg = cfg.history.as_ref().ok_or_else(|| invalid("no history"))?;
        let mut integrations = List::new(integrations_cfg);
        let mut history = List::new(history_cfg);
        let integration_map =
            IntegrationMap::new(&integrations_cfg.fields, &mut integrations.item_plan);
        let history_map = HistoryMap::new(&history_cfg.fields, &mut history.item_plan);
        let mut token = None;
        let auth = match cfg.auth.as_ref() {
            None => Auth::Headers(Vec::new()),
            Some(auth) => match auth.kind.as_deref() {
                Some("bearer") => {
                    Auth::Bearer(auth.token.clone().unwrap_or_else(|| SecretString::from("")))
                }
                Some("header") => match &auth.headers {
                    Some(headers) => Auth::Headers(
                        headers
                            .iter()
                            .map(|(name, value)| {
                                http::HeaderName::from_bytes(name.as_bytes())
                                    .map(|name| (name, value.clone()))
                                    .map_err(|_| {
                                        invalid("auth.headers holds an invalid header name")
                                    })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    None => Auth::Headers(vec![(
                        header_name(auth)
                            .ok_or_else(|| invalid("auth.header is not a header name"))?,
                        auth.value.clone().unwrap_or_else(|| SecretString::from("")),
                    )]),
                },
                Some("basic") => Auth::Headers(vec![(
                    http::header::AUTHORIZATION,
                    basic(
                        auth.username.as_deref().unwrap_or_default(),
                        auth.password
                            .as_ref()
                            .map(|p| p.expose_secret())
                            .unwrap_or_default(),
                    ),
                )]),
                Some("oauth2") => {
                    let token_url = auth
                        .token_url
                        .as_deref()
                        .and_then(|u| Url::parse(u).ok())
                        .ok_or_else(|| invalid("auth.token_url is not a URL"))?;
                    let provider = TokenProvider::new(
                        None,
                        Some(Box::new(ClientCredentials {
                            source,
                            token_url,
                            client_id: auth.client_id.clone().unwrap_or_default(),
                            client_secret: auth
                                .client_secret
                                .clone()
                                .unwrap_or_else(|| SecretString::from("")),
                            scope: auth.scope.clone(),
                        })),
                    );
                    let auth = provider.auth();
                    token = Some(provider);
                    auth
                }
                _ => Auth::Headers(Vec::new()),
            },
        };
        // Route templates for `/metrics`, fixed for the life of the process.
        let mut routes = vec![integrations.route(), history.route()];
        if let Some(path) = &integrations_cfg.item_path {
            routes.insert(0, path.replace("{id}", ":id"));
        }
        let routes: &'static [&'static str] = Box::leak(
            routes
                .into_iter()
                .map(|r| &*Box::leak(r.into_boxed_str()))
                .collect::<Vec<&'static str>>()
                .into_boxed_slice(),
        );
        let mut up = Upstream::new(source, routes, wiring, cfg.base(), auth, cfg.timeout())?;
        if let Some(name) = cfg
            .auth
            .as_ref()
            .filter(|a| a.kind.as_deref() == Some("header"))
            .and_then(header_name)
        {
            up = up.with_caller_header_name(name);
        }
        let up = Arc::new(up);
        let adapter = Arc::new(HttpSource {
            source,
            up: up.clone(),
            token,
            integration_map,
            item_path: integrations_cfg.item_path.as_ref().map(|p| {
                p.split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            integrations,
            history_map,
            history,
        });
        Ok(SourceSet {
            integrations: Some(adapter.clone()),
            history: Some(adapter),
            flows: None,
            teams: None,
            upstream: Some(up),
            writes: None,
        })
    }

    fn bad_response(&self, message: String) -> SharedError {
        Arc::new(SourceError::upstream(
            self.source,
            ErrorCode::UpstreamBadResponse,
            message,
        ))
    }

    /// GET with the source's auth (an OAuth2 token obtained first and refreshed once on a 401).
    async fn get(&self, scope: &RequestScope, url: Url) -> SourceResult<Arc<Fetched>> {
        match &self.token {
            None => self.up.get(scope, url).await,
            Some(token) => {
                let fetched = token
                    .call(&self.up, scope, || {
                        self.up.get_any_status(scope, url.clone())
                    })
                    .await?;
                self.up.check_for(scope, fetched)
            }
        }
    }

    /// The URL of one call of a read at `at`, asking for `count` items.
    fn url(&self, reader: &Reader<'_>, at: &At, count: usize) -> Url {
        let (list, target) = (reader.list, &reader.target);
        let (reversed, window) = (reader.reversed, reader.window);
        if let At::Url(url) = at {
            return url.clone();
        }
        let subject = target.subject.as_str();
        let segments: Vec<&str> = target.segments.iter().map(String::as_str).collect();
        let fixed = match (&list.reverse_query, reversed) {
            (Some(reverse), true) => reverse,
            _ => &list.query,
        };
        let mut query: Vec<(String, String)> = fixed
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{sourceId}", subject)))
            .collect();
        if let (Some(param), Some(since)) = (&list.since_param, window.0) {
            query.push((param.clone(), list.window_format.write(since)));
        }
        if let (Some(param), Some(until)) = (&list.until_param, window.1) {
            query.push((param.clone(), list.window_format.write(until)));
        }
        let position = match at {
            At::Position(n) => *n,
            _ => 0,
        };
        match &list.paging {
            Paging::None => {}
            Paging::Offset { offset, limit } => {
                query.push((offset.clone(), position.to_string()));
                query.push((limit.clone(), count.to_string()));
            }
            Paging::Page { page, size, first } => {
                let number = *first + (position / count.max(1)) as u64;
                query.push((page.clone(), number.to_string()));
                query.push((size.clone(), count.to_string()));
            }
            Paging::Index { from, to } => {
                query.push((from.clone(), position.to_string()));
                query.push((to.clone(), (position + count).to_string()));
            }
            Paging::Link { size } => {
                if let Some(size) = size {
                    query.push((size.clone(), count.to_string()));
                }
            }
            Paging::Cursor { param, size, .. } => {
                if let Some(size) = size {
                    query.push((size.clone(), count.to_string()));
                }
                if let At::Token(token) = at {
                    query.push((param.clone(), token.clone()));
                }
            }
        }
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.up.url(&segments, &pairs)
    }

    /// Read one page at `at`, asking for `count` items.
    async fn page(
        &self,
        scope: &RequestScope,
        reader: &Reader<'_>,
        at: &At,
        count: usize,
    ) -> SourceResult<Page> {
        let list = reader.list;
        let url = self.url(reader, at, count);
        let fetched = self.get(scope, url).await?;
        let body: &[u8] = match (fetched.status, fetched.body.is_empty()) {
            (204, true) => b"[]",
            _ => &fetched.body,
        };
        let decoded = decode::page(body, &list.page_plan, &list.item_plan).map_err(|err| {
            let what = if err.is_eof() {
                "was cut short"
            } else {
                "is not JSON"
            };
            self.bad_response(format!(
                "{}: the response body {what}",
                self.source.as_str()
            ))
        })?;
        if !decoded.found_list {
            return Err(self.bad_response(format!(
                "{}: the response has no list at {:?}",
                self.source.as_str(),
                list.items
            )));
        }
        let total = list
            .total_slot
            .and_then(|slot| decoded.body.get(slot))
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map(|t| t as usize);
        // A `cursor` token in the body.
        let body_token = list.next_slot.map(|slot| match decoded.body.get(slot) {
            Some(Value::String(token)) if !token.is_empty() => Some(At::Token(token.clone())),
            Some(Value::Number(n)) => Some(At::Token(n.to_string())),
            _ => None,
        });
        let raw = RawList::new(fetched.body.clone(), list.raw_at);
        let items: Vec<(Captured, RawJson)> = decoded
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (item, raw.item(i)))
            .collect();
        let read = items.len();
        let position = match at {
            At::Position(n) => *n,
            _ => 0,
        };
        let next = match &list.paging {
            Paging::None => None,
            Paging::Offset { .. } | Paging::Page { .. } | Paging::Index { .. } => {
                let end = position + read;
                let done = read == 0
                    || match total {
                        Some(total) => end >= total,
                        None => read < count,
                    };
                (!done).then_some(At::Position(end))
            }
            Paging::Link { .. } => match fetched.next_link() {
                Some(link) => Some(At::Url(self.up.follow(&link).map_err(Arc::new)?)),
                None => None,
            },
            Paging::Cursor { param, next, .. } => {
                let token = match next {
                    Some(_) => None,
                    None => fetched
                        .next_link()
                        .and_then(|link| self.up.follow(&link).ok())
                        .and_then(|url| {
                            url.query_pairs()
                                .find(|(k, _)| k == param.as_str())
                                .map(|(_, v)| v.into_owned())
                        }),
                };
                token.filter(|t| !t.is_empty()).map(At::Token)
            }
        };
        // A cursor from the body.
        let next = match body_token {
            Some(token) => token,
            None => next,
        };
        // An upstream that keeps answering full pages with the same link would never end.
        let next = if read == 0 { None } else { next };
        Ok(Page { items, next, total })
    }

    /// Where one integration's history is.
    fn history_target(&self, integration_id: &str) -> Target {
        Target {
            segments: self
                .history
                .path
                .iter()
                .map(|s| s.replace("{sourceId}", integration_id))
                .collect(),
            subject: integration_id.to_string(),
        }
    }
}

fn header_name(auth: &AuthConfig) -> Option<http::HeaderName> {
    auth.header
        .as_deref()
        .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
}

mod walk;
use walk::Walk;

#[async_trait]
impl IntegrationSource for HttpSource {
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>> {
        let list = &self.integrations;
        let mut items: Vec<Arc<Integration>> = Vec::new();
        let mut seen = HashSet::new();
        let mut problems = Vec::new();
        let reader = Reader {
            list,
            target: Target {
                segments: list.path.clone(),
                subject: String::new(),
            },
            reversed: false,
            window: (None, None),
        };
        let mut at = At::Start;
        for _ in 0..MAX_CALLS {
            let count = match need {
                Some(n) if !matches!(list.paging, Paging::Page { .. }) => {
                    n.saturating_sub(items.len()).clamp(1, list.page_size)
                }
                _ => list.page_size,
            };
            let page = self.page(scope, &reader, &at, count).await?;
            let total = page.items.len();
            let mut decoded = 0;
            for (item, raw) in page.items {
                match self.integration_map.map(self.source, &item, raw) {
                    Ok(integration) => {
                        decoded += 1;
                        if seen.insert(integration.source_id.clone()) {
                            items.push(Arc::new(integration));
                        }
                    }
                    Err(reason) => problems.push(reason),
                }
            }
            super::check_skipped(self.source, scope, total, decoded).map_err(|err| {
                Arc::new(SourceError {
                    message: format!("{} ({})", err.message, problems.join("; ")),
                    ..err
                })
            })?;
            match page.next {
                None => {
                    return Ok(Listing {
                        items,
                        complete: true,
                    })
                }
                Some(next) => at = next,
            }
            if need.is_some_and(|n| items.len() >= n) {
                return Ok(Listing {
                    items,
                    complete: false,
                });
            }
        }
        Err(self.endless())
    }

    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>> {
        if let Some(path) = &self.item_path {
            let segments: Vec<String> = path.iter().map(|s| s.replace("{id}", id)).collect();
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let url = self.up.url(&segments, &[]);
            let fetched = match self.get(scope, url).await {
                Ok(fetched) => fetched,
                Err(err) if matches!(err.code, ErrorCode::NotFound | ErrorCode::BadUserInput) => {
                    return Ok(None)
                }
                Err(err) => return Err(err),
            };
            let body: Value = self.up.decode(&fetched).map_err(Arc::new)?;
            let captured = self.integrations.item_plan.capture(&body);
            return match self
                .integration_map
                .map(self.source, &captured, RawJson::from(body))
            {
                Ok(found) => Ok(Some(Arc::new(found))),
                Err(reason) => Err(self.bad_response(format!(
                    "{}: integration {id} is not in the declared shape: {reason}",
                    self.source.as_str()
                ))),
            };
        }
        let listing = self.list_integrations(scope, None).await?;
        Ok(listing.items.into_iter().find(|i| i.source_id == id))
    }
}

impl HttpSource {
    fn endless(&self) -> SharedError {
        self.bad_response(format!(
            "{} kept answering pages past {MAX_CALLS} calls",
            self.source.as_str()
        ))
    }

    /// One integration's history inside `window`.
    async fn read_history(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        let kinds = self.history_map.kinds();
        if !kinds.is_empty() && !kinds.iter().any(|k| filter.admits_kind(*k)) {
            return Ok(StreamPage::default());
        }
        let list = &self.history;
        let wanted = Order::of(window.direction);
        let reversed = list.order != wanted && list.reverse_query.is_some();
        let order = if reversed {
            list.order.flip()
        } else {
            list.order
        };
        // The upstream is asked for the filter's time window where the declaration names its
        // parameters (`since_param`, `until_param`).
        let mut reader = Reader {
            list,
            target: self.history_target(integration_id),
            reversed,
            window: (filter.since, filter.until),
        };
        // Every branch below hands the walk items in the page's own order.
        let mut walk = Walk::new(
            window,
            filter,
            wanted,
            &self.history_map,
            self.source,
            integration_id,
        );
        if order == wanted {
            // Read in the page's own order, from its own end.
            let mut at = At::Start;
            let mut position = 0usize;
            for _ in 0..MAX_CALLS {
                let count = walk.next_count(list, position);
                let page = self.page(scope, &reader, &at, count).await?;
                let read = page.items.len();
                let fresh = walk.absorb(page.items);
                position += read;
                if walk.exhausted() || walk.enough() {
                    return walk.finish(page.next.is_none(), Some(position));
                }
                if page.next.is_some() && walk.short_page_suffices(read, count, list) {
                    // Fewer than asked although the upstream says more exist (a silent
                    // clamp, or a server that ignores paging): the page is full, and
                    // `hasNextPage` comes from that instead of another call.
                    return walk.finish(false, Some(position));
                }
                if read > 0 && fresh == 0 {
                    // Nothing new on a whole page: the upstream ignores the paging parameters.
                    return walk.finish(true, Some(position));
                }
                match page.next {
                    None => return walk.finish(true, Some(position)),
                    Some(next) => at = next,
                }
            }
            return Err(self.endless());
        }
        // The list can only be read in its own order from here on.
        reader.reversed = false;
        if list.paging.positional() && list.total.is_some() {
            // The other end first: learn the total from one call, then read pages backwards.
            let size = list.page_size;
            let first = self.page(scope, &reader, &At::Position(0), size).await?;
            let Some(total) = first.total else {
                return Err(self.bad_response(format!(
                    "{}: the response has no total at {:?}",
                    self.source.as_str(),
                    list.total.as_deref().unwrap_or_default()
                )));
            };
            if total <= first.items.len() || first.next.is_none() {
                let mut items = first.items;
                items.reverse();
                walk.absorb(items);
                return walk.finish(true, None);
            }
            let mut end = total;
            let mut calls = 1;
            while end > 0 {
                calls += 1;
                if calls > MAX_CALLS {
                    return Err(self.endless());
                }
                let start = match list.paging {
                    // Page numbers need whole pages: the last one may be short.
                    Paging::Page { .. } => ((end - 1) / size) * size,
                    _ => end.saturating_sub(size),
                };
                let mut items = if start == 0 {
                    first.items.clone()
                } else {
                    self.page(scope, &reader, &At::Position(start), size)
                        .await?
                        .items
                };
                items.truncate(end - start);
                items.reverse();
                walk.absorb(items);
                end = start;
                if walk.exhausted() || walk.enough() {
                    return walk.finish(end == 0, None);
                }
            }
            return walk.finish(true, None);
        }
        // Only the other order, and no way to start at the far end: read it all.
        let mut at = At::Start;
        let mut collected = Vec::new();
        for _ in 0..MAX_CALLS {
            let page = self.page(scope, &reader, &at, list.page_size).await?;
            collected.extend(page.items);
            match page.next {
                None => {
                    collected.reverse();
                    walk.absorb(collected);
                    return walk.finish(true, None);
                }
                Some(next) => at = next,
            }
        }
        Err(self.endless())
    }

    /// One entry by id: the history in the upstream's order until it shows up.
    async fn entry(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        entry_id: &str,
    ) -> SourceResult<Option<HistoryEntry>> {
        let list = &self.history;
        let reader = Reader {
            list,
            target: self.history_target(integration_id),
            reversed: false,
            window: (None, None),
        };
        let mut at = At::Start;
        for _ in 0..MAX_CALLS {
            let page = self.page(scope, &reader, &at, list.page_size).await?;
            for (item, raw) in page.items {
                if self.history_map.id(&item).as_deref() == Some(entry_id) {
                    return self
                        .history_map
                        .map(self.source, integration_id, &item, raw)
                        .map(Some)
                        .map_err(|reason| {
                            self.bad_response(format!("{}: {reason}", self.source.as_str()))
                        });
                }
            }
            match page.next {
                None => return Ok(None),
                Some(next) => at = next,
            }
        }
        Err(self.endless())
    }
}

#[async_trait]
impl HistorySource for HttpSource {
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        match subject {
            SubjectRef::Integration { source, source_id } if *source == self.source => {
                self.read_history(scope, source_id, filter, window).await
            }
            _ => Ok(StreamPage::default()),
        }
    }

    async fn history_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_id: &str,
        _observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>> {
        match subject {
            SubjectRef::Integration { source, source_id } if *source == self.source => {
                self.entry(scope, source_id, entry_id).await
            }
            _ => Ok(None),
        }
    }
}
