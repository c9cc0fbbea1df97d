//! The HTTP surface (DESIGN.md §7): GraphQL over HTTP, GraphiQL, graphql-ws, health.

mod graphql;
mod limits;

use crate::config::Config;
use crate::schema::context::AppState;
use crate::schema::{build_schema, ChronoSchema};
use async_graphql_axum::GraphQLSubscription;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};

/// Everything a handler needs.
#[derive(Clone)]
pub struct ServerState {
    pub schema: ChronoSchema,
    pub app: Arc<AppState>,
    pub api_keys: Arc<Vec<SecretString>>,
    pub max_batch: usize,
    pub max_aliases: usize,
    pub introspection: bool,
    pub deadline: Duration,
    pub graphiql: bool,
}

impl ServerState {
    /// Whether an `Authorization` header value carries one of the configured API keys.
    fn authorised(&self, header_value: Option<&str>) -> bool {
        if self.api_keys.is_empty() {
            return true;
        }
        let Some(token) = header_value.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        self.api_keys
            .iter()
            .any(|k| constant_time_eq(k.expose_secret().as_bytes(), token.trim().as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Build the router for a loaded configuration and its sources.
pub fn router(config: &Config, app: Arc<AppState>) -> Router {
    let schema = build_schema(app.clone(), &config.server);
    let state = ServerState {
        schema: schema.clone(),
        app,
        api_keys: Arc::new(config.server.api_keys.clone()),
        max_batch: config.server.max_batch,
        max_aliases: config.server.max_aliases,
        introspection: config.server.introspection,
        deadline: Duration::from_millis(config.server.request_timeout_ms),
        graphiql: config.server.graphiql,
    };
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route_service("/graphql/ws", GraphQLSubscription::new(schema))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
        .layer(cors)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once the config is loaded; lists each source's health as last observed.
async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    let sources: Vec<serde_json::Value> = state
        .app
        .sources
        .configured()
        .into_iter()
        .map(|source| {
            let last_error = state
                .app
                .sources
                .get(source)
                .ok()
                .and_then(|s| s.upstream.as_ref())
                .and_then(|u| u.stats().last_error());
            serde_json::json!({
                "source": source.as_str(),
                "healthy": last_error.is_none(),
                "breaker": "CLOSED",
                "lastError": last_error,
            })
        })
        .collect();
    (
        StatusCode::OK,
        Json(serde_json::json!({ "status": "ready", "sources": sources })),
    )
}
