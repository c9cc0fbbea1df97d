//! GraphQL over HTTP: GET and POST per the GraphQL-over-HTTP spec, content negotiation between
//! `application/graphql-response+json` and `application/json`, CSRF-safe content types,
//! batch and deadline limits, `extensions.code` on every error and response-level warnings.

use super::persisted::{document_id_param, document_ids, Refusal};
use super::rate_limit::{Client, Decision, Peer};
use super::{playground, ServerState};
use crate::error::ErrorCode;
use crate::schema::context::RequestCtx;
use crate::schema::guard::{coded, Guard};
use crate::schema::json::{write_value, RenderJson, Written};
use crate::upstream::CallerCredentials;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Request, Response, ServerError, Value};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures::FutureExt;
use std::sync::Arc;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// Which media type the answer uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Pick the response media type from `Accept`; `None` when neither is acceptable.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let kind = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => MediaType::GraphqlResponseJson,
            APPLICATION_JSON => MediaType::Json,
            "*/*" | "application/*" => MediaType::Json,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, kind));
        }
    }
    best.map(|(_, kind)| kind)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// `GET /graphql`: GraphiQL for browsers, queries (never mutations) for everyone else.
pub async fn get_graphql(
    State(state): State<ServerState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> HttpResponse {
    let query = query.unwrap_or_default();
    let names_operation = ["query=", "documentId=", "extensions="]
        .iter()
        .any(|name| query.contains(name));
    if state.graphiql && accepts_html(&headers) && !names_operation {
        return playground::page_response(!state.api_keys.is_empty());
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    if let Some(denied) = check_api_key(&state, &headers, media) {
        return denied;
    }
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, &message),
    };
    if let Some(limited) = rate_limit(&state, &caller, peer, 1, media).await {
        return limited;
    }
    let mut request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(_) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                "a GET request needs a `query` parameter (and JSON `variables`, if any)",
            )
        }
    };
    let document_id = document_id_param(&query);
    if let Err(refusal) = state
        .persisted
        .resolve(&mut request, document_id.as_deref())
    {
        return refused(media, refusal);
    }
    if request.query.trim().is_empty() {
        return request_error(
            media,
            StatusCode::BAD_REQUEST,
            "the `query` parameter is empty",
        );
    }
    // The document's verdict is cached by text: `execute` below reuses it, so a GET parses
    // the document for these checks once.
    if let Inspection::Accepted {
        operation: Some(op),
        ..
    } = inspect(&state, &request)
    {
        if op != OperationType::Query {
            let mut response = request_error(
                media,
                StatusCode::METHOD_NOT_ALLOWED,
                "only queries may be sent with GET; use POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    respond(media, &*execute(&state, request, caller).await)
}

/// `POST /graphql` with a JSON body (one operation or a batch).
pub async fn post_graphql(
    State(state): State<ServerState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            // Over the size cap (413), malformed chunking, a body cut short or not sent within
            // server.body_read_timeout_ms (400): the same JSON error shape as every other refusal.
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is over server.body_limit_bytes"
            } else {
                "the request body could not be read: cut short, malformed chunked encoding, or not sent within server.body_read_timeout_ms"
            };
            return request_error(media, status, message);
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if !matches!(
        content_type.as_deref(),
        Some(APPLICATION_JSON) | Some(GRAPHQL_RESPONSE_JSON)
    ) {
        // Only JSON executes: text/plain, form and multipart bodies could be sent cross-site
        // without a preflight (CSRF), so they are refused before anything runs.
        return request_error(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as `Content-Type: application/json`",
        );
    }
    if let Some(denied) = check_api_key(&state, &headers, media) {
        return denied;
    }
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, &message),
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object with a string `query` (and optional `variables`, `operationName`)",
            )
        }
    };
    let document_ids = match document_ids(&body) {
        Ok(ids) => ids.unwrap_or_default(),
        Err(refusal) => return refused(media, refusal),
    };
    let mut document_ids = document_ids.into_iter();
    match batch {
        BatchRequest::Single(mut request) => {
            if let Some(limited) = rate_limit(&state, &caller, peer, 1, media).await {
                return limited;
            }
            let document_id = document_ids.next().flatten();
            if let Err(refusal) = state
                .persisted
                .resolve(&mut request, document_id.as_deref())
            {
                return refused(media, refusal);
            }
            if request.query.trim().is_empty() {
                return request_error(media, StatusCode::BAD_REQUEST, "`query` is empty");
            }
            respond(media, &*execute(&state, request, caller).await)
        }
        BatchRequest::Batch(requests) => {
            if requests.is_empty() || requests.len() > state.max_batch {
                let text = format!(
                    "a batch holds 1 to {} operations, got {}",
                    state.max_batch,
                    requests.len()
                );
                return request_error(media, StatusCode::BAD_REQUEST, &text);
            }
            let weight = requests.len() as u64;
            if let Some(limited) = rate_limit(&state, &caller, peer, weight, media).await {
                return limited;
            }
            let responses = futures::future::join_all(requests.into_iter().map(|mut request| {
                let document_id = document_ids.next().flatten();
                let resolved = state
                    .persisted
                    .resolve(&mut request, document_id.as_deref());
                let (state, caller) = (&state, caller.clone());
                async move {
                    match resolved {
                        Ok(()) => execute(state, request, caller).await,
                        Err(refusal) => Arc::new(Outcome::rejected(*refusal.error)),
                    }
                }
            }))
            .await;
            json_response(StatusCode::OK, media, &responses)
        }
    }
}

/// Count the request against its client's `[server.rate_limit]`; the 429 to send when it is
/// over (nothing runs, nothing is called upstream).
async fn rate_limit(
    state: &ServerState,
    caller: &Caller,
    peer: Option<std::net::IpAddr>,
    weight: u64,
    media: MediaType,
) -> Option<HttpResponse> {
    let limiter = state.rate_limit.as_ref()?;
    let client = Client::identify(
        !state.api_keys.is_empty(),
        caller.authorization.as_deref(),
        &caller.credentials,
        peer,
    );
    let Decision::Limited { retry_after } = limiter.check(&client, weight).await else {
        return None;
    };
    let seconds = super::rate_limit::retry_after_seconds(retry_after);
    let outcome = Outcome::rejected(super::rate_limit::limited_error(seconds));
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, media, &outcome);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    Some(response)
}

/// A persisted-document refusal as a response: its own status, or the usual one of a request
/// that never ran.
fn refused(media: MediaType, refusal: Refusal) -> HttpResponse {
    let outcome = Outcome::rejected(*refusal.error);
    match refusal.status {
        Some(status) => json_response(status, media, &outcome),
        None => respond(media, &outcome),
    }
}

fn check_api_key(
    state: &ServerState,
    headers: &HeaderMap,
    media: MediaType,
) -> Option<HttpResponse> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if state.authorised(auth) {
        return None;
    }
    let mut response = coded_error(
        media,
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        "send `Authorization: Bearer <api key>`",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// An execution shared by identical concurrent requests.
pub type SharedOutcome = futures::future::Shared<futures::future::BoxFuture<'static, Arc<Outcome>>>;

/// One operation's result, and whether execution started (GraphQL-over-HTTP distinguishes
/// a request that never ran — parse, validation or limit failures — from one that did).
pub struct Outcome {
    response: Response,
    executed: bool,
    /// The serialised body, made once however many de-duplicated requests send it.
    body: std::sync::OnceLock<axum::body::Bytes>,
}

impl serde::Serialize for Outcome {
    /// `data` (only when execution started), then `errors` and `extensions` when present; field
    /// order inside `data` follows the query, as the spec asks.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if self.executed {
            map.serialize_entry("data", &Written(&self.response.data))?;
        }
        if !self.response.errors.is_empty() {
            map.serialize_entry("errors", &self.response.errors)?;
        }
        if !self.response.extensions.is_empty() {
            map.serialize_entry("extensions", &self.response.extensions)?;
        }
        map.end()
    }
}

impl Outcome {
    fn rejected(error: ServerError) -> Self {
        Outcome {
            response: Response::from_errors(vec![error]),
            executed: false,
            body: Default::default(),
        }
    }

    /// The JSON body of this outcome.
    fn bytes(&self) -> axum::body::Bytes {
        self.body
            .get_or_init(|| axum::body::Bytes::from(self.json()))
            .clone()
    }

    /// The bytes the `Serialize` impl gives through serde_json, with `data` written directly
    /// ([`write_value`]): a large answer is thousands of keys and strings.
    fn json(&self) -> Vec<u8> {
        // Sized like the last answer (a client usually repeats its queries), so a large
        // answer is not grown by doubling and copying; bounded, so one huge answer does not
        // make every later small one hold a large buffer.
        let hint = LAST_BODY_LEN.load(std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::with_capacity((hint + hint / 8).clamp(4096, 512 * 1024));
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &[u8]| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(name);
        };
        if self.executed {
            key(&mut out, b"\"data\":");
            write_value(&mut out, &self.response.data);
        }
        if !self.response.errors.is_empty() {
            key(&mut out, b"\"errors\":");
            if serde_json::to_writer(&mut out, &self.response.errors).is_err() {
                return to_json(self);
            }
        }
        if !self.response.extensions.is_empty() {
            key(&mut out, b"\"extensions\":");
            if serde_json::to_writer(&mut out, &self.response.extensions).is_err() {
                return to_json(self);
            }
        }
        out.push(b'}');
        LAST_BODY_LEN.store(out.len(), std::sync::atomic::Ordering::Relaxed);
        out
    }
}

/// The length of the last answer written ([`Outcome::json`]'s first guess).
static LAST_BODY_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What Chronograph's own checks concluded about a document: rejected (with the outcome to
/// send), or accepted and whether the chosen operation is a query. Cached by document text,
/// so a hot query is parsed for these checks once, not on every request.
#[derive(Clone)]
pub enum Inspection {
    Rejected(Arc<Outcome>),
    /// The type of the operation the request names (`None`: no such operation, which
    /// execution reports).
    Accepted {
        operation: Option<OperationType>,
        /// Whether its answer may be rendered as JSON while it is resolved
        /// ([`crate::schema::json::RenderJson`]): no fragment, no response key twice.
        renderable: bool,
    },
}

fn inspect(state: &ServerState, request: &Request) -> Inspection {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.query.hash(&mut hasher);
    request.operation_name.hash(&mut hasher);
    let key = hasher.finish();
    if let Some(known) = state.inspected.get(&key) {
        return known;
    }
    let verdict = inspect_document(request);
    state.inspected.insert(key, verdict.clone());
    verdict
}

fn inspect_document(request: &Request) -> Inspection {
    let rejected = |error: ServerError, code: ErrorCode| {
        Inspection::Rejected(Arc::new(Outcome::rejected(coded(error, code))))
    };
    let document = match async_graphql::parser::parse_query(&request.query) {
        Ok(document) => document,
        Err(err) => {
            let mut error = ServerError::new(err.to_string(), None);
            error.locations = err.positions().collect();
            return rejected(error, ErrorCode::GraphqlParseFailed);
        }
    };
    let operation = document
        .operations
        .iter()
        .find(|(name, _)| {
            request.operation_name.is_none()
                || name.map(|n| n.as_str()) == request.operation_name.as_deref()
        })
        .map(|(_, op)| op.node.ty);
    let renderable = document.fragments.is_empty()
        && document
            .operations
            .iter()
            .all(|(_, op)| fields_only(&op.node.selection_set.node));
    Inspection::Accepted {
        operation,
        renderable,
    }
}

/// A selection set of fields only, at every depth, no response key twice in one set: nothing
/// in its answer is ever merged.
fn fields_only(set: &async_graphql::parser::types::SelectionSet) -> bool {
    use async_graphql::parser::types::Selection;
    let mut keys = Vec::with_capacity(set.items.len());
    set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => {
            let key = field.node.response_key().node.as_str();
            let repeated = keys.contains(&key);
            keys.push(key);
            !repeated && fields_only(&field.node.selection_set.node)
        }
        _ => false,
    })
}

async fn execute(state: &ServerState, request: Request, caller: Arc<Caller>) -> Arc<Outcome> {
    let (is_query, renderable) = match inspect(state, &request) {
        Inspection::Rejected(outcome) => return outcome,
        Inspection::Accepted {
            operation,
            renderable,
        } => (operation == Some(OperationType::Query), renderable),
    };
    if !(state.dedupe && is_query) {
        return Arc::new(run(state.clone(), request, &caller, renderable).await);
    }
    // Identical concurrent queries from the same caller share one execution.
    let key = dedupe_key(&request, &caller);
    let shared = {
        let mut inflight = state
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match inflight.get(&key) {
            Some(existing) => {
                state
                    .app
                    .metrics
                    .deduplicated
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                existing.clone()
            }
            None => {
                let owner = state.clone();
                let done = key;
                let call = async move {
                    let outcome = Arc::new(run(owner.clone(), request, &caller, renderable).await);
                    owner
                        .inflight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&done);
                    outcome
                }
                .boxed()
                .shared();
                inflight.insert(key, call.clone());
                call
            }
        }
    };
    shared.await
}

/// What makes two requests the same: document, operation, variables and the caller's
/// credentials (so callers never share answers across identities).
fn dedupe_key(request: &Request, caller: &Caller) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.query.hash(&mut hasher);
    request.operation_name.hash(&mut hasher);
    serde_json::to_string(&request.variables)
        .unwrap_or_default()
        .hash(&mut hasher);
    caller.authorization.hash(&mut hasher);
    caller.credentials.identities().hash(&mut hasher);
    hasher.finish()
}

/// Execute one validated request with fresh per-request state and the request deadline.
async fn run(state: ServerState, request: Request, caller: &Caller, renderable: bool) -> Outcome {
    let ctx = RequestCtx::new(
        &state.app,
        Guard::upstream_deadline(state.deadline),
        caller.credentials.clone(),
    );
    let scope = ctx.scope.clone();
    let mut request = request.data(ctx);
    if renderable {
        // The answer is written by `Outcome::json`, which knows rendered subtrees.
        request = request.data(RenderJson);
    }
    let run = state.http.execute(request);
    let mut response = match tokio::time::timeout(state.deadline, run).await {
        Ok(response) => response,
        Err(_) => {
            let error = ServerError::new(
                "the request deadline passed before every field was resolved",
                None,
            );
            Response::from_errors(vec![coded(error, ErrorCode::UpstreamTimeout)])
        }
    };
    let executed = was_executed(&response);
    let warnings = scope.warnings();
    if !warnings.is_empty() {
        response.extensions.insert(
            "warnings".to_string(),
            Value::List(warnings.into_iter().map(Value::String).collect()),
        );
    }
    Outcome {
        response,
        executed,
        body: Default::default(),
    }
}

/// Whether execution started: GraphQL-over-HTTP answers a request that never ran (parse,
/// validation or limit failures) without `data`, and graphql-transport-ws with `error`.
pub fn was_executed(response: &Response) -> bool {
    response.data != Value::Null
        || response
            .errors
            .iter()
            .any(|e| !e.path.is_empty() || !is_request_error(e))
}

/// Errors that stop a request before execution.
fn is_request_error(error: &ServerError) -> bool {
    let code = error.extensions.as_ref().and_then(|e| e.get("code"));
    [
        ErrorCode::GraphqlParseFailed,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::QueryTooComplex,
    ]
    .iter()
    .any(|c| code == Some(&Value::from(c.as_str())))
}

/// Status for one response: with `application/graphql-response+json`, a request that never
/// executed (parse, validation or limit failure) is a 400; `application/json` stays 200.
fn respond(media: MediaType, outcome: &Outcome) -> HttpResponse {
    let status = if media == MediaType::GraphqlResponseJson && !outcome.executed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (
        status,
        [(header::CONTENT_TYPE, media.as_str())],
        outcome.bytes(),
    )
        .into_response()
}

/// Who is asking: the `Authorization` it sent Chronograph and the vendor credentials it
/// forwards (`credential_header`). Both separate de-duplicated requests.
pub struct Caller {
    authorization: Option<String>,
    credentials: CallerCredentials,
}

/// Read the caller from the request headers; an unusable credential header is a 400 that
/// names the header (never its value).
fn caller(state: &ServerState, headers: &HeaderMap) -> Result<Arc<Caller>, String> {
    let credentials = state
        .app
        .sources
        .caller_credentials(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .map_err(|err| err.message)?;
    Ok(Arc::new(Caller {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        credentials,
    }))
}

fn json_response<T: serde::Serialize>(
    status: StatusCode,
    media: MediaType,
    body: &T,
) -> HttpResponse {
    (
        status,
        [(header::CONTENT_TYPE, media.as_str())],
        to_json(body),
    )
        .into_response()
}

fn to_json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_else(|_| {
        b"{\"errors\":[{\"message\":\"serialisation failed\",\"extensions\":{\"code\":\"INTERNAL\"}}]}".to_vec()
    })
}

fn coded_error(
    media: MediaType,
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> HttpResponse {
    // Execution never started: no `data` entry at all (GraphQL-over-HTTP).
    let outcome = Outcome::rejected(coded(ServerError::new(message, None), code));
    json_response(status, media, &outcome)
}

fn request_error(media: MediaType, status: StatusCode, message: &str) -> HttpResponse {
    coded_error(media, status, ErrorCode::BadUserInput, message)
}

fn not_acceptable() -> HttpResponse {
    coded_error(
        MediaType::Json,
        StatusCode::NOT_ACCEPTABLE,
        ErrorCode::BadUserInput,
        "accept application/graphql-response+json or application/json",
    )
}

/// Any other method on `/graphql`: 405 with `Allow` and a JSON error, not an empty body.
pub async fn method_not_allowed(headers: HeaderMap) -> HttpResponse {
    let media = negotiate(&headers).unwrap_or(MediaType::Json);
    let mut response = request_error(
        media,
        StatusCode::METHOD_NOT_ALLOWED,
        "`/graphql` takes GET (queries) and POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn bodies_match_the_serialize_impl() {
        let response = || {
            let data = async_graphql::value!({ "a": [1, "two", { "b": null }] });
            let mut response = Response::new(data);
            response
                .errors
                .push(ServerError::new("boom \"quoted\"", None));
            response
                .extensions
                .insert("cost".to_string(), async_graphql::value!({ "n": 3 }));
            response
        };
        for executed in [true, false] {
            let outcome = Outcome {
                response: response(),
                executed,
                body: Default::default(),
            };
            assert_eq!(outcome.json(), to_json(&outcome));
        }
        let bare = Outcome {
            response: Response::new(async_graphql::Value::Null),
            executed: false,
            body: Default::default(),
        };
        assert_eq!(bare.json(), to_json(&bare));
    }
}
