//! The in-flight table: every request sent to the server and not answered yet, and the two
//! indexes that lead back to it — the client's own id (to refuse a reused one and to route a
//! cancellation) and the rewritten progress token. It alone keeps them consistent: a request
//! enters with both indexes and leaves with both, however it ends (answered, cancelled, timed
//! out, failed because the server went away, or handed to another client's retry).
//!
//! Late answers to requests that ended early are dropped quietly; the table remembers a
//! bounded number of such ids to tell them from protocol errors.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::session::Session;
use crate::memory::ShrinkWhenSparse;

/// Late answers to cancelled or timed-out requests are dropped quietly; remember this many.
const CANCELLED_REMEMBERED: usize = 4096;
/// The deadline of requests that have none of their own (the handshake: `start_timeout` is
/// watched elsewhere, and a late answer must still be taken).
const NO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(86_400 * 365);

/// A client's request at the server.
#[derive(Debug)]
pub(super) struct ClientCall {
    pub session: u64,
    pub client_id: Value,
    pub method: String,
    /// `params.name` / `params.uri` of a tools/call, prompts/get or resources/read.
    pub target: Option<String>,
    /// The rewritten progress token, when the client asked for progress.
    pub progress: Option<String>,
    /// The log level a modern request asked for: log messages go on its stream meanwhile.
    pub log_level: Option<usize>,
    /// The request as sent, kept only when the server may answer "input required" to a client
    /// of the handshake era: bridgedock then asks that client and retries on its behalf.
    pub retry_with: Option<Box<Map<String, Value>>>,
    /// What a 2026-07-28 request declared in its own `_meta` (each request speaks for itself in
    /// that revision; one without it declared nothing). None for a handshake-era call: its
    /// session's `initialize` says, while the session stays in that era (see
    /// [`ClientCall::declared`]).
    pub capabilities: Option<Value>,
}

impl ClientCall {
    /// What the client declared for this call, given its session as it is now. A handshake-era
    /// call of a session that has since turned to the 2026-07-28 revision declared nothing: the
    /// session's capabilities are then its latest request's, which never spoke for this call.
    pub fn declared<'a>(&'a self, session: Option<&'a Session>) -> Option<&'a Value> {
        match (&self.capabilities, session) {
            (Some(own), _) => Some(own),
            (None, Some(s)) if !s.modern => s.capabilities.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) enum PendingKind {
    Client(ClientCall),
    /// bridgedock's `server/discover` probe of a new process (is it modern?).
    Probe,
    /// bridgedock's own `initialize` of a new process.
    Init,
    /// bridgedock's `subscriptions/listen` at a modern server, on behalf of every client.
    Listen,
    /// A client's call whose server asked for input, held for that client's retry (see
    /// `parked.rs`); `token` is the `requestState` the client was given.
    Parked {
        token: String,
    },
    /// A request the bridge sent for its own bookkeeping; its answer is dropped.
    Internal,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub kind: PendingKind,
    pub sent_at: Instant,
    pub deadline: Instant,
}

pub(super) struct ProgressRoute {
    pub session: u64,
    pub token: Value,
    pub request: u64,
}

#[derive(Default)]
pub(super) struct InFlight {
    pending: HashMap<u64, Pending>,
    by_client_id: HashMap<(u64, String), u64>,
    progress: HashMap<String, ProgressRoute>,
    cancelled: VecDeque<u64>,
    cancelled_set: HashSet<u64>,
}

impl InFlight {
    /// Tracks a client's request sent to the server as `bridge_id`.
    pub fn track_call(&mut self, bridge_id: u64, call: ClientCall, deadline: Instant) {
        self.by_client_id
            .insert((call.session, call.client_id.to_string()), bridge_id);
        self.pending.insert(
            bridge_id,
            Pending {
                kind: PendingKind::Client(call),
                sent_at: Instant::now(),
                deadline,
            },
        );
    }

    /// Tracks a request of bridgedock's own; `deadline` None for one that may take forever.
    pub fn track_own(&mut self, bridge_id: u64, kind: PendingKind, deadline: Option<Instant>) {
        let now = Instant::now();
        self.pending.insert(
            bridge_id,
            Pending {
                kind,
                sent_at: now,
                deadline: deadline.unwrap_or(now + NO_DEADLINE),
            },
        );
    }

    /// Routes progress for `request` under our token `ours` back to the client's `token`.
    pub fn route_progress(&mut self, ours: String, session: u64, token: Value, request: u64) {
        self.progress.insert(
            ours,
            ProgressRoute {
                session,
                token,
                request,
            },
        );
    }

    /// Forgets a progress route whose request never reached the server.
    pub fn forget_progress(&mut self, ours: &str) {
        self.progress.remove(ours);
    }

    pub fn progress_route(&self, ours: &str) -> Option<&ProgressRoute> {
        self.progress.get(ours)
    }

    /// Whether the client still has a request with this id in flight.
    pub fn claimed(&self, session: u64, id: &Value) -> bool {
        self.by_client_id.contains_key(&(session, id.to_string()))
    }

    /// The bridge id of a client's request in flight.
    pub fn bridge_id_of(&self, session: u64, id: &Value) -> Option<u64> {
        self.by_client_id.get(&(session, id.to_string())).copied()
    }

    pub fn get(&self, bridge_id: u64) -> Option<&Pending> {
        self.pending.get(&bridge_id)
    }

    pub fn get_mut(&mut self, bridge_id: u64) -> Option<&mut Pending> {
        self.pending.get_mut(&bridge_id)
    }

    /// Ends a request: it leaves the table with its indexes.
    pub fn complete(&mut self, bridge_id: u64) -> Option<Pending> {
        let p = self.pending.remove(&bridge_id)?;
        self.forget_indexes(&p);
        Some(p)
    }

    /// Ends a request that will not be answered to anyone (cancelled, timed out): its late
    /// answer is dropped quietly.
    pub fn cancel(&mut self, bridge_id: u64) -> Option<Pending> {
        let p = self.complete(bridge_id)?;
        self.remember_cancelled(bridge_id);
        Some(p)
    }

    /// Hands a call to another client's request (a retry that carried the input the server
    /// asked for): from now on its answer and progress go there.
    pub fn reassign(
        &mut self,
        bridge_id: u64,
        call: ClientCall,
        progress_token: Option<Value>,
        deadline: Instant,
    ) {
        if let Some(old) = self.pending.remove(&bridge_id) {
            self.forget_indexes(&old);
        }
        if let (Some(ours), Some(token)) = (&call.progress, progress_token) {
            self.route_progress(ours.clone(), call.session, token, bridge_id);
        }
        self.track_call(bridge_id, call, deadline);
    }

    /// Parks a call: it stays at the server, but belongs to no client until a retry claims it.
    pub fn park(&mut self, bridge_id: u64, token: String) -> Option<ClientCall> {
        let p = self.pending.get_mut(&bridge_id)?;
        let PendingKind::Client(_) = &p.kind else {
            return None;
        };
        let old = std::mem::replace(&mut p.kind, PendingKind::Parked { token });
        p.deadline = Instant::now() + NO_DEADLINE;
        let PendingKind::Client(call) = old else {
            return None;
        };
        self.by_client_id
            .remove(&(call.session, call.client_id.to_string()));
        if let Some(t) = &call.progress {
            self.progress.remove(t);
        }
        Some(call)
    }

    fn forget_indexes(&mut self, p: &Pending) {
        if let PendingKind::Client(call) = &p.kind {
            self.by_client_id
                .remove(&(call.session, call.client_id.to_string()));
            if let Some(t) = &call.progress {
                self.progress.remove(t);
            }
        }
    }

    pub fn was_cancelled(&self, bridge_id: u64) -> bool {
        self.cancelled_set.contains(&bridge_id)
    }

    pub fn remember_cancelled(&mut self, id: u64) {
        if self.cancelled.len() == CANCELLED_REMEMBERED
            && let Some(old) = self.cancelled.pop_front()
        {
            self.cancelled_set.remove(&old);
        }
        self.cancelled.push_back(id);
        self.cancelled_set.insert(id);
    }

    /// Ids of requests past their deadline.
    pub fn expired(&self, now: Instant) -> Vec<u64> {
        self.pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every request, emptied out (the server went away: none will be answered).
    pub fn drain(&mut self) -> Vec<(u64, Pending)> {
        self.by_client_id.clear();
        self.progress.clear();
        self.pending.drain().collect()
    }

    /// The bridge ids of one client's requests in flight.
    pub fn of_session(&self, session: u64) -> Vec<u64> {
        self.pending
            .iter()
            .filter(|(_, p)| matches!(&p.kind, PendingKind::Client(c) if c.session == session))
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Pending)> {
        self.pending.iter()
    }

    /// Every deadline moves by `paused` (this process did not run meanwhile).
    pub fn forgive(&mut self, paused: std::time::Duration) {
        for p in self.pending.values_mut() {
            p.deadline += paused;
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn client_calls(&self) -> usize {
        self.pending
            .values()
            .filter(|p| matches!(p.kind, PendingKind::Client(_)))
            .count()
    }

    pub fn by_client_id_len(&self) -> usize {
        self.by_client_id.len()
    }

    pub fn progress_len(&self) -> usize {
        self.progress.len()
    }

    pub fn cancelled_len(&self) -> usize {
        self.cancelled.len()
    }

    pub fn slots(&self) -> usize {
        self.pending.capacity() + self.by_client_id.capacity() + self.progress.capacity()
    }

    pub fn give_back_room(&mut self) {
        self.pending.shrink_when_sparse();
        self.by_client_id.shrink_when_sparse();
        self.progress.shrink_when_sparse();
    }
}
