//! Per-request state handed to resolvers: the request scope (de-duplication and warnings), the
//! walk's snapshot time and the DataLoaders.

use crate::domain::{CompactString, Flow, Source};
use crate::error::{SharedError, SourceError};
use crate::sources::Sources;
use crate::upstream::{CallerCredentials, RequestScope};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::Context;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Application-wide state, stored as schema data.
pub struct AppState {
    pub sources: Arc<Sources>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub pollers: crate::timeline::pollers::Pollers,
}

/// Per-request state, stored as request data by the HTTP handler.
pub struct RequestCtx {
    pub scope: Arc<RequestScope>,
    /// When this request started: the snapshot of walks that begin here.
    pub now: DateTime<Utc>,
    pub flows: DataLoader<FlowsLoader>,
}

impl RequestCtx {
    /// Fresh state for one request whose upstream calls must finish by `deadline`, made with
    /// the caller's own vendor credentials where it sent them.
    pub fn new(
        app: &Arc<AppState>,
        deadline: std::time::Instant,
        credentials: CallerCredentials,
    ) -> Self {
        let scope = RequestScope::for_caller(Some(deadline), credentials);
        RequestCtx {
            flows: DataLoader::new(
                FlowsLoader {
                    // The application state by reference count: no copy of the sources'
                    // maps per request.
                    app: app.clone(),
                    scope: scope.clone(),
                },
                tokio::spawn,
            ),
            scope,
            now: Utc::now(),
        }
    }
}

/// Batches `Integration.flows` of every integration in a request into one call to the
/// source's `flows` (which picks per-integration or bulk routes).
pub struct FlowsLoader {
    app: Arc<AppState>,
    scope: Arc<RequestScope>,
}

impl Loader<(Source, CompactString)> for FlowsLoader {
    type Value = Arc<Vec<Arc<Flow>>>;
    type Error = SharedError;

    async fn load(
        &self,
        keys: &[(Source, CompactString)],
    ) -> Result<HashMap<(Source, CompactString), Self::Value>, Self::Error> {
        let mut by_source: HashMap<Source, Vec<CompactString>> = HashMap::new();
        for (source, id) in keys {
            by_source.entry(*source).or_default().push(id.clone());
        }
        let mut out = HashMap::new();
        for (source, ids) in by_source {
            let Some(flows) = self
                .app
                .sources
                .get(source)
                .map_err(Arc::new)?
                .flows
                .clone()
            else {
                continue;
            };
            for (id, list) in flows.flows(&self.scope, &ids).await? {
                out.insert((source, id), Arc::new(list));
            }
        }
        Ok(out)
    }
}

/// The application state of a resolver's schema.
pub fn app<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<Arc<AppState>>()
        .map(|a| a.as_ref())
        .map_err(|_| SourceError::internal("application state missing").to_graphql())
}

/// The per-request state of a resolver.
pub fn req<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestCtx> {
    ctx.data::<RequestCtx>()
        .map_err(|_| SourceError::internal("request state missing").to_graphql())
}

/// Report a source failure on the current field without failing it (DESIGN.md §10 partial
/// results): the error carries the field's path, code and source.
pub fn report(ctx: &Context<'_>, err: &SourceError) {
    let server_error = err.to_graphql().into_server_error(ctx.item.pos);
    ctx.add_error(ctx.set_error_path(server_error));
}

/// Report the failures of a merged read on the current field, one error per (source, code):
/// ten subjects of one failing source make one error, not ten.
pub fn report_failures(ctx: &Context<'_>, failures: &[(usize, SharedError)]) {
    let mut reported = Vec::new();
    for (_, err) in failures {
        if !reported.contains(&(err.source, err.code)) {
            reported.push((err.source, err.code));
            report(ctx, err);
        }
    }
}
