//! Static query limits async-graphql does not enforce itself (aliases, DESIGN.md §7).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Name;
use std::collections::HashMap;

/// Number of aliased fields the document can produce, with fragments expanded where they are
/// spread (so one fragment of 50 aliases spread 20 times counts 1,000). Counting stops once it
/// passes `limit`; fragment cycles count nothing (validation rejects them).
pub fn count_aliases(document: &ExecutableDocument, limit: usize) -> usize {
    let mut counter = AliasCounter {
        document,
        limit,
        memo: HashMap::new(),
        visiting: Vec::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| counter.selection_set(&op.node.selection_set.node))
        .fold(0usize, usize::saturating_add)
}

struct AliasCounter<'a> {
    document: &'a ExecutableDocument,
    limit: usize,
    memo: HashMap<&'a Name, usize>,
    visiting: Vec<&'a Name>,
}

impl<'a> AliasCounter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> usize {
        let mut total = 0usize;
        for selection in &set.items {
            let count = match &selection.node {
                Selection::Field(field) => usize::from(field.node.alias.is_some())
                    .saturating_add(self.selection_set(&field.node.selection_set.node)),
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            total = total.saturating_add(count);
            if total > self.limit {
                break;
            }
        }
        total
    }

    fn fragment(&mut self, name: &'a Name) -> usize {
        if let Some(count) = self.memo.get(name) {
            return *count;
        }
        if self.visiting.contains(&name) {
            return 0;
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return 0;
        };
        self.visiting.push(name);
        let count = self.selection_set(&definition.node.selection_set.node);
        self.visiting.pop();
        self.memo.insert(name, count);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        count_aliases(&doc, 10_000)
    }

    #[test]
    fn counts_aliases_through_fragments() {
        assert_eq!(count("{ a: __typename b: __typename __typename }"), 2);
        assert_eq!(
            count("{ ...F ...F } fragment F on Query { x: __typename y: __typename }"),
            4
        );
        assert_eq!(count("{ ... on Query { x: __typename } }"), 1);
        assert_eq!(
            count(
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A z: __typename }"
            ),
            1
        );
    }
}

/// Whether any operation asks for `__schema` or `__type` (directly, or through fragments
/// spread at the root). async-graphql answers them with null when introspection is off; a
/// production gateway refuses them outright instead.
pub fn uses_introspection(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, op)| root_introspects(document, &op.node.selection_set.node, 0))
}

fn root_introspects(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => {
            root_introspects(document, &fragment.node.selection_set.node, depth + 1)
        }
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| root_introspects(document, &f.node.selection_set.node, depth + 1)),
    })
}

#[cfg(test)]
mod introspection_tests {
    use super::*;

    #[test]
    fn finds_introspection_at_the_root_only() {
        let check =
            |q: &str| uses_introspection(&async_graphql::parser::parse_query(q).expect("parses"));
        assert!(check("{ __schema { queryType { name } } }"));
        assert!(check(
            "{ ...F } fragment F on Query { __type(name: \"Query\") { name } }"
        ));
        assert!(!check("{ __typename sources { source } }"));
    }
}
