//! AI clients of a godot-ai server that come through bridgedock's `/mcp/NAME`: each MCP session
//! godot-ai opens for them is shown in the status's client sessions (who, protocol, since,
//! pending, messages), like the clients of every other server.
//!
//! Their sessions outlive godot-ai restarts. godot-ai keeps MCP sessions in memory, so once it
//! is restarted it answers 404 to every id it handed out before, and the AI client (Claude
//! Code, Cursor) has to notice, start over and, with most clients today, be restarted by hand.
//! bridgedock remembers each session's `initialize`; on that 404 it opens a new session on the
//! new godot-ai with the client's own `initialize`, sends `notifications/initialized`, retries
//! the request there, and keeps the id the client knows: the client sees one answer, as if
//! nothing happened (its status entry counts a reconnect).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::GodotAi;
use crate::status::{ClientSession, now_ms};

/// Sessions idle this long are dropped from the status (godot-ai itself forgets them at 30 min).
const IDLE_MS: u64 = 30 * 60 * 1000;

/// Sessions carried over restarts at most; past it, the longest idle is forgotten (its client
/// then starts over on a 404, as without bridgedock).
const CARRIED_MAX: usize = 1024;

/// The header godot-ai (and every Streamable HTTP server) names a session with.
const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Default)]
pub struct HttpClients {
    /// By the session id the client uses (the one godot-ai first handed out).
    sessions: Mutex<HashMap<String, ClientSession>>,
    carried: Mutex<HashMap<String, Carried>>,
    /// One re-opening at a time: a client's requests in flight across a restart all get 404;
    /// the first re-opens, the others find the new session and use it.
    reopening: tokio::sync::Mutex<()>,
}

/// What bridgedock needs to open a client's session again on a new godot-ai.
struct Carried {
    /// godot-ai's id for the session now (the client's own until the first restart).
    upstream: String,
    /// The params of the client's `initialize`.
    initialize: Value,
    last_used_ms: u64,
}

fn status_id(server: &str, session: &str) -> String {
    format!(
        "{server}:http:{}",
        session.chars().take(64).collect::<String>()
    )
}

/// An initialize's client name, client version and protocol revision.
type Initialize = (Option<String>, Option<String>, Option<String>);

/// The params of the `initialize` in a request body, if it is one (not in a batch: a batch
/// cannot hold one since 2025-06-18, and godot-ai answers it alone anyway).
fn initialize_params(body: &Bytes) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("method").and_then(Value::as_str) != Some("initialize") {
        return None;
    }
    Some(v.get("params").cloned().unwrap_or_else(|| json!({})))
}

/// The request to godot-ai: `parts` and `body` as the client sent them, with godot-ai's id of
/// the session instead of the client's.
fn upstream_request(
    parts: &axum::http::request::Parts,
    body: &Bytes,
    session: Option<&str>,
) -> Request {
    let mut parts = parts.clone();
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        parts.headers.insert(SESSION_HEADER, id);
    }
    Request::from_parts(parts, Body::from(body.clone()))
}

/// godot-ai's answer with the client's id of the session instead of godot-ai's.
fn client_response(mut res: Response, upstream: &str, public: &str) -> Response {
    let ours = res
        .headers()
        .get(SESSION_HEADER)
        .is_some_and(|v| v.as_bytes() == upstream.as_bytes());
    if ours && upstream != public {
        if let Ok(v) = HeaderValue::from_str(public) {
            res.headers_mut().insert(SESSION_HEADER, v);
        }
    }
    res
}

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
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let method = parts.method.clone();
        let (count, init) = if method == Method::POST {
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
        if method == Method::POST {
            self.editors_back().await;
        }
        let upstream = session.as_deref().map(|id| self.upstream_of(id));
        let (port, bearer) = self.mcp_target();
        let mut res = super::proxy::forward(
            port,
            upstream_request(&parts, &body, upstream.as_deref()),
            Some(("/mcp", bearer.as_str())),
        )
        .await;
        let mut reopened = None;
        if let (Some(public), Some(failed)) = (&session, &upstream) {
            if res.status() == StatusCode::NOT_FOUND && method != Method::DELETE {
                // A restarted godot-ai no longer knows the session: open it again there.
                if let Some(new) = self.reopen(public, failed, &parts.headers).await {
                    let (port, bearer) = self.mcp_target();
                    res = super::proxy::forward(
                        port,
                        upstream_request(&parts, &body, Some(&new)),
                        Some(("/mcp", bearer.as_str())),
                    )
                    .await;
                    reopened = Some(new);
                }
            }
        }
        if let (Some(public), Some(upstream)) = (&session, reopened.as_ref().or(upstream.as_ref()))
        {
            res = client_response(res, upstream, public);
        }
        if method == Method::POST {
            res = super::unfinished::answer_for_client(
                res,
                super::unfinished::request_ids(&body),
                &server,
            );
        }
        let code = res.status();
        if let Some(id) = &session {
            if method == Method::DELETE || code == StatusCode::NOT_FOUND {
                // Ended by the client, or godot-ai no longer knows it and it could not be
                // opened again: the client starts over.
                self.http_clients.carried.lock().remove(id);
                if let Some(gone) = self.http_clients.sessions.lock().remove(id) {
                    self.status.remove_client(&gone.id);
                }
            } else {
                let again = u32::from(reopened.is_some());
                self.touch_client(id, |c| {
                    c.pending = c.pending.saturating_sub(1);
                    c.messages_out += 1;
                    c.reconnects += again;
                });
            }
        }
        if let Some((name, version, protocol)) = init {
            let opened = res
                .headers()
                .get(SESSION_HEADER)
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
                {
                    let mut sessions = self.http_clients.sessions.lock();
                    sessions.retain(|_, c| now.saturating_sub(c.last_activity_ms) < IDLE_MS);
                    sessions.insert(id.clone(), client);
                }
                if let Some(params) = initialize_params(&body) {
                    self.carry(id, params, now);
                }
            }
        }
        res
    }

    /// godot-ai's id now of the session the client calls `public`.
    fn upstream_of(&self, public: &str) -> String {
        let mut carried = self.http_clients.carried.lock();
        match carried.get_mut(public) {
            Some(c) => {
                c.last_used_ms = now_ms();
                c.upstream.clone()
            }
            None => public.to_owned(),
        }
    }

    fn carry(&self, id: String, initialize: Value, now: u64) {
        let mut carried = self.http_clients.carried.lock();
        carried.retain(|_, c| now.saturating_sub(c.last_used_ms) < IDLE_MS);
        if carried.len() >= CARRIED_MAX {
            if let Some(oldest) = carried
                .iter()
                .min_by_key(|(_, c)| c.last_used_ms)
                .map(|(k, _)| k.clone())
            {
                carried.remove(&oldest);
            }
        }
        carried.insert(
            id.clone(),
            Carried {
                upstream: id,
                initialize,
                last_used_ms: now,
            },
        );
    }

    /// Opens the session the client calls `public` again on the godot-ai now running, with the
    /// client's own `initialize`; `failed` is the upstream id godot-ai just refused. Returns the
    /// new upstream id, or None when this session was never seen opening or godot-ai refuses.
    async fn reopen(&self, public: &str, failed: &str, headers: &HeaderMap) -> Option<String> {
        let _one_at_a_time = self.http_clients.reopening.lock().await;
        let initialize = {
            let carried = self.http_clients.carried.lock();
            let c = carried.get(public)?;
            if c.upstream != failed {
                // Another request of this client opened it again meanwhile.
                return Some(c.upstream.clone());
            }
            c.initialize.clone()
        };
        let (port, bearer) = self.mcp_target();
        let post = |session: Option<&str>, message: Value| {
            let mut req = Request::new(Body::from(message.to_string()));
            *req.method_mut() = Method::POST;
            let h = req.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            if let Some(v) = headers.get("mcp-protocol-version") {
                h.insert("mcp-protocol-version", v.clone());
            }
            if let Some(v) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
                h.insert(SESSION_HEADER, v);
            }
            req
        };
        let opened = super::proxy::forward(
            port,
            post(
                None,
                json!({"jsonrpc": "2.0", "id": "bridgedock-reopen", "method": "initialize", "params": initialize}),
            ),
            Some(("/mcp", bearer.as_str())),
        )
        .await;
        let new = opened
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = http_body_util::Limited::new(opened.into_body(), 1024 * 1024)
            .collect()
            .await
            .ok()?
            .to_bytes();
        // JSON or one SSE event; either way the answer carries the result.
        let new = new.filter(|_| String::from_utf8_lossy(&answer).contains("\"result\""));
        let Some(new) = new else {
            tracing::warn!(
                server = %self.plan.name,
                "godot-ai refused to open an AI client's session again after a restart; the client has to start over"
            );
            return None;
        };
        let initialized = super::proxy::forward(
            port,
            post(
                Some(&new),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            ),
            Some(("/mcp", bearer.as_str())),
        )
        .await;
        if !initialized.status().is_success() {
            return None;
        }
        if let Some(c) = self.http_clients.carried.lock().get_mut(public) {
            c.upstream = new.clone();
        }
        tracing::info!(
            server = %self.plan.name,
            "an AI client's session was opened again on the restarted godot-ai; the client keeps its session"
        );
        Some(new)
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
        self.http_clients
            .carried
            .lock()
            .retain(|_, c| now.saturating_sub(c.last_used_ms) < IDLE_MS);
        for c in gone {
            self.status.remove_client(&c.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::response::Response;

    #[test]
    fn only_an_initialize_is_carried_and_the_client_keeps_its_session_id() {
        let init = bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"cursor","version":"3"}}}"#,
        );
        let params = super::initialize_params(&init).unwrap();
        assert_eq!(params["clientInfo"]["name"], "cursor");
        assert_eq!(params["capabilities"], serde_json::json!({"roots": {}}));
        let call = bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#,
        );
        assert_eq!(super::initialize_params(&call), None);
        assert_eq!(
            super::initialize_params(&bytes::Bytes::from_static(b"[1")),
            None
        );

        // godot-ai's new id in an answer is replaced by the one the client knows ...
        let mut res = Response::new(axum::body::Body::empty());
        res.headers_mut()
            .insert(super::SESSION_HEADER, "new-upstream".parse().unwrap());
        let res = super::client_response(res, "new-upstream", "first-id");
        assert_eq!(res.headers()[super::SESSION_HEADER], "first-id");
        // ... and anything else is left alone.
        let mut res = Response::new(axum::body::Body::empty());
        res.headers_mut()
            .insert(super::SESSION_HEADER, "other".parse().unwrap());
        let res = super::client_response(res, "new-upstream", "first-id");
        assert_eq!(res.headers()[super::SESSION_HEADER], "other");
    }

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
