//! `HistoryEntry` and the timeline connection shared by `Query.history` and
//! `Integration.history`.

use super::super::connection::Conn;
use super::super::context::{report_failures, req, AppState};
use super::super::scalars::{dt, DateTime};
use super::entities::{integration_by_id, IntegrationNode};
use crate::domain::ids::{GlobalId, NodeType};
use crate::domain::{self, HistoryFilter, HistoryKind, HistoryStatus, Source, SubjectRef};
use crate::error::SourceError;
use crate::timeline::cursor::{fingerprint, Cursor};
use crate::timeline::engine;
use crate::timeline::merge::TimelineKey;
use crate::timeline::{Direction, PageArgs};
use async_graphql::{Context, Json, Object, SimpleObject, ID};
use chrono::Utc;
use serde_json::Value;
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
}

impl HistoryEntryNode {
    /// Fill in the subject's name when the caller knows it (an integration's own history).
    pub fn set_subject_name(&mut self, name: &str) {
        if self.entry.subject.name.is_none() {
            Arc::make_mut(&mut self.entry).subject.name = Some(name.to_string());
        }
    }

    /// The global id: entry id plus what is needed to read its subject again.
    pub fn global_id(entry: &domain::HistoryEntry) -> GlobalId {
        let mut parts = vec![entry.source_id.clone()];
        match &entry.subject_ref {
            SubjectRef::Integration { source_id, .. } => parts.push(source_id.clone()),
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
            source_id: a.source_id.clone(),
            name: a.name.clone(),
            email: a.email.clone(),
        })
    }
    async fn summary(&self) -> &str {
        &self.entry.summary
    }
    async fn subject(&self) -> SubjectObject {
        SubjectObject {
            kind: self.entry.subject.kind.to_string(),
            source_id: self.entry.subject.source_id.clone(),
            name: self.entry.subject.name.clone(),
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
    async fn raw(&self) -> Json<Value> {
        super::entities::raw(&self.entry.raw)
    }
}

/// Read one page of the merged timeline of `subjects` (DESIGN.md §3): every stream is asked
/// for at most the page size beyond the cursor's key, concurrently; a failed stream costs only
/// its own entries and adds one error carrying its source.
pub async fn history_connection(
    ctx: &Context<'_>,
    field: &str,
    subjects: Vec<SubjectRef>,
    filter: HistoryFilter,
    args: PageArgs,
) -> async_graphql::Result<Conn<HistoryEntryNode>> {
    let subjects = engine::checked_subjects(subjects).map_err(|e| e.to_graphql())?;
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since >= until {
            return Err(
                SourceError::bad_input("`filter.since` must be before `filter.until`").to_graphql(),
            );
        }
    }
    let canonical: Vec<String> = subjects.iter().map(SubjectRef::canonical).collect();
    let mut parts: Vec<&str> = vec![field, &canonical[0]];
    parts.extend(canonical[1..].iter().map(String::as_str));
    let filter_text = filter.canonical();
    parts.push(&filter_text);
    let fp = fingerprint(&parts);
    let request = args.validate(&fp).map_err(|e| e.to_graphql())?;
    let rq = req(ctx)?;
    let snapshot = request
        .cursor
        .as_ref()
        .map(|c| crate::domain::datetime::from_millis(c.snapshot_ms))
        .unwrap_or(rq.now);
    let positions = match request.direction {
        Direction::Forward => engine::positions_from(request.cursor.as_ref(), subjects.len()),
        Direction::Backward => {
            let key = request
                .cursor
                .as_ref()
                .and_then(|c| TimelineKey::from_cursor(&c.key));
            vec![key; subjects.len()]
        }
    };
    // The read (upstream calls, decoding, merging) and the edges' cursors run as their own
    // task: the many history connections of one query (one per integration) then spread over
    // every worker thread instead of all running inside the one task executing the query.
    let read = {
        // The application state by `Arc`: cloning `Sources` itself would copy its maps.
        let state = ctx
            .data::<Arc<AppState>>()
            .map_err(|_| SourceError::internal("application state missing").to_graphql())?
            .clone();
        let (scope, fp) = (rq.scope.clone(), fp.clone());
        let direction = request.direction;
        let limit = request.limit;
        tokio::spawn(async move {
            let page = engine::read_page(
                &state.sources,
                &scope,
                &subjects,
                &filter,
                direction,
                positions,
                limit,
                snapshot,
            )
            .await;
            let snapshot_ms = snapshot.timestamp_millis();
            let cursors: Vec<String> = page
                .entries
                .iter()
                .map(|entry| {
                    let key = TimelineKey::of(entry, snapshot);
                    let mut cursor = Cursor::new(&fp, snapshot_ms, key.to_cursor_key());
                    if direction == Direction::Forward {
                        cursor.hints = engine::positions_after(&page, &key);
                    }
                    cursor.encode()
                })
                .collect();
            let edges: Vec<(String, HistoryEntryNode)> = cursors
                .into_iter()
                .zip(page.entries)
                .map(|(cursor, entry)| {
                    let node = HistoryEntryNode {
                        entry: Arc::new(entry),
                        observed_at: snapshot,
                    };
                    (cursor, node)
                })
                .collect();
            (edges, page.failures, page.has_more)
        })
    };
    let (edges, failures, more) = AbortOnDrop(read)
        .await
        .map_err(|_| SourceError::internal("history read failed").to_graphql())?;
    report_failures(ctx, &failures);
    let has_cursor = request.cursor.is_some();
    let (has_next, has_previous) = match request.direction {
        Direction::Forward => (more, has_cursor),
        Direction::Backward => (has_cursor, more),
    };
    Ok(Conn::from_edges(edges, has_next, has_previous, None))
}

/// A spawned task that is aborted when the future awaiting it is dropped (a request cut by its
/// deadline or a disconnecting client), so its work stops with the request.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}
