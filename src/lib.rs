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
pub mod telemetry;
pub mod timeline;
pub mod upstream;

use std::sync::Arc;

/// Build the whole HTTP application for a configuration: sources, schema, routes.
pub fn build_app(config: &config::Config) -> Result<axum::Router, error::SourceError> {
    let metrics = Arc::new(metrics::Metrics::default());
    let sources = sources::Sources::from_config(config, metrics.clone())?;
    let app = Arc::new(schema::context::AppState {
        sources,
        metrics,
        pollers: timeline::pollers::Pollers::new(config.server.max_pollers),
    });
    Ok(server::router(config, app))
}

/// Serve a loaded configuration until Ctrl-C / SIGTERM.
pub async fn serve(config: config::Config) -> anyhow::Result<()> {
    let app = build_app(&config).map_err(|e| anyhow::anyhow!(e.message))?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr()).await?;
    tracing::info!(addr = %listener.local_addr()?, sources = ?config_sources(&config), "chronograph listening");
    let limits = server::listen::ConnectionLimits::from_config(&config.server);
    server::listen::serve(listener, app, limits, shutdown_signal()).await?;
    Ok(())
}

fn config_sources(config: &config::Config) -> Vec<&'static str> {
    domain::Source::ALL
        .into_iter()
        .filter(|s| config.sources.get(*s).is_some())
        .map(domain::Source::as_str)
        .collect()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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
        _ = ctrl_c => {},
        _ = term => {},
    }
}
