//! The Celigo fake's write routes (docs.celigo.com "Integration API endpoints", see
//! `sources::celigo::writes` for the sources): PATCH with JSON Patch bodies (204), clone (201
//! with the new integration), register connections (PUT, 200 with the integration), unregister
//! (DELETE, 204) and revisions (201, or 204 with `ignoreIfNoChanges=true` and no changes).
//! Changes persist in the fake's data and leave audit entries, as the product's would.

use super::{CeligoData, CeligoFake, ERROR_404};
use crate::demo::fake::{iso_ms, json_response};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::PoisonError;

/// Top-level integration fields the API lets PATCH change (seed 001).
const PATCHABLE: [&str; 6] = [
    "settings",
    "version",
    "tag",
    "updateInProgress",
    "flowGroupings",
    "aliases",
];

/// Answer one write request (every method but GET).
pub(super) fn handle(
    fake: &CeligoFake,
    method: &Method,
    segments: &[&str],
    params: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !body.is_empty() && !json_body {
        let body = json!({ "errors": [{ "code": "unsupported_media_type", "message": "Request bodies must be application/json." }] });
        return json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &[], body.to_string());
    }
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => Some(value),
            Err(_) => return invalid("The request body is not valid JSON.", None).into(),
        }
    };
    let mut data = fake.data();
    let mut write = Write {
        data: &mut data,
        now: Utc::now(),
        fake,
    };
    let result = match (method.as_str(), segments) {
        ("PATCH", ["v1", "integrations", id]) => write.patch(id, body),
        ("POST", ["v1", "integrations", id, "clone"]) => write.clone_integration(id, body),
        ("PUT", ["v1", "integrations", id, "connections", "register"]) => {
            write.register_many(id, body)
        }
        ("PUT", ["v1", "integrations", id, "connections", connection, "register"]) => {
            write.register(id, &[connection.to_string()])
        }
        ("DELETE", ["v1", "integrations", id, "connections", connection, "register"]) => {
            write.unregister(id, connection)
        }
        ("POST", ["v1", "integrations", id, "revisions", "create"]) => write.revision(id, params),
        _ => Err(not_found()),
    };
    result.unwrap_or_else(Response::from)
}

type Answer = Result<Response, Refusal>;

/// An error answer: status and envelope.
struct Refusal(StatusCode, String);

impl From<Refusal> for Response {
    fn from(refusal: Refusal) -> Response {
        json_response(refusal.0, &[], refusal.1)
    }
}

fn not_found() -> Refusal {
    Refusal(StatusCode::NOT_FOUND, ERROR_404.to_string())
}

/// One write against the fake's data.
struct Write<'a> {
    data: &'a mut CeligoData,
    now: DateTime<Utc>,
    fake: &'a CeligoFake,
}

impl Write<'_> {
    fn new_id(&self) -> String {
        self.fake
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hex24_at(self.now)
    }

    fn integration_index(&self, id: &str) -> Result<usize, Refusal> {
        self.data
            .integrations
            .iter()
            .position(|i| i["_id"] == id)
            .ok_or_else(not_found)
    }

    /// Record a change to integration `index`: `lastModified`, an audit entry, and "changed
    /// since the last snapshot".
    fn touched(&mut self, index: usize, event: &str, changes: Vec<Value>) {
        let now = iso_ms(self.now);
        let integration = &mut self.data.integrations[index];
        integration["lastModified"] = json!(now);
        let id = integration["_id"].as_str().unwrap_or_default().to_string();
        let entry = json!({
            "_id": self.new_id(),
            "time": now,
            "resourceType": "integration",
            "_resourceId": id,
            "source": "api",
            "event": event,
            "fieldChanges": changes,
            "_byUserId": self.data.api_user["_id"],
            "byUser": self.data.api_user,
        });
        self.data.audit.insert(0, entry);
        self.data.changed_since_snapshot.insert(id);
    }

    /// `PATCH /v1/integrations/:_id` with `[{op, path, value}]`: all operations apply or none.
    fn patch(&mut self, id: &str, body: Option<Value>) -> Answer {
        let index = self.integration_index(id)?;
        let Some(Value::Array(operations)) = body else {
            return Err(invalid(
                "PATCH bodies are arrays of JSON Patch operations ({op, path, value}).",
                None,
            ));
        };
        let mut updated = self.data.integrations[index].clone();
        let mut changes = Vec::new();
        for operation in &operations {
            let change = self.apply(&mut updated, operation)?;
            changes.push(change);
        }
        self.data.integrations[index] = updated;
        self.touched(index, "update", changes);
        Ok(no_content())
    }

    /// Apply one operation to `integration`; answers its audit `fieldChanges` element.
    fn apply(&self, integration: &mut Value, operation: &Value) -> Result<Value, Refusal> {
        let op = operation["op"].as_str().unwrap_or_default();
        let path = operation["path"].as_str().unwrap_or_default();
        let field = path.strip_prefix('/').and_then(|p| p.split('/').next());
        let Some(field) = field.filter(|f| PATCHABLE.contains(f)) else {
            return Err(invalid(
                &format!("The path '{path}' cannot be changed with PATCH."),
                Some(path.trim_start_matches('/')),
            ));
        };
        let old = integration.pointer(path).cloned();
        let value = match op {
            "replace" | "add" => operation
                .get("value")
                .cloned()
                .ok_or_else(|| invalid("A replace operation needs a value.", Some(field)))?,
            "remove" if path != format!("/{field}") => {
                return Err(invalid("Only whole fields can be removed.", Some(field)))
            }
            "remove" if old.is_some() => Value::Null,
            "remove" => return Err(invalid(&format!("{field} is not set."), Some(field))),
            _ => {
                return Err(invalid(
                    &format!("Unsupported operation '{op}'."),
                    Some(field),
                ))
            }
        };
        if path == format!("/{field}") {
            let Some(object) = integration.as_object_mut() else {
                return Err(invalid("The integration cannot be patched.", None));
            };
            if op == "remove" {
                object.remove(field);
            } else {
                object.insert(field.to_string(), self.checked(field, value.clone())?);
            }
        } else {
            let target = integration.pointer_mut(path).ok_or_else(|| {
                invalid(&format!("The path '{path}' does not exist."), Some(field))
            })?;
            *target = value.clone();
        }
        let mut change = Map::new();
        change.insert(
            "fieldPath".into(),
            json!(path.trim_start_matches('/').replace('/', ".")),
        );
        if let Some(old) = old {
            change.insert("oldValue".into(), old);
        }
        if op != "remove" {
            change.insert("newValue".into(), value);
        }
        Ok(Value::Object(change))
    }

    /// The vendor's validation of a whole top-level field (422 `invalid_field` otherwise).
    fn checked(&self, field: &str, value: Value) -> Result<Value, Refusal> {
        let ok = match field {
            "settings" => value.is_object(),
            "version" => value.as_str().is_some_and(|v| !v.trim().is_empty()),
            "tag" => value.is_string(),
            "updateInProgress" => value.is_boolean(),
            "aliases" => value.is_array(),
            _ => value.as_array().is_some_and(|groups| {
                groups
                    .iter()
                    .all(|g| g["name"].as_str().is_some_and(|n| !n.trim().is_empty()))
            }),
        };
        if !ok {
            let expected = match field {
                "settings" => "an object",
                "version" => "a non-empty string",
                "tag" => "a string",
                "updateInProgress" => "a boolean",
                "aliases" => "an array",
                _ => "an array of groupings with a name",
            };
            return Err(invalid(
                &format!("{field} must be {expected}."),
                Some(field),
            ));
        }
        if field != "flowGroupings" {
            return Ok(value);
        }
        let groups = value
            .as_array()
            .map(|groups| {
                groups
                    .iter()
                    .map(|group| {
                        let mut group = group.clone();
                        if group.get("_id").and_then(Value::as_str).is_none() {
                            group["_id"] = json!(self.new_id());
                        }
                        group
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Value::Array(groups))
    }

    /// `POST /v1/integrations/:_id/clone` with an optional `{name}`: the integration, its
    /// flows, exports and imports under new ids; 201 with the new integration.
    fn clone_integration(&mut self, id: &str, body: Option<Value>) -> Answer {
        let index = self.integration_index(id)?;
        let body = body.unwrap_or_else(|| json!({}));
        if !body.is_object() {
            return Err(invalid("The request body must be an object.", None));
        }
        let original = self.data.integrations[index].clone();
        let name = match body.get("name") {
            None => format!("Clone - {}", original["name"].as_str().unwrap_or_default()),
            Some(name) => match name
                .as_str()
                .filter(|n| (1..=100).contains(&n.chars().count()))
            {
                Some(name) => name.to_string(),
                None => return Err(invalid("name must be 1 to 100 characters.", Some("name"))),
            },
        };
        let new_id = self.new_id();
        let now = iso_ms(self.now);
        let mut clone = original;
        clone["_id"] = json!(new_id);
        clone["name"] = json!(name);
        clone["createdAt"] = json!(now);
        clone["lastModified"] = json!(now);
        let mut renamed = HashMap::new();
        for kind in ["exports", "imports"] {
            let copies = self.copies_of(kind, id, &new_id, &mut renamed);
            match kind {
                "exports" => self.data.exports.extend(copies),
                _ => self.data.imports.extend(copies),
            }
        }
        let flows = self.copies_of("flows", id, &new_id, &mut renamed);
        for mut flow in flows {
            for step in ["pageGenerators", "pageProcessors"] {
                for item in flow[step].as_array_mut().into_iter().flatten() {
                    for key in ["_exportId", "_importId"] {
                        if let Some(copy) = item[key].as_str().and_then(|old| renamed.get(old)) {
                            item[key] = json!(copy);
                        }
                    }
                }
            }
            self.data.flows.push(flow);
        }
        self.data.integrations.push(clone.clone());
        let index = self.data.integrations.len() - 1;
        self.touched(index, "create", Vec::new());
        Ok(json_response(StatusCode::CREATED, &[], clone.to_string()))
    }

    /// Copies of one kind of resource of integration `from`, moved to `to` under new ids.
    fn copies_of(
        &self,
        kind: &str,
        from: &str,
        to: &str,
        renamed: &mut HashMap<String, String>,
    ) -> Vec<Value> {
        let list = match kind {
            "exports" => &self.data.exports,
            "imports" => &self.data.imports,
            _ => &self.data.flows,
        };
        list.iter()
            .filter(|item| item["_integrationId"] == from)
            .map(|item| {
                let mut copy = item.clone();
                let new_id = self.new_id();
                if let Some(old) = item["_id"].as_str() {
                    renamed.insert(old.to_string(), new_id.clone());
                }
                copy["_id"] = json!(new_id);
                copy["_integrationId"] = json!(to);
                copy
            })
            .collect()
    }

    /// `PUT /v1/integrations/:_id/connections/register` with an array of connection ids.
    fn register_many(&mut self, id: &str, body: Option<Value>) -> Answer {
        let ids: Option<Vec<String>> = body.as_ref().and_then(Value::as_array).and_then(|list| {
            list.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
        });
        match ids {
            Some(ids) if !ids.is_empty() => self.register(id, &ids),
            _ => Err(invalid(
                "The body must be a non-empty array of connection ids.",
                Some("_connectionIds"),
            )),
        }
    }

    /// Register `connections` with integration `id`; 200 with the integration.
    fn register(&mut self, id: &str, connections: &[String]) -> Answer {
        let index = self.integration_index(id)?;
        if let Some(unknown) = connections.iter().find(|c| {
            !self
                .data
                .connections
                .iter()
                .any(|known| known["_id"] == c.as_str())
        }) {
            return Err(invalid(
                &format!("Connection {unknown} does not exist."),
                Some("_connectionIds"),
            ));
        }
        let old = self.registered(index);
        let mut new = old.clone();
        for connection in connections {
            if !new.contains(connection) {
                new.push(connection.clone());
            }
        }
        self.set_registered(index, old, new);
        let body = self.data.integrations[index].to_string();
        Ok(json_response(StatusCode::OK, &[], body))
    }

    /// `DELETE /v1/integrations/:_id/connections/:_connectionId/register`; 204.
    fn unregister(&mut self, id: &str, connection: &str) -> Answer {
        let index = self.integration_index(id)?;
        if !self.data.connections.iter().any(|c| c["_id"] == connection) {
            return Err(not_found());
        }
        let old = self.registered(index);
        let new: Vec<String> = old.iter().filter(|c| *c != connection).cloned().collect();
        if new != old {
            self.set_registered(index, old, new);
        }
        Ok(no_content())
    }

    fn registered(&self, index: usize) -> Vec<String> {
        self.data.integrations[index]["_registeredConnectionIds"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set_registered(&mut self, index: usize, old: Vec<String>, new: Vec<String>) {
        self.data.integrations[index]["_registeredConnectionIds"] = json!(new);
        let change =
            json!({ "fieldPath": "_registeredConnectionIds", "oldValue": old, "newValue": new });
        self.touched(index, "update", vec![change]);
    }

    /// `POST /v1/integrations/:_id/revisions/create[?ignoreIfNoChanges=true|false]`.
    fn revision(&mut self, id: &str, params: &[(String, String)]) -> Answer {
        self.integration_index(id)?;
        let ignore = match params.iter().find(|(k, _)| k == "ignoreIfNoChanges") {
            None => false,
            Some((_, v)) if v == "true" => true,
            Some((_, v)) if v == "false" => false,
            Some(_) => {
                let body = super::invalid_query("ignoreIfNoChanges must be true or false");
                return Err(Refusal(StatusCode::BAD_REQUEST, body));
            }
        };
        let unchanged =
            self.data.snapshotted.contains(id) && !self.data.changed_since_snapshot.contains(id);
        if ignore && unchanged {
            return Ok(no_content());
        }
        let revision = json!({
            "_id": self.new_id(),
            "_integrationId": id,
            "type": "snapshot",
            "status": "completed",
            "description": "Snapshot created through the API",
            "createdAt": iso_ms(self.now),
            "_createdByUserId": self.data.api_user["_id"],
        });
        self.data.revisions.push(revision.clone());
        self.data.snapshotted.insert(id.to_string());
        self.data.changed_since_snapshot.remove(id);
        Ok(json_response(
            StatusCode::CREATED,
            &[],
            revision.to_string(),
        ))
    }
}

/// A 422 `invalid_field` envelope (the contract's validation error).
fn invalid(message: &str, field: Option<&str>) -> Refusal {
    let mut detail = json!({ "code": "invalid_field", "message": message });
    if let Some(field) = field {
        detail["field"] = json!(field);
    }
    Refusal(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "errors": [detail] }).to_string(),
    )
}

fn no_content() -> Response {
    let mut response = json_response(StatusCode::NO_CONTENT, &[], String::new());
    response.headers_mut().remove("content-type");
    response
}
