//! The router's clock, one tick every 50 ms: requests past their deadline fail and are cancelled
//! at the server, requests that waited too long for it give up saying what they waited for,
//! tables shrink after a burst, and a pause of the whole process (a laptop asleep) moves every
//! deadline by as much.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::inflight::PendingKind;
use super::{InitWaiter, PAUSE_AFTER, PUBLISH_EVERY, RECONNECT_WINDOW, Router, TICK, cancelled};
use crate::memory::ShrinkWhenSparse;
use crate::protocol::jsonrpc::{self, RpcError, SERVER_UNREACHABLE};
use crate::status::now_ms;

impl Router {
    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        let since_last = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;
        if since_last >= TICK + PAUSE_AFTER {
            self.forgive_pause(since_last - TICK);
        }
        self.handshake_tick(now);
        self.expire_pending(now);
        self.expire_waiting(now);
        self.give_parked_their_asks(now);
        self.expire_parked(now);
        self.expire_gatherings(now);
        self.check_slow_clients(now);
        if now.duration_since(self.last_publish) >= PUBLISH_EVERY {
            self.publish();
            self.give_back_room();
            self.last_publish = now;
        }
    }

    /// After a burst, the tables that grew for it shrink again (see [`ShrinkWhenSparse`]): a
    /// router that once had 200 clients and 800 requests in flight should not keep their room
    /// for the rest of the day.
    pub(super) fn give_back_room(&mut self) {
        self.sessions.shrink_when_sparse();
        self.inflight.give_back_room();
        self.server_requests.shrink_when_sparse();
        self.server_request_ids.shrink_when_sparse();
        self.waiting.shrink_when_sparse();
        self.overflow.shrink_when_sparse();
        self.init_waiters.shrink_when_sparse();
        let now = Instant::now();
        self.gone
            .retain(|g| now.duration_since(g.at) < RECONNECT_WINDOW);
        self.gone.shrink_when_sparse();
    }

    /// This process was not running for `paused`: every clock of the router moves on by it,
    /// so waking up is no reason to time out a request the server may well have answered
    /// meanwhile (its answer waits in the pipe), fail a waiting one, or drop a client.
    pub(super) fn forgive_pause(&mut self, paused: Duration) {
        tracing::info!(
            server = %self.server,
            "bridgedock did not run for {}; deadlines of `{}` are moved by as much",
            crate::status::format_duration_ms(paused.as_millis() as u64),
            self.server
        );
        self.inflight.forgive(paused);
        for w in self.waiting.iter_mut() {
            w.since += paused;
        }
        for w in self.init_waiters.iter_mut() {
            w.since += paused;
        }
        for s in self.sessions.values_mut() {
            if let Some(t) = &mut s.full_since {
                *t += paused;
            }
        }
        for p in self.parked.values_mut() {
            p.since += paused;
        }
        for g in self.gathering.values_mut() {
            g.since += paused;
        }
        if let Some(link) = &mut self.link {
            link.since += paused;
            link.handshake.forgive(paused);
        }
        self.overflow_moved += paused;
    }

    pub(super) fn expire_pending(&mut self, now: Instant) {
        for id in self.inflight.expired(now) {
            let Some(p) = self.inflight.cancel(id) else {
                continue;
            };
            let timeout =
                crate::status::format_duration_ms(self.opts.request_timeout.as_millis() as u64);
            if let PendingKind::Client(call) = p.kind {
                self.stats.error();
                self.session_request_done(call.session);
                let _ = self.send_to_server(&cancelled(
                    id,
                    &format!("timed out after {timeout} (bridgedock)"),
                ));
                let method = call.method;
                self.reply_error(
                    call.session,
                    call.client_id,
                    RpcError {
                        code: jsonrpc::BRIDGE_INTERNAL,
                        message: format!(
                            "`{method}` timed out: server `{}` gave no answer within {timeout} (request_timeout); bridgedock cancelled it",
                            self.server
                        ),
                        data: Some(json!({"reason": "timeout", "server": self.server})),
                    },
                );
            }
        }
    }

    /// Requests wait for the server while it is down for `down_wait`, and while a new process
    /// has not answered the handshake yet (npx downloading it, say) for `start_timeout`.
    pub(super) fn expire_waiting(&mut self, now: Instant) {
        let starting = self.link.as_ref().is_some_and(|l| !l.handshake.is_ready());
        let wait = if starting {
            self.opts.start_timeout.max(self.opts.down_wait)
        } else {
            self.opts.down_wait
        };
        while let Some(first) = self.waiting.front() {
            if now.duration_since(first.since) < wait {
                break;
            }
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            let id = w.msg.get("id").cloned().unwrap_or(Value::Null);
            self.stats.error();
            let error = self.unavailable_error(wait);
            self.reply_error(w.session, id, error);
        }
        let (expired, kept): (Vec<InitWaiter>, Vec<InitWaiter>) =
            std::mem::take(&mut self.init_waiters)
                .into_iter()
                .partition(|w| now.duration_since(w.since) >= wait);
        self.init_waiters = kept;
        for w in expired {
            let error = self.unavailable_error(wait);
            self.reply_error(w.session, w.id, error);
        }
    }

    /// Why a request that waited for the server gave up: what it waited for, in words.
    pub(super) fn unavailable_error(&self, waited: Duration) -> RpcError {
        let waited_words = crate::status::format_duration_ms(waited.as_millis() as u64);
        let message = match &self.link {
            Some(link) if !link.handshake.is_ready() => format!(
                "server `{}` has not answered bridgedock's MCP handshake yet: its process (pid {}) was started {} ago and has not answered (start_timeout {}); waited {waited_words} — see its log in the dock or `bridgedockd ctl logs {}`",
                self.server,
                link.pid,
                crate::status::format_duration_ms(link.since.elapsed().as_millis() as u64),
                crate::status::format_duration_ms(self.opts.start_timeout.as_millis() as u64),
                self.server
            ),
            _ => {
                let state = self
                    .status
                    .server(&self.server)
                    .map(|s| s.state.describe(now_ms()))
                    .unwrap_or_else(|| "unknown".into());
                match &self.opts.behind {
                    Some(what) => format!(
                        "server `{}`: {what} is not answering ({state}); waited {waited_words} for it",
                        self.server
                    ),
                    None => format!(
                        "server `{}` is not available ({state}); waited {waited_words} for it",
                        self.server
                    ),
                }
            }
        };
        RpcError {
            code: SERVER_UNREACHABLE,
            message,
            data: Some(json!({"reason": "server_unavailable", "server": self.server})),
        }
    }
}
