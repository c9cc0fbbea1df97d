//! Rocket.Chat wire structs (upstreams/rocketchat.md) and their mapping into domain types.
//! Every field except the ids is optional: history records gain keys only as an execution
//! reaches each step, and servers differ in which envelope keys they send.

use crate::domain::datetime::{from_millis, parse_field, parse_lenient};
use crate::domain::{
    Actor, CompactString, HistoryEntry, HistoryKind, HistoryStatus, Integration, ListAt, RawJson,
    RawList, Source, Subject, SubjectRef,
};
use crate::error::{truncate_message, SourceError};
use crate::sources::scan::{once, scan_object, unescape, Scan, Scanner};
use crate::upstream::{Fetched, Upstream};
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

const SOURCE: &str = "ROCKETCHAT";
/// Longest `error` text kept on an entry (stacks and HTTP errors can be long).
const MAX_ERROR_CHARS: usize = 500;
/// Longest trigger message quoted in a summary.
const MAX_QUOTED_TEXT_CHARS: usize = 80;

/// The paging envelope shared by `integrations.list` and `integrations.history`: the records
/// of the list being read (`H` history, `I` integrations), the other list skipped.
#[derive(Deserialize)]
struct Envelope<H, I> {
    #[serde(default = "Vec::new")]
    integrations: Vec<I>,
    #[serde(default = "Vec::new")]
    history: Vec<H>,
    /// Matching records ignoring offset/count; the only sound "has more" signal.
    total: Option<u64>,
}

/// Which list of the envelope a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Integrations,
    History,
}

impl List {
    fn key(self) -> &'static str {
        match self {
            List::Integrations => "integrations",
            List::History => "history",
        }
    }
}

/// One record of a page: typed when it is in the documented shape, and its raw JSON.
pub struct Record<T> {
    pub wire: Option<T>,
    pub raw: RawJson,
}

/// A page of `integrations.list` or `integrations.history`, records in the server's order.
pub struct Page<T> {
    pub records: Vec<Record<T>>,
    pub total: Option<u64>,
}

/// Decode a page in one pass, each record straight into its wire struct (no JSON trees); a
/// record's raw JSON is only its place in the body. When some record is not in the documented
/// shape, the page is read again record by record, so that one is skipped (and logged) and
/// the others survive.
pub fn decode_page<T: DeserializeOwned + Scan>(
    up: &Upstream,
    fetched: &Fetched,
    list: List,
    what: &str,
) -> Result<Page<T>, SourceError> {
    let raw = RawList::new(fetched.body.clone(), ListAt::Field(list.key()));
    let fast = raw
        .text()
        .and_then(|text| scan_page::<T>(text, list).or_else(|| decode_envelope::<T>(text, list)));
    if let Some((records, total)) = fast {
        let records = records
            .into_iter()
            .enumerate()
            .map(|(index, wire)| Record {
                wire: Some(wire),
                raw: raw.item(index),
            })
            .collect();
        return Ok(Page { records, total });
    }
    let page: Envelope<Box<RawValue>, Box<RawValue>> = up.decode(fetched)?;
    let (records, total) = match list {
        List::History => (page.history, page.total),
        List::Integrations => (page.integrations, page.total),
    };
    let records = records
        .into_iter()
        .enumerate()
        .map(|(index, text)| Record {
            wire: crate::sources::decode_raw_item::<T>(Source::Rocketchat, &text, what),
            raw: raw.item(index),
        })
        .collect();
    Ok(Page { records, total })
}

/// The records of `list` and `total`, by `serde_json` (what decides when the fast path gives up).
pub(crate) fn decode_envelope<T: DeserializeOwned>(
    text: &str,
    list: List,
) -> Option<(Vec<T>, Option<u64>)> {
    match list {
        List::History => serde_json::from_str::<Envelope<T, IgnoredAny>>(text)
            .map(|page| (page.history, page.total))
            .ok(),
        List::Integrations => serde_json::from_str::<Envelope<IgnoredAny, T>>(text)
            .map(|page| (page.integrations, page.total))
            .ok(),
    }
}

#[cfg(test)]
impl Page<WireExecution> {
    /// A history page of these records, as the server would send them.
    pub fn of_history(records: Vec<Value>, total: Option<u64>) -> Self {
        let records = records
            .into_iter()
            .map(|raw| Record {
                wire: crate::sources::decode_item(Source::Rocketchat, &raw, "history record"),
                raw: raw.into(),
            })
            .collect();
        Page { records, total }
    }
}

/// `integrations.get`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireGet {
    pub integration: Value,
}

/// An incoming or outgoing webhook.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireIntegration {
    #[serde(rename = "_id")]
    pub id: CompactString,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<CompactString>,
    pub enabled: Option<bool>,
    #[serde(rename = "_createdAt")]
    pub created_at: Option<WireTime>,
    #[serde(rename = "_updatedAt")]
    pub updated_at: Option<WireTime>,
}

/// One execution of an outgoing webhook (`IIntegrationHistory`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireExecution {
    #[serde(rename = "_id")]
    pub id: CompactString,
    pub step: Option<CompactString>,
    pub integration: Option<WireIntegrationCopy>,
    pub event: Option<CompactString>,
    #[serde(rename = "_createdAt")]
    pub created_at: Option<WireTime>,
    #[serde(rename = "_updatedAt")]
    pub updated_at: Option<WireTime>,
    pub data: Option<WireTrigger>,
    #[serde(rename = "httpError")]
    pub http_error: Option<Value>,
    #[serde(rename = "httpResult")]
    pub http_result: Option<WireHttpStatus>,
    pub error: Option<bool>,
    #[serde(rename = "errorStack")]
    pub error_stack: Option<Value>,
    pub finished: Option<bool>,
}

/// The integration copy embedded in a history record: only its name matters here.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireIntegrationCopy {
    pub name: Option<CompactString>,
}

/// The trigger payload of an execution.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireTrigger {
    pub user_id: Option<CompactString>,
    pub user_name: Option<CompactString>,
    pub channel_name: Option<CompactString>,
    pub text: Option<String>,
}

/// REST bodies carry ISO strings; EJSON `{"$date": ms}` is accepted too.
fn time_value(field: &str, value: &Option<Value>) -> Option<DateTime<Utc>> {
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

/// A time of a typed record, as [`time_value`] reads it from JSON.
fn time(field: &str, value: &Option<WireTime>) -> Option<DateTime<Utc>> {
    match value.as_ref()? {
        WireTime::At(at) => *at,
        // Parsed again only to say so, as when the text was kept.
        WireTime::Unparsed(text) => parse_field(SOURCE, field, Some(text)),
    }
}

/// A time as sent (an ISO string, or EJSON `{"$date": ms | string}`), read as it is decoded:
/// no JSON value is built and a string that parses is not copied. The same reading as
/// [`time_value`].
#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum WireTime {
    /// The time, or a shape that carries none (a number, an array, `$date` missing…).
    At(Option<DateTime<Utc>>),
    /// A string that is not a time, kept to be reported where it is used.
    Unparsed(String),
}

impl WireTime {
    fn text(text: &str) -> Self {
        match parse_lenient(text) {
            Some(at) => WireTime::At(Some(at)),
            None => WireTime::Unparsed(text.to_owned()),
        }
    }
}

/// Skip what is left of a list.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The whole value (`top`) or the value of its `$date`.
        struct TimeVisitor {
            top: bool,
        }
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = WireTime;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a time")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireTime, E> {
                Ok(WireTime::text(text))
            }
            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<WireTime, E> {
                Ok(WireTime::At((!self.top).then(|| from_millis(ms))))
            }
            fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<WireTime, E> {
                match i64::try_from(ms) {
                    Ok(ms) => self.visit_i64(ms),
                    Err(_) => Ok(WireTime::At(None)),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<WireTime, E> {
                Ok(WireTime::At(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<WireTime, E> {
                Ok(WireTime::At(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<WireTime, E> {
                Ok(WireTime::At(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<WireTime, A::Error> {
                drain_seq(seq)?;
                Ok(WireTime::At(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireTime, A::Error> {
                let mut at = WireTime::At(None);
                while let Some(key) = map.next_key::<String>()? {
                    if self.top && key == "$date" {
                        // The last `$date` counts, as in a JSON object read whole.
                        at = map.next_value_seed(TimeSeed)?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(if self.top { at } else { WireTime::At(None) })
            }
        }
        struct TimeSeed;
        impl<'de> DeserializeSeed<'de> for TimeSeed {
            type Value = WireTime;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<WireTime, D::Error> {
                d.deserialize_any(TimeVisitor { top: false })
            }
        }
        deserializer.deserialize_any(TimeVisitor { top: true })
    }
}

/// The HTTP status `httpResult` records, read as it is decoded (the same reading as
/// [`http_status`], without a JSON value of the whole result).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct WireHttpStatus(pub Option<u64>);

impl<'de> Deserialize<'de> for WireHttpStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = WireHttpStatus;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an HTTP result")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(stored_status(text)))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<WireHttpStatus, E> {
                Ok(WireHttpStatus(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<WireHttpStatus, A::Error> {
                drain_seq(seq)?;
                Ok(WireHttpStatus(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireHttpStatus, A::Error> {
                let mut status = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "statusCode" {
                        status = map.next_value::<Value>()?.as_u64();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(WireHttpStatus(status))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

/// Just the `_updatedAt` of a raw history record, for positioning without a full mapping.
pub fn updated_at_ms(raw: &Value) -> Option<i64> {
    time_value("_updatedAt", &raw.get("_updatedAt").cloned()).map(|t| t.timestamp_millis())
}

/// The `_updatedAt` of a record of a page, typed or not.
pub fn record_updated_at_ms(record: &Record<WireExecution>) -> Option<i64> {
    match &record.wire {
        Some(wire) => time("_updatedAt", &wire.updated_at).map(|t| t.timestamp_millis()),
        None => updated_at_ms(&record.raw.to_value()),
    }
}

impl WireIntegration {
    /// `category` is the webhook type (`webhook-incoming` / `webhook-outgoing`); Rocket.Chat
    /// has no description, so that stays null.
    pub fn into_domain(self, raw: RawJson) -> Integration {
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
            raw,
            source_id: self.id,
        }
    }
}

impl WireExecution {
    /// Map an execution of webhook `integration_id` into a history entry.
    pub fn into_domain(self, raw: RawJson, integration_id: &str) -> HistoryEntry {
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
            summary: self.summary().into(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: integration_id.into(),
                name: self.integration.as_ref().and_then(|i| i.name.clone()),
            },
            subject_ref: SubjectRef::Integration {
                source: Source::Rocketchat,
                source_id: integration_id.into(),
            },
            status: Some(status),
            error,
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw,
            source_id: self.id,
        }
    }

    /// `sendMessage “!deploy api v2.14.1” by @jdoe in #deploys → after-http-call (HTTP 200)`
    fn summary(&self) -> String {
        let mut text = String::with_capacity(96);
        text.push_str(self.event.as_deref().unwrap_or("execution"));
        if let Some(data) = &self.data {
            if let Some(quoted) = data
                .text
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                let one_line = quoted.split_whitespace().collect::<Vec<_>>().join(" ");
                text.push_str(" “");
                text.push_str(&truncate_message(&one_line, MAX_QUOTED_TEXT_CHARS));
                text.push('”');
            }
            if let Some(user) = &data.user_name {
                text.push_str(" by @");
                text.push_str(user);
            }
            if let Some(channel) = &data.channel_name {
                text.push_str(" in #");
                text.push_str(channel.trim_start_matches('#'));
            }
        }
        if let Some(step) = &self.step {
            text.push_str(" → ");
            text.push_str(step);
        }
        if let Some(status) = self.http_result.as_ref().and_then(|result| result.0) {
            use std::fmt::Write;
            let _ = write!(text, " (HTTP {status})");
        }
        if text.len() <= 200 {
            return text;
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
#[cfg(test)]
fn http_status(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => stored_status(text),
        other => other.get("statusCode").and_then(Value::as_u64),
    }
}

/// The status of a response object stored as JSON text (its body is not built into a tree).
fn stored_status(text: &str) -> Option<u64> {
    // Newer servers store only the body: a text without a `C` (nor an escape that could spell
    // one) holds no `statusCode` key, and there is nothing to parse.
    if !text.bytes().any(|b| b == b'C' || b == b'\\') {
        return None;
    }
    #[derive(Deserialize)]
    struct Stored {
        #[serde(rename = "statusCode")]
        status_code: Option<Value>,
    }
    serde_json::from_str::<Stored>(text)
        .ok()?
        .status_code?
        .as_u64()
}

// The fast path for Rocket.Chat's pages (`sources::scan`): the same members and types as the
// derived `Deserialize` impls above; rare shapes of a member (EJSON dates, error objects, a
// stored response that may name its status) are read by `serde_json` from their own text.

/// A page's envelope: the records of `list`, `total`, the other list skipped.
pub(crate) fn scan_page<T: Scan>(text: &str, list: List) -> Option<(Vec<T>, Option<u64>)> {
    let mut s = Scanner::new(text);
    let (mut integrations, mut history, mut total) = (None, None, None);
    s.object(|s, key| match (key, list) {
        ("integrations", List::Integrations) | ("history", List::History) => {
            let slot = if list == List::History {
                &mut history
            } else {
                &mut integrations
            };
            once(slot, s.vec::<T>()?)
        }
        // The other list: an array whose elements are ignored.
        ("integrations", _) => {
            once(&mut integrations, Vec::new()).and_then(|()| s.array(Scanner::skip))
        }
        ("history", _) => once(&mut history, Vec::new()).and_then(|()| s.array(Scanner::skip)),
        ("total", _) => once(&mut total, s.serde::<Option<u64>>()?),
        _ => s.skip(),
    })?;
    s.end()?;
    let records = match list {
        List::History => history,
        List::Integrations => integrations,
    };
    Some((records.unwrap_or_default(), total.flatten()))
}

impl Scan for WireTime {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        match s.peek()? {
            b'"' => s.str().map(|text| WireTime::text(&text)),
            _ => s.serde(),
        }
    }
}

impl Scan for WireHttpStatus {
    fn scan(s: &mut Scanner<'_>) -> Option<Self> {
        if s.peek()? != b'"' {
            return s.serde();
        }
        let (written, escaped) = s.str_escaped()?;
        // As written, without a `C`, an escaped backslash or a `\u` escape, the text cannot
        // hold a `C` or a backslash once decoded: `stored_status` would find nothing.
        let bytes = written.as_bytes();
        let may_name_status = bytes.contains(&b'C')
            || (escaped && bytes.windows(2).any(|w| w == b"\\\\" || w == b"\\u"));
        if !may_name_status {
            return Some(WireHttpStatus(None));
        }
        let text = unescape(written)?;
        Some(WireHttpStatus(stored_status(&text)))
    }
}

scan_object!(WireIntegrationCopy {
    "name" => name: opt(opt_compact()),
});

scan_object!(WireTrigger {
    "user_id" => user_id: opt(opt_compact()),
    "user_name" => user_name: opt(opt_compact()),
    "channel_name" => channel_name: opt(opt_compact()),
    "text" => text: opt(opt_string()),
});

scan_object!(WireExecution {
    "_id" => id: req(compact()),
    "step" => step: opt(opt_compact()),
    "integration" => integration: opt(opt()),
    "event" => event: opt(opt_compact()),
    "_createdAt" => created_at: opt(opt()),
    "_updatedAt" => updated_at: opt(opt()),
    "data" => data: opt(opt()),
    "httpError" => http_error: opt(serde::<Option<Value>>()),
    "httpResult" => http_result: opt(opt()),
    "error" => error: opt(opt_bool()),
    "errorStack" => error_stack: opt(serde::<Option<Value>>()),
    "finished" => finished: opt(opt_bool()),
});

scan_object!(WireIntegration {
    "_id" => id: req(compact()),
    "type" => kind: opt(opt_string()),
    "name" => name: opt(opt_compact()),
    "enabled" => enabled: opt(opt_bool()),
    "_createdAt" => created_at: opt(opt()),
    "_updatedAt" => updated_at: opt(opt()),
});

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
                    .into_domain(raw.clone().into(), "nvdQuJQ6tE9HRFBzd")
            })
            .collect();
        assert_eq!(entries[0].status, Some(HistoryStatus::Ok));
        assert_eq!(entries[1].status, Some(HistoryStatus::Error));
        assert_eq!(entries[2].status, Some(HistoryStatus::Running));
        assert_eq!(
            entries[0].summary(),
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
            .into_domain(raw.clone().into(), "i");
        assert!(entry.error.expect("error").chars().count() <= MAX_ERROR_CHARS + 1);
        assert_eq!(
            http_status(&json!(
                "{\n  \"statusCode\": 502,\n  \"content\": \"bad\"\n}"
            )),
            Some(502)
        );
        assert_eq!(http_status(&json!("\"{\\\"ok\\\":true}\"")), None);
        assert_eq!(http_status(&json!("{\"ok\": true}")), None);
        assert_eq!(
            http_status(&json!("{\"status\\u0043ode\": 201}")),
            Some(201)
        );
    }

    #[test]
    fn ejson_dates_are_accepted() {
        let raw = json!({"_id": "a", "_createdAt": {"$date": 1715677923118i64}, "_updatedAt": "2024-05-14T09:12:03.640Z"});
        let entry = serde_json::from_value::<WireExecution>(raw.clone())
            .expect("record")
            .into_domain(raw.clone().into(), "i");
        assert_eq!(
            entry.occurred_at.map(|t| t.timestamp_millis()),
            Some(1715677923118)
        );
        assert_eq!(updated_at_ms(&raw), Some(1715677923640));
    }
}
