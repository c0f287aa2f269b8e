//! What the fake server process reads on its stdin, checked line by line: valid JSON-RPC,
//! bridge ids never reused, bridgedock's own handshake first and nothing else before it, each
//! era's envelope, progress tokens rewritten, and the server's own requests answered once, with
//! its own id, by a client they were given to.

use bridgedock_engine::protocol::capabilities::bridge_capabilities;
use bridgedock_engine::protocol::mcp::{
    LATEST_HANDSHAKE_REVISION, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, STATELESS_REVISION,
};
use serde_json::{Map, Value, json};

use super::handshake::Era;
use super::server::{progress_token, tag_of};
use super::{Harness, OwnRequest, REVISION_KEPT_BUG, Received, key, trace};

impl Harness {
    /// Reads what the router wrote to the fake server's stdin and checks each line.
    pub(super) fn read_server(&mut self, force: bool) {
        if !force && !self.server.reading {
            return;
        }
        let mut lines = Vec::new();
        if let Some(rx) = &mut self.server.rx {
            while let Ok(line) = rx.try_recv() {
                lines.push(line.text().to_owned());
            }
        }
        for line in lines {
            self.server_received(&line);
        }
    }

    /// Reads until nothing waits for the fake server, in its queue or the router's overflow.
    pub(super) async fn read_server_fully(&mut self) {
        if self.server.rx.is_none() {
            return;
        }
        loop {
            self.read_server(true);
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            let waiting = self.occupancy().await.overflow_lines;
            let queued = self.server.rx.as_ref().is_some_and(|rx| !rx.is_empty());
            if waiting == 0 && !queued {
                break;
            }
        }
    }

    fn server_received(&mut self, line: &str) {
        trace!("  server <- {}", line.trim_end());
        let body = line
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("a line for the server without its newline: {line:?}"));
        assert!(
            !body.contains('\n'),
            "a line for the server with a newline inside: {line:?}"
        );
        let msg: Map<String, Value> = match serde_json::from_str(body) {
            Ok(Value::Object(m)) => m,
            other => panic!(
                "the server was sent something that is not a JSON object ({other:?}): {body}"
            ),
        };
        assert_eq!(
            msg.get("jsonrpc"),
            Some(&json!("2.0")),
            "the server was sent {body}"
        );
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => self.server_got_request(method, id.clone(), &msg, body),
            (Some(method), None) => self.server_got_notification(&method, &msg, body),
            (None, id) => {
                let id =
                    id.unwrap_or_else(|| panic!("an answer without id for the server: {body}"));
                let id = id.clone();
                self.server_got_answer(&id, &msg, body);
            }
        }
    }

    fn server_got_request(
        &mut self,
        method: String,
        id: Value,
        msg: &Map<String, Value>,
        body: &str,
    ) {
        let id_key = key(&id);
        let bridge_id = id.as_u64().unwrap_or_else(|| {
            panic!("the server was sent request id {id_key}, not a bridge id: {body}")
        });
        assert!(
            self.server.bridge_ids.insert(id_key.clone()),
            "bridge id {id_key} was used twice: {body}"
        );
        self.server.process_ids.insert(bridge_id);
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let meta = params.get("_meta").filter(|_| params.is_object());
        match method.as_str() {
            "server/discover" => {
                assert!(
                    self.server.handshake.probe_sent(&id),
                    "`server/discover` was not the first thing this process was sent, or came twice: {body}"
                );
                assert_eq!(
                    meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)),
                    Some(&bridge_capabilities()),
                    "bridgedock's probe declares what any of its clients may do: {body}"
                );
            }
            "initialize" => {
                assert!(
                    self.server.handshake.init_sent(&id),
                    "`initialize` reached a process before the probe, twice, or after it answered: {body}"
                );
                assert!(
                    params.get("fz").is_none()
                        && params["clientInfo"]["name"] == "bridgedock"
                        && params["capabilities"] == bridge_capabilities()
                        && params["protocolVersion"] == LATEST_HANDSHAKE_REVISION,
                    "the server was initialized with other params than bridgedock's own: {body}"
                );
            }
            _ => {
                let era = self.server.handshake.era();
                assert!(
                    era.is_some(),
                    "`{method}` reached a server process before its handshake ({:?}): {body}",
                    self.server.handshake
                );
                self.check_envelope(era, &params, body);
            }
        }
        assert!(
            !(self.stopped && tag_of(&params, "fz").is_some()),
            "a client's request reached the server after bridgedock began to shut down: {body}"
        );
        if let Some(token) = progress_token(&params) {
            assert_eq!(
                token,
                &json!(format!("bdp-{id_key}")),
                "a client's progress token reached the server as the client wrote it: {body}"
            );
        }
        // The inputs a retry carries are the answers of the client whose call it is.
        if let (Some(tag), Some(responses)) = (
            tag_of(&params, "fz"),
            params.get("inputResponses").and_then(Value::as_object),
        ) {
            let owner = tag.get(0).and_then(Value::as_u64);
            for response in responses.values() {
                if let Some(from) = response.get("fzc").and_then(Value::as_u64) {
                    assert_eq!(
                        Some(from),
                        owner,
                        "a call of session {owner:?} was retried with another client's input: {body}"
                    );
                }
            }
        }
        self.server.open.push(Received { id, method, params });
    }

    /// The revision translation: a process that answered `initialize` never sees the
    /// stateless envelope; one that answered the probe gets it on every request, declaring
    /// only what the client whose request it is declared.
    fn check_envelope(&self, era: Option<Era>, params: &Value, body: &str) {
        let meta = params
            .as_object()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        match era {
            Some(Era::Handshake) => assert!(
                !meta.is_some_and(|m| m.keys().any(|k| in_envelope_namespace(k))),
                "a server that answered initialize was sent the stateless envelope: {body}"
            ),
            Some(Era::Stateless) => {
                // An array's params have no room for an envelope (the router leaves them so).
                if !params.is_object() && !params.is_null() {
                    return;
                }
                let tag = params
                    .get("fz")
                    .and_then(|t| Some((t.get(0)?.as_u64()?, t.get(1)?.as_u64()? as usize)));
                let sent = tag.and_then(|t| self.requests.get(&t));
                let revision = meta
                    .and_then(|m| m.get(META_PROTOCOL_VERSION))
                    .and_then(Value::as_str);
                let named = sent.and_then(|s| s.revision.as_deref());
                assert!(
                    revision == Some(STATELESS_REVISION)
                        || (REVISION_KEPT_BUG && named.is_some() && revision == named),
                    "a stateless server was sent a request without its envelope (of its revision): {body}"
                );
                let declared = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES));
                let (Some(tag), Some(sent)) = (tag, sent) else {
                    return;
                };
                let ok = match &sent.meta_caps {
                    // Its own envelope: kept as it was.
                    Some(own) => declared == Some(own),
                    // A handshake-era client's: what it declared, or nothing.
                    None => {
                        let client = self.clients.iter().find(|c| c.session == Some(tag.0));
                        declared.is_some_and(|d| {
                            d == &json!({}) || client.is_none_or(|c| c.declared.contains(d))
                        })
                    }
                };
                assert!(
                    ok,
                    "a stateless server was told the client declared {declared:?}, which it did not: {body}"
                );
            }
            None => {}
        }
    }

    fn server_got_notification(&mut self, method: &str, msg: &Map<String, Value>, body: &str) {
        let era = self.server.handshake.era();
        match method {
            "notifications/initialized" => {
                assert!(
                    era == Some(Era::Handshake) && !self.server.initialized,
                    "`notifications/initialized` to a process that did not just answer initialize ({:?}): {body}",
                    self.server.handshake
                );
                self.server.initialized = true;
            }
            "notifications/cancelled" => {
                let id = msg.get("params").and_then(|p| p.get("requestId"));
                let request = id.and_then(Value::as_u64);
                assert!(
                    request.is_some_and(|i| self.server.process_ids.contains(&i)),
                    "a cancellation of a request this process was never sent: {body}"
                );
                self.server.open.retain(|r| r.id.as_u64() != request);
            }
            _ => assert!(
                era == Some(Era::Handshake),
                "`{method}` reached a process that is not a ready handshake-era server ({:?}): {body}",
                self.server.handshake
            ),
        }
    }

    /// An answer to one of the server's own requests: once, with the server's id, and only
    /// from a client it was given to.
    fn server_got_answer(&mut self, id: &Value, msg: &Map<String, Value>, body: &str) {
        let from = msg
            .get("result")
            .and_then(|r| r.get("fzc"))
            .or_else(|| {
                msg.get("error")
                    .and_then(|e| e.get("data"))
                    .and_then(|d| d.get("fzc"))
            })
            .and_then(Value::as_u64);
        // With an id the server used twice in this process, which request an answer is for is
        // the server's own confusion: only answers to unambiguous ids are attributed.
        let generation = self.server.generation;
        let ambiguous = self
            .server
            .own
            .iter()
            .filter(|o| o.generation == generation && &o.id == id)
            .count()
            > 1;
        let mut open: Vec<&mut OwnRequest> = self
            .server
            .own
            .iter_mut()
            .filter(|o| &o.id == id && o.answers_due > 0)
            .collect();
        assert!(
            !open.is_empty(),
            "the server got an answer to {id}, which it has no request open for: {body}"
        );
        let pick = match from {
            // A client's own answer: it must be one that was given to that client.
            Some(session) if !ambiguous => {
                let to: Vec<_> = open.iter().map(|o| o.answerable.clone()).collect();
                open.iter()
                    .position(|o| !o.tagged || o.answerable.contains(&session))
                    .unwrap_or_else(|| panic!(
                        "session {session} answered the server's request {id}, which was given to {to:?}: {body}"
                    ))
            }
            _ => 0,
        };
        open[pick].answers_due -= 1;
    }
}

/// Whether a `_meta` key is in the stateless envelope's namespace (that of
/// `io.modelcontextprotocol/protocolVersion`, taken from the engine rather than spelled here).
fn in_envelope_namespace(key: &str) -> bool {
    let namespace = META_PROTOCOL_VERSION
        .rsplit_once('/')
        .map_or(META_PROTOCOL_VERSION, |(ns, _)| ns);
    key.strip_prefix(namespace)
        .is_some_and(|rest| rest.starts_with('/'))
}
