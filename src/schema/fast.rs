//! Resolving plain fields without a future per field.
//!
//! async-graphql resolves every selected field of every object as its own boxed future, joined
//! through a `FuturesUnordered`, and inserts the results as they complete. For the fields that
//! only read what a node already holds (ids, names, times, enums) that machinery costs far more
//! than the field: a connection page of 500 history entries is ~2,000 futures. [`Fast`] wraps an
//! object type: its plain fields ([`FastObject::plain`]) are computed in place, in selection
//! order, and only the others (arguments, loaders, upstream calls) go through async-graphql's
//! own resolver, still concurrently. A whole subtree that is plain (a page of edges whose nodes
//! only select plain fields) is resolved without a single future.
//!
//! The result is the value async-graphql would build: same keys (aliases, `__typename`,
//! fragments with their type conditions, repeated keys merged), same values, same errors. Any
//! case this does not cover (a custom directive on a field, an unknown fragment) goes through
//! async-graphql's `resolve_container` unchanged. Schema extensions are not asked about plain
//! fields: Chronograph's (the guard, the validation cache) hook no field resolution; one that
//! does must not be added without taking this path out.

use super::json;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{resolve_container, ContainerType};
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// An object type with fields that resolve without waiting.
pub trait FastObject: ContainerType {
    /// The value of `field` (selected in `ctx`) when it needs nothing but `self`: no
    /// arguments, no loader, no upstream call, no error. `None` hands it to async-graphql.
    fn plain(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value>;

    /// Write the JSON of a plain field's value (see [`plain`](Self::plain)) to `out`; `None`
    /// (with anything written left to be cut) hands it back. By default through `plain`;
    /// types override it for the fields a large page selects most, to skip the `Value`.
    fn render(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        render_plain(self, ctx, field, out)
    }
}

/// Write a plain field's value as [`FastObject::plain`] gives it: the default of
/// [`FastObject::render`], and what overrides fall back to for their other fields.
pub fn render_plain<T: FastObject + ?Sized>(
    root: &T,
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    out: &mut Vec<u8>,
) -> Option<()> {
    json::write_value(out, &root.plain(ctx, field)?);
    Some(())
}

impl<T: FastObject + ?Sized> FastObject for &T {
    fn plain(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        T::plain(*self, ctx, field)
    }

    fn render(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        T::render(*self, ctx, field, out)
    }
}

/// An object type resolved through [`FastObject`]: the same GraphQL type as `T`.
#[derive(Clone)]
pub struct Fast<T>(pub T);

impl<T: FastObject + Send + Sync> OutputType for Fast<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve(ctx, &self.0).await
    }
}

/// The value of an object-typed field whose object is plain all the way down.
pub fn object<T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    value: &T,
) -> Option<Value> {
    let ctx_field = ctx.with_field(field);
    let ctx_object = ctx_field.with_selection_set(&field.node.selection_set);
    plain_object(&ctx_object, value)
}

/// The value of a list-of-objects field whose items are plain all the way down: rendered as
/// JSON when the request allows it ([`json::RenderJson`]), else a list of objects.
pub fn list<'i, T: FastObject + 'i>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    items: impl ExactSizeIterator<Item = &'i T> + Clone,
) -> Option<Value> {
    let ctx_field = ctx.with_field(field);
    let ctx_list = ctx_field.with_selection_set(&field.node.selection_set);
    if ctx.data_opt::<json::RenderJson>().is_some() {
        if let Some(rendered) = render_list(&ctx_list, items.clone()) {
            return Some(rendered);
        }
    }
    let mut values = Vec::with_capacity(items.len());
    for (index, item) in items.enumerate() {
        let ctx_item = ctx_list.with_index(index);
        values.push(plain_object(&ctx_item, item)?);
    }
    Some(Value::List(values))
}

/// A list rendered as JSON, each item through [`render_fields`].
fn render_list<'i, T: FastObject + 'i>(
    ctx_list: &ContextSelectionSet<'_>,
    items: impl ExactSizeIterator<Item = &'i T>,
) -> Option<Value> {
    let mut out = Vec::with_capacity(2 + items.len() * 96);
    out.push(b'[');
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        render_fields(&ctx_list.with_index(index), item, &mut out)?;
    }
    out.push(b']');
    Some(json::rendered_value(String::from_utf8(out).ok()?))
}

/// Write the JSON of an object-typed field's value whose object is plain all the way down.
pub fn render_object<T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    value: &T,
    out: &mut Vec<u8>,
) -> Option<()> {
    let ctx_field = ctx.with_field(field);
    render_fields(
        &ctx_field.with_selection_set(&field.node.selection_set),
        value,
        out,
    )
}

/// Write an object whose selection set is fields only (no fragment, no directive; the
/// document has no key twice, [`json::RenderJson`]), every one plain, in selection order.
/// `None` for anything else, with what was written left for the caller to drop.
fn render_fields<T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
    out: &mut Vec<u8>,
) -> Option<()> {
    out.push(b'{');
    for (index, selection) in ctx.item.node.items.iter().enumerate() {
        let Selection::Field(field) = &selection.node else {
            return None;
        };
        if !field.node.directives.is_empty() {
            return None;
        }
        if index > 0 {
            out.push(b',');
        }
        json::write_str(out, field.node.response_key().node.as_str());
        out.push(b':');
        if field.node.name.node == "__typename" {
            json::write_str(out, &root.introspection_type_name());
        } else {
            root.render(ctx, field, out)?;
        }
    }
    out.push(b'}');
    Some(())
}

/// An object whose every selected field is plain, or `None`.
pub fn plain_object<T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> Option<Value> {
    let mut map = IndexMap::with_capacity(ctx.item.node.items.len());
    plain_set(ctx, root, &ctx.item.node, &mut map)?;
    Some(if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    })
}

fn plain_set<T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
    set: &SelectionSet,
    map: &mut IndexMap<Name, Value>,
) -> Option<()> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return None;
                }
                let value = if field.node.name.node == "__typename" {
                    Value::String(root.introspection_type_name().into_owned())
                } else {
                    root.plain(ctx, field)?
                };
                insert_value(map, field.node.response_key().node.clone(), value);
            }
            other => match fragment(ctx, root, other) {
                Ok(Some(inner)) => plain_set(ctx, root, &inner.node, map)?,
                Ok(None) => {}
                // An unknown fragment: async-graphql's error to report.
                Err(()) => return None,
            },
        }
    }
    Some(())
}

/// The selection set of a fragment when it applies to `root` (as async-graphql's
/// `Fields::add_set` decides it), `Ok(None)` when it does not, `Err` for an unknown fragment.
fn fragment<'a, T: FastObject + ?Sized>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    selection: &'a Selection,
) -> Result<Option<&'a Positioned<SelectionSet>>, ()> {
    let (condition, set) = match selection {
        Selection::Field(_) => return Ok(None),
        Selection::FragmentSpread(spread) => {
            let fragment = ctx
                .query_env
                .fragments
                .get(&spread.node.fragment_name.node)
                .ok_or(())?;
            (
                Some(&fragment.node.type_condition),
                &fragment.node.selection_set,
            )
        }
        Selection::InlineFragment(fragment) => (
            fragment.node.type_condition.as_ref(),
            &fragment.node.selection_set,
        ),
    };
    let condition = condition.map(|c| c.node.on.node.as_str());
    let type_name = root.introspection_type_name();
    let applies = match condition {
        None => true,
        Some(condition) => {
            type_name == condition
                || ctx
                    .schema_env
                    .registry
                    .implements
                    .get(&*type_name)
                    .is_some_and(|interfaces| interfaces.contains(condition))
                || T::type_name() == condition
        }
    };
    Ok(applies.then_some(set))
}

/// As async-graphql merges a key selected more than once (one hash per key).
fn insert_value(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    use async_graphql::indexmap::map::Entry;
    let prev = match target.entry(name) {
        Entry::Vacant(slot) => {
            slot.insert(value);
            return;
        }
        Entry::Occupied(slot) => slot.into_mut(),
    };
    match (prev, value) {
        (Value::Object(target_map), Value::Object(object)) => {
            for (key, value) in object {
                insert_value(target_map, key, value);
            }
        }
        (Value::List(target_list), Value::List(list)) => {
            for (index, value) in list.into_iter().enumerate() {
                if let (Some(Value::Object(target_map)), Value::Object(object)) =
                    (target_list.get_mut(index), value)
                {
                    for (key, value) in object {
                        insert_value(target_map, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

type FieldFuture<'a> = Pin<Box<dyn Future<Output = ServerResult<Value>> + Send + 'a>>;

enum Slot {
    Ready(Value),
    Pending,
}

/// Resolve `root` in `ctx`: plain fields in place, the others through async-graphql's
/// resolver, concurrently; keys in selection order.
pub async fn resolve<'a, T: FastObject + Send + Sync>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
) -> ServerResult<Value> {
    let mut slots = Vec::with_capacity(ctx.item.node.items.len());
    let mut pending: Vec<FieldFuture<'a>> = Vec::new();
    if collect(ctx, root, ctx.item, &mut slots, &mut pending).is_none() {
        return resolve_container(ctx, root).await;
    }
    let mut done = futures::future::join_all(pending).await.into_iter();
    let mut map = IndexMap::with_capacity(slots.len());
    for (name, slot) in slots {
        let value = match slot {
            Slot::Ready(value) => value,
            Slot::Pending => match done.next() {
                Some(Ok(value)) => value,
                Some(Err(err)) => {
                    ctx.add_error(err);
                    continue;
                }
                None => continue,
            },
        };
        insert_value(&mut map, name, value);
    }
    Ok(if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    })
}

/// Sort the fields of `set` into ready values and futures; `None` when a case is not
/// covered here (a custom directive, an unknown fragment).
fn collect<'a, T: FastObject + Send + Sync>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
    set: &'a Positioned<SelectionSet>,
    slots: &mut Vec<(Name, Slot)>,
    pending: &mut Vec<FieldFuture<'a>>,
) -> Option<()> {
    let ctx_set = ctx.with_selection_set(set);
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return None;
                }
                let name = field.node.response_key().node.clone();
                if field.node.name.node == "__typename" {
                    let typename = root.introspection_type_name().into_owned();
                    slots.push((name, Slot::Ready(Value::String(typename))));
                } else if let Some(value) = root.plain(&ctx_set, field) {
                    slots.push((name, Slot::Ready(value)));
                } else {
                    let ctx = ctx_set.clone();
                    pending.push(Box::pin(async move {
                        let ctx_field = ctx.with_field(field);
                        Ok(root.resolve_field(&ctx_field).await?.unwrap_or_default())
                    }));
                    slots.push((name, Slot::Pending));
                }
            }
            other => match fragment(&ctx_set, root, other) {
                Ok(Some(inner)) => collect(&ctx_set, root, inner, slots, pending)?,
                Ok(None) => {}
                Err(()) => return None,
            },
        }
    }
    Some(())
}

/// A `String!` / `ID!` field.
pub fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// A nullable `String` field.
pub fn opt_string(text: Option<&str>) -> Value {
    text.map_or(Value::Null, string)
}

/// A nullable `Boolean` field.
pub fn opt_bool(value: Option<bool>) -> Value {
    value.map_or(Value::Null, Value::Boolean)
}

/// An enum field (as async-graphql writes it).
pub fn enumeration<E: async_graphql::resolver_utils::EnumType>(value: E) -> Value {
    async_graphql::resolver_utils::enum_value(value)
}

/// A `Source` field, as its resolver writes it (the enum value named by `Source::as_str`).
pub fn source(source: crate::domain::Source) -> Value {
    Value::Enum(Name::new(source.as_str()))
}

/// A nullable enum field.
pub fn opt_enumeration<E: async_graphql::resolver_utils::EnumType>(value: Option<E>) -> Value {
    value.map_or(Value::Null, enumeration)
}

/// A `DateTime!` field.
pub fn time(value: chrono::DateTime<chrono::Utc>) -> Value {
    async_graphql::ScalarType::to_value(&super::scalars::DateTime(value))
}

/// A nullable `DateTime` field.
pub fn opt_time(value: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    value.map_or(Value::Null, time)
}
