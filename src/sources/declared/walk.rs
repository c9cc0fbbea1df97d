//! Walking a declared source's history for one page: the shared keyset rules
//! ([`crate::sources::keyset`]) over items mapped by the declaration, with the errors of the
//! items it cannot map.

use super::decode::Captured;
use super::mapping::HistoryMap;
use super::{List, Paging};
use crate::domain::RawJson;
use crate::domain::{HistoryFilter, Source};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::keyset::{Keyset, Order};
use crate::sources::stream::{StreamPage, StreamWindow};
use std::sync::Arc;

/// Entries named in one error at most (the rest are counted).
const MAX_NAMED_PROBLEMS: usize = 3;

pub(super) struct Walk<'a> {
    keyset: Keyset<'a>,
    map: &'a HistoryMap,
    source: Source,
    integration_id: &'a str,
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
            keyset: Keyset::new(window, filter, order),
            map,
            source,
            integration_id,
            problems: Vec::new(),
            read: 0,
        }
    }

    /// How many items to ask for at `position` (items read so far).
    pub(super) fn next_count(&self, list: &List, position: usize) -> usize {
        let window = self.keyset.window;
        let need = window.limit + 1;
        let cap = list.page_size;
        match list.paging {
            Paging::None => cap,
            // Page numbers need one size for the whole walk.
            Paging::Page { .. } if window.key.is_some() => cap,
            Paging::Page { .. } => need.clamp(1, cap),
            _ => {
                if position == 0 && window.key.is_some() && self.keyset.order == Order::NewestFirst
                {
                    // After a cursor: the depth the previous page reached covers it.
                    if let Some(depth) = window.depth {
                        return depth.saturating_add(need).clamp(1, cap);
                    }
                }
                self.keyset.still_needed().map_or(cap, |n| n.clamp(1, cap))
            }
        }
    }

    /// A positional page answered fewer items than asked although the list goes on, and the
    /// page is full already. Not with an `actorId` filter: whether a later item matches it
    /// cannot be known without reading it.
    pub(super) fn short_page_suffices(&self, read: usize, asked: usize, list: &List) -> bool {
        list.paging.positional()
            && read < asked
            && self.keyset.admitted.len() >= self.keyset.window.limit
            && self.keyset.filter.actor_id.is_none()
    }

    /// Take in items in reading order; how many were not seen before.
    pub(super) fn absorb(&mut self, items: Vec<(Captured, RawJson)>) -> usize {
        let mut fresh = 0;
        for (item, raw) in items {
            if self.keyset.exhausted {
                break;
            }
            self.read += 1;
            let Some(id) = self.map.id(&item) else {
                self.problems.push("an entry has no id".into());
                continue;
            };
            if !self.keyset.first_sight(id.into()) {
                continue;
            }
            fresh += 1;
            match self.map.map(self.source, self.integration_id, &item, raw) {
                Ok(entry) => {
                    if !self.keyset.offer(entry) {
                        break;
                    }
                }
                Err(reason) => self.problems.push(reason),
            }
        }
        fresh
    }

    pub(super) fn exhausted(&self) -> bool {
        self.keyset.exhausted
    }

    pub(super) fn enough(&mut self) -> bool {
        self.keyset.enough()
    }

    /// The page: admitted entries in timeline order cut to the window. Items not in the
    /// declared shape are one error beside the page (the whole read's error when none of the
    /// items was usable).
    pub(super) fn finish(self, at_end: bool, depth: Option<usize>) -> SourceResult<StreamPage> {
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
        let newest_first = self.keyset.order == Order::NewestFirst;
        let mut page = self.keyset.finish(at_end);
        page.depth = depth.filter(|_| newest_first);
        page.errors.extend(error);
        Ok(page)
    }
}
