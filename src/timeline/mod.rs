//! Cursor codec and paging rules shared by every connection (DESIGN.md §3).

pub mod cursor;
pub mod engine;
pub mod history;
pub mod merge;
pub mod page;
pub mod pollers;

pub use cursor::{fingerprint, Cursor, CursorKey};
pub use page::{Direction, PageArgs, PageRequest};
