//! Relay connection types: `XConnection { edges, nodes, pageInfo, totalCount }` and
//! `XEdge { cursor, node }` (DESIGN.md §2), plus the helpers that build them from a window.

use super::fast::{self, Fast, FastObject};
use super::types::{ConnectionNode, FlowNode, HistoryEntryNode, IntegrationNode};
use crate::timeline::cursor::{Cursor, CursorKey};
use crate::timeline::history::EdgeCursor;
use crate::timeline::page::{positional_window, PageRequest};
use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, Object, Positioned, Value};

/// Relay page information. Its cursors are encoded only when a query selects them.
#[derive(Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<EdgeCursor>,
    pub end_cursor: Option<EdgeCursor>,
}

// `@shareable` in the subgraph SDL: other Relay-style subgraphs define the same type, and
// Federation refuses to compose a field that several subgraphs resolve unless every one of
// them marks it shareable (tests/it/federation.rs composes with such a subgraph).
/// Relay page information.
#[Object(shareable)]
impl PageInfo {
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }
    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }
    async fn start_cursor(&self) -> Option<String> {
        self.start_cursor.as_ref().map(EdgeCursor::encode)
    }
    async fn end_cursor(&self) -> Option<String> {
        self.end_cursor.as_ref().map(EdgeCursor::encode)
    }
}

impl FastObject for PageInfo {
    fn plain(&self, _ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let cursor = |c: &Option<EdgeCursor>| {
            c.as_ref()
                .map_or(Value::Null, |c| Value::String(c.encode()))
        };
        match field.node.name.node.as_str() {
            "hasNextPage" => Some(Value::Boolean(self.has_next_page)),
            "hasPreviousPage" => Some(Value::Boolean(self.has_previous_page)),
            "startCursor" => Some(cursor(&self.start_cursor)),
            "endCursor" => Some(cursor(&self.end_cursor)),
            _ => None,
        }
    }
}

/// A page of nodes before it becomes a concrete GraphQL connection type. Cursors stay
/// unencoded until a query selects one (most never do, and encoding is JSON plus base64).
#[derive(Clone)]
pub struct Conn<T> {
    pub edges: Vec<(EdgeCursor, T)>,
    pub page_info: PageInfo,
    pub total_count: Option<i32>,
}

impl<T: Clone> Conn<T> {
    /// An empty connection (a failed source, or a source without this kind of item).
    pub fn empty(has_next_page: bool) -> Self {
        Conn {
            edges: Vec::new(),
            page_info: PageInfo {
                has_next_page,
                ..PageInfo::default()
            },
            total_count: None,
        }
    }

    /// Build from `(cursor, node)` pairs already in page order.
    pub fn from_edges(
        edges: Vec<(EdgeCursor, T)>,
        has_next: bool,
        has_previous: bool,
        total: Option<usize>,
    ) -> Self {
        let page_info = PageInfo {
            has_next_page: has_next,
            has_previous_page: has_previous,
            start_cursor: edges.first().map(|(c, _)| c.clone()),
            end_cursor: edges.last().map(|(c, _)| c.clone()),
        };
        Conn {
            edges,
            page_info,
            total_count: total.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
        }
    }
}

/// Define the concrete `XConnection` / `XEdge` pair of one node type. Both resolve through
/// [`Fast`]: a page whose nodes only select plain fields is built without a future per field.
macro_rules! relay_connection {
    ($conn:ident, $edge:ident, $node:ty, $doc:literal, $plural:literal) => {
        #[derive(Clone)]
        pub struct $edge {
            pub cursor: EdgeCursor,
            pub node: $node,
        }

        #[doc = concat!("An edge of a ", $doc, " connection.")]
        #[Object]
        impl $edge {
            async fn cursor(&self) -> String {
                self.cursor.encode()
            }
            async fn node(&self) -> Fast<&$node> {
                Fast(&self.node)
            }
        }

        impl FastObject for $edge {
            fn plain(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
                match field.node.name.node.as_str() {
                    "cursor" => Some(Value::String(self.cursor.encode())),
                    "node" => fast::object(ctx, field, &self.node),
                    _ => None,
                }
            }

            fn render(
                &self,
                ctx: &ContextSelectionSet<'_>,
                field: &Positioned<Field>,
                out: &mut Vec<u8>,
            ) -> Option<()> {
                match field.node.name.node.as_str() {
                    "node" => fast::render_object(ctx, field, &self.node, out),
                    _ => fast::render_plain(self, ctx, field, out),
                }
            }
        }

        #[derive(Clone)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: PageInfo,
            pub total_count: Option<i32>,
        }

        #[doc = concat!("A Relay connection of ", $plural, "; `totalCount` is null when knowing it would cost extra upstream calls.")]
        #[Object]
        impl $conn {
            async fn edges(&self) -> Vec<Fast<&$edge>> {
                self.edges.iter().map(Fast).collect()
            }
            async fn nodes(&self) -> Vec<Fast<&$node>> {
                self.edges.iter().map(|edge| Fast(&edge.node)).collect()
            }
            async fn page_info(&self) -> &PageInfo {
                &self.page_info
            }
            async fn total_count(&self) -> Option<i32> {
                self.total_count
            }
        }

        impl FastObject for $conn {
            fn plain(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
                match field.node.name.node.as_str() {
                    "edges" => fast::list(ctx, field, self.edges.iter()),
                    "nodes" => fast::list(ctx, field, self.edges.iter().map(|edge| &edge.node)),
                    "pageInfo" => fast::object(ctx, field, &self.page_info),
                    "totalCount" => Some(self.total_count.map_or(Value::Null, Value::from)),
                    _ => None,
                }
            }
        }

        impl From<Conn<$node>> for $conn {
            fn from(page: Conn<$node>) -> Self {
                $conn {
                    edges: page.edges.into_iter().map(|(cursor, node)| $edge { cursor, node }).collect(),
                    page_info: page.page_info,
                    total_count: page.total_count,
                }
            }
        }

        impl From<Conn<$node>> for Fast<$conn> {
            fn from(page: Conn<$node>) -> Self {
                Fast(page.into())
            }
        }
    };
}

relay_connection!(
    IntegrationConnection,
    IntegrationEdge,
    IntegrationNode,
    "integration",
    "integrations"
);
relay_connection!(FlowConnection, FlowEdge, FlowNode, "flow", "flows");
relay_connection!(
    ConnectionConnection,
    ConnectionEdge,
    ConnectionNode,
    "connection",
    "connections"
);
relay_connection!(
    HistoryEntryConnection,
    HistoryEntryEdge,
    HistoryEntryNode,
    "history entry",
    "history entries"
);

/// Page a vendor-ordered list by position (see `timeline::page`).
pub fn positional<I, T: Clone>(
    items: &[I],
    complete: bool,
    request: &PageRequest,
    fingerprint: &str,
    snapshot_ms: i64,
    id_of: impl Fn(&I) -> &str,
    node: impl Fn(&I) -> T,
) -> Conn<T> {
    let ids: Vec<&str> = items.iter().map(&id_of).collect();
    let window = positional_window(&ids, complete, request);
    let edges = (window.start..window.end)
        .map(|i| {
            let key = CursorKey::Position(i as u64, ids[i].to_string());
            (
                Cursor::new(fingerprint, snapshot_ms, key).into(),
                node(&items[i]),
            )
        })
        .collect();
    Conn::from_edges(
        edges,
        window.has_next,
        window.has_previous,
        complete.then_some(items.len()),
    )
}
