//! The accept loop: what `axum::serve` does, plus the connection limits a gateway facing the
//! internet needs (issue 19 item 5). A client that sends half a request, or opens sockets and
//! sends nothing, must not hold descriptors until the process runs out of them:
//!
//! - `server.header_read_timeout_ms`: a request's headers must arrive within it, and an idle
//!   keep-alive connection is closed after it (hyper restarts the timer while waiting for the
//!   next request);
//! - `server.body_read_timeout_ms`: the body must arrive within it (408 otherwise);
//! - `server.max_connections`: beyond it, new connections wait in the listen backlog until a
//!   slot frees, instead of failing with "Too many open files" for everyone;
//! - accept errors (descriptor exhaustion) are logged and retried after a pause, never fatal.

use crate::config::ServerConfig;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The connection limits of `[server]`.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_config(server: &ServerConfig) -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(server.body_read_timeout_ms),
            max_connections: server.max_connections,
        }
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then let open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE/ENFILE and aborted handshakes: pause instead of spinning or dying.
                    tracing::warn!(error = %err, "accept failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        let wait = limits.header_read_timeout;
        let body_timeout = limits.body_read_timeout;
        tokio::spawn(async move {
            // hyper's header timer starts once it knows the protocol; until then a socket that
            // sends nothing (or a lone byte) would be held forever.
            if !protocol_known(&stream, wait).await {
                drop(permit);
                return;
            }
            let service = TowerToHyperService::new(
                tower::ServiceBuilder::new()
                    // The peer address, for per-client rate limits (`server::rate_limit::Peer`).
                    .map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                        request
                            .extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        request
                    })
                    .layer(RequestBodyTimeoutLayer::new(body_timeout))
                    .service(router),
            );
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            // Errors here are the client's (resets, timeouts, malformed HTTP): nothing to report.
            let _ = watcher.watch(connection).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The HTTP/2 prior-knowledge preface `auto` looks for.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether enough bytes arrive within `wait` to tell HTTP/1 from HTTP/2 (without consuming
/// them): the first byte that differs from the HTTP/2 preface, or the whole preface.
async fn protocol_known(stream: &tokio::net::TcpStream, wait: Duration) -> bool {
    let probe = async {
        let mut buf = [0u8; 24];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if n >= H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
                return Some(());
            }
            // A prefix of the preface so far: wait for more bytes.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    matches!(tokio::time::timeout(wait, probe).await, Ok(Some(())))
}
