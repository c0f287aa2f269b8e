//! The editor WebSocket relay. To the Godot plugin bridgedock is godot-ai: it completes the
//! plugin's handshake itself (it holds the editor capability godot-ai was started with). To
//! godot-ai it is that editor: it connects with a handshake of its own carrying the editor's
//! identity, and relays commands, replies and events between them.
//!
//! When godot-ai goes away (restart, crash) the editor's socket stays open. bridgedock
//! reconnects upstream on the plugin's own schedule, which is bridgedock's ([`crate::backoff`]:
//! 1, 2, 4, 8, 16, 30, 60 s) — and at once when its prober sees the new godot-ai answer — with
//! a fresh socket each time, logging the first 5 attempts and then every 10th, behind a
//! circuit breaker;
//! once back it replays the handshake and the editor's last scene and play state. Replies the
//! editor sends for commands of the godot-ai that went away are dropped (nobody waits for them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::GodotAi;
use super::breaker::Circuit;
use super::plugin_frames::{Traffic, new_session};
use super::proof::{self, EditorIdentity, WS_PROTOCOL_VERSION};
use crate::backoff;
use crate::status::now_ms;

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HANDSHAKE_FRAME: usize = 8 * 1024;
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
const CLOSE_DUPLICATE: u16 = 4001;
const CLOSE_PROTOCOL: u16 = 4002;
const CLOSE_AUTH: u16 = 4003;

type EditorWs = tokio_tungstenite::WebSocketStream<TcpStream>;
type UpstreamWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Editor connections held at once (godot-ai's own ceiling is 32); more are refused at accept.
pub const MAX_CONNECTIONS: usize = 32;

pub async fn accept_loop(ai: Arc<GodotAi>, listener: TcpListener) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = ai.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(
                        "{}: refused an editor connection from {peer}: {MAX_CONNECTIONS} are open already",
                        ai.plan.name
                    );
                    continue;
                };
                let ai = ai.clone();
                let id = NEXT.fetch_add(1, Ordering::Relaxed);
                let tasks = ai.tasks.clone();
                tasks.spawn(async move {
                    serve_editor(ai, stream, id).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!("godot-ai relay: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Browsers send an Origin; the plugin does not. A page must not reach the editor bridge.
/// (The error type is tungstenite's.)
#[allow(clippy::result_large_err)]
fn check_upgrade(req: &Request, res: Response) -> Result<Response, ErrorResponse> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host_ok =
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]");
    if req.headers().contains_key("origin") || !host_ok {
        let mut refusal = ErrorResponse::new(Some(
            "the godot-ai editor port accepts the Godot plugin only (no browser origins, loopback hosts)".into(),
        ));
        *refusal.status_mut() = axum::http::StatusCode::FORBIDDEN;
        return Err(refusal);
    }
    Ok(res)
}

async fn close(ws: &mut EditorWs, code: u16, reason: &str) {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        })))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// The next text frame as a JSON object, within `deadline`.
async fn recv_object<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    deadline: Instant,
) -> Result<serde_json::Map<String, Value>, (u16, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return Err((1008, "v4 editor handshake timed out".into())),
            Ok(None) => return Err((1006, "the connection closed during the handshake".into())),
            Ok(Some(Err(e))) => {
                return Err((
                    1006,
                    format!("the connection failed during the handshake: {e}"),
                ));
            }
            Ok(Some(Ok(m))) => m,
        };
        match frame {
            Message::Text(t) => {
                if t.len() > MAX_HANDSHAKE_FRAME {
                    return Err((1009, "v4 editor handshake frame too large".into()));
                }
                return match serde_json::from_str::<Value>(&t) {
                    Ok(Value::Object(o)) => Ok(o),
                    _ => Err((1008, "invalid v4 editor handshake JSON".into())),
                };
            }
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err((code, reason));
            }
            Message::Binary(_) => {
                return Err((1008, "v4 editor handshake requires text JSON".into()));
            }
            _ => continue,
        }
    }
}

fn str_field<'a>(o: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The editor's side of the handshake, with bridgedock as the server. Returns the editor's
/// identity, or closes the socket with godot-ai's close code and says why.
async fn editor_handshake(ai: &GodotAi, ws: &mut EditorWs) -> Option<EditorIdentity> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let outcome = async {
        let hello = recv_object(ws, deadline).await?;
        if hello.get("protocol_version").and_then(Value::as_u64) != Some(WS_PROTOCOL_VERSION) {
            return Err((CLOSE_PROTOCOL, format!("Godot AI v4 WebSocket protocol {WS_PROTOCOL_VERSION} required")));
        }
        let client_nonce = match (str_field(&hello, "type"), str_field(&hello, "client_nonce")) {
            (Some("auth_hello"), Some(n)) if is_hex64(n) => n.to_owned(),
            (Some("auth_hello"), _) => return Err((1008, "invalid v4 auth_hello".into())),
            _ => return Err((CLOSE_PROTOCOL, "Godot AI v4 expected auth_hello".into())),
        };
        let server_nonce = proof::random_hex32();
        let server_version = ai.live_version().unwrap_or_else(|| ai.plan.version.clone());
        let challenge = json!({
            "type": "auth_challenge",
            "protocol_version": WS_PROTOCOL_VERSION,
            "client_nonce": client_nonce,
            "server_nonce": server_nonce,
            "server_version": server_version,
            "server_proof": proof::server_proof(&ai.plan.caps.websocket, &client_nonce, &server_nonce, &server_version),
        });
        ws.send(Message::text(challenge.to_string()))
            .await
            .map_err(|e| (1006, e.to_string()))?;
        let resp = recv_object(ws, deadline).await?;
        if str_field(&resp, "type") != Some("auth_response") {
            return Err((CLOSE_PROTOCOL, "Godot AI v4 expected auth_response".into()));
        }
        let identity: EditorIdentity = serde_json::from_value(Value::Object(resp.clone()))
            .map_err(|_| (1008, "invalid v4 auth_response".to_owned()))?;
        if str_field(&resp, "client_nonce") != Some(client_nonce.as_str())
            || str_field(&resp, "server_nonce") != Some(server_nonce.as_str())
        {
            return Err((CLOSE_AUTH, "v4 handshake nonce mismatch".into()));
        }
        let expected = proof::client_proof(&ai.plan.caps.websocket, &client_nonce, &server_nonce, &server_version, &identity);
        if !proof::proofs_equal(str_field(&resp, "client_proof").unwrap_or(""), &expected) {
            return Err((CLOSE_AUTH, "v4 editor proof failed".into()));
        }
        if !proof::supports_v4_editor(&identity.godot_version) {
            return Err((CLOSE_PROTOCOL, "Godot 4.7 or newer within the 4.x line is required by the v4 editor protocol".into()));
        }
        if ai.session_taken(&identity.session_id) {
            return Err((CLOSE_DUPLICATE, "session id already registered".into()));
        }
        ws.send(Message::text(
            json!({"type": "handshake_ack", "protocol_version": WS_PROTOCOL_VERSION, "server_version": server_version}).to_string(),
        ))
        .await
        .map_err(|e| (1006, e.to_string()))?;
        Ok(identity)
    }
    .await;
    match outcome {
        Ok(identity) => Some(identity),
        Err((code, reason)) => {
            match code {
                CLOSE_AUTH => ai.diagnose(
                    "token-mismatch",
                    format!("a Godot editor failed the handshake: {reason}"),
                    format!("the plugin used a capability other than the one bridgedock publishes in {}; restart the plugin (Project → Reload) so it reads the record again", ai.plan.public_record().display()),
                ),
                CLOSE_DUPLICATE => ai.diagnose(
                    "duplicate-session",
                    "two Godot editors announced the same session id; the second was refused (close code 4001)".to_string(),
                    "close the duplicate editor of the same project, or reload the plugin so it makes a new session id",
                ),
                1008 if reason.contains("timed out") => ai.diagnose(
                    "handshake-timeout",
                    "a client connected to the editor port but did not finish the handshake within 5 s".to_string(),
                    "check that the Godot plugin's version speaks godot-ai's v4 protocol (plugin 4.x)",
                ),
                _ => {}
            }
            tracing::warn!(
                "{}: refused an editor connection: {reason} (close code {code})",
                ai.plan.name
            );
            if code != 1006 {
                close(ws, code, &reason).await;
            }
            None
        }
    }
}

/// bridgedock's handshake to godot-ai, as the editor `identity`.
async fn upstream_handshake(
    ai: &GodotAi,
    identity: &EditorIdentity,
) -> Result<UpstreamWs, (u16, String)> {
    let url = format!("ws://127.0.0.1:{}", ai.plan.backend_ws_port);
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let connect = tokio_tungstenite::connect_async_with_config(
        url.as_str(),
        Some(ws_config(MAX_MESSAGE)),
        true,
    );
    let (mut ws, _) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Err(_) => return Err((1008, "no answer to the connection within 5 s".into())),
        Ok(Err(e)) => {
            return Err((
                1006,
                format!(
                    "cannot connect to godot-ai's editor port {}: {e}",
                    ai.plan.backend_ws_port
                ),
            ));
        }
        Ok(Ok(c)) => c,
    };
    let client_nonce = proof::random_hex32();
    ws.send(Message::text(json!({"type": "auth_hello", "protocol_version": WS_PROTOCOL_VERSION, "client_nonce": client_nonce}).to_string()))
        .await
        .map_err(|e| (1006, e.to_string()))?;
    let challenge = recv_object(&mut ws, deadline).await?;
    let server_nonce = str_field(&challenge, "server_nonce")
        .unwrap_or("")
        .to_owned();
    let server_version = str_field(&challenge, "server_version")
        .unwrap_or("")
        .to_owned();
    let expected = proof::server_proof(
        &ai.plan.caps.websocket,
        &client_nonce,
        &server_nonce,
        &server_version,
    );
    if !proof::proofs_equal(
        str_field(&challenge, "server_proof").unwrap_or(""),
        &expected,
    ) {
        return Err((
            CLOSE_AUTH,
            "godot-ai's server proof does not match bridgedock's capability".into(),
        ));
    }
    let mut response = serde_json::to_value(identity).unwrap_or_default();
    if let Some(o) = response.as_object_mut() {
        o.insert("type".into(), "auth_response".into());
        o.insert("protocol_version".into(), WS_PROTOCOL_VERSION.into());
        o.insert("client_nonce".into(), client_nonce.clone().into());
        o.insert("server_nonce".into(), server_nonce.clone().into());
        o.insert(
            "client_proof".into(),
            proof::client_proof(
                &ai.plan.caps.websocket,
                &client_nonce,
                &server_nonce,
                &server_version,
                identity,
            )
            .into(),
        );
    }
    ws.send(Message::text(response.to_string()))
        .await
        .map_err(|e| (1006, e.to_string()))?;
    let ack = recv_object(&mut ws, deadline).await?;
    if str_field(&ack, "type") != Some("handshake_ack") {
        return Err((
            CLOSE_PROTOCOL,
            "godot-ai did not acknowledge the handshake".into(),
        ));
    }
    Ok(ws)
}

struct Link {
    ws: Option<UpstreamWs>,
    /// The circuit breaker toward godot-ai's editor WebSocket, for this editor's link.
    breaker: super::breaker::Breaker,
    /// Failed attempts since godot-ai went away.
    attempts: u32,
    next_at: Option<tokio::time::Instant>,
    lost_at: Option<Instant>,
    ever_connected: bool,
}

async fn serve_editor(ai: Arc<GodotAi>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let Ok(mut editor) = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check_upgrade,
        Some(ws_config(MAX_MESSAGE)),
    )
    .await
    else {
        return;
    };
    let Some(mut identity) = editor_handshake(&ai, &mut editor).await else {
        return;
    };
    ai.clear_diagnosis("token-mismatch");
    let name = ai.plan.name.clone();
    tracing::info!(
        "{name}: Godot editor connected: {} (Godot {}, plugin {}, {})",
        identity.session_id,
        identity.godot_version,
        identity.plugin_version,
        identity.project_path
    );
    let now = now_ms();
    ai.put_editor(id, new_session(&identity, now));
    let mut link = Link {
        ws: None,
        breaker: super::breaker::Breaker::default(),
        attempts: 0,
        next_at: Some(tokio::time::Instant::now()),
        lost_at: None,
        ever_connected: false,
    };
    let mut traffic = Traffic::default();
    let mut instances = ai.instances();
    instances.mark_unchanged();
    loop {
        let wake = link.next_at;
        let waiting = link.ws.is_none();
        tokio::select! {
            _ = ai.shutdown.cancelled() => {
                close(&mut editor, 1001, "bridgedock is shutting down").await;
                break;
            }
            frame = editor.next() => {
                let Some(Ok(frame)) = frame else { break };
                match frame {
                    Message::Text(text) => {
                        ai.update_editor(id, |e| traffic.from_editor(e, &mut identity, &text, Instant::now(), now_ms()));
                        match link.ws.as_mut() {
                            Some(up) => {
                                if up.send(Message::Text(text)).await.is_err() {
                                    lose(&ai, id, &mut link, &mut traffic, "the send to godot-ai failed");
                                }
                            }
                            None => tracing::debug!("{name}: godot-ai is away; dropped a frame from the editor"),
                        }
                    }
                    Message::Close(_) => break,
                    // Pings are answered by the library; binary frames mean nothing here.
                    _ => {}
                }
            }
            frame = async { match link.ws.as_mut() { Some(up) => up.next().await, None => std::future::pending().await } } => {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        // While half-open, each message godot-ai sends counts toward closing.
                        if link.breaker.state(Instant::now()) != Circuit::Closed {
                            link.breaker.record_success(Instant::now());
                            let circuit = link.breaker.state(Instant::now());
                            ai.update_editor(id, |e| e.circuit = circuit);
                        }
                        ai.update_editor(id, |e| traffic.from_server(e, &text, Instant::now(), now_ms()));
                        if editor.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        lose(&ai, id, &mut link, &mut traffic, &format!("godot-ai closed the connection ({code} {reason})"));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => lose(&ai, id, &mut link, &mut traffic, &format!("the connection to godot-ai failed: {e}")),
                    None => lose(&ai, id, &mut link, &mut traffic, "godot-ai closed the connection"),
                }
            }
            _ = async { match wake { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                reconnect(&ai, id, &identity, &mut link, &traffic, false).await;
            }
            // A new godot-ai answers its status: no need to wait out the rest of the delay, and
            // an open circuit lets this one attempt through (half-open).
            Ok(()) = instances.changed(), if waiting => {
                reconnect(&ai, id, &identity, &mut link, &traffic, true).await;
            }
        }
    }
    if let Some(mut up) = link.ws.take() {
        let _ = tokio::time::timeout(Duration::from_secs(1), up.close(None)).await;
    }
    ai.remove_editor(id);
    tracing::info!("{name}: Godot editor disconnected: {}", identity.session_id);
}

fn lose(ai: &GodotAi, id: u64, link: &mut Link, traffic: &mut Traffic, why: &str) {
    link.ws = None;
    link.attempts = 0;
    link.lost_at = Some(Instant::now());
    let delay = backoff::delay(1);
    link.next_at = Some(tokio::time::Instant::now() + delay);
    let mut dropped = 0;
    ai.update_editor(id, |e| dropped = traffic.forget_commands(e));
    if dropped > 0 {
        tracing::warn!(
            "{}: {dropped} command(s) in flight to the editor belonged to the godot-ai that went away; their replies will be dropped",
            ai.plan.name,
        );
    }
    tracing::warn!(
        "{}: {why}; the editor's socket stays open, reconnecting (attempt 1 in {} s)",
        ai.plan.name,
        delay.as_secs()
    );
    let next = now_ms() + delay.as_millis() as u64;
    ai.update_editor(id, |e| {
        e.upstream = "reconnecting".into();
        e.upstream_since_ms = now_ms();
        e.reconnect_attempts = 0;
        e.next_attempt_at_ms = Some(next);
    });
}

async fn reconnect(
    ai: &GodotAi,
    id: u64,
    identity: &EditorIdentity,
    link: &mut Link,
    traffic: &Traffic,
    godot_ai_answers: bool,
) {
    let name = &ai.plan.name;
    // An open circuit waits out its cool-off before the next (half-open) attempt.
    if !link.breaker.allows(Instant::now()) && !godot_ai_answers {
        let at = link
            .breaker
            .retry_at()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(30));
        link.next_at = Some(at);
        let wait = at.saturating_duration_since(tokio::time::Instant::now());
        ai.update_editor(id, |e| {
            e.upstream = "circuit open".into();
            e.circuit = Circuit::Open;
            e.next_attempt_at_ms = Some(now_ms() + wait.as_millis() as u64);
        });
        return;
    }
    let attempt = link.attempts + 1;
    match upstream_handshake(ai, identity).await {
        Ok(mut up) => {
            link.breaker.record_success(Instant::now());
            for text in traffic.replay() {
                let _ = up.send(Message::text(text.clone())).await;
            }
            link.ws = Some(up);
            link.next_at = None;
            let replay = link.ever_connected;
            link.ever_connected = true;
            if replay {
                let after = link
                    .lost_at
                    .map(|t| t.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                tracing::info!(
                    "{name}: godot-ai is back; replayed editor {}'s handshake after {} attempt(s), {after:.1} s",
                    identity.session_id,
                    attempt
                );
            }
            ai.clear_diagnosis("handshake-timeout");
            ai.clear_diagnosis("backend-refused");
            let now = now_ms();
            let circuit = link.breaker.state(Instant::now());
            ai.update_editor(id, |e| {
                e.upstream = "connected".into();
                e.circuit = circuit;
                e.circuit_failures = 0;
                e.upstream_since_ms = now;
                e.reconnect_attempts = 0;
                e.next_attempt_at_ms = None;
                if replay {
                    e.replays += 1;
                }
            });
        }
        Err((code, reason)) => {
            link.breaker.record_failure(Instant::now());
            link.attempts = attempt;
            // The next try is attempt + 1.
            let delay = backoff::delay(attempt + 1);
            link.next_at = Some(tokio::time::Instant::now() + delay);
            if backoff::log_attempt(attempt) {
                tracing::info!(
                    "{name}: reconnecting editor {} to godot-ai (attempt {attempt}; next retry in {} s if needed): {reason}",
                    identity.session_id,
                    delay.as_secs()
                );
            }
            match code {
                1008 if reason.contains("within 5 s") || reason.contains("timed out") => ai.diagnose(
                    "handshake-timeout",
                    format!("godot-ai did not answer the editor handshake within 5 s (port {})", ai.plan.backend_ws_port),
                    "godot-ai may be hung: restart it from the tray or the dock",
                ),
                CLOSE_DUPLICATE => ai.diagnose(
                    "duplicate-session",
                    format!("godot-ai already has a session {} (close code 4001): an editor is connected to it directly", identity.session_id),
                    "point the plugin at bridgedock's ports only, then reload the plugin",
                ),
                CLOSE_AUTH | CLOSE_PROTOCOL => ai.diagnose(
                    "backend-refused",
                    format!("godot-ai refused bridgedock's handshake: {reason} (close code {code})"),
                    "restart the server so it starts with bridgedock's capabilities",
                ),
                _ => {}
            }
            let next = now_ms() + delay.as_millis() as u64;
            let circuit = link.breaker.state(Instant::now());
            let failures = link.breaker.failures_in_window(Instant::now()) as u32;
            let state = if circuit == Circuit::Open {
                "circuit open"
            } else {
                "reconnecting"
            };
            ai.update_editor(id, |e| {
                e.upstream = state.into();
                e.circuit = circuit;
                e.circuit_failures = failures;
                e.reconnect_attempts = attempt;
                e.next_attempt_at_ms = Some(next);
            });
        }
    }
}
