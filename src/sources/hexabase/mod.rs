//! Hexabase adapter: comment and action history of datastore items (upstreams/hexabase.md).
//!
//! The one history call has a **read side effect**: it marks every unread entry it returns as
//! read for the calling user. So this adapter
//! - never prefetches and never repeats a call after a failure (it uses
//!   [`Upstream::get_no_retry`]); the only repeat is after a 401 when it can log in again,
//!   because a rejected call read nothing;
//! - reads exactly the windows a page needs: a forward page of N reads one window of N
//!   (`hasNextPage` = "the window came back full"), chained with windows of the missing count
//!   only when entries are filtered out in Chronograph (`actorId`) or cut by the cursor;
//! - re-aligns later pages by the cursor's sort key instead of by offset: page 2 pins
//!   `to_datetime` to the cursor entry's `at` (never later than the walk's snapshot) and reads
//!   from index 0 of that narrower range, so no window of an earlier page is read again. The
//!   cursor entry heads that range and comes back once more (already read: no new side
//!   effect); it and any entry tied with it at the same millisecond that was already shown
//!   are filtered by the timeline key. When the adapter knows the cursor entry is this item's
//!   (it remembers the ids of the entries it served — ids only, no history data) the page
//!   asks for N + 1 in one call (two when N = 100, as windows stop at 100); otherwise (the
//!   cursor came from another stream of a merged page, or the gateway restarted) it asks for N
//!   and for one more only if the cursor entry does come back. So a merged page reads N per
//!   Hexabase stream, plus the already-read cursor entry on the stream it came from. If the
//!   cursor entry was edited or deleted between pages, one entry beyond the page is read.
//!   `first: 0` reads nothing (and reports `hasNextPage: true`, which it cannot check).
//!
//! Assumptions, from seed 002 and the fake that follows it: `from_datetime` / `to_datetime`
//! are inclusive bounds on `updated_at`; timestamps have millisecond precision; entries with
//! the same `updated_at` come in `history_id` order (the timeline's own tie-break). A filter's
//! exclusive `until` is therefore sent as `until − 1 ms`.
//!
//! Backward pages (`last` / `before`) need the end of a range, which Hexabase does not report
//! (there is no total). The adapter finds it by galloping and bisecting with one-entry windows
//! (about 2·log2(n) calls, each marking at most one entry read), then reads only the windows
//! at the tail it needs. `node(id)` first looks in a few seconds around the time encoded in the
//! 24-hex `history_id` (one call, usually one entry); when the entry is not there (it was
//! edited later, or the id carries no usable time) it reads the item from the newest entry in
//! growing windows until it finds it. Every entry shown reports `unread` as it was on the
//! first read of this request.

pub mod wire;

use super::decode_item;
use super::{HistorySource, SourceSet};
use crate::domain::datetime::{format_utc_ms, from_millis};
use crate::domain::{CompactString, HistoryEntry, HistoryFilter, HistoryKind, Source, SubjectRef};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{sort_timeline, Direction, StreamPage, StreamWindow, TimelineKey};
use crate::sources::SourceConfig;
use crate::upstream::{Fetched, RequestScope, TokenGrant, TokenProvider, Upstream, Wiring};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use url::Url;
use wire::{WireHistories, WireHistory, WireLogin};

/// Largest window Hexabase serves (`to_index - from_index`).
pub const MAX_WINDOW: usize = 100;
/// Window sizes of a `node(id)` search through the whole item, newest first.
const SEARCH_WINDOWS: [usize; 4] = [10, 30, 60, MAX_WINDOW];
/// Window size of the search around the time encoded in a history id.
const NEAR_ID_WINDOW: usize = 20;
/// How many shown entry ids the adapter remembers for cursor re-alignment.
const SERVED_IDS: u64 = 200_000;
/// Most windows one read may chain; beyond it the upstream is misbehaving.
const MAX_WINDOWS_PER_READ: usize = 100_000;

/// Every route this adapter calls, as `/metrics` labels them.
pub const ROUTES: &[&str] = &[
    "/api/v0/applications/:id/datastores/:id/items/histories/:id",
    "/api/v0/login",
];

/// The Hexabase adapter.
pub struct Hexabase {
    up: Arc<Upstream>,
    /// The configured token, or the one `email` + `password` log in for.
    token: Arc<TokenProvider>,
    /// Which item each entry shown recently belongs to, so a page after a cursor knows
    /// whether the cursor entry heads this item's range (then it reads N + 1 in one call) or
    /// another stream's (then it reads N, and one more only if the cursor entry does show up).
    /// Ids only, never history data; a miss costs at most one extra one-entry call.
    served: moka::future::Cache<CompactString, Arc<str>>,
}

struct Login {
    email: String,
    password: SecretString,
}

#[async_trait]
impl TokenGrant for Login {
    async fn obtain(
        &self,
        up: &Upstream,
    ) -> SourceResult<(SecretString, Option<std::time::Duration>)> {
        let url = up.url(&["api", "v0", "login"], &[]);
        let body = serde_json::json!({
            "email": self.email,
            "password": self.password.expose_secret(),
        });
        let fetched = up.check(up.post_json(url, &body).await?)?;
        let answer: WireLogin = up.decode(&fetched).map_err(Arc::new)?;
        let token = answer
            .token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Arc::new(SourceError::upstream(
                    Source::Hexabase,
                    ErrorCode::UpstreamBadResponse,
                    "HEXABASE login answer carries no token",
                ))
            })?;
        tracing::info!(source = "HEXABASE", "logged in");
        // Hexabase tokens carry no lifetime: replaced when rejected.
        Ok((SecretString::from(token), None))
    }
}

/// What this adapter knows about its vendor (config keys, credentials, capabilities).
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &["token", "email", "password"],
    credentials: &[&["token"], &["email", "password"]],
    user_id_header: false,
    paths: &["api/v0"],
    teams: false,
    writes: false,
    build: Hexabase::source_set,
};

impl Hexabase {
    /// Build the adapter. A configured `token` is used as is; `email` + `password` log in at
    /// first use and once more whenever Hexabase answers 401.
    pub fn source_set(wiring: &Wiring, cfg: &SourceConfig) -> Result<SourceSet, SourceError> {
        let login = match (&cfg.email, &cfg.password) {
            (Some(email), Some(password)) => Some(Box::new(Login {
                email: email.clone(),
                password: password.clone(),
            }) as Box<dyn TokenGrant>),
            _ => None,
        };
        let token = TokenProvider::new(cfg.token.clone(), login);
        let up = Arc::new(Upstream::new(
            Source::Hexabase,
            ROUTES,
            wiring,
            cfg.base(),
            token.auth(),
            cfg.timeout(),
        )?);
        let hexabase = Arc::new(Hexabase {
            up: up.clone(),
            token,
            served: moka::future::Cache::builder()
                .max_capacity(SERVED_IDS)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
        });
        Ok(SourceSet {
            history: Some(hexabase),
            upstream: Some(up),
            writes: None,
            ..SourceSet::default()
        })
    }

    /// One history call, logging in first when there is no token yet and once more on a 401.
    async fn list(&self, scope: &RequestScope, url: Url) -> SourceResult<Arc<Fetched>> {
        let fetched = self
            .token
            .call(&self.up, scope, || self.up.get_no_retry(scope, url.clone()))
            .await?;
        self.up.check_for(scope, fetched)
    }

    fn window_url(&self, range: &Range<'_>, from: usize, to: usize) -> Url {
        let (from_index, to_index) = (from.to_string(), to.to_string());
        let from_datetime = range.from.map(format_utc_ms);
        let to_datetime = format_utc_ms(range.to);
        let mut query = vec![
            ("from_index", from_index.as_str()),
            ("to_index", to_index.as_str()),
        ];
        if let Some(from_datetime) = from_datetime.as_deref() {
            query.push(("from_datetime", from_datetime));
        }
        query.push(("to_datetime", to_datetime.as_str()));
        if range.kinds == KindFlags::CommentsOnly {
            query.push(("exclude_action_history", "true"));
        }
        if range.kinds == KindFlags::ActionsOnly {
            query.push(("exclude_comment_history", "true"));
        }
        let item = range.item;
        self.up.url(
            &[
                "api",
                "v0",
                "applications",
                item.application_id,
                "datastores",
                item.datastore_id,
                "items",
                "histories",
                item.item_id,
            ],
            &query,
        )
    }

    /// The page of one item the window asks for.
    async fn item_page(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        item: ItemRef<'_>,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        let Some(kinds) = KindFlags::of(filter) else {
            return Ok(StreamPage::default());
        };
        if window.limit == 0 {
            // Nothing to show, so nothing is read; whether more exists stays unknown.
            return Ok(StreamPage {
                entries: Vec::new(),
                has_more: true,
                depth: None,
                errors: Vec::new(),
            });
        }
        let cursor_at = window.key.as_ref().map(|k| from_millis(k.at_ms));
        let mut upper = window.snapshot;
        if let Some(until) = filter.until {
            // `until` is exclusive; `to_datetime` inclusive, at millisecond precision.
            let last_included = until
                .checked_sub_signed(Duration::milliseconds(1))
                .unwrap_or(until);
            upper = upper.min(last_included);
        }
        let mut lower = filter.since;
        match (window.direction, cursor_at) {
            (Direction::Forward, Some(at)) => upper = upper.min(at),
            (Direction::Backward, Some(at)) => lower = Some(lower.map_or(at, |l| l.max(at))),
            _ => {}
        }
        if lower.is_some_and(|l| l > upper) {
            return Ok(StreamPage::default());
        }
        let mut reader = Reader {
            hexabase: self,
            scope,
            subject,
            range: Range {
                item,
                from: lower,
                to: upper,
                kinds,
            },
            first_unread: HashMap::new(),
        };
        // The cursor entry heads (forward) or ends (backward) the new range when it is ours.
        let canonical = subject.canonical();
        let cursor_is_ours = match &window.key {
            Some(key) if key.source == Source::Hexabase => self
                .served
                .get(key.source_id.as_str())
                .await
                .is_some_and(|item| *item == *canonical),
            _ => false,
        };
        let expected_seen = usize::from(cursor_is_ours);
        let admit = |e: &HistoryEntry| {
            filter.matches(e, window.snapshot)
                && window.admits(&TimelineKey::of(e, window.snapshot))
        };
        let page = match window.direction {
            Direction::Forward => {
                reader
                    .forward(window.limit, expected_seen, admit, window)
                    .await?
            }
            Direction::Backward => {
                reader
                    .backward(window.limit, expected_seen, admit, window)
                    .await?
            }
        };
        let item: Arc<str> = canonical.into();
        for entry in &page.entries {
            self.served
                .insert(entry.source_id.clone(), item.clone())
                .await;
        }
        Ok(page)
    }

    /// `node(id)`: the entry, searched near the time in its id first, then from the newest.
    async fn find_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        item: ItemRef<'_>,
        entry_id: &str,
        observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>> {
        let mut reader = Reader {
            hexabase: self,
            scope,
            subject,
            range: Range {
                item,
                from: None,
                to: observed_at,
                kinds: KindFlags::All,
            },
            first_unread: HashMap::new(),
        };
        if let Some(minted) = object_id_time(entry_id).filter(|t| *t <= observed_at) {
            reader.range.from = Some(minted - Duration::seconds(1));
            reader.range.to = observed_at.min(minted + Duration::seconds(2));
            let found = reader.search(entry_id, &[NEAR_ID_WINDOW]).await?;
            if found.is_some() {
                return Ok(found);
            }
            reader.range.from = None;
            reader.range.to = observed_at;
        }
        reader.search(entry_id, &SEARCH_WINDOWS).await
    }
}

/// Which kinds the call asks for (`exclude_*_history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KindFlags {
    All,
    CommentsOnly,
    ActionsOnly,
}

impl KindFlags {
    /// `None` when the filter admits neither comments nor actions: no call at all.
    fn of(filter: &HistoryFilter) -> Option<KindFlags> {
        match (
            filter.admits_kind(HistoryKind::Comment),
            filter.admits_kind(HistoryKind::Action),
        ) {
            (true, true) => Some(KindFlags::All),
            (true, false) => Some(KindFlags::CommentsOnly),
            (false, true) => Some(KindFlags::ActionsOnly),
            (false, false) => None,
        }
    }
}

/// The three ids of an item (app and datastore may be display ids).
#[derive(Clone, Copy)]
struct ItemRef<'a> {
    application_id: &'a str,
    datastore_id: &'a str,
    item_id: &'a str,
}

impl<'a> ItemRef<'a> {
    fn of(subject: &'a SubjectRef) -> Option<ItemRef<'a>> {
        match subject {
            SubjectRef::HexabaseItem {
                application_id,
                datastore_id,
                item_id,
            } => Some(ItemRef {
                application_id,
                datastore_id,
                item_id,
            }),
            _ => None,
        }
    }
}

/// What stays the same across the windows of one read: item, datetime bounds, kinds.
struct Range<'a> {
    item: ItemRef<'a>,
    /// `from_datetime` (inclusive).
    from: Option<DateTime<Utc>>,
    /// `to_datetime` (inclusive), always sent: never later than the walk's snapshot.
    to: DateTime<Utc>,
    kinds: KindFlags,
}

/// One read of one range: windows by index, remembering the first `is_unread` of every entry
/// (a later window of the same request sees it already marked read).
struct Reader<'a> {
    hexabase: &'a Hexabase,
    scope: &'a RequestScope,
    subject: &'a SubjectRef,
    range: Range<'a>,
    first_unread: HashMap<CompactString, Option<bool>>,
}

impl Reader<'_> {
    /// Entries `from..from + size` (size 1..=100) of the range, and whether the window came
    /// back full (more may follow).
    async fn window(
        &mut self,
        from: usize,
        size: usize,
    ) -> SourceResult<(Vec<HistoryEntry>, bool)> {
        let size = size.clamp(1, MAX_WINDOW);
        let url = self.hexabase.window_url(&self.range, from, from + size);
        let fetched = self.hexabase.list(self.scope, url).await?;
        let body: WireHistories = self.hexabase.up.decode(&fetched).map_err(Arc::new)?;
        let full = body.histories.len() >= size;
        let mut entries = Vec::with_capacity(body.histories.len());
        let mut decoded = 0;
        for value in &body.histories {
            let Some(wire) = decode_item::<WireHistory>(Source::Hexabase, value, "history entry")
            else {
                continue;
            };
            decoded += 1;
            let mut entry = wire.into_domain(value, self.subject);
            entry.unread = *self
                .first_unread
                .entry(entry.source_id.clone())
                .or_insert(entry.unread);
            entries.push(entry);
        }
        super::check_skipped(Source::Hexabase, self.scope, body.histories.len(), decoded)
            .map_err(Arc::new)?;
        Ok((entries, full))
    }

    /// The first `limit` admitted entries from the head of the range.
    async fn forward(
        &mut self,
        limit: usize,
        expected_seen: usize,
        admit: impl Fn(&HistoryEntry) -> bool,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        let mut admitted = Vec::new();
        let mut ids = HashSet::new();
        let mut index = 0;
        let mut want = limit + expected_seen;
        for _ in 0..MAX_WINDOWS_PER_READ {
            let size = want.min(MAX_WINDOW);
            let (entries, full) = self.window(index, size).await?;
            index += size;
            admitted.extend(
                entries
                    .into_iter()
                    .filter(|e| admit(e) && ids.insert(e.source_id.clone())),
            );
            if !full {
                sort_timeline(&mut admitted, window.snapshot);
                return Ok(window.take(admitted, false));
            }
            if admitted.len() >= limit {
                sort_timeline(&mut admitted, window.snapshot);
                return Ok(window.take(admitted, true));
            }
            want = limit - admitted.len();
        }
        Err(endless())
    }

    /// The last `limit` admitted entries of the range, read from its tail.
    async fn backward(
        &mut self,
        limit: usize,
        expected_seen: usize,
        admit: impl Fn(&HistoryEntry) -> bool,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        let mut end = self.count().await?;
        let mut admitted = Vec::new();
        let mut ids = HashSet::new();
        let mut want = limit + expected_seen;
        while end > 0 && admitted.len() < limit {
            let start = end.saturating_sub(want.min(MAX_WINDOW));
            let (entries, _) = self.window(start, end - start).await?;
            end = start;
            admitted.extend(
                entries
                    .into_iter()
                    .filter(|e| admit(e) && ids.insert(e.source_id.clone())),
            );
            want = limit.saturating_sub(admitted.len());
        }
        sort_timeline(&mut admitted, window.snapshot);
        Ok(window.take(admitted, end > 0))
    }

    /// How many entries the range holds: gallop with one-entry windows until one comes back
    /// empty, then bisect (about 2·log2(n) calls, each reading at most one entry).
    async fn count(&mut self) -> SourceResult<usize> {
        if !self.exists(0).await? {
            return Ok(0);
        }
        let (mut present, mut step) = (0usize, 1usize);
        let mut absent = loop {
            let probe = present + step;
            if probe > MAX_WINDOWS_PER_READ * MAX_WINDOW {
                return Err(endless());
            }
            if self.exists(probe).await? {
                present = probe;
                step *= 2;
            } else {
                break probe;
            }
        };
        while absent - present > 1 {
            let middle = present + (absent - present) / 2;
            if self.exists(middle).await? {
                present = middle;
            } else {
                absent = middle;
            }
        }
        Ok(absent)
    }

    async fn exists(&mut self, index: usize) -> SourceResult<bool> {
        Ok(self.window(index, 1).await?.1)
    }

    /// Read the range from the newest entry in windows of `sizes` (the last size repeats)
    /// until the entry shows up or the range ends.
    async fn search(
        &mut self,
        entry_id: &str,
        sizes: &[usize],
    ) -> SourceResult<Option<HistoryEntry>> {
        let mut index = 0;
        for step in 0..MAX_WINDOWS_PER_READ {
            let size = sizes
                .get(step)
                .or(sizes.last())
                .copied()
                .unwrap_or(MAX_WINDOW);
            let (entries, full) = self.window(index, size).await?;
            if let Some(found) = entries.into_iter().find(|e| e.source_id == entry_id) {
                return Ok(Some(found));
            }
            if !full {
                break;
            }
            index += size;
        }
        Ok(None)
    }
}

/// An item history that never ends is not in the documented shape.
fn endless() -> Arc<SourceError> {
    Arc::new(SourceError::upstream(
        Source::Hexabase,
        ErrorCode::UpstreamBadResponse,
        "HEXABASE item history does not end",
    ))
}

/// The creation time a 24-hex ObjectId carries in its first 8 hex digits.
fn object_id_time(id: &str) -> Option<DateTime<Utc>> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let seconds = i64::from_str_radix(id.get(..8)?, 16).ok()?;
    Utc.timestamp_opt(seconds, 0).single()
}

#[async_trait]
impl HistorySource for Hexabase {
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        match ItemRef::of(subject) {
            Some(item) => self.item_page(scope, subject, item, filter, window).await,
            None => Ok(StreamPage::default()),
        }
    }

    async fn history_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_id: &str,
        observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>> {
        match ItemRef::of(subject) {
            Some(item) => {
                match self
                    .find_entry(scope, subject, item, entry_id, observed_at)
                    .await
                {
                    Err(err) if err.code == ErrorCode::NotFound => Ok(None),
                    other => other,
                }
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
