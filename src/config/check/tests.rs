use super::*;
use crate::suggest::edit_distance;
use figment::value::Tag;
use serde::Deserialize;

fn table(entries: Vec<(&str, Value)>) -> Value {
    let dict: Dict = entries
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    Value::Dict(Tag::Default, dict)
}

fn sample(expect: Expect) -> Value {
    match expect {
        Expect::Text | Expect::Url | Expect::Secret => Value::from("x"),
        Expect::Texts | Expect::Secrets => Value::from(vec!["x"]),
        Expect::Flag => Value::from(true),
        Expect::Whole { min, .. } => Value::from(min),
        // The one nested table, `[server.rate_limit]`, with every key it takes.
        Expect::Table => table(RATE_LIMIT.iter().map(|(k, e)| (*k, sample(*e))).collect()),
    }
}

/// A whole configuration with one table filled in (sources go under `sources.celigo`).
fn config_with(name: &str, entries: Vec<(&str, Value)>) -> Value {
    match name {
        "sources" => table(vec![("sources", table(vec![("celigo", table(entries))]))]),
        _ => table(vec![(name, table(entries))]),
    }
}

/// The tables here and the config structs list the same keys: every key here deserialises,
/// and the keys serde lists for an unknown one are exactly these.
#[test]
fn the_key_tables_match_the_config_structs() {
    for name in ["server", "cache", "telemetry", "sources"] {
        let known = keys_of(name);
        let mut entries: Vec<(&str, Value)> =
            known.iter().map(|(key, e)| (*key, sample(*e))).collect();
        let filled = config_with(name, entries.clone());
        if let Err(err) = Config::deserialize(&filled) {
            panic!("[{name}] has a key the struct lacks: {err}");
        }
        entries.push(("no_such_key", Value::from(1u8)));
        let err = Config::deserialize(&config_with(name, entries)).expect_err("unknown key");
        let figment::error::Kind::UnknownField(_, fields) = &err.kind else {
            panic!("[{name}]: {err}");
        };
        let mut fields = fields.to_vec();
        let mut ours: Vec<&str> = known.iter().map(|(key, _)| *key).collect();
        fields.sort_unstable();
        ours.sort_unstable();
        assert_eq!(
            fields, ours,
            "[{name}] keys differ from its struct's fields"
        );
    }
}

#[test]
fn edit_distance_counts_single_character_edits() {
    assert_eq!(edit_distance("max_dept", "max_depth"), 1);
    assert_eq!(edit_distance("tokn", "token"), 1);
    assert_eq!(edit_distance("celigio", "celigo"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

#[test]
fn suggestions_are_close_or_share_a_start() {
    let server = SERVER.iter().map(|(key, _)| *key);
    assert_eq!(closest("max_dept", server.clone()), Some("max_depth"));
    assert_eq!(closest("listen_addr", server.clone()), Some("listen"));
    assert_eq!(closest("colour", server), None);
    let source = SOURCE.iter().map(|(key, _)| *key);
    assert_eq!(closest("timeout", source.clone()), Some("timeout_ms"));
    assert_eq!(closest("TOKEN", source.clone()), None);
    assert_eq!(closest("tokn", source), Some("token"));
}

#[test]
fn every_raw_problem_is_found_and_dropped() {
    let mut raw = match table(vec![
        (
            "server",
            table(vec![
                ("max_dept", Value::from(3u8)),
                ("max_depth", Value::from(-3i8)),
                ("graphiql", Value::from("yes")),
                ("max_batch", Value::from(4u8)),
            ]),
        ),
        (
            "sources",
            table(vec![(
                "celigo",
                table(vec![
                    ("token", Value::from(12345u16)),
                    ("user_id", Value::from("u")),
                ]),
            )]),
        ),
        ("cache", Value::from(5u8)),
    ]) {
        Value::Dict(_, dict) => dict,
        _ => unreachable!("a table"),
    };
    let lines: Vec<String> = check_raw(&mut raw)
        .iter()
        .map(|finding| Origins::default().line(finding))
        .collect();
    assert_eq!(
        lines,
        [
            "cache: expected a table, got a number",
            "server.graphiql: expected true or false, got \"yes\"",
            "server.max_dept: unknown key, did you mean server.max_depth?",
            "server.max_depth: expected a whole number ≥ 1, got -3",
            "sources.celigo.token: expected a string, got a number",
            "sources.celigo.base_url: missing (required)",
        ]
    );
    // What is left deserialises (and is for `validate` to judge: user_id is not Celigo's).
    let config = Config::deserialize(&Value::Dict(Tag::Default, raw)).expect("the rest loads");
    assert_eq!(config.server.max_batch, 4);
    assert_eq!(config.server.max_depth, 15, "the bad value is dropped");
}

#[test]
fn base_urls_with_a_path_the_adapter_adds_are_warned_about() {
    let warned = [
        (Source::Celigo, "https://api.integrator.io/v1"),
        (Source::Celigo, "https://api.integrator.io/v1/"),
        (Source::Rocketchat, "https://chat.example.com/api/v1"),
        (Source::Rocketchat, "https://chat.example.com/api"),
        (Source::Hexabase, "https://api.hexabase.com/api/v0"),
        (Source::Truto, "https://api.truto.one/integration"),
        (Source::Dealcloud, "https://x.dealcloud.com/api/rest/v4"),
        (Source::Dealcloud, "https://x.dealcloud.com/api/rest"),
    ];
    for (source, base_url) in warned {
        let reason = path_the_adapter_adds(source, base_url).expect(base_url);
        assert!(reason.contains("which Chronograph adds itself"), "{reason}");
    }
    let fine = [
        (Source::Celigo, "https://api.integrator.io"),
        (Source::Celigo, "https://api.eu.integrator.io/"),
        (Source::Rocketchat, "https://example.com/chat"),
        (Source::Truto, "https://api.truto.one"),
        (Source::Dealcloud, "https://x.dealcloud.com"),
        (Source::Hexabase, "not a url"),
    ];
    for (source, base_url) in fine {
        assert_eq!(path_the_adapter_adds(source, base_url), None, "{base_url}");
    }
    let reason =
        path_the_adapter_adds(Source::Celigo, "https://u:pw@api.integrator.io/v1").expect("warned");
    assert_eq!(
        reason,
        "`https://u:***@api.integrator.io/v1` ends with /v1, which Chronograph adds itself \
             (calls would go to https://u:***@api.integrator.io/v1/v1/…): use \
             https://u:***@api.integrator.io"
    );
}
