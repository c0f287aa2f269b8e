//! Messages from clients: requests (ids rewritten, owners remembered, each era's envelope
//! translated for the server's era), notifications, and answers to the server's requests.
//!
//! A request of the stateless revision (its `_meta` names 2026-07-28) is checked as a native
//! server of that revision would check it; what that revision removed (`initialize`, `ping`,
//! `logging/setLevel`, resource subscriptions) is "method not found" for it, and what a
//! handshake-era client still sends to a stateless server is answered here.

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::handshake::Era;
use super::inflight::ClientCall;
use super::{Router, Waiting};
use crate::protocol::jsonrpc::{
    self, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, RpcError, SERVER_UNREACHABLE,
};
use crate::protocol::mcp::{self, INPUT_REQUIRED_METHODS, SUPPORTED_REVISIONS};

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

    /// A plain request: when a handshake-era server is ready, only its id is swapped; otherwise
    /// it takes the full path (and waits like any other).
    pub(super) fn client_fast_request(&mut self, session: u64, request: super::FastRequest) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.info.messages_in += 1;
        s.info.last_activity_ms = crate::status::now_ms();
        s.dirty = true;
        // A stateless server needs its envelope added, and a request that must wait (the
        // server starting, or being stopped) is held: both take the full path.
        if self.upstream_era() != Some(Era::Handshake) || self.stopped || !self.ready() {
            self.client_request(session, request.into_message(), Instant::now());
            return;
        }
        let super::FastRequest { id, method, params } = request;
        if !self.claim_id(session, &id) {
            return;
        }
        let bridge_id = self.next_bridge_id();
        let line = match &params {
            Some(p) => format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{bridge_id},\"method\":\"{method}\",\"params\":{p}}}\n"
            ),
            None => format!("{{\"jsonrpc\":\"2.0\",\"id\":{bridge_id},\"method\":\"{method}\"}}\n"),
        };
        self.send_call(
            bridge_id,
            line,
            ClientCall {
                session,
                client_id: id,
                method,
                target: None,
                progress: None,
                log_level: None,
                retry_with: None,
                capabilities: None,
            },
        );
    }

    /// Whether the client may use this id now; false (after telling the client) when it still
    /// has a request with this id in flight.
    pub(super) fn claim_id(&mut self, session: u64, id: &Value) -> bool {
        let listening = self
            .sessions
            .get(&session)
            .is_some_and(|s| s.listens.iter().any(|l| &l.id == id));
        // A call whose input bridgedock is asking this client for is still in flight.
        let gathering = self
            .gathering
            .values()
            .any(|g| g.session == session && &g.client_id == id);
        if !self.inflight.claimed(session, id) && !listening && !gathering {
            return true;
        }
        let error = RpcError::new(
            INVALID_REQUEST,
            format!(
                "id {id} is already used by one of your requests still in flight; use a new id"
            ),
        );
        self.reply_error(session, id.clone(), error);
        false
    }

    /// Sends a client's request (its line already carries `bridge_id`) and remembers whose it
    /// is; one that cannot be sent is answered at once, with why.
    pub(super) fn send_call(&mut self, bridge_id: u64, line: String, call: ClientCall) {
        self.stats.request();
        match self.send_line(line) {
            Ok(()) => self.track(bridge_id, call),
            Err(why) => {
                self.stats.error();
                if let Some(ours) = &call.progress {
                    self.inflight.forget_progress(ours);
                }
                self.reply_error(
                    call.session,
                    call.client_id,
                    RpcError::new(SERVER_UNREACHABLE, why),
                );
            }
        }
    }

    /// Remembers a request sent to the server, so its answer finds its way back.
    pub(super) fn track(&mut self, bridge_id: u64, call: ClientCall) {
        let session = call.session;
        let deadline = Instant::now() + self.opts.request_timeout;
        self.inflight.track_call(bridge_id, call, deadline);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending += 1;
            s.last_request = Some(Instant::now());
        }
    }

    pub(super) fn client_request(&mut self, session: u64, msg: Map<String, Value>, since: Instant) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(revision) = mcp::declared_revision(&msg).map(str::to_string)
            && !self.accept_declared(session, &id, &method, &revision, &msg)
        {
            return;
        }
        if self.stopped {
            let error = self.shutting_down_error();
            self.reply_error(session, id, error);
            return;
        }
        let modern = self.sessions.get(&session).is_some_and(|s| s.modern);
        let era = self.upstream_era();
        match method.as_str() {
            "initialize" => return self.client_initialize(session, id, msg, since),
            "server/discover" if self.known.is_some() => {
                return self.answer_discover(session, id);
            }
            "ping" if era == Some(Era::Stateless) => {
                // The stateless revision has no ping: bridgedock answers for the server.
                let reply = jsonrpc::response(id.clone(), json!({}));
                return self.deliver(session, &reply, Some(&id));
            }
            "logging/setLevel" if era == Some(Era::Stateless) => {
                return self.set_log_level(session, id, &msg);
            }
            "resources/subscribe" | "resources/unsubscribe"
                if !modern && self.subscribe(session, &id, &method, &msg) =>
            {
                return;
            }
            _ => {}
        }
        if !self.ready() {
            self.wait_for_server(session, msg, since);
            return;
        }
        if method == "subscriptions/listen" {
            if !self.claim_id(session, &id) {
                return;
            }
            return self.open_listen(session, id, &msg);
        }
        if let Some(state) = super::parked::our_request_state(&msg) {
            let state = state.to_string();
            return self.retry_with_input(session, id, msg, &state);
        }
        self.forward_request(session, id, method, msg);
    }

    /// Checks a request that declares its revision in `_meta`, as a native server of that
    /// revision would; false when it was answered with an error.
    fn accept_declared(
        &mut self,
        session: u64,
        id: &Value,
        method: &str,
        revision: &str,
        msg: &Map<String, Value>,
    ) -> bool {
        if !SUPPORTED_REVISIONS.contains(&revision) {
            let error = RpcError {
                code: mcp::UNSUPPORTED_PROTOCOL_VERSION,
                message: format!(
                    "unsupported protocol version \"{revision}\"; supported: {}",
                    SUPPORTED_REVISIONS.join(", ")
                ),
                data: Some(json!({"supported": SUPPORTED_REVISIONS, "requested": revision})),
            };
            self.reply_error(session, id.clone(), error);
            return false;
        }
        if !mcp::is_modern(revision) {
            return true;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.modern = true;
        }
        let missing = mcp::missing_envelope_keys(msg);
        if !missing.is_empty() {
            let error = RpcError {
                code: INVALID_PARAMS,
                message: format!(
                    "invalid params: a {revision} request needs {}",
                    mcp::describe_missing(&missing)
                ),
                data: Some(json!({"envelope": {"missing": missing}})),
            };
            self.reply_error(session, id.clone(), error);
            return false;
        }
        if mcp::REMOVED_IN_MODERN.contains(&method) {
            let error = RpcError {
                code: METHOD_NOT_FOUND,
                message: format!(
                    "method not found: `{method}` is not part of MCP {revision} (the revision removed it)"
                ),
                data: Some(json!({"method": method})),
            };
            self.reply_error(session, id.clone(), error);
            return false;
        }
        if let Some(level) = mcp::requested_log_level(msg)
            && mcp::log_severity(level).is_none()
        {
            let error = RpcError::new(
                INVALID_PARAMS,
                format!(
                    "invalid params: log level `{level}` is not one of {}",
                    mcp::LOG_LEVELS.join(", ")
                ),
            );
            self.reply_error(session, id.clone(), error);
            return false;
        }
        let (name, version) = mcp::client_info(msg);
        self.identify(session, name, version);
        let server_revision = self.known.as_ref().map(|k| match k.era {
            Era::Stateless => mcp::STATELESS_REVISION.to_string(),
            Era::Handshake => k
                .init
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
        });
        if let Some(s) = self.sessions.get_mut(&session) {
            s.capabilities = mcp::declared_capabilities(msg).cloned();
            s.client_info = mcp::meta(msg)
                .and_then(|m| m.get(mcp::META_CLIENT_INFO))
                .cloned();
            if s.info.protocol_version.as_deref() != Some(revision)
                || s.info.server_protocol_version != server_revision
            {
                s.info.protocol_version = Some(revision.to_string());
                s.info.server_protocol_version = server_revision;
                self.status.put_client(s.info.clone());
            }
        }
        true
    }

    /// Holds a request until the server is up and has answered the handshake (bounded in
    /// count and time).
    fn wait_for_server(&mut self, session: u64, msg: Map<String, Value>, since: Instant) {
        // A process that refused the handshake will not become ready: no point waiting.
        if let Some(why) = self.link.as_ref().and_then(|l| l.handshake.refused()) {
            let id = msg.get("id").cloned().unwrap_or(Value::Null);
            let error = RpcError {
                code: SERVER_UNREACHABLE,
                message: format!(
                    "server `{}` is running but not usable: {why} — fix its command or restart it",
                    self.server
                ),
                data: Some(json!({"reason": "handshake_refused", "server": self.server})),
            };
            self.reply_error(session, id, error);
            return;
        }
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
    }

    /// Sends a client's request to the server in the server's era, remembering whose it is.
    pub(super) fn forward_request(
        &mut self,
        session: u64,
        id: Value,
        method: String,
        mut msg: Map<String, Value>,
    ) {
        if !self.claim_id(session, &id) {
            return;
        }
        let log_level = mcp::requested_log_level(&msg).and_then(mcp::log_severity);
        let target = mcp::named_target(&msg).map(str::to_string);
        // A 2026-07-28 client's request speaks only for itself: what it declared, or nothing
        // (one without the envelope declared nothing); a handshake-era client's session speaks
        // (None: its `initialize`, as the fast path leaves it, see `ClientCall::declared`).
        let modern_session = self.sessions.get(&session).is_some_and(|s| s.modern);
        let capabilities = match mcp::declared_revision(&msg).filter(|r| mcp::is_modern(r)) {
            Some(_) => mcp::declared_capabilities(&msg).cloned(),
            None if modern_session => Some(json!({})),
            None => None,
        };
        let mut retry_with = None;
        if self.upstream_era() == Some(Era::Handshake) {
            self.server_log_level_for(&method, &msg, log_level);
        }
        match self.upstream_era() {
            Some(Era::Stateless) => {
                let envelope = self.envelope_for(session);
                mcp::add_stateless_envelope(&mut msg, envelope);
                // A stateless server is told the one revision it speaks, whatever the request
                // named (a handshake-era revision in `_meta` is not one it knows).
                if let Some(meta) = msg
                    .get_mut("params")
                    .and_then(|p| p.get_mut("_meta"))
                    .and_then(Value::as_object_mut)
                {
                    meta.insert(
                        mcp::META_PROTOCOL_VERSION.into(),
                        Value::String(mcp::STATELESS_REVISION.into()),
                    );
                }
                // A handshake-era client cannot be given an input-required result: bridgedock
                // asks it instead, and retries for it (see gather.rs).
                let legacy = self.sessions.get(&session).is_some_and(|s| !s.modern);
                if legacy && INPUT_REQUIRED_METHODS.contains(&method.as_str()) {
                    retry_with = Some(Box::new(msg.clone()));
                }
            }
            _ => mcp::strip_stateless_envelope(&mut msg),
        }
        let bridge_id = self.next_bridge_id();
        let progress = self.rewrite_progress(&mut msg, session, bridge_id);
        msg.insert("id".into(), Value::from(bridge_id));
        let line = Value::Object(msg).to_string() + "\n";
        self.send_call(
            bridge_id,
            line,
            ClientCall {
                session,
                client_id: id,
                method,
                target,
                progress,
                log_level,
                retry_with,
                capabilities,
            },
        );
    }

    /// A handshake-era server sends log messages only as verbose as its one global level: a
    /// 2026-07-28 request asking for more (`io.modelcontextprotocol/logLevel`) sets it first,
    /// when the server does logging; a handshake-era client's own `logging/setLevel` is
    /// remembered as the level the server has. Log messages then go only to the requests that
    /// asked, at their level (see `listen.rs`).
    fn server_log_level_for(
        &mut self,
        method: &str,
        msg: &Map<String, Value>,
        wanted: Option<usize>,
    ) {
        if method == "logging/setLevel" {
            self.server_log_level = msg
                .get("params")
                .and_then(|p| p.get("level"))
                .and_then(Value::as_str)
                .and_then(mcp::log_severity);
            return;
        }
        let Some(wanted) = wanted else {
            return;
        };
        let logs = self
            .server_capabilities()
            .is_some_and(|c| c.get("logging").is_some());
        if !logs || self.server_log_level.is_some_and(|set| set <= wanted) {
            return;
        }
        let level = mcp::LOG_LEVELS[wanted];
        let id = self.next_bridge_id();
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "logging/setLevel", "params": {"level": level}});
        if self.send_to_server(&request).is_ok() {
            let deadline = Instant::now() + self.opts.request_timeout;
            self.inflight
                .track_own(id, super::inflight::PendingKind::Internal, Some(deadline));
            self.server_log_level = Some(wanted);
        }
    }

    /// Gives a request's progress token a bridge-unique one (routed back to the client's).
    pub(super) fn rewrite_progress(
        &mut self,
        msg: &mut Map<String, Value>,
        session: u64,
        bridge_id: u64,
    ) -> Option<String> {
        let token = msg
            .get_mut("params")
            .and_then(|p| p.get_mut("_meta"))
            .and_then(|m| m.get_mut("progressToken"))?;
        let ours = format!("bdp-{bridge_id}");
        self.inflight
            .route_progress(ours.clone(), session, token.clone(), bridge_id);
        *token = Value::String(ours.clone());
        Some(ours)
    }

    /// The `_meta` a stateless server needs on a request made for `session`: the client's own
    /// capabilities and identity (a modern client's request has them already and keeps them).
    fn envelope_for(&self, session: u64) -> Value {
        let s = self.sessions.get(&session);
        let capabilities = s
            .and_then(|s| s.capabilities.clone())
            .unwrap_or_else(|| json!({}));
        let info = s
            .and_then(|s| s.client_info.clone())
            .unwrap_or_else(mcp::bridge_client_info);
        let level = s
            .and_then(|s| s.log_level)
            .and_then(|l| mcp::LOG_LEVELS.get(l).copied());
        mcp::envelope(capabilities, info, level)
    }

    /// A handshake-era client's `logging/setLevel`, for a stateless server: its later requests
    /// carry the level (that revision sets it per request).
    fn set_log_level(&mut self, session: u64, id: Value, msg: &Map<String, Value>) {
        let level = msg
            .get("params")
            .and_then(|p| p.get("level"))
            .and_then(Value::as_str)
            .unwrap_or("");
        match mcp::log_severity(level) {
            Some(severity) => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.log_level = Some(severity);
                }
                let reply = jsonrpc::response(id.clone(), json!({}));
                self.deliver(session, &reply, Some(&id));
            }
            None => {
                let error = RpcError::new(
                    INVALID_PARAMS,
                    format!(
                        "invalid params: log level `{level}` is not one of {}",
                        mcp::LOG_LEVELS.join(", ")
                    ),
                );
                self.reply_error(session, id, error);
            }
        }
    }

    fn client_notification(&mut self, session: u64, method: &str, msg: Map<String, Value>) {
        match method {
            // The bridge sends this itself, once per server process.
            "notifications/initialized" => {}
            "notifications/cancelled" => {
                let Some(request) = msg.get("params").and_then(|p| p.get("requestId")).cloned()
                else {
                    return;
                };
                if self.close_listen(session, &request) {
                    return;
                }
                let Some(bridge_id) = self.inflight.bridge_id_of(session, &request) else {
                    return;
                };
                if self.inflight.cancel(bridge_id).is_some() {
                    self.session_request_done(session);
                }
                let mut forwarded = msg;
                if let Some(params) = forwarded.get_mut("params").and_then(Value::as_object_mut) {
                    params.insert("requestId".into(), Value::from(bridge_id));
                    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
                        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
                    }
                }
                let _ = self.send_to_server(&Value::Object(forwarded));
            }
            // A stateless server has no other notifications from clients (the revision removed
            // `notifications/roots/list_changed`); a handshake-era one gets them as they come.
            _ => {
                if self.upstream_era() == Some(Era::Handshake) {
                    if method == "notifications/roots/list_changed" {
                        self.roots_changed = Some((session, Instant::now()));
                    }
                    let _ = self.send_to_server(&Value::Object(msg));
                }
            }
        }
    }

    /// A client answering a request bridgedock sent it for the server: restore the server's
    /// id, or gather the answer for a stateless server's retry. Only the client the request
    /// went to may answer it: ids are guessable (`bds-N`), and another client's answer would
    /// be taken as this one's (a sampling result, an elicited reply).
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
        match route.kind {
            super::asks::AskKind::Forwarded { server_id } => {
                self.server_request_ids.remove(&server_id.to_string());
                msg.insert("id".into(), server_id);
                if let Err(why) = self.send_to_server(&Value::Object(msg)) {
                    tracing::debug!(server = %self.server, "could not pass a client's answer on: {why}");
                }
            }
            super::asks::AskKind::Gather { gathering, key } => {
                self.gathered(gathering, key, msg);
            }
        }
    }
}
