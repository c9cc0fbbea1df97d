//! Unit tests of the upstream path: link parsing, URL building, rate-limit headers, error
//! mapping.

use super::errors::status_error;
use super::*;
use crate::domain::Source;
use http::HeaderMap;
use secrecy::SecretString;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn next_link_is_found_among_several() {
    let header = r#"<https://api.integrator.io/v1/integrations?skip=0>; rel="prev", <https://api.integrator.io/v1/integrations?after=65f&limit=1000>; rel="next""#;
    assert_eq!(
        parse_next_link(header).as_deref(),
        Some("https://api.integrator.io/v1/integrations?after=65f&limit=1000")
    );
    assert_eq!(parse_next_link(r#"<https://x/y>; rel="prev""#), None);
}

#[test]
fn url_segments_are_percent_encoded() {
    let wiring = Wiring {
        client: super::client::HttpClient::new().expect("client"),
        policy: std::sync::Arc::new(Policy::new(
            "test".into(),
            None,
            Duration::ZERO,
            Duration::ZERO,
            0,
            1,
            Default::default(),
        )),
        caller_header: None,
    };
    let up = Upstream::new(
        Source::Celigo,
        &[],
        &wiring,
        "http://127.0.0.1:9/",
        Auth::Bearer(SecretString::from("t")),
        Duration::from_secs(1),
    )
    .expect("valid");
    let url = up.url(
        &["v1", "integrations", "../x?y#z/w"],
        &[("from", "2024-01-01T00:00:00Z")],
    );
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:9/v1/integrations/..%2Fx%3Fy%23z%2Fw?from=2024-01-01T00%3A00%3A00Z"
    );
    assert!(up.follow("http://evil.example/v1/x").is_err());
    assert!(up.follow("http://127.0.0.1:9/v1/x?after=1").is_ok());
}

#[test]
fn rate_limit_headers_of_every_vendor() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", "7".parse().expect("header"));
    assert_eq!(retry_after_seconds(&h, 429), Some(7));
    let mut h = HeaderMap::new();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    h.insert(
        "x-ratelimit-reset",
        (now_ms + 41_500).to_string().parse().expect("header"),
    );
    assert_eq!(retry_after_seconds(&h, 429), Some(42));
    let mut h = HeaderMap::new();
    h.insert("ratelimit-reset", "10".parse().expect("header"));
    assert_eq!(retry_after_seconds(&h, 429), Some(10));
    assert_eq!(retry_after_seconds(&h, 500), None);
    // Epoch seconds under either name, and seconds-from-now under Rocket.Chat's name.
    let now_s = now_ms / 1000;
    for name in ["x-ratelimit-reset", "ratelimit-reset"] {
        let mut h = HeaderMap::new();
        h.insert(name, (now_s + 30).to_string().parse().expect("header"));
        let wait = retry_after_seconds(&h, 429).expect("a wait");
        assert!((29..=31).contains(&wait), "{name}: {wait}");
    }
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-reset", "12".parse().expect("header"));
    assert_eq!(retry_after_seconds(&h, 429), Some(12));
}

#[test]
fn error_bodies_are_summarised_not_dumped() {
    let long = format!(
        "{{\"errors\":[{{\"code\":\"x\",\"message\":\"{}\"}}]}}",
        "a".repeat(500)
    );
    let err = status_error(Source::Celigo, 400, &HeaderMap::new(), long.as_bytes());
    assert_eq!(err.code, ErrorCode::BadUserInput);
    assert!(err.message.chars().count() < 260, "{}", err.message);
    let err = status_error(
        Source::Celigo,
        503,
        &HeaderMap::new(),
        b"<html>stack trace at /srv/app.js</html>",
    );
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(!err.message.contains("/srv"));
}
