//! A faithful Intapp DealCloud fake (upstreams/dealcloud.md): the OAuth2 client-credentials
//! token endpoint (form body, 415 without it, 401 `invalid_client`, tokens that expire on a
//! clock tests can advance), `…/entries/history` and `…/entries/allHistory` by entry type id or
//! `apiName`, the whole array with no paging and no timestamps, deletions and merges only with
//! `modifiedSince`, the exact 180-day 400, and an optional per-endpoint limiter answering 429
//! with `Retry-After: 1`.

use super::fake::{json_response, Rng};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Instant;

const ERROR_400_180_DAYS: &str = include_str!("contract/dealcloud/error.400.180-days.json");
const ERROR_415: &str = include_str!("contract/dealcloud/error.415.json");
const ERROR_429: &str = include_str!("contract/dealcloud/error.429.json");
const TOKEN_401: &str = include_str!("contract/dealcloud/token.error.401.json");
const INVALID_TOKEN: &str = r#"{"error":"invalid_token"}"#;
/// How far back `modifiedSince` may reach: exactly 180 × 24 h.
const HISTORY_DAYS: i64 = 180;

/// The demo's entry types: numeric id and `apiName`.
pub const ENTRY_TYPES: [(i64, &str); 2] = [(2013, "interaction"), (2011, "company")];

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct DealcloudFakeConfig {
    /// The only client credentials the token endpoint accepts.
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens (the vendor's is 900 s).
    pub token_lifetime: std::time::Duration,
    /// Calls each endpoint admits per second; `None` turns the limiter off.
    pub rate_limit_per_second: Option<u32>,
    /// Extra generated interactions, for tests of large arrays.
    pub bulk_interactions: usize,
}

impl Default for DealcloudFakeConfig {
    fn default() -> Self {
        DealcloudFakeConfig {
            client_id: "106".into(),
            client_secret: "demo-dealcloud-client-secret".into(),
            token_lifetime: std::time::Duration::from_secs(900),
            rate_limit_per_second: None,
            bulk_interactions: 0,
        }
    }
}

/// One entry and what happened to it.
#[derive(Clone, Debug)]
pub struct FakeDcEntry {
    pub id: i64,
    pub name: String,
    /// Last change by a user (or an integration); `/history` sees only these.
    pub modified_at: DateTime<Utc>,
    /// Last change by a calculation or system trigger; only `/allHistory` sees it.
    pub calculated_at: Option<DateTime<Utc>>,
    /// When it was deleted, or merged away.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The surviving entry it was merged into.
    pub merged_into: Option<i64>,
}

impl FakeDcEntry {
    fn changed_at(&self, all_history: bool) -> DateTime<Utc> {
        match self.calculated_at {
            Some(calculated) if all_history => self.modified_at.max(calculated),
            _ => self.modified_at,
        }
    }
}

/// The entries of one entry type.
#[derive(Clone, Debug)]
pub struct FakeEntryType {
    pub id: i64,
    pub api_name: String,
    pub entries: Vec<FakeDcEntry>,
}

/// The site's data.
#[derive(Clone, Debug, Default)]
pub struct DealcloudData {
    pub entry_types: Vec<FakeEntryType>,
}

const COUNTERPARTIES: [&str; 16] = [
    "Harbor Point Capital",
    "Ridgeway Partners",
    "Alder & Finch",
    "Northgate Industrial",
    "Bluewater Health",
    "Summit Ridge Foods",
    "Kestrel Logistics",
    "Evergreen Software",
    "Lakeshore Dental Group",
    "Ironbridge Energy",
    "Copperline Media",
    "Westfield Packaging",
    "Granite Peak Advisors",
    "Oakmont Hospitality",
    "Silverleaf Pharma",
    "Cedar Valley Farms",
];
const INTERACTION_KINDS: [&str; 8] = [
    "Call with",
    "Lunch -",
    "Intro meeting:",
    "Management presentation -",
    "Site visit:",
    "Follow-up email to",
    "Q2 portfolio review -",
    "Board prep call -",
];

impl DealcloudData {
    /// Deterministic demo data before `now`: interactions (2013) and companies (2011) modified
    /// over two years, deletions and merges inside and outside the 180 days, a few
    /// calculation-only changes, and `bulk` extra interactions.
    pub fn generate(seed: u64, now: DateTime<Utc>, bulk: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x4443_4c44);
        let mut companies = Vec::new();
        for (n, name) in COUNTERPARTIES.iter().enumerate() {
            companies.push(entry(
                &mut rng,
                2_714_400 + 37 * n as i64,
                name.to_string(),
                now,
            ));
        }
        // Duplicates created by imports, merged into the original later.
        for (n, original) in [0usize, 3, 7].into_iter().enumerate() {
            let mut duplicate = entry(
                &mut rng,
                2_760_100 + n as i64,
                format!("{} LLC", COUNTERPARTIES[original]),
                now,
            );
            let merged = now - Duration::days(rng.between(2, 150) as i64);
            duplicate.modified_at = duplicate.modified_at.min(merged);
            duplicate.deleted_at = Some(merged);
            duplicate.merged_into = Some(companies[original].id);
            companies.push(duplicate);
        }
        // A rating recalculated last week on a company nobody edited for months.
        companies[2].modified_at = now - Duration::days(300);
        companies[2].calculated_at = Some(now - Duration::days(6));
        let mut old_company = entry(&mut rng, 2_702_950, "Fairhaven Textiles".into(), now);
        old_company.deleted_at = Some(now - Duration::days(400));
        old_company.modified_at = now - Duration::days(420);
        companies.push(old_company);

        let mut interactions = Vec::new();
        for n in 0..72 {
            let kind = INTERACTION_KINDS[n % INTERACTION_KINDS.len()];
            let who = COUNTERPARTIES[(n * 7 + n / 8) % COUNTERPARTIES.len()];
            let name = format!("{kind} {who}");
            let mut interaction = entry(&mut rng, 3_104_000 + 13 * n as i64, name, now);
            if n % 11 == 5 {
                let deleted = now - Duration::days(rng.between(1, 170) as i64);
                interaction.modified_at = interaction.modified_at.min(deleted);
                interaction.deleted_at = Some(deleted);
            } else if n % 23 == 9 {
                interaction.deleted_at = Some(now - Duration::days(rng.between(200, 600) as i64));
                interaction.modified_at = now - Duration::days(650);
            }
            interactions.push(interaction);
        }
        // The same lunch logged twice; the copy was merged into the original.
        let (survivor, lunch) = (interactions[1].id, interactions[1].name.clone());
        let mut duplicate = entry(&mut rng, 3_101_120, lunch, now);
        duplicate.deleted_at = Some(now - Duration::days(12));
        duplicate.modified_at = now - Duration::days(30);
        duplicate.merged_into = Some(survivor);
        interactions.push(duplicate);
        for n in 0..bulk {
            let kind = INTERACTION_KINDS[n % INTERACTION_KINDS.len()];
            let who = COUNTERPARTIES[n % COUNTERPARTIES.len()];
            let name = format!("{kind} {who} #{}", n + 1);
            interactions.push(entry(&mut rng, 4_000_000 + n as i64, name, now));
        }
        DealcloudData {
            entry_types: vec![
                FakeEntryType {
                    id: ENTRY_TYPES[0].0,
                    api_name: ENTRY_TYPES[0].1.into(),
                    entries: interactions,
                },
                FakeEntryType {
                    id: ENTRY_TYPES[1].0,
                    api_name: ENTRY_TYPES[1].1.into(),
                    entries: companies,
                },
            ],
        }
    }

    /// An entry type by numeric id or `apiName`.
    pub fn entry_type(&self, key: &str) -> Option<&FakeEntryType> {
        self.entry_types
            .iter()
            .find(|t| t.id.to_string() == key || t.api_name.eq_ignore_ascii_case(key))
    }

    /// An entry type to change in a test.
    pub fn entry_type_mut(&mut self, key: &str) -> Option<&mut FakeEntryType> {
        self.entry_types
            .iter_mut()
            .find(|t| t.id.to_string() == key || t.api_name.eq_ignore_ascii_case(key))
    }
}

fn entry(rng: &mut Rng, id: i64, name: String, now: DateTime<Utc>) -> FakeDcEntry {
    let modified_at = now - Duration::minutes(rng.between(30, 2 * 365 * 1440) as i64);
    let calculated_at = rng
        .chance(0.15)
        .then(|| now - Duration::minutes(rng.between(10, 20 * 1440) as i64))
        .filter(|c| *c > modified_at);
    FakeDcEntry {
        id,
        name,
        modified_at,
        calculated_at,
        deleted_at: None,
        merged_into: None,
    }
}

struct IssuedToken {
    expires_at: DateTime<Utc>,
    scopes: Vec<String>,
}

/// The running fake's state.
pub struct DealcloudFake {
    config: DealcloudFakeConfig,
    data: RwLock<DealcloudData>,
    /// How far tests moved the fake's clock ahead of the real one.
    skew: Mutex<Duration>,
    tokens: Mutex<HashMap<String, IssuedToken>>,
    issued: Mutex<u64>,
    /// Per endpoint: the second a fixed window started and the calls admitted in it.
    limiter: Mutex<HashMap<String, (Instant, u32)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DealcloudFake {
    /// A fake serving `data`.
    pub fn new(config: DealcloudFakeConfig, data: DealcloudData) -> Arc<Self> {
        Arc::new(DealcloudFake {
            config,
            data: RwLock::new(data),
            skew: Mutex::new(Duration::zero()),
            tokens: Mutex::new(HashMap::new()),
            issued: Mutex::new(0),
            limiter: Mutex::new(HashMap::new()),
        })
    }

    /// The data, for tests that inspect or change it while the fake runs.
    pub fn data(&self) -> RwLockWriteGuard<'_, DealcloudData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fake's clock: real time plus whatever tests advanced it by.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *lock(&self.skew)
    }

    /// Move the fake's clock forward (tokens expire, the 180 days move).
    pub fn advance(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).unwrap_or_else(|_| Duration::zero());
        *lock(&self.skew) += by;
    }

    /// Every route of the contract.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// `None` when the endpoint may answer, else the 429.
    fn throttle(&self, endpoint: &str) -> Option<Response> {
        let limit = self.config.rate_limit_per_second?;
        let mut windows = lock(&self.limiter);
        let now = Instant::now();
        let window = windows.entry(endpoint.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= std::time::Duration::from_secs(1) {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Some(json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &[("Retry-After".into(), "1".into())],
                ERROR_429.into(),
            ));
        }
        window.1 += 1;
        None
    }

    fn issue_token(&self, scopes: Vec<String>) -> (String, u64) {
        let mut issued = lock(&self.issued);
        *issued += 1;
        let token = format!("dc-fake-access-token-{:016x}", *issued * 0x9E37_79B9);
        let lifetime = self.config.token_lifetime.as_secs();
        let expires_at = self.now() + Duration::seconds(lifetime as i64);
        lock(&self.tokens).insert(token.clone(), IssuedToken { expires_at, scopes });
        (token, lifetime)
    }

    /// Scopes of a valid, unexpired bearer token.
    fn bearer_scopes(&self, headers: &HeaderMap) -> Option<Vec<String>> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })?;
        let now = self.now();
        lock(&self.tokens)
            .get(token)
            .filter(|t| t.expires_at > now)
            .map(|t| t.scopes.clone())
    }
}

async fn handle(
    State(fake): State<Arc<DealcloudFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments = super::fake::path_segments(uri.path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["api", "rest", "v1", "oauth", "token"]) => {
            if let Some(limited) = fake.throttle("token") {
                return limited;
            }
            token(&fake, &headers, &body)
        }
        (Method::GET, ["api", "rest", "v4", "schema", types])
            if types.eq_ignore_ascii_case("entrytypes") =>
        {
            if let Some(limited) = fake.throttle("schema") {
                return limited;
            }
            entry_types(&fake, &headers)
        }
        (
            Method::GET,
            ["api", "rest", "v4", "data", "entrydata", entry_type, "entries", route @ ("history" | "allHistory")],
        ) => {
            if let Some(limited) = fake.throttle(route) {
                return limited;
            }
            history(
                &fake,
                &headers,
                entry_type,
                *route == "allHistory",
                uri.query(),
            )
        }
        _ => json_response(StatusCode::NOT_FOUND, &[], String::new()),
    }
}

fn token(fake: &DealcloudFake, headers: &HeaderMap, body: &[u8]) -> Response {
    let form_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_body {
        return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &[], ERROR_415.into());
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &[],
            r#"{"error":"unsupported_grant_type"}"#.into(),
        );
    }
    if field("client_id") != Some(fake.config.client_id.as_str())
        || field("client_secret") != Some(fake.config.client_secret.as_str())
    {
        return json_response(StatusCode::UNAUTHORIZED, &[], TOKEN_401.into());
    }
    let scopes = field("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let (token, lifetime) = fake.issue_token(scopes);
    json_response(
        StatusCode::OK,
        &[],
        json!({ "access_token": token, "token_type": "bearer", "expires_in": lifetime })
            .to_string(),
    )
}

/// The Schema API's entry types: id, `apiName` and display names, for a valid token.
fn entry_types(fake: &DealcloudFake, headers: &HeaderMap) -> Response {
    if fake.bearer_scopes(headers).is_none() {
        return json_response(StatusCode::UNAUTHORIZED, &[], INVALID_TOKEN.into());
    }
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let types: Vec<Value> = data
        .entry_types
        .iter()
        .map(|t| {
            let singular = display_name(&t.api_name);
            let plural = match singular.strip_suffix('y') {
                Some(stem) => format!("{stem}ies"),
                None => format!("{singular}s"),
            };
            json!({ "id": t.id, "apiName": t.api_name, "singularName": singular, "pluralName": plural })
        })
        .collect();
    json_response(StatusCode::OK, &[], Value::Array(types).to_string())
}

/// `interaction` → `Interaction`.
fn display_name(api_name: &str) -> String {
    let mut chars = api_name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn history(
    fake: &DealcloudFake,
    headers: &HeaderMap,
    entry_type: &str,
    all_history: bool,
    query: Option<&str>,
) -> Response {
    let Some(scopes) = fake.bearer_scopes(headers) else {
        return json_response(StatusCode::UNAUTHORIZED, &[], INVALID_TOKEN.into());
    };
    if !scopes.iter().any(|s| s == "data") {
        return json_response(StatusCode::FORBIDDEN, &[], String::new());
    }
    let since_text: Option<String> = super::fake::query_params(query)
        .into_iter()
        .find(|(k, _)| k == "modifiedSince")
        .map(|(_, v)| v);
    let now = fake.now();
    let since = match since_text.as_deref() {
        None => None,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => return invalid_since(text),
        },
    };
    if since.is_some_and(|s| s < now - Duration::hours(24 * HISTORY_DAYS)) {
        return json_response(StatusCode::BAD_REQUEST, &[], ERROR_400_180_DAYS.into());
    }
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let Some(kind) = data.entry_type(entry_type) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &[],
            json!({ "message": format!("Entry type '{entry_type}' was not found.") }).to_string(),
        );
    };
    let listed: Vec<Value> = kind
        .entries
        .iter()
        .filter_map(|e| listing(e, kind.id, since, all_history))
        .collect();
    json_response(StatusCode::OK, &[], Value::Array(listed).to_string())
}

/// An entry as `/history` lists it for `since`, or `None` when it is not listed. Without
/// `since`: every entry ever modified that still exists. With it: entries modified since, and
/// entries deleted or merged away since (a merge keeps `isDeleted: false`, as documented).
fn listing(
    entry: &FakeDcEntry,
    entry_type_id: i64,
    since: Option<DateTime<Utc>>,
    all_history: bool,
) -> Option<Value> {
    let gone = match (since, entry.deleted_at) {
        (None, Some(_)) => return None,
        (None, None) => false,
        (Some(since), Some(deleted)) if deleted >= since => true,
        (Some(_), Some(_)) => return None,
        (Some(since), None) if entry.changed_at(all_history) >= since => false,
        (Some(_), None) => return None,
    };
    let mut map = Map::new();
    let merged = gone && entry.merged_into.is_some();
    map.insert("isDeleted".into(), json!(gone && !merged));
    map.insert("id".into(), json!(entry.id));
    if merged {
        map.insert("mergedEntryId".into(), json!(entry.merged_into));
    }
    map.insert("name".into(), json!(entry.name));
    map.insert("entryListId".into(), json!(entry_type_id));
    Some(Value::Object(map))
}

fn invalid_since(text: &str) -> Response {
    let body = json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": { "modifiedSince": [format!("The value '{text}' is not valid.")] },
    });
    json_response(StatusCode::BAD_REQUEST, &[], body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_since_no_deletions_with_since_deletions_and_merges() {
        let now = Utc::now();
        let data = DealcloudData::generate(3, now, 0);
        let interactions = data.entry_type("2013").expect("by id");
        assert_eq!(data.entry_type("Interaction").map(|t| t.id), Some(2013));
        let all: Vec<Value> = interactions
            .entries
            .iter()
            .filter_map(|e| listing(e, 2013, None, false))
            .collect();
        assert!(all
            .iter()
            .all(|v| v["isDeleted"] == false && v.get("mergedEntryId").is_none()));
        let recent: Vec<Value> = interactions
            .entries
            .iter()
            .filter_map(|e| listing(e, 2013, Some(now - Duration::days(179)), false))
            .collect();
        assert!(recent.iter().any(|v| v["isDeleted"] == true));
        assert!(recent.iter().any(|v| v.get("mergedEntryId").is_some()));
        assert!(recent.len() < interactions.entries.len());
    }
}
