//! Shared harness for in-process fake upstreams.
//!
//! Every vendor fake is a plain [`axum::Router`]. This module adds what all of them need for
//! tests and demos: a recorder of the requests the gateway actually sent, fault injection
//! (errors, latency, broken bodies) that tests switch on and off at run time, a helper that
//! serves a router on an ephemeral port, and a small deterministic PRNG so generated demo data
//! is identical on every run without pulling in the `rand` crate.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use tokio::task::JoinHandle;

/// Body served by [`Fault::Garbage`]: what a misconfigured proxy in front of an API sends.
const GARBAGE_BODY: &str = "<html>oops</html>";
/// Body served by [`Fault::Truncated`]: a JSON array cut off in the middle of a key.
const TRUNCATED_BODY: &str = r#"[{"_id":"65f0c2d1a4b7e9001c3d8e10","na"#;
/// Upper bound for recorded request bodies; fakes never need more and it bounds memory.
const MAX_RECORDED_BODY: usize = 16 * 1024 * 1024;

/// One request as the fake received it, kept so tests can assert on what the gateway sent.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string (still percent-encoded), `None` when the URL had no `?`.
    pub query: Option<String>,
    /// Header names are lower-case; repeated headers appear once per value.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RecordedRequest {
    /// First value of a header, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Query parameters in order, percent-decoded (`+` decodes to a space, as in forms).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        query_params(self.query.as_deref())
    }
}

/// Query parameters of a raw query string in order, percent-decoded (`+` is a space, as in
/// forms); none without a query. Every fake reads its parameters this way.
pub fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The percent-decoded segments of a request path, so an encoded id is matched as sent.
pub fn path_segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Misbehaviour a test can inject in front of a vendor handler.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, extra headers and body (content-type application/json).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Sleep, then handle the request normally.
    Delay(Duration),
    /// 200, content-type application/json, body that is not JSON.
    Garbage,
    /// 200 with a body of valid-looking JSON cut short mid-way.
    Truncated,
    /// 200 whose body trickles out one byte per interval (a slow-drip upstream).
    Drip(Duration),
}

/// A fault plus the requests it applies to.
#[derive(Clone, Debug)]
struct FaultRule {
    path_contains: String,
    fault: Fault,
    /// `Some(n)`: fire for the next `n` matching requests only; `None`: until cleared.
    remaining: Option<usize>,
}

/// Shared state between a test and a running fake: what was requested and what to break.
#[derive(Debug, Default)]
pub struct FakeControl {
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<FaultRule>>,
    /// Requests being handled right now, and the most seen at once.
    in_flight: Mutex<(usize, usize)>,
}

/// Locks a mutex even if a panicking test thread poisoned it: the data stays usable for
/// assertions, and a fake must keep serving rather than cascade panics.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeControl {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Snapshot of every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Number of recorded requests whose path starts with `prefix` (method ignored).
    pub fn count(&self, prefix: &str) -> usize {
        lock(&self.requests)
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Applies `fault` to requests whose path contains `path_contains`. `times: Some(n)` limits
    /// it to the next `n` matching requests, `None` keeps it until [`Self::clear_faults`].
    /// Rules are tried in insertion order; the first match wins.
    pub fn inject(&self, path_contains: &str, fault: Fault, times: Option<usize>) {
        if times == Some(0) {
            return;
        }
        lock(&self.faults).push(FaultRule {
            path_contains: path_contains.to_owned(),
            fault,
            remaining: times,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The largest number of requests the fake was handling at the same time.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.in_flight).1
    }

    fn enter(&self) {
        let mut gauge = lock(&self.in_flight);
        gauge.0 += 1;
        gauge.1 = gauge.1.max(gauge.0);
    }

    fn leave(&self) {
        let mut gauge = lock(&self.in_flight);
        gauge.0 = gauge.0.saturating_sub(1);
    }

    fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    /// Finds the first rule matching `path`, consuming one use of it.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.faults);
        let index = rules
            .iter()
            .position(|r| path.contains(r.path_contains.as_str()))?;
        let rule = &mut rules[index];
        let fault = rule.fault.clone();
        if let Some(left) = rule.remaining.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }
}

/// Wraps `router` so every request is recorded (including its body) and the first matching
/// fault is applied before the vendor handler runs.
pub fn with_control(router: Router, control: Arc<FakeControl>) -> Router {
    router.layer(middleware::from_fn_with_state(control, control_middleware))
}

async fn control_middleware(
    State(control): State<Arc<FakeControl>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_RECORDED_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return json_response(StatusCode::PAYLOAD_TOO_LARGE, &[], String::new()),
    };
    control.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    });
    let fault = control.take_fault(parts.uri.path());
    let request = Request::from_parts(parts, Body::from(body));
    control.enter();
    let response = apply(fault, request, next).await;
    control.leave();
    response
}

async fn apply(fault: Option<Fault>, request: Request, next: Next) -> Response {
    match fault {
        None => next.run(request).await,
        Some(Fault::Delay(pause)) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, &headers, body)
        }
        Some(Fault::Garbage) => json_response(StatusCode::OK, &[], GARBAGE_BODY.to_owned()),
        Some(Fault::Truncated) => json_response(StatusCode::OK, &[], TRUNCATED_BODY.to_owned()),
        Some(Fault::Drip(interval)) => {
            let chunks = futures::stream::iter(0..10_000u32).then(move |i| async move {
                tokio::time::sleep(interval).await;
                Ok::<_, std::io::Error>(Bytes::from_static(if i == 0 { b"[" } else { b" " }))
            });
            streamed(Body::from_stream(chunks))
        }
    }
}

fn streamed(body: Body) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A response labelled `application/json` whatever the body is: fakes must look like the API
/// even when the body is deliberately broken. Headers that are not valid HTTP are skipped.
pub fn json_response(status: StatusCode, headers: &[(String, String)], body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    response
}

/// A fake serving on a local port. Dropping it stops the server.
pub struct RunningFake {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    pub control: Arc<FakeControl>,
    server: JoinHandle<()>,
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Binds 127.0.0.1 on an ephemeral port, serves `router` wrapped with [`with_control`] in a
/// background task and returns at once (the socket is already listening).
pub async fn spawn(router: Router, control: Arc<FakeControl>) -> std::io::Result<RunningFake> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = with_control(router, control.clone());
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, %addr, "fake upstream stopped");
        }
    });
    Ok(RunningFake {
        addr,
        base_url: format!("http://{addr}"),
        control,
        server,
    })
}

/// Formats a UTC instant the way most vendors do: `2024-05-14T09:12:03.118Z`.
pub fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Alphabet of Meteor (Rocket.Chat) ids: no `0`, `1`, `I`, `O`, `V`, `l`.
const METEOR_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
/// 2019-01-01T00:00:00Z and 2025-01-01T00:00:00Z: the range of ObjectId timestamps `hex24` uses.
const OBJECT_ID_EPOCH_RANGE: (u64, u64) = (1_546_300_800, 1_735_689_600);

/// Deterministic splitmix64 generator for demo data: same seed, same data, on every platform.
/// Not for anything security-related.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (multiply-shift, bias below 2^-32 for demo sizes);
    /// returns 0 when `n` is 0 so callers never divide by zero.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform value in the inclusive range `lo..=hi` (returns `lo` if `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// A random element. Panics on an empty slice: generators only pass constant tables.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `true` with probability `p` (0.0 never, 1.0 always).
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// In-place Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A MongoDB-ObjectId-like id whose leading 8 hex digits are a unix time between 2019 and
    /// 2025, as in real ObjectIds.
    pub fn hex24(&mut self) -> String {
        let (lo, hi) = OBJECT_ID_EPOCH_RANGE;
        let secs = self.between(lo, hi);
        self.object_id(secs)
    }

    /// An ObjectId-like id minted at `t`, so ids sort like creation times as they do in MongoDB.
    pub fn hex24_at(&mut self, t: DateTime<Utc>) -> String {
        let secs = u64::try_from(t.timestamp()).unwrap_or(0);
        self.object_id(secs)
    }

    fn object_id(&mut self, secs: u64) -> String {
        let random = self.next_u64() & 0xFF_FFFF_FFFF;
        let counter = self.next_u64() & 0xFF_FFFF;
        format!("{:08x}{random:010x}{counter:06x}", secs & 0xFFFF_FFFF)
    }

    /// A 17-character Meteor id (Rocket.Chat).
    pub fn meteor_id(&mut self) -> String {
        (0..17)
            .map(|_| char::from(*self.pick(METEOR_ALPHABET)))
            .collect()
    }

    /// A random (version 4, RFC 4122 variant) UUID in lower-case hyphenated form.
    pub fn uuid_v4(&mut self) -> String {
        let hi = (self.next_u64() & !0xF000) | 0x4000;
        let lo = (self.next_u64() & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..5)
                .scan(Rng::new(8), |r, _| Some(r.next_u64()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn below_between_and_chance_stay_in_range() {
        let mut rng = Rng::new(1);
        assert_eq!(rng.below(0), 0);
        for _ in 0..1000 {
            assert!(rng.below(10) < 10);
            let v = rng.between(3, 5);
            assert!((3..=5).contains(&v));
        }
        assert!(!rng.chance(0.0));
        assert!(rng.chance(1.0));
    }

    #[test]
    fn ids_have_vendor_shapes() {
        let mut rng = Rng::new(42);
        for _ in 0..200 {
            let id = rng.hex24();
            assert_eq!(id.len(), 24);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            let secs = u64::from_str_radix(&id[..8], 16).unwrap();
            assert!((OBJECT_ID_EPOCH_RANGE.0..=OBJECT_ID_EPOCH_RANGE.1).contains(&secs));

            let meteor = rng.meteor_id();
            assert_eq!(meteor.len(), 17);
            assert!(meteor.bytes().all(|b| METEOR_ALPHABET.contains(&b)));

            let uuid = rng.uuid_v4();
            let groups: Vec<&str> = uuid.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(groups[2].starts_with('4'));
            assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        }
    }

    #[test]
    fn hex24_at_encodes_the_time() {
        let t = DateTime::parse_from_rfc3339("2024-05-14T09:12:03.118Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = Rng::new(3).hex24_at(t);
        assert_eq!(
            u64::from_str_radix(&id[..8], 16).unwrap(),
            t.timestamp() as u64
        );
    }

    #[test]
    fn iso_ms_has_millis_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-05-14T09:12:03.118+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(iso_ms(t), "2024-05-14T09:12:03.118Z");
    }

    #[test]
    fn recorded_request_helpers() {
        let req = RecordedRequest {
            method: "GET".into(),
            path: "/v1/audit".into(),
            query: Some("from=2024-05-01T00%3A00%3A00.000Z&name=a+b".into()),
            headers: vec![("authorization".into(), "Bearer x".into())],
            body: Bytes::new(),
        };
        assert_eq!(req.header("Authorization"), Some("Bearer x"));
        assert_eq!(req.header("accept"), None);
        assert_eq!(
            req.query_pairs(),
            vec![
                ("from".to_owned(), "2024-05-01T00:00:00.000Z".to_owned()),
                ("name".to_owned(), "a b".to_owned())
            ]
        );
    }

    #[test]
    fn faults_fire_the_requested_number_of_times() {
        let control = FakeControl::new();
        control.inject("/flows", Fault::Garbage, Some(2));
        control.inject("/v1", Fault::Truncated, None);
        assert!(matches!(
            control.take_fault("/v1/flows"),
            Some(Fault::Garbage)
        ));
        assert!(matches!(
            control.take_fault("/v1/flows"),
            Some(Fault::Garbage)
        ));
        assert!(matches!(
            control.take_fault("/v1/flows"),
            Some(Fault::Truncated)
        ));
        assert!(matches!(
            control.take_fault("/v1/audit"),
            Some(Fault::Truncated)
        ));
        control.clear_faults();
        assert!(control.take_fault("/v1/flows").is_none());
        control.inject("/v1", Fault::Garbage, Some(0));
        assert!(control.take_fault("/v1/flows").is_none());
    }
}
