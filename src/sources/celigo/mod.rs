//! Celigo integrator.io adapter: integrations, flows, connections and the audit log
//! (upstreams/celigo.md). Lists are bare arrays paged by `Link: <…>; rel="next"`, followed
//! verbatim and only as far as the page being served needs.

pub mod wire;
mod writes;

use super::decode_raw_item;
use super::scan::{self, Scan};
use super::{FlowSource, HistorySource, IntegrationSource, Listing, SourceSet};
use crate::domain::datetime::format_utc_ms;
use crate::domain::{
    CompactString, Connection, Flow, HistoryEntry, HistoryFilter, HistoryKind, Integration, Source,
    SubjectRef,
};
use crate::domain::{ListAt, RawJson, RawList};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{sort_timeline, Direction, StreamPage, StreamWindow, TimelineKey};
use crate::sources::SourceConfig;
use crate::upstream::Fetched;
use crate::upstream::{Auth, RequestScope, Upstream, Wiring};
use crate::FastHash;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use url::Url;
use wire::{WireAudit, WireConnection, WireFlow, WireFlowSteps, WireIntegration, WireResource};

/// Stop following `Link` headers after this many pages of one list (a misbehaving upstream
/// must not keep a request busy forever).
const MAX_PAGES: usize = 10_000;

/// Every route this adapter calls, as `/metrics` labels them.
pub const ROUTES: &[&str] = &[
    "/v1/integrations/:id/connections/:id/register",
    "/v1/integrations/:id/connections/register",
    "/v1/integrations/:id/revisions/create",
    "/v1/integrations/:id/connections",
    "/v1/integrations/:id/flows",
    "/v1/integrations/:id/audit",
    "/v1/integrations/:id/exports",
    "/v1/integrations/:id/imports",
    "/v1/integrations/:id/clone",
    "/v1/integrations/:id",
    "/v1/integrations",
    "/v1/connections/:id",
    "/v1/connections",
    "/v1/flows",
];

/// The Celigo adapter.
pub struct Celigo {
    up: Arc<Upstream>,
}

/// What this adapter knows about its vendor (config keys, credentials, capabilities).
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &["token"],
    credentials: &[&["token"]],
    user_id_header: false,
    paths: &["v1"],
    teams: false,
    writes: true,
    build: Celigo::source_set,
};

impl Celigo {
    /// Build the adapter and register what it provides.
    pub fn source_set(wiring: &Wiring, cfg: &SourceConfig) -> Result<SourceSet, SourceError> {
        let token = cfg.token.clone().unwrap_or_else(|| SecretString::from(""));
        let up = Arc::new(Upstream::new(
            Source::Celigo,
            ROUTES,
            wiring,
            cfg.base(),
            Auth::Bearer(token),
            cfg.timeout(),
        )?);
        let celigo = Arc::new(Celigo { up: up.clone() });
        Ok(SourceSet {
            integrations: Some(celigo.clone()),
            history: Some(celigo.clone()),
            flows: Some(celigo.clone()),
            teams: None,
            upstream: Some(up),
            writes: Some(celigo),
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut all = vec!["v1"];
        all.extend_from_slice(segments);
        self.up.url(&all, query)
    }

    /// Follow `Link: rel="next"` from `first`, handing each page's items to `on_page`, until it
    /// answers `true` (enough) or the last page. Returns whether the list was read to its end.
    async fn walk_pages<W: DeserializeOwned + Scan, T>(
        &self,
        scope: &RequestScope,
        first: Url,
        what: &str,
        mut map: impl FnMut(W, RawJson) -> T,
        mut on_page: impl FnMut(Vec<T>) -> bool,
    ) -> SourceResult<bool> {
        let mut next = Some(first);
        let mut visited = HashSet::new();
        while let Some(url) = next.take() {
            if !visited.insert(url.to_string()) || visited.len() > MAX_PAGES {
                return Err(Arc::new(SourceError::upstream(
                    Source::Celigo,
                    ErrorCode::UpstreamBadResponse,
                    "CELIGO Link headers loop back to a page already read",
                )));
            }
            let fetched = self.up.get(scope, url).await?;
            next = match fetched.next_link() {
                Some(link) => Some(self.up.follow(&link).map_err(Arc::new)?),
                None => None,
            };
            let items = self.decode_list::<W, T>(scope, &fetched, what, &mut map)?;
            let enough = on_page(items);
            if enough && next.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The items of one page (a bare array), each mapped by `map` with its raw JSON. One pass
    /// straight into the wire structs, each mapped as soon as it is read; `raw` is only the
    /// item's place in the shared body. When some element is not in the documented shape, the
    /// page is read again element by element, so that one is skipped (and said) while the rest
    /// survive, exactly as [`super::decode_page`] rules.
    fn decode_list<W: DeserializeOwned + Scan, T>(
        &self,
        scope: &RequestScope,
        fetched: &Fetched,
        what: &str,
        map: &mut impl FnMut(W, RawJson) -> T,
    ) -> SourceResult<Vec<T>> {
        // An empty 204 is an empty list (as `Upstream::decode` reads it).
        let body = if fetched.status == 204 && fetched.body.is_empty() {
            bytes::Bytes::from_static(b"[]")
        } else {
            fetched.body.clone()
        };
        let list = RawList::new(body, ListAt::Root);
        if let Some(text) = list.text() {
            if let Some(items) = scan::list_map(text, |index, w: W| map(w, list.item(index))) {
                return Ok(items);
            }
            if let Ok(items) = serde_json::from_str::<Vec<W>>(text) {
                return Ok(items
                    .into_iter()
                    .enumerate()
                    .map(|(index, w)| map(w, list.item(index)))
                    .collect());
            }
        }
        let elements: Vec<Box<RawValue>> = self.up.decode(fetched).map_err(Arc::new)?;
        let decoded = super::decode_page(
            Source::Celigo,
            scope,
            elements.into_iter().enumerate().collect(),
            |(index, element)| {
                decode_raw_item::<W>(Source::Celigo, &element, what)
                    .map(|w| map(w, list.item(index)))
            },
        )
        .map_err(Arc::new)?;
        Ok(decoded)
    }

    /// Collect a list until `enough(items so far)` or its end.
    async fn walk<W: DeserializeOwned + Scan, T>(
        &self,
        scope: &RequestScope,
        first: Url,
        what: &str,
        map: impl FnMut(W, RawJson) -> T,
        mut enough: impl FnMut(&[T]) -> bool,
    ) -> SourceResult<Listing<T>> {
        let mut items = Vec::new();
        let complete = self
            .walk_pages(scope, first, what, map, |page| {
                items.extend(page);
                enough(&items)
            })
            .await?;
        Ok(Listing { items, complete })
    }

    /// Every item of a list.
    async fn walk_all<W: DeserializeOwned + Scan, T>(
        &self,
        scope: &RequestScope,
        first: Url,
        what: &str,
        map: impl FnMut(W, RawJson) -> T,
    ) -> SourceResult<Vec<T>> {
        Ok(self.walk(scope, first, what, map, |_| false).await?.items)
    }

    fn flows_url(&self, integration_id: Option<&str>) -> Url {
        match integration_id {
            Some(id) => self.url(&["integrations", id, "flows"], &[]),
            None => self.url(&["flows"], &[]),
        }
    }

    async fn flows_of(
        &self,
        scope: &RequestScope,
        integration_id: Option<&str>,
    ) -> SourceResult<Vec<Arc<Flow>>> {
        self.walk_all(
            scope,
            self.flows_url(integration_id),
            "flow",
            |w: WireFlow, raw| Arc::new(w.into_domain(raw)),
        )
        .await
    }

    async fn connections_of(
        &self,
        scope: &RequestScope,
        integration_id: Option<&str>,
    ) -> SourceResult<Vec<Arc<Connection>>> {
        let url = match integration_id {
            Some(id) => self.url(&["integrations", id, "connections"], &[]),
            None => self.url(&["connections"], &[]),
        };
        self.walk_all(scope, url, "connection", |w: WireConnection, raw| {
            Arc::new(w.into_domain(raw, integration_id))
        })
        .await
    }

    /// The audit log of one integration, read as far as `window` needs.
    async fn audit(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        if !filter.admits_kind(HistoryKind::Audit) {
            return Ok(StreamPage::default());
        }
        let since = filter.since.map(format_utc_ms);
        let until = filter.until.map(format_utc_ms);
        let mut query = Vec::new();
        if let Some(since) = since.as_deref() {
            query.push(("from", since));
        }
        if let Some(until) = until.as_deref() {
            query.push(("to", until));
        }
        let url = self.url(&["integrations", integration_id, "audit"], &query);
        let map = |w: WireAudit, raw| w.into_domain(raw, integration_id);
        let mut collector = AuditCollector::new(filter, window);
        self.walk_pages(scope, url.clone(), "audit entry", map, |page| {
            collector.push_page(page)
        })
        .await?;
        if collector.in_order {
            return Ok(collector.finish());
        }
        // The log was not newest-first: read it whole, sort it, and say so.
        scope.warn(format!(
            "CELIGO audit log of integration {integration_id} was not newest-first: it was read whole and sorted"
        ));
        let mut entries = self.walk_all(scope, url, "audit entry", map).await?;
        sort_timeline(&mut entries, window.snapshot);
        let admitted: Vec<HistoryEntry> = entries
            .into_iter()
            .filter(|e| {
                filter.matches(e, window.snapshot)
                    && window.admits(&TimelineKey::of(e, window.snapshot))
            })
            .collect();
        Ok(window.take(admitted, false))
    }
}

/// Keeps only what a window needs while an audit log (newest first) streams past: the first
/// `limit + 1` admitted entries going forward, the last `limit + 1` before the cursor going
/// backward. Memory stays O(limit) however long the log is; it also checks the order.
struct AuditCollector<'a> {
    filter: &'a HistoryFilter,
    window: &'a StreamWindow,
    kept: std::collections::VecDeque<HistoryEntry>,
    last_key: Option<TimelineKey>,
    in_order: bool,
}

impl<'a> AuditCollector<'a> {
    fn new(filter: &'a HistoryFilter, window: &'a StreamWindow) -> Self {
        AuditCollector {
            filter,
            window,
            kept: std::collections::VecDeque::with_capacity(window.limit.min(1024) + 2),
            last_key: None,
            in_order: true,
        }
    }

    /// Take one page; `true` once nothing further can change the answer (or the order broke).
    fn push_page(&mut self, mut page: Vec<HistoryEntry>) -> bool {
        // The first page going forward, when every entry it needs is admitted and in order
        // (the usual case), becomes the window as it is: no entry is moved.
        if self.kept.is_empty() && self.window.direction == Direction::Forward {
            if let Some((end, last_key, done)) = self.adoptable(&page) {
                page.truncate(end);
                self.kept = page.into();
                self.last_key = last_key;
                return done;
            }
        }
        let snapshot = self.window.snapshot;
        // The key being read and the one before it swap places, so their ids' buffers are
        // reused instead of one allocation per entry.
        let mut key = self.last_key.clone().unwrap_or(TimelineKey {
            at_ms: 0,
            source: Source::Celigo,
            source_id: CompactString::default(),
        });
        for entry in page {
            key.set(&entry, snapshot);
            if self.last_key.as_ref().is_some_and(|prev| key < *prev) {
                self.in_order = false;
                return true;
            }
            let past_cursor = self.window.direction == Direction::Backward
                && self
                    .window
                    .key
                    .as_ref()
                    .is_some_and(|cursor| key >= *cursor);
            let admitted = self.admits(&entry, &key);
            match &mut self.last_key {
                Some(last) => std::mem::swap(last, &mut key),
                None => self.last_key = Some(key.clone()),
            }
            if past_cursor {
                return true;
            }
            if !admitted {
                continue;
            }
            self.kept.push_back(entry);
            match self.window.direction {
                Direction::Forward if self.kept.len() > self.window.limit => return true,
                Direction::Backward if self.kept.len() > self.window.limit + 1 => {
                    self.kept.pop_front();
                }
                _ => {}
            }
        }
        false
    }

    /// Whether the filter and the window admit `entry`, whose key is `key`.
    fn admits(&self, entry: &HistoryEntry, key: &TimelineKey) -> bool {
        self.filter.matches(entry, self.window.snapshot) && self.window.admits(key)
    }

    /// How much of a page going forward is kept whole: `(entries kept, the last one's key,
    /// whether the window is full)`, or `None` when some entry is not admitted or out of order
    /// (the entry-by-entry reading decides those).
    fn adoptable(&self, page: &[HistoryEntry]) -> Option<(usize, Option<TimelineKey>, bool)> {
        let snapshot = self.window.snapshot;
        let mut prev = self.last_key.clone();
        for (index, entry) in page.iter().enumerate() {
            let key = TimelineKey::of(entry, snapshot);
            if prev.as_ref().is_some_and(|prev| key < *prev) {
                return None;
            }
            if !self.admits(entry, &key) {
                return None;
            }
            if index + 1 > self.window.limit {
                return Some((index + 1, Some(key), true));
            }
            prev = Some(key);
        }
        Some((page.len(), prev, false))
    }

    fn finish(self) -> StreamPage {
        self.window.take(self.kept.into(), false)
    }
}

fn not_found_is_none<T>(result: SourceResult<T>) -> SourceResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if matches!(err.code, ErrorCode::NotFound | ErrorCode::BadUserInput) => Ok(None),
        Err(err) => Err(err),
    }
}

#[async_trait]
impl IntegrationSource for Celigo {
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>> {
        let url = self.url(&["integrations"], &[]);
        self.walk(
            scope,
            url,
            "integration",
            |w: WireIntegration, raw| Arc::new(w.into_domain(raw)),
            |items| need.is_some_and(|n| items.len() >= n),
        )
        .await
    }

    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>> {
        let url = self.url(&["integrations", id], &[]);
        let fetched = not_found_is_none(self.up.get_json::<Value>(scope, url).await)?;
        let Some((value, _)) = fetched else {
            return Ok(None);
        };
        let wire = WireIntegration::deserialize_strict(&value)?;
        Ok(Some(Arc::new(wire.into_domain(value))))
    }
}

impl WireIntegration {
    fn deserialize_strict(value: &Value) -> SourceResult<WireIntegration> {
        serde::Deserialize::deserialize(value).map_err(|_| {
            Arc::new(SourceError::upstream(
                Source::Celigo,
                ErrorCode::UpstreamBadResponse,
                "CELIGO integration is not in the documented shape",
            ))
        })
    }
}

#[async_trait]
impl HistorySource for Celigo {
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        match subject {
            SubjectRef::Integration { source_id, .. } => {
                self.audit(scope, source_id, filter, window).await
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
        let SubjectRef::Integration { source_id, .. } = subject else {
            return Ok(None);
        };
        let url = self.url(&["integrations", source_id, "audit"], &[]);
        let listing = not_found_is_none(
            self.walk(
                scope,
                url,
                "audit entry",
                |w: WireAudit, raw| w.into_domain(raw, source_id),
                |items: &[HistoryEntry]| items.iter().any(|e| e.source_id == entry_id),
            )
            .await,
        )?;
        Ok(listing.and_then(|l| l.items.into_iter().find(|e| e.source_id == entry_id)))
    }
}

#[async_trait]
impl FlowSource for Celigo {
    async fn flows(
        &self,
        scope: &RequestScope,
        integration_ids: &[CompactString],
    ) -> SourceResult<HashMap<CompactString, Vec<Arc<Flow>>>> {
        let mut grouped: HashMap<CompactString, Vec<Arc<Flow>>> = integration_ids
            .iter()
            .map(|id| (id.clone(), Vec::new()))
            .collect();
        if let [only] = integration_ids {
            // One integration: its own route is smaller than every flow of the account.
            let flows =
                not_found_is_none(self.flows_of(scope, Some(only)).await)?.unwrap_or_default();
            grouped.insert(only.clone(), flows);
            return Ok(grouped);
        }
        // Many integrations: one bulk list, grouped by `_integrationId`, beats N calls. A
        // DataLoader may ask in several batches; the list is read and decoded once per request.
        let bulk = self.flows_url(None);
        let all = scope
            .memo(bulk.as_str(), async {
                let mut all: HashMap<CompactString, Vec<Arc<Flow>>, FastHash> = HashMap::default();
                for flow in self.flows_of(scope, None).await? {
                    let Some(id) = &flow.integration_id else {
                        continue;
                    };
                    all.entry(id.clone())
                        .or_insert_with(|| Vec::with_capacity(8))
                        .push(flow);
                }
                Ok(all)
            })
            .await?;
        for (id, list) in grouped.iter_mut() {
            if let Some(flows) = all.get(id) {
                list.clone_from(flows);
            }
        }
        Ok(grouped)
    }

    async fn connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
    ) -> SourceResult<Vec<Arc<Connection>>> {
        Ok(
            not_found_is_none(self.connections_of(scope, Some(integration_id)).await)?
                .unwrap_or_default(),
        )
    }

    async fn flow_connections(
        &self,
        scope: &RequestScope,
        flow: &Flow,
    ) -> SourceResult<Vec<Arc<Connection>>> {
        let Some(integration_id) = flow.integration_id.as_deref() else {
            return Ok(Vec::new());
        };
        let resource_ids = flow
            .raw
            .parse::<WireFlowSteps>()
            .map_err(|err| {
                SourceError::upstream(
                    Source::Celigo,
                    ErrorCode::UpstreamBadResponse,
                    format!(
                        "CELIGO flow {}: its steps are not in the documented shape ({})",
                        flow.source_id,
                        crate::redact::scrub(&err.to_string())
                    ),
                )
            })?
            .resource_ids();
        let resource = |w: WireResource, _raw| w;
        let (exports, imports, connections) = futures::try_join!(
            self.walk_all(
                scope,
                self.url(&["integrations", integration_id, "exports"], &[]),
                "export/import",
                resource
            ),
            self.walk_all(
                scope,
                self.url(&["integrations", integration_id, "imports"], &[]),
                "export/import",
                resource
            ),
            self.connections(scope, integration_id),
        )?;
        let used: HashSet<&str> = exports
            .iter()
            .chain(&imports)
            .filter(|r| resource_ids.contains(&r.id))
            .filter_map(|r| r.connection_id.as_deref())
            .collect();
        Ok(connections
            .into_iter()
            .filter(|c| used.contains(c.source_id.as_str()))
            .collect())
    }

    async fn connection(
        &self,
        scope: &RequestScope,
        id: &str,
        integration_id: Option<&str>,
    ) -> SourceResult<Option<Arc<Connection>>> {
        let list = match integration_id {
            Some(iid) => self.connections(scope, iid).await?,
            None => self.connections_of(scope, None).await?,
        };
        Ok(list.into_iter().find(|c| c.source_id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, Subject};
    use chrono::TimeZone;

    fn entry(id: &str, at_s: i64, actor: &str) -> HistoryEntry {
        HistoryEntry {
            source: Source::Celigo,
            source_id: id.into(),
            kind: HistoryKind::Audit,
            occurred_at: Utc.timestamp_opt(at_s, 0).single(),
            updated_at: None,
            actor: Some(Actor {
                source_id: Some(actor.into()),
                name: None,
                email: None,
            }),
            summary: String::new().into(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: "i1".into(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Celigo,
                source_id: "i1".into(),
            },
            status: None,
            error: None,
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw: serde_json::Value::Null.into(),
        }
    }

    fn window(limit: usize) -> StreamWindow {
        StreamWindow {
            direction: Direction::Forward,
            key: None,
            limit,
            snapshot: Utc.timestamp_opt(10_000, 0).single().expect("time"),
            depth: None,
        }
    }

    fn collect(
        filter: &HistoryFilter,
        window: &StreamWindow,
        pages: &[&[(&str, i64, &str)]],
    ) -> (Vec<String>, bool, bool) {
        let mut collector = AuditCollector::new(filter, window);
        let mut done = false;
        for page in pages {
            let page = page
                .iter()
                .map(|(id, at, actor)| entry(id, *at, actor))
                .collect();
            if collector.push_page(page) {
                done = true;
                break;
            }
        }
        let in_order = collector.in_order;
        let ids = collector
            .finish()
            .entries
            .iter()
            .map(|e| e.source_id.to_string())
            .collect();
        (ids, done, in_order)
    }

    /// A first page taken whole (every entry admitted, in order) and one read entry by entry
    /// (an entry not admitted, or out of order) keep the same window.
    #[test]
    fn the_audit_window_is_the_same_whether_a_page_is_taken_whole_or_entry_by_entry() {
        let all = HistoryFilter::default();
        let by_ann = HistoryFilter {
            actor_id: Some("ann".into()),
            ..HistoryFilter::default()
        };
        let first: &[(&str, i64, &str)] =
            &[("a", 900, "ann"), ("b", 800, "bob"), ("c", 700, "ann")];
        let second: &[(&str, i64, &str)] = &[("d", 600, "ann"), ("e", 500, "ann")];
        // Taken whole: the first page fills a window of 2 (+1 to know there is more).
        assert_eq!(
            collect(&all, &window(2), &[first, second]),
            (vec!["a".into(), "b".into()], true, true)
        );
        // The page ends before the window is full: the next page continues it.
        assert_eq!(
            collect(&all, &window(4), &[first, second]),
            (
                vec!["a".into(), "b".into(), "c".into(), "d".into()],
                true,
                true
            )
        );
        assert_eq!(
            collect(&all, &window(9), &[first, second]),
            (
                vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
                false,
                true
            )
        );
        // Bob's entry is not admitted: entry by entry.
        assert_eq!(
            collect(&by_ann, &window(2), &[first, second]),
            (vec!["a".into(), "c".into()], true, true)
        );
        // Out of order: said, whichever way the page is read.
        let unordered: &[(&str, i64, &str)] = &[("a", 700, "ann"), ("b", 800, "ann")];
        assert!(!collect(&all, &window(5), &[unordered]).2);
    }
}
