//! `HistoryEntry` and the timeline connection shared by `Query.history` and
//! `Integration.history`.

use super::super::connection::Conn;
use super::super::context::{app, report_failures, req};
use super::super::scalars::{dt, DateTime};
use super::entities::{integration_by_id, IntegrationNode};
use crate::domain::ids::{GlobalId, NodeType};
use crate::domain::{self, HistoryFilter, HistoryKind, HistoryStatus, Source, SubjectRef};
use crate::schema::fast::{self, FastObject};
use crate::schema::json;
use crate::timeline::history::read_history;
use crate::timeline::PageArgs;
use async_graphql::parser::types::Field;
use async_graphql::{Context, Json, Object, SimpleObject, ID};
use async_graphql::{ContextSelectionSet, Positioned, Value};
use chrono::Utc;
use std::sync::Arc;

/// Who did something.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Actor")]
pub struct ActorObject {
    pub source_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// What an entry is about: `INTEGRATION`, `HEXABASE_ITEM` or `DEALCLOUD_ENTRY`.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Subject")]
pub struct SubjectObject {
    pub kind: String,
    pub source_id: String,
    pub name: Option<String>,
}

/// One entry of the timeline, with the snapshot time of the walk that read it.
#[derive(Clone)]
pub struct HistoryEntryNode {
    pub entry: Arc<domain::HistoryEntry>,
    pub observed_at: chrono::DateTime<Utc>,
    /// The integration whose own history this entry was read as: names the subject when
    /// the source does not (read only if `subject` is selected).
    pub integration: Option<Arc<domain::Integration>>,
}

impl HistoryEntryNode {
    /// An entry read on its own (not through an integration's history).
    pub fn new(entry: Arc<domain::HistoryEntry>, observed_at: chrono::DateTime<Utc>) -> Self {
        HistoryEntryNode {
            entry,
            observed_at,
            integration: None,
        }
    }

    /// The subject's name: the source's, else the integration's it was read through.
    fn subject_name(&self) -> Option<&str> {
        self.entry
            .subject
            .name
            .as_deref()
            .or(self.integration.as_deref().map(|i| i.name.as_str()))
    }

    /// The global id: entry id plus what is needed to read its subject again.
    pub fn global_id(entry: &domain::HistoryEntry) -> GlobalId {
        let mut parts = vec![entry.source_id.to_string()];
        match &entry.subject_ref {
            SubjectRef::Integration { source_id, .. } => parts.push(source_id.to_string()),
            SubjectRef::HexabaseItem {
                application_id,
                datastore_id,
                item_id,
            } => parts.extend([
                application_id.clone(),
                datastore_id.clone(),
                item_id.clone(),
            ]),
            SubjectRef::DealcloudEntryType { entry_type } => parts.push(entry_type.clone()),
        }
        GlobalId::new(NodeType::HistoryEntry, entry.source, parts)
    }
}

#[Object(name = "HistoryEntry")]
impl HistoryEntryNode {
    pub async fn id(&self) -> ID {
        ID(Self::global_id(&self.entry).encode())
    }
    async fn source(&self) -> Source {
        self.entry.source
    }
    async fn source_id(&self) -> &str {
        &self.entry.source_id
    }
    async fn kind(&self) -> HistoryKind {
        self.entry.kind
    }
    /// Ordering time: updatedAt ?? occurredAt ?? observedAt.
    async fn at(&self) -> DateTime {
        DateTime(self.entry.at(self.observed_at))
    }
    /// When it happened, per the source; null when the source does not say.
    async fn occurred_at(&self) -> Option<DateTime> {
        dt(self.entry.occurred_at)
    }
    /// Last change the source reports.
    async fn updated_at(&self) -> Option<DateTime> {
        dt(self.entry.updated_at)
    }
    /// Snapshot time of the walk (carried by the cursor, same on every page).
    async fn observed_at(&self) -> DateTime {
        DateTime(self.observed_at)
    }
    async fn actor(&self) -> Option<ActorObject> {
        self.entry.actor.as_ref().map(|a| ActorObject {
            source_id: a.source_id.as_deref().map(str::to_string),
            name: a.name.as_deref().map(str::to_string),
            email: a.email.as_deref().map(str::to_string),
        })
    }
    async fn summary(&self) -> &str {
        self.entry.summary()
    }
    async fn subject(&self) -> SubjectObject {
        SubjectObject {
            kind: self.entry.subject.kind.to_string(),
            source_id: self.entry.subject.source_id.to_string(),
            name: self.subject_name().map(str::to_string),
        }
    }
    /// Set when the subject is an integration.
    async fn integration(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        match self.entry.integration_ref() {
            Some((source, id)) => integration_by_id(ctx, source, id).await,
            None => Ok(None),
        }
    }
    async fn status(&self) -> Option<HistoryStatus> {
        self.entry.status
    }
    async fn error(&self) -> Option<&str> {
        self.entry.error.as_deref()
    }
    /// HEXABASE: unread as it was before this read marked it read.
    async fn unread(&self) -> Option<bool> {
        self.entry.unread
    }
    /// DEALCLOUD: the record no longer exists.
    async fn deleted(&self) -> bool {
        self.entry.deleted
    }
    /// DEALCLOUD: the entry it was merged into.
    async fn merged_into_source_id(&self) -> Option<&str> {
        self.entry.merged_into_source_id.as_deref()
    }
    async fn raw(&self) -> Json<serde_json::Value> {
        super::entities::raw(&self.entry.raw)
    }
}

impl FastObject for HistoryEntryNode {
    fn plain(&self, _ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let e = &*self.entry;
        Some(match field.node.name.node.as_str() {
            "id" => Value::String(Self::global_id(e).encode()),
            "source" => fast::source(e.source),
            "sourceId" => fast::string(&e.source_id),
            "kind" => fast::enumeration(e.kind),
            "at" => fast::time(e.at(self.observed_at)),
            "occurredAt" => fast::opt_time(e.occurred_at),
            "updatedAt" => fast::opt_time(e.updated_at),
            "observedAt" => fast::time(self.observed_at),
            "summary" => fast::string(e.summary()),
            "status" => fast::opt_enumeration(e.status),
            "error" => fast::opt_string(e.error.as_deref()),
            "unread" => fast::opt_bool(e.unread),
            "deleted" => Value::Boolean(e.deleted),
            "mergedIntoSourceId" => fast::opt_string(e.merged_into_source_id.as_deref()),
            _ => return None,
        })
    }

    fn render(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let e = &*self.entry;
        match field.node.name.node.as_str() {
            "sourceId" => json::write_str(out, &e.source_id),
            "summary" => json::write_str(out, e.summary()),
            "kind" => json::write_enum(out, e.kind),
            "source" => json::write_str(out, e.source.as_str()),
            "at" => json::write_time(out, Some(e.at(self.observed_at))),
            "occurredAt" => json::write_time(out, e.occurred_at),
            "updatedAt" => json::write_time(out, e.updated_at),
            _ => return fast::render_plain(self, ctx, field, out),
        }
        Some(())
    }
}

/// One page of the merged timeline of `subjects` as a connection
/// ([`crate::timeline::history::read_history`]); a failed stream adds one error carrying its
/// source.
pub async fn history_connection(
    ctx: &Context<'_>,
    field: &str,
    subjects: Vec<SubjectRef>,
    filter: HistoryFilter,
    args: PageArgs,
    integration: Option<Arc<domain::Integration>>,
) -> async_graphql::Result<Conn<HistoryEntryNode>> {
    let rq = req(ctx)?;
    let sources = app(ctx)?.sources.clone();
    let page = read_history(
        sources,
        rq.scope.clone(),
        field,
        subjects,
        filter,
        args,
        rq.now,
    )
    .await
    .map_err(|e| e.to_graphql())?;
    report_failures(ctx, &page.failures);
    let observed_at = page.snapshot;
    let edges = page.edges.into_iter().map(|(cursor, entry)| {
        let node = HistoryEntryNode {
            entry,
            observed_at,
            integration: integration.clone(),
        };
        (cursor, node)
    });
    Ok(Conn::from_edges(
        edges.collect(),
        page.has_next,
        page.has_previous,
        None,
    ))
}
