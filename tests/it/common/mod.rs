//! What the tests share: fake upstreams and a real gateway on an ephemeral port, queried over
//! HTTP ([`Gateway`]); reading its answers ([`response`]); WebSocket clients ([`ws`]).

mod response;
mod ws;

pub use response::*;
pub use ws::*;

use chronograph::config::{Config, SourceConfig, SourcesConfig};
use chronograph::demo::celigo::CeligoFakeConfig;
use chronograph::demo::fake::{Fault, RecordedRequest};
use chronograph::demo::{DemoOptions, DemoUpstreams};
use chronograph::domain::ids::{GlobalId, NodeType};
use chronograph::domain::Source;
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

    /// A second gateway (a replica) in front of this gateway's fakes, with its own config
    /// tweaks, for state that replicas share. Its own `upstreams` are idle fakes: count the
    /// calls on `self`.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> Gateway {
        let mut config = self.upstreams.config("127.0.0.1:0");
        tweak(&mut config);
        Gateway::start_options(DemoOptions::default(), move |c| *c = config).await
    }

    /// POST a query; returns the whole JSON response (data + errors).
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        self.query_with(query, variables, &[]).await.1
    }

    /// POST a query with extra request headers; returns the HTTP status and the JSON response.
    pub async fn query_with(
        &self,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        post_graphql(&self.client, &self.url, query, variables, headers).await
    }

    /// POST `body` to `/graphql` as `application/json`, with extra request headers.
    pub async fn post(
        &self,
        body: impl Into<String>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        post_json(&self.client, &self.url, body.into(), headers).await
    }

    /// GET one of the gateway's paths (`/healthz`, `/readyz`, …).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    /// The URL of `query` sent as `GET /graphql?query=…`.
    pub fn get_url(&self, query: &str) -> String {
        format!("{}?query={}", self.url, urlencode(query))
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("text")
    }

    /// Pages through the connection that `at` picks from `query`'s answers: first with
    /// `variables` as given (`first` or `last`, maybe a cursor), then on from each page's end
    /// cursor (`after`, forward) or start cursor (`before`, backward) until `hasNextPage` or
    /// `hasPreviousPage` is false. Every page must be free of errors. The pages come in the
    /// list's order: walking backward, the last one read comes first.
    pub async fn walk(
        &self,
        query: &str,
        mut variables: Value,
        at: fn(&Value) -> &Value,
        direction: Direction,
    ) -> Vec<Value> {
        let (argument, cursor, more) = match direction {
            Direction::Forward => ("after", "endCursor", "hasNextPage"),
            Direction::Backward => ("before", "startCursor", "hasPreviousPage"),
        };
        let mut pages = Vec::new();
        loop {
            let page = self.query(query, variables.clone()).await;
            assert!(page["errors"].is_null(), "{page}");
            let info = at(&page)["pageInfo"].clone();
            pages.push(page);
            match info[more].as_bool() {
                Some(true) => variables[argument] = info[cursor].clone(),
                Some(false) => break,
                None => panic!("no pageInfo.{more} in {info}"),
            }
            assert!(pages.len() < 1_000, "paging does not end");
        }
        if direction == Direction::Backward {
            pages.reverse();
        }
        pages
    }

    /// The `sourceId`s of `page` and of every page after it: a forward walk of `query` with
    /// `variables` from `page`'s end cursor.
    pub async fn ids_from(
        &self,
        query: &str,
        mut variables: Value,
        page: &Value,
        at: fn(&Value) -> &Value,
    ) -> Vec<String> {
        variables["after"] = at(page)["pageInfo"]["endCursor"].clone();
        let rest = self.walk(query, variables, at, Direction::Forward).await;
        let mut ids = source_ids(at(page));
        ids.extend(walked_ids(&rest, at));
        ids
    }

    /// Walks the whole connection forward (`first: size`) and backward (`last: size`) and
    /// checks that both walks list exactly `expected`, in order, and that every entry of the
    /// forward walk has the same `observedAt`. Returns the forward walk's pages.
    pub async fn assert_walks_both_ways(
        &self,
        query: &str,
        variables: Value,
        at: fn(&Value) -> &Value,
        size: usize,
        expected: &[String],
    ) -> Vec<Value> {
        let mut first = variables.clone();
        first["first"] = json!(size);
        let forward = self.walk(query, first, at, Direction::Forward).await;
        assert_eq!(
            walked_ids(&forward, at),
            expected,
            "forward: every entry once, in order"
        );
        let observed: Vec<&Value> = forward
            .iter()
            .flat_map(|page| items(&at(page)["edges"]))
            .map(|edge| &edge["node"]["observedAt"])
            .collect();
        assert!(
            observed.windows(2).all(|pair| pair[0] == pair[1]),
            "observedAt is the same on every page: {observed:?}"
        );
        let mut last = variables;
        last["last"] = json!(size);
        let backward = self.walk(query, last, at, Direction::Backward).await;
        assert_eq!(
            walked_ids(&backward, at),
            expected,
            "backward: every entry once, in order"
        );
        forward
    }
}

/// Which way [`Gateway::walk`] pages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Direction {
    /// `first`/`after`, to the end of the list.
    Forward,
    /// `last`/`before`, to its start.
    Backward,
}

/// POST a GraphQL request to `url` (any Chronograph); returns the HTTP status and the JSON
/// response.
pub async fn post_graphql(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let body = json!({ "query": query, "variables": variables }).to_string();
    status_and_json(post_json(client, url, body, headers).await).await
}

/// POST `body` to `url` as `application/json`, with extra request headers.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: String,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("gateway answers")
}

/// A loopback port nothing listens on (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A query string value, percent-encoded.
pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The settings of one configured source, to tweak before the gateway starts.
pub fn source_config(config: &mut Config, source: Source) -> &mut SourceConfig {
    let sources = &mut config.sources;
    match source {
        Source::Rocketchat => sources.rocketchat.as_mut(),
        Source::Celigo => sources.celigo.as_mut(),
        Source::Hexabase => sources.hexabase.as_mut(),
        Source::Truto => sources.truto.as_mut(),
        Source::Dealcloud => sources.dealcloud.as_mut(),
        Source::Declared(_) => None,
    }
    .unwrap_or_else(|| panic!("{source:?} is configured"))
}

/// Celigo as the only source (so source lists, readiness and call counts are about it); its
/// settings, to tweak.
pub fn only_celigo(config: &mut Config) -> &mut SourceConfig {
    config.sources = SourcesConfig {
        celigo: config.sources.celigo.take(),
        ..Default::default()
    };
    source_config(config, Source::Celigo)
}

/// The global id (`Node.id`) of a vendor object.
pub fn global_id(node_type: NodeType, source: Source, parts: &[&str]) -> String {
    GlobalId::new(
        node_type,
        source,
        parts.iter().map(|p| p.to_string()).collect(),
    )
    .encode()
}

/// A fake's answer: `status`, extra `headers` and `body` (content type JSON).
pub fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Fault {
    Fault::Respond {
        status,
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        body: body.into(),
    }
}

/// What the fakes hold and received.
impl Gateway {
    /// The ids of the Celigo fake's integrations, in its order.
    pub fn celigo_integration_ids(&self) -> Vec<String> {
        pluck(&self.upstreams.celigo_fake.data().integrations, "_id")
    }

    /// The audit log of Celigo integration `id` as the fake stores it.
    pub fn celigo_audit(&self, id: &str) -> Vec<Value> {
        self.upstreams.celigo_fake.data().audit_of_integration(id)
    }

    /// Requests the Celigo fake received under `prefix`.
    pub fn celigo_calls(&self, prefix: &str) -> usize {
        self.upstreams.celigo.control.count(prefix)
    }

    pub fn reset_calls(&self) {
        self.upstreams.celigo.control.clear_requests();
    }

    /// Item-history calls the Hexabase fake received, oldest first.
    pub fn hexabase_windows(&self) -> Vec<HexabaseWindow> {
        self.upstreams
            .hexabase
            .control
            .requests()
            .iter()
            .filter(|r| r.path.contains("/items/histories/"))
            .map(|r| {
                let get = |name: &str| query_param(r, name);
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
    pub fn dealcloud_requests(&self, part: &str) -> Vec<RecordedRequest> {
        self.upstreams
            .dealcloud
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(part))
            .collect()
    }

    /// Requests the Rocket.Chat fake received whose path starts with `prefix`.
    pub fn rocketchat_requests(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.upstreams
            .rocketchat
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Requests the Truto fake received whose path starts with `prefix`.
    pub fn truto_requests(&self, prefix: &str) -> Vec<RecordedRequest> {
        self.upstreams
            .truto
            .control
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
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

/// One query parameter of a recorded request.
pub fn query_param(request: &RecordedRequest, name: &str) -> Option<String> {
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

/// `history` subjects for Celigo integrations.
pub fn celigo_subjects(ids: &[String]) -> Value {
    ids.iter()
        .map(|id| json!({ "integration": { "source": "CELIGO", "sourceId": id } }))
        .collect()
}

/// Make a new audit entry of Celigo integration `target` appear upstream, now, with `id`
/// (subscription and change-feed tests wait for it).
pub fn insert_fresh_audit(gw: &Gateway, target: &str, id: &str) {
    let mut data = gw.upstreams.celigo_fake.data();
    let mut fresh = data.audit_of_integration(target)[0].clone();
    fresh["_id"] = json!(id);
    fresh["time"] = json!(chronograph::domain::datetime::format_utc_ms(
        chrono::Utc::now()
    ));
    data.audit.insert(0, fresh);
}

/// The queries in `examples/`, in name order.
pub fn example_files() -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .collect();
    files.sort();
    files
}
