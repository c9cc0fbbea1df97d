//! A GitHub fake for the declared-source demo: repository webhooks and their deliveries, as
//! GitHub's REST API serves them (`GET /repos/{owner}/{repo}/hooks`, `/hooks/{hook_id}`,
//! `/hooks/{hook_id}/deliveries`).
//!
//! - Auth: `Authorization: Bearer <token>` (or `token <token>`); otherwise 401
//!   `{"message":"Bad credentials","documentation_url":…}`.
//! - Hooks page by `page`/`per_page` with a `Link` header (`rel="next"`, `rel="last"`).
//! - Deliveries are newest first and page by `per_page` (≤ 100, default 30) and an opaque
//!   `cursor` taken from the `Link` header's `next`/`prev` URLs.
//! - Errors: 400/422 and 404 with GitHub's `{"message", "documentation_url"}` body.

use super::fake::{json_response, Rng};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, PoisonError, RwLock};

const DOCS: &str = "https://docs.github.com/rest/repos/webhooks";
/// Largest `per_page` GitHub accepts, and its default.
pub const MAX_PER_PAGE: usize = 100;
pub const DEFAULT_PER_PAGE: usize = 30;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct GithubFakeConfig {
    /// The only token accepted.
    pub token: String,
    /// The repository (`owner/repo`).
    pub repository: String,
}

impl Default for GithubFakeConfig {
    fn default() -> Self {
        GithubFakeConfig {
            token: "ghp_demoChronographToken0000000000000000".into(),
            repository: "acme/storefront".into(),
        }
    }
}

/// One webhook and its deliveries (newest first).
#[derive(Clone, Debug)]
pub struct Hook {
    pub id: u64,
    pub active: bool,
    pub events: Vec<&'static str>,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deliveries: Vec<Delivery>,
}

/// One delivery of a webhook.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: u64,
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub duration: f64,
    pub status: String,
    pub status_code: u16,
    pub event: &'static str,
    pub action: Option<&'static str>,
}

/// What the fake serves.
#[derive(Clone, Debug, Default)]
pub struct GithubData {
    pub hooks: Vec<Hook>,
    next_id: u64,
}

const RECEIVERS: [(&str, &[&str]); 4] = [
    (
        "https://ci.acme.example/github/webhook",
        &["push", "pull_request"],
    ),
    (
        "https://deploy.acme.example/hooks/github",
        &["deployment", "deployment_status"],
    ),
    (
        "https://chat.acme.example/hooks/github-issues",
        &["issues", "issue_comment"],
    ),
    (
        "https://audit.acme.example/ingest/github",
        &["release", "push"],
    ),
];

fn action_of(event: &str, rng: &mut Rng) -> Option<&'static str> {
    let actions: &[&'static str] = match event {
        "pull_request" => &["opened", "synchronize", "closed", "reopened"],
        "issues" => &["opened", "closed", "labeled", "edited"],
        "issue_comment" => &["created", "edited"],
        "deployment_status" => &["created"],
        "release" => &["published", "created"],
        "deployment" => &["created"],
        _ => return None,
    };
    Some(*rng.pick(actions))
}

impl GithubData {
    /// Webhooks of one repository with deliveries over the last 30 days.
    pub fn generate(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed ^ 0x6769_7468_7562);
        let mut data = GithubData {
            hooks: Vec::new(),
            next_id: 1_000_000_000,
        };
        for (n, (url, events)) in RECEIVERS.iter().enumerate() {
            let created_at = now - Duration::days(90 + 20 * n as i64);
            let active = n != 3;
            let mut hook = Hook {
                id: 480_000_000 + rng.between(1_000, 900_000),
                active,
                events: events.to_vec(),
                url: url.to_string(),
                created_at,
                updated_at: created_at + Duration::days(3),
                deliveries: Vec::new(),
            };
            let count = rng.between(40, 160) as usize;
            // A disabled hook stopped delivering when it was disabled.
            let last = if active {
                now
            } else {
                now - Duration::days(12)
            };
            let mut times: Vec<DateTime<Utc>> = (0..count)
                .map(|_| last - Duration::seconds(rng.between(60, 30 * 86_400) as i64))
                .collect();
            times.sort();
            for at in times {
                let delivery = data.delivery(&mut rng, &hook, at);
                hook.deliveries.insert(0, delivery);
            }
            if !active {
                hook.updated_at = last;
            }
            data.hooks.push(hook);
        }
        data
    }

    fn delivery(&mut self, rng: &mut Rng, hook: &Hook, at: DateTime<Utc>) -> Delivery {
        self.next_id += rng.between(1, 40);
        let event = *rng.pick(&hook.events);
        let (status, status_code) = match rng.below(20) {
            0 => ("Invalid HTTP Response: 500".to_string(), 500),
            1 => ("Invalid HTTP Response: 404".to_string(), 404),
            2 => ("timed out".to_string(), 0),
            _ => ("OK".to_string(), 200),
        };
        Delivery {
            id: self.next_id,
            guid: rng.uuid_v4(),
            delivered_at: at,
            redelivery: rng.chance(0.05),
            duration: (rng.between(40, 2_500) as f64) / 1000.0,
            status,
            status_code,
            event,
            action: action_of(event, rng),
        }
    }
}

/// The GitHub fake.
pub struct GithubFake {
    config: GithubFakeConfig,
    data: RwLock<GithubData>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "documentation_url": DOCS });
    json_response(status, &[], body.to_string())
}

impl GithubFake {
    pub fn new(config: GithubFakeConfig, data: GithubData) -> Arc<Self> {
        Arc::new(GithubFake {
            config,
            data: RwLock::new(data),
        })
    }

    pub fn config(&self) -> &GithubFakeConfig {
        &self.config
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// The hooks' ids, in list order.
    pub fn hook_ids(&self) -> Vec<u64> {
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        data.hooks.iter().map(|h| h.id).collect()
    }

    /// A copy of one hook's deliveries (newest first).
    pub fn deliveries(&self, hook_id: u64) -> Vec<Delivery> {
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        data.hooks
            .iter()
            .find(|h| h.id == hook_id)
            .map(|h| h.deliveries.clone())
            .unwrap_or_default()
    }

    /// A new delivery at the head of a hook's list (tests: inserts while paging).
    pub fn deliver(&self, hook_id: u64, at: DateTime<Utc>) -> Option<u64> {
        let mut data = self.data.write().unwrap_or_else(PoisonError::into_inner);
        let mut rng = Rng::new(at.timestamp_millis() as u64);
        let index = data.hooks.iter().position(|h| h.id == hook_id)?;
        let hook = data.hooks[index].clone();
        let delivery = data.delivery(&mut rng, &hook, at);
        let id = delivery.id;
        data.hooks[index].deliveries.insert(0, delivery);
        Some(id)
    }

    fn hook_json(&self, hook: &Hook, base: &str) -> Value {
        let url = format!("{base}/repos/{}/hooks/{}", self.config.repository, hook.id);
        let last = hook.deliveries.first();
        json!({
            "type": "Repository",
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": hook.events,
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": hook.url,
            },
            "updated_at": time(hook.updated_at),
            "created_at": time(hook.created_at),
            "url": url,
            "test_url": format!("{url}/test"),
            "ping_url": format!("{url}/pings"),
            "deliveries_url": format!("{url}/deliveries"),
            "last_response": {
                "code": last.map(|d| d.status_code),
                "status": if last.is_some() { "active" } else { "unused" },
                "message": last.map(|d| d.status.clone()),
            },
        })
    }
}

fn delivery_json(delivery: &Delivery, repository_id: u64) -> Value {
    json!({
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": time(delivery.delivered_at),
        "redelivery": delivery.redelivery,
        "duration": delivery.duration,
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": null,
        "repository_id": repository_id,
        "throttled_at": null,
    })
}

/// `per_page`: GitHub answers 422 outside 1..=100.
fn per_page(query: &[(String, String)]) -> Result<usize, Box<Response>> {
    match query.iter().find(|(k, _)| k == "per_page") {
        None => Ok(DEFAULT_PER_PAGE),
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            _ => Err(Box::new(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed: per_page must be between 1 and 100",
            ))),
        },
    }
}

async fn handle(
    State(fake): State<Arc<GithubFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("token ")));
    if token != Some(fake.config.token.as_str()) {
        let body = json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest" });
        return json_response(StatusCode::UNAUTHORIZED, &[], body.to_string());
    }
    if method != Method::GET {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let base = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_default();
    let query = super::fake::query_params(uri.query());
    let segments = super::fake::path_segments(uri.path());
    let repo: Vec<&str> = fake.config.repository.split('/').collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    match segs.as_slice() {
        ["repos", owner, name, "hooks"] if [*owner, *name] == repo[..] => {
            let per_page = match per_page(&query) {
                Ok(n) => n,
                Err(response) => return *response,
            };
            let page: usize = match query.iter().find(|(k, _)| k == "page") {
                None => 1,
                Some((_, v)) => match v.parse() {
                    Ok(n) if n >= 1 => n,
                    _ => return error(StatusCode::BAD_REQUEST, "Invalid page number"),
                },
            };
            let items: Vec<Value> = data
                .hooks
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|h| fake.hook_json(h, &base))
                .collect();
            let pages = data.hooks.len().div_ceil(per_page).max(1);
            let path = format!("{base}/repos/{}/hooks", fake.config.repository);
            let mut links = Vec::new();
            if page < pages {
                links.push(format!(
                    "<{path}?per_page={per_page}&page={}>; rel=\"next\"",
                    page + 1
                ));
                links.push(format!(
                    "<{path}?per_page={per_page}&page={pages}>; rel=\"last\""
                ));
            }
            let headers: Vec<(String, String)> = if links.is_empty() {
                Vec::new()
            } else {
                vec![("link".to_string(), links.join(", "))]
            };
            json_response(StatusCode::OK, &headers, Value::Array(items).to_string())
        }
        ["repos", owner, name, "hooks", id] if [*owner, *name] == repo[..] => {
            match data.hooks.iter().find(|h| h.id.to_string() == *id) {
                Some(hook) => {
                    json_response(StatusCode::OK, &[], fake.hook_json(hook, &base).to_string())
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ["repos", owner, name, "hooks", id, "deliveries"] if [*owner, *name] == repo[..] => {
            let Some(hook) = data.hooks.iter().find(|h| h.id.to_string() == *id) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let per_page = match per_page(&query) {
                Ok(n) => n,
                Err(response) => return *response,
            };
            // The cursor is `v1_<delivery id>`: the page starts after (older than) it, or with
            // `direction=prev`, ends just before (newer than) it.
            let cursor = match query.iter().find(|(k, _)| k == "cursor") {
                None => None,
                Some((_, v)) => match v.strip_prefix("v1_").and_then(|n| n.parse::<u64>().ok()) {
                    Some(n) => Some(n),
                    None => return error(StatusCode::BAD_REQUEST, "Invalid cursor"),
                },
            };
            let backwards = query.iter().any(|(k, v)| k == "direction" && v == "prev");
            let all = &hook.deliveries;
            let (start, end) = match (cursor, backwards) {
                (None, _) => (0, per_page.min(all.len())),
                (Some(c), false) => {
                    let start = all.iter().position(|d| d.id < c).unwrap_or(all.len());
                    (start, (start + per_page).min(all.len()))
                }
                (Some(c), true) => {
                    let end = all.iter().position(|d| d.id <= c).unwrap_or(all.len());
                    (end.saturating_sub(per_page), end)
                }
            };
            let repository_id = 7_000_000 + hook.id % 1000;
            let items: Vec<Value> = all[start..end]
                .iter()
                .map(|d| delivery_json(d, repository_id))
                .collect();
            let path = format!(
                "{base}/repos/{}/hooks/{}/deliveries",
                fake.config.repository, hook.id
            );
            let mut links = Vec::new();
            if end < all.len() && end > start {
                links.push(format!(
                    "<{path}?per_page={per_page}&cursor=v1_{}>; rel=\"next\"",
                    all[end - 1].id
                ));
            }
            if start > 0 && end > start {
                links.push(format!(
                    "<{path}?per_page={per_page}&cursor=v1_{}&direction=prev>; rel=\"prev\"",
                    all[start].id
                ));
            }
            let headers: Vec<(String, String)> = if links.is_empty() {
                Vec::new()
            } else {
                vec![("link".to_string(), links.join(", "))]
            };
            json_response(StatusCode::OK, &headers, Value::Array(items).to_string())
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
