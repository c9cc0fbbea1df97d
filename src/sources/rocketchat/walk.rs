//! Walking one webhook's execution history for a page: which records to ask for next, where
//! the cursor's record is (read from the head, or located by a binary search of one-record
//! probes when it lies deep), and when the page is complete.

use super::*;

/// Which way the upstream list is read: newest first for `first`/`after`, oldest first for
/// `last`/`before`, so each direction starts at its own end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    pub(super) fn of(direction: Direction) -> Self {
        match direction {
            Direction::Forward => Order::NewestFirst,
            Direction::Backward => Order::OldestFirst,
        }
    }

    pub(super) fn sort_param(self) -> &'static str {
        match self {
            Order::NewestFirst => r#"{"_updatedAt":-1}"#,
            Order::OldestFirst => r#"{"_updatedAt":1}"#,
        }
    }

    /// A time's position along the reading order: never decreases while reading.
    pub(super) fn rank(self, at_ms: i64) -> i64 {
        match self {
            Order::NewestFirst => -at_ms,
            Order::OldestFirst => at_ms,
        }
    }
}

/// What the reader does after a page.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    Read,
    Seek,
    Done,
}

/// The state of one keyset walk over offset pages.
pub(super) struct Walk<'a> {
    window: &'a StreamWindow,
    filter: &'a HistoryFilter,
    pub(super) order: Order,
    pub(super) offset: usize,
    total: Option<usize>,
    seen: HashSet<String>,
    admitted: Vec<HistoryEntry>,
    /// Rank of the last record read (reading order).
    last_rank: Option<i64>,
    /// Set once a read has been positioned by a seek, so a second seek is never attempted.
    sought: bool,
    exhausted: bool,
    /// Records of the last page looked at, and how many of them decoded.
    pub(super) page_seen: usize,
    pub(super) page_decoded: usize,
}

impl<'a> Walk<'a> {
    pub(super) fn new(window: &'a StreamWindow, filter: &'a HistoryFilter) -> Self {
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
    pub(super) fn head_rank(&self) -> i64 {
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
    pub(super) fn head_reached(&self) -> bool {
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
    pub(super) fn past_end(&self, at_ms: i64) -> bool {
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
    pub(super) fn next_count(&self) -> usize {
        let need = self.window.limit + 1;
        if self.offset == 0 && self.window.key.is_some() && self.order == Order::NewestFirst {
            // After a cursor: the depth the previous page reached covers the cursor, so depth
            // + limit + 1 records re-align and fill the page unless records arrived since
            // (then the walk reads on).
            if let Some(depth) = self.window.depth {
                return depth.saturating_add(need).clamp(1, MAX_COUNT);
            }
        }
        if !self.head_reached() || self.admitted.len() >= need {
            MAX_COUNT
        } else {
            (need - self.admitted.len()).clamp(1, MAX_COUNT)
        }
    }

    /// Take in one page read with `asked` as its `count`; decide what comes next.
    pub(super) fn absorb(
        &mut self,
        page: Page<WireExecution>,
        asked: usize,
        integration_id: &str,
    ) -> Next {
        let snapshot = self.window.snapshot;
        let read = page.records.len();
        let total = page.total;
        (self.page_seen, self.page_decoded) = (0, 0);
        for record in page.records {
            self.page_seen += 1;
            let Some(wire) = record.wire else {
                continue;
            };
            self.page_decoded += 1;
            if !self.seen.insert(wire.id.clone()) {
                continue;
            }
            let entry = wire.into_domain(record.raw, integration_id);
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
        self.total = total.map(|t| t as usize);
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
    pub(super) fn bisect(&self) -> Bisect {
        Bisect {
            order: self.order,
            target: self.head_rank(),
            lo: self.offset,
            hi: self.total.unwrap_or(self.offset).max(self.offset),
        }
    }

    /// More than `limit` admitted, and every unread record lies strictly after the cut in
    /// reading order, so records tied in `_updatedAt` across the cut cannot be missed.
    pub(super) fn enough(&mut self) -> bool {
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
    pub(super) fn short_page_suffices(&self, read: usize, asked: usize) -> bool {
        read < asked && self.admitted.len() >= self.window.limit && self.filter.actor_id.is_none()
    }

    pub(super) fn sort_reading_order(&mut self) {
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
    pub(super) fn finish(mut self) -> StreamPage {
        let snapshot = self.window.snapshot;
        self.admitted
            .sort_by_cached_key(|e| TimelineKey::of(e, snapshot));
        let depth = (self.order == Order::NewestFirst).then_some(self.offset);
        let mut page = self.window.take(self.admitted, !self.exhausted);
        page.depth = depth;
        page
    }
}

/// Binary search with one-record probes for the first offset in `[lo, hi)` whose record has
/// reached `target` (rank ≥ target), narrowed until one page of 100 covers the rest.
pub(super) struct Bisect {
    order: Order,
    target: i64,
    lo: usize,
    hi: usize,
}

impl Bisect {
    /// The next offset to probe, or `None` once one page covers the range.
    pub(super) fn probe(&self) -> Option<usize> {
        (self.hi - self.lo > MAX_COUNT).then(|| self.lo + (self.hi - self.lo) / 2)
    }

    /// Narrow by the `_updatedAt` of the record found at `mid` (none: the list shrank, so
    /// look earlier).
    pub(super) fn narrow(&mut self, mid: usize, updated_at_ms: Option<i64>) {
        let reached = updated_at_ms.is_none_or(|at| self.order.rank(at) >= self.target);
        if reached {
            self.hi = mid;
        } else {
            self.lo = mid + 1;
        }
    }

    /// Where reading resumes: one record early, so nothing at the band's start is skipped.
    pub(super) fn resume_at(&self) -> usize {
        self.lo.saturating_sub(1)
    }
}
