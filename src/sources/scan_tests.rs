//! The fast path (`sources::scan`) against `serde_json`, which decides: on every record of the
//! demo data and the vendors' examples it must read the same values (and read them at all, or
//! the fast path is dead weight), and on mangled records it may give up but never read what
//! `serde_json` refuses, nor read something else.

use super::celigo::wire::{WireAudit, WireConnection, WireFlow, WireIntegration, WireResource};
use super::rocketchat::wire::{self as rc, List, WireExecution};
use super::scan;
use crate::demo::celigo::CeligoData;
use crate::demo::rocketchat::RocketChatData;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::fmt::Debug;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("a valid instant")
}

fn celigo() -> CeligoData {
    CeligoData::generate(7, 12, now())
}

fn rocketchat() -> RocketChatData {
    RocketChatData::generate(7, "owner", now())
}

/// The fast path reads `text` as serde_json does; `must_read`: it does read it.
fn same_list<W: DeserializeOwned + scan::Scan + PartialEq + Debug>(text: &str, must_read: bool) {
    let fast = scan::list::<W>(text);
    let serde = serde_json::from_str::<Vec<W>>(text);
    match (&fast, &serde) {
        (Some(fast), Ok(serde)) => assert_eq!(fast, serde, "{text}"),
        (Some(fast), Err(err)) => panic!("read what serde refuses ({err}): {fast:?} from {text}"),
        (None, _) if must_read => panic!("the fast path gave up on {text}"),
        (None, _) => {}
    }
}

fn same_page<W: DeserializeOwned + scan::Scan + PartialEq + Debug>(
    text: &str,
    list: List,
    must_read: bool,
) {
    let fast = rc::scan_page::<W>(text, list);
    let serde = rc::decode_envelope::<W>(text, list);
    match (&fast, &serde) {
        (Some(fast), Some(serde)) => assert_eq!(fast, serde, "{text}"),
        (Some(fast), None) => panic!("read what serde refuses: {fast:?} from {text}"),
        (None, _) if must_read => panic!("the fast path gave up on {text}"),
        (None, _) => {}
    }
}

fn compact_and_pretty(items: &[Value]) -> [String; 2] {
    [
        Value::from(items.to_vec()).to_string(),
        serde_json::to_string_pretty(items).expect("json"),
    ]
}

#[test]
fn every_demo_and_example_record_is_read_by_the_fast_path_as_serde_reads_it() {
    let data = celigo();
    assert!(data.audit.len() > 100 && data.flows.len() > 10);
    for text in compact_and_pretty(&data.integrations) {
        same_list::<WireIntegration>(&text, true);
    }
    for text in compact_and_pretty(&data.flows) {
        same_list::<WireFlow>(&text, true);
    }
    for text in compact_and_pretty(&data.connections) {
        same_list::<WireConnection>(&text, true);
    }
    for text in compact_and_pretty(&[data.exports.clone(), data.imports.clone()].concat()) {
        same_list::<WireResource>(&text, true);
    }
    for text in compact_and_pretty(&data.audit) {
        same_list::<WireAudit>(&text, true);
    }
    let data = rocketchat();
    for list in [List::History, List::Integrations] {
        let page = json!({
            "integrations": data.integrations,
            "history": data.history,
            "offset": 0,
            "count": 5,
            "total": 61,
            "success": true,
        });
        for text in [
            page.to_string(),
            serde_json::to_string_pretty(&page).expect("json"),
        ] {
            match list {
                List::History => same_page::<WireExecution>(&text, list, true),
                List::Integrations => same_page::<rc::WireIntegration>(&text, list, true),
            }
        }
    }
    let example = include_str!("../../tests/fixtures/rocketchat/integrations.history.200.json");
    same_page::<WireExecution>(example, List::History, true);
    let empty = include_str!("../../tests/fixtures/rocketchat/integrations.history.empty.200.json");
    same_page::<WireExecution>(empty, List::History, true);
}

#[test]
fn rare_member_shapes_are_read_as_serde_reads_them() {
    let records = [
        r#"{"_id":"a","_createdAt":{"$date":1715677923118},"_updatedAt":{"$date":"2024-05-14T09:12:03.640Z"}}"#,
        r#"{"_id":"a","_createdAt":"not a time","_updatedAt":5}"#,
        r#"{"_id":"a","httpResult":"{\n  \"statusCode\": 502,\n  \"content\": \"bad\"\n}"}"#,
        r#"{"_id":"a","httpResult":"{\"status\\u0043ode\": 201}"}"#,
        r#"{"_id":"a","httpResult":"{\"statusCode\": 201}"}"#,
        r#"{"_id":"a","httpResult":{"statusCode":200},"httpError":{"name":"E","message":"m"}}"#,
        r#"{"_id":"a","errorStack":"Error: x\n  at y","error":true,"finished":false}"#,
        r#"{"_id":"a","data":{"text":"caf\u00e9 \"hi\"","user_name":null},"integration":null}"#,
        r#"{"\u005fid":"escaped key","step":"s"}"#,
    ];
    for record in records {
        let page = format!(r#"{{"history":[{record}],"total":1}}"#);
        same_page::<WireExecution>(&page, List::History, true);
    }
}

/// A JSON text for one member value: shapes the wire structs take and ones they refuse.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("0".to_string()),
        Just("-12.5e3".to_string()),
        Just("18446744073709551616".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just(r#"[{"_exportId":"e1"},{"_importId":null}]"#.to_string()),
        Just(r#"[{"fieldPath":"name"},{"fieldPath":5}]"#.to_string()),
        Just(r#"{"_id":"u","name":"N","email":"e@x","extra":[1,{"a":null}]}"#.to_string()),
        Just(r#"{"name":"n","name":"twice"}"#.to_string()),
        Just(r#"{"$date":1715677923118}"#.to_string()),
        Just(r#""2024-05-14T09:12:03.640Z""#.to_string()),
        Just(r#""esc\"aped\\ \u00e9 \n""#.to_string()),
        Just("\"raw\tcontrol\"".to_string()),
        Just("\"bad \\x escape\"".to_string()),
        Just("01".to_string()),
        Just("[1,]".to_string()),
        Just("tru".to_string()),
        "[a-zA-Z0-9 _.:-]{0,24}".prop_map(|s| format!("\"{s}\"")),
    ]
}

/// Keys of the wire structs (some escaped), and others.
fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "_id",
            "name",
            "description",
            "createdAt",
            "lastModified",
            "disabled",
            "pageGenerators",
            "pageProcessors",
            "_integrationId",
            "type",
            "offline",
            "_connectionId",
            "time",
            "event",
            "resourceType",
            "byUser",
            "fieldChange",
            "fieldChanges",
            "deletedInfo",
            "step",
            "integration",
            "_createdAt",
            "_updatedAt",
            "data",
            "httpResult",
            "httpError",
            "error",
            "errorStack",
            "finished",
            "enabled",
            "unknown",
        ])
        .prop_map(|k| format!("\"{k}\"")),
        Just(r#""\u005fid""#.to_string()),
        Just(r#""na\u006De""#.to_string()),
    ]
}

fn object_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((key_text(), value_text()), 0..8),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(members, with_id, spaced)| {
            let mut parts: Vec<String> = Vec::new();
            if with_id {
                parts.push(r#""_id":"x1""#.to_string());
            }
            let sep = if spaced { " : " } else { ":" };
            parts.extend(members.into_iter().map(|(k, v)| format!("{k}{sep}{v}")));
            format!("{{{}}}", parts.join(if spaced { " ,\n " } else { "," }))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mangled_records_are_read_as_serde_reads_them_or_left_to_it(
        records in prop::collection::vec(object_text(), 0..4),
    ) {
        let list = format!("[{}]", records.join(","));
        same_list::<WireAudit>(&list, false);
        same_list::<WireFlow>(&list, false);
        same_list::<WireIntegration>(&list, false);
        same_list::<WireConnection>(&list, false);
        same_list::<WireResource>(&list, false);
        let page = format!(r#"{{"success":true,"history":{list},"total":3}}"#);
        same_page::<WireExecution>(&page, List::History, false);
        let page = format!(r#"{{"integrations":{list},"history":[{{"x":1}}]}}"#);
        same_page::<rc::WireIntegration>(&page, List::Integrations, false);
    }
}

#[test]
fn envelopes_serde_refuses_are_left_to_it() {
    for page in [
        r#"{"history":[],"history":[]}"#,
        r#"{"history":null}"#,
        r#"{"history":[],"total":-1}"#,
        r#"{"history":[],"total":1.5}"#,
        r#"{"history":[],"integrations":null}"#,
        r#"{"history":[]} trailing"#,
        r#"[{"_id":"a"}]"#,
    ] {
        assert!(
            rc::decode_envelope::<WireExecution>(page, List::History).is_none(),
            "{page}"
        );
        assert!(
            rc::scan_page::<WireExecution>(page, List::History).is_none(),
            "{page}"
        );
    }
    let fine = r#"{"history":[],"integrations":[{"anything":[1]}],"total":null}"#;
    same_page::<WireExecution>(fine, List::History, true);
}
