//! The HTTP surface: GraphQL over HTTP rules, GraphiQL, health endpoints, GraphQL errors.

use crate::common::{assert_code, codes, header, Gateway};
use serde_json::{json, Value};

async fn body(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type").unwrap_or("").to_string();
    let text = response.text().await.expect("body");
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn get_runs_queries_and_refuses_other_operations() {
    let gw = Gateway::start().await;
    let url = gw.get_url("{ integrations(source: CELIGO, first: 2) { nodes { name } } }");
    let (status, content_type, value) = body(
        gw.client
            .get(&url)
            .header("accept", "application/graphql-response+json")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/graphql-response+json"));
    assert_eq!(
        value["data"]["integrations"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let url = gw.get_url("subscription { historyAdded(subjects: []) { id } }");
    let response = gw.client.get(&url).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(header(&response, "allow"), Some("POST"));
}

#[tokio::test]
async fn csrf_prone_bodies_never_execute() {
    let gw = Gateway::start().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = gw
            .client
            .post(&gw.url)
            .header("content-type", content_type)
            .body(json!({ "query": "{ sources { source } }" }).to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 415, "{content_type}");
    }
}

#[tokio::test]
async fn parse_and_validation_errors_have_codes_and_status() {
    let gw = Gateway::start().await;
    let response = gw
        .query("{ integrations(source: CELIGO { nodes }", json!({}))
        .await;
    assert_code(&response, "GRAPHQL_PARSE_FAILED");
    let response = gw
        .query("{ integrations(source: CELIGO) { nope } }", json!({}))
        .await;
    assert_code(&response, "GRAPHQL_VALIDATION_FAILED");
    let strict = gw
        .post(
            json!({ "query": "{ nope }" }).to_string(),
            &[("accept", "application/graphql-response+json")],
        )
        .await;
    assert_eq!(strict.status().as_u16(), 400);
    let (status, _, value) = body(gw.post("{\"query\": 42}", &[]).await).await;
    assert_eq!(status, 400);
    assert_code(&value, "BAD_USER_INPUT");
    let deep = format!(
        "{{ integrations {{ nodes {} }} }}",
        "{ flows { nodes { integration ".repeat(8) + "{ name }" + &" } } }".repeat(8)
    );
    let response = gw.query(&deep, json!({})).await;
    assert_code(&response, "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn batches_are_limited() {
    let gw = Gateway::start().await;
    let one = json!({ "query": "{ sources { source } }" });
    let ok = gw.post(json!([one, one]).to_string(), &[]).await;
    let (status, _, value) = body(ok).await;
    assert_eq!(status, 200);
    assert_eq!(value.as_array().map(Vec::len), Some(2));
    let eleven: Vec<Value> = (0..11).map(|_| one.clone()).collect();
    let too_many = gw.post(Value::Array(eleven).to_string(), &[]).await;
    assert_eq!(too_many.status().as_u16(), 400);
}

#[tokio::test]
async fn graphiql_health_and_readiness() {
    let gw = Gateway::start().await;
    let page = gw
        .client
        .get(&gw.url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("get");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("html").contains("graphiql"));
    let health = gw.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    let (status, _, ready) = body(gw.get("/readyz").await).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = ready["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["source"].as_str())
        .collect();
    assert!(listed.contains(&"CELIGO"), "{ready}");
    let sources = gw
        .query("{ sources { source healthy breaker } }", json!({}))
        .await;
    let expected: Vec<Value> = listed
        .iter()
        .map(|source| json!({ "source": source, "healthy": true, "breaker": "CLOSED" }))
        .collect();
    assert_eq!(
        sources["data"]["sources"],
        json!(expected),
        "every demo source, in enum order"
    );
}

#[tokio::test]
async fn api_keys_are_enforced_when_configured() {
    let gw = Gateway::start_with(Default::default(), 5, |config| {
        config.server.api_keys = vec![secrecy::SecretString::from("k-123")];
    })
    .await;
    let (status, _, value) = body(
        gw.post(
            json!({ "query": "{ sources { source } }" }).to_string(),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_code(&value, "UNAUTHENTICATED");
    let ok = gw
        .post(
            json!({ "query": "{ sources { source } }" }).to_string(),
            &[("authorization", "Bearer k-123")],
        )
        .await;
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn alias_limit_and_request_errors_without_data() {
    let gw = Gateway::start().await;
    let aliases: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    let response = gw.query(&format!("{{ {aliases} }}"), json!({})).await;
    assert_code(&response, "QUERY_TOO_COMPLEX");
    let fifty: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
    assert!(gw.query(&format!("{{ {fifty} }}"), json!({})).await["errors"].is_null());
    let strict = gw
        .post(
            json!({ "query": "{" }).to_string(),
            &[("accept", "application/graphql-response+json")],
        )
        .await;
    let (status, _, value) = body(strict).await;
    assert_eq!(status, 400);
    assert!(
        value.get("data").is_none(),
        "a request that never ran has no data entry: {value}"
    );
    let executed = gw
        .query("{ integrations(source: TRUTO) { totalCount } }", json!({}))
        .await;
    assert!(
        executed.get("data").is_some(),
        "an executed request keeps data (null): {executed}"
    );
}

#[tokio::test]
async fn introspection_and_suggestions_can_be_switched_off() {
    let gw = Gateway::start_with(Default::default(), 5, |config| {
        config.server.introspection = false;
        config.server.suggestions = false;
    })
    .await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Query\") { name } }",
    ] {
        let response = gw.query(query, json!({})).await;
        assert_eq!(
            codes(&response),
            vec!["GRAPHQL_VALIDATION_FAILED"],
            "{query}"
        );
    }
    let response = gw.query("{ integrationz { name } }", json!({})).await;
    assert_code(&response, "GRAPHQL_VALIDATION_FAILED");
    assert!(!response.to_string().contains("Did you mean"), "{response}");
    assert_eq!(
        gw.query("{ __typename }", json!({})).await["data"]["__typename"],
        "Query"
    );
}

#[tokio::test]
async fn one_unresolvable_entity_does_not_fail_the_whole_entities_batch() {
    let gw = Gateway::start_with(Default::default(), 5, |_| {}).await;
    let listed = gw
        .query(
            "{ integrations(source: CELIGO, first: 1) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let node = &listed["data"]["integrations"]["nodes"][0];
    let query =
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Integration { id name } } }";
    let representations = json!([
        { "__typename": "Integration", "id": "not-a-chronograph-id" },
        { "__typename": "Integration", "id": node["id"] },
    ]);
    let response = gw.query(query, json!({ "r": representations })).await;
    let entities = &response["data"]["_entities"];
    assert!(entities[0].is_null(), "{response}");
    assert_eq!(entities[1]["name"], node["name"], "{response}");
    assert_code(&response, "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["path"][0], "_entities");
}
