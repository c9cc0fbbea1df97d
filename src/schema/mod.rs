//! The GraphQL schema (DESIGN.md §2): types, roots and limits. GraphQL only, no HTTP.

pub mod connection;
pub mod context;
pub mod fast;
pub mod guard;
pub mod json;
pub mod limits;
pub mod messages;
pub mod mutation;
pub mod node;
pub mod order;
pub mod prepared;
pub mod query;
pub mod scalars;
pub mod types;

use crate::config::ServerConfig;
use async_graphql::{Schema, SchemaBuilder};
use context::AppState;
use std::sync::Arc;

/// The Chronograph schema type.
pub type ChronoSchema = Schema<query::Query, mutation::Mutation, query::Subscription>;

fn builder() -> SchemaBuilder<query::Query, mutation::Mutation, query::Subscription> {
    Schema::build(query::Query, mutation::Mutation, query::Subscription)
        .register_output_type::<node::Node>()
        .enable_federation()
}

/// Build the executable schema with the configured limits.
pub fn build_schema(state: Arc<AppState>, server: &ServerConfig) -> ChronoSchema {
    build_with(state, server, Some(guard::Guard::new(server)))
}

/// The schema with the guard as an extension (WebSocket) and the same schema without any
/// extension, which HTTP runs with the guard's checks around it ([`guard::Guarded`]).
pub fn build_guarded(state: Arc<AppState>, server: &ServerConfig) -> guard::Guarded {
    let guard = guard::Guard::new(server);
    guard::Guarded::new(
        build_with(state.clone(), server, Some(guard.clone())),
        build_with(state, server, None),
        guard,
    )
}

/// The schema; with the guard, also the validation cache of persisted documents (both are
/// extensions, so the schema without them has none at all).
fn build_with(
    state: Arc<AppState>,
    server: &ServerConfig,
    guard: Option<guard::Guard>,
) -> ChronoSchema {
    let declared = state.sources.declared();
    crate::domain::with_schema_sources(&declared, || build_with_sources(state, server, guard))
}

fn build_with_sources(
    state: Arc<AppState>,
    server: &ServerConfig,
    guard: Option<guard::Guard>,
) -> ChronoSchema {
    let state_metrics = state.metrics.clone();
    let mut schema = builder()
        .data(state)
        .limit_depth(server.max_depth)
        .limit_complexity(server.max_complexity)
        .limit_recursive_depth(64)
        .limit_directives(50);
    // With the guard come the other extensions: persisted documents' validation cache. The
    // schema without them is HTTP's fast path for everything else (guard::Guarded).
    if let Some(guard) = guard {
        schema = schema
            .extension(guard)
            .extension(prepared::ValidationCache::new(state_metrics));
    }
    if !server.introspection {
        schema = schema.disable_introspection();
    }
    if !server.suggestions {
        schema = schema.disable_suggestions();
    }
    schema.finish()
}

/// The SDL clients and `schema/schema.graphql` see (the built-in sources only).
pub fn sdl() -> String {
    sdl_for(&[], false)
}

/// The Federation v2 subgraph SDL (what `_service { sdl }` returns), for composing
/// Chronograph into a supergraph with a composition tool.
pub fn federation_sdl() -> String {
    sdl_for(&[], true)
}

/// The SDL of a configuration with `declared` sources in its `Source` enum
/// (`chronograph schema --config FILE`); Federation v2 with `federation`.
pub fn sdl_for(declared: &[crate::domain::Source], federation: bool) -> String {
    crate::domain::with_schema_sources(declared, || {
        let schema = builder().finish();
        match federation {
            true => schema.sdl_with_options(async_graphql::SDLExportOptions::new().federation()),
            false => schema.sdl(),
        }
    })
}
