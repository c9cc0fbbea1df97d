//! Static document limits async-graphql does not enforce itself (DESIGN.md §7): fields and
//! aliases counted after fragment expansion, and introspection when it is switched off. One
//! check for every transport: [`super::guard::Guard`] runs it on each parsed document, before
//! validation and execution.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Name;
use std::collections::HashMap;

/// What one document would select once every fragment is expanded where it is spread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Field selections, fragment spreads and inline fragments: the work validation and
    /// execution do. `query { ...F0 }` with `F{i} { ...F{i+1} ...F{i+1} }` doubles per level,
    /// so a 1 KB document can stand for millions of them.
    pub fields: usize,
    /// Aliased fields.
    pub aliases: usize,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

/// The cost of every operation of a document together. Each fragment is walked once (its
/// cost is remembered), so this is linear in the document's size whatever it expands to; the
/// sums saturate. Fragment cycles count nothing here (validation rejects them).
pub fn cost(document: &ExecutableDocument) -> Cost {
    let mut counter = Counter {
        document,
        memo: HashMap::new(),
        visiting: Vec::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| counter.selection_set(&op.node.selection_set.node))
        .fold(Cost::default(), Cost::add)
}

/// The fragment bomb (issue 19): `<operation> { ...F0 }` where `F{i}` spreads `F{i+1}` twice
/// and `F{levels}` selects `__typename`, so under 1 KB stands for 2^levels fields. For the
/// tests and the attack suite (`ci/attack.rs`), which must send what the limits refuse.
pub fn fragment_bomb(operation: &str, levels: usize) -> String {
    let mut query = format!("{operation} {{ ...F0 }}");
    for i in 0..levels {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    query
}

/// Number of aliased fields the document can produce, with fragments expanded where they are
/// spread (so one fragment of 50 aliases spread 20 times counts 1,000).
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    cost(document).aliases
}

struct Counter<'a> {
    document: &'a ExecutableDocument,
    memo: HashMap<&'a Name, Cost>,
    visiting: Vec<&'a Name>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Cost {
        let mut total = Cost::default();
        for selection in &set.items {
            let own = match &selection.node {
                Selection::Field(field) => Cost {
                    fields: 1,
                    aliases: usize::from(field.node.alias.is_some()),
                }
                .add(self.selection_set(&field.node.selection_set.node)),
                Selection::InlineFragment(fragment) => Cost {
                    fields: 1,
                    aliases: 0,
                }
                .add(self.selection_set(&fragment.node.selection_set.node)),
                Selection::FragmentSpread(spread) => Cost {
                    fields: 1,
                    aliases: 0,
                }
                .add(self.fragment(&spread.node.fragment_name.node)),
            };
            total = total.add(own);
        }
        total
    }

    fn fragment(&mut self, name: &'a Name) -> Cost {
        if let Some(cost) = self.memo.get(name) {
            return *cost;
        }
        if self.visiting.contains(&name) {
            return Cost::default();
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return Cost::default();
        };
        self.visiting.push(name);
        let cost = self.selection_set(&definition.node.selection_set.node);
        self.visiting.pop();
        self.memo.insert(name, cost);
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn counts_aliases_through_fragments() {
        let count = |q: &str| count_aliases(&parse(q));
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

    #[test]
    fn finds_entity_representations_without_expanding_fragments() {
        let vars = async_graphql::Variables::from_json(serde_json::json!({
            "r": [{"__typename": "Integration", "id": "a"}, {"__typename": "Integration", "id": "b"}]
        }));
        let doc = parse("query($r: [_Any!]!) { ...E } fragment E on Query { _entities(representations: $r) { __typename } }");
        assert_eq!(entity_representations(&doc, &vars), 2);
        let literal = parse("{ _entities(representations: [{}, {}, {}]) { __typename } }");
        assert_eq!(entity_representations(&literal, &vars), 3);
        // 2^40 spreads are visited once each.
        assert_eq!(
            entity_representations(&parse(&fragment_bomb("query", 40)), &vars),
            0
        );
    }

    #[test]
    fn counts_fields_after_fragment_expansion_without_expanding() {
        assert_eq!(cost(&parse("{ sources { source } }")).fields, 2);
        assert_eq!(
            cost(&parse(
                "{ ...F } fragment F on Query { a { b } ... on Query { c } }"
            ))
            .fields,
            5
        );
        // 2^24 leaves and 2^25 - 2 spreads from a document under 1 KB.
        let bomb = fragment_bomb("query", 24);
        assert!(bomb.len() < 1_100, "{}", bomb.len());
        assert_eq!(
            cost(&parse(&bomb)).fields,
            (1usize << 24) + (1usize << 25) - 1
        );
        // 2^40 leaves: a walk that expanded fragments instead of remembering them would not end.
        assert_eq!(
            cost(&parse(&fragment_bomb("query", 40))).fields,
            (1usize << 40) + (1usize << 41) - 1
        );
        // Saturates instead of overflowing.
        assert_eq!(
            super::cost(&parse(&fragment_bomb("query", 200))).fields,
            usize::MAX
        );
    }
}

/// The largest number of representations any `_entities` field at the root of the document
/// asks for, literal or through a variable (a list variable's length in `variables`).
pub fn entity_representations(
    document: &ExecutableDocument,
    variables: &async_graphql::Variables,
) -> usize {
    use async_graphql::Value;
    // Root fields only, and each fragment once: a fragment spread twice adds no new fields.
    let mut visited: std::collections::HashSet<&Name> = std::collections::HashSet::new();
    let mut pending: Vec<&SelectionSet> = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .collect();
    let mut most = 0;
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if field.node.name.node == "_entities" => {
                    let count = field
                        .node
                        .get_argument("representations")
                        .map(|arg| {
                            let value = arg
                                .node
                                .clone()
                                .into_const_with(|name| variables.get(&name).cloned().ok_or(()));
                            match value {
                                Ok(Value::List(items)) => items.len(),
                                _ => 0,
                            }
                        })
                        .unwrap_or(0);
                    most = most.max(count);
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(fragment) => {
                    pending.push(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if visited.insert(name) {
                        if let Some(fragment) = document.fragments.get(name) {
                            pending.push(&fragment.node.selection_set.node);
                        }
                    }
                }
            }
        }
    }
    most
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

/// The first enum argument written as a string literal (`source: "CELIGO"`), which the spec
/// makes a validation error but async-graphql accepts. Variables are not literals: JSON has
/// no enums, so an enum variable's value is a string by design.
pub fn enum_as_string(
    document: &ExecutableDocument,
    registry: &async_graphql::registry::Registry,
) -> Option<String> {
    let mut visited = std::collections::HashSet::new();
    document.operations.iter().find_map(|(_, op)| {
        let root = match op.node.ty {
            async_graphql::parser::types::OperationType::Query => {
                Some(registry.query_type.as_str())
            }
            async_graphql::parser::types::OperationType::Mutation => {
                registry.mutation_type.as_deref()
            }
            async_graphql::parser::types::OperationType::Subscription => {
                registry.subscription_type.as_deref()
            }
        }?;
        enum_strings_in(
            document,
            registry,
            &op.node.selection_set.node,
            root,
            &mut visited,
        )
    })
}

fn enum_strings_in<'a>(
    document: &'a ExecutableDocument,
    registry: &async_graphql::registry::Registry,
    set: &'a SelectionSet,
    parent: &str,
    visited: &mut std::collections::HashSet<&'a Name>,
) -> Option<String> {
    use async_graphql::registry::MetaTypeName;
    for selection in &set.items {
        let found = match &selection.node {
            Selection::Field(field) => {
                let meta = registry
                    .types
                    .get(parent)
                    .and_then(|t| t.field_by_name(&field.node.name.node));
                let Some(meta) = meta else { continue };
                let in_args = field.node.arguments.iter().find_map(|(name, value)| {
                    let arg = meta.args.get(name.node.as_str())?;
                    let literal = value
                        .node
                        .clone()
                        .into_const_with(|_| Ok::<_, ()>(async_graphql::Value::Null))
                        .ok()?;
                    string_for_enum(&literal, &arg.ty, registry)
                        .map(|(text, ty)| describe(&name.node, &text, ty, registry))
                });
                in_args.or_else(|| {
                    enum_strings_in(
                        document,
                        registry,
                        &field.node.selection_set.node,
                        MetaTypeName::concrete_typename(&meta.ty),
                        visited,
                    )
                })
            }
            Selection::InlineFragment(fragment) => {
                let on = fragment
                    .node
                    .type_condition
                    .as_ref()
                    .map_or(parent, |c| c.node.on.node.as_str());
                enum_strings_in(
                    document,
                    registry,
                    &fragment.node.selection_set.node,
                    on,
                    visited,
                )
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                match document.fragments.get(name) {
                    Some(fragment) if visited.insert(name) => enum_strings_in(
                        document,
                        registry,
                        &fragment.node.selection_set.node,
                        fragment.node.type_condition.node.on.node.as_str(),
                        visited,
                    ),
                    _ => None,
                }
            }
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A string literal where `ty` expects an enum (inside lists and input objects too): the
/// string and the enum's name.
fn string_for_enum<'r>(
    value: &async_graphql::Value,
    ty: &'r str,
    registry: &'r async_graphql::registry::Registry,
) -> Option<(String, &'r str)> {
    use async_graphql::registry::{MetaType, MetaTypeName};
    use async_graphql::Value;
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => string_for_enum(value, inner, registry),
        MetaTypeName::List(inner) => match value {
            Value::List(items) => items
                .iter()
                .find_map(|item| string_for_enum(item, inner, registry)),
            single => string_for_enum(single, inner, registry),
        },
        MetaTypeName::Named(name) => match (registry.types.get(name)?, value) {
            (MetaType::Enum { .. }, Value::String(text)) => Some((text.clone(), name)),
            (MetaType::InputObject { input_fields, .. }, Value::Object(fields)) => {
                fields.iter().find_map(|(key, field)| {
                    let meta = input_fields.get(key.as_str())?;
                    string_for_enum(field, &meta.ty, registry)
                })
            }
            _ => None,
        },
    }
}

fn describe(
    argument: &str,
    text: &str,
    enum_name: &str,
    registry: &async_graphql::registry::Registry,
) -> String {
    let values = match registry.types.get(enum_name) {
        Some(async_graphql::registry::MetaType::Enum { enum_values, .. }) => enum_values
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    format!(
        "argument `{argument}`: \"{text}\" is a string, but {enum_name} is an enum: write it without quotes (one of {values})"
    )
}
