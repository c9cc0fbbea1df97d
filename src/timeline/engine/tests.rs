use super::*;
use crate::domain::{HistoryKind, Subject};
use crate::error::SourceResult;
use crate::sources::HistorySource;
use crate::timeline::cursor::fingerprint;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Streams held in memory, answering exactly as an adapter must: admitted entries of the
/// subject, filtered, in timeline order, cut to the window.
#[derive(Default)]
struct MemoryStreams {
    entries: Mutex<HashMap<String, Vec<HistoryEntry>>>,
    failing: Mutex<HashSet<String>>,
    calls: Mutex<usize>,
}

#[async_trait::async_trait]
impl HistorySource for MemoryStreams {
    async fn history(
        &self,
        _: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        *self.calls.lock().expect("lock") += 1;
        if self
            .failing
            .lock()
            .expect("lock")
            .contains(&subject.canonical())
        {
            return Err(Arc::new(SourceError::upstream(
                subject.source(),
                crate::error::ErrorCode::UpstreamUnavailable,
                "down",
            )));
        }
        let all = self
            .entries
            .lock()
            .expect("lock")
            .get(&subject.canonical())
            .cloned()
            .unwrap_or_default();
        let mut admitted: Vec<HistoryEntry> = all
            .into_iter()
            .filter(|e| {
                filter.matches(e, window.snapshot)
                    && window.admits(&TimelineKey::of(e, window.snapshot))
            })
            .collect();
        sort_timeline(&mut admitted, window.snapshot);
        Ok(window.take(admitted, false))
    }

    async fn history_entry(
        &self,
        _: &RequestScope,
        _: &SubjectRef,
        _: &str,
        _: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>> {
        Ok(None)
    }
}

fn entry(source: Source, subject: &SubjectRef, id: &str, at_ms: i64) -> HistoryEntry {
    HistoryEntry {
        source,
        source_id: id.into(),
        kind: HistoryKind::Audit,
        occurred_at: Some(crate::domain::datetime::from_millis(at_ms)),
        updated_at: None,
        actor: None,
        summary: String::new().into(),
        subject: Subject {
            kind: "INTEGRATION",
            source_id: "s".into(),
            name: None,
        },
        subject_ref: subject.clone(),
        status: None,
        error: None,
        unread: None,
        deleted: false,
        merged_into_source_id: None,
        raw: serde_json::Value::Null.into(),
    }
}

fn subject(i: usize) -> SubjectRef {
    let source = [
        Source::Rocketchat,
        Source::Celigo,
        Source::Celigo,
        Source::Hexabase,
    ][i % 4];
    SubjectRef::Integration {
        source,
        source_id: format!("subject{i}").into(),
    }
}

struct World {
    sources: Sources,
    memory: Arc<MemoryStreams>,
    subjects: Vec<SubjectRef>,
    snapshot: DateTime<Utc>,
}

/// `streams[i]` holds the `at` of each entry of subject i (ties are frequent on purpose).
fn world(streams: &[Vec<i64>]) -> World {
    let memory = Arc::new(MemoryStreams::default());
    let subjects: Vec<SubjectRef> = (0..streams.len()).map(subject).collect();
    let mut sources = Sources::default();
    for s in [Source::Rocketchat, Source::Celigo, Source::Hexabase] {
        sources = sources.with_history(s, memory.clone());
    }
    for (i, ats) in streams.iter().enumerate() {
        let list = ats
            .iter()
            .enumerate()
            .map(|(n, at)| {
                entry(
                    subjects[i].source(),
                    &subjects[i],
                    &format!("e{i}-{n:03}"),
                    *at,
                )
            })
            .collect();
        memory
            .entries
            .lock()
            .expect("lock")
            .insert(subjects[i].canonical(), list);
    }
    World {
        sources,
        memory,
        subjects,
        snapshot: crate::domain::datetime::from_millis(1_000_000),
    }
}

fn expected(world: &World) -> Vec<String> {
    let mut all: Vec<HistoryEntry> = world
        .memory
        .entries
        .lock()
        .expect("lock")
        .values()
        .flatten()
        .cloned()
        .collect();
    all.retain(|e| e.at(world.snapshot) <= world.snapshot);
    sort_timeline(&mut all, world.snapshot);
    all.into_iter().map(|e| e.source_id.into_string()).collect()
}

/// Walk forward like a client, following encoded cursors; `between` runs before each page.
async fn walk_forward(world: &World, size: usize, mut between: impl FnMut(usize)) -> Vec<String> {
    let fp = fingerprint(&["walk"]);
    let scope = RequestScope::new();
    let mut cursor: Option<Cursor> = None;
    let mut seen = Vec::new();
    for page_no in 0..500 {
        between(page_no);
        let positions = positions_from(cursor.as_ref(), world.subjects.len());
        let page = read_page(
            &world.sources,
            &scope,
            &world.subjects,
            &HistoryFilter::default(),
            Direction::Forward,
            positions,
            &depths_from(cursor.as_ref(), world.subjects.len()),
            size,
            world.snapshot,
        )
        .await;
        seen.extend(page.entries.iter().map(|e| e.source_id.to_string()));
        let Some(last) = page.entries.last() else {
            if page.failures.is_empty() {
                break;
            } else {
                continue;
            }
        };
        let key = TimelineKey::of(last, world.snapshot);
        let mut next = Cursor::new(&fp, world.snapshot.timestamp_millis(), key.to_cursor_key());
        next.hints = positions_after(&page, &key);
        next.hints.extend(depths_after(&page));
        cursor = Some(Cursor::decode(&next.encode(), &fp).expect("own cursor"));
        if !page.has_more {
            break;
        }
    }
    seen
}

async fn walk_backward(world: &World, size: usize) -> Vec<String> {
    let scope = RequestScope::new();
    let mut key: Option<TimelineKey> = None;
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..500 {
        let positions = vec![key.clone(); world.subjects.len()];
        let page = read_page(
            &world.sources,
            &scope,
            &world.subjects,
            &HistoryFilter::default(),
            Direction::Backward,
            positions,
            &[],
            size,
            world.snapshot,
        )
        .await;
        let mut ids: Vec<String> = page
            .entries
            .iter()
            .map(|e| e.source_id.to_string())
            .collect();
        ids.extend(seen);
        seen = ids;
        match page.entries.first() {
            Some(first) if page.has_more => key = Some(TimelineKey::of(first, world.snapshot)),
            _ => break,
        }
    }
    seen
}

fn streams() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(990_000i64..1_000_000, 0..40), 1..5).prop_map(
        |streams| {
            streams
                .into_iter()
                .map(|mut s| {
                    s.iter_mut().for_each(|at| *at -= *at % 1000);
                    s
                })
                .collect()
        },
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_entry_once_in_order_forward_and_backward(streams in streams(), size in 1usize..12) {
        runtime().block_on(async {
            let world = world(&streams);
            let want = expected(&world);
            prop_assert_eq!(walk_forward(&world, size, |_| {}).await, want.clone());
            prop_assert_eq!(walk_backward(&world, size).await, want);
            Ok(())
        })?;
    }

    #[test]
    fn head_inserts_between_pages_change_nothing(streams in streams(), size in 1usize..12, inserts in 1usize..5) {
        runtime().block_on(async {
            let world = world(&streams);
            let want = expected(&world);
            let memory = world.memory.clone();
            let subjects = world.subjects.clone();
            let seen = walk_forward(&world, size, |page_no| {
                if page_no > 0 {
                    let mut entries = memory.entries.lock().expect("lock");
                    for n in 0..inserts {
                        let target = &subjects[n % subjects.len()];
                        let fresh = entry(target.source(), target, &format!("new{page_no}-{n}"), 1_000_000 + 500 + n as i64);
                        entries.entry(target.canonical()).or_default().insert(0, fresh);
                    }
                }
            }).await;
            prop_assert_eq!(seen, want);
            Ok(())
        })?;
    }

    #[test]
    fn a_stream_failing_for_a_page_is_caught_up_without_duplicates(streams in streams(), size in 1usize..12, fail_page in 0usize..4) {
        runtime().block_on(async {
            let world = world(&streams);
            let want: HashSet<String> = expected(&world).into_iter().collect();
            let memory = world.memory.clone();
            let victim = world.subjects[0].canonical();
            let seen = walk_forward(&world, size, |page_no| {
                let mut failing = memory.failing.lock().expect("lock");
                if page_no == fail_page { failing.insert(victim.clone()); } else { failing.clear(); }
            }).await;
            let unique: HashSet<String> = seen.iter().cloned().collect();
            prop_assert_eq!(unique.len(), seen.len(), "no duplicates");
            prop_assert_eq!(unique, want, "nothing lost");
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_page_asks_each_stream_once() {
    let world = world(&[vec![999_000; 30], vec![998_000; 30], vec![]]);
    let scope = RequestScope::new();
    let page = read_page(
        &world.sources,
        &scope,
        &world.subjects,
        &HistoryFilter::default(),
        Direction::Forward,
        vec![None; 3],
        &[],
        10,
        world.snapshot,
    )
    .await;
    assert_eq!(page.entries.len(), 10);
    assert_eq!(*world.memory.calls.lock().expect("lock"), 3);
}

#[tokio::test]
async fn change_tokens_deliver_each_entry_once_even_with_equal_timestamps() {
    let world = world(&[vec![999_000, 999_000, 998_000], vec![999_000]]);
    let scope = RequestScope::new();
    let now = world.snapshot;
    let marks = start_marks(&world.subjects, Some("1970-01-01T00:00:00Z"), now).expect("since");
    let first = read_changes(&world.sources, &scope, &world.subjects, marks, now).await;
    assert_eq!(first.entries.len(), 4);
    assert!(first.complete);
    let token = first.next.encode();
    let again = start_marks(&world.subjects, Some(&token), now).expect("token");
    let second = read_changes(&world.sources, &scope, &world.subjects, again.clone(), now).await;
    assert!(
        second.entries.is_empty(),
        "nothing new: {:?}",
        second
            .entries
            .iter()
            .map(|e| &e.source_id)
            .collect::<Vec<_>>()
    );
    {
        let mut entries = world.memory.entries.lock().expect("lock");
        let target = &world.subjects[1];
        let list = entries.entry(target.canonical()).or_default();
        list.push(entry(target.source(), target, "late-tie", 999_000));
        list.push(entry(target.source(), target, "newer", 999_500));
    }
    let third = read_changes(&world.sources, &scope, &world.subjects, again, now).await;
    let ids: Vec<&str> = third.entries.iter().map(|e| e.source_id.as_str()).collect();
    assert_eq!(ids, vec!["newer", "late-tie"]);
    let other = [SubjectRef::DealcloudEntryType {
        entry_type: "x".into(),
    }];
    assert!(
        start_marks(&other, Some(&token), now).is_err(),
        "a token is bound to its subjects"
    );
    assert!(start_marks(&world.subjects, Some("yesterday"), now).is_err());
}
