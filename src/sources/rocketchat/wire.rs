//! Rocket.Chat wire structs (upstreams/rocketchat.md) and their mapping into domain types.
//! Every field except the ids is optional: history records gain keys only as an execution
//! reaches each step, and servers differ in which envelope keys they send.

use crate::domain::datetime::{from_millis, parse_field};
use crate::domain::{
    Actor, HistoryEntry, HistoryKind, HistoryStatus, Integration, Source, Subject, SubjectRef,
};
use crate::error::truncate_message;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

const SOURCE: &str = "ROCKETCHAT";
/// Longest `error` text kept on an entry (stacks and HTTP errors can be long).
const MAX_ERROR_CHARS: usize = 500;
/// Longest trigger message quoted in a summary.
const MAX_QUOTED_TEXT_CHARS: usize = 80;

/// The paging envelope shared by `integrations.list` and `integrations.history`.
#[derive(Deserialize)]
pub struct WirePage {
    #[serde(default)]
    pub integrations: Vec<Value>,
    #[serde(default)]
    pub history: Vec<Value>,
    /// Matching records ignoring offset/count; the only sound "has more" signal.
    pub total: Option<u64>,
}

/// `integrations.get`.
#[derive(Deserialize)]
pub struct WireGet {
    pub integration: Value,
}

/// An incoming or outgoing webhook.
#[derive(Deserialize)]
pub struct WireIntegration {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    #[serde(rename = "_createdAt")]
    pub created_at: Option<Value>,
    #[serde(rename = "_updatedAt")]
    pub updated_at: Option<Value>,
}

/// One execution of an outgoing webhook (`IIntegrationHistory`).
#[derive(Deserialize)]
pub struct WireExecution {
    #[serde(rename = "_id")]
    pub id: String,
    pub step: Option<String>,
    pub integration: Option<WireIntegrationCopy>,
    pub event: Option<String>,
    #[serde(rename = "_createdAt")]
    pub created_at: Option<Value>,
    #[serde(rename = "_updatedAt")]
    pub updated_at: Option<Value>,
    pub data: Option<WireTrigger>,
    #[serde(rename = "httpError")]
    pub http_error: Option<Value>,
    #[serde(rename = "httpResult")]
    pub http_result: Option<Value>,
    pub error: Option<bool>,
    #[serde(rename = "errorStack")]
    pub error_stack: Option<Value>,
    pub finished: Option<bool>,
}

/// The integration copy embedded in a history record: only its name matters here.
#[derive(Deserialize)]
pub struct WireIntegrationCopy {
    pub name: Option<String>,
}

/// The trigger payload of an execution.
#[derive(Deserialize)]
pub struct WireTrigger {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub channel_name: Option<String>,
    pub text: Option<String>,
}

/// REST bodies carry ISO strings; EJSON `{"$date": ms}` is accepted too.
fn time(field: &str, value: &Option<Value>) -> Option<DateTime<Utc>> {
    match value.as_ref()? {
        Value::String(text) => parse_field(SOURCE, field, Some(text)),
        Value::Object(map) => match map.get("$date") {
            Some(Value::Number(ms)) => ms.as_i64().map(from_millis),
            Some(Value::String(text)) => parse_field(SOURCE, field, Some(text)),
            _ => None,
        },
        _ => None,
    }
}

/// Just the `_updatedAt` of a raw history record, for positioning without a full mapping.
pub fn updated_at_ms(raw: &Value) -> Option<i64> {
    time("_updatedAt", &raw.get("_updatedAt").cloned()).map(|t| t.timestamp_millis())
}

impl WireIntegration {
    /// `category` is the webhook type (`webhook-incoming` / `webhook-outgoing`); Rocket.Chat
    /// has no description, so that stays null.
    pub fn into_domain(self, raw: &Value) -> Integration {
        Integration {
            source: Source::Rocketchat,
            name: self.name.unwrap_or_else(|| self.id.clone()),
            description: None,
            category: self.kind,
            enabled: self.enabled,
            sharing: None,
            installed_environments: None,
            created_at: time("_createdAt", &self.created_at),
            updated_at: time("_updatedAt", &self.updated_at),
            team: None,
            raw: raw.clone().into(),
            source_id: self.id,
        }
    }
}

impl WireExecution {
    /// Map an execution of webhook `integration_id` into a history entry.
    pub fn into_domain(self, raw: &Value, integration_id: &str) -> HistoryEntry {
        let status = if self.error == Some(true) {
            HistoryStatus::Error
        } else if self.finished == Some(true) {
            HistoryStatus::Ok
        } else {
            HistoryStatus::Running
        };
        let error = [&self.error_stack, &self.http_error]
            .into_iter()
            .flatten()
            .find_map(error_text)
            .map(|text| truncate_message(&text, MAX_ERROR_CHARS));
        let actor = self.data.as_ref().and_then(|d| {
            let actor = Actor {
                source_id: d.user_id.clone(),
                name: d.user_name.clone(),
                email: None,
            };
            (actor != Actor::default()).then_some(actor)
        });
        HistoryEntry {
            source: Source::Rocketchat,
            kind: HistoryKind::WebhookExecution,
            occurred_at: time("_createdAt", &self.created_at),
            updated_at: time("_updatedAt", &self.updated_at),
            actor,
            summary: self.summary(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: integration_id.to_string(),
                name: self.integration.as_ref().and_then(|i| i.name.clone()),
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Rocketchat,
                source_id: integration_id.to_string(),
            },
            status: Some(status),
            error,
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw: raw.clone().into(),
            source_id: self.id,
        }
    }

    /// `sendMessage “!deploy api v2.14.1” by @jdoe in #deploys → after-http-call (HTTP 200)`
    fn summary(&self) -> String {
        let mut text = self
            .event
            .clone()
            .unwrap_or_else(|| "execution".to_string());
        if let Some(data) = &self.data {
            if let Some(quoted) = data
                .text
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                let one_line = quoted.split_whitespace().collect::<Vec<_>>().join(" ");
                text.push_str(&format!(
                    " “{}”",
                    truncate_message(&one_line, MAX_QUOTED_TEXT_CHARS)
                ));
            }
            if let Some(user) = &data.user_name {
                text.push_str(&format!(" by @{user}"));
            }
            if let Some(channel) = &data.channel_name {
                text.push_str(&format!(" in #{}", channel.trim_start_matches('#')));
            }
        }
        if let Some(step) = &self.step {
            text.push_str(&format!(" → {step}"));
        }
        if let Some(status) = self.http_result.as_ref().and_then(http_status) {
            text.push_str(&format!(" (HTTP {status})"));
        }
        truncate_message(&text, 200)
    }
}

/// The text of an `errorStack` / `httpError` value: a string as is, an error object as
/// `name: message`, anything else as compact JSON. Empty values say nothing.
fn error_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null | Value::Bool(false) => return None,
        Value::String(s) => s.trim().to_string(),
        Value::Object(map) => match map.get("message").and_then(Value::as_str) {
            Some(message) => match map.get("name").and_then(Value::as_str) {
                Some(name) => format!("{name}: {message}"),
                None => message.to_string(),
            },
            None => value.to_string(),
        },
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// The HTTP status of the webhook call, when `httpResult` records one (older servers store the
/// whole response object, `{"statusCode": 200, ...}`, as JSON text; newer ones only the body).
fn http_status(value: &Value) -> Option<u64> {
    let decoded = match value {
        Value::String(text) => serde_json::from_str::<Value>(text).ok()?,
        other => other.clone(),
    };
    decoded.get("statusCode").and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/rocketchat/integrations.history.200.json"
        ))
        .expect("example parses")
    }

    #[test]
    fn the_contract_example_maps_status_error_and_summary() {
        let page = example();
        let entries: Vec<HistoryEntry> = page["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|raw| {
                serde_json::from_value::<WireExecution>(raw.clone())
                    .expect("record")
                    .into_domain(raw, "nvdQuJQ6tE9HRFBzd")
            })
            .collect();
        assert_eq!(entries[0].status, Some(HistoryStatus::Ok));
        assert_eq!(entries[1].status, Some(HistoryStatus::Error));
        assert_eq!(entries[2].status, Some(HistoryStatus::Running));
        assert_eq!(
            entries[0].summary,
            "sendMessage “!deploy api v2.14.1” by @jdoe in #deploys → after-http-call"
        );
        let error = entries[1].error.as_deref().expect("error text");
        assert!(
            error.starts_with("FetchError: request to https://hooks.example.test/deploy failed")
        );
        assert_eq!(entries[0].error, None);
        assert_eq!(entries[0].subject.name.as_deref(), Some("Deploy notifier"));
        assert_eq!(
            entries[0]
                .actor
                .as_ref()
                .and_then(|a| a.source_id.as_deref()),
            Some("aobEdbYhXfu5hkeqG")
        );
        assert_eq!(entries[0].kind, HistoryKind::WebhookExecution);
        // Kept as received; redacted when served.
        let served = crate::domain::redact(entries[0].raw.to_value()).to_string();
        assert!(!served.contains("fake-webhook-token-0001"), "{served}");
    }

    #[test]
    fn error_texts_and_http_status_are_read_from_any_shape() {
        assert_eq!(error_text(&json!(false)), None);
        assert_eq!(error_text(&json!("")), None);
        assert_eq!(
            error_text(&json!({"name": "Error", "message": "boom"})).as_deref(),
            Some("Error: boom")
        );
        assert_eq!(
            error_text(&json!({"code": 7})).as_deref(),
            Some(r#"{"code":7}"#)
        );
        let long = "x".repeat(2000);
        let raw = json!({"_id": "a", "error": true, "errorStack": long});
        let entry = serde_json::from_value::<WireExecution>(raw.clone())
            .expect("record")
            .into_domain(&raw, "i");
        assert!(entry.error.expect("error").chars().count() <= MAX_ERROR_CHARS + 1);
        assert_eq!(
            http_status(&json!(
                "{\n  \"statusCode\": 502,\n  \"content\": \"bad\"\n}"
            )),
            Some(502)
        );
        assert_eq!(http_status(&json!("\"{\\\"ok\\\":true}\"")), None);
    }

    #[test]
    fn ejson_dates_are_accepted() {
        let raw = json!({"_id": "a", "_createdAt": {"$date": 1715677923118i64}, "_updatedAt": "2024-05-14T09:12:03.640Z"});
        let entry = serde_json::from_value::<WireExecution>(raw.clone())
            .expect("record")
            .into_domain(&raw, "i");
        assert_eq!(
            entry.occurred_at.map(|t| t.timestamp_millis()),
            Some(1715677923118)
        );
        assert_eq!(updated_at_ms(&raw), Some(1715677923640));
    }
}
