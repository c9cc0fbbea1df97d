//! Vendor-neutral domain types. Adapters map their wire structs into these; the GraphQL layer
//! only ever sees these. No vendor field name appears here.

pub mod datetime;
pub mod ids;
pub mod raw;
mod source;

pub use raw::{ListAt, RawJson, RawList};
pub use source::{with_schema_sources, Declared, Source};

use chrono::{DateTime, Utc};
pub use compact_str::CompactString;
use serde_json::Value;
use std::sync::Arc;

/// Truto's integration sharing policy.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    Allow,
    Ask,
    Deny,
}

/// What a history entry records.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HistoryKind {
    WebhookExecution,
    Comment,
    Action,
    Audit,
    RecordChanged,
    RecordDeleted,
    RecordMerged,
}

/// Outcome of an execution-like entry.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryStatus {
    Ok,
    Error,
    Running,
}

/// An integration (a Celigo integration, a Rocket.Chat webhook, a Truto integration).
#[derive(Clone, Debug)]
pub struct Integration {
    pub source: Source,
    pub source_id: CompactString,
    pub name: CompactString,
    pub description: Option<String>,
    pub category: Option<String>,
    pub enabled: Option<bool>,
    pub sharing: Option<Sharing>,
    pub installed_environments: Option<Vec<String>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub team: Option<Arc<Team>>,
    /// The vendor object as received; redacted when served (`schema::types::entities::raw`).
    pub raw: RawJson,
}

/// A flow inside an integration (Celigo).
#[derive(Clone, Debug)]
pub struct Flow {
    pub source: Source,
    pub source_id: CompactString,
    pub integration_id: Option<CompactString>,
    pub name: CompactString,
    pub enabled: Option<bool>,
    pub last_executed_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub raw: RawJson,
}

/// A connection to an external system (Celigo).
#[derive(Clone, Debug)]
pub struct Connection {
    pub source: Source,
    pub source_id: CompactString,
    /// The integration it was listed under, so `node(id)` can find it again.
    pub integration_id: Option<CompactString>,
    pub name: CompactString,
    pub kind: Option<CompactString>,
    pub offline: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub raw: RawJson,
}

/// The team that owns an integration (Truto).
#[derive(Clone, Debug)]
pub struct Team {
    pub source: Source,
    pub source_id: CompactString,
    pub name: CompactString,
    pub domain: Option<String>,
    pub logo_url: Option<String>,
    pub verified: Option<bool>,
    pub white_label: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub raw: RawJson,
}

/// Who did something.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Actor {
    pub source_id: Option<CompactString>,
    pub name: Option<CompactString>,
    pub email: Option<CompactString>,
}

/// What a history entry is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SubjectRef {
    Integration {
        source: Source,
        source_id: CompactString,
    },
    HexabaseItem {
        application_id: String,
        datastore_id: String,
        item_id: String,
    },
    DealcloudEntryType {
        entry_type: String,
    },
}

impl SubjectRef {
    /// The source whose stream this subject reads.
    pub fn source(&self) -> Source {
        match self {
            SubjectRef::Integration { source, .. } => *source,
            SubjectRef::HexabaseItem { .. } => Source::Hexabase,
            SubjectRef::DealcloudEntryType { .. } => Source::Dealcloud,
        }
    }

    /// A stable text form, used in argument fingerprints and cache keys.
    pub fn canonical(&self) -> String {
        match self {
            SubjectRef::Integration { source, source_id } => {
                format!("integration:{}:{}", source.as_str(), source_id)
            }
            SubjectRef::HexabaseItem {
                application_id,
                datastore_id,
                item_id,
            } => {
                format!("hexabase:{application_id}/{datastore_id}/{item_id}")
            }
            SubjectRef::DealcloudEntryType { entry_type } => format!("dealcloud:{entry_type}"),
        }
    }
}

/// The subject as shown on an entry (`Subject` in the schema).
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    pub kind: &'static str,
    pub source_id: CompactString,
    pub name: Option<CompactString>,
}

/// One normalised history entry from any source.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub source: Source,
    pub source_id: CompactString,
    pub kind: HistoryKind,
    pub occurred_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub actor: Option<Actor>,
    pub summary: Summary,
    pub subject: Subject,
    /// The subject reference this entry was read for; lets `node(id)` re-read it.
    pub subject_ref: SubjectRef,
    pub status: Option<HistoryStatus>,
    pub error: Option<String>,
    pub unread: Option<bool>,
    pub deleted: bool,
    pub merged_into_source_id: Option<String>,
    pub raw: RawJson,
}

/// A history entry's one-line summary: made when the entry is read, or, where it costs more
/// than the rest of the entry (Celigo's audit log), from the entry's raw JSON the first time a
/// query asks for it.
#[derive(Clone, Debug)]
pub struct Summary {
    text: std::sync::OnceLock<String>,
    make: Option<fn(&RawJson) -> String>,
}

impl Summary {
    /// A summary made from the raw JSON when first asked for.
    pub fn lazy(make: fn(&RawJson) -> String) -> Self {
        Summary {
            text: std::sync::OnceLock::new(),
            make: Some(make),
        }
    }
}

impl From<String> for Summary {
    fn from(text: String) -> Self {
        Summary {
            text: std::sync::OnceLock::from(text),
            make: None,
        }
    }
}

impl HistoryEntry {
    /// The one-line summary.
    pub fn summary(&self) -> &str {
        self.summary.text.get_or_init(|| {
            self.summary
                .make
                .map(|make| make(&self.raw))
                .unwrap_or_default()
        })
    }

    /// The ordering time: `updatedAt ?? occurredAt ?? observedAt` (DESIGN.md §2).
    pub fn at(&self, observed_at: DateTime<Utc>) -> DateTime<Utc> {
        self.updated_at.or(self.occurred_at).unwrap_or(observed_at)
    }

    /// The integration this entry belongs to, when its subject is one.
    pub fn integration_ref(&self) -> Option<(Source, &str)> {
        match &self.subject_ref {
            SubjectRef::Integration { source, source_id } => Some((*source, source_id.as_str())),
            _ => None,
        }
    }
}

/// Keys whose values never leave Chronograph in `raw` (DESIGN.md §10).
const SECRET_KEY_MARKERS: [&str; 5] = ["token", "password", "secret", "authorization", "apikey"];

/// Replace every value under a secret-looking key, at any depth, with `"[redacted]"`.
pub fn redact(mut value: Value) -> Value {
    redact_in_place(&mut value);
    value
}

fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let lower = key.to_ascii_lowercase().replace(['_', '-'], "");
                if SECRET_KEY_MARKERS
                    .iter()
                    .any(|marker| lower.contains(marker))
                {
                    *inner = Value::String("[redacted]".into());
                } else {
                    redact_in_place(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use serde_json::json;

    #[test]
    fn redact_hides_secrets_at_any_depth_and_case() {
        let raw = json!({"name": "x", "Token": "t", "nested": {"api_key": "k", "list": [{"clientSecret": "s", "ok": 1}]}, "Authorization": "Bearer y"});
        let out = redact(raw);
        assert_eq!(out["Token"], "[redacted]");
        assert_eq!(out["nested"]["api_key"], "[redacted]");
        assert_eq!(out["nested"]["list"][0]["clientSecret"], "[redacted]");
        assert_eq!(out["nested"]["list"][0]["ok"], 1);
        assert_eq!(out["Authorization"], "[redacted]");
        assert_eq!(out["name"], "x");
    }

    #[test]
    fn source_order_is_the_enum_order() {
        let mut sources = vec![Source::Dealcloud, Source::Rocketchat, Source::Celigo];
        sources.sort();
        assert_eq!(
            sources,
            vec![Source::Rocketchat, Source::Celigo, Source::Dealcloud]
        );
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
    }
}

/// `HistoryFilter` in domain form (DESIGN.md §10: `since` inclusive, `until` exclusive).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub kinds: Option<Vec<HistoryKind>>,
    pub actor_id: Option<String>,
}

impl HistoryFilter {
    /// Whether an entry passes the filter (applied in Chronograph where a vendor cannot).
    pub fn matches(&self, entry: &HistoryEntry, observed_at: DateTime<Utc>) -> bool {
        let at = entry.at(observed_at);
        self.since.is_none_or(|since| at >= since)
            && self.until.is_none_or(|until| at < until)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&entry.kind))
            && self.actor_id.as_ref().is_none_or(|actor| {
                entry.actor.as_ref().and_then(|a| a.source_id.as_deref()) == Some(actor.as_str())
            })
    }

    /// Whether any entry of `kind` can pass (lets a stream skip its upstream call entirely).
    pub fn admits_kind(&self, kind: HistoryKind) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&kind))
    }

    /// A stable text form for cursor fingerprints.
    pub fn canonical(&self) -> String {
        let kinds = self.kinds.as_ref().map(|k| {
            k.iter()
                .map(|kind| format!("{kind:?}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        format!(
            "since={:?};until={:?};kinds={:?};actor={:?}",
            self.since.map(datetime::to_millis),
            self.until.map(datetime::to_millis),
            kinds,
            self.actor_id
        )
    }
}
