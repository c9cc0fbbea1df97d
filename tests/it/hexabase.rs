//! Black-box tests of the Hexabase vertical: real gateway, real HTTP, in-process Hexabase fake.
//! The item-history call marks entries read, so these tests assert the exact windows sent and
//! the number of calls per (user, item) as much as the data returned.

use crate::common::{
    assert_code, assert_source_error, global_id, history, history_ids, history_page_info, items,
    json_of, respond, source_config, walked_ids, Direction, Gateway, HexabaseWindow,
};
use chrono::{DateTime, Duration, Utc};
use chronograph::demo::fake::Fault;
use chronograph::demo::hexabase::{
    DEMO_APPLICATION_DISPLAY_ID, DEMO_DATASTORE_DISPLAY_ID, DEMO_DATASTORE_ID, DEMO_ITEMS,
};
use chronograph::demo::DemoOptions;
use chronograph::domain::ids::NodeType;
use chronograph::domain::Source;
use serde_json::{json, Value};
use std::collections::HashSet;

const ITEM_5: &str = DEMO_ITEMS[0].0;
const ITEM_120: &str = DEMO_ITEMS[1].0;
const ITEM_230: &str = DEMO_ITEMS[2].0;

const HISTORY: &str = "query($subjects: [HistorySubject!]!, $filter: HistoryFilter, $first: Int, $after: String, $last: Int, $before: String) {
  history(subjects: $subjects, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id sourceId kind at occurredAt updatedAt observedAt summary unread deleted actor { sourceId name email } subject { kind sourceId name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn item(id: &str) -> Value {
    json!({ "hexabaseItem": {
        "applicationId": DEMO_APPLICATION_DISPLAY_ID,
        "datastoreId": DEMO_DATASTORE_ID,
        "itemId": id,
    } })
}

fn edges(response: &Value) -> &[Value] {
    items(&history(response)["edges"])
}

fn vendor_order(gw: &Gateway, item_id: &str) -> Vec<String> {
    gw.upstreams
        .hexabase_fake
        .data()
        .item(item_id)
        .map(|i| i.ids())
        .unwrap_or_default()
}

/// Ids that are unread for the demo caller before anything was listed.
fn initially_unread(gw: &Gateway, item_id: &str) -> HashSet<String> {
    let data = gw.upstreams.hexabase_fake.data();
    data.item(item_id)
        .map(|i| {
            i.entries
                .iter()
                .filter(|e| e.unread && e.user != 0)
                .map(|e| e.history_id.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn window(from: usize, to: usize, to_datetime: &str) -> HexabaseWindow {
    HexabaseWindow {
        from,
        to,
        from_datetime: None,
        to_datetime: Some(to_datetime.to_string()),
        exclude_action: false,
        exclude_comment: false,
    }
}

fn last_at(response: &Value) -> String {
    edges(response)
        .last()
        .and_then(|e| e["node"]["at"].as_str().map(str::to_string))
        .expect("page has entries")
}

async fn page(gw: &Gateway, subjects: Value, vars: Value) -> Value {
    let mut all = json!({ "subjects": subjects });
    if let (Some(all), Some(extra)) = (all.as_object_mut(), vars.as_object()) {
        all.extend(extra.clone());
    }
    let response = gw.query(HISTORY, all).await;
    assert!(response["errors"].is_null(), "{response}");
    response
}

#[tokio::test]
async fn a_230_entry_item_pages_with_exactly_the_needed_windows_and_no_re_reads() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let caller = fake.caller_id();
    let expected = vendor_order(&gw, ITEM_230);
    let unread_before = initially_unread(&gw, ITEM_230);
    assert!(!unread_before.is_empty());
    let subjects = json!([item(ITEM_230)]);

    let first = page(&gw, subjects.clone(), json!({ "first": 100 })).await;
    assert_eq!(history_ids(&first), expected[..100].to_vec());
    assert_eq!(history_page_info(&first, "hasNextPage"), true);
    let snapshot = edges(&first)[0]["node"]["observedAt"]
        .as_str()
        .expect("observedAt")
        .to_string();
    assert_eq!(gw.hexabase_windows(), vec![window(0, 100, &snapshot)]);
    let k1 = last_at(&first);

    let second = page(
        &gw,
        subjects.clone(),
        json!({ "first": 100, "after": history_page_info(&first, "endCursor") }),
    )
    .await;
    assert_eq!(history_ids(&second), expected[100..200].to_vec());
    assert_eq!(history_page_info(&second, "hasNextPage"), true);
    assert!(edges(&second)
        .iter()
        .all(|e| e["node"]["observedAt"] == snapshot.as_str()));
    let k2 = last_at(&second);

    let third = page(
        &gw,
        subjects.clone(),
        json!({ "first": 100, "after": history_page_info(&second, "endCursor") }),
    )
    .await;
    assert_eq!(history_ids(&third), expected[200..].to_vec());
    assert_eq!(history_page_info(&third, "hasNextPage"), false);

    // Page 2 pins to_datetime to the cursor entry's time and starts again at index 0 of that
    // narrower range: the cursor entry plus 100 new ones, in windows of at most 100.
    assert_eq!(
        gw.hexabase_windows(),
        vec![
            window(0, 100, &snapshot),
            window(0, 100, &k1),
            window(100, 101, &k1),
            window(0, 100, &k2),
        ]
    );
    assert_eq!(fake.reads(caller, ITEM_230), 4);
    assert_eq!(fake.unread_count(caller, ITEM_230), 0);

    // Every entry was listed once, with `unread` as it was before that listing.
    for response in [&first, &second, &third] {
        for edge in edges(response) {
            let id = edge["node"]["sourceId"].as_str().expect("id");
            assert_eq!(
                edge["node"]["unread"],
                unread_before.contains(id),
                "unread of {id}"
            );
        }
    }
}

#[tokio::test]
async fn pages_after_a_cursor_read_n_plus_one_entries_in_one_call() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let expected = vendor_order(&gw, ITEM_230);
    let vars = json!({ "subjects": [item(ITEM_230)], "first": 50 });
    let pages = gw.walk(HISTORY, vars, history, Direction::Forward).await;
    assert_eq!(
        walked_ids(&pages, history),
        expected,
        "every entry exactly once, in vendor order"
    );
    let sizes: Vec<(usize, usize)> = gw
        .hexabase_windows()
        .iter()
        .map(|w| (w.from, w.to))
        .collect();
    assert_eq!(sizes, vec![(0, 50), (0, 51), (0, 51), (0, 51), (0, 51)]);
    assert_eq!(fake.reads(fake.caller_id(), ITEM_230), 5);
}

#[tokio::test]
async fn backward_pages_read_the_tail_and_visit_every_entry_once() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let expected = vendor_order(&gw, ITEM_120);
    let unread_before = initially_unread(&gw, ITEM_120);
    let subjects = json!([item(ITEM_120)]);

    let last = page(&gw, subjects.clone(), json!({ "last": 20 })).await;
    assert_eq!(history_ids(&last), expected[100..].to_vec());
    assert_eq!(history_page_info(&last, "hasPreviousPage"), true);
    let windows = gw.hexabase_windows();
    let probes = windows.iter().filter(|w| w.to - w.from == 1).count();
    assert!(
        probes <= 2 * 7 + 1,
        "finding the end takes about 2·log2(n) one-entry probes, got {probes}"
    );
    assert_eq!(windows.last().map(|w| (w.from, w.to)), Some((100, 120)));
    let listed: usize = windows.iter().map(|w| w.to - w.from).sum();
    assert!(listed <= 20 + probes, "{listed} entries listed");
    for edge in edges(&last) {
        let id = edge["node"]["sourceId"].as_str().expect("id");
        assert_eq!(edge["node"]["unread"], unread_before.contains(id), "{id}");
    }

    let vars = json!({ "subjects": subjects, "last": 30,
        "before": history_page_info(&last, "startCursor") });
    let earlier = gw.walk(HISTORY, vars, history, Direction::Backward).await;
    let mut seen = walked_ids(&earlier, history);
    seen.extend(history_ids(&last));
    assert_eq!(seen, expected);
    assert!(fake.reads(fake.caller_id(), ITEM_120) > 0);
}

#[tokio::test]
async fn kinds_become_exclude_flags_and_neither_kind_makes_no_call() {
    let gw = Gateway::start().await;
    let subjects = json!([item(ITEM_120)]);
    let comments = page(
        &gw,
        subjects.clone(),
        json!({ "first": 15, "filter": { "kinds": ["COMMENT"] } }),
    )
    .await;
    assert_eq!(edges(&comments).len(), 15);
    assert!(edges(&comments)
        .iter()
        .all(|e| e["node"]["kind"] == "COMMENT"));
    let windows = gw.hexabase_windows();
    assert_eq!(windows.len(), 1);
    assert!(windows[0].exclude_action && !windows[0].exclude_comment);
    let expected: Vec<String> = {
        let data = gw.upstreams.hexabase_fake.data();
        data.item(ITEM_120)
            .map(|i| {
                i.entries
                    .iter()
                    .filter(|e| e.action.is_none())
                    .take(15)
                    .map(|e| e.history_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(history_ids(&comments), expected);

    gw.reset_all_calls();
    let actions = page(
        &gw,
        subjects.clone(),
        json!({ "first": 5, "filter": { "kinds": ["ACTION", "AUDIT"] } }),
    )
    .await;
    assert!(edges(&actions).iter().all(|e| e["node"]["kind"] == "ACTION"
        && e["node"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Action “"))));
    let windows = gw.hexabase_windows();
    assert!(windows[0].exclude_comment && !windows[0].exclude_action);

    gw.reset_all_calls();
    let none = page(
        &gw,
        subjects,
        json!({ "first": 5, "filter": { "kinds": ["AUDIT", "RECORD_CHANGED"] } }),
    )
    .await;
    assert!(edges(&none).is_empty());
    assert!(gw.hexabase_windows().is_empty(), "no call at all");
}

#[tokio::test]
async fn since_and_until_are_sent_as_datetimes() {
    let gw = Gateway::start().await;
    let (since, until, expected) = {
        let data = gw.upstreams.hexabase_fake.data();
        let entries = &data.item(ITEM_230).expect("item").entries;
        let until = entries[40].updated_at;
        let since = entries[70].updated_at;
        let expected: Vec<String> = entries
            .iter()
            .filter(|e| e.updated_at >= since && e.updated_at < until)
            .map(|e| e.history_id.clone())
            .collect();
        (since, until, expected)
    };
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let response = page(
        &gw,
        json!([item(ITEM_230)]),
        json!({ "first": 100, "filter": { "since": fmt(since), "until": fmt(until) } }),
    )
    .await;
    assert_eq!(history_ids(&response), expected);
    assert_eq!(history_page_info(&response, "hasNextPage"), false);
    let windows = gw.hexabase_windows();
    assert_eq!(windows.len(), 1);
    assert_eq!(
        windows[0].from_datetime.as_deref(),
        Some(fmt(since).as_str())
    );
    assert_eq!(
        windows[0].to_datetime.as_deref(),
        Some(fmt(until - Duration::milliseconds(1)).as_str()),
        "until is exclusive, to_datetime inclusive"
    );
}

#[tokio::test]
async fn fractional_seconds_of_any_length_and_offsets_parse() {
    let gw = Gateway::start().await;
    let body = json!({ "unread": 1, "histories": [
        { "history_id": "6646f0a928dc5c20307cf5b1", "display_order": 0, "is_unread": true, "comment": "Seven digits",
          "created_at": "2021-03-06T13:33:30.29Z", "datastore_id": DEMO_DATASTORE_ID, "datastore_name": "Support Tickets",
          "user_id": "5fc9b4aaaa39557110839cf7", "username": "k.tanaka", "email": "k.tanaka@example.com",
          "updated_at": "2021-03-08T15:05:44.9999999Z", "is_updated": true, "updated_by": "5fc9b4aaaa39557110839cf7" },
        { "history_id": "6646f0a928dc5c20307cf5b2", "display_order": 1, "is_unread": false, "comment": "Offset",
          "created_at": "2017-09-06T12:55:22.409+09:00", "datastore_id": DEMO_DATASTORE_ID, "datastore_name": "Support Tickets",
          "user_id": "5fc9b4aaaa39557110839cf7", "username": "k.tanaka", "email": "k.tanaka@example.com",
          "updated_at": "2017-09-06T12:55:22.409+09:00", "is_updated": false },
        { "history_id": "6646f0a928dc5c20307cf5b3", "display_order": 2, "is_unread": false, "comment": "Three digits",
          "created_at": "2017-09-05T01:00:00.104Z", "datastore_id": DEMO_DATASTORE_ID, "datastore_name": "Support Tickets",
          "user_id": "5fc9b4aaaa39557110839cf7", "username": "k.tanaka", "email": "k.tanaka@example.com",
          "updated_at": "2017-09-05T01:00:00Z", "is_updated": false }
    ] });
    gw.upstreams.hexabase.control.inject(
        "/items/histories/",
        respond(200, &[], body.to_string()),
        Some(1),
    );
    let response = page(&gw, json!([item(ITEM_5)]), json!({ "first": 3 })).await;
    let nodes: Vec<Value> = edges(&response).iter().map(|e| e["node"].clone()).collect();
    assert_eq!(nodes[0]["occurredAt"], "2021-03-06T13:33:30.290Z");
    assert_eq!(nodes[0]["updatedAt"], "2021-03-08T15:05:44.999Z");
    assert_eq!(nodes[0]["at"], "2021-03-08T15:05:44.999Z");
    assert_eq!(nodes[1]["occurredAt"], "2017-09-06T03:55:22.409Z");
    assert_eq!(nodes[2]["updatedAt"], "2017-09-05T01:00:00.000Z");
    assert_eq!(nodes[0]["kind"], "COMMENT");
    assert_eq!(nodes[0]["unread"], true);
    assert_eq!(nodes[0]["actor"]["email"], "k.tanaka@example.com");
    assert_eq!(
        nodes[0]["subject"],
        json!({ "kind": "HEXABASE_ITEM", "sourceId": ITEM_5, "name": null })
    );
}

#[tokio::test]
async fn the_read_side_effect_is_real_and_reported_as_it_was() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let subjects = json!([item(ITEM_5)]);
    let before = fake.unread_count(fake.caller_id(), ITEM_5);
    assert!(before > 0);
    let first = page(&gw, subjects.clone(), json!({ "first": 10 })).await;
    let unread_first = edges(&first)
        .iter()
        .filter(|e| e["node"]["unread"] == true)
        .count();
    assert_eq!(unread_first, before);
    assert_eq!(fake.unread_count(fake.caller_id(), ITEM_5), 0);
    let again = page(&gw, subjects, json!({ "first": 10 })).await;
    assert!(edges(&again).iter().all(|e| e["node"]["unread"] == false));
    assert_eq!(history_ids(&again), history_ids(&first));
}

#[tokio::test]
async fn entries_shown_between_pages_neither_repeat_nor_go_missing() {
    let gw = Gateway::start().await;
    let subjects = json!([item(ITEM_120)]);
    // A tie at the page boundary (two entries in the same millisecond) and, between the
    // pages, a new comment at the head and an edit that moves an unseen entry to the head.
    let (expected, moved) = {
        let mut data = gw.upstreams.hexabase_fake.data();
        let item = data.item_mut(ITEM_120).expect("item");
        let tie = item.entries[10].updated_at;
        item.entries[9].updated_at = tie;
        item.entries[11].updated_at = tie;
        item.sort();
        let moved = item.entries[30].history_id.clone();
        let expected: Vec<String> = item.ids().into_iter().filter(|id| *id != moved).collect();
        (expected, moved)
    };
    let first = page(&gw, subjects.clone(), json!({ "first": 10 })).await;
    {
        let mut data = gw.upstreams.hexabase_fake.data();
        let item = data.item_mut(ITEM_120).expect("item");
        let mut fresh = item.entries[0].clone();
        fresh.history_id = "ffffffffffffffffffffff01".into();
        fresh.updated_at = Utc::now() + Duration::seconds(5);
        fresh.created_at = fresh.updated_at;
        item.entries.push(fresh);
        if let Some(edited) = item.entries.iter_mut().find(|e| e.history_id == moved) {
            edited.updated_at = Utc::now() + Duration::seconds(6);
        }
        item.sort();
    }
    let vars = json!({ "subjects": subjects, "first": 10 });
    let seen = gw.ids_from(HISTORY, vars, &first, history).await;
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_merged_page_reads_at_most_n_per_hexabase_stream() {
    let gw = Gateway::start().await;
    let response = page(
        &gw,
        json!([item(ITEM_5), item(ITEM_120)]),
        json!({ "first": 10 }),
    )
    .await;
    let sizes: Vec<(usize, usize)> = gw
        .hexabase_windows()
        .iter()
        .map(|w| (w.from, w.to))
        .collect();
    assert_eq!(sizes, vec![(0, 10), (0, 10)]);
    let mut all: Vec<(String, String)> = {
        let data = gw.upstreams.hexabase_fake.data();
        [ITEM_5, ITEM_120]
            .iter()
            .flat_map(|id| data.item(id).expect("item").entries.clone())
            .map(|e| {
                (
                    e.updated_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    e.history_id,
                )
            })
            .collect()
    };
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let expected: Vec<String> = all.into_iter().map(|(_, id)| id).collect();
    assert_eq!(history_ids(&response), expected[..10].to_vec());

    // Page 2: the stream the cursor entry came from asks for it once more; the other one
    // asks for exactly N.
    gw.reset_all_calls();
    let second = page(
        &gw,
        json!([item(ITEM_5), item(ITEM_120)]),
        json!({ "first": 10, "after": history_page_info(&response, "endCursor") }),
    )
    .await;
    assert_eq!(history_ids(&second), expected[10..20].to_vec());
    let mut sizes: Vec<(usize, usize)> = gw
        .hexabase_windows()
        .iter()
        .map(|w| (w.from, w.to))
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![(0, 10), (0, 11)]);
}

#[tokio::test]
async fn a_cursor_from_before_a_restart_still_reads_only_what_the_page_needs() {
    let gw = Gateway::start().await;
    let expected = vendor_order(&gw, ITEM_230);
    let first = page(&gw, json!([item(ITEM_230)]), json!({ "first": 20 })).await;
    // A second gateway over the same fakes, as after a restart or on another replica.
    let restarted = gw.replica(|_| {}).await;
    gw.reset_all_calls();
    let vars = json!({ "subjects": [item(ITEM_230)], "first": 20,
        "after": history_page_info(&first, "endCursor") });
    let second = restarted.query(HISTORY, vars).await;
    assert!(second["errors"].is_null(), "{second}");
    assert_eq!(history_ids(&second), expected[20..40].to_vec());
    let sizes: Vec<(usize, usize)> = gw
        .hexabase_windows()
        .iter()
        .map(|w| (w.from, w.to))
        .collect();
    assert_eq!(
        sizes,
        vec![(0, 20), (20, 21)],
        "N, then one more for the cursor entry"
    );
}

#[tokio::test]
async fn node_ids_of_hexabase_entries_round_trip_reading_little() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let response = page(&gw, json!([item(ITEM_230)]), json!({ "first": 100 })).await;
    let (unedited, edited) = {
        let data = fake.data();
        let entries = &data.item(ITEM_230).expect("item").entries[..100];
        (
            entries
                .iter()
                .rev()
                .find(|e| e.edited_by.is_none())
                .map(|e| e.history_id.clone())
                .expect("unedited entry"),
            entries
                .iter()
                .find(|e| e.edited_by.is_some())
                .map(|e| e.history_id.clone()),
        )
    };
    let id_of = |source_id: &str| {
        edges(&response)
            .iter()
            .find(|e| e["node"]["sourceId"] == source_id)
            .map(|e| e["node"]["id"].clone())
            .expect("listed")
    };
    let lookup = "query($id: ID!) { node(id: $id) { __typename id ... on HistoryEntry { sourceId kind source subject { kind sourceId } } } }";
    gw.reset_all_calls();
    let back = gw.query(lookup, json!({ "id": id_of(&unedited) })).await;
    assert!(back["errors"].is_null(), "{back}");
    assert_eq!(back["data"]["node"]["__typename"], "HistoryEntry");
    assert_eq!(back["data"]["node"]["sourceId"], unedited.as_str());
    assert_eq!(back["data"]["node"]["source"], "HEXABASE");
    let windows = gw.hexabase_windows();
    assert_eq!(
        windows.len(),
        1,
        "one call near the time in the id: {windows:?}"
    );
    assert!(windows[0].from_datetime.is_some());
    if let Some(edited) = edited {
        let back = gw.query(lookup, json!({ "id": id_of(&edited) })).await;
        assert_eq!(back["data"]["node"]["sourceId"], edited.as_str(), "{back}");
    }
    let gone = global_id(
        NodeType::HistoryEntry,
        Source::Hexabase,
        &[
            "6650a1c2e4b0f8a9d3c7ffff",
            DEMO_APPLICATION_DISPLAY_ID,
            DEMO_DATASTORE_DISPLAY_ID,
            "6650a1c2e4b0f8a9d3c7aaaa",
        ],
    );
    let missing = gw.query(lookup, json!({ "id": gone })).await;
    assert!(missing["errors"].is_null(), "{missing}");
    assert_eq!(missing["data"]["node"], Value::Null);
}

#[tokio::test]
async fn login_happens_once_for_concurrent_requests_and_again_after_a_401() {
    let gw = Gateway::start().await;
    let fake = gw.upstreams.hexabase_fake.clone();
    let logins = || gw.upstreams.hexabase.control.count("/api/v0/login");
    let queries = DEMO_ITEMS
        .iter()
        .map(|(id, _, _)| page(&gw, json!([item(id)]), json!({ "first": 3 })));
    futures::future::join_all(queries).await;
    assert_eq!(logins(), 1, "single-flight login");
    let login = &gw.upstreams.hexabase.control.requests()[0];
    assert_eq!(login.method, "POST");
    let body: Value = serde_json::from_slice(&login.body).expect("JSON login body");
    assert_eq!(body["email"], "k.tanaka@example.com");

    fake.expire_tokens();
    gw.reset_all_calls();
    let response = page(&gw, json!([item(ITEM_5)]), json!({ "first": 3 })).await;
    assert_eq!(edges(&response).len(), 3);
    assert_eq!(logins(), 1, "logged in once more");
    assert_eq!(
        gw.hexabase_windows().len(),
        2,
        "the rejected call and its repeat"
    );
}

#[tokio::test]
async fn a_configured_token_is_used_as_is_and_a_401_is_not_retried() {
    let options = DemoOptions {
        hexabase_use_token: true,
        ..DemoOptions::default()
    };
    let gw = Gateway::start_options(options, |_| {}).await;
    let response = page(&gw, json!([item(ITEM_5)]), json!({ "first": 2 })).await;
    assert_eq!(edges(&response).len(), 2);
    let requests = gw.upstreams.hexabase.control.requests();
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer demo-hexabase-api-token")
    );
    gw.upstreams.hexabase_fake.expire_tokens();
    gw.reset_all_calls();
    let response = gw
        .query(HISTORY, json!({ "subjects": [item(ITEM_5)], "first": 2 }))
        .await;
    assert_source_error(&response, "HEXABASE", "UPSTREAM_UNAUTHORIZED");
    assert_eq!(gw.hexabase_windows().len(), 1);
    assert_eq!(gw.upstreams.hexabase.control.count("/api/v0/login"), 0);
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_without_leaking_it() {
    let gw = Gateway::start_options(DemoOptions::default(), |config| {
        source_config(config, Source::Hexabase).password =
            Some(secrecy::SecretString::from("hunter2-wrong"));
    })
    .await;
    let response = gw
        .query(HISTORY, json!({ "subjects": [item(ITEM_5)], "first": 2 }))
        .await;
    assert_code(&response, "UPSTREAM_UNAUTHORIZED");
    assert!(!response.to_string().contains("hunter2"));
    assert!(gw.hexabase_windows().is_empty());
}

/// One injected fault on the history call: its code, exactly one call (never retried), and
/// the other subject's entries survive.
async fn fault_case(fault: Fault, code: &str) -> Value {
    let gw = Gateway::start().await;
    gw.upstreams
        .hexabase
        .control
        .inject(&format!("/histories/{ITEM_5}"), fault, None);
    let response = gw
        .query(
            HISTORY,
            json!({ "subjects": [item(ITEM_5), item(ITEM_120)], "first": 5 }),
        )
        .await;
    assert_source_error(&response, "HEXABASE", code);
    assert_eq!(response["errors"][0]["path"], json!(["history"]));
    assert_eq!(
        edges(&response).len(),
        5,
        "the healthy stream still answers"
    );
    assert_eq!(history_page_info(&response, "hasNextPage"), true);
    let calls_for_item_5 = gw
        .upstreams
        .hexabase
        .control
        .count(&format!("/api/v0/applications/{DEMO_APPLICATION_DISPLAY_ID}/datastores/{DEMO_DATASTORE_ID}/items/histories/{ITEM_5}"));
    assert_eq!(
        calls_for_item_5, 1,
        "a side-effecting call is never retried"
    );
    response
}

#[tokio::test]
async fn upstream_5xx_is_unavailable_and_not_retried() {
    let body = r#"{"error_code":"SYSTEM_ERROR","message":"internal error"}"#;
    fault_case(respond(500, &[], body), "UPSTREAM_UNAVAILABLE").await;
}

#[tokio::test]
async fn upstream_429_is_rate_limited_with_retry_after() {
    let response = fault_case(
        respond(429, &[("Retry-After", "4")], ""),
        "UPSTREAM_RATE_LIMITED",
    )
    .await;
    assert_eq!(response["errors"][0]["extensions"]["retryAfterSeconds"], 4);
}

#[tokio::test]
async fn garbage_bodies_and_forbidden_datastores_are_mapped() {
    fault_case(Fault::Garbage, "UPSTREAM_BAD_RESPONSE").await;
    fault_case(Fault::Truncated, "UPSTREAM_BAD_RESPONSE").await;
    fault_case(
        respond(
            403,
            &[],
            r#"{"error_code":"NO_PRIVILEGES","message":"no read access to this datastore"}"#,
        ),
        "UPSTREAM_UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_item_is_not_found() {
    let gw = Gateway::start().await;
    let response = gw
        .query(
            HISTORY,
            json!({ "subjects": [item("6650a1c2e4b0f8a9d3c7aaaa")], "first": 5 }),
        )
        .await;
    assert_source_error(&response, "HEXABASE", "NOT_FOUND");
}

#[tokio::test]
async fn the_fake_follows_the_contract() {
    let gw = Gateway::start().await;
    let client = reqwest::Client::new();
    let base = &gw.upstreams.hexabase.base_url;
    let url = format!(
        "{base}/api/v0/applications/{DEMO_APPLICATION_DISPLAY_ID}/datastores/{DEMO_DATASTORE_DISPLAY_ID}/items/histories/{ITEM_120}"
    );
    let anonymous = client.get(&url).send().await.expect("fake answers");
    assert_eq!(anonymous.status().as_u16(), 401);
    let body = json_of(anonymous).await;
    assert_eq!(body["error_code"], "UNAUTHORIZED");

    let token = "Bearer demo-hexabase-api-token";
    let too_wide = client
        .get(format!("{url}?from_index=0&to_index=101"))
        .header("authorization", token)
        .send()
        .await
        .expect("fake answers");
    assert_eq!(too_wide.status().as_u16(), 400);
    let body = json_of(too_wide).await;
    assert_eq!(
        body,
        serde_json::from_str::<Value>(include_str!(
            "../../src/demo/contract/hexabase/error.400.json"
        ))
        .expect("example")
    );

    let default_window = json_of(
        client
            .get(&url)
            .header("authorization", token)
            .send()
            .await
            .expect("fake answers"),
    )
    .await;
    let histories = default_window["histories"].as_array().expect("histories");
    assert_eq!(histories.len(), 30, "default window 0..30");
    let unread = default_window["unread"].as_u64().expect("unread");
    assert!(unread > 0);
    let times: Vec<&str> = histories
        .iter()
        .filter_map(|h| h["updated_at"].as_str())
        .collect();
    let fraction_lengths: HashSet<usize> = times
        .iter()
        .map(|t| {
            t.split('.')
                .nth(1)
                .map_or(0, |f| f.trim_end_matches('Z').len())
        })
        .collect();
    assert!(fraction_lengths.len() > 1, "mixed precision: {times:?}");
    let comment = histories
        .iter()
        .find(|h| h.get("action_id").is_none())
        .expect("a comment");
    assert!(comment.get("action_name").is_none() && comment.get("transaction_id").is_none());
    assert!(histories
        .iter()
        .all(|h| h.get("updated_by").is_none() || h["is_updated"] == true));

    let second = json_of(
        client
            .get(&url)
            .header("authorization", token)
            .send()
            .await
            .expect("fake answers"),
    )
    .await;
    assert!(
        second["unread"].as_u64().expect("unread") < unread,
        "the first call marked entries read"
    );
    let fake = &gw.upstreams.hexabase_fake;
    assert_eq!(fake.reads(fake.caller_id(), ITEM_120), 2);
}

#[tokio::test]
async fn the_hexabase_example_runs_in_demo_mode() {
    let gw = Gateway::start().await;
    let text = include_str!("../../examples/hexabase-item-history.graphql");
    let response = gw.query(text, json!({})).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(edges(&response).len(), 25);
}
