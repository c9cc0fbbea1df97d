//! Celigo integration writes (DESIGN.md §2 mutations).
//!
//! Verbs, paths and success codes follow docs.celigo.com "Integration API endpoints" (the
//! contract's seed 001), confirmed where a public client shows them:
//!
//! | Write | Request | Success |
//! |---|---|---|
//! | register connections | `PUT /v1/integrations/:_id/connections/register`, body: array of connection ids (the integrator.io UI's form) | 200 |
//! | unregister a connection | `DELETE /v1/integrations/:_id/connections/:_connectionId/register` | 204 |
//! | create a revision | `POST /v1/integrations/:_id/revisions/create[?ignoreIfNoChanges=true]`, body `{}` | 201, or 204 when skipped |
//! | clone | `POST /v1/integrations/:_id/clone`, body `{"name"}` when named | 201 |
//! | update | `PATCH /v1/integrations/:_id`, body: JSON Patch (`[{"op":"replace","path":"/tag","value":…}]`, the documented Celigo PATCH format) | 204 |
//!
//! The bodies of these answers are not documented, so the adapter is tolerant: any 2xx is a
//! success; an answer that is the integration itself is used, anything else (a 204 in
//! particular) makes it read the integration once more.

use super::wire::WireIntegration;
use super::Celigo;
use crate::domain::{Integration, Source};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::{
    FlowGrouping, IntegrationUpdate, IntegrationWriteSource, Registration, RevisionOutcome,
};
use crate::upstream::{Fetched, RequestScope};
use async_trait::async_trait;
use http::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use url::Url;

/// A cached read a write changes: the URL, and whether everything under it changes too.
type Changed = (Url, bool);

impl Celigo {
    /// One write, then drop the cached reads it changes, whatever its outcome (a write that
    /// timed out may still have been applied).
    async fn write(
        &self,
        scope: &RequestScope,
        method: Method,
        url: Url,
        body: Option<&Value>,
        changes: &[Changed],
    ) -> SourceResult<Arc<Fetched>> {
        let result = self.up.send_write(scope, method, url, body).await;
        for (url, subtree) in changes {
            self.up.invalidate(scope, url, *subtree).await;
        }
        result
    }

    /// What a change to integration `id` makes stale: the integration and everything under it
    /// (flows, connections, audit log), and the integration list.
    fn integration_changes(&self, id: &str) -> Vec<Changed> {
        vec![
            (self.url(&["integrations", id], &[]), true),
            (self.url(&["integrations"], &[]), false),
        ]
    }

    /// The integration after a write: the answer's body when it is that integration, else one
    /// fresh read (this request's earlier reads were forgotten by the write).
    async fn integration_after(
        &self,
        scope: &RequestScope,
        id: &str,
        answer: &Fetched,
    ) -> SourceResult<Value> {
        if let Some(value) = integration_in(answer).filter(|v| v["_id"] == id) {
            return Ok(value);
        }
        let url = self.url(&["integrations", id], &[]);
        Ok(self.up.get_json::<Value>(scope, url).await?.0)
    }

    async fn registration(
        &self,
        scope: &RequestScope,
        id: &str,
        answer: &Fetched,
    ) -> SourceResult<Registration> {
        let value = self.integration_after(scope, id, answer).await?;
        let connection_ids = value["_registeredConnectionIds"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Registration {
            integration: into_integration(value)?,
            connection_ids,
        })
    }
}

/// The answer's body when it is an integration object (has an `_id`).
fn integration_in(answer: &Fetched) -> Option<Value> {
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .filter(|v| v.get("_id").and_then(Value::as_str).is_some())
}

fn into_integration(value: Value) -> SourceResult<Arc<Integration>> {
    let wire = WireIntegration::deserialize_strict(&value)?;
    Ok(Arc::new(wire.into_domain(value)))
}

fn bad_response(what: &str) -> Arc<SourceError> {
    Arc::new(SourceError::upstream(
        Source::Celigo,
        ErrorCode::UpstreamBadResponse,
        format!("CELIGO {what}"),
    ))
}

/// The JSON Patch body of an update: one operation per field given, in a fixed order.
pub(super) fn patch_operations(update: &IntegrationUpdate) -> Vec<Value> {
    fn set(path: &str, value: Value) -> Value {
        json!({ "op": "replace", "path": path, "value": value })
    }
    fn set_or_remove(path: &str, value: &Option<Value>) -> Value {
        match value {
            Some(value) => set(path, value.clone()),
            None => json!({ "op": "remove", "path": path }),
        }
    }
    let mut ops = Vec::new();
    if let Some(settings) = &update.settings {
        ops.push(set_or_remove("/settings", settings));
    }
    if let Some(version) = &update.version {
        ops.push(set("/version", json!(version)));
    }
    if let Some(tag) = &update.tag {
        ops.push(set_or_remove("/tag", &tag.as_ref().map(|t| json!(t))));
    }
    if let Some(flag) = update.update_in_progress {
        ops.push(set("/updateInProgress", json!(flag)));
    }
    if let Some(groupings) = &update.flow_groupings {
        let list: Vec<Value> = groupings.iter().map(grouping).collect();
        ops.push(set("/flowGroupings", Value::Array(list)));
    }
    if let Some(aliases) = &update.aliases {
        ops.push(set_or_remove("/aliases", aliases));
    }
    ops
}

fn grouping(grouping: &FlowGrouping) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(id) = &grouping.source_id {
        object.insert("_id".into(), json!(id));
    }
    object.insert("name".into(), json!(grouping.name));
    if let Some(settings) = &grouping.settings {
        object.insert("settings".into(), settings.clone());
    }
    Value::Object(object)
}

#[async_trait]
impl IntegrationWriteSource for Celigo {
    async fn register_connections(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_ids: &[String],
    ) -> SourceResult<Registration> {
        let url = self.url(
            &["integrations", integration_id, "connections", "register"],
            &[],
        );
        let body = json!(connection_ids);
        let changes = self.integration_changes(integration_id);
        let answer = self
            .write(scope, Method::PUT, url, Some(&body), &changes)
            .await?;
        self.registration(scope, integration_id, &answer).await
    }

    async fn unregister_connection(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        connection_id: &str,
    ) -> SourceResult<Registration> {
        let url = self.url(
            &[
                "integrations",
                integration_id,
                "connections",
                connection_id,
                "register",
            ],
            &[],
        );
        let changes = self.integration_changes(integration_id);
        let answer = self
            .write(scope, Method::DELETE, url, None, &changes)
            .await?;
        self.registration(scope, integration_id, &answer).await
    }

    async fn create_revision(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        ignore_if_no_changes: bool,
    ) -> SourceResult<RevisionOutcome> {
        let query: &[(&str, &str)] = if ignore_if_no_changes {
            &[("ignoreIfNoChanges", "true")]
        } else {
            &[]
        };
        let url = self.url(
            &["integrations", integration_id, "revisions", "create"],
            query,
        );
        let changes = vec![(self.url(&["integrations", integration_id], &[]), true)];
        let answer = self
            .write(scope, Method::POST, url, Some(&json!({})), &changes)
            .await?;
        if answer.status == 204 || answer.body.is_empty() {
            return Ok(RevisionOutcome {
                created: answer.status != 204,
                revision_id: None,
                raw: None,
            });
        }
        let revision: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| bad_response("revision answer is not in the documented shape"))?;
        Ok(RevisionOutcome {
            created: true,
            revision_id: revision["_id"].as_str().map(str::to_string),
            raw: Some(revision.into()),
        })
    }

    async fn clone_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        name: Option<&str>,
    ) -> SourceResult<Arc<Integration>> {
        let url = self.url(&["integrations", integration_id, "clone"], &[]);
        let body = match name {
            Some(name) => json!({ "name": name }),
            None => json!({}),
        };
        let changes = vec![
            (self.url(&["integrations"], &[]), false),
            (self.url(&["flows"], &[]), false),
        ];
        let answer = self
            .write(scope, Method::POST, url, Some(&body), &changes)
            .await?;
        if let Some(value) = integration_in(&answer) {
            return into_integration(value);
        }
        let created = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["_integrationId"].as_str().map(str::to_string))
            .ok_or_else(|| bad_response("clone answer does not name the new integration"))?;
        let url = self.url(&["integrations", &created], &[]);
        into_integration(self.up.get_json::<Value>(scope, url).await?.0)
    }

    async fn update_integration(
        &self,
        scope: &RequestScope,
        integration_id: &str,
        update: &IntegrationUpdate,
    ) -> SourceResult<Arc<Integration>> {
        let url = self.url(&["integrations", integration_id], &[]);
        let body = Value::Array(patch_operations(update));
        let changes = self.integration_changes(integration_id);
        let answer = self
            .write(scope, Method::PATCH, url, Some(&body), &changes)
            .await?;
        into_integration(
            self.integration_after(scope, integration_id, &answer)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_sends_one_operation_per_given_field_in_a_fixed_order() {
        let update = IntegrationUpdate {
            tag: Some(None),
            version: Some("2.0.0".into()),
            flow_groupings: Some(vec![FlowGrouping {
                source_id: None,
                name: "Orders".into(),
                settings: None,
            }]),
            ..IntegrationUpdate::default()
        };
        assert_eq!(
            Value::Array(patch_operations(&update)),
            json!([
                { "op": "replace", "path": "/version", "value": "2.0.0" },
                { "op": "remove", "path": "/tag" },
                { "op": "replace", "path": "/flowGroupings", "value": [{ "name": "Orders" }] },
            ])
        );
        assert!(IntegrationUpdate::default().is_empty());
    }
}
