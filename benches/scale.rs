//! How cost grows with size: integrations 10 → 1,000 and audit entries 100 → 100,000, against
//! the in-process Celigo fake, measuring wall time per query and the bytes the gateway
//! allocated at peak while answering (a counting global allocator, so each row is exact and
//! independent of the rows before it).
//!
//! `cargo bench --bench scale` prints a table; numbers are recorded in benches/RESULTS.md.

use chronograph::demo::celigo::{CeligoData, CeligoFake, CeligoFakeConfig};
use chronograph::demo::fake;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Rig {
    client: reqwest::Client,
    url: String,
    _fake: fake::RunningFake,
    _server: tokio::task::JoinHandle<()>,
    fake: std::sync::Arc<CeligoFake>,
}

async fn rig(integrations: usize) -> Rig {
    let data = CeligoData::generate(7, integrations, chrono::Utc::now());
    let fake_state = CeligoFake::new(CeligoFakeConfig::default(), data);
    let running = fake::spawn(fake_state.router(), fake::FakeControl::new())
        .await
        .expect("fake");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[cache]\nmax_bytes = 0\n[sources.celigo]\nbase_url = \"{}\"\ntoken = \"demo-celigo-token\"\n",
        running.base_url
    );
    let config = chronograph::config::Config::from_toml_str(&text).expect("config");
    let app = chronograph::build_app(&config).expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Rig {
        client: reqwest::Client::new(),
        url: format!("http://{addr}/graphql"),
        _fake: running,
        _server: server,
        fake: fake_state,
    }
}

async fn query(rig: &Rig, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let text = rig
        .client
        .post(&rig.url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Time and peak allocation of `runs` repetitions of one query.
async fn measure(rig: &Rig, q: &str, variables: Value, runs: u32) -> (f64, usize) {
    query(rig, q, variables.clone()).await;
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..runs {
        let response = query(rig, q, variables.clone()).await;
        assert!(response["errors"].is_null(), "{response}");
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    (ms, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

#[tokio::main]
async fn main() {
    println!("| workload | size | ms / query | peak bytes allocated |");
    println!("|---|---:|---:|---:|");
    for n in [10, 100, 1_000] {
        let rig = rig(n).await;
        let q = "{ integrations(source: CELIGO, first: 100) { nodes { sourceId name flows(first: 10) { nodes { name } } } } }";
        let (ms, bytes) = measure(&rig, q, json!({}), 20).await;
        println!(
            "| first 100 integrations with flows (bulk) | {n} integrations | {ms:.2} | {bytes} |"
        );
    }
    let rig = rig(2).await;
    let id = rig.fake.data().integrations[0]["_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for entries in [100usize, 1_000, 10_000, 100_000] {
        {
            let mut data = rig.fake.data();
            let template = data.audit_of_integration(&id)[0].clone();
            data.audit = (0..entries)
                .map(|i| {
                    let mut e = template.clone();
                    e["_id"] = json!(format!("{i:024x}"));
                    e["time"] = json!(chronograph::domain::datetime::format_utc_ms(
                        chronograph::domain::datetime::from_millis(
                            1_700_000_000_000 - i as i64 * 1000
                        )
                    ));
                    e
                })
                .collect();
        }
        let q = "query($id: String!) { integration(source: CELIGO, sourceId: $id) { history(first: 20) { nodes { sourceId at } } } }";
        let (first_ms, first_bytes) = measure(&rig, q, json!({ "id": id }), 5).await;
        let q = "query($id: String!) { integration(source: CELIGO, sourceId: $id) { history(last: 20) { nodes { sourceId at } } } }";
        let (last_ms, last_bytes) = measure(&rig, q, json!({ "id": id }), 5).await;
        println!(
            "| audit history(first: 20) | {entries} entries | {first_ms:.2} | {first_bytes} |"
        );
        println!("| audit history(last: 20) | {entries} entries | {last_ms:.2} | {last_bytes} |");
    }
}
