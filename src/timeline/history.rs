//! One page of a `history` connection (`Query.history`, `Integration.history`): the filter and
//! cursor checked, each stream's position worked out from the cursor, the read run as its own
//! task, and every edge's cursor encoded. The resolvers only translate arguments and results.

use super::cursor::{fingerprint, Cursor};
use super::engine;
use super::engine::Positions;
use super::merge::TimelineKey;
use super::page::{Direction, PageArgs};
use crate::domain::{HistoryEntry, HistoryFilter, SubjectRef};
use crate::error::{SharedError, SourceError};
use crate::sources::Sources;
use crate::upstream::RequestScope;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One page of a merged timeline, ready to become a connection.
pub struct HistoryPage {
    /// Each entry with its cursor (built and encoded only if a query selects it), in
    /// timeline order.
    pub edges: Vec<(EdgeCursor, Arc<HistoryEntry>)>,
    /// The snapshot time of the walk (carried by the cursor, the same on every page).
    pub snapshot: DateTime<Utc>,
    pub has_next: bool,
    pub has_previous: bool,
    /// Streams that failed, by subject index.
    pub failures: Vec<(usize, SharedError)>,
}

/// Read one page of the merged timeline of `subjects` (DESIGN.md §3): every stream is asked
/// for at most the page size beyond the cursor's key, concurrently; a failed stream costs only
/// its own entries. `field` names the connection, so a cursor only fits the query it came from.
pub async fn read_history(
    sources: Arc<Sources>,
    scope: Arc<RequestScope>,
    field: &str,
    subjects: Vec<SubjectRef>,
    filter: HistoryFilter,
    args: PageArgs,
    now: DateTime<Utc>,
) -> Result<HistoryPage, SourceError> {
    let subjects = engine::resolve_subjects(&sources, &scope, subjects).await?;
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since >= until {
            return Err(SourceError::bad_input(
                "`filter.since` must be before `filter.until`",
            ));
        }
    }
    let canonical: Vec<String> = subjects.iter().map(SubjectRef::canonical).collect();
    let mut parts: Vec<&str> = vec![field];
    parts.extend(canonical.iter().map(String::as_str));
    let filter_text = filter.canonical();
    parts.push(&filter_text);
    let fp = fingerprint(&parts);
    let request = args.validate(&fp)?;
    let snapshot = request
        .cursor
        .as_ref()
        .map(|c| crate::domain::datetime::from_millis(c.snapshot_ms))
        .unwrap_or(now);
    let depths = match request.direction {
        Direction::Forward => engine::depths_from(request.cursor.as_ref(), subjects.len()),
        Direction::Backward => Vec::new(),
    };
    let positions = match request.direction {
        Direction::Forward => engine::positions_from(request.cursor.as_ref(), subjects.len()),
        Direction::Backward => {
            let key = request
                .cursor
                .as_ref()
                .and_then(|c| TimelineKey::from_cursor(&c.key));
            vec![key; subjects.len()]
        }
    };
    let (direction, limit) = (request.direction, request.limit);
    // The read (upstream calls, decoding, merging) and the edges' cursors run as their own
    // task: the many history connections of one query (one per integration) then spread over
    // every worker thread instead of all running inside the one task executing the query.
    let read = tokio::spawn(async move {
        let page = engine::read_page(
            &sources, &scope, &subjects, &filter, direction, positions, &depths, limit, snapshot,
        )
        .await;
        let cursors = Arc::new(TimelineCursors {
            fingerprint: fp,
            snapshot_ms: snapshot.timestamp_millis(),
            forward: direction == Direction::Forward,
            failed: page.failures.iter().map(|(i, _)| *i).collect(),
            positions: page.positions,
            depths: page.depths,
        });
        let edges: Vec<(EdgeCursor, Arc<HistoryEntry>)> = page
            .entries
            .into_iter()
            .map(|entry| {
                let entry = Arc::new(entry);
                let cursor = EdgeCursor::Timeline {
                    page: cursors.clone(),
                    entry: entry.clone(),
                };
                (cursor, entry)
            })
            .collect();
        let mut failures = page.failures;
        // Reported like failures (they never change positions: only `has_more` does).
        failures.extend(page.entry_errors.into_iter().map(|err| (usize::MAX, err)));
        (edges, failures, page.has_more)
    });
    let (edges, failures, more) = AbortOnDrop(read)
        .await
        .map_err(|_| SourceError::internal("history read failed"))?;
    let has_cursor = request.cursor.is_some();
    let (has_next, has_previous) = match direction {
        Direction::Forward => (more, has_cursor),
        Direction::Backward => (has_cursor, more),
    };
    Ok(HistoryPage {
        edges,
        snapshot,
        has_next,
        has_previous,
        failures,
    })
}

/// A spawned task that is aborted when the future awaiting it is dropped (a request cut by its
/// deadline or a disconnecting client), so its work stops with the request.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// An edge's cursor, built only when a query selects it (most never do): a history edge's
/// cursor carries per-stream hints, maps of strings that cost more to build than the entry's
/// own fields.
#[derive(Clone, Debug)]
pub enum EdgeCursor {
    Built(Cursor),
    /// An entry of a timeline page (its key is worked out from it when the cursor is built)
    /// and what every cursor of the page shares.
    Timeline {
        page: Arc<TimelineCursors>,
        entry: Arc<HistoryEntry>,
    },
}

/// What the cursors of one timeline page share.
#[derive(Debug)]
pub struct TimelineCursors {
    fingerprint: String,
    snapshot_ms: i64,
    forward: bool,
    /// Subject indexes of the streams that failed.
    failed: Vec<usize>,
    /// The positions the page was read from.
    positions: Positions,
    depths: Vec<Option<usize>>,
}

impl EdgeCursor {
    /// The cursor itself.
    pub fn cursor(&self) -> Cursor {
        match self {
            EdgeCursor::Built(cursor) => cursor.clone(),
            EdgeCursor::Timeline { page, entry } => {
                let snapshot = crate::domain::datetime::from_millis(page.snapshot_ms);
                let key = &TimelineKey::of(entry, snapshot);
                let mut cursor =
                    Cursor::new(&page.fingerprint, page.snapshot_ms, key.to_cursor_key());
                if page.forward {
                    cursor.hints = engine::position_hints(&page.positions, &page.failed, key);
                    cursor.hints.extend(engine::depth_hints(&page.depths));
                }
                cursor
            }
        }
    }

    /// The cursor as clients see it.
    pub fn encode(&self) -> String {
        match self {
            EdgeCursor::Built(cursor) => cursor.encode(),
            lazy => lazy.cursor().encode(),
        }
    }
}

impl From<Cursor> for EdgeCursor {
    fn from(cursor: Cursor) -> Self {
        EdgeCursor::Built(cursor)
    }
}
