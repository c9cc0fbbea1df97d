//! `Integration`, `Flow`, `Connection` and `Team`.

use super::super::connection::{
    positional, Conn, ConnectionConnection, FlowConnection, HistoryEntryConnection,
};
use super::super::context::{app, report, req};
use super::super::scalars::{dt, DateTime};
use super::history::history_connection;
use super::inputs::HistoryFilterInput;
use crate::domain::ids::{GlobalId, NodeType};
use crate::domain::{self, Sharing, Source, SubjectRef};
use crate::error::gql;
use crate::schema::fast::{self, Fast, FastObject};
use crate::schema::json;
use crate::timeline::cursor::fingerprint;
use crate::timeline::PageArgs;
use async_graphql::parser::types::Field;
use async_graphql::{Context, ContextSelectionSet, Json, Object, Positioned, Value, ID};
use std::sync::Arc;

/// The vendor object as served: secrets redacted here, at the edge, so adapters keep the object
/// as received and pay for redaction only when a client asks for `raw`.
pub fn raw(value: &crate::domain::RawJson) -> Json<serde_json::Value> {
    Json(crate::domain::redact(value.to_value()))
}

/// An integration of any source.
#[derive(Clone)]
pub struct IntegrationNode(pub Arc<domain::Integration>);

#[Object(name = "Integration")]
impl IntegrationNode {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(
            NodeType::Integration,
            self.0.source,
            vec![self.0.source_id.to_string()],
        )
        .encode())
    }
    async fn source(&self) -> Source {
        self.0.source
    }
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn enabled(&self) -> Option<bool> {
        self.0.enabled
    }
    /// TRUTO: allow | ask | deny.
    async fn sharing(&self) -> Option<Sharing> {
        self.0.sharing
    }
    /// TRUTO: environments where the integration is installed.
    async fn installed_environments(&self) -> Option<&[String]> {
        self.0.installed_environments.as_deref()
    }
    async fn created_at(&self) -> Option<DateTime> {
        dt(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime> {
        dt(self.0.updated_at)
    }
    /// The owning team; null for sources without teams.
    async fn team(&self) -> Option<TeamNode> {
        self.0.team.clone().map(TeamNode)
    }

    /// Flows of this integration (CELIGO); batched across every integration in the request.
    async fn flows(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Fast<FlowConnection>> {
        let fp = fingerprint(&[
            "Integration.flows",
            self.0.source.as_str(),
            &self.0.source_id,
        ]);
        let request = PageArgs {
            first,
            after,
            last,
            before,
        }
        .validate(&fp)
        .map_err(|e| e.to_graphql())?;
        let rq = req(ctx)?;
        let sources = &app(ctx)?.sources;
        let has_flows = sources
            .get(self.0.source)
            .map(|s| s.flows.is_some())
            .unwrap_or(false);
        if !has_flows {
            return Ok(Conn::empty(false).into());
        }
        match rq
            .flows
            .load_one((self.0.source, self.0.source_id.clone()))
            .await
        {
            Ok(flows) => {
                let flows = flows.unwrap_or_default();
                let snapshot = snapshot_of(&request, rq);
                Ok(positional(
                    &flows,
                    true,
                    &request,
                    &fp,
                    snapshot,
                    |f| &f.source_id,
                    |f| FlowNode(f.clone()),
                )
                .into())
            }
            Err(err) => {
                report(ctx, &err);
                Ok(Conn::empty(true).into())
            }
        }
    }

    /// Connections this integration uses (CELIGO).
    async fn connections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Fast<ConnectionConnection>> {
        let fp = fingerprint(&[
            "Integration.connections",
            self.0.source.as_str(),
            &self.0.source_id,
        ]);
        let request = PageArgs {
            first,
            after,
            last,
            before,
        }
        .validate(&fp)
        .map_err(|e| e.to_graphql())?;
        let rq = req(ctx)?;
        let Some(flows) = app(ctx)?
            .sources
            .get(self.0.source)
            .ok()
            .and_then(|s| s.flows.clone())
        else {
            return Ok(Conn::empty(false).into());
        };
        match flows.connections(&rq.scope, &self.0.source_id).await {
            Ok(list) => {
                let snapshot = snapshot_of(&request, rq);
                Ok(positional(
                    &list,
                    true,
                    &request,
                    &fp,
                    snapshot,
                    |c| &c.source_id,
                    |c| ConnectionNode(c.clone()),
                )
                .into())
            }
            Err(err) => {
                report(ctx, &err);
                Ok(Conn::empty(true).into())
            }
        }
    }

    /// History of this integration: ROCKETCHAT webhook executions, CELIGO audit log.
    async fn history(
        &self,
        ctx: &Context<'_>,
        filter: Option<HistoryFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Fast<HistoryEntryConnection>> {
        let subject = SubjectRef::Integration {
            source: self.0.source,
            source_id: self.0.source_id.clone(),
        };
        let conn = history_connection(
            ctx,
            "Integration.history",
            vec![subject],
            filter.map(Into::into).unwrap_or_default(),
            PageArgs {
                first,
                after,
                last,
                before,
            },
            Some(self.0.clone()),
        )
        .await?;
        Ok(conn.into())
    }

    /// The vendor object as received (secrets redacted).
    async fn raw(&self) -> Json<serde_json::Value> {
        raw(&self.0.raw)
    }
}

impl FastObject for IntegrationNode {
    fn plain(&self, _ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let i = &*self.0;
        Some(match field.node.name.node.as_str() {
            "id" => Value::String(
                GlobalId::new(
                    NodeType::Integration,
                    i.source,
                    vec![i.source_id.to_string()],
                )
                .encode(),
            ),
            "sourceId" => fast::string(&i.source_id),
            "name" => fast::string(&i.name),
            "source" => fast::source(i.source),
            "description" => fast::opt_string(i.description.as_deref()),
            "category" => fast::opt_string(i.category.as_deref()),
            "enabled" => fast::opt_bool(i.enabled),
            "sharing" => fast::opt_enumeration(i.sharing),
            "createdAt" => fast::opt_time(i.created_at),
            "updatedAt" => fast::opt_time(i.updated_at),
            _ => return None,
        })
    }

    fn render(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let i = &*self.0;
        match field.node.name.node.as_str() {
            "sourceId" => json::write_str(out, &i.source_id),
            "name" => json::write_str(out, &i.name),
            "createdAt" => json::write_time(out, i.created_at),
            "updatedAt" => json::write_time(out, i.updated_at),
            _ => return fast::render_plain(self, ctx, field, out),
        }
        Some(())
    }
}

/// The snapshot time of a positional walk: the cursor's, or now.
fn snapshot_of(
    request: &crate::timeline::PageRequest,
    rq: &super::super::context::RequestCtx,
) -> i64 {
    request
        .cursor
        .as_ref()
        .map(|c| c.snapshot_ms)
        .unwrap_or_else(|| rq.now.timestamp_millis())
}

/// A flow (CELIGO).
#[derive(Clone)]
pub struct FlowNode(pub Arc<domain::Flow>);

#[Object(name = "Flow")]
impl FlowNode {
    pub async fn id(&self) -> ID {
        let mut parts = vec![self.0.source_id.to_string()];
        parts.extend(self.0.integration_id.as_deref().map(str::to_string));
        ID(GlobalId::new(NodeType::Flow, self.0.source, parts).encode())
    }
    async fn source(&self) -> Source {
        self.0.source
    }
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn enabled(&self) -> Option<bool> {
        self.0.enabled
    }
    /// The integration the flow belongs to.
    async fn integration(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        let Some(id) = self.0.integration_id.as_deref() else {
            return Ok(None);
        };
        integration_by_id(ctx, self.0.source, id).await
    }
    /// Connections the flow's exports and imports use.
    async fn connections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ConnectionNode>> {
        let rq = req(ctx)?;
        let flows = app(ctx)?
            .sources
            .get(self.0.source)
            .map_err(|e| e.to_graphql())?
            .flows
            .clone();
        let Some(flows) = flows else {
            return Ok(Vec::new());
        };
        match flows.flow_connections(&rq.scope, &self.0).await {
            Ok(list) => Ok(list.into_iter().map(ConnectionNode).collect()),
            Err(err) => {
                report(ctx, &err);
                Ok(Vec::new())
            }
        }
    }
    async fn last_executed_at(&self) -> Option<DateTime> {
        dt(self.0.last_executed_at)
    }
    async fn created_at(&self) -> Option<DateTime> {
        dt(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime> {
        dt(self.0.updated_at)
    }
    async fn raw(&self) -> Json<serde_json::Value> {
        raw(&self.0.raw)
    }
}

impl FastObject for FlowNode {
    fn plain(&self, _ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let f = &*self.0;
        Some(match field.node.name.node.as_str() {
            "id" => {
                let mut parts = vec![f.source_id.to_string()];
                parts.extend(f.integration_id.as_deref().map(str::to_string));
                Value::String(GlobalId::new(NodeType::Flow, f.source, parts).encode())
            }
            "sourceId" => fast::string(&f.source_id),
            "name" => fast::string(&f.name),
            "source" => fast::source(f.source),
            "enabled" => fast::opt_bool(f.enabled),
            "lastExecutedAt" => fast::opt_time(f.last_executed_at),
            "createdAt" => fast::opt_time(f.created_at),
            "updatedAt" => fast::opt_time(f.updated_at),
            _ => return None,
        })
    }

    fn render(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let f = &*self.0;
        match field.node.name.node.as_str() {
            "sourceId" => json::write_str(out, &f.source_id),
            "name" => json::write_str(out, &f.name),
            "lastExecutedAt" => json::write_time(out, f.last_executed_at),
            "createdAt" => json::write_time(out, f.created_at),
            "updatedAt" => json::write_time(out, f.updated_at),
            _ => return fast::render_plain(self, ctx, field, out),
        }
        Some(())
    }
}

/// A connection to an external system (CELIGO).
#[derive(Clone)]
pub struct ConnectionNode(pub Arc<domain::Connection>);

#[Object(name = "Connection")]
impl ConnectionNode {
    /// One connection, one id, however it was reached (an integration's list, `node`, a
    /// mutation's payload): a client cache sees one object. Ids issued earlier with the
    /// integration as a second part still resolve.
    pub async fn id(&self) -> ID {
        ID(connection_id(self.0.source, &self.0.source_id))
    }
    async fn source(&self) -> Source {
        self.0.source
    }
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The connector type (`netsuite`, `http`, …).
    #[graphql(name = "type")]
    async fn kind(&self) -> Option<&str> {
        self.0.kind.as_deref()
    }
    async fn offline(&self) -> Option<bool> {
        self.0.offline
    }
    async fn created_at(&self) -> Option<DateTime> {
        dt(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime> {
        dt(self.0.updated_at)
    }
    async fn raw(&self) -> Json<serde_json::Value> {
        raw(&self.0.raw)
    }
}

impl FastObject for ConnectionNode {
    fn plain(&self, _ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let c = &*self.0;
        Some(match field.node.name.node.as_str() {
            "id" => Value::String(connection_id(c.source, &c.source_id)),
            "sourceId" => fast::string(&c.source_id),
            "name" => fast::string(&c.name),
            "source" => fast::source(c.source),
            "type" => fast::opt_string(c.kind.as_deref()),
            "offline" => fast::opt_bool(c.offline),
            "createdAt" => fast::opt_time(c.created_at),
            "updatedAt" => fast::opt_time(c.updated_at),
            _ => return None,
        })
    }
}

/// The team that owns integrations (TRUTO).
#[derive(Clone)]
pub struct TeamNode(pub Arc<domain::Team>);

#[Object(name = "Team")]
impl TeamNode {
    pub async fn id(&self) -> ID {
        ID(GlobalId::new(
            NodeType::Team,
            self.0.source,
            vec![self.0.source_id.to_string()],
        )
        .encode())
    }
    async fn source(&self) -> Source {
        self.0.source
    }
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn domain(&self) -> Option<&str> {
        self.0.domain.as_deref()
    }
    async fn logo_url(&self) -> Option<&str> {
        self.0.logo_url.as_deref()
    }
    async fn verified(&self) -> Option<bool> {
        self.0.verified
    }
    async fn white_label(&self) -> Option<bool> {
        self.0.white_label
    }
    async fn created_at(&self) -> Option<DateTime> {
        dt(self.0.created_at)
    }
    async fn updated_at(&self) -> Option<DateTime> {
        dt(self.0.updated_at)
    }
    async fn raw(&self) -> Json<serde_json::Value> {
        raw(&self.0.raw)
    }
}

/// Fetch one integration (de-duplicated within the request); unknown ids are null.
pub async fn integration_by_id(
    ctx: &Context<'_>,
    source: Source,
    id: &str,
) -> async_graphql::Result<Option<IntegrationNode>> {
    let rq = req(ctx)?;
    let set = app(ctx)?.sources.get(source).map_err(|e| e.to_graphql())?;
    let Some(integrations) = set.integrations.clone() else {
        return Ok(None);
    };
    let found = integrations.integration(&rq.scope, id).await.map_err(gql)?;
    Ok(found.map(IntegrationNode))
}

/// The global id of a connection.
pub fn connection_id(source: Source, source_id: &str) -> String {
    GlobalId::new(NodeType::Connection, source, vec![source_id.to_string()]).encode()
}
