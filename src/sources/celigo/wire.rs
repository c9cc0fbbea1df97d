//! Celigo integrator.io wire structs (upstreams/celigo.md) and their mapping into domain types.
//! Every field is optional: Celigo documents few of them, and the bench mock omits some.

use crate::domain::datetime::{parse_field, parse_lenient};
use crate::domain::{
    Actor, Connection, Flow, HistoryEntry, HistoryKind, Integration, RawJson, Source, Subject,
    SubjectRef,
};
use crate::error::truncate_message;
use crate::sources::scan::{once, Scan, Scanner};
use serde::Deserialize;

const SOURCE: &str = "CELIGO";

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireIntegration {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<WireWhen>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<WireWhen>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
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
    pub last_executed_at: Option<WireWhen>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<WireWhen>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<WireWhen>,
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireStep {
    #[serde(rename = "_exportId")]
    pub export_id: Option<String>,
    #[serde(rename = "_importId")]
    pub import_id: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireConnection {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub offline: Option<bool>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<WireWhen>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<WireWhen>,
}

/// An export or import: only the connection it uses matters here.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireResource {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_connectionId")]
    pub connection_id: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireAudit {
    #[serde(rename = "_id")]
    pub id: String,
    pub time: Option<WireWhen>,
    #[serde(rename = "resourceType")]
    pub resource_type: Option<String>,
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
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireUser {
    #[serde(rename = "_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireFieldChange {
    #[serde(rename = "fieldPath")]
    pub field_path: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireDeletedInfo {
    pub name: Option<String>,
}

/// A time as sent: read as it is decoded, without keeping its text; a text that is not a
/// time is kept, to be reported where it is used (as when the text was kept).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum WireWhen {
    At(chrono::DateTime<chrono::Utc>),
    Unparsed(String),
}

impl WireWhen {
    fn of(text: &str) -> Self {
        match parse_lenient(text) {
            Some(at) => WireWhen::At(at),
            None => WireWhen::Unparsed(text.to_owned()),
        }
    }
}

/// Only strings, as for the `String` it stands for.
impl<'de> Deserialize<'de> for WireWhen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct When;
        impl serde::de::Visitor<'_> for When {
            type Value = WireWhen;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireWhen, E> {
                Ok(WireWhen::of(text))
            }
        }
        deserializer.deserialize_str(When)
    }
}

impl Scan for WireWhen {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        s.str().map(|text| WireWhen::of(&text))
    }
}

fn time(field: &str, value: &Option<WireWhen>) -> Option<chrono::DateTime<chrono::Utc>> {
    match value.as_ref()? {
        WireWhen::At(at) => Some(*at),
        // Parsed again only to say so, as when the text was kept.
        WireWhen::Unparsed(text) => parse_field(SOURCE, field, Some(text)),
    }
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
    pub fn into_domain(mut self, raw: impl Into<RawJson>) -> Flow {
        let mut steps = std::mem::take(&mut self.page_generators);
        steps.append(&mut self.page_processors);
        let resource_ids = steps
            .into_iter()
            .flat_map(|step| [step.export_id, step.import_id])
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

// The fast path for Celigo's list bodies (`sources::scan`): the same members and types as the
// derived `Deserialize` impls above; anything else falls back to them.

impl Scan for WireIntegration {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut name, mut description, mut created_at, mut last_modified) =
            (None, None, None, None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.string()?),
            "name" => once(&mut name, s.opt_string()?),
            "description" => once(&mut description, s.opt_string()?),
            "createdAt" => once(&mut created_at, s.opt()?),
            "lastModified" => once(&mut last_modified, s.opt()?),
            _ => s.skip(),
        })?;
        Some(WireIntegration {
            id: id?,
            name: name.flatten(),
            description: description.flatten(),
            created_at: created_at.flatten(),
            last_modified: last_modified.flatten(),
        })
    }
}

impl Scan for WireFlow {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut name, mut integration_id, mut disabled) = (None, None, None, None);
        let (mut page_generators, mut page_processors) = (None, None);
        let (mut last_executed_at, mut created_at, mut last_modified) = (None, None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.string()?),
            "name" => once(&mut name, s.opt_string()?),
            "_integrationId" => once(&mut integration_id, s.opt_string()?),
            "disabled" => once(&mut disabled, s.opt_bool()?),
            "pageGenerators" => once(&mut page_generators, s.vec()?),
            "pageProcessors" => once(&mut page_processors, s.vec()?),
            "lastExecutedAt" => once(&mut last_executed_at, s.opt()?),
            "createdAt" => once(&mut created_at, s.opt()?),
            "lastModified" => once(&mut last_modified, s.opt()?),
            _ => s.skip(),
        })?;
        Some(WireFlow {
            id: id?,
            name: name.flatten(),
            integration_id: integration_id.flatten(),
            disabled: disabled.flatten(),
            page_generators: page_generators.unwrap_or_default(),
            page_processors: page_processors.unwrap_or_default(),
            last_executed_at: last_executed_at.flatten(),
            created_at: created_at.flatten(),
            last_modified: last_modified.flatten(),
        })
    }
}

impl Scan for WireStep {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut export_id, mut import_id) = (None, None);
        s.object(|s, key| match key {
            "_exportId" => once(&mut export_id, s.opt_string()?),
            "_importId" => once(&mut import_id, s.opt_string()?),
            _ => s.skip(),
        })?;
        Some(WireStep {
            export_id: export_id.flatten(),
            import_id: import_id.flatten(),
        })
    }
}

impl Scan for WireConnection {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut name, mut kind, mut offline) = (None, None, None, None);
        let (mut created_at, mut last_modified) = (None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.string()?),
            "name" => once(&mut name, s.opt_string()?),
            "type" => once(&mut kind, s.opt_string()?),
            "offline" => once(&mut offline, s.opt_bool()?),
            "createdAt" => once(&mut created_at, s.opt()?),
            "lastModified" => once(&mut last_modified, s.opt()?),
            _ => s.skip(),
        })?;
        Some(WireConnection {
            id: id?,
            name: name.flatten(),
            kind: kind.flatten(),
            offline: offline.flatten(),
            created_at: created_at.flatten(),
            last_modified: last_modified.flatten(),
        })
    }
}

impl Scan for WireResource {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut connection_id) = (None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.string()?),
            "_connectionId" => once(&mut connection_id, s.opt_string()?),
            _ => s.skip(),
        })?;
        Some(WireResource {
            id: id?,
            connection_id: connection_id.flatten(),
        })
    }
}

impl Scan for WireAudit {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut time, mut resource_type) = (None, None, None);
        let (mut event, mut by_user_id, mut by_user) = (None, None, None);
        let (mut field_changes, mut field_change, mut deleted_info) = (None, None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.string()?),
            "time" => once(&mut time, s.opt()?),
            "resourceType" => once(&mut resource_type, s.opt_string()?),
            "event" => once(&mut event, s.opt_string()?),
            "_byUserId" => once(&mut by_user_id, s.opt_string()?),
            "byUser" => once(&mut by_user, s.opt()?),
            "fieldChanges" => once(&mut field_changes, s.vec()?),
            "fieldChange" => once(&mut field_change, s.opt()?),
            "deletedInfo" => once(&mut deleted_info, s.opt()?),
            _ => s.skip(),
        })?;
        Some(WireAudit {
            id: id?,
            time: time.flatten(),
            resource_type: resource_type.flatten(),
            event: event.flatten(),
            by_user_id: by_user_id.flatten(),
            by_user: by_user.flatten(),
            field_changes: field_changes.unwrap_or_default(),
            field_change: field_change.flatten(),
            deleted_info: deleted_info.flatten(),
        })
    }
}

impl Scan for WireUser {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let (mut id, mut name, mut email) = (None, None, None);
        s.object(|s, key| match key {
            "_id" => once(&mut id, s.opt_string()?),
            "name" => once(&mut name, s.opt_string()?),
            "email" => once(&mut email, s.opt_string()?),
            _ => s.skip(),
        })?;
        Some(WireUser {
            id: id.flatten(),
            name: name.flatten(),
            email: email.flatten(),
        })
    }
}

impl Scan for WireFieldChange {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let mut field_path = None;
        s.object(|s, key| match key {
            "fieldPath" => once(&mut field_path, s.opt_string()?),
            _ => s.skip(),
        })?;
        Some(WireFieldChange {
            field_path: field_path.flatten(),
        })
    }
}

impl Scan for WireDeletedInfo {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        let mut name = None;
        s.object(|s, key| match key {
            "name" => once(&mut name, s.opt_string()?),
            _ => s.skip(),
        })?;
        Some(WireDeletedInfo {
            name: name.flatten(),
        })
    }
}
