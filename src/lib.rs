//! Chronograph: one GraphQL graph over the history that integration platforms keep.

pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod redact;
pub mod schema;
pub mod server;
pub mod sources;
pub mod suggest;
pub mod telemetry;
pub mod timeline;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Build the whole HTTP application for a configuration: sources, schema, routes.
pub fn build_app(config: &config::Config) -> Result<axum::Router, error::SourceError> {
    let metrics = Arc::new(metrics::Metrics::default());
    for secret in config.secrets() {
        redact::remember_configured(&secret);
    }
    let sources = sources::Sources::from_config(&config.sources, &config.cache, metrics.clone())?;
    let app = Arc::new(schema::context::AppState {
        sources,
        metrics,
        pollers: timeline::pollers::Pollers::new(config.server.max_pollers),
    });
    Ok(server::router(config, app))
}

/// Bind the listen address before anything says where to connect. A failure names the address
/// and what chose it (`--listen`, `server.listen in chronograph.toml`,
/// `CHRONOGRAPH_SERVER__LISTEN`): "Address already in use" alone does not say which.
pub async fn bind(addr: SocketAddr, chosen_by: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {addr} ({chosen_by}): {err}"))
}

/// Serve a loaded configuration on a bound listener until Ctrl-C / SIGTERM, logging one line
/// when shutdown starts and one when it is over.
pub async fn serve(config: config::Config, listener: TcpListener) -> anyhow::Result<()> {
    let app = build_app(&config).map_err(|e| anyhow::anyhow!(e.message))?;
    tracing::info!(addr = %listener.local_addr()?, sources = ?config_sources(&config), "chronograph listening");
    let started = Arc::new(std::sync::OnceLock::new());
    let shutdown = {
        let started = started.clone();
        async move {
            let signal = shutdown_signal().await;
            let _ = started.set(std::time::Instant::now());
            tracing::info!("{signal} received: shutting down, finishing the requests in flight");
        }
    };
    let limits = server::listen::ConnectionLimits::from_config(&config.server);
    server::listen::serve(listener, app, limits, shutdown).await?;
    if let Some(started) = started.get() {
        let ms = started.elapsed().as_millis();
        tracing::info!("shutdown complete in {ms} ms");
    }
    Ok(())
}

fn config_sources(config: &config::Config) -> Vec<&'static str> {
    domain::Source::ALL
        .into_iter()
        .filter(|s| config.sources.get(*s).is_some())
        .map(domain::Source::as_str)
        .collect()
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => "SIGINT",
        _ = term => "SIGTERM",
    }
}
