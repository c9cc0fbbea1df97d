//! Black-box tests of the Truto vertical (and of `integrations` over every source): real
//! gateway, real HTTP, in-process Truto fake following upstreams/truto.md.

use crate::common::{
    all_integrations, assert_code, assert_source_error, codes, example, integrations, items,
    json_of, pluck, query_param, respond, source_config, source_ids, status_and_json, Direction,
    Gateway,
};
use chronograph::demo::fake::Fault;
use chronograph::demo::truto::{TrutoData, TrutoFakeConfig};
use chronograph::demo::{DemoOptions, DEMO_SEED};
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "demo-truto-token";

async fn start_with(
    truto: TrutoFakeConfig,
    tweak: impl FnOnce(&mut chronograph::config::Config),
) -> Gateway {
    Gateway::start_options(
        DemoOptions {
            truto,
            celigo_integrations: 5,
            ..DemoOptions::default()
        },
        tweak,
    )
    .await
}

async fn start_default() -> Gateway {
    start_with(TrutoFakeConfig::default(), |_| {}).await
}

fn fake_integrations(gw: &Gateway) -> Vec<Value> {
    gw.upstreams.truto_fake.data().integrations.clone()
}

fn team_of(gw: &Gateway, integration: &Value) -> Value {
    gw.upstreams
        .truto_fake
        .data()
        .teams
        .iter()
        .find(|t| t["id"] == integration["team_id"])
        .cloned()
        .expect("team")
}

const LIST: &str = "{ integrations(source: TRUTO, first: 100) { totalCount nodes { id sourceId name category sharing installedEnvironments createdAt updatedAt description enabled
  team { id sourceId name domain logoUrl verified whiteLabel createdAt updatedAt raw } raw } } }";

#[tokio::test]
async fn integrations_carry_their_team_without_an_extra_call() {
    let gw = start_default().await;
    let expected = fake_integrations(&gw);
    let response = gw.query(LIST, json!({})).await;
    let nodes = all_integrations(&response, expected.len());
    assert!(nodes.len() >= 20);
    let mut teams = std::collections::HashSet::new();
    for (node, raw) in nodes.iter().zip(&expected) {
        assert_eq!(node["sourceId"], raw["id"]);
        assert_eq!(
            node["name"], raw["name"],
            "name is the vendor's machine name"
        );
        assert_eq!(node["category"], raw["category"]);
        assert_eq!(
            node["sharing"],
            raw["sharing"].as_str().expect("sharing").to_uppercase()
        );
        assert_eq!(node["installedEnvironments"], raw["installed_environment"]);
        assert_eq!(node["createdAt"], raw["created_at"]);
        assert_eq!(node["updatedAt"], raw["updated_at"]);
        assert_eq!(node["description"], Value::Null);
        assert_eq!(node["enabled"], Value::Null);
        let team = team_of(&gw, raw);
        assert_eq!(node["team"]["sourceId"], team["id"]);
        assert_eq!(node["team"]["name"], team["name"]);
        assert_eq!(node["team"]["domain"], team["domain"]);
        assert_eq!(node["team"]["logoUrl"], team["logo"]);
        assert_eq!(node["team"]["verified"], team["is_verified"]);
        assert_eq!(node["team"]["whiteLabel"], team["is_white_label"]);
        assert_eq!(node["team"]["createdAt"], team["created_at"]);
        assert_eq!(node["team"]["raw"]["tos_link"], team["tos_link"]);
        teams.insert(node["team"]["sourceId"].to_string());
    }
    assert!(teams.len() >= 5, "{} teams", teams.len());
    let calls = gw.truto_requests("/");
    assert_eq!(calls.len(), 1, "one list call, teams come embedded");
    let call = &calls[0];
    assert_eq!(
        call.path, "/integration",
        "the contract's singular list route"
    );
    assert_eq!(query_param(call, "limit").as_deref(), Some("100"));
    assert_eq!(query_param(call, "next_cursor"), None);
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn the_list_follows_next_cursor_and_pages_with_relay_cursors() {
    let gw = start_default().await;
    {
        let mut data = gw.upstreams.truto_fake.data();
        let template = data.integrations[0].clone();
        for n in 0..210 {
            let mut copy = template.clone();
            copy["id"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
            copy["name"] = json!(format!("custom-connector-{n}"));
            data.integrations.push(copy);
        }
    }
    let expected = pluck(&fake_integrations(&gw), "id");
    assert_eq!(expected.len(), 234);
    let query = "query($after: String) { integrations(source: TRUTO, first: 40, after: $after) { nodes { sourceId } pageInfo { hasNextPage endCursor } } }";
    let first = gw.query(query, json!({})).await;
    assert_eq!(source_ids(integrations(&first)), expected[..40].to_vec());
    assert_eq!(
        gw.truto_requests("/integration").len(),
        1,
        "40 + 1 fit in one page of 100"
    );
    let seen = gw.ids_from(query, json!({}), &first, integrations).await;
    assert_eq!(seen, expected, "each integration once, in vendor order");
    let calls = gw.truto_requests("/integration");
    let cursors: Vec<Option<String>> = calls
        .iter()
        .map(|r| query_param(r, "next_cursor"))
        .collect();
    assert!(cursors.contains(&None));
    assert!(
        cursors.iter().flatten().all(|c| !c.is_empty()),
        "never an empty next_cursor"
    );
    assert!(calls
        .iter()
        .all(|r| query_param(r, "limit").as_deref() == Some("100")));
}

#[tokio::test]
async fn one_integration_uses_the_singular_route_and_environment_id() {
    // The demo data is the same for every start (fixed seed): pick an environment first.
    let data = TrutoData::generate(DEMO_SEED, chrono::Utc::now());
    let raw = data
        .integrations
        .iter()
        .find(|i| {
            i["installed_environment"]
                .as_array()
                .is_some_and(|e| e.len() >= 2)
        })
        .expect("an integration installed in two environments");
    let environment = raw["installed_environment"][1]
        .as_str()
        .expect("env")
        .to_string();
    let id = raw["id"].as_str().expect("id").to_string();
    let env = environment.clone();
    let gw = start_with(TrutoFakeConfig::default(), move |config| {
        source_config(config, Source::Truto).environment_id = Some(env);
    })
    .await;
    let query = "query($id: String!) { integration(source: TRUTO, sourceId: $id) { sourceId name installedEnvironments team { name } } }";
    let response = gw.query(query, json!({ "id": id })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["integration"]["sourceId"], id.as_str());
    assert_eq!(
        response["data"]["integration"]["installedEnvironments"],
        json!([environment])
    );
    assert!(response["data"]["integration"]["team"]["name"].is_string());
    let calls = gw.truto_requests("/");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, format!("/integration/{id}"));
    assert_eq!(
        query_param(&calls[0], "environment_id"),
        Some(environment.clone())
    );

    let listing = gw
        .query("{ integrations(source: TRUTO, first: 100) { nodes { sourceId installedEnvironments } } }", json!({}))
        .await;
    for node in listing["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
    {
        let envs = node["installedEnvironments"].as_array().expect("envs");
        assert!(
            envs.is_empty() || envs == &vec![json!(environment)],
            "list agrees with get: {node}"
        );
    }
}

#[tokio::test]
async fn team_by_id_resolves_from_the_list_and_unknown_ids_are_null() {
    let gw = start_default().await;
    let integrations = fake_integrations(&gw);
    let team = team_of(&gw, &integrations[integrations.len() - 1]);
    let team_id = team["id"].as_str().expect("id").to_string();
    let query = "query($id: String!) { team(source: TRUTO, sourceId: $id) { id sourceId name domain logoUrl verified whiteLabel createdAt } }";
    let response = gw.query(query, json!({ "id": team_id })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["team"]["sourceId"], team_id.as_str());
    assert_eq!(response["data"]["team"]["name"], team["name"]);
    assert_eq!(response["data"]["team"]["domain"], team["domain"]);
    assert_eq!(
        gw.truto_requests("/").len(),
        1,
        "one list page holds every team"
    );

    let node = gw
        .query(
            "query($id: ID!) { node(id: $id) { __typename ... on Team { sourceId name } } }",
            json!({ "id": response["data"]["team"]["id"] }),
        )
        .await;
    assert_eq!(node["data"]["node"]["__typename"], "Team");
    assert_eq!(node["data"]["node"]["sourceId"], team_id.as_str());

    gw.reset_all_calls();
    let both = "query($id: String!) { integrations(source: TRUTO, first: 5) { nodes { team { sourceId } } } team(source: TRUTO, sourceId: $id) { name } }";
    let response = gw.query(both, json!({ "id": team_id })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        gw.truto_requests("/").len(),
        1,
        "the team lookup shares the listing's call"
    );

    let unknown = gw
        .query(
            query,
            json!({ "id": "11111111-1111-4111-8111-111111111111" }),
        )
        .await;
    assert!(unknown["errors"].is_null(), "{unknown}");
    assert_eq!(unknown["data"]["team"], Value::Null);
    let missing = gw
        .query("{ integration(source: TRUTO, sourceId: \"11111111-1111-4111-8111-111111111111\") { name } }", json!({}))
        .await;
    assert!(missing["errors"].is_null(), "{missing}");
    assert_eq!(missing["data"]["integration"], Value::Null);
    let no_teams = gw
        .query(
            "{ team(source: ROCKETCHAT, sourceId: \"x\") { name } }",
            json!({}),
        )
        .await;
    assert_code(&no_teams, "BAD_USER_INPUT");
}

#[tokio::test]
async fn zone_less_timestamps_are_read_as_utc() {
    let gw = start_with(
        TrutoFakeConfig {
            zoneless_timestamps: true,
            ..TrutoFakeConfig::default()
        },
        |_| {},
    )
    .await;
    let expected = fake_integrations(&gw);
    let response = gw.query(LIST, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    let body = gw
        .client
        .get(format!(
            "{}/integration?limit=1",
            gw.upstreams.truto.base_url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("call");
    let served = json_of(body).await;
    let created = served["result"][0]["created_at"]
        .as_str()
        .expect("created_at");
    assert_eq!(
        created.len(),
        19,
        "the fake serves `YYYY-MM-DD HH:MM:SS`: {created}"
    );
    assert!(!created.contains('T') && !created.ends_with('Z'));
    for (node, raw) in response["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .zip(&expected)
    {
        let iso = raw["created_at"].as_str().expect("iso");
        let whole_seconds = format!("{}.000Z", &iso[..19]);
        assert_eq!(
            node["createdAt"],
            whole_seconds.as_str(),
            "UTC, milliseconds, Z"
        );
        let team_created = node["team"]["createdAt"].as_str().expect("team createdAt");
        assert!(team_created.ends_with(".000Z"), "{team_created}");
    }
}

#[tokio::test]
async fn a_truto_subject_has_an_empty_history() {
    let gw = start_default().await;
    let id = fake_integrations(&gw)[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    gw.reset_all_calls();
    let response = gw
        .query(
            "query($id: String!) { history(subjects: [{ integration: { source: TRUTO, sourceId: $id } }], first: 5) { nodes { sourceId } pageInfo { hasNextPage } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["history"]["nodes"], json!([]));
    assert_eq!(
        response["data"]["history"]["pageInfo"]["hasNextPage"],
        false
    );
    assert!(gw.truto_requests("/").is_empty());
}

/// Query the Truto list with the fake answering `fault`.
async fn list_with_fault(fault: Fault) -> Value {
    let gw = start_default().await;
    gw.upstreams
        .truto
        .control
        .inject("/integration", fault, None);
    let response = gw
        .query("{ truto: integrations(source: TRUTO) { nodes { name } } celigo: integrations(source: CELIGO, first: 1) { nodes { name } } }", json!({}))
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["source"], "TRUTO",
        "{response}"
    );
    assert_eq!(response["errors"][0]["path"], json!(["truto"]));
    assert_eq!(
        response["data"]["celigo"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "other sources survive"
    );
    response
}

#[tokio::test]
async fn every_truto_error_body_maps_to_its_code() {
    let unauthorized = list_with_fault(respond(
        401,
        &[],
        include_str!("../fixtures/truto/error.401.json"),
    ))
    .await;
    assert_code(&unauthorized, "UPSTREAM_UNAUTHORIZED");
    let forbidden = list_with_fault(respond(
        403,
        &[],
        r#"{"statusCode":403,"error":"Forbidden","message":"Forbidden"}"#,
    ))
    .await;
    assert_code(&forbidden, "UPSTREAM_UNAUTHORIZED");
    let limited = list_with_fault(respond(
        429,
        &[("Retry-After", "10")],
        include_str!("../fixtures/truto/error.429.json"),
    ))
    .await;
    assert_code(&limited, "UPSTREAM_RATE_LIMITED");
    assert_eq!(limited["errors"][0]["extensions"]["retryAfterSeconds"], 10);
    let failed = list_with_fault(respond(
        500,
        &[],
        r#"{"statusCode":500,"error":"Internal Server Error","message":"boom"}"#,
    ))
    .await;
    assert_code(&failed, "UPSTREAM_UNAVAILABLE");
    let garbage = list_with_fault(Fault::Garbage).await;
    assert_code(&garbage, "UPSTREAM_BAD_RESPONSE");
    let bad_request = r#"{"statusCode":400,"error":"Bad Request","message":"\"limit\" must be an integer between 1 and 1000"}"#;
    let refused = list_with_fault(respond(400, &[], bad_request)).await;
    assert_eq!(
        codes(&refused),
        vec!["UPSTREAM_BAD_RESPONSE"],
        "the list takes no client argument: its 400 is not the client's fault"
    );

    let gw = start_default().await;
    gw.upstreams
        .truto
        .control
        .inject("/integration/", respond(400, &[], bad_request), None);
    let response = gw
        .query(
            "{ integration(source: TRUTO, sourceId: \"not a uuid\") { name } }",
            json!({}),
        )
        .await;
    assert_source_error(&response, "TRUTO", "BAD_USER_INPUT");
    let sent = gw.truto_requests("/integration/");
    assert_eq!(
        sent[0].path, "/integration/not%20a%20uuid",
        "ids are one encoded path segment"
    );
}

#[tokio::test]
async fn a_wrong_token_and_the_fakes_limiter_are_mapped() {
    let gw = start_with(TrutoFakeConfig::default(), |config| {
        source_config(config, Source::Truto).token =
            Some(secrecy::SecretString::from("revoked-truto-token"));
    })
    .await;
    let response = gw
        .query(
            "{ integrations(source: TRUTO) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    assert!(!response.to_string().contains("revoked-truto-token"));

    let gw = start_with(
        TrutoFakeConfig {
            rate_limit: Some((1, Duration::from_secs(10))),
            ..TrutoFakeConfig::default()
        },
        |_| {},
    )
    .await;
    let first = gw
        .query(
            "{ integrations(source: TRUTO, first: 1) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let second = gw
        .query(
            "{ integrations(source: TRUTO, first: 2) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_code(&second, "UPSTREAM_RATE_LIMITED");
    assert_eq!(second["errors"][0]["extensions"]["retryAfterSeconds"], 10);
}

#[tokio::test]
async fn the_fake_serves_both_paths_and_treats_an_empty_cursor_as_absent() {
    let gw = start_default().await;
    let base = &gw.upstreams.truto.base_url;
    let get = |path: String| {
        let client = gw.client.clone();
        async move {
            let response = client
                .get(path)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("call");
            status_and_json(response).await
        }
    };
    let id = fake_integrations(&gw)[3]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let singular = get(format!("{base}/integration/{id}")).await;
    let plural = get(format!("{base}/integrations/{id}")).await;
    assert_eq!(singular.0, 200);
    assert_eq!(singular, plural);
    assert_eq!(
        singular.1["team"]["id"], singular.1["team_id"],
        "the full team is embedded"
    );
    let missing = get(format!("{base}/integration/nope")).await;
    let example: Value =
        serde_json::from_str(include_str!("../fixtures/truto/error.404.json")).expect("example");
    assert_eq!(missing, (404, example));
    let absent = get(format!("{base}/integration?limit=5")).await;
    let empty = get(format!("{base}/integration?limit=5&next_cursor=")).await;
    assert_eq!(absent, empty);
    let mut cursor = absent.1["next_cursor"].clone();
    let mut pages = 1;
    while let Some(next) = cursor.as_str() {
        let page = get(format!("{base}/integration?limit=5&next_cursor={next}")).await;
        cursor = page.1["next_cursor"].clone();
        pages += 1;
    }
    assert_eq!(cursor, Value::Null, "null on the last page");
    assert_eq!(pages, fake_integrations(&gw).len().div_ceil(5));
    let unauthenticated = gw
        .client
        .get(format!("{base}/integration"))
        .send()
        .await
        .expect("call");
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let example: Value =
        serde_json::from_str(include_str!("../fixtures/truto/error.401.json")).expect("example");
    assert_eq!(json_of(unauthenticated).await, example);
}

#[tokio::test]
async fn integrations_without_source_page_all_sources_with_one_cursor() {
    let gw = start_default().await;
    let mut webhooks = gw.upstreams.rocketchat_fake.data().integrations.clone();
    webhooks.sort_by(|a, b| b["ts"].as_str().cmp(&a["ts"].as_str()));
    let tagged = |source: &str, ids: Vec<String>| -> Vec<(String, String)> {
        ids.into_iter().map(|id| (source.to_string(), id)).collect()
    };
    let mut expected = tagged("ROCKETCHAT", pluck(&webhooks, "_id"));
    expected.extend(tagged("CELIGO", gw.celigo_integration_ids()));
    expected.extend(tagged("TRUTO", pluck(&fake_integrations(&gw), "id")));
    // The declared source of the demo comes after the built-in ones.
    let hooks = gw.upstreams.github_fake.hook_ids();
    expected.extend(tagged(
        "GITHUB_DELIVERIES",
        hooks.iter().map(u64::to_string).collect(),
    ));
    // (source, sourceId) of every integration the pages list, in order.
    let listed = |pages: &[Value]| -> Vec<(String, String)> {
        pages
            .iter()
            .flat_map(|page| items(&integrations(page)["nodes"]))
            .map(|node| {
                let text = |key: &str| node[key].as_str().expect(key).to_string();
                (text("source"), text("sourceId"))
            })
            .collect()
    };

    let query = "query($after: String) { integrations(first: 17, after: $after) { nodes { source sourceId } pageInfo { hasNextPage hasPreviousPage endCursor } totalCount } }";
    let forward = gw
        .walk(query, json!({}), integrations, Direction::Forward)
        .await;
    assert_eq!(
        listed(&forward),
        expected,
        "ROCKETCHAT, then CELIGO, then TRUTO, then the declared GITHUB_DELIVERIES, each in vendor order, each once"
    );
    let last = forward.last().expect("a page");
    assert_eq!(integrations(last)["totalCount"], expected.len());

    let back = "query($before: String) { integrations(last: 23, before: $before) { nodes { source sourceId } pageInfo { hasPreviousPage startCursor } } }";
    let backward = gw
        .walk(back, json!({}), integrations, Direction::Backward)
        .await;
    assert_eq!(listed(&backward), expected);
}

#[tokio::test]
async fn the_truto_and_all_source_examples_run_against_demo_mode() {
    let gw = start_default().await;
    let listing = gw
        .query(&example("truto-integrations-teams.graphql"), json!({}))
        .await;
    assert!(listing["errors"].is_null(), "{listing}");
    let team_id = listing["data"]["integrations"]["nodes"][0]["team"]["sourceId"].clone();
    assert!(team_id.is_string(), "{listing}");
    let team = gw
        .query(&example("truto-team.graphql"), json!({ "teamId": team_id }))
        .await;
    assert!(team["errors"].is_null(), "{team}");
    assert!(team["data"]["team"]["name"].is_string());
    let all = gw
        .query(&example("all-integrations.graphql"), json!({}))
        .await;
    assert!(all["errors"].is_null(), "{all}");
    assert_eq!(
        all["data"]["integrations"]["nodes"][0]["source"],
        "ROCKETCHAT"
    );
}
