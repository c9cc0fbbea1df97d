//! OpenTelemetry export: a started `chronograph serve` with `[telemetry] otlp_endpoint` sends
//! its request and upstream-call spans to an OTLP/HTTP collector (an in-process fake here).

use crate::common::free_port;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use chronograph::demo::DemoUpstreams;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn spans_are_exported_over_otlp_http() {
    let received: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                sink.lock().expect("lock").push((kind, body.len()));
                ""
            }
        }),
    );
    let collector_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = collector_listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(collector_listener, collector).await;
    });

    let upstreams = DemoUpstreams::start().await.expect("fakes");
    let port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[telemetry]\notlp_endpoint = \"http://{collector_addr}\"\n[sources.celigo]\nbase_url = \"{}\"\ntoken = \"{}\"\n",
        upstreams.celigo.base_url, upstreams.celigo_token
    );
    let path = std::env::temp_dir().join(format!("chronograph-otlp-{}.toml", std::process::id()));
    std::fs::write(&path, config).expect("config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(["serve", "--config", path.to_str().expect("utf8")])
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .kill_on_drop(true)
        .spawn()
        .expect("gateway starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "gateway did not start");
    let response = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(r#"{"query":"{ integrations(source: CELIGO, first: 2) { nodes { name } } }"}"#)
        .send()
        .await
        .expect("query");
    assert_eq!(response.status().as_u16(), 200);
    let mut exported = Vec::new();
    for _ in 0..100 {
        exported = received.lock().expect("lock").clone();
        if !exported.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().unwrap_or_default().to_string())
        .status()
        .await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    assert!(!exported.is_empty(), "no spans reached the collector");
    assert!(
        exported
            .iter()
            .all(|(kind, len)| kind.contains("protobuf") && *len > 0),
        "{exported:?}"
    );
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "graceful shutdown with the exporter: {status:?}"
    );
}
