//! A stateless (2026-07-28) server's input-required result, for a handshake-era client.
//!
//! A 2026-07-28 client gets such a result as it is. A handshake-era client cannot: bridgedock
//! asks it each input as that era does (a request to the client, only what it declared), then
//! retries the call for it with the answers and the server's `requestState`, as many rounds as
//! the server needs. The client only sees its call take longer.

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Router;
use super::asks::{AskKind, ServerRequest};
use super::handshake::Era;
use super::inflight::ClientCall;
use crate::protocol::capabilities::{self, declares, required_for};
use crate::protocol::jsonrpc::{self, BRIDGE_INTERNAL, RpcError};
use crate::protocol::mcp::MISSING_CLIENT_CAPABILITY;

/// A stateless server's input-required result, being asked of a handshake-era client.
pub(super) struct Gathering {
    pub session: u64,
    pub client_id: Value,
    method: String,
    target: Option<String>,
    /// The client's own progress token, if it asked for progress.
    progress: Option<Value>,
    log_level: Option<usize>,
    /// The request as sent to the server (without its id), to retry.
    request: Map<String, Value>,
    request_state: Option<Value>,
    outstanding: usize,
    responses: Map<String, Value>,
    pub since: Instant,
}

impl Router {
    /// A stateless server answered a handshake-era client's call with an input-required
    /// result: the client is asked each input as a request, then the call is retried for it.
    pub(super) fn gather(
        &mut self,
        call: ClientCall,
        client_progress: Option<Value>,
        result: &Map<String, Value>,
    ) {
        let Some(request) = call.retry_with.map(|r| *r) else {
            let error = RpcError::new(
                BRIDGE_INTERNAL,
                format!(
                    "server `{}` asked for input on `{}`, which the 2026-07-28 revision does not allow",
                    self.server, call.method
                ),
            );
            self.reply_error(call.session, call.client_id, error);
            return;
        };
        let inputs = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let caps = self
            .sessions
            .get(&call.session)
            .and_then(|s| s.capabilities.clone());
        for input in inputs.values() {
            let method = input.get("method").and_then(Value::as_str).unwrap_or("");
            if let Some(path) = required_for(method, input.get("params"))
                && !declares(caps.as_ref(), &path)
            {
                let error = RpcError {
                    code: MISSING_CLIENT_CAPABILITY,
                    message: format!(
                        "server `{}` needs `{method}` to complete `{}`, and your client did not declare the `{}` capability",
                        self.server,
                        call.method,
                        capabilities::describe(&path)
                    ),
                    data: Some(
                        json!({"requiredCapabilities": capabilities::as_capabilities(&path)}),
                    ),
                };
                self.reply_error(call.session, call.client_id, error);
                return;
            }
        }
        let gathering = self.next_bridge_id();
        let g = Gathering {
            session: call.session,
            client_id: call.client_id,
            method: call.method,
            target: call.target,
            progress: client_progress,
            log_level: call.log_level,
            request,
            request_state: result.get("requestState").cloned(),
            outstanding: inputs.len(),
            responses: Map::new(),
            since: Instant::now(),
        };
        let session = g.session;
        self.gathering.insert(gathering, g);
        if inputs.is_empty() {
            self.retry_gathered(gathering);
            return;
        }
        for (key, input) in inputs {
            let ours = format!("bds-{}", self.next_bridge_id());
            let mut ask = Map::new();
            ask.insert("jsonrpc".into(), json!("2.0"));
            ask.insert("id".into(), json!(ours));
            ask.insert(
                "method".into(),
                input.get("method").cloned().unwrap_or(Value::Null),
            );
            if let Some(p) = input.get("params") {
                ask.insert("params".into(), p.clone());
            }
            self.server_requests.insert(
                ours,
                ServerRequest {
                    session,
                    kind: AskKind::Gather { gathering, key },
                },
            );
            self.deliver(session, &Value::Object(ask), None);
        }
    }

    /// A handshake-era client answered one input of a gathering.
    pub(super) fn gathered(&mut self, gathering: u64, key: String, msg: Map<String, Value>) {
        let Some(g) = self.gathering.get_mut(&gathering) else {
            return;
        };
        if let Some(error) = msg.get("error") {
            let Some(g) = self.gathering.remove(&gathering) else {
                return;
            };
            self.server_requests.retain(
                |_, r| !matches!(&r.kind, AskKind::Gather { gathering: x, .. } if *x == gathering),
            );
            let error = RpcError {
                code: error
                    .get("code")
                    .and_then(Value::as_i64)
                    .unwrap_or(BRIDGE_INTERNAL),
                message: format!(
                    "your client refused the input `{}` needed: {}",
                    g.method,
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                ),
                data: error.get("data").cloned(),
            };
            self.reply_error(g.session, g.client_id, error);
            return;
        }
        g.responses
            .insert(key, msg.get("result").cloned().unwrap_or_else(|| json!({})));
        g.outstanding = g.outstanding.saturating_sub(1);
        if g.outstanding == 0 {
            self.retry_gathered(gathering);
        }
    }

    /// Every input is in: the call goes to the server again, with them.
    fn retry_gathered(&mut self, gathering: u64) {
        let Some(g) = self.gathering.remove(&gathering) else {
            return;
        };
        let mut msg = g.request;
        if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
            params.insert("inputResponses".into(), Value::Object(g.responses));
            match g.request_state {
                Some(state) => {
                    params.insert("requestState".into(), state);
                }
                None => {
                    params.remove("requestState");
                }
            }
        }
        if self.upstream_era() != Some(Era::Stateless) {
            let error = RpcError::new(
                jsonrpc::SERVER_UNREACHABLE,
                format!(
                    "server `{}` restarted while your client gave the input `{}` needed; the call was not completed — retry it",
                    self.server, g.method
                ),
            );
            self.reply_error(g.session, g.client_id, error);
            return;
        }
        let bridge_id = self.next_bridge_id();
        let progress = match (
            &g.progress,
            msg.get_mut("params")
                .and_then(|p| p.get_mut("_meta"))
                .and_then(|m| m.get_mut("progressToken")),
        ) {
            (Some(client_token), Some(token)) => {
                let ours = format!("bdp-{bridge_id}");
                *token = json!(ours);
                self.inflight.route_progress(
                    ours.clone(),
                    g.session,
                    client_token.clone(),
                    bridge_id,
                );
                Some(ours)
            }
            _ => None,
        };
        let retry_with = Some(Box::new(msg.clone()));
        msg.insert("id".into(), Value::from(bridge_id));
        let line = Value::Object(msg).to_string() + "\n";
        self.send_call(
            bridge_id,
            line,
            ClientCall {
                session: g.session,
                client_id: g.client_id,
                method: g.method,
                target: g.target,
                progress,
                log_level: g.log_level,
                retry_with,
                capabilities: None,
            },
        );
    }

    /// A handshake-era client that did not give what a stateless server asked within
    /// `input_wait`: its call fails.
    pub(super) fn expire_gatherings(&mut self, now: Instant) {
        let wait = self.opts.input_wait;
        let words = crate::status::format_duration_ms(wait.as_millis() as u64);
        let expired: Vec<u64> = self
            .gathering
            .iter()
            .filter(|(_, g)| now.duration_since(g.since) >= wait)
            .map(|(k, _)| *k)
            .collect();
        for id in expired {
            if let Some(g) = self.gathering.remove(&id) {
                self.server_requests.retain(
                    |_, r| !matches!(&r.kind, AskKind::Gather { gathering, .. } if *gathering == id),
                );
                let error = RpcError::new(
                    BRIDGE_INTERNAL,
                    format!(
                        "`{}` needed input from you that did not come within {words}; the call was not completed",
                        g.method
                    ),
                );
                self.reply_error(g.session, g.client_id, error);
            }
        }
    }
}
