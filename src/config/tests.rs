use super::*;

#[test]
fn example_config_from_design_loads() {
    let text = r#"
[server]
listen = "0.0.0.0:8000"
[cache]
max_bytes = 67108864
[sources.celigo]
base_url = "https://api.integrator.io"
token = "secret-celigo"
[sources.rocketchat]
base_url = "https://chat.example.com"
user_id = "u"
auth_token = "a"
"#;
    let config = Config::from_toml_str(text).expect("valid");
    assert!(config.sources.celigo.is_some());
    assert!(!config.summary().contains("secret-celigo"));
    assert!(!format!("{config:?}").contains("secret-celigo"));
}

#[test]
fn unknown_keys_name_their_path() {
    let err =
        Config::from_toml_str("[sources.celigo]\nbase_url='https://x.io'\ntoken='t'\ntokn='x'\n")
            .expect_err("unknown key");
    assert!(
        err.to_string().contains("sources.celigo.tokn: unknown key"),
        "{err}"
    );
    let err = Config::from_toml_str(
        "[sources.celigo]\nbase_url='https://x.io'\ntoken='t'\nuser_id='x'\n",
    )
    .expect_err("key of another vendor");
    assert!(
        err.to_string()
            .contains("sources.celigo.user_id: unknown key for this source"),
        "{err}"
    );
}

#[test]
fn bad_values_are_reported_without_secrets() {
    let err = Config::from_toml_str(
        "[server]\nlisten='nowhere'\n[sources.celigo]\nbase_url='ftp:/x'\ntoken='hunter2'\n",
    )
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("server.listen"), "{text}");
    assert!(text.contains("sources.celigo.base_url"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn forwarded_credentials_make_configured_ones_optional_and_are_checked() {
    let config = Config::from_toml_str(
        "[sources.celigo]\nbase_url='https://x.io'\ncredential_header='X-Celigo-Token'\n",
    )
    .expect("a forwarding source needs no token of its own");
    assert!(config
        .summary()
        .contains("callers' own from header X-Celigo-Token"));
    let problems = |text: &str| {
        Config::from_toml_str(text)
            .expect_err("invalid")
            .to_string()
    };
    let text =
        problems("[sources.rocketchat]\nbase_url='https://x.io'\ncredential_header='x-rc-token'\n");
    assert!(
        text.contains("sources.rocketchat.user_id_header: missing"),
        "{text}"
    );
    let text = problems("[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Cookie'\n");
    assert!(
        text.contains("sources.celigo.credential_header: `Cookie` is reserved"),
        "{text}"
    );
    let text =
        problems("[sources.celigo]\nbase_url='https://x.io'\ncredential_header='bad header'\n");
    assert!(text.contains("is not a header name"), "{text}");
    let text =
        problems("[sources.truto]\nbase_url='https://x.io'\ntoken='t'\nuser_id_header='x-u'\n");
    assert!(
        text.contains("sources.truto.user_id_header: needs credential_header"),
        "{text}"
    );
    let text = problems("[server]\napi_keys=['k']\n[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Authorization'\n");
    assert!(
        text.contains("carries Chronograph's own api_keys"),
        "{text}"
    );
    Config::from_toml_str(
        "[sources.celigo]\nbase_url='https://x.io'\ncredential_header='Authorization'\n",
    )
    .expect("without api_keys, Authorization may carry the vendor token");
}

#[test]
fn redis_url_is_checked_and_its_password_never_shown() {
    let err = Config::from_toml_str("[cache]\nredis_url='http://:hunter2@cache:6379'\n")
        .expect_err("not a Redis URL");
    let text = err.to_string();
    assert!(
        text.contains("cache.redis_url: `http://:***@cache:6379` is not a Redis URL"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    let err = Config::from_toml_str("[cache]\nredis_timeout_ms=0\n").expect_err("zero");
    assert!(err.to_string().contains("cache.redis_timeout_ms"), "{err}");
    let config =
        Config::from_toml_str("[cache]\nredis_url='redis://app:hunter2@cache.internal:6379/2'\n")
            .expect("valid");
    let summary = config.summary();
    assert!(
        summary.contains("cache.redis_url = redis://app:***@cache.internal:6379/2"),
        "{summary}"
    );
    assert!(!summary.contains("hunter2") && !format!("{config:?}").contains("hunter2"));
    assert!(Config::from_toml_str("")
        .expect("empty")
        .summary()
        .contains("cache.redis_url = not set"));
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let text = "[server]\nmax_dept = 3\nmax_depth = -3\nlisten = 'nowhere'\n\
                    [sources.celigo]\nbase_url = 'ftp://x'\ntokn = 'hunter2'\n\
                    [sources.hexabase]\nbase_url = 'https://api.hexabase.com'\ntoken = 5\n";
    let err = Config::from_toml_str(text).expect_err("invalid");
    assert_eq!(
        err.problems,
        [
            "server.listen: `nowhere` is not an address like 127.0.0.1:8000",
            "server.max_dept: unknown key, did you mean server.max_depth?",
            "server.max_depth: expected a whole number ≥ 1, got -3",
            "sources.celigo.base_url: `ftp://x` is not an http(s) URL",
            "sources.celigo.token: missing (required)",
            "sources.celigo.tokn: unknown key, did you mean sources.celigo.token?",
            "sources.hexabase.token: expected a string, got a number",
        ]
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn bounds_hold_for_configs_built_in_code_too() {
    let mut config = Config::default();
    config.server.max_batch = 0;
    config.cache.redis_timeout_ms = 9_000;
    let err = config.validate().expect_err("out of bounds");
    assert_eq!(
        err.problems,
        [
            "server.max_batch: expected a whole number ≥ 1, got 0",
            "cache.redis_timeout_ms: expected a whole number from 1 to 5000, got 9000",
        ]
    );
}

#[test]
fn warnings_name_empty_credentials_doubled_paths_and_no_source() {
    let loaded = Config::load_str("").expect("an empty file loads");
    assert_eq!(
        loaded.warnings,
        [
            "sources: no source is configured: every query will answer SOURCE_NOT_CONFIGURED \
              (add a [sources.<name>] table)"
        ]
    );
    let loaded = Config::load_str(
        "[sources.celigo]\nbase_url = 'https://api.integrator.io/v1'\ntoken = ''\n",
    )
    .expect("warnings do not stop a config");
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert_eq!(
        loaded.warnings[0],
        "sources.celigo.token: empty: CELIGO will refuse every call made with it"
    );
    assert!(
        loaded.warnings[1]
            .starts_with("sources.celigo.base_url: `https://api.integrator.io/v1` ends with /v1"),
        "{}",
        loaded.warnings[1]
    );
    let loaded = Config::load_str(
            "[sources.rocketchat]\nbase_url = 'https://chat.example.com'\nuser_id = 'u'\nauth_token = 'a'\n",
        )
        .expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn a_syntax_error_is_one_line_without_the_quoted_source() {
    let err = Config::from_toml_str("[sources.celigo]\ntoken = \"hunter2\n").expect_err("bad");
    assert_eq!(err.problems.len(), 1, "{err}");
    let line = &err.problems[0];
    assert!(
        line.starts_with("the configuration: TOML parse error at line 2"),
        "{line}"
    );
    assert!(!line.contains("hunter2") && !line.contains('\n'), "{line}");
}

#[test]
fn url_display_masks_every_spelling_of_a_password() {
    let cases = [
        (
            "http://user:hunter2@host:9/api",
            "http://user:***@host:9/api",
        ),
        ("redis://:hunter2@cache:6379/2", "redis://:***@cache:6379/2"),
        ("https://api.integrator.io", "https://api.integrator.io"),
        ("http://user@host", "http://user@host"),
        // Not URLs with a host: everything before the last `@` goes.
        ("http://user:hun/ter2@host", "http://***@host"),
        ("user:hunter2@cache:6379", "***@cache:6379"),
        ("not a url", "not a url"),
    ];
    for (text, shown) in cases {
        assert_eq!(url_display(text), shown, "{text}");
    }
}

#[test]
fn a_password_in_a_base_url_is_never_shown() {
    let config = Config::from_toml_str(
        "[sources.celigo]\nbase_url='http://user:hunter2@127.0.0.1:9'\ntoken='t'\n",
    )
    .expect("valid");
    let summary = config.summary();
    assert!(
        summary.contains("sources.celigo = http://user:***@127.0.0.1:9"),
        "{summary}"
    );
    assert!(!summary.contains("hunter2"), "{summary}");
    let err =
        Config::from_toml_str("[sources.celigo]\nbase_url='ftp://user:hunter2@x'\ntoken='t'\n")
            .expect_err("not http(s)");
    assert!(
        err.to_string().contains("`ftp://user:***@x` is not"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
