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

/// The hasher of internal maps keyed by call keys, URLs, ids and sources: foldhash (randomly
/// seeded, its `quality` variant) instead of std's SipHash, which cost ~5% of a fan-out query.
pub type FastHash = foldhash::quality::RandomState;

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
        sources: Arc::new(sources),
        metrics,
        pollers: timeline::pollers::Pollers::new(config.server.max_pollers),
    });
    server::router(config, app)
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
        let signal = shutdown_signal();
        async move {
            let signal = signal.await;
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
    config
        .sources
        .configured()
        .into_iter()
        .map(domain::Source::as_str)
        .collect()
}

/// One signal of a handler installed earlier; never, if installing it failed.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
pub fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    // The handlers are installed now, not when the future is first polled: a SIGTERM that
    // arrives between the first answer and that poll would otherwise kill the process.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                _ = received(int.as_mut()) => "SIGINT",
                _ = received(term.as_mut()) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    async move {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
