//! The source traits and the registry of configured sources.
//!
//! Traits are named by what they provide and speak only domain types; each vendor adapter
//! implements the ones it can. Nothing outside an adapter knows a vendor's field names.

pub mod celigo;
pub mod http;
pub mod rocketchat;
pub mod truto;

use crate::config::Config;
use crate::domain::{
    Connection, Flow, HistoryEntry, HistoryFilter, Integration, Source, SubjectRef, Team,
};
use crate::error::{SourceError, SourceResult};
use crate::timeline::merge::{StreamPage, StreamWindow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::RequestScope;
use std::collections::HashMap;
use std::sync::Arc;

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
            tracing::warn!(source = source.as_str(), what, error = %err, "skipping an element not in the documented shape");
            None
        }
    }
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
        integration_ids: &[String],
    ) -> SourceResult<HashMap<String, Vec<Arc<Flow>>>>;

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

/// What one configured source provides.
#[derive(Clone, Default)]
pub struct SourceSet {
    pub integrations: Option<Arc<dyn IntegrationSource>>,
    pub history: Option<Arc<dyn HistorySource>>,
    pub flows: Option<Arc<dyn FlowSource>>,
    pub teams: Option<Arc<dyn TeamSource>>,
    pub upstream: Option<Arc<http::Upstream>>,
}

/// The registry of configured sources.
#[derive(Clone, Default)]
pub struct Sources {
    configured: HashMap<Source, SourceSet>,
}

impl Sources {
    /// Build every adapter the config names. Sources whose adapter this build lacks are
    /// left out (and reported as not configured) with a warning in the log.
    pub fn from_config(config: &Config) -> Result<Sources, SourceError> {
        let client = http::build_client()?;
        let mut configured = HashMap::new();
        for source in Source::ALL {
            let Some(cfg) = config.sources.get(source) else {
                continue;
            };
            let set = match source {
                Source::Celigo => celigo::Celigo::source_set(client.clone(), cfg)?,
                Source::Rocketchat => rocketchat::RocketChat::source_set(client.clone(), cfg)?,
                Source::Truto => truto::Truto::source_set(client.clone(), cfg)?,
                other => {
                    tracing::warn!(
                        source = other.as_str(),
                        "no adapter for this source in this build; it stays unconfigured"
                    );
                    continue;
                }
            };
            configured.insert(source, set);
        }
        Ok(Sources { configured })
    }

    /// Configured sources in enum order.
    pub fn configured(&self) -> Vec<Source> {
        Source::ALL
            .into_iter()
            .filter(|s| self.configured.contains_key(s))
            .collect()
    }

    /// The capabilities of one source, or `SOURCE_NOT_CONFIGURED`.
    pub fn get(&self, source: Source) -> Result<&SourceSet, SourceError> {
        self.configured
            .get(&source)
            .ok_or_else(|| SourceError::not_configured(source))
    }
}
