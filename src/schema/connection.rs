//! Relay connection types: `XConnection { edges, nodes, pageInfo, totalCount }` and
//! `XEdge { cursor, node }` (DESIGN.md §2), plus the helpers that build them from a window.

use super::types::{ConnectionNode, FlowNode, HistoryEntryNode, IntegrationNode};
use crate::timeline::cursor::{Cursor, CursorKey};
use crate::timeline::page::{positional_window, PageRequest};
use async_graphql::{Object, SimpleObject};

/// Relay page information. Its cursors are encoded only when a query selects them.
#[derive(Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<Cursor>,
    pub end_cursor: Option<Cursor>,
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
        self.start_cursor.as_ref().map(Cursor::encode)
    }
    async fn end_cursor(&self) -> Option<String> {
        self.end_cursor.as_ref().map(Cursor::encode)
    }
}

/// A page of nodes before it becomes a concrete GraphQL connection type. Cursors stay
/// unencoded until a query selects one (most never do, and encoding is JSON plus base64).
#[derive(Clone)]
pub struct Conn<T> {
    pub edges: Vec<(Cursor, T)>,
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
        edges: Vec<(Cursor, T)>,
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

    /// Every node, for post-processing before the page is returned.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.edges.iter_mut().map(|(_, node)| node)
    }
}

/// Define the concrete `XConnection` / `XEdge` pair of one node type.
macro_rules! relay_connection {
    ($conn:ident, $edge:ident, $node:ty, $doc:literal, $plural:literal) => {
        #[derive(Clone)]
        pub struct $edge {
            pub cursor: Cursor,
            pub node: $node,
        }

        #[doc = concat!("An edge of a ", $doc, " connection.")]
        #[Object]
        impl $edge {
            async fn cursor(&self) -> String {
                self.cursor.encode()
            }
            async fn node(&self) -> &$node {
                &self.node
            }
        }

        #[doc = concat!("A Relay connection of ", $plural, "; `totalCount` is null when knowing it would cost extra upstream calls.")]
        #[derive(SimpleObject, Clone)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub nodes: Vec<$node>,
            pub page_info: PageInfo,
            pub total_count: Option<i32>,
        }

        impl From<Conn<$node>> for $conn {
            fn from(page: Conn<$node>) -> Self {
                let nodes = page.edges.iter().map(|(_, n)| n.clone()).collect();
                $conn {
                    edges: page.edges.into_iter().map(|(cursor, node)| $edge { cursor, node }).collect(),
                    nodes,
                    page_info: page.page_info,
                    total_count: page.total_count,
                }
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
            (Cursor::new(fingerprint, snapshot_ms, key), node(&items[i]))
        })
        .collect();
    Conn::from_edges(
        edges,
        window.has_next,
        window.has_previous,
        complete.then_some(items.len()),
    )
}
