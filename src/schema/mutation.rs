//! The `Mutation` root: writes to Celigo integrations (DESIGN.md §2). Each mutation is one
//! upstream write, never retried; its answer is read after the write, so it shows the change.
//! Fields are nullable: a failed mutation is null with its error, and the others of the same
//! operation still run (serially, in document order).

use super::context::{app, req};
use super::types::{raw, IntegrationNode};
use crate::domain::ids::{GlobalId, NodeType};
use crate::domain::Source;
use crate::error::{bad_input, gql};
use crate::sources::{FlowGrouping, IntegrationUpdate, IntegrationWriteSource, Registration};
use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, SimpleObject, ID};
use serde_json::Value;
use std::sync::Arc;

/// Most connections one `registerConnections` call takes.
pub const MAX_CONNECTIONS_PER_REGISTRATION: usize = 100;

/// The mutation root.
pub struct Mutation;

/// Fields of a CELIGO integration to change. Only the fields given are sent; omitted ones stay
/// as they are. `settings`, `tag` and `aliases` may be null to remove them.
#[derive(InputObject, Default)]
pub struct IntegrationUpdateInput {
    /// The integration's settings object, replaced whole.
    pub settings: MaybeUndefined<Json<Value>>,
    /// The integration's version (integration apps bump it after an update).
    pub version: MaybeUndefined<String>,
    pub tag: MaybeUndefined<String>,
    /// While true, users cannot change settings or mappings (integration app updates).
    pub update_in_progress: MaybeUndefined<bool>,
    /// The groups the integration's flows are shown in, replaced whole.
    pub flow_groupings: MaybeUndefined<Vec<FlowGroupingInput>>,
    /// The integration's aliases, replaced whole (vendor shape, passed through).
    pub aliases: MaybeUndefined<Json<Value>>,
}

/// A named group of flows; give `sourceId` to keep an existing group, omit it to add one.
#[derive(InputObject)]
pub struct FlowGroupingInput {
    pub source_id: Option<String>,
    pub name: String,
    pub settings: Option<Json<Value>>,
}

/// The connections registered with an integration after a registration change.
#[derive(SimpleObject)]
pub struct ConnectionRegistrationPayload {
    /// The integration after the change.
    pub integration: IntegrationNode,
    /// Global ids of every connection registered with it now.
    pub registered_connection_ids: Vec<ID>,
}

/// What `createIntegrationRevision` did.
#[derive(SimpleObject)]
pub struct IntegrationRevisionPayload {
    /// Whether a revision (snapshot) was created.
    pub created_revision: bool,
    /// True when Celigo skipped the snapshot because nothing changed since the last one
    /// (only with `ignoreIfNoChanges: true`).
    pub no_changes: bool,
    /// Celigo's id of the new revision, when its answer names it.
    pub revision_id: Option<String>,
    /// The revision as Celigo returned it (secrets redacted); null when it returned none.
    pub raw: Option<Json<Value>>,
}

#[Object]
impl Mutation {
    /// Register CELIGO connections with a CELIGO integration (`PUT
    /// /integrations/:_id/connections/register`), so users of the integration can use them.
    async fn register_connections(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] integration_id: ID,
        #[graphql(validator(list, max_length = 512))] connection_ids: Vec<ID>,
    ) -> async_graphql::Result<Option<ConnectionRegistrationPayload>> {
        let result = async {
            let integration = target(&integration_id, NodeType::Integration, "integrationId")?;
            if connection_ids.is_empty() || connection_ids.len() > MAX_CONNECTIONS_PER_REGISTRATION
            {
                return Err(bad_input(format!(
                    "`connectionIds` takes 1 to {MAX_CONNECTIONS_PER_REGISTRATION} ids, got {}",
                    connection_ids.len()
                )));
            }
            let mut ids = Vec::with_capacity(connection_ids.len());
            for id in &connection_ids {
                let connection = target(id, NodeType::Connection, "connectionIds")?;
                if !ids.contains(&connection.source_id().to_string()) {
                    ids.push(connection.source_id().to_string());
                }
            }
            let writes = writer(ctx, integration.source)?;
            let registration = writes
                .register_connections(&req(ctx)?.scope, integration.source_id(), &ids)
                .await
                .map_err(gql)?;
            Ok(registration.into())
        }
        .await;
        Ok(settle(ctx, result))
    }

    /// Unregister a CELIGO connection from a CELIGO integration (`DELETE
    /// /integrations/:_id/connections/:_connectionId/register`).
    async fn unregister_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] integration_id: ID,
        #[graphql(validator(max_length = 512))] connection_id: ID,
    ) -> async_graphql::Result<Option<ConnectionRegistrationPayload>> {
        let result = async {
            let integration = target(&integration_id, NodeType::Integration, "integrationId")?;
            let connection = target(&connection_id, NodeType::Connection, "connectionId")?;
            let writes = writer(ctx, integration.source)?;
            let registration = writes
                .unregister_connection(
                    &req(ctx)?.scope,
                    integration.source_id(),
                    connection.source_id(),
                )
                .await
                .map_err(gql)?;
            Ok(registration.into())
        }
        .await;
        Ok(settle(ctx, result))
    }

    /// Snapshot a CELIGO integration (`POST /integrations/:_id/revisions/create`). With
    /// `ignoreIfNoChanges: true` Celigo skips the snapshot when nothing changed since the last
    /// one, and `noChanges` is true.
    async fn create_integration_revision(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] integration_id: ID,
        #[graphql(default = false)] ignore_if_no_changes: bool,
    ) -> async_graphql::Result<Option<IntegrationRevisionPayload>> {
        let result = async {
            let integration = target(&integration_id, NodeType::Integration, "integrationId")?;
            let writes = writer(ctx, integration.source)?;
            let outcome = writes
                .create_revision(
                    &req(ctx)?.scope,
                    integration.source_id(),
                    ignore_if_no_changes,
                )
                .await
                .map_err(gql)?;
            Ok(IntegrationRevisionPayload {
                created_revision: outcome.created,
                no_changes: !outcome.created,
                revision_id: outcome.revision_id,
                raw: outcome.raw.as_ref().map(raw),
            })
        }
        .await;
        Ok(settle(ctx, result))
    }

    /// Copy a CELIGO integration with its flows (`POST /integrations/:_id/clone`); answers the
    /// new integration.
    async fn clone_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] integration_id: ID,
        name: Option<String>,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        let result = async {
            let integration = target(&integration_id, NodeType::Integration, "integrationId")?;
            if let Some(name) = &name {
                if name.trim().is_empty() || name.chars().count() > 100 {
                    return Err(bad_input("`name` takes 1 to 100 characters"));
                }
            }
            let writes = writer(ctx, integration.source)?;
            let clone = writes
                .clone_integration(&req(ctx)?.scope, integration.source_id(), name.as_deref())
                .await
                .map_err(gql)?;
            Ok(IntegrationNode(clone))
        }
        .await;
        Ok(settle(ctx, result))
    }

    /// Change some fields of a CELIGO integration (`PATCH /integrations/:_id`, one JSON Patch
    /// operation per field given); answers the integration after the change.
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] integration_id: ID,
        input: IntegrationUpdateInput,
    ) -> async_graphql::Result<Option<IntegrationNode>> {
        let result = async {
            let integration = target(&integration_id, NodeType::Integration, "integrationId")?;
            let update = input.into_update()?;
            let writes = writer(ctx, integration.source)?;
            let updated = writes
                .update_integration(&req(ctx)?.scope, integration.source_id(), &update)
                .await
                .map_err(gql)?;
            Ok(IntegrationNode(updated))
        }
        .await;
        Ok(settle(ctx, result))
    }
}

impl From<Registration> for ConnectionRegistrationPayload {
    fn from(registration: Registration) -> Self {
        let source = registration.integration.source;
        ConnectionRegistrationPayload {
            registered_connection_ids: registration
                .connection_ids
                .into_iter()
                .map(|id| ID(super::types::connection_id(source, &id)))
                .collect(),
            integration: IntegrationNode(registration.integration),
        }
    }
}

impl IntegrationUpdateInput {
    /// Check the input and turn it into the adapter's update: at least one field, settings an
    /// object, no null where a field cannot be removed.
    fn into_update(self) -> async_graphql::Result<IntegrationUpdate> {
        let update = IntegrationUpdate {
            settings: removable(self.settings).map(|s| s.map(|json| json.0)),
            version: required(self.version, "version")?,
            tag: removable(self.tag),
            update_in_progress: required(self.update_in_progress, "updateInProgress")?,
            flow_groupings: required(self.flow_groupings, "flowGroupings")?.map(|list| {
                list.into_iter()
                    .map(FlowGroupingInput::into_grouping)
                    .collect()
            }),
            aliases: removable(self.aliases).map(|a| a.map(|json| json.0)),
        };
        if update.is_empty() {
            return Err(bad_input("`input` must give at least one field to change"));
        }
        if let Some(Some(settings)) = &update.settings {
            if !settings.is_object() {
                return Err(bad_input("`settings` must be a JSON object"));
            }
        }
        if let Some(version) = &update.version {
            if version.trim().is_empty() {
                return Err(bad_input("`version` cannot be empty"));
            }
        }
        if update
            .flow_groupings
            .iter()
            .flatten()
            .any(|g| g.name.trim().is_empty())
        {
            return Err(bad_input("every flow grouping needs a `name`"));
        }
        Ok(update)
    }
}

impl FlowGroupingInput {
    fn into_grouping(self) -> FlowGrouping {
        FlowGrouping {
            source_id: self.source_id,
            name: self.name,
            settings: self.settings.map(|json| json.0),
        }
    }
}

/// A failed mutation is null with its error at its path (DESIGN.md §10 partial results), so
/// the other mutations of the operation keep their answers.
fn settle<T>(ctx: &Context<'_>, result: async_graphql::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
            None
        }
    }
}

/// An omitted field is not sent; null removes it upstream.
fn removable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

/// An omitted field is not sent; null is refused (the field cannot be removed).
fn required<T>(value: MaybeUndefined<T>, name: &str) -> async_graphql::Result<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(bad_input(format!(
            "`{name}` cannot be null; omit it to leave it unchanged"
        ))),
        MaybeUndefined::Value(value) => Ok(Some(value)),
    }
}

/// Decode a global id argument that must name a `node_type` of a source Chronograph can write
/// to; anything else is the client's mistake (`BAD_USER_INPUT`).
fn target(id: &ID, node_type: NodeType, argument: &str) -> async_graphql::Result<GlobalId> {
    let gid = GlobalId::decode(id).ok_or_else(|| {
        bad_input(format!(
            "`{argument}`: `{}` is not a Chronograph id",
            crate::error::truncate_message(id, 40)
        ))
    })?;
    if gid.node_type != node_type {
        return Err(bad_input(format!(
            "`{argument}` must be the id of a {node_type:?}, not of a {:?}",
            gid.node_type
        )));
    }
    if !crate::sources::vendor(gid.source).writes {
        let writable: Vec<&str> = Source::ALL
            .into_iter()
            .filter(|source| crate::sources::vendor(*source).writes)
            .map(Source::as_str)
            .collect();
        return Err(bad_input(format!(
            "`{argument}` names a {} object; only {} integrations can be changed",
            gid.source.as_str(),
            writable.join(" or ")
        )));
    }
    Ok(gid)
}

/// The write capability of a source, or `SOURCE_NOT_CONFIGURED`.
fn writer(
    ctx: &Context<'_>,
    source: Source,
) -> async_graphql::Result<Arc<dyn IntegrationWriteSource>> {
    let set = app(ctx)?.sources.get(source).map_err(|e| e.to_graphql())?;
    set.writes.clone().ok_or_else(|| {
        bad_input(format!(
            "{} integrations cannot be changed through Chronograph",
            source.as_str()
        ))
    })
}
