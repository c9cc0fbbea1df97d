//! One pass over a declared source's response: only the values its mappings point at are
//! built (a few small JSON values per item); everything else is skipped as it is read, the way
//! the built-in adapters decode straight into typed structs. An item's whole text stays in the
//! body for `raw` ([`crate::domain::RawList`]).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The JSON Pointers to capture, as a tree of keys; each captured pointer has a slot.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    root: Node,
    slots: usize,
}

#[derive(Clone, Debug, Default)]
struct Node {
    children: Vec<(String, Node)>,
    slot: Option<usize>,
    /// The list of items (page plans only).
    list: bool,
}

fn tokens(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
}

impl Node {
    fn child(&mut self, key: String) -> &mut Node {
        let at = match self.children.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.children.push((key, Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    fn find(&self, key: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, node)| node)
    }

    fn at(&mut self, pointer: &str) -> &mut Node {
        let mut node = self;
        for token in tokens(pointer) {
            node = node.child(token);
        }
        node
    }

    /// Fill this node's slots (and its descendants') from a value read whole.
    fn fill(&self, value: &Value, out: &mut [Option<Value>]) {
        if let Some(slot) = self.slot {
            out[slot] = Some(value.clone());
        }
        for (key, child) in &self.children {
            let inner = match value {
                Value::Object(map) => map.get(key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            if let Some(inner) = inner {
                child.fill(inner, out);
            }
        }
    }

    fn has_slots(&self) -> bool {
        self.slot.is_some() || self.children.iter().any(|(_, c)| c.has_slots())
    }
}

impl Plan {
    /// The slot of `pointer` (the same pointer twice gets the same slot).
    pub fn slot(&mut self, pointer: &str) -> usize {
        let next = self.slots;
        let node = self.root.at(pointer);
        match node.slot {
            Some(slot) => slot,
            None => {
                node.slot = Some(next);
                self.slots += 1;
                next
            }
        }
    }

    /// Mark where the items are (a page plan).
    pub fn list_at(&mut self, pointer: &str) {
        self.root.at(pointer).list = true;
    }

    /// Capture from a value read whole (single objects: `item_path`, node lookups).
    pub fn capture(&self, value: &Value) -> Captured {
        let mut out = vec![None; self.slots];
        self.root.fill(value, &mut out);
        Captured(out)
    }
}

/// The values of one item (or one page body), by slot.
#[derive(Clone, Debug)]
pub struct Captured(Vec<Option<Value>>);

impl Captured {
    pub fn get(&self, slot: usize) -> Option<&Value> {
        self.0.get(slot).and_then(Option::as_ref)
    }
}

/// One page: the body's own slots (total, next token), its items, and whether the items'
/// place held a list.
pub struct Decoded {
    pub body: Captured,
    pub items: Vec<Captured>,
    pub found_list: bool,
}

/// Decode a page body with `page` (its slots and where its list is), each item with `item`.
pub fn page(body: &[u8], page: &Plan, item: &Plan) -> Result<Decoded, serde_json::Error> {
    let mut out = Out {
        body: vec![None; page.slots],
        items: Vec::new(),
        found_list: false,
        item,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    NodeSeed {
        node: &page.root,
        out: &mut out,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(Decoded {
        body: Captured(out.body),
        items: out.items,
        found_list: out.found_list,
    })
}

struct Out<'p> {
    body: Vec<Option<Value>>,
    items: Vec<Captured>,
    found_list: bool,
    item: &'p Plan,
}

struct NodeSeed<'n, 'o, 'p> {
    node: &'n Node,
    out: &'o mut Out<'p>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.node.list {
            self.out.found_list = true;
            return deserializer.deserialize_any(ListVisitor { out: self.out });
        }
        if self.node.slot.is_some() {
            let value = Value::deserialize(deserializer)?;
            self.node.fill(&value, &mut self.out.body);
            return Ok(());
        }
        deserializer.deserialize_any(NodeVisitor {
            node: self.node,
            out: Target::Body(self.out),
        })
    }
}

use serde::Deserialize;

/// Where a node's captures go: the page body's slots, or one item's.
enum Target<'o, 'p> {
    Body(&'o mut Out<'p>),
    Item(&'o mut Vec<Option<Value>>),
}

struct NodeVisitor<'n, 'o, 'p> {
    node: &'n Node,
    out: Target<'o, 'p>,
}

impl<'n, 'o, 'p> NodeVisitor<'n, 'o, 'p> {
    fn descend<'de, E: serde::de::Error>(
        &mut self,
        child: &'n Node,
        next: impl FnOnce(ChildSeed<'n, '_, 'p>) -> Result<(), E>,
    ) -> Result<(), E> {
        match &mut self.out {
            Target::Body(out) => next(ChildSeed::Body(NodeSeed { node: child, out })),
            Target::Item(out) => next(ChildSeed::Item(ItemNode { node: child, out })),
        }
    }
}

enum ChildSeed<'n, 'o, 'p> {
    Body(NodeSeed<'n, 'o, 'p>),
    Item(ItemNode<'n, 'o>),
}

impl<'de> DeserializeSeed<'de> for ChildSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self {
            ChildSeed::Body(seed) => seed.deserialize(deserializer),
            ChildSeed::Item(seed) => seed.deserialize(deserializer),
        }
    }
}

macro_rules! ignore_scalars {
    () => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

impl<'de> Visitor<'de> for NodeVisitor<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    ignore_scalars!();

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.node.find(&key) {
                Some(child) => {
                    self.descend(child, |seed| map.next_value_seed(seed))?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let child = self.node.find(&index.to_string());
            let more = match child {
                Some(child) => {
                    let mut got = None;
                    self.descend(child, |seed| {
                        got = seq.next_element_seed(seed)?;
                        Ok(())
                    })?;
                    got.is_some()
                }
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// The list of items: each element decoded with the item plan.
struct ListVisitor<'o, 'p> {
    out: &'o mut Out<'p>,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let plan = self.out.item;
        loop {
            let mut captured = vec![None; plan.slots];
            let seed = ItemNode {
                node: &plan.root,
                out: &mut captured,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            self.out.items.push(Captured(captured));
        }
    }

    // Anything else where the list should be: no list (the caller says so).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.found_list = false;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.out.found_list = false;
        Ok(())
    }
}

/// A node inside one item.
struct ItemNode<'n, 'o> {
    node: &'n Node,
    out: &'o mut Vec<Option<Value>>,
}

impl<'de> DeserializeSeed<'de> for ItemNode<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.node.slot.is_some() {
            let value = Value::deserialize(deserializer)?;
            self.node.fill(&value, self.out);
            return Ok(());
        }
        if !self.node.has_slots() {
            IgnoredAny::deserialize(deserializer)?;
            return Ok(());
        }
        deserializer.deserialize_any(NodeVisitor {
            node: self.node,
            out: Target::Item(self.out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_is_pointed_at_is_captured() {
        let mut item = Plan::default();
        let id = item.slot("/_id");
        let user = item.slot("/data/user");
        let second = item.slot("/tags/1");
        let whole = item.slot("/data");
        let escaped = item.slot("/a~1b");
        let mut page_plan = Plan::default();
        let total = page_plan.slot("/total");
        page_plan.list_at("/history");
        let body = br#"{"offset":0,"history":[
            {"_id":"a","data":{"user":"u1","big":[1,2,3]},"tags":["x","y"],"a/b":true},
            {"_id":7,"other":{"deep":{"x":1}}}
        ],"total":2,"ignored":{"history":[]}}"#;
        let decoded = page(body, &page_plan, &item).expect("decodes");
        assert!(decoded.found_list);
        assert_eq!(decoded.body.get(total), Some(&json!(2)));
        assert_eq!(decoded.items.len(), 2);
        let first = &decoded.items[0];
        assert_eq!(first.get(id), Some(&json!("a")));
        assert_eq!(first.get(user), Some(&json!("u1")));
        assert_eq!(first.get(second), Some(&json!("y")));
        assert_eq!(first.get(whole), Some(&json!({"user":"u1","big":[1,2,3]})));
        assert_eq!(first.get(escaped), Some(&json!(true)));
        assert_eq!(decoded.items[1].get(id), Some(&json!(7)));
        assert_eq!(decoded.items[1].get(user), None);
    }

    #[test]
    fn a_body_that_is_the_list_and_a_missing_list() {
        let mut item = Plan::default();
        let id = item.slot("/id");
        let mut root = Plan::default();
        root.list_at("");
        let decoded = page(br#"[{"id":1},{"id":2}]"#, &root, &item).expect("decodes");
        assert_eq!(decoded.items.len(), 2);
        assert_eq!(decoded.items[1].get(id), Some(&json!(2)));
        let mut nested = Plan::default();
        nested.list_at("/data");
        let none = page(br#"{"data":{"not":"a list"}}"#, &nested, &item).expect("decodes");
        assert!(!none.found_list);
        let absent = page(br#"{"other":[]}"#, &nested, &item).expect("decodes");
        assert!(!absent.found_list);
        assert!(
            page(br#"{"data":[1,"#, &nested, &item).is_err(),
            "cut short"
        );
    }
}
