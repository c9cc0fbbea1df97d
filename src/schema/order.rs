//! The order of a result map: the order of its selection set after fragment merging (GraphQL
//! spec, "CollectFields"), restored after execution because async-graphql inserts fields as
//! they complete.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value};

/// Response keys in selection order, each with the sub-selections merged under it and, once
/// needed, the order of those (computed once per request for each place in the selection,
/// however many objects of a list share it).
#[derive(Default)]
struct Order<'a> {
    keys: Vec<Key<'a>>,
    /// Positions by key once there are many (a handful of keys is faster to scan).
    index: Option<std::collections::HashMap<&'a Name, usize>>,
}

struct Key<'a> {
    name: &'a Name,
    subsets: Vec<&'a SelectionSet>,
    below: std::cell::OnceCell<Order<'a>>,
}

/// Up to this many keys, positions are found by scanning.
const SCAN_KEYS: usize = 16;

/// The same response key: usually the very same string (the result's keys are clones of the
/// document's names), compared by content otherwise.
fn same(a: &Name, b: &Name) -> bool {
    std::ptr::eq(a.as_str(), b.as_str()) || a == b
}

impl<'a> Order<'a> {
    fn of(sets: &[&'a SelectionSet], document: &'a ExecutableDocument) -> Self {
        let mut order = Order::default();
        for set in sets {
            collect(set, document, &mut order, 0);
        }
        order
    }

    fn position(&self, key: &Name) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.keys.iter().position(|k| same(k.name, key)),
        }
    }

    fn entry(&mut self, key: &'a Name) -> &mut Vec<&'a SelectionSet> {
        let at = match self.position(key) {
            Some(at) => at,
            None => {
                self.keys.push(Key {
                    name: key,
                    subsets: Vec::new(),
                    below: std::cell::OnceCell::new(),
                });
                let at = self.keys.len() - 1;
                if let Some(index) = &mut self.index {
                    index.insert(key, at);
                } else if self.keys.len() > SCAN_KEYS {
                    self.index = Some(
                        self.keys
                            .iter()
                            .enumerate()
                            .map(|(i, k)| (k.name, i))
                            .collect(),
                    );
                }
                at
            }
        };
        &mut self.keys[at].subsets
    }
}

/// Reorder `value` (an object, a list of them, or anything else) to follow `sets`, the
/// selection sets merged at this position.
pub fn restore(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    if !matches!(value, Value::List(_) | Value::Object(_)) {
        return;
    }
    apply(value, &Order::of(sets, document), document);
}

/// Restore a child value under `key` of `order`.
fn descend<'a>(child: &mut Value, key: &Key<'a>, document: &'a ExecutableDocument) {
    if key.subsets.is_empty() || !matches!(child, Value::List(_) | Value::Object(_)) {
        return;
    }
    let below = key.below.get_or_init(|| Order::of(&key.subsets, document));
    apply(child, below, document);
}

fn apply<'a>(value: &mut Value, order: &Order<'a>, document: &'a ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                apply(item, order, document);
            }
        }
        // Rendered as JSON in selection order already (`schema::json::rendered`).
        Value::Object(map) if super::json::rendered(map).is_some() => {}
        Value::Object(map) => {
            // The common case in one pass: keys already in selection order (keys missing from
            // the map may be skipped), each matched to its place and restored below.
            let mut rest = order.keys.iter();
            let mut in_order = true;
            for (name, child) in map.iter_mut() {
                match rest.by_ref().find(|k| same(k.name, name)) {
                    Some(key) => descend(child, key, document),
                    None => {
                        in_order = false;
                        break;
                    }
                }
            }
            if in_order {
                return;
            }
            let position = |key: &Name| order.position(key);
            // Anything not named by the selection (none expected) keeps its place at the end.
            map.sort_by(|a, _, b, _| {
                let (a, b) = (position(a), position(b));
                a.is_none().cmp(&b.is_none()).then(a.cmp(&b))
            });
            // Restoring is idempotent: children already restored above are left as they are.
            for (name, child) in map.iter_mut() {
                if let Some(at) = position(name) {
                    descend(child, &order.keys[at], document);
                }
            }
        }
        _ => {}
    }
}

/// Response keys in selection order, with the sub-selections merged under each key.
fn collect<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    order: &mut Order<'a>,
    depth: usize,
) {
    // Fragment cycles are refused by validation; the bound only keeps this total.
    if depth > 64 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let subsets = order.entry(&field.node.response_key().node);
                if !field.node.selection_set.node.items.is_empty() {
                    subsets.push(&field.node.selection_set.node);
                }
            }
            Selection::InlineFragment(fragment) => collect(
                &fragment.node.selection_set.node,
                document,
                order,
                depth + 1,
            ),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(
                        &fragment.node.selection_set.node,
                        document,
                        order,
                        depth + 1,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_selection_at_every_level() {
        let document = async_graphql::parser::parse_query(
            "{ z: a { y x } ...F m } fragment F on Query { b { q p } a { w } }",
        )
        .expect("parses");
        let mut data = async_graphql::value!({
            "m": 1,
            "b": [{ "p": 1, "q": 2 }],
            "z": { "x": 1, "y": 2 },
            "a": { "w": 4 },
        });
        let (_, operation) = document.operations.iter().next().expect("operation");
        restore(&mut data, &[&operation.node.selection_set.node], &document);
        assert_eq!(
            data.to_string(),
            r#"{z: {y: 2, x: 1}, b: [{q: 2, p: 1}], a: {w: 4}, m: 1}"#
        );
    }

    #[test]
    fn many_keys_and_keys_outside_the_selection() {
        let fields: Vec<String> = (0..40).map(|i| format!("f{i}: __typename")).collect();
        let document = async_graphql::parser::parse_query(format!("{{ {} }}", fields.join(" ")))
            .expect("parses");
        let mut map = async_graphql::indexmap::IndexMap::new();
        map.insert(Name::new("extra"), Value::from(0));
        for i in (0..40).rev() {
            map.insert(Name::new(format!("f{i}")), Value::from(i));
        }
        map.insert(Name::new("late"), Value::from(1));
        let mut data = Value::List(vec![Value::Object(map.clone()), Value::Object(map)]);
        let (_, operation) = document.operations.iter().next().expect("operation");
        restore(&mut data, &[&operation.node.selection_set.node], &document);
        let Value::List(items) = data else {
            panic!("a list")
        };
        for item in items {
            let Value::Object(map) = item else {
                panic!("an object")
            };
            let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
            let mut expected: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
            expected.extend(["extra".to_string(), "late".to_string()]);
            assert_eq!(keys, expected);
        }
    }
}
