//! Hexabase wire structs (upstreams/hexabase.md, "GetItemHistories") and their mapping into
//! domain types. Fields are optional where the contract says "some entries" or leaves the
//! shape unverified; comment entries omit the action keys entirely.

use crate::domain::datetime::parse_field;
use crate::domain::{Actor, HistoryEntry, HistoryKind, Source, Subject, SubjectRef};
use crate::error::truncate_message;
use serde::Deserialize;
use serde_json::Value;

const SOURCE: &str = "HEXABASE";
/// Longest comment text kept in a summary (DESIGN.md §4).
const SUMMARY_CHARS: usize = 200;

/// `GET …/items/histories/:item-id`: the entries of one window and the caller's unread count.
#[derive(Deserialize)]
pub struct WireHistories {
    /// Unread entries of the whole item for the caller, before this call marked them read.
    pub unread: Option<i64>,
    pub histories: Vec<Value>,
}

/// One history entry: a comment, or an action execution when `action_id` is present.
#[derive(Deserialize)]
pub struct WireHistory {
    pub history_id: String,
    pub is_unread: Option<bool>,
    pub comment: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub action_id: Option<String>,
    pub action_name: Option<String>,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
}

/// `POST /api/v0/login` (response shape unverified).
#[derive(Deserialize)]
pub struct WireLogin {
    pub token: Option<String>,
}

impl WireHistory {
    /// Map an entry listed for `subject` (a Hexabase item) into a history entry.
    pub fn into_domain(self, raw: &Value, subject: &SubjectRef) -> HistoryEntry {
        let kind = if self.action_id.is_some() {
            HistoryKind::Action
        } else {
            HistoryKind::Comment
        };
        let actor = Actor {
            source_id: self.user_id.as_deref().map(Into::into),
            name: self.username.as_deref().map(Into::into),
            email: self.email.as_deref().map(Into::into),
        };
        let item_id = match subject {
            SubjectRef::HexabaseItem { item_id, .. } => item_id.clone(),
            other => other.canonical(),
        };
        HistoryEntry {
            source: Source::Hexabase,
            kind,
            occurred_at: parse_field(SOURCE, "created_at", self.created_at.as_deref()),
            updated_at: parse_field(SOURCE, "updated_at", self.updated_at.as_deref()),
            summary: self.summary(kind).into(),
            actor: (actor != Actor::default()).then_some(actor),
            subject: Subject {
                kind: "HEXABASE_ITEM",
                source_id: item_id.into(),
                name: None,
            },
            subject_ref: subject.clone(),
            status: None,
            error: None,
            unread: self.is_unread,
            deleted: false,
            merged_into_source_id: None,
            raw: raw.clone().into(),
            source_id: self.history_id.into(),
        }
    }

    /// `Action “Update”: Customer confirmed…` for actions, the comment itself for comments.
    fn summary(&self, kind: HistoryKind) -> String {
        let comment = self.comment.as_deref().map(str::trim).unwrap_or_default();
        let text = match kind {
            HistoryKind::Action => {
                let action = self.action_name.as_deref().unwrap_or("action");
                if comment.is_empty() {
                    format!("Action “{action}”")
                } else {
                    format!("Action “{action}”: {comment}")
                }
            }
            _ if comment.is_empty() => "Empty comment".to_string(),
            _ => comment.to_string(),
        };
        truncate_message(&text, SUMMARY_CHARS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::datetime::format_utc_ms;
    use serde_json::json;

    fn item() -> SubjectRef {
        SubjectRef::HexabaseItem {
            application_id: "app".into(),
            datastore_id: "ds".into(),
            item_id: "6646f0a928dc5c20307cf5a0".into(),
        }
    }

    fn map(value: Value) -> HistoryEntry {
        let wire: WireHistory = serde_json::from_value(value.clone()).expect("wire shape");
        wire.into_domain(&value, &item())
    }

    #[test]
    fn the_contract_example_maps_kinds_times_and_actors() {
        let body: WireHistories = serde_json::from_str(include_str!(
            "../../../tests/fixtures/hexabase/item-histories.200.json"
        ))
        .expect("example decodes");
        assert_eq!(body.unread, Some(2));
        let entries: Vec<HistoryEntry> = body.histories.into_iter().map(map).collect();
        assert_eq!(entries[0].kind, HistoryKind::Action);
        assert_eq!(
            entries[0].summary(),
            "Action “Update”: Customer confirmed the new delivery date."
        );
        assert_eq!(entries[0].unread, Some(true));
        assert_eq!(
            entries[0].occurred_at.map(format_utc_ms).as_deref(),
            Some("2024-05-13T06:20:11.410Z")
        );
        assert_eq!(
            entries[0].updated_at.map(format_utc_ms).as_deref(),
            Some("2024-05-14T02:05:44.104Z")
        );
        assert_eq!(entries[1].kind, HistoryKind::Comment);
        assert_eq!(entries[1].summary(), "Escalated to the logistics team.");
        assert_eq!(
            entries[1].actor.as_ref().and_then(|a| a.email.as_deref()),
            Some("k.tanaka@example.com")
        );
        assert_eq!(entries[1].subject.kind, "HEXABASE_ITEM");
        assert_eq!(entries[1].subject.source_id, "6646f0a928dc5c20307cf5a0");
        assert_eq!(
            entries[2].updated_at.map(format_utc_ms).as_deref(),
            Some("2024-05-12T08:15:21.900Z")
        );
    }

    #[test]
    fn fractions_of_any_length_and_offsets_parse() {
        let entry = map(json!({
            "history_id": "6646f0a928dc5c20307cf5b1",
            "comment": "x",
            "created_at": "2017-09-06T12:55:22.409+09:00",
            "updated_at": "2021-03-08T15:05:44.9999999Z",
        }));
        assert_eq!(
            entry.occurred_at.map(format_utc_ms).as_deref(),
            Some("2017-09-06T03:55:22.409Z")
        );
        assert_eq!(
            entry.updated_at.map(format_utc_ms).as_deref(),
            Some("2021-03-08T15:05:44.999Z")
        );
        let bad = map(json!({ "history_id": "a", "updated_at": "yesterday" }));
        assert_eq!(bad.updated_at, None);
        assert_eq!(bad.summary(), "Empty comment");
    }

    #[test]
    fn long_comments_are_truncated() {
        let entry = map(json!({ "history_id": "a", "comment": "é".repeat(500) }));
        assert!(entry.summary().chars().count() <= SUMMARY_CHARS + 1);
    }
}
