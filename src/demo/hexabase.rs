//! A faithful Hexabase fake (upstreams/hexabase.md): `POST /api/v0/login`, item histories in
//! `from_index`/`to_index` windows (default 0..30, at most 100), `from_datetime`/`to_datetime`
//! (inclusive, on `updated_at`), `exclude_action_history`/`exclude_comment_history`, entries
//! ordered by `updated_at` desc (ties by `history_id`), the caller's unread counter and the read
//! side effect, timestamps with mixed fractional precision, and error bodies shaped like the
//! contract's examples. It counts history calls per (user, item) so tests can assert reads.

use super::fake::{json_response, Rng};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};

const ERROR_401: &str = include_str!("contract/hexabase/error.401.json");
const ERROR_404: &str = include_str!("contract/hexabase/error.404.json");
const ERROR_400_WINDOW: &str = include_str!("contract/hexabase/error.400.json");
/// Largest window (`to_index - from_index`).
const MAX_WINDOW: i64 = 100;
/// Window when the client sends no `to_index`.
const DEFAULT_TO_INDEX: i64 = 30;

/// The demo application: 24-hex id and the display id set in the admin screen.
pub const DEMO_APPLICATION_ID: &str = "6650a0f1e4b0f8a9d3c70a11";
/// Display id of the demo application (accepted like the 24-hex id).
pub const DEMO_APPLICATION_DISPLAY_ID: &str = "customer-support";
/// The demo datastore's 24-hex id.
pub const DEMO_DATASTORE_ID: &str = "6650a0f1e4b0f8a9d3c70b22";
/// Display id of the demo datastore.
pub const DEMO_DATASTORE_DISPLAY_ID: &str = "support-tickets";
/// Demo items: (id, title, number of history entries).
pub const DEMO_ITEMS: [(&str, &str, usize); 3] = [
    (
        "6650a1c2e4b0f8a9d3c71e05",
        "Printer on 3F jams on duplex jobs",
        5,
    ),
    (
        "6650a1c2e4b0f8a9d3c71e78",
        "Late delivery: order #48213 (Harbor Logistics)",
        120,
    ),
    (
        "6650a1c2e4b0f8a9d3c71ee6",
        "Onboarding: Ridgeway Partners tenant migration",
        230,
    ),
];

/// People of the demo workspace: id, two spellings of the username (seed 002 shows that a
/// user's `username` is not stable across entries), email.
const USERS: [(&str, &str, &str, &str); 5] = [
    (
        "5fc9b4aaaa39557110839cf7",
        "k.tanaka",
        "kenji.tanaka",
        "k.tanaka@example.com",
    ),
    (
        "5f25952c28dc5c55b463bc76",
        "m.sato",
        "misaki.sato",
        "m.sato@example.com",
    ),
    (
        "60a7c1e2aa3955a1f0c2d311",
        "y.suzuki",
        "yuto.suzuki",
        "y.suzuki@example.com",
    ),
    (
        "61b2d4f6aa3955b2e1d3e422",
        "a.ito",
        "aiko.ito",
        "a.ito@example.com",
    ),
    (
        "62c3e5a7aa3955c3f2e4f533",
        "r.nakamura",
        "ryo.nakamura",
        "r.nakamura@example.com",
    ),
];

const COMMENTS: [&str; 24] = [
    "Customer confirmed the new delivery date.",
    "Escalated to the logistics team.",
    "Called the customer back, no answer. Will retry after lunch.",
    "Attached the carrier's tracking report.",
    "Root cause looks like a mislabelled pallet at the Osaka hub.",
    "Waiting for the warehouse to confirm stock levels.",
    "Customer asked for a partial refund on the shipping fee.",
    "Refund approved by finance (ref FIN-2291).",
    "Spoke with the site manager; they will send photos tomorrow.",
    "Photos received, damage is limited to the outer carton.",
    "Replacement shipped via express courier.",
    "Please double-check the billing address before the next shipment.",
    "Added the customer's IT contact to the thread.",
    "Migration window agreed: Saturday 02:00-06:00 JST.",
    "Test import of 1,200 records finished without errors.",
    "Two custom fields need a different data type, see the mapping sheet.",
    "Mapping sheet updated, ready for review.",
    "Reviewed. Looks good to me.",
    "User accounts created for the pilot team (14 people).",
    "Pilot feedback: the status names should match their old tool.",
    "Renamed statuses as requested.",
    "Reminder: close this ticket once the customer signs off.",
    "Customer signed off by email, archiving the thread.",
    "Follow-up meeting booked for next Tuesday.",
];

/// Actions of the demo datastore: id, name, `action_operation`, `is_status_action`.
const ACTIONS: [(&str, &str, Option<&str>, Option<bool>); 6] = [
    ("5f38a11daa39556e74845a4d", "New", Some("1"), Some(false)),
    ("5f38a11daa39556e74845a4b", "Update", Some("2"), None),
    ("5f38a11daa39556e74845a51", "Start work", None, Some(true)),
    ("5f38a11daa39556e74845a53", "Assign", Some("2"), None),
    ("5f38a11daa39556e74845a55", "Resolve", None, Some(true)),
    ("5f38a11daa39556e74845a57", "Reopen", None, Some(true)),
];

/// How the fake authenticates its callers.
#[derive(Clone, Debug)]
pub struct HexabaseFakeConfig {
    /// The login `POST /api/v0/login` accepts (it acts as the first demo user).
    pub email: String,
    /// The password that goes with `email`.
    pub password: String,
    /// A token issued in advance to the first demo user, for `token = …` configs.
    pub api_token: String,
}

impl Default for HexabaseFakeConfig {
    fn default() -> Self {
        HexabaseFakeConfig {
            email: USERS[0].3.to_string(),
            password: "demo-hexabase-password".into(),
            api_token: "demo-hexabase-api-token".into(),
        }
    }
}

/// One history entry as the fake stores it.
#[derive(Clone, Debug)]
pub struct FakeEntry {
    pub history_id: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Index into the action table for action executions.
    pub action: Option<usize>,
    pub transaction_id: Option<String>,
    pub user: usize,
    /// Spelling of the username on this entry.
    pub username_variant: bool,
    /// Set when the comment was edited (`updated_by`).
    pub edited_by: Option<usize>,
    /// Write `created_at` with a `+09:00` offset (the older API guide's form).
    pub offset_created_at: bool,
    /// Unread for every user but its author until they list it.
    pub unread: bool,
}

/// One item and its history, in the vendor's order (`updated_at` desc, ties by id).
#[derive(Clone, Debug)]
pub struct FakeItem {
    pub id: String,
    pub title: String,
    pub entries: Vec<FakeEntry>,
}

impl FakeItem {
    /// Restore the vendor order after a change (an edit moves an entry to the head).
    pub fn sort(&mut self) {
        self.entries.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.history_id.cmp(&b.history_id))
        });
    }

    /// Entry ids in the vendor's order.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.history_id.clone()).collect()
    }
}

/// The workspace: one application, one datastore, its items.
#[derive(Clone, Debug, Default)]
pub struct HexabaseData {
    pub items: Vec<FakeItem>,
}

impl HexabaseData {
    /// Deterministic demo data before `now`: the items of [`DEMO_ITEMS`].
    pub fn generate(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed ^ 0x4845_5841);
        let items = DEMO_ITEMS
            .iter()
            .map(|(id, title, count)| generate_item(&mut rng, id, title, *count, now))
            .collect();
        HexabaseData { items }
    }

    /// An item by id.
    pub fn item(&self, id: &str) -> Option<&FakeItem> {
        self.items.iter().find(|i| i.id == id)
    }

    /// An item by id, to change it in a test.
    pub fn item_mut(&mut self, id: &str) -> Option<&mut FakeItem> {
        self.items.iter_mut().find(|i| i.id == id)
    }
}

fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn generate_item(
    rng: &mut Rng,
    id: &str,
    title: &str,
    count: usize,
    now: DateTime<Utc>,
) -> FakeItem {
    // Hexabase stores milliseconds (MongoDB dates): no finer precision in the demo data.
    let newest = to_millis(now - Duration::minutes(rng.between(5, 600) as i64));
    let mean_gap_ms = 3 * 3_600_000 + rng.between(0, 3_600_000) as i64;
    let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(count);
    let mut t = newest;
    for _ in 0..count {
        times.push(t);
        let gap = rng.between((mean_gap_ms / 5) as u64, (mean_gap_ms * 9 / 5) as u64) as i64;
        t -= Duration::milliseconds(gap);
    }
    times.reverse();
    let mut entries = Vec::with_capacity(count);
    for (n, created) in times.into_iter().enumerate() {
        let first = n == 0;
        let action = if first {
            Some(0)
        } else if n == 1 {
            None
        } else if rng.chance(0.35) {
            Some(1 + rng.below(ACTIONS.len() as u64 - 1) as usize)
        } else {
            None
        };
        let comment = match action {
            Some(0) => "Created".to_string(),
            Some(_) if rng.chance(0.5) => "Updated".to_string(),
            _ => rng.pick(&COMMENTS).to_string(),
        };
        let user = rng.below(USERS.len() as u64) as usize;
        let edited = action.is_none() && rng.chance(0.08);
        let updated = if edited {
            (created + Duration::minutes(rng.between(3, 3000) as i64)).min(newest)
        } else {
            created
        };
        entries.push(FakeEntry {
            history_id: rng.hex24_at(created),
            transaction_id: action.map(|_| rng.hex24_at(created)),
            comment,
            created_at: created,
            updated_at: updated,
            action,
            user,
            username_variant: rng.chance(0.2),
            edited_by: edited.then_some(user),
            offset_created_at: rng.chance(0.08),
            unread: n + 8 >= count || rng.chance(0.1),
        });
    }
    let mut item = FakeItem {
        id: id.to_string(),
        title: title.to_string(),
        entries,
    };
    item.sort();
    item
}

/// Go's `RFC3339Nano` at millisecond precision: trailing zeros of the fraction are dropped,
/// so one response mixes `.29Z`, `.104Z`, `.9Z` and whole seconds.
pub fn go_time(t: DateTime<Utc>, offset: bool) -> String {
    let text = if offset {
        let jst = chrono::FixedOffset::east_opt(9 * 3600).map(|tz| t.with_timezone(&tz));
        match jst {
            Some(local) => local.to_rfc3339_opts(SecondsFormat::Millis, false),
            None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    };
    trim_fraction(&text)
}

fn trim_fraction(text: &str) -> String {
    let Some(dot) = text.find('.') else {
        return text.to_string();
    };
    let zone_at = text[dot..]
        .find(['Z', '+', '-'])
        .map_or(text.len(), |i| dot + i);
    let digits = text[dot + 1..zone_at].trim_end_matches('0');
    let zone = &text[zone_at..];
    if digits.is_empty() {
        format!("{}{zone}", &text[..dot])
    } else {
        format!("{}.{digits}{zone}", &text[..dot])
    }
}

/// The running fake's state.
pub struct HexabaseFake {
    config: HexabaseFakeConfig,
    data: RwLock<HexabaseData>,
    /// Bearer tokens issued, and the user each belongs to.
    tokens: Mutex<HashMap<String, usize>>,
    issued: Mutex<u64>,
    /// Entries each user has listed (they are read for that user from then on).
    read: Mutex<HashMap<usize, HashSet<String>>>,
    /// History calls per (user id, item id).
    calls: Mutex<HashMap<(String, String), usize>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HexabaseFake {
    /// A fake serving `data`.
    pub fn new(config: HexabaseFakeConfig, data: HexabaseData) -> Arc<Self> {
        let tokens = HashMap::from([(config.api_token.clone(), 0)]);
        Arc::new(HexabaseFake {
            config,
            data: RwLock::new(data),
            tokens: Mutex::new(tokens),
            issued: Mutex::new(0),
            read: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// The data, for tests that inspect or change it while the fake runs.
    pub fn data(&self) -> RwLockWriteGuard<'_, HexabaseData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user id the configured credentials and the API token act as.
    pub fn caller_id(&self) -> &'static str {
        USERS[0].0
    }

    /// History calls `user_id` made for `item_id` (answered, i.e. authorised).
    pub fn reads(&self, user_id: &str, item_id: &str) -> usize {
        lock(&self.calls)
            .get(&(user_id.to_string(), item_id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Unread entries of an item for a user, as the next call would report them.
    pub fn unread_count(&self, user_id: &str, item_id: &str) -> usize {
        let user = USERS.iter().position(|u| u.0 == user_id).unwrap_or(0);
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        let read = lock(&self.read);
        data.item(item_id).map_or(0, |item| {
            item.entries
                .iter()
                .filter(|e| is_unread(e, user, read.get(&user)))
                .count()
        })
    }

    /// Invalidate every token issued so far (a login session expired), the API token too.
    pub fn expire_tokens(&self) {
        lock(&self.tokens).clear();
    }

    /// Every route of the contract.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    fn issue_token(&self, user: usize) -> String {
        let mut issued = lock(&self.issued);
        *issued += 1;
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            json!({ "sub": USERS[user].0, "jti": format!("fake-{}", *issued) }).to_string(),
        );
        let signature = URL_SAFE_NO_PAD.encode(format!("fake-signature-{}", *issued));
        let token = format!("{header}.{claims}.{signature}");
        lock(&self.tokens).insert(token.clone(), user);
        token
    }

    fn caller(&self, headers: &HeaderMap) -> Option<usize> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?;
        lock(&self.tokens).get(token).copied()
    }
}

fn is_unread(entry: &FakeEntry, user: usize, read: Option<&HashSet<String>>) -> bool {
    entry.unread && entry.user != user && !read.is_some_and(|r| r.contains(&entry.history_id))
}

fn error(status: StatusCode, body: &str) -> Response {
    json_response(status, &[], body.to_string())
}

/// The body of a 400 `INVALID_PARAMS` answer.
fn invalid(message: &str) -> String {
    json!({ "error_code": "INVALID_PARAMS", "message": message }).to_string()
}

async fn handle(
    State(fake): State<Arc<HexabaseFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments = super::fake::path_segments(uri.path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["api", "v0", "login"]) => login(&fake, &body),
        (
            Method::GET,
            ["api", "v0", "applications", app, "datastores", datastore, "items", "histories", item],
        ) => {
            let Some(user) = fake.caller(&headers) else {
                return error(StatusCode::UNAUTHORIZED, ERROR_401);
            };
            histories(&fake, user, app, datastore, item, uri.query())
        }
        _ if fake.caller(&headers).is_none() => error(StatusCode::UNAUTHORIZED, ERROR_401),
        _ => error(StatusCode::NOT_FOUND, ERROR_404),
    }
}

fn login(fake: &HexabaseFake, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            &invalid("request body must be JSON with email and password"),
        );
    };
    let email = request["email"].as_str();
    let password = request["password"].as_str();
    if email != Some(fake.config.email.as_str()) || password != Some(fake.config.password.as_str())
    {
        return error(
            StatusCode::UNAUTHORIZED,
            r#"{"error_code":"UNAUTHORIZED","message":"email or password is incorrect"}"#,
        );
    }
    let token = fake.issue_token(0);
    json_response(StatusCode::OK, &[], json!({ "token": token }).to_string())
}

/// Parsed window parameters.
struct Window {
    from: usize,
    to: usize,
    from_datetime: Option<DateTime<Utc>>,
    to_datetime: Option<DateTime<Utc>>,
    exclude_actions: bool,
    exclude_comments: bool,
}

impl Window {
    /// The window, or the body of the 400 that rejects it.
    fn parse(query: Option<&str>) -> Result<Window, String> {
        let params = super::fake::query_params(query);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let index = |name: &str, default: i64| -> Result<i64, String> {
            match get(name) {
                None => Ok(default),
                Some(text) => text
                    .parse::<i64>()
                    .map_err(|_| invalid(&format!("{name} must be an integer"))),
            }
        };
        let from = index("from_index", 0)?;
        let to = index("to_index", DEFAULT_TO_INDEX)?;
        if from < 0 || to < 0 {
            return Err(invalid("from_index and to_index must not be negative"));
        }
        if from > to {
            return Err(invalid("from_index must not be greater than to_index"));
        }
        if to - from > MAX_WINDOW {
            return Err(ERROR_400_WINDOW.to_string());
        }
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
            match get(name) {
                None => Ok(None),
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| {
                        invalid(&format!(
                            "{name} must be an ISO 8601 datetime like 2024-05-14T02:05:44.104Z"
                        ))
                    }),
            }
        };
        let flag = |name: &str| -> Result<bool, String> {
            match get(name) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(invalid(&format!("{name} must be true or false"))),
            }
        };
        Ok(Window {
            from: usize::try_from(from).unwrap_or(0),
            to: usize::try_from(to).unwrap_or(0),
            from_datetime: time("from_datetime")?,
            to_datetime: time("to_datetime")?,
            exclude_actions: flag("exclude_action_history")?,
            exclude_comments: flag("exclude_comment_history")?,
        })
    }

    fn admits(&self, entry: &FakeEntry) -> bool {
        let kind_ok = match entry.action {
            Some(_) => !self.exclude_actions,
            None => !self.exclude_comments,
        };
        kind_ok
            && self.from_datetime.is_none_or(|f| entry.updated_at >= f)
            && self.to_datetime.is_none_or(|t| entry.updated_at <= t)
    }
}

fn histories(
    fake: &HexabaseFake,
    user: usize,
    app: &str,
    datastore: &str,
    item_id: &str,
    query: Option<&str>,
) -> Response {
    let window = match Window::parse(query) {
        Ok(window) => window,
        Err(body) => return error(StatusCode::BAD_REQUEST, &body),
    };
    let known_app = app == DEMO_APPLICATION_ID || app == DEMO_APPLICATION_DISPLAY_ID;
    let known_datastore = datastore == DEMO_DATASTORE_ID || datastore == DEMO_DATASTORE_DISPLAY_ID;
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let item = match data.item(item_id) {
        Some(item) if known_app && known_datastore => item,
        _ => return error(StatusCode::NOT_FOUND, ERROR_404),
    };
    *lock(&fake.calls)
        .entry((USERS[user].0.to_string(), item_id.to_string()))
        .or_insert(0) += 1;
    let mut read = lock(&fake.read);
    let seen = read.entry(user).or_default();
    let unread = item
        .entries
        .iter()
        .filter(|e| is_unread(e, user, Some(seen)))
        .count();
    let listed: Vec<(usize, &FakeEntry)> = item
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| window.admits(e))
        .skip(window.from)
        .take(window.to - window.from)
        .collect();
    let histories: Vec<Value> = listed
        .iter()
        .map(|(position, entry)| render(entry, *position, is_unread(entry, user, Some(seen))))
        .collect();
    seen.extend(listed.iter().map(|(_, e)| e.history_id.clone()));
    json_response(
        StatusCode::OK,
        &[],
        json!({ "unread": unread, "histories": histories }).to_string(),
    )
}

/// One entry in the wire shape of seed 002: action keys only on actions, `updated_by` only on
/// edited comments.
fn render(entry: &FakeEntry, display_order: usize, unread: bool) -> Value {
    let (user_id, short, long, email) = USERS[entry.user];
    let mut map = Map::new();
    map.insert("history_id".into(), json!(entry.history_id));
    map.insert("display_order".into(), json!(display_order));
    map.insert("is_unread".into(), json!(unread));
    map.insert("comment".into(), json!(entry.comment));
    map.insert(
        "created_at".into(),
        json!(go_time(entry.created_at, entry.offset_created_at)),
    );
    if let Some(action) = entry.action {
        let (action_id, name, operation, status) = ACTIONS[action];
        map.insert("action_id".into(), json!(action_id));
        map.insert("action_name".into(), json!(name));
        map.insert("transaction_id".into(), json!(entry.transaction_id));
        if let Some(operation) = operation {
            map.insert("action_operation".into(), json!(operation));
        }
        if let Some(status) = status {
            map.insert("is_status_action".into(), json!(status));
        }
    }
    map.insert("datastore_id".into(), json!(DEMO_DATASTORE_ID));
    map.insert("datastore_name".into(), json!("Support Tickets"));
    map.insert("user_id".into(), json!(user_id));
    map.insert(
        "username".into(),
        json!(if entry.username_variant { long } else { short }),
    );
    map.insert("email".into(), json!(email));
    if let Some(editor) = entry.edited_by {
        map.insert("updated_by".into(), json!(USERS[editor].0));
    }
    map.insert("updated_at".into(), json!(go_time(entry.updated_at, false)));
    map.insert("is_updated".into(), json!(entry.edited_by.is_some()));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_times_drop_trailing_zeros() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        assert_eq!(
            go_time(at("2021-03-06T13:33:30.290Z"), false),
            "2021-03-06T13:33:30.29Z"
        );
        assert_eq!(
            go_time(at("2021-03-08T15:05:44.104Z"), false),
            "2021-03-08T15:05:44.104Z"
        );
        assert_eq!(
            go_time(at("2021-03-08T15:05:44.000Z"), false),
            "2021-03-08T15:05:44Z"
        );
        assert_eq!(
            go_time(at("2017-09-06T03:55:22.409Z"), true),
            "2017-09-06T12:55:22.409+09:00"
        );
    }

    #[test]
    fn demo_items_have_the_documented_sizes_in_vendor_order() {
        let data = HexabaseData::generate(1, Utc::now());
        for ((id, _, count), item) in DEMO_ITEMS.iter().zip(&data.items) {
            assert_eq!(item.id, *id);
            assert_eq!(item.entries.len(), *count);
            assert!(item
                .entries
                .windows(2)
                .all(|w| w[0].updated_at >= w[1].updated_at));
            assert!(item.entries.iter().any(|e| e.action.is_some()));
            assert!(item.entries.iter().any(|e| e.action.is_none()));
        }
    }
}
