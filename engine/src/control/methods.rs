//! The control methods, in one place, for every face that speaks JSON-RPC (`ctl` today):
//! parse params, call the engine, map its errors to JSON-RPC codes.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::Engine;
use crate::logs::{LogFilter, Stream};
use crate::protocol::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, SERVER_UNREACHABLE};
use crate::status::ServerStatus;
use crate::supervisor::{Action, ControlError};

/// Most log lines one `logs` call returns.
pub const MAX_LOG_LINES_PER_CALL: usize = 10_000;
pub const DEFAULT_LOG_LINES: usize = 200;
/// How long `ctl start`/`restart` waits for the server to answer its handshake before it
/// prints the state as it is then (a terminal shows no live state; the dock does).
pub const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

pub const METHODS: &[&str] = &[
    "ping",
    "status",
    "start",
    "stop",
    "restart",
    "restart_all",
    "logs",
    "logs.follow",
    "client_config",
];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    pub server: Option<String>,
    pub stream: Option<Stream>,
    pub since: Option<u64>,
    pub limit: Option<usize>,
}

impl LogQuery {
    pub fn filter(&self) -> LogFilter {
        LogFilter {
            server: self.server.clone(),
            stream: self.stream,
        }
    }
}

pub fn control_error(err: ControlError) -> RpcError {
    match err {
        e @ ControlError::UnknownServer { .. } => RpcError::new(INVALID_PARAMS, e.to_string()),
        e @ ControlError::ShuttingDown(_) => RpcError::new(SERVER_UNREACHABLE, e.to_string()),
    }
}

fn server_name(method: &str, params: &Value) -> Result<String, RpcError> {
    let name = match params {
        Value::Object(o) => o.get("name").and_then(Value::as_str),
        Value::Array(a) => a.first().and_then(Value::as_str),
        _ => None,
    };
    name.map(str::to_string).ok_or_else(|| {
        RpcError::new(
            INVALID_PARAMS,
            format!("`{method}` needs the server's name: {{\"name\": \"SERVER\"}}"),
        )
    })
}

pub fn parse_log_query(params: &Value) -> Result<LogQuery, RpcError> {
    match params {
        Value::Array(a) if a.is_empty() => Ok(LogQuery::default()),
        Value::Object(o) if o.is_empty() => Ok(LogQuery::default()),
        other => serde_json::from_value(other.clone()).map_err(|e| {
            RpcError::new(
                INVALID_PARAMS,
                format!("bad log query ({e}); fields: server, stream (stdout|stderr|bridge), since, limit"),
            )
        }),
    }
}

/// `client_config {name, client}`: what to paste into an AI client to reach `name`.
pub fn client_config(engine: &Engine, token: &str, params: &Value) -> Result<Value, RpcError> {
    let name = server_name("client_config", params)?;
    engine.server(&name).map_err(control_error)?;
    let client = params
        .get("client")
        .and_then(Value::as_str)
        .unwrap_or("claude-code");
    let address = engine.snapshot().bridge.address;
    let text = super::client_setup::snippet(client, &name, &address, token).ok_or_else(|| {
        RpcError::new(
            INVALID_PARAMS,
            format!(
                "unknown client `{client}`; bridgedock can set up: {}",
                super::client_setup::CLIENTS.join(", ")
            ),
        )
    })?;
    Ok(
        json!({ "client": client, "server": name, "url": super::client_setup::http_url(&address, &name), "text": text }),
    )
}

/// Answers every method except the streaming `logs.follow`, which the socket handles itself.
pub async fn call(engine: &Engine, method: &str, params: &Value) -> Result<Value, RpcError> {
    let action = match method {
        "ping" => return Ok(json!({})),
        "status" => return Ok(json!(engine.snapshot())),
        "restart_all" => {
            let results = engine.restart_all().await;
            let servers: Vec<Value> = results
                .into_iter()
                .map(|r| {
                    r.map(|s| json!(s))
                        .unwrap_or_else(|e| json!({"error": e.to_string()}))
                })
                .collect();
            return Ok(json!({ "servers": servers }));
        }
        "logs" => {
            let q = parse_log_query(params)?;
            let limit = q
                .limit
                .unwrap_or(DEFAULT_LOG_LINES)
                .min(MAX_LOG_LINES_PER_CALL);
            let lines = engine.logs().lines(&q.filter(), q.since, limit);
            return Ok(json!({ "lines": lines, "last_seq": engine.logs().last_seq() }));
        }
        other => match other.parse::<Action>() {
            Ok(action) => action,
            Err(_) => {
                return Err(RpcError::new(
                    METHOD_NOT_FOUND,
                    format!("unknown method `{other}`; methods: {}", METHODS.join(", ")),
                ));
            }
        },
    };
    let name = server_name(method, params)?;
    let handle = engine.server(&name).map_err(control_error)?;
    let status = handle.send(action).await.map_err(control_error)?;
    if action == Action::Stop {
        return Ok(json!(status));
    }
    Ok(json!(settled(engine, status).await))
}

/// A server just started: its status once it has answered the handshake (or refused it, or
/// crashed), or as it is after [`READY_WAIT`].
async fn settled(engine: &Engine, status: ServerStatus) -> ServerStatus {
    use crate::status::{ServerState, StatusChange};
    let starting = |s: &ServerStatus| matches!(s.state, ServerState::Starting { .. });
    if !starting(&status) {
        return status;
    }
    let mut sub = engine.status().subscribe();
    let mut latest = sub
        .snapshot
        .servers
        .iter()
        .find(|s| s.name == status.name)
        .cloned()
        .unwrap_or(status);
    let deadline = tokio::time::Instant::now() + READY_WAIT;
    while starting(&latest) {
        match tokio::time::timeout_at(deadline, sub.changes.recv()).await {
            Ok(Ok(change)) => {
                if let StatusChange::Server { server, .. } = &*change
                    && server.name == latest.name
                {
                    latest = (**server).clone();
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                if let Some(s) = engine.status().server(&latest.name) {
                    latest = s;
                }
            }
            Ok(Err(_)) | Err(_) => break,
        }
    }
    latest
}
