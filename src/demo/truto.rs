//! A faithful Truto fake (upstreams/truto.md): the integration list with `{result,
//! next_cursor}` and an opaque cursor (null on the last page, `next_cursor=` treated as absent),
//! `GET /integration/{id}` and `/integrations/{id}` served identically, the full `team` object
//! embedded, `installed_environment` narrowed by `environment_id`, bearer auth, a token limiter
//! answering 429 with `Retry-After`, and an option to emit zone-less `YYYY-MM-DD HH:MM:SS`
//! timestamps. Error bodies are `{statusCode, error, message}` as in the contract's examples.

use super::fake::{iso_ms, json_response, Rng};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Instant;

const ERROR_401: &str = r#"{"statusCode":401,"error":"Unauthorized","message":"Unauthorized"}"#;
const ERROR_404: &str =
    r#"{"statusCode":404,"error":"Not Found","message":"Integration not found"}"#;
const ERROR_429: &str =
    r#"{"statusCode":429,"error":"Too Many Requests","message":"Too many requests"}"#;
/// Largest `limit` the fake accepts.
const MAX_LIMIT: usize = 1000;

/// The limiter reported for Truto: 500 requests per 10 s per token.
pub const REPORTED_RATE_LIMIT: (u32, std::time::Duration) =
    (500, std::time::Duration::from_secs(10));

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct TrutoFakeConfig {
    /// The only bearer token accepted.
    pub token: String,
    /// Page size when the client sends no `limit` (undocumented upstream).
    pub default_limit: usize,
    /// `(requests, window)` per token; `None` turns limiting off. Use
    /// [`REPORTED_RATE_LIMIT`] for the reported production figure.
    pub rate_limit: Option<(u32, std::time::Duration)>,
    /// Emit every timestamp as `YYYY-MM-DD HH:MM:SS` without a zone.
    pub zoneless_timestamps: bool,
    /// Further tokens, each scoped to one team (the n-th token to the n-th team): it sees only
    /// that team's integrations, as a Truto API token of that team would. For multi-tenant tests.
    pub team_tokens: Vec<String>,
}

impl Default for TrutoFakeConfig {
    fn default() -> Self {
        TrutoFakeConfig {
            token: "demo-truto-token".into(),
            default_limit: 100,
            rate_limit: None,
            zoneless_timestamps: false,
            team_tokens: Vec::new(),
        }
    }
}

/// The account's data: teams, environments and integrations (each with its `team_id`; the team
/// object is embedded when served).
#[derive(Clone, Debug, Default)]
pub struct TrutoData {
    /// Team objects, embedded into each integration as served.
    pub teams: Vec<Value>,
    /// Environment ids integrations may be installed in.
    pub environments: Vec<String>,
    /// Integrations in list order, each with its `team_id` and full `installed_environment`.
    pub integrations: Vec<Value>,
}

/// `(name, domain, verified, white label)` of the demo's teams.
const TEAMS: [(&str, &str, bool, bool); 6] = [
    ("Northwind Platform", "northwind.example", true, false),
    ("Globex Integrations", "globex.example", true, true),
    ("Initech Data Team", "initech.example", false, false),
    ("Umbrella Connect", "umbrella-connect.example", true, false),
    ("Stark Industries IT", "stark.example", false, true),
    ("Hooli Partner Apps", "hooli.example", true, false),
];

/// `(name, label, category, base url)` of the demo's integrations.
const INTEGRATIONS: [(&str, &str, &str, &str); 24] = [
    (
        "zendesk",
        "Zendesk",
        "helpdesk",
        "https://{{context.subdomain}}.zendesk.com",
    ),
    ("hubspot", "HubSpot", "crm", "https://api.hubapi.com"),
    (
        "salesforce",
        "Salesforce",
        "crm",
        "https://{{context.instance_url}}",
    ),
    (
        "freshdesk",
        "Freshdesk",
        "helpdesk",
        "https://{{context.domain}}.freshdesk.com/api/v2",
    ),
    (
        "jira",
        "Jira",
        "ticketing",
        "https://{{context.site}}.atlassian.net",
    ),
    ("linear", "Linear", "ticketing", "https://api.linear.app"),
    (
        "bamboohr",
        "BambooHR",
        "hris",
        "https://api.bamboohr.com/api/gateway.php/{{context.subdomain}}",
    ),
    (
        "workday",
        "Workday",
        "hris",
        "https://{{context.host}}/ccx/api/v1",
    ),
    (
        "greenhouse",
        "Greenhouse",
        "ats",
        "https://harvest.greenhouse.io/v1",
    ),
    ("lever", "Lever", "ats", "https://api.lever.co/v1"),
    (
        "quickbooks",
        "QuickBooks Online",
        "accounting",
        "https://quickbooks.api.intuit.com/v3",
    ),
    (
        "xero",
        "Xero",
        "accounting",
        "https://api.xero.com/api.xro/2.0",
    ),
    (
        "netsuite",
        "NetSuite",
        "accounting",
        "https://{{context.account_id}}.suitetalk.api.netsuite.com",
    ),
    (
        "intercom",
        "Intercom",
        "helpdesk",
        "https://api.intercom.io",
    ),
    (
        "pipedrive",
        "Pipedrive",
        "crm",
        "https://api.pipedrive.com/v1",
    ),
    (
        "asana",
        "Asana",
        "ticketing",
        "https://app.asana.com/api/1.0",
    ),
    ("github", "GitHub", "ticketing", "https://api.github.com"),
    ("gusto", "Gusto", "hris", "https://api.gusto.com/v1"),
    (
        "shopify",
        "Shopify",
        "ecommerce",
        "https://{{context.shop}}.myshopify.com/admin/api/2024-01",
    ),
    ("stripe", "Stripe", "payments", "https://api.stripe.com/v1"),
    ("slack", "Slack", "messaging", "https://slack.com/api"),
    (
        "notion",
        "Notion",
        "knowledge-base",
        "https://api.notion.com/v1",
    ),
    (
        "confluence",
        "Confluence",
        "knowledge-base",
        "https://{{context.site}}.atlassian.net/wiki",
    ),
    (
        "docusign",
        "DocuSign",
        "e-signature",
        "https://{{context.base_uri}}/restapi/v2.1",
    ),
];

impl TrutoData {
    /// Deterministic, realistic data anchored before `now`: 6 teams, 3 environments and 24
    /// integrations spread over the teams.
    pub fn generate(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed);
        let mut data = TrutoData {
            environments: (0..3).map(|_| rng.uuid_v4()).collect(),
            ..TrutoData::default()
        };
        for (name, domain, verified, white_label) in TEAMS {
            let created = now - Duration::days(rng.between(400, 1200) as i64);
            data.teams.push(json!({
                "id": rng.uuid_v4(),
                "name": name,
                "domain": domain,
                "logo": format!("https://cdn.{domain}/logo.png"),
                "is_verified": verified,
                "is_white_label": white_label,
                "tos_link": format!("https://{domain}/terms"),
                "allow_impersonation": rng.chance(0.3),
                "created_at": iso_ms(created),
                "updated_at": iso_ms(created + Duration::days(rng.between(10, 300) as i64)),
            }));
        }
        for (index, (name, label, category, base_url)) in INTEGRATIONS.iter().enumerate() {
            let team = &data.teams[index % data.teams.len()];
            let created = now
                - Duration::days(rng.between(30, 380) as i64)
                - Duration::seconds(rng.below(86_400) as i64);
            let installed: Vec<&String> = data
                .environments
                .iter()
                .filter(|_| rng.chance(0.5))
                .collect();
            data.integrations.push(json!({
                "id": rng.uuid_v4(),
                "name": name,
                "category": category,
                "is_beta": rng.chance(0.15),
                "config": {
                    "base_url": base_url,
                    "label": label,
                    "logo": format!("https://cdn.truto.example/logos/{name}.svg"),
                    "headers": { "Accept": "application/json", "User-Agent": "truto" },
                    "authorization": { "format": "bearer", "config": { "value": "{{oauth.token.access_token}}" } },
                    "pagination": { "format": "cursor", "config": { "cursor_key": "cursor", "limit_key": "limit" } },
                    "resources": {},
                },
                "team_id": team["id"],
                "sharing": *rng.pick(&["allow", "allow", "ask", "deny"]),
                "created_at": iso_ms(created),
                "updated_at": iso_ms(created + Duration::hours(rng.between(1, 2000) as i64)),
                "installed_environment": installed,
            }));
        }
        data
    }

    /// An integration as served: with its team embedded.
    fn served(&self, integration: &Value) -> Value {
        let mut out = integration.clone();
        if let Some(team) = self
            .teams
            .iter()
            .find(|t| t["id"] == integration["team_id"])
        {
            out["team"] = team.clone();
        }
        out
    }
}

/// The running fake's state.
pub struct TrutoFake {
    config: TrutoFakeConfig,
    data: RwLock<TrutoData>,
    window: Mutex<(Instant, u32)>,
}

impl TrutoFake {
    /// A fake serving `data`.
    pub fn new(config: TrutoFakeConfig, data: TrutoData) -> Arc<Self> {
        Arc::new(TrutoFake {
            config,
            data: RwLock::new(data),
            window: Mutex::new((Instant::now(), 0)),
        })
    }

    /// The settings the fake runs with (the token for the gateway's config).
    pub fn config(&self) -> &TrutoFakeConfig {
        &self.config
    }

    /// The data, for tests that inspect or change it while the fake runs.
    pub fn data(&self) -> RwLockWriteGuard<'_, TrutoData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every route of the contract.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Fixed window per token: `Some(seconds to wait)` when over the limit.
    fn throttle(&self) -> Option<u64> {
        let (limit, window) = self.config.rate_limit?;
        let mut slot = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(slot.0) >= window {
            *slot = (now, 0);
        }
        slot.1 += 1;
        (slot.1 > limit).then_some(window.as_secs().max(1))
    }
}

fn error(status: StatusCode, body: &str) -> Response {
    json_response(status, &[], body.to_string())
}

fn bad_request(message: &str) -> Response {
    let body = json!({ "statusCode": 400, "error": "Bad Request", "message": message });
    json_response(StatusCode::BAD_REQUEST, &[], body.to_string())
}

async fn handle(
    State(fake): State<Arc<TrutoFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // `None`: the account token, which sees every team; `Some(n)`: the n-th team's token.
    let team_scope = match bearer {
        Some(token) if token == fake.config.token => None,
        Some(token) => match fake.config.team_tokens.iter().position(|t| t == token) {
            Some(team) => Some(team),
            None => return error(StatusCode::UNAUTHORIZED, ERROR_401),
        },
        None => return error(StatusCode::UNAUTHORIZED, ERROR_401),
    };
    if let Some(wait) = fake.throttle() {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &[("Retry-After".into(), wait.to_string())],
            ERROR_429.into(),
        );
    }
    let params = super::fake::query_params(uri.query());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let segments = super::fake::path_segments(uri.path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if method != Method::GET {
        return error(StatusCode::NOT_FOUND, ERROR_404);
    }
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let zoneless = fake.config.zoneless_timestamps;
    let visible = |integration: &Value| match team_scope {
        None => true,
        Some(team) => data
            .teams
            .get(team)
            .is_some_and(|t| t["id"] == integration["team_id"]),
    };
    match segments.as_slice() {
        ["integration" | "integrations"] => {
            let limit = match param("limit") {
                None | Some("") => fake.config.default_limit,
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => return bad_request("\"limit\" must be an integer between 1 and 1000"),
                },
            };
            let start = match param("next_cursor").filter(|c| !c.is_empty()) {
                None => 0,
                Some(cursor) => match decode_cursor(cursor) {
                    Some(offset) => offset,
                    None => return bad_request("Invalid next_cursor"),
                },
            };
            let matching: Vec<&Value> = data
                .integrations
                .iter()
                .filter(|i| {
                    visible(i)
                        && ["name", "category"]
                            .iter()
                            .all(|f| param(f).is_none_or(|v| i[*f] == v))
                })
                .collect();
            let page: Vec<Value> = matching
                .iter()
                .skip(start)
                .take(limit)
                .map(|i| render(data.served(i), None, zoneless))
                .collect();
            let next = start + page.len();
            let next_cursor = (next < matching.len()).then(|| encode_cursor(next));
            let body = json!({ "result": page, "next_cursor": next_cursor });
            json_response(StatusCode::OK, &[], body.to_string())
        }
        ["integration" | "integrations", id] => {
            match data
                .integrations
                .iter()
                .find(|i| i["id"] == *id && visible(i))
            {
                Some(found) => {
                    let body = render(data.served(found), param("environment_id"), zoneless);
                    json_response(StatusCode::OK, &[], body.to_string())
                }
                None => error(StatusCode::NOT_FOUND, ERROR_404),
            }
        }
        _ => error(StatusCode::NOT_FOUND, ERROR_404),
    }
}

/// Apply `environment_id` (report only that environment, if installed there) and the
/// timestamp format option.
fn render(mut integration: Value, environment_id: Option<&str>, zoneless: bool) -> Value {
    if let Some(env) = environment_id {
        let installed = integration["installed_environment"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e == env));
        integration["installed_environment"] = if installed { json!([env]) } else { json!([]) };
    }
    if zoneless {
        zoneless_times(&mut integration);
        if let Some(team) = integration.get_mut("team") {
            zoneless_times(team);
        }
    }
    integration
}

fn zoneless_times(object: &mut Value) {
    for key in ["created_at", "updated_at"] {
        let rewritten = object[key]
            .as_str()
            .and_then(crate::domain::datetime::parse_lenient)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        if let Some(text) = rewritten {
            object[key] = json!(text);
        }
    }
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "offset": offset }).to_string())
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["offset"].as_u64().map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_data_spreads_integrations_over_teams() {
        let data = TrutoData::generate(3, Utc::now());
        assert!(data.integrations.len() >= 20);
        let teams: std::collections::HashSet<&Value> =
            data.integrations.iter().map(|i| &i["team_id"]).collect();
        assert!(teams.len() >= 5);
        let served = data.served(&data.integrations[0]);
        assert_eq!(served["team"]["id"], served["team_id"]);
    }

    #[test]
    fn render_narrows_environments_and_drops_zones() {
        let integration = json!({"installed_environment": ["a", "b"], "created_at": "2024-01-09T14:03:27.000Z", "team": {"created_at": "2022-01-18T08:30:00.000Z"}});
        let out = render(integration.clone(), Some("b"), true);
        assert_eq!(out["installed_environment"], json!(["b"]));
        assert_eq!(out["created_at"], "2024-01-09 14:03:27");
        assert_eq!(out["team"]["created_at"], "2022-01-18 08:30:00");
        assert_eq!(
            render(integration, Some("c"), false)["installed_environment"],
            json!([])
        );
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
    }
}
