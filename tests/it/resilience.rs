//! Misbehaving upstreams: each case asserts the error code, the partial data, the number of
//! upstream attempts, and that the gateway stays healthy.

use crate::common::{assert_code, codes, only_celigo, respond, source_config, warnings, Gateway};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::fake::Fault;
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::time::Duration;

const LIST: &str = "{ integrations(source: CELIGO, first: 2) { nodes { name } } sources { source healthy breaker } }";

/// A gateway with Celigo as its only source (so source lists and readiness are about it).
async fn gateway(tweak: impl FnOnce(&mut chronograph::config::SourceConfig)) -> Gateway {
    Gateway::start_with(CeligoFakeConfig::default(), 10, |config| {
        tweak(only_celigo(config))
    })
    .await
}

async fn healthz(gw: &Gateway) -> u16 {
    gw.get("/healthz").await.status().as_u16()
}

fn node_count(response: &Value) -> usize {
    response["data"]["integrations"]["nodes"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_503_burst_is_retried_and_the_query_succeeds() {
    let gw = gateway(|_| {}).await;
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), Some(2));
    let response = gw.query(LIST, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(node_count(&response), 2);
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        3,
        "two failures, one success"
    );
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_retries() {
    let gw = gateway(|c| c.retries = Some(1)).await;
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(502, &[], ""), None);
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        response["data"]["sources"][0]["source"], "CELIGO",
        "other fields still answer"
    );
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        2,
        "one attempt plus one retry"
    );
    assert_eq!(healthz(&gw).await, 200);
}

#[tokio::test]
async fn a_short_retry_after_is_honoured_and_a_long_one_is_reported() {
    let gw = gateway(|_| {}).await;
    let limited = |secs: &str| {
        respond(
            429,
            &[("Retry-After", secs)],
            include_str!("../fixtures/celigo/error.429.json"),
        )
    };
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", limited("1"), Some(1));
    let started = std::time::Instant::now();
    let response = gw.query(LIST, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(gw.celigo_calls("/v1/integrations"), 2);

    gw.reset_calls();
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", limited("30"), None);
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_RATE_LIMITED");
    assert_eq!(response["errors"][0]["extensions"]["retryAfterSeconds"], 30);
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        1,
        "no retry when the wait exceeds the budget"
    );
    let sources = gw
        .query("{ sources { retryAfterSeconds } }", json!({}))
        .await;
    assert!(
        sources["data"]["sources"][0]["retryAfterSeconds"]
            .as_i64()
            .unwrap_or(0)
            >= 28,
        "{sources}"
    );
}

#[tokio::test]
async fn the_breaker_opens_and_stops_calling_a_broken_source() {
    let gw = gateway(|c| c.retries = Some(0)).await;
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), None);
    for _ in 0..5 {
        let response = gw.query(LIST, json!({})).await;
        assert_code(&response, "UPSTREAM_UNAVAILABLE");
    }
    assert_eq!(gw.celigo_calls("/v1/integrations"), 5);
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_UNAVAILABLE");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("circuit open"),
        "{response}"
    );
    assert!(response["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_i64()
        .is_some());
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        5,
        "an open breaker makes no call"
    );
    assert_eq!(
        response["data"]["sources"],
        json!([{ "source": "CELIGO", "healthy": false, "breaker": "OPEN" }])
    );
    let ready = gw.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503, "the only source is open");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("chronograph_breaker_state{source=\"CELIGO\"} 2"),
        "{metrics}"
    );
    assert_eq!(healthz(&gw).await, 200);
}

#[tokio::test]
async fn garbage_truncated_cut_and_huge_bodies_are_bad_responses_and_not_retried() {
    let huge = format!(
        "[{}]",
        vec!["{\"_id\":\"65f0c2d1a4b7e9001c3d8e10\"}"; 1_200_000].join(",")
    );
    let cases = [Fault::Garbage, Fault::Truncated, respond(200, &[], huge)];
    for fault in cases {
        let gw = gateway(|_| {}).await;
        gw.upstreams
            .celigo
            .control
            .inject("/v1/integrations", fault.clone(), None);
        let response = gw.query(LIST, json!({})).await;
        assert_eq!(
            codes(&response),
            vec!["UPSTREAM_BAD_RESPONSE"],
            "{fault:?}: {response}"
        );
        assert_eq!(
            gw.celigo_calls("/v1/integrations"),
            1,
            "{fault:?}: a bad body is not retried"
        );
        assert!(response["data"]["sources"].is_array());
        assert_eq!(healthz(&gw).await, 200);
    }
}

#[tokio::test]
async fn a_slow_drip_times_out_within_the_per_call_timeout() {
    let gw = gateway(|c| {
        c.timeout_ms = Some(300);
        c.retries = Some(1);
    })
    .await;
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        Fault::Drip(Duration::from_millis(50)),
        None,
    );
    let started = std::time::Instant::now();
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_TIMEOUT");
    assert_eq!(gw.celigo_calls("/v1/integrations"), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_request_deadline_bounds_retries_and_slow_upstreams() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 10, |config| {
        config.server.request_timeout_ms = 700;
        source_config(config, Source::Celigo).timeout_ms = Some(5_000);
    })
    .await;
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        Fault::Delay(Duration::from_secs(3)),
        None,
    );
    let started = std::time::Instant::now();
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline cut the call short"
    );
    assert!(
        response["data"]["sources"].is_array(),
        "other fields still answer"
    );
}

/// A raw TCP upstream that answers every connection with `reply` and then closes it.
async fn raw_upstream(
    reply: &'static [u8],
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket.write_all(reply).await;
            drop(socket);
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_body_cut_short_by_the_connection_is_a_bad_response() {
    let (addr, accepted) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{\"_id\":\"65f0c2d1a4b7e9001c3d8e10\",\"na",
    )
    .await;
    let gw = gateway(|c| c.base_url = format!("http://{addr}")).await;
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_BAD_RESPONSE");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not retried"
    );
}

#[tokio::test]
async fn a_connection_reset_before_any_answer_is_unavailable() {
    let (addr, accepted) = raw_upstream(b"").await;
    let gw = gateway(|c| c.base_url = format!("http://{addr}")).await;
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
}

#[tokio::test]
async fn concurrent_identical_calls_share_one_upstream_call() {
    let gw = gateway(|_| {}).await;
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        Fault::Delay(Duration::from_millis(300)),
        Some(1),
    );
    let queries = (0..8).map(|_| gw.query(LIST, json!({})));
    let responses = futures::future::join_all(queries).await;
    for response in &responses {
        assert_eq!(node_count(response), 2, "{response}");
    }
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        1,
        "single flight across requests"
    );
}

#[tokio::test]
async fn the_per_source_concurrency_limit_holds() {
    let gw = gateway(|c| c.max_concurrency = Some(2)).await;
    gw.upstreams
        .celigo
        .control
        .inject("/audit", Fault::Delay(Duration::from_millis(100)), None);
    let response = gw
        .query("{ integrations(source: CELIGO, first: 10) { nodes { history(first: 1) { nodes { sourceId } } } } }", json!({}))
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        gw.celigo_calls("/v1/integrations/"),
        10,
        "one audit call per integration"
    );
    assert!(
        gw.upstreams.celigo.control.max_in_flight() <= 2,
        "{}",
        gw.upstreams.celigo.control.max_in_flight()
    );
}

#[tokio::test]
async fn the_cache_serves_repeats_and_stale_answers_when_the_upstream_fails() {
    let gw = gateway(|c| {
        c.cache_ttl_s = Some(60);
        c.stale_if_error_s = Some(600);
    })
    .await;
    let first = gw.query(LIST, json!({})).await;
    let second = gw.query(LIST, json!({})).await;
    assert_eq!(first["data"], second["data"]);
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        1,
        "the repeat was a cache hit"
    );
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("chronograph_cache_hits_total 1"),
        "{metrics}"
    );

    let gw = gateway(|c| {
        c.cache_ttl_s = Some(0);
        c.stale_if_error_s = Some(600);
        c.retries = Some(0);
    })
    .await;
    let fresh = gw.query(LIST, json!({})).await;
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), None);
    let stale = gw.query(LIST, json!({})).await;
    assert!(stale["errors"].is_null(), "{stale}");
    assert_eq!(stale["data"]["integrations"], fresh["data"]["integrations"]);
    assert!(
        warnings(&stale)
            .iter()
            .any(|w| w.contains("CELIGO is failing")),
        "{stale}"
    );
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        2,
        "ttl 0: the upstream was asked again"
    );
}

#[tokio::test]
async fn without_a_cache_every_request_goes_upstream() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 10, |config| {
        config.cache.max_bytes = 0;
        source_config(config, Source::Celigo).cache_ttl_s = Some(60);
    })
    .await;
    gw.query(LIST, json!({})).await;
    gw.query(LIST, json!({})).await;
    assert_eq!(gw.celigo_calls("/v1/integrations"), 2);
}

#[tokio::test]
async fn metrics_count_upstream_calls_by_route_and_retries() {
    let gw = gateway(|_| {}).await;
    gw.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), Some(1));
    gw.query(LIST, json!({})).await;
    let text = gw.metrics().await;
    assert!(text.contains("chronograph_upstream_calls_total{source=\"CELIGO\",route=\"/v1/integrations\",outcome=\"503\"} 1"), "{text}");
    assert!(text.contains("chronograph_upstream_calls_total{source=\"CELIGO\",route=\"/v1/integrations\",outcome=\"200\"} 1"), "{text}");
    assert!(
        text.contains("chronograph_upstream_retries_total{source=\"CELIGO\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("chronograph_http_requests_total{path=\"/graphql\",status=\"200\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn identical_concurrent_queries_share_one_execution_per_caller() {
    let gw = gateway(|_| {}).await;
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        Fault::Delay(Duration::from_millis(300)),
        Some(1),
    );
    let responses = futures::future::join_all((0..6).map(|_| gw.query(LIST, json!({})))).await;
    assert!(responses.iter().all(|r| node_count(r) == 2));
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("chronograph_requests_deduplicated_total 5"),
        "{metrics}"
    );

    // Other variables (or another caller) run on their own.
    let other = gw
        .query(
            "query($n: Int) { integrations(source: CELIGO, first: $n) { nodes { name } } }",
            json!({ "n": 1 }),
        )
        .await;
    assert_eq!(node_count(&other), 1);
}

#[tokio::test]
async fn a_redirect_to_the_same_host_is_followed() {
    let gw = gateway(|_| {}).await;
    // The first answer moves the list to where it already is: followed, one more call.
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(302, &[("location", "/v1/integrations?moved=1")], ""),
        Some(1),
    );
    let response = gw.query(LIST, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(node_count(&response), 2);
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        2,
        "the redirect, then its target"
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let gw = gateway(|_| {}).await;
    // Credentials would go with it: the answer is taken as it is.
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(
            307,
            &[("location", "http://127.0.0.2:9/v1/integrations")],
            "",
        ),
        None,
    );
    let response = gw.query(LIST, json!({})).await;
    assert_code(&response, "UPSTREAM_BAD_RESPONSE");
    assert_eq!(gw.celigo_calls("/v1/integrations"), 1, "not followed");
}
