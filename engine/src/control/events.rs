//! The event stream a dock follows over WebSocket: a snapshot first, then the log backlog the
//! client asked for, then every status change and log line as it happens.
//!
//! Messages (one JSON object per text frame):
//! `{"type":"snapshot","status":{…},"log_seq":N}` — full status; sent again after falling behind;
//! `{"type":"logs","lines":[…]}` — backlog, in chunks;
//! `{"type":"server"|"bridge"|"client"|"client-gone", …}` — one status change;
//! `{"type":"log","line":{…}}` — one live log line;
//! `{"type":"missed","count":N}` — this client was too slow and N log lines were skipped.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::logs::{LogEvent, LogFilter};

/// Backlog lines per `logs` message.
const BACKLOG_CHUNK_LINES: usize = 500;

pub async fn follow(
    mut socket: WebSocket,
    engine: Arc<Engine>,
    filter: LogFilter,
    since: Option<u64>,
    shutdown: CancellationToken,
) {
    let mut status = engine.status().subscribe();
    let mut logs = engine.logs().subscribe(filter, since);
    let hello =
        json!({"type": "snapshot", "status": status.snapshot, "log_seq": engine.logs().last_seq()});
    if send(&mut socket, &hello).await.is_err() {
        return;
    }
    for chunk in logs.take_backlog().chunks(BACKLOG_CHUNK_LINES) {
        if send(&mut socket, &json!({"type": "logs", "lines": chunk}))
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            incoming = socket.recv() => match incoming {
                // The dock only listens; anything it sends is ignored, a close ends the stream.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            change = status.changes.recv() => match change {
                Ok(change) => json!(*change),
                Err(RecvError::Lagged(_)) => {
                    status = engine.status().subscribe();
                    json!({"type": "snapshot", "status": status.snapshot, "log_seq": engine.logs().last_seq()})
                }
                Err(RecvError::Closed) => break,
            },
            event = logs.next() => match event {
                Some(LogEvent::Line(line)) => json!({"type": "log", "line": line}),
                Some(LogEvent::Missed { count }) => json!({"type": "missed", "count": count}),
                None => break,
            },
        };
        if send(&mut socket, &message).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

async fn send(socket: &mut WebSocket, value: &serde_json::Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(value.to_string().into())).await
}
