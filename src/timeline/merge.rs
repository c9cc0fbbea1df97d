//! The timeline order and the k-way merge of history streams (DESIGN.md §3, §10).
//!
//! Order: `at` descending, then `source` in enum order, then `sourceId` byte-wise ascending.
//! A page of N asks every stream for at most N entries beyond the cursor's key; the first N of
//! the union are exactly the first N of the merged timeline, so no stream is read further than
//! the page needs.

use super::cursor::CursorKey;
use crate::domain::HistoryEntry;
pub use crate::sources::stream::{sort_timeline, Direction, StreamPage, StreamWindow, TimelineKey};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

impl TimelineKey {
    /// The key carried by a timeline cursor.
    pub fn from_cursor(key: &CursorKey) -> Option<Self> {
        match key {
            CursorKey::Timeline(at_ms, source, id) => Some(TimelineKey {
                at_ms: *at_ms,
                source: *source,
                source_id: id.as_str().into(),
            }),
            CursorKey::Position(..) => None,
        }
    }

    /// The cursor form of this key.
    pub fn to_cursor_key(&self) -> CursorKey {
        CursorKey::Timeline(self.at_ms, self.source, self.source_id.to_string())
    }
}

/// Merge stream pages (each in timeline order) into one page of `window.limit` entries with a
/// heap over the streams' heads (tails when paging backward): O(limit · log k) comparisons, and
/// only the entries taken are moved. `has_more` is true when any stream has more or the union
/// was cut. An entry reached through two subjects appears once.
pub fn merge(mut pages: Vec<StreamPage>, window: &StreamWindow) -> StreamPage {
    if pages.len() == 1 {
        if let Some(page) = pages.pop() {
            return single(page, window);
        }
    }
    merge_streams(pages, window)
}

/// The merge of one stream (an integration's own history): its page is already in order, so
/// the heap would only move every entry twice. Repeats are dropped as the heap drops them
/// (going backward the heap meets the later of two first and keeps it), then the page is cut.
fn single(page: StreamPage, window: &StreamWindow) -> StreamPage {
    let mut entries = page.entries;
    let backward = window.direction == super::page::Direction::Backward;
    entries.dedup_by(|later, kept| {
        let repeat = later.source == kept.source && later.source_id == kept.source_id;
        if repeat && backward {
            std::mem::swap(later, kept);
        }
        repeat
    });
    window.take(entries, page.has_more)
}

fn merge_streams(pages: Vec<StreamPage>, window: &StreamWindow) -> StreamPage {
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
        depth: None,
        errors: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HistoryKind, Source, Subject, SubjectRef};
    use proptest::prelude::*;

    fn entry(id: u8, at_ms: i64, version: usize) -> HistoryEntry {
        HistoryEntry {
            source: Source::Celigo,
            source_id: format!("e{id}").into(),
            kind: HistoryKind::Audit,
            occurred_at: Some(crate::domain::datetime::from_millis(at_ms)),
            updated_at: None,
            actor: None,
            summary: version.to_string().into(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: "i".into(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Celigo,
                source_id: "i".into(),
            },
            status: None,
            error: None,
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw: serde_json::Value::Null.into(),
        }
    }

    fn seen(page: &StreamPage) -> Vec<(String, String)> {
        page.entries
            .iter()
            .map(|e| (e.source_id.to_string(), e.summary().to_string()))
            .collect()
    }

    proptest! {
        /// One stream takes the short way; it must answer what the heap answers, repeats,
        /// cuts and direction included.
        #[test]
        fn one_stream_merges_as_the_heap_does(
            ids in proptest::collection::vec((0u8..6, 0i64..4), 0..25),
            limit in 1usize..12,
            backward in any::<bool>(),
            more in any::<bool>(),
        ) {
            let mut entries: Vec<HistoryEntry> = ids
                .iter()
                .enumerate()
                .map(|(version, (id, at))| entry(*id, *at, version))
                .collect();
            let snapshot = crate::domain::datetime::from_millis(10);
            sort_timeline(&mut entries, snapshot);
            let page = StreamPage { entries, has_more: more, depth: None, errors: Vec::new() };
            let window = StreamWindow {
                direction: if backward { Direction::Backward } else { Direction::Forward },
                key: None,
                limit,
                snapshot,
                depth: None,
            };
            let fast = merge(vec![page.clone()], &window);
            let heap = merge_streams(vec![page], &window);
            prop_assert_eq!(seen(&fast), seen(&heap));
            prop_assert_eq!(fast.has_more, heap.has_more);
        }
    }
}
