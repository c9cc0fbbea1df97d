//! Celigo integrator.io wire structs (upstreams/celigo.md) and their mapping into domain types.
//! Every field is optional: Celigo documents few of them, and the bench mock omits some.

use crate::domain::datetime::parse_field;
use crate::domain::{
    Actor, Connection, Flow, HistoryEntry, HistoryKind, Integration, RawJson, Source, Subject,
    SubjectRef,
};
use crate::error::truncate_message;
use serde::Deserialize;

const SOURCE: &str = "CELIGO";

#[derive(Deserialize)]
pub struct WireIntegration {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<String>,
}

#[derive(Deserialize)]
pub struct WireFlow {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "_integrationId")]
    pub integration_id: Option<String>,
    pub disabled: Option<bool>,
    #[serde(rename = "pageGenerators", default)]
    pub page_generators: Vec<WireStep>,
    #[serde(rename = "pageProcessors", default)]
    pub page_processors: Vec<WireStep>,
    #[serde(rename = "lastExecutedAt")]
    pub last_executed_at: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct WireStep {
    #[serde(rename = "_exportId")]
    pub export_id: Option<String>,
    #[serde(rename = "_importId")]
    pub import_id: Option<String>,
}

#[derive(Deserialize)]
pub struct WireConnection {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub offline: Option<bool>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<String>,
}

/// An export or import: only the connection it uses matters here.
#[derive(Deserialize)]
pub struct WireResource {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_connectionId")]
    pub connection_id: Option<String>,
}

#[derive(Deserialize)]
pub struct WireAudit {
    #[serde(rename = "_id")]
    pub id: String,
    pub time: Option<String>,
    #[serde(rename = "resourceType")]
    pub resource_type: Option<String>,
    #[serde(rename = "_resourceId")]
    pub resource_id: Option<String>,
    pub event: Option<String>,
    #[serde(rename = "_byUserId")]
    pub by_user_id: Option<String>,
    #[serde(rename = "byUser")]
    pub by_user: Option<WireUser>,
    #[serde(rename = "fieldChanges", default)]
    pub field_changes: Vec<WireFieldChange>,
    /// The UI's flattened single change (the bench mock serves it).
    #[serde(rename = "fieldChange")]
    pub field_change: Option<WireFieldChange>,
    #[serde(rename = "deletedInfo")]
    pub deleted_info: Option<WireDeletedInfo>,
}

#[derive(Deserialize)]
pub struct WireUser {
    #[serde(rename = "_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize)]
pub struct WireFieldChange {
    #[serde(rename = "fieldPath")]
    pub field_path: Option<String>,
}

#[derive(Deserialize)]
pub struct WireDeletedInfo {
    pub name: Option<String>,
}

fn time(field: &str, value: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    parse_field(SOURCE, field, value.as_deref())
}

impl WireIntegration {
    pub fn into_domain(self, raw: impl Into<RawJson>) -> Integration {
        Integration {
            source: Source::Celigo,
            name: self.name.unwrap_or_else(|| self.id.clone()),
            description: self.description,
            category: None,
            enabled: None,
            sharing: None,
            installed_environments: None,
            created_at: time("createdAt", &self.created_at),
            updated_at: time("lastModified", &self.last_modified),
            team: None,
            raw: raw.into(),
            source_id: self.id,
        }
    }
}

impl WireFlow {
    pub fn into_domain(self, raw: impl Into<RawJson>) -> Flow {
        let resource_ids = self
            .page_generators
            .iter()
            .chain(&self.page_processors)
            .flat_map(|step| [step.export_id.clone(), step.import_id.clone()])
            .flatten()
            .collect();
        Flow {
            source: Source::Celigo,
            name: self.name.unwrap_or_else(|| self.id.clone()),
            integration_id: self.integration_id,
            enabled: self.disabled.map(|d| !d),
            resource_ids,
            last_executed_at: time("lastExecutedAt", &self.last_executed_at),
            created_at: time("createdAt", &self.created_at),
            updated_at: time("lastModified", &self.last_modified),
            raw: raw.into(),
            source_id: self.id,
        }
    }
}

impl WireConnection {
    pub fn into_domain(self, raw: impl Into<RawJson>, integration_id: Option<&str>) -> Connection {
        Connection {
            source: Source::Celigo,
            name: self.name.unwrap_or_else(|| self.id.clone()),
            integration_id: integration_id.map(str::to_string),
            kind: self.kind,
            offline: self.offline,
            created_at: time("createdAt", &self.created_at),
            updated_at: time("lastModified", &self.last_modified),
            raw: raw.into(),
            source_id: self.id,
        }
    }
}

impl WireAudit {
    /// Map an audit entry of integration `integration_id` into a history entry.
    pub fn into_domain(mut self, raw: impl Into<RawJson>, integration_id: &str) -> HistoryEntry {
        let actor = self.actor();
        let summary = self.summary(actor.as_ref());
        HistoryEntry {
            source: Source::Celigo,
            kind: HistoryKind::Audit,
            occurred_at: time("time", &self.time),
            updated_at: None,
            actor,
            summary,
            subject: Subject {
                kind: "INTEGRATION",
                source_id: integration_id.to_string(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Celigo,
                source_id: integration_id.to_string(),
            },
            status: None,
            error: None,
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw: raw.into(),
            source_id: self.id,
        }
    }

    fn actor(&mut self) -> Option<Actor> {
        let user = self.by_user.take();
        let (id, name, email) = match user {
            Some(u) => (u.id, u.name, u.email),
            None => (None, None, None),
        };
        let actor = Actor {
            source_id: id.or_else(|| self.by_user_id.clone()),
            name,
            email,
        };
        (actor != Actor::default()).then_some(actor)
    }

    /// "Dana Whitfield updated flow “Orders”: version, settings.defaultLocation"
    fn summary(&self, actor: Option<&Actor>) -> String {
        let who = actor
            .and_then(|a| a.name.as_deref().or(a.email.as_deref()))
            .unwrap_or("System");
        let event = self.event.as_deref().unwrap_or("changed");
        let verb = [
            ("create", "created"),
            ("update", "updated"),
            ("delete", "deleted"),
            ("view", "viewed"),
            ("signin", "signed in"),
            ("signout", "signed out"),
        ]
        .into_iter()
        .find(|(name, _)| event.eq_ignore_ascii_case(name));
        let mut text = String::with_capacity(96);
        text.push_str(who);
        text.push(' ');
        match verb {
            Some((_, verb)) => text.push_str(verb),
            None => text.push_str(&event.to_ascii_lowercase()),
        }
        if !matches!(verb, Some(("signin" | "signout", _))) {
            text.push(' ');
            let resource = self.resource_type.as_deref().unwrap_or("resource");
            if resource.bytes().any(|b| b.is_ascii_uppercase()) {
                text.push_str(&resource.to_ascii_lowercase());
            } else {
                text.push_str(resource);
            }
            if let Some(name) = self.deleted_info.as_ref().and_then(|d| d.name.as_deref()) {
                text.push_str(" “");
                text.push_str(name);
                text.push('”');
            }
        }
        let mut fields = self
            .field_changes
            .iter()
            .chain(self.field_change.as_ref())
            .filter_map(|c| c.field_path.as_deref());
        if let Some(first) = fields.next() {
            text.push_str(": ");
            text.push_str(first);
            for field in fields {
                text.push_str(", ");
                text.push_str(field);
            }
        }
        // Most summaries are far below the cap: only count characters when the bytes exceed it.
        if text.len() <= 200 {
            return text;
        }
        truncate_message(&text, 200)
    }
}
