//! The keyset rules every walk of an upstream history shares (DESIGN.md §3): entries come in
//! reading order (newest first for `first`/`after`, oldest first for `last`/`before`), those
//! before the cursor are skipped, those the window wants are kept, and the walk may stop once
//! it holds more than the page and every unread entry lies strictly past the cut, so entries
//! tied in time across the cut are never split. The Rocket.Chat adapter (offset pages with a
//! seek) and declared sources (any paging style) walk with it.

use super::stream::{Direction, StreamPage, StreamWindow, TimelineKey};
use crate::domain::{CompactString, HistoryEntry, HistoryFilter};
use std::cmp::Reverse;
use std::collections::HashSet;

/// Which way a list is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    /// The order a page in `direction` is read in, each from its own end.
    pub fn of(direction: Direction) -> Self {
        match direction {
            Direction::Forward => Order::NewestFirst,
            Direction::Backward => Order::OldestFirst,
        }
    }

    /// A time's position along the reading order: never decreases while reading.
    pub fn rank(self, at_ms: i64) -> i64 {
        match self {
            Order::NewestFirst => -at_ms,
            Order::OldestFirst => at_ms,
        }
    }

    pub fn flip(self) -> Order {
        match self {
            Order::NewestFirst => Order::OldestFirst,
            Order::OldestFirst => Order::NewestFirst,
        }
    }
}

/// The state of one keyset walk.
pub struct Keyset<'a> {
    pub window: &'a StreamWindow,
    pub filter: &'a HistoryFilter,
    pub order: Order,
    /// Entries the window wants, as read.
    pub admitted: Vec<HistoryEntry>,
    /// Rank of the last entry read.
    pub last_rank: Option<i64>,
    /// Nothing further can be admitted (the far end of the filter, or the list's end).
    pub exhausted: bool,
    seen: HashSet<CompactString>,
}

impl<'a> Keyset<'a> {
    pub fn new(window: &'a StreamWindow, filter: &'a HistoryFilter, order: Order) -> Self {
        Keyset {
            window,
            filter,
            order,
            admitted: Vec::new(),
            last_rank: None,
            exhausted: false,
            seen: HashSet::new(),
        }
    }

    /// Whether `id` is read for the first time (an insert at the head between two pages
    /// shifts a record into both).
    pub fn first_sight(&mut self, id: CompactString) -> bool {
        self.seen.insert(id)
    }

    /// The rank an entry must reach before it can be admitted: the cursor's time, and the
    /// filter bound (and, newest first, the snapshot) that lies at the reading start.
    pub fn head_rank(&self) -> i64 {
        let snapshot = self.window.snapshot.timestamp_millis();
        let key = self.window.key.as_ref().map(|k| k.at_ms);
        let bounds: [Option<i64>; 3] = match self.order {
            Order::NewestFirst => [
                key,
                self.filter.until.map(|u| u.timestamp_millis() - 1),
                Some(snapshot),
            ],
            Order::OldestFirst => [key, self.filter.since.map(|s| s.timestamp_millis()), None],
        };
        bounds
            .into_iter()
            .flatten()
            .map(|at| self.order.rank(at))
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Whether reading has reached entries that can be admitted. Before the first read only a
    /// cursor or a filter bound at the start says no (the snapshot is "now" on a first page).
    pub fn head_reached(&self) -> bool {
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

    /// Whether an entry at `at_ms` lies past the far end: nothing after it can be admitted.
    pub fn past_end(&self, at_ms: i64) -> bool {
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

    /// Take in the next entry in reading order; `false` once the walk is past its far end.
    pub fn offer(&mut self, entry: HistoryEntry) -> bool {
        let snapshot = self.window.snapshot;
        let at = entry.at(snapshot).timestamp_millis();
        self.last_rank = Some(self.order.rank(at));
        if self.past_end(at) {
            self.exhausted = true;
            return false;
        }
        if self.filter.matches(&entry, snapshot)
            && self.window.admits(&TimelineKey::of(&entry, snapshot))
        {
            self.admitted.push(entry);
        }
        true
    }

    /// How many more entries would fill the page and show past its cut, once reading has
    /// reached the head; `None` while it has not (read full pages to get there).
    pub fn still_needed(&self) -> Option<usize> {
        let need = self.window.limit + 1;
        if !self.head_reached() || self.admitted.len() >= need {
            None
        } else {
            Some(need - self.admitted.len())
        }
    }

    /// More than `limit` admitted, and every unread entry lies strictly after the cut in
    /// reading order, so entries tied in time across the cut cannot be missed.
    pub fn enough(&mut self) -> bool {
        let limit = self.window.limit;
        if self.admitted.len() <= limit {
            return false;
        }
        if limit == 0 {
            return true;
        }
        self.sort_reading_order();
        let boundary = self.order.rank(
            self.admitted[limit - 1]
                .at(self.window.snapshot)
                .timestamp_millis(),
        );
        self.last_rank.is_some_and(|last| last > boundary)
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

    /// The admitted entries in timeline order, cut to the window; more remain unless the walk
    /// is exhausted or `at_end`.
    pub fn finish(mut self, at_end: bool) -> StreamPage {
        let snapshot = self.window.snapshot;
        self.admitted
            .sort_by_cached_key(|e| TimelineKey::of(e, snapshot));
        self.window.take(self.admitted, !(at_end || self.exhausted))
    }
}
