//! The merged timeline over real HTTP: k-way merge bounds, partial failure and catch-up,
//! the change feed, and the `historyAdded` subscription over a real websocket.

use crate::common::{codes, history_source_ids, Gateway};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::fake::Fault;
use futures::SinkExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn ids(gw: &Gateway, n: usize) -> Vec<String> {
    gw.upstreams
        .celigo_fake
        .data()
        .integrations
        .iter()
        .take(n)
        .filter_map(|i| i["_id"].as_str().map(str::to_string))
        .collect()
}

fn subjects(ids: &[String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({ "integration": { "source": "CELIGO", "sourceId": id } }))
            .collect(),
    )
}

const MERGED: &str = "query($subjects: [HistorySubject!]!, $first: Int, $after: String) {
  history(subjects: $subjects, first: $first, after: $after) {
    edges { cursor node { sourceId at subject { sourceId } } }
    pageInfo { hasNextPage endCursor }
  }
}";

fn edge_ids(response: &Value) -> Vec<String> {
    history_source_ids(response, "history")
}

#[tokio::test]
async fn a_merged_page_reads_each_stream_once_and_is_ordered() {
    let gw = Gateway::start().await;
    let three = ids(&gw, 4)[1..].to_vec();
    gw.reset_calls();
    let page = gw
        .query(MERGED, json!({ "subjects": subjects(&three), "first": 10 }))
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let edges = page["data"]["history"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
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
        all.iter()
            .filter_map(|e| e["_id"].as_str().map(str::to_string))
            .collect()
    };
    let mut seen = edge_ids(&page);
    let mut after = page["data"]["history"]["pageInfo"]["endCursor"].clone();
    while seen.len() < expected.len() + 5 {
        let next = gw
            .query(
                MERGED,
                json!({ "subjects": subjects(&three), "first": 25, "after": after }),
            )
            .await;
        seen.extend(edge_ids(&next));
        after = next["data"]["history"]["pageInfo"]["endCursor"].clone();
        if next["data"]["history"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_failing_stream_costs_only_its_entries_and_is_caught_up_on_the_next_page() {
    let gw = Gateway::start().await;
    let two = ids(&gw, 3)[1..].to_vec();
    gw.upstreams.celigo.control.inject(
        &format!("/v1/integrations/{}/audit", two[0]),
        Fault::Respond {
            status: 503,
            headers: vec![],
            body: String::new(),
        },
        None,
    );
    let page = gw
        .query(MERGED, json!({ "subjects": subjects(&two), "first": 5 }))
        .await;
    assert_eq!(codes(&page), vec!["UPSTREAM_UNAVAILABLE"]);
    assert_eq!(page["errors"][0]["extensions"]["source"], "CELIGO");
    assert_eq!(page["errors"][0]["path"], json!(["history"]));
    let subjects_seen: HashSet<&str> = page["data"]["history"]["edges"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["node"]["subject"]["sourceId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(subjects_seen, HashSet::from([two[1].as_str()]));
    assert_eq!(page["data"]["history"]["pageInfo"]["hasNextPage"], true);

    gw.upstreams.celigo.control.clear_faults();
    let mut seen = edge_ids(&page);
    let mut after = page["data"]["history"]["pageInfo"]["endCursor"].clone();
    loop {
        let next = gw
            .query(
                MERGED,
                json!({ "subjects": subjects(&two), "first": 50, "after": after }),
            )
            .await;
        assert!(next["errors"].is_null(), "{next}");
        seen.extend(edge_ids(&next));
        after = next["data"]["history"]["pageInfo"]["endCursor"].clone();
        if next["data"]["history"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates after the catch-up");
    let total: usize = two
        .iter()
        .map(|id| {
            gw.upstreams
                .celigo_fake
                .data()
                .audit_of_integration(id)
                .len()
        })
        .sum();
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
    let one = ids(&gw, 2)[1..].to_vec();
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    let recent: Vec<String> = gw
        .upstreams
        .celigo_fake
        .data()
        .audit_of_integration(&one[0])
        .iter()
        .filter(|e| {
            e["time"]
                .as_str()
                .and_then(chronograph::domain::datetime::parse_lenient)
                .is_some_and(|t| t >= day_ago)
        })
        .filter_map(|e| e["_id"].as_str().map(str::to_string))
        .collect();
    let first = gw
        .query(CHANGES, json!({ "subjects": subjects(&one) }))
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let got: Vec<String> = first["data"]["changes"]["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["sourceId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(got, recent, "since null = the last 24 hours");
    assert_eq!(first["data"]["changes"]["complete"], true);
    let token = first["data"]["changes"]["nextSince"].clone();

    let again = gw
        .query(
            CHANGES,
            json!({ "subjects": subjects(&one), "since": token }),
        )
        .await;
    assert_eq!(again["data"]["changes"]["entries"], json!([]));
    {
        let mut data = gw.upstreams.celigo_fake.data();
        let mut fresh = data.audit_of_integration(&one[0])[0].clone();
        fresh["_id"] = json!("6b0000000000000000000001");
        fresh["time"] = json!(chronograph::domain::datetime::format_utc_ms(
            chrono::Utc::now()
        ));
        data.audit.insert(0, fresh);
    }
    let later = gw
        .query(
            CHANGES,
            json!({ "subjects": subjects(&one), "since": again["data"]["changes"]["nextSince"] }),
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
            json!({ "subjects": subjects(&one), "since": "2000-01-01T00:00:00Z" }),
        )
        .await;
    let count = all["data"]["changes"]["entries"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        count,
        gw.upstreams
            .celigo_fake
            .data()
            .audit_of_integration(&one[0])
            .len()
    );
    let bad = gw
        .query(
            CHANGES,
            json!({ "subjects": subjects(&one), "since": "last tuesday" }),
        )
        .await;
    assert_eq!(codes(&bad), vec!["BAD_USER_INPUT"]);

    gw.upstreams.celigo.control.inject(
        "/audit",
        Fault::Respond {
            status: 500,
            headers: vec![],
            body: String::new(),
        },
        None,
    );
    let failed = gw
        .query(
            CHANGES,
            json!({ "subjects": subjects(&one), "since": later["data"]["changes"]["nextSince"] }),
        )
        .await;
    assert_eq!(failed["data"]["changes"]["complete"], false);
    assert_eq!(codes(&failed), vec!["UPSTREAM_UNAVAILABLE"]);
}

#[tokio::test]
async fn history_added_streams_new_entries_over_graphql_ws() {
    let gw = Gateway::start_with(CeligoFakeConfig::default(), 5, |config| {
        if let Some(celigo) = config.sources.celigo.as_mut() {
            celigo.poll_interval_ms = Some(150);
        }
    })
    .await;
    let target = ids(&gw, 1)[0].clone();
    let mut socket = crate::common::ws_connect(&gw).await;
    let mut second = crate::common::ws_connect(&gw).await;
    use tokio_tungstenite::tungstenite::Message;
    for s in [&mut socket, &mut second] {
        s.send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await
        .expect("init");
        let ack = crate::common::ws_next_json(s).await;
        assert_eq!(ack["type"], "connection_ack");
    }
    let subscription = json!({
        "id": "1",
        "type": "subscribe",
        "payload": {
            "query": "subscription($s: [HistorySubject!]!) { historyAdded(subjects: $s) { sourceId kind summary subject { sourceId } } }",
            "variables": { "s": subjects(std::slice::from_ref(&target)) }
        }
    });
    socket
        .send(Message::text(subscription.to_string()))
        .await
        .expect("subscribe");
    second
        .send(Message::text(subscription.to_string()))
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("chronograph_subscription_pollers 1\n"),
        "two subscribers share one poller: {metrics}"
    );
    crate::common::insert_fresh_audit(&gw, &target, "6c0000000000000000000001");
    let message = tokio::time::timeout(
        Duration::from_secs(5),
        crate::common::ws_next_json(&mut socket),
    )
    .await
    .expect("an entry arrives");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["data"]["historyAdded"]["sourceId"],
        "6c0000000000000000000001"
    );
    assert_eq!(message["payload"]["data"]["historyAdded"]["kind"], "AUDIT");
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        crate::common::ws_next_json(&mut second),
    )
    .await
    .expect("the second subscriber too");
    assert_eq!(
        other["payload"]["data"]["historyAdded"]["sourceId"],
        "6c0000000000000000000001"
    );
}
