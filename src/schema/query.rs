//! `Query` and `Subscription` roots.

use super::connection::{positional, HistoryEntryConnection, IntegrationConnection};
use super::context::{app, report, report_failures, req};
use super::fast::Fast;
use super::node::{resolve, Node};
use super::types::{
    history_connection, ConnectionNode, FlowNode, HistoryEntryNode, HistoryFilterInput,
    HistorySubject, IntegrationNode, TeamNode,
};
use crate::domain::{Source, SubjectRef};
use crate::error::{gql, SourceError};
use crate::timeline::cursor::fingerprint;
use crate::timeline::engine;
use crate::timeline::PageArgs;
use crate::upstream::resilience::BreakerState as Breaker;
use crate::upstream::RequestScope;
use async_graphql::{Context, Enum, Object, SimpleObject, Subscription, ID};
use futures::Stream;
use std::sync::Arc;

/// Most ids one `nodes` call may resolve.
pub const MAX_NODES: usize = 100;

/// Circuit-breaker state of a source.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Health of one configured source.
#[derive(SimpleObject, Clone)]
pub struct SourceStatus {
    pub source: Source,
    pub healthy: bool,
    pub breaker: BreakerState,
    pub last_error: Option<String>,
    pub rate_limit_remaining: Option<i32>,
    pub retry_after_seconds: Option<i32>,
}

/// Entries newer than a `since` token, and the token for the next call.
#[derive(SimpleObject, Clone)]
pub struct ChangeSet {
    pub entries: Vec<HistoryEntryNode>,
    pub next_since: String,
    pub complete: bool,
    pub warnings: Vec<String>,
}

/// The query root.
pub struct Query;

#[Object]
impl Query {
    /// Fetch any object by its global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        resolve(ctx, &id).await
    }

    /// Fetch up to 100 objects by global id; unknown ones are null.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(SourceError::bad_input(format!(
                "`nodes` takes at most {MAX_NODES} ids, got {}",
                ids.len()
            ))
            .to_graphql());
        }
        let lookups = ids.iter().map(|id| resolve(ctx, id));
        let results = futures::future::join_all(lookups).await;
        let mut out = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(node) => out.push(node),
                Err(err) => {
                    ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    /// Integrations of one source, or of every configured source in enum order.
    async fn integrations(
        &self,
        ctx: &Context<'_>,
        source: Option<Source>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Fast<IntegrationConnection>> {
        let fp = fingerprint(&["Query.integrations", source.map_or("ALL", Source::as_str)]);
        let request = PageArgs {
            first,
            after,
            last,
            before,
        }
        .validate(&fp)
        .map_err(|e| e.to_graphql())?;
        let rq = req(ctx)?;
        let (listing, failures) = app(ctx)?
            .sources
            .list_integrations(&rq.scope, source, request.items_needed())
            .await
            .map_err(|e| e.to_graphql())?;
        for err in &failures {
            report(ctx, err);
        }
        let snapshot = request
            .cursor
            .as_ref()
            .map_or(rq.now.timestamp_millis(), |c| c.snapshot_ms);
        Ok(positional(
            &listing.items,
            listing.complete,
            &request,
            &fp,
            snapshot,
            |i| &i.source_id,
            |i| IntegrationNode(i.clone()),
        )
        .into())
    }

    /// One integration; null when the source does not know the id.
    async fn integration(
        &self,
        ctx: &Context<'_>,
        source: Source,
        #[graphql(validator(max_length = 512))] source_id: String,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        let rq = req(ctx)?;
        let set = app(ctx)?.sources.get(source).map_err(|e| e.to_graphql())?;
        let Some(src) = &set.integrations else {
            return Ok(None);
        };
        Ok(src
            .integration(&rq.scope, &source_id)
            .await
            .map_err(gql)?
            .map(IntegrationNode))
    }

    /// One team (TRUTO); other sources have no teams.
    async fn team(
        &self,
        ctx: &Context<'_>,
        source: Source,
        #[graphql(validator(max_length = 512))] source_id: String,
    ) -> async_graphql::Result<Option<TeamNode>> {
        if !crate::sources::vendor(source).teams {
            return Err(
                SourceError::bad_input(format!("{} has no teams", source.as_str())).to_graphql(),
            );
        }
        let rq = req(ctx)?;
        let set = app(ctx)?.sources.get(source).map_err(|e| e.to_graphql())?;
        let Some(src) = &set.teams else {
            return Ok(None);
        };
        Ok(src
            .team(&rq.scope, &source_id)
            .await
            .map_err(gql)?
            .map(TeamNode))
    }

    /// The merged timeline of any mix of subjects, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        subjects: Vec<HistorySubject>,
        filter: Option<HistoryFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Fast<HistoryEntryConnection>> {
        let subjects: Vec<SubjectRef> = subjects.into_iter().map(Into::into).collect();
        history_connection(
            ctx,
            "Query.history",
            subjects,
            filter.map(Into::into).unwrap_or_default(),
            PageArgs {
                first,
                after,
                last,
                before,
            },
            None,
        )
        .await
        .map(Into::into)
    }

    /// Entries newer than `since`, for syncing a client-side store: `since` is null (the last
    /// 24 hours), an RFC 3339 datetime, or the `nextSince` of the previous call. Call again with
    /// `nextSince` to get only what is new; when `complete` is false (a source failed or a cap
    /// stopped the read) call again with the same `since`.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        subjects: Vec<HistorySubject>,
        since: Option<String>,
    ) -> async_graphql::Result<ChangeSet> {
        let rq = req(ctx)?;
        let sources = &app(ctx)?.sources;
        let subjects = engine::resolve_subjects(sources, &rq.scope, subjects_of(subjects))
            .await
            .map_err(|e| e.to_graphql())?;
        let marks =
            engine::start_marks(&subjects, since.as_deref(), rq.now).map_err(|e| e.to_graphql())?;
        let read = engine::read_changes(sources, &rq.scope, &subjects, marks, rq.now).await;
        report_failures(ctx, &read.failures);
        Ok(ChangeSet {
            entries: read
                .entries
                .into_iter()
                .map(|entry| HistoryEntryNode::new(Arc::new(entry), rq.now))
                .collect(),
            next_since: read.next.encode(),
            complete: read.complete,
            warnings: rq.scope.warnings(),
        })
    }

    /// Federation: `Integration` by `@key(fields: "id")`. Like every entity lookup, an id
    /// that cannot be resolved (malformed, of an unconfigured source, or its source failing)
    /// is `null` at its own place in `_entities` with an error there, so the other
    /// representations of the same batch keep their data.
    #[graphql(entity)]
    async fn find_integration_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        Ok(match entity(ctx, resolve(ctx, &id).await) {
            Some(Node::Integration(node)) => Some(node),
            _ => None,
        })
    }

    /// Federation: `Flow` by `@key(fields: "id")`.
    #[graphql(entity)]
    async fn find_flow_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<FlowNode>> {
        Ok(match entity(ctx, resolve(ctx, &id).await) {
            Some(Node::Flow(node)) => Some(node),
            _ => None,
        })
    }

    /// Federation: `Connection` by `@key(fields: "id")`.
    #[graphql(entity)]
    async fn find_connection_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ConnectionNode>> {
        Ok(match entity(ctx, resolve(ctx, &id).await) {
            Some(Node::Connection(node)) => Some(node),
            _ => None,
        })
    }

    /// Federation: `Team` by `@key(fields: "id")`.
    #[graphql(entity)]
    async fn find_team_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<TeamNode>> {
        Ok(match entity(ctx, resolve(ctx, &id).await) {
            Some(Node::Team(node)) => Some(node),
            _ => None,
        })
    }

    /// Federation: `HistoryEntry` by `@key(fields: "id")`.
    #[graphql(entity)]
    async fn find_history_entry_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<HistoryEntryNode>> {
        Ok(match entity(ctx, resolve(ctx, &id).await) {
            Some(Node::HistoryEntry(node)) => Some(node),
            _ => None,
        })
    }

    /// Health of every configured source: breaker state, last error, rate-limit hints.
    async fn sources(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SourceStatus>> {
        Ok(app(ctx)?
            .sources
            .health()
            .into_iter()
            .map(|h| SourceStatus {
                source: h.source,
                healthy: h.healthy,
                breaker: match h.breaker {
                    Breaker::Closed => BreakerState::Closed,
                    Breaker::Open => BreakerState::Open,
                    Breaker::HalfOpen => BreakerState::HalfOpen,
                },
                last_error: h.last_error,
                rate_limit_remaining: h
                    .rate_limit_remaining
                    .map(|n| n.clamp(0, i64::from(i32::MAX)) as i32),
                retry_after_seconds: h.retry_after_seconds.map(|n| n.min(i32::MAX as u64) as i32),
            })
            .collect())
    }
}

/// The subjects as the engine takes them.
fn subjects_of(subjects: Vec<HistorySubject>) -> Vec<SubjectRef> {
    subjects.into_iter().map(Into::into).collect()
}

/// The subscription root (graphql-ws at `/graphql/ws`).
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// New entries of the given subjects as they are observed, oldest first. Driven by polling
    /// the change feed at each source's `poll_interval_ms`; every subscriber of the same
    /// subjects shares one poller.
    async fn history_added(
        &self,
        ctx: &Context<'_>,
        subjects: Vec<HistorySubject>,
    ) -> async_graphql::Result<impl Stream<Item = HistoryEntryNode>> {
        let state = app(ctx)?;
        let subjects =
            engine::checked_subjects(subjects_of(subjects)).map_err(|e| e.to_graphql())?;
        for subject in &subjects {
            state
                .sources
                .get(subject.source())
                .map_err(|e| e.to_graphql())?;
        }
        // The connection's caller credentials (set at `connection_init`); none over other
        // transports.
        let credentials = ctx
            .data_opt::<crate::upstream::CallerCredentials>()
            .cloned()
            .unwrap_or_default();
        let scope = RequestScope::for_caller(None, credentials.clone());
        for subject in &subjects {
            if let Some(upstream) = state
                .sources
                .get(subject.source())
                .ok()
                .and_then(|set| set.upstream.as_ref())
            {
                upstream
                    .caller_credential(&scope)
                    .map_err(|e| e.to_graphql())?;
            }
        }
        let subjects = engine::resolve_subjects(&state.sources, &scope, subjects)
            .await
            .map_err(|e| e.to_graphql())?;
        let (poller, receiver) = state
            .pollers
            .join(&state.sources, subjects, credentials)
            .map_err(|full| {
                SourceError {
                    code: crate::error::ErrorCode::QueryTooComplex,
                    source: None,
                    message: format!(
                        "the gateway already runs its {} subscription pollers (server.max_pollers); subscribe to subjects already watched or retry later",
                        full.max
                    ),
                    retry_after_seconds: None,
                }
                .to_graphql()
            })?;
        let stream =
            futures::stream::unfold((receiver, poller), |(mut receiver, poller)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(entry) => {
                            let node = HistoryEntryNode::new(entry, chrono::Utc::now());
                            return Some((node, (receiver, poller)));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
        Ok(stream)
    }
}

/// An entity lookup's outcome for `_entities`: the node, or `null` with the error reported at
/// the entity's own path (async-graphql would otherwise fail the whole `_entities` list).
fn entity(ctx: &Context<'_>, found: async_graphql::Result<Option<Node>>) -> Option<Node> {
    match found {
        Ok(node) => node,
        Err(err) => {
            let error = ctx.set_error_path(err.into_server_error(ctx.item.pos));
            ctx.add_error(error);
            None
        }
    }
}
