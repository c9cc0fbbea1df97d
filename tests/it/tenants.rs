//! Multi-tenant use: callers forward their own vendor credentials in request headers named in
//! the config (`credential_header`, Rocket.Chat's `user_id_header`). Proves that the vendor sees
//! the caller's credential, that cached answers, shared in-flight calls, de-duplicated requests
//! and subscription pollers never cross credentials, and that missing or unusable credentials
//! are clear errors that leak nothing.

use crate::common::{
    assert_code, global_id, history_added, insert_fresh_audit, source_config, ws_connect,
    ws_errors, ws_next_entry, ws_next_json, ws_ready, ws_send, Gateway,
};
use chronograph::demo::fake::Fault;
use chronograph::demo::truto::TrutoFakeConfig;
use chronograph::demo::DemoOptions;
use chronograph::domain::ids::NodeType;
use chronograph::domain::Source;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const TEAM_TOKENS: [&str; 2] = ["tenant-a-7f3c9e", "tenant-b-1d42aa"];
const TRUTO_LIST: &str =
    "{ integrations(source: TRUTO, first: 100) { nodes { sourceId team { sourceId } } } }";

/// Truto with one token per team, caching on, callers' tokens in `X-Truto-Token`.
async fn truto_tenants(keep_own_token: bool) -> Gateway {
    let truto = TrutoFakeConfig {
        team_tokens: TEAM_TOKENS.iter().map(|t| t.to_string()).collect(),
        ..TrutoFakeConfig::default()
    };
    let options = DemoOptions {
        truto,
        celigo_integrations: 3,
        ..DemoOptions::default()
    };
    Gateway::start_options(options, |config| {
        let truto = source_config(config, Source::Truto);
        truto.credential_header = Some("X-Truto-Token".into());
        truto.cache_ttl_s = Some(300);
        if !keep_own_token {
            truto.token = None;
        }
    })
    .await
}

/// The demo fakes (three Celigo integrations) behind a gateway configured by `tweak`.
async fn demo_with(tweak: impl FnOnce(&mut chronograph::config::Config)) -> Gateway {
    let options = DemoOptions {
        celigo_integrations: 3,
        ..DemoOptions::default()
    };
    Gateway::start_options(options, tweak).await
}

/// The Truto team ids of the integrations in a response.
fn teams_seen(response: &Value) -> BTreeSet<String> {
    response["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["team"]["sourceId"].as_str().map(str::to_string))
        .collect()
}

fn team_id(gw: &Gateway, index: usize) -> String {
    gw.upstreams.truto_fake.data().teams[index]["id"]
        .as_str()
        .expect("team id")
        .to_string()
}

/// The `Authorization` headers the Truto fake received, in order.
fn truto_bearers(gw: &Gateway) -> Vec<String> {
    gw.truto_requests("/integration")
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn each_caller_reads_with_its_own_credential_and_caches_stay_apart() {
    let gw = truto_tenants(true).await;
    let (team_a, team_b) = (team_id(&gw, 0), team_id(&gw, 1));

    let (status, first_a) = gw
        .query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", TEAM_TOKENS[0])])
        .await;
    assert_eq!(status, 200);
    assert!(first_a["errors"].is_null(), "{first_a}");
    assert_eq!(teams_seen(&first_a), BTreeSet::from([team_a.clone()]));
    assert_eq!(
        truto_bearers(&gw),
        vec![format!("Bearer {}", TEAM_TOKENS[0])]
    );

    // Same query, other tenant: not served from tenant A's cached answer.
    let (_, first_b) = gw
        .query_with(TRUTO_LIST, json!({}), &[("x-truto-token", TEAM_TOKENS[1])])
        .await;
    assert_eq!(teams_seen(&first_b), BTreeSet::from([team_b]));
    assert_eq!(
        truto_bearers(&gw),
        vec![
            format!("Bearer {}", TEAM_TOKENS[0]),
            format!("Bearer {}", TEAM_TOKENS[1])
        ]
    );

    // Tenant A again: a cache hit of its own answer, no upstream call.
    let (_, again_a) = gw
        .query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", TEAM_TOKENS[0])])
        .await;
    assert_eq!(again_a, first_a);
    assert_eq!(truto_bearers(&gw).len(), 2, "tenant A's repeat is cached");

    // No header: the configured token (the whole account), cached apart from both tenants.
    let (_, own) = gw.query_with(TRUTO_LIST, json!({}), &[]).await;
    assert!(teams_seen(&own).len() >= 5, "{own}");
    assert_eq!(
        truto_bearers(&gw).last().map(String::as_str),
        Some("Bearer demo-truto-token")
    );
    assert_eq!(truto_bearers(&gw).len(), 3);
}

#[tokio::test]
async fn concurrent_identical_queries_of_two_tenants_are_never_merged() {
    let gw = truto_tenants(true).await;
    let (team_a, team_b) = (team_id(&gw, 0), team_id(&gw, 1));
    // Slow upstream: both requests are in flight at once, where de-duplication would merge
    // identical queries (request level) and identical upstream calls (single flight).
    gw.upstreams.truto.control.inject(
        "/integration",
        Fault::Delay(Duration::from_millis(300)),
        None,
    );
    let a1 = gw.query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", TEAM_TOKENS[0])]);
    let b = gw.query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", TEAM_TOKENS[1])]);
    let a2 = gw.query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", TEAM_TOKENS[0])]);
    let ((_, a1), (_, b), (_, a2)) = tokio::join!(a1, b, a2);
    assert_eq!(teams_seen(&a1), BTreeSet::from([team_a.clone()]));
    assert_eq!(teams_seen(&a2), BTreeSet::from([team_a]));
    assert_eq!(teams_seen(&b), BTreeSet::from([team_b]));
    let mut bearers = truto_bearers(&gw);
    bearers.sort();
    assert_eq!(
        bearers,
        vec![
            format!("Bearer {}", TEAM_TOKENS[0]),
            format!("Bearer {}", TEAM_TOKENS[1])
        ],
        "tenant A's two identical requests share one call; tenant B gets its own"
    );
}

#[tokio::test]
async fn a_source_without_own_credentials_needs_the_callers() {
    let gw = truto_tenants(false).await;
    let query = "{ integrations(source: TRUTO, first: 5) { nodes { sourceId } } sources { source healthy } }";
    let (status, response) = gw.query_with(query, json!({}), &[]).await;
    assert_eq!(status, 200);
    assert_code(&response, "UNAUTHENTICATED");
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["source"], "TRUTO");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`X-Truto-Token`"),
        "{error}"
    );
    assert!(
        response["data"]["sources"].is_array(),
        "the rest of the response has data: {response}"
    );
    assert!(
        truto_bearers(&gw).is_empty(),
        "no call without a credential"
    );

    let (_, response) = gw
        .query_with(query, json!({}), &[("X-Truto-Token", TEAM_TOKENS[1])])
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        truto_bearers(&gw),
        vec![format!("Bearer {}", TEAM_TOKENS[1])]
    );

    // A credential the vendor refuses: the vendor's 401, and the token never echoed.
    let (_, response) = gw
        .query_with(
            query,
            json!({}),
            &[("X-Truto-Token", "not-a-real-token-93c1")],
        )
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    assert!(!response.to_string().contains("not-a-real-token-93c1"));
    assert_eq!(
        source_health(&gw, "TRUTO").await,
        json!({ "healthy": true, "lastError": null }),
        "one caller's rejected token says nothing about Truto's health"
    );
}

/// `healthy` and `lastError` of one source in `Query.sources`.
async fn source_health(gw: &Gateway, source: &str) -> Value {
    let (_, response) = gw
        .query_with("{ sources { source healthy lastError } }", json!({}), &[])
        .await;
    response["data"]["sources"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["source"] == source))
        .map(|s| json!({ "healthy": s["healthy"], "lastError": s["lastError"] }))
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_unusable_credential_header_is_refused_before_anything_runs() {
    let gw = truto_tenants(true).await;
    let long = "x".repeat(5000);
    let (status, response) = gw
        .query_with(TRUTO_LIST, json!({}), &[("X-Truto-Token", &long)])
        .await;
    assert_eq!(status, 400);
    assert_code(&response, "BAD_USER_INPUT");
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("x-truto-token"), "{message}");
    assert!(!response.to_string().contains(&long[..100]));
    assert!(truto_bearers(&gw).is_empty());
}

#[tokio::test]
async fn rocketchat_callers_send_user_id_and_token() {
    let gw = demo_with(|config| {
        let rc = source_config(config, Source::Rocketchat);
        rc.credential_header = Some("X-RC-Token".into());
        rc.user_id_header = Some("X-RC-User".into());
    })
    .await;
    let user = gw.upstreams.rocketchat_fake.config().user_id.clone();
    let token = gw.upstreams.rocketchat_fake.config().auth_token.clone();
    let query = "{ integrations(source: ROCKETCHAT, first: 3) { nodes { sourceId } } }";
    gw.upstreams.rocketchat.control.clear_requests();
    let (_, response) = gw
        .query_with(
            query,
            json!({}),
            &[("X-RC-Token", &token), ("X-RC-User", &user)],
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let seen = gw.rocketchat_requests("/api/v1/integrations");
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|r| r.header("x-auth-token") == Some(token.as_str())
            && r.header("x-user-id") == Some(user.as_str())));

    let (status, response) = gw
        .query_with(query, json!({}), &[("X-RC-Token", &token)])
        .await;
    assert_eq!(status, 400);
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("together"),
        "{response}"
    );
}

#[tokio::test]
async fn subscriptions_take_credentials_from_connection_init_and_check_the_api_key() {
    let gw = demo_with(|config| {
        let celigo = source_config(config, Source::Celigo);
        celigo.credential_header = Some("X-Celigo-Token".into());
        celigo.token = None;
        celigo.poll_interval_ms = Some(100);
        config.server.api_keys = vec!["gateway-key-1".to_string().into()];
    })
    .await;
    let celigo_token = gw.upstreams.celigo_token.clone();
    let target = gw.celigo_integration_ids()[0].clone();
    let subscribe = history_added("1", &target);

    // No API key: the connection is refused at connection_init.
    let mut socket = ws_connect(&gw).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("answer");
    assert!(
        matches!(
            closed,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None
        ),
        "{closed:?}"
    );

    // API key but no Celigo credential: the subscription fails UNAUTHENTICATED.
    let mut socket = ws_ready(&gw, json!({ "Authorization": "Bearer gateway-key-1" })).await;
    ws_send(&mut socket, subscribe.clone()).await;
    let message = ws_next_json(&mut socket).await;
    let errors = ws_errors(&message);
    assert_eq!(errors.len(), 1, "{message}");
    assert_eq!(
        errors[0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );
    assert_eq!(errors[0]["extensions"]["source"], "CELIGO", "{message}");

    // Both in the payload (under `headers`, any case): entries arrive, read with that token.
    let mut socket = ws_ready(
        &gw,
        json!({ "headers": {
            "authorization": "Bearer gateway-key-1", "x-celigo-token": celigo_token } }),
    )
    .await;
    gw.upstreams.celigo.control.clear_requests();
    ws_send(&mut socket, subscribe).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    insert_fresh_audit(&gw, &target, "6c00000000000000000000a1");
    let entry = ws_next_entry(&mut socket).await;
    assert_eq!(entry["sourceId"], "6c00000000000000000000a1");
    let requests = gw.upstreams.celigo.control.requests();
    assert!(!requests.is_empty());
    let expected = format!("Bearer {celigo_token}");
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(expected.as_str())));
}

#[tokio::test]
async fn a_forwarded_hexabase_token_is_used_as_is_without_logging_in() {
    use chronograph::demo::hexabase::{DEMO_APPLICATION_DISPLAY_ID, DEMO_DATASTORE_ID, DEMO_ITEMS};
    let gw = demo_with(|config| {
        let hexabase = source_config(config, Source::Hexabase);
        hexabase.credential_header = Some("X-Hexabase-Token".into());
        hexabase.token = None;
        hexabase.email = None;
        hexabase.password = None;
    })
    .await;
    let token = gw.upstreams.hexabase_config.api_token.clone();
    let query = format!(
        r#"{{ history(subjects: [{{ hexabaseItem: {{ applicationId: "{DEMO_APPLICATION_DISPLAY_ID}", datastoreId: "{DEMO_DATASTORE_ID}", itemId: "{}" }} }}], first: 3) {{ nodes {{ sourceId }} }} }}"#,
        DEMO_ITEMS[0].0
    );
    let (_, response) = gw.query_with(&query, json!({}), &[]).await;
    assert_code(&response, "UNAUTHENTICATED");
    assert!(gw.upstreams.hexabase.control.requests().is_empty());

    let (_, response) = gw
        .query_with(
            &query,
            json!({}),
            &[("X-Hexabase-Token", &format!("Bearer {token}"))],
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        response["data"]["history"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let requests = gw.upstreams.hexabase.control.requests();
    assert!(
        requests.iter().all(|r| !r.path.contains("login")),
        "no login"
    );
    let expected = format!("Bearer {token}");
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(expected.as_str())));

    // A token Hexabase refuses: its 401 as UPSTREAM_UNAUTHORIZED, still no login attempt.
    let (_, response) = gw
        .query_with(&query, json!({}), &[("X-Hexabase-Token", "expired-jwt-42")])
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    assert_eq!(
        source_health(&gw, "HEXABASE").await,
        json!({ "healthy": true, "lastError": null })
    );
    assert!(gw
        .upstreams
        .hexabase
        .control
        .requests()
        .iter()
        .all(|r| !r.path.contains("login")));
}

#[tokio::test]
async fn writes_go_out_with_the_callers_credential() {
    let gw = demo_with(|config| {
        let celigo = source_config(config, Source::Celigo);
        celigo.credential_header = Some("X-Celigo-Token".into());
        celigo.token = None;
    })
    .await;
    let token = gw.upstreams.celigo_token.clone();
    let target = gw.celigo_integration_ids()[0].clone();
    let gid = global_id(NodeType::Integration, Source::Celigo, &[&target]);
    let mutation = format!(
        r#"mutation {{ updateIntegration(integrationId: "{gid}", input: {{ tag: "t2" }}) {{ sourceId }} }}"#
    );
    let (_, refused) = gw.query_with(&mutation, json!({}), &[]).await;
    assert_code(&refused, "UNAUTHENTICATED");
    assert!(
        gw.upstreams.celigo.control.requests().is_empty(),
        "nothing written"
    );

    let (_, response) = gw
        .query_with(&mutation, json!({}), &[("X-Celigo-Token", &token)])
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let expected = format!("Bearer {token}");
    let requests = gw.upstreams.celigo.control.requests();
    assert!(requests.iter().any(|r| r.method == "PATCH"));
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(expected.as_str())));
}
