//! Validation messages a person can act on: async-graphql's, completed with what to write
//! instead ("did you mean", the values an enum takes, the fields a `@oneOf` input takes, where
//! subscriptions go).

use crate::suggest::closest;
use async_graphql::registry::{MetaType, Registry};

/// The text between the first pair of double quotes after `after`.
fn quoted<'a>(message: &'a str, after: &str) -> Option<&'a str> {
    let rest = &message[message.find(after)? + after.len()..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some(&rest[start..start + len])
}

fn did_you_mean<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, names)
        .map(|name| format!(" Did you mean \"{name}\"?"))
        .unwrap_or_default()
}

/// `message` completed with a suggestion, where one helps. Without `suggestions`
/// (`server.suggestions = false`) nothing about the schema is added.
pub fn polish(message: &str, registry: &Registry, suggestions: bool) -> String {
    if message.starts_with("Subscriptions are not supported on this transport") {
        return "subscriptions run over WebSocket: connect to /graphql/ws (graphql-transport-ws); \
                HTTP takes queries and mutations"
            .to_string();
    }
    if !suggestions {
        return message.to_string();
    }
    // async-graphql's own suggestion, where it made one.
    if message.contains("Did you mean") {
        return message.to_string();
    }
    // Unknown field "nmae" on type "Integration".
    if message.starts_with("Unknown field") {
        if let (Some(field), Some(ty)) = (quoted(message, "field"), quoted(message, "type")) {
            let names = registry.types.get(ty).and_then(|t| t.fields());
            if let Some(names) = names {
                return format!(
                    "{message}{}",
                    did_you_mean(field, names.keys().map(String::as_str))
                );
            }
        }
    }
    // Unknown argument "frist" on field "integrations" of type "Query".
    if message.starts_with("Unknown argument") {
        if let (Some(arg), Some(field), Some(ty)) = (
            quoted(message, "argument"),
            quoted(message, "on field"),
            quoted(message, "of type"),
        ) {
            if let Some(meta) = registry.types.get(ty).and_then(|t| t.field_by_name(field)) {
                let args: Vec<&str> = meta.args.keys().map(String::as_str).collect();
                let hint = did_you_mean(arg, args.iter().copied());
                return format!("{message}{hint} It takes: {}.", args.join(", "));
            }
        }
    }
    // enumeration type "Source" does not contain the value "CELIGOO"
    if message.contains("does not contain the value") {
        if let (Some(ty), Some(value)) = (
            quoted(message, "enumeration type"),
            quoted(message, "the value"),
        ) {
            if let Some(MetaType::Enum { enum_values, .. }) = registry.types.get(ty) {
                let values: Vec<&str> = enum_values.keys().map(String::as_str).collect();
                let hint = did_you_mean(value, values.iter().copied());
                return format!("{message}.{hint} One of: {}.", values.join(", "));
            }
        }
    }
    // Oneof input objects requires have exactly one field
    if message.contains("Oneof input objects requires have exactly one field") {
        let inputs: Vec<String> = registry
            .types
            .values()
            .filter_map(|t| match t {
                MetaType::InputObject {
                    name,
                    input_fields,
                    oneof: true,
                    ..
                } => Some(format!(
                    "{name} takes exactly one of {}",
                    input_fields
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => None,
            })
            .collect();
        let head = message.split(", Oneof").next().unwrap_or(message);
        return format!(
            "{head}: a @oneOf input object needs exactly one field ({})",
            inputs.join("; ")
        );
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_quoted_names() {
        let m = "Unknown argument \"frist\" on field \"integrations\" of type \"Query\".";
        assert_eq!(quoted(m, "argument"), Some("frist"));
        assert_eq!(quoted(m, "on field"), Some("integrations"));
        assert_eq!(quoted(m, "of type"), Some("Query"));
    }
}
