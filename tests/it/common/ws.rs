//! graphql-transport-ws clients of the gateway's `/graphql/ws`.

use super::{celigo_subjects, Gateway};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A client WebSocket of the tests.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection to the gateway's `/graphql/ws`, not initialised yet.
pub async fn ws_connect(gw: &Gateway) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", gw.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

/// A connection that sent `connection_init` (with `payload` unless it is null) and got its
/// `connection_ack`.
pub async fn ws_ready(gw: &Gateway, payload: Value) -> Socket {
    let mut socket = ws_connect(gw).await;
    let init = if payload.is_null() {
        json!({ "type": "connection_init" })
    } else {
        json!({ "type": "connection_init", "payload": payload })
    };
    ws_send(&mut socket, init).await;
    let ack = ws_next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

/// Send one protocol message.
pub async fn ws_send(socket: &mut Socket, message: Value) {
    ws_send_text(socket, &message.to_string()).await;
}

/// Send one text message as it is (JSON or not).
pub async fn ws_send_text(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.expect("send");
}

/// The next text message as JSON (within 5 s).
pub async fn ws_next_json(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Some(Ok(_)) => continue,
            other => panic!("websocket ended: {other:?}"),
        }
    }
}

/// The entry of the next `historyAdded` message (a `next`, within 5 s).
pub async fn ws_next_entry(socket: &mut Socket) -> Value {
    let message = ws_next_json(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["historyAdded"].clone()
}

/// The close code the server ends the socket with (within 5 s); `None` when it ends without
/// a close frame or one without a code.
pub async fn ws_close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// The errors of an operation that failed before it ran: an `error` message's payload, or
/// the errors of a `next` one.
pub fn ws_errors(message: &Value) -> Vec<Value> {
    let errors = match message["type"].as_str() {
        Some("error") => &message["payload"],
        // TODO(issue 19 item 10): graphql-transport-ws sends these as `error`, not `next`.
        _ => &message["payload"]["errors"],
    };
    errors.as_array().cloned().unwrap_or_default()
}

/// A `subscribe` message with operation `id` for the `historyAdded` entries of Celigo
/// integration `target`.
pub fn history_added(id: &str, target: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": {
        "query": "subscription($s: [HistorySubject!]!) { historyAdded(subjects: $s) { sourceId kind summary subject { sourceId } } }",
        "variables": { "s": celigo_subjects(&[target.to_string()]) } } })
}
