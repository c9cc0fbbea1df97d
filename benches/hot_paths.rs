//! Micro-benchmarks of the hot paths: cursor codec, k-way merge, datetime parsing, and the
//! wire → domain mapping of a 1,000-entry page.
//!
//! `cargo bench --bench hot_paths`

use chronograph::domain::datetime::{format_utc_ms, from_millis, parse_lenient};
use chronograph::domain::{HistoryEntry, Source};
use chronograph::sources::celigo::wire::WireAudit;
use chronograph::sources::decode_item;
use chronograph::timeline::cursor::{fingerprint, Cursor, CursorKey};
use chronograph::timeline::merge::{merge, StreamPage, StreamWindow};
use chronograph::timeline::Direction;
use divan::{black_box, Bencher};
use serde_json::{json, Value};

fn main() {
    divan::main();
}

#[divan::bench]
fn cursor_encode() -> String {
    let cursor = Cursor::new(
        &fingerprint(&[
            "Query.history",
            "integration:CELIGO:65f0c2d1a4b7e9001c3d8e10",
        ]),
        1_715_673_600_000,
        CursorKey::Timeline(
            1_715_673_123_456,
            Source::Celigo,
            "6643b1e0f1a2b3c4d5e6f701".into(),
        ),
    );
    black_box(&cursor).encode()
}

#[divan::bench]
fn cursor_decode(bencher: Bencher) {
    let fp = fingerprint(&[
        "Query.history",
        "integration:CELIGO:65f0c2d1a4b7e9001c3d8e10",
    ]);
    let text = Cursor::new(
        &fp,
        1_715_673_600_000,
        CursorKey::Timeline(
            1_715_673_123_456,
            Source::Celigo,
            "6643b1e0f1a2b3c4d5e6f701".into(),
        ),
    )
    .encode();
    bencher.bench(|| Cursor::decode(black_box(&text), &fp).is_ok());
}

#[divan::bench(args = ["2024-05-14T09:12:03.118Z", "2021-03-06T13:33:30.29Z", "2017-09-06T12:55:22.409+09:00", "2021-08-10 10:00:00"])]
fn datetime_parse(text: &str) -> bool {
    parse_lenient(black_box(text)).is_some()
}

#[divan::bench]
fn datetime_format() -> String {
    format_utc_ms(black_box(from_millis(1_715_673_123_456)))
}

fn audit_page(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "_id": format!("6643b1e0f1a2b3c4d5e6{i:04x}"),
                "time": format_utc_ms(from_millis(1_715_673_123_456 - i as i64 * 60_000)),
                "resourceType": "flow",
                "_resourceId": "65f0c5cc34d6e7f8091a2b02",
                "source": "api",
                "event": "update",
                "_byUserId": "64a1b2c3d4e5f60718293a5c",
                "byUser": { "_id": "64a1b2c3d4e5f60718293a5c", "name": "Integration Bot", "email": "svc-integrations@example.com" },
                "fieldChanges": [{ "fieldPath": "disabled", "oldValue": false, "newValue": true }]
            })
        })
        .collect()
}

#[divan::bench]
fn wire_to_domain_1000_audit_entries(bencher: Bencher) {
    let page = audit_page(1000);
    let body = serde_json::to_vec(&page).unwrap_or_default();
    bencher.bench(|| {
        let values: Vec<Value> = serde_json::from_slice(black_box(&body)).unwrap_or_default();
        values
            .into_iter()
            .filter_map(|v| {
                decode_item::<WireAudit>(Source::Celigo, &v, "audit")
                    .map(|w| w.into_domain(v, "65f0c2d1a4b7e9001c3d8e10"))
            })
            .count()
    });
}

fn streams(k: usize, per_stream: usize) -> Vec<StreamPage> {
    (0..k)
        .map(|s| {
            let subject_id = format!("i{s}");
            let values = audit_page(per_stream);
            let entries: Vec<HistoryEntry> = values
                .iter()
                .enumerate()
                .filter_map(|(n, v)| {
                    let mut v = v.clone();
                    v["_id"] = json!(format!("{s:02}{n:022}"));
                    decode_item::<WireAudit>(Source::Celigo, &v, "audit")
                        .map(|w| w.into_domain(v, &subject_id))
                })
                .collect();
            StreamPage {
                entries,
                has_more: true,
                depth: None,
                errors: Vec::new(),
            }
        })
        .collect()
}

#[divan::bench(args = [2, 10, 50])]
fn kway_merge_page_of_100(bencher: Bencher, k: usize) {
    let pages = streams(k, 101);
    let window = StreamWindow {
        direction: Direction::Forward,
        key: None,
        limit: 100,
        snapshot: from_millis(1_800_000_000_000),
        depth: None,
    };
    bencher
        .with_inputs(|| pages.clone())
        .bench_values(|pages| merge(pages, &window).entries.len());
}
