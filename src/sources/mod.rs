//! The source traits and the registry of configured sources.
//!
//! Traits are named by what they provide and speak only domain types; each vendor adapter
//! implements the ones it can. Nothing outside an adapter knows a vendor's field names.

pub mod celigo;
pub mod dealcloud;
pub mod declared;
pub mod hexabase;
pub mod keyset;
mod registry;
pub mod rocketchat;
pub mod scan;
#[cfg(test)]
mod scan_tests;
pub mod settings;
pub mod stream;
pub mod truto;

use crate::domain::{
    CompactString, Connection, Flow, HistoryEntry, HistoryFilter, Integration, Source, SubjectRef,
    Team,
};
use crate::error::{SharedError, SourceError, SourceResult};
use crate::upstream::{self as http, RequestScope};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use registry::{
    credential_identity, SourceHealth, Sources, DEFAULT_MAX_CONCURRENCY, DEFAULT_POLL_MS,
    DEFAULT_RETRIES,
};
pub use settings::{SourceConfig, SourcesConfig, Vendor};
use std::collections::HashMap;
use std::sync::Arc;
use stream::{StreamPage, StreamWindow};

/// What the adapter of `source` declares about its vendor.
pub fn vendor(source: Source) -> &'static Vendor {
    match source {
        Source::Celigo => &celigo::VENDOR,
        Source::Dealcloud => &dealcloud::VENDOR,
        Source::Hexabase => &hexabase::VENDOR,
        Source::Rocketchat => &rocketchat::VENDOR,
        Source::Truto => &truto::VENDOR,
        Source::Declared(_) => &declared::VENDOR,
    }
}

/// Decode one element of a vendor list into its wire struct. Elements not in the documented
/// shape are skipped and logged so the rest of the page survives (DESIGN.md §4).
pub fn decode_item<'a, T: serde::Deserialize<'a>>(
    source: Source,
    value: &'a serde_json::Value,
    what: &str,
) -> Option<T> {
    match T::deserialize(value) {
        Ok(item) => Some(item),
        Err(err) => {
            tracing::warn!(source = source.as_str(), what, error = %crate::redact::scrub(&err.to_string()), "skipping an element not in the documented shape");
            None
        }
    }
}

/// Decode one element of a vendor list, kept as JSON text, into its wire struct (typed
/// decoding skips what Chronograph does not read instead of building a JSON tree). Elements
/// not in the documented shape are skipped and logged.
pub fn decode_raw_item<T: serde::de::DeserializeOwned>(
    source: Source,
    raw: &serde_json::value::RawValue,
    what: &str,
) -> Option<T> {
    match serde_json::from_str(raw.get()) {
        Ok(item) => Some(item),
        Err(err) => {
            tracing::warn!(source = source.as_str(), what, error = %crate::redact::scrub(&err.to_string()), "skipping an element not in the documented shape");
            None
        }
    }
}

/// Decode a page of vendor items with `map` (which logs and drops the ones not in the
/// documented shape), and never in silence: a page none of whose items decode is
/// `UPSTREAM_BAD_RESPONSE`; one where only some do keeps those and warns how many were skipped
/// (DESIGN.md §10: partial results carry warnings).
pub fn decode_page<R, T>(
    source: Source,
    scope: &http::RequestScope,
    items: Vec<R>,
    mut map: impl FnMut(R) -> Option<T>,
) -> Result<Vec<T>, SourceError> {
    let total = items.len();
    let decoded: Vec<T> = items.into_iter().filter_map(&mut map).collect();
    check_skipped(source, scope, total, decoded.len())?;
    Ok(decoded)
}

/// The rule of [`decode_page`] for adapters that decode item by item: `decoded` of `total`
/// items of one page were in the documented shape.
pub fn check_skipped(
    source: Source,
    scope: &http::RequestScope,
    total: usize,
    decoded: usize,
) -> Result<(), SourceError> {
    let skipped = total.saturating_sub(decoded);
    if skipped > 0 && decoded == 0 {
        return Err(SourceError::upstream(
            source,
            crate::error::ErrorCode::UpstreamBadResponse,
            format!(
                "{}: none of the {total} items of a page is in the documented shape",
                source.as_str()
            ),
        ));
    }
    if skipped > 0 {
        scope.warn(format!(
            "{}: skipped {skipped} of {total} items of a page that are not in the documented shape",
            source.as_str()
        ));
    }
    Ok(())
}

/// A prefix of a vendor-ordered list; `complete` when nothing follows it upstream.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub complete: bool,
}

/// Sources that list integrations.
#[async_trait]
pub trait IntegrationSource: Send + Sync {
    /// At least `need` integrations from the head of the vendor's order (all when `None`),
    /// fetching no more upstream pages than that takes.
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>>;

    /// One integration; `None` when the vendor does not know the id.
    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>>;
}

/// Sources that keep a history per subject.
#[async_trait]
pub trait HistorySource: Send + Sync {
    /// The entries of one subject inside `window` (timeline order), filtered by `filter`.
    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage>;

    /// The one spelling of `subject` this source uses in ids and cursors, so that every
    /// spelling a vendor accepts gives the same ids, cursors and cache entries (DealCloud: an
    /// entry type's `apiName` becomes its numeric id). When it cannot be worked out the subject
    /// is kept as given (its read then succeeds or fails on its own).
    async fn canonical_subject(&self, _scope: &RequestScope, subject: &SubjectRef) -> SubjectRef {
        subject.clone()
    }

    /// One entry by id, for `node(id)`; `None` when it is gone.
    async fn history_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_id: &str,
        observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>>;
}

/// Sources whose integrations contain flows and connections (Celigo).
#[async_trait]
pub trait FlowSource: Send + Sync {
    /// Flows of many integrations at once (the adapter picks per-integration or bulk calls).
    async fn flows(
        &self,
        scope: &RequestScope,
        integration_ids: &[CompactString],
    ) -> SourceResult<HashMap<CompactString, Vec<Arc<Flow>>>>;

    /// Connections of one integration.
    async fn connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
    ) -> SourceResult<Vec<Arc<Connection>>>;

    /// Connections one flow reads from or writes to.
    async fn flow_connections(
        &self,
        scope: &RequestScope,
        flow: &Flow,
    ) -> SourceResult<Vec<Arc<Connection>>>;

    /// One connection by id, searched under its integration when known.
    async fn connection(
        &self,
        scope: &RequestScope,
        id: &str,
        integration_id: Option<&str>,
    ) -> SourceResult<Option<Arc<Connection>>>;
}

/// Sources whose integrations belong to teams (Truto).
#[async_trait]
pub trait TeamSource: Send + Sync {
    /// One team; `None` when unknown.
    async fn team(&self, scope: &RequestScope, id: &str) -> SourceResult<Option<Arc<Team>>>;
}

/// A partial update of an integration: only the fields that are `Some` change. For the JSON
/// fields, `Some(None)` removes the field upstream; the typed ones cannot be removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegrationUpdate {
    pub settings: Option<Option<serde_json::Value>>,
    pub version: Option<String>,
    pub tag: Option<Option<String>>,
    pub update_in_progress: Option<bool>,
    pub flow_groupings: Option<Vec<FlowGrouping>>,
    pub aliases: Option<Option<serde_json::Value>>,
}

impl IntegrationUpdate {
    /// Whether the update changes nothing (and should not reach the vendor).
    pub fn is_empty(&self) -> bool {
        *self == IntegrationUpdate::default()
    }
}

/// A named group of an integration's flows.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowGrouping {
    /// The vendor id of an existing grouping; `None` creates one.
    pub source_id: Option<String>,
    pub name: String,
    pub settings: Option<serde_json::Value>,
}

/// What creating a revision (snapshot) of an integration did.
#[derive(Clone, Debug)]
pub struct RevisionOutcome {
    /// `false` when the vendor skipped it because nothing changed since the last one.
    pub created: bool,
    /// The vendor id of the new revision, when the answer names it.
    pub revision_id: Option<String>,
    /// The revision as the vendor returned it, if it returned one.
    pub raw: Option<crate::domain::RawJson>,
}

/// An integration and the connections registered with it, after a registration change.
#[derive(Clone, Debug)]
pub struct Registration {
    pub integration: Arc<Integration>,
    pub connection_ids: Vec<String>,
}

/// Sources whose integrations can be changed through Chronograph (Celigo, DESIGN.md §2
/// mutations). Every method is one upstream write, never retried; the adapter drops the cached
/// reads the write changed and answers with the state after it.
#[async_trait]
pub trait IntegrationWriteSource: Send + Sync {
    /// Register connections with an integration; answers the registered ids afterwards.
    async fn register_connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_ids: &[String],
    ) -> SourceResult<Registration>;

    /// Unregister one connection from an integration; answers the registered ids afterwards.
    async fn unregister_connection(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_id: &str,
    ) -> SourceResult<Registration>;

    /// Snapshot an integration; with `ignore_if_no_changes`, the vendor may skip it.
    async fn create_revision(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        ignore_if_no_changes: bool,
    ) -> SourceResult<RevisionOutcome>;

    /// Copy an integration (and its flows); answers the new integration.
    async fn clone_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        name: Option<&str>,
    ) -> SourceResult<Arc<Integration>>;

    /// Change some fields of an integration; answers the integration afterwards.
    async fn update_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        update: &IntegrationUpdate,
    ) -> SourceResult<Arc<Integration>>;
}

/// What one configured source provides.
#[derive(Clone, Default)]
pub struct SourceSet {
    pub integrations: Option<Arc<dyn IntegrationSource>>,
    pub history: Option<Arc<dyn HistorySource>>,
    pub flows: Option<Arc<dyn FlowSource>>,
    pub teams: Option<Arc<dyn TeamSource>>,
    pub upstream: Option<Arc<http::Upstream>>,
    pub writes: Option<Arc<dyn IntegrationWriteSource>>,
}
