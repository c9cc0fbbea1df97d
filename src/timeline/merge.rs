//! The timeline order and the k-way merge of history streams (DESIGN.md §3, §10).
//!
//! Order: `at` descending, then `source` in enum order, then `sourceId` byte-wise ascending.
//! A page of N asks every stream for at most N entries beyond the cursor's key; the first N of
//! the union are exactly the first N of the merged timeline, so no stream is read further than
//! the page needs.

use super::cursor::CursorKey;
use super::page::Direction;
use crate::domain::{HistoryEntry, Source};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A position in the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineKey {
    pub at_ms: i64,
    pub source: Source,
    pub source_id: String,
}

impl TimelineKey {
    /// The key of an entry, given the walk's snapshot time (for entries without timestamps).
    pub fn of(entry: &HistoryEntry, observed_at: DateTime<Utc>) -> Self {
        TimelineKey {
            at_ms: entry.at(observed_at).timestamp_millis(),
            source: entry.source,
            source_id: entry.source_id.clone(),
        }
    }

    /// The key carried by a timeline cursor.
    pub fn from_cursor(key: &CursorKey) -> Option<Self> {
        match key {
            CursorKey::Timeline(at_ms, source, id) => Some(TimelineKey {
                at_ms: *at_ms,
                source: *source,
                source_id: id.clone(),
            }),
            CursorKey::Position(..) => None,
        }
    }

    /// The cursor form of this key.
    pub fn to_cursor_key(&self) -> CursorKey {
        CursorKey::Timeline(self.at_ms, self.source, self.source_id.clone())
    }
}

impl Ord for TimelineKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at_ms
            .cmp(&self.at_ms)
            .then(self.source.cmp(&other.source))
            .then_with(|| self.source_id.as_bytes().cmp(other.source_id.as_bytes()))
    }
}

impl PartialOrd for TimelineKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What one stream is asked for.
#[derive(Clone, Debug)]
pub struct StreamWindow {
    pub direction: Direction,
    /// Forward: entries strictly after this key; backward: strictly before it.
    pub key: Option<TimelineKey>,
    pub limit: usize,
    /// The walk's snapshot: entries newer than this are not part of the walk.
    pub snapshot: DateTime<Utc>,
}

impl StreamWindow {
    /// Whether an entry with `key` lies on the requested side of the cursor.
    pub fn admits(&self, key: &TimelineKey) -> bool {
        if key.at_ms > self.snapshot.timestamp_millis() {
            return false;
        }
        match (&self.key, self.direction) {
            (None, _) => true,
            (Some(cursor), Direction::Forward) => key > cursor,
            (Some(cursor), Direction::Backward) => key < cursor,
        }
    }

    /// Cut a stream's admitted entries (sorted in timeline order) down to the window: the
    /// first `limit` going forward, the last `limit` going backward, and whether more remain.
    pub fn take(&self, mut sorted: Vec<HistoryEntry>, source_has_more: bool) -> StreamPage {
        let more = sorted.len() > self.limit || source_has_more;
        match self.direction {
            Direction::Forward => sorted.truncate(self.limit),
            Direction::Backward => {
                let cut = sorted.len().saturating_sub(self.limit);
                sorted.drain(..cut);
            }
        }
        StreamPage {
            entries: sorted,
            has_more: more,
        }
    }
}

/// One stream's answer: entries in timeline order, and whether it has more beyond them.
#[derive(Clone, Debug, Default)]
pub struct StreamPage {
    pub entries: Vec<HistoryEntry>,
    pub has_more: bool,
}

/// Sort entries into timeline order.
pub fn sort_timeline(entries: &mut [HistoryEntry], observed_at: DateTime<Utc>) {
    entries.sort_by_cached_key(|e| TimelineKey::of(e, observed_at));
}

/// Merge stream pages (each in timeline order) into one page of `window.limit` entries with a
/// heap over the streams' heads (tails when paging backward): O(limit · log k) comparisons, and
/// only the entries taken are moved. `has_more` is true when any stream has more or the union
/// was cut. An entry reached through two subjects appears once.
pub fn merge(pages: Vec<StreamPage>, window: &StreamWindow) -> StreamPage {
    let any_more = pages.iter().any(|p| p.has_more);
    let snapshot = window.snapshot;
    let backward = window.direction == super::page::Direction::Backward;
    let mut streams: Vec<Vec<Option<HistoryEntry>>> = pages
        .into_iter()
        .map(|p| p.entries.into_iter().map(Some).collect())
        .collect();
    let mut heap = BinaryHeap::new();
    for (stream, entries) in streams.iter().enumerate() {
        let position = if backward {
            entries.len().checked_sub(1)
        } else {
            Some(0)
        };
        if let Some(head) = position.and_then(|p| head_at(entries, stream, p, snapshot, backward)) {
            heap.push(head);
        }
    }
    let mut taken: Vec<HistoryEntry> = Vec::with_capacity(window.limit.min(1024));
    let mut cut = false;
    while let Some(head) = heap.pop() {
        let Head {
            stream, position, ..
        } = head;
        let next = if backward {
            position.checked_sub(1)
        } else {
            Some(position + 1)
        };
        if let Some(following) =
            next.and_then(|p| head_at(&streams[stream], stream, p, snapshot, backward))
        {
            heap.push(following);
        }
        let Some(entry) = streams[stream][position].take() else {
            continue;
        };
        if taken
            .last()
            .is_some_and(|last| last.source == entry.source && last.source_id == entry.source_id)
        {
            continue;
        }
        if taken.len() == window.limit {
            cut = true;
            break;
        }
        taken.push(entry);
    }
    if backward {
        taken.reverse();
    }
    StreamPage {
        entries: taken,
        has_more: cut || any_more,
    }
}

/// A stream's next candidate in the heap. Ordered so that the heap pops the next entry of the
/// page: the smallest key going forward, the largest going backward.
struct Head {
    key: TimelineKey,
    stream: usize,
    position: usize,
    backward: bool,
}

fn head_at(
    entries: &[Option<HistoryEntry>],
    stream: usize,
    position: usize,
    snapshot: DateTime<Utc>,
    backward: bool,
) -> Option<Head> {
    let entry = entries.get(position)?.as_ref()?;
    Some(Head {
        key: TimelineKey::of(entry, snapshot),
        stream,
        position,
        backward,
    })
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_key = self
            .key
            .cmp(&other.key)
            .then(self.stream.cmp(&other.stream));
        if self.backward {
            by_key
        } else {
            by_key.reverse()
        }
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}
