//! Field mappings of a declared source: JSON Pointers, constants, templates and value tables
//! turned into domain integrations and history entries.

use super::settings::{FieldSpec, FieldTable, HistoryFields, IntegrationFields};
use crate::domain::datetime;
use crate::domain::{
    Actor, HistoryEntry, HistoryKind, HistoryStatus, Integration, RawJson, Source, Subject,
    SubjectRef,
};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// A mapping compiled from its [`FieldSpec`]: where the value comes from.
#[derive(Clone, Debug)]
pub struct Field {
    from: From,
    format: Format,
    values: Option<BTreeMap<String, String>>,
    default: Option<String>,
}

#[derive(Clone, Debug)]
enum From {
    Pointer(String),
    Const(String),
    Template(String),
    Nothing,
}

/// How a datetime is written upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Rfc3339,
    EpochS,
    EpochMs,
    /// Zone-less, read as UTC.
    Utc,
}

impl Format {
    pub fn parse(name: Option<&str>) -> Format {
        match name {
            Some("epoch_s") => Format::EpochS,
            Some("epoch_ms") => Format::EpochMs,
            Some("utc") => Format::Utc,
            _ => Format::Rfc3339,
        }
    }

    /// The upstream's spelling of `at` (for `since`/`until` parameters).
    pub fn write(self, at: DateTime<Utc>) -> String {
        match self {
            Format::Rfc3339 => datetime::format_utc_ms(at),
            Format::EpochS => at.timestamp().to_string(),
            Format::EpochMs => at.timestamp_millis().to_string(),
            Format::Utc => at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        }
    }

    /// Read a datetime written as text in this format.
    #[cfg(test)]
    pub fn read_text(self, text: &str) -> Option<DateTime<Utc>> {
        self.read(&Value::String(text.to_string()))
    }

    fn read(self, value: &Value) -> Option<DateTime<Utc>> {
        let number = || match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match self {
            Format::Rfc3339 => datetime::parse_lenient(value.as_str()?),
            Format::EpochS => Utc
                .timestamp_millis_opt((number()? * 1000.0) as i64)
                .single(),
            Format::EpochMs => Utc.timestamp_millis_opt(number()? as i64).single(),
            Format::Utc => {
                let text = value.as_str()?.trim().trim_end_matches('Z');
                [
                    "%Y-%m-%dT%H:%M:%S%.f",
                    "%Y-%m-%d %H:%M:%S%.f",
                    "%Y-%m-%dT%H:%M:%S",
                ]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
                .map(|naive| naive.and_utc())
            }
        }
    }
}

impl Field {
    pub fn compile(spec: &FieldSpec) -> Field {
        let FieldTable {
            pointer,
            constant,
            template,
            format,
            values,
            default,
        } = spec.table();
        let from = match (pointer, constant, template) {
            (Some(pointer), _, _) => From::Pointer(pointer),
            (None, Some(constant), _) => From::Const(constant),
            (None, None, Some(template)) => From::Template(template),
            (None, None, None) => From::Nothing,
        };
        Field {
            from,
            format: Format::parse(format.as_deref()),
            values,
            default,
        }
    }

    /// The JSON value the field points at (`null` counts as absent).
    fn value<'v>(&self, item: &'v Value) -> Option<&'v Value> {
        match &self.from {
            From::Pointer(pointer) => item.pointer(pointer).filter(|v| !v.is_null()),
            _ => None,
        }
    }

    /// The field as text: a string as is, a number or a flag written out; then through the
    /// value table; then the default.
    pub fn text(&self, item: &Value) -> Option<String> {
        let found = match &self.from {
            From::Const(constant) => Some(constant.clone()),
            From::Template(template) => Some(render(template, item)),
            From::Pointer(_) => self.value(item).and_then(scalar_text),
            From::Nothing => None,
        };
        let mapped = match (&self.values, found) {
            (Some(values), Some(found)) => values.get(&found).cloned(),
            (None, found) => found,
            (Some(_), None) => None,
        };
        mapped.or_else(|| self.default.clone())
    }

    /// The field as a datetime in its format. `Err` when a value is there but unreadable.
    pub fn datetime(&self, item: &Value) -> Result<Option<DateTime<Utc>>, ()> {
        let value = match &self.from {
            From::Const(constant) => Some(Value::String(constant.clone())),
            From::Pointer(_) => self.value(item).cloned(),
            _ => None,
        };
        match value {
            None => Ok(None),
            Some(value) => self.format.read(&value).map(Some).ok_or(()),
        }
    }

    /// The field as a flag (`true`/`false`, else through the value table).
    pub fn flag(&self, item: &Value) -> Option<bool> {
        if self.values.is_none() {
            if let Some(Value::Bool(flag)) = self.value(item) {
                return Some(*flag);
            }
        }
        match self.text(item)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// A scalar as text (objects and arrays have none).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A template with every `{/pointer}` replaced by the value there; an absent value leaves no
/// doubled space behind (`{/event} {/action}` without an action is `push`).
fn render(template: &str, item: &Value) -> String {
    let text = substitute(template, item);
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn substitute(template: &str, item: &Value) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let pointer = &after[..close];
        if let Some(text) = item.pointer(pointer).and_then(scalar_text) {
            out.push_str(&text);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The compiled mappings of integrations.
#[derive(Clone, Debug)]
pub struct IntegrationMap {
    id: Field,
    name: Option<Field>,
    description: Option<Field>,
    enabled: Option<Field>,
    created_at: Option<Field>,
    updated_at: Option<Field>,
}

fn compile(spec: &Option<FieldSpec>) -> Option<Field> {
    spec.as_ref().map(Field::compile)
}

impl IntegrationMap {
    pub fn new(fields: &IntegrationFields) -> IntegrationMap {
        IntegrationMap {
            id: compile(&fields.id)
                .unwrap_or_else(|| Field::compile(&FieldSpec::Pointer("/id".into()))),
            name: compile(&fields.name),
            description: compile(&fields.description),
            enabled: compile(&fields.enabled),
            created_at: compile(&fields.created_at),
            updated_at: compile(&fields.updated_at),
        }
    }

    /// The id of an item, if it has one.
    pub fn id(&self, item: &Value) -> Option<String> {
        self.id.text(item).filter(|id| !id.is_empty())
    }

    /// An integration, or what is wrong with the item.
    pub fn map(&self, source: Source, item: Value) -> Result<Integration, String> {
        let id = self.id(&item).ok_or("it has no id")?;
        let time = |field: &Option<Field>, name: &str| match field {
            None => Ok(None),
            Some(field) => field
                .datetime(&item)
                .map_err(|_| format!("its `{name}` is not a datetime in the declared format")),
        };
        let created_at = time(&self.created_at, "created_at")?;
        let updated_at = time(&self.updated_at, "updated_at")?;
        let name = self
            .name
            .as_ref()
            .and_then(|f| f.text(&item))
            .unwrap_or_else(|| id.clone());
        Ok(Integration {
            source,
            source_id: id,
            name,
            description: self.description.as_ref().and_then(|f| f.text(&item)),
            category: None,
            enabled: self.enabled.as_ref().and_then(|f| f.flag(&item)),
            sharing: None,
            installed_environments: None,
            created_at,
            updated_at,
            team: None,
            raw: RawJson::from(item),
        })
    }
}

/// The compiled mappings of history entries.
#[derive(Clone, Debug)]
pub struct HistoryMap {
    id: Field,
    occurred_at: Option<Field>,
    updated_at: Option<Field>,
    kind: Option<Field>,
    status: Option<Field>,
    summary: Option<Field>,
    error: Option<Field>,
    actor_id: Option<Field>,
    actor_name: Option<Field>,
}

fn kind_of(name: &str) -> Option<HistoryKind> {
    Some(match name {
        "WEBHOOK_EXECUTION" => HistoryKind::WebhookExecution,
        "COMMENT" => HistoryKind::Comment,
        "ACTION" => HistoryKind::Action,
        "AUDIT" => HistoryKind::Audit,
        "RECORD_CHANGED" => HistoryKind::RecordChanged,
        "RECORD_DELETED" => HistoryKind::RecordDeleted,
        "RECORD_MERGED" => HistoryKind::RecordMerged,
        _ => return None,
    })
}

fn status_of(name: &str) -> Option<HistoryStatus> {
    Some(match name {
        "OK" => HistoryStatus::Ok,
        "ERROR" => HistoryStatus::Error,
        "RUNNING" => HistoryStatus::Running,
        _ => return None,
    })
}

impl HistoryMap {
    pub fn new(fields: &HistoryFields) -> HistoryMap {
        HistoryMap {
            id: compile(&fields.id)
                .unwrap_or_else(|| Field::compile(&FieldSpec::Pointer("/id".into()))),
            occurred_at: compile(&fields.occurred_at),
            updated_at: compile(&fields.updated_at),
            kind: compile(&fields.kind),
            status: compile(&fields.status),
            summary: compile(&fields.summary),
            error: compile(&fields.error),
            actor_id: compile(&fields.actor_id),
            actor_name: compile(&fields.actor_name),
        }
    }

    /// The kinds this source can produce (a `kinds` filter without any of them skips the
    /// upstream call).
    pub fn kinds(&self) -> Vec<HistoryKind> {
        let Some(field) = &self.kind else {
            return vec![HistoryKind::WebhookExecution];
        };
        let mut kinds: Vec<HistoryKind> = field
            .values
            .iter()
            .flat_map(|values| values.values())
            .chain(field.default.iter())
            .chain(match &field.from {
                From::Const(constant) => Some(constant),
                _ => None,
            })
            .filter_map(|name| kind_of(name))
            .collect();
        if field.values.is_none() && !matches!(field.from, From::Const(_)) {
            // Values read as they are: any kind.
            return Vec::new();
        }
        kinds.dedup();
        kinds
    }

    /// The id of an item, if it has one.
    pub fn id(&self, item: &Value) -> Option<String> {
        self.id.text(item).filter(|id| !id.is_empty())
    }

    /// A history entry of `subject`, or what is wrong with the item.
    pub fn map(
        &self,
        source: Source,
        subject_id: &str,
        item: Value,
    ) -> Result<HistoryEntry, String> {
        let id = self.id(&item).ok_or("it has no id")?;
        let time = |field: &Option<Field>, name: &str| match field {
            None => Ok(None),
            Some(field) => field.datetime(&item).map_err(|_| {
                format!("entry {id}: its `{name}` is not a datetime in the declared format")
            }),
        };
        let occurred_at = time(&self.occurred_at, "occurred_at")?;
        let updated_at = time(&self.updated_at, "updated_at")?;
        if occurred_at.is_none() && updated_at.is_none() {
            return Err(format!("entry {id} has no time to order it by"));
        }
        let kind = match &self.kind {
            None => HistoryKind::WebhookExecution,
            Some(field) => {
                let name = field.text(&item).ok_or_else(|| {
                    format!(
                        "entry {id}: its kind is not in the value table and there is no default"
                    )
                })?;
                kind_of(&name).ok_or_else(|| format!("entry {id}: unknown kind {name:?}"))?
            }
        };
        let status = match &self.status {
            None => None,
            Some(field) => field.text(&item).and_then(|name| status_of(&name)),
        };
        let text = |field: &Option<Field>| field.as_ref().and_then(|f| f.text(&item));
        let actor_id = text(&self.actor_id);
        let actor_name = text(&self.actor_name);
        let actor = (actor_id.is_some() || actor_name.is_some()).then_some(Actor {
            source_id: actor_id,
            name: actor_name,
            email: None,
        });
        Ok(HistoryEntry {
            source,
            kind,
            occurred_at,
            updated_at,
            actor,
            summary: text(&self.summary).unwrap_or_default(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: subject_id.to_string(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source,
                source_id: subject_id.to_string(),
            },
            status,
            error: text(&self.error).filter(|e| !e.is_empty()),
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw: RawJson::from(item),
            source_id: id,
        })
    }
}
