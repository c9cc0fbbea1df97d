//! The JSON of an answer's `data`, written directly (a large answer is thousands of keys and
//! strings), and subtrees rendered as JSON while they are resolved ([`rendered`]).

use async_graphql::indexmap::IndexMap;
use async_graphql::{Name, Value};
use std::sync::LazyLock;

/// The key async-graphql-value serialises as raw JSON text (its `raw_value` feature; not
/// re-exported by async-graphql): such an object is left to serde_json.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// serde_json's raw value: one member under [`RAW_VALUE_TOKEN`].
fn is_raw_value(map: &IndexMap<Name, Value>) -> bool {
    map.len() == 1
        && map
            .get_index(0)
            .is_some_and(|(key, _)| key.as_str() == RAW_VALUE_TOKEN)
}

/// Request data: this request's answer is written by [`write_value`] (the HTTP endpoint), and
/// its document has no fragment and no response key twice in one selection set, so no two
/// values are ever merged: plain subtrees may then be rendered as JSON as they are resolved
/// (`schema::fast`), instead of being built as maps of values to be written later.
pub struct RenderJson;

/// The key of a rendered subtree. One `Name`, recognised by its address: a key read from an
/// upstream is its own allocation, so no vendor data can pass for rendered JSON.
static RENDERED: LazyLock<Name> = LazyLock::new(|| Name::new("$chronograph::rendered"));

/// A subtree already written as JSON (valid, compact, as [`write_value`] writes it), in the
/// place of its value.
pub fn rendered_value(json: String) -> Value {
    let mut map = IndexMap::with_capacity(1);
    map.insert(RENDERED.clone(), Value::String(json));
    Value::Object(map)
}

/// The JSON of a rendered subtree ([`rendered_value`]), or `None` for any other object.
pub fn rendered(map: &IndexMap<Name, Value>) -> Option<&str> {
    match map.get_index(0) {
        Some((key, Value::String(json)))
            if map.len() == 1 && std::ptr::eq(key.as_str(), RENDERED.as_str()) =>
        {
            Some(json)
        }
        _ => None,
    }
}

/// A value that serialises as [`write_value`] writes it, rendered subtrees included (for the
/// bodies that go through serde: batches' fallbacks and tests).
pub struct Written<'a>(pub &'a Value);

impl serde::Serialize for Written<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::List(items) => serializer.collect_seq(items.iter().map(Written)),
            Value::Object(map) if !is_raw_value(map) => match rendered(map) {
                Some(json) => serde_json::value::RawValue::from_string(json.to_owned())
                    .map_err(serde::ser::Error::custom)?
                    .serialize(serializer),
                None => serializer.collect_map(map.iter().map(|(k, v)| (k.as_str(), Written(v)))),
            },
            other => other.serialize(serializer),
        }
    }
}

/// A GraphQL value as JSON, byte for byte what serde_json writes for it (compact, the same
/// string escapes); numbers, binary and raw values still go through serde_json.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(text) => write_str(out, text),
        Value::Enum(name) => write_str(out, name),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) if !is_raw_value(map) => {
            if let Some(json) = rendered(map) {
                out.extend_from_slice(json.as_bytes());
                return;
            }
            out.push(b'{');
            for (i, (name, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
        other => {
            // Writing into a Vec fails only for values serde_json refuses: say null, as the
            // whole body would otherwise be replaced by an error anyway.
            if serde_json::to_writer(&mut *out, other).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
}

/// An enum value by its GraphQL name (as `resolver_utils::enum_value` names it).
pub fn write_enum<E: async_graphql::resolver_utils::EnumType>(out: &mut Vec<u8>, value: E) {
    match E::items().iter().find(|item| item.value == value) {
        Some(item) => write_str(out, item.name),
        None => write_value(out, &async_graphql::resolver_utils::enum_value(value)),
    }
}

/// A nullable `DateTime` as its scalar writes it (`null`, or the output form as a string).
pub fn write_time(out: &mut Vec<u8>, at: Option<chrono::DateTime<chrono::Utc>>) {
    match at {
        Some(at) => crate::domain::datetime::write_utc_ms_json(at, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, `\b \t \n \f \r`, other control
/// characters as `\u00xx`; everything else as is. Runs without escapes (nearly every key and
/// value) are found eight bytes at a time and copied whole.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        let byte = bytes[at];
        let escape = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            _ => b'u',
        };
        out.push(b'\\');
        out.push(escape);
        if escape == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xF)]);
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The first byte at or after `from` that JSON escapes (`"`, `\\`, below 0x20).
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let escapes = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    let mut at = from;
    while at + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        let x = u64::from_le_bytes(word);
        // Per byte: below 0x20, equal to '"', equal to '\\' (the lowest flagged byte is exact).
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let quote = x ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&byte| escapes(byte))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_written_as_serde_json_writes_it() {
        let mut map = async_graphql::indexmap::IndexMap::new();
        map.insert(
            async_graphql::Name::new("s\"q\\t\u{1}\u{1f}\u{7f}é\n\r\t\u{8}\u{c}/"),
            async_graphql::Value::String("a\"b\\c\u{0}\u{1b} ünï €".into()),
        );
        map.insert(
            async_graphql::Name::new("n"),
            async_graphql::value!([1, -2, 3.5, null, true, false, "x", []]),
        );
        map.insert(
            async_graphql::Name::new("e"),
            async_graphql::Value::Enum(async_graphql::Name::new("CELIGO")),
        );
        map.insert(
            async_graphql::Name::new("o"),
            async_graphql::value!({ "k": { "z": 1, "a": [{}] }, "empty": {} }),
        );
        for len in 0..40 {
            for at in 0..len {
                for special in ['"', '\\', '\u{0}', '\u{1f}', '\n', 'é', '\u{7f}', ' '] {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'x' })
                        .collect();
                    map.insert(
                        async_graphql::Name::new(format!("k{len}_{at}_{}", special as u32)),
                        async_graphql::Value::String(text),
                    );
                }
            }
        }
        let value = async_graphql::Value::Object(map);
        let mut ours = Vec::new();
        write_value(&mut ours, &value);
        assert_eq!(
            String::from_utf8(ours).expect("utf-8"),
            serde_json::to_string(&value).expect("serialises")
        );
    }
}
