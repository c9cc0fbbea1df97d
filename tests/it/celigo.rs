//! Black-box tests of the Celigo vertical: real gateway, real HTTP, in-process Celigo fake.

use crate::common::{
    assert_code, assert_source_error, codes, free_port, insert_fresh_audit, integration_history,
    integrations, items, pluck, respond, source_config, source_ids, walked_ids, Direction, Gateway,
};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::fake::Fault;
use chronograph::domain::Source;
use serde_json::{json, Value};

fn small_pages() -> CeligoFakeConfig {
    CeligoFakeConfig {
        default_limit: 5,
        ..CeligoFakeConfig::default()
    }
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  integrations(source: CELIGO, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { sourceId name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}";

#[tokio::test]
async fn integrations_page_across_upstream_link_pages_and_visit_each_once() {
    let gw = Gateway::start_with(small_pages(), 40, |_| {}).await;
    let expected = gw.celigo_integration_ids();

    let first = gw.query(PAGE, json!({ "first": 12 })).await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(source_ids(integrations(&first)), expected[..12].to_vec());
    assert_eq!(integrations(&first)["pageInfo"]["hasNextPage"], true);
    // 13 items are needed (12 + one to answer hasNextPage): three upstream pages of 5.
    assert_eq!(gw.celigo_calls("/v1/integrations"), 3);
    let requests = gw.upstreams.celigo.control.requests();
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer demo-celigo-token")));
    assert!(requests.iter().all(|r| r.method == "GET"));
    assert!(
        requests[0].query.is_none(),
        "first page asks with no parameters"
    );
    assert!(
        requests[1].query.is_some(),
        "later pages follow the Link URL verbatim"
    );

    let cursor = integrations(&first)["pageInfo"]["endCursor"].clone();
    let rest = gw
        .walk(
            PAGE,
            json!({ "first": 12, "after": cursor }),
            integrations,
            Direction::Forward,
        )
        .await;
    let mut seen = source_ids(integrations(&first));
    seen.extend(walked_ids(&rest, integrations));
    assert_eq!(
        seen, expected,
        "forward paging visits every integration exactly once, in order"
    );
    let last_page = integrations(rest.last().expect("a page"));
    assert_eq!(last_page["totalCount"], 40);
    assert_eq!(last_page["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test]
async fn integrations_page_backward_with_last_and_before() {
    let gw = Gateway::start_with(small_pages(), 23, |_| {}).await;
    let expected = gw.celigo_integration_ids();
    let pages = gw
        .walk(
            PAGE,
            json!({ "last": 10 }),
            integrations,
            Direction::Backward,
        )
        .await;
    assert_eq!(walked_ids(&pages, integrations), expected);
}

#[tokio::test]
async fn paging_arguments_and_cursors_are_validated() {
    let gw = Gateway::start().await;
    for vars in [
        json!({ "first": 101 }),
        json!({ "first": -1 }),
        json!({ "first": 1, "last": 1 }),
        json!({ "last": 1, "after": "abc" }),
        json!({ "first": 5, "after": "not-a-cursor" }),
    ] {
        let response = gw.query(PAGE, vars.clone()).await;
        assert_eq!(
            codes(&response),
            vec!["BAD_USER_INPUT"],
            "{vars}: {response}"
        );
    }
    // A cursor issued for another list is refused, not silently misapplied.
    let flows = gw
        .query("{ integrations(source: CELIGO, first: 1) { nodes { flows(first: 1) { pageInfo { endCursor } } } } }", json!({}))
        .await;
    let flow_cursor =
        flows["data"]["integrations"]["nodes"][0]["flows"]["pageInfo"]["endCursor"].clone();
    assert!(flow_cursor.is_string(), "{flows}");
    let response = gw
        .query(PAGE, json!({ "first": 5, "after": flow_cursor }))
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("different arguments"));
}

#[tokio::test]
async fn flows_of_thirty_integrations_take_at_most_two_calls() {
    let gw = Gateway::start().await;
    let query = "{ integrations(source: CELIGO, first: 30) { nodes { sourceId flows(first: 100) { totalCount nodes { sourceId name enabled integration { sourceId } } } } } }";
    let response = gw.query(query, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    let data = gw.upstreams.celigo_fake.data();
    for node in response["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
    {
        let id = node["sourceId"].as_str().expect("id");
        let expected: Vec<&str> = data
            .flows
            .iter()
            .filter(|f| f["_integrationId"] == id)
            .filter_map(|f| f["_id"].as_str())
            .collect();
        let got: Vec<&str> = node["flows"]["nodes"]
            .as_array()
            .expect("flows")
            .iter()
            .filter_map(|f| f["sourceId"].as_str())
            .collect();
        assert_eq!(got, expected, "flows of {id}");
        assert_eq!(node["flows"]["totalCount"], expected.len());
    }
    drop(data);
    let requests = gw.upstreams.celigo.control.requests();
    let flow_calls = requests
        .iter()
        .filter(|r| r.path == "/v1/flows" || r.path.ends_with("/flows"))
        .count();
    assert!(flow_calls <= 2, "{flow_calls} flows calls");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.ends_with("/flows") && r.path != "/v1/flows")
            .count(),
        0,
        "no per-integration calls"
    );
    // Flow.integration of 30 integrations' flows: at most one call per integration, shared.
    assert!(gw.celigo_calls("/v1/integrations/") <= 30);
}

#[tokio::test]
async fn identical_upstream_calls_are_made_once_per_request() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[3].clone();
    let query = "query($id: String!) { a: integration(source: CELIGO, sourceId: $id) { name } b: integration(source: CELIGO, sourceId: $id) { name flows { totalCount } } }";
    let response = gw.query(query, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["a"]["name"], response["data"]["b"]["name"]);
    assert_eq!(
        gw.celigo_calls(&format!("/v1/integrations/{id}")),
        2,
        "one get + one flows call"
    );
    assert_eq!(gw.celigo_calls(&format!("/v1/integrations/{id}/flows")), 1);
}

#[tokio::test]
async fn node_ids_round_trip_for_every_celigo_type() {
    let gw = Gateway::start().await;
    let listing = gw
        .query(
            "{ integrations(source: CELIGO, first: 3) { nodes { id sourceId flows(first: 1) { nodes { id sourceId } } connections(first: 1) { nodes { id sourceId } } history(first: 1) { nodes { id sourceId kind } } } } }",
            json!({}),
        )
        .await;
    assert!(listing["errors"].is_null(), "{listing}");
    let node = &listing["data"]["integrations"]["nodes"][0];
    let pairs = [
        (node["id"].clone(), node["sourceId"].clone(), "Integration"),
        (
            node["flows"]["nodes"][0]["id"].clone(),
            node["flows"]["nodes"][0]["sourceId"].clone(),
            "Flow",
        ),
        (
            node["connections"]["nodes"][0]["id"].clone(),
            node["connections"]["nodes"][0]["sourceId"].clone(),
            "Connection",
        ),
        (
            node["history"]["nodes"][0]["id"].clone(),
            node["history"]["nodes"][0]["sourceId"].clone(),
            "HistoryEntry",
        ),
    ];
    for (id, source_id, type_name) in pairs {
        assert!(id.is_string(), "{type_name} id missing: {listing}");
        let back = gw
            .query("query($id: ID!) { node(id: $id) { __typename id ... on Integration { sourceId } ... on Flow { sourceId } ... on Connection { sourceId } ... on HistoryEntry { sourceId kind } } }", json!({ "id": id }))
            .await;
        assert!(back["errors"].is_null(), "{back}");
        assert_eq!(back["data"]["node"]["__typename"], type_name);
        assert_eq!(back["data"]["node"]["id"], id);
        assert_eq!(back["data"]["node"]["sourceId"], source_id);
    }
    let nodes = gw
        .query(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [node["id"]] }),
        )
        .await;
    assert_eq!(nodes["data"]["nodes"][0]["id"], node["id"]);
}

#[tokio::test]
async fn unknown_ids_are_null_and_foreign_ids_are_bad_input() {
    let gw = Gateway::start().await;
    let response = gw
        .query(
            "{ integration(source: CELIGO, sourceId: \"ffffffffffffffffffffffff\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(response["data"]["integration"], Value::Null);
    assert!(response["errors"].is_null(), "{response}");
    let response = gw
        .query("{ node(id: \"bm90LWFuLWlk\") { id } }", json!({}))
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    let too_many: Vec<String> = (0..101).map(|i| format!("x{i}")).collect();
    let response = gw
        .query(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": too_many }),
        )
        .await;
    assert_code(&response, "BAD_USER_INPUT");
}

const HISTORY: &str = "query($id: String!, $first: Int, $after: String, $last: Int, $before: String) {
  integration(source: CELIGO, sourceId: $id) {
    name
    history(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { sourceId kind at occurredAt observedAt summary subject { kind sourceId name } actor { name } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}";

#[tokio::test]
async fn a_250_entry_audit_log_pages_forward_and_backward_exactly_once() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[0].clone();
    let expected = pluck(&gw.celigo_audit(&id), "_id");
    assert_eq!(expected.len(), 250);

    let forward = gw
        .assert_walks_both_ways(
            HISTORY,
            json!({ "id": id }),
            integration_history,
            100,
            &expected,
        )
        .await;
    for page in &forward {
        for edge in items(&integration_history(page)["edges"]) {
            assert_eq!(edge["node"]["kind"], "AUDIT");
            assert_eq!(edge["node"]["at"], edge["node"]["occurredAt"]);
            assert_eq!(edge["node"]["subject"]["kind"], "INTEGRATION");
            assert_eq!(edge["node"]["subject"]["sourceId"], id.as_str());
        }
    }
}

#[tokio::test]
async fn new_audit_entries_during_a_walk_do_not_shift_later_pages() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[0].clone();
    let page1 = gw.query(HISTORY, json!({ "id": id, "first": 10 })).await;
    let after = integration_history(&page1)["pageInfo"]["endCursor"].clone();
    insert_fresh_audit(&gw, &id, "6a0000000000000000000001");
    let page2 = gw
        .query(HISTORY, json!({ "id": id, "first": 10, "after": after }))
        .await;
    let expected = pluck(gw.celigo_audit(&id).iter().skip(11).take(10), "_id");
    assert_eq!(source_ids(integration_history(&page2)), expected);
    let fresh = gw.query(HISTORY, json!({ "id": id, "first": 1 })).await;
    assert_eq!(
        source_ids(integration_history(&fresh)),
        vec!["6a0000000000000000000001".to_string()],
        "a new walk sees it"
    );
}

#[tokio::test]
async fn history_reads_only_the_upstream_pages_a_page_needs() {
    let gw = Gateway::start_with(
        CeligoFakeConfig {
            default_limit: 20,
            ..CeligoFakeConfig::default()
        },
        40,
        |_| {},
    )
    .await;
    let id = gw.celigo_integration_ids()[0].clone();
    gw.reset_calls();
    let page = gw.query(HISTORY, json!({ "id": id, "first": 10 })).await;
    assert!(page["errors"].is_null(), "{page}");
    assert_eq!(
        gw.celigo_calls(&format!("/v1/integrations/{id}/audit")),
        1,
        "10 + 1 entries fit in the first page of 20"
    );
}

/// A fault on one upstream route costs only the fields that needed it.
async fn fault_case(fault: Fault, expected_code: &str) -> Value {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[1].clone();
    gw.upstreams.celigo.control.inject("/audit", fault, None);
    let query = "query($id: String!) { integration(source: CELIGO, sourceId: $id) { name flows(first: 2) { nodes { name } } history(first: 5) { nodes { sourceId } pageInfo { hasNextPage } } } }";
    let response = gw.query(query, json!({ "id": id })).await;
    assert_source_error(&response, "CELIGO", expected_code);
    assert_eq!(
        response["errors"][0]["path"],
        json!(["integration", "history"])
    );
    assert!(
        response["data"]["integration"]["name"].is_string(),
        "partial data survives: {response}"
    );
    assert_eq!(
        response["data"]["integration"]["flows"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        response["data"]["integration"]["history"]["nodes"],
        json!([])
    );
    assert_eq!(
        response["data"]["integration"]["history"]["pageInfo"]["hasNextPage"],
        true
    );
    let text = response.to_string();
    assert!(!text.contains("demo-celigo-token"), "no token in {text}");
    response
}

#[tokio::test]
async fn upstream_5xx_is_unavailable_with_partial_data() {
    fault_case(respond(503, &[], ""), "UPSTREAM_UNAVAILABLE").await;
}

#[tokio::test]
async fn upstream_429_is_rate_limited_with_retry_after() {
    let body = include_str!("../fixtures/celigo/error.429.json").to_string();
    let response = fault_case(
        respond(429, &[("Retry-After", "7")], body),
        "UPSTREAM_RATE_LIMITED",
    )
    .await;
    assert_eq!(response["errors"][0]["extensions"]["retryAfterSeconds"], 7);
}

#[tokio::test]
async fn upstream_garbage_and_truncated_bodies_are_bad_responses() {
    fault_case(Fault::Garbage, "UPSTREAM_BAD_RESPONSE").await;
    fault_case(Fault::Truncated, "UPSTREAM_BAD_RESPONSE").await;
}

#[tokio::test]
async fn upstream_401_is_unauthorized() {
    let body = include_str!("../fixtures/celigo/error.401.json").to_string();
    fault_case(respond(401, &[], body), "UPSTREAM_UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 10, |config| {
        source_config(config, Source::Celigo).timeout_ms = Some(300);
    })
    .await;
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        Fault::Delay(std::time::Duration::from_secs(3)),
        None,
    );
    let response = gw
        .query(
            "{ integrations(source: CELIGO) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_code(&response, "UPSTREAM_TIMEOUT");
    assert_eq!(response["data"]["integrations"]["nodes"], json!([]));
}

#[tokio::test]
async fn a_wrong_token_and_an_unreachable_upstream_are_mapped() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        source_config(config, Source::Celigo).token =
            Some(secrecy::SecretString::from("wrong-token"));
    })
    .await;
    let response = gw
        .query(
            "{ integrations(source: CELIGO) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    assert!(!response.to_string().contains("wrong-token"));

    let dead_url = format!("http://127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        source_config(config, Source::Celigo).base_url = dead_url.clone();
    })
    .await;
    let response = gw.query("{ integrations(source: CELIGO) { nodes { name } } sources { source healthy lastError } }", json!({})).await;
    assert_code(&response, "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn unconfigured_sources_fail_only_their_field() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 40, |config| {
        config.sources.truto = None;
    })
    .await;
    let response = gw
        .query("{ truto: integrations(source: TRUTO) { nodes { name } } celigo: integrations(source: CELIGO, first: 2) { nodes { name } } }", json!({}))
        .await;
    assert_source_error(&response, "TRUTO", "SOURCE_NOT_CONFIGURED");
    assert_eq!(
        response["data"]["celigo"]["nodes"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn raw_vendor_objects_are_returned_with_secrets_redacted() {
    let gw = Gateway::start().await;
    let response = gw
        .query(
            "{ integrations(source: CELIGO, first: 1) { nodes { sourceId raw } } }",
            json!({}),
        )
        .await;
    let node = &response["data"]["integrations"]["nodes"][0];
    assert_eq!(node["raw"]["_id"], node["sourceId"]);
}

/// Lists are decoded in one pass and `raw` is found in the body only when selected: it must
/// still be the vendor's object exactly (redacted), for flows read in bulk and audit entries,
/// and the bulk flows list is read once per request however the DataLoader batches.
#[tokio::test]
async fn raw_is_exact_for_bulk_flows_and_audit_entries_and_each_list_is_read_once() {
    let gw = Gateway::start().await;
    let query = "{ integrations(source: CELIGO, first: 30) { nodes { sourceId name raw flows(first: 100) { nodes { sourceId name raw } } history(first: 5) { nodes { sourceId kind raw } } } } }";
    let response = gw.query(query, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    let nodes = response["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(nodes.len(), 30);
    let data = gw.upstreams.celigo_fake.data();
    for node in &nodes {
        let id = node["sourceId"].as_str().expect("id");
        let integration = data
            .integrations
            .iter()
            .find(|i| i["_id"] == id)
            .expect("known integration");
        assert_eq!(
            node["raw"],
            chronograph::domain::redact(integration.clone())
        );
        let expected: Vec<Value> = data
            .flows
            .iter()
            .filter(|f| f["_integrationId"] == id)
            .map(|f| chronograph::domain::redact(f.clone()))
            .collect();
        let flows: Vec<Value> = items(&node["flows"]["nodes"])
            .iter()
            .map(|f| f["raw"].clone())
            .collect();
        assert_eq!(flows, expected, "flows of {id}");
        for flow in items(&node["flows"]["nodes"]) {
            assert_eq!(flow["raw"]["_id"], flow["sourceId"]);
            assert_eq!(flow["raw"]["name"], flow["name"]);
        }
    }
    drop(data);
    for node in &nodes {
        let id = node["sourceId"].as_str().expect("id");
        let audit = gw.celigo_audit(id);
        for entry in items(&node["history"]["nodes"]) {
            assert_eq!(entry["kind"], "AUDIT");
            let expected = audit
                .iter()
                .find(|a| a["_id"] == entry["sourceId"])
                .expect("entry upstream");
            assert_eq!(entry["raw"], chronograph::domain::redact(expected.clone()));
        }
    }
    let requests = gw.upstreams.celigo.control.requests();
    let bulk: Vec<String> = requests
        .iter()
        .filter(|r| r.path == "/v1/flows")
        .map(|r| format!("{}?{}", r.path, r.query.clone().unwrap_or_default()))
        .collect();
    let distinct: std::collections::HashSet<&String> = bulk.iter().collect();
    assert!(!bulk.is_empty());
    assert_eq!(
        bulk.len(),
        distinct.len(),
        "a bulk flows page read twice: {bulk:?}"
    );
}

#[tokio::test]
async fn an_audit_log_out_of_order_is_read_whole_sorted_and_flagged() {
    let gw = Gateway::start_with(
        CeligoFakeConfig {
            default_limit: 10,
            ..CeligoFakeConfig::default()
        },
        5,
        |_| {},
    )
    .await;
    let id = gw.celigo_integration_ids()[0].clone();
    let moved = {
        let mut data = gw.upstreams.celigo_fake.data();
        let log: Vec<Value> = data.audit_of_integration(&id);
        let own: Vec<usize> = log[..3]
            .iter()
            .filter_map(|l| data.audit.iter().position(|e| e["_id"] == l["_id"]))
            .collect();
        let (position, late) = (own[0], own[2]);
        // The third entry of this log now claims to be the newest, but stays third.
        let newest_time = data.audit[position]["time"].clone();
        let newer =
            chronograph::domain::datetime::parse_lenient(newest_time.as_str().unwrap_or_default())
                .expect("time")
                + chrono::Duration::seconds(1);
        data.audit[late]["time"] = json!(chronograph::domain::datetime::format_utc_ms(newer));
        data.audit[late]["_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let response = gw.query(HISTORY, json!({ "id": id, "first": 3 })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        source_ids(integration_history(&response))[0],
        moved,
        "sorted: the moved entry comes first"
    );
    let warnings = response["extensions"]["warnings"].to_string();
    assert!(warnings.contains("not newest-first"), "{response}");
}

/// `Flow.connections`: the connections the flow's own steps use, read from the flow's steps
/// (kept in its raw JSON, not decoded with every flow listed). Steps in a shape Celigo does not
/// document fail that field alone, with `UPSTREAM_BAD_RESPONSE`; the flow is still listed.
#[tokio::test]
async fn flow_connections_are_the_ones_its_steps_use_and_bad_steps_fail_only_that_field() {
    const FLOW: &str = "{ integrations(source: CELIGO, first: 1) { nodes { flows(first: 1) { nodes { sourceId name connections { sourceId } } } } } }";
    let gw = Gateway::start().await;
    let (integration, flow_id, expected) = {
        let data = gw.upstreams.celigo_fake.data();
        let integration = data.integrations[0]["_id"].clone();
        let flow = data
            .flows
            .iter()
            .find(|f| f["_integrationId"] == integration)
            .expect("a flow")
            .clone();
        let used = |list: &[Value], id: &Value| {
            list.iter()
                .find(|r| r["_id"] == *id)
                .and_then(|r| r["_connectionId"].as_str())
                .expect("resource with a connection")
                .to_string()
        };
        let mut expected = vec![
            used(&data.exports, &flow["pageGenerators"][0]["_exportId"]),
            used(&data.imports, &flow["pageProcessors"][0]["_importId"]),
        ];
        expected.sort();
        expected.dedup();
        (
            integration.as_str().expect("id").to_string(),
            flow["_id"].as_str().expect("id").to_string(),
            expected,
        )
    };

    let body = gw.query(FLOW, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let flow = &body["data"]["integrations"]["nodes"][0]["flows"]["nodes"][0];
    assert_eq!(flow["sourceId"], flow_id.as_str());
    let mut got: Vec<String> = flow["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["sourceId"].as_str().expect("id").to_string())
        .collect();
    got.sort();
    assert_eq!(got, expected);
    // The integration's flows, then its exports, imports and connections, once each.
    for route in ["flows", "exports", "imports", "connections"] {
        assert_eq!(
            gw.celigo_calls(&format!("/v1/integrations/{integration}/{route}")),
            1,
            "{route}"
        );
    }

    {
        let mut data = gw.upstreams.celigo_fake.data();
        let flow = data
            .flows
            .iter_mut()
            .find(|f| f["_id"] == flow_id.as_str())
            .expect("the flow");
        flow["pageGenerators"] = json!("not a list of steps");
    }
    let body = gw.query(FLOW, json!({})).await;
    let flow = &body["data"]["integrations"]["nodes"][0]["flows"]["nodes"][0];
    assert_eq!(flow["sourceId"], flow_id.as_str(), "{body}");
    assert!(flow["name"].is_string(), "{body}");
    assert_eq!(flow["connections"], json!([]), "{body}");
    assert_code(&body, "UPSTREAM_BAD_RESPONSE");
    let error = &body["errors"][0];
    assert_eq!(
        error["path"],
        json!([
            "integrations",
            "nodes",
            0,
            "flows",
            "nodes",
            0,
            "connections"
        ])
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains(&flow_id)),
        "{error}"
    );
}
