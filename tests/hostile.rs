//! Hostile input on every transport (issue 19): what a 1 KB document, a socket or a caller's
//! input can do to the gateway, over HTTP GET, POST, batches and WebSocket.

mod common;

use common::{codes, ws_connect, ws_next_json, ws_send, Gateway};
use serde_json::{json, Value};
use std::time::Duration;

/// `query { ...F0 }` where `F{i}` spreads `F{i+1}` twice: 2^levels fields from under 1.5 KB.
fn fragment_bomb(operation: &str, levels: usize) -> String {
    let mut query = format!("{operation} {{ ...F0 }}");
    for i in 0..levels {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    query
}

/// Without the field cap, 2^30 expanded fields keep the server busy for many minutes, so a
/// regression shows as this bound passing, not as a slow test.
const BOUND: Duration = Duration::from_secs(30);

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn assert_too_complex(response: &Value) {
    assert_eq!(codes(response), vec!["QUERY_TOO_COMPLEX"], "{response}");
    assert!(response.get("data").is_none(), "{response}");
    let message = response["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("server.max_fields"), "{message}");
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_over_post_get_and_batches() {
    let gw = Gateway::start().await;
    let bomb = fragment_bomb("query", 30);
    assert!(bomb.len() < 1_500);

    let post = tokio::time::timeout(BOUND, gw.query(&bomb, json!({})))
        .await
        .expect("answered in time");
    assert_too_complex(&post);

    let url = reqwest::Url::parse_with_params(&gw.url, [("query", bomb.as_str())]).expect("url");
    let get = tokio::time::timeout(BOUND, gw.client.get(url).send())
        .await
        .expect("answered in time")
        .expect("get");
    assert_eq!(get.status().as_u16(), 200);
    assert_too_complex(&json_of(get).await);

    let batch = json!([{ "query": bomb }, { "query": "{ __typename }" }]);
    let answer = tokio::time::timeout(
        BOUND,
        gw.client
            .post(&gw.url)
            .header("content-type", "application/json")
            .body(batch.to_string())
            .send(),
    )
    .await
    .expect("answered in time")
    .expect("batch");
    let answers = json_of(answer).await;
    assert_too_complex(&answers[0]);
    assert_eq!(answers[1]["data"]["__typename"], "Query");

    // A document just under the cap still runs: the cap counts, it does not guess.
    let small = fragment_bomb("query", 8);
    let response = gw.query(&small, json!({})).await;
    assert_eq!(response["data"]["__typename"], "Query", "{response}");
}

#[tokio::test]
async fn the_field_cap_is_configurable() {
    let gw =
        Gateway::start_options(Default::default(), |config| config.server.max_fields = 3).await;
    let response = gw
        .query("{ sources { source healthy lastError } }", json!({}))
        .await;
    assert_eq!(codes(&response), vec!["QUERY_TOO_COMPLEX"], "{response}");
    let response = gw.query("{ sources { source healthy } }", json!({})).await;
    assert!(response["data"]["sources"].is_array(), "{response}");
}

/// The errors of an operation that never ran: an `error` message's payload.
fn ws_errors(message: &Value) -> Vec<Value> {
    match message["type"].as_str() {
        Some("error") => message["payload"].as_array().cloned().unwrap_or_default(),
        // TODO(issue 19 item 10): graphql-transport-ws sends these as `error`, not `next`.
        _ => message["payload"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    }
}

async fn ws_ready(gw: &Gateway) -> common::Socket {
    let mut socket = ws_connect(gw).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws_next_json(&mut socket).await["type"], "connection_ack");
    socket
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_over_websocket() {
    let gw = Gateway::start().await;
    let mut socket = ws_ready(&gw).await;
    for (id, operation) in [("1", "query"), ("2", "subscription")] {
        let bomb = fragment_bomb(operation, 30);
        ws_send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": bomb } }),
        )
        .await;
        let answer = tokio::time::timeout(BOUND, ws_next_json(&mut socket))
            .await
            .expect("answered in time");
        assert_eq!(answer["id"], id, "{answer}");
        let errors = ws_errors(&answer);
        assert_eq!(errors.len(), 1, "{answer}");
        assert_eq!(
            errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "{answer}"
        );
    }
    // The connection still serves.
    ws_send(
        &mut socket,
        json!({ "id": "3", "type": "subscribe", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    let next = ws_next_json(&mut socket).await;
    assert_eq!(next["payload"]["data"]["__typename"], "Query", "{next}");
}

#[tokio::test]
async fn queries_and_mutations_run_over_websocket_with_request_state() {
    let gw = Gateway::start().await;
    let mut socket = ws_ready(&gw).await;
    ws_send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": {
            "query": "{ integrations(source: CELIGO, first: 2) { nodes { name } } }" } }),
    )
    .await;
    let next = ws_next_json(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    let nodes = next["payload"]["data"]["integrations"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 2, "{next}");
    assert_eq!(ws_next_json(&mut socket).await["type"], "complete");

    // Validation and parse errors carry codes over WebSocket as over HTTP.
    for (id, query, code) in [
        (
            "v",
            "{ integrations(source: CELIGO) { nmae } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("p", "{ integrations(", "GRAPHQL_PARSE_FAILED"),
    ] {
        ws_send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
        let answer = ws_next_json(&mut socket).await;
        let errors = ws_errors(&answer);
        assert_eq!(errors.len(), 1, "{answer}");
        assert_eq!(errors[0]["extensions"]["code"], code, "{answer}");
    }
}

use tokio_tungstenite::tungstenite::Message;

/// The close code the server ends the socket with (within 5 s).
async fn close_code(socket: &mut common::Socket) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(socket))
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

fn history_subscription(id: &str, target: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": {
        "query": "subscription($s: [HistorySubject!]!) { historyAdded(subjects: $s) { sourceId } }",
        "variables": { "s": [{ "integration": { "source": "CELIGO", "sourceId": target } }] } } })
}

fn celigo_ids(gw: &Gateway, n: usize) -> Vec<String> {
    gw.upstreams.celigo_fake.data().integrations[..n]
        .iter()
        .filter_map(|i| i["_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn websocket_protocol_errors_close_with_the_protocol_codes() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.ws_init_timeout_ms = 300;
    })
    .await;
    let ids = celigo_ids(&gw, 1);

    // Subscribe before connection_init: 4401.
    let mut socket = ws_connect(&gw).await;
    ws_send(&mut socket, history_subscription("1", &ids[0])).await;
    assert_eq!(close_code(&mut socket).await, Some(4401));

    // Not JSON, or an unknown type: 4400.
    for bad in ["{not json", r#"{"type":"launch"}"#] {
        let mut socket = ws_ready(&gw).await;
        futures::SinkExt::send(&mut socket, Message::text(bad))
            .await
            .expect("send");
        assert_eq!(close_code(&mut socket).await, Some(4400), "{bad}");
    }

    // The same id twice while the first runs: 4409.
    let mut socket = ws_ready(&gw).await;
    ws_send(&mut socket, history_subscription("dup", &ids[0])).await;
    ws_send(&mut socket, history_subscription("dup", &ids[0])).await;
    assert_eq!(close_code(&mut socket).await, Some(4409));

    // A second connection_init: 4429.
    let mut socket = ws_ready(&gw).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(close_code(&mut socket).await, Some(4429));

    // No connection_init in time: 4408.
    let mut socket = ws_connect(&gw).await;
    assert_eq!(close_code(&mut socket).await, Some(4408));

    // A refused caller: 4403.
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.api_keys = vec!["k".to_string().into()];
    })
    .await;
    let mut socket = ws_connect(&gw).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(close_code(&mut socket).await, Some(4403));
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_is_closed_not_run() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.body_limit_bytes = 64 * 1024;
    })
    .await;
    let mut socket = ws_ready(&gw).await;
    let padding = " ".repeat(100 * 1024);
    let big = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": format!("{{ __typename {padding} }}") } });
    futures::SinkExt::send(&mut socket, Message::text(big.to_string()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1009));
    // Under the limit still runs, and the server still answers.
    let mut socket = ws_ready(&gw).await;
    ws_send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    assert_eq!(
        ws_next_json(&mut socket).await["payload"]["data"]["__typename"],
        "Query"
    );
}

#[tokio::test]
async fn websocket_documents_have_the_http_limits() {
    let gw = Gateway::start().await;
    let mut socket = ws_ready(&gw).await;
    let aliases: String = (0..60).map(|i| format!(" a{i}: __typename")).collect();
    ws_send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": { "query": format!("{{{aliases} }}") } }),
    )
    .await;
    let answer = ws_next_json(&mut socket).await;
    assert_eq!(
        ws_errors(&answer)[0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX",
        "{answer}"
    );
}

#[tokio::test]
async fn subscriptions_are_capped_per_connection_and_pollers_per_process() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.max_subscriptions_per_connection = 3;
        config.server.max_pollers = 4;
    })
    .await;
    let ids = celigo_ids(&gw, 6);
    let mut socket = ws_ready(&gw).await;
    for (n, id) in ids[..3].iter().enumerate() {
        ws_send(&mut socket, history_subscription(&n.to_string(), id)).await;
    }
    ws_send(&mut socket, history_subscription("3", &ids[3])).await;
    let refused = ws_next_json(&mut socket).await;
    assert_eq!(refused["id"], "3", "{refused}");
    let errors = ws_errors(&refused);
    assert_eq!(errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
    assert!(errors[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("server.max_subscriptions_per_connection"));

    // Completing one makes room on this connection.
    ws_send(&mut socket, json!({ "id": "0", "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ws_send(&mut socket, history_subscription("4", &ids[0])).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw
        .metrics()
        .await
        .contains("chronograph_subscription_pollers 3\n"));

    // The process runs at most four pollers: a fifth subject set is refused, a watched one is not.
    let mut other = ws_ready(&gw).await;
    ws_send(&mut other, history_subscription("x", &ids[3])).await;
    ws_send(&mut other, history_subscription("y", &ids[4])).await;
    let refused = ws_next_json(&mut other).await;
    assert_eq!(refused["id"], "y", "{refused}");
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{refused}"
    );
    assert!(refused["payload"]["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("server.max_pollers"));
    ws_send(&mut other, history_subscription("z", &ids[1])).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw
        .metrics()
        .await
        .contains("chronograph_subscription_pollers 4\n"));
}
