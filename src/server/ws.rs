//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws` and the
//! legacy `graphql-ws`), with the same caller checks as `POST /graphql`: the API key and the
//! callers' own vendor credentials. Browsers cannot set headers on a WebSocket, so both may
//! also come in the `connection_init` payload, at its top level or under `headers`, by header
//! name in any case; the payload wins over the upgrade request's headers.

use super::ServerState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Upgrade to a GraphQL WebSocket; the caller is checked at `connection_init`, and a refused
/// caller's connection is closed before any subscription starts.
pub async fn graphql_ws(
    State(state): State<ServerState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    connection_data(&state, &headers, &payload)
                })
                .serve()
        })
        .into_response()
}

/// The per-connection data: the caller's vendor credentials, after the API key check.
fn connection_data(
    state: &ServerState,
    headers: &HeaderMap,
    payload: &Value,
) -> async_graphql::Result<Data> {
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
        .map_err(|err| async_graphql::Error::new(err.message))?;
    let mut data = Data::default();
    data.insert(credentials);
    Ok(data)
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
