//! A faithful Rocket.Chat fake (upstreams/rocketchat.md): `integrations.list`, `.get` and
//! `.history` under `/api/v1`, both auth headers, the server's order of checks (auth → rate
//! limit → parameters → permission → handler), `count` defaults and clamping, `sort` and
//! `query` (EJSON, nested operators) parsing, the "own integrations" permission, the per-route
//! rate limiter with its `X-RateLimit-*` headers, and the error bodies of the contract's
//! examples. Data is generated deterministically from a seed.

use super::fake::{iso_ms, json_response, Rng};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde::de::{MapAccess, Visitor};
use serde::Deserializer;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const ERROR_401: &str = r#"{"success":false,"error":"You must be logged in to do this.","status":"error","message":"You must be logged in to do this."}"#;
const ERROR_401_LEGACY: &str =
    r#"{"status":"error","message":"You must be logged in to do this."}"#;
const ERROR_403: &str = r#"{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}"#;
const ERROR_404_ROUTE: &str = r#"{"status":"error","message":"API endpoint not found"}"#;
const ERROR_UNKNOWN_INTEGRATION: &str =
    r#"{"success":false,"error":"The integration does not exists."}"#;
/// `API_Default_Count`.
const DEFAULT_COUNT: usize = 50;
/// `API_Upper_Count_Limit`.
const UPPER_COUNT: usize = 100;

/// What the calling user may manage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// `manage-outgoing-integrations` / `manage-incoming-integrations`: everything.
    All,
    /// Only the `manage-own-…` permissions: integrations the caller created.
    Own,
    /// None of the four manage permissions.
    None,
}

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct RocketChatFakeConfig {
    /// The `X-User-Id` the fake accepts (also the "own" user).
    pub user_id: String,
    /// The `X-Auth-Token` the fake accepts.
    pub auth_token: String,
    /// Which integrations the caller may see (tests of 403 and of "own" visibility).
    pub permission: Permission,
    /// Answer 401 with the older servers' body (`{status, message}` only).
    pub legacy_401: bool,
    /// `(calls, window)` per route (per client IP on the real server; every client of a fake is
    /// 127.0.0.1); `None` turns limiting off, as on a server in development mode.
    pub rate_limit: Option<(u32, std::time::Duration)>,
    /// `API_Allow_Infinite_Count`: `count=0` means "all".
    pub allow_infinite_count: bool,
}

impl Default for RocketChatFakeConfig {
    fn default() -> Self {
        RocketChatFakeConfig {
            user_id: "rWq7nBz3KdT9pXe2M".into(),
            auth_token: "demo-rocketchat-token".into(),
            permission: Permission::All,
            legacy_401: false,
            rate_limit: None,
            allow_infinite_count: true,
        }
    }
}

/// The server's Rocket.Chat defaults for the limiter: 10 calls per 60 s per route.
pub const SERVER_DEFAULT_RATE_LIMIT: (u32, std::time::Duration) =
    (10, std::time::Duration::from_secs(60));

/// The server's documents: webhooks and every outgoing webhook's execution history.
#[derive(Clone, Debug, Default)]
pub struct RocketChatData {
    /// Webhook documents as `integrations.list` returns them (the server sorts per call).
    pub integrations: Vec<Value>,
    /// History records of every integration, in insertion order (the server sorts per call).
    pub history: Vec<Value>,
}

/// `(name, type, channel, event, trigger word, target url or alias)` of the demo's webhooks.
const WEBHOOKS: [(&str, &str, &str, &str, &str, &str); 36] = [
    (
        "Deploy notifier",
        "out",
        "#deploys",
        "sendMessage",
        "!deploy",
        "https://ci.acme-corp.example/hooks/deploy",
    ),
    ("CI status", "in", "#builds", "", "", "CI"),
    (
        "Jira ticket bot",
        "out",
        "#support",
        "sendMessage",
        "!ticket",
        "https://acme-corp.atlassian.example/rest/rocket/ticket",
    ),
    ("GitHub events", "in", "#dev", "", "", "GitHub"),
    (
        "PagerDuty acknowledge",
        "out",
        "#incidents",
        "sendMessage",
        "!ack",
        "https://events.pagerduty.example/integration/rocket/ack",
    ),
    ("Grafana alerts", "in", "#alerts", "", "", "Grafana"),
    (
        "Standup collector",
        "out",
        "#standup",
        "sendMessage",
        "!standup",
        "https://standup.acme-corp.example/api/collect",
    ),
    ("Sentry errors", "in", "#errors", "", "", "Sentry"),
    (
        "New channel announcer",
        "out",
        "#general",
        "roomCreated",
        "",
        "https://hooks.acme-corp.example/rooms/created",
    ),
    ("Zendesk tickets", "in", "#support", "", "", "Zendesk"),
    (
        "Welcome bot",
        "out",
        "#general",
        "roomJoined",
        "",
        "https://onboarding.acme-corp.example/welcome",
    ),
    ("Stripe payments", "in", "#finance", "", "", "Stripe"),
    (
        "Design file archive",
        "out",
        "#design",
        "fileUploaded",
        "",
        "https://archive.acme-corp.example/rocket/files",
    ),
    ("Uptime monitor", "in", "#ops", "", "", "UptimeRobot"),
    (
        "Translate bot",
        "out",
        "#intl",
        "sendMessage",
        "!tr",
        "https://translate.acme-corp.example/v2/rocket",
    ),
    ("Jenkins builds", "in", "#builds", "", "", "Jenkins"),
    (
        "Build trigger",
        "out",
        "#builds",
        "sendMessage",
        "!build",
        "https://jenkins.acme-corp.example/generic-webhook-trigger/invoke",
    ),
    ("HubSpot deals", "in", "#sales", "", "", "HubSpot"),
    (
        "Sales leads to CRM",
        "out",
        "#sales",
        "sendMessage",
        "!lead",
        "https://crm.acme-corp.example/api/leads/rocket",
    ),
    (
        "AWS CloudWatch alarms",
        "in",
        "#alerts",
        "",
        "",
        "CloudWatch",
    ),
    (
        "Support escalation",
        "out",
        "#support-escalations",
        "sendMessage",
        "!escalate",
        "https://support.acme-corp.example/escalations",
    ),
    ("Dependabot updates", "in", "#dev", "", "", "Dependabot"),
    (
        "Status page lookup",
        "out",
        "#ops",
        "sendMessage",
        "!status",
        "https://status.acme-corp.example/api/rocket",
    ),
    (
        "Statuspage incidents",
        "in",
        "#incidents",
        "",
        "",
        "Statuspage",
    ),
    (
        "GitHub PR lookup",
        "out",
        "#dev",
        "sendMessage",
        "!pr",
        "https://gh-proxy.acme-corp.example/rocket/pr",
    ),
    ("Nightly backup reports", "in", "#ops", "", "", "Backups"),
    (
        "Grafana snapshot",
        "out",
        "#ops",
        "sendMessage",
        "!graph",
        "https://grafana.acme-corp.example/api/rocket/snapshot",
    ),
    (
        "Website form submissions",
        "in",
        "#marketing",
        "",
        "",
        "Forms",
    ),
    (
        "On-call lookup",
        "out",
        "#incidents",
        "sendMessage",
        "!oncall",
        "https://oncall.acme-corp.example/api/who",
    ),
    ("Calendar reminders", "in", "#general", "", "", "Calendar"),
    (
        "Lunch poll",
        "out",
        "#random",
        "sendMessage",
        "!lunch",
        "https://lunch.acme-corp.example/poll",
    ),
    (
        "Release notes publisher",
        "out",
        "#releases",
        "sendMessage",
        "!release",
        "https://docs.acme-corp.example/hooks/release-notes",
    ),
    (
        "Member left alert",
        "out",
        "#security",
        "roomLeft",
        "",
        "https://siem.acme-corp.example/ingest/rocket",
    ),
    ("Invoice reminders", "in", "#finance", "", "", "Billing"),
    (
        "Weather bot",
        "out",
        "#random",
        "sendMessage",
        "!weather",
        "https://weather.acme-corp.example/rocket",
    ),
    (
        "Cost explorer",
        "out",
        "#finops",
        "sendMessage",
        "!cost",
        "https://finops.acme-corp.example/rocket/cost",
    ),
];

/// What users type after each trigger word.
const ARGUMENTS: [(&str, &[&str]); 16] = [
    (
        "!deploy",
        &[
            "api v2.14.1",
            "web v5.3.0",
            "worker v1.8.2",
            "billing-service to staging",
            "checkout v3.0.0-rc1",
        ],
    ),
    (
        "!ticket",
        &[
            "printer on 3rd floor offline",
            "VPN drops every hour",
            "need access to Grafana",
        ],
    ),
    ("!ack", &["INC-4412", "INC-4415", "INC-4420"]),
    (
        "!standup",
        &[
            "yesterday: reviewed PRs, today: release prep",
            "blocked on the staging DB",
        ],
    ),
    (
        "!tr",
        &[
            "fr hello team",
            "de see you tomorrow",
            "es the build is green",
        ],
    ),
    (
        "!build",
        &["web main", "api release/2.14", "mobile develop"],
    ),
    (
        "!lead",
        &[
            "Acme Retail, 250 seats",
            "Globex EMEA renewal",
            "Initech pilot",
        ],
    ),
    (
        "!escalate",
        &["ZD-88213 customer down", "ZD-88240 data export failing"],
    ),
    ("!status", &["api", "checkout", "eu-west-1"]),
    ("!pr", &["#482", "#519", "#530"]),
    ("!graph", &["api latency 24h", "checkout errors 1h"]),
    ("!oncall", &["platform", "payments", "data"]),
    ("!lunch", &["thai", "pizza", "ramen"]),
    ("!release", &["2.14.1", "5.3.0"]),
    ("!weather", &["berlin", "tokyo", "austin"]),
    ("!cost", &["last 30 days", "s3 this month"]),
];

const USERS: [(&str, &str); 8] = [
    ("aobEdbYhXfu5hkeqG", "jdoe"),
    ("Kq8Ne3Rw5Tb7Yx2Hm", "mara.lopez"),
    ("Zt4Pw9Qa2Xc6Nb8Jr", "k.nakamura"),
    ("Hd7Xm3Kc9Wq2Rt5Ny", "ollie.grant"),
    ("Bv6Ty2Np8Qs4Wm3Ka", "priya.s"),
    ("Mx3Jr7Gh2Ld9Fq5Wz", "t.becker"),
    ("Ec5Wn8Yb3Pt6Rk2Qs", "amina.diallo"),
    ("Gf2Kd6Vz9Hx4Nc7Tp", "l.rossi"),
];

const SCRIPT_ERRORS: [&str; 3] = [
    "TypeError: Cannot read properties of undefined (reading 'text')\n    at Script.process_outgoing_response (integration-script.js:14:32)",
    "SyntaxError: Unexpected token < in JSON at position 0\n    at JSON.parse (<anonymous>)\n    at Script.process_outgoing_response (integration-script.js:9:21)",
    "Error: timeout of 10000ms exceeded while preparing the outgoing request",
];

impl RocketChatData {
    /// Deterministic, realistic data anchored before `now`: 36 webhooks (20 outgoing, 16
    /// incoming); the first outgoing webhook (the newest, so first in list order) has 260
    /// executions, the others 0 to 60, with errors, and running executions at the head of a
    /// few histories.
    pub fn generate(seed: u64, owner_id: &str, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed);
        let mut data = RocketChatData::default();
        let mut outgoing_index = 0;
        for (index, (name, kind, channel, event, trigger, target)) in WEBHOOKS.iter().enumerate() {
            // The webhook with the long history is the newest, so it heads the list.
            let age_days = if index == 0 {
                80
            } else {
                rng.between(90, 700) as i64
            };
            let created =
                now - Duration::days(age_days) - Duration::minutes(rng.below(1440) as i64);
            let (creator_id, creator_name) = if index % 3 == 0 {
                (owner_id.to_string(), "rocket.admin".to_string())
            } else {
                let (id, name) = USERS[rng.below(USERS.len() as u64) as usize];
                (id.to_string(), name.to_string())
            };
            let enabled = !rng.chance(0.12);
            // A disabled webhook was disabled by its last change, days ago, and has not run
            // since.
            let updated = if enabled {
                (created + Duration::hours(rng.between(0, 2000) as i64))
                    .min(now - Duration::hours(rng.between(1, 48) as i64))
            } else {
                (now - Duration::days(rng.between(2, 30) as i64)).max(created + Duration::hours(1))
            };
            let mut integration = json!({
                "_id": rng.meteor_id(),
                "type": if *kind == "out" { "webhook-outgoing" } else { "webhook-incoming" },
                "name": name,
                "enabled": enabled,
                "channel": [channel],
                "username": "rocket.cat",
                "alias": if *kind == "out" { format!("{}Bot", name.split(' ').next().unwrap_or("Hook")) } else { target.to_string() },
                "scriptEnabled": rng.chance(0.3),
                "token": format!("{}{}", rng.meteor_id(), rng.meteor_id()),
                "userId": USERS[0].0,
                "_createdAt": iso_ms(created),
                "_createdBy": { "_id": creator_id, "username": creator_name },
                "_updatedAt": iso_ms(updated),
                "ts": iso_ms(created),
            });
            if *kind == "out" {
                integration["event"] = json!(event);
                integration["urls"] = json!([target]);
                integration["triggerWords"] = if trigger.is_empty() {
                    json!([])
                } else {
                    json!([trigger])
                };
                integration["retryFailedCalls"] = json!(true);
                integration["retryCount"] = json!(6);
                integration["retryDelay"] = json!("powers-of-ten");
                integration["impersonateUser"] = json!(false);
                integration["triggerWordAnywhere"] = json!(false);
                integration["runOnEdits"] = json!(false);
                let executions = if outgoing_index == 0 {
                    260
                } else {
                    rng.between(0, 60) as usize
                };
                let running_head = enabled && outgoing_index % 5 == 1;
                let latest = if enabled { now } else { updated };
                data.generate_history(&mut rng, &integration, executions, running_head, latest);
                outgoing_index += 1;
            } else {
                integration["overrideDestinationChannelEnabled"] = json!(false);
            }
            data.integrations.push(integration);
        }
        data
    }

    fn generate_history(
        &mut self,
        rng: &mut Rng,
        integration: &Value,
        count: usize,
        running_head: bool,
        latest: DateTime<Utc>,
    ) {
        let mut created = latest - Duration::milliseconds(rng.between(20_000, 3_600_000) as i64);
        for n in 0..count {
            let running = running_head && n < 2;
            let record = execution(rng, integration, created, running);
            self.history.push(record);
            created -= Duration::milliseconds(rng.between(60_000, 40_000_000) as i64);
        }
    }

    /// The history of one integration, newest first (the server's default order).
    pub fn history_of(&self, integration_id: &str) -> Vec<Value> {
        let mut records: Vec<Value> = self
            .history
            .iter()
            .filter(|r| r["integration"]["_id"] == integration_id)
            .cloned()
            .collect();
        sort_documents(&mut records, &[("_updatedAt".into(), -1)]);
        records
    }

    /// Ids of the outgoing webhooks, in list order.
    pub fn outgoing_ids(&self) -> Vec<String> {
        self.integrations
            .iter()
            .filter(|i| i["type"] == "webhook-outgoing")
            .filter_map(|i| i["_id"].as_str().map(str::to_string))
            .collect()
    }

    /// A new execution of `integration_id` last updated at `at` (started a moment before), for
    /// tests that insert at the head while a client pages.
    pub fn new_execution(&self, integration_id: &str, id: &str, at: DateTime<Utc>) -> Value {
        let integration = self
            .integrations
            .iter()
            .find(|i| i["_id"] == integration_id)
            .cloned()
            .unwrap_or_else(|| json!({ "_id": integration_id }));
        let mut record = execution(
            &mut Rng::new(at.timestamp_millis() as u64),
            &integration,
            at,
            false,
        );
        record["_id"] = json!(id);
        record["_createdAt"] = json!(iso_ms(at - Duration::milliseconds(300)));
        record["_updatedAt"] = json!(iso_ms(at));
        record
    }
}

/// One execution record of an outgoing webhook, shaped like `IIntegrationHistory`.
fn execution(rng: &mut Rng, integration: &Value, created: DateTime<Utc>, running: bool) -> Value {
    let (user_id, user_name) = *rng.pick(&USERS);
    let channel = integration["channel"][0]
        .as_str()
        .unwrap_or("#general")
        .trim_start_matches('#')
        .to_string();
    let trigger = integration["triggerWords"][0].as_str().unwrap_or("");
    let event = integration["event"].as_str().unwrap_or("sendMessage");
    let text = if trigger.is_empty() {
        match event {
            "fileUploaded" => format!(
                "{user_name} uploaded {}",
                rng.pick(&[
                    "checkout-v4.fig",
                    "onboarding-flow.pdf",
                    "logo-dark.svg",
                    "q3-roadmap.key"
                ])
            ),
            "roomCreated" => format!(
                "{user_name} created #{}",
                rng.pick(&[
                    "launch-v4",
                    "oncall-handoff",
                    "design-review",
                    "customer-acme"
                ])
            ),
            "roomArchived" => format!("{user_name} archived #{channel}"),
            "userCreated" => format!("new user {user_name}"),
            "roomJoined" => format!("{user_name} joined #{channel}"),
            "roomLeft" => format!("{user_name} left #{channel}"),
            _ => format!("{user_name} posted in #{channel}"),
        }
    } else {
        let options = ARGUMENTS
            .iter()
            .find(|(word, _)| *word == trigger)
            .map_or(&["please"][..], |(_, options)| options);
        format!("{trigger} {}", rng.pick(options))
    };
    let url = integration["urls"][0].as_str().unwrap_or("").to_string();
    let token = integration["token"].clone();
    let message_id = rng.meteor_id();
    let mut record = json!({
        "_id": rng.meteor_id(),
        "type": "outgoing-webhook",
        "integration": integration,
        "event": integration["event"].as_str().unwrap_or("sendMessage"),
        "_createdAt": iso_ms(created),
        "data": {
            "token": token,
            "bot": false,
            "channel_id": rng.meteor_id(),
            "channel_name": channel,
            "message_id": message_id,
            "timestamp": iso_ms(created - Duration::milliseconds(rng.between(5, 40) as i64)),
            "user_id": user_id,
            "user_name": user_name,
            "text": text,
        },
        "ranPrepareScript": integration["scriptEnabled"].as_bool().unwrap_or(false),
        "url": url,
        "httpCallData": { "token": token, "channel_name": channel, "user_name": user_name, "text": text },
    });
    if !trigger.is_empty() {
        record["triggerWord"] = json!(trigger);
        record["data"]["trigger_word"] = json!(trigger);
    }
    let roll = rng.below(100);
    let updated;
    if running {
        record["step"] = json!(if roll % 2 == 0 {
            "pre-http-call"
        } else {
            "start-execute-trigger-url"
        });
        updated = created + Duration::milliseconds(rng.between(5, 60) as i64);
    } else if roll < 6 {
        record["step"] = json!("after-http-call");
        record["httpError"] = json!({ "name": "FetchError", "message": format!("request to {url} failed, reason: connect ECONNREFUSED") });
        record["error"] = json!(true);
        record["errorStack"] = json!(format!("FetchError: request to {url} failed, reason: connect ECONNREFUSED\n    at ClientRequest.<anonymous>"));
        record["finished"] = json!(false);
        updated = created + Duration::milliseconds(rng.between(200, 3000) as i64);
    } else if roll < 10 {
        record["step"] = json!("execute-script-error");
        record["error"] = json!(true);
        record["errorStack"] = json!(*rng.pick(&SCRIPT_ERRORS));
        record["finished"] = json!(false);
        updated = created + Duration::milliseconds(rng.between(20, 400) as i64);
    } else {
        let queued = format!("job-{}", rng.between(1000, 99_999));
        record["step"] = json!(if roll < 40 {
            "after-http-call"
        } else {
            "after-process-send-message"
        });
        record["httpResult"] =
            json!(json!(json!({ "ok": true, "queued": queued }).to_string()).to_string());
        record["finished"] = json!(true);
        updated = created + Duration::milliseconds(rng.between(80, 2500) as i64);
    }
    record["_updatedAt"] = json!(iso_ms(updated));
    record
}

/// The running fake's state.
pub struct RocketChatFake {
    config: RocketChatFakeConfig,
    data: RwLock<RocketChatData>,
    /// Per-route limiter windows: route → (window start, calls in window).
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RocketChatFake {
    /// A fake serving `data`.
    pub fn new(config: RocketChatFakeConfig, data: RocketChatData) -> Arc<Self> {
        Arc::new(RocketChatFake {
            config,
            data: RwLock::new(data),
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// The settings the fake runs with (credentials for the gateway's config).
    pub fn config(&self) -> &RocketChatFakeConfig {
        &self.config
    }

    /// The data, for tests that inspect or change it while the fake runs.
    pub fn data(&self) -> RwLockWriteGuard<'_, RocketChatData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every route of the contract under `/api/v1`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Count a call of `route`: the three headers, and the wait in ms when over the limit.
    fn throttle(&self, route: &str) -> (Vec<(String, String)>, Option<u64>) {
        let Some((limit, window)) = self.config.rate_limit else {
            return (Vec::new(), None);
        };
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let slot = windows.entry(route.to_string()).or_insert((now, 0));
        if now.duration_since(slot.0) >= window {
            *slot = (now, 0);
        }
        slot.1 += 1;
        let left = window.saturating_sub(now.duration_since(slot.0));
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let headers = vec![
            ("X-RateLimit-Limit".to_string(), limit.to_string()),
            (
                "X-RateLimit-Remaining".to_string(),
                limit.saturating_sub(slot.1).to_string(),
            ),
            (
                "X-RateLimit-Reset".to_string(),
                (epoch_ms + left.as_millis() as u64).to_string(),
            ),
        ];
        let over = (slot.1 > limit).then_some(left.as_millis() as u64);
        (headers, over)
    }
}

/// `{"success": false, "error": "<message> [invalid-params]", "errorType": "invalid-params"}`
fn invalid_params(message: &str) -> String {
    json!({ "success": false, "error": format!("{message} [invalid-params]"), "errorType": "invalid-params" })
        .to_string()
}

/// The 400 of `parseJsonQuery` for a bad `sort` or `query` (the raw value appears
/// JSON-quoted, as in the contract's example).
fn invalid_json_param(kind: &str, raw: &str) -> String {
    let quoted = Value::String(raw.to_string()).to_string();
    json!({
        "success": false,
        "error": format!("Invalid {kind} parameter provided: {quoted} [error-invalid-{kind}]"),
        "errorType": format!("error-invalid-{kind}"),
        "details": { "helperMethod": "parseJsonQuery" },
    })
    .to_string()
}

async fn handle(
    State(fake): State<Arc<RocketChatFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-auth-token") != Some(fake.config.auth_token.as_str())
        || header("x-user-id") != Some(fake.config.user_id.as_str())
    {
        let body = if fake.config.legacy_401 {
            ERROR_401_LEGACY
        } else {
            ERROR_401
        };
        return json_response(StatusCode::UNAUTHORIZED, &[], body.to_string());
    }
    let route = uri.path().trim_end_matches('/').to_string();
    let known = matches!(
        route.as_str(),
        "/api/v1/integrations.list" | "/api/v1/integrations.get" | "/api/v1/integrations.history"
    );
    if !known || method != Method::GET {
        return json_response(StatusCode::NOT_FOUND, &[], ERROR_404_ROUTE.to_string());
    }
    let (limit_headers, over) = fake.throttle(&route);
    let respond = |status: StatusCode, body: String| json_response(status, &limit_headers, body);
    if let Some(wait_ms) = over {
        let body = json!({
            "success": false,
            "error": format!("Error, too many requests. Please slow down. You must wait {} seconds before trying this endpoint again. [error-too-many-requests]", wait_ms.div_ceil(1000)),
        });
        return respond(StatusCode::TOO_MANY_REQUESTS, body.to_string());
    }
    let params = super::fake::query_params(uri.query());
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let result = match route.as_str() {
        "/api/v1/integrations.history" => history(&fake.config, &data, &params),
        "/api/v1/integrations.list" => list(&fake.config, &data, &params),
        _ => get(&fake.config, &data, &params),
    };
    match result {
        Ok(body) => respond(StatusCode::OK, body.to_string()),
        Err((status, body)) => respond(status, body),
    }
}

type Answer = Result<Value, (StatusCode, String)>;

fn bad(body: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, body)
}

/// The first parameter named `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The validator's `additionalProperties: false` check.
fn only_known(params: &[(String, String)], allowed: &[&str]) -> Result<(), (StatusCode, String)> {
    if params.iter().any(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(bad(invalid_params("must NOT have additional properties")));
    }
    Ok(())
}

/// Whether the caller may see integration documents created by `creator`.
fn visible(config: &RocketChatFakeConfig, integration: &Value) -> bool {
    match config.permission {
        Permission::All => true,
        Permission::Own => integration["_createdBy"]["_id"] == config.user_id.as_str(),
        Permission::None => false,
    }
}

/// `offset`, `count` (default 50, `0` = all when allowed, clamped to 100), `sort`, `query`.
struct Paging {
    offset: usize,
    count: Option<usize>,
    sort: Option<Vec<(String, i64)>>,
    query: Option<Map<String, Value>>,
}

impl Paging {
    fn parse(
        config: &RocketChatFakeConfig,
        params: &[(String, String)],
    ) -> Result<Self, (StatusCode, String)> {
        let offset = param(params, "offset")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let count = match param(params, "count").and_then(|v| v.parse::<usize>().ok()) {
            None => Some(DEFAULT_COUNT),
            Some(0) if config.allow_infinite_count => None,
            Some(0) => Some(DEFAULT_COUNT),
            Some(n) => Some(n.min(UPPER_COUNT)),
        };
        let sort = match param(params, "sort") {
            None => None,
            Some(raw) => Some(parse_sort(raw).ok_or_else(|| bad(invalid_json_param("sort", raw)))?),
        };
        let query = match param(params, "query") {
            None => None,
            Some(raw) => Some(
                serde_json::from_str::<Value>(raw)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(clean_query)
                    .ok_or_else(|| bad(invalid_json_param("query", raw)))?,
            ),
        };
        Ok(Paging {
            offset,
            count,
            sort,
            query,
        })
    }

    /// Filter (server filter, then the client's `query` merged over it), sort and cut.
    fn page(
        &self,
        mut documents: Vec<Value>,
        default_sort: &[(String, i64)],
    ) -> (Vec<Value>, usize) {
        if let Some(query) = &self.query {
            documents.retain(|d| matches_query(d, query));
        }
        sort_documents(&mut documents, self.sort.as_deref().unwrap_or(default_sort));
        let total = documents.len();
        let page = documents
            .into_iter()
            .skip(self.offset)
            .take(self.count.unwrap_or(usize::MAX))
            .collect();
        (page, total)
    }
}

fn envelope(key: &str, page: Vec<Value>, offset: usize, total: usize) -> Value {
    let items = page.len();
    json!({ key: page, "offset": offset, "items": items, "count": items, "total": total, "success": true })
}

fn history(
    config: &RocketChatFakeConfig,
    data: &RocketChatData,
    params: &[(String, String)],
) -> Answer {
    let Some(id) = param(params, "id") else {
        return Err(bad(invalid_params("must have required property 'id'")));
    };
    only_known(params, &["id", "offset", "count", "sort", "query"])?;
    if id.is_empty() {
        return Err(bad(invalid_params("must NOT have fewer than 1 characters")));
    }
    let paging = Paging::parse(config, params)?;
    if config.permission == Permission::None {
        return Err((StatusCode::FORBIDDEN, ERROR_403.to_string()));
    }
    // The server's own filter; the client's `query` is `Object.assign`ed over it (so a
    // `query` key `integration._id` would replace it, as on the real server).
    let mut selector = Map::new();
    selector.insert("integration._id".into(), json!(id));
    if let Some(query) = &paging.query {
        selector.extend(query.clone());
    }
    let documents: Vec<Value> = data
        .history
        .iter()
        .filter(|r| matches_query(r, &selector))
        .filter(|r| visible(config, &r["integration"]))
        .cloned()
        .collect();
    let without_query = Paging {
        query: None,
        ..paging
    };
    let (page, total) = without_query.page(documents, &[("_updatedAt".into(), -1)]);
    Ok(envelope("history", page, without_query.offset, total))
}

fn list(
    config: &RocketChatFakeConfig,
    data: &RocketChatData,
    params: &[(String, String)],
) -> Answer {
    only_known(params, &["offset", "count", "sort", "query"])?;
    let paging = Paging::parse(config, params)?;
    if config.permission == Permission::None {
        return Err((StatusCode::FORBIDDEN, ERROR_403.to_string()));
    }
    let documents: Vec<Value> = data
        .integrations
        .iter()
        .filter(|i| visible(config, i))
        .cloned()
        .collect();
    let (page, total) = paging.page(documents, &[("ts".into(), -1)]);
    Ok(envelope("integrations", page, paging.offset, total))
}

fn get(
    config: &RocketChatFakeConfig,
    data: &RocketChatData,
    params: &[(String, String)],
) -> Answer {
    let Some(id) = param(params, "integrationId").filter(|id| !id.is_empty()) else {
        return Err(bad(invalid_params(
            "must have required property 'integrationId'",
        )));
    };
    only_known(params, &["integrationId", "createdBy"])?;
    if config.permission == Permission::None {
        return Err((StatusCode::FORBIDDEN, ERROR_403.to_string()));
    }
    let created_by = param(params, "createdBy");
    data.integrations
        .iter()
        .find(|i| {
            i["_id"] == id
                && visible(config, i)
                && created_by.is_none_or(|c| i["_createdBy"]["_id"] == c)
        })
        .map(|i| json!({ "integration": i, "success": true }))
        .ok_or_else(|| bad(ERROR_UNKNOWN_INTEGRATION.to_string()))
}

/// Parse a `sort` object keeping its key order; every value must be `1` or `-1`.
fn parse_sort(raw: &str) -> Option<Vec<(String, i64)>> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some(pair) = map.next_entry::<String, Value>()? {
                pairs.push(pair);
            }
            Ok(pairs)
        }
    }
    let pairs = serde_json::Deserializer::from_str(raw)
        .deserialize_map(Ordered)
        .ok()?;
    pairs
        .into_iter()
        .map(|(key, value)| match value.as_i64() {
            Some(direction @ (1 | -1)) => Some((key, direction)),
            _ => None,
        })
        .collect()
}

/// `parseJsonQuery`'s cleaner: top-level operators other than `$or`, `$and`, `$regex` are
/// dropped; nested operators pass through.
fn clean_query(query: Map<String, Value>) -> Map<String, Value> {
    query
        .into_iter()
        .filter(|(k, _)| !k.starts_with('$') || matches!(k.as_str(), "$or" | "$and" | "$regex"))
        .collect()
}

/// A dotted path into a document.
fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(document, |value, key| value.get(key))
}

/// Mongo-style matching of the selector forms the contract names: equality, `$in`, `$nin`,
/// `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$exists`, `$or`, `$and`, EJSON `{"$date"}`.
fn matches_query(document: &Value, query: &Map<String, Value>) -> bool {
    query.iter().all(|(key, expected)| match key.as_str() {
        "$or" => expected.as_array().is_some_and(|subs| {
            subs.iter()
                .filter_map(Value::as_object)
                .any(|q| matches_query(document, q))
        }),
        "$and" => expected.as_array().is_some_and(|subs| {
            subs.iter()
                .filter_map(Value::as_object)
                .all(|q| matches_query(document, q))
        }),
        "$regex" => true,
        path => matches_condition(lookup(document, path), expected),
    })
}

fn is_operator_object(value: &Value) -> bool {
    value.as_object().is_some_and(|m| {
        !m.is_empty() && m.keys().all(|k| k.starts_with('$')) && !m.contains_key("$date")
    })
}

fn matches_condition(actual: Option<&Value>, expected: &Value) -> bool {
    if !is_operator_object(expected) {
        return equals(actual, expected);
    }
    let Some(ops) = expected.as_object() else {
        return false;
    };
    ops.iter().all(|(op, operand)| match op.as_str() {
        "$eq" => equals(actual, operand),
        "$ne" => !equals(actual, operand),
        "$in" => operand
            .as_array()
            .is_some_and(|list| list.iter().any(|v| equals(actual, v))),
        "$nin" => operand
            .as_array()
            .is_some_and(|list| !list.iter().any(|v| equals(actual, v))),
        "$exists" => actual.is_some() == operand.as_bool().unwrap_or(true),
        "$gt" => compare(actual, operand) == Some(Ordering::Greater),
        "$gte" => matches!(
            compare(actual, operand),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        "$lt" => compare(actual, operand) == Some(Ordering::Less),
        "$lte" => matches!(
            compare(actual, operand),
            Some(Ordering::Less | Ordering::Equal)
        ),
        _ => false,
    })
}

/// An EJSON date operand (`{"$date": ms}` or `{"$date": "iso"}`) in epoch ms.
fn ejson_date(value: &Value) -> Option<i64> {
    match value.get("$date")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => crate::domain::datetime::parse_lenient(s).map(|t| t.timestamp_millis()),
        _ => None,
    }
}

fn equals(actual: Option<&Value>, expected: &Value) -> bool {
    match actual {
        Some(Value::Array(items)) if !expected.is_array() => items.iter().any(|i| i == expected),
        Some(value) => compare(Some(value), expected) == Some(Ordering::Equal) || value == expected,
        None => expected.is_null(),
    }
}

/// Compare like values (numbers, strings, dates stored as ISO strings against EJSON dates).
fn compare(actual: Option<&Value>, operand: &Value) -> Option<Ordering> {
    let actual = actual?;
    if let Some(ms) = ejson_date(operand) {
        let at = crate::domain::datetime::parse_lenient(actual.as_str()?)?;
        return Some(at.timestamp_millis().cmp(&ms));
    }
    match (actual, operand) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// BSON-ish type order for sorting: missing/null, numbers, strings, objects, arrays, booleans.
fn type_rank(value: Option<&Value>) -> u8 {
    match value {
        None | Some(Value::Null) => 0,
        Some(Value::Number(_)) => 1,
        Some(Value::String(_)) => 2,
        Some(Value::Object(_)) => 3,
        Some(Value::Array(_)) => 4,
        Some(Value::Bool(_)) => 5,
    }
}

fn sort_documents(documents: &mut [Value], spec: &[(String, i64)]) {
    documents.sort_by(|a, b| {
        spec.iter()
            .fold(Ordering::Equal, |order, (key, direction)| {
                order.then_with(|| {
                    let (x, y) = (lookup(a, key), lookup(b, key));
                    let natural = type_rank(x).cmp(&type_rank(y)).then_with(|| match (x, y) {
                        (Some(Value::Number(p)), Some(Value::Number(q))) => p
                            .as_f64()
                            .partial_cmp(&q.as_f64())
                            .unwrap_or(Ordering::Equal),
                        (Some(Value::String(p)), Some(Value::String(q))) => p.cmp(q),
                        (Some(Value::Bool(p)), Some(Value::Bool(q))) => p.cmp(q),
                        _ => Ordering::Equal,
                    });
                    if *direction < 0 {
                        natural.reverse()
                    } else {
                        natural
                    }
                })
            })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keeps_key_order_and_rejects_other_values() {
        assert_eq!(
            parse_sort(r#"{"b":1,"a":-1}"#),
            Some(vec![("b".into(), 1), ("a".into(), -1)])
        );
        assert_eq!(parse_sort(r#"{"_updatedAt":2}"#), None);
        assert_eq!(parse_sort("nope"), None);
    }

    #[test]
    fn queries_match_nested_operators_and_drop_top_level_ones() {
        let doc = json!({"_id": "a", "integration": {"_id": "i"}, "_updatedAt": "2024-05-14T09:12:03.640Z", "n": 3});
        let q = |text: &str| {
            clean_query(serde_json::from_str::<Map<String, Value>>(text).expect("json"))
        };
        assert!(matches_query(&doc, &q(r#"{"_id":{"$in":["a","b"]}}"#)));
        assert!(!matches_query(&doc, &q(r#"{"_id":{"$nin":["a"]}}"#)));
        assert!(matches_query(&doc, &q(r#"{"integration._id":"i"}"#)));
        assert!(matches_query(
            &doc,
            &q(r#"{"_updatedAt":{"$lte":{"$date":1715677923640}}}"#)
        ));
        assert!(!matches_query(
            &doc,
            &q(r#"{"_updatedAt":{"$lt":{"$date":1715677923640}}}"#)
        ));
        assert!(matches_query(
            &doc,
            &q(r#"{"$where":"false","n":{"$gte":3}}"#)
        ));
        assert!(matches_query(&doc, &q(r#"{"$or":[{"_id":"z"},{"n":3}]}"#)));
    }

    #[test]
    fn a_disabled_webhook_has_not_run_since_it_was_disabled() {
        let now = Utc::now();
        let data = RocketChatData::generate(42, "owner", now);
        let mut disabled = 0;
        for integration in &data.integrations {
            let updated = integration["_updatedAt"].as_str().unwrap_or_default();
            assert!(
                updated <= iso_ms(now).as_str(),
                "updated in the future: {integration}"
            );
            if integration["enabled"] == false {
                disabled += 1;
                let id = integration["_id"].as_str().unwrap_or_default();
                for record in data.history_of(id) {
                    assert!(record["_updatedAt"].as_str().unwrap_or_default() <= updated);
                }
            }
        }
        assert!(disabled > 0);
    }

    #[test]
    fn generated_data_has_the_promised_shape() {
        let data = RocketChatData::generate(7, "rWq7nBz3KdT9pXe2M", Utc::now());
        assert!(data.integrations.len() >= 30);
        let outgoing = data.outgoing_ids();
        assert!(outgoing.len() >= 15 && outgoing.len() < data.integrations.len());
        let biggest = data.history_of(&outgoing[0]);
        assert!(biggest.len() >= 250);
        let errors = data.history.iter().filter(|r| r["error"] == true).count();
        let running = data
            .history
            .iter()
            .filter(|r| r.get("finished").is_none())
            .count();
        assert!(
            errors > 5 && running > 0,
            "{errors} errors, {running} running"
        );
        let times: Vec<&str> = biggest
            .iter()
            .filter_map(|r| r["_updatedAt"].as_str())
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
    }
}
