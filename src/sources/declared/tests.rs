use super::decode::Plan;
use super::mapping::{Format, HistoryMap, IntegrationMap};
use super::settings::{valid_pointer, HttpSourceConfig};
use crate::domain::RawJson;
use crate::domain::{HistoryKind, HistoryStatus, Source};
use serde_json::json;

fn declaration(text: &str) -> HttpSourceConfig {
    let config = crate::config::Config::from_toml_str(text).expect("declaration loads");
    config
        .sources
        .declared
        .values()
        .next()
        .cloned()
        .expect("one declared source")
}

const GITHUB: &str = include_str!("../../../examples/github-deliveries.toml");

#[test]
fn pointers_follow_rfc_6901() {
    for good in ["", "/", "/a", "/a/0", "/a~1b", "/m~0n", "/a//b"] {
        assert!(valid_pointer(good), "{good}");
    }
    for bad in ["a", "a/b", "/a~", "/a~2", "~1"] {
        assert!(!valid_pointer(bad), "{bad}");
    }
}

#[test]
fn the_shipped_example_has_no_problem() {
    let cfg = declaration(GITHUB);
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
}

#[test]
fn every_problem_of_a_declaration_is_named() {
    let err = crate::config::Config::from_toml_str(
        r#"
[sources.broken]
kind = "http"
base_url = "ftp://example.com"
[sources.broken.auth]
type = "oauth2"
client_id = "x"
[sources.broken.integrations]
path = "hooks"
items = "data"
paging = { style = "scroll" }
[sources.broken.integrations.fields]
name = "/name"
[sources.broken.history]
path = "/hooks/deliveries"
paging = { style = "cursor" }
[sources.broken.history.fields]
id = "/id"
kind = { pointer = "/event", values = { push = "PUSHED" } }
occurred_at = { pointer = "/at", format = "julian" }
"#,
    )
    .expect_err("refused");
    let keys: Vec<String> = err
        .problems
        .iter()
        .filter_map(|line| line.split(':').next())
        .map(|key| key.trim_start_matches("sources.broken.").to_string())
        .collect();
    for expected in [
        "base_url",
        "auth.token_url",
        "auth.client_secret",
        "integrations.path",
        "integrations.items",
        "integrations.paging.style",
        "integrations.fields.id",
        "history.order",
        "history.paging.cursor_param",
        "history.path",
        "history.fields.kind",
        "history.fields.occurred_at",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} not in {keys:?}"
        );
    }
}

#[test]
fn history_items_map_through_pointers_tables_and_templates() {
    let cfg = declaration(GITHUB);
    let mut plan = Plan::default();
    let map = HistoryMap::new(&cfg.history.as_ref().expect("history").fields, &mut plan);
    let read = |item: serde_json::Value| (plan.capture(&item), RawJson::from(item));
    let item = json!({"id": 42, "delivered_at": "2026-12-01T10:00:00Z", "status": "Invalid HTTP Response: 500",
        "status_code": 500, "event": "push", "action": null, "duration": 0.5});
    let (captured, raw) = read(item);
    let entry = map
        .map(Source::Rocketchat, "7", &captured, raw)
        .expect("maps");
    assert_eq!(entry.source_id, "42");
    assert_eq!(entry.kind, HistoryKind::WebhookExecution);
    assert_eq!(entry.status, Some(HistoryStatus::Error));
    assert_eq!(
        entry.summary(),
        "push → 500 Invalid HTTP Response: 500 in 0.5 s"
    );
    assert_eq!(
        entry.occurred_at.map(|t| t.timestamp()),
        Some(1_796_119_200)
    );
    let missing = json!({"id": 43, "status": "OK"});
    let (captured, raw) = read(missing);
    let err = map
        .map(Source::Rocketchat, "7", &captured, raw)
        .expect_err("no time");
    assert!(err.contains("43"), "{err}");
}

#[test]
fn integration_items_map_flags_and_times() {
    let cfg = declaration(GITHUB);
    let mut plan = Plan::default();
    let map = IntegrationMap::new(
        &cfg.integrations.as_ref().expect("integrations").fields,
        &mut plan,
    );
    let read = |item: &serde_json::Value| (plan.capture(item), RawJson::from(item.clone()));
    let item = json!({"id": 9, "active": false, "config": {"url": "https://x.example/h"},
        "events": ["push"], "created_at": "2026-01-01T00:00:00Z", "updated_at": "soon"});
    let (captured, raw) = read(&item);
    let err = map
        .map(Source::Rocketchat, &captured, raw)
        .expect_err("bad time");
    assert!(err.contains("updated_at"), "{err}");
    let mut item = item;
    item["updated_at"] = json!("2026-02-01T00:00:00Z");
    let (captured, raw) = read(&item);
    let integration = map.map(Source::Rocketchat, &captured, raw).expect("maps");
    assert_eq!(integration.name, "https://x.example/h");
    assert_eq!(integration.enabled, Some(false));
    assert_eq!(integration.description.as_deref(), Some("events: push"));
}

#[test]
fn datetime_formats_round_trip() {
    let at = crate::domain::datetime::from_millis(1_796_119_200_123);
    for format in [Format::Rfc3339, Format::EpochMs, Format::Utc] {
        let written = format.write(at);
        let back = format.read_text(&written).expect("reads back");
        assert_eq!(back, at, "{format:?} {written}");
    }
    let seconds = Format::EpochS
        .read_text(&Format::EpochS.write(at))
        .expect("reads");
    assert_eq!(seconds.timestamp(), at.timestamp());
}

#[test]
fn unknown_keys_inside_a_declaration_and_undeclared_names_are_named() {
    let err = crate::config::Config::from_toml_str(
        r#"
[sources.ledger]
kind = "http"
base_url = "https://ledger.example"
colour = "blue"
[sources.ledger.integrations]
path = "/streams"
fields = { id = "/key" }
[sources.ledger.history]
path = "/streams/{sourceId}/events"
order = "desc"
pagin = { style = "offset" }
fields = { id = "/eid", at = "/ts" }

[sources.mystery]
base_url = "https://mystery.example"
"#,
    )
    .expect_err("refused");
    let text = err.problems.join("\n");
    assert!(
        text.contains("sources.ledger.colour: unknown key"),
        "{text}"
    );
    assert!(text.contains("sources.ledger.history.pagin"), "{text}");
    assert!(
        text.contains(
            "sources.mystery: unknown source (a declared source needs `kind = \"http\"`)"
        ),
        "{text}"
    );
    let typo = crate::config::Config::from_toml_str("[sources.celgo]\nbase_url = \"https://x\"\n")
        .expect_err("refused");
    assert!(
        typo.problems[0].contains("did you mean sources.celigo?"),
        "{:?}",
        typo.problems
    );
}

#[test]
fn a_name_that_cannot_be_an_enum_value_is_refused() {
    let err = crate::config::Config::from_toml_str(
        r#"
[sources.Git-Hub]
kind = "http"
base_url = "https://api.github.com"
"#,
    )
    .expect_err("refused");
    let text = err.problems.join("\n");
    assert!(
        text.contains("sources.Git-Hub: a declared source's name must be"),
        "{text}"
    );
}

#[test]
fn the_kinds_a_declaration_can_produce_are_known_up_front() {
    use super::settings::{FieldSpec, FieldTable, HistoryFields};
    let kinds = |kind: Option<FieldSpec>| {
        let fields = HistoryFields {
            kind,
            ..HistoryFields::default()
        };
        HistoryMap::new(&fields, &mut Plan::default())
            .kinds()
            .to_vec()
    };
    assert_eq!(kinds(None), vec![HistoryKind::WebhookExecution]);
    let constant = FieldSpec::Table(FieldTable {
        constant: Some("AUDIT".into()),
        ..FieldTable::default()
    });
    assert_eq!(kinds(Some(constant)), vec![HistoryKind::Audit]);
    let table = FieldSpec::Table(FieldTable {
        pointer: Some("/type".into()),
        values: Some(
            [("a", "COMMENT"), ("b", "ACTION"), ("c", "COMMENT")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        default: Some("AUDIT".into()),
        ..FieldTable::default()
    });
    assert_eq!(
        kinds(Some(table)),
        vec![
            HistoryKind::Comment,
            HistoryKind::Action,
            HistoryKind::Audit
        ]
    );
    // Read as they are: any kind may come, so no filter skips the call.
    assert!(kinds(Some(FieldSpec::Pointer("/type".into()))).is_empty());
}
