//! The order of a result map: the order of its selection set after fragment merging (GraphQL
//! spec, "CollectFields"), restored after execution because async-graphql inserts fields as
//! they complete.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value};

/// Reorder `value` (an object, a list of them, or anything else) to follow `sets`, the
/// selection sets merged at this position.
pub fn restore(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                restore(item, sets, document);
            }
        }
        Value::Object(map) => {
            let mut order: IndexMap<Name, Vec<&SelectionSet>> = IndexMap::new();
            for set in sets {
                collect(set, document, &mut order, 0);
            }
            let mut old = std::mem::take(map);
            for (key, subsets) in &order {
                if let Some(mut child) = old.shift_remove(key) {
                    if !subsets.is_empty() {
                        restore(&mut child, subsets, document);
                    }
                    map.insert(key.clone(), child);
                }
            }
            // Anything not named by the selection (none expected) keeps its place at the end.
            map.extend(old);
        }
        _ => {}
    }
}

/// Response keys in selection order, with the sub-selections merged under each key.
fn collect<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    order: &mut IndexMap<Name, Vec<&'a SelectionSet>>,
    depth: usize,
) {
    // Fragment cycles are refused by validation; the bound only keeps this total.
    if depth > 64 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let entry = order
                    .entry(field.node.response_key().node.clone())
                    .or_default();
                if !field.node.selection_set.node.items.is_empty() {
                    entry.push(&field.node.selection_set.node);
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
}
