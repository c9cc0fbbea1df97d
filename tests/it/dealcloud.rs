//! Black-box tests of the DealCloud vertical: real gateway, real HTTP, in-process DealCloud
//! fake. They count token fetches and data calls as much as they check the entries.

use crate::common::{
    assert_code, assert_source_error, history, history_ids, history_page_info, items, json_of,
    query_param, respond, source_config, walked_ids, warnings, Direction, Gateway,
};
use chrono::{DateTime, Duration, Utc};
use chronograph::demo::dealcloud::{DealcloudFakeConfig, FakeDcEntry};
use chronograph::demo::fake::Fault;
use chronograph::demo::hexabase::{DEMO_APPLICATION_DISPLAY_ID, DEMO_DATASTORE_ID, DEMO_ITEMS};
use chronograph::demo::DemoOptions;
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const TOKEN_PATH: &str = "/api/rest/v1/oauth/token";
const DATA_PATH: &str = "/entries/history";

const HISTORY: &str = "query($subjects: [HistorySubject!]!, $filter: HistoryFilter, $first: Int, $after: String, $last: Int, $before: String) {
  history(subjects: $subjects, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id source sourceId kind at occurredAt updatedAt observedAt summary deleted mergedIntoSourceId unread actor { name } subject { kind sourceId name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn entry_type(name: &str) -> Value {
    json!([{ "dealcloudEntryType": name }])
}

/// Whether a history node is the DealCloud entry `id`.
fn is_entry(node: &Value, id: i64) -> bool {
    node["sourceId"].as_str() == Some(id.to_string().as_str())
}

fn nodes(response: &Value) -> Vec<Value> {
    items(&history(response)["edges"])
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn query_history(gw: &Gateway, vars: Value) -> Value {
    gw.query(HISTORY, vars).await
}

async fn ok_history(gw: &Gateway, vars: Value) -> Value {
    let response = query_history(gw, vars).await;
    assert!(response["errors"].is_null(), "{response}");
    response
}

/// Page through everything with pages of `size`; returns ids in order and the pages read.
async fn walk(gw: &Gateway, mut vars: Value, size: usize) -> (Vec<String>, usize) {
    vars["first"] = json!(size);
    let pages = gw.walk(HISTORY, vars, history, Direction::Forward).await;
    (walked_ids(&pages, history), pages.len())
}

/// Entries of an entry type as the fake stores them.
fn stored(gw: &Gateway, key: &str) -> Vec<FakeDcEntry> {
    gw.upstreams
        .dealcloud_fake
        .data()
        .entry_type(key)
        .map(|t| t.entries.clone())
        .unwrap_or_default()
}

/// What a walk over the split answers must list: every entry that still exists, plus those
/// deleted or merged after `deletions_since`; ids in byte-wise order.
fn split_expectation(entries: &[FakeDcEntry], deletions_since: DateTime<Utc>) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.deleted_at.is_none_or(|d| d >= deletions_since))
        .map(|e| e.id.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn modified_since(request: &chronograph::demo::fake::RecordedRequest) -> Option<String> {
    query_param(request, "modifiedSince")
}

fn parse(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .expect("datetime")
}

#[tokio::test]
async fn since_two_years_back_returns_every_change_plus_a_warning() {
    let gw = Gateway::start().await;
    let since = Utc::now() - Duration::days(730);
    let vars = json!({ "subjects": entry_type("interaction"), "filter": { "since": fmt(since) } });
    let first = ok_history(
        &gw,
        json!({ "subjects": vars["subjects"], "filter": vars["filter"], "first": 100 }),
    )
    .await;
    let warning = warnings(&first);
    assert!(warning.iter().any(|w| w.contains("180 days")), "{first}");
    let data_calls = gw.dealcloud_requests(DATA_PATH);
    assert_eq!(
        data_calls.len(),
        2,
        "all modified + deletions of the last 180 days"
    );
    assert!(data_calls.iter().any(|r| modified_since(r).is_none()));
    let boundary = data_calls
        .iter()
        .find_map(modified_since)
        .map(|t| parse(&t))
        .expect("a call with modifiedSince");
    let expected_boundary = Utc::now() - Duration::days(180) + Duration::hours(1);
    assert!(
        (boundary - expected_boundary).num_seconds().abs() < 60,
        "{boundary}"
    );
    // The subject said `interaction`; calls use its id (the Schema API's mapping).
    assert!(data_calls
        .iter()
        .all(|r| r.path == "/api/rest/v4/data/entrydata/2013/entries/history"));

    let (seen, _) = walk(&gw, vars, 100).await;
    assert_eq!(
        seen,
        split_expectation(&stored(&gw, "interaction"), boundary)
    );
    let kinds: BTreeSet<String> = nodes(&first)
        .iter()
        .filter_map(|n| n["kind"].as_str().map(str::to_string))
        .collect();
    assert!(kinds.contains("RECORD_CHANGED"), "{kinds:?}");
}

#[tokio::test]
async fn no_since_is_the_same_split() {
    let gw = Gateway::start().await;
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 100 }),
    )
    .await;
    assert!(!warnings(&response).is_empty());
    assert_eq!(gw.dealcloud_requests(DATA_PATH).len(), 2);
    let boundary = Utc::now() - Duration::days(180) + Duration::hours(1);
    assert_eq!(
        history_ids(&response),
        split_expectation(&stored(&gw, "company"), boundary)
    );
}

#[tokio::test]
async fn since_within_180_days_is_one_call_with_modified_since() {
    let gw = Gateway::start().await;
    let since = Utc::now() - Duration::days(60);
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "filter": { "since": fmt(since) }, "first": 100 }),
    )
    .await;
    assert!(warnings(&response).is_empty(), "{response}");
    let data_calls = gw.dealcloud_requests(DATA_PATH);
    assert_eq!(data_calls.len(), 1);
    assert_eq!(modified_since(&data_calls[0]), Some(fmt(since)));
    let expected: BTreeSet<String> = stored(&gw, "interaction")
        .iter()
        .filter(|e| match e.deleted_at {
            Some(deleted) => deleted >= since,
            None => e.modified_at >= since,
        })
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(
        history_ids(&response),
        expected.into_iter().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn deletions_and_merges_map_to_kinds_and_subjects() {
    let gw = Gateway::start().await;
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "first": 100 }),
    )
    .await;
    let all = nodes(&response);
    let entries = stored(&gw, "interaction");
    let merged = entries
        .iter()
        .find(|e| e.merged_into.is_some())
        .expect("a merged interaction");
    let node = all
        .iter()
        .find(|n| is_entry(n, merged.id))
        .expect("merge listed");
    assert_eq!(node["kind"], "RECORD_MERGED");
    assert_eq!(node["deleted"], true);
    assert_eq!(
        node["mergedIntoSourceId"],
        merged.merged_into.map(|m| m.to_string()).expect("survivor")
    );
    assert_eq!(
        node["subject"],
        json!({ "kind": "DEALCLOUD_ENTRY", "sourceId": merged.id.to_string(), "name": merged.name })
    );
    let deleted = entries
        .iter()
        .find(|e| {
            e.merged_into.is_none()
                && e.deleted_at
                    .is_some_and(|d| d > Utc::now() - Duration::days(170))
        })
        .expect("a recent deletion");
    let node = all
        .iter()
        .find(|n| is_entry(n, deleted.id))
        .expect("deletion listed");
    assert_eq!(node["kind"], "RECORD_DELETED");
    assert_eq!(node["deleted"], true);
    assert_eq!(node["mergedIntoSourceId"], Value::Null);
    let old = entries
        .iter()
        .find(|e| {
            e.deleted_at
                .is_some_and(|d| d < Utc::now() - Duration::days(180))
        })
        .expect("an old deletion");
    assert!(
        !all.iter().any(|n| is_entry(n, old.id)),
        "older deletions are not available"
    );
    let changed = all
        .iter()
        .find(|n| n["kind"] == "RECORD_CHANGED")
        .expect("a change");
    assert_eq!(changed["deleted"], false);
    for node in &all {
        assert_eq!(node["source"], "DEALCLOUD");
        assert_eq!(node["occurredAt"], Value::Null);
        assert_eq!(node["updatedAt"], Value::Null);
        assert_eq!(node["at"], node["observedAt"]);
        assert_eq!(node["actor"], Value::Null);
        assert_eq!(node["unread"], Value::Null);
    }
    let ids = history_ids(&response);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        ids, sorted,
        "one `at` for all: ordered by entry id, byte-wise"
    );
}

#[tokio::test]
async fn the_numeric_id_and_the_api_name_give_the_same_entries() {
    let gw = Gateway::start().await;
    let by_name = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "first": 50 }),
    )
    .await;
    let by_id = ok_history(&gw, json!({ "subjects": entry_type("2013"), "first": 50 })).await;
    assert_eq!(history_ids(&by_name), history_ids(&by_id));
    assert!(gw
        .dealcloud_requests(DATA_PATH)
        .iter()
        .any(|r| r.path == "/api/rest/v4/data/entrydata/2013/entries/history"));
}

/// The `id`s, `subject`s and cursors of a page, which must not depend on the spelling used.
fn ids_and_subjects(response: &Value) -> Vec<(String, String)> {
    nodes(response)
        .iter()
        .map(|n| (n["id"].to_string(), n["subject"]["sourceId"].to_string()))
        .collect()
}

#[tokio::test]
async fn an_id_works_when_the_config_lists_names_and_both_spellings_share_ids_and_cursors() {
    // The demo config lists `interaction` and `company` only (issue: `7162` was refused when
    // the config said `fundraising`).
    let gw = Gateway::start().await;
    let by_name = ok_history(
        &gw,
        json!({ "subjects": entry_type("Interaction"), "first": 3 }),
    )
    .await;
    let by_id = ok_history(&gw, json!({ "subjects": entry_type("2013"), "first": 3 })).await;
    assert_eq!(ids_and_subjects(&by_name), ids_and_subjects(&by_id));
    // A cursor from one spelling continues the walk of the other.
    let cursor = history_page_info(&by_name, "endCursor");
    let next = ok_history(
        &gw,
        json!({ "subjects": entry_type("2013"), "first": 3, "after": cursor }),
    )
    .await;
    let next_by_name = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "first": 3, "after": cursor }),
    )
    .await;
    assert_eq!(ids_and_subjects(&next), ids_and_subjects(&next_by_name));
    assert!(!nodes(&next).is_empty());
    // The Schema API is read once and kept; every data call uses the id.
    let schema = gw.dealcloud_requests("/api/rest/v4/schema/entrytypes");
    assert_eq!(schema.len(), 1, "{schema:?}");
    let data = gw.dealcloud_requests(DATA_PATH);
    assert!(!data.is_empty());
    assert!(
        data.iter()
            .all(|r| r.path == "/api/rest/v4/data/entrydata/2013/entries/history"),
        "{data:?}"
    );
}

#[tokio::test]
async fn without_the_schema_api_a_listed_name_still_reads_by_its_own_spelling() {
    let gw = Gateway::start().await;
    gw.upstreams.dealcloud.control.inject(
        "/api/rest/v4/schema/entrytypes",
        respond(404, &[], ""),
        None,
    );
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "first": 3 }),
    )
    .await;
    assert_eq!(nodes(&response).len(), 3);
    assert!(gw
        .dealcloud_requests(DATA_PATH)
        .iter()
        .all(|r| r.path == "/api/rest/v4/data/entrydata/interaction/entries/history"));
}

#[tokio::test]
async fn an_entry_type_not_in_the_config_is_bad_user_input_without_a_call() {
    let gw = Gateway::start().await;
    let response = query_history(&gw, json!({ "subjects": entry_type("deal"), "first": 5 })).await;
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("entry_types")));
    assert!(gw.upstreams.dealcloud.control.requests().is_empty());
}

#[tokio::test]
async fn one_token_serves_many_concurrent_queries() {
    let gw = Gateway::start().await;
    let queries = (0..12).map(|n| {
        let name = if n % 2 == 0 { "interaction" } else { "company" };
        query_history(&gw, json!({ "subjects": entry_type(name), "first": 1 + n }))
    });
    for response in futures::future::join_all(queries).await {
        assert!(response["errors"].is_null(), "{response}");
    }
    let tokens = gw.dealcloud_requests(TOKEN_PATH);
    assert_eq!(tokens.len(), 1, "single-flight token fetch");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&tokens[0].body)
        .into_owned()
        .collect();
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(form.contains(&("client_id".into(), "106".into())));
    assert!(form.contains(&("scope".into(), "data".into())));
    assert_eq!(
        tokens[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(tokens[0].header("authorization").is_none());
    let data = gw.dealcloud_requests(DATA_PATH);
    assert!(data.iter().all(|r| r
        .header("authorization")
        .is_some_and(|h| h.starts_with("Bearer dc-fake-access-token-"))));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_on_a_401_and_the_call_repeated() {
    let gw = Gateway::start().await;
    let vars = json!({ "subjects": entry_type("interaction"), "first": 5 });
    ok_history(&gw, vars.clone()).await;
    assert_eq!(gw.dealcloud_requests(TOKEN_PATH).len(), 1);
    gw.upstreams
        .dealcloud_fake
        .advance(std::time::Duration::from_secs(901));
    gw.reset_all_calls();
    let response = ok_history(&gw, vars.clone()).await;
    assert_eq!(nodes(&response).len(), 5);
    assert_eq!(gw.dealcloud_requests(TOKEN_PATH).len(), 1, "one refresh");
    assert_eq!(
        gw.dealcloud_requests(DATA_PATH).len(),
        4,
        "both split calls rejected once, then repeated once"
    );
    gw.reset_all_calls();
    ok_history(&gw, vars).await;
    assert!(
        gw.dealcloud_requests(TOKEN_PATH).is_empty(),
        "the new token is reused"
    );
}

#[tokio::test]
async fn a_token_is_replaced_shortly_before_it_expires() {
    let options = DemoOptions {
        dealcloud: DealcloudFakeConfig {
            token_lifetime: std::time::Duration::from_secs(2),
            ..DealcloudFakeConfig::default()
        },
        ..DemoOptions::default()
    };
    let gw = Gateway::start_options(options, |_| {}).await;
    let vars = json!({ "subjects": entry_type("company"), "first": 5 });
    ok_history(&gw, vars.clone()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1900)).await;
    gw.reset_all_calls();
    ok_history(&gw, vars).await;
    assert_eq!(
        gw.dealcloud_requests(TOKEN_PATH).len(),
        1,
        "fetched before expiry"
    );
    assert_eq!(
        gw.dealcloud_requests(DATA_PATH).len(),
        2,
        "no call was rejected"
    );
}

#[tokio::test]
async fn a_50000_entry_array_pages_without_downloading_it_again() {
    let options = DemoOptions {
        dealcloud: DealcloudFakeConfig {
            bulk_interactions: 50_000,
            ..DealcloudFakeConfig::default()
        },
        ..DemoOptions::default()
    };
    let gw = Gateway::start_options(options, |_| {}).await;
    let mut vars = json!({ "subjects": entry_type("interaction"), "first": 100 });
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..6 {
        let response = ok_history(&gw, vars.clone()).await;
        assert_eq!(nodes(&response).len(), 100);
        assert_eq!(history_page_info(&response, "hasNextPage"), true);
        seen.extend(history_ids(&response));
        vars["after"] = history_page_info(&response, "endCursor");
    }
    assert_eq!(
        gw.dealcloud_requests(DATA_PATH).len(),
        2,
        "one download for six pages"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, no repeats");
    let last = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "last": 10 }),
    )
    .await;
    assert_eq!(nodes(&last).len(), 10);
    assert_eq!(history_page_info(&last, "hasPreviousPage"), true);
    assert_eq!(
        gw.dealcloud_requests(DATA_PATH).len(),
        4,
        "a new walk reads again"
    );
}

#[tokio::test]
async fn include_calculated_uses_all_history() {
    let gw = Gateway::start_options(DemoOptions::default(), |config| {
        source_config(config, Source::Dealcloud).include_calculated = Some(true);
    })
    .await;
    let since = Utc::now() - Duration::days(25);
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("company"), "filter": { "since": fmt(since) }, "first": 100 }),
    )
    .await;
    let calls = gw.upstreams.dealcloud.control.requests();
    let data: Vec<&str> = calls
        .iter()
        .filter(|r| r.path.contains("/entries/"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        data,
        vec!["/api/rest/v4/data/entrydata/2011/entries/allHistory"]
    );
    let calculated_only: Vec<String> = stored(&gw, "company")
        .iter()
        .filter(|e| {
            e.deleted_at.is_none()
                && e.modified_at < since
                && e.calculated_at.is_some_and(|c| c >= since)
        })
        .map(|e| e.id.to_string())
        .collect();
    let listed = history_ids(&response);
    assert!(!calculated_only.is_empty());
    assert!(
        calculated_only.iter().all(|id| listed.contains(id)),
        "{calculated_only:?} in {listed:?}"
    );
}

#[tokio::test]
async fn until_in_the_past_needs_no_call_and_warns() {
    let gw = Gateway::start().await;
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("company"), "filter": { "until": fmt(Utc::now() - Duration::days(1)) }, "first": 5 }),
    )
    .await;
    assert!(nodes(&response).is_empty());
    assert!(!warnings(&response).is_empty());
    // No data call; the name was resolved to its id (one Schema API read, kept for an hour).
    assert!(gw.dealcloud_requests("/entries/").is_empty());
    assert!(gw.dealcloud_requests("/schema/").len() <= 1);
}

#[tokio::test]
async fn node_ids_of_dealcloud_entries_round_trip() {
    let gw = Gateway::start().await;
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 3 }),
    )
    .await;
    let node = &nodes(&response)[2];
    let back = gw
        .query(
            "query($id: ID!) { node(id: $id) { id ... on HistoryEntry { sourceId kind subject { name } } } }",
            json!({ "id": node["id"] }),
        )
        .await;
    assert!(back["errors"].is_null(), "{back}");
    assert_eq!(back["data"]["node"]["sourceId"], node["sourceId"]);
    assert_eq!(back["data"]["node"]["kind"], node["kind"]);
}

#[tokio::test]
async fn wrong_client_credentials_are_unauthorized_without_leaking_them() {
    let gw = Gateway::start_options(DemoOptions::default(), |config| {
        source_config(config, Source::Dealcloud).client_secret =
            Some(secrecy::SecretString::from("s3cret-but-wrong"));
    })
    .await;
    let response = query_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 5 }),
    )
    .await;
    assert_source_error(&response, "DEALCLOUD", "UPSTREAM_UNAUTHORIZED");
    assert!(response["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("invalid_client")));
    assert!(!response.to_string().contains("s3cret"));
    assert!(gw.dealcloud_requests(DATA_PATH).is_empty());
}

#[tokio::test]
async fn the_limiter_answers_429_with_retry_after_one() {
    let options = DemoOptions {
        dealcloud: DealcloudFakeConfig {
            rate_limit_per_second: Some(1),
            ..DealcloudFakeConfig::default()
        },
        ..DemoOptions::default()
    };
    let no_retries = |config: &mut chronograph::config::Config| {
        source_config(config, Source::Dealcloud).retries = Some(0);
    };
    let gw = Gateway::start_options(options.clone(), no_retries).await;
    let response = query_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 5 }),
    )
    .await;
    assert_code(&response, "UPSTREAM_RATE_LIMITED");
    assert_eq!(response["errors"][0]["extensions"]["retryAfterSeconds"], 1);

    // With the default retries the one-second wait is honoured and the query succeeds.
    let gw = Gateway::start_options(options, |_| {}).await;
    let response = query_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 5 }),
    )
    .await;
    assert!(response["errors"].is_null(), "{response}");
}

/// A fault on one route: the code, the source, and Hexabase entries of the same merged page
/// survive.
async fn fault_case(path: &str, fault: Fault, code: &str) -> Value {
    let gw = Gateway::start().await;
    gw.upstreams.dealcloud.control.inject(path, fault, None);
    let hexabase = json!({ "hexabaseItem": {
        "applicationId": DEMO_APPLICATION_DISPLAY_ID, "datastoreId": DEMO_DATASTORE_ID, "itemId": DEMO_ITEMS[1].0 } });
    let response = query_history(
        &gw,
        json!({ "subjects": [{ "dealcloudEntryType": "company" }, hexabase], "first": 5 }),
    )
    .await;
    assert_source_error(&response, "DEALCLOUD", code);
    let all = nodes(&response);
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|n| n["source"] == "HEXABASE"));
    response
}

#[tokio::test]
async fn upstream_5xx_and_broken_bodies_are_mapped_with_partial_data() {
    for path in [TOKEN_PATH, DATA_PATH] {
        fault_case(path, respond(503, &[], ""), "UPSTREAM_UNAVAILABLE").await;
        fault_case(path, Fault::Garbage, "UPSTREAM_BAD_RESPONSE").await;
    }
    fault_case(DATA_PATH, respond(403, &[], ""), "UPSTREAM_UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_429_from_the_data_route_carries_retry_after() {
    let body = include_str!("../../src/demo/contract/dealcloud/error.429.json");
    let response = fault_case(
        DATA_PATH,
        respond(429, &[("Retry-After", "1")], body),
        "UPSTREAM_RATE_LIMITED",
    )
    .await;
    assert_eq!(response["errors"][0]["extensions"]["retryAfterSeconds"], 1);
}

#[tokio::test]
async fn a_180_day_rejection_never_reaches_the_client() {
    let gw = Gateway::start().await;
    let body = include_str!("../../src/demo/contract/dealcloud/error.400.180-days.json");
    // DealCloud's clock runs ahead of ours: it refuses even the boundary we send.
    gw.upstreams
        .dealcloud_fake
        .advance(std::time::Duration::from_secs(2 * 3600));
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("company"), "first": 100 }),
    )
    .await;
    assert!(!nodes(&response).is_empty());
    assert!(
        warnings(&response).iter().any(|w| w.contains("refused")),
        "{response}"
    );
    let since = Utc::now() - Duration::days(60);
    gw.upstreams
        .dealcloud
        .control
        .inject(DATA_PATH, respond(400, &[], body), Some(1));
    let response = ok_history(
        &gw,
        json!({ "subjects": entry_type("interaction"), "filter": { "since": fmt(since) }, "first": 10 }),
    )
    .await;
    assert_eq!(nodes(&response).len(), 10);
    assert!(!warnings(&response).is_empty());
}

#[tokio::test]
async fn the_fake_follows_the_contract() {
    let gw = Gateway::start().await;
    let client = reqwest::Client::new();
    let base = &gw.upstreams.dealcloud.base_url;
    let token_url = format!("{base}{TOKEN_PATH}");
    let refused = client
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=106&client_secret=nope&scope=data")
        .send()
        .await
        .expect("fake answers");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(json_of(refused).await, json!({ "error": "invalid_client" }));
    let json_body = client
        .post(&token_url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("fake answers");
    assert_eq!(json_body.status().as_u16(), 415);
    let token = json_of(client
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=106&client_secret=demo-dealcloud-client-secret&scope=data")
        .send()
        .await
        .expect("fake answers")).await;
    assert_eq!(token["expires_in"], 900);
    assert_eq!(token["token_type"], "bearer");
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
    // The Schema API: the same token; id, apiName and display names.
    let schema_url = format!("{base}/api/rest/v4/schema/entrytypes");
    let anonymous = client.get(&schema_url).send().await.expect("fake answers");
    assert_eq!(anonymous.status().as_u16(), 401);
    let types = json_of(
        client
            .get(&schema_url)
            .header("authorization", &bearer)
            .send()
            .await
            .expect("fake answers"),
    )
    .await;
    assert!(items(&types).iter().any(|t| t
        == &json!({ "id": 2011, "apiName": "company", "singularName": "Company", "pluralName": "Companies" })));
    assert!(items(&types)
        .iter()
        .any(|t| t["id"] == 2013 && t["apiName"] == "interaction"));
    let data_url = format!("{base}/api/rest/v4/data/entrydata/2013/entries/history");
    let too_old = client
        .get(format!(
            "{data_url}?modifiedSince={}",
            fmt(Utc::now() - Duration::days(181))
        ))
        .header("authorization", &bearer)
        .send()
        .await
        .expect("fake answers");
    assert_eq!(too_old.status().as_u16(), 400);
    assert_eq!(
        json_of(too_old).await,
        serde_json::from_str::<Value>(include_str!(
            "../../src/demo/contract/dealcloud/error.400.180-days.json"
        ))
        .expect("example")
    );
    let all = json_of(
        client
            .get(&data_url)
            .header("authorization", &bearer)
            .send()
            .await
            .expect("fake answers"),
    )
    .await;
    let all = all.as_array().cloned().unwrap_or_default();
    assert!(!all.is_empty());
    assert!(all
        .iter()
        .all(|e| e["entryListId"] == 2013 && e["isDeleted"] == false));
    assert!(
        all.iter()
            .all(|e| e.as_object().is_some_and(|o| o.len() == 4)),
        "no timestamps"
    );
    gw.upstreams
        .dealcloud_fake
        .advance(std::time::Duration::from_secs(900));
    let expired = client
        .get(&data_url)
        .header("authorization", &bearer)
        .send()
        .await
        .expect("fake answers");
    assert_eq!(expired.status().as_u16(), 401);
}

#[tokio::test]
async fn the_dealcloud_example_runs_in_demo_mode() {
    let gw = Gateway::start().await;
    let text = include_str!("../../examples/dealcloud-changes.graphql");
    let response = gw.query(text, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(
        response["data"]["history"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(50)
    );
    assert!(!warnings(&response).is_empty());
}

const CHANGES: &str = "query($subjects: [HistorySubject!]!, $since: String) {
  changes(subjects: $subjects, since: $since) { entries { sourceId kind deleted mergedIntoSourceId } nextSince complete warnings }
}";

#[tokio::test]
async fn the_change_feed_brings_new_deletions_and_merges_once() {
    let gw = Gateway::start().await;
    let first = gw
        .query(CHANGES, json!({ "subjects": entry_type("interaction") }))
        .await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(first["data"]["changes"]["complete"], true);
    let token = first["data"]["changes"]["nextSince"].clone();
    let again = gw
        .query(
            CHANGES,
            json!({ "subjects": entry_type("interaction"), "since": token }),
        )
        .await;
    assert_eq!(again["data"]["changes"]["entries"], json!([]), "{again}");

    let (deleted, merged, survivor) = {
        let mut data = gw.upstreams.dealcloud_fake.data();
        let entries = &mut data.entry_type_mut("interaction").expect("type").entries;
        let now = Utc::now() + Duration::milliseconds(5);
        entries[0].deleted_at = Some(now);
        entries[0].modified_at = now;
        let survivor = entries[2].id;
        entries[1].deleted_at = Some(now);
        entries[1].merged_into = Some(survivor);
        entries[1].modified_at = now;
        (entries[0].id, entries[1].id, survivor)
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let later = gw
        .query(CHANGES, json!({ "subjects": entry_type("interaction"), "since": again["data"]["changes"]["nextSince"] }))
        .await;
    assert!(later["errors"].is_null(), "{later}");
    let entries = later["data"]["changes"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |id: i64| {
        entries
            .iter()
            .find(|e| is_entry(e, id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find(deleted)["kind"], "RECORD_DELETED", "{later}");
    assert_eq!(find(deleted)["deleted"], true);
    assert_eq!(find(merged)["kind"], "RECORD_MERGED", "{later}");
    assert_eq!(find(merged)["mergedIntoSourceId"], survivor.to_string());
    let last = gw
        .query(CHANGES, json!({ "subjects": entry_type("interaction"), "since": later["data"]["changes"]["nextSince"] }))
        .await;
    assert_eq!(
        last["data"]["changes"]["entries"],
        json!([]),
        "each change once: {last}"
    );
}
