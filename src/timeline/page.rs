//! Relay argument validation and positional paging (DESIGN.md §3).
//!
//! Vendor-ordered lists (integrations, flows, connections) page by position, re-aligned by the
//! id carried in the cursor so an insert or removal before the cursor neither repeats nor skips
//! items. The timeline pages by sort key instead (see `merge`).

use super::cursor::{Cursor, CursorKey};
use crate::error::SourceError;

/// Default page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest accepted `first` / `last`.
pub const MAX_PAGE_SIZE: usize = 100;

/// The four Relay arguments as the client sent them.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

pub use crate::sources::stream::Direction;

/// Validated paging arguments.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub direction: Direction,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl PageArgs {
    /// Validate against DESIGN.md §3 and decode the cursor for this list's fingerprint.
    pub fn validate(&self, fingerprint: &str) -> Result<PageRequest, SourceError> {
        if self.first.is_some() && self.last.is_some() {
            return Err(SourceError::bad_input(
                "pass either `first` or `last`, not both",
            ));
        }
        if self.after.is_some() && self.last.is_some() {
            return Err(SourceError::bad_input(
                "`after` goes with `first`; use `before` with `last`",
            ));
        }
        if self.before.is_some() && self.first.is_some() {
            return Err(SourceError::bad_input(
                "`before` goes with `last`; use `after` with `first`",
            ));
        }
        if self.after.is_some() && self.before.is_some() {
            return Err(SourceError::bad_input(
                "pass either `after` or `before`, not both",
            ));
        }
        let backward = self.last.is_some() || self.before.is_some();
        let (name, size) = if backward {
            ("last", self.last)
        } else {
            ("first", self.first)
        };
        let limit = match size {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n < 0 || n as usize > MAX_PAGE_SIZE => {
                return Err(SourceError::bad_input(format!(
                    "`{name}` must be between 0 and {MAX_PAGE_SIZE}, got {n}"
                )))
            }
            Some(n) => n as usize,
        };
        let cursor = match self.after.as_ref().or(self.before.as_ref()) {
            Some(text) => Some(Cursor::decode(text, fingerprint)?),
            None => None,
        };
        Ok(PageRequest {
            direction: if backward {
                Direction::Backward
            } else {
                Direction::Forward
            },
            limit,
            cursor,
        })
    }
}

impl PageRequest {
    /// The positional key of the cursor, if it is one. A timeline cursor on a positional list
    /// cannot pass the fingerprint check, so anything else is treated as "no cursor".
    fn position(&self) -> Option<(usize, &str)> {
        match self.cursor.as_ref().map(|c| &c.key) {
            Some(CursorKey::Position(i, id)) => Some((*i as usize, id.as_str())),
            _ => None,
        }
    }

    /// How many items from the head of the list this page needs to have been fetched, or
    /// `None` when it needs the whole list (a backward page without a cursor).
    pub fn items_needed(&self) -> Option<usize> {
        match (self.direction, self.position()) {
            // the cursor item (for re-alignment), the page, one more to answer hasNextPage
            (Direction::Forward, Some((i, _))) => Some(i + 1 + self.limit + 1),
            (Direction::Forward, None) => Some(self.limit + 1),
            (Direction::Backward, Some((i, _))) => Some(i + 1),
            (Direction::Backward, None) => None,
        }
    }
}

/// The chosen window of a positional list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
    pub has_previous: bool,
    pub has_next: bool,
}

/// Choose the window of `ids` (the fetched prefix of a vendor-ordered list; `complete` when it
/// is the whole list) that `request` asks for.
pub fn positional_window(ids: &[&str], complete: bool, request: &PageRequest) -> Window {
    let len = ids.len();
    let anchor = request
        .position()
        .map(|(index, id)| realign(ids, index, id));
    match request.direction {
        Direction::Forward => {
            let start = anchor.map_or(0, |a| a.after()).min(len);
            let end = (start + request.limit).min(len);
            Window {
                start,
                end,
                has_previous: start > 0,
                has_next: end < len || !complete,
            }
        }
        Direction::Backward => {
            let end = anchor.map_or(len, |a| a.before()).min(len);
            let start = end.saturating_sub(request.limit);
            Window {
                start,
                end,
                has_previous: start > 0,
                has_next: end < len || !complete,
            }
        }
    }
}

/// Where a cursor's item is now.
#[derive(Clone, Copy, Debug)]
enum Anchor {
    /// The item is still there, at this index.
    At(usize),
    /// The item is gone; this is where it would have been.
    Gap(usize),
}

impl Anchor {
    fn after(self) -> usize {
        match self {
            Anchor::At(i) => i + 1,
            Anchor::Gap(i) => i,
        }
    }

    fn before(self) -> usize {
        match self {
            Anchor::At(i) | Anchor::Gap(i) => i,
        }
    }
}

/// Find the cursor's item: at its old index, else wherever it moved, else its old slot.
fn realign(ids: &[&str], index: usize, id: &str) -> Anchor {
    if ids.get(index) == Some(&id) {
        return Anchor::At(index);
    }
    match ids.iter().position(|candidate| *candidate == id) {
        Some(found) => Anchor::At(found),
        None => Anchor::Gap(index.min(ids.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::cursor::fingerprint;
    use proptest::prelude::*;

    fn args(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> PageArgs {
        PageArgs {
            first,
            after,
            last,
            before,
        }
    }

    #[test]
    fn argument_rules_of_design_section_3() {
        let fp = fingerprint(&["t"]);
        assert!(args(Some(1), None, Some(1), None).validate(&fp).is_err());
        assert!(args(None, Some("x".into()), Some(1), None)
            .validate(&fp)
            .is_err());
        assert!(args(Some(101), None, None, None).validate(&fp).is_err());
        assert!(args(Some(-1), None, None, None).validate(&fp).is_err());
        assert!(args(None, None, Some(101), None).validate(&fp).is_err());
        assert!(args(None, Some("garbage".into()), None, None)
            .validate(&fp)
            .is_err());
        let req = args(None, None, None, None)
            .validate(&fp)
            .expect("defaults");
        assert_eq!(
            (req.direction, req.limit),
            (Direction::Forward, DEFAULT_PAGE_SIZE)
        );
        let req = args(None, None, Some(5), None).validate(&fp).expect("last");
        assert_eq!((req.direction, req.limit), (Direction::Backward, 5));
        assert!(args(Some(0), None, None, None).validate(&fp).is_ok());
        assert!(args(Some(100), None, None, None).validate(&fp).is_ok());
    }

    /// Walk a list with pages of `size`, forward or backward, following cursors as a client would.
    fn walk(ids: &[String], size: usize, backward: bool) -> Vec<String> {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let fp = fingerprint(&["walk"]);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..(ids.len() + 2) {
            let page_args = if backward {
                args(None, None, Some(size as i32), cursor.clone())
            } else {
                args(Some(size as i32), cursor.clone(), None, None)
            };
            let request = page_args.validate(&fp).expect("valid");
            let window = positional_window(&refs, true, &request);
            let page: Vec<String> = ids[window.start..window.end].to_vec();
            let edge = if backward {
                window.start
            } else {
                window.end.saturating_sub(1)
            };
            if backward {
                seen.splice(0..0, page.clone());
            } else {
                seen.extend(page.clone());
            }
            let more = if backward {
                window.has_previous
            } else {
                window.has_next
            };
            if !more || page.is_empty() {
                break;
            }
            cursor = Some(
                Cursor::new(&fp, 0, CursorKey::Position(edge as u64, ids[edge].clone())).encode(),
            );
        }
        seen
    }

    proptest! {
        #[test]
        fn paging_visits_every_item_exactly_once(n in 0usize..120, size in 1usize..30) {
            let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
            prop_assert_eq!(walk(&ids, size, false), ids.clone());
            prop_assert_eq!(walk(&ids, size, true), ids);
        }

        #[test]
        fn inserts_at_the_head_do_not_shift_the_next_page(n in 2usize..80, size in 1usize..20, inserted in 1usize..10) {
            let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
            let fp = fingerprint(&["walk"]);
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let first = positional_window(&refs, true, &args(Some(size as i32), None, None, None).validate(&fp).expect("valid"));
            let last_id = &ids[first.end - 1];
            let cursor = Cursor::new(&fp, 0, CursorKey::Position((first.end - 1) as u64, last_id.clone())).encode();
            let mut grown: Vec<String> = (0..inserted).map(|i| format!("new{i}")).collect();
            grown.extend(ids.iter().cloned());
            let grown_refs: Vec<&str> = grown.iter().map(String::as_str).collect();
            let second = positional_window(&grown_refs, true, &args(Some(size as i32), Some(cursor), None, None).validate(&fp).expect("valid"));
            let expected: Vec<&str> = refs[first.end..(first.end + size).min(n)].to_vec();
            prop_assert_eq!(grown_refs[second.start..second.end].to_vec(), expected);
        }
    }
}
