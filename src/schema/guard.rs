//! The one gate every operation passes, whatever the transport (HTTP GET, POST, batches,
//! WebSocket): document limits before validation, `extensions.code` on every error, and the
//! per-request state resolvers need. An async-graphql extension, so `Schema::execute` and
//! `Schema::execute_stream` both run it.

use super::context::{AppState, RequestCtx};
use super::limits;
use crate::config::ServerConfig;
use crate::error::ErrorCode;
use crate::upstream::CallerCredentials;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::SchemaEnv;
use async_graphql::{Request, Response, ServerError, ServerResult, Value};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A request's parsed document and the name of the operation it runs.
type Operation = (Kept, Option<String>);

/// The parsed document kept for the result's order: a copy, or the parse cache's own tree.
#[derive(Clone)]
enum Kept {
    Own(Arc<ExecutableDocument>),
    Shared(Arc<(String, ExecutableDocument)>),
}

impl Kept {
    fn document(&self) -> &ExecutableDocument {
        match self {
            Kept::Own(document) => document,
            Kept::Shared(parsed) => &parsed.1,
        }
    }
}

/// The limits and deadline of `[server]` that every operation is held to.
#[derive(Clone)]
pub struct Guard {
    /// The request's parsed document (one `Guard` per request): the order its selections
    /// give to the response, which async-graphql builds in completion order.
    document: Arc<std::sync::Mutex<Option<Operation>>>,
    max_fields: usize,
    max_aliases: usize,
    max_entities: usize,
    introspection: bool,
    /// `server.suggestions`: messages may name fields, arguments and enum values.
    suggestions: bool,
    deadline: Duration,
    /// The schema's registry, as the first operation run through the extension saw it (one
    /// for every copy of this guard): from then on [`Guarded::execute`] runs the same checks
    /// around a schema without extensions.
    env: Arc<OnceLock<SchemaEnv>>,
}

impl Guard {
    pub fn new(server: &ServerConfig) -> Self {
        Guard {
            document: Default::default(),
            max_fields: server.max_fields,
            max_aliases: server.max_aliases,
            max_entities: server.max_entities,
            introspection: server.introspection,
            suggestions: server.suggestions,
            deadline: Duration::from_millis(server.request_timeout_ms),
            env: Default::default(),
        }
    }

    /// How long upstream calls of a request started now may run: a little less than the
    /// request itself, so a slow source fails only its own fields (partial data) instead of
    /// racing the request-wide timeout, which answers without any data.
    pub fn upstream_deadline(deadline: Duration) -> Instant {
        let margin = (deadline / 10).min(Duration::from_millis(100));
        Instant::now() + deadline.saturating_sub(margin)
    }

    /// Refuse a parsed document that would cost more than the limits allow, before any
    /// validation or execution: validation alone walks every expanded fragment.
    pub fn check(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let cost = limits::cost(document);
        if cost.fields > self.max_fields {
            let message = format!(
                "the query selects more than {} fields once its fragments are expanded (server.max_fields)",
                self.max_fields
            );
            return Err(coded(
                ServerError::new(message, None),
                ErrorCode::QueryTooComplex,
            ));
        }
        if cost.aliases > self.max_aliases {
            let message = format!(
                "the query uses more than {} aliases (server.max_aliases)",
                self.max_aliases
            );
            return Err(coded(
                ServerError::new(message, None),
                ErrorCode::QueryTooComplex,
            ));
        }
        if !self.introspection && limits::uses_introspection(document) {
            let error = ServerError::new("introspection is disabled on this gateway", None);
            return Err(coded(error, ErrorCode::GraphqlValidationFailed));
        }
        Ok(())
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard {
            document: Default::default(),
            ..self.clone()
        })
    }
}

#[async_trait::async_trait]
impl Extension for Guard {
    /// Parse and check the document first: async-graphql's own parse step walks every
    /// expanded fragment for its depth and directive limits, so a fragment bomb must be refused
    /// before it. Then the per-request state: HTTP brings its own (it keeps the scope for
    /// warnings); a WebSocket operation gets one here, with the connection's caller credentials
    /// and the same deadline.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.env.get_or_init(|| ctx.schema_env.clone());
        let mut request = self.admit(request, &ctx.schema_env.registry)?;
        if !request
            .data
            .contains_key(&std::any::TypeId::of::<RequestCtx>())
        {
            let app = ctx.data_opt::<Arc<AppState>>().ok_or_else(|| {
                coded(
                    ServerError::new("application state missing", None),
                    ErrorCode::Internal,
                )
            })?;
            let credentials = ctx
                .data_opt::<CallerCredentials>()
                .cloned()
                .unwrap_or_default();
            let state = RequestCtx::new(app, Self::upstream_deadline(self.deadline), credentials);
            request = request.data(state);
        }
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        self.finish(next.run(ctx).await, &ctx.schema_env.registry)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let guard = self.clone();
        let schema_env = ctx.schema_env.clone();
        next.run(
            ctx,
            stream
                .map(move |response| guard.finish(response, &schema_env.registry))
                .boxed(),
        )
    }
}

impl Guard {
    /// The document checks of every operation: parsed once (kept on the request for
    /// execution), limits, `_entities` representations and enum values written as strings;
    /// the document is kept to restore the result's order.
    fn admit(&self, request: Request, registry: &Registry) -> ServerResult<Request> {
        self.admit_parsed(request, registry, None)
    }

    /// [`Guard::admit`] for a request whose document was parsed before (`parsed`: the tree to
    /// keep for the result's order, when there is one to share).
    fn admit_parsed(
        &self,
        mut request: Request,
        registry: &Registry,
        parsed: Option<Arc<(String, ExecutableDocument)>>,
    ) -> ServerResult<Request> {
        let variables = std::mem::take(&mut request.variables);
        let document = request
            .parsed_query()
            .map_err(|error| coded(error, ErrorCode::GraphqlParseFailed))?;
        let checked = self
            .check(document)
            .map(|()| limits::entity_representations(document, &variables));
        let checked =
            checked.and_then(
                |representations| match limits::enum_as_string(document, registry) {
                    Some(message) => Err(coded(
                        ServerError::new(message, None),
                        ErrorCode::GraphqlValidationFailed,
                    )),
                    None => Ok(representations),
                },
            );
        let kept = checked.is_ok().then(|| match parsed {
            Some(parsed) => Kept::Shared(parsed),
            None => Kept::Own(Arc::new(document.clone())),
        });
        request.variables = variables;
        let representations = checked?;
        if let (Some(kept), Ok(mut slot)) = (kept, self.document.lock()) {
            *slot = Some((kept, request.operation_name.clone()));
        }
        if representations > self.max_entities {
            let message = format!(
                "`_entities` takes at most {} representations (server.max_entities), got {representations}",
                self.max_entities
            );
            return Err(coded(
                ServerError::new(message, None),
                ErrorCode::BadUserInput,
            ));
        }
        Ok(request)
    }
}

impl Guard {
    /// Every response, HTTP or WebSocket, once: request-level messages completed, a code on
    /// every error, the keys of `data` in selection order.
    fn finish(&self, mut response: Response, registry: &Registry) -> Response {
        let executed = response.data != Value::Null;
        for error in response.errors.iter_mut() {
            if error.path.is_empty() {
                error.message = super::messages::polish(&error.message, registry, self.suggestions);
            }
            classify(error, executed);
        }
        self.restore_order(&mut response);
        response
    }

    /// Put the keys of `data` in the order of the selection set (after fragment merging), at
    /// every level, as the spec's result map requires: async-graphql inserts fields as they
    /// complete, so a fast field overtakes a slow one.
    fn restore_order(&self, response: &mut Response) {
        let Some((kept, operation_name)) = self.document.lock().ok().and_then(|d| d.clone()) else {
            return;
        };
        let document = kept.document();
        let operation = document.operations.iter().find(|(name, _)| {
            operation_name.is_none() || name.map(|n| n.as_str()) == operation_name.as_deref()
        });
        if let Some((_, operation)) = operation {
            super::order::restore(
                &mut response.data,
                &[&operation.node.selection_set.node],
                document,
            );
        }
    }
}

/// The schema as HTTP runs it. With an extension installed, async-graphql looks each field up
/// in the registry and runs it through the extension chain (boxed futures, `Vec<T>` type
/// names built as strings): most of the per-field cost of a large answer. So HTTP runs the
/// guard's checks itself around a copy of the schema without extensions, once the guard has
/// seen the registry; WebSocket operations, persisted documents (whose validation verdicts an
/// extension keeps) and the first HTTP operation run through the extension.
#[derive(Clone)]
pub struct Guarded {
    guarded: super::ChronoSchema,
    plain: super::ChronoSchema,
    guard: Guard,
    /// Parsed documents by text: the same operations arrive again and again, and parsing
    /// (pest) costs more than copying the tree. Only documents that parse are kept.
    documents: moka::sync::Cache<u64, Arc<(String, ExecutableDocument)>>,
}

/// Bytes of document text the parse cache holds (its trees take a few times that).
const PARSED_TEXT_BYTES: u64 = 4 * 1024 * 1024;

impl Guarded {
    pub fn new(guarded: super::ChronoSchema, plain: super::ChronoSchema, guard: Guard) -> Self {
        Guarded {
            guarded,
            plain,
            guard,
            documents: moka::sync::Cache::builder()
                .max_capacity(PARSED_TEXT_BYTES)
                .weigher(|_, entry: &Arc<(String, ExecutableDocument)>| {
                    u32::try_from(entry.0.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// Give `request` its parsed document from the cache, or parse it and remember it. The
    /// document to restore the result's order comes back too (shared, not copied again).
    fn parse(&self, request: &mut Request) -> Option<Arc<(String, ExecutableDocument)>> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        request.query.hash(&mut hasher);
        let key = hasher.finish();
        if let Some(known) = self.documents.get(&key).filter(|d| d.0 == request.query) {
            request.set_parsed_query(known.1.clone());
            return Some(known);
        }
        let document = request.parsed_query().ok()?.clone();
        let parsed = Arc::new((request.query.clone(), document));
        self.documents.insert(key, parsed.clone());
        Some(parsed)
    }

    /// The schema with the guard as its extension (WebSocket operations and streams).
    pub fn schema(&self) -> &super::ChronoSchema {
        &self.guarded
    }

    /// Execute one operation with the guard's checks and finishing, as the extension would.
    pub async fn execute(&self, request: Request) -> Response {
        // Persisted documents run through the extensions: their validation is cached there
        // (schema::prepared), which saves more than the fast path would.
        let persisted = request
            .data
            .contains_key(&std::any::TypeId::of::<super::prepared::PreparedKey>());
        let Some(env) = self.guard.env.get().filter(|_| !persisted) else {
            return self.guarded.execute(request).await;
        };
        let guard = Guard {
            document: Default::default(),
            ..self.guard.clone()
        };
        let mut request = request;
        let parsed = self.parse(&mut request);
        let response = match guard.admit_parsed(request, &env.registry, parsed) {
            Ok(request) => self.plain.execute(request).await,
            Err(error) => Response::from_errors(vec![error]),
        };
        guard.finish(response, &env.registry)
    }
}

/// Give every error a code: ours already have one; async-graphql's own errors are parse,
/// validation or limit errors (before execution) or argument errors (during it).
pub fn classify(error: &mut ServerError, executed: bool) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
    {
        return;
    }
    // async-graphql's limit errors: complexity, depth (validation), recursion depth and
    // directives per field (its parse step).
    let code = if error.message.starts_with("Query is too complex")
        || error.message.starts_with("Query is nested too deep")
        || error
            .message
            .starts_with("The recursion depth of the query")
        || error
            .message
            .starts_with("The number of directives on the field")
    {
        ErrorCode::QueryTooComplex
    } else if !executed && error.path.is_empty() {
        ErrorCode::GraphqlValidationFailed
    } else if error.message.contains("Failed to parse")
        || error.message.contains("Invalid value")
        || error.message.starts_with("Variable ")
    {
        ErrorCode::BadUserInput
    } else {
        ErrorCode::Internal
    };
    *error = coded(std::mem::replace(error, ServerError::new("", None)), code);
}

/// The error with `extensions.code` set.
pub fn coded(mut error: ServerError, code: ErrorCode) -> ServerError {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(&ServerConfig::default())
    }

    fn code(error: &ServerError) -> Option<String> {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
    }

    #[test]
    fn refuses_a_fragment_bomb_before_validation() {
        let document =
            async_graphql::parser::parse_query(limits::fragment_bomb("query", 24)).expect("parses");
        let error = guard().check(&document).expect_err("refused");
        assert_eq!(code(&error).as_deref(), Some("\"QUERY_TOO_COMPLEX\""));
        assert!(
            error.message.contains("server.max_fields"),
            "{}",
            error.message
        );
    }

    #[test]
    fn lets_ordinary_queries_through() {
        let document = async_graphql::parser::parse_query(
            "{ sources { source } ...F } fragment F on Query { a: sources { healthy } }",
        )
        .expect("parses");
        assert!(guard().check(&document).is_ok());
    }
}
