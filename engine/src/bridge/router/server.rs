//! Messages from the server: answers (routed to their owner with the client's id restored and
//! shaped for the owner's era), requests of its own (see `asks.rs`), and notifications (by
//! progress token, or see `listen.rs`). Lines that are not JSON-RPC are protocol noise.

use serde_json::{Map, Value};

use super::Router;
use super::handshake::Era;
use super::inflight::PendingKind;
use crate::logs::{Level, Stream};
use crate::protocol::jsonrpc::{self, INVALID_PARAMS};
use crate::protocol::mcp::LEGACY_RESOURCE_NOT_FOUND;
use crate::protocol::modern;

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

    /// An answer from a handshake-era server to a handshake-era client's plain request: the
    /// client's id goes in, the result or error is copied through unparsed. False when the line
    /// needs the full path.
    fn fast_answer(&mut self, line: &str) -> bool {
        if self.upstream_era() != Some(Era::Handshake) {
            return false;
        }
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
        let Some(PendingKind::Client(call)) = self.inflight.get(bridge_id).map(|p| &p.kind) else {
            return false;
        };
        if self.sessions.get(&call.session).is_none_or(|s| s.modern) {
            return false;
        }
        let Some(pending) = self.inflight.complete(bridge_id) else {
            return false;
        };
        let PendingKind::Client(call) = pending.kind else {
            return false;
        };
        self.session_request_done(call.session);
        self.stats.answered(pending.sent_at.elapsed());
        if field == "error" {
            self.stats.error();
        }
        let text = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"{field}\":{}}}",
            call.client_id,
            body.get()
        );
        self.deliver_text(call.session, text, Some(&call.client_id));
        true
    }

    fn server_response(&mut self, msg: Map<String, Value>) {
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
        // The client's own progress token, for a call that may be retried for it.
        let client_progress = match self.inflight.get(bridge_id).map(|p| &p.kind) {
            Some(PendingKind::Client(c)) => c
                .progress
                .as_deref()
                .and_then(|t| self.inflight.progress_route(t))
                .map(|r| r.token.clone()),
            _ => None,
        };
        let Some(pending) = self.inflight.complete(bridge_id) else {
            if !self.inflight.was_cancelled(bridge_id) {
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
            PendingKind::Probe => self.probe_answered(msg),
            PendingKind::Init => self.init_answered(msg),
            PendingKind::Listen => self.upstream_listen_answered(bridge_id, &msg),
            PendingKind::Parked { token } => self.parked_answered(&token, msg),
            PendingKind::Internal => {}
            PendingKind::Client(call) => {
                self.session_request_done(call.session);
                self.stats.answered(pending.sent_at.elapsed());
                if msg.contains_key("error") {
                    self.stats.error();
                }
                let Some(modern) = self.sessions.get(&call.session).map(|s| s.modern) else {
                    return;
                };
                let input_required = msg
                    .get("result")
                    .and_then(|r| r.get("resultType"))
                    .and_then(Value::as_str)
                    == Some("input_required");
                if input_required && !modern {
                    if let Some(Value::Object(result)) = msg.get("result") {
                        let result = result.clone();
                        self.gather(call, client_progress, &result);
                    }
                    return;
                }
                let mut msg = msg;
                msg.insert("id".into(), call.client_id.clone());
                self.deliver_answer(call.session, &call.method, msg, &call.client_id);
            }
        }
    }

    /// Delivers an answer (its id already the client's), shaped for the client's era: a
    /// 2026-07-28 client gets every field that revision requires of a result.
    pub(super) fn deliver_answer(
        &mut self,
        session: u64,
        method: &str,
        mut msg: Map<String, Value>,
        client_id: &Value,
    ) {
        if method == "tools/list"
            && let Some(Value::Object(result)) = msg.get("result")
        {
            self.tool_headers.learn(result);
        }
        let modern = self.sessions.get(&session).is_some_and(|s| s.modern);
        if !modern && self.upstream_era() == Some(Era::Stateless) {
            // A handshake-era client gets what a server of its era would send: none of the
            // fields only the 2026-07-28 revision has.
            if let Some(Value::Object(result)) = msg.get_mut("result") {
                modern::strip_modern_fields(result);
            }
        }
        if modern {
            let server_info = self.server_info().cloned();
            if let Some(Value::Object(result)) = msg.get_mut("result") {
                modern::complete_result(method, result, server_info.as_ref());
            }
            // "Resource not found" was -32002 until 2026-07-28, which says -32602.
            if let Some(Value::Object(error)) = msg.get_mut("error")
                && error.get("code").and_then(Value::as_i64) == Some(LEGACY_RESOURCE_NOT_FOUND)
                && method == "resources/read"
            {
                error.insert("code".into(), Value::from(INVALID_PARAMS));
            }
        }
        self.deliver(session, &Value::Object(msg), Some(client_id));
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
                let Some(route) = self.inflight.progress_route(&key) else {
                    return;
                };
                let (session, token, request) = (route.session, route.token.clone(), route.request);
                params.insert("progressToken".into(), token);
                // Progress means the server is working on it: the timeout starts over.
                let timeout = self.opts.request_timeout;
                if let Some(p) = self.inflight.get_mut(request) {
                    p.deadline = tokio::time::Instant::now() + timeout;
                }
                self.deliver(session, &Value::Object(msg), None);
            }
            "notifications/cancelled" => {
                let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) else {
                    return;
                };
                let Some(request) = params.get("requestId").cloned() else {
                    return;
                };
                // The id is one of the server's own requests (each side cancels only what it
                // sent): never bridgedock's subscription, which a server ends with a result.
                if self.server_cancelled_ask(&request) {
                    return;
                }
                let Some(ours) = self.server_request_ids.remove(&request.to_string()) else {
                    return;
                };
                let Some(route) = self.server_requests.remove(&ours) else {
                    return;
                };
                params.insert("requestId".into(), Value::String(ours));
                self.deliver(route.session, &Value::Object(msg), None);
            }
            _ => self.server_notification_out(method, msg),
        }
    }
}
