//! Rocket.Chat adapter: incoming/outgoing webhooks and outgoing-webhook execution history
//! (upstreams/rocketchat.md).
//!
//! Both lists page by `offset`/`count`; the server clamps `count` to 100 without saying so, so
//! "has more" always comes from `total`. History is read in the server's `_updatedAt` order
//! and re-aligned by the timeline key in the cursor (DESIGN.md §3): offsets shift when new
//! executions arrive at the head, keys do not.
//!
//! Cost of a history page (N = page size): a first page is one call asking for N + 1 records
//! (N ≤ 99), so `hasNextPage` and ties at the cut are exact. A page after a cursor reads from
//! the head up to the cursor in pages of 100 (skipping what the client has seen), and when the
//! cursor lies more than 300 records deep it first locates it with a binary search
//! of one-record probes, so deep pages cost O(log depth) calls, not O(depth). `last` pages read
//! oldest-first (`sort={"_updatedAt":1}`) the same way. The deprecated `query` parameter is
//! never relied on for paging: newer servers ignore or reject it.

pub mod wire;

use super::decode_item;
use super::{HistorySource, IntegrationSource, Listing, SourceSet};
use crate::domain::{HistoryEntry, HistoryFilter, HistoryKind, Integration, Source, SubjectRef};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{Direction, StreamPage, StreamWindow, TimelineKey};
use crate::sources::SourceConfig;
use crate::upstream::{refused_request, Auth, RequestScope, Upstream, Wiring};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::Arc;
use url::Url;
use wire::{WireExecution, WireGet, WireIntegration, WirePage};

/// The server's `API_Upper_Count_Limit`: larger `count`s are clamped silently.
const MAX_COUNT: usize = 100;
/// A cursor further than this many records from where reading starts is located by binary
/// search instead of reading every page in between.
const SEEK_MIN_GAP: usize = 3 * MAX_COUNT;
/// Upper bound on the upstream calls one list or history read may make (a server that ignores
/// `offset` must not keep a request busy forever).
const MAX_CALLS: usize = 2_000;

/// Every route this adapter calls, as `/metrics` labels them.
pub const ROUTES: &[&str] = &[
    "/api/v1/integrations.list",
    "/api/v1/integrations.get",
    "/api/v1/integrations.history",
];

/// The Rocket.Chat adapter.
/// Calls in flight are bounded by the source's `max_concurrency`, which the shared upstream
/// policy enforces (a page of many webhooks' histories fans out concurrently, never without
/// limit).
pub struct RocketChat {
    up: Arc<Upstream>,
}

/// What this adapter knows about its vendor (config keys, credentials, capabilities).
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &["user_id", "auth_token"],
    credentials: &[&["user_id", "auth_token"]],
    user_id_header: true,
    paths: &["api/v1"],
    teams: false,
    writes: false,
    build: RocketChat::source_set,
};

impl RocketChat {
    /// Build the adapter and register what it provides (integrations and history; no teams).
    pub fn source_set(wiring: &Wiring, cfg: &SourceConfig) -> Result<SourceSet, SourceError> {
        let header =
            |name: &'static str, value: SecretString| (http::HeaderName::from_static(name), value);
        let auth = Auth::Headers(vec![
            header(
                "x-auth-token",
                cfg.auth_token
                    .clone()
                    .unwrap_or_else(|| SecretString::from("")),
            ),
            header(
                "x-user-id",
                SecretString::from(cfg.user_id.clone().unwrap_or_default()),
            ),
        ]);
        let up = Arc::new(Upstream::new(
            Source::Rocketchat,
            ROUTES,
            wiring,
            cfg.base(),
            auth,
            cfg.timeout(),
        )?);
        let adapter = Arc::new(RocketChat { up: up.clone() });
        Ok(SourceSet {
            integrations: Some(adapter.clone()),
            history: Some(adapter),
            flows: None,
            teams: None,
            upstream: Some(up),
            writes: None,
        })
    }

    fn url(&self, method: &str, query: &[(&str, &str)]) -> Url {
        self.up.url(&["api", "v1", method], query)
    }

    /// GET and decode.
    async fn fetch<T: DeserializeOwned>(&self, scope: &RequestScope, url: Url) -> SourceResult<T> {
        Ok(self.up.get_json::<T>(scope, url).await?.0)
    }

    /// One page of `integrations.history`, `count` ≤ 100 records from `offset` in `order`.
    async fn history_page(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> SourceResult<WirePage> {
        let offset = offset.to_string();
        let count = count.clamp(1, MAX_COUNT).to_string();
        let url = self.url(
            "integrations.history",
            &[
                ("id", integration_id),
                ("offset", &offset),
                ("count", &count),
                ("sort", order.sort_param()),
            ],
        );
        // A 400 is the client's fault only for an empty id (`must NOT have fewer than 1
        // characters`): every other part of the request is Chronograph's.
        self.fetch::<WirePage>(scope, url).await.map_err(|err| {
            if integration_id.is_empty() {
                err
            } else {
                refused_request(err)
            }
        })
    }

    /// The executions of one webhook inside `window`, read as far as the window needs.
    async fn executions(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        if !filter.admits_kind(HistoryKind::WebhookExecution) {
            return Ok(StreamPage::default());
        }
        let mut walk = Walk::new(window, filter);
        let mut calls = 0;
        loop {
            calls += 1;
            if calls > MAX_CALLS {
                return Err(endless());
            }
            let count = walk.next_count();
            let page = self
                .history_page(scope, integration_id, walk.offset, count, walk.order)
                .await?;
            let next = walk.absorb(&page, count, integration_id);
            super::check_skipped(Source::Rocketchat, scope, walk.page_seen, walk.page_decoded)
                .map_err(Arc::new)?;
            match next {
                Next::Done => break,
                Next::Read => {}
                Next::Seek => {
                    let mut bisect = walk.bisect();
                    while let Some(mid) = bisect.probe() {
                        calls += 1;
                        let probe = self
                            .history_page(scope, integration_id, mid, 1, walk.order)
                            .await?;
                        bisect.narrow(mid, probe.history.first());
                    }
                    walk.offset = bisect.resume_at();
                }
            }
        }
        Ok(walk.finish())
    }

    /// Find one execution by id: ask with the documented `{"_id":{"$in":[…]}}` selector; when
    /// the server ignores (`total` > 1) or rejects (400) the deprecated `query` parameter, read
    /// the history newest-first until the id shows up.
    async fn execution(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        entry_id: &str,
    ) -> SourceResult<Option<HistoryEntry>> {
        let selector = serde_json::json!({ "_id": { "$in": [entry_id] } }).to_string();
        let url = self.url(
            "integrations.history",
            &[("id", integration_id), ("query", &selector)],
        );
        match self.fetch::<WirePage>(scope, url).await {
            Ok(page) => {
                let found = find_execution(&page.history, integration_id, entry_id);
                if found.is_some() || page.total.is_some_and(|t| t <= 1) {
                    return Ok(found);
                }
            }
            Err(err) if err.code == ErrorCode::BadUserInput => {}
            Err(err) => return Err(err),
        }
        let mut offset = 0;
        for _ in 0..MAX_CALLS {
            let page = self
                .history_page(scope, integration_id, offset, MAX_COUNT, Order::NewestFirst)
                .await?;
            if let Some(found) = find_execution(&page.history, integration_id, entry_id) {
                return Ok(Some(found));
            }
            offset += page.history.len();
            if page.history.is_empty() || page.total.is_some_and(|t| offset as u64 >= t) {
                return Ok(None);
            }
        }
        Err(endless())
    }
}

fn find_execution(records: &[Value], integration_id: &str, entry_id: &str) -> Option<HistoryEntry> {
    records
        .iter()
        .filter(|raw| raw.get("_id").and_then(Value::as_str) == Some(entry_id))
        .find_map(|raw| {
            decode_item::<WireExecution>(Source::Rocketchat, raw, "history record")
                .map(|w| w.into_domain(raw, integration_id))
        })
}

fn endless() -> Arc<SourceError> {
    Arc::new(SourceError::upstream(
        Source::Rocketchat,
        ErrorCode::UpstreamBadResponse,
        "ROCKETCHAT kept returning records past the documented total",
    ))
}

/// Which way the upstream list is read: newest first for `first`/`after`, oldest first for
/// `last`/`before`, so each direction starts at its own end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    fn of(direction: Direction) -> Self {
        match direction {
            Direction::Forward => Order::NewestFirst,
            Direction::Backward => Order::OldestFirst,
        }
    }

    fn sort_param(self) -> &'static str {
        match self {
            Order::NewestFirst => r#"{"_updatedAt":-1}"#,
            Order::OldestFirst => r#"{"_updatedAt":1}"#,
        }
    }

    /// A time's position along the reading order: never decreases while reading.
    fn rank(self, at_ms: i64) -> i64 {
        match self {
            Order::NewestFirst => -at_ms,
            Order::OldestFirst => at_ms,
        }
    }
}

/// What the reader does after a page.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Read,
    Seek,
    Done,
}

/// The state of one keyset walk over offset pages.
struct Walk<'a> {
    window: &'a StreamWindow,
    filter: &'a HistoryFilter,
    order: Order,
    offset: usize,
    total: Option<usize>,
    seen: HashSet<String>,
    admitted: Vec<HistoryEntry>,
    /// Rank of the last record read (reading order).
    last_rank: Option<i64>,
    /// Set once a read has been positioned by a seek, so a second seek is never attempted.
    sought: bool,
    exhausted: bool,
    /// Records of the last page looked at, and how many of them decoded.
    page_seen: usize,
    page_decoded: usize,
}

impl<'a> Walk<'a> {
    fn new(window: &'a StreamWindow, filter: &'a HistoryFilter) -> Self {
        Walk {
            window,
            filter,
            order: Order::of(window.direction),
            offset: 0,
            total: None,
            seen: HashSet::new(),
            admitted: Vec::new(),
            last_rank: None,
            sought: false,
            page_seen: 0,
            page_decoded: 0,
            exhausted: false,
        }
    }

    /// The rank a record must reach before it can be admitted: the cursor's time, and the
    /// filter bound (and, newest-first, the snapshot) that lies at the reading start.
    fn head_rank(&self) -> i64 {
        let snapshot = self.window.snapshot.timestamp_millis();
        let key = self.window.key.as_ref().map(|k| k.at_ms);
        let bounds: Vec<i64> = match self.order {
            Order::NewestFirst => [
                key,
                self.filter.until.map(|u| u.timestamp_millis() - 1),
                Some(snapshot),
            ]
            .into_iter()
            .flatten()
            .map(|at| self.order.rank(at))
            .collect(),
            Order::OldestFirst => [key, self.filter.since.map(|s| s.timestamp_millis())]
                .into_iter()
                .flatten()
                .map(|at| self.order.rank(at))
                .collect(),
        };
        bounds.into_iter().max().unwrap_or(i64::MIN)
    }

    /// Whether reading has reached records that can be admitted. Before the first read only a
    /// cursor or a filter bound at the start says no (the snapshot is "now" on a first page).
    fn head_reached(&self) -> bool {
        match self.last_rank {
            Some(rank) => rank >= self.head_rank(),
            None => {
                self.window.key.is_none()
                    && match self.order {
                        Order::NewestFirst => self.filter.until.is_none(),
                        Order::OldestFirst => self.filter.since.is_none(),
                    }
            }
        }
    }

    /// Whether a record at `at_ms` lies past the far end: nothing after it can be admitted.
    fn past_end(&self, at_ms: i64) -> bool {
        match self.order {
            Order::NewestFirst => self
                .filter
                .since
                .is_some_and(|s| at_ms < s.timestamp_millis()),
            Order::OldestFirst => {
                at_ms > self.window.snapshot.timestamp_millis()
                    || self
                        .filter
                        .until
                        .is_some_and(|u| at_ms >= u.timestamp_millis())
            }
        }
    }

    /// How many records to ask for next: a full page while skipping towards the cursor, else
    /// what the window still needs plus one to see past its cut.
    fn next_count(&self) -> usize {
        let need = self.window.limit + 1;
        if !self.head_reached() || self.admitted.len() >= need {
            MAX_COUNT
        } else {
            (need - self.admitted.len()).clamp(1, MAX_COUNT)
        }
    }

    /// Take in one page read with `asked` as its `count`; decide what comes next.
    fn absorb(&mut self, page: &WirePage, asked: usize, integration_id: &str) -> Next {
        let snapshot = self.window.snapshot;
        let read = page.history.len();
        (self.page_seen, self.page_decoded) = (0, 0);
        for raw in &page.history {
            self.page_seen += 1;
            let Some(wire) =
                decode_item::<WireExecution>(Source::Rocketchat, raw, "history record")
            else {
                continue;
            };
            self.page_decoded += 1;
            if !self.seen.insert(wire.id.clone()) {
                continue;
            }
            let entry = wire.into_domain(raw, integration_id);
            let at = entry.at(snapshot).timestamp_millis();
            self.last_rank = Some(self.order.rank(at));
            if self.past_end(at) {
                self.exhausted = true;
                break;
            }
            if self.filter.matches(&entry, snapshot)
                && self.window.admits(&TimelineKey::of(&entry, snapshot))
            {
                self.admitted.push(entry);
            }
        }
        self.offset += read;
        self.total = page.total.map(|t| t as usize);
        let at_end = match self.total {
            Some(total) => self.offset >= total,
            // No `total` (not in the documented shape): only an empty page ends the list.
            None => read == 0,
        };
        if self.exhausted || read == 0 || at_end {
            self.exhausted = true;
            return Next::Done;
        }
        if self.enough() || self.short_page_suffices(read, asked) {
            return Next::Done;
        }
        if !self.head_reached() && !self.sought {
            if let Some(total) = self.total {
                if total.saturating_sub(self.offset) > SEEK_MIN_GAP {
                    self.sought = true;
                    return Next::Seek;
                }
            }
        }
        Next::Read
    }

    /// A binary search for the cursor's band, over what has not been read yet.
    fn bisect(&self) -> Bisect {
        Bisect {
            order: self.order,
            target: self.head_rank(),
            lo: self.offset,
            hi: self.total.unwrap_or(self.offset).max(self.offset),
        }
    }

    /// More than `limit` admitted, and every unread record lies strictly after the cut in
    /// reading order, so records tied in `_updatedAt` across the cut cannot be missed.
    fn enough(&mut self) -> bool {
        let limit = self.window.limit;
        if self.admitted.len() <= limit {
            return false;
        }
        if limit == 0 {
            return true;
        }
        self.sort_reading_order();
        let snapshot = self.window.snapshot;
        let boundary = self
            .order
            .rank(self.admitted[limit - 1].at(snapshot).timestamp_millis());
        self.last_rank.is_some_and(|last| last > boundary)
    }

    /// A server answered fewer records than asked although `total` says more exist (a clamp
    /// below 100, or a mock serving one static page). Once the page is full, `hasNextPage`
    /// comes from `total` instead of another call. Not with an `actorId` filter: whether a
    /// later record matches it cannot be known from `total`.
    fn short_page_suffices(&self, read: usize, asked: usize) -> bool {
        read < asked && self.admitted.len() >= self.window.limit && self.filter.actor_id.is_none()
    }

    fn sort_reading_order(&mut self) {
        let snapshot = self.window.snapshot;
        match self.order {
            Order::NewestFirst => self
                .admitted
                .sort_by_cached_key(|e| TimelineKey::of(e, snapshot)),
            Order::OldestFirst => self
                .admitted
                .sort_by_cached_key(|e| Reverse(TimelineKey::of(e, snapshot))),
        }
    }

    /// The admitted records in timeline order, cut to the window.
    fn finish(mut self) -> StreamPage {
        let snapshot = self.window.snapshot;
        self.admitted
            .sort_by_cached_key(|e| TimelineKey::of(e, snapshot));
        self.window.take(self.admitted, !self.exhausted)
    }
}

/// Binary search with one-record probes for the first offset in `[lo, hi)` whose record has
/// reached `target` (rank ≥ target), narrowed until one page of 100 covers the rest.
struct Bisect {
    order: Order,
    target: i64,
    lo: usize,
    hi: usize,
}

impl Bisect {
    /// The next offset to probe, or `None` once one page covers the range.
    fn probe(&self) -> Option<usize> {
        (self.hi - self.lo > MAX_COUNT).then(|| self.lo + (self.hi - self.lo) / 2)
    }

    /// Narrow by the record found at `mid` (none: the list shrank, so look earlier).
    fn narrow(&mut self, mid: usize, record: Option<&Value>) {
        let reached = record
            .and_then(wire::updated_at_ms)
            .is_none_or(|at| self.order.rank(at) >= self.target);
        if reached {
            self.hi = mid;
        } else {
            self.lo = mid + 1;
        }
    }

    /// Where reading resumes: one record early, so nothing at the band's start is skipped.
    fn resume_at(&self) -> usize {
        self.lo.saturating_sub(1)
    }
}

#[async_trait]
impl IntegrationSource for RocketChat {
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>> {
        let mut items: Vec<Arc<Integration>> = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        for _ in 0..MAX_CALLS {
            let count = need
                .map_or(MAX_COUNT, |n| n.saturating_sub(items.len()))
                .clamp(1, MAX_COUNT);
            let (offset_text, count_text) = (offset.to_string(), count.to_string());
            let url = self.url(
                "integrations.list",
                &[("offset", &offset_text), ("count", &count_text)],
            );
            let page: WirePage = self.fetch(scope, url).await.map_err(refused_request)?;
            offset += page.integrations.len();
            let decoded = super::decode_page(
                Source::Rocketchat,
                scope,
                page.integrations.iter().collect(),
                |raw| {
                    decode_item::<WireIntegration>(Source::Rocketchat, raw, "integration")
                        .map(|wire| (wire, raw))
                },
            )
            .map_err(Arc::new)?;
            for (wire, raw) in decoded {
                // An insert at the head between two pages shifts a record into both.
                if seen.insert(wire.id.clone()) {
                    items.push(Arc::new(wire.into_domain(raw)));
                }
            }
            let complete =
                page.integrations.is_empty() || page.total.is_some_and(|t| offset as u64 >= t);
            if complete {
                return Ok(Listing {
                    items,
                    complete: true,
                });
            }
            if need.is_some_and(|n| items.len() >= n) {
                return Ok(Listing {
                    items,
                    complete: false,
                });
            }
        }
        Err(endless())
    }

    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>> {
        let url = self.url("integrations.get", &[("integrationId", id)]);
        let fetched = match self.fetch::<WireGet>(scope, url).await {
            Ok(found) => found,
            // DESIGN.md §10: Rocket.Chat answers an unknown id with a 400.
            Err(err) if matches!(err.code, ErrorCode::BadUserInput | ErrorCode::NotFound) => {
                return Ok(None)
            }
            Err(err) => return Err(err),
        };
        let raw = fetched.integration;
        let wire: WireIntegration = serde::Deserialize::deserialize(&raw).map_err(|_| {
            Arc::new(SourceError::upstream(
                Source::Rocketchat,
                ErrorCode::UpstreamBadResponse,
                "ROCKETCHAT integration is not in the documented shape",
            ))
        })?;
        Ok(Some(Arc::new(wire.into_domain(&raw))))
    }
}

#[async_trait]
impl HistorySource for RocketChat {
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        match subject {
            SubjectRef::Integration { source_id, .. } => {
                self.executions(scope, source_id, filter, window).await
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
            SubjectRef::Integration { source_id, .. } => {
                self.execution(scope, source_id, entry_id).await
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::datetime::{format_utc_ms, from_millis};
    use serde_json::json;

    const BASE_MS: i64 = 1_715_677_923_000;

    /// Records newest first, one second apart (`ties` = how many share each `_updatedAt`).
    fn records(n: usize, ties: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                let at = from_millis(BASE_MS - ((i / ties) as i64) * 1000);
                json!({"_id": format!("r{i:04}"), "_createdAt": format_utc_ms(at), "_updatedAt": format_utc_ms(at), "finished": true})
            })
            .collect()
    }

    fn window(direction: Direction, key: Option<TimelineKey>, limit: usize) -> StreamWindow {
        StreamWindow {
            direction,
            key,
            limit,
            snapshot: from_millis(BASE_MS + 60_000),
        }
    }

    /// Serve `all` (newest first) the way the server does, with the walk's own loop.
    fn run(all: &[Value], window: &StreamWindow, filter: &HistoryFilter) -> (StreamPage, usize) {
        let mut walk = Walk::new(window, filter);
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls < 100, "runaway walk");
            let count = walk.next_count();
            let ordered: Vec<Value> = match walk.order {
                Order::NewestFirst => all.to_vec(),
                Order::OldestFirst => all.iter().rev().cloned().collect(),
            };
            let page = WirePage {
                integrations: Vec::new(),
                history: ordered
                    .iter()
                    .skip(walk.offset)
                    .take(count)
                    .cloned()
                    .collect(),
                total: Some(all.len() as u64),
            };
            match walk.absorb(&page, count, "i") {
                Next::Done => break,
                Next::Read => {}
                Next::Seek => {
                    let mut bisect = walk.bisect();
                    while let Some(mid) = bisect.probe() {
                        calls += 1;
                        bisect.narrow(mid, ordered.get(mid));
                    }
                    walk.offset = bisect.resume_at();
                }
            }
        }
        (walk.finish(), calls)
    }

    /// Walk every page following cursors, inserting `inserts` new records at the head after
    /// each page (they arrive after the walk's snapshot, as new executions do).
    fn walk_all(all: &[Value], size: usize, direction: Direction, inserts: usize) -> Vec<String> {
        let filter = HistoryFilter::default();
        let mut served = all.to_vec();
        let mut key = None;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let w = window(direction, key.clone(), size);
            let (page, _) = run(&served, &w, &filter);
            let ids: Vec<String> = page.entries.iter().map(|e| e.source_id.clone()).collect();
            let edge = match direction {
                Direction::Forward => page.entries.last(),
                Direction::Backward => page.entries.first(),
            };
            key = edge.map(|e| TimelineKey::of(e, w.snapshot));
            match direction {
                Direction::Forward => seen.extend(ids),
                Direction::Backward => {
                    let mut front = ids;
                    front.extend(seen);
                    seen = front;
                }
            }
            if !page.has_more {
                break;
            }
            for _ in 0..inserts {
                let at = format_utc_ms(
                    w.snapshot + chrono::Duration::milliseconds(served.len() as i64 + 1),
                );
                let fresh = json!({"_id": format!("new{}", served.len()), "_createdAt": at, "_updatedAt": at});
                served.insert(0, fresh);
            }
        }
        seen
    }

    fn timeline_ids(all: &[Value]) -> Vec<String> {
        let w = window(Direction::Forward, None, all.len());
        let (page, _) = run(all, &w, &HistoryFilter::default());
        page.entries.into_iter().map(|e| e.source_id).collect()
    }

    #[test]
    fn every_record_is_visited_once_in_both_directions_even_with_ties() {
        for (n, ties, size) in [
            (250, 1, 100),
            (250, 3, 7),
            (37, 5, 10),
            (5, 1, 1),
            (0, 1, 3),
        ] {
            let all = records(n, ties);
            let expected = timeline_ids(&all);
            assert_eq!(expected.len(), n);
            assert_eq!(
                walk_all(&all, size, Direction::Forward, 0),
                expected,
                "{n}/{ties}/{size} forward"
            );
            assert_eq!(
                walk_all(&all, size, Direction::Backward, 0),
                expected,
                "{n}/{ties}/{size} backward"
            );
        }
    }

    #[test]
    fn a_first_page_is_one_call_of_n_plus_one() {
        let all = records(250, 1);
        let w = window(Direction::Forward, None, 10);
        let filter = HistoryFilter::default();
        let mut walk = Walk::new(&w, &filter);
        assert_eq!(walk.next_count(), 11);
        let page = WirePage {
            integrations: Vec::new(),
            history: all[..11].to_vec(),
            total: Some(250),
        };
        assert_eq!(walk.absorb(&page, 11, "i"), Next::Done);
        let result = walk.finish();
        assert_eq!(result.entries.len(), 10);
        assert!(result.has_more);
    }

    #[test]
    fn a_static_short_page_answers_has_more_from_total() {
        // The bench mock ignores offset/count: 10 records, total 120, whatever is asked.
        let all = records(10, 1);
        let w = window(Direction::Forward, None, 10);
        let filter = HistoryFilter::default();
        let mut walk = Walk::new(&w, &filter);
        let page = WirePage {
            integrations: Vec::new(),
            history: all,
            total: Some(120),
        };
        let count = walk.next_count();
        assert_eq!(walk.absorb(&page, count, "i"), Next::Done);
        let result = walk.finish();
        assert_eq!(result.entries.len(), 10);
        assert!(result.has_more);
    }

    #[test]
    fn deep_cursors_are_found_by_binary_search() {
        let all = records(5000, 1);
        let expected = timeline_ids(&all);
        let fp_key = |i: usize| {
            let raw = &all[i];
            Some(TimelineKey {
                at_ms: wire::updated_at_ms(raw).expect("time"),
                source: Source::Rocketchat,
                source_id: raw["_id"].as_str().expect("id").to_string(),
            })
        };
        let w = window(Direction::Forward, fp_key(4000), 20);
        let (page, calls) = run(&all, &w, &HistoryFilter::default());
        let ids: Vec<String> = page.entries.iter().map(|e| e.source_id.clone()).collect();
        assert_eq!(ids, expected[4001..4021].to_vec());
        assert!(calls < 20, "{calls} calls");
        let w = window(Direction::Backward, fp_key(1000), 20);
        let (page, calls) = run(&all, &w, &HistoryFilter::default());
        let ids: Vec<String> = page.entries.iter().map(|e| e.source_id.clone()).collect();
        assert_eq!(ids, expected[980..1000].to_vec());
        assert!(calls < 20, "{calls} calls");
    }

    #[test]
    fn since_ends_a_newest_first_read_early() {
        let all = records(250, 1);
        let filter = HistoryFilter {
            since: Some(from_millis(BASE_MS - 4_500)),
            ..HistoryFilter::default()
        };
        let w = window(Direction::Forward, None, 20);
        let (page, calls) = run(&all, &w, &filter);
        assert_eq!(page.entries.len(), 5);
        assert!(!page.has_more);
        assert_eq!(calls, 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn walks_visit_each_record_once_despite_head_inserts(
            n in 0usize..160, ties in 1usize..4, size in 1usize..40, inserts in 0usize..4, backward: bool,
        ) {
            let all = records(n, ties);
            let expected = timeline_ids(&all);
            let direction = if backward { Direction::Backward } else { Direction::Forward };
            proptest::prop_assert_eq!(walk_all(&all, size, direction, inserts), expected);
        }
    }
}
