//! The server process's link — up (bridgedock greets it), its lines, down — and what ends when
//! it or bridgedock goes away: every request in flight or waiting is answered at once, in words
//! that say which.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::handshake::Handshake;
use super::inflight::PendingKind;
use super::{Link, Router, asks, cancelled};
use crate::protocol::jsonrpc::{RpcError, SERVER_UNREACHABLE};
use crate::supervisor::LinkEvent;

impl Router {
    pub(super) fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up {
                generation,
                pid,
                to_server,
                ready,
            } => {
                self.overflow.clear();
                self.overflow_bytes = 0;
                self.stall_reported = false;
                self.link = Some(Link {
                    generation,
                    pid,
                    to_server,
                    handshake: Handshake::NotStarted,
                    ready: Some(ready),
                    since: Instant::now(),
                    draining: false,
                });
                // bridgedock shakes hands with every new process itself, at once: it is ready
                // when it answers, whether or not a client is waiting.
                self.start_handshake();
            }
            LinkEvent::Line { generation, line } => {
                if self
                    .link
                    .as_ref()
                    .is_some_and(|l| l.generation == generation)
                {
                    self.server_line(&line);
                }
            }
            LinkEvent::Draining { generation } => {
                if let Some(link) = self.link.as_mut().filter(|l| l.generation == generation) {
                    link.draining = true;
                }
            }
            LinkEvent::Down { generation, reason } => {
                if self
                    .link
                    .as_ref()
                    .is_some_and(|l| l.generation == generation)
                {
                    self.link = None;
                    self.server_gone(&reason);
                }
            }
            LinkEvent::Lost {
                generation,
                ids,
                reason,
            } => {
                if self
                    .link
                    .as_ref()
                    .is_some_and(|l| l.generation == generation)
                {
                    // Answered as the server would have, with an error: every kind of request
                    // in flight (a client's call, bridgedock's own handshake) ends its usual way.
                    let message = self.gone_message(&reason);
                    for id in ids {
                        let error = json!({"jsonrpc": "2.0", "id": id, "error": {
                            "code": SERVER_UNREACHABLE, "message": message,
                        }});
                        self.server_line(&error.to_string());
                    }
                }
            }
        }
    }

    /// Who answers behind this router, in people's words: "server `time`", or what a kind
    /// runs there, "godot-ai (server `godot`)".
    pub(super) fn who(&self) -> String {
        match &self.opts.behind {
            Some(what) => format!("{what} (server `{}`)", self.server),
            None => format!("server `{}`", self.server),
        }
    }

    /// A request the server will not answer because it went away (`reason`).
    fn gone_message(&self, reason: &str) -> String {
        format!(
            "{} went away before answering ({reason}); the request was not completed — bridgedock brings the server back per its restart policy, so you can retry",
            self.who()
        )
    }

    /// The server process went away: every request in flight fails now, naming the server
    /// and why; client connections stay open. Calls held for a client's input go too: the
    /// process that asked for it is gone.
    pub(super) fn server_gone(&mut self, reason: &str) {
        let message = if self.stopping.is_cancelled() {
            format!(
                "server `{}` was stopped because bridgedock is shutting down; the request was not completed",
                self.server
            )
        } else {
            self.gone_message(reason)
        };
        self.down_at_ms = Some(crate::status::now_ms());
        for (_, p) in self.inflight.drain() {
            if let PendingKind::Client(call) = p.kind {
                self.stats.error();
                self.session_request_done(call.session);
                self.reply_error(
                    call.session,
                    call.client_id,
                    RpcError::new(SERVER_UNREACHABLE, message.clone()),
                );
            }
        }
        self.server_requests
            .retain(|_, r| matches!(r.kind, asks::AskKind::Gather { .. }));
        self.server_request_ids.clear();
        for (_, p) in std::mem::take(&mut self.parked) {
            if let Some((session, client_id)) = p.owner() {
                self.reply_error(
                    session,
                    client_id,
                    RpcError::new(SERVER_UNREACHABLE, message.clone()),
                );
            }
        }
        self.listen.server_gone();
    }

    /// bridgedock is shutting down: everything in flight or waiting is told so now (not that
    /// the server will come back), open subscriptions end gracefully, and new requests are
    /// refused with the same words until the connections close.
    pub(super) fn fail_for_shutdown(&mut self) {
        self.stopped = true;
        let error = self.shutting_down_error();
        let calls: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, p)| matches!(p.kind, PendingKind::Client(_) | PendingKind::Parked { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in calls {
            if let Some(p) = self.inflight.cancel(id) {
                let _ = self.send_to_server(&cancelled(id, "bridgedock is shutting down"));
                if let PendingKind::Client(call) = p.kind {
                    self.stats.error();
                    self.session_request_done(call.session);
                    self.reply_error(call.session, call.client_id, error.clone());
                }
            }
        }
        for w in std::mem::take(&mut self.waiting) {
            let id = w.msg.get("id").cloned().unwrap_or(Value::Null);
            self.reply_error(w.session, id, error.clone());
        }
        for w in std::mem::take(&mut self.init_waiters) {
            self.reply_error(w.session, w.id, error.clone());
        }
        for (_, p) in std::mem::take(&mut self.parked) {
            if let Some((session, client_id)) = p.owner() {
                self.reply_error(session, client_id, error.clone());
            }
        }
        let gathering: Vec<u64> = self.gathering.keys().copied().collect();
        for g in gathering {
            if let Some(g) = self.gathering.remove(&g) {
                self.reply_error(g.session, g.client_id, error.clone());
            }
        }
        self.close_listens_gracefully();
    }

    pub(super) fn shutting_down_error(&self) -> RpcError {
        RpcError {
            code: SERVER_UNREACHABLE,
            message: format!(
                "bridgedock is shutting down; the request to `{}` was not completed (start bridgedock again, then retry)",
                self.server
            ),
            data: Some(json!({"reason": "shutting_down", "server": self.server})),
        }
    }
}
