//! The HTTP surface (DESIGN.md §7): GraphQL over HTTP, GraphiQL, graphql-ws, health.

mod graphql;
pub mod listen;
pub mod persisted;
pub mod playground;
pub mod rate_limit;
mod ws;

use crate::config::Config;
use crate::error::SourceError;
use crate::schema::context::AppState;
use crate::schema::guard::Guarded;
use crate::schema::{build_guarded, ChronoSchema};
use crate::upstream::resilience::BreakerState;
use crate::upstream::shared::SharedStore;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};
use tracing::Instrument;

/// Everything a handler needs.
#[derive(Clone)]
pub struct ServerState {
    /// The schema with the guard as its extension (WebSocket).
    pub schema: ChronoSchema,
    /// The same schema as HTTP runs it (the guard around it, not inside).
    pub http: Guarded,
    pub app: Arc<AppState>,
    pub api_keys: Arc<Vec<SecretString>>,
    pub max_batch: usize,
    /// Run identical concurrent queries from the same caller once.
    pub dedupe: bool,
    pub inflight: Arc<std::sync::Mutex<std::collections::HashMap<u64, graphql::SharedOutcome>>>,
    /// Verdicts of Chronograph's own document checks, by document text.
    pub inspected: moka::sync::Cache<u64, graphql::Inspection>,
    pub deadline: Duration,
    pub graphiql: bool,
    /// Largest WebSocket message (the body limit).
    pub body_limit: usize,
    pub max_subscriptions: usize,
    pub ws_init_timeout: Duration,
    /// Trusted documents and automatic persisted queries.
    pub persisted: Arc<persisted::PersistedStore>,
    /// `[server.rate_limit]`, when set.
    pub rate_limit: Option<Arc<rate_limit::RateLimiter>>,
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
pub fn router(config: &Config, app: Arc<AppState>) -> Result<Router, SourceError> {
    let http = build_guarded(app.clone(), &config.server);
    let persisted = persisted::PersistedStore::from_config(&config.server, app.metrics.clone())
        .map_err(|reason| SourceError::internal(format!("server.persisted_documents: {reason}")))?;
    let rate_limit = match &config.server.rate_limit {
        Some(limit) => {
            let shared = SharedStore::from_config(&config.cache, app.metrics.clone())?;
            Some(Arc::new(rate_limit::RateLimiter::new(
                limit,
                shared,
                app.metrics.clone(),
            )))
        }
        None => None,
    };
    let state = ServerState {
        schema: http.schema().clone(),
        http,
        app,
        api_keys: Arc::new(config.server.api_keys.clone()),
        max_batch: config.server.max_batch,
        dedupe: config.server.dedupe_requests,
        inflight: Default::default(),
        inspected: moka::sync::Cache::new(1_000),
        deadline: Duration::from_millis(config.server.request_timeout_ms),
        graphiql: config.server.graphiql,
        body_limit: config.server.body_limit_bytes,
        max_subscriptions: config.server.max_subscriptions_per_connection,
        ws_init_timeout: Duration::from_millis(config.server.ws_init_timeout_ms),
        persisted: Arc::new(persisted),
        rate_limit,
    };
    // Browsers may send the callers' own vendor credentials too (multi-tenant front ends).
    let allowed_headers: Vec<header::HeaderName> =
        [header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT]
            .into_iter()
            .chain(
                state
                    .app
                    .sources
                    .credential_headers()
                    .iter()
                    .filter_map(|h| header::HeaderName::from_bytes(h.as_bytes()).ok()),
            )
            .collect();
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(allowed_headers)
        .max_age(Duration::from_secs(600));
    let mut routes = Router::new();
    if config.server.graphiql {
        routes = routes
            .route("/", get(playground::root))
            .route(playground::PAGE, get(playground_page))
            .route("/playground/assets/{name}", get(playground::asset));
    }
    Ok(routes
        .route(
            "/graphql",
            get(graphql::get_graphql)
                .post(graphql::post_graphql)
                .fallback(graphql::method_not_allowed),
        )
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
        .layer(cors)
        .with_state(state))
}

async fn playground_page(State(state): State<ServerState>) -> axum::response::Response {
    playground::page_response(!state.api_keys.is_empty())
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once the config is loaded and not every configured source has an open breaker;
/// lists each source's health as last observed, as states and codes (never upstream text).
async fn readyz(State(state): State<ServerState>) -> impl IntoResponse {
    let health = state.app.sources.health();
    let sources: Vec<serde_json::Value> = health
        .iter()
        .map(|h| {
            serde_json::json!({
                "source": h.source.as_str(),
                "healthy": h.healthy,
                "breaker": h.breaker.as_str(),
                // States and codes only: /readyz needs no API key, so no upstream text.
                "lastErrorCode": h.last_error_code.map(|c| c.as_str()),
                "retryAfterSeconds": h.retry_after_seconds,
            })
        })
        .collect();
    let all_open = !health.is_empty() && health.iter().all(|h| h.breaker == BreakerState::Open);
    let (status, word) = if all_open {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else {
        (StatusCode::OK, "ready")
    };
    (
        status,
        Json(serde_json::json!({ "status": word, "sources": sources })),
    )
}

/// Prometheus text exposition.
async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let breakers: Vec<_> = state
        .app
        .sources
        .health()
        .into_iter()
        .map(|h| (h.source, h.breaker.as_str()))
        .collect();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state
            .app
            .metrics
            .render(&breakers, state.app.pollers.running()),
    )
}

/// Count and time every request for `/metrics`, and wrap it in a tracing span.
async fn observe(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let path = match request.uri().path() {
        p @ ("/graphql" | "/graphql/ws" | "/healthz" | "/readyz" | "/metrics" | "/playground") => {
            p.to_string()
        }
        p if p.starts_with("/playground/assets/") => "/playground/assets".to_string(),
        _ => "other".to_string(),
    };
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("request", %method, path = %path);
    let response = next.run(request).instrument(span).await;
    state
        .app
        .metrics
        .request(&path, response.status().as_u16(), started.elapsed());
    response
}
