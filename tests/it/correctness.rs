//! GraphQL correctness a newcomer checks first (issue 15): result maps in selection order,
//! no `data` entry when execution never started.

use crate::common::{assert_warned, codes, Gateway};
use serde_json::json;

/// Raw response text (serde_json's map would sort the keys and hide their order).
async fn post_text(gw: &Gateway, body: String) -> String {
    gw.client
        .post(&gw.url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("gateway answers")
        .text()
        .await
        .expect("body")
}

fn positions(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .map(|k| {
            text.find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("{k} missing: {text}"))
        })
        .collect()
}

#[tokio::test]
async fn result_keys_follow_the_selection_order_at_every_level() {
    let gw = Gateway::start().await;
    // `mid` resolves at once, the two listings call upstreams: completion order differs from
    // selection order, which is what the response must follow.
    let query =
        "{ zeta: integrations(source: TRUTO, first: 1) { nodes { zname: name zid: sourceId } } \
                 alpha: integrations(source: CELIGO, first: 1) { ...N } mid: sources { source } } \
                 fragment N on IntegrationConnection { nodes { bname: name aid: sourceId } }";
    for _ in 0..5 {
        let text = post_text(&gw, json!({ "query": query }).to_string()).await;
        let at = positions(
            &text,
            &["zeta", "zname", "zid", "alpha", "bname", "aid", "mid"],
        );
        let mut sorted = at.clone();
        sorted.sort_unstable();
        assert_eq!(at, sorted, "keys out of selection order: {text}");
    }
}

#[tokio::test]
async fn a_request_that_never_executed_has_no_data_entry() {
    let gw = Gateway::start().await;
    for body in [
        "{not json".to_string(),
        json!({ "query": "" }).to_string(),
        json!({ "query": "{ nope }" }).to_string(),
        json!([]).to_string(),
    ] {
        let text = post_text(&gw, body.clone()).await;
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert!(value.get("data").is_none(), "{body} answered {text}");
        assert!(
            value["errors"][0]["extensions"]["code"].is_string(),
            "{text}"
        );
    }
    // Execution that started keeps its `data`, even when null.
    let text = post_text(
        &gw,
        json!({ "query": "{ integration(source: CELIGO, sourceId: \"x\") { name } }" }).to_string(),
    )
    .await;
    assert!(text.contains("\"data\""), "{text}");
}

#[tokio::test]
async fn an_enum_written_as_a_string_is_a_validation_error() {
    let gw = Gateway::start().await;
    for query in [
        "{ integrations(source: \"CELIGO\", first: 1) { nodes { name } } }",
        "{ history(subjects: [{ integration: { source: \"CELIGO\", sourceId: \"x\" } }], first: 1) { nodes { id } } }",
        "{ ...F } fragment F on Query { integrations(source: \"TRUTO\") { totalCount } }",
    ] {
        let response = gw.query(query, json!({})).await;
        assert_eq!(
            codes(&response),
            vec!["GRAPHQL_VALIDATION_FAILED"],
            "{query}: {response}"
        );
        let message = response["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("ROCKETCHAT, CELIGO, HEXABASE, TRUTO, DEALCLOUD"),
            "{message}"
        );
        assert!(response.get("data").is_none(), "{response}");
    }
    // Through a variable the value is a JSON string by design, and runs.
    let response = gw
        .query(
            "query($s: Source!) { integrations(source: $s, first: 1) { nodes { name } } }",
            json!({ "s": "CELIGO" }),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response}");
}

#[tokio::test]
async fn validation_messages_say_what_to_write_instead() {
    let gw = Gateway::start().await;
    let cases = [
        (
            "{ integrations(source: CELIGO) { nodes { nmae } } }",
            "Did you mean \"name\"?",
        ),
        (
            "{ integrations(source: CELIGO, frist: 2) { totalCount } }",
            "Did you mean \"first\"?",
        ),
        (
            "{ integrations(source: CELIGOO) { totalCount } }",
            "One of: ROCKETCHAT, CELIGO, HEXABASE, TRUTO, DEALCLOUD",
        ),
        (
            "{ history(subjects: [{ integration: { source: TRUTO, sourceId: \"x\" }, dealcloudEntryType: \"a\" }]) { totalCount } }",
            "HistorySubject takes exactly one of integration, hexabaseItem, dealcloudEntryType",
        ),
        (
            "subscription { historyAdded(subjects: []) { id } }",
            "/graphql/ws",
        ),
    ];
    for (query, expected) in cases {
        let response = gw.query(query, json!({})).await;
        let message = response["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(expected), "{query}: {message}");
        assert_eq!(
            codes(&response),
            vec!["GRAPHQL_VALIDATION_FAILED"],
            "{response}"
        );
    }
    // With suggestions off, nothing about the schema is told.
    let quiet = Gateway::start_options(Default::default(), |config| {
        config.server.suggestions = false;
    })
    .await;
    let response = quiet
        .query(
            "{ integrations(source: CELIGOO) { totalCount } }",
            json!({}),
        )
        .await;
    let message = response["errors"][0]["message"].as_str().unwrap_or("");
    assert!(!message.contains("One of"), "{message}");
}

#[tokio::test]
async fn a_subject_of_a_source_without_history_says_so() {
    let gw = Gateway::start().await;
    let response = gw
        .query(
            "{ history(subjects: [{ integration: { source: TRUTO, sourceId: \"x\" } }], first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_warned(&response, "TRUTO keeps no history");
}

#[tokio::test]
async fn a_connection_has_one_global_id_however_it_is_reached() {
    let gw = Gateway::start().await;
    let listed = gw
        .query(
            "{ integrations(source: CELIGO, first: 1) { nodes { id connections(first: 5) { nodes { id sourceId } } } } }",
            json!({}),
        )
        .await;
    let integration = listed["data"]["integrations"]["nodes"][0].clone();
    let connection = integration["connections"]["nodes"][0].clone();
    assert!(connection["id"].is_string(), "{listed}");

    // Through `node`: the same id back.
    let node = gw
        .query(
            "query($id: ID!) { node(id: $id) { id ... on Connection { sourceId } } }",
            json!({ "id": connection["id"] }),
        )
        .await;
    assert_eq!(node["data"]["node"]["id"], connection["id"], "{node}");
    assert_eq!(node["data"]["node"]["sourceId"], connection["sourceId"]);

    // Through a mutation's payload: the same id again.
    let registered = gw
        .query(
            "mutation($i: ID!, $c: [ID!]!) { registerConnections(integrationId: $i, connectionIds: $c) { registeredConnectionIds } }",
            json!({ "i": integration["id"], "c": [connection["id"]] }),
        )
        .await;
    let ids = registered["data"]["registerConnections"]["registeredConnectionIds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(ids.contains(&connection["id"]), "{registered}");
}

/// The `chronograph_upstream_calls_total` series of `/metrics`.
fn upstream_series(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("chronograph_upstream_calls_total{"))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn client_ids_never_add_metrics_series() {
    let gw = Gateway::start().await;
    // Every example (every vendor, reads and the mutations) labels its calls with a template.
    let files = crate::common::example_files();
    for file in files {
        let query = std::fs::read_to_string(&file).expect("readable");
        gw.query(&query, json!({})).await;
    }
    let lookup = "query($id: String!) { c: integration(source: CELIGO, sourceId: $id) { name } \
                  r: integration(source: ROCKETCHAT, sourceId: $id) { name } \
                  t: integration(source: TRUTO, sourceId: $id) { name } \
                  h: history(subjects: [{ hexabaseItem: { applicationId: $id, datastoreId: $id, itemId: $id } }, \
                     { dealcloudEntryType: $id }, { integration: { source: CELIGO, sourceId: $id } }], first: 1) { totalCount } }";
    gw.query(lookup, json!({ "id": "first-unknown-id" })).await;
    let before = upstream_series(&gw.metrics().await);
    assert!(!before.is_empty());
    assert!(
        !before.iter().any(|s| s.contains("route=\"other\"")),
        "a call without a route template: {before:#?}"
    );
    for i in 0..200 {
        gw.query(lookup, json!({ "id": format!("rand{i}x{}", i * 7919) }))
            .await;
    }
    let after = upstream_series(&gw.metrics().await);
    assert_eq!(before, after, "client ids added series");
}

#[tokio::test]
async fn every_subjects_argument_takes_1_to_50() {
    let gw = Gateway::start().await;
    let many: Vec<serde_json::Value> = (0..51)
        .map(|i| json!({ "integration": { "source": "CELIGO", "sourceId": format!("i{i}") } }))
        .collect();
    for subjects in [json!([]), json!(many)] {
        for query in [
            "query($s: [HistorySubject!]!) { history(subjects: $s, first: 1) { totalCount } }",
            "query($s: [HistorySubject!]!) { changes(subjects: $s) { nextSince } }",
        ] {
            let response = gw.query(query, json!({ "s": subjects })).await;
            assert_eq!(
                codes(&response),
                vec!["BAD_USER_INPUT"],
                "{query}: {response}"
            );
            let message = response["errors"][0]["message"].as_str().unwrap_or("");
            assert!(message.contains("takes 1 to 50"), "{message}");
        }
    }
}
