//! DealCloud wire structs (upstreams/dealcloud.md: OAuth2 token, entry history) and their
//! mapping into domain types. Entry ids are JSON numbers; Chronograph keeps them as strings.

use crate::domain::{HistoryEntry, HistoryKind, Source, Subject, SubjectRef};
use crate::error::truncate_message;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `POST /api/rest/v1/oauth/token` success.
#[derive(Deserialize)]
pub struct WireToken {
    pub access_token: Option<String>,
    pub expires_in: Option<u64>,
}

/// One element of `GET /api/rest/v4/schema/entrytypes` (the Schema API): an entry type's
/// numeric id and its `apiName`; the display names are not read.
#[derive(Deserialize)]
pub struct WireEntryType {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    #[serde(rename = "apiName")]
    pub api_name: Option<String>,
}

/// One element of the `…/entries/history` array.
#[derive(Deserialize)]
pub struct WireEntry {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "isDeleted")]
    pub is_deleted: Option<bool>,
    #[serde(
        rename = "mergedEntryId",
        default,
        deserialize_with = "optional_id_text"
    )]
    pub merged_entry_id: Option<String>,
}

/// An id sent as a JSON number (documented) or a string (tolerated).
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s),
        _ => Err(serde::de::Error::custom(
            "id is neither a number nor a string",
        )),
    }
}

fn optional_id_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

impl WireEntry {
    /// Map an entry of the entry type `subject` names. A merge is classified before a
    /// deletion: the documented merge example still says `isDeleted: false` (DESIGN.md §10).
    pub fn into_domain(self, raw: &Value, subject: &SubjectRef) -> HistoryEntry {
        let (kind, deleted) = match (&self.merged_entry_id, self.is_deleted) {
            (Some(_), _) => (HistoryKind::RecordMerged, true),
            (None, Some(true)) => (HistoryKind::RecordDeleted, true),
            _ => (HistoryKind::RecordChanged, false),
        };
        let label = match self.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => format!("“{name}”"),
            _ => format!("Entry {}", self.id),
        };
        let summary = match (kind, &self.merged_entry_id) {
            (HistoryKind::RecordMerged, Some(into)) => {
                format!("{label} was merged into entry {into}")
            }
            (HistoryKind::RecordDeleted, _) => format!("{label} was deleted"),
            _ => format!("{label} was modified"),
        };
        HistoryEntry {
            source: Source::Dealcloud,
            kind,
            occurred_at: None,
            updated_at: None,
            actor: None,
            summary: truncate_message(&summary, 200).into(),
            subject: Subject {
                kind: "DEALCLOUD_ENTRY",
                source_id: self.id.as_str().into(),
                name: self.name.map(Into::into),
            },
            subject_ref: subject.clone(),
            status: None,
            error: None,
            unread: None,
            deleted,
            merged_into_source_id: self.merged_entry_id,
            raw: raw.clone().into(),
            source_id: self.id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_all(text: &str) -> Vec<HistoryEntry> {
        let subject = SubjectRef::DealcloudEntryType {
            entry_type: "interaction".into(),
        };
        let values: Vec<Value> = serde_json::from_str(text).expect("example is JSON");
        values
            .iter()
            .map(|v| {
                let wire: WireEntry = serde_json::from_value(v.clone()).expect("wire shape");
                wire.into_domain(v, &subject)
            })
            .collect()
    }

    #[test]
    fn the_contract_examples_map_to_changes_deletions_and_merges() {
        let entries = map_all(include_str!(
            "../../../tests/fixtures/dealcloud/history.200.json"
        ));
        assert_eq!(entries[0].kind, HistoryKind::RecordChanged);
        assert_eq!(entries[0].source_id, "3104417");
        assert_eq!(
            entries[0].summary(),
            "“Call with Harbor Point Capital” was modified"
        );
        assert!(!entries[0].deleted);
        assert_eq!(entries[2].kind, HistoryKind::RecordDeleted);
        assert!(entries[2].deleted);
        assert_eq!(entries[2].subject.kind, "DEALCLOUD_ENTRY");
        assert_eq!(entries[2].subject.source_id, "3098851");
        assert_eq!(
            entries[2].subject.name.as_deref(),
            Some("Duplicate intro meeting")
        );
        assert_eq!(entries[2].occurred_at, None);

        let merged = map_all(include_str!(
            "../../../tests/fixtures/dealcloud/history.merged.200.json"
        ));
        assert_eq!(merged[0].kind, HistoryKind::RecordMerged);
        assert!(merged[0].deleted, "a merged entry no longer exists");
        assert_eq!(merged[0].merged_into_source_id.as_deref(), Some("3100987"));
        assert_eq!(
            merged[0].summary(),
            "“Lunch - Ridgeway Partners” was merged into entry 3100987"
        );
        assert!(map_all("[]").is_empty());
    }

    #[test]
    fn token_answer_decodes() {
        let token: WireToken = serde_json::from_str(include_str!(
            "../../../tests/fixtures/dealcloud/token.200.json"
        ))
        .expect("token shape");
        assert_eq!(token.expires_in, Some(900));
        assert!(token.access_token.is_some());
    }
}
