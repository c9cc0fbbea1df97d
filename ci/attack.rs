//! The attack suite of issue 19: hostile clients against a running gateway (loopback only,
//! bounded in count and time), each while a normal query must still answer within 1 s and the
//! server's RSS must stay under 200 MB. Run by `ci/attack.sh`:
//!
//! ```sh
//! cargo run --example attack -- 127.0.0.1:18202 <server pid>
//! ```

use chronograph::schema::limits::fragment_bomb;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const NORMAL: &str = "{ integrations(source: CELIGO, first: 2) { nodes { name } } }";
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
const RSS_LIMIT_KB: u64 = 200 * 1024;

struct Target {
    addr: SocketAddr,
    pid: u32,
    client: reqwest::Client,
}

impl Target {
    fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// How long a normal query takes, if it answers with data within 5 s.
    async fn probe(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            self.client
                .post(self.url())
                .header("content-type", "application/json")
                .body(json!({ "query": NORMAL }).to_string())
                .send(),
        )
        .await
        .map_err(|_| "normal query: no answer in 5 s".to_string())?
        .map_err(|e| format!("normal query: {e}"))?;
        let body = json_of(response).await?;
        if body["data"]["integrations"]["nodes"]
            .as_array()
            .map(Vec::len)
            != Some(2)
        {
            return Err(format!("normal query: unexpected answer {body}"));
        }
        Ok(started.elapsed())
    }

    /// The server's resident and peak resident set, in KiB.
    fn rss_kb(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Probe five times while `attack` runs; every probe within 1 s, RSS under the limit.
    async fn during<F: std::future::Future<Output = Result<String, String>> + Send + 'static>(
        &self,
        attack: F,
    ) -> Result<String, String> {
        let attack = tokio::spawn(attack);
        let mut slowest = Duration::ZERO;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..5 {
            let took = self.probe().await?;
            slowest = slowest.max(took);
            if took > ANSWER_WITHIN {
                return Err(format!("a normal query took {took:?} during the attack"));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let detail = tokio::time::timeout(Duration::from_secs(60), attack)
            .await
            .map_err(|_| "the attack itself did not finish in 60 s".to_string())?
            .map_err(|e| format!("attack task: {e}"))??;
        let (rss, peak) = self.rss_kb();
        if rss > RSS_LIMIT_KB || peak > RSS_LIMIT_KB {
            return Err(format!(
                "RSS {rss} KiB, peak {peak} KiB (limit {RSS_LIMIT_KB})"
            ));
        }
        Ok(format!(
            "{detail}; slowest normal query {slowest:?}; RSS {} MiB, peak {} MiB",
            rss / 1024,
            peak / 1024
        ))
    }
}

async fn json_of(response: reqwest::Response) -> Result<Value, String> {
    let text = response.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text)
        .map_err(|_| format!("not JSON: {}", text.chars().take(200).collect::<String>()))
}

fn code_of(answer: &Value) -> String {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .or_else(|| answer["payload"][0]["extensions"]["code"].as_str())
        .unwrap_or("none")
        .to_string()
}

async fn ws_connect(addr: SocketAddr) -> Result<WsStream, String> {
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/graphql/ws"
        ))
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| format!("websocket: {e}"))
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_init(addr: SocketAddr) -> Result<WsStream, String> {
    let mut socket = ws_connect(addr).await?;
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    let ack = next_json(&mut socket).await?;
    if ack["type"] != "connection_ack" {
        return Err(format!("no connection_ack: {ack}"));
    }
    Ok(socket)
}

async fn next_json(socket: &mut WsStream) -> Result<Value, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Err(_) => return Err("no message in 10 s".into()),
            Ok(Some(Ok(Message::Text(text)))) => {
                return serde_json::from_str(&text).map_err(|e| e.to_string())
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Ok(json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) }))
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Ok(json!({ "type": "close", "code": null })),
        }
    }
}

/// The n=24 fragment bomb (under 1 KB) over POST, GET, a batch and WebSocket, 8 of each.
async fn fragment_bombs(addr: SocketAddr) -> Result<String, String> {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/graphql");
    let bomb = fragment_bomb("query", 24);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, bomb) = (client.clone(), url.clone(), bomb.clone());
        tasks.push(tokio::spawn(async move {
            let post = client
                .post(&url)
                .header("content-type", "application/json")
                .body(json!({ "query": bomb }).to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let get_url = reqwest::Url::parse_with_params(&url, [("query", bomb.as_str())])
                .map_err(|e| e.to_string())?;
            let get = client
                .get(get_url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let batch = client
                .post(&url)
                .header("content-type", "application/json")
                .body(json!([{ "query": bomb }, { "query": bomb }]).to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let (post, get, batch) = (json_of(post).await?, json_of(get).await?, json_of(batch).await?);
            let mut socket = ws_init(addr).await?;
            socket
                .send(Message::text(
                    json!({ "id": "b", "type": "subscribe", "payload": { "query": fragment_bomb("subscription", 24) } })
                        .to_string(),
                ))
                .await
                .map_err(|e| e.to_string())?;
            let ws = next_json(&mut socket).await?;
            let codes = [code_of(&post), code_of(&get), code_of(&batch[0]), code_of(&ws)];
            if codes.iter().all(|c| c == "QUERY_TOO_COMPLEX") {
                Ok(())
            } else {
                Err(format!("fragment bomb answered {codes:?}"))
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(format!(
        "{} bytes x 8 over POST, GET, batch and WebSocket: QUERY_TOO_COMPLEX",
        bomb.len()
    ))
}

/// 300 sockets that send half a request and then nothing.
async fn slow_sockets(addr: SocketAddr) -> Result<String, String> {
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: attack\r\nContent-Le")
            .await;
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(held);
    Ok("300 half-sent requests held 1 s".into())
}

/// 16 MB WebSocket messages on 8 connections: each closed with 1009.
async fn oversize_frames(addr: SocketAddr) -> Result<String, String> {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut socket = ws_init(addr).await?;
            let big = json!({ "id": "1", "type": "subscribe",
                "payload": { "query": format!("{{ __typename {} }}", " ".repeat(16 << 20)) } });
            let _ = socket.send(Message::text(big.to_string())).await;
            let answer = next_json(&mut socket)
                .await
                .unwrap_or(json!({ "type": "close" }));
            match answer["code"].as_u64() {
                Some(1009) => Ok(()),
                other => Err(format!("oversize frame answered {answer} ({other:?})")),
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok("8 x 16 MiB messages closed with 1009".into())
}

/// 2,000 subscribes (distinct subjects) on one connection: at most the per-connection cap run.
async fn subscribe_flood(addr: SocketAddr) -> Result<String, String> {
    let mut socket = ws_init(addr).await?;
    for i in 0..2_000 {
        let message = json!({ "id": i.to_string(), "type": "subscribe", "payload": {
            "query": "subscription($s: [HistorySubject!]!) { historyAdded(subjects: $s) { sourceId } }",
            "variables": { "s": [{ "integration": { "source": "CELIGO", "sourceId": format!("flood{i}") } }] } } });
        socket
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while refused < 1_900 && Instant::now() < deadline {
        let answer = next_json(&mut socket).await?;
        if answer["type"] == "error" && code_of(&answer) == "QUERY_TOO_COMPLEX" {
            refused += 1;
        } else if answer["type"] == "close" {
            return Err(format!("the flood closed the socket: {answer}"));
        }
    }
    if refused < 1_900 {
        return Err(format!("only {refused} of 2000 subscribes refused"));
    }
    Ok(format!(
        "2000 subscribes: {refused} refused past the per-connection cap"
    ))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(pid)) = (args.next(), args.next()) else {
        eprintln!("usage: attack <addr> <server pid>");
        std::process::exit(2);
    };
    let (Ok(addr), Ok(pid)) = (addr.parse::<SocketAddr>(), pid.parse::<u32>()) else {
        eprintln!("usage: attack <127.0.0.1:port> <server pid>");
        std::process::exit(2);
    };
    if !addr.ip().is_loopback() {
        eprintln!("attack runs against loopback addresses only");
        std::process::exit(2);
    }
    let target = Target {
        addr,
        pid,
        client: reqwest::Client::new(),
    };
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, result: Result<String, String>| match result {
        Ok(detail) => {
            passed += 1;
            println!("PASS  {name:<18} {detail}");
        }
        Err(why) => {
            failed += 1;
            println!("FAIL  {name:<18} {why}");
        }
    };
    report(
        "baseline",
        target
            .probe()
            .await
            .map(|d| format!("normal query in {d:?}")),
    );
    report("fragment-bomb", target.during(fragment_bombs(addr)).await);
    report("slow-sockets", target.during(slow_sockets(addr)).await);
    report(
        "oversize-ws-frame",
        target.during(oversize_frames(addr)).await,
    );
    report(
        "subscribe-flood",
        target.during(subscribe_flood(addr)).await,
    );
    println!("attack: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
