//! Black-box tests of the Rocket.Chat vertical: real gateway, real HTTP, in-process
//! Rocket.Chat fake following upstreams/rocketchat.md.

use crate::common::{
    all_integrations, assert_code, codes, example, history, integration_history, integrations,
    items, pluck, query_param, respond, source_config, source_ids, status_and_json, urlencode,
    walked_ids, Direction, Gateway,
};
use chronograph::demo::fake::Fault;
use chronograph::demo::rocketchat::{Permission, RocketChatFakeConfig};
use chronograph::demo::DemoOptions;
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const USER_ID: &str = "rWq7nBz3KdT9pXe2M";
const TOKEN: &str = "demo-rocketchat-token";

async fn start(rocketchat: RocketChatFakeConfig) -> Gateway {
    Gateway::start_options(
        DemoOptions {
            rocketchat,
            celigo_integrations: 5,
            ..DemoOptions::default()
        },
        |_| {},
    )
    .await
}

async fn start_default() -> Gateway {
    start(RocketChatFakeConfig::default()).await
}

/// The webhook with the long history (≥ 250 executions) and its history, newest first.
fn big_webhook(gw: &Gateway) -> (String, Vec<String>) {
    let data = gw.upstreams.rocketchat_fake.data();
    let id = data.outgoing_ids()[0].clone();
    let history = pluck(&data.history_of(&id), "_id");
    (id, history)
}

fn assert_authenticated(requests: &[chronograph::demo::fake::RecordedRequest]) {
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r.method, "GET");
        assert_eq!(r.header("x-auth-token"), Some(TOKEN), "{}", r.path);
        assert_eq!(r.header("x-user-id"), Some(USER_ID), "{}", r.path);
        assert_eq!(r.header("authorization"), None, "no Authorization header");
    }
}

const HISTORY: &str =
    "query($id: String!, $first: Int, $after: String, $last: Int, $before: String) {
  integration(source: ROCKETCHAT, sourceId: $id) {
    name
    history(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id sourceId kind at occurredAt updatedAt observedAt status error summary
        actor { sourceId name } subject { kind sourceId name } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}";

fn history_ids(response: &Value) -> Vec<String> {
    source_ids(integration_history(response))
}

fn page_info(response: &Value) -> &Value {
    &integration_history(response)["pageInfo"]
}

#[tokio::test]
async fn a_first_history_page_is_one_call_with_the_documented_parameters() {
    let gw = start_default().await;
    let (id, expected) = big_webhook(&gw);
    gw.reset_all_calls();
    let response = gw.query(HISTORY, json!({ "id": id, "first": 10 })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(history_ids(&response), expected[..10].to_vec());
    assert_eq!(page_info(&response)["hasNextPage"], true);
    assert_eq!(page_info(&response)["hasPreviousPage"], false);

    let calls = gw.rocketchat_requests("/api/v1/integrations.history");
    assert_eq!(calls.len(), 1, "one call for a first page");
    let call = &calls[0];
    assert_eq!(query_param(call, "id").as_deref(), Some(id.as_str()));
    assert_eq!(query_param(call, "offset").as_deref(), Some("0"));
    assert_eq!(query_param(call, "count").as_deref(), Some("11"));
    assert_eq!(
        query_param(call, "sort").as_deref(),
        Some(r#"{"_updatedAt":-1}"#)
    );
    assert_eq!(
        query_param(call, "fields"),
        None,
        "never sent: newer servers reject it"
    );
    assert_eq!(query_param(call, "query"), None);
    assert_authenticated(&gw.rocketchat_requests("/api/v1/"));

    let data = gw.upstreams.rocketchat_fake.data();
    let records = data.history_of(&id);
    let name = response["data"]["integration"]["name"].clone();
    for (edge, record) in response["data"]["integration"]["history"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .zip(&records)
    {
        let node = &edge["node"];
        assert_eq!(node["kind"], "WEBHOOK_EXECUTION");
        assert_eq!(node["occurredAt"], record["_createdAt"]);
        assert_eq!(node["updatedAt"], record["_updatedAt"]);
        assert_eq!(
            node["at"], node["updatedAt"],
            "at = updatedAt ?? occurredAt"
        );
        assert_eq!(node["subject"]["kind"], "INTEGRATION");
        assert_eq!(node["subject"]["sourceId"], id.as_str());
        assert_eq!(node["subject"]["name"], name);
        assert_eq!(node["actor"]["sourceId"], record["data"]["user_id"]);
        let expected_status = if record["error"] == true {
            "ERROR"
        } else if record["finished"] == true {
            "OK"
        } else {
            "RUNNING"
        };
        assert_eq!(node["status"], expected_status, "{record}");
        let summary = node["summary"].as_str().expect("summary");
        assert!(
            summary.starts_with(record["event"].as_str().expect("event")),
            "{summary}"
        );
        assert!(
            summary.contains(record["step"].as_str().expect("step")),
            "{summary}"
        );
    }
}

#[tokio::test]
async fn statuses_errors_and_the_integration_of_entries_are_mapped() {
    let gw = start_default().await;
    let (id, _) = big_webhook(&gw);
    let query = "query($id: String!) { integration(source: ROCKETCHAT, sourceId: $id) { history(first: 100) { nodes { sourceId status error integration { sourceId name category enabled } raw } } } }";
    let response = gw.query(query, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    let nodes = response["data"]["integration"]["history"]["nodes"]
        .as_array()
        .expect("nodes");
    let errors: Vec<&Value> = nodes.iter().filter(|n| n["status"] == "ERROR").collect();
    assert!(!errors.is_empty(), "the demo history has failed executions");
    for node in &errors {
        let text = node["error"].as_str().expect("error text");
        assert!(!text.is_empty() && text.chars().count() <= 501, "{text}");
    }
    for node in nodes.iter().filter(|n| n["status"] == "OK") {
        assert!(node["error"].is_null());
    }
    // `raw` is found in the page's body only when selected: still the record exactly.
    let upstream = gw.upstreams.rocketchat_fake.data().history_of(&id);
    for node in nodes {
        let record = upstream
            .iter()
            .find(|r| r["_id"] == node["sourceId"])
            .expect("record upstream");
        assert_eq!(node["raw"], chronograph::domain::redact(record.clone()));
    }
    for node in nodes {
        assert_eq!(node["integration"]["sourceId"], id.as_str());
        assert_eq!(node["integration"]["category"], "webhook-outgoing");
        let raw = node["raw"].to_string();
        assert!(!raw.contains("\"token\":\"") || raw.contains("[redacted]"));
        assert_eq!(node["raw"]["data"]["token"], "[redacted]");
        assert_eq!(node["raw"]["integration"]["token"], "[redacted]");
    }
    assert_eq!(
        gw.rocketchat_requests("/api/v1/integrations.get").len(),
        1,
        "the entries' integration is fetched once per request"
    );
}

#[tokio::test]
async fn a_250_entry_history_pages_forward_and_backward_exactly_once() {
    let gw = start_default().await;
    let (id, expected) = big_webhook(&gw);
    assert!(expected.len() >= 250, "{} executions", expected.len());

    let forward = gw
        .assert_walks_both_ways(
            HISTORY,
            json!({ "id": id }),
            integration_history,
            100,
            &expected,
        )
        .await;
    for (page_number, page) in forward.iter().enumerate() {
        assert_eq!(page_info(page)["hasPreviousPage"], page_number > 0);
    }

    let requests = gw.rocketchat_requests("/api/v1/integrations.history");
    for r in &requests {
        let count: usize = query_param(r, "count")
            .expect("count")
            .parse()
            .expect("number");
        assert!(
            (1..=100).contains(&count),
            "count {count} within the server cap"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| query_param(r, "sort").as_deref() == Some(r#"{"_updatedAt":1}"#)),
        "last/before pages read oldest-first"
    );
    assert!(
        requests.len() <= 30,
        "{} calls for two full walks",
        requests.len()
    );
}

#[tokio::test]
async fn first_100_after_an_offset_comes_back_whole() {
    let gw = start_default().await;
    let (id, expected) = big_webhook(&gw);
    let page1 = gw.query(HISTORY, json!({ "id": id, "first": 30 })).await;
    let after = page_info(&page1)["endCursor"].clone();
    gw.reset_all_calls();
    let page2 = gw
        .query(HISTORY, json!({ "id": id, "first": 100, "after": after }))
        .await;
    assert!(page2["errors"].is_null(), "{page2}");
    assert_eq!(history_ids(&page2), expected[30..130].to_vec());
    assert_eq!(page_info(&page2)["hasNextPage"], true);
    let counts: Vec<String> = gw
        .rocketchat_requests("/api/v1/integrations.history")
        .iter()
        .filter_map(|r| query_param(r, "count"))
        .collect();
    assert!(
        counts
            .iter()
            .all(|c| c.parse::<usize>().is_ok_and(|n| n <= 100)),
        "{counts:?}"
    );
}

/// The records asked for (the sum of `count`) by the history calls recorded so far.
fn records_asked(gw: &Gateway) -> Vec<usize> {
    gw.rocketchat_requests("/api/v1/integrations.history")
        .iter()
        .filter_map(|r| query_param(r, "count")?.parse().ok())
        .collect()
}

#[tokio::test]
async fn a_merged_page_after_a_cursor_reads_its_depth_plus_the_page_not_100() {
    let gw = start_default().await;
    let ids: Vec<String> = {
        let data = gw.upstreams.rocketchat_fake.data();
        let long = |id: &String| data.history_of(id).len() >= 40;
        data.outgoing_ids()
            .into_iter()
            .filter(long)
            .take(2)
            .collect()
    };
    assert_eq!(ids.len(), 2, "the demo has two webhooks with 40 executions");
    let query = "query($subjects: [HistorySubject!]!, $after: String) {
      history(subjects: $subjects, first: 15, after: $after) {
        edges { node { sourceId } } pageInfo { hasNextPage endCursor } } }";
    let subjects: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "integration": { "source": "ROCKETCHAT", "sourceId": id } }))
        .collect();
    let everything = {
        let walked = gw
            .walk(
                query,
                json!({ "subjects": subjects }),
                history,
                Direction::Forward,
            )
            .await;
        walked_ids(&walked, history)
    };
    gw.reset_all_calls();
    let page1 = gw.query(query, json!({ "subjects": subjects })).await;
    assert_eq!(records_asked(&gw), vec![16, 16], "N + 1 from each stream");
    gw.reset_all_calls();
    let after = history(&page1)["pageInfo"]["endCursor"].clone();
    let page2 = gw
        .query(query, json!({ "subjects": subjects, "after": after }))
        .await;
    assert!(page2["errors"].is_null(), "{page2}");
    assert_eq!(source_ids(history(&page2)), everything[15..30].to_vec());
    // Each stream read 16 on page 1: 16 + 15 + 1 re-aligns and fills page 2 in one call.
    assert_eq!(records_asked(&gw), vec![32, 32]);
}

#[tokio::test]
async fn new_executions_at_the_head_cause_no_duplicate_and_no_gap() {
    let gw = start_default().await;
    let (id, expected) = big_webhook(&gw);
    let page1 = gw.query(HISTORY, json!({ "id": id, "first": 10 })).await;
    assert_eq!(history_ids(&page1), expected[..10].to_vec());
    let after = page_info(&page1)["endCursor"].clone();
    {
        let mut data = gw.upstreams.rocketchat_fake.data();
        let now = chrono::Utc::now();
        for n in 0..3 {
            let fresh = data.new_execution(&id, &format!("NewExecution0000{n}"), now);
            data.history.push(fresh);
        }
        // An execution already shown keeps running: its _updatedAt moves it to the head.
        let shown = expected[2].clone();
        if let Some(record) = data.history.iter_mut().find(|r| r["_id"] == shown.as_str()) {
            record["_updatedAt"] = json!(chronograph::domain::datetime::format_utc_ms(now));
        }
    }
    gw.reset_all_calls();
    let page2 = gw
        .query(HISTORY, json!({ "id": id, "first": 10, "after": after }))
        .await;
    assert!(page2["errors"].is_null(), "{page2}");
    assert_eq!(history_ids(&page2), expected[10..20].to_vec());
    // The depth hint (11 + 11) went stale by the records that arrived: the walk read on.
    let asked = records_asked(&gw);
    assert_eq!(asked.first(), Some(&22), "{asked:?}");
    assert!(asked.len() > 1, "{asked:?}");
    let page3 = gw
        .query(
            HISTORY,
            json!({ "id": id, "first": 10, "after": page_info(&page2)["endCursor"] }),
        )
        .await;
    assert_eq!(history_ids(&page3), expected[20..30].to_vec());

    let fresh = gw.query(HISTORY, json!({ "id": id, "first": 4 })).await;
    let head = history_ids(&fresh);
    assert!(
        head.iter().any(|h| h.starts_with("NewExecution")),
        "{head:?}"
    );
    assert!(
        head.contains(&expected[2]),
        "the updated execution moved to the head"
    );
}

#[tokio::test]
async fn many_webhooks_first_history_pages_are_one_concurrent_call_each() {
    let gw = start_default().await;
    let delay = Duration::from_millis(400);
    gw.upstreams
        .rocketchat
        .control
        .inject("integrations.history", Fault::Delay(delay), None);
    let query = "{ integrations(source: ROCKETCHAT, first: 20) { nodes { sourceId category history(first: 5) { nodes { sourceId } pageInfo { hasNextPage } } } } }";
    let started = Instant::now();
    let response = gw.query(query, json!({})).await;
    let elapsed = started.elapsed();
    assert!(response["errors"].is_null(), "{response}");
    let nodes = response["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len(), 20);
    let data = gw.upstreams.rocketchat_fake.data();
    for node in nodes {
        let id = node["sourceId"].as_str().expect("id");
        let expected: Vec<String> = pluck(&data.history_of(id), "_id")
            .into_iter()
            .take(5)
            .collect();
        assert_eq!(source_ids(&node["history"]), expected, "{id}");
    }
    drop(data);
    assert_eq!(
        gw.rocketchat_requests("/api/v1/integrations.history").len(),
        20
    );
    assert_eq!(gw.rocketchat_requests("/api/v1/integrations.list").len(), 1);
    assert!(
        elapsed < delay * 10,
        "20 delayed calls took {elapsed:?}: they must not run one after another"
    );
}

#[tokio::test]
async fn merged_history_of_many_webhooks_reads_each_once() {
    let gw = start_default().await;
    let outgoing = gw.upstreams.rocketchat_fake.data().outgoing_ids();
    let subjects: Vec<Value> = outgoing
        .iter()
        .map(|id| json!({ "integration": { "source": "ROCKETCHAT", "sourceId": id } }))
        .collect();
    gw.reset_all_calls();
    let query = "query($s: [HistorySubject!]!) { history(subjects: $s, first: 15) { nodes { sourceId at subject { sourceId } } pageInfo { hasNextPage } } }";
    let response = gw.query(query, json!({ "s": subjects })).await;
    assert!(response["errors"].is_null(), "{response}");
    let nodes = response["data"]["history"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len(), 15);
    let ats: Vec<&str> = nodes.iter().filter_map(|n| n["at"].as_str()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    assert_eq!(
        gw.rocketchat_requests("/api/v1/integrations.history").len(),
        outgoing.len()
    );
}

#[tokio::test]
async fn webhooks_list_in_vendor_order_with_category_enabled_and_redacted_raw() {
    let gw = start_default().await;
    let expected: Vec<Value> = {
        let mut list = gw.upstreams.rocketchat_fake.data().integrations.clone();
        list.sort_by(|a, b| b["ts"].as_str().cmp(&a["ts"].as_str()));
        list
    };
    let query = "{ integrations(source: ROCKETCHAT, first: 100) { totalCount nodes { id sourceId name category enabled createdAt updatedAt team { name } raw } } }";
    let response = gw.query(query, json!({})).await;
    let nodes = all_integrations(&response, expected.len());
    assert!(nodes.len() >= 30);
    for (node, webhook) in nodes.iter().zip(&expected) {
        assert_eq!(node["sourceId"], webhook["_id"]);
        assert_eq!(node["name"], webhook["name"]);
        assert_eq!(node["category"], webhook["type"]);
        assert_eq!(node["enabled"], webhook["enabled"]);
        assert_eq!(node["createdAt"], webhook["_createdAt"]);
        assert_eq!(node["team"], Value::Null);
        assert_eq!(node["raw"]["token"], "[redacted]");
    }
    let text = response.to_string();
    for webhook in &expected {
        let token = webhook["token"].as_str().expect("token");
        assert!(!text.contains(token), "webhook tokens never leave");
    }
    let calls = gw.rocketchat_requests("/api/v1/integrations.list");
    assert_eq!(calls.len(), 1);
    assert_eq!(query_param(&calls[0], "offset").as_deref(), Some("0"));
    assert_eq!(query_param(&calls[0], "count").as_deref(), Some("100"));
    assert_authenticated(&calls);
}

#[tokio::test]
async fn a_long_webhook_list_pages_by_offset_under_the_count_cap() {
    let gw = start_default().await;
    {
        let mut data = gw.upstreams.rocketchat_fake.data();
        let template = data.integrations[1].clone();
        for n in 0..150 {
            let mut copy = template.clone();
            copy["_id"] = json!(format!("Clone{n:012}"));
            copy["name"] = json!(format!("Imported webhook {n}"));
            copy["ts"] = json!(format!("2020-01-01T00:{:02}:{:02}.000Z", n / 60, n % 60));
            data.integrations.push(copy);
        }
    }
    let total = gw.upstreams.rocketchat_fake.data().integrations.len();
    let query = "query($after: String) { integrations(source: ROCKETCHAT, first: 100, after: $after) { nodes { sourceId } pageInfo { hasNextPage endCursor } } }";
    let pages = gw
        .walk(query, json!({}), integrations, Direction::Forward)
        .await;
    let seen = walked_ids(&pages, integrations);
    assert_eq!(seen.len(), total);
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), total, "each webhook once");
    for r in gw.rocketchat_requests("/api/v1/integrations.list") {
        let count: usize = query_param(&r, "count")
            .expect("count")
            .parse()
            .expect("number");
        assert!(count <= 100);
    }
}

#[tokio::test]
async fn unknown_ids_are_null_or_empty_and_node_ids_round_trip() {
    let gw = start_default().await;
    let response = gw
        .query(
            "{ integration(source: ROCKETCHAT, sourceId: \"NoSuchWebhook0001\") { name history(first: 3) { nodes { sourceId } } } }",
            json!({}),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["integration"], Value::Null);
    let response = gw
        .query(
            "{ history(subjects: [{ integration: { source: ROCKETCHAT, sourceId: \"NoSuchWebhook0001\" } }], first: 3) { nodes { sourceId } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["history"]["nodes"], json!([]));
    assert_eq!(
        response["data"]["history"]["pageInfo"]["hasNextPage"],
        false
    );

    let (id, expected) = big_webhook(&gw);
    let page = gw.query(HISTORY, json!({ "id": id, "first": 1 })).await;
    let entry_id = page["data"]["integration"]["history"]["edges"][0]["node"]["id"].clone();
    let listing = gw
        .query(
            "{ integrations(source: ROCKETCHAT, first: 1) { nodes { id sourceId } } }",
            json!({}),
        )
        .await;
    let integration_id = listing["data"]["integrations"]["nodes"][0]["id"].clone();
    for (gid, type_name) in [(entry_id, "HistoryEntry"), (integration_id, "Integration")] {
        let back = gw
            .query("query($id: ID!) { node(id: $id) { __typename id ... on HistoryEntry { sourceId kind status } ... on Integration { sourceId } } }", json!({ "id": gid }))
            .await;
        assert!(back["errors"].is_null(), "{back}");
        assert_eq!(back["data"]["node"]["__typename"], type_name);
        assert_eq!(back["data"]["node"]["id"], gid);
    }
    let lookups = gw.rocketchat_requests("/api/v1/integrations.history");
    assert!(
        lookups
            .iter()
            .any(|r| query_param(r, "query").is_some_and(|q| q.contains(&expected[0]))),
        "an entry is looked up with the documented `_id` selector"
    );
}

/// The plain webhook list, for error-mapping checks.
async fn list_webhooks(gw: &Gateway) -> Value {
    gw.query(
        "{ integrations(source: ROCKETCHAT) { nodes { name } } }",
        json!({}),
    )
    .await
}

/// Make the Rocket.Chat fake answer `route` with `status` and `body` (replacing earlier faults).
fn answer_with(gw: &Gateway, route: &str, status: u16, body: &str, times: Option<usize>) {
    gw.upstreams.rocketchat.control.clear_faults();
    gw.upstreams
        .rocketchat
        .control
        .inject(route, respond(status, &[], body), times);
}

/// Run a history query against a gateway whose fake answers the history route with `fault`.
async fn history_error(gw: &Gateway, id: &str) -> Value {
    let query = "query($id: String!) { integration(source: ROCKETCHAT, sourceId: $id) { name history(first: 5) { nodes { sourceId } pageInfo { hasNextPage } } } }";
    gw.query(query, json!({ "id": id })).await
}

#[tokio::test]
async fn both_401_bodies_are_upstream_unauthorized() {
    for legacy in [false, true] {
        let options = DemoOptions {
            rocketchat: RocketChatFakeConfig {
                legacy_401: legacy,
                ..RocketChatFakeConfig::default()
            },
            celigo_integrations: 5,
            ..DemoOptions::default()
        };
        let gw = Gateway::start_options(options, |config| {
            source_config(config, Source::Rocketchat).auth_token =
                Some(secrecy::SecretString::from("a-revoked-token"));
        })
        .await;
        let response = list_webhooks(&gw).await;
        assert_eq!(
            codes(&response),
            vec!["UPSTREAM_UNAUTHORIZED"],
            "legacy={legacy}: {response}"
        );
        assert_eq!(response["errors"][0]["extensions"]["source"], "ROCKETCHAT");
        assert_eq!(response["data"]["integrations"]["nodes"], json!([]));
        assert!(!response.to_string().contains("a-revoked-token"));
        let sent = gw.rocketchat_requests("/api/v1/integrations.list");
        assert_eq!(sent[0].header("x-auth-token"), Some("a-revoked-token"));
        assert_eq!(sent[0].header("x-user-id"), Some(USER_ID));
    }
    // The exact example bodies, served by a fault, map the same way.
    let gw = start_default().await;
    let (id, _) = big_webhook(&gw);
    for body in [
        include_str!("../fixtures/rocketchat/error.401.json"),
        include_str!("../fixtures/rocketchat/error.401.legacy.json"),
    ] {
        answer_with(&gw, "integrations.history", 401, body, None);
        let response = history_error(&gw, &id).await;
        assert_code(&response, "UPSTREAM_UNAUTHORIZED");
        assert!(
            response["data"]["integration"]["name"].is_string(),
            "partial data survives"
        );
        assert_eq!(
            response["data"]["integration"]["history"]["pageInfo"]["hasNextPage"],
            true
        );
    }
}

#[tokio::test]
async fn missing_permissions_are_unauthorized_and_own_permission_narrows_the_list() {
    let gw = start(RocketChatFakeConfig {
        permission: Permission::None,
        ..RocketChatFakeConfig::default()
    })
    .await;
    let response = list_webhooks(&gw).await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");

    let gw = start(RocketChatFakeConfig {
        permission: Permission::Own,
        ..RocketChatFakeConfig::default()
    })
    .await;
    let webhooks = gw.upstreams.rocketchat_fake.data().integrations.clone();
    let own = pluck(
        webhooks
            .iter()
            .filter(|i| i["_createdBy"]["_id"] == USER_ID),
        "_id",
    );
    let response = gw
        .query(
            "{ integrations(source: ROCKETCHAT, first: 100) { nodes { sourceId } } }",
            json!({}),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let mut listed = source_ids(integrations(&response));
    listed.sort();
    let mut own_sorted = own.clone();
    own_sorted.sort();
    assert_eq!(listed, own_sorted);
    assert!(!own.is_empty());
}

#[tokio::test]
async fn rate_limiting_is_upstream_rate_limited_with_retry_after_seconds() {
    let gw = start(RocketChatFakeConfig {
        rate_limit: Some((2, Duration::from_secs(60))),
        ..RocketChatFakeConfig::default()
    })
    .await;
    let outgoing = gw.upstreams.rocketchat_fake.data().outgoing_ids();
    let query = "query($id: String!) { history(subjects: [{ integration: { source: ROCKETCHAT, sourceId: $id } }], first: 5) { nodes { sourceId } } }";
    let mut answers = Vec::new();
    for id in outgoing.iter().take(3) {
        answers.push(gw.query(query, json!({ "id": id })).await);
    }
    assert!(answers[0]["errors"].is_null(), "{}", answers[0]);
    assert!(answers[1]["errors"].is_null(), "{}", answers[1]);
    assert_eq!(
        codes(&answers[2]),
        vec!["UPSTREAM_RATE_LIMITED"],
        "{}",
        answers[2]
    );
    assert_eq!(
        answers[2]["errors"][0]["extensions"]["source"],
        "ROCKETCHAT"
    );
    let retry = answers[2]["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let calls = gw.rocketchat_requests("/api/v1/integrations.history");
    assert_eq!(calls.len(), 3, "no retry storm against a limited route");

    // The contract's 429 example with an X-RateLimit-Reset 42 s ahead.
    let gw = start_default().await;
    let (id, _) = big_webhook(&gw);
    let reset_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 41_500;
    gw.upstreams.rocketchat.control.inject(
        "integrations.history",
        respond(
            429,
            &[
                ("X-RateLimit-Limit", "10"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", &reset_ms.to_string()),
            ],
            include_str!("../fixtures/rocketchat/error.429.json"),
        ),
        None,
    );
    let response = history_error(&gw, &id).await;
    assert_code(&response, "UPSTREAM_RATE_LIMITED");
    let retry = response["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retry");
    assert!((41..=42).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_400_is_bad_user_input_only_when_the_client_caused_it() {
    let gw = start_default().await;
    let response = gw
        .query(
            "{ history(subjects: [{ integration: { source: ROCKETCHAT, sourceId: \"\" } }], first: 3) { nodes { sourceId } } }",
            json!({}),
        )
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("invalid-params")));
    let sent = gw.rocketchat_requests("/api/v1/integrations.history");
    assert_eq!(query_param(&sent[0], "id").as_deref(), Some(""));

    let (id, _) = big_webhook(&gw);
    for body in [
        include_str!("../fixtures/rocketchat/error.400.invalid-sort.json"),
        include_str!("../fixtures/rocketchat/error.400.additional-properties.json"),
    ] {
        answer_with(&gw, "integrations.history", 400, body, None);
        let response = history_error(&gw, &id).await;
        assert_code(&response, "UPSTREAM_BAD_RESPONSE");
    }
    let refused = include_str!("../fixtures/rocketchat/error.400.additional-properties.json");
    answer_with(&gw, "integrations.list", 400, refused, Some(1));
    let response = list_webhooks(&gw).await;
    assert_code(&response, "UPSTREAM_BAD_RESPONSE");

    let body = include_str!("../fixtures/rocketchat/error.403.json");
    answer_with(&gw, "integrations.history", 403, body, None);
    let response = history_error(&gw, &id).await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
}

#[tokio::test]
async fn the_fake_validates_parameters_like_the_server() {
    let gw = start_default().await;
    let client = reqwest::Client::new();
    let base = &gw.upstreams.rocketchat.base_url;
    let call = |query: &str| {
        client
            .get(format!("{base}/api/v1/integrations.history?{query}"))
            .header("X-Auth-Token", TOKEN)
            .header("X-User-Id", USER_ID)
            .send()
    };
    let expect = |name: &str| -> Value {
        let text = match name {
            "missing" => {
                include_str!("../fixtures/rocketchat/error.400.missing-id.json")
            }
            "additional" => {
                include_str!("../fixtures/rocketchat/error.400.additional-properties.json")
            }
            _ => include_str!("../fixtures/rocketchat/error.400.invalid-sort.json"),
        };
        serde_json::from_str(text).expect("example")
    };
    assert_eq!(
        status_and_json(call("").await.expect("call")).await,
        (400, expect("missing"))
    );
    assert_eq!(
        status_and_json(call("id=x&fields=%7B%7D").await.expect("call")).await,
        (400, expect("additional"))
    );
    assert_eq!(
        status_and_json(
            call("id=x&sort=%7B%22_updatedAt%22%3A2%7D")
                .await
                .expect("call")
        )
        .await,
        (400, expect("sort"))
    );
    let (status, empty) = status_and_json(call("id=NoSuchWebhook0001").await.expect("call")).await;
    assert_eq!(status, 200);
    let example: Value = serde_json::from_str(include_str!(
        "../fixtures/rocketchat/integrations.history.empty.200.json"
    ))
    .expect("example");
    assert_eq!(empty, example);
    let (id, expected) = big_webhook(&gw);
    let (_, default_page) = status_and_json(call(&format!("id={id}")).await.expect("call")).await;
    assert_eq!(default_page["items"], 50, "default count 50");
    assert_eq!(default_page["count"], 50);
    assert_eq!(default_page["total"], expected.len());
    let (_, clamped) = status_and_json(
        call(&format!("id={id}&count=500&offset=5"))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(clamped["items"], 100, "count clamped to 100");
    assert_eq!(clamped["offset"], 5);
    assert_eq!(clamped["history"][0]["_id"], expected[5].as_str());
    let (_, all) = status_and_json(call(&format!("id={id}&count=0")).await.expect("call")).await;
    assert_eq!(all["items"], expected.len(), "count=0 means all");
    let selector = urlencode(&format!(
        r#"{{"_id":{{"$in":["{}","{}"]}}}}"#,
        expected[3], expected[7]
    ));
    let (_, selected) = status_and_json(
        call(&format!("id={id}&query={selector}"))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(
        pluck(items(&selected["history"]), "_id"),
        vec![expected[3].clone(), expected[7].clone()]
    );
    let unauthenticated = client
        .get(format!("{base}/api/v1/integrations.history?id={id}"))
        .send()
        .await
        .expect("call");
    let example: Value =
        serde_json::from_str(include_str!("../fixtures/rocketchat/error.401.json"))
            .expect("example");
    assert_eq!(status_and_json(unauthenticated).await, (401, example));
}

#[tokio::test]
async fn the_rocketchat_examples_run_against_demo_mode() {
    let gw = start_default().await;
    let webhooks = gw
        .query(&example("rocketchat-webhooks.graphql"), json!({}))
        .await;
    assert!(webhooks["errors"].is_null(), "{webhooks}");
    assert_eq!(
        webhooks["data"]["integrations"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    let history = gw
        .query(&example("rocketchat-webhook-history.graphql"), json!({}))
        .await;
    assert!(history["errors"].is_null(), "{history}");
    let node = &history["data"]["integrations"]["nodes"][0];
    let (_, expected) = big_webhook(&gw);
    let first_page: Vec<String> = node["history"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        first_page.len(),
        50,
        "the newest webhook is the one with the long history"
    );
    assert_eq!(node["history"]["pageInfo"]["hasNextPage"], true);
    assert!(expected.len() >= 250);
}

#[tokio::test]
async fn filters_narrow_what_is_read_upstream() {
    let gw = start_default().await;
    let (id, _) = big_webhook(&gw);
    let records = gw.upstreams.rocketchat_fake.data().history_of(&id);
    let since = records[24]["_updatedAt"]
        .as_str()
        .expect("time")
        .to_string();
    let until = records[4]["_updatedAt"].as_str().expect("time").to_string();
    let query = "query($id: String!, $f: HistoryFilter) { integration(source: ROCKETCHAT, sourceId: $id) { history(filter: $f, first: 100) { nodes { sourceId actor { sourceId } } pageInfo { hasNextPage } } } }";
    gw.reset_all_calls();
    let response = gw
        .query(
            query,
            json!({ "id": id, "f": { "since": since, "until": until } }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let got = source_ids(integration_history(&response));
    assert_eq!(
        got,
        pluck(&records[5..25], "_id"),
        "since inclusive, until exclusive"
    );
    assert_eq!(
        response["data"]["integration"]["history"]["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(
        gw.rocketchat_requests("/api/v1/integrations.history").len(),
        1,
        "reading stops at the first entry older than `since`"
    );

    let actor = records[0]["data"]["user_id"]
        .as_str()
        .expect("user")
        .to_string();
    let response = gw
        .query(query, json!({ "id": id, "f": { "actorId": actor } }))
        .await;
    let nodes = response["data"]["integration"]["history"]["nodes"]
        .as_array()
        .expect("nodes");
    let expected = records
        .iter()
        .filter(|r| r["data"]["user_id"] == actor.as_str())
        .count();
    assert_eq!(nodes.len(), expected.min(100));
    assert!(nodes
        .iter()
        .all(|n| n["actor"]["sourceId"] == actor.as_str()));

    gw.reset_all_calls();
    let response = gw
        .query(query, json!({ "id": id, "f": { "kinds": ["AUDIT"] } }))
        .await;
    assert_eq!(
        response["data"]["integration"]["history"]["nodes"],
        json!([])
    );
    assert!(
        gw.rocketchat_requests("/api/v1/integrations.history")
            .is_empty(),
        "no WEBHOOK_EXECUTION wanted: no call"
    );
}
