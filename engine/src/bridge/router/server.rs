//! Messages from the server: answers (routed to their owner with the client's id restored),
//! requests of its own (to the client whose work it is doing), and notifications (by progress
//! token, by subscription, or to everyone). Lines that are not JSON-RPC are protocol noise.

use serde_json::{Map, Value, json};

use super::{Pending, PendingKind, Router, ServerRequest};
use crate::logs::{Level, Stream};
use crate::protocol::jsonrpc::{self, BRIDGE_INTERNAL, RpcError};

impl Router {
    pub(super) fn server_line(&mut self, line: &str) {
        let trimmed = line.trim();
        if trimmed.is_empty() || self.fast_answer(trimmed) {
            return;
        }
        // The same rules as for clients' messages: a JSON object missing `jsonrpc`, or with a
        // method that is not a string, is not JSON-RPC, and clients must never be sent one.
        let msg = match jsonrpc::parse_message(trimmed) {
            Ok(msg) => msg,
            Err(_) => {
                self.logs.push(
                    &self.server,
                    Stream::Stdout,
                    Some(Level::Warn),
                    format!("protocol noise on stdout (not JSON-RPC, not forwarded): {line}"),
                );
                return;
            }
        };
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (method, msg.contains_key("id")) {
            (Some(method), true) => self.server_request(&method, msg),
            (Some(method), false) => self.server_notification(&method, msg),
            (None, _) => self.server_response(msg),
        }
    }

    /// An answer to a plain client request: the client's id goes in, the result or error is
    /// copied through unparsed. False when the line needs the full path.
    fn fast_answer(&mut self, line: &str) -> bool {
        let Some(env) = jsonrpc::RawEnvelope::parse(line) else {
            return false;
        };
        if env.method.is_some() || !env.is_v2() {
            return false;
        }
        let (field, body) = match (env.result, env.error) {
            (Some(r), None) => ("result", r),
            (None, Some(e)) => ("error", e),
            _ => return false,
        };
        let Some(bridge_id) = env.id.and_then(|i| i.get().parse::<u64>().ok()) else {
            return false;
        };
        let Some(Pending {
            kind: PendingKind::Client { session, .. },
            ..
        }) = self.pending.get(&bridge_id)
        else {
            return false;
        };
        if self.sessions.get(session).is_none_or(|s| s.modern) {
            return false;
        }
        let Some(Pending {
            kind:
                PendingKind::Client {
                    session,
                    client_id,
                    progress,
                    ..
                },
            sent_at,
            ..
        }) = self.pending.remove(&bridge_id)
        else {
            return false;
        };
        self.forget_request(session, &client_id, progress.as_deref());
        self.stats.answered(sent_at.elapsed());
        if field == "error" {
            self.stats.error();
        }
        let text = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{client_id},\"{field}\":{}}}",
            body.get()
        );
        self.deliver_text(session, text, Some(&client_id));
        true
    }

    fn server_response(&mut self, mut msg: Map<String, Value>) {
        let Some(bridge_id) = msg.get("id").and_then(Value::as_u64) else {
            self.logs.push(
                &self.server,
                Stream::Stdout,
                Some(Level::Warn),
                format!(
                    "protocol error: an answer with id {} that bridgedock never sent; dropped",
                    msg.get("id").cloned().unwrap_or(Value::Null)
                ),
            );
            return;
        };
        let Some(pending) = self.pending.remove(&bridge_id) else {
            if !self.cancelled_set.contains(&bridge_id) {
                self.logs.push(
                    &self.server,
                    Stream::Stdout,
                    Some(Level::Warn),
                    format!("protocol error: an answer to unknown request id {bridge_id}; dropped"),
                );
            }
            return;
        };
        match pending.kind {
            PendingKind::Init => self.init_answered(msg),
            PendingKind::Discover => self.discover_answered(msg),
            PendingKind::Internal => {}
            PendingKind::Client {
                session,
                client_id,
                progress,
                ..
            } => {
                self.forget_request(session, &client_id, progress.as_deref());
                self.stats.answered(pending.sent_at.elapsed());
                if msg.contains_key("error") {
                    self.stats.error();
                }
                let Some(modern) = self.sessions.get(&session).map(|s| s.modern) else {
                    return;
                };
                msg.insert("id".into(), client_id.clone());
                // Stateless-revision clients expect every result to say it is complete.
                if modern && let Some(Value::Object(result)) = msg.get_mut("result") {
                    result
                        .entry("resultType")
                        .or_insert_with(|| Value::String("complete".into()));
                }
                self.deliver(session, &Value::Object(msg), Some(&client_id));
            }
        }
    }

    /// The server answered `initialize`: cache it, report its version, tell it we are ready,
    /// answer every client that waited, then let the waiting requests through.
    fn init_answered(&mut self, msg: Map<String, Value>) {
        if let Some(link) = &mut self.link {
            link.init_in_flight = false;
        }
        let waiters = std::mem::take(&mut self.init_waiters);
        match msg.get("result") {
            Some(result) => {
                self.init_result = Some(result.clone());
                let version = result
                    .get("serverInfo")
                    .and_then(|i| i.get("version"))
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string);
                let name = result
                    .get("serverInfo")
                    .and_then(|i| i.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                self.status.update_server(&self.server, |s| {
                    s.reported_version = version.clone();
                });
                let revision = result
                    .get("protocolVersion")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string();
                tracing::info!(
                    server = %self.server,
                    "`{}` is ready: {name} {} (protocol {revision})",
                    self.server,
                    version.as_deref().unwrap_or("(no version)"),
                );
                let _ = self.send_to_server(
                    &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                );
                if let Some(link) = &mut self.link {
                    link.ready = true;
                }
                for w in waiters {
                    self.answer_initialize(w.session, w.id, w.requested);
                }
                self.flush_waiting();
            }
            None if self.refused_handshake(&msg) => {
                // A server of the stateless revision has no handshake: ask it who it is instead.
                self.init_waiters = waiters;
                self.start_discover();
            }
            None => {
                let error = msg.get("error").cloned().unwrap_or(Value::Null);
                tracing::warn!(server = %self.server, "`{}` refused initialize: {error}", self.server);
                let refusal = RpcError {
                    code: error
                        .get("code")
                        .and_then(Value::as_i64)
                        .unwrap_or(BRIDGE_INTERNAL),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("the server refused initialize")
                        .to_string(),
                    data: error.get("data").cloned(),
                };
                for w in waiters {
                    self.reply_error(w.session, w.id, refusal.clone());
                }
                // Whatever waited for a ready server will not get one from this process.
                self.init_params = None;
                let waiting = std::mem::take(&mut self.waiting);
                for w in waiting {
                    let id = w.msg.get("id").cloned().unwrap_or(Value::Null);
                    let error = RpcError::new(
                        jsonrpc::SERVER_UNREACHABLE,
                        format!(
                            "server `{}` refused to initialize: {}",
                            self.server, refusal.message
                        ),
                    );
                    self.reply_error(w.session, id, error);
                }
            }
        }
    }

    /// Did the server refuse `initialize` because it has no handshake (method not found, or
    /// an unsupported-revision answer)?
    fn refused_handshake(&self, msg: &Map<String, Value>) -> bool {
        let code = msg
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64);
        matches!(
            code,
            Some(jsonrpc::METHOD_NOT_FOUND | crate::protocol::mcp::UNSUPPORTED_PROTOCOL_VERSION)
        )
    }

    /// Sends the server `server/discover` with the stateless envelope.
    fn start_discover(&mut self) {
        let id = self.next_bridge_id();
        let msg = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "server/discover",
            "params": {"_meta": self.stateless_envelope()},
        });
        if self.send_to_server(&msg).is_ok() {
            let now = tokio::time::Instant::now();
            self.pending.insert(
                id,
                super::Pending {
                    kind: PendingKind::Discover,
                    sent_at: now,
                    deadline: now + self.opts.request_timeout,
                },
            );
            if let Some(link) = &mut self.link {
                link.init_in_flight = true;
            }
        }
    }

    /// What a stateless-revision server needs in every request's `_meta`, from the first
    /// client's `initialize` (or bridgedock's own).
    pub(super) fn stateless_envelope(&self) -> Value {
        let params = self.init_params.clone().unwrap_or_else(|| json!({}));
        json!({
            crate::protocol::mcp::META_PROTOCOL_VERSION: crate::protocol::mcp::STATELESS_REVISION,
            crate::protocol::mcp::META_CLIENT_CAPABILITIES: params.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            crate::protocol::mcp::META_CLIENT_INFO: params.get("clientInfo").cloned()
                .unwrap_or_else(|| json!({"name": "bridgedock", "version": env!("CARGO_PKG_VERSION")})),
        })
    }

    /// The stateless server said who it is: that becomes the handshake answer handshake-era
    /// clients get, in the revision they asked for.
    fn discover_answered(&mut self, msg: Map<String, Value>) {
        if let Some(link) = &mut self.link {
            link.init_in_flight = false;
        }
        let Some(result) = msg.get("result") else {
            let waiters = std::mem::take(&mut self.init_waiters);
            let error = RpcError::new(
                BRIDGE_INTERNAL,
                format!(
                    "server `{}` refused both initialize and server/discover",
                    self.server
                ),
            );
            for w in waiters {
                self.reply_error(w.session, w.id, error.clone());
            }
            return;
        };
        let revision = self
            .init_params
            .as_ref()
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .unwrap_or(crate::protocol::mcp::LATEST_HANDSHAKE_REVISION)
            .to_string();
        let mut init = json!({
            "protocolVersion": revision,
            "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "serverInfo": result.get("serverInfo").cloned().unwrap_or_else(|| json!({})),
        });
        if let Some(instructions) = result.get("instructions") {
            init["instructions"] = instructions.clone();
        }
        let version = init["serverInfo"]["version"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        self.status
            .update_server(&self.server, |s| s.reported_version = version.clone());
        tracing::info!(
            server = %self.server,
            "`{}` speaks only the stateless revision {}; bridging handshake clients to it",
            self.server,
            crate::protocol::mcp::STATELESS_REVISION
        );
        self.server_stateless = true;
        self.init_result = Some(init);
        if let Some(link) = &mut self.link {
            link.ready = true;
        }
        let waiters = std::mem::take(&mut self.init_waiters);
        for w in waiters {
            self.answer_initialize(w.session, w.id, w.requested);
        }
        self.flush_waiting();
    }

    fn server_request(&mut self, method: &str, mut msg: Map<String, Value>) {
        let server_id = msg.get("id").cloned().unwrap_or(Value::Null);
        if method == "ping" {
            // The bridge is the server's client: it answers for itself.
            let _ = self.send_to_server(&jsonrpc::response(server_id, json!({})));
            return;
        }
        if self.server_requests.len() >= self.opts.server_requests_max {
            let _ = self.send_to_server(&jsonrpc::error_response(
                server_id,
                RpcError::new(
                    BRIDGE_INTERNAL,
                    format!(
                        "{} of your requests already wait for clients' answers; bridgedock takes no more until some are answered",
                        self.opts.server_requests_max
                    ),
                ),
            ));
            return;
        }
        let Some(session) = self.request_target() else {
            let _ = self.send_to_server(&jsonrpc::error_response(
                server_id,
                RpcError::new(
                    BRIDGE_INTERNAL,
                    format!("no client is connected to bridgedock to answer `{method}`"),
                ),
            ));
            return;
        };
        let ours = format!("bds-{}", self.next_bridge_id());
        self.server_request_ids
            .insert(server_id.to_string(), ours.clone());
        self.server_requests.insert(
            ours.clone(),
            ServerRequest {
                session,
                server_id: server_id.clone(),
            },
        );
        msg.insert("id".into(), Value::String(ours.clone()));
        let full = self.sessions.get(&session).is_some_and(|s| {
            s.out
                .try_send(Value::Object(msg.clone()).to_string())
                .is_err()
        });
        if full {
            self.server_requests.remove(&ours);
            self.server_request_ids.remove(&server_id.to_string());
            let _ = self.send_to_server(&jsonrpc::error_response(
                server_id,
                RpcError::new(
                    BRIDGE_INTERNAL,
                    "the client is reading too slowly to take this request",
                ),
            ));
        } else if let Some(s) = self.sessions.get_mut(&session) {
            s.info.messages_out += 1;
            s.dirty = true;
        }
    }

    /// A server→client request goes to the client whose request is in flight (the newest),
    /// else to the most recently active one.
    fn request_target(&self) -> Option<u64> {
        let busy = self
            .sessions
            .iter()
            .filter(|(_, s)| s.pending > 0)
            .max_by_key(|(_, s)| s.last_request)
            .map(|(id, _)| *id);
        busy.or_else(|| {
            self.sessions
                .iter()
                .max_by_key(|(_, s)| s.info.last_activity_ms)
                .map(|(id, _)| *id)
        })
    }

    fn server_notification(&mut self, method: &str, mut msg: Map<String, Value>) {
        match method {
            "notifications/progress" => {
                let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) else {
                    return;
                };
                let key = match params.get("progressToken") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => return,
                };
                let Some(route) = self.progress.get(&key) else {
                    return;
                };
                let (session, token, request) = (route.session, route.token.clone(), route.request);
                params.insert("progressToken".into(), token);
                // Progress means the server is working on it: the timeout starts over.
                if let Some(p) = self.pending.get_mut(&request) {
                    p.deadline = tokio::time::Instant::now() + self.opts.request_timeout;
                }
                self.deliver(session, &Value::Object(msg), None);
            }
            "notifications/cancelled" => {
                let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) else {
                    return;
                };
                let Some(request) = params.get("requestId").map(Value::to_string) else {
                    return;
                };
                let Some(ours) = self.server_request_ids.remove(&request) else {
                    return;
                };
                let Some(route) = self.server_requests.remove(&ours) else {
                    return;
                };
                params.insert("requestId".into(), Value::String(ours));
                self.deliver(route.session, &Value::Object(msg), None);
            }
            "notifications/message" => {
                self.log_server_message(&msg);
                self.broadcast(&Value::Object(msg), |_| true);
            }
            "notifications/resources/updated" => {
                let uri = msg
                    .get("params")
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.broadcast(&Value::Object(msg), |s| s.subscriptions.contains(&uri));
            }
            _ => self.broadcast(&Value::Object(msg), |_| true),
        }
    }

    /// MCP log messages also go into the server's log, at their level.
    fn log_server_message(&self, msg: &Map<String, Value>) {
        let params = msg.get("params");
        let level = match params.and_then(|p| p.get("level")).and_then(Value::as_str) {
            Some("debug") => Level::Debug,
            Some("info" | "notice") => Level::Info,
            Some("warning") => Level::Warn,
            Some("error" | "critical" | "alert" | "emergency") => Level::Error,
            _ => Level::Info,
        };
        let logger = params
            .and_then(|p| p.get("logger"))
            .and_then(Value::as_str)
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        let data = match params.and_then(|p| p.get("data")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        self.logs.push(
            &self.server,
            Stream::Stdout,
            Some(level),
            format!("mcp log: {logger}{data}"),
        );
    }
}
