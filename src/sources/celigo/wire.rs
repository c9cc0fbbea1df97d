//! Celigo integrator.io wire structs (upstreams/celigo.md) and their mapping into domain types.
//! Every field is optional: Celigo documents few of them, and the bench mock omits some.

use crate::domain::datetime::{parse_field, parse_lenient};
use crate::domain::{
    Actor, Connection, Flow, HistoryEntry, HistoryKind, Integration, RawJson, Source, Subject,
    SubjectRef, Summary,
};
use crate::error::truncate_message;
use crate::sources::scan::{scan_object, Scan, Scanner};
use compact_str::CompactString;
use serde::Deserialize;

const SOURCE: &str = "CELIGO";

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireIntegration {
    #[serde(rename = "_id")]
    pub id: CompactString,
    pub name: Option<CompactString>,
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
    pub id: CompactString,
    pub name: Option<CompactString>,
    #[serde(rename = "_integrationId")]
    pub integration_id: Option<CompactString>,
    pub disabled: Option<bool>,
    #[serde(rename = "lastExecutedAt")]
    pub last_executed_at: Option<WireWhen>,
    #[serde(rename = "createdAt")]
    pub created_at: Option<WireWhen>,
    #[serde(rename = "lastModified")]
    pub last_modified: Option<WireWhen>,
}

/// The steps of a flow. Only the resources they use matter (`Flow.connections`), so they are
/// read from the flow's raw JSON when that field is asked for, not with every flow listed.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireFlowSteps {
    #[serde(rename = "pageGenerators", default)]
    pub page_generators: Vec<WireStep>,
    #[serde(rename = "pageProcessors", default)]
    pub page_processors: Vec<WireStep>,
}

impl WireFlowSteps {
    /// The exports and imports the steps use, in step order.
    pub fn resource_ids(self) -> Vec<CompactString> {
        let mut ids = Vec::with_capacity(self.page_generators.len() + self.page_processors.len());
        for step in self.page_generators.into_iter().chain(self.page_processors) {
            ids.extend(step.export_id);
            ids.extend(step.import_id);
        }
        ids
    }
}

#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireStep {
    #[serde(rename = "_exportId")]
    pub export_id: Option<CompactString>,
    #[serde(rename = "_importId")]
    pub import_id: Option<CompactString>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireConnection {
    #[serde(rename = "_id")]
    pub id: CompactString,
    pub name: Option<CompactString>,
    #[serde(rename = "type")]
    pub kind: Option<CompactString>,
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
    pub id: CompactString,
    #[serde(rename = "_connectionId")]
    pub connection_id: Option<CompactString>,
}

/// An audit entry as listed: what the history entry needs at once. What only its summary
/// needs is read from the entry's raw JSON when a query asks for `summary`
/// ([`WireAuditDetail`]).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireAudit {
    #[serde(rename = "_id")]
    pub id: CompactString,
    pub time: Option<WireWhen>,
    #[serde(rename = "_byUserId")]
    pub by_user_id: Option<CompactString>,
    #[serde(rename = "byUser")]
    pub by_user: Option<WireUser>,
}

/// What an audit entry's summary is made of.
#[derive(Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireAuditDetail {
    #[serde(rename = "resourceType")]
    pub resource_type: Option<CompactString>,
    pub event: Option<CompactString>,
    #[serde(rename = "_byUserId")]
    pub by_user_id: Option<CompactString>,
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
    pub id: Option<CompactString>,
    pub name: Option<CompactString>,
    pub email: Option<CompactString>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireFieldChange {
    #[serde(rename = "fieldPath")]
    pub field_path: Option<CompactString>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireDeletedInfo {
    pub name: Option<CompactString>,
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
    pub fn into_domain(self, raw: impl Into<RawJson>) -> Flow {
        Flow {
            source: Source::Celigo,
            name: self.name.unwrap_or_else(|| self.id.clone()),
            integration_id: self.integration_id,
            enabled: self.disabled.map(|d| !d),
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
            integration_id: integration_id.map(CompactString::from),
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
    pub fn into_domain(self, raw: impl Into<RawJson>, integration_id: &str) -> HistoryEntry {
        let actor = actor(self.by_user, self.by_user_id);
        HistoryEntry {
            source: Source::Celigo,
            kind: HistoryKind::Audit,
            occurred_at: time("time", &self.time),
            updated_at: None,
            actor,
            summary: Summary::lazy(WireAuditDetail::summary_of),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: integration_id.into(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Celigo,
                source_id: integration_id.into(),
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
}

/// Who made an audit entry: its `byUser`, else its `_byUserId`.
fn actor(user: Option<WireUser>, by_user_id: Option<CompactString>) -> Option<Actor> {
    let (id, name, email) = match user {
        Some(u) => (u.id, u.name, u.email),
        None => (None, None, None),
    };
    let actor = Actor {
        source_id: id.or(by_user_id),
        name,
        email,
    };
    (actor != Actor::default()).then_some(actor)
}

impl WireAuditDetail {
    /// The summary of the audit entry `raw`. Read when a query first asks for it; an entry
    /// whose summary members are not in the documented shape (listed all the same) reads as
    /// one without them: "System changed resource".
    pub fn summary_of(raw: &RawJson) -> String {
        match raw.parse::<WireAuditDetail>() {
            Ok(mut detail) => {
                let actor = actor(detail.by_user.take(), detail.by_user_id.take());
                detail.summary(actor.as_ref())
            }
            Err(_) => WireAuditDetail::default().summary(None),
        }
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

scan_object!(WireIntegration {
    "_id" => id: req(compact()),
    "name" => name: opt(opt_compact()),
    "description" => description: opt(opt_string()),
    "createdAt" => created_at: opt(opt()),
    "lastModified" => last_modified: opt(opt()),
});

scan_object!(WireFlow {
    "_id" => id: req(compact()),
    "name" => name: opt(opt_compact()),
    "_integrationId" => integration_id: opt(opt_compact()),
    "disabled" => disabled: opt(opt_bool()),
    "lastExecutedAt" => last_executed_at: opt(opt()),
    "createdAt" => created_at: opt(opt()),
    "lastModified" => last_modified: opt(opt()),
});

scan_object!(WireConnection {
    "_id" => id: req(compact()),
    "name" => name: opt(opt_compact()),
    "type" => kind: opt(opt_compact()),
    "offline" => offline: opt(opt_bool()),
    "createdAt" => created_at: opt(opt()),
    "lastModified" => last_modified: opt(opt()),
});

scan_object!(WireResource {
    "_id" => id: req(compact()),
    "_connectionId" => connection_id: opt(opt_compact()),
});

scan_object!(WireAudit {
    "_id" => id: req(compact()),
    "time" => time: opt(opt()),
    "_byUserId" => by_user_id: opt(opt_compact()),
    "byUser" => by_user: opt(opt()),
});

scan_object!(WireUser {
    "_id" => id: opt(opt_compact()),
    "name" => name: opt(opt_compact()),
    "email" => email: opt(opt_compact()),
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ListAt, RawList};

    /// Audit entries are listed with their id, time and actor; the summary is made from the
    /// entry's own raw JSON when asked for, and one whose summary members are not in the
    /// documented shape is still listed.
    #[test]
    fn audit_summaries_are_made_from_the_raw_entry_when_asked_for() {
        let body = r#"[
          {"_id": "a1", "time": "2024-06-25T02:23:43.648Z", "resourceType": "flow", "event": "update",
           "fieldChanges": [{"fieldPath": "version"}, {"fieldPath": "settings.defaultLocation"}],
           "byUser": {"_id": "u1", "name": "Dana Whitfield", "email": "dana@example.com"}},
          {"_id": "a2", "time": "2024-06-24T02:23:43.648Z", "resourceType": "Connection", "event": "delete",
           "deletedInfo": {"name": "Orders"}, "_byUserId": "u2", "byUser": {"email": "ops@example.com"}},
          {"_id": "a3", "time": "2024-06-23T02:23:43.648Z", "event": 5, "fieldChange": "not an object",
           "byUser": {"name": "Chen Wei"}}
        ]"#;
        let list = RawList::new(bytes::Bytes::from_static(body.as_bytes()), ListAt::Root);
        let entries = crate::sources::scan::list_map(body, |index, w: WireAudit| {
            w.into_domain(list.item(index), "i1")
        })
        .expect("the fast path reads the listed members");
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0].summary(),
            "Dana Whitfield updated flow: version, settings.defaultLocation"
        );
        assert_eq!(
            entries[1].summary(),
            "ops@example.com deleted connection “Orders”"
        );
        let actor = entries[1].actor.as_ref().expect("actor");
        assert_eq!(actor.source_id.as_deref(), Some("u2"));
        // Listed with its id, time and actor; its summary reads as one without details.
        assert_eq!(entries[2].source_id, "a3");
        assert!(entries[2].occurred_at.is_some());
        assert_eq!(
            entries[2].actor.as_ref().and_then(|a| a.name.as_deref()),
            Some("Chen Wei")
        );
        assert_eq!(entries[2].summary(), "System changed resource");
        // Made once: the same text on a second ask.
        assert!(std::ptr::eq(entries[0].summary(), entries[0].summary()));
    }
}
