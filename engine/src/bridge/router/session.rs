//! One connected client as the router sees it: its outbound queue, what it told us about
//! itself, and the counters the dock shows.

use std::collections::HashSet;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Router;
use crate::bridge::outbound::Outbound;
use crate::status::{ClientSession, now_ms};

pub(super) struct Session {
    pub out: Outbound,
    pub info: ClientSession,
    /// Speaks the stateless 2026-07-28 revision: results get its shape.
    pub modern: bool,
    /// What it declared it can do: from its `initialize`, or its latest modern request's
    /// `_meta`. The server's requests go only to clients that declared what they need.
    pub capabilities: Option<Value>,
    pub client_info: Option<Value>,
    /// The `logging/setLevel` of a handshake-era client (for a stateless server, which
    /// takes the level with each request), as a severity (see `mcp::LOG_LEVELS`).
    pub log_level: Option<usize>,
    /// Resources it subscribed to (`resources/subscribe`, handshake era).
    pub subscriptions: HashSet<String>,
    /// Its open `subscriptions/listen` requests (2026-07-28).
    pub listens: Vec<super::listen::Listen>,
    /// Since when its queue has been over the cap, if it is.
    pub full_since: Option<Instant>,
    pub pending: u32,
    pub last_request: Option<Instant>,
    pub dropped: u64,
    pub dirty: bool,
}

impl Session {
    pub fn new(
        id: u64,
        server: &str,
        transport: &'static str,
        peer: String,
        out: Outbound,
    ) -> Self {
        let now = now_ms();
        Session {
            out,
            info: ClientSession {
                id: format!("{server}-{transport}-{id}"),
                server: server.to_string(),
                transport: transport.to_string(),
                peer,
                client_name: None,
                client_version: None,
                protocol_version: None,
                server_protocol_version: None,
                protocol_mismatch: false,
                connected_at_ms: now,
                last_activity_ms: now,
                messages_in: 0,
                messages_out: 0,
                pending: 0,
                reconnects: 0,
            },
            modern: false,
            capabilities: None,
            client_info: None,
            log_level: None,
            subscriptions: HashSet::new(),
            listens: Vec::new(),
            full_since: None,
            pending: 0,
            last_request: None,
            dropped: 0,
            dirty: false,
        }
    }
}

impl Router {
    /// Queues `msg` for a client without waiting. When its queue is over the cap, a response
    /// (`response_to` = the client's id) is replaced by a small error saying why, and anything
    /// else is dropped and counted.
    pub(super) fn deliver(&mut self, session: u64, msg: &Value, response_to: Option<&Value>) {
        self.deliver_text(session, msg.to_string(), response_to);
    }

    /// [`Self::deliver`] for a message already serialized.
    pub(super) fn deliver_text(&mut self, session: u64, text: String, response_to: Option<&Value>) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.dirty = true;
        match s.out.try_send(text) {
            Ok(()) => s.info.messages_out += 1,
            Err(_) => {
                s.full_since.get_or_insert_with(Instant::now);
                match response_to {
                    Some(id) => {
                        let modern = s.modern;
                        let error = crate::protocol::jsonrpc::RpcError {
                            code: crate::protocol::jsonrpc::BRIDGE_INTERNAL,
                            message: format!(
                                "response dropped: this client reads too slowly (over {} MiB waiting to be sent); read faster or ask for less",
                                self.opts.outbound_cap_bytes / (1024 * 1024)
                            ),
                            data: Some(json!({"reason": "client_too_slow"})),
                        };
                        let error = if modern {
                            super::for_modern_client(error)
                        } else {
                            error
                        };
                        let error = crate::protocol::jsonrpc::error_response(id.clone(), error);
                        s.out.force_send(error.to_string());
                        s.info.messages_out += 1;
                        self.stats.error();
                    }
                    None => s.dropped += 1,
                }
            }
        }
    }

    /// Delivers to every session that has spoken to the server.
    pub(super) fn broadcast(&mut self, msg: &Value, only: impl Fn(&Session) -> bool) {
        let ids: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| only(s))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.deliver(id, msg, None);
        }
    }

    /// A client that stayed over its queue cap too long is disconnected (1013: try again later).
    pub(super) fn check_slow_clients(&mut self, now: Instant) {
        let limit = self.opts.slow_client_close_after;
        let mut too_slow = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            // Refusals start the clock; only draining to half the cap stops it, so a client that
            // reads nothing is caught even when big messages leave the queue short of the cap.
            if s.out.queued_bytes() <= self.opts.outbound_cap_bytes / 2 {
                s.full_since = None;
            } else if s.full_since.is_some_and(|t| now.duration_since(t) >= limit) {
                too_slow.push(*id);
            }
        }
        for id in too_slow {
            let secs = limit.as_secs();
            if let Some(s) = self.sessions.get(&id) {
                tracing::warn!(
                    server = %self.server,
                    "closing client {} ({}): its outbound queue stayed full for {secs} s",
                    s.info.id,
                    s.info.client_name.as_deref().unwrap_or("unnamed")
                );
                s.out.close(
                    1013,
                    format!("client too slow: its queue stayed full for {secs} s"),
                );
            }
            self.detach(id, "too slow", false);
        }
    }

    /// Forgets a session: its requests in flight are cancelled at the server, the server's
    /// requests waiting for its answer are answered with an error, its subscriptions released.
    /// Calls it handed over for a retry (parked) are no longer its own and stay.
    pub(super) fn detach(&mut self, session: u64, reason: &str, ended: bool) {
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        for id in self.inflight.of_session(session) {
            if self.inflight.cancel(id).is_some() {
                let _ = self.send_to_server(&super::cancelled(
                    id,
                    &format!("the client disconnected ({reason})"),
                ));
            }
        }
        let theirs: Vec<String> = self
            .server_requests
            .iter()
            .filter(|(_, r)| r.session == session)
            .map(|(k, _)| k.clone())
            .collect();
        for key in theirs {
            if let Some(r) = self.server_requests.remove(&key)
                && let super::asks::AskKind::Forwarded { server_id } = r.kind
            {
                self.server_request_ids.remove(&server_id.to_string());
                let _ = self.send_to_server(&crate::protocol::jsonrpc::error_response(
                    server_id,
                    crate::protocol::jsonrpc::RpcError::new(
                        crate::protocol::jsonrpc::BRIDGE_INTERNAL,
                        "the client this request was sent to disconnected",
                    ),
                ));
            }
        }
        self.gathering.retain(|_, g| g.session != session);
        self.waiting.retain(|w| w.session != session);
        self.init_waiters.retain(|w| w.session != session);
        self.subscriptions_changed(&s.subscriptions, &s.listens);
        if s.info.client_name.is_some() && !ended {
            if self.gone.len() >= 256 {
                self.gone.pop_front();
            }
            self.gone.push_back(super::GoneClient {
                who: super::client_identity(
                    s.info.client_name.as_deref(),
                    s.info.client_version.as_deref(),
                ),
                at: Instant::now(),
                reconnects: s.info.reconnects,
            });
        }
        self.status.remove_client(&s.info.id);
    }

    /// Records who the client says it is; the same client back within a minute is a reconnect.
    pub(super) fn identify(&mut self, session: u64, name: Option<String>, version: Option<String>) {
        let now = Instant::now();
        self.gone
            .retain(|g| now.duration_since(g.at) < super::RECONNECT_WINDOW);
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        if s.info.client_name.is_some() || name.is_none() {
            return;
        }
        let who = super::client_identity(name.as_deref(), version.as_deref());
        if let Some(pos) = self.gone.iter().position(|g| g.who == who)
            && let Some(g) = self.gone.remove(pos)
        {
            s.info.reconnects = g.reconnects + 1;
        }
        s.info.client_name = name;
        s.info.client_version = version;
        self.status.put_client(s.info.clone());
    }

    /// Publishes counters that changed: the server's request stats and each session's.
    pub(super) fn publish(&mut self) {
        if self.stats.changed {
            self.stats.changed = false;
            let (p50, p99) = self.stats.percentiles_ms();
            let (requests, errors) = (self.stats.requests, self.stats.errors);
            self.status.update_server(&self.server, |s| {
                s.requests = requests;
                s.errors = errors;
                s.latency_p50_ms = p50;
                s.latency_p99_ms = p99;
            });
        }
        for s in self.sessions.values_mut() {
            if s.dirty {
                s.dirty = false;
                s.info.pending = s.pending;
                self.status.put_client(s.info.clone());
            }
        }
    }
}
