//! The merged timeline over real HTTP: k-way merge bounds, partial failure and catch-up,
//! the change feed, and the `historyAdded` subscription over a real websocket.

use crate::common::{
    assert_code, assert_source_error, celigo_subjects, history, history_added, history_page_info,
    insert_fresh_audit, items, pluck, respond, source_config, ws_next_entry, ws_ready, ws_send,
    Gateway,
};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const MERGED: &str = "query($subjects: [HistorySubject!]!, $first: Int, $after: String) {
  history(subjects: $subjects, first: $first, after: $after) {
    edges { cursor node { sourceId at subject { sourceId } } }
    pageInfo { hasNextPage endCursor }
  }
}";

#[tokio::test]
async fn a_merged_page_reads_each_stream_once_and_is_ordered() {
    let gw = Gateway::start().await;
    let three = gw.celigo_integration_ids()[1..4].to_vec();
    gw.reset_calls();
    let page = gw
        .query(
            MERGED,
            json!({ "subjects": celigo_subjects(&three), "first": 10 }),
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let edges = items(&history(&page)["edges"]);
    assert_eq!(edges.len(), 10);
    let ats: Vec<&str> = edges
        .iter()
        .filter_map(|e| e["node"]["at"].as_str())
        .collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    assert_eq!(
        gw.celigo_calls("/v1/integrations/"),
        3,
        "one audit call per stream"
    );
    let expected: Vec<String> = {
        let data = gw.upstreams.celigo_fake.data();
        let mut all: Vec<Value> = three
            .iter()
            .flat_map(|id| data.audit_of_integration(id))
            .collect();
        all.sort_by(|a, b| {
            b["time"]
                .as_str()
                .cmp(&a["time"].as_str())
                .then(a["_id"].as_str().cmp(&b["_id"].as_str()))
        });
        pluck(&all, "_id")
    };
    let vars = json!({ "subjects": celigo_subjects(&three), "first": 25 });
    let seen = gw.ids_from(MERGED, vars, &page, history).await;
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_failing_stream_costs_only_its_entries_and_is_caught_up_on_the_next_page() {
    let gw = Gateway::start().await;
    let two = gw.celigo_integration_ids()[1..3].to_vec();
    gw.upstreams.celigo.control.inject(
        &format!("/v1/integrations/{}/audit", two[0]),
        respond(503, &[], ""),
        None,
    );
    let page = gw
        .query(
            MERGED,
            json!({ "subjects": celigo_subjects(&two), "first": 5 }),
        )
        .await;
    assert_source_error(&page, "CELIGO", "UPSTREAM_UNAVAILABLE");
    assert_eq!(page["errors"][0]["path"], json!(["history"]));
    let subjects_seen: HashSet<&str> = items(&history(&page)["edges"])
        .iter()
        .filter_map(|e| e["node"]["subject"]["sourceId"].as_str())
        .collect();
    assert_eq!(subjects_seen, HashSet::from([two[1].as_str()]));
    assert_eq!(history_page_info(&page, "hasNextPage"), true);

    gw.upstreams.celigo.control.clear_faults();
    let vars = json!({ "subjects": celigo_subjects(&two), "first": 50 });
    let seen = gw.ids_from(MERGED, vars, &page, history).await;
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates after the catch-up");
    let total: usize = two.iter().map(|id| gw.celigo_audit(id).len()).sum();
    assert_eq!(
        seen.len(),
        total,
        "the failed stream's entries were not lost"
    );
}

const CHANGES: &str = "query($subjects: [HistorySubject!]!, $since: String) {
  changes(subjects: $subjects, since: $since) { entries { sourceId at } nextSince complete warnings }
}";

#[tokio::test]
async fn the_change_feed_returns_only_what_is_new() {
    let gw = Gateway::start().await;
    let one = gw.celigo_integration_ids()[1..2].to_vec();
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    let audit = gw.celigo_audit(&one[0]);
    let recent = pluck(
        audit.iter().filter(|e| {
            e["time"]
                .as_str()
                .and_then(chronograph::domain::datetime::parse_lenient)
                .is_some_and(|t| t >= day_ago)
        }),
        "_id",
    );
    let first = gw
        .query(CHANGES, json!({ "subjects": celigo_subjects(&one) }))
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let got = pluck(items(&first["data"]["changes"]["entries"]), "sourceId");
    assert_eq!(got, recent, "since null = the last 24 hours");
    assert_eq!(first["data"]["changes"]["complete"], true);
    let token = first["data"]["changes"]["nextSince"].clone();

    let again = gw
        .query(
            CHANGES,
            json!({ "subjects": celigo_subjects(&one), "since": token }),
        )
        .await;
    assert_eq!(again["data"]["changes"]["entries"], json!([]));
    insert_fresh_audit(&gw, &one[0], "6b0000000000000000000001");
    let later = gw
        .query(
            CHANGES,
            json!({ "subjects": celigo_subjects(&one), "since": again["data"]["changes"]["nextSince"] }),
        )
        .await;
    assert_eq!(
        later["data"]["changes"]["entries"][0]["sourceId"],
        "6b0000000000000000000001"
    );
    assert_eq!(
        later["data"]["changes"]["entries"].as_array().map(Vec::len),
        Some(1)
    );

    let all = gw
        .query(
            CHANGES,
            json!({ "subjects": celigo_subjects(&one), "since": "2000-01-01T00:00:00Z" }),
        )
        .await;
    let count = all["data"]["changes"]["entries"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(count, gw.celigo_audit(&one[0]).len());
    let bad = gw
        .query(
            CHANGES,
            json!({ "subjects": celigo_subjects(&one), "since": "last tuesday" }),
        )
        .await;
    assert_code(&bad, "BAD_USER_INPUT");

    gw.upstreams
        .celigo
        .control
        .inject("/audit", respond(500, &[], ""), None);
    let failed = gw
        .query(
            CHANGES,
            json!({ "subjects": celigo_subjects(&one), "since": later["data"]["changes"]["nextSince"] }),
        )
        .await;
    assert_eq!(failed["data"]["changes"]["complete"], false);
    assert_code(&failed, "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn history_added_streams_new_entries_over_graphql_ws() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        source_config(config, Source::Celigo).poll_interval_ms = Some(150);
    })
    .await;
    let target = gw.celigo_integration_ids()[0].clone();
    let mut socket = ws_ready(&gw, Value::Null).await;
    let mut second = ws_ready(&gw, Value::Null).await;
    ws_send(&mut socket, history_added("1", &target)).await;
    ws_send(&mut second, history_added("1", &target)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("chronograph_subscription_pollers 1\n"),
        "two subscribers share one poller: {metrics}"
    );
    insert_fresh_audit(&gw, &target, "6c0000000000000000000001");
    let entry = ws_next_entry(&mut socket).await;
    assert_eq!(entry["sourceId"], "6c0000000000000000000001");
    assert_eq!(entry["kind"], "AUDIT");
    let other = ws_next_entry(&mut second).await;
    assert_eq!(
        other["sourceId"], "6c0000000000000000000001",
        "the second subscriber too"
    );
}
