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

mod walk;
pub mod wire;

use super::{HistorySource, IntegrationSource, Listing, SourceSet};
use crate::domain::{HistoryEntry, HistoryFilter, HistoryKind, Integration, Source, SubjectRef};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{StreamPage, StreamWindow};
use crate::sources::SourceConfig;
use crate::upstream::{refused_request, Auth, RequestScope, Upstream, Wiring};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::sync::Arc;
use url::Url;
use walk::{Next, Order, Walk};
use wire::{List, Page, WireExecution, WireGet, WireIntegration};

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

    /// GET one page of a list and decode its records.
    async fn page<T: DeserializeOwned + crate::sources::scan::Scan>(
        &self,
        scope: &RequestScope,
        url: Url,
        list: List,
        what: &str,
    ) -> SourceResult<Page<T>> {
        let fetched = self.up.get(scope, url).await?;
        wire::decode_page(&self.up, &fetched, list, what).map_err(Arc::new)
    }

    /// One page of `integrations.history`, `count` ≤ 100 records from `offset` in `order`.
    async fn history_page(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> SourceResult<Page<WireExecution>> {
        let offset = offset.to_string();
        let count = count.clamp(1, MAX_COUNT).to_string();
        let url = self.url(
            "integrations.history",
            &[
                ("id", integration_id),
                ("offset", &offset),
                ("count", &count),
                ("sort", walk::sort_param(order)),
            ],
        );
        // A 400 is the client's fault only for an empty id (`must NOT have fewer than 1
        // characters`): every other part of the request is Chronograph's.
        self.page(scope, url, List::History, HISTORY_RECORD)
            .await
            .map_err(|err| {
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
            let next = walk.absorb(page, count, integration_id);
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
                        let at = probe.records.first().and_then(wire::record_updated_at_ms);
                        bisect.narrow(mid, at);
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
        match self
            .page::<WireExecution>(scope, url, List::History, HISTORY_RECORD)
            .await
        {
            Ok(page) => {
                let total = page.total;
                let found = find_execution(page, integration_id, entry_id);
                if found.is_some() || total.is_some_and(|t| t <= 1) {
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
            let (read, total) = (page.records.len(), page.total);
            if let Some(found) = find_execution(page, integration_id, entry_id) {
                return Ok(Some(found));
            }
            offset += read;
            if read == 0 || total.is_some_and(|t| offset as u64 >= t) {
                return Ok(None);
            }
        }
        Err(endless())
    }
}

/// What a history record is called in logs.
const HISTORY_RECORD: &str = "history record";

fn find_execution(
    page: Page<WireExecution>,
    integration_id: &str,
    entry_id: &str,
) -> Option<HistoryEntry> {
    page.records.into_iter().find_map(|record| {
        let wire = record.wire.filter(|w| w.id == entry_id)?;
        Some(wire.into_domain(record.raw, integration_id))
    })
}

fn endless() -> Arc<SourceError> {
    Arc::new(SourceError::upstream(
        Source::Rocketchat,
        ErrorCode::UpstreamBadResponse,
        "ROCKETCHAT kept returning records past the documented total",
    ))
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
            let page: Page<WireIntegration> = self
                .page(scope, url, List::Integrations, "integration")
                .await
                .map_err(refused_request)?;
            let read = page.records.len();
            offset += read;
            let decoded = super::decode_page(Source::Rocketchat, scope, page.records, |record| {
                record.wire.map(|wire| (wire, record.raw))
            })
            .map_err(Arc::new)?;
            for (wire, raw) in decoded {
                // An insert at the head between two pages shifts a record into both.
                if seen.insert(wire.id.clone()) {
                    items.push(Arc::new(wire.into_domain(raw)));
                }
            }
            let complete = read == 0 || page.total.is_some_and(|t| offset as u64 >= t);
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
        Ok(Some(Arc::new(wire.into_domain(raw.into()))))
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
mod tests;
