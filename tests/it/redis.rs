//! Replicas sharing state through a real Redis (`[cache] redis_url`, DESIGN.md §9): two
//! gateways in front of ONE set of fakes, each test with its own `redis-server` child process.
//! Needs the `redis-server` binary (Debian package `redis-server`); without it these tests fail
//! and say so.

use crate::common::{
    assert_code, codes, free_port, global_id, integrations, items, only_celigo, pluck, respond,
    source_config, warnings, Gateway,
};
use chronograph::config::Config;
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::domain::ids::NodeType;
use chronograph::domain::Source;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIST: &str = "{ integrations(source: CELIGO, first: 20) { nodes { sourceId name } } }";

/// A `redis-server` on a free loopback port, without persistence, killed on drop (also used
/// by `edge.rs`).
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = Self::start_on(free_port()) {
                return server;
            }
        }
        panic!("redis-server did not start on a free port");
    }

    /// A server on `port`, or `None` when it did not come up (the port was taken meanwhile).
    fn start_on(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "tests/it/redis.rs needs the redis-server binary on PATH \
                         (Debian: apt-get install redis-server): {err}"
                )
            });
        let mut server = RedisServer { child, port };
        server.wait_ready().then_some(server)
    }

    /// PING until PONG (a lost port race shows as the child exiting).
    fn wait_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if self.command("PING").starts_with("+PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// One inline command, answered as raw RESP text ("" when the server is not there).
    pub fn command(&self, line: &str) -> String {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(format!("{line}\r\n").as_bytes()).is_err() {
            return String::new();
        }
        let mut buffer = vec![0u8; 1 << 16];
        let n = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Celigo only, answers kept `ttl` seconds fresh plus `stale` for stale-if-error, no retries
/// (so call counts are exact), and Redis at `redis_url` when given.
fn settings(redis_url: Option<String>, ttl: u64, stale: u64) -> impl Fn(&mut Config) + Clone {
    move |config: &mut Config| {
        let celigo = only_celigo(config);
        celigo.cache_ttl_s = Some(ttl);
        celigo.stale_if_error_s = Some(stale);
        celigo.retries = Some(0);
        config.cache.redis_url = redis_url.clone().map(SecretString::from);
    }
}

/// Replica A (owning the fakes, five Celigo integrations per page so lists follow `Link`
/// headers) and replica B in front of the same fakes, both configured by `tweak`.
async fn replicas(tweak: impl Fn(&mut Config) + Clone) -> (Gateway, Gateway) {
    let celigo = CeligoFakeConfig {
        default_limit: 5,
        ..CeligoFakeConfig::default()
    };
    let a = Gateway::start_with(celigo, 12, tweak.clone()).await;
    let b = a.replica(tweak).await;
    (a, b)
}

fn names(response: &Value) -> Vec<String> {
    pluck(items(&integrations(response)["nodes"]), "name")
}

/// The value of one un-labelled counter in a `/metrics` text.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test]
async fn a_second_replica_answers_from_what_the_first_fetched() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 60, 0)).await;
    let first = a.query(LIST, json!({})).await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(names(&first).len(), 12);
    let pages = a.celigo_calls("/v1/integrations");
    assert_eq!(pages, 3, "twelve integrations, five per page");

    let second = b.query(LIST, json!({})).await;
    assert_eq!(second, first, "same data from the other replica");
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        pages,
        "B made no upstream call: every page, and the Link to the next, came from Redis"
    );
    let metrics = b.metrics().await;
    assert_eq!(counter(&metrics, "chronograph_cache_l2_hits_total"), 3);
    assert_eq!(counter(&metrics, "chronograph_redis_errors_total"), 0);

    b.query(LIST, json!({})).await;
    let metrics = b.metrics().await;
    assert_eq!(
        counter(&metrics, "chronograph_cache_l2_hits_total"),
        3,
        "the shared answers now sit in B's own cache"
    );
    assert_eq!(counter(&metrics, "chronograph_cache_hits_total"), 3);
}

#[tokio::test]
async fn without_redis_url_replicas_share_nothing() {
    let (a, b) = replicas(settings(None, 60, 0)).await;
    let first = a.query(LIST, json!({})).await;
    assert_eq!(names(&first).len(), 12);
    let second = b.query(LIST, json!({})).await;
    assert_eq!(second, first);
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        6,
        "each replica read the pages"
    );
    assert_eq!(
        counter(&b.metrics().await, "chronograph_cache_l2_misses_total"),
        0,
        "no Redis lookups at all"
    );
}

#[tokio::test]
async fn a_stale_answer_in_redis_is_served_when_the_upstream_fails() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 1, 120)).await;
    let first = a.query(LIST, json!({})).await;
    assert_eq!(names(&first).len(), 12);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    a.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), None);
    a.reset_calls();

    let stale = b.query(LIST, json!({})).await;
    assert!(stale["errors"].is_null(), "{stale}");
    assert_eq!(names(&stale), names(&first), "B served A's answer");
    assert!(
        warnings(&stale).iter().any(|w| w.contains("out of date")),
        "stale answers say so: {stale}"
    );
    assert!(
        a.celigo_calls("/v1/integrations") >= 1,
        "B tried the upstream first (the answer was past its TTL)"
    );
}

#[tokio::test]
async fn a_rate_limit_told_to_one_replica_pauses_the_other() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 0, 0)).await;
    a.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(
            429,
            &[("Retry-After", "30")],
            include_str!("../fixtures/celigo/error.429.json"),
        ),
        Some(1),
    );
    let limited = a.query(LIST, json!({})).await;
    assert_code(&limited, "UPSTREAM_RATE_LIMITED");
    assert_eq!(a.celigo_calls("/v1/integrations"), 1);

    let paused = b.query(LIST, json!({})).await;
    assert_code(&paused, "UPSTREAM_RATE_LIMITED");
    let retry_after = paused["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or(0);
    assert!((28..=30).contains(&retry_after), "{paused}");
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        1,
        "B did not call an upstream that told A to back off"
    );
    assert_eq!(
        counter(
            &b.metrics().await,
            "chronograph_upstream_shared_pauses_total"
        ),
        1
    );
    let sources = b
        .query("{ sources { source retryAfterSeconds } }", json!({}))
        .await;
    assert!(
        sources["data"]["sources"][0]["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| s >= 28),
        "B reports the pause too: {sources}"
    );
}

#[tokio::test]
async fn a_short_shared_rate_limit_is_waited_out() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 0, 0)).await;
    a.upstreams.celigo.control.inject(
        "/v1/integrations",
        respond(429, &[("Retry-After", "2")], ""),
        Some(1),
    );
    let limited = a.query(LIST, json!({})).await;
    assert_eq!(
        codes(&limited),
        vec!["UPSTREAM_RATE_LIMITED"],
        "A has no retries"
    );
    let started = Instant::now();
    let waited = b.query(LIST, json!({})).await;
    assert!(waited["errors"].is_null(), "{waited}");
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "B waited for the pause to end before calling"
    );
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        4,
        "429, then B's three pages"
    );
}

#[tokio::test]
async fn an_open_breaker_on_one_replica_pauses_the_other() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 0, 0)).await;
    a.upstreams
        .celigo
        .control
        .inject("/v1/integrations", respond(503, &[], ""), None);
    for _ in 0..5 {
        let response = a.query(LIST, json!({})).await;
        assert_code(&response, "UPSTREAM_UNAVAILABLE");
    }
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        5,
        "A's breaker is now open"
    );
    a.upstreams.celigo.control.clear_faults();

    let paused = b.query(LIST, json!({})).await;
    assert_code(&paused, "UPSTREAM_UNAVAILABLE");
    assert!(
        paused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("circuit open")),
        "{paused}"
    );
    assert!(paused["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .is_some_and(|s| (1..=10).contains(&s)));
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        5,
        "B did not call a source whose breaker is open elsewhere"
    );
}

#[tokio::test]
async fn replicas_with_other_credentials_never_share_answers() {
    let redis = RedisServer::start();
    let shared = settings(Some(redis.url()), 60, 0);
    let (a, _) = replicas(shared.clone()).await;
    let first = a.query(LIST, json!({})).await;
    assert_eq!(names(&first).len(), 12);
    let other = a
        .replica(|config| {
            shared(config);
            source_config(config, Source::Celigo).token =
                Some(SecretString::from("someone-elses-token"));
        })
        .await;
    a.reset_calls();
    let refused = other.query(LIST, json!({})).await;
    assert_eq!(
        codes(&refused),
        vec!["UPSTREAM_UNAUTHORIZED"],
        "the other tenant's request went to the upstream with its own token: {refused}"
    );
    assert_eq!(a.celigo_calls("/v1/integrations"), 1);

    let keys = redis.command("KEYS *");
    assert!(keys.contains("chronograph:answer:"), "{keys}");
    for secret in [
        "demo-celigo-token",
        "someone-elses-token",
        "/v1/integrations",
    ] {
        assert!(!keys.contains(secret), "{secret} in a Redis key: {keys}");
    }
}

#[tokio::test]
async fn an_unreachable_redis_costs_nothing_but_a_metric() {
    let closed = format!("redis://127.0.0.1:{}/0", free_port());
    let (a, _) = replicas(settings(Some(closed), 60, 0)).await;
    let started = Instant::now();
    let first = a.query(LIST, json!({})).await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(names(&first).len(), 12);
    let again = a.query(LIST, json!({})).await;
    assert_eq!(again, first);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        3,
        "the in-process cache still works"
    );
    assert!(counter(&a.metrics().await, "chronograph_redis_errors_total") >= 1);
}

#[tokio::test]
async fn redis_dying_mid_run_degrades_to_each_replicas_own_cache() {
    let mut redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 60, 0)).await;
    let first = a.query(LIST, json!({})).await;
    assert_eq!(names(&first).len(), 12);
    redis.stop();

    let started = Instant::now();
    let second = b.query(LIST, json!({})).await;
    assert_eq!(second, first, "B still answers, from the upstream");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(a.celigo_calls("/v1/integrations"), 6);
    assert!(counter(&b.metrics().await, "chronograph_redis_errors_total") >= 1);
    let third = a.query(LIST, json!({})).await;
    assert_eq!(third, first, "A answers from its own cache");
    assert_eq!(a.celigo_calls("/v1/integrations"), 6);
}

#[tokio::test]
async fn a_redis_that_comes_back_is_used_again() {
    let port = free_port();
    let tweak = settings(Some(format!("redis://127.0.0.1:{port}/0")), 60, 0);
    let (a, b) = replicas(tweak.clone()).await;
    let first = a.query(LIST, json!({})).await;
    assert_eq!(names(&first).len(), 12, "served while Redis is down");

    let redis = RedisServer::start_on(port).expect("redis-server on the same port");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(b.query(LIST, json!({})).await, first);
    assert!(
        !redis.command("DBSIZE").starts_with(":0"),
        "B writes its answers to Redis again"
    );
    // C's first Redis reads open its connection: on a loaded machine that can take longer
    // than the default 200 ms, which this test is not about.
    let c = a
        .replica(move |config| {
            tweak(config);
            config.cache.redis_timeout_ms = 2_000;
        })
        .await;
    a.reset_calls();
    assert_eq!(c.query(LIST, json!({})).await, first);
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        0,
        "a third replica reads them from Redis"
    );
    assert_eq!(
        counter(&c.metrics().await, "chronograph_cache_l2_hits_total"),
        3
    );
}

#[tokio::test]
async fn a_write_on_one_replica_drops_the_shared_answers_it_changed() {
    let redis = RedisServer::start();
    let (a, b) = replicas(settings(Some(redis.url()), 300, 0)).await;
    let list = "{ integrations(source: CELIGO, first: 20) { nodes { sourceId raw } } }";
    let tag_of = |response: &Value, id: &str| {
        response["data"]["integrations"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["sourceId"] == id))
            .map(|n| n["raw"]["tag"].clone())
            .unwrap_or(Value::Null)
    };
    let target = a.celigo_integration_ids()[0].clone();
    let before = a.query(list, json!({})).await;
    assert!(before["errors"].is_null(), "{before}");
    assert_ne!(tag_of(&before, &target), json!("after-the-write"));

    let gid = global_id(NodeType::Integration, Source::Celigo, &[&target]);
    let write = a
        .query(
            "mutation($id: ID!) { updateIntegration(integrationId: $id, input: { tag: \"after-the-write\" }) { sourceId } }",
            json!({ "id": gid }),
        )
        .await;
    assert!(write["errors"].is_null(), "{write}");

    // B never read the list itself: without the write's invalidation it would be served the
    // list A stored in Redis before the write.
    a.reset_calls();
    let after = b.query(list, json!({})).await;
    assert_eq!(tag_of(&after, &target), json!("after-the-write"), "{after}");
    assert_eq!(
        a.celigo_calls("/v1/integrations"),
        3,
        "B read the list from Celigo again"
    );
}
