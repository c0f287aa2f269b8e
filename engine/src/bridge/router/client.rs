//! Messages from clients: requests (ids rewritten, owners remembered), `initialize` (answered
//! from the cache when there is one), notifications, and answers to the server's requests.

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::{InitWaiter, Pending, PendingKind, ProgressRoute, Router, Waiting};
use crate::protocol::jsonrpc::{
    self, INVALID_PARAMS, INVALID_REQUEST, RpcError, SERVER_UNREACHABLE,
};
use crate::protocol::mcp::{self, STATELESS_REVISION, SUPPORTED_REVISIONS};

impl Router {
    pub(super) fn client_message(&mut self, session: u64, msg: Map<String, Value>) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.info.messages_in += 1;
        s.info.last_activity_ms = crate::status::now_ms();
        s.dirty = true;
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (method, msg.contains_key("id")) {
            (Some(_), true) => self.client_request(session, msg, Instant::now()),
            (Some(method), false) => self.client_notification(session, &method, msg),
            (None, _) => self.client_response(session, msg),
        }
    }

    /// A plain request: when the server is ready, only its id is swapped; otherwise it takes
    /// the full path (and waits like any other).
    pub(super) fn client_fast_request(&mut self, session: u64, request: super::FastRequest) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.info.messages_in += 1;
        s.info.last_activity_ms = crate::status::now_ms();
        s.dirty = true;
        // A stateless server needs its envelope added: that takes the full path.
        if !self.ready() || self.server_stateless {
            self.client_request(session, request.into_message(), Instant::now());
            return;
        }
        let super::FastRequest { id, method, params } = request;
        let Some(key) = self.claim_id(session, &id) else {
            return;
        };
        let bridge_id = self.next_bridge_id();
        let line = match &params {
            Some(p) => format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{bridge_id},\"method\":\"{method}\",\"params\":{p}}}\n"
            ),
            None => format!("{{\"jsonrpc\":\"2.0\",\"id\":{bridge_id},\"method\":\"{method}\"}}\n"),
        };
        self.stats.request();
        match self.send_line(line) {
            Ok(()) => self.track(session, bridge_id, id, key, method, None),
            Err(why) => {
                self.stats.error();
                self.reply_error(session, id, RpcError::new(SERVER_UNREACHABLE, why));
            }
        }
    }

    /// The routing key of a new request; None (after telling the client) when the client
    /// still has a request with this id in flight.
    fn claim_id(&mut self, session: u64, id: &Value) -> Option<(u64, String)> {
        let key = (session, id.to_string());
        if !self.by_client_id.contains_key(&key) {
            return Some(key);
        }
        let error = RpcError::new(
            INVALID_REQUEST,
            format!(
                "id {id} is already used by one of your requests still in flight; use a new id"
            ),
        );
        self.reply_error(session, id.clone(), error);
        None
    }

    /// Remembers a request sent to the server, so its answer finds its way back.
    fn track(
        &mut self,
        session: u64,
        bridge_id: u64,
        client_id: Value,
        key: (u64, String),
        method: String,
        progress: Option<String>,
    ) {
        let now = Instant::now();
        self.pending.insert(
            bridge_id,
            Pending {
                kind: PendingKind::Client {
                    session,
                    client_id,
                    method,
                    progress,
                },
                sent_at: now,
                deadline: now + self.opts.request_timeout,
            },
        );
        self.by_client_id.insert(key, bridge_id);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending += 1;
            s.last_request = Some(now);
        }
    }

    pub(super) fn client_request(&mut self, session: u64, msg: Map<String, Value>, since: Instant) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(revision) = mcp::declared_revision(&msg).map(str::to_string) {
            if !SUPPORTED_REVISIONS.contains(&revision.as_str()) {
                let error = RpcError {
                    code: mcp::UNSUPPORTED_PROTOCOL_VERSION,
                    message: format!(
                        "unsupported protocol version \"{revision}\"; supported: {}",
                        SUPPORTED_REVISIONS.join(", ")
                    ),
                    data: Some(json!({"supported": SUPPORTED_REVISIONS, "requested": revision})),
                };
                self.reply_error(session, id, error);
                return;
            }
            let (name, version) = mcp::client_info(&msg);
            self.identify(session, name, version);
            let server_revision = self
                .init_result
                .as_ref()
                .and_then(|r| r.get("protocolVersion"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(s) = self.sessions.get_mut(&session) {
                s.modern = revision == STATELESS_REVISION;
                if s.info.protocol_version.as_deref() != Some(revision.as_str())
                    || s.info.server_protocol_version != server_revision
                {
                    s.info.protocol_version = Some(revision);
                    s.info.server_protocol_version = server_revision;
                    self.status.put_client(s.info.clone());
                }
            }
        }
        match method.as_str() {
            "initialize" => return self.client_initialize(session, id, msg, since),
            "server/discover" if self.init_result.is_some() => {
                let result = self.discover_result();
                let reply = jsonrpc::response(id.clone(), result);
                self.deliver(session, &reply, Some(&id));
                return;
            }
            "resources/unsubscribe" => {
                let uri = uri_of(&msg);
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.subscriptions.remove(&uri);
                }
                // Others still want updates: the server must not stop sending them.
                if self
                    .sessions
                    .values()
                    .any(|s| s.subscriptions.contains(&uri))
                {
                    let reply = jsonrpc::response(id.clone(), json!({}));
                    self.deliver(session, &reply, Some(&id));
                    return;
                }
            }
            "resources/subscribe" => {
                let uri = uri_of(&msg);
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.subscriptions.insert(uri);
                }
            }
            _ => {}
        }
        if !self.ready() {
            self.wait_for_server(session, msg, since);
            return;
        }
        self.forward_request(session, id, method, msg);
    }

    /// Holds a request until the server is up and initialized (bounded in count and time).
    fn wait_for_server(&mut self, session: u64, msg: Map<String, Value>, since: Instant) {
        if self.waiting.len() >= self.opts.down_queue_max {
            let id = msg.get("id").cloned().unwrap_or(Value::Null);
            let error = RpcError::new(
                SERVER_UNREACHABLE,
                format!(
                    "server `{}` is not available and {} requests already wait for it; try again later",
                    self.server, self.opts.down_queue_max
                ),
            );
            self.reply_error(session, id, error);
            return;
        }
        self.waiting.push_back(Waiting {
            session,
            msg,
            since,
        });
        self.start_init();
    }

    fn forward_request(
        &mut self,
        session: u64,
        id: Value,
        method: String,
        mut msg: Map<String, Value>,
    ) {
        let Some(key) = self.claim_id(session, &id) else {
            return;
        };
        // Translate between the revisions: a handshake-era server may refuse the stateless
        // envelope; a stateless server needs it on every request.
        if self.server_speaks_handshake() {
            mcp::strip_stateless_envelope(&mut msg);
        } else if self.server_stateless {
            let envelope = self.stateless_envelope();
            mcp::add_stateless_envelope(&mut msg, envelope);
        }
        let bridge_id = self.next_bridge_id();
        let mut progress = None;
        if let Some(token) = msg
            .get_mut("params")
            .and_then(|p| p.get_mut("_meta"))
            .and_then(|m| m.get_mut("progressToken"))
        {
            let ours = format!("bdp-{bridge_id}");
            self.progress.insert(
                ours.clone(),
                ProgressRoute {
                    session,
                    token: token.clone(),
                    request: bridge_id,
                },
            );
            *token = Value::String(ours.clone());
            progress = Some(ours);
        }
        msg.insert("id".into(), Value::from(bridge_id));
        match self.send_to_server(&Value::Object(msg)) {
            Ok(()) => {
                self.stats.request();
                self.track(session, bridge_id, id, key, method, progress);
            }
            Err(why) => {
                if let Some(t) = progress {
                    self.progress.remove(&t);
                }
                self.stats.request();
                self.stats.error();
                self.reply_error(session, id, RpcError::new(SERVER_UNREACHABLE, why));
            }
        }
    }

    fn client_initialize(
        &mut self,
        session: u64,
        id: Value,
        msg: Map<String, Value>,
        since: Instant,
    ) {
        let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (name, version) = mcp::client_info(&msg);
        self.identify(session, name, version);
        if self.init_result.is_some() {
            self.answer_initialize(session, id, requested);
            return;
        }
        if !params.is_object() || requested.is_none() {
            let error = RpcError::new(
                INVALID_PARAMS,
                "initialize needs params with `protocolVersion`, `capabilities` and `clientInfo`",
            );
            self.reply_error(session, id, error);
            return;
        }
        // Like the requests that wait for a server that is down: bounded in count, not only
        // in time (DOWN_WAIT), or a client could pile up initializes faster than they expire.
        if self.init_waiters.len() >= self.opts.down_queue_max {
            let error = RpcError::new(
                SERVER_UNREACHABLE,
                format!(
                    "server `{}` has not answered initialize yet and {} clients already wait for it; try again later",
                    self.server, self.opts.down_queue_max
                ),
            );
            self.reply_error(session, id, error);
            return;
        }
        if self.init_params.is_none() {
            // The bridge's own `initialize`, replayed after every restart, carries the
            // handshake and nothing of this one request: its `_meta` (a progress token nobody
            // routes, a stateless envelope) stays with it.
            let mut params = params;
            if let Some(p) = params.as_object_mut() {
                p.remove("_meta");
            }
            self.init_params = Some(params);
        }
        self.init_waiters.push(InitWaiter {
            session,
            id,
            requested,
            since,
        });
        self.start_init();
    }

    /// Answers a client's `initialize` from the server's cached answer. A client asking for
    /// another revision gets the server's (the spec's negotiation) and is marked as mismatched.
    pub(super) fn answer_initialize(&mut self, session: u64, id: Value, requested: Option<String>) {
        let Some(result) = self.init_result.clone() else {
            return;
        };
        let server_revision = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mismatch = requested.is_some() && requested != server_revision;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.info.protocol_version = requested.clone().or(server_revision.clone());
            s.info.server_protocol_version = server_revision.clone();
            s.info.protocol_mismatch = mismatch;
            self.status.put_client(s.info.clone());
        }
        if mismatch {
            tracing::info!(
                server = %self.server,
                "a client asked for protocol {} but `{}` speaks {}; answered with the server's revision",
                requested.as_deref().unwrap_or("?"),
                self.server,
                server_revision.as_deref().unwrap_or("?")
            );
        }
        let reply = jsonrpc::response(id.clone(), result);
        self.deliver(session, &reply, Some(&id));
    }

    fn server_speaks_handshake(&self) -> bool {
        !self.server_stateless
            && self
                .init_result
                .as_ref()
                .and_then(|r| r.get("protocolVersion"))
                .and_then(Value::as_str)
                .is_some_and(|v| v != STATELESS_REVISION)
    }

    /// `server/discover` for a server that speaks the handshake revisions: built from its
    /// cached `initialize` answer. The bridge translates, so every supported revision works.
    pub(super) fn discover_result(&self) -> Value {
        let init = self.init_result.clone().unwrap_or_else(|| json!({}));
        let mut result = json!({
            "resultType": "complete",
            "supportedVersions": SUPPORTED_REVISIONS,
            "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "serverInfo": init.get("serverInfo").cloned().unwrap_or_else(|| json!({})),
        });
        if let Some(instructions) = init.get("instructions") {
            result["instructions"] = instructions.clone();
        }
        result
    }

    fn client_notification(&mut self, session: u64, method: &str, msg: Map<String, Value>) {
        match method {
            // The bridge sends this itself, once per server process.
            "notifications/initialized" => {}
            "notifications/cancelled" => {
                let Some(request) = msg.get("params").and_then(|p| p.get("requestId")) else {
                    return;
                };
                let Some(bridge_id) = self.by_client_id.remove(&(session, request.to_string()))
                else {
                    return;
                };
                if let Some(Pending {
                    kind: PendingKind::Client { progress, .. },
                    ..
                }) = self.pending.remove(&bridge_id)
                {
                    self.forget_request(session, request, progress.as_deref());
                }
                self.remember_cancelled(bridge_id);
                let mut forwarded = msg;
                if let Some(params) = forwarded.get_mut("params").and_then(Value::as_object_mut) {
                    params.insert("requestId".into(), Value::from(bridge_id));
                }
                let _ = self.send_to_server(&Value::Object(forwarded));
            }
            _ => {
                if self.ready() {
                    let _ = self.send_to_server(&Value::Object(msg));
                }
            }
        }
    }

    /// A client answering a request the server sent it: restore the server's id. Only the
    /// client the request went to may answer it: ids are guessable (`bds-N`), and another
    /// client's answer would be taken as this one's (a sampling result, an elicited reply).
    fn client_response(&mut self, session: u64, mut msg: Map<String, Value>) {
        let key = match msg.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return,
        };
        if self
            .server_requests
            .get(&key)
            .is_some_and(|r| r.session != session)
        {
            tracing::debug!(server = %self.server, "dropped an answer to request {key} from a client it was not sent to");
            return;
        }
        let Some(route) = self.server_requests.remove(&key) else {
            tracing::debug!(server = %self.server, "dropped a client answer to an unknown request id {key}");
            return;
        };
        self.server_request_ids.remove(&route.server_id.to_string());
        msg.insert("id".into(), route.server_id);
        if let Err(why) = self.send_to_server(&Value::Object(msg)) {
            tracing::debug!(server = %self.server, "could not pass a client's answer on: {why}");
        }
    }
}

fn uri_of(msg: &Map<String, Value>) -> String {
    msg.get("params")
        .and_then(|p| p.get("uri"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}
