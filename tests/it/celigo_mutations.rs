//! Black-box tests of the Celigo mutations: real gateway, real HTTP, the Celigo fake recording
//! exactly which writes it received (verb, path, query, headers, body, count).

use crate::common::{
    assert_code, codes, global_id, header, respond, source_config, source_ids, Gateway,
};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::fake::{Fault, RecordedRequest};
use chronograph::domain::ids::{GlobalId, NodeType};
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "demo-celigo-token";

fn integration_gid(id: &str) -> String {
    global_id(NodeType::Integration, Source::Celigo, &[id])
}

fn connection_gid(id: &str) -> String {
    global_id(NodeType::Connection, Source::Celigo, &[id])
}

/// The fake's `n`-th integration as stored.
fn integration(gw: &Gateway, n: usize) -> Value {
    gw.upstreams.celigo_fake.data().integrations[n].clone()
}

fn id_of(value: &Value) -> String {
    value["_id"].as_str().expect("_id").to_string()
}

/// A connection of the account that integration `n` has not registered.
fn unregistered_connection(gw: &Gateway, n: usize) -> String {
    let registered = integration(gw, n)["_registeredConnectionIds"].clone();
    let data = gw.upstreams.celigo_fake.data();
    data.connections
        .iter()
        .map(id_of)
        .find(|c| !registered.as_array().expect("array").contains(&json!(c)))
        .expect("a free connection")
}

/// Requests the Celigo fake received with `method` whose path ends with `suffix`.
fn writes(gw: &Gateway, method: &str, suffix: &str) -> Vec<RecordedRequest> {
    gw.upstreams
        .celigo
        .control
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .collect()
}

fn body_json(request: &RecordedRequest) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

/// The headers every write carries: the token, JSON both ways.
fn assert_write_headers(request: &RecordedRequest) {
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    if !request.body.is_empty() {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
}

fn error_at<'a>(response: &'a Value, field: &str) -> &'a Value {
    response["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["path"][0] == field))
        .unwrap_or_else(|| panic!("no error at {field}: {response}"))
}

const UPDATE: &str = "mutation($id: ID!, $input: IntegrationUpdateInput!) {
  updateIntegration(integrationId: $id, input: $input) { id sourceId name updatedAt raw }
}";

#[tokio::test]
async fn update_sends_one_json_patch_with_exactly_the_given_fields_then_reads_the_result() {
    let gw = Gateway::start().await;
    let target = integration(&gw, 0);
    let id = id_of(&target);
    let input = json!({ "tag": "orders-v2", "settings": { "defaultLocation": "WH-NORTH", "batchSize": 250 } });
    let response = gw
        .query(
            UPDATE,
            json!({ "id": integration_gid(&id), "input": input }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");

    let patches = writes(&gw, "PATCH", "");
    assert_eq!(patches.len(), 1, "one PATCH, nothing else written");
    let patch = &patches[0];
    assert_eq!(patch.path, format!("/v1/integrations/{id}"));
    assert_eq!(patch.query, None);
    assert_write_headers(patch);
    assert_eq!(
        body_json(patch),
        json!([
            { "op": "replace", "path": "/settings", "value": { "defaultLocation": "WH-NORTH", "batchSize": 250 } },
            { "op": "replace", "path": "/tag", "value": "orders-v2" },
        ])
    );
    // Celigo answers a PATCH with 204 and no body: the integration is read once afterwards.
    let reads = writes(&gw, "GET", &format!("/v1/integrations/{id}"));
    assert_eq!(reads.len(), 1);

    let updated = &response["data"]["updateIntegration"];
    assert_eq!(updated["sourceId"], id);
    assert_eq!(updated["raw"]["tag"], "orders-v2");
    assert_eq!(updated["raw"]["settings"]["defaultLocation"], "WH-NORTH");
    assert_eq!(
        updated["raw"]["version"], target["version"],
        "untouched fields stay"
    );
    assert_ne!(updated["updatedAt"], Value::Null);

    let stored = integration(&gw, 0);
    assert_eq!(stored["tag"], "orders-v2");
    let audit = gw.upstreams.celigo_fake.data().audit[0].clone();
    assert_eq!(audit["_resourceId"], id.as_str());
    assert_eq!(audit["source"], "api");
}

#[tokio::test]
async fn update_input_rules_null_removes_or_is_refused_and_nothing_empty_is_sent() {
    let gw = Gateway::start().await;
    let id = integration_gid(&gw.celigo_integration_ids()[0]);

    let removed = gw
        .query(
            UPDATE,
            json!({ "id": id, "input": { "tag": null, "updateInProgress": true } }),
        )
        .await;
    assert!(removed["errors"].is_null(), "{removed}");
    let patch = writes(&gw, "PATCH", "").pop().expect("patch");
    assert_eq!(
        body_json(&patch),
        json!([
            { "op": "remove", "path": "/tag" },
            { "op": "replace", "path": "/updateInProgress", "value": true },
        ])
    );
    assert!(removed["data"]["updateIntegration"]["raw"]
        .get("tag")
        .is_none());
    assert_eq!(
        removed["data"]["updateIntegration"]["raw"]["updateInProgress"],
        true
    );

    gw.reset_calls();
    for input in [
        json!({}),
        json!({ "version": null }),
        json!({ "version": "  " }),
        json!({ "settings": [1, 2] }),
        json!({ "flowGroupings": [{ "name": "" }] }),
    ] {
        let response = gw.query(UPDATE, json!({ "id": id, "input": input })).await;
        assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{input}: {response}");
        assert!(response["data"]["updateIntegration"].is_null());
    }
    assert_eq!(gw.celigo_calls("/"), 0, "refused inputs never reach Celigo");
}

#[tokio::test]
async fn flow_groupings_are_typed_and_get_vendor_ids() {
    let gw = Gateway::start().await;
    let id = integration_gid(&gw.celigo_integration_ids()[0]);
    let input = json!({ "flowGroupings": [
        { "name": "Orders", "settings": { "priority": 1 } },
        { "sourceId": "65f0c2d1a4b7e9001c3d8e99", "name": "Refunds" },
    ], "version": "2.1.0" });
    let response = gw.query(UPDATE, json!({ "id": id, "input": input })).await;
    assert!(response["errors"].is_null(), "{response}");
    let patch = writes(&gw, "PATCH", "").pop().expect("patch");
    assert_eq!(
        body_json(&patch),
        json!([
            { "op": "replace", "path": "/version", "value": "2.1.0" },
            { "op": "replace", "path": "/flowGroupings", "value": [
                { "name": "Orders", "settings": { "priority": 1 } },
                { "_id": "65f0c2d1a4b7e9001c3d8e99", "name": "Refunds" },
            ] },
        ])
    );
    let groups = &response["data"]["updateIntegration"]["raw"]["flowGroupings"];
    assert_eq!(groups[0]["name"], "Orders");
    assert_eq!(groups[0]["_id"].as_str().map(str::len), Some(24));
    assert_eq!(groups[1]["_id"], "65f0c2d1a4b7e9001c3d8e99");
}

#[tokio::test]
async fn a_vendor_validation_error_is_bad_user_input_with_its_message_and_field() {
    let gw = Gateway::start().await;
    let id = integration_gid(&gw.celigo_integration_ids()[0]);
    let response = gw
        .query(
            UPDATE,
            json!({ "id": id, "input": { "aliases": "not-a-list" } }),
        )
        .await;
    assert_code(&response, "BAD_USER_INPUT");
    let error = error_at(&response, "updateIntegration");
    let message = error["message"].as_str().expect("message");
    assert!(message.contains("aliases must be an array"), "{message}");
    assert!(message.contains("field `aliases`"), "{message}");
    assert_eq!(error["extensions"]["source"], "CELIGO");
    assert!(response["data"]["updateIntegration"].is_null());

    // A long vendor message is cut to 200 characters.
    let long = "x".repeat(500);
    gw.upstreams.celigo.control.inject(
        "/v1/integrations/",
        respond(
            422,
            &[],
            json!({ "errors": [{ "code": "invalid_field", "message": long, "field": "tag" }] })
                .to_string(),
        ),
        Some(1),
    );
    let response = gw
        .query(UPDATE, json!({ "id": id, "input": { "tag": "t" } }))
        .await;
    let message = error_at(&response, "updateIntegration")["message"]
        .as_str()
        .expect("message");
    assert!(message.chars().count() < 300, "{message}");
    assert!(message.contains("field `tag`"), "{message}");
}

const REGISTER: &str = "mutation($id: ID!, $connections: [ID!]!) {
  registerConnections(integrationId: $id, connectionIds: $connections) {
    registeredConnectionIds
    integration { sourceId connections(first: 50) { nodes { sourceId } } }
  }
}";

const UNREGISTER: &str = "mutation($id: ID!, $connection: ID!) {
  unregisterConnection(integrationId: $id, connectionId: $connection) {
    registeredConnectionIds
    integration { connections(first: 50) { nodes { sourceId } } }
  }
}";

fn decoded_ids(payload: &Value) -> Vec<String> {
    payload["registeredConnectionIds"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| {
            GlobalId::decode(id.as_str().expect("string"))
                .expect("a Chronograph id")
                .source_id()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn register_puts_the_id_array_and_unregister_deletes_one_registration() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[0].clone();
    let extra = unregistered_connection(&gw, 0);

    let response = gw
        .query(
            REGISTER,
            json!({ "id": integration_gid(&id), "connections": [connection_gid(&extra), connection_gid(&extra)] }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let puts = writes(&gw, "PUT", "");
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].path,
        format!("/v1/integrations/{id}/connections/register")
    );
    assert_write_headers(&puts[0]);
    assert_eq!(
        body_json(&puts[0]),
        json!([extra]),
        "ids de-duplicated, bare array"
    );
    let payload = &response["data"]["registerConnections"];
    assert!(decoded_ids(payload).contains(&extra));
    assert!(
        source_ids(&payload["integration"]["connections"]).contains(&extra),
        "a read after the write in the same operation sees it"
    );

    let response = gw
        .query(
            UNREGISTER,
            json!({ "id": integration_gid(&id), "connection": connection_gid(&extra) }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let deletes = writes(&gw, "DELETE", "");
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].path,
        format!("/v1/integrations/{id}/connections/{extra}/register")
    );
    assert!(deletes[0].body.is_empty());
    assert_write_headers(&deletes[0]);
    let payload = &response["data"]["unregisterConnection"];
    assert!(!decoded_ids(payload).contains(&extra));
    assert!(!source_ids(&payload["integration"]["connections"]).contains(&extra));
}

const REVISION: &str = "mutation($id: ID!, $ignore: Boolean!) {
  createIntegrationRevision(integrationId: $id, ignoreIfNoChanges: $ignore) {
    createdRevision noChanges revisionId raw
  }
}";

#[tokio::test]
async fn revisions_are_created_with_201_and_skipped_with_204_when_nothing_changed() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[0].clone();
    let vars = json!({ "id": integration_gid(&id), "ignore": true });

    let first = gw.query(REVISION, vars.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    let created = &first["data"]["createIntegrationRevision"];
    assert_eq!(created["createdRevision"], true);
    assert_eq!(created["noChanges"], false);
    assert_eq!(created["revisionId"].as_str().map(str::len), Some(24));
    assert_eq!(created["raw"]["_integrationId"], id.as_str());

    let second = gw.query(REVISION, vars.clone()).await;
    assert!(second["errors"].is_null(), "{second}");
    let skipped = &second["data"]["createIntegrationRevision"];
    assert_eq!(skipped["createdRevision"], false);
    assert_eq!(skipped["noChanges"], true);
    assert_eq!(skipped["revisionId"], Value::Null);
    assert_eq!(skipped["raw"], Value::Null);

    let posts = writes(&gw, "POST", "/revisions/create");
    assert_eq!(posts.len(), 2);
    for post in &posts {
        assert_eq!(post.path, format!("/v1/integrations/{id}/revisions/create"));
        assert_eq!(post.query.as_deref(), Some("ignoreIfNoChanges=true"));
        assert_eq!(body_json(post), json!({}));
        assert_write_headers(post);
    }

    // A change makes the next snapshot happen; without the flag one always happens.
    let update = gw
        .query(
            UPDATE,
            json!({ "id": integration_gid(&id), "input": { "tag": "x" } }),
        )
        .await;
    assert!(update["errors"].is_null(), "{update}");
    let third = gw.query(REVISION, vars).await;
    assert_eq!(
        third["data"]["createIntegrationRevision"]["createdRevision"],
        true
    );
    let forced = gw
        .query(
            REVISION,
            json!({ "id": integration_gid(&id), "ignore": false }),
        )
        .await;
    assert_eq!(
        forced["data"]["createIntegrationRevision"]["createdRevision"],
        true
    );
    let last = writes(&gw, "POST", "/revisions/create")
        .pop()
        .expect("post");
    assert_eq!(last.query, None, "no flag: a plain create");
}

const CLONE: &str = "mutation($id: ID!, $name: String) {
  cloneIntegration(integrationId: $id, name: $name) {
    id sourceId name flows(first: 50) { nodes { name } }
  }
}";

#[tokio::test]
async fn clone_posts_the_name_and_answers_the_new_integration() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |_| {}).await;
    let original = integration(&gw, 0);
    let id = id_of(&original);
    let response = gw
        .query(
            CLONE,
            json!({ "id": integration_gid(&id), "name": "Shopify - NetSuite Orders (staging)" }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let posts = writes(&gw, "POST", "/clone");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, format!("/v1/integrations/{id}/clone"));
    assert_eq!(
        body_json(&posts[0]),
        json!({ "name": "Shopify - NetSuite Orders (staging)" })
    );
    assert_write_headers(&posts[0]);

    let clone = &response["data"]["cloneIntegration"];
    let clone_id = clone["sourceId"].as_str().expect("id");
    assert_eq!(clone_id.len(), 24);
    assert!(clone_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(clone_id, id);
    assert_eq!(clone["name"], "Shopify - NetSuite Orders (staging)");
    let original_flows = gw
        .upstreams
        .celigo_fake
        .data()
        .flows
        .iter()
        .filter(|f| f["_integrationId"] == id.as_str())
        .count();
    assert_eq!(
        clone["flows"]["nodes"].as_array().map(Vec::len),
        Some(original_flows)
    );

    let listed = gw
        .query(
            "{ integrations(source: CELIGO, first: 50) { nodes { sourceId } } }",
            json!({}),
        )
        .await;
    assert!(listed["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .any(|n| n["sourceId"] == clone_id));

    // Unnamed: Celigo's default name; a name out of bounds never reaches Celigo.
    let unnamed = gw.query(CLONE, json!({ "id": integration_gid(&id) })).await;
    assert!(unnamed["errors"].is_null(), "{unnamed}");
    assert_eq!(body_json(&writes(&gw, "POST", "/clone")[1]), json!({}));
    let long = gw
        .query(
            CLONE,
            json!({ "id": integration_gid(&id), "name": "n".repeat(101) }),
        )
        .await;
    assert_code(&long, "BAD_USER_INPUT");
    assert_eq!(writes(&gw, "POST", "/clone").len(), 2);
}

/// Each failure answered to the first write: the code clients see and that Celigo saw one call.
#[tokio::test]
async fn writes_are_never_retried_on_429_5xx_or_timeouts() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        let celigo = source_config(config, Source::Celigo);
        celigo.timeout_ms = Some(300);
        celigo.retries = Some(3);
    })
    .await;
    let id = gw.celigo_integration_ids()[0].clone();
    let cases = [
        (
            respond(
                429,
                &[("Retry-After", "1")],
                r#"{"errors":[{"code":"rate_limited","message":"Too many requests. Retry after 1 seconds."}]}"#,
            ),
            "UPSTREAM_RATE_LIMITED",
        ),
        (respond(503, &[], ""), "UPSTREAM_UNAVAILABLE"),
        (
            respond(
                500,
                &[],
                r#"{"errors":[{"code":"server_error","message":"boom"}]}"#,
            ),
            "UPSTREAM_UNAVAILABLE",
        ),
        (
            Fault::Delay(Duration::from_millis(1500)),
            "UPSTREAM_TIMEOUT",
        ),
    ];
    for (fault, code) in cases {
        gw.reset_calls();
        gw.upstreams.celigo.control.clear_faults();
        gw.upstreams.celigo.control.inject("/clone", fault, None);
        let response = gw.query(CLONE, json!({ "id": integration_gid(&id) })).await;
        assert_code(&response, code);
        assert!(response["data"]["cloneIntegration"].is_null());
        assert_eq!(
            writes(&gw, "POST", "/clone").len(),
            1,
            "{code}: exactly one attempt"
        );
        let error = error_at(&response, "cloneIntegration");
        assert_eq!(error["extensions"]["source"], "CELIGO");
        if code == "UPSTREAM_RATE_LIMITED" {
            assert_eq!(error["extensions"]["retryAfterSeconds"], 1);
        }
    }
    gw.upstreams.celigo.control.clear_faults();
}

#[tokio::test]
async fn upstream_refusals_map_to_their_codes_without_leaking_the_token() {
    let gw = Gateway::start().await;
    let id = gw.celigo_integration_ids()[0].clone();
    let cases = [
        (
            401,
            r#"{"errors":[{"code":"unauthorized","message":"Unauthorized"}]}"#,
            "UPSTREAM_UNAUTHORIZED",
        ),
        (
            403,
            r#"{"errors":[{"code":"forbidden","message":"Monitor users cannot make changes."}]}"#,
            "UPSTREAM_UNAUTHORIZED",
        ),
        (
            404,
            r#"{"errors":[{"code":"not_found","message":"Object not found"}]}"#,
            "NOT_FOUND",
        ),
    ];
    for (status, body, code) in cases {
        gw.upstreams.celigo.control.inject(
            "/revisions/create",
            respond(status, &[], body),
            Some(1),
        );
        let response = gw
            .query(
                REVISION,
                json!({ "id": integration_gid(&id), "ignore": false }),
            )
            .await;
        assert_eq!(codes(&response), [code], "{status}: {response}");
        assert!(!response.to_string().contains(TOKEN), "{response}");
    }

    // An unknown (well-formed) integration id: the fake's own 404.
    let unknown = integration_gid("65f0c2d1a4b7e9001c3d8eff");
    for (query, vars) in [
        (UPDATE, json!({ "id": unknown, "input": { "tag": "x" } })),
        (CLONE, json!({ "id": unknown })),
        (REVISION, json!({ "id": unknown, "ignore": true })),
    ] {
        let response = gw.query(query, vars).await;
        assert_code(&response, "NOT_FOUND");
        let data = response["data"]
            .as_object()
            .unwrap_or_else(|| panic!("{response}"));
        assert!(data.values().all(Value::is_null));
    }
}

#[tokio::test]
async fn ids_of_other_sources_or_types_are_bad_user_input_and_celigo_is_not_called() {
    let gw = Gateway::start().await;
    let celigo = gw.celigo_integration_ids()[0].clone();
    let truto = global_id(
        NodeType::Integration,
        Source::Truto,
        &["4a4de828-f4db-4c9e-adfd-434e0864c3c7"],
    );
    let flow = global_id(NodeType::Flow, Source::Celigo, &[&celigo, &celigo]);
    gw.reset_calls();
    for (query, vars) in [
        (UPDATE, json!({ "id": truto, "input": { "tag": "x" } })),
        (UPDATE, json!({ "id": flow, "input": { "tag": "x" } })),
        (
            UPDATE,
            json!({ "id": "not-an-id", "input": { "tag": "x" } }),
        ),
        (CLONE, json!({ "id": truto })),
        (REVISION, json!({ "id": truto, "ignore": true })),
        (
            REGISTER,
            json!({ "id": integration_gid(&celigo), "connections": [global_id(NodeType::Connection, Source::Truto, &["x"])] }),
        ),
        (
            REGISTER,
            json!({ "id": integration_gid(&celigo), "connections": [] }),
        ),
        (
            UNREGISTER,
            json!({ "id": integration_gid(&celigo), "connection": integration_gid(&celigo) }),
        ),
    ] {
        let response = gw.query(query, vars.clone()).await;
        assert_eq!(codes(&response), ["BAD_USER_INPUT"], "{vars}: {response}");
    }
    assert_eq!(gw.celigo_calls("/"), 0);
}

#[tokio::test]
async fn mutations_need_celigo_configured() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 3, |config| {
        config.sources.celigo = None;
    })
    .await;
    let response = gw
        .query(
            CLONE,
            json!({ "id": integration_gid("65f0c2d1a4b7e9001c3d8e21") }),
        )
        .await;
    assert_code(&response, "SOURCE_NOT_CONFIGURED");
    assert_eq!(
        error_at(&response, "cloneIntegration")["extensions"]["source"],
        "CELIGO"
    );
    assert_eq!(gw.celigo_calls("/"), 0);
}

const READ: &str = "query($sourceId: String!) {
  integration(source: CELIGO, sourceId: $sourceId) { raw connections(first: 50) { nodes { sourceId } } }
}";

#[tokio::test]
async fn writes_drop_the_cached_reads_they_change() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        source_config(config, Source::Celigo).cache_ttl_s = Some(300);
    })
    .await;
    let id = gw.celigo_integration_ids()[0].clone();
    let item = format!("/v1/integrations/{id}");
    let connections = format!("/v1/integrations/{id}/connections");
    let vars = json!({ "sourceId": id });

    let first = gw.query(READ, vars.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(writes(&gw, "GET", &item).len(), 1);
    assert_eq!(writes(&gw, "GET", &connections).len(), 1);
    let cached = gw.query(READ, vars.clone()).await;
    assert_eq!(cached, first);
    assert_eq!(writes(&gw, "GET", &item).len(), 1, "served from the cache");
    assert_eq!(
        writes(&gw, "GET", &connections).len(),
        1,
        "served from the cache"
    );

    gw.reset_calls();
    let update = gw
        .query(
            UPDATE,
            json!({ "id": integration_gid(&id), "input": { "tag": "fresh" } }),
        )
        .await;
    assert!(update["errors"].is_null(), "{update}");
    assert_eq!(
        writes(&gw, "GET", &item).len(),
        1,
        "the cached integration was dropped: read again after the 204"
    );
    let after = gw.query(READ, vars.clone()).await;
    assert_eq!(after["data"]["integration"]["raw"]["tag"], "fresh");
    assert_eq!(
        writes(&gw, "GET", &item).len(),
        1,
        "the fresh answer is cached again"
    );

    let extra = unregistered_connection(&gw, 0);
    gw.reset_calls();
    let register = gw
        .query(
            "mutation($id: ID!, $c: [ID!]!) { registerConnections(integrationId: $id, connectionIds: $c) { registeredConnectionIds } }",
            json!({ "id": integration_gid(&id), "c": [connection_gid(&extra)] }),
        )
        .await;
    assert!(register["errors"].is_null(), "{register}");
    let after = gw.query(READ, vars).await;
    assert_eq!(
        writes(&gw, "GET", &connections).len(),
        1,
        "the connection list is read again"
    );
    let ids: Vec<&str> = after["data"]["integration"]["connections"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["sourceId"].as_str())
        .collect();
    assert!(ids.contains(&extra.as_str()), "{after}");

    let list = "{ integrations(source: CELIGO) { nodes { sourceId } } }";
    let before = gw.query(list, json!({})).await;
    let count = |r: &Value| r["data"]["integrations"]["nodes"].as_array().map(Vec::len);
    assert_eq!(count(&before), Some(5));
    let clone = gw.query(CLONE, json!({ "id": integration_gid(&id) })).await;
    assert!(clone["errors"].is_null(), "{clone}");
    let after = gw.query(list, json!({})).await;
    assert_eq!(count(&after), Some(6), "the cached list was dropped");
}

#[tokio::test]
async fn mutations_of_one_operation_run_in_order_and_fail_alone() {
    let gw = Gateway::start().await;
    let id = integration_gid(&gw.celigo_integration_ids()[0]);
    let unknown = integration_gid("65f0c2d1a4b7e9001c3d8eff");
    let query = "mutation($id: ID!, $unknown: ID!) {
      one: updateIntegration(integrationId: $id, input: { tag: \"one\" }) { raw }
      missing: updateIntegration(integrationId: $unknown, input: { tag: \"x\" }) { raw }
      two: updateIntegration(integrationId: $id, input: { tag: \"two\" }) { raw }
      snapshot: createIntegrationRevision(integrationId: $id) { createdRevision }
    }";
    let response = gw
        .query(query, json!({ "id": id, "unknown": unknown }))
        .await;
    assert_code(&response, "NOT_FOUND");
    assert_eq!(
        error_at(&response, "missing")["extensions"]["source"],
        "CELIGO"
    );
    let data = &response["data"];
    assert_eq!(
        data["one"]["raw"]["tag"], "one",
        "each answer is read after its own write"
    );
    assert!(
        data.get("missing").is_some_and(Value::is_null),
        "a failed mutation is null, not absent: {response}"
    );
    assert_eq!(data["two"]["raw"]["tag"], "two");
    assert_eq!(data["snapshot"]["createdRevision"], true);
    let order: Vec<String> = gw
        .upstreams
        .celigo
        .control
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.method)
        .collect();
    assert_eq!(order, ["PATCH", "PATCH", "PATCH", "POST"]);
}

#[tokio::test]
async fn mutations_over_get_are_405() {
    let gw = Gateway::start().await;
    let query = "mutation { cloneIntegration(integrationId: \"x\") { id } }";
    let response = gw
        .client
        .get(gw.get_url(query))
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(header(&response, "allow"), Some("POST"));
    assert_eq!(gw.celigo_calls("/"), 0);
}
