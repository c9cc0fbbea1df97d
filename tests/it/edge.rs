//! The production edge (issue 17): the playground served by the binary, automatic persisted
//! queries and trusted documents, per-client rate limits (local, and shared by replicas through
//! a real `redis-server`).

use crate::common::{
    assert_code, free_port, header, json_of, only_celigo, status_and_json, urlencode,
    ws_close_code, ws_connect, ws_next_json, ws_ready, ws_send, Gateway,
};
use crate::redis::RedisServer;
use chronograph::config::{Config, RateLimitConfig};
use chronograph::server::persisted::sha256_hex;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

const QUERY: &str = "{ integrations(source: CELIGO, first: 2) { nodes { name } } }";

/// A labelled counter's value in a `/metrics` text (0 when absent).
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(gw: &Gateway, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    status_and_json(gw.post(body.to_string(), headers).await).await
}

fn names(response: &Value) -> Vec<String> {
    response["data"]["integrations"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| n["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

// ---- automatic persisted queries ----

#[tokio::test]
async fn apq_round_trip_not_found_then_registered_then_served_by_hash() {
    let gw = Gateway::start().await;
    let hash = sha256_hex(QUERY);

    let (status, miss) = post(&gw, json!({ "extensions": apq(&hash) }), &[]).await;
    assert_eq!(
        status, 200,
        "application/json: a request error is still 200"
    );
    assert_code(&miss, "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(miss.get("data").is_none(), "{miss}");

    let (status, registered) = post(
        &gw,
        json!({ "query": QUERY, "extensions": apq(&hash) }),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(registered["errors"].is_null(), "{registered}");
    assert_eq!(names(&registered).len(), 2);

    for _ in 0..2 {
        let (status, hit) = post(&gw, json!({ "extensions": apq(&hash) }), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(
            hit, registered,
            "the hash alone runs the registered document"
        );
    }
    // GET, so a CDN can cache it: the query string carries only the hash.
    let url = format!(
        "{}?extensions={}",
        gw.url,
        urlencode(&apq(&hash).to_string())
    );
    let got = json_of(gw.client.get(url).send().await.expect("GET")).await;
    assert_eq!(got, registered);

    let metrics = gw.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "chronograph_persisted_documents_total{outcome=\"miss\"}"
        ),
        1
    );
    assert_eq!(
        counter(
            &metrics,
            "chronograph_persisted_documents_total{outcome=\"registered\"}"
        ),
        1
    );
    assert_eq!(
        counter(
            &metrics,
            "chronograph_persisted_documents_total{outcome=\"hit\"}"
        ),
        3,
        "two POSTs and a GET by hash"
    );
    assert!(
        counter(
            &metrics,
            "chronograph_validation_cache_total{outcome=\"hit\"}"
        ) >= 2,
        "requests by hash skip validation: {metrics}"
    );
}

#[tokio::test]
async fn apq_refuses_a_hash_that_is_not_the_querys_and_registers_nothing() {
    let gw = Gateway::start().await;
    let wrong = sha256_hex("{ somethingElse }");
    let (status, refused) = post(
        &gw,
        json!({ "query": QUERY, "extensions": apq(&wrong) }),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_code(&refused, "BAD_USER_INPUT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("provided sha does not match query"),
        "{refused}"
    );
    let (_, miss) = post(&gw, json!({ "extensions": apq(&wrong) }), &[]).await;
    assert_code(&miss, "PERSISTED_QUERY_NOT_FOUND");

    for bad in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": wrong } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let (status, response) = post(&gw, json!({ "extensions": bad }), &[]).await;
        assert_eq!(status, 200);
        assert_code(&response, "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn apq_keeps_no_document_over_the_size_cap() {
    let gw = Gateway::start_with(Default::default(), 40, |config| {
        config.server.apq_max_document_bytes = 16;
    })
    .await;
    let hash = sha256_hex(QUERY);
    let (_, ran) = post(
        &gw,
        json!({ "query": QUERY, "extensions": apq(&hash) }),
        &[],
    )
    .await;
    assert_eq!(names(&ran).len(), 2, "it still runs: {ran}");
    let (_, miss) = post(&gw, json!({ "extensions": apq(&hash) }), &[]).await;
    assert_code(&miss, "PERSISTED_QUERY_NOT_FOUND");
}

// ---- trusted documents ----

/// A manifest file (Relay / GraphQL Codegen shape) holding QUERY under a plain id and a
/// `sha256:` id; removed when dropped.
struct ManifestFile(std::path::PathBuf);

impl ManifestFile {
    fn write() -> ManifestFile {
        let path = std::env::temp_dir().join(format!(
            "chronograph-manifest-{}-{}.json",
            std::process::id(),
            free_port()
        ));
        let manifest = json!({
            "listIntegrations": QUERY,
            format!("sha256:{}", sha256_hex("{ sources { source } }")): "{ sources { source } }",
        });
        std::fs::write(&path, manifest.to_string()).expect("manifest written");
        ManifestFile(path)
    }
}

impl Drop for ManifestFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn trusted_only(manifest: &ManifestFile, introspection: bool) -> Gateway {
    let path = manifest.0.display().to_string();
    Gateway::start_with(Default::default(), 40, move |config| {
        config.server.persisted_documents = Some(path);
        config.server.persisted_only = true;
        config.server.introspection = introspection;
    })
    .await
}

#[tokio::test]
async fn persisted_only_refuses_other_documents_with_400() {
    let manifest = ManifestFile::write();
    let gw = trusted_only(&manifest, true).await;
    let other = "{ integrations(source: CELIGO, first: 3) { nodes { name } } }";
    let (status, refused) = post(&gw, json!({ "query": other }), &[]).await;
    assert_eq!(status, 400);
    assert_code(&refused, "PERSISTED_QUERY_NOT_FOUND");
    assert!(refused.get("data").is_none());

    let (status, unknown) = post(&gw, json!({ "documentId": "nope" }), &[]).await;
    assert_eq!(status, 400);
    assert_code(&unknown, "PERSISTED_QUERY_NOT_FOUND");

    // APQ cannot add documents to a trusted-only gateway.
    let hash = sha256_hex(other);
    let (status, refused) = post(
        &gw,
        json!({ "query": other, "extensions": apq(&hash) }),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_code(&refused, "PERSISTED_QUERY_NOT_FOUND");
    let (status, _) = post(&gw, json!({ "extensions": apq(&hash) }), &[]).await;
    assert_eq!(status, 400);

    // GET is held to the same rule.
    let response = gw.client.get(gw.get_url(other)).send().await.expect("GET");
    assert_eq!(response.status().as_u16(), 400);
    let metrics = gw.metrics().await;
    assert!(
        counter(
            &metrics,
            "chronograph_persisted_documents_total{outcome=\"refused\"}"
        ) >= 2,
        "{metrics}"
    );
}

#[tokio::test]
async fn persisted_only_runs_manifest_documents_by_document_id_hash_or_text() {
    let manifest = ManifestFile::write();
    let gw = trusted_only(&manifest, true).await;
    let (status, by_id) = post(&gw, json!({ "documentId": "listIntegrations" }), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(names(&by_id).len(), 2, "{by_id}");

    let sources_hash = sha256_hex("{ sources { source } }");
    for id in [format!("sha256:{sources_hash}"), sources_hash.clone()] {
        let (status, by_hash) = post(&gw, json!({ "documentId": id }), &[]).await;
        assert_eq!(status, 200);
        assert!(by_hash["data"]["sources"].is_array(), "{by_hash}");
    }
    let (_, by_apq) = post(&gw, json!({ "extensions": apq(&sha256_hex(QUERY)) }), &[]).await;
    assert_eq!(by_apq, by_id);
    let (_, by_text) = post(&gw, json!({ "query": QUERY }), &[]).await;
    assert_eq!(by_text, by_id);
    let url = format!("{}?documentId=listIntegrations", gw.url);
    let got = json_of(gw.client.get(url).send().await.expect("GET")).await;
    assert_eq!(got, by_id);
    // A batch: each operation by its own id.
    let (status, batch) = post(
        &gw,
        json!([{ "documentId": "listIntegrations" }, { "documentId": "nope" }]),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(batch[0], by_id);
    assert_code(&batch[1], "PERSISTED_QUERY_NOT_FOUND");
    // documentId and query together are ambiguous.
    let (_, both) = post(
        &gw,
        json!({ "documentId": "listIntegrations", "query": QUERY }),
        &[],
    )
    .await;
    assert_code(&both, "BAD_USER_INPUT");

    // Introspection stays governed by server.introspection (on here).
    let (status, schema) = post(
        &gw,
        json!({ "query": "{ __schema { queryType { name } } }" }),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn persisted_only_holds_over_websocket_too() {
    let manifest = ManifestFile::write();
    let gw = trusted_only(&manifest, true).await;
    let mut socket = ws_ready(&gw, Value::Null).await;
    ws_send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ sources { healthy } }" } }),
    )
    .await;
    let refused = ws_next_json(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    ws_send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe", "payload": { "documentId": "listIntegrations" } }),
    )
    .await;
    let next = ws_next_json(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(names(&next["payload"]).len(), 2, "{next}");
}

#[tokio::test]
async fn persisted_only_with_introspection_off_refuses_it() {
    let manifest = ManifestFile::write();
    let gw = trusted_only(&manifest, false).await;
    let (status, refused) = post(
        &gw,
        json!({ "query": "{ __schema { queryType { name } } }" }),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_code(&refused, "PERSISTED_QUERY_NOT_FOUND");
}

#[test]
fn config_checks_the_persisted_keys() {
    let problems = |text: &str| {
        Config::from_toml_str(text)
            .expect_err("invalid")
            .to_string()
    };
    let text = problems("[server]\npersisted_only = true\n");
    assert!(
        text.contains("server.persisted_only: needs server.persisted_documents"),
        "{text}"
    );
    let text = problems("[server]\npersisted_documents = \"/nonexistent/manifest.json\"\n");
    assert!(
        text.contains("server.persisted_documents: cannot read `/nonexistent/manifest.json`"),
        "{text}"
    );
    let text = problems("[server]\napq_max_entries = 0\n");
    assert!(
        text.contains("server.apq_max_entries: expected a whole number ≥ 1, got 0"),
        "{text}"
    );
}

// ---- rate limits ----

fn limit(per_second: u64, burst: u64) -> impl Fn(&mut Config) + Clone {
    move |config: &mut Config| {
        only_celigo(config);
        config.server.rate_limit = Some(RateLimitConfig {
            per_second,
            burst: Some(burst),
        });
    }
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_and_no_upstream_call_then_recovers() {
    // One request a second: the checks below have a whole second to run on a busy machine.
    let gw = Gateway::start_with(Default::default(), 40, limit(1, 2)).await;
    for _ in 0..2 {
        let (status, ok) = gw.query_with(QUERY, json!({}), &[]).await;
        assert_eq!(status, 200, "{ok}");
    }
    let calls = gw.celigo_calls("/v1/integrations");
    let response = gw.post(json!({ "query": QUERY }).to_string(), &[]).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    let limited = json_of(response).await;
    assert_code(&limited, "RATE_LIMITED");
    let wait = limited["errors"][0]["extensions"]["retryAfterSeconds"].as_u64();
    assert_eq!(wait, Some(1), "{limited}");
    assert!(limited.get("data").is_none());
    assert_eq!(
        gw.celigo_calls("/v1/integrations"),
        calls,
        "no upstream call"
    );

    // One interval later there is room for one more, and only one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, ok) = gw.query_with(QUERY, json!({}), &[]).await;
    assert_eq!(status, 200, "{ok}");
    let (status, _) = gw.query_with(QUERY, json!({}), &[]).await;
    assert_eq!(status, 429);

    let metrics = gw.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "chronograph_rate_limit_total{client=\"address\",outcome=\"limited\"}"
        ),
        2
    );
    assert_eq!(
        counter(
            &metrics,
            "chronograph_rate_limit_total{client=\"address\",outcome=\"allowed\"}"
        ),
        3
    );
}

#[tokio::test]
async fn each_api_key_has_its_own_limit_and_keys_never_reach_metrics() {
    let gw = Gateway::start_with(Default::default(), 40, |config| {
        limit(1, 1)(config);
        config.server.api_keys = vec![
            SecretString::from("key-one-secret"),
            SecretString::from("key-two-secret"),
        ];
    })
    .await;
    let one = [("authorization", "Bearer key-one-secret")];
    let two = [("authorization", "Bearer key-two-secret")];
    assert_eq!(gw.query_with(QUERY, json!({}), &one).await.0, 200);
    assert_eq!(gw.query_with(QUERY, json!({}), &one).await.0, 429);
    assert_eq!(gw.query_with(QUERY, json!({}), &two).await.0, 200);
    // A wrong key is refused before it is counted.
    let wrong = [("authorization", "Bearer nope")];
    assert_eq!(gw.query_with(QUERY, json!({}), &wrong).await.0, 401);
    let metrics = gw.metrics().await;
    assert!(!metrics.contains("secret"), "{metrics}");
    assert_eq!(
        counter(
            &metrics,
            "chronograph_rate_limit_total{client=\"api_key\",outcome=\"limited\"}"
        ),
        1
    );
}

#[tokio::test]
async fn a_batch_counts_each_operation() {
    let gw = Gateway::start_with(Default::default(), 40, limit(1, 3)).await;
    let batch = json!([{ "query": QUERY }, { "query": QUERY }, { "query": QUERY }]);
    let (status, _) = post(&gw, batch, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(gw.query_with(QUERY, json!({}), &[]).await.0, 429);
}

#[tokio::test]
async fn websocket_init_and_each_subscribe_count_against_the_client() {
    let gw = Gateway::start_with(Default::default(), 40, limit(1, 2)).await;
    let mut socket = ws_ready(&gw, Value::Null).await;
    ws_send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ sources { source } }" } }),
    )
    .await;
    let first = ws_next_json(&mut socket).await;
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(ws_next_json(&mut socket).await["type"], "complete");
    ws_send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ sources { source } }" } }),
    )
    .await;
    let refused = ws_next_json(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "2");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // HTTP from the same address shares the allowance, and so does a new connection_init.
    assert_eq!(gw.query_with(QUERY, json!({}), &[]).await.0, 429);
    let mut second = ws_connect(&gw).await;
    ws_send(&mut second, json!({ "type": "connection_init" })).await;
    assert_eq!(ws_close_code(&mut second).await, Some(4429));
}

#[tokio::test]
async fn two_replicas_share_one_limit_through_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let shared = move |config: &mut Config| {
        limit(1, 3)(config);
        config.cache.redis_url = Some(SecretString::from(url.clone()));
    };
    let a = Gateway::start_with(Default::default(), 40, shared.clone()).await;
    let b = a.replica(shared).await;
    assert_eq!(a.query_with(QUERY, json!({}), &[]).await.0, 200);
    assert_eq!(b.query_with(QUERY, json!({}), &[]).await.0, 200);
    assert_eq!(a.query_with(QUERY, json!({}), &[]).await.0, 200);
    // The burst of 3 is spent across both replicas.
    let (status, limited) = b.query_with(QUERY, json!({}), &[]).await;
    assert_eq!(status, 429, "{limited}");
    assert_code(&limited, "RATE_LIMITED");
    assert_eq!(a.query_with(QUERY, json!({}), &[]).await.0, 429);
    let keys = redis.command("KEYS *");
    assert!(keys.contains("chronograph:ratelimit:"), "{keys}");
    assert!(!keys.contains("127.0.0.1"), "no address in Redis: {keys}");
    for gw in [&a, &b] {
        let metrics = gw.metrics().await;
        assert_eq!(
            counter(&metrics, "chronograph_rate_limit_local_fallbacks_total"),
            0
        );
    }
}

#[tokio::test]
async fn without_redis_the_limit_holds_locally() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let gw = Gateway::start_with(Default::default(), 40, move |config| {
        limit(1, 2)(config);
        config.cache.redis_url = Some(SecretString::from(url));
        config.cache.redis_timeout_ms = 100;
    })
    .await;
    assert_eq!(gw.query_with(QUERY, json!({}), &[]).await.0, 200);
    assert_eq!(gw.query_with(QUERY, json!({}), &[]).await.0, 200);
    assert_eq!(
        gw.query_with(QUERY, json!({}), &[]).await.0,
        429,
        "never fails open"
    );
    let metrics = gw.metrics().await;
    assert!(
        counter(&metrics, "chronograph_rate_limit_local_fallbacks_total") >= 3,
        "{metrics}"
    );
}

#[test]
fn config_checks_the_rate_limit_table() {
    let problems = |text: &str| {
        Config::from_toml_str(text)
            .expect_err("invalid")
            .to_string()
    };
    let text = problems("[server.rate_limit]\nper_secnd = 5\n");
    assert!(
        text.contains(
            "server.rate_limit.per_secnd: unknown key, did you mean server.rate_limit.per_second?"
        ),
        "{text}"
    );
    let text = problems("[server.rate_limit]\nper_second = 0\nburst = -1\n");
    assert!(
        text.contains(
            "server.rate_limit.per_second: expected a whole number from 1 to 1000000, got 0"
        ),
        "{text}"
    );
    assert!(text.contains("server.rate_limit.burst"), "{text}");
    // A table without its rate is reported with every other problem of the file.
    let text = problems("[server]\npersisted_only = true\n[server.rate_limit]\nburst = 5\n");
    assert!(
        text.contains("server.rate_limit.per_second: missing (required)"),
        "{text}"
    );
    assert!(text.contains("server.persisted_only: needs"), "{text}");
    let config = Config::from_toml_str("[server.rate_limit]\nper_second = 20\n").expect("valid");
    let limit = config.server.rate_limit.expect("set");
    assert_eq!(limit.burst(), 20, "the burst defaults to the rate");
}

// ---- the playground ----

#[tokio::test]
async fn the_playground_is_served_by_the_binary_with_no_external_url() {
    let gw = Gateway::start().await;
    let page = gw.get("/playground").await;
    assert_eq!(page.status().as_u16(), 200);
    let csp = header(&page, "content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert!(html.contains("integrations(source: CELIGO, first: 5)"));
    // Every script and style it names is served here, versioned and cached for a year.
    let paths: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .chain(html.split("href=\"").skip(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|path| !path.starts_with("data:"))
        .collect();
    assert_eq!(paths.len(), 7, "{paths:?}");
    for path in paths {
        let asset = gw.get(path).await;
        assert_eq!(asset.status().as_u16(), 200, "{path}");
        let cache = header(&asset, "cache-control").unwrap_or_default();
        assert!(cache.contains("immutable"), "{path}: {cache}");
    }
    assert_eq!(gw.get("/playground/assets/nope.js").await.status(), 404);

    // GET / goes to the playground; so does a browser asking /graphql for HTML.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = no_redirects
        .get(format!("http://{}/", gw.addr))
        .send()
        .await
        .expect("GET /");
    assert_eq!(root.status().as_u16(), 307);
    assert_eq!(header(&root, "location"), Some("/playground"));
    let browser = gw
        .client
        .get(&gw.url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET /graphql");
    assert!(browser.text().await.expect("html").contains("graphiql"));
}

#[tokio::test]
async fn with_api_keys_the_playground_opens_the_header_editor_and_needs_no_key_itself() {
    let gw = Gateway::start_with(Default::default(), 40, |config| {
        config.server.api_keys = vec![SecretString::from("k")];
    })
    .await;
    let page = gw.get("/playground").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("data-api-keys=\"true\""));
    let script = gw
        .get("/playground/assets/chronograph-playground.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(script.contains("Authorization"), "{script}");
}

#[tokio::test]
async fn with_graphiql_off_there_is_no_playground() {
    let gw = Gateway::start_with(Default::default(), 40, |config| {
        config.server.graphiql = false;
    })
    .await;
    assert_eq!(gw.get("/playground").await.status().as_u16(), 404);
    assert_eq!(gw.get("/").await.status().as_u16(), 404);
}
