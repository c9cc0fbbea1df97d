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
use std::collections::{HashMap, HashSet};
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
    /// Resources deleted before the data was generated, by integration: their audit entries
    /// (the deletion) stay in the integration's log.
    retired: HashMap<String, Vec<String>>,
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

/// Flows of an integration, from its systems and what it moves: `{src}`, `{dst}`, `{obj}`.
/// The first is the main flow; an integration has the first 2 to 7.
const FLOW_TEMPLATES: [&str; 7] = [
    "{src} {obj} to {dst}",
    "{src} {obj} to {dst} (initial load)",
    "{dst} status back to {src}",
    "{src} {obj} deletions to {dst}",
    "{dst} IDs back to {src}",
    "{src} {obj} nightly reconciliation",
    "Retry failed {obj} records",
];

/// Words of an integration's name that say neither a system nor what it moves.
const NAME_FILLERS: [&str; 10] = [
    "to", "Sync", "Updates", "Import", "Export", "Backup", "Refresh", "Rollup", "for", "from",
];

/// Words of a connection's name that do not name its system.
const CONNECTION_FILLERS: [&str; 16] = [
    "Production",
    "Sandbox",
    "Store",
    "(US)",
    "(EU)",
    "Support",
    "Portal",
    "Warehouse",
    "Account",
    "Instance",
    "Tenant",
    "Cloud",
    "Online",
    "Workspace",
    "Project",
    "Reporting",
];

/// Descriptions, picked per integration: `{name}` is its name with " - " as " and ".
const DESCRIPTIONS: [&str; 5] = [
    "Keeps {name} in step.",
    "{name}: runs on a schedule, owned by the integrations team.",
    "Moves {obj} from {src} to {dst}; failures page the on-call engineer.",
    "Replaces the nightly CSV hand-off between {src} and {dst}.",
    "{src} to {dst} for the finance close. Ask #integrations before changing mappings.",
];

/// Audit field paths by resource type, with what kind of value each holds.
const INTEGRATION_PATHS: [(&str, &str); 4] = [
    ("version", "version"),
    ("settings.defaultLocation", "location"),
    ("settings.batchSize", "number"),
    ("tag", "tag"),
];
const FLOW_PATHS: [(&str, &str); 2] = [("disabled", "bool"), ("schedule", "schedule")];
const IMPORT_PATHS: [(&str, &str); 1] = [("mapping.fields", "mapping")];
const SCHEDULES: [&str; 4] = [
    "? */15 * * * *",
    "? 0 * * * *",
    "? 0 2 * * *",
    "? */5 * * * *",
];
const LOCATIONS: [&str; 3] = ["WH-EAST", "WH-WEST", "WH-CENTRAL"];
const TAGS: [&str; 6] = ["orders", "finance", "crm", "support", "inventory", "hr"];
const MAPPED_FIELDS: [(&str, &str); 6] = [
    ("id", "externalId"),
    ("email", "email"),
    ("total", "amount"),
    ("currency", "currencyCode"),
    ("updated_at", "lastModifiedDate"),
    ("status", "statusRef"),
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
        let (src, dst) = (source_system(base_name), target_system(base_name));
        let obj = moved_object(base_name, src, dst);
        let registered_unique = self.connections_for(rng, base_name, src, dst);
        let grouping = rng
            .chance(0.5)
            .then(|| json!({ "_id": stable_id(rng, now, created), "name": "Order sync" }));
        let version = format!("1.{}.{}", rng.below(9), rng.below(12));
        let mut integration = json!({
            "_id": id,
            "name": name,
            "description": fill(DESCRIPTIONS[rng.below(DESCRIPTIONS.len() as u64) as usize], base_name, src, dst, &obj),
            "lastModified": iso_ms(now - Duration::hours(rng.between(1, 2000) as i64)),
            "createdAt": iso_ms(created),
            "sandbox": rng.chance(0.1),
            "_registeredConnectionIds": registered_unique,
            "settings": { "defaultLocation": rng.pick(&LOCATIONS), "batchSize": rng.between(50, 500) },
            "version": version,
            "tag": rng.pick(&TAGS),
            "updateInProgress": false,
        });
        if let Some(grouping) = &grouping {
            integration["flowGroupings"] = json!([grouping]);
        }
        let mut owned_resources = vec![(id.clone(), "integration".to_string(), name.clone())];
        // The source system's connection reads, the target's writes.
        let (reads, writes) = (
            registered_unique.first().cloned().unwrap_or(Value::Null),
            registered_unique.last().cloned().unwrap_or(Value::Null),
        );
        let flow_count = rng.between(2, FLOW_TEMPLATES.len() as u64) as usize;
        for template in &FLOW_TEMPLATES[..flow_count] {
            let flow_created = created + Duration::hours(rng.between(1, 2000) as i64);
            let flow_id = stable_id(rng, now, flow_created);
            let flow_name = fill(template, base_name, src, dst, &obj);
            let export_id = stable_id(rng, now, flow_created);
            let import_id = stable_id(rng, now, flow_created);
            let export_name = format!("Get {obj} from {src}");
            let import_name = format!("Upsert {obj} in {dst}");
            let mapping: Vec<Value> = MAPPED_FIELDS[..rng.between(2, 5) as usize]
                .iter()
                .map(|(extract, generate)| json!({ "extract": extract, "generate": generate }))
                .collect();
            self.exports.push(json!({ "_id": export_id, "name": export_name, "_connectionId": reads, "adaptorType": self.adaptor(&reads, "Export"), "_integrationId": id }));
            self.imports.push(json!({ "_id": import_id, "name": import_name, "_connectionId": writes, "adaptorType": self.adaptor(&writes, "Import"), "_integrationId": id, "mapping": { "fields": mapping } }));
            let mut flow = json!({
                "_id": flow_id,
                "name": flow_name,
                "_integrationId": id,
                "disabled": rng.chance(0.15),
                "pageGenerators": [{ "_exportId": export_id }],
                "pageProcessors": [{ "type": "import", "_importId": import_id, "responseMapping": { "fields": [], "lists": [] } }],
                "schedule": rng.pick(&SCHEDULES),
                "timezone": rng.pick(&["America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"]),
                "createdAt": iso_ms(flow_created),
                "lastModified": iso_ms(flow_created + Duration::hours(rng.between(1, 800) as i64)),
            });
            // A disabled flow last ran before it was disabled, days ago.
            let last_run = if flow["disabled"] == true {
                rng.between(3 * 1440, 40 * 1440)
            } else {
                rng.between(1, 6000)
            };
            if rng.chance(0.8) {
                flow["lastExecutedAt"] = json!(iso_ms(now - Duration::minutes(last_run as i64)));
            }
            if let Some(grouping) = &grouping {
                flow["_flowGroupingId"] = grouping["_id"].clone();
            }
            owned_resources.push((flow_id, "flow".into(), flow_name_of(&flow)));
            owned_resources.push((export_id, "export".into(), export_name));
            owned_resources.push((import_id, "import".into(), import_name));
            self.flows.push(flow);
        }
        self.integrations.push(integration);
        let count = if index == 0 {
            250
        } else {
            rng.between(3, 40) as usize
        };
        let retired: Vec<(String, String, String)> = [
            fill("{src} {obj} to {dst} (v1)", base_name, src, dst, &obj),
            fill("{src} {obj} CSV hand-off", base_name, src, dst, &obj),
        ]
        .into_iter()
        .take(rng.between(1, 2) as usize)
        .map(|name| {
            let at = created + Duration::hours(rng.between(1, 500) as i64);
            (stable_id(rng, now, at), "flow".to_string(), name)
        })
        .collect();
        self.retired
            .insert(id.clone(), retired.iter().map(|r| r.0.clone()).collect());
        self.generate_audit(rng, count, now, created, &owned_resources, retired, users);
    }

    /// The audit log of one integration, newest first, consistent with the lists: the newest
    /// change of a field ends in its current value and each older one ends where the next
    /// began; deletions are of retired flows (never of listed ones); the integration's
    /// creation is the oldest entry.
    #[allow(clippy::too_many_arguments)]
    fn generate_audit(
        &mut self,
        rng: &mut Rng,
        count: usize,
        now: DateTime<Utc>,
        created: DateTime<Utc>,
        resources: &[(String, String, String)],
        mut retired: Vec<(String, String, String)>,
        users: &[Value],
    ) {
        let span_ms = (now - created).num_milliseconds().max(count as i64 * 2_000);
        let mean_gap = span_ms / (count as i64 + 1);
        let mut time = now - Duration::milliseconds(rng.between(60_000, 259_200_000) as i64);
        let changeable: Vec<&(String, String, String)> = resources
            .iter()
            .filter(|(_, kind, _)| !paths_of(kind).is_empty())
            .collect();
        // (resource, path) → its value before the newest change generated so far.
        let mut before: HashMap<(String, &'static str), Value> = HashMap::new();
        for n in 0..count {
            let (resource, event) = if n + 1 == count {
                (resources[0].clone(), "create")
            } else if !retired.is_empty() && rng.chance(0.08) {
                match retired.pop() {
                    Some(gone) => (gone, "delete"),
                    None => ((*rng.pick(&changeable)).clone(), "update"),
                }
            } else {
                // Integration settings, flows and mappings change about equally often.
                let kind = *rng.pick(&["integration", "flow", "flow", "import"]);
                let of_kind: Vec<&&(String, String, String)> =
                    changeable.iter().filter(|r| r.1 == kind).collect();
                let pick = if of_kind.is_empty() {
                    *rng.pick(&changeable)
                } else {
                    **rng.pick(&of_kind)
                };
                (pick.clone(), "update")
            };
            let (resource_id, resource_type, resource_name) = resource;
            let system = rng.chance(0.1);
            let mut entry = json!({
                "_id": stable_id(rng, now, time),
                "time": iso_ms(time),
                "resourceType": resource_type,
                "_resourceId": resource_id,
                "source": if system { "system" } else { *rng.pick(&["ui", "ui", "api", "connector"]) },
                "event": event,
                "fieldChanges": [],
            });
            let paths = paths_of(&resource_type);
            let chosen: Vec<(&'static str, &'static str)> = match event {
                "create" => paths.to_vec(),
                "update" => {
                    let mut order: Vec<usize> = (0..paths.len()).collect();
                    for i in (1..order.len()).rev() {
                        order.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    let k = rng.between(1, paths.len().min(3) as u64) as usize;
                    order[..k].iter().map(|&i| paths[i]).collect()
                }
                _ => Vec::new(),
            };
            let mut changes = Vec::new();
            for (path, kind) in chosen {
                let key = (resource_id.clone(), path);
                let new = match before.get(&key) {
                    Some(value) => value.clone(),
                    None => self.current(&resource_id, path),
                };
                let mut change = Map::new();
                change.insert("fieldPath".into(), json!(path));
                if event == "update" {
                    let old = older_value(rng, kind, &new);
                    change.insert("oldValue".into(), old.clone());
                    before.insert(key, old);
                }
                change.insert("newValue".into(), new);
                changes.push(Value::Object(change));
            }
            entry["fieldChanges"] = Value::Array(changes);
            if !system {
                let user = rng.pick(users).clone();
                entry["_byUserId"] = user["_id"].clone();
                entry["byUser"] = user;
            }
            if event == "delete" {
                entry["deletedInfo"] = json!({ "name": resource_name });
            }
            self.audit.push(entry);
            let gap = rng.between(
                (mean_gap / 4).max(1_000) as u64,
                (mean_gap * 7 / 4).max(2_000) as u64,
            ) as i64;
            time -= Duration::milliseconds(gap);
        }
    }

    /// The current value at a dotted `path` of the integration, flow or import `id`.
    fn current(&self, id: &str, path: &str) -> Value {
        let pointer = format!("/{}", path.replace('.', "/"));
        [&self.integrations, &self.flows, &self.imports]
            .into_iter()
            .flat_map(|list| list.iter().rev())
            .find(|item| item["_id"] == id)
            .and_then(|item| item.pointer(&pointer).cloned())
            .unwrap_or(Value::Null)
    }

    /// The connections an integration registers: those of the systems its name mentions
    /// (production before sandbox), or NetSuite's when it names none.
    fn connections_for(&self, rng: &mut Rng, name: &str, src: &str, dst: &str) -> Vec<Value> {
        let words: Vec<String> = name
            .split([' ', '-'])
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut out: Vec<Value> = Vec::new();
        // The source system first (exports read from it), the target last (imports write to it).
        let mut systems: Vec<String> = vec![src.to_lowercase()];
        systems.extend(
            words
                .iter()
                .filter(|w| **w != src.to_lowercase() && **w != dst.to_lowercase())
                .cloned(),
        );
        systems.push(dst.to_lowercase());
        for system in systems {
            let matching: Vec<&Value> = self
                .connections
                .iter()
                .filter(|c| {
                    c["name"]
                        .as_str()
                        .unwrap_or_default()
                        .split(' ')
                        .any(|w| !CONNECTION_FILLERS.contains(&w) && w.to_lowercase() == system)
                })
                .collect();
            let Some(first) = matching.first() else {
                continue;
            };
            let mut pick = vec![first["_id"].clone()];
            if matching.len() > 1 && rng.chance(0.25) {
                pick.push(matching[1]["_id"].clone());
            }
            for id in pick {
                out.retain(|known| *known != id);
                out.push(id);
            }
        }
        if out.is_empty() {
            if let Some(netsuite) = self.connections.first() {
                out.push(netsuite["_id"].clone());
            }
        }
        out
    }

    /// The adaptor type of an export or import using `connection`.
    fn adaptor(&self, connection: &Value, what: &str) -> String {
        let kind = self
            .connections
            .iter()
            .find(|c| c["_id"] == *connection)
            .and_then(|c| c["type"].as_str())
            .unwrap_or("http");
        let prefix = match kind {
            "netsuite" if what == "Import" => "NetSuiteDistributed",
            "netsuite" => "NetSuite",
            "salesforce" => "Salesforce",
            "rdbms" => "RDBMS",
            "ftp" => "FTP",
            "s3" => "S3",
            _ => "HTTP",
        };
        format!("{prefix}{what}")
    }

    /// Ids of every resource that belongs to integration `id` (itself, flows, exports, imports).
    fn resources_of(&self, id: &str) -> HashSet<String> {
        let mut ids: HashSet<String> = HashSet::from([id.to_string()]);
        ids.extend(self.retired.get(id).into_iter().flatten().cloned());
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

/// The audit field paths of a resource type.
fn paths_of(resource_type: &str) -> &'static [(&'static str, &'static str)] {
    match resource_type {
        "integration" => &INTEGRATION_PATHS,
        "flow" => &FLOW_PATHS,
        "import" => &IMPORT_PATHS,
        _ => &[],
    }
}

/// A plausible value a field had before it became `new`.
fn older_value(rng: &mut Rng, kind: &str, new: &Value) -> Value {
    let other = |rng: &mut Rng, list: &[&str]| {
        let options: Vec<&str> = list.iter().copied().filter(|v| *new != **v).collect();
        json!(rng.pick(&options))
    };
    match kind {
        "version" => {
            let parts: Vec<u64> = new
                .as_str()
                .unwrap_or("1.0.0")
                .split('.')
                .map(|p| p.parse().unwrap_or(0))
                .collect();
            let (major, minor, patch) = (
                parts.first().copied().unwrap_or(1),
                parts.get(1).copied().unwrap_or(0),
                parts.get(2).copied().unwrap_or(0),
            );
            json!(match (minor, patch) {
                (_, p) if p > 0 => format!("{major}.{minor}.{}", p - 1),
                (m, _) if m > 0 => format!("{major}.{}.9", m - 1),
                _ => format!("{}.9.0", major.saturating_sub(1)),
            })
        }
        "bool" => json!(!new.as_bool().unwrap_or(false)),
        "number" => {
            let n = new.as_u64().unwrap_or(100);
            json!(if n > 60 {
                n - rng.between(10, 50)
            } else {
                n + 50
            })
        }
        "schedule" => other(rng, &SCHEDULES),
        "location" => other(rng, &LOCATIONS),
        "tag" => other(rng, &TAGS),
        "mapping" => {
            let mut fields = new.as_array().cloned().unwrap_or_default();
            if fields.len() > 1 {
                fields.pop();
            } else {
                let (extract, generate) = MAPPED_FIELDS[fields.len()];
                fields.push(json!({ "extract": extract, "generate": generate }));
            }
            Value::Array(fields)
        }
        _ => Value::Null,
    }
}

/// What an integration moves: the words of its name that are neither its systems nor
/// fillers ("Orders" in "Shopify - NetSuite Orders"), else "Records".
fn moved_object(name: &str, src: &str, dst: &str) -> String {
    let words: Vec<&str> = name
        .split(' ')
        .filter(|w| !w.is_empty() && *w != "-" && *w != src && *w != dst)
        .filter(|w| !NAME_FILLERS.contains(w))
        .collect();
    if words.is_empty() {
        "Records".into()
    } else {
        words.join(" ")
    }
}

/// A template with an integration's name, systems and object filled in.
fn fill(template: &str, name: &str, src: &str, dst: &str, obj: &str) -> String {
    template
        .replace("{name}", &name.replace(" - ", " and "))
        .replace("{src}", src)
        .replace("{dst}", dst)
        .replace("{obj}", obj)
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

    const DEMO_SEED_FOR_TESTS: u64 = 42;

    #[test]
    fn the_history_agrees_with_the_lists() {
        let data = CeligoData::generate(DEMO_SEED_FOR_TESTS, 50, Utc::now());
        let listed: HashSet<&str> = [&data.flows, &data.exports, &data.imports]
            .into_iter()
            .flatten()
            .filter_map(|item| item["_id"].as_str())
            .collect();
        let mut newest: HashSet<(String, String)> = HashSet::new();
        for entry in &data.audit {
            let resource = entry["_resourceId"].as_str().unwrap_or_default();
            if entry["event"] == "delete" {
                assert!(
                    !listed.contains(resource),
                    "a listed resource deleted: {entry}"
                );
                assert!(entry["deletedInfo"]["name"].is_string());
            }
            let paths: Vec<&str> = entry["fieldChanges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["fieldPath"].as_str())
                .collect();
            let unique: HashSet<&&str> = paths.iter().collect();
            assert_eq!(unique.len(), paths.len(), "a path twice: {entry}");
            // Newest first: the first change of a field seen ends in its current value.
            for change in entry["fieldChanges"].as_array().into_iter().flatten() {
                let path = change["fieldPath"].as_str().unwrap_or_default();
                if newest.insert((resource.to_string(), path.to_string())) {
                    assert_eq!(change["newValue"], data.current(resource, path), "{entry}");
                }
            }
        }
        for integration in &data.integrations {
            let name = integration["name"].as_str().unwrap_or_default();
            let id = &integration["_id"];
            let src = source_system(name);
            for flow in data.flows.iter().filter(|f| f["_integrationId"] == *id) {
                let flow_name = flow["name"].as_str().unwrap_or_default();
                assert!(
                    flow_name.contains(src) || flow_name.starts_with("Retry"),
                    "{name}: {flow_name}"
                );
            }
            let words: Vec<String> = name.split([' ', '-']).map(str::to_lowercase).collect();
            for connection in integration["_registeredConnectionIds"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let conn = data.connections.iter().find(|c| c["_id"] == *connection);
                let conn_name = conn.and_then(|c| c["name"].as_str()).unwrap_or_default();
                let related = conn_name
                    .split(' ')
                    .any(|w| words.contains(&w.to_lowercase()))
                    || conn_name.starts_with("NetSuite");
                assert!(related, "{name} uses {conn_name}");
            }
            assert!(!integration["description"]
                .as_str()
                .unwrap_or_default()
                .is_empty());
        }
        let descriptions: HashSet<&str> = data
            .integrations
            .iter()
            .filter_map(|i| i["description"].as_str())
            .collect();
        assert!(descriptions.len() > 20, "descriptions vary");
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
