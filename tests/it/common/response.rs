//! Reading answers: error codes and warnings, JSON bodies, ids, and the connections of a
//! response.

use serde_json::Value;

/// The error codes of a response, in order.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The response has exactly one error, and its code is `code`.
#[track_caller]
pub fn assert_code(response: &Value, code: &str) {
    assert_eq!(codes(response), [code], "{response}");
}

/// The response has exactly one error, `code`, which `source` caused (`extensions.source`).
#[track_caller]
pub fn assert_source_error(response: &Value, source: &str, code: &str) {
    assert_code(response, code);
    assert_eq!(
        response["errors"][0]["extensions"]["source"], source,
        "{response}"
    );
}

/// The response-level warnings.
pub fn warnings(response: &Value) -> Vec<String> {
    pluck_strings(&response["extensions"]["warnings"])
}

/// A header of an HTTP answer, when it is there and text.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body of an HTTP answer, which must be JSON.
pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The status and the JSON body of an HTTP answer.
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    (response.status().as_u16(), json_of(response).await)
}

/// The elements of a JSON list (none when it is not a list).
pub fn items(list: &Value) -> &[Value] {
    list.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The string at `key` of each object, in order (objects without one are left out).
pub fn pluck<'a>(objects: impl IntoIterator<Item = &'a Value>, key: &str) -> Vec<String> {
    objects
        .into_iter()
        .filter_map(|object| object[key].as_str().map(str::to_string))
        .collect()
}

/// The strings of a JSON list, in order.
fn pluck_strings(list: &Value) -> Vec<String> {
    items(list)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The `sourceId` of every node of a connection, in order: from its `edges` when it asked
/// for edges, otherwise from its `nodes`.
pub fn source_ids(connection: &Value) -> Vec<String> {
    match connection["edges"].as_array() {
        Some(edges) => pluck(edges.iter().map(|edge| &edge["node"]), "sourceId"),
        None => pluck(items(&connection["nodes"]), "sourceId"),
    }
}

/// The `sourceId`s of a walk's pages (see [`super::Gateway::walk`]), in the list's order.
pub fn walked_ids(pages: &[Value], at: fn(&Value) -> &Value) -> Vec<String> {
    pages.iter().flat_map(|page| source_ids(at(page))).collect()
}

/// `data.integrations`: a list of integrations.
pub fn integrations(response: &Value) -> &Value {
    &response["data"]["integrations"]
}

/// The nodes of `data.integrations`, after checking that the answer has no errors and that
/// the page and its `totalCount` both hold `count` integrations.
#[track_caller]
pub fn all_integrations(response: &Value, count: usize) -> &[Value] {
    assert!(response["errors"].is_null(), "{response}");
    let nodes = items(&integrations(response)["nodes"]);
    assert_eq!(nodes.len(), count, "{response}");
    assert_eq!(integrations(response)["totalCount"], count, "{response}");
    nodes
}

/// `data.integration.history`: the history of one integration.
pub fn integration_history(response: &Value) -> &Value {
    &response["data"]["integration"]["history"]
}

/// `data.history`: the merged timeline.
pub fn history(response: &Value) -> &Value {
    &response["data"]["history"]
}

/// The `sourceId`s of the merged timeline's entries (`data.history`), in order.
pub fn history_ids(response: &Value) -> Vec<String> {
    source_ids(history(response))
}

/// One field of the merged timeline's `pageInfo`.
pub fn history_page_info(response: &Value, key: &str) -> Value {
    history(response)["pageInfo"][key].clone()
}

/// The response ran without errors and carries a warning containing `needle`.
pub fn assert_warned(response: &Value, needle: &str) {
    assert!(response.get("errors").is_none(), "{response}");
    assert!(
        warnings(response).iter().any(|w| w.contains(needle)),
        "no warning with {needle:?}: {response}"
    );
}
