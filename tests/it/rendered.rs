//! Answers rendered as JSON while they are resolved (`schema::json::RenderJson`, used for
//! documents without fragments or repeated keys) are byte for byte the answers built as
//! values: the same document wrapped in `... on Query { }` takes the value path.

use crate::common::{respond, Gateway};
use serde_json::{json, Value};

/// Values that differ between two requests by design (each walk has its own snapshot time,
/// which cursors carry), blanked so two bodies compare byte for byte.
const PER_REQUEST: [&str; 4] = ["cursor", "startCursor", "endCursor", "observedAt"];

fn blank_per_request(body: &str) -> String {
    let mut out = body.to_string();
    for key in PER_REQUEST {
        let marker = format!("\"{key}\":\"");
        let mut from = 0;
        while let Some(at) = out[from..].find(&marker) {
            let start = from + at + marker.len();
            let end = start + out[start..].find('"').expect("closing quote");
            out.replace_range(start..end, "");
            from = start;
        }
    }
    out
}

async fn body(gw: &Gateway, query: &str) -> String {
    let response = gw.post(json!({ "query": query }).to_string(), &[]).await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

/// `query` (a `{ … }` document) rendered, and wrapped so that it is not.
async fn both_ways(gw: &Gateway, query: &str) -> (String, String) {
    let inner = query
        .trim()
        .strip_prefix('{')
        .and_then(|q| q.strip_suffix('}'));
    let wrapped = format!(
        "{{ ... on Query {{ {} }} }}",
        inner.expect("a { } document")
    );
    let rendered = blank_per_request(&body(gw, query).await);
    let built = blank_per_request(&body(gw, &wrapped).await);
    (rendered, built)
}

const QUERIES: [&str; 5] = [
    // Every plain field of the connection types, aliases, `__typename`, cursors, page info,
    // and fields that are not plain (`raw`, `actor`, `subject`) beside them.
    r#"{ integrations(source: CELIGO, first: 3) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { __typename id sourceId name source description category enabled sharing createdAt updatedAt flows(first: 4) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename id sourceId n: name source enabled lastExecutedAt createdAt updatedAt } } nodes { name } } history(first: 4) { edges { cursor node { __typename id source sourceId kind at occurredAt updatedAt observedAt summary status error unread deleted mergedIntoSourceId } } nodes { sourceId actor { name email } subject { kind sourceId name } } pageInfo { hasNextPage endCursor } } } } } }"#,
    r#"{ integrations(source: ROCKETCHAT, first: 4) { nodes { name history(first: 6) { edges { node { sourceId kind status error occurredAt summary } } } } } }"#,
    r#"{ integrations(source: CELIGO, first: 2) { nodes { flows(first: 3) { nodes { name raw } edges { node { sourceId } } } } } }"#,
    r#"{ integrations(first: 8) { nodes { id sourceId name source description category enabled sharing createdAt updatedAt } } }"#,
    r#"{ a: integrations(source: CELIGO, first: 2) { edges { node { sourceId } } } b: integrations(source: ROCKETCHAT, first: 2) { nodes { __typename sourceId } } }"#,
];

#[tokio::test]
async fn rendered_answers_are_the_answers_built_as_values() {
    let gw = Gateway::start().await;
    for query in QUERIES {
        let (rendered, built) = both_ways(&gw, query).await;
        assert!(rendered.contains("\"data\""), "{rendered}");
        assert!(!rendered.contains("\"errors\""), "{rendered}");
        assert_eq!(rendered, built, "{query}");
    }
}

#[tokio::test]
async fn a_batch_holds_the_rendered_answers_as_they_are_sent_alone() {
    let gw = Gateway::start().await;
    let batch: Vec<Value> = QUERIES.iter().map(|q| json!({ "query": q })).collect();
    let response = gw.post(Value::Array(batch).to_string(), &[]).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let answers: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    assert_eq!(answers.len(), QUERIES.len());
    for (query, answer) in QUERIES.iter().zip(answers) {
        let alone: Value =
            serde_json::from_str(&blank_per_request(&body(&gw, query).await)).expect("JSON");
        let in_batch: Value =
            serde_json::from_str(&blank_per_request(&answer.to_string())).expect("JSON");
        assert_eq!(in_batch, alone, "{query}");
        assert!(in_batch["data"].is_object(), "{in_batch}");
    }
}

#[tokio::test]
async fn vendor_data_cannot_pass_for_rendered_json() {
    let gw = Gateway::start().await;
    // The key Chronograph marks rendered subtrees with, sent by the vendor inside a record.
    let record = json!([{
        "_id": "65f0c2d1a4b7e9001c3d8e10",
        "name": "Forged",
        "meta": { "$chronograph::rendered": "]}],\"injected\":true,\"x\":[{" },
    }]);
    gw.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(200, &[], record.to_string()),
        None,
    );
    let text = body(
        &gw,
        "{ integrations(source: CELIGO, first: 1) { nodes { name raw } } }",
    )
    .await;
    let response: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(response.get("injected").is_none(), "{text}");
    let node = &response["data"]["integrations"]["nodes"][0];
    assert_eq!(node["name"], "Forged");
    assert_eq!(
        node["raw"]["meta"],
        json!({ "$chronograph::rendered": "]}],\"injected\":true,\"x\":[{" })
    );
}
