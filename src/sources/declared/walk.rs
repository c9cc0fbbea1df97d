//! Walking a declared source's history for one page: in reading order, skipping what lies
//! before the cursor, admitting what the window wants, and stopping once the page and the ties
//! at its cut are complete (the rules of the Rocket.Chat walk, without its seek).

use super::mapping::HistoryMap;
use super::{admitted, List, Order, Paging};
use crate::domain::{HistoryEntry, HistoryFilter, Source};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{StreamPage, StreamWindow, TimelineKey};
use crate::upstream::RequestScope;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::Arc;

/// Entries named in one error at most (the rest are counted).
const MAX_NAMED_PROBLEMS: usize = 3;

pub(super) struct Walk<'a> {
    window: &'a StreamWindow,
    filter: &'a HistoryFilter,
    order: Order,
    map: &'a HistoryMap,
    source: Source,
    integration_id: &'a str,
    seen: HashSet<String>,
    admitted: Vec<HistoryEntry>,
    last_rank: Option<i64>,
    exhausted: bool,
    problems: Vec<String>,
    read: usize,
}

impl<'a> Walk<'a> {
    pub(super) fn new(
        window: &'a StreamWindow,
        filter: &'a HistoryFilter,
        order: Order,
        map: &'a HistoryMap,
        source: Source,
        integration_id: &'a str,
    ) -> Self {
        Walk {
            window,
            filter,
            order,
            map,
            source,
            integration_id,
            seen: HashSet::new(),
            admitted: Vec::new(),
            last_rank: None,
            exhausted: false,
            problems: Vec::new(),
            read: 0,
        }
    }

    /// The rank a record must reach before it can be admitted.
    fn head_rank(&self) -> i64 {
        let key = self.window.key.as_ref().map(|k| k.at_ms);
        let bounds: Vec<Option<i64>> = match self.order {
            Order::NewestFirst => vec![
                key,
                self.filter.until.map(|u| u.timestamp_millis() - 1),
                Some(self.window.snapshot.timestamp_millis()),
            ],
            Order::OldestFirst => vec![key, self.filter.since.map(|s| s.timestamp_millis())],
        };
        bounds
            .into_iter()
            .flatten()
            .map(|at| self.order.rank(at))
            .max()
            .unwrap_or(i64::MIN)
    }

    fn head_reached(&self) -> bool {
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

    fn past_end(&self, at_ms: i64) -> bool {
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

    /// How many items to ask for at `position` (records read so far).
    pub(super) fn next_count(&self, list: &List, position: usize) -> usize {
        let need = self.window.limit + 1;
        let cap = list.page_size;
        match list.paging {
            Paging::None => cap,
            // Page numbers need one size for the whole walk.
            Paging::Page { .. } if self.window.key.is_some() => cap,
            Paging::Page { .. } => need.clamp(1, cap),
            _ => {
                if position == 0 && self.window.key.is_some() && self.order == Order::NewestFirst {
                    if let Some(depth) = self.window.depth {
                        return depth.saturating_add(need).clamp(1, cap);
                    }
                }
                if !self.head_reached() || self.admitted.len() >= need {
                    cap
                } else {
                    (need - self.admitted.len()).clamp(1, cap)
                }
            }
        }
    }

    /// A positional page answered fewer items than asked although the list goes on, and the
    /// page is full already. Not with an `actorId` filter: whether a later item matches it
    /// cannot be known without reading it.
    pub(super) fn short_page_suffices(&self, read: usize, asked: usize, list: &List) -> bool {
        list.paging.positional()
            && read < asked
            && self.admitted.len() >= self.window.limit
            && self.filter.actor_id.is_none()
    }

    /// Take in items in reading order; how many were not seen before.
    pub(super) fn absorb(&mut self, items: Vec<Value>) -> usize {
        let snapshot = self.window.snapshot;
        let mut fresh = 0;
        for item in items {
            if self.exhausted {
                break;
            }
            self.read += 1;
            let Some(id) = self.map.id(&item) else {
                self.problems.push("an entry has no id".into());
                continue;
            };
            // An insert at the head between two pages shifts an item into both.
            if !self.seen.insert(id) {
                continue;
            }
            fresh += 1;
            let entry = match self.map.map(self.source, self.integration_id, item) {
                Ok(entry) => entry,
                Err(reason) => {
                    self.problems.push(reason);
                    continue;
                }
            };
            let at = entry.at(snapshot).timestamp_millis();
            self.last_rank = Some(self.order.rank(at));
            if self.past_end(at) {
                self.exhausted = true;
                break;
            }
            if admitted(self.window, self.filter, &entry) {
                self.admitted.push(entry);
            }
        }
        fresh
    }

    pub(super) fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// More than `limit` admitted, and every unread item lies strictly after the cut in
    /// reading order (ties at the cut are never split).
    pub(super) fn enough(&mut self) -> bool {
        let limit = self.window.limit;
        if self.admitted.len() <= limit {
            return false;
        }
        if limit == 0 {
            return true;
        }
        let snapshot = self.window.snapshot;
        match self.order {
            Order::NewestFirst => self
                .admitted
                .sort_by_cached_key(|e| TimelineKey::of(e, snapshot)),
            Order::OldestFirst => self
                .admitted
                .sort_by_cached_key(|e| Reverse(TimelineKey::of(e, snapshot))),
        }
        let boundary = self
            .order
            .rank(self.admitted[limit - 1].at(snapshot).timestamp_millis());
        self.last_rank.is_some_and(|last| last > boundary)
    }

    /// The page: admitted entries in timeline order cut to the window. Items not in the
    /// declared shape are an error beside the page (every one of them: the whole read when
    /// none was usable).
    pub(super) fn finish(
        mut self,
        at_end: bool,
        depth: Option<usize>,
        _scope: &RequestScope,
    ) -> SourceResult<StreamPage> {
        let snapshot = self.window.snapshot;
        let error = (!self.problems.is_empty()).then(|| {
            let named: Vec<&str> = self
                .problems
                .iter()
                .take(MAX_NAMED_PROBLEMS)
                .map(String::as_str)
                .collect();
            let more = self.problems.len().saturating_sub(MAX_NAMED_PROBLEMS);
            let more = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            Arc::new(SourceError::upstream(
                self.source,
                ErrorCode::UpstreamBadResponse,
                format!(
                    "{}: {} of {} history items are not in the declared shape: {}{more}",
                    self.source.as_str(),
                    self.problems.len(),
                    self.read,
                    named.join("; ")
                ),
            ))
        });
        if let Some(error) = &error {
            if self.problems.len() == self.read {
                return Err(error.clone());
            }
        }
        self.admitted
            .sort_by_cached_key(|e| TimelineKey::of(e, snapshot));
        let depth = depth.filter(|_| self.order == Order::NewestFirst);
        let mut page = self.window.take(self.admitted, !(at_end || self.exhausted));
        page.depth = depth;
        page.errors.extend(error);
        Ok(page)
    }
}
