//! Relay connection types: `XConnection { edges, nodes, pageInfo, totalCount }` and
//! `XEdge { cursor, node }` (DESIGN.md §2), plus the helpers that build them from a window.

use super::types::{ConnectionNode, FlowNode, HistoryEntryNode, IntegrationNode};
use crate::timeline::cursor::{Cursor, CursorKey};
use crate::timeline::page::{positional_window, PageRequest};
use async_graphql::SimpleObject;

/// Relay page information.
#[derive(SimpleObject, Clone, Debug, Default)]
// `@shareable` in the subgraph SDL: other Relay-style subgraphs define the same type, and
// Federation refuses to compose a field that several subgraphs resolve unless every one of
// them marks it shareable (tests/it/federation.rs composes with such a subgraph).
#[graphql(shareable)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A page of nodes before it becomes a concrete GraphQL connection type.
#[derive(Clone)]
pub struct Conn<T> {
    pub edges: Vec<(String, T)>,
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
        edges: Vec<(String, T)>,
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
        #[doc = concat!("An edge of a ", $doc, " connection.")]
        #[derive(SimpleObject, Clone)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
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
            (
                Cursor::new(fingerprint, snapshot_ms, key).encode(),
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
