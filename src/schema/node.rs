//! The `Node` interface and global-id resolution for every node type.

use super::context::{app, req};
use super::types::{ConnectionNode, FlowNode, HistoryEntryNode, IntegrationNode, TeamNode};
use crate::domain::ids::{GlobalId, NodeType};
use crate::domain::{Source, SubjectRef};
use crate::error::{gql, SourceError};
use async_graphql::{Context, Interface, ID};

/// Anything with a global id.
#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Integration(IntegrationNode),
    Flow(FlowNode),
    Connection(ConnectionNode),
    Team(TeamNode),
    HistoryEntry(HistoryEntryNode),
}

/// Resolve a global id; unknown objects are `None`, ids Chronograph did not issue are
/// `BAD_USER_INPUT`.
pub async fn resolve(ctx: &Context<'_>, id: &str) -> async_graphql::Result<Option<Node>> {
    let gid = GlobalId::decode(id).ok_or_else(|| {
        SourceError::bad_input(format!("`{}` is not a Chronograph id", short(id))).to_graphql()
    })?;
    let rq = req(ctx)?;
    let set = app(ctx)?
        .sources
        .get(gid.source)
        .map_err(|e| e.to_graphql())?;
    let scope = &rq.scope;
    let node = match gid.node_type {
        NodeType::Integration => match &set.integrations {
            Some(src) => src
                .integration(scope, gid.source_id())
                .await
                .map_err(gql)?
                .map(|i| Node::Integration(IntegrationNode(i))),
            None => None,
        },
        // Through the request's DataLoader: `nodes` and `_entities` batches of flows share
        // one upstream read per source instead of one per id.
        NodeType::Flow => match (&set.flows, gid.parent(0)) {
            (Some(_), Some(integration_id)) => rq
                .flows
                .load_one((gid.source, integration_id.into()))
                .await
                .map_err(gql)?
                .and_then(|flows| {
                    flows
                        .iter()
                        .find(|f| f.source_id == gid.source_id())
                        .cloned()
                })
                .map(|f| Node::Flow(FlowNode(f))),
            _ => None,
        },
        NodeType::Connection => match &set.flows {
            Some(src) => src
                .connection(scope, gid.source_id(), gid.parent(0))
                .await
                .map_err(gql)?
                .map(|c| Node::Connection(ConnectionNode(c))),
            None => None,
        },
        NodeType::Team => match &set.teams {
            Some(src) => src
                .team(scope, gid.source_id())
                .await
                .map_err(gql)?
                .map(|t| Node::Team(TeamNode(t))),
            None => None,
        },
        NodeType::HistoryEntry => {
            let Some(subject) = subject_of(&gid) else {
                return Ok(None);
            };
            match &set.history {
                Some(src) => src
                    .history_entry(scope, &subject, gid.source_id(), rq.now)
                    .await
                    .map_err(gql)?
                    .map(|entry| Node::HistoryEntry(HistoryEntryNode::new(entry.into(), rq.now))),
                None => None,
            }
        }
    };
    Ok(node)
}

/// Rebuild the subject an entry id was issued under.
fn subject_of(gid: &GlobalId) -> Option<SubjectRef> {
    match (gid.source, &gid.parts[1..]) {
        (Source::Hexabase, [app, ds, item]) => Some(SubjectRef::HexabaseItem {
            application_id: app.clone(),
            datastore_id: ds.clone(),
            item_id: item.clone(),
        }),
        (Source::Dealcloud, [entry_type]) => Some(SubjectRef::DealcloudEntryType {
            entry_type: entry_type.clone(),
        }),
        (source, [integration]) => Some(SubjectRef::Integration {
            source,
            source_id: integration.as_str().into(),
        }),
        _ => None,
    }
}

fn short(id: &str) -> String {
    crate::error::truncate_message(id, 40)
}
