//! Walking one webhook's execution history for a page: which records to ask for next, where
//! the cursor's record is (read from the head, or located by a binary search of one-record
//! probes when it lies deep), and when the page is complete.

use super::*;
use crate::sources::keyset::Keyset;
pub(super) use crate::sources::keyset::Order;

/// `sort` of `integrations.history` for a reading order.
pub(super) fn sort_param(order: Order) -> &'static str {
    match order {
        Order::NewestFirst => r#"{"_updatedAt":-1}"#,
        Order::OldestFirst => r#"{"_updatedAt":1}"#,
    }
}

/// What the reader does after a page.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    Read,
    Seek,
    Done,
}

/// The state of one keyset walk over offset pages: the shared keyset rules
/// ([`crate::sources::keyset`]) and where the walk is in the list.
pub(super) struct Walk<'a> {
    keyset: Keyset<'a>,
    pub(super) order: Order,
    pub(super) offset: usize,
    total: Option<usize>,
    /// Set once a read has been positioned by a seek, so a second seek is never attempted.
    sought: bool,
    /// Records of the last page looked at, and how many of them decoded.
    pub(super) page_seen: usize,
    pub(super) page_decoded: usize,
}

impl<'a> Walk<'a> {
    pub(super) fn new(window: &'a StreamWindow, filter: &'a HistoryFilter) -> Self {
        let order = Order::of(window.direction);
        Walk {
            keyset: Keyset::new(window, filter, order),
            order,
            offset: 0,
            total: None,
            sought: false,
            page_seen: 0,
            page_decoded: 0,
        }
    }

    /// How many records to ask for next: a full page while skipping towards the cursor, else
    /// what the window still needs plus one to see past its cut.
    pub(super) fn next_count(&self) -> usize {
        let window = self.keyset.window;
        if self.offset == 0 && window.key.is_some() && self.order == Order::NewestFirst {
            // After a cursor: the depth the previous page reached covers the cursor, so depth
            // + limit + 1 records re-align and fill the page unless records arrived since
            // (then the walk reads on).
            if let Some(depth) = window.depth {
                return depth.saturating_add(window.limit + 1).clamp(1, MAX_COUNT);
            }
        }
        self.keyset
            .still_needed()
            .map_or(MAX_COUNT, |n| n.clamp(1, MAX_COUNT))
    }

    /// Take in one page read with `asked` as its `count`; decide what comes next.
    pub(super) fn absorb(
        &mut self,
        page: Page<WireExecution>,
        asked: usize,
        integration_id: &str,
    ) -> Next {
        let read = page.records.len();
        let total = page.total;
        (self.page_seen, self.page_decoded) = (0, 0);
        for record in page.records {
            self.page_seen += 1;
            let Some(wire) = record.wire else {
                continue;
            };
            self.page_decoded += 1;
            if !self.keyset.first_sight(wire.id.clone()) {
                continue;
            }
            if !self
                .keyset
                .offer(wire.into_domain(record.raw, integration_id))
            {
                break;
            }
        }
        self.offset += read;
        self.total = total.map(|t| t as usize);
        let at_end = match self.total {
            Some(total) => self.offset >= total,
            // No `total` (not in the documented shape): only an empty page ends the list.
            None => read == 0,
        };
        if self.keyset.exhausted || read == 0 || at_end {
            self.keyset.exhausted = true;
            return Next::Done;
        }
        if self.keyset.enough() || self.short_page_suffices(read, asked) {
            return Next::Done;
        }
        if !self.keyset.head_reached() && !self.sought {
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
            target: self.keyset.head_rank(),
            lo: self.offset,
            hi: self.total.unwrap_or(self.offset).max(self.offset),
        }
    }

    /// A server answered fewer records than asked although `total` says more exist (a clamp
    /// below 100, or a mock serving one static page). Once the page is full, `hasNextPage`
    /// comes from `total` instead of another call. Not with an `actorId` filter: whether a
    /// later record matches it cannot be known from `total`.
    pub(super) fn short_page_suffices(&self, read: usize, asked: usize) -> bool {
        read < asked
            && self.keyset.admitted.len() >= self.keyset.window.limit
            && self.keyset.filter.actor_id.is_none()
    }

    /// The admitted records in timeline order, cut to the window.
    pub(super) fn finish(self) -> StreamPage {
        let depth = (self.order == Order::NewestFirst).then_some(self.offset);
        let mut page = self.keyset.finish(false);
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
