//! Test harness: fake upstreams + a real gateway on an ephemeral port, queried over HTTP.

use chronograph::config::Config;
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::{DemoOptions, DemoUpstreams};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// A running gateway with its fakes.
pub struct Gateway {
    pub addr: SocketAddr,
    pub url: String,
    pub upstreams: DemoUpstreams,
    pub client: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Demo data with default fake settings.
    pub async fn start() -> Gateway {
        Self::start_with(CeligoFakeConfig::default(), 40, |_| {}).await
    }

    /// Custom Celigo fake settings, number of integrations and config tweaks.
    pub async fn start_with(
        celigo: CeligoFakeConfig,
        integrations: usize,
        tweak: impl FnOnce(&mut Config),
    ) -> Gateway {
        let options = DemoOptions {
            celigo,
            celigo_integrations: integrations,
            ..DemoOptions::default()
        };
        Self::start_options(options, tweak).await
    }

    /// Any fake options and config tweaks.
    pub async fn start_options(options: DemoOptions, tweak: impl FnOnce(&mut Config)) -> Gateway {
        let upstreams = DemoUpstreams::start_with(options)
            .await
            .expect("fakes start");
        let mut config = upstreams.config("127.0.0.1:0");
        tweak(&mut config);
        let app = chronograph::build_app(&config).expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = chronograph::server::listen::ConnectionLimits::from_config(&config.server);
        let server = tokio::spawn(async move {
            let _ =
                chronograph::server::listen::serve(listener, app, limits, std::future::pending())
                    .await;
        });
        Gateway {
            addr,
            url: format!("http://{addr}/graphql"),
            upstreams,
            client: reqwest::Client::new(),
            _server: server,
        }
    }

    /// POST a query; returns the whole JSON response (data + errors).
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables });
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("gateway answers");
        let text = response.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Requests the Celigo fake received under `prefix`.
    pub fn celigo_calls(&self, prefix: &str) -> usize {
        self.upstreams.celigo.control.count(prefix)
    }

    pub fn reset_calls(&self) {
        self.upstreams.celigo.control.clear_requests();
    }
}

/// The error codes of a response, in order.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One Hexabase item-history call as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct HexabaseWindow {
    pub from: usize,
    pub to: usize,
    pub from_datetime: Option<String>,
    pub to_datetime: Option<String>,
    pub exclude_action: bool,
    pub exclude_comment: bool,
}

impl Gateway {
    /// Item-history calls the Hexabase fake received, oldest first.
    pub fn hexabase_windows(&self) -> Vec<HexabaseWindow> {
        self.upstreams
            .hexabase
            .control
            .requests()
            .iter()
            .filter(|r| r.path.contains("/items/histories/"))
            .map(|r| {
                let pairs = r.query_pairs();
                let get = |name: &str| {
                    pairs
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                HexabaseWindow {
                    from: get("from_index").and_then(|v| v.parse().ok()).unwrap_or(0),
                    to: get("to_index").and_then(|v| v.parse().ok()).unwrap_or(30),
                    from_datetime: get("from_datetime"),
                    to_datetime: get("to_datetime"),
                    exclude_action: get("exclude_action_history").as_deref() == Some("true"),
                    exclude_comment: get("exclude_comment_history").as_deref() == Some("true"),
                }
            })
            .collect()
    }

    /// Requests the DealCloud fake received whose path contains `part`.
    pub fn dealcloud_requests(&self, part: &str) -> Vec<chronograph::demo::fake::RecordedRequest> {
        self.upstreams
            .dealcloud
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(part))
            .collect()
    }

    /// Forget what every fake recorded so far.
    pub fn reset_all_calls(&self) {
        for fake in [
            &self.upstreams.rocketchat,
            &self.upstreams.celigo,
            &self.upstreams.hexabase,
            &self.upstreams.truto,
            &self.upstreams.dealcloud,
        ] {
            fake.control.clear_requests();
        }
    }
}

/// The `sourceId`s of a history connection at `field` (`response.data[field]`), in order.
pub fn history_source_ids(response: &Value, field: &str) -> Vec<String> {
    edge_source_ids(&response["data"][field])
}

/// The `node.sourceId` of every edge of a connection value, in order.
pub fn edge_source_ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["sourceId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The response-level warnings.
pub fn warnings(response: &Value) -> Vec<String> {
    response["extensions"]["warnings"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Rocket.Chat and Truto fakes: what they received.
impl Gateway {
    /// Requests the Rocket.Chat fake received whose path starts with `prefix`.
    pub fn rocketchat_requests(
        &self,
        prefix: &str,
    ) -> Vec<chronograph::demo::fake::RecordedRequest> {
        self.upstreams
            .rocketchat
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Requests the Truto fake received whose path starts with `prefix`.
    pub fn truto_requests(&self, prefix: &str) -> Vec<chronograph::demo::fake::RecordedRequest> {
        self.upstreams
            .truto
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }
}

/// One query parameter of a recorded request.
pub fn query_param(
    request: &chronograph::demo::fake::RecordedRequest,
    name: &str,
) -> Option<String> {
    request
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The text of one of the repository's `examples/*.graphql` queries.
pub fn example(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} exists"))
}

impl Gateway {
    /// A second gateway (a replica) in front of this gateway's fakes, with its own config
    /// tweaks, for state that replicas share. Its own `upstreams` are idle fakes: count the
    /// calls on `self`.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> Gateway {
        let mut config = self.upstreams.config("127.0.0.1:0");
        tweak(&mut config);
        Gateway::start_options(DemoOptions::default(), move |c| *c = config).await
    }
}

/// Make a new audit entry of Celigo integration `target` appear upstream, now, with `id`
/// (subscription tests wait for it).
pub fn insert_fresh_audit(gw: &Gateway, target: &str, id: &str) {
    let mut data = gw.upstreams.celigo_fake.data();
    let mut fresh = data.audit_of_integration(target)[0].clone();
    fresh["_id"] = json!(id);
    fresh["time"] = json!(chronograph::domain::datetime::format_utc_ms(
        chrono::Utc::now()
    ));
    data.audit.insert(0, fresh);
}

/// A client WebSocket of the tests.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection to the gateway's `/graphql/ws`.
pub async fn ws_connect(gw: &Gateway) -> Socket {
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/graphql/ws",
            gw.addr
        ))
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

/// Send one protocol message.
pub async fn ws_send(socket: &mut Socket, message: Value) {
    use futures::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            message.to_string(),
        ))
        .await
        .expect("send");
}

/// The next text message as JSON (within 5 s).
pub async fn ws_next_json(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            futures::StreamExt::next(socket),
        )
        .await
        .expect("a message in time");
        match next {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                return serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Some(Ok(_)) => continue,
            other => panic!("websocket ended: {other:?}"),
        }
    }
}
