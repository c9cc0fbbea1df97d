//! Hostile input on every transport (issue 19): what a 1 KB document, a socket or a caller's
//! input can do to the gateway, over HTTP GET, POST, batches and WebSocket.

use crate::common::{
    assert_code, codes, header, history_added, json_of, respond, warnings, ws_close_code,
    ws_connect, ws_errors, ws_next_json, ws_ready, ws_send, ws_send_text, Gateway,
};
use chronograph::schema::limits::fragment_bomb;
use serde_json::{json, Value};
use std::time::Duration;

/// Without the field cap, 2^30 expanded fields keep the server busy for many minutes, so a
/// regression shows as this bound passing, not as a slow test.
const BOUND: Duration = Duration::from_secs(30);

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
    let answer = tokio::time::timeout(BOUND, gw.post(batch.to_string(), &[]))
        .await
        .expect("answered in time");
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
    assert_code(&response, "QUERY_TOO_COMPLEX");
    let response = gw.query("{ sources { source healthy } }", json!({})).await;
    assert!(response["data"]["sources"].is_array(), "{response}");
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_over_websocket() {
    let gw = Gateway::start().await;
    let mut socket = ws_ready(&gw, Value::Null).await;
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
    let mut socket = ws_ready(&gw, Value::Null).await;
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

    // A mutation runs too, with the same request state.
    let listed = gw
        .query(
            "{ integrations(source: CELIGO, first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    let integration = listed["data"]["integrations"]["nodes"][0]["id"].clone();
    ws_send(
        &mut socket,
        json!({ "id": "m", "type": "subscribe", "payload": {
            "query": "mutation($i: ID!) { createIntegrationRevision(integrationId: $i) { createdRevision noChanges } }",
            "variables": { "i": integration } } }),
    )
    .await;
    let next = ws_next_json(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    assert!(
        next["payload"]["data"]["createIntegrationRevision"].is_object(),
        "{next}"
    );
    assert_eq!(ws_next_json(&mut socket).await["type"], "complete");
    assert_eq!(
        gw.upstreams
            .celigo
            .control
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains("/revisions/create"))
            .count(),
        1
    );

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

#[tokio::test]
async fn websocket_protocol_errors_close_with_the_protocol_codes() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.ws_init_timeout_ms = 300;
    })
    .await;
    let ids = gw.celigo_integration_ids();

    // Subscribe before connection_init: 4401.
    let mut socket = ws_connect(&gw).await;
    ws_send(&mut socket, history_added("1", &ids[0])).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(4401));

    // Not JSON, or an unknown type: 4400.
    for bad in ["{not json", r#"{"type":"launch"}"#] {
        let mut socket = ws_ready(&gw, Value::Null).await;
        ws_send_text(&mut socket, bad).await;
        assert_eq!(ws_close_code(&mut socket).await, Some(4400), "{bad}");
    }

    // The same id twice while the first runs: 4409.
    let mut socket = ws_ready(&gw, Value::Null).await;
    ws_send(&mut socket, history_added("dup", &ids[0])).await;
    ws_send(&mut socket, history_added("dup", &ids[0])).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(4409));

    // A second connection_init: 4429.
    let mut socket = ws_ready(&gw, Value::Null).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(4429));

    // No connection_init in time: 4408.
    let mut socket = ws_connect(&gw).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(4408));

    // A refused caller: 4403.
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.api_keys = vec!["k".to_string().into()];
    })
    .await;
    let mut socket = ws_connect(&gw).await;
    ws_send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(4403));
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_is_closed_not_run() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.body_limit_bytes = 64 * 1024;
    })
    .await;
    let mut socket = ws_ready(&gw, Value::Null).await;
    let padding = " ".repeat(100 * 1024);
    let big = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": format!("{{ __typename {padding} }}") } });
    ws_send(&mut socket, big).await;
    assert_eq!(ws_close_code(&mut socket).await, Some(1009));
    // Under the limit still runs, and the server still answers.
    let mut socket = ws_ready(&gw, Value::Null).await;
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
    let mut socket = ws_ready(&gw, Value::Null).await;
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
    let ids = gw.celigo_integration_ids();
    let mut socket = ws_ready(&gw, Value::Null).await;
    for (n, id) in ids[..3].iter().enumerate() {
        ws_send(&mut socket, history_added(&n.to_string(), id)).await;
    }
    ws_send(&mut socket, history_added("3", &ids[3])).await;
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
    ws_send(&mut socket, history_added("4", &ids[0])).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw
        .metrics()
        .await
        .contains("chronograph_subscription_pollers 3\n"));

    // The process runs at most four pollers: a fifth subject set is refused, a watched one is not.
    let mut other = ws_ready(&gw, Value::Null).await;
    ws_send(&mut other, history_added("x", &ids[3])).await;
    ws_send(&mut other, history_added("y", &ids[4])).await;
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
    ws_send(&mut other, history_added("z", &ids[1])).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw
        .metrics()
        .await
        .contains("chronograph_subscription_pollers 4\n"));
}

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw connection to the gateway that has sent `bytes`.
async fn send_raw(gw: &Gateway, bytes: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// Whether the server closes `stream` (EOF or reset) within 5 s, and what it sent before.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> (bool, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (false, String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(0)) | Ok(Err(_)) => return (true, String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_capped() {
    let gw = Gateway::start_options(Default::default(), |config| {
        config.server.header_read_timeout_ms = 300;
        config.server.body_read_timeout_ms = 300;
        config.server.max_connections = 4;
    })
    .await;

    // Half-sent headers, and a socket that sends nothing: both closed.
    let mut half = send_raw(&gw, b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await;
    let mut silent = send_raw(&gw, b"").await;
    assert!(
        closed_by_server(&mut half).await.0,
        "half-sent headers kept open"
    );
    assert!(
        closed_by_server(&mut silent).await.0,
        "silent socket kept open"
    );

    // A body that never completes: answered with a JSON error, not held.
    let mut slow_body = send_raw(&gw, b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":").await;
    let (closed, answer) = closed_by_server(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"BAD_USER_INPUT\""), "{answer}");
    assert!(answer.contains("body_read_timeout_ms"), "{answer}");
    let _ = closed;

    // More idle sockets than the cap: a normal query still answers once they time out.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(send_raw(&gw, b"").await);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        gw.query("{ __typename }", json!({})),
    )
    .await
    .expect("answered while idle sockets hold the slots");
    assert_eq!(response["data"]["__typename"], "Query");
    drop(idle);
}

#[tokio::test]
async fn other_methods_and_broken_bodies_get_the_json_error_shape() {
    let gw = Gateway::start().await;
    let put = gw
        .client
        .put(&gw.url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status().as_u16(), 405);
    assert_eq!(header(&put, "allow"), Some("GET, POST"));
    let body = json_of(put).await;
    assert_code(&body, "BAD_USER_INPUT");

    // A chunk size that is not hexadecimal.
    let mut stream = send_raw(&gw, b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n").await;
    let (_, answer) = closed_by_server(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(answer.contains("\"code\":\"BAD_USER_INPUT\""), "{answer}");
}

#[tokio::test]
async fn credentials_echoed_by_a_vendor_never_leave_the_gateway() {
    let gw = Gateway::start().await;
    let token = gw.upstreams.celigo_token.clone();
    assert!(
        token.len() >= 6,
        "the demo token is long enough to be recognised"
    );
    // A 401 that repeats the Authorization header, a 400 that repeats a secret-looking query
    // string, and a 403 with the token in a JSON field.
    let echoes = [
        (
            401,
            format!(
                r#"{{"errors":[{{"code":"unauthorized","message":"Invalid header Authorization: Bearer {token}"}}]}}"#
            ),
        ),
        (
            400,
            format!(
                r#"{{"errors":[{{"code":"bad","message":"bad query ?api_key=k3y-v4lue-99&token={token}"}}]}}"#
            ),
        ),
        (
            403,
            format!(r#"{{"message":"{{\"token\": \"{token}\"}} is not allowed"}}"#),
        ),
    ];
    for (status, body) in echoes {
        gw.upstreams.celigo.control.inject(
            "/v1/integrations",
            respond(status, &[], body.clone()),
            Some(1),
        );
        let response = gw
            .query(
                "{ integrations(source: CELIGO, first: 1) { nodes { name } } }",
                json!({}),
            )
            .await;
        let text = response.to_string();
        assert!(!codes(&response).is_empty(), "{response}");
        assert!(!text.contains(&token), "token in the error: {text}");
        assert!(
            !text.contains("k3y-v4lue-99"),
            "api_key in the error: {text}"
        );
        let sources = gw
            .query("{ sources { source lastError } }", json!({}))
            .await
            .to_string();
        assert!(!sources.contains(&token), "token in lastError: {sources}");
        let ready = gw.get("/readyz").await.text().await.expect("text");
        assert!(!ready.contains(&token), "token in /readyz: {ready}");
        assert!(
            !ready.contains("lastError\""),
            "upstream text in /readyz: {ready}"
        );
    }
    // The 401 is still reported as what it is.
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(
            401,
            &[],
            format!(r#"{{"message":"Bearer {token} rejected"}}"#),
        ),
        Some(1),
    );
    let response = gw
        .query(
            "{ integrations(source: CELIGO, first: 1) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    let ready = gw.get("/readyz").await.text().await.expect("text");
    assert!(
        ready.contains("\"lastErrorCode\":\"UPSTREAM_UNAUTHORIZED\""),
        "{ready}"
    );
}

#[tokio::test]
async fn entities_are_capped_and_flows_among_them_batched() {
    let gw = Gateway::start_with(Default::default(), 8, |_| {}).await;
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Integration { name } ... on Flow { name } } }";

    // Over the cap: refused before any upstream call, as a literal or through a variable.
    gw.reset_calls();
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "__typename": "Integration", "id": format!("x{i}") }))
        .collect();
    let response = gw.query(query, json!({ "r": many })).await;
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("server.max_entities"));
    let literal = format!(
        "{{ _entities(representations: [{}]) {{ __typename }} }}",
        (0..101)
            .map(|i| format!("{{__typename: \"Integration\", id: \"x{i}\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let response = gw.query(&literal, json!({})).await;
    assert_code(&response, "BAD_USER_INPUT");
    assert_eq!(gw.celigo_calls("/v1/"), 0);

    // Flows of several integrations resolve through the request's loader: one bulk read.
    let listed = gw
        .query(
            "{ integrations(source: CELIGO, first: 5) { nodes { flows(first: 2) { nodes { id name } } } } }",
            json!({}),
        )
        .await;
    let flows: Vec<Value> = listed["data"]["integrations"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|i| i["flows"]["nodes"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(flows.len() >= 5, "{listed}");
    let representations: Vec<Value> = flows
        .iter()
        .map(|f| json!({ "__typename": "Flow", "id": f["id"] }))
        .collect();
    // A fresh gateway, so nothing is cached.
    let fresh = Gateway::start_with(Default::default(), 8, |config| {
        config.cache.max_bytes = 0;
    })
    .await;
    let response = fresh.query(query, json!({ "r": representations })).await;
    assert!(response.get("errors").is_none(), "{response}");
    let names: Vec<&Value> = flows.iter().map(|f| &f["name"]).collect();
    let got: Vec<&Value> = response["data"]["_entities"]
        .as_array()
        .map(|a| a.iter().map(|e| &e["name"]).collect())
        .unwrap_or_default();
    assert_eq!(got, names);
    let per_integration = fresh
        .upstreams
        .celigo
        .control
        .requests()
        .iter()
        .filter(|r| r.path.contains("/flows") && r.path.starts_with("/v1/integrations/"))
        .count();
    assert_eq!(
        per_integration, 0,
        "one read per integration instead of a batch"
    );
    assert_eq!(fresh.celigo_calls("/v1/flows"), 1);
}

#[tokio::test]
async fn a_callers_oversize_id_neither_reaches_the_vendor_nor_opens_the_breaker() {
    let gw = Gateway::start().await;
    let huge = "x".repeat(70 * 1024);
    let query = "query($id: String!) { integration(source: ROCKETCHAT, sourceId: $id) { name } }";
    for _ in 0..6 {
        let response = gw.query(query, json!({ "id": huge })).await;
        assert_code(&response, "BAD_USER_INPUT");
    }
    let carried = gw
        .upstreams
        .rocketchat
        .control
        .requests()
        .iter()
        .filter(|r| r.path.len() + r.query.as_deref().unwrap_or("").len() > 4096)
        .count();
    assert_eq!(carried, 0, "the oversize id reached Rocket.Chat");

    // A vendor that refuses a request as too long (414) blames the caller, not itself.
    for i in 0..8 {
        let id = format!("long{i}");
        gw.upstreams.celigo.control.inject(
            &format!("/v1/integrations/{id}"),
            respond(414, &[], ""),
            Some(1),
        );
        let response = gw
            .query(
                "query($id: String!) { integration(source: CELIGO, sourceId: $id) { name } }",
                json!({ "id": id }),
            )
            .await;
        // Celigo reads a refused id as "no such integration" (null), never as an outage.
        assert!(
            codes(&response).iter().all(|c| c == "BAD_USER_INPUT"),
            "{response}"
        );
    }
    let sources = gw.query("{ sources { source breaker } }", json!({})).await;
    for source in sources["data"]["sources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        assert_eq!(source["breaker"], "CLOSED", "{sources}");
    }
    let response = gw
        .query(
            "{ rc: integrations(source: ROCKETCHAT, first: 1) { nodes { name } } celigo: integrations(source: CELIGO, first: 1) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response}");
}

#[tokio::test]
async fn malformed_vendor_items_are_an_error_or_a_warning_never_silence() {
    let gw = Gateway::start().await;
    let query = "{ integrations(source: CELIGO, first: 5) { nodes { name } } }";
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(
            200,
            &[("Content-Type", "application/json")],
            r#"[{"_id":null},{"_id":12345},{}]"#,
        ),
        Some(1),
    );
    let response = gw.query(query, json!({})).await;
    assert_code(&response, "UPSTREAM_BAD_RESPONSE");

    let good = gw.upstreams.celigo_fake.data().integrations[0].clone();
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(
            200,
            &[("Content-Type", "application/json")],
            json!([good, { "_id": null }, {}]).to_string(),
        ),
        Some(1),
    );
    let response = gw.query(query, json!({})).await;
    assert!(response.get("errors").is_none(), "{response}");
    assert_eq!(
        response["data"]["integrations"]["nodes"][0]["name"], good["name"],
        "{response}"
    );
    assert!(
        warnings(&response)
            .iter()
            .any(|w| w.contains("skipped 2 of 3 items")),
        "{response}"
    );

    // The same rule for Truto's `result` pages.
    let good = gw.upstreams.truto_fake.data().integrations[0].clone();
    gw.upstreams.truto.control.inject(
        "/integration",
        respond(
            200,
            &[("Content-Type", "application/json")],
            json!({ "result": [good, { "id": 7 }], "next_cursor": null }).to_string(),
        ),
        Some(1),
    );
    let response = gw
        .query(
            "{ integrations(source: TRUTO, first: 5) { nodes { name } } }",
            json!({}),
        )
        .await;
    crate::common::assert_warned(&response, "TRUTO: skipped 1 of 2 items");
}
