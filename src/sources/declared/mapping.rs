//! Field mappings of a declared source: JSON Pointers, constants, templates and value tables
//! turned into domain integrations and history entries.

use super::decode::{Captured, Plan};
use super::settings::{template_pointers, FieldSpec, FieldTable, HistoryFields, IntegrationFields};
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
    /// The value at a pointer, by its slot in the item's [`Plan`].
    Pointer(usize),
    Const(String),
    Template(Vec<Part>),
    Nothing,
}

/// A piece of a template: text, or the value of a pointer.
#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Slot(usize),
}

/// A template's parts, its pointers registered in `plan`.
fn parts(template: &str, plan: &mut Plan) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        parts.push(Part::Slot(plan.slot(&after[..close])));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    parts
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
    pub fn compile(spec: &FieldSpec, plan: &mut Plan) -> Field {
        let FieldTable {
            pointer,
            constant,
            template,
            format,
            values,
            default,
        } = spec.table();
        let from = match (pointer, constant, template) {
            (Some(pointer), _, _) => From::Pointer(plan.slot(&pointer)),
            (None, Some(constant), _) => From::Const(constant),
            (None, None, Some(template)) if template_pointers(&template).is_ok() => {
                From::Template(parts(&template, plan))
            }
            (None, None, Some(template)) => From::Const(template),
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
    fn value<'v>(&self, item: &'v Captured) -> Option<&'v Value> {
        match &self.from {
            From::Pointer(slot) => item.get(*slot).filter(|v| !v.is_null()),
            _ => None,
        }
    }

    /// The field as text: a string as is, a number or a flag written out; then through the
    /// value table; then the default.
    pub fn text(&self, item: &Captured) -> Option<String> {
        let found = match &self.from {
            From::Const(constant) => Some(constant.clone()),
            From::Template(parts) => Some(render(parts, item)),
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
    pub fn datetime(&self, item: &Captured) -> Result<Option<DateTime<Utc>>, ()> {
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
    pub fn flag(&self, item: &Captured) -> Option<bool> {
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
fn render(parts: &[Part], item: &Captured) -> String {
    let mut text = String::with_capacity(64);
    for part in parts {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Slot(slot) => {
                if let Some(value) = item.get(*slot).and_then(scalar_text) {
                    text.push_str(&value);
                }
            }
        }
    }
    if !text.contains("  ") && !text.starts_with(' ') && !text.ends_with(' ') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
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

fn compile(spec: &Option<FieldSpec>, plan: &mut Plan) -> Option<Field> {
    spec.as_ref().map(|spec| Field::compile(spec, plan))
}

fn id_field(spec: &Option<FieldSpec>, plan: &mut Plan) -> Field {
    compile(spec, plan).unwrap_or_else(|| Field::compile(&FieldSpec::Pointer("/id".into()), plan))
}

impl IntegrationMap {
    /// The mappings, their pointers registered in the item plan `plan`.
    pub fn new(fields: &IntegrationFields, plan: &mut Plan) -> IntegrationMap {
        IntegrationMap {
            id: id_field(&fields.id, plan),
            name: compile(&fields.name, plan),
            description: compile(&fields.description, plan),
            enabled: compile(&fields.enabled, plan),
            created_at: compile(&fields.created_at, plan),
            updated_at: compile(&fields.updated_at, plan),
        }
    }

    /// The id of an item, if it has one.
    pub fn id(&self, item: &Captured) -> Option<String> {
        self.id.text(item).filter(|id| !id.is_empty())
    }

    /// An integration, or what is wrong with the item.
    pub fn map(
        &self,
        source: Source,
        item: &Captured,
        raw: RawJson,
    ) -> Result<Integration, String> {
        let id = self.id(item).ok_or("it has no id")?;
        let time = |field: &Option<Field>, name: &str| match field {
            None => Ok(None),
            Some(field) => field
                .datetime(item)
                .map_err(|_| format!("its `{name}` is not a datetime in the declared format")),
        };
        let created_at = time(&self.created_at, "created_at")?;
        let updated_at = time(&self.updated_at, "updated_at")?;
        let name = self
            .name
            .as_ref()
            .and_then(|f| f.text(item))
            .unwrap_or_else(|| id.clone());
        Ok(Integration {
            source,
            source_id: id.into(),
            name: name.into(),
            description: self.description.as_ref().and_then(|f| f.text(item)),
            category: None,
            enabled: self.enabled.as_ref().and_then(|f| f.flag(item)),
            sharing: None,
            installed_environments: None,
            created_at,
            updated_at,
            team: None,
            raw,
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
    kinds: Vec<HistoryKind>,
}

/// The kinds a `kind` mapping can produce; empty when any kind may come.
fn possible_kinds(field: &Option<Field>) -> Vec<HistoryKind> {
    let Some(field) = field else {
        return vec![HistoryKind::WebhookExecution];
    };
    let names: Vec<&String> = match (&field.values, &field.from) {
        (Some(values), _) => values.values().chain(&field.default).collect(),
        (None, From::Const(constant)) => vec![constant],
        // Values read as they are: any kind.
        (None, _) => return Vec::new(),
    };
    let mut kinds = Vec::new();
    for kind in names.into_iter().filter_map(|name| kind_of(name)) {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
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
    /// The mappings, their pointers registered in the item plan `plan`.
    pub fn new(fields: &HistoryFields, plan: &mut Plan) -> HistoryMap {
        let kind = compile(&fields.kind, plan);
        HistoryMap {
            id: id_field(&fields.id, plan),
            occurred_at: compile(&fields.occurred_at, plan),
            updated_at: compile(&fields.updated_at, plan),
            kinds: possible_kinds(&kind),
            kind,
            status: compile(&fields.status, plan),
            summary: compile(&fields.summary, plan),
            error: compile(&fields.error, plan),
            actor_id: compile(&fields.actor_id, plan),
            actor_name: compile(&fields.actor_name, plan),
        }
    }

    /// The kinds this source can produce (a `kinds` filter without any of them skips the
    /// upstream call); empty when any kind may come (values read as they are).
    pub fn kinds(&self) -> &[HistoryKind] {
        &self.kinds
    }

    /// The id of an item, if it has one.
    pub fn id(&self, item: &Captured) -> Option<String> {
        self.id.text(item).filter(|id| !id.is_empty())
    }

    /// A history entry of `subject`, or what is wrong with the item.
    pub fn map(
        &self,
        source: Source,
        subject_id: &str,
        item: &Captured,
        raw: RawJson,
    ) -> Result<HistoryEntry, String> {
        let id = self.id(item).ok_or("it has no id")?;
        let time = |field: &Option<Field>, name: &str| match field {
            None => Ok(None),
            Some(field) => field.datetime(item).map_err(|_| {
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
                let name = field.text(item).ok_or_else(|| {
                    format!(
                        "entry {id}: its kind is not in the value table and there is no default"
                    )
                })?;
                kind_of(&name).ok_or_else(|| format!("entry {id}: unknown kind {name:?}"))?
            }
        };
        let status = match &self.status {
            None => None,
            Some(field) => field.text(item).and_then(|name| status_of(&name)),
        };
        let text = |field: &Option<Field>| field.as_ref().and_then(|f| f.text(item));
        let actor_id = text(&self.actor_id);
        let actor_name = text(&self.actor_name);
        let actor = (actor_id.is_some() || actor_name.is_some()).then_some(Actor {
            source_id: actor_id.map(Into::into),
            name: actor_name.map(Into::into),
            email: None,
        });
        Ok(HistoryEntry {
            source,
            kind,
            occurred_at,
            updated_at,
            actor,
            summary: text(&self.summary).unwrap_or_default().into(),
            subject: Subject {
                kind: "INTEGRATION",
                source_id: subject_id.into(),
                name: None,
            },
            subject_ref: SubjectRef::Integration {
                source,
                source_id: subject_id.into(),
            },
            status,
            error: text(&self.error).filter(|e| !e.is_empty()),
            unread: None,
            deleted: false,
            merged_into_source_id: None,
            raw,
            source_id: id.into(),
        })
    }
}
