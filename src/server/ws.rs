//! `GET /graphql/ws`: GraphQL over WebSocket, `graphql-transport-ws` (and the legacy
//! `graphql-ws` of subscriptions-transport-ws), implemented here rather than by
//! async-graphql-axum so that a socket is held to the same rules as HTTP:
//!
//! - the caller checks of `POST /graphql` (API key, the callers' own vendor credentials), made
//!   at `connection_init`: browsers cannot set headers on a WebSocket, so both may also come in
//!   its payload, at its top level or under `headers`, by header name in any case; the payload
//!   wins over the upgrade request's headers;
//! - one message is at most `server.body_limit_bytes`; every operation type runs (queries and
//!   mutations too) through the same schema, with the same document limits, error codes and
//!   per-request state (`schema::guard`);
//! - the protocol's close codes: 4400 invalid message, 4401 subscribe before
//!   `connection_ack`, 4403 refused caller, 4408 no `connection_init` in time, 4409 duplicate
//!   operation id, 4429 a second `connection_init`; 1009 for an oversize message;
//! - at most `server.max_subscriptions_per_connection` operations at once per socket;
//! - `[server.rate_limit]`: `connection_init` and each `subscribe` count against the same client
//!   as HTTP requests (over the limit: close 4429, or an `error` with `RATE_LIMITED`);
//! - persisted documents: a `subscribe` may name one by `documentId` or the APQ hash, and
//!   `server.persisted_only` refuses anything else here too.

use super::graphql::was_executed;
use super::rate_limit::{limited_error, retry_after_seconds, Client, Decision, Peer};
use super::ServerState;
use crate::error::ErrorCode;
use crate::schema::guard::coded;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Request, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response as HttpResponse};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Upgrade to a GraphQL WebSocket; the caller is checked at `connection_init`.
pub async fn graphql_ws(
    State(state): State<ServerState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> HttpResponse {
    let limit = state.body_limit;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(state, headers, peer, socket))
        .into_response()
}

/// How long `client` must wait under `[server.rate_limit]` (`None`: go ahead).
async fn over_limit(state: &ServerState, client: &Client) -> Option<u64> {
    match state.rate_limit.as_ref()?.check(client, 1).await {
        Decision::Allowed => None,
        Decision::Limited { retry_after } => Some(retry_after_seconds(retry_after)),
    }
}

/// The two message vocabularies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library): subscribe / next / complete.
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws, legacy): start / data / stop.
    Legacy,
}

impl Protocol {
    fn data(self) -> &'static str {
        match self {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        }
    }
}

/// What an operation's task tells the connection.
enum Outgoing {
    Message(Value),
    Done(String),
}

/// A close frame with a code and reason.
fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}

async fn serve(
    state: ServerState,
    headers: HeaderMap,
    peer: Option<std::net::IpAddr>,
    socket: WebSocket,
) {
    let protocol = match socket.protocol().and_then(|p| p.to_str().ok()) {
        Some("graphql-ws") => Protocol::Legacy,
        _ => Protocol::TransportWs,
    };
    let (mut sink, mut stream) = socket.split();
    let (sender, mut outgoing) = mpsc::channel::<Outgoing>(64);
    let mut session: Option<Arc<Data>> = None;
    let mut client: Option<Client> = None;
    let mut operations: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    let init_deadline = tokio::time::sleep(state.ws_init_timeout);
    tokio::pin!(init_deadline);

    let closing: Option<Message> = loop {
        tokio::select! {
            _ = &mut init_deadline, if session.is_none() => {
                break Some(close(4408, "Connection initialisation timeout"));
            }
            Some(out) = outgoing.recv() => match out {
                Outgoing::Message(message) => {
                    if sink.send(Message::Text(message.to_string().into())).await.is_err() {
                        break None;
                    }
                }
                Outgoing::Done(id) => {
                    operations.remove(&id);
                }
            },
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        break Some(close(4400, "Binary messages are not part of the protocol"));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(err)) => {
                        // tungstenite refuses a frame or message over the size cap here.
                        let text = err.to_string();
                        if text.contains("too long") || text.contains("too big") {
                            break Some(close(1009, "Message over server.body_limit_bytes"));
                        }
                        break None;
                    }
                };
                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                    break Some(close(4400, "Invalid message: not JSON"));
                };
                let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
                match (protocol, kind) {
                    (_, "connection_init") => {
                        if session.is_some() {
                            break Some(close(4429, "Too many initialisation requests"));
                        }
                        let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                        match connection_data(&state, &headers, &payload, peer) {
                            Ok((data, caller)) => {
                                if let Some(wait) = over_limit(&state, &caller).await {
                                    break Some(close(4429, &format!("Rate limited (server.rate_limit): retry in {wait} s")));
                                }
                                session = Some(Arc::new(data));
                                client = Some(caller);
                                let ack = json!({ "type": "connection_ack" });
                                if sink.send(Message::Text(ack.to_string().into())).await.is_err() {
                                    break None;
                                }
                            }
                            Err(reason) => {
                                if protocol == Protocol::Legacy {
                                    let refused = json!({ "type": "connection_error", "payload": { "message": reason } });
                                    let _ = sink.send(Message::Text(refused.to_string().into())).await;
                                }
                                break Some(close(4403, "Forbidden"));
                            }
                        }
                    }
                    (Protocol::TransportWs, "ping") => {
                        let pong = json!({ "type": "pong" });
                        if sink.send(Message::Text(pong.to_string().into())).await.is_err() {
                            break None;
                        }
                    }
                    (Protocol::TransportWs, "pong") => {}
                    (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                        let Some(session) = session.clone() else {
                            break Some(close(4401, "Unauthorized"));
                        };
                        let Some(id) = message.get("id").and_then(Value::as_str).map(str::to_string) else {
                            break Some(close(4400, "Invalid message: `id` must be a string"));
                        };
                        let Some(mut request) = message
                            .get("payload")
                            .and_then(|p| serde_json::from_value::<Request>(p.clone()).ok())
                        else {
                            break Some(close(4400, "Invalid message: `payload` must be a GraphQL request"));
                        };
                        if operations.contains_key(&id) {
                            if protocol == Protocol::Legacy {
                                continue;
                            }
                            break Some(close(4409, &format!("Subscriber for {id} already exists")));
                        }
                        let limited = match &client {
                            Some(client) => over_limit(&state, client).await,
                            None => None,
                        };
                        if let Some(wait) = limited {
                            let refused = error_message(protocol, &id, &[limited_error(wait)]);
                            if sink.send(Message::Text(refused.to_string().into())).await.is_err() {
                                break None;
                            }
                            continue;
                        }
                        // Persisted documents (documentId, APQ) and persisted_only, as over HTTP.
                        let document_id = message["payload"].get("documentId").and_then(Value::as_str);
                        if let Err(refusal) = state.persisted.resolve(&mut request, document_id) {
                            let refused = error_message(protocol, &id, &[*refusal.error]);
                            if sink.send(Message::Text(refused.to_string().into())).await.is_err() {
                                break None;
                            }
                            continue;
                        }
                        if operations.len() >= state.max_subscriptions {
                            let error = coded(
                                ServerError::new(
                                    format!(
                                        "this connection already runs {} operations (server.max_subscriptions_per_connection); complete one first",
                                        state.max_subscriptions
                                    ),
                                    None,
                                ),
                                ErrorCode::QueryTooComplex,
                            );
                            let refused = error_message(protocol, &id, &[error]);
                            if sink.send(Message::Text(refused.to_string().into())).await.is_err() {
                                break None;
                            }
                            continue;
                        }
                        let task = tokio::spawn(run_operation(
                            state.clone(),
                            session,
                            protocol,
                            id.clone(),
                            request,
                            sender.clone(),
                        ));
                        operations.insert(id, task.abort_handle());
                    }
                    (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                        if let Some(id) = message.get("id").and_then(Value::as_str) {
                            if let Some(task) = operations.remove(id) {
                                task.abort();
                            }
                        }
                    }
                    (Protocol::Legacy, "connection_terminate") => break None,
                    _ => {
                        break Some(close(4400, "Invalid message: unknown `type`"));
                    }
                }
            }
        }
    };
    for task in operations.values() {
        task.abort();
    }
    if let Some(frame) = closing {
        let _ = sink.send(frame).await;
    }
    let _ = sink.close().await;
}

/// The `error` message for operation `id`: errors of an operation that never ran.
fn error_message(protocol: Protocol, id: &str, errors: &[ServerError]) -> Value {
    let payload = serde_json::to_value(errors).unwrap_or(Value::Null);
    match protocol {
        Protocol::TransportWs => json!({ "id": id, "type": "error", "payload": payload }),
        // subscriptions-transport-ws carries one error object.
        Protocol::Legacy => {
            json!({ "id": id, "type": "error", "payload": payload.get(0).cloned().unwrap_or(Value::Null) })
        }
    }
}

/// Run one operation of a socket: each result as `next`, then `complete`; an operation that
/// never ran (parse, validation, limits) answers one `error` and nothing else.
async fn run_operation(
    state: ServerState,
    session: Arc<Data>,
    protocol: Protocol,
    id: String,
    request: Request,
    sender: mpsc::Sender<Outgoing>,
) {
    let mut results = state
        .schema
        .execute_stream_with_session_data(request, session);
    let mut first = true;
    while let Some(response) = results.next().await {
        let message = if first && !was_executed(&response) {
            let message = error_message(protocol, &id, &response.errors);
            let _ = sender.send(Outgoing::Message(message)).await;
            let _ = sender.send(Outgoing::Done(id)).await;
            return;
        } else {
            data_message(protocol, &id, response)
        };
        first = false;
        if sender.send(Outgoing::Message(message)).await.is_err() {
            return;
        }
    }
    let done = json!({ "id": id, "type": "complete" });
    let _ = sender.send(Outgoing::Message(done)).await;
    let _ = sender.send(Outgoing::Done(id)).await;
}

fn data_message(protocol: Protocol, id: &str, response: Response) -> Value {
    let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
    json!({ "id": id, "type": protocol.data(), "payload": payload })
}

/// The per-connection data (the caller's vendor credentials, after the API key check) and the
/// client it counts against for rate limits.
fn connection_data(
    state: &ServerState,
    headers: &HeaderMap,
    payload: &Value,
    peer: Option<std::net::IpAddr>,
) -> Result<(Data, Client), String> {
    let lookup = |name: &str| {
        from_payload(payload, name).or_else(|| headers.get(name).and_then(|v| v.to_str().ok()))
    };
    if !state.authorised(lookup("authorization")) {
        return Err("send `Authorization: Bearer <api key>` (a header, or a key of the connection_init payload)".into());
    }
    let credentials = state
        .app
        .sources
        .caller_credentials(lookup)
        .map_err(|err| err.message)?;
    let client = Client::identify(
        !state.api_keys.is_empty(),
        lookup("authorization"),
        &credentials,
        peer,
    );
    let mut data = Data::default();
    data.insert(credentials);
    Ok((data, client))
}

/// A string value of the `connection_init` payload named like header `name` (any case), at the
/// top level or under `headers`.
fn from_payload<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    let find = |object: &'a Value| {
        object.as_object().and_then(|map| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        })
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_keys_match_header_names_in_any_case() {
        let payload = json!({"Authorization": "Bearer k", "headers": {"X-Celigo-Token": "t"}});
        assert_eq!(from_payload(&payload, "authorization"), Some("Bearer k"));
        assert_eq!(from_payload(&payload, "x-celigo-token"), Some("t"));
        assert_eq!(from_payload(&payload, "x-other"), None);
        assert_eq!(from_payload(&json!(null), "authorization"), None);
        assert_eq!(
            from_payload(&json!({"authorization": 3}), "authorization"),
            None
        );
    }
}
