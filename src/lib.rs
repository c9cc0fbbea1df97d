//! Chronograph: one GraphQL graph over the history that integration platforms keep.

pub mod config;
pub mod domain;
pub mod error;
pub mod sources;
pub mod timeline;
