//! What a history stream answers: the contract between the adapters, which read their
//! vendor's history as streams, and the timeline engine, which merges them (DESIGN.md §3, §10).
//!
//! Order: `at` descending, then `source` in enum order, then `sourceId` byte-wise ascending.

use crate::domain::{CompactString, HistoryEntry, Source};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// Which way a page reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `first` / `after`: from the head (or the cursor) towards the tail.
    Forward,
    /// `last` / `before`: the items just before the cursor (or the tail).
    Backward,
}

/// A position in the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineKey {
    pub at_ms: i64,
    pub source: Source,
    pub source_id: CompactString,
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

    /// Become the key of `entry`, reusing this key's buffer.
    pub fn set(&mut self, entry: &HistoryEntry, observed_at: DateTime<Utc>) {
        self.at_ms = entry.at(observed_at).timestamp_millis();
        self.source = entry.source;
        self.source_id.clone_from(&entry.source_id);
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
    /// Forward after a cursor: the [`StreamPage::depth`] this stream gave on the page before,
    /// so an offset-paged vendor can ask for about depth + limit + 1 records instead of whole
    /// vendor pages. A hint: stale when records arrived since, then the stream reads on.
    pub depth: Option<usize>,
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
            depth: None,
            errors: Vec::new(),
        }
    }
}

/// One stream's answer: entries in timeline order, and whether it has more beyond them.
#[derive(Clone, Debug, Default)]
pub struct StreamPage {
    pub entries: Vec<HistoryEntry>,
    pub has_more: bool,
    /// Offset-paged vendors (Rocket.Chat): how many records this stream read from its head,
    /// which covers every entry it returned. It travels in the next cursor and comes back as
    /// [`StreamWindow::depth`].
    pub depth: Option<usize>,
    /// Items this stream read but could not use (a declared source's item without a mapped
    /// required field): reported as errors beside the page, which still holds the rest.
    pub errors: Vec<crate::error::SharedError>,
}

/// Sort entries into timeline order.
pub fn sort_timeline(entries: &mut [HistoryEntry], observed_at: DateTime<Utc>) {
    entries.sort_by_cached_key(|e| TimelineKey::of(e, observed_at));
}
