//! The fake clients and what they send: frames of both eras declaring their capabilities,
//! listens, retries with the input a server asked for, answers to the server's requests — each
//! noted in the books as the router will read it (what they are sent is checked in
//! `delivered.rs`).

use bridgedock_engine::bridge::outbound::Outbound;
use bridgedock_engine::bridge::router::FastRequest;
use bridgedock_engine::protocol::capabilities::bridge_capabilities;
use bridgedock_engine::protocol::jsonrpc;
use bridgedock_engine::protocol::mcp::{
    self, LATEST_HANDSHAKE_REVISION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL,
    META_PROTOCOL_VERSION, STATELESS_REVISION,
};
use serde_json::{Map, Value, json};

use super::{Client, Harness, Holder, OUTBOUND_CAP_BYTES, Sent, Tag, key, trace};

/// The capabilities a client declares, from the letters of its `A` line: `S` sampling, `T`
/// sampling with tools, `X` sampling with context, `E` an empty elicitation (form mode), `F`
/// form, `U` URL elicitation, `R` roots.
fn profile(letters: &str) -> Value {
    let mut caps = Map::new();
    let mut put = |cap: &str, sub: Option<(&str, Value)>| {
        let entry = caps.entry(cap).or_insert_with(|| json!({}));
        if let (Some((sub, v)), Some(e)) = (sub, entry.as_object_mut()) {
            e.insert(sub.into(), v);
        }
    };
    for letter in letters.chars() {
        match letter {
            'S' => put("sampling", None),
            'T' => put("sampling", Some(("tools", json!({})))),
            'X' => put("sampling", Some(("context", json!({})))),
            'E' => put("elicitation", None),
            'F' => put("elicitation", Some(("form", json!({})))),
            'U' => put("elicitation", Some(("url", json!({})))),
            'R' => put("roots", Some(("listChanged", json!(true)))),
            _ => {}
        }
    }
    Value::Object(caps)
}

/// A 2026-07-28 envelope for client `c`, declaring `caps` (none: the envelope is incomplete).
fn envelope(c: usize, caps: Option<Value>, flags: &str) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(META_PROTOCOL_VERSION.into(), json!(STATELESS_REVISION));
    meta.insert(
        META_CLIENT_INFO.into(),
        json!({"name": format!("fz{c}"), "version": "1"}),
    );
    if let Some(caps) = caps {
        meta.insert(META_CLIENT_CAPABILITIES.into(), caps);
    }
    if flags.contains('l') {
        meta.insert(META_LOG_LEVEL.into(), json!("warning"));
    } else if flags.contains('L') {
        meta.insert(META_LOG_LEVEL.into(), json!("loud"));
    }
    meta
}

impl Harness {
    pub(super) async fn attach(&mut self, c: usize, caps: &str) {
        if self.clients[c].session.is_some() {
            return;
        }
        let (out, rx) = Outbound::new(OUTBOUND_CAP_BYTES);
        let session = self
            .handle
            .attach(out.clone(), "ws", format!("fuzz-{c}"))
            .await
            .expect("the router takes a client");
        self.attaches += 1;
        self.clients[c] = Client {
            session: Some(session),
            rx: Some(rx),
            out: Some(out),
            reading: true,
            profile: profile(caps),
            last_drain: self.op,
            ..Client::default()
        };
    }

    pub(super) async fn detach(&mut self, c: usize) {
        let Some(session) = self.clients[c].session else {
            return;
        };
        self.handle.detach(session, "fuzz").await;
        self.settle().await;
        // What was queued before the router forgot it is still read and checked.
        self.drain_client(c, true);
        self.clients[c] = Client::default();
    }

    /// The next tag of client `c`, and its params with it.
    fn tagged_params(&mut self, c: usize) -> Option<(Tag, Map<String, Value>)> {
        let client = &mut self.clients[c];
        let session = client.session?;
        let n = client.next_n;
        client.next_n += 1;
        let mut params = Map::new();
        params.insert("fz".into(), json!([session, n]));
        Some(((session, n), params))
    }

    /// Registers a tagged request as the router reads it (the script's text may say more than
    /// it seems: a method with `","id":` in it gives the frame a second id, which wins).
    fn remember(&mut self, tag: Tag, id: &Value, method: &str, params: &Value, origin: Vec<Tag>) {
        let meta = params
            .as_object()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        let revision = meta
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str)
            .map(str::to_string);
        let is_modern = revision.as_deref().is_some_and(mcp::is_modern);
        let meta_caps = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)).cloned();
        let caps = meta_caps.clone().filter(|_| is_modern);
        // Taken from any request that names one, whatever its revision (as the router does).
        let log_level = meta
            .and_then(|m| m.get(META_LOG_LEVEL))
            .and_then(Value::as_str)
            .and_then(mcp::log_severity);
        let token = meta.and_then(|m| m.get("progressToken")).map(key);
        let holder = Holder {
            session: tag.0,
            id: key(id),
            token,
        };
        for t in &origin {
            if let Some(o) = self.requests.get_mut(t) {
                o.holders.push(holder.clone());
            }
        }
        let target = ["name", "uri"]
            .iter()
            .filter_map(|k| Some((k.to_string(), params.get(*k)?.clone())))
            .collect();
        self.requests.insert(
            tag,
            Sent {
                method: method.to_string(),
                target,
                caps,
                meta_caps,
                revision,
                log_level,
                holders: vec![holder],
                origin,
            },
        );
    }

    pub(super) fn build_request(
        &mut self,
        c: usize,
        id: &str,
        method: &str,
        flags: &str,
    ) -> Option<String> {
        let (tag, mut params) = self.tagged_params(c)?;
        let n = tag.1;
        params.insert("name".into(), json!("fz"));
        let profile = self.clients[c].profile.clone();
        let mut meta = Map::new();
        for flag in flags.chars() {
            match flag {
                'm' => meta.extend(envelope(c, Some(profile.clone()), flags)),
                'M' => meta.extend(envelope(c, Some(json!({})), flags)),
                'k' => meta.extend(envelope(c, Some(bridge_capabilities()), flags)),
                's' => meta.extend(envelope(c, None, flags)),
                'o' => {
                    meta.insert(META_PROTOCOL_VERSION.into(), json!("2025-06-18"));
                }
                'x' => {
                    meta.insert(META_PROTOCOL_VERSION.into(), json!("1999-01-01"));
                }
                'p' => {
                    meta.insert("progressToken".into(), json!(format!("t{n}")));
                }
                'P' => {
                    meta.insert("progressToken".into(), json!(7));
                }
                'i' => {
                    params.insert("protocolVersion".into(), json!(LATEST_HANDSHAKE_REVISION));
                    params.insert("capabilities".into(), profile.clone());
                    params.insert(
                        "clientInfo".into(),
                        json!({"name": format!("fz{c}"), "version": "1"}),
                    );
                }
                'I' => {
                    params.insert("protocolVersion".into(), json!("2024-11-05"));
                    params.insert("capabilities".into(), profile.clone());
                }
                'u' => {
                    params.insert("uri".into(), json!(format!("file:///{}", n % 2)));
                }
                _ => {}
            }
        }
        if !meta.is_empty() {
            params.insert("_meta".into(), Value::Object(meta));
        }
        self.tagging = Some((tag, Vec::new()));
        let params = if flags.contains('a') {
            Value::Array(vec![Value::Object(params)])
        } else {
            Value::Object(params)
        };
        Some(if flags.contains('n') {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\"}}")
        } else {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{params}}}"
            )
        })
    }

    /// `subscriptions/listen`: flags `t`/`p`/`r` opt in to the tools/prompts/resources lists'
    /// changes, `u`/`v` to updates of file:///0 and file:///1; `h` sends it without an envelope.
    pub(super) fn build_listen(&mut self, c: usize, id: &str, flags: &str) -> Option<String> {
        let (tag, mut params) = self.tagged_params(c)?;
        let mut notifications = Map::new();
        let mut uris = Vec::new();
        for (flag, name) in [
            ('t', "toolsListChanged"),
            ('p', "promptsListChanged"),
            ('r', "resourcesListChanged"),
        ] {
            if flags.contains(flag) {
                notifications.insert(name.into(), json!(true));
            }
        }
        for (flag, uri) in [('u', "file:///0"), ('v', "file:///1")] {
            if flags.contains(flag) {
                uris.push(uri);
            }
        }
        if !uris.is_empty() {
            notifications.insert("resourceSubscriptions".into(), json!(uris));
        }
        params.insert("notifications".into(), Value::Object(notifications));
        if !flags.contains('h') {
            let caps = self.clients[c].profile.clone();
            params.insert(
                "_meta".into(),
                Value::Object(envelope(c, Some(caps), flags)),
            );
        }
        self.tagging = Some((tag, Vec::new()));
        let msg = json!({"jsonrpc": "2.0", "method": "subscriptions/listen", "params": params});
        Some(with_id(msg, id))
    }

    /// The retry of the k-th input-required result: the same method and target, with its
    /// `requestState` and an answer to each input. Flags: `x` tampers with the state, `w`
    /// names another target, `o` leaves out the first answer, `O` all of them, `M`/`k`
    /// declare nothing / everything, `p` asks for progress, `l` for logs.
    pub(super) fn build_retry(
        &mut self,
        c: usize,
        id: &str,
        k: usize,
        flags: &str,
    ) -> Option<String> {
        if self.results.is_empty() {
            return None;
        }
        let r = k % self.results.len();
        let (tag, mut params) = self.tagged_params(c)?;
        let session = tag.0;
        let result = &self.results[r];
        let method = result.method.clone();
        params.extend(result.target.clone());
        let wrong = flags.contains('w');
        if wrong {
            params.insert("name".into(), json!("other"));
        }
        let caps = if flags.contains('M') {
            json!({})
        } else if flags.contains('k') {
            bridge_capabilities()
        } else {
            self.clients[c].profile.clone()
        };
        let mut meta = envelope(c, Some(caps), flags);
        if flags.contains('p') {
            meta.insert("progressToken".into(), json!(format!("t{}", tag.1)));
        }
        params.insert("_meta".into(), Value::Object(meta));
        let tampered = flags.contains('x');
        if let Some(state) = &result.state {
            let state = match (tampered, state.as_str()) {
                (true, Some(s)) => json!(format!("{s}x")),
                (true, None) => json!("x"),
                (false, _) => state.clone(),
            };
            params.insert("requestState".into(), state);
        }
        let skip = if flags.contains('O') {
            result.keys.len()
        } else {
            usize::from(flags.contains('o'))
        };
        let responses: Map<String, Value> = result
            .keys
            .iter()
            .skip(skip)
            .map(|key| {
                (
                    key.clone(),
                    json!({"fzc": session, "action": "accept", "content": {}}),
                )
            })
            .collect();
        params.insert("inputResponses".into(), Value::Object(responses));
        // A retry bridgedock will take (its own state, unchanged, the same request) takes over
        // the call, and may answer what was asked in it.
        let takes_over = !result.server_made && !tampered && !wrong;
        let origin = if takes_over {
            result.origin.clone()
        } else {
            Vec::new()
        };
        if takes_over {
            for own in result.asks.clone() {
                if let Some(o) = self.server.own.get_mut(own) {
                    o.answerable.insert(session);
                    o.results_allowed += 1;
                }
            }
        }
        self.tagging = Some((tag, origin));
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        Some(with_id(msg, id))
    }

    /// A client answers the k-th request clients were sent (with the id it had there),
    /// whether or not it was the one sent it: only that one may.
    pub(super) async fn answer_server(&mut self, c: usize, k: usize, error: bool) {
        if self.asked.is_empty() {
            return;
        }
        let Some(session) = self.clients[c].session else {
            return;
        };
        let id = self.asked[k % self.asked.len()].id.clone();
        let frame = if error {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -1, "message": "no", "data": {"fzc": session}}})
        } else {
            json!({"jsonrpc": "2.0", "id": id, "result": {"fzc": session, "action": "accept", "content": {}}})
        };
        self.client_frame(c, frame.to_string()).await;
    }

    /// Sends one frame as the WebSocket connection task does.
    pub(super) async fn client_frame(&mut self, c: usize, text: String) {
        trace!("  client {c} -> {text}");
        let tagging = self.tagging.take();
        let Some(session) = self.clients[c].session else {
            return;
        };
        if let Some(request) = FastRequest::read(&text) {
            if let Some((tag, origin)) = tagging {
                let params = request
                    .params
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok());
                let params = params.unwrap_or(Value::Null);
                self.remember(tag, &request.id, &request.method, &params, origin);
            }
            // The fast path never carries `_meta`, so never a progress token or an envelope.
            self.expect_answer(c, key(&request.id), None);
            assert!(self.handle.forward(session, request).await, "router gone");
            return;
        }
        let msg = match jsonrpc::parse_message(&text) {
            Ok(msg) => msg,
            Err((id, error)) => {
                // The connection task answers; the router never sees the frame.
                self.expect_answer(c, key(&id), None);
                if let Some(out) = &self.clients[c].out {
                    out.force_send(jsonrpc::error_response(id, error).to_string());
                }
                return;
            }
        };
        if let (Some((tag, origin)), Some(id), Some(method)) = (
            tagging,
            msg.get("id"),
            msg.get("method").and_then(Value::as_str),
        ) {
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            self.remember(tag, id, method, &params, origin);
        }
        self.note_client_message(c, &msg);
        assert!(
            self.handle.message(session, msg, text.len()).await,
            "router gone"
        );
    }

    /// Keeps the books on a message the router will take from client `c`: what it declares,
    /// which era the router holds it for, what it waits for.
    fn note_client_message(&mut self, c: usize, msg: &Map<String, Value>) {
        let op = self.op;
        let method = msg.get("method").and_then(Value::as_str);
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let client = &mut self.clients[c];
        let revision = mcp::declared_revision(msg);
        if revision.is_some_and(mcp::is_modern) {
            client.modern_since.get_or_insert(op);
            if let Some(caps) = mcp::declared_capabilities(msg).filter(|c| c.is_object()) {
                client.declared.push(caps.clone());
            }
        }
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => {
                if method == "initialize" {
                    // The router holds it for a handshake-era client from now on (unless it
                    // refuses this initialize: the books only get less sure).
                    client.modern_since = None;
                    if let Some(caps) = params.get("capabilities") {
                        client.declared.push(caps.clone());
                    }
                }
                if method == "resources/subscribe" {
                    let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                    client.subscribed.insert(uri.to_string());
                }
                if method == "subscriptions/listen" {
                    *client.listen_due.entry(key(id)).or_default() += 1;
                    let asked = params.get("notifications");
                    let on = |k: &str| {
                        asked.and_then(|a| a.get(k)).and_then(Value::as_bool) == Some(true)
                    };
                    let listen = client.listens.entry(key(id)).or_default();
                    listen.tools |= on("toolsListChanged");
                    listen.prompts |= on("promptsListChanged");
                    listen.resources |= on("resourcesListChanged");
                    if let Some(uris) = asked
                        .and_then(|a| a.get("resourceSubscriptions"))
                        .and_then(Value::as_array)
                    {
                        listen
                            .uris
                            .extend(uris.iter().filter_map(Value::as_str).map(str::to_string));
                    }
                }
                let token = params.get("_meta").and_then(|m| m.get("progressToken"));
                let token = token.filter(|_| params.is_object()).map(key);
                self.expect_answer(c, key(id), token);
            }
            (Some("notifications/cancelled"), None) => {
                if let Some(id) = params.get("requestId") {
                    *client.cancelled.entry(key(id)).or_default() += 1;
                }
            }
            _ => {}
        }
    }

    fn expect_answer(&mut self, c: usize, id: String, token: Option<String>) {
        let client = &mut self.clients[c];
        *client.due.entry(id).or_default() += 1;
        if let Some(t) = token {
            client.tokens.insert(t);
        }
    }
}

/// A request's frame with the id as the script wrote it (JSON text, any spelling).
fn with_id(msg: Value, id: &str) -> String {
    let text = msg.to_string();
    match text.strip_prefix('{') {
        Some(rest) => format!("{{\"id\":{id},{rest}"),
        None => text,
    }
}
