//! MCP over WebSocket: one JSON-RPC message per text frame, subprotocol `mcp` (or none).
//!
//! The connection task validates each frame (a bad one gets a JSON-RPC error and the socket
//! stays open), hands good ones to the router, and a writer task drains the session's
//! outbound queue. A ping every 15 s; two unanswered pings close the connection, and its
//! requests are cancelled at the server.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Error as WsError;

use super::outbound::{Outbound, Outgoing};
use super::router::{FastRequest, RouterHandle};
use crate::protocol::jsonrpc;

/// Largest message a client may send.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Each client's read buffer, allocated when it connects. tungstenite's 128 KiB default made
/// 200 connected clients cost 135 MiB at the peak of bench/load (84 MiB with 16 KiB) for no
/// gain in throughput on loopback; a larger message just takes more reads.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;
/// What is buffered of the answers to a client before it goes to the socket (a flush sends
/// it anyway, see [`WRITE_BATCH_FRAMES`]).
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Most frames written before a flush when a burst is queued.
const WRITE_BATCH_FRAMES: usize = 64;
/// Why a connection ended when the client closed it itself (a close frame).
const CLOSED_BY_CLIENT: &str = "closed by the client";
/// Unanswered pings before the peer counts as gone.
pub const MISSED_PONGS_LIMIT: u32 = 2;

pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_UNSUPPORTED: u16 = 1003;
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

#[derive(Debug, Clone)]
pub struct WsOptions {
    pub ping_interval: Duration,
    pub missed_pongs_limit: u32,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            ping_interval: PING_INTERVAL,
            missed_pongs_limit: MISSED_PONGS_LIMIT,
        }
    }
}

impl WsOptions {
    /// The defaults, with `BRIDGEDOCK_WS_PING_INTERVAL_MS` honoured: tests of the heartbeat
    /// inject a short interval this way instead of waiting 30 s.
    pub fn from_env() -> Self {
        let mut options = WsOptions::default();
        if let Some(ms) = std::env::var("BRIDGEDOCK_WS_PING_INTERVAL_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
        {
            options.ping_interval = Duration::from_millis(ms);
        }
        options
    }
}

/// Serves one client connection until it closes.
pub async fn serve_client(
    socket: WebSocket,
    router: RouterHandle,
    peer: String,
    options: WsOptions,
) {
    let (out, mut queue) = Outbound::new(router.outbound_cap_bytes);
    let (mut sink, mut stream) = socket.split();
    let Some(session) = router.attach(out.clone(), "websocket", peer).await else {
        let _ = sink
            .send(close(CLOSE_GOING_AWAY, "bridgedock is shutting down"))
            .await;
        return;
    };
    let writer = tokio::spawn(async move {
        // Everything already queued goes out in one flush: a burst costs one write, not many.
        'outer: while let Some(mut item) = queue.recv().await {
            let mut batched = 0;
            loop {
                let frame = match item {
                    Outgoing::Text(text) => Message::Text(text.into()),
                    Outgoing::Ping => Message::Ping(Vec::new().into()),
                    Outgoing::Close { code, reason } => {
                        let _ = sink.send(close(code, &reason)).await;
                        break 'outer;
                    }
                };
                if sink.feed(frame).await.is_err() {
                    break 'outer;
                }
                batched += 1;
                match queue.try_recv() {
                    Some(next) if batched < WRITE_BATCH_FRAMES => item = next,
                    Some(next) => {
                        if sink.flush().await.is_err() {
                            break 'outer;
                        }
                        batched = 0;
                        item = next;
                    }
                    None => break,
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
    });

    let mut ping = tokio::time::interval(options.ping_interval);
    // Delay, never Burst: after a pause (SIGSTOP, a suspend) missed ticks would fire back to
    // back, counting pings the client had no time to answer, and close a healthy client.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut unanswered = 0u32;
    let reason = loop {
        tokio::select! {
            frame = stream.next() => match frame {
                None => break "closed".to_string(),
                Some(Ok(Message::Text(text))) => {
                    let delivered = match FastRequest::read(text.as_str()) {
                        Some(request) => router.forward(session, request).await,
                        None => match jsonrpc::parse_message(text.as_str()) {
                            Ok(msg) => router.message(session, msg, text.len()).await,
                            Err((id, error)) => {
                                out.force_send(jsonrpc::error_response(id, error).to_string());
                                true
                            }
                        },
                    };
                    if !delivered {
                        out.close(CLOSE_GOING_AWAY, "bridgedock is shutting down");
                        break "shutdown".into();
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    out.close(CLOSE_UNSUPPORTED, "binary frames are not supported: send each JSON-RPC message as a text frame");
                    break "sent a binary frame".into();
                }
                Some(Ok(Message::Pong(_))) => unanswered = 0,
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Close(_))) => break CLOSED_BY_CLIENT.into(),
                Some(Err(e)) => {
                    let text = e.to_string();
                    // Classified by the WebSocket library's own error (axum's wraps it).
                    match e.into_inner().downcast::<WsError>().map(|e| *e) {
                        Ok(WsError::Utf8(_)) => {
                            out.close(CLOSE_INVALID_PAYLOAD, "text frames must be valid UTF-8");
                            break "sent a text frame that is not UTF-8".into();
                        }
                        Ok(WsError::Capacity(_)) => {
                            out.close(CLOSE_TOO_BIG, format!("message too big: the limit is {} MiB per message", MAX_FRAME_BYTES / (1024 * 1024)));
                            break "sent a message over the size limit".into();
                        }
                        _ => break format!("connection error: {text}"),
                    }
                }
            },
            _ = ping.tick() => {
                if unanswered >= options.missed_pongs_limit {
                    out.close(CLOSE_GOING_AWAY, format!("no answer to {unanswered} pings"));
                    break format!("missed {unanswered} pongs");
                }
                unanswered += 1;
                out.ping();
            }
        }
    };
    if reason == CLOSED_BY_CLIENT {
        // It said goodbye: back later, it is a new session, not a reconnect.
        router.end(session, reason).await;
    } else {
        router.detach(session, reason).await;
    }
    out.close(CLOSE_NORMAL, "");
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

fn close(code: u16, reason: &str) -> Message {
    // Close reasons are limited to 123 bytes by the protocol.
    let mut reason = reason.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
