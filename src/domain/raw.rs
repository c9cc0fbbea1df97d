//! Vendor objects kept as their place in the upstream answer they came in, so `raw` costs
//! nothing until a query selects it: adapters decode a list straight into typed wire structs in
//! one pass, and each item keeps only the (shared) body and its index in the list.

use bytes::Bytes;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Where the list sits in an upstream body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListAt {
    /// The body is the list (Celigo).
    Root,
    /// The list is this key of the body's object (Rocket.Chat's `history`, `integrations`).
    Field(&'static str),
    /// The list is at this JSON Pointer (declared sources' `items`).
    Pointer(&'static str),
}

/// The JSON text at `pointer` inside `text`, by way of its containers' raw elements (no JSON
/// tree is built).
fn raw_at<'b>(text: &'b str, pointer: &str) -> Option<&'b RawValue> {
    let mut raw: &RawValue = serde_json::from_str(text).ok()?;
    if pointer.is_empty() {
        return Some(raw);
    }
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        raw = match raw.get().trim_start().as_bytes().first() {
            Some(b'{') => serde_json::from_str::<HashMap<String, &RawValue>>(raw.get())
                .ok()?
                .remove(&token)?,
            Some(b'[') => {
                let index: usize = token.parse().ok()?;
                serde_json::from_str::<Vec<&RawValue>>(raw.get())
                    .ok()?
                    .get(index)
                    .copied()?
            }
            _ => return None,
        };
    }
    Some(raw)
}

/// An upstream body holding a list whose elements are served as `raw` on demand.
#[derive(Debug)]
pub struct RawList {
    body: Bytes,
    at: ListAt,
    /// Byte ranges of the list's elements, found once, on the first `raw` asked for.
    ranges: OnceLock<Vec<(usize, usize)>>,
}

impl RawList {
    pub fn new(body: Bytes, at: ListAt) -> Arc<Self> {
        Arc::new(RawList {
            body,
            at,
            ranges: OnceLock::new(),
        })
    }

    /// The whole body as text, if it is UTF-8. Checked once for the whole body: serde_json
    /// reading bytes checks every string it meets on its own, which costs more than the scan.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The JSON text of element `index`, exactly as received.
    pub fn element(&self, index: usize) -> Option<&str> {
        let (start, end) = *self.ranges.get_or_init(|| self.split()).get(index)?;
        std::str::from_utf8(self.body.get(start..end)?).ok()
    }

    /// The raw JSON item `index` of this list.
    pub fn item(self: &Arc<Self>, index: usize) -> RawJson {
        RawJson::Element(self.clone(), index)
    }

    fn split(&self) -> Vec<(usize, usize)> {
        let elements: Option<Vec<&RawValue>> = match self.at {
            ListAt::Root => serde_json::from_slice(&self.body).ok(),
            ListAt::Field(name) => serde_json::from_slice::<HashMap<String, &RawValue>>(&self.body)
                .ok()
                .and_then(|object| object.get(name).copied())
                .and_then(|list| serde_json::from_str(list.get()).ok()),
            ListAt::Pointer(pointer) => std::str::from_utf8(&self.body)
                .ok()
                .and_then(|text| raw_at(text, pointer))
                .and_then(|list| serde_json::from_str(list.get()).ok()),
        };
        // Every element borrows from `body`: its place there is its pointer's distance from
        // the body's start.
        let base = self.body.as_ptr() as usize;
        elements
            .unwrap_or_default()
            .into_iter()
            .map(|element| {
                let start = (element.get().as_ptr() as usize).saturating_sub(base);
                (start, start + element.get().len())
            })
            .collect()
    }
}

/// A vendor object as received. Adapters decode typed wire structs straight from the response
/// and keep the object only as its place in the body (or its text), parsing it when a client
/// asks for `raw` (most queries never do, and building JSON trees is the request path's
/// biggest cost).
#[derive(Clone, Debug)]
pub enum RawJson {
    Text(Arc<RawValue>),
    Value(Arc<serde_json::Value>),
    /// Element `.1` of a list in an upstream body.
    Element(Arc<RawList>, usize),
}

impl RawJson {
    /// The object read as `T`, from its text where it is kept as text.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        match self {
            RawJson::Text(text) => serde_json::from_str(text.get()),
            RawJson::Value(value) => T::deserialize(value.as_ref()),
            RawJson::Element(list, index) => match list.element(*index) {
                Some(text) => serde_json::from_str(text),
                None => Err(serde::de::Error::custom("the element is not in its body")),
            },
        }
    }

    /// The object as a JSON value (not yet redacted).
    pub fn to_value(&self) -> serde_json::Value {
        self.parse().unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(value: serde_json::Value) -> Self {
        RawJson::Value(Arc::new(value))
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(text: Box<RawValue>) -> Self {
        RawJson::Text(Arc::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_the_exact_text_received() {
        let body = Bytes::from_static(
            br#"[ {"a": 1, "s": "x\"y"} ,{"b":[1,2,{"c":null}]},  3, "t\u00e9" ]"#,
        );
        let list = RawList::new(body, ListAt::Root);
        assert_eq!(list.element(0), Some(r#"{"a": 1, "s": "x\"y"}"#));
        assert_eq!(list.element(1), Some(r#"{"b":[1,2,{"c":null}]}"#));
        assert_eq!(list.element(2), Some("3"));
        assert_eq!(list.element(3), Some(r#""t\u00e9""#));
        assert_eq!(list.element(4), None);
        assert_eq!(
            list.item(1).to_value(),
            serde_json::json!({"b": [1, 2, {"c": null}]})
        );
    }

    #[test]
    fn a_list_at_a_pointer_is_found_through_its_containers() {
        let body = Bytes::from_static(
            br#"{"meta":{"total":2},"data":{"a/b":[{"x":1},[{"id":"n"},{"id":"m"}]]}}"#,
        );
        let list = RawList::new(body, ListAt::Pointer("/data/a~1b/1"));
        assert_eq!(list.element(0), Some(r#"{"id":"n"}"#));
        assert_eq!(list.element(1), Some(r#"{"id":"m"}"#));
        assert_eq!(list.element(2), None);
        let missing = RawList::new(
            Bytes::from_static(br#"{"data":{}}"#),
            ListAt::Pointer("/data/x"),
        );
        assert_eq!(missing.element(0), None);
    }

    #[test]
    fn a_list_under_a_key_is_found_among_others() {
        let body = Bytes::from_static(
            br#"{"offset":0,"history":[{"_id":"a"},{"_id":"b","x":{"history":[9]}}],"total":2}"#,
        );
        let list = RawList::new(body, ListAt::Field("history"));
        assert_eq!(list.element(1), Some(r#"{"_id":"b","x":{"history":[9]}}"#));
        let missing = RawList::new(Bytes::from_static(b"{}"), ListAt::Field("history"));
        assert_eq!(missing.element(0), None);
        assert_eq!(missing.item(0).to_value(), serde_json::Value::Null);
    }
}
