//! The HTTP/WebSocket API on loopback, for the dock (in a browser or the desktop app):
//!
//! - `GET /healthz` — liveness, no token;
//! - `GET /api/status` — the snapshot;
//! - `WS /api/events?since=SEQ&server=NAME` — status changes and log lines (see [`super::events`]);
//! - `POST /api/servers/{name}/start|stop|restart`, `POST /api/restart-all`;
//! - `GET /api/logs?server=&stream=&since=&limit=`;
//! - `/` — the dock's built files, when they are installed.
//!
//! Every request passes the `Origin` check of its door (see [`super::access`]): the MCP
//! endpoints also let in the config's `allowed_origins`, the rest only the dock. Everything
//! under `/api` and `/mcp` needs the token.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::access::{self, Access, Door};
use super::methods::{self, DEFAULT_LOG_LINES, MAX_LOG_LINES_PER_CALL};
use crate::Engine;
use crate::logs::{LogFilter, Stream};
use crate::supervisor::{Action, ControlError};

#[derive(Clone)]
pub struct ApiState {
    pub engine: Arc<Engine>,
    pub access: Arc<Access>,
    pub dock_dir: Option<PathBuf>,
    pub shutdown: CancellationToken,
}

pub fn router(mut state: ApiState) -> Router {
    // The config's `allowed_origins` open the MCP door; the engine holds the config in use.
    state.access = Arc::new(
        state
            .access
            .as_ref()
            .clone()
            .with_config(state.engine.config()),
    );
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/logs", get(logs))
        .route("/api/servers/{name}/{action}", post(server_action))
        .route("/api/restart-all", post(restart_all))
        .route("/api/servers/{name}/client-config", get(client_config))
        .route(
            "/mcp/{server}",
            get(mcp_get).post(mcp_post).delete(mcp_delete),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .fallback(get(dock_file))
        .layer(middleware::from_fn_with_state(state.clone(), check_origin))
        .with_state(state)
}

/// Serves the API on an already bound listener until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: ApiState) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let shutdown = state.shutdown.clone();
    // Small JSON-RPC answers must not wait for Nagle's algorithm (and the peer's delayed ACK).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message.into()}})),
    )
        .into_response()
}

async fn check_origin(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let door = Door::of(req.uri().path());
    let checked = state
        .access
        .check_host(req.headers())
        .and_then(|()| state.access.check_origin(req.headers(), door));
    if let Err(denied) = checked {
        return refusal(denied);
    }
    // The origin is allowed. The app's webview (tauri://localhost) and browser-based MCP
    // clients are other origins than the API they call, so the browser wants CORS: answer its
    // preflight here (before routing, which knows no OPTIONS) and let it read every answer.
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == axum::http::Method::OPTIONS && origin.is_some() {
        let requested = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok());
        let mut response = StatusCode::NO_CONTENT.into_response();
        add_cors(response.headers_mut(), origin, requested);
        return response;
    }
    let mut response = next.run(req).await;
    add_cors(response.headers_mut(), origin, None);
    response
}

fn add_cors(headers: &mut HeaderMap, origin: Option<HeaderValue>, requested: Option<&str>) {
    let Some(origin) = origin else { return };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    let allowed = HeaderValue::from_str(&access::allow_headers(requested))
        .unwrap_or(HeaderValue::from_static(access::ALLOWED_REQUEST_HEADERS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(access::EXPOSED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// A refused request gets a JSON-RPC error body: MCP clients read it as one, and the dock
/// reads its `error.message` like any other API error.
fn refusal(denied: super::access::Denied) -> Response {
    let body = crate::protocol::jsonrpc::error_response(
        serde_json::Value::Null,
        crate::protocol::jsonrpc::RpcError::new(
            crate::protocol::jsonrpc::BRIDGE_INTERNAL,
            denied.message(),
        ),
    );
    (denied.status(), axum::Json(body)).into_response()
}

async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    match state.access.check_token(req.headers(), req.uri().query()) {
        Ok(()) => next.run(req).await,
        Err(denied) => refusal(denied),
    }
}

async fn healthz(State(state): State<ApiState>) -> Response {
    let snap = state.engine.snapshot();
    axum::Json(json!({"ok": true, "version": snap.bridge.version, "pid": snap.bridge.pid}))
        .into_response()
}

async fn status(State(state): State<ApiState>) -> Response {
    axum::Json(state.engine.snapshot()).into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    since: Option<u64>,
    server: Option<String>,
}

async fn events(
    State(state): State<ApiState>,
    Query(q): Query<EventsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let filter = LogFilter {
        server: q.server,
        stream: None,
    };
    ws.on_upgrade(move |socket| {
        super::events::follow(socket, state.engine, filter, q.since, state.shutdown)
    })
}

#[derive(Deserialize)]
struct LogsQuery {
    server: Option<String>,
    stream: Option<Stream>,
    since: Option<u64>,
    limit: Option<usize>,
}

async fn logs(State(state): State<ApiState>, Query(q): Query<LogsQuery>) -> Response {
    let filter = LogFilter {
        server: q.server,
        stream: q.stream,
    };
    let limit = q
        .limit
        .unwrap_or(DEFAULT_LOG_LINES)
        .min(MAX_LOG_LINES_PER_CALL);
    let lines = state.engine.logs().lines(&filter, q.since, limit);
    axum::Json(json!({"lines": lines, "last_seq": state.engine.logs().last_seq()})).into_response()
}

async fn server_action(
    State(state): State<ApiState>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let action = match action.parse::<Action>() {
        Ok(action) => action,
        Err(unknown) => return error(StatusCode::NOT_FOUND, unknown.to_string()),
    };
    let handle = match state.engine.server(&name) {
        Ok(h) => h,
        Err(e) => return error(StatusCode::NOT_FOUND, e.to_string()),
    };
    match handle.send(action).await {
        Ok(server) => axum::Json(json!({"server": server})).into_response(),
        Err(e @ ControlError::ShuttingDown(_)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

/// `GET /mcp/{server}`: a WebSocket upgrade joins the bridge over WebSocket; otherwise it is
/// the Streamable HTTP stream of a session. Unknown servers get 404 before any upgrade.
async fn mcp_get(
    State(state): State<ApiState>,
    Path(server): Path<String>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let bridge = state.engine.bridge();
    let Some(router) = bridge.router(&server).cloned() else {
        let scheme = if ws.is_ok() { "ws" } else { "http" };
        let base = base_url(&state, &headers, scheme);
        return bridge.unknown_server_at(&server, serde_json::Value::Null, base.as_deref());
    };
    let Ok(ws) = ws else {
        return crate::bridge::http::get(bridge, &server, headers).await;
    };
    ws.protocols(["mcp"])
        .max_message_size(crate::bridge::ws::MAX_FRAME_BYTES)
        .max_frame_size(crate::bridge::ws::MAX_FRAME_BYTES)
        .read_buffer_size(crate::bridge::ws::READ_BUFFER_BYTES)
        .write_buffer_size(crate::bridge::ws::WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            crate::bridge::ws::serve_client(
                socket,
                router,
                peer.to_string(),
                crate::bridge::ws::WsOptions::from_env(),
            )
        })
}

/// `POST /mcp/{server}`: Streamable HTTP.
async fn mcp_post(
    State(state): State<ApiState>,
    Path(server): Path<String>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let bridge = state.engine.bridge();
    if bridge.router(&server).is_none() {
        // Answered with the request's id, so an SDK pairs the error with what it sent.
        let id = axum::body::to_bytes(body, crate::bridge::http::MAX_BODY_BYTES)
            .await
            .map(|bytes| request_id(&bytes))
            .unwrap_or(serde_json::Value::Null);
        let base = base_url(&state, &headers, "http");
        return bridge.unknown_server_at(&server, id, base.as_deref());
    }
    crate::bridge::http::post(
        state.engine.bridge(),
        &server,
        peer.to_string(),
        headers,
        body,
    )
    .await
}

/// `DELETE /mcp/{server}`: ends a Streamable HTTP session.
async fn mcp_delete(
    State(state): State<ApiState>,
    Path(server): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let bridge = state.engine.bridge();
    if bridge.router(&server).is_none() {
        let base = base_url(&state, &headers, "http");
        return bridge.unknown_server_at(&server, serde_json::Value::Null, base.as_deref());
    }
    crate::bridge::http::delete(bridge, &server, headers).await
}

/// The id of a JSON-RPC request (not a notification, not an answer), else null.
fn request_id(body: &[u8]) -> serde_json::Value {
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| crate::protocol::jsonrpc::parse_message(text).ok())
        .filter(|msg| msg.get("method").is_some_and(serde_json::Value::is_string))
        .and_then(|mut msg| msg.remove("id"))
        .unwrap_or(serde_json::Value::Null)
}

/// `scheme://HOST:PORT` of this bridgedock, for messages that say which URL to use: the
/// address it listens on, else the `Host` the client addressed (already checked).
fn base_url(state: &ApiState, headers: &HeaderMap, scheme: &str) -> Option<String> {
    let address = state.engine.snapshot().bridge.address;
    let host = if address.is_empty() {
        headers.get(header::HOST)?.to_str().ok()?.to_owned()
    } else {
        address
    };
    Some(format!("{scheme}://{host}"))
}

#[derive(Deserialize)]
struct ClientConfigQuery {
    client: Option<String>,
}

/// `GET /api/servers/{name}/client-config?client=claude-code|cursor|vscode|claude-desktop`
async fn client_config(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<ClientConfigQuery>,
) -> Response {
    let params = json!({"name": name, "client": q.client});
    match methods::client_config(&state.engine, &state.access.token, &params) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e.message),
    }
}

async fn restart_all(State(state): State<ApiState>) -> Response {
    match methods::call(&state.engine, "restart_all", &json!({})).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.message),
    }
}

/// The dock's files; without a built dock, a short page that says where things are.
async fn dock_file(State(state): State<ApiState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let Some(dir) = state
        .dock_dir
        .as_ref()
        .filter(|d| d.join("index.html").is_file())
    else {
        if path.is_empty() || path == "index.html" {
            return (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                NO_DOCK_PAGE,
            )
                .into_response();
        }
        return error(StatusCode::NOT_FOUND, format!("no such page: /{path}"));
    };
    let rel = if path.is_empty() { "index.html" } else { path };
    if rel
        .split('/')
        .any(|part| part == ".." || part.starts_with('.'))
    {
        return error(StatusCode::NOT_FOUND, format!("no such file: /{rel}"));
    }
    let file = dir.join(rel);
    let file = if file.is_file() {
        file
    } else {
        dir.join("index.html")
    };
    match tokio::fs::read(&file).await {
        Ok(body) => {
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&file)),
            );
            resp
        }
        Err(e) => error(StatusCode::NOT_FOUND, format!("cannot read /{rel}: {e}")),
    }
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

const NO_DOCK_PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>bridgedock</title>
<body style="font-family:system-ui;max-width:40em;margin:3em auto;line-height:1.5">
<h1>bridgedock is running</h1>
<p>The dock's web files are not installed next to this <code>bridgedockd</code>.
The API works: <code>GET /api/status</code>, <code>WS /api/events</code> (token required),
and <code>bridgedockd ctl status</code> in a terminal.</p></body>"#;
