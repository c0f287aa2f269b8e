//! The control socket `bridgedockd ctl` talks to: newline-delimited JSON-RPC 2.0 over a unix
//! socket that only its owner may open (mode 0600 in a 0700 state dir — the file mode is the
//! authentication, so no token is needed here).
//!
//! A stale socket left by a crashed daemon is removed; a live one means another daemon runs
//! and we refuse to start. Under systemd-style socket activation (`LISTEN_PID` = our pid,
//! `LISTEN_FDS` ≥ 1) the inherited fd 3 is used and its file is left to whoever made it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::Framed;

use super::ctl_lines::{CtlLine, CtlLines};
use tokio_util::sync::CancellationToken;

use super::methods;
use crate::Engine;
use crate::logs::LogEvent;
use crate::protocol::jsonrpc::{self, INVALID_REQUEST, RpcError};

/// Longest request line accepted; longer lines get an error and are skipped.
pub const MAX_CTL_LINE_BYTES: usize = 1024 * 1024;
/// File name of the socket in the state dir.
pub const CTL_SOCKET_FILE: &str = "ctl.sock";

/// A bound control socket; removes its file when dropped (unless it was inherited).
pub struct CtlSocket {
    pub listener: UnixListener,
    path: Option<PathBuf>,
}

impl Drop for CtlSocket {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn default_path(state_dir: &Path) -> PathBuf {
    state_dir.join(CTL_SOCKET_FILE)
}

/// Binds the control socket at `path`, or takes the one handed over by socket activation.
pub fn bind(path: &Path) -> io::Result<CtlSocket> {
    if let Some(listener) = inherited_listener()? {
        return Ok(CtlSocket {
            listener,
            path: None,
        });
    }
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another bridgedockd is already running (its control socket {} answers); stop it with Ctrl-C or `kill`, or give this one its own --state-dir",
                        path.display()
                    ),
                ));
            }
            Err(_) => std::fs::remove_file(path)?,
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(CtlSocket {
        listener,
        path: Some(path.to_path_buf()),
    })
}

fn inherited_listener() -> io::Result<Option<UnixListener>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if !ours || count == 0 {
        return Ok(None);
    }
    use std::os::fd::FromRawFd;
    const SD_LISTEN_FDS_START: i32 = 3;
    // SAFETY: the service manager passed fd 3 as a listening socket for this pid (LISTEN_PID);
    // nothing else in this process owns it.
    let std_listener =
        unsafe { std::os::unix::net::UnixListener::from_raw_fd(SD_LISTEN_FDS_START) };
    std_listener.set_nonblocking(true)?;
    // Children must not inherit the activation variables.
    // SAFETY: called once at start-up before other threads read the environment.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    UnixListener::from_std(std_listener).map(Some)
}

/// Accepts connections until `shutdown`; each connection is served on its own task.
pub async fn serve(
    socket: CtlSocket,
    engine: Arc<Engine>,
    token: Arc<str>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, engine.clone(), token.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(socket);
}

async fn connection(
    stream: UnixStream,
    engine: Arc<Engine>,
    token: Arc<str>,
    shutdown: CancellationToken,
) {
    let mut framed = Framed::new(stream, line_codec());
    loop {
        let line = tokio::select! {
            _ = shutdown.cancelled() => return,
            line = framed.next() => line,
        };
        let reply = match line {
            None => return,
            Some(Ok(CtlLine::TooLong)) => Some(jsonrpc::error_response(
                Value::Null,
                RpcError::new(
                    INVALID_REQUEST,
                    format!("request line longer than {MAX_CTL_LINE_BYTES} bytes; it was skipped"),
                ),
            )),
            Some(Err(_)) => return,
            Some(Ok(CtlLine::Line(bytes))) => match std::str::from_utf8(&bytes) {
                Err(_) => Some(jsonrpc::error_response(
                    Value::Null,
                    RpcError::new(
                        jsonrpc::PARSE_ERROR,
                        "parse error: the line is not UTF-8; send JSON-RPC as UTF-8 text, one message per line",
                    ),
                )),
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => match jsonrpc::parse_request(line) {
                    Err((id, err)) => Some(jsonrpc::error_response(id, err)),
                    Ok(req) if req.method == "logs.follow" => {
                        follow_logs(&mut framed, &engine, req, &shutdown).await;
                        return;
                    }
                    Ok(req) if req.method == "client_config" => {
                        let result = methods::client_config(&engine, &token, &req.params);
                        req.id.map(|id| match result {
                            Ok(v) => jsonrpc::response(id, v),
                            Err(e) => jsonrpc::error_response(id, e),
                        })
                    }
                    Ok(req) => {
                        let result = methods::call(&engine, &req.method, &req.params).await;
                        req.id.map(|id| match result {
                            Ok(v) => jsonrpc::response(id, v),
                            Err(e) => jsonrpc::error_response(id, e),
                        })
                    }
                },
            },
        };
        if let Some(reply) = reply
            && framed.send(reply.to_string()).await.is_err()
        {
            return;
        }
    }
}

/// Newline-separated lines as bytes, so a line that is not UTF-8 can be answered rather than
/// ending the connection; over-long lines are skipped up to the next newline.
fn line_codec() -> CtlLines {
    CtlLines::new(MAX_CTL_LINE_BYTES)
}

/// Streams log lines as `log` notifications until the client hangs up. The reply to the
/// request comes first, carrying the backlog, so nothing between the two is lost.
async fn follow_logs(
    framed: &mut Framed<UnixStream, CtlLines>,
    engine: &Engine,
    req: jsonrpc::Request,
    shutdown: &CancellationToken,
) {
    let id = req.id.clone().unwrap_or(Value::Null);
    let query = match methods::parse_log_query(&req.params) {
        Ok(q) => q,
        Err(e) => {
            let _ = framed
                .send(jsonrpc::error_response(id, e).to_string())
                .await;
            return;
        }
    };
    if let Some(name) = &query.server
        && let Err(e) = engine.server(name)
        && name != crate::logs::BRIDGE_SOURCE
    {
        let _ = framed
            .send(jsonrpc::error_response(id, methods::control_error(e)).to_string())
            .await;
        return;
    }
    let mut sub = engine.logs().subscribe(query.filter(), query.since);
    let mut backlog = sub.take_backlog();
    if query.since.is_none() {
        let keep = query.limit.unwrap_or(methods::DEFAULT_LOG_LINES);
        let skip = backlog.len().saturating_sub(keep);
        backlog.drain(..skip);
    }
    let hello = jsonrpc::response(id, json!({ "following": true, "lines": backlog }));
    if framed.send(hello.to_string()).await.is_err() {
        return;
    }
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            incoming = framed.next() => match incoming {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            event = sub.next() => match event {
                Some(LogEvent::Line(line)) => jsonrpc::notification("log", &*line),
                Some(LogEvent::Missed { count }) => jsonrpc::notification("missed", json!({"count": count})),
                None => return,
            },
        };
        if framed.send(message.to_string()).await.is_err() {
            return;
        }
    }
}
