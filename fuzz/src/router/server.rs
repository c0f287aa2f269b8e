//! The fake server process: what it writes (answers to bridgedock's handshake in either era, or
//! refusals; answers, progress and input-required results for clients' calls; requests and
//! notifications of its own), and the checks on everything the router sends it.

use bridgedock_engine::protocol::jsonrpc::{self, BRIDGE_INTERNAL, SERVER_UNREACHABLE};
use bridgedock_engine::protocol::mcp::{
    self, LATEST_HANDSHAKE_REVISION, META_SERVER_INFO, META_SUBSCRIPTION_ID, STATELESS_REVISION,
};
use bridgedock_engine::supervisor::link::StdinQueue;
use bridgedock_engine::supervisor::{LinkEvent, Readiness};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot::error::TryRecvError;

use super::handshake::Handshake;
use super::{ASKS_PER_RESULT, Harness, OwnRequest, Received, trace};

/// A tag the harness put in a request's params (an object, or an array's first element).
pub(super) fn tag_of(params: &Value, field: &str) -> Option<Value> {
    match params {
        Value::Object(m) => m.get(field).cloned(),
        Value::Array(a) => a.first().and_then(|f| f.get(field)).cloned(),
        _ => None,
    }
}

/// The progress token the router rewrites: `params._meta.progressToken` of an object.
pub(super) fn progress_token(params: &Value) -> Option<&Value> {
    params.as_object()?.get("_meta")?.get("progressToken")
}

/// What the fake server says it can do, by variant: list changes and subscriptions decide what
/// bridgedock listens for on its clients' behalf.
fn server_capabilities(variant: usize) -> Value {
    match variant % 4 {
        0 => json!({"tools": {}}),
        1 => json!({"tools": {"listChanged": true}}),
        2 => json!({"tools": {"listChanged": true}, "prompts": {"listChanged": true},
                    "resources": {"subscribe": true, "listChanged": true}}),
        _ => json!({"resources": {"subscribe": true}, "logging": {}}),
    }
}

impl Harness {
    pub(super) async fn up(&mut self) {
        self.server.generation += 1;
        let (tx, rx) = StdinQueue::new();
        let (ready, told) = tokio::sync::oneshot::channel();
        self.server.rx = Some(rx);
        self.server.ready = Some(told);
        self.server.open.clear();
        self.server.process_ids.clear();
        self.server.handshake = Handshake::Waiting;
        self.server.initialized = false;
        // The router forgets the old process's requests; they are kept (by their tag) only
        // to recognise late deliveries still sitting in a client's queue.
        for own in &mut self.server.own {
            own.answers_due = 0;
        }
        let _ = self
            .link
            .send(LinkEvent::Up {
                generation: self.server.generation,
                pid: 4242,
                to_server: tx,
                ready,
            })
            .await;
    }

    pub(super) async fn down(&mut self) {
        if self.server.rx.is_none() {
            return;
        }
        // What the process read before it died is still checked.
        self.read_server(true);
        self.server.rx = None;
        self.server.open.clear();
        self.server.ready = None;
        self.server.handshake = Handshake::Waiting;
        let _ = self
            .link
            .send(LinkEvent::Down {
                generation: self.server.generation,
                reason: "killed by the fuzzer".into(),
            })
            .await;
    }

    /// The router says whether the process answered its handshake exactly when it did.
    pub(super) fn check_readiness(&mut self) {
        let Some(told) = &mut self.server.ready else {
            return;
        };
        let shake = &self.server.handshake;
        match told.try_recv() {
            Ok(Readiness::Ready) => {
                assert!(
                    shake.era().is_some(),
                    "the router said the process is ready, which has not answered its handshake ({shake:?})"
                );
                self.server.ready = None;
            }
            Ok(Readiness::Refused(why)) => {
                assert_eq!(
                    *shake,
                    Handshake::Refused,
                    "the router said the process refused its handshake ({why}), which it did not"
                );
                self.server.ready = None;
            }
            Err(TryRecvError::Empty) => assert!(
                !matches!(shake, Handshake::Ready { .. } | Handshake::Refused),
                "the process answered the handshake ({shake:?}), and the router did not say so"
            ),
            Err(TryRecvError::Closed) => {
                panic!("the router dropped the readiness signal of a process that is up")
            }
        }
    }

    /// One stdout line of the current process (also after its `Down`: a dying process still
    /// writes, and the router must ignore it).
    async fn server_line(&mut self, line: String) {
        trace!("  server -> {line}");
        let _ = self
            .link
            .send(LinkEvent::Line {
                generation: self.server.generation,
                line,
            })
            .await;
    }

    /// A line the fake server writes, with its books kept as the router will read it.
    pub(super) async fn server_writes(&mut self, line: String) {
        self.note_server_line(&line);
        self.server_line(line).await;
    }

    fn note_server_line(&mut self, line: &str) {
        if self.server.rx.is_none() {
            return;
        }
        // The router reads it so, or not at all (protocol noise).
        let Ok(msg) = jsonrpc::parse_message(line.trim()) else {
            return;
        };
        let id = msg.get("id");
        match msg.get("method").and_then(Value::as_str) {
            Some("notifications/cancelled") if id.is_none() => {
                // The server ending bridgedock's own subscription.
                let request = msg
                    .get("params")
                    .and_then(|p| p.get("requestId"))
                    .and_then(Value::as_u64);
                self.server
                    .open
                    .retain(|r| r.method != "subscriptions/listen" || r.id.as_u64() != request);
            }
            Some(_) => {
                if let Some(id) = id {
                    let generation = self.server.generation;
                    self.server
                        .own
                        .push(OwnRequest::sent(generation, id.clone(), false, 1));
                }
            }
            None => {
                if let Some(error) = msg.get("error")
                    && matches!(
                        error.get("code").and_then(Value::as_i64),
                        Some(BRIDGE_INTERNAL | SERVER_UNREACHABLE)
                    )
                {
                    self.raw_legacy_codes = true;
                }
                let unread = self.server.rx.as_ref().is_some_and(|rx| !rx.is_empty());
                self.server.handshake.answered(&msg, unread);
                // The router takes the first answer to a bridge id (a number) and drops others.
                let answered = id.and_then(Value::as_u64);
                if let Some(at) = self
                    .server
                    .open
                    .iter()
                    .position(|r| answered.is_some() && r.id.as_u64() == answered)
                {
                    self.server.open.remove(at);
                }
            }
        }
    }

    /// The answer to the k-th open request: a result in one of three spellings (`form % 3`:
    /// the fast path's, an escaped version string with the keys in another order, a
    /// duplicated key) and, for bridgedock's handshake, of one of several shapes
    /// (`form / 3`); or an error (`code`).
    pub(super) async fn server_answer(
        &mut self,
        k: usize,
        form: usize,
        code: Option<u8>,
        times: usize,
    ) {
        if self.server.open.is_empty() || self.server.rx.is_none() {
            return;
        }
        let r = &self.server.open[k % self.server.open.len()];
        let tag = tag_of(&r.params, "fz");
        let shape = form / 3;
        let body = match code {
            Some(code) => {
                let code = match code % 4 {
                    0 => -32000,
                    1 => jsonrpc::METHOD_NOT_FOUND,
                    2 => mcp::UNSUPPORTED_PROTOCOL_VERSION,
                    _ => jsonrpc::INTERNAL_ERROR,
                };
                let data = match tag {
                    Some(t) => json!({"fz": t, "supported": [LATEST_HANDSHAKE_REVISION]}),
                    None => json!({"supported": [LATEST_HANDSHAKE_REVISION]}),
                };
                (
                    "error",
                    json!({"code": code, "message": "fake error", "data": data}),
                )
            }
            None => ("result", self.result_for(r, shape, tag)),
        };
        let id = r.id.to_string();
        let (field, body) = (body.0, body.1.to_string());
        let line = match form % 3 {
            // What the router's fast path reads.
            0 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"{field}\":{body}}}"),
            // The full path: an escaped version string, keys in another order.
            1 => format!("{{\"{field}\":{body},\"id\":{id},\"jsonrpc\":\"2\\u002e0\"}}"),
            // The full path: a duplicated key.
            _ => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"id\":{id},\"{field}\":{body}}}"),
        };
        for _ in 0..times {
            self.server_writes(line.clone()).await;
        }
    }

    /// What the fake server answers `r` with: bridgedock's handshake in several shapes (a
    /// 2026-07-28 server, one that knows only older revisions, an answer bridgedock cannot
    /// use), anything else with the request's tag echoed.
    fn result_for(&self, r: &Received, shape: usize, tag: Option<Value>) -> Value {
        let caps = server_capabilities(shape / 3);
        let info = json!({"name": "fake", "version": "2.0"});
        match r.method.as_str() {
            "server/discover" => match shape % 3 {
                0 => json!({"resultType": "complete", "supportedVersions": [STATELESS_REVISION],
                    "capabilities": caps, "ttlMs": 0, "cacheScope": "private",
                    "_meta": {META_SERVER_INFO: info}}),
                1 => {
                    json!({"supportedVersions": [LATEST_HANDSHAKE_REVISION], "capabilities": caps})
                }
                _ => json!({"capabilities": caps, "serverInfo": info}),
            },
            "initialize" => match shape % 3 {
                0 => json!({"protocolVersion": LATEST_HANDSHAKE_REVISION, "capabilities": caps,
                    "serverInfo": {"name": "fake", "version": "1.0"}}),
                1 => json!({"protocolVersion": "2024-11-05", "capabilities": caps}),
                _ => json!("not an object"),
            },
            method => match tag {
                Some(tag) => json!({"fz": tag, "m": method}),
                None => json!({"m": method}),
            },
        }
    }

    /// A stateless server's answer to the k-th open request: input required. `shape`'s bits
    /// choose the inputs (1 a sample, 2 a form, 4 a URL elicitation, 8 the roots) and 16
    /// leaves out the `requestState`.
    pub(super) async fn server_input_required(&mut self, k: usize, shape: usize) {
        if self.server.open.is_empty() || self.server.rx.is_none() {
            return;
        }
        let r = &self.server.open[k % self.server.open.len()];
        let n = self.server.input_required;
        self.server.input_required += 1;
        let asks = match shape % 16 {
            0 => 1,
            bits => bits,
        };
        let mut inputs = Map::new();
        let all = [
            (
                "s",
                json!({"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1, "fzg": n}}),
            ),
            (
                "f",
                json!({"method": "elicitation/create", "params": {"mode": "form", "message": "m", "requestedSchema": {}, "fzg": n}}),
            ),
            (
                "u",
                json!({"method": "elicitation/create", "params": {"mode": "url", "url": "https://x", "message": "m", "elicitationId": "e", "fzg": n}}),
            ),
            ("r", json!({"method": "roots/list", "params": {"fzg": n}})),
        ];
        for (bit, (name, input)) in all.into_iter().enumerate() {
            if asks & (1 << bit) != 0 {
                inputs.insert(name.into(), input);
            }
        }
        debug_assert!(inputs.len() <= ASKS_PER_RESULT);
        let mut result = json!({"resultType": "input_required", "inputRequests": inputs, "fzi": n});
        if shape & 16 == 0 {
            result["requestState"] = json!(format!("fzstate-{n}"));
        }
        if let Some(tag) = tag_of(&r.params, "fz") {
            result["fz"] = tag;
        }
        let line = json!({"jsonrpc": "2.0", "id": r.id, "result": result});
        self.server_writes(line.to_string()).await;
    }

    pub(super) async fn server_progress(&mut self, k: usize) {
        if self.server.open.is_empty() || self.server.rx.is_none() {
            return;
        }
        let r = &self.server.open[k % self.server.open.len()];
        let Some(token) = progress_token(&r.params).cloned() else {
            return;
        };
        let mut params = json!({"progressToken": token, "progress": 1, "total": 2});
        if let Some(tag) = tag_of(&r.params, "fz") {
            params["fz"] = tag;
        }
        let line = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
        self.server_writes(line.to_string()).await;
    }

    /// A request of the server's own, tagged `fzs: k`. `form` chooses the id (a number, a
    /// string, a 28-digit number, the last id again, an object); `variant` what it needs of
    /// a client (sampling with tools or context, a form or URL elicitation).
    pub(super) async fn server_request(&mut self, method: &str, form: u8, variant: u8) {
        if self.server.rx.is_none() {
            return;
        }
        let n = self.server.next_own;
        self.server.next_own += 1;
        let id = match form % 5 {
            0 => json!(n),
            1 => json!(format!("s{n}")),
            2 => serde_json::from_str::<Value>(&format!("1234567890123456789012345{n}"))
                .unwrap_or(json!(n)),
            // The server reuses an id it has open (its bug, not the router's).
            3 => self.server.own.last().map_or(json!(n), |o| o.id.clone()),
            _ => json!({"weird": n}),
        };
        let method = if method.is_empty() {
            "roots/list"
        } else {
            method
        };
        let k = self.server.own.len();
        let mut params = json!({"fzs": k});
        match (method, variant % 3) {
            ("sampling/createMessage", v) => {
                params["messages"] = json!([]);
                params["maxTokens"] = json!(1);
                match v {
                    1 => params["tools"] = json!([]),
                    2 => params["includeContext"] = json!("thisServer"),
                    _ => {}
                }
            }
            ("elicitation/create", v) => {
                params["message"] = json!("m");
                match v {
                    1 => {
                        params["mode"] = json!("form");
                        params["requestedSchema"] = json!({});
                    }
                    2 => {
                        params["mode"] = json!("url");
                        params["url"] = json!("https://x");
                        params["elicitationId"] = json!("e");
                    }
                    _ => params["requestedSchema"] = json!({}),
                }
            }
            _ => {}
        }
        // Its books by hand: the tag must be its index even when the router will not read it.
        let readable = id.is_string() || id.is_number();
        let generation = self.server.generation;
        self.server.own.push(OwnRequest::sent(
            generation,
            id.clone(),
            true,
            u32::from(readable),
        ));
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.server_line(line.to_string()).await;
    }

    /// A notification of the server's own. Kinds: 0 tools list changed, 1 a warning, 2 a
    /// resource updated, 3 its request k cancelled, 4 an update without uri, 5 a debug
    /// message, 6 prompts / 7 resources list changed, 8 tools list changed on bridgedock's
    /// own listen (a stateless server's stream).
    pub(super) async fn server_notify(&mut self, kind: u8, k: usize) {
        if self.server.rx.is_none() {
            return;
        }
        let list = |what: &str| json!({"jsonrpc": "2.0", "method": format!("notifications/{what}/list_changed")});
        let line = match kind % 9 {
            0 => list("tools"),
            1 => {
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "warning", "logger": "fz", "data": {"k": k}}})
            }
            2 => {
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": format!("file:///{}", k % 2)}})
            }
            3 => {
                let Some(own) = self.server.own.get(k % self.server.own.len().max(1)) else {
                    return;
                };
                json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": own.id}})
            }
            4 => {
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {}})
            }
            5 => {
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "debug", "data": "d"}})
            }
            6 => list("prompts"),
            7 => list("resources"),
            _ => {
                let listen = self
                    .server
                    .open
                    .iter()
                    .rev()
                    .find(|r| r.method == "subscriptions/listen");
                let Some(listen) = listen else {
                    return;
                };
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                    "params": {"_meta": {META_SUBSCRIPTION_ID: listen.id}}})
            }
        };
        self.server_line(line.to_string()).await;
    }
}
