//! Declared sources (`kind = "http"`): the GitHub demo source, and Rocket.Chat's and Celigo's
//! own histories declared against their fakes, which must page exactly like the built-in
//! adapters (entries, order, both directions, inserts at the head, calls per page).

use crate::common::*;
use chronograph::config::Config;
use chronograph::sources::declared::settings::HttpSourceConfig;
use serde_json::{json, Value};

/// The one declared source of a TOML text.
fn declaration(text: &str) -> HttpSourceConfig {
    let config = Config::from_toml_str(text).unwrap_or_else(|err| panic!("{err:?}"));
    config
        .sources
        .declared
        .into_values()
        .next()
        .expect("one declared source")
}

/// Rocket.Chat's outgoing-webhook executions, declared.
fn rocketchat_declared(base: &str, user_id: &str, token: &str) -> HttpSourceConfig {
    declaration(&format!(
        r#"
[sources.rc_declared]
kind = "http"
base_url = "{base}"
[sources.rc_declared.auth]
type = "header"
headers = {{ "X-Auth-Token" = "{token}", "X-User-Id" = "{user_id}" }}
[sources.rc_declared.integrations]
path = "/api/v1/integrations.list"
items = "/integrations"
paging = {{ style = "offset", offset_param = "offset", limit_param = "count", total = "/total" }}
[sources.rc_declared.integrations.fields]
id = "/_id"
name = "/name"
enabled = "/enabled"
created_at = "/_createdAt"
updated_at = "/_updatedAt"
[sources.rc_declared.history]
path = "/api/v1/integrations.history"
query = {{ id = "{{sourceId}}", sort = '{{"_updatedAt":-1}}' }}
reverse_query = {{ id = "{{sourceId}}", sort = '{{"_updatedAt":1}}' }}
items = "/history"
order = "desc"
paging = {{ style = "offset", offset_param = "offset", limit_param = "count", total = "/total" }}
[sources.rc_declared.history.fields]
id = "/_id"
occurred_at = "/_createdAt"
updated_at = "/_updatedAt"
kind = {{ const = "WEBHOOK_EXECUTION" }}
status = {{ template = "{{/error}}-{{/finished}}", values = {{ "true-true" = "ERROR", "true-false" = "ERROR", "true-" = "ERROR", "false-true" = "OK", "-true" = "OK" }}, default = "RUNNING" }}
actor_id = "/data/user_id"
actor_name = "/data/user_name"
"#
    ))
}

/// Celigo's integration audit log, declared.
fn celigo_declared(base: &str, token: &str) -> HttpSourceConfig {
    declaration(&format!(
        r#"
[sources.celigo_declared]
kind = "http"
base_url = "{base}"
auth = {{ type = "bearer", token = "{token}" }}
[sources.celigo_declared.integrations]
path = "/v1/integrations"
paging = {{ style = "link" }}
fields = {{ id = "/_id", name = "/name", created_at = "/createdAt", updated_at = "/lastModified" }}
[sources.celigo_declared.history]
path = "/v1/integrations/{{sourceId}}/audit"
order = "desc"
paging = {{ style = "link" }}
since_param = "from"
until_param = "to"
[sources.celigo_declared.history.fields]
id = "/_id"
occurred_at = "/time"
kind = {{ const = "AUDIT" }}
actor_id = "/byUser/_id"
actor_name = "/byUser/name"
"#
    ))
}

const TIMELINE: &str = "query($subjects: [HistorySubject!]!, $first: Int, $after: String, $last: Int, $before: String) {
  history(subjects: $subjects, first: $first, after: $after, last: $last, before: $before) {
    edges { node { sourceId at kind status observedAt actor { sourceId name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn subject(source: &str, id: &str) -> Value {
    json!([{ "integration": { "source": source, "sourceId": id } }])
}

/// What two adapters of one vendor must agree on, entry by entry.
fn comparable(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|page| items(&history(page)["edges"]).to_vec())
        .map(|edge| {
            let node = &edge["node"];
            json!([
                node["sourceId"],
                node["at"],
                node["kind"],
                node["status"],
                node["actor"]
            ])
        })
        .collect()
}

async fn walk_both(gw: &Gateway, subjects: &Value, size: usize) -> (Vec<Value>, Vec<Value>) {
    let forward = gw
        .walk(
            TIMELINE,
            json!({ "subjects": subjects, "first": size }),
            history,
            Direction::Forward,
        )
        .await;
    let backward = gw
        .walk(
            TIMELINE,
            json!({ "subjects": subjects, "last": size }),
            history,
            Direction::Backward,
        )
        .await;
    (comparable(&forward), comparable(&backward))
}

/// A gateway over the demo fakes, with Rocket.Chat and Celigo also declared.
async fn with_declared() -> (Gateway, Gateway) {
    let gw = Gateway::start().await;
    let rc = rocketchat_declared(
        &gw.upstreams.rocketchat.base_url,
        &gw.upstreams.rocketchat_fake.config().user_id,
        &gw.upstreams.rocketchat_fake.config().auth_token,
    );
    let celigo = celigo_declared(&gw.upstreams.celigo.base_url, &gw.upstreams.celigo_token);
    let declared = gw
        .replica(move |config| {
            config.sources.declared.insert("rc_declared".into(), rc);
            config
                .sources
                .declared
                .insert("celigo_declared".into(), celigo);
        })
        .await;
    (gw, declared)
}

fn history_calls(gw: &Gateway) -> Vec<RecordedRequestView> {
    gw.rocketchat_requests("/api/v1/integrations.history")
        .into_iter()
        .map(|r| RecordedRequestView {
            count: query_param(&r, "count"),
            offset: query_param(&r, "offset"),
            sort: query_param(&r, "sort"),
        })
        .collect()
}

#[derive(Debug, PartialEq)]
struct RecordedRequestView {
    count: Option<String>,
    offset: Option<String>,
    sort: Option<String>,
}

#[tokio::test]
async fn rocketchat_declared_pages_like_the_built_in_adapter() {
    let (gw, declared) = with_declared().await;
    let id = gw.upstreams.rocketchat_fake.data().outgoing_ids()[0].clone();
    let (forward, backward) = walk_both(&declared, &subject("ROCKETCHAT", &id), 7).await;
    assert!(forward.len() > 40, "a long history: {}", forward.len());
    assert_eq!(forward, backward, "the built-in adapter both ways");
    let (declared_forward, declared_backward) =
        walk_both(&declared, &subject("RC_DECLARED", &id), 7).await;
    assert_eq!(declared_forward, forward, "declared, forward");
    assert_eq!(declared_backward, forward, "declared, backward");

    // A first page of N is one call for N + 1 records, with the declared parameters.
    gw.reset_all_calls();
    let page = declared
        .query(
            TIMELINE,
            json!({ "subjects": subject("RC_DECLARED", &id), "first": 10 }),
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let calls = gw.rocketchat_requests("/api/v1/integrations.history");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        history_calls(&gw),
        vec![RecordedRequestView {
            count: Some("11".into()),
            offset: Some("0".into()),
            sort: Some(r#"{"_updatedAt":-1}"#.into()),
        }]
    );
    assert_eq!(query_param(&calls[0], "id").as_deref(), Some(id.as_str()));
    assert_eq!(
        calls[0].header("x-auth-token"),
        Some(gw.upstreams.rocketchat_fake.config().auth_token.as_str())
    );
    // The last page reads oldest first with the reverse query.
    gw.reset_all_calls();
    let last = declared
        .query(
            TIMELINE,
            json!({ "subjects": subject("RC_DECLARED", &id), "last": 5 }),
        )
        .await;
    assert!(last["errors"].is_null(), "{last}");
    let calls = history_calls(&gw);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].sort.as_deref(), Some(r#"{"_updatedAt":1}"#));
    assert_eq!(calls[0].count.as_deref(), Some("6"));
}

#[tokio::test]
async fn rocketchat_declared_survives_inserts_at_the_head_like_the_built_in_adapter() {
    let (gw, declared) = with_declared().await;
    let id = gw.upstreams.rocketchat_fake.data().outgoing_ids()[0].clone();
    let mut pages = Vec::new();
    for source in ["ROCKETCHAT", "RC_DECLARED"] {
        let first = declared
            .query(
                TIMELINE,
                json!({ "subjects": subject(source, &id), "first": 10 }),
            )
            .await;
        pages.push((source, first));
    }
    {
        let mut data = gw.upstreams.rocketchat_fake.data();
        let now = chrono::Utc::now();
        for n in 0..3 {
            let fresh = data.new_execution(&id, &format!("HeadInsert0000{n}"), now);
            data.history.push(fresh);
        }
    }
    let mut seconds = Vec::new();
    for (source, first) in &pages {
        let after = history(first)["pageInfo"]["endCursor"].clone();
        let second = declared
            .query(
                TIMELINE,
                json!({ "subjects": subject(source, &id), "first": 10, "after": after }),
            )
            .await;
        assert!(second["errors"].is_null(), "{second}");
        seconds.push(comparable(&[second]));
    }
    assert_eq!(
        comparable(&[pages[0].1.clone()]),
        comparable(&[pages[1].1.clone()])
    );
    assert_eq!(seconds[0], seconds[1], "page 2 after inserts at the head");
    assert!(
        !format!("{:?}", seconds[1]).contains("HeadInsert"),
        "no insert shows up on page 2"
    );
}

#[tokio::test]
async fn celigo_audit_declared_pages_like_the_built_in_adapter() {
    let (gw, declared) = with_declared().await;
    let ids = gw.celigo_integration_ids();
    let id = ids
        .iter()
        .find(|id| gw.celigo_audit(id).len() >= 12)
        .expect("an integration with a long audit log")
        .clone();
    let (forward, backward) = walk_both(&declared, &subject("CELIGO", &id), 5).await;
    assert_eq!(forward, backward);
    let (declared_forward, declared_backward) =
        walk_both(&declared, &subject("CELIGO_DECLARED", &id), 5).await;
    assert_eq!(declared_forward, forward, "declared, forward");
    assert_eq!(declared_backward, forward, "declared, backward");
    // Inserts at the head while paging.
    let first = declared
        .query(
            TIMELINE,
            json!({ "subjects": subject("CELIGO_DECLARED", &id), "first": 4 }),
        )
        .await;
    insert_fresh_audit(&gw, &id, "000000000000000000fresh01");
    let after = history(&first)["pageInfo"]["endCursor"].clone();
    let second = declared
        .query(
            TIMELINE,
            json!({ "subjects": subject("CELIGO_DECLARED", &id), "first": 4, "after": after }),
        )
        .await;
    assert_eq!(comparable(&[second]), forward[4..8].to_vec());
}

#[tokio::test]
async fn declared_sources_merge_with_built_in_ones_under_one_cursor() {
    let (gw, declared) = with_declared().await;
    let rc = gw.upstreams.rocketchat_fake.data().outgoing_ids()[1].clone();
    let hook = gw.upstreams.github_fake.hook_ids()[0];
    let subjects = json!([
        { "integration": { "source": "ROCKETCHAT", "sourceId": rc } },
        { "integration": { "source": "GITHUB_DELIVERIES", "sourceId": hook.to_string() } },
        { "integration": { "source": "RC_DECLARED", "sourceId": rc } },
    ]);
    let (forward, backward) = walk_both(&declared, &subjects, 9).await;
    assert_eq!(forward, backward);
    let deliveries = gw.upstreams.github_fake.deliveries(hook).len();
    let executions = gw.upstreams.rocketchat_fake.data().history_of(&rc).len();
    assert_eq!(forward.len(), deliveries + 2 * executions);
    // Every Rocket.Chat entry appears twice (built-in, declared), next to each other: same
    // time, and the built-in source sorts first.
    let sources: Vec<String> = forward
        .iter()
        .map(|e| e[0].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(sources.windows(2).any(|w| w[0] == w[1]));
}

#[tokio::test]
async fn the_github_demo_source_lists_hooks_and_pages_deliveries_by_cursor() {
    let gw = Gateway::start().await;
    let token = gw.upstreams.github_fake.config().token.clone();
    let hooks = gw.upstreams.github_fake.hook_ids();
    let response = gw
        .query(
            "{ integrations(source: GITHUB_DELIVERIES) { nodes { id sourceId name enabled source } totalCount } }",
            json!({}),
        )
        .await;
    let nodes = all_integrations(&response, hooks.len());
    assert_eq!(
        pluck(nodes, "sourceId"),
        hooks.iter().map(u64::to_string).collect::<Vec<_>>()
    );
    assert_eq!(nodes[0]["source"], "GITHUB_DELIVERIES");
    assert_eq!(nodes[3]["enabled"], false);
    // node(id) finds a declared integration again (by its item path).
    let again = gw
        .query(
            "query($id: ID!) { node(id: $id) { ... on Integration { sourceId name } } }",
            json!({ "id": nodes[1]["id"] }),
        )
        .await;
    assert_eq!(
        again["data"]["node"]["sourceId"], nodes[1]["sourceId"],
        "{again}"
    );

    let hook = hooks[0];
    let expected: Vec<String> = gw
        .upstreams
        .github_fake
        .deliveries(hook)
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    gw.upstreams.github.control.clear_requests();
    let query = "query($id: String!, $first: Int, $after: String, $last: Int, $before: String) {
      integration(source: GITHUB_DELIVERIES, sourceId: $id) {
        history(first: $first, after: $after, last: $last, before: $before) {
          edges { node { id sourceId observedAt status summary } }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";
    let first = gw
        .query(query, json!({ "id": hook.to_string(), "first": 8 }))
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let requests: Vec<_> = gw
        .upstreams
        .github
        .control
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/deliveries"))
        .collect();
    assert_eq!(requests.len(), 1, "a first page of 8 is one call");
    assert_eq!(query_param(&requests[0], "per_page").as_deref(), Some("9"));
    assert_eq!(query_param(&requests[0], "cursor"), None);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    gw.assert_walks_both_ways(
        query,
        json!({ "id": hook.to_string() }),
        integration_history,
        8,
        &expected,
    )
    .await;
    // The entry's own id finds it again.
    let entry_id = integration_history(&first)["edges"][2]["node"]["id"].clone();
    let entry = gw
        .query(
            "query($id: ID!) { node(id: $id) { ... on HistoryEntry { sourceId summary } } }",
            json!({ "id": entry_id }),
        )
        .await;
    assert_eq!(
        entry["data"]["node"]["sourceId"],
        expected[2].as_str(),
        "{entry}"
    );
}

#[tokio::test]
async fn github_deliveries_survive_inserts_at_the_head() {
    let gw = Gateway::start().await;
    let hook = gw.upstreams.github_fake.hook_ids()[1];
    let expected: Vec<String> = gw
        .upstreams
        .github_fake
        .deliveries(hook)
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    let query = "query($subjects: [HistorySubject!]!, $first: Int, $after: String) {
      history(subjects: $subjects, first: $first, after: $after) {
        nodes { sourceId } pageInfo { hasNextPage endCursor } } }";
    let subjects = subject("GITHUB_DELIVERIES", &hook.to_string());
    let first = gw
        .query(query, json!({ "subjects": subjects, "first": 6 }))
        .await;
    assert_eq!(history_ids(&first), expected[..6].to_vec());
    for _ in 0..4 {
        gw.upstreams.github_fake.deliver(hook, chrono::Utc::now());
    }
    let rest = gw
        .ids_from(
            query,
            json!({ "subjects": subjects, "first": 6 }),
            &first,
            history,
        )
        .await;
    assert_eq!(rest, expected, "no duplicate, no gap");
}

#[tokio::test]
async fn upstream_errors_and_items_outside_the_declaration_are_errors_with_the_source() {
    let gw = Gateway::start().await;
    let hook = gw.upstreams.github_fake.hook_ids()[0].to_string();
    // per_page over 100: GitHub's 422 with its message.
    let big = gw
        .replica(|config| {
            if let Some(declared) = config.sources.declared.get_mut("github_deliveries") {
                if let Some(history) = declared.history.as_mut() {
                    history.page_size = Some(150);
                }
            }
        })
        .await;
    let response = big
        .query(
            TIMELINE,
            json!({ "subjects": subject("GITHUB_DELIVERIES", &hook), "first": 100 }),
        )
        .await;
    let errors = items(&response["errors"]);
    assert_eq!(errors.len(), 1, "{response}");
    assert_eq!(
        errors[0]["extensions"]["source"], "GITHUB_DELIVERIES",
        "{response}"
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("per_page"),
        "{response}"
    );

    // Rocket.Chat declared, with one execution whose time is not a datetime: that entry is an
    // UPSTREAM_BAD_RESPONSE error naming the source and the entry, the others still come.
    let (rc_gw, declared) = with_declared().await;
    let id = rc_gw.upstreams.rocketchat_fake.data().outgoing_ids()[0].clone();
    let broken = {
        let mut data = rc_gw.upstreams.rocketchat_fake.data();
        let history = data.history_of(&id);
        let broken = history[1]["_id"].as_str().expect("id").to_string();
        let record = data
            .history
            .iter_mut()
            .find(|r| r["_id"] == broken.as_str())
            .expect("record");
        record["_createdAt"] = json!("yesterday-ish");
        broken
    };
    let response = declared
        .query(
            TIMELINE,
            json!({ "subjects": subject("RC_DECLARED", &id), "first": 5 }),
        )
        .await;
    assert_source_error(&response, "RC_DECLARED", "UPSTREAM_BAD_RESPONSE");
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(&broken), "{message}");
    let ids = history_ids(&response);
    assert_eq!(ids.len(), 5, "the rest of the page stands: {response}");
    assert!(!ids.contains(&broken));
}

#[test]
fn check_config_and_schema_know_declared_sources() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/github-deliveries.toml"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(["check-config", "--config", example])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "sources.github_deliveries = https://api.github.com (declared: GITHUB_DELIVERIES"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("ghp_"), "no secret in the summary");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(["schema", "--config", example])
        .output()
        .expect("runs");
    let sdl = String::from_utf8_lossy(&out.stdout);
    assert!(sdl.contains("\tGITHUB_DELIVERIES\n"), "{sdl}");
    let plain = chronograph::schema::sdl();
    assert!(
        !plain.contains("GITHUB_DELIVERIES"),
        "the exported SDL stays built-in"
    );
}

/// A small history API of the shape many vendors have, for the paging styles the demo vendors
/// do not use: streams of events listed oldest first, paged by `offset`/`limit`,
/// `page`/`per_page` or `from`/`to` windows (a total in `meta.total`), times in epoch
/// milliseconds, and OAuth2 client credentials whose tokens can be revoked.
mod ledger {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::Response;
    use axum::Router;
    use chronograph::demo::fake::{json_response, query_params, spawn, FakeControl, RunningFake};
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};

    pub const CLIENT_ID: &str = "ledger-client";
    pub const CLIENT_SECRET: &str = "ledger-secret-0123456789";
    pub const STREAMS: [&str; 3] = ["alpha", "beta", "gamma"];

    /// One stream's events, oldest first: (id, epoch ms).
    pub type Stream = (String, Vec<(String, i64)>);

    #[derive(Default)]
    pub struct Ledger {
        pub tokens: Mutex<Vec<String>>,
        pub issued: Mutex<usize>,
        /// Events of each stream, oldest first: (id, epoch ms).
        pub events: Mutex<Vec<Stream>>,
    }

    impl Ledger {
        /// Every event of `stream`, newest first (timeline order).
        pub fn newest_first(&self, stream: &str) -> Vec<String> {
            let events = self.events.lock().expect("lock");
            let mut ids: Vec<(i64, String)> = events
                .iter()
                .find(|(s, _)| s == stream)
                .map(|(_, list)| list.iter().map(|(id, at)| (*at, id.clone())).collect())
                .unwrap_or_default();
            ids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            ids.into_iter().map(|(_, id)| id).collect()
        }
    }

    pub async fn start() -> (RunningFake, Arc<Ledger>) {
        let ledger = Arc::new(Ledger::default());
        {
            let base = 1_764_000_000_000i64;
            let mut events = ledger.events.lock().expect("lock");
            for (n, stream) in STREAMS.iter().enumerate() {
                let count = 23 + 11 * n;
                // Oldest first, some sharing a millisecond (ties across page cuts).
                let list = (0..count)
                    .map(|i| {
                        let at = base + (i as i64 / 3) * 60_000 + (n as i64) * 7;
                        (format!("{stream}-{i:03}"), at)
                    })
                    .collect();
                events.push((stream.to_string(), list));
            }
        }
        let router = Router::new().fallback(handle).with_state(ledger.clone());
        let fake = spawn(router, FakeControl::new())
            .await
            .expect("fake starts");
        (fake, ledger)
    }

    fn error(status: StatusCode, code: &str) -> Response {
        json_response(status, &[], json!({ "error": code }).to_string())
    }

    async fn handle(
        State(ledger): State<Arc<Ledger>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri.path().to_string();
        if method == Method::POST && path == "/oauth/token" {
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            if field("grant_type") != Some("client_credentials")
                || field("client_id") != Some(CLIENT_ID)
                || field("client_secret") != Some(CLIENT_SECRET)
                || field("scope") != Some("events:read")
            {
                return error(StatusCode::UNAUTHORIZED, "invalid_client");
            }
            let mut issued = ledger.issued.lock().expect("lock");
            *issued += 1;
            let token = format!("ledger-token-{issued}");
            ledger.tokens.lock().expect("lock").push(token.clone());
            let answer =
                json!({ "access_token": token, "token_type": "bearer", "expires_in": 3600 });
            return json_response(StatusCode::OK, &[], answer.to_string());
        }
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let valid = bearer.is_some_and(|t| ledger.tokens.lock().expect("lock").contains(&t));
        if !valid {
            return error(StatusCode::UNAUTHORIZED, "invalid_token");
        }
        let query = query_params(uri.query());
        let get = |name: &str| -> Option<usize> {
            query
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
        };
        let window = |total: usize| -> (usize, usize) {
            if let (Some(offset), Some(limit)) = (get("offset"), get("limit")) {
                (offset, offset + limit)
            } else if let (Some(page), Some(size)) = (get("page"), get("per_page")) {
                let start = page.saturating_sub(1) * size;
                (start, start + size)
            } else if let (Some(from), Some(to)) = (get("from"), get("to")) {
                (from, to)
            } else {
                (0, total)
            }
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let answer = |items: Vec<Value>| {
            let total = items.len();
            let (start, end) = window(total);
            let page: Vec<Value> = items
                .into_iter()
                .skip(start)
                .take(end.saturating_sub(start))
                .collect();
            json_response(
                StatusCode::OK,
                &[],
                json!({ "data": page, "meta": { "total": total } }).to_string(),
            )
        };
        if query.iter().any(|(k, v)| k == "evil" && v == "1") {
            // A hostile upstream pointing the next page at another host.
            let link = "<http://169.254.169.254/latest/meta-data>; rel=\"next\"".to_string();
            return json_response(
                StatusCode::OK,
                &[("link".to_string(), link)],
                json!({ "data": [{ "key": "alpha", "title": "A" }] }).to_string(),
            );
        }
        match segments.as_slice() {
            ["api", "streams"] => answer(
                STREAMS
                    .iter()
                    .enumerate()
                    .map(|(n, s)| json!({ "key": s, "title": format!("Stream {s}"), "on": if n == 2 { "no" } else { "yes" }, "created": 1_700_000_000 + n }))
                    .collect(),
            ),
            ["api", "streams", stream, "events"] => {
                let events = ledger.events.lock().expect("lock");
                let Some((_, list)) = events.iter().find(|(s, _)| s == stream) else {
                    return error(StatusCode::NOT_FOUND, "no_such_stream");
                };
                answer(
                    list.iter()
                        .map(|(id, at)| json!({ "eid": id, "ts": at, "type": "change", "who": { "id": "u-7", "name": "Ann Ledger" }, "ok": !id.ends_with('7') }))
                        .collect(),
                )
            }
            _ => error(StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

/// A declaration of the ledger with one paging style for both lists.
fn ledger_declared(name: &str, base: &str, paging: &str) -> HttpSourceConfig {
    declaration(&format!(
        r#"
[sources.{name}]
kind = "http"
base_url = "{base}"
[sources.{name}.auth]
type = "oauth2"
token_url = "{base}/oauth/token"
client_id = "{id}"
client_secret = "{secret}"
scope = "events:read"
[sources.{name}.integrations]
path = "/api/streams"
items = "/data"
page_size = 2
paging = {paging}
fields = {{ id = "/key", name = "/title", enabled = {{ pointer = "/on", values = {{ yes = "true", no = "false" }} }}, created_at = {{ pointer = "/created", format = "epoch_s" }} }}
[sources.{name}.history]
path = "/api/streams/{{sourceId}}/events"
items = "/data"
order = "asc"
page_size = 10
paging = {paging}
[sources.{name}.history.fields]
id = "/eid"
occurred_at = {{ pointer = "/ts", format = "epoch_ms" }}
kind = {{ pointer = "/type", values = {{ change = "RECORD_CHANGED" }} }}
status = {{ pointer = "/ok", values = {{ "true" = "OK", "false" = "ERROR" }} }}
actor_id = "/who/id"
actor_name = "/who/name"
summary = {{ template = "{{/type}} by {{/who/name}}" }}
"#,
        id = ledger::CLIENT_ID,
        secret = ledger::CLIENT_SECRET,
    ))
}

#[tokio::test]
async fn every_paging_style_pages_both_ways_over_an_oldest_first_api() {
    let (fake, ledger) = ledger::start().await;
    let styles = [
        (
            "ledger_offset",
            r#"{ style = "offset", total = "/meta/total" }"#,
        ),
        (
            "ledger_page",
            r#"{ style = "page", page_param = "page", size_param = "per_page", total = "/meta/total" }"#,
        ),
        (
            "ledger_index",
            r#"{ style = "index", from_param = "from", to_param = "to", total = "/meta/total" }"#,
        ),
        ("ledger_short", r#"{ style = "offset" }"#),
        ("ledger_none", r#"{ style = "none" }"#),
    ];
    let declared: Vec<(String, HttpSourceConfig)> = styles
        .iter()
        .map(|(name, paging)| {
            (
                name.to_string(),
                ledger_declared(name, &fake.base_url, paging),
            )
        })
        .collect();
    let gw = Gateway::start_options(Default::default(), move |config| {
        config.sources = Default::default();
        config.sources.declared.extend(declared);
    })
    .await;
    for (name, _) in styles {
        let source = name.to_ascii_uppercase();
        let listed = gw
            .query(
                &format!("{{ integrations(source: {source}) {{ nodes {{ sourceId name enabled createdAt }} totalCount }} }}"),
                json!({}),
            )
            .await;
        let nodes = all_integrations(&listed, 3);
        assert_eq!(pluck(nodes, "sourceId"), ledger::STREAMS.to_vec(), "{name}");
        assert_eq!(nodes[2]["enabled"], false, "{name}");
        assert_eq!(nodes[0]["createdAt"], "2023-11-14T22:13:20.000Z", "{name}");
        for stream in ledger::STREAMS {
            let expected = ledger.newest_first(stream);
            let (forward, backward) = walk_both(&gw, &subject(&source, stream), 4).await;
            let ids = |entries: &[Value]| -> Vec<String> {
                entries
                    .iter()
                    .map(|e| e[0].as_str().unwrap_or_default().to_string())
                    .collect()
            };
            assert_eq!(ids(&forward), expected, "{name} {stream} forward");
            assert_eq!(ids(&backward), expected, "{name} {stream} backward");
            assert_eq!(forward[0][2], "RECORD_CHANGED");
            assert_eq!(forward[0][4]["name"], "Ann Ledger");
        }
    }
    // Positional paging with a total reads an oldest-first list from its far end: a first
    // page of 4 is the total's call and the last window, not the whole list.
    fake.control.clear_requests();
    let page = gw
        .query(
            TIMELINE,
            json!({ "subjects": subject("LEDGER_OFFSET", "gamma"), "first": 4 }),
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    let calls: Vec<(Option<String>, Option<String>)> = fake
        .control
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .map(|r| (query_param(r, "offset"), query_param(r, "limit")))
        .collect();
    assert_eq!(
        calls,
        vec![
            (Some("0".into()), Some("10".into())),
            (Some("35".into()), Some("10".into())),
        ],
        "gamma has 45 events"
    );
    // One token per declared source for all of it.
    assert_eq!(*ledger.issued.lock().expect("lock"), styles.len());
}

#[tokio::test]
async fn oauth2_tokens_are_obtained_once_and_replaced_once_when_refused() {
    let (fake, ledger) = ledger::start().await;
    let declared = ledger_declared(
        "ledger",
        &fake.base_url,
        r#"{ style = "offset", total = "/meta/total" }"#,
    );
    let gw = Gateway::start_options(Default::default(), move |config| {
        config.sources = Default::default();
        config.sources.declared.insert("ledger".into(), declared);
    })
    .await;
    let query = r#"{ history(subjects: [{ integration: { source: LEDGER, sourceId: "alpha" } }], first: 3) { nodes { sourceId } } }"#;
    for _ in 0..3 {
        let answer = gw.query(query, json!({})).await;
        assert!(answer["errors"].is_null(), "{answer}");
    }
    assert_eq!(*ledger.issued.lock().expect("lock"), 1, "one token");
    let token_calls = fake
        .control
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token")
        .count();
    assert_eq!(token_calls, 1);
    // The vendor revokes it: the next call is refused once, a new token is obtained, and the
    // call is repeated with it.
    ledger.tokens.lock().expect("lock").clear();
    let answer = gw.query(query, json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert_eq!(*ledger.issued.lock().expect("lock"), 2, "replaced once");
    // Wrong client credentials: an error with the source, no secret in it.
    let mut wrong = ledger_declared("ledger", &fake.base_url, r#"{ style = "none" }"#);
    if let Some(auth) = wrong.auth.as_mut() {
        auth.client_secret = Some("not-the-secret-at-all".to_string().into());
    }
    let bad = Gateway::start_options(Default::default(), move |config| {
        config.sources = Default::default();
        config.sources.declared.insert("ledger".into(), wrong);
    })
    .await;
    let answer = bad.query(query, json!({})).await;
    let errors = items(&answer["errors"]);
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["source"], "LEDGER");
    assert!(!answer.to_string().contains("not-the-secret-at-all"));
}

#[tokio::test]
async fn changes_metrics_and_readiness_cover_declared_sources() {
    let (gw, declared) = with_declared().await;
    let hook = gw.upstreams.github_fake.hook_ids()[0].to_string();
    let changes = "query($subjects: [HistorySubject!]!, $since: String) {
      changes(subjects: $subjects, since: $since) { entries { source sourceId } nextSince complete } }";
    let subjects = subject("GITHUB_DELIVERIES", &hook);
    let first = declared
        .query(changes, json!({ "subjects": subjects }))
        .await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(first["data"]["changes"]["complete"], true);
    let since = first["data"]["changes"]["nextSince"].clone();
    let fresh = gw
        .upstreams
        .github_fake
        .deliver(hook.parse().expect("numeric"), chrono::Utc::now())
        .expect("delivered");
    let later = declared
        .query(changes, json!({ "subjects": subjects, "since": since }))
        .await;
    assert_eq!(
        later["data"]["changes"]["entries"],
        json!([{ "source": "GITHUB_DELIVERIES", "sourceId": fresh.to_string() }]),
        "{later}"
    );

    // A declared `since_param` asks the upstream for the window instead of walking it.
    let id = gw.celigo_integration_ids()[0].clone();
    gw.reset_calls();
    let answer = declared
        .query(
            changes,
            json!({ "subjects": subject("CELIGO_DECLARED", &id) }),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let audit: Vec<_> = gw
        .upstreams
        .celigo
        .control
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/audit"))
        .collect();
    assert!(!audit.is_empty());
    assert!(
        audit.iter().all(|r| query_param(r, "from").is_some()),
        "{audit:?}"
    );

    let metrics = declared.metrics().await;
    assert!(
        metrics.contains("source=\"GITHUB_DELIVERIES\""),
        "declared sources are in /metrics"
    );
    let ready = declared.get("/readyz").await.text().await.expect("text");
    assert!(ready.contains("RC_DECLARED"), "{ready}");
}

#[tokio::test]
async fn a_link_to_another_origin_is_never_followed() {
    let (fake, _ledger) = ledger::start().await;
    let mut evil = ledger_declared("ledger", &fake.base_url, r#"{ style = "link" }"#);
    if let Some(list) = evil.integrations.as_mut() {
        list.query.insert("evil".into(), "1".into());
    }
    let gw = Gateway::start_options(Default::default(), move |config| {
        config.sources = Default::default();
        config.sources.declared.insert("ledger".into(), evil);
    })
    .await;
    let answer = gw
        .query(
            "{ integrations(source: LEDGER) { nodes { sourceId } } }",
            json!({}),
        )
        .await;
    assert_source_error(&answer, "LEDGER", "UPSTREAM_BAD_RESPONSE");
    assert!(answer.to_string().contains("another origin"), "{answer}");
}

#[test]
fn the_bench_declaration_loads_without_problems() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/declared/ours_declared.toml"
    );
    let loaded = Config::load(std::path::Path::new(path)).unwrap_or_else(|err| panic!("{err:?}"));
    assert_eq!(loaded.config.sources.declared.len(), 1);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[tokio::test]
async fn callers_own_credentials_go_upstream_for_declared_sources() {
    let gw = Gateway::start().await;
    let hook = gw.upstreams.github_fake.hook_ids()[0].to_string();
    gw.upstreams.github.control.clear_requests();
    let (_, answer) = gw
        .query_with(
            TIMELINE,
            json!({ "subjects": subject("GITHUB_DELIVERIES", &hook), "first": 2 }),
            &[("X-GitHub-Token", "ghp_someoneElsesToken")],
        )
        .await;
    // GitHub refuses the caller's token: that caller's problem, named for the source.
    assert_source_error(&answer, "GITHUB_DELIVERIES", "UPSTREAM_UNAUTHORIZED");
    assert!(!answer.to_string().contains("ghp_someoneElsesToken"));
    let sent: Vec<Option<String>> = gw
        .upstreams
        .github
        .control
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(sent, vec![Some("Bearer ghp_someoneElsesToken".to_string())]);
}

#[tokio::test]
async fn a_cursor_in_the_body_pages_like_the_built_in_truto_adapter() {
    let gw = Gateway::start().await;
    let truto = declaration(&format!(
        r#"
[sources.truto_declared]
kind = "http"
base_url = "{base}"
auth = {{ type = "bearer", token = "{token}" }}
[sources.truto_declared.integrations]
path = "/integration"
items = "/result"
page_size = 5
paging = {{ style = "cursor", cursor_param = "next_cursor", next = "/next_cursor", size_param = "limit" }}
fields = {{ id = "/id", name = "/name", created_at = "/created_at", updated_at = "/updated_at" }}
[sources.truto_declared.history]
path = "/integration/{{sourceId}}/history"
order = "desc"
fields = {{ id = "/id", at = "/at" }}
"#,
        base = gw.upstreams.truto.base_url,
        token = gw.upstreams.truto_fake.config().token,
    ));
    let declared = gw
        .replica(move |config| {
            config
                .sources
                .declared
                .insert("truto_declared".into(), truto);
        })
        .await;
    let expected = pluck(&gw.upstreams.truto_fake.data().integrations, "id");
    gw.upstreams.truto.control.clear_requests();
    let answer = declared
        .query(
            "{ integrations(source: TRUTO_DECLARED, first: 100) { nodes { sourceId name } totalCount } }",
            json!({}),
        )
        .await;
    let nodes = all_integrations(&answer, expected.len());
    assert_eq!(pluck(nodes, "sourceId"), expected);
    let cursors: Vec<Option<String>> = gw
        .truto_requests("/integration")
        .iter()
        .map(|r| query_param(r, "next_cursor"))
        .collect();
    assert_eq!(cursors.len(), expected.len().div_ceil(5), "{cursors:?}");
    assert_eq!(cursors[0], None);
    assert!(cursors[1..].iter().all(Option::is_some), "{cursors:?}");
}

#[tokio::test]
async fn raw_is_the_item_as_received_and_redacted() {
    let (gw, declared) = with_declared().await;
    let id = gw.upstreams.rocketchat_fake.data().outgoing_ids()[0].clone();
    let expected = gw.upstreams.rocketchat_fake.data().history_of(&id)[0].clone();
    let answer = declared
        .query(
            "query($s: [HistorySubject!]!) { history(subjects: $s, first: 1) { nodes { sourceId raw } } }",
            json!({ "s": subject("RC_DECLARED", &id) }),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let raw = &history(&answer)["nodes"][0]["raw"];
    assert_eq!(raw["_id"], expected["_id"]);
    assert_eq!(raw["_updatedAt"], expected["_updatedAt"]);
    let integrations = declared
        .query(
            "{ integrations(source: RC_DECLARED, first: 1) { nodes { raw } } }",
            json!({}),
        )
        .await;
    let raw = &integrations["data"]["integrations"]["nodes"][0]["raw"];
    assert!(raw["_id"].is_string(), "{integrations}");
    if raw.get("token").is_some() {
        assert_eq!(raw["token"], "[redacted]");
    }
}
