//! AI clients of a godot-ai server that come through bridgedock's `/mcp/NAME`: each MCP session
//! godot-ai opens for them is shown in the status's client sessions (who, protocol, since,
//! pending, messages), like the clients of every other server.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::Value;

use super::GodotAi;
use crate::status::{ClientSession, now_ms};

/// Sessions idle this long are dropped from the status (godot-ai itself forgets them at 30 min).
const IDLE_MS: u64 = 30 * 60 * 1000;

#[derive(Default)]
pub struct HttpClients {
    sessions: Mutex<HashMap<String, ClientSession>>,
}

fn status_id(server: &str, session: &str) -> String {
    format!(
        "{server}:http:{}",
        session.chars().take(64).collect::<String>()
    )
}

/// An initialize's client name, client version and protocol revision.
type Initialize = (Option<String>, Option<String>, Option<String>);

/// What a request body says: how many JSON-RPC messages, and an initialize's client and
/// protocol when it is one.
fn read_body(body: &Bytes) -> (u64, Option<Initialize>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, None);
    };
    let messages: Vec<&Value> = match &v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let init = messages
        .iter()
        .find(|m| m.get("method").and_then(Value::as_str) == Some("initialize"))
        .map(|m| {
            let p = m.get("params");
            let s = |path: &str| {
                p.and_then(|p| p.pointer(path))
                    .and_then(Value::as_str)
                    .map(|s| s.chars().take(128).collect())
            };
            (
                s("/clientInfo/name"),
                s("/clientInfo/version"),
                s("/protocolVersion"),
            )
        });
    (messages.len() as u64, init)
}

impl GodotAi {
    /// Forwards one `/mcp/NAME` request to godot-ai with its capability, and keeps the client
    /// sessions in the status up to date.
    pub async fn forward_mcp(&self, req: Request, peer: String) -> Response {
        let (parts, body) = req.into_parts();
        let Ok(body) = http_body_util::Limited::new(body, 4 * 1024 * 1024)
            .collect()
            .await
        else {
            return (
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32600, "message": "request body over 4 MiB (godot-ai's limit) or cut off"}})),
            )
                .into_response();
        };
        let body = body.to_bytes();
        let session = parts
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let method = parts.method.clone();
        let (count, init) = if method == axum::http::Method::POST {
            read_body(&body)
        } else {
            (0, None)
        };
        let server = self.plan.name.clone();
        if let Some(id) = &session {
            self.touch_client(id, |c| {
                c.messages_in += count;
                c.pending += 1;
            });
        }
        let req = Request::from_parts(parts, Body::from(body));
        let (port, bearer) = self.mcp_target();
        let res = super::proxy::forward(port, req, Some(("/mcp", bearer.as_str()))).await;
        let code = res.status();
        if let Some(id) = &session {
            if method == axum::http::Method::DELETE || code == axum::http::StatusCode::NOT_FOUND {
                // Ended by the client, or a restarted godot-ai no longer knows it.
                if let Some(gone) = self.http_clients.sessions.lock().remove(id) {
                    self.status.remove_client(&gone.id);
                }
            } else {
                self.touch_client(id, |c| {
                    c.pending = c.pending.saturating_sub(1);
                    c.messages_out += 1;
                });
            }
        }
        if let Some((name, version, protocol)) = init {
            let opened = res
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let (Some(id), true) = (opened, code.is_success()) {
                let now = now_ms();
                let client = ClientSession {
                    id: status_id(&server, &id),
                    server: server.clone(),
                    transport: "http".into(),
                    peer,
                    client_name: name,
                    client_version: version,
                    protocol_version: protocol,
                    server_protocol_version: None,
                    protocol_mismatch: false,
                    connected_at_ms: now,
                    last_activity_ms: now,
                    messages_in: count,
                    messages_out: 1,
                    pending: 0,
                    reconnects: 0,
                };
                self.status.put_client(client.clone());
                let mut sessions = self.http_clients.sessions.lock();
                sessions.retain(|_, c| now.saturating_sub(c.last_activity_ms) < IDLE_MS);
                sessions.insert(id, client);
            }
        }
        res
    }

    fn touch_client(&self, session: &str, f: impl FnOnce(&mut ClientSession)) {
        let updated = {
            let mut sessions = self.http_clients.sessions.lock();
            sessions.get_mut(session).map(|c| {
                f(c);
                c.last_activity_ms = now_ms();
                c.clone()
            })
        };
        if let Some(c) = updated {
            self.status.put_client(c);
        }
    }

    /// Drops sessions godot-ai has forgotten by now (idle 30 min).
    pub fn sweep_clients(&self) {
        let now = now_ms();
        let gone: Vec<ClientSession> = {
            let mut sessions = self.http_clients.sessions.lock();
            let stale: Vec<String> = sessions
                .iter()
                .filter(|(_, c)| now.saturating_sub(c.last_activity_ms) >= IDLE_MS)
                .map(|(k, _)| k.clone())
                .collect();
            stale.iter().filter_map(|k| sessions.remove(k)).collect()
        };
        for c in gone {
            self.status.remove_client(&c.id);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_initialize_names_its_client() {
        let body = bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"claude-code","version":"2.1.0"}}}"#,
        );
        let (n, init) = super::read_body(&body);
        assert_eq!(n, 1);
        assert_eq!(
            init,
            Some((
                Some("claude-code".into()),
                Some("2.1.0".into()),
                Some("2025-06-18".into())
            ))
        );
        let batch = bytes::Bytes::from_static(br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#);
        assert_eq!(super::read_body(&batch), (2, None));
        assert_eq!(
            super::read_body(&bytes::Bytes::from_static(b"nope")),
            (0, None)
        );
    }
}
