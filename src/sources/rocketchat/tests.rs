use super::*;
use crate::domain::datetime::{format_utc_ms, from_millis};
use crate::sources::stream::{Direction, TimelineKey};
use serde_json::{json, Value};

const BASE_MS: i64 = 1_715_677_923_000;

/// Records newest first, one second apart (`ties` = how many share each `_updatedAt`).
fn records(n: usize, ties: usize) -> Vec<Value> {
    (0..n)
            .map(|i| {
                let at = from_millis(BASE_MS - ((i / ties) as i64) * 1000);
                json!({"_id": format!("r{i:04}"), "_createdAt": format_utc_ms(at), "_updatedAt": format_utc_ms(at), "finished": true})
            })
            .collect()
}

fn window(direction: Direction, key: Option<TimelineKey>, limit: usize) -> StreamWindow {
    StreamWindow {
        direction,
        key,
        limit,
        snapshot: from_millis(BASE_MS + 60_000),
        depth: None,
    }
}

/// Serve `all` (newest first) the way the server does, with the walk's own loop.
fn run(all: &[Value], window: &StreamWindow, filter: &HistoryFilter) -> (StreamPage, usize) {
    let mut walk = Walk::new(window, filter);
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 100, "runaway walk");
        let count = walk.next_count();
        let ordered: Vec<Value> = match walk.order {
            Order::NewestFirst => all.to_vec(),
            Order::OldestFirst => all.iter().rev().cloned().collect(),
        };
        let page = Page::of_history(
            ordered
                .iter()
                .skip(walk.offset)
                .take(count)
                .cloned()
                .collect(),
            Some(all.len() as u64),
        );
        match walk.absorb(page, count, "i") {
            Next::Done => break,
            Next::Read => {}
            Next::Seek => {
                let mut bisect = walk.bisect();
                while let Some(mid) = bisect.probe() {
                    calls += 1;
                    bisect.narrow(mid, ordered.get(mid).and_then(wire::updated_at_ms));
                }
                walk.offset = bisect.resume_at();
            }
        }
    }
    (walk.finish(), calls)
}

/// Walk every page following cursors, inserting `inserts` new records at the head after
/// each page (they arrive after the walk's snapshot, as new executions do).
fn walk_all(all: &[Value], size: usize, direction: Direction, inserts: usize) -> Vec<String> {
    let filter = HistoryFilter::default();
    let mut served = all.to_vec();
    let mut key = None;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let w = window(direction, key.clone(), size);
        let (page, _) = run(&served, &w, &filter);
        let ids: Vec<String> = page
            .entries
            .iter()
            .map(|e| e.source_id.to_string())
            .collect();
        let edge = match direction {
            Direction::Forward => page.entries.last(),
            Direction::Backward => page.entries.first(),
        };
        key = edge.map(|e| TimelineKey::of(e, w.snapshot));
        match direction {
            Direction::Forward => seen.extend(ids),
            Direction::Backward => {
                let mut front = ids;
                front.extend(seen);
                seen = front;
            }
        }
        if !page.has_more {
            break;
        }
        for _ in 0..inserts {
            let at =
                format_utc_ms(w.snapshot + chrono::Duration::milliseconds(served.len() as i64 + 1));
            let fresh =
                json!({"_id": format!("new{}", served.len()), "_createdAt": at, "_updatedAt": at});
            served.insert(0, fresh);
        }
    }
    seen
}

fn timeline_ids(all: &[Value]) -> Vec<String> {
    let w = window(Direction::Forward, None, all.len());
    let (page, _) = run(all, &w, &HistoryFilter::default());
    page.entries
        .into_iter()
        .map(|e| e.source_id.into_string())
        .collect()
}

#[test]
fn every_record_is_visited_once_in_both_directions_even_with_ties() {
    for (n, ties, size) in [
        (250, 1, 100),
        (250, 3, 7),
        (37, 5, 10),
        (5, 1, 1),
        (0, 1, 3),
    ] {
        let all = records(n, ties);
        let expected = timeline_ids(&all);
        assert_eq!(expected.len(), n);
        assert_eq!(
            walk_all(&all, size, Direction::Forward, 0),
            expected,
            "{n}/{ties}/{size} forward"
        );
        assert_eq!(
            walk_all(&all, size, Direction::Backward, 0),
            expected,
            "{n}/{ties}/{size} backward"
        );
    }
}

#[test]
fn a_first_page_is_one_call_of_n_plus_one() {
    let all = records(250, 1);
    let w = window(Direction::Forward, None, 10);
    let filter = HistoryFilter::default();
    let mut walk = Walk::new(&w, &filter);
    assert_eq!(walk.next_count(), 11);
    let page = Page::of_history(all[..11].to_vec(), Some(250));
    assert_eq!(walk.absorb(page, 11, "i"), Next::Done);
    let result = walk.finish();
    assert_eq!(result.entries.len(), 10);
    assert!(result.has_more);
}

#[test]
fn a_static_short_page_answers_has_more_from_total() {
    // The bench mock ignores offset/count: 10 records, total 120, whatever is asked.
    let all = records(10, 1);
    let w = window(Direction::Forward, None, 10);
    let filter = HistoryFilter::default();
    let mut walk = Walk::new(&w, &filter);
    let page = Page::of_history(all, Some(120));
    let count = walk.next_count();
    assert_eq!(walk.absorb(page, count, "i"), Next::Done);
    let result = walk.finish();
    assert_eq!(result.entries.len(), 10);
    assert!(result.has_more);
}

#[test]
fn deep_cursors_are_found_by_binary_search() {
    let all = records(5000, 1);
    let expected = timeline_ids(&all);
    let fp_key = |i: usize| {
        let raw = &all[i];
        Some(TimelineKey {
            at_ms: wire::updated_at_ms(raw).expect("time"),
            source: Source::Rocketchat,
            source_id: raw["_id"].as_str().expect("id").into(),
        })
    };
    let w = window(Direction::Forward, fp_key(4000), 20);
    let (page, calls) = run(&all, &w, &HistoryFilter::default());
    let ids: Vec<String> = page
        .entries
        .iter()
        .map(|e| e.source_id.to_string())
        .collect();
    assert_eq!(ids, expected[4001..4021].to_vec());
    assert!(calls < 20, "{calls} calls");
    let w = window(Direction::Backward, fp_key(1000), 20);
    let (page, calls) = run(&all, &w, &HistoryFilter::default());
    let ids: Vec<String> = page
        .entries
        .iter()
        .map(|e| e.source_id.to_string())
        .collect();
    assert_eq!(ids, expected[980..1000].to_vec());
    assert!(calls < 20, "{calls} calls");
}

#[test]
fn since_ends_a_newest_first_read_early() {
    let all = records(250, 1);
    let filter = HistoryFilter {
        since: Some(from_millis(BASE_MS - 4_500)),
        ..HistoryFilter::default()
    };
    let w = window(Direction::Forward, None, 20);
    let (page, calls) = run(&all, &w, &filter);
    assert_eq!(page.entries.len(), 5);
    assert!(!page.has_more);
    assert_eq!(calls, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn walks_visit_each_record_once_despite_head_inserts(
        n in 0usize..160, ties in 1usize..4, size in 1usize..40, inserts in 0usize..4, backward: bool,
    ) {
        let all = records(n, ties);
        let expected = timeline_ids(&all);
        let direction = if backward { Direction::Backward } else { Direction::Forward };
        proptest::prop_assert_eq!(walk_all(&all, size, direction, inserts), expected);
    }
}
