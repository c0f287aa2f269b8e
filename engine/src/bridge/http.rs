//! MCP over Streamable HTTP, both eras, on `/mcp/{server}`:
//!
//! - `POST` one JSON-RPC message. `initialize` opens a session (`Mcp-Session-Id` in the
//!   answer); later messages carry that header (unknown → 404). A request is answered with JSON,
//!   or with an SSE stream when progress or server requests come before its answer.
//!   Notifications and responses get 202.
//! - The 2026-07-28 revision: every request stands alone (its `_meta` and headers say its
//!   revision; `headers.rs` checks they agree) and gets a session of its own for that one
//!   request. Closing its response stream cancels it. `subscriptions/listen` is a POST whose
//!   SSE stream stays open. GET and DELETE are 405 for it.
//! - `GET` (with the session header) opens the stream for server→client messages;
//!   `Last-Event-ID` replays what was missed on a stream, within a bounded window.
//! - `DELETE` ends a session.
//!
//! Sessions are router sessions like WebSocket ones: same status entries, limits, timeouts and
//! restart survival.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Bridge;
use super::http_session::{HttpSession, RequestStream, SseEvent};
use super::router::FastRequest;
use crate::protocol::jsonrpc::{self, INVALID_REQUEST, RpcError};
use crate::protocol::mcp::{self, SUPPORTED_REVISIONS};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_HEADER: &str = super::headers::PROTOCOL_HEADER;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

fn rpc_error(status: StatusCode, id: Value, error: RpcError) -> Response {
    (status, axum::Json(jsonrpc::error_response(id, error))).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        Value::Null,
        RpcError::new(INVALID_REQUEST, message),
    )
}

fn session_not_found(server: &str) -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        Value::Null,
        RpcError::new(
            jsonrpc::BRIDGE_INTERNAL,
            format!(
                "no such session on `{server}` (it ended, or bridgedock restarted): send initialize again"
            ),
        ),
    )
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A 400 for an `MCP-Protocol-Version` header naming a revision nobody here speaks.
fn bad_protocol_header(headers: &HeaderMap) -> Option<Response> {
    match header_str(headers, PROTOCOL_HEADER) {
        Some(v) if !SUPPORTED_REVISIONS.contains(&v) => Some(bad_request(format!(
            "unsupported MCP-Protocol-Version `{v}`; supported: {}",
            SUPPORTED_REVISIONS.join(", ")
        ))),
        _ => None,
    }
}

/// Whether the headers say the modern revision (a GET or DELETE from a modern client).
fn modern_header(headers: &HeaderMap) -> bool {
    header_str(headers, PROTOCOL_HEADER).is_some_and(mcp::is_modern)
}

/// The 2026-07-28 revision has no GET stream and no DELETE (no sessions): 405, `Allow: POST`.
fn method_not_allowed() -> Response {
    let mut resp = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        Value::Null,
        RpcError::new(
            INVALID_REQUEST,
            "the 2026-07-28 revision has no GET stream or DELETE: POST each request (subscriptions/listen opens a stream for change notifications)",
        ),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

pub async fn post(
    bridge: &Bridge,
    server: &str,
    peer: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(router) = bridge.router(server).cloned() else {
        return bridge.unknown_server(server);
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                RpcError::new(
                    INVALID_REQUEST,
                    format!(
                        "request body over the {} MiB limit",
                        MAX_BODY_BYTES / (1024 * 1024)
                    ),
                ),
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            RpcError::new(jsonrpc::PARSE_ERROR, "parse error: the body is not UTF-8"),
        );
    };
    // A plain request on an existing session: read its envelope only, swap nothing but the id.
    if !modern_header(&headers)
        && let Some(sid) = header_str(&headers, SESSION_HEADER)
        && let Some(request) = FastRequest::read(text)
    {
        if let Some(resp) = bad_protocol_header(&headers) {
            return resp;
        }
        let Some(session) = bridge.http_sessions().get(sid, server) else {
            return session_not_found(server);
        };
        session.touch();
        let id = request.id.clone();
        let stream = session.expect_answer(&id, None);
        if !session
            .router
            .forward(session.router_session, request)
            .await
        {
            return shutting_down();
        }
        return answer(bridge, session, stream, id, Kind::Session).await;
    }
    let msg = match jsonrpc::parse_message(text) {
        Ok(m) => m,
        Err((id, e)) => return rpc_error(StatusCode::BAD_REQUEST, id, e),
    };
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = msg.get("id").cloned();
    let is_request = method.is_some() && id.is_some();
    let modern = super::headers::is_modern_request(&headers, &msg);
    if modern {
        // The 2026-07-28 revision mirrors the body in headers: both must agree.
        if let Err((status, error)) = super::headers::check_modern(&headers, &msg) {
            return rpc_error(status, id.unwrap_or(Value::Null), error);
        }
        // Arguments the tool's schema mirrors into `Mcp-Param-*` headers must agree too.
        if method.as_deref() == Some("tools/call")
            && let Some(tool) = mcp::named_target(&msg)
            && let Some(marks) = router.tool_headers.of(tool)
            && let Err((status, error)) = super::param_headers::check(&headers, &msg, &marks)
        {
            return rpc_error(status, id.unwrap_or(Value::Null), error);
        }
    } else if let Some(revision) = mcp::declared_revision(&msg) {
        // An earlier revision stating its version in `_meta` too: the same agreement, and a
        // refusal lists what is supported (so the client can fall back).
        if let Some(header) = header_str(&headers, PROTOCOL_HEADER)
            && header != revision
        {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id.unwrap_or(Value::Null),
                RpcError::new(
                    mcp::HEADER_MISMATCH,
                    format!(
                        "MCP-Protocol-Version header `{header}` does not match `_meta` `{revision}`"
                    ),
                ),
            );
        }
        if !SUPPORTED_REVISIONS.contains(&revision) {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id.unwrap_or(Value::Null),
                RpcError {
                    code: mcp::UNSUPPORTED_PROTOCOL_VERSION,
                    message: format!(
                        "unsupported protocol version \"{revision}\"; supported: {}",
                        SUPPORTED_REVISIONS.join(", ")
                    ),
                    data: Some(json!({"supported": SUPPORTED_REVISIONS, "requested": revision})),
                },
            );
        }
    } else if let Some(resp) = bad_protocol_header(&headers) {
        return resp;
    }

    // A modern request needs no session (an `Mcp-Session-Id` it sends is ignored, as that
    // revision says): it gets a session of its own for that one request.
    let (session, kind) = if modern
        || (mcp::declared_revision(&msg).is_some()
            && header_str(&headers, SESSION_HEADER).is_none())
    {
        match HttpSession::open(router, peer, true).await {
            Some(s) => (s, Kind::OneRequest),
            None => return shutting_down(),
        }
    } else if method.as_deref() == Some("initialize") && is_request {
        match HttpSession::open(router, peer, false).await {
            Some(s) => (s, Kind::NewSession),
            None => return shutting_down(),
        }
    } else if let Some(sid) = header_str(&headers, SESSION_HEADER) {
        match bridge.http_sessions().get(sid, server) {
            Some(s) => (s, Kind::Session),
            None => return session_not_found(server),
        }
    } else {
        return bad_request(
            "missing Mcp-Session-Id header: send initialize first (its answer carries the session id), or use the 2026-07-28 form with `_meta` in every request",
        );
    };
    session.touch();

    let Some(id) = id.filter(|_| is_request) else {
        // A notification or an answer to a server request: accepted, nothing to wait for.
        let delivered = session
            .router
            .message(session.router_session, msg, text.len())
            .await;
        if kind == Kind::OneRequest {
            session.end("stateless message done").await;
        }
        return if delivered {
            StatusCode::ACCEPTED.into_response()
        } else {
            shutting_down()
        };
    };
    let token = msg
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("progressToken"))
        .cloned();
    let stream = session.expect_answer(&id, token.as_ref());
    if !session
        .router
        .message(session.router_session, msg, text.len())
        .await
    {
        return shutting_down();
    }
    answer(bridge, session, stream, id, kind).await
}

/// What the session of a POSTed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An existing `Mcp-Session-Id` session.
    Session,
    /// Opened by this `initialize`: registered once it succeeds.
    NewSession,
    /// A stateless (2026-07-28) request's own session: it ends with the answer, and closing
    /// the response stream early is that revision's cancellation.
    OneRequest,
}

/// Ends a one-request session when its response is dropped — answered, or the client closed
/// the stream early, which the 2026-07-28 revision defines as cancelling the request (the
/// router then cancels it at the server).
struct EndOnDrop(Option<Arc<HttpSession>>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if let Some(session) = self.0.take()
            && !session.ended()
        {
            tokio::spawn(async move { session.end("the client closed the stream").await });
        }
    }
}

/// Waits for a POSTed request's answer: JSON when it comes first, else an SSE stream of what
/// comes before it and then the answer (a `subscriptions/listen` stream stays open until it
/// ends). `NewSession`s are registered once initialized; `OneRequest` sessions end with the
/// answer.
async fn answer(
    bridge: &Bridge,
    session: Arc<HttpSession>,
    mut stream: RequestStream,
    id: Value,
    kind: Kind,
) -> Response {
    let one_request = kind == Kind::OneRequest;
    let guard = EndOnDrop(one_request.then(|| session.clone()));
    let Some(first) = stream.rx.recv().await else {
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            id,
            RpcError::new(
                jsonrpc::SERVER_UNREACHABLE,
                "the session ended before the answer came",
            ),
        );
    };
    if first.last {
        // Answered at once: plain JSON. A stateless request's refusals also say so in the
        // HTTP status, as that revision asks.
        let mut resp = Response::new(Body::from(first.data.to_string()));
        if one_request {
            *resp.status_mut() = stateless_status(&first.data);
        }
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if kind == Kind::NewSession {
            let initialized = serde_json::from_str::<Value>(&first.data)
                .ok()
                .is_some_and(|v| v.get("result").is_some());
            if initialized {
                if let Ok(v) = HeaderValue::from_str(&session.id) {
                    resp.headers_mut().insert(SESSION_HEADER, v);
                }
                bridge.http_sessions().insert(session.clone());
            } else {
                session.end("initialize failed").await;
            }
        }
        if one_request {
            session.end("stateless request done").await;
        }
        drop(guard);
        return resp;
    }
    if kind == Kind::NewSession {
        bridge.http_sessions().insert(session.clone());
    }
    // Progress or a server request came first: stream until the answer.
    let events = futures_util::stream::unfold(
        (Some(first), stream.rx, guard, false),
        move |(pending, mut rx, guard, finished)| async move {
            if finished {
                drop(guard);
                return None;
            }
            let event = match pending {
                Some(e) => e,
                None => rx.recv().await?,
            };
            let last = event.last;
            Some((
                Ok::<_, Infallible>(to_sse(&event, one_request)),
                (None, rx, guard, last),
            ))
        },
    );
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(SSE_KEEPALIVE))
        .into_response();
    // Reverse proxies (nginx) must not hold events back.
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    if kind == Kind::NewSession
        && let Ok(v) = HeaderValue::from_str(&session.id)
    {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// The HTTP status of a stateless request's answer, as that revision has it: an unknown
/// method is 404; a refused revision, a header mismatch, a missing envelope or capability 400;
/// anything else 200 (its JSON-RPC error, if any, is in the body).
fn stateless_status(answer: &str) -> StatusCode {
    let error = serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let code = error
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    let envelope = error
        .as_ref()
        .and_then(|e| e.get("data"))
        .and_then(|d| d.get("envelope"))
        .is_some();
    match code {
        Some(jsonrpc::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        Some(
            mcp::UNSUPPORTED_PROTOCOL_VERSION
            | mcp::HEADER_MISMATCH
            | mcp::MISSING_CLIENT_CAPABILITY,
        ) => StatusCode::BAD_REQUEST,
        Some(jsonrpc::INVALID_PARAMS) if envelope => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// An SSE event; a stateless stream has no event ids (that revision dropped resumption).
fn to_sse(event: &SseEvent, stateless: bool) -> Event {
    let e = Event::default().event("message").data(event.data.as_ref());
    if stateless {
        e
    } else {
        e.id(event.id.to_string())
    }
}

fn shutting_down() -> Response {
    rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        Value::Null,
        RpcError::new(jsonrpc::SERVER_UNREACHABLE, "bridgedock is shutting down"),
    )
}

/// `GET`: the session's stream for server→client messages.
pub async fn get(bridge: &Bridge, server: &str, headers: HeaderMap) -> Response {
    if bridge.router(server).is_none() {
        return bridge.unknown_server(server);
    }
    if modern_header(&headers) {
        return method_not_allowed();
    }
    if let Some(resp) = bad_protocol_header(&headers) {
        return resp;
    }
    let accepts_sse = header_str(&headers, header::ACCEPT.as_str())
        .is_some_and(|a| a.contains("text/event-stream") || a.contains("*/*"));
    if !accepts_sse {
        return (
            StatusCode::NOT_ACCEPTABLE,
            axum::Json(json!({"error": {"message": "GET /mcp/NAME opens an SSE stream (Accept: text/event-stream), or a WebSocket (Upgrade: websocket)"}})),
        )
            .into_response();
    }
    let Some(sid) = header_str(&headers, SESSION_HEADER) else {
        return bad_request("missing Mcp-Session-Id header: initialize with POST first");
    };
    let Some(session) = bridge.http_sessions().get(sid, server) else {
        return session_not_found(server);
    };
    let last = header_str(&headers, "last-event-id").and_then(|v| v.trim().parse::<u64>().ok());
    let rx = session.open_get(last);
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let e = rx.recv().await?;
        Some((Ok::<_, Infallible>(to_sse(&e, false)), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(SSE_KEEPALIVE))
        .into_response()
}

/// `DELETE`: ends the session.
pub async fn delete(bridge: &Bridge, server: &str, headers: HeaderMap) -> Response {
    if bridge.router(server).is_none() {
        return bridge.unknown_server(server);
    }
    if modern_header(&headers) {
        return method_not_allowed();
    }
    let Some(sid) = header_str(&headers, SESSION_HEADER) else {
        return bad_request("missing Mcp-Session-Id header");
    };
    match bridge.http_sessions().get(sid, server) {
        Some(session) => {
            bridge.http_sessions().remove(sid);
            session.end_by_client("ended by the client (DELETE)").await;
            StatusCode::OK.into_response()
        }
        None => session_not_found(server),
    }
}
