//! What the fake clients are sent, checked message by message: answers (once, to their
//! owner, in their era's words), the server's requests (only to a client that declared what
//! they need), input-required results, and notifications (progress to its request's holder,
//! list changes and updates only where asked for).

use bridgedock_engine::bridge::outbound::Outgoing;
use bridgedock_engine::protocol::capabilities::{declares, required_for};
use bridgedock_engine::protocol::jsonrpc::{BRIDGE_INTERNAL, SERVER_UNREACHABLE};
use bridgedock_engine::protocol::mcp::{self, META_SUBSCRIPTION_ID};
use serde_json::{Map, Value, json};

use super::{
    Asked, Client, Harness, InputRequired, RETRY_REASK_BUG, SESSION_CAPABILITIES_BUG,
    SLOW_CLIENT_CODE_BUG, Tag, key, trace,
};

impl Harness {
    /// Reads what a client has been sent and checks each message.
    pub(super) fn drain_client(&mut self, c: usize, force: bool) {
        if !force && !self.clients[c].reading {
            return;
        }
        let mut got = Vec::new();
        if let Some(rx) = &mut self.clients[c].rx {
            while let Some(item) = rx.try_recv() {
                got.push(item);
            }
        }
        let modern = self.clients[c].certainly_modern();
        for item in got {
            match item {
                Outgoing::Text(text) => self.client_received(c, &text, modern),
                Outgoing::Ping => {}
                Outgoing::Close { code, reason } => {
                    assert_eq!(code, 1013, "client {c} closed with {code} ({reason})");
                    // The router has forgotten this session: nothing more is due to it.
                    self.clients[c] = Client::default();
                    return;
                }
            }
        }
        self.clients[c].last_drain = self.op;
    }

    /// One message client `c` was sent; `modern`: the router held it for a 2026-07-28 client
    /// since before it was queued.
    fn client_received(&mut self, c: usize, text: &str, modern: bool) {
        trace!("  client {c} <- {text}");
        let msg: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            other => panic!(
                "client {c} was sent something that is not a JSON object ({other:?}): {text}"
            ),
        };
        assert_eq!(
            msg.get("jsonrpc"),
            Some(&json!("2.0")),
            "client {c} was sent a message without jsonrpc 2.0: {text}"
        );
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => {
                let id = id.clone();
                self.client_asked(c, &method, &id, &msg, text, modern);
            }
            (Some(method), None) => self.client_notification(c, &method, &msg, text, modern),
            (None, Some(id)) => {
                let id = id.clone();
                self.client_answer(c, &id, &msg, text, modern);
            }
            (None, None) => panic!("client {c} was sent an answer without id: {text}"),
        }
    }

    /// A request for client `c` (the server's own, or an input bridgedock gathers).
    fn client_asked(
        &mut self,
        c: usize,
        method: &str,
        id: &Value,
        msg: &Map<String, Value>,
        text: &str,
        modern: bool,
    ) {
        assert!(
            !modern,
            "client {c}, of the 2026-07-28 revision, was sent a request (it has no stream for one): {text}"
        );
        let session = self.clients[c].session;
        self.clients[c].server_requests.insert(key(id));
        self.asked.push(Asked { id: id.clone() });
        let params = msg.get("params");
        if let Some(need) = required_for(method, params) {
            assert!(
                self.clients[c].declared_any(&need),
                "client {c} was sent `{method}`, which needs the `{}` capability it never declared (it declared {:?}): {text}",
                need.join("."),
                self.clients[c].declared
            );
        }
        if let Some(k) = params.and_then(|p| p.get("fzs")).and_then(Value::as_u64)
            && let Some(own) = self.server.own.get_mut(k as usize)
        {
            assert!(
                !own.as_request && own.in_results == 0,
                "a server request was given to clients twice: {text}"
            );
            own.as_request = true;
            own.answerable.extend(session);
        }
    }

    fn client_answer(
        &mut self,
        c: usize,
        id: &Value,
        msg: &Map<String, Value>,
        text: &str,
        modern: bool,
    ) {
        let k = key(id);
        let client = &mut self.clients[c];
        let session = client.session.unwrap_or_default();
        match client.due.get_mut(&k) {
            Some(n) if *n > 0 => *n -= 1,
            _ => panic!(
                "client {c} got an answer for id {k} with no request of its own in flight (a duplicate or a misroute): {text}"
            ),
        }
        if let Some(error) = msg.get("error") {
            let code = error.get("code").and_then(Value::as_i64);
            let too_slow =
                error.get("data").and_then(|d| d.get("reason")) == Some(&json!("client_too_slow"));
            assert!(
                !(modern
                    && !self.raw_legacy_codes
                    && !(SLOW_CLIENT_CODE_BUG && too_slow)
                    && matches!(code, Some(BRIDGE_INTERNAL | SERVER_UNREACHABLE))),
                "client {c}, of the 2026-07-28 revision, got a legacy error code: {text}"
            );
        }
        let result = msg.get("result");
        let tag = result.and_then(|r| r.get("fz")).or_else(|| {
            msg.get("error")
                .and_then(|e| e.get("data"))
                .and_then(|d| d.get("fz"))
        });
        if let Some(tag) = tag {
            let tag = tag_parts(tag);
            let sent = self
                .requests
                .get(&tag)
                .unwrap_or_else(|| panic!("an answer with a tag nobody sent: {text}"));
            assert!(
                sent.holders
                    .iter()
                    .any(|h| h.session == session && h.id == k),
                "client {c} (session {session}) got the answer to request {tag:?}, which went to {:?}: {text}",
                sent.holders
            );
        }
        if let Some(result) = result.and_then(Value::as_object) {
            if result.get("resultType").and_then(Value::as_str) == Some("input_required") {
                self.input_required(c, &k, result, text);
            }
            let closes_a_listen = result.len() == 2
                && result.get("resultType").and_then(Value::as_str) == Some("complete")
                && result
                    .get("_meta")
                    .is_some_and(|m| m.get(META_SUBSCRIPTION_ID).is_some());
            if closes_a_listen {
                assert!(
                    self.stopped,
                    "client {c}'s listen {k} was ended while bridgedock is not shutting down: {text}"
                );
            }
        }
    }

    /// An input-required result for client `c`'s request `id`.
    fn input_required(&mut self, c: usize, id: &str, result: &Map<String, Value>, text: &str) {
        let session = self.clients[c].session.unwrap_or_default();
        // The client's requests this may answer: those with this id (normally one).
        let candidates: Vec<Tag> = self
            .requests
            .iter()
            .filter(|(_, s)| {
                s.holders
                    .first()
                    .is_some_and(|h| h.session == session && h.id == id)
            })
            .map(|(t, _)| *t)
            .collect();
        let server_made = result.contains_key("fzi");
        let inputs = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut asks = Vec::new();
        if !server_made {
            assert!(
                result.get("requestState").is_some_and(Value::is_string) && !inputs.is_empty(),
                "an input-required result of bridgedock's without a state or inputs: {text}"
            );
            for input in inputs.values() {
                let method = input.get("method").and_then(Value::as_str).unwrap_or("");
                let params = input.get("params");
                let own = params
                    .and_then(|p| p.get("fzs"))
                    .and_then(Value::as_u64)
                    .and_then(|k| self.server.own.get(k as usize));
                let asked_before = own.is_some_and(|o| o.in_results > 0);
                let let_through = RETRY_REASK_BUG && asked_before;
                if let Some(need) = required_for(method, params).filter(|_| !let_through) {
                    assert!(
                        self.clients[c].declared_any(&need),
                        "client {c} was asked for `{method}`, which needs the `{}` capability it never declared: {text}",
                        need.join(".")
                    );
                    // Each 2026-07-28 request declares its own capabilities: what answers it asks
                    // only for what it declared (an untagged raw request is not checked).
                    let declared = &self.clients[c].declared;
                    let one_declaration = declared.windows(2).all(|w| w[0] == w[1]);
                    let own_envelope = candidates
                        .iter()
                        .all(|t| self.requests.get(t).is_some_and(|s| s.caps.is_some()));
                    let unchecked = SESSION_CAPABILITIES_BUG && !(one_declaration && own_envelope);
                    let per_request = unchecked
                        || candidates.is_empty()
                        || candidates.iter().any(|t| {
                            self.requests
                                .get(t)
                                .is_some_and(|s| declares(s.caps.as_ref(), &need))
                        });
                    assert!(
                        per_request,
                        "client {c} was asked for `{method}` in the answer to its request {id}, which did not declare the `{}` capability: {text}",
                        need.join(".")
                    );
                }
                if let Some(k) = params.and_then(|p| p.get("fzs")).and_then(Value::as_u64)
                    && let Some(own) = self.server.own.get_mut(k as usize)
                {
                    own.in_results += 1;
                    assert!(
                        !own.as_request && own.in_results <= own.results_allowed,
                        "a server request was given to clients more often than retries asked for it: {text}"
                    );
                    own.answerable.insert(session);
                    asks.push(k as usize);
                }
            }
        }
        let (method, target, origin) = match candidates.first().and_then(|t| self.requests.get(t)) {
            Some(sent) => {
                let origin: Vec<Tag> = candidates
                    .iter()
                    .flat_map(|t| match self.requests.get(t) {
                        Some(s) if !s.origin.is_empty() => s.origin.clone(),
                        _ => vec![*t],
                    })
                    .collect();
                (sent.method.clone(), sent.target.clone(), origin)
            }
            // An answer to an untagged (raw) request: retried as some call, which is fine.
            None => ("tools/call".to_string(), Map::new(), Vec::new()),
        };
        self.results.push(InputRequired {
            method,
            target,
            state: result.get("requestState").cloned(),
            keys: inputs.keys().cloned().collect(),
            server_made,
            origin,
            asks,
        });
    }

    fn client_notification(
        &mut self,
        c: usize,
        method: &str,
        msg: &Map<String, Value>,
        text: &str,
        modern: bool,
    ) {
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let client = &self.clients[c];
        let session = client.session.unwrap_or_default();
        let listen = params
            .get("_meta")
            .and_then(|m| m.get(META_SUBSCRIPTION_ID))
            .map(|id| {
                let asked = client.listens.get(&key(id)).unwrap_or_else(|| {
                    panic!("client {c} got a notification for listen {id}, which it never opened: {text}")
                });
                (key(id), asked.clone())
            });
        match method {
            "notifications/progress" => {
                let token = params
                    .get("progressToken")
                    .map(key)
                    .unwrap_or_else(|| panic!("progress without a token: {text}"));
                assert!(
                    client.tokens.contains(&token),
                    "client {c} got progress for token {token}, which it never used: {text}"
                );
                if let Some(tag) = params.get("fz") {
                    let tag = tag_parts(tag);
                    let sent = self
                        .requests
                        .get(&tag)
                        .unwrap_or_else(|| panic!("progress with a tag nobody sent: {text}"));
                    let holder = sent.holders.iter().find(|h| {
                        h.session == session && h.token.as_deref() == Some(token.as_str())
                    });
                    let holder = holder.unwrap_or_else(|| {
                        panic!(
                            "client {c} (session {session}) got progress of request {tag:?} with token {token}, which went to {:?}: {text}",
                            sent.holders
                        )
                    });
                    assert!(
                        client.due.get(&holder.id).is_some_and(|n| *n > 0),
                        "progress of request {tag:?} after its answer: {text}"
                    );
                }
            }
            "notifications/subscriptions/acknowledged" => {
                let (id, asked) = listen
                    .unwrap_or_else(|| panic!("an acknowledgement that names no listen: {text}"));
                let honored = params.get("notifications").and_then(Value::as_object);
                for (k, v) in honored.into_iter().flatten() {
                    let ok = match k.as_str() {
                        "toolsListChanged" => asked.tools,
                        "promptsListChanged" => asked.prompts,
                        "resourcesListChanged" => asked.resources,
                        "resourceSubscriptions" => v.as_array().is_some_and(|a| {
                            a.iter()
                                .all(|u| u.as_str().is_some_and(|u| asked.uris.contains(u)))
                        }),
                        _ => false,
                    };
                    assert!(
                        ok,
                        "listen {id} of client {c} was acknowledged `{k}`, which it did not ask for: {text}"
                    );
                }
            }
            "notifications/resources/updated" => {
                let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                match &listen {
                    Some((id, asked)) => assert!(
                        asked.uris.contains(uri),
                        "client {c}'s listen {id} got an update of {uri:?}, which it did not ask for: {text}"
                    ),
                    None => {
                        assert!(
                            !modern,
                            "client {c}, of the 2026-07-28 revision, got an update outside a listen: {text}"
                        );
                        assert!(
                            client.subscribed.contains(uri),
                            "client {c} got an update of {uri:?}, which it never subscribed to: {text}"
                        );
                    }
                }
            }
            "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed" => match &listen {
                Some((id, asked)) => {
                    let wanted = match method {
                        "notifications/tools/list_changed" => asked.tools,
                        "notifications/prompts/list_changed" => asked.prompts,
                        _ => asked.resources,
                    };
                    assert!(
                        wanted,
                        "client {c}'s listen {id} got `{method}`, which it did not ask for: {text}"
                    );
                }
                None => assert!(
                    !modern,
                    "client {c}, of the 2026-07-28 revision, got `{method}` outside a listen: {text}"
                ),
            },
            "notifications/message" => {
                if modern {
                    let severity = params
                        .get("level")
                        .and_then(Value::as_str)
                        .and_then(mcp::log_severity)
                        .unwrap_or(0);
                    let asked = self.requests.values().any(|s| {
                        s.log_level.is_some_and(|l| l <= severity)
                            && s.holders.iter().any(|h| {
                                h.session == session
                                    && client.due.get(&h.id).is_some_and(|n| *n > 0)
                            })
                    });
                    assert!(
                        asked,
                        "client {c}, of the 2026-07-28 revision, got a log message no request of its own asked for: {text}"
                    );
                }
            }
            "notifications/cancelled" => {
                let id = params.get("requestId").unwrap_or_else(|| {
                    panic!("a forwarded cancellation without requestId: {text}")
                });
                assert!(
                    client.server_requests.contains(&key(id)),
                    "client {c} got a cancellation of {id}, a request it was never sent: {text}"
                );
            }
            _ => assert!(
                !modern,
                "client {c}, of the 2026-07-28 revision, got `{method}`, which it has no stream for: {text}"
            ),
        }
    }
}

/// `[session, n]` of a tag.
fn tag_parts(tag: &Value) -> Tag {
    let parts = tag
        .as_array()
        .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()? as usize)));
    parts.unwrap_or_else(|| panic!("malformed tag {tag}"))
}
