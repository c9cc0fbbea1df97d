//! A faithful Celigo integrator.io fake (upstreams/celigo.md): bare-array lists paged with
//! `Link: <…>; rel="next"`, 401/404/400/429 bodies from the contract's examples, `include` /
//! `exclude` projection, audit `from` / `to`, an optional leaky-bucket limiter and 204 for empty
//! lists. Data is generated deterministically from a seed.

mod writes;

use super::fake::{iso_ms, json_response, Rng};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Instant;

const ERROR_401: &str = r#"{"errors":[{"code":"unauthorized","message":"Unauthorized"}]}"#;
const ERROR_404: &str = r#"{"errors":[{"code":"not_found","message":"Object not found"}]}"#;
const ERROR_400_BOTH: &str = r#"{"errors":[{"code":"invalid_query_params","message":"Please provide either include or exclude param in the request query and not both."}]}"#;
const ERROR_429: &str =
    r#"{"errors":[{"code":"rate_limited","message":"Too many requests. Retry after 2 seconds."}]}"#;
const MAX_LIMIT: usize = 1000;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct CeligoFakeConfig {
    /// The only bearer token accepted.
    pub token: String,
    /// Page size when the client sends no `limit` (the vendor's is 1000).
    pub default_limit: usize,
    /// Leaky bucket `(burst, refill per second)`; `None` turns limiting off.
    pub rate_limit: Option<(u32, u32)>,
    /// Answer empty lists with 204 and no body (reported for the real API).
    pub empty_as_204: bool,
}

impl Default for CeligoFakeConfig {
    fn default() -> Self {
        CeligoFakeConfig {
            token: "demo-celigo-token".into(),
            default_limit: MAX_LIMIT,
            rate_limit: None,
            empty_as_204: false,
        }
    }
}

/// The account's objects, in the vendor's order.
#[derive(Clone, Debug, Default)]
pub struct CeligoData {
    pub integrations: Vec<Value>,
    pub flows: Vec<Value>,
    pub connections: Vec<Value>,
    pub exports: Vec<Value>,
    pub imports: Vec<Value>,
    pub ashares: Vec<Value>,
    /// Every audit entry of the account, newest first.
    pub audit: Vec<Value>,
    /// Revisions (snapshots) created through the API, oldest first.
    pub revisions: Vec<Value>,
    /// The user the API token belongs to: the actor of changes made through the API.
    pub api_user: Value,
    /// Integrations snapshotted at least once, and those changed since their last snapshot
    /// (`revisions/create?ignoreIfNoChanges=true` answers 204 for the others).
    snapshotted: HashSet<String>,
    changed_since_snapshot: HashSet<String>,
}

const INTEGRATION_NAMES: [&str; 48] = [
    "Shopify - NetSuite Orders",
    "Salesforce - NetSuite Customers",
    "Zendesk Ticket Archive",
    "HubSpot Contacts to Snowflake",
    "Amazon Seller Central - NetSuite",
    "Magento - NetSuite Inventory",
    "Stripe Payouts to NetSuite",
    "Workday - ADP Payroll",
    "Jira Issues to Salesforce Cases",
    "BigCommerce Orders Sync",
    "Marketo Leads to Salesforce",
    "Coupa Invoices to NetSuite",
    "ServiceNow Incidents to Slack",
    "Greenhouse Hires to Workday",
    "Shopify Fulfillment Updates",
    "NetSuite Items to Shopify",
    "Salesforce Opportunities to NetSuite",
    "Zuora Subscriptions to Salesforce",
    "Concur Expenses to NetSuite",
    "Mailchimp Audience Sync",
    "Square POS to QuickBooks",
    "Walmart Marketplace Orders",
    "ShipStation Tracking Sync",
    "Intercom Users to HubSpot",
    "Snowflake Revenue Rollup",
    "SFTP Price List Import",
    "Box Contracts to Salesforce",
    "Okta Users to ServiceNow",
    "eBay Listings from NetSuite",
    "Adyen Settlements to NetSuite",
    "Dynamics 365 Accounts Sync",
    "Sage Intacct GL Export",
    "PayPal Transactions to NetSuite",
    "Klaviyo Events to Snowflake",
    "Gorgias Tickets Archive",
    "Avalara Tax Sync",
    "Pipedrive Deals to NetSuite",
    "Asana Tasks to Jira",
    "FedEx Rates Refresh",
    "Returnly Returns to NetSuite",
    "Freshdesk Tickets to BigQuery",
    "Bill.com Payables Sync",
    "Expensify Reports to NetSuite",
    "Shopify Customers to Klaviyo",
    "Google Sheets Budget Import",
    "Amazon S3 Order Backup",
    "Slack Alerts for Failed Orders",
    "Oracle EBS Vendors Sync",
];

const CONNECTIONS: [(&str, &str); 30] = [
    ("NetSuite Production", "netsuite"),
    ("NetSuite Sandbox", "netsuite"),
    ("Shopify Store (US)", "http"),
    ("Shopify Store (EU)", "http"),
    ("Salesforce Production", "salesforce"),
    ("Salesforce Sandbox", "salesforce"),
    ("Zendesk Support", "http"),
    ("HubSpot Portal", "http"),
    ("Snowflake Warehouse", "rdbms"),
    ("Amazon SP-API", "http"),
    ("Magento 2 Store", "http"),
    ("Stripe Account", "http"),
    ("Workday Tenant", "http"),
    ("ADP Workforce Now", "http"),
    ("Jira Cloud", "http"),
    ("BigCommerce Store", "http"),
    ("Marketo Instance", "http"),
    ("Coupa Instance", "http"),
    ("ServiceNow Instance", "http"),
    ("Slack Workspace", "http"),
    ("Partner SFTP", "ftp"),
    ("Archive S3 Bucket", "s3"),
    ("BigQuery Project", "rdbms"),
    ("Oracle EBS", "rdbms"),
    ("QuickBooks Online", "http"),
    ("Klaviyo Account", "http"),
    ("Google Sheets", "http"),
    ("FedEx Web Services", "http"),
    ("Avalara AvaTax", "http"),
    ("PostgreSQL Reporting", "rdbms"),
];

const USERS: [(&str, &str); 8] = [
    ("Dana Whitfield", "dana.whitfield@example.com"),
    ("Integration Bot", "svc-integrations@example.com"),
    ("Priya Raman", "priya.raman@example.com"),
    ("Marcus Oyelaran", "marcus.oyelaran@example.com"),
    ("Sofia Lindqvist", "sofia.lindqvist@example.com"),
    ("Kenji Watanabe", "kenji.watanabe@example.com"),
    ("Amara Okafor", "amara.okafor@example.com"),
    ("Lucas Moreau", "lucas.moreau@example.com"),
];

const FLOW_VERBS: [&str; 8] = [
    "Orders",
    "Customers",
    "Invoices",
    "Items",
    "Fulfillments",
    "Refunds",
    "Contacts",
    "Payments",
];
const FIELD_PATHS: [(&str, &str); 8] = [
    ("version", "version"),
    ("settings.defaultLocation", "location"),
    ("disabled", "bool"),
    ("schedule", "schedule"),
    ("name", "name"),
    ("settings.batchSize", "number"),
    ("mapping.fields", "mapping"),
    ("tag", "tag"),
];

impl CeligoData {
    /// Deterministic, realistic data: `n_integrations` integrations anchored before `now`; the
    /// first one has exactly 250 audit entries, the others 3 to 40.
    pub fn generate(seed: u64, n_integrations: usize, now: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(seed);
        let mut data = CeligoData::default();
        let users: Vec<Value> = USERS
            .iter()
            .map(|(name, email)| json!({ "_id": rng.hex24(), "name": name, "email": email }))
            .collect();
        for (i, (name, kind)) in CONNECTIONS.iter().enumerate() {
            let created = now - Duration::days(rng.between(400, 1100) as i64);
            data.connections.push(json!({
                "_id": stable_id(&mut rng, now, created),
                "name": name,
                "type": kind,
                "offline": i % 11 == 7,
                "sandbox": name.contains("Sandbox"),
                "createdAt": iso_ms(created),
                "lastModified": iso_ms(created + Duration::days(rng.between(1, 300) as i64)),
            }));
        }
        data.api_user = users[0].clone();
        for user in &users {
            data.ashares.push(
                json!({ "_id": rng.hex24(), "accessLevel": "manage", "sharedWithUser": user }),
            );
        }
        for index in 0..n_integrations {
            data.generate_integration(&mut rng, index, now, &users);
        }
        data.audit
            .sort_by(|a, b| b["time"].as_str().cmp(&a["time"].as_str()));
        data
    }

    fn generate_integration(
        &mut self,
        rng: &mut Rng,
        index: usize,
        now: DateTime<Utc>,
        users: &[Value],
    ) {
        let base_name = INTEGRATION_NAMES[index % INTEGRATION_NAMES.len()];
        let name = match index / INTEGRATION_NAMES.len() {
            0 => base_name.to_string(),
            n => format!("{base_name} ({})", n + 1),
        };
        let created = now
            - Duration::days(rng.between(200, 900) as i64)
            - Duration::minutes(rng.below(1440) as i64);
        let id = stable_id(rng, now, created);
        let registered: Vec<Value> = (0..rng.between(2, 4))
            .map(|_| {
                self.connections[rng.below(self.connections.len() as u64) as usize]["_id"].clone()
            })
            .collect::<Vec<_>>();
        let mut registered_unique = Vec::new();
        for conn in registered {
            if !registered_unique.contains(&conn) {
                registered_unique.push(conn);
            }
        }
        let grouping = rng
            .chance(0.5)
            .then(|| json!({ "_id": stable_id(rng, now, created), "name": "Order sync" }));
        let version = format!("1.{}.{}", rng.below(9), rng.below(12));
        let mut integration = json!({
            "_id": id,
            "name": name,
            "description": format!("{} — managed by the integrations team.", describe(base_name)),
            "lastModified": iso_ms(now - Duration::hours(rng.between(1, 2000) as i64)),
            "createdAt": iso_ms(created),
            "sandbox": rng.chance(0.1),
            "_registeredConnectionIds": registered_unique,
            "settings": { "defaultLocation": rng.pick(&["WH-EAST", "WH-WEST", "WH-CENTRAL"]), "batchSize": rng.between(50, 500) },
            "version": version,
            "tag": rng.pick(&["orders", "finance", "crm", "support", "inventory", "hr"]),
            "updateInProgress": false,
        });
        if let Some(grouping) = &grouping {
            integration["flowGroupings"] = json!([grouping]);
        }
        let mut owned_resources = vec![(id.clone(), "integration".to_string(), name.clone())];
        for f in 0..rng.between(2, 8) {
            let flow_created = created + Duration::hours(rng.between(1, 2000) as i64);
            let flow_id = stable_id(rng, now, flow_created);
            let verb = FLOW_VERBS[(index + f as usize) % FLOW_VERBS.len()];
            let flow_name = format!(
                "{} {verb} to {}",
                source_system(base_name),
                target_system(base_name)
            );
            let connection = |rng: &mut Rng| registered_unique_pick(rng, &integration);
            let export_id = stable_id(rng, now, flow_created);
            let import_id = stable_id(rng, now, flow_created);
            self.exports.push(json!({ "_id": export_id, "name": format!("Get {verb}"), "_connectionId": connection(rng), "adaptorType": "HTTPExport", "_integrationId": id }));
            self.imports.push(json!({ "_id": import_id, "name": format!("Upsert {verb}"), "_connectionId": connection(rng), "adaptorType": "NetSuiteDistributedImport", "_integrationId": id }));
            let mut flow = json!({
                "_id": flow_id,
                "name": flow_name,
                "_integrationId": id,
                "disabled": rng.chance(0.15),
                "pageGenerators": [{ "_exportId": export_id }],
                "pageProcessors": [{ "type": "import", "_importId": import_id, "responseMapping": { "fields": [], "lists": [] } }],
                "schedule": rng.pick(&["? */15 * * * *", "? 0 * * * *", "? 0 2 * * *", "? */5 * * * *"]),
                "timezone": rng.pick(&["America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"]),
                "createdAt": iso_ms(flow_created),
                "lastModified": iso_ms(flow_created + Duration::hours(rng.between(1, 800) as i64)),
            });
            if rng.chance(0.8) {
                flow["lastExecutedAt"] =
                    json!(iso_ms(now - Duration::minutes(rng.between(1, 6000) as i64)));
            }
            if let Some(grouping) = &grouping {
                flow["_flowGroupingId"] = grouping["_id"].clone();
            }
            owned_resources.push((flow_id, "flow".into(), flow_name_of(&flow)));
            owned_resources.push((export_id, "export".into(), format!("Get {verb}")));
            owned_resources.push((import_id, "import".into(), format!("Upsert {verb}")));
            self.flows.push(flow);
        }
        self.integrations.push(integration);
        let count = if index == 0 {
            250
        } else {
            rng.between(3, 40) as usize
        };
        self.generate_audit(rng, count, now, created, &owned_resources, users);
    }

    fn generate_audit(
        &mut self,
        rng: &mut Rng,
        count: usize,
        now: DateTime<Utc>,
        created: DateTime<Utc>,
        resources: &[(String, String, String)],
        users: &[Value],
    ) {
        let span_ms = (now - created).num_milliseconds().max(count as i64 * 2_000);
        let mean_gap = span_ms / (count as i64 + 1);
        let mut time = now - Duration::milliseconds(rng.between(60_000, 259_200_000) as i64);
        for n in 0..count {
            let oldest = n + 1 == count;
            let (resource_id, resource_type, resource_name) = if oldest {
                &resources[0]
            } else {
                rng.pick(resources)
            };
            let event = if oldest {
                "create"
            } else {
                *rng.pick(&[
                    "update", "update", "update", "update", "update", "create", "delete", "update",
                ])
            };
            let system = rng.chance(0.1);
            let mut entry = json!({
                "_id": stable_id(rng, now, time),
                "time": iso_ms(time),
                "resourceType": resource_type,
                "_resourceId": resource_id,
                "source": if system { "system" } else { *rng.pick(&["ui", "ui", "api", "connector"]) },
                "event": event,
                "fieldChanges": field_changes(rng, event),
            });
            if !system {
                let user = rng.pick(users).clone();
                entry["_byUserId"] = user["_id"].clone();
                entry["byUser"] = user;
            }
            if event == "delete" {
                entry["deletedInfo"] = json!({ "name": resource_name });
                entry["fieldChanges"] = json!([]);
            }
            self.audit.push(entry);
            let gap = rng.between(
                (mean_gap / 4).max(1_000) as u64,
                (mean_gap * 7 / 4).max(2_000) as u64,
            ) as i64;
            time -= Duration::milliseconds(gap);
        }
    }

    /// Ids of every resource that belongs to integration `id` (itself, flows, exports, imports).
    fn resources_of(&self, id: &str) -> HashSet<String> {
        let mut ids: HashSet<String> = HashSet::from([id.to_string()]);
        for list in [&self.flows, &self.exports, &self.imports] {
            ids.extend(
                list.iter()
                    .filter(|item| item["_integrationId"] == id)
                    .filter_map(|item| item["_id"].as_str().map(str::to_string)),
            );
        }
        ids
    }

    /// Audit entries of integration `id` and its flows, exports and imports, newest first.
    pub fn audit_of_integration(&self, id: &str) -> Vec<Value> {
        self.audit_refs(id).into_iter().cloned().collect()
    }

    /// Like [`CeligoData::audit_of_integration`], without copying (the fake's hot path).
    fn audit_refs(&self, id: &str) -> Vec<&Value> {
        let ids = self.resources_of(id);
        self.audit
            .iter()
            .filter(|e| e["_resourceId"].as_str().is_some_and(|r| ids.contains(r)))
            .collect()
    }

    fn integration(&self, id: &str) -> Option<&Value> {
        self.integrations.iter().find(|i| i["_id"] == id)
    }
}

fn registered_unique_pick(rng: &mut Rng, integration: &Value) -> Value {
    let ids = integration["_registeredConnectionIds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if ids.is_empty() {
        Value::Null
    } else {
        rng.pick(&ids).clone()
    }
}

fn flow_name_of(flow: &Value) -> String {
    flow["name"].as_str().unwrap_or_default().to_string()
}

/// The system data comes from: "Shopify" in "Shopify - NetSuite Orders" or "Shopify Orders to X".
fn source_system(name: &str) -> &str {
    name.split([' ', '-'])
        .find(|w| !w.is_empty())
        .unwrap_or("Source")
}

/// The system data goes to: "NetSuite" in "Shopify - NetSuite Orders", "Snowflake" in
/// "HubSpot Contacts to Snowflake"; archives and alerts go to NetSuite by default.
fn target_system(name: &str) -> &str {
    let after = name
        .split_once(" - ")
        .map(|(_, rest)| rest)
        .or_else(|| name.split_once(" to ").map(|(_, rest)| rest));
    after
        .and_then(|rest| rest.split(' ').find(|w| !w.is_empty()))
        .unwrap_or("NetSuite")
}

fn describe(name: &str) -> String {
    format!("Keeps {} in step", name.replace(" - ", " and "))
}

fn field_changes(rng: &mut Rng, event: &str) -> Value {
    let mut changes = Vec::new();
    for _ in 0..rng.between(1, 3) {
        let (path, kind) = *rng.pick(&FIELD_PATHS);
        let (old, new) = match kind {
            "version" => (
                json!(format!("1.{}.0", rng.below(5))),
                json!(format!("1.{}.0", 5 + rng.below(5))),
            ),
            "bool" => (json!(false), json!(true)),
            "number" => (json!(rng.between(50, 200)), json!(rng.between(201, 500))),
            "schedule" => (json!("? 0 * * * *"), json!("? */15 * * * *")),
            "location" => (json!("WH-WEST"), json!("WH-EAST")),
            "mapping" => (
                json!([{ "extract": "id", "generate": "externalId" }]),
                json!([{ "extract": "id", "generate": "externalId" }, { "extract": "email", "generate": "email" }]),
            ),
            _ => (json!("orders"), json!("orders-v2")),
        };
        let mut change = Map::new();
        change.insert("fieldPath".into(), json!(path));
        if event != "create" {
            change.insert("oldValue".into(), old);
        }
        change.insert("newValue".into(), new);
        changes.push(Value::Object(change));
    }
    Value::Array(changes)
}

/// Ids are minted as if "now" were a fixed date, so the same seed gives the same ids on every
/// start (examples and bookmarks keep working) while timestamps stay recent.
fn stable_id(rng: &mut Rng, now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let anchor = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    rng.hex24_at(anchor - (now - at))
}

/// The running fake's state.
pub struct CeligoFake {
    config: CeligoFakeConfig,
    data: RwLock<CeligoData>,
    bucket: Mutex<(f64, Instant)>,
    /// Mints the ids of objects created through the API.
    rng: Mutex<Rng>,
}

impl CeligoFake {
    /// A fake serving `data`.
    pub fn new(config: CeligoFakeConfig, data: CeligoData) -> Arc<Self> {
        let burst = config.rate_limit.map_or(0.0, |(burst, _)| f64::from(burst));
        Arc::new(CeligoFake {
            config,
            data: RwLock::new(data),
            bucket: Mutex::new((burst, Instant::now())),
            rng: Mutex::new(Rng::new(0x5EED_C0DE)),
        })
    }

    /// The data, for tests that inspect or change it while the fake runs.
    pub fn data(&self) -> RwLockWriteGuard<'_, CeligoData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every route of the contract under `/v1`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Leaky bucket: `None` when the call may proceed, else the seconds to wait.
    fn throttle(&self) -> Option<u64> {
        let (burst, refill) = self.config.rate_limit?;
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.1).as_secs_f64();
        bucket.0 = (bucket.0 + elapsed * f64::from(refill)).min(f64::from(burst));
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            None
        } else {
            Some((((1.0 - bucket.0) / f64::from(refill.max(1))).ceil() as u64).max(1))
        }
    }
}

fn error(status: StatusCode, body: &str) -> Response {
    json_response(status, &[], body.to_string())
}

/// The body of a 400 `invalid_query_params` answer.
fn invalid_query(message: &str) -> String {
    json!({ "errors": [{ "code": "invalid_query_params", "message": message }] }).to_string()
}

async fn handle(
    State(fake): State<Arc<CeligoFake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let expected = format!("Bearer {}", fake.config.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, ERROR_401);
    }
    if let Some(wait) = fake.throttle() {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &[("Retry-After".into(), wait.to_string())],
            ERROR_429.into(),
        );
    }
    let params = super::fake::query_params(uri.query());
    let query = match ListQuery::parse(&params, fake.config.default_limit) {
        Ok(query) => query,
        Err(body) => return json_response(StatusCode::BAD_REQUEST, &[], body),
    };
    let segments = super::fake::path_segments(uri.path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if method != Method::GET {
        return writes::handle(&fake, &method, &segments, &params, &headers, &body);
    }
    let data = fake.data.read().unwrap_or_else(PoisonError::into_inner);
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let page =
        |items: Vec<&Value>| list_page(&fake.config, items, &query, host, uri.path(), &params);
    match segments.as_slice() {
        ["v1", "tokenInfo"] => json_response(
            StatusCode::OK,
            &[],
            json!({ "_userId": "64a1b2c3d4e5f60718293a4b", "scope": "full" }).to_string(),
        ),
        ["v1", "integrations"] => page(data.integrations.iter().collect()),
        ["v1", "flows"] => page(data.flows.iter().collect()),
        ["v1", "connections"] => page(data.connections.iter().collect()),
        ["v1", "ashares"] => page(data.ashares.iter().collect()),
        ["v1", "audit"] => page(query.audit_window(data.audit.iter().collect())),
        ["v1", "integrations", id] => match data.integration(id) {
            Some(item) => {
                json_response(StatusCode::OK, &[], query.project(item.clone()).to_string())
            }
            None => error(StatusCode::NOT_FOUND, ERROR_404),
        },
        ["v1", "integrations", id, sub] => {
            let Some(integration) = data.integration(id) else {
                return error(StatusCode::NOT_FOUND, ERROR_404);
            };
            fn owned<'a>(list: &'a [Value], id: &str) -> Vec<&'a Value> {
                list.iter().filter(|x| x["_integrationId"] == id).collect()
            }
            match *sub {
                "flows" => page(owned(&data.flows, id)),
                "exports" => page(owned(&data.exports, id)),
                "imports" => page(owned(&data.imports, id)),
                "ashares" => page(data.ashares.iter().collect()),
                "audit" => page(query.audit_window(data.audit_refs(id))),
                "connections" => {
                    let registered = integration["_registeredConnectionIds"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    page(
                        data.connections
                            .iter()
                            .filter(|c| registered.contains(&c["_id"]))
                            .collect(),
                    )
                }
                _ => error(StatusCode::NOT_FOUND, ERROR_404),
            }
        }
        ["v1", kind @ ("flows" | "connections" | "exports" | "imports"), id, "audit"] => {
            let list = match *kind {
                "flows" => &data.flows,
                "connections" => &data.connections,
                "exports" => &data.exports,
                _ => &data.imports,
            };
            if !list.iter().any(|x| x["_id"] == *id) {
                return error(StatusCode::NOT_FOUND, ERROR_404);
            }
            page(
                query.audit_window(
                    data.audit
                        .iter()
                        .filter(|e| e["_resourceId"] == *id)
                        .collect(),
                ),
            )
        }
        _ => error(StatusCode::NOT_FOUND, ERROR_404),
    }
}

/// Parsed list parameters.
struct ListQuery {
    limit: usize,
    skip: usize,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl ListQuery {
    fn parse(params: &[(String, String)], default_limit: usize) -> Result<ListQuery, String> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let limit = match get("limit") {
            None => default_limit,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(invalid_query("limit must be a number between 1 and 1000")),
            },
        };
        let skip = match get("after") {
            None => 0,
            Some(token) => decode_cursor(token)
                .ok_or_else(|| invalid_query("after is not a valid page cursor"))?,
        };
        if get("include").is_some() && get("exclude").is_some() {
            return Err(ERROR_400_BOTH.to_string());
        }
        let fields = |name: &str| -> Result<Option<Vec<String>>, String> {
            let Some(text) = get(name) else {
                return Ok(None);
            };
            if !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ','))
            {
                return Err(invalid_query(&format!(
                    "{name} may only contain letters, digits, '.' and '_'"
                )));
            }
            Ok(Some(
                text.split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
            ))
        };
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
            match get(name) {
                None => Ok(None),
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| invalid_query(&format!("{name} must be an ISO 8601 datetime"))),
            }
        };
        Ok(ListQuery {
            limit,
            skip,
            include: fields("include")?,
            exclude: fields("exclude")?,
            from: time("from")?,
            to: time("to")?,
        })
    }

    /// Apply `from` (inclusive) and `to` (exclusive) to audit entries.
    fn audit_window<'a>(&self, entries: Vec<&'a Value>) -> Vec<&'a Value> {
        entries
            .into_iter()
            .filter(|e| {
                let at = e["time"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc));
                match at {
                    Some(at) => self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t),
                    None => true,
                }
            })
            .collect()
    }

    /// `include` / `exclude` projection; `_id` and `name` are always kept.
    fn project(&self, item: Value) -> Value {
        let Value::Object(map) = item else {
            return item;
        };
        let keep = |key: &str| {
            if key == "_id" || key == "name" {
                return true;
            }
            match (&self.include, &self.exclude) {
                (Some(include), _) => include
                    .iter()
                    .any(|f| f == key || f.starts_with(&format!("{key}."))),
                (_, Some(exclude)) => !exclude.iter().any(|f| f == key),
                _ => true,
            }
        };
        Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect())
    }
}

fn encode_cursor(skip: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("skip:{skip}"))
}

fn decode_cursor(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("skip:")?
        .parse()
        .ok()
}

/// One page of a bare-array list with the `Link` header while more remain.
fn list_page(
    config: &CeligoFakeConfig,
    items: Vec<&Value>,
    query: &ListQuery,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> Response {
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(query.skip)
        .take(query.limit)
        .map(|i| query.project(i.clone()))
        .collect();
    if page.is_empty() && config.empty_as_204 {
        let mut response = json_response(StatusCode::NO_CONTENT, &[], String::new());
        response.headers_mut().remove("content-type");
        return response;
    }
    let next_skip = query.skip + page.len();
    let mut headers = Vec::new();
    if next_skip < total {
        let mut next: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "after" && k != "limit")
            .cloned()
            .collect();
        next.push(("limit".into(), query.limit.to_string()));
        next.push(("after".into(), encode_cursor(next_skip)));
        let query_text: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&next)
            .finish();
        headers.push((
            "Link".to_string(),
            format!("<http://{host}{path}?{query_text}>; rel=\"next\""),
        ));
    }
    json_response(StatusCode::OK, &headers, Value::Array(page).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_across_starts_while_times_follow_now() {
        let now = Utc::now();
        let later = now + Duration::days(3);
        let a = CeligoData::generate(7, 5, now);
        let b = CeligoData::generate(7, 5, later);
        assert_eq!(a.integrations[0]["_id"], b.integrations[0]["_id"]);
        assert_eq!(
            a.audit.last().map(|e| &e["_id"]),
            b.audit.last().map(|e| &e["_id"])
        );
        assert_ne!(
            a.integrations[0]["createdAt"],
            b.integrations[0]["createdAt"]
        );
    }

    #[test]
    fn the_first_integration_has_250_audit_entries_newest_first() {
        let data = CeligoData::generate(1, 3, Utc::now());
        let id = data.integrations[0]["_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let log = data.audit_of_integration(&id);
        assert_eq!(log.len(), 250);
        let times: Vec<&str> = log.iter().filter_map(|e| e["time"].as_str()).collect();
        assert!(
            times.windows(2).all(|w| w[0] > w[1]),
            "strictly newest first"
        );
    }
}
