//! Reading the timeline from the sources: one page of the k-way merge with per-stream positions,
//! and the change feed (`changes`, and the pollers behind `historyAdded`). No GraphQL here.
//!
//! Bound on upstream work per page of N (forward or backward): every stream is asked once for at
//! most N entries beyond its position, plus one to answer `hasNextPage`. How many upstream calls
//! that is depends on the vendor's page size: ⌈(N + 1 + entries skipped by filters the vendor
//! cannot apply) / page size⌉ per stream (Celigo: 1000 per page, so one call; Rocket.Chat: 100).

use super::cursor::{depth_hint, Cursor, CursorKey};
use super::merge::{merge, sort_timeline, StreamPage, StreamWindow, TimelineKey};
use super::page::Direction;
use crate::domain::{HistoryEntry, HistoryFilter, Source, SubjectRef};
use crate::error::{SharedError, SourceError};
use crate::sources::Sources;
use crate::upstream::RequestScope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where each stream stands: `None` = at the head (nothing shown yet).
pub type Positions = Vec<Option<TimelineKey>>;

/// One page read from every stream and merged.
pub struct PageRead {
    /// The page's entries in timeline order.
    pub entries: Vec<HistoryEntry>,
    pub has_more: bool,
    /// Streams that failed, by subject index.
    pub failures: Vec<(usize, SharedError)>,
    /// Items streams read but could not use ([`StreamPage::errors`]): reported, while their
    /// streams' pages stand.
    pub entry_errors: Vec<SharedError>,
    /// The positions the page was read from.
    pub positions: Positions,
    /// Each stream's [`StreamPage::depth`] for the next page (a failed stream keeps the one it
    /// was read with).
    pub depths: Vec<Option<usize>>,
}

/// Read one page: stream `i` is asked for the entries beyond `positions[i]`, with the depth
/// hint `depths[i]` if there is one.
#[allow(clippy::too_many_arguments)]
pub async fn read_page(
    sources: &Sources,
    scope: &Arc<RequestScope>,
    subjects: &[SubjectRef],
    filter: &HistoryFilter,
    direction: Direction,
    positions: Positions,
    depths: &[Option<usize>],
    limit: usize,
    snapshot: DateTime<Utc>,
) -> PageRead {
    let windows: Vec<StreamWindow> = positions
        .iter()
        .enumerate()
        .map(|(index, key)| StreamWindow {
            direction,
            key: key.clone(),
            limit,
            snapshot,
            depth: depths.get(index).copied().flatten(),
        })
        .collect();
    let results = read_streams(sources, scope, subjects, filter, &windows).await;
    let mut pages = Vec::new();
    let mut failures = Vec::new();
    let mut next_depths = Vec::with_capacity(windows.len());
    let mut entry_errors = Vec::new();
    for ((index, result), window) in results.into_iter().enumerate().zip(&windows) {
        match result {
            Ok(mut page) => {
                next_depths.push(page.depth);
                entry_errors.append(&mut page.errors);
                pages.push(page);
            }
            Err(err) => {
                next_depths.push(window.depth);
                failures.push((index, err));
            }
        }
    }
    let overall = StreamWindow {
        direction,
        key: None,
        limit,
        snapshot,
        depth: None,
    };
    let merged = merge(pages, &overall);
    PageRead {
        entries: merged.entries,
        has_more: merged.has_more || !failures.is_empty(),
        failures,
        entry_errors,
        positions,
        depths: next_depths,
    }
}

/// Ask every subject's stream for its window, concurrently (each source's own concurrency
/// limit bounds the fan-out).
pub async fn read_streams(
    sources: &Sources,
    scope: &Arc<RequestScope>,
    subjects: &[SubjectRef],
    filter: &HistoryFilter,
    windows: &[StreamWindow],
) -> Vec<Result<StreamPage, SharedError>> {
    let reads = subjects
        .iter()
        .zip(windows)
        .map(|(subject, window)| async move {
            let set = sources.get(subject.source()).map_err(Arc::new)?;
            match &set.history {
                Some(history) => history.history(scope, subject, filter, window).await,
                None => Ok(no_history(scope, subject)),
            }
        });
    futures::future::join_all(reads).await
}

/// The subjects of one call (1 to [`MAX_SUBJECTS`]), each in its source's one spelling
/// ([`crate::sources::HistorySource::canonical_subject`]), worked out concurrently.
pub async fn resolve_subjects(
    sources: &Sources,
    scope: &RequestScope,
    subjects: Vec<SubjectRef>,
) -> Result<Vec<SubjectRef>, SourceError> {
    let subjects = checked_subjects(subjects)?;
    let resolved = subjects.iter().map(|subject| async move {
        let history = sources
            .get(subject.source())
            .ok()
            .and_then(|set| set.history.clone());
        match history {
            Some(history) => history.canonical_subject(scope, subject).await,
            None => subject.clone(),
        }
    });
    Ok(futures::future::join_all(resolved).await)
}

/// Most subjects one `history`, `changes` or `historyAdded` call may merge (DESIGN.md §10).
pub const MAX_SUBJECTS: usize = 50;

/// The subjects of one call, if there are 1 to [`MAX_SUBJECTS`] of them.
pub fn checked_subjects(subjects: Vec<SubjectRef>) -> Result<Vec<SubjectRef>, SourceError> {
    if subjects.is_empty() || subjects.len() > MAX_SUBJECTS {
        return Err(SourceError::bad_input(format!(
            "`subjects` takes 1 to {MAX_SUBJECTS} entries, got {}",
            subjects.len()
        )));
    }
    Ok(subjects)
}

/// The empty stream of a subject whose source keeps no history, said as a warning rather
/// than left to look like a quiet subject.
fn no_history(scope: &RequestScope, subject: &SubjectRef) -> StreamPage {
    scope.warn(format!(
        "{} keeps no history: subject {} has no entries",
        subject.source().as_str(),
        subject.canonical()
    ));
    StreamPage::default()
}

/// Positions for the next forward page after an edge with key `edge`: a stream that answered
/// has shown everything up to `edge` (or stays ahead, if it already was); a stream that failed
/// keeps its old position, so the next page reads it again from there and nothing it holds is
/// skipped. Only positions that differ from `edge` need to travel in the cursor.
pub fn positions_after(page: &PageRead, edge: &TimelineKey) -> BTreeMap<String, String> {
    let failed: Vec<usize> = page.failures.iter().map(|(i, _)| *i).collect();
    position_hints(&page.positions, &failed, edge)
}

/// [`positions_after`] from the parts of a page a cursor needs (`failed`: subject indexes).
pub fn position_hints(
    positions: &Positions,
    failed: &[usize],
    edge: &TimelineKey,
) -> BTreeMap<String, String> {
    let mut hints = BTreeMap::new();
    for (index, position) in positions.iter().enumerate() {
        let failed = failed.contains(&index);
        let next = match position {
            Some(p) if failed || p > edge => Some(p.clone()),
            None if failed => None,
            _ => continue,
        };
        hints.insert(index.to_string(), encode_position(next.as_ref()));
    }
    hints
}

/// The depth hints for the cursor after a page (forward pages only).
pub fn depths_after(page: &PageRead) -> impl Iterator<Item = (String, String)> + '_ {
    depth_hints(&page.depths)
}

/// [`depths_after`] from a page's depths.
pub fn depth_hints(depths: &[Option<usize>]) -> impl Iterator<Item = (String, String)> + '_ {
    depths
        .iter()
        .enumerate()
        .filter_map(|(index, depth)| Some((depth_hint(index), (*depth)?.to_string())))
}

/// Each stream's depth hint in `cursor` (none without one).
pub fn depths_from(cursor: Option<&Cursor>, streams: usize) -> Vec<Option<usize>> {
    (0..streams)
        .map(|index| cursor?.hints.get(&depth_hint(index))?.parse().ok())
        .collect()
}

/// Positions of every stream for a forward page that starts at `cursor`.
pub fn positions_from(cursor: Option<&Cursor>, streams: usize) -> Positions {
    let edge = cursor.and_then(|c| TimelineKey::from_cursor(&c.key));
    (0..streams)
        .map(
            |index| match cursor.and_then(|c| c.hints.get(&index.to_string())) {
                Some(hint) => decode_position(hint).unwrap_or_else(|| edge.clone()),
                None => edge.clone(),
            },
        )
        .collect()
}

fn encode_position(position: Option<&TimelineKey>) -> String {
    match position {
        None => String::new(),
        Some(key) => format!("{}:{}:{}", key.at_ms, key.source.as_str(), key.source_id),
    }
}

/// `Some(None)` is "at the head"; `None` is an unreadable hint.
fn decode_position(text: &str) -> Option<Option<TimelineKey>> {
    if text.is_empty() {
        return Some(None);
    }
    let mut parts = text.splitn(3, ':');
    let at_ms = parts.next()?.parse().ok()?;
    let source = Source::parse(parts.next()?)?;
    let source_id = parts.next()?.to_string();
    Some(Some(TimelineKey {
        at_ms,
        source,
        source_id: source_id.into(),
    }))
}

/// The key of an edge, for cursors.
pub fn edge_key(entry: &HistoryEntry, snapshot: DateTime<Utc>) -> CursorKey {
    TimelineKey::of(entry, snapshot).to_cursor_key()
}

/// Most entries one `changes` call returns per stream; more → `complete: false`.
pub const CHANGES_CAP: usize = 500;
const TOKEN_VERSION: u8 = 1;

/// Where a change feed stands for one stream: the newest `at` delivered and the ids delivered
/// with exactly that `at` (so equal timestamps are neither repeated nor lost).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    #[serde(rename = "a")]
    pub at_ms: i64,
    #[serde(rename = "i", default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// The opaque `nextSince` token: per-stream watermarks and the subjects it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeToken {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "s")]
    subjects: String,
    #[serde(rename = "w")]
    pub marks: Vec<Watermark>,
}

impl ChangeToken {
    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<ChangeToken> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let token: ChangeToken = serde_json::from_slice(&bytes).ok()?;
        (token.version == TOKEN_VERSION).then_some(token)
    }
}

/// The fingerprint of a subject list, carried by change tokens.
fn subjects_fingerprint(subjects: &[SubjectRef]) -> String {
    let canonical: Vec<String> = subjects.iter().map(SubjectRef::canonical).collect();
    let parts: Vec<&str> = canonical.iter().map(String::as_str).collect();
    super::cursor::fingerprint(&parts)
}

/// Turn `changes(since:)` into per-stream watermarks: null = the last 24 hours, an RFC 3339
/// datetime, or a token from an earlier call with the same subjects.
pub fn start_marks(
    subjects: &[SubjectRef],
    since: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Watermark>, SourceError> {
    let from = |at: DateTime<Utc>| {
        vec![
            Watermark {
                at_ms: at.timestamp_millis(),
                ids: Vec::new()
            };
            subjects.len()
        ]
    };
    let Some(text) = since.map(str::trim) else {
        return Ok(from(now - Duration::hours(24)));
    };
    if let Some(token) = ChangeToken::decode(text) {
        if token.subjects != subjects_fingerprint(subjects) || token.marks.len() != subjects.len() {
            return Err(SourceError::bad_input(
                "`since` token was issued for other subjects",
            ));
        }
        return Ok(token.marks);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => Ok(from(at.with_timezone(&Utc))),
        Err(_) => Err(SourceError::bad_input(
            "`since` must be null, an RFC 3339 datetime or a `nextSince` token",
        )),
    }
}

/// What one `changes` read produced.
pub struct ChangeRead {
    /// New entries, in timeline order (newest first).
    pub entries: Vec<HistoryEntry>,
    pub next: ChangeToken,
    pub complete: bool,
    pub failures: Vec<(usize, SharedError)>,
}

/// Read every stream's entries at or after its watermark, oldest first up to the cap.
pub async fn read_changes(
    sources: &Sources,
    scope: &Arc<RequestScope>,
    subjects: &[SubjectRef],
    marks: Vec<Watermark>,
    now: DateTime<Utc>,
) -> ChangeRead {
    let filters: Vec<HistoryFilter> = marks
        .iter()
        .map(|m| HistoryFilter {
            since: Some(crate::domain::datetime::from_millis(m.at_ms)),
            ..HistoryFilter::default()
        })
        .collect();
    let window = StreamWindow {
        direction: Direction::Backward,
        key: None,
        limit: CHANGES_CAP,
        snapshot: now,
        depth: None,
    };
    let reads = subjects.iter().zip(&filters).map(|(subject, filter)| {
        let window = &window;
        async move {
            let set = sources.get(subject.source()).map_err(Arc::new)?;
            match &set.history {
                Some(history) => history.history(scope, subject, filter, window).await,
                None => Ok(no_history(scope, subject)),
            }
        }
    });
    let results = futures::future::join_all(reads).await;
    let mut entries = Vec::new();
    let mut next_marks = Vec::with_capacity(marks.len());
    let mut complete = true;
    let mut failures = Vec::new();
    for (index, (result, mark)) in results.into_iter().zip(marks).enumerate() {
        match result {
            Ok(page) => {
                complete &= !page.has_more;
                // Items a stream could not use are reported; its position still moves on.
                failures.extend(page.errors.into_iter().map(|err| (index, err)));
                let fresh: Vec<HistoryEntry> = page
                    .entries
                    .into_iter()
                    .filter(|e| {
                        let at = e.at(now).timestamp_millis();
                        at > mark.at_ms
                            || (at == mark.at_ms && !mark.ids.iter().any(|id| *id == e.source_id))
                    })
                    .collect();
                next_marks.push(advance(mark, &fresh, now));
                entries.extend(fresh);
            }
            Err(err) => {
                complete = false;
                failures.push((index, err));
                next_marks.push(mark);
            }
        }
    }
    sort_timeline(&mut entries, now);
    ChangeRead {
        entries,
        next: ChangeToken {
            version: TOKEN_VERSION,
            subjects: subjects_fingerprint(subjects),
            marks: next_marks,
        },
        complete,
        failures,
    }
}

/// Move a watermark past what was just delivered.
fn advance(mark: Watermark, delivered: &[HistoryEntry], now: DateTime<Utc>) -> Watermark {
    let Some(newest) = delivered.iter().map(|e| e.at(now).timestamp_millis()).max() else {
        return mark;
    };
    let mut ids: Vec<String> = delivered
        .iter()
        .filter(|e| e.at(now).timestamp_millis() == newest)
        .map(|e| e.source_id.to_string())
        .collect();
    if newest == mark.at_ms {
        ids.extend(mark.ids);
    }
    ids.sort();
    ids.dedup();
    Watermark { at_ms: newest, ids }
}

#[cfg(test)]
mod tests;
