//! The router: many clients, one server process, nobody gets anyone else's answer.
//!
//! One task per server owns all routing state (no locks): client ids are rewritten to
//! bridge-unique ids on the way in and restored exactly on the way out; progress tokens and
//! server→client request ids are rewritten the same way; the server's `initialize` answer is
//! cached and replayed to later clients and to the server itself after a restart. It is
//! transport-independent: a WebSocket or HTTP connection attaches a session with an
//! [`Outbound`] queue and sends it validated JSON-RPC objects.
//!
//! Nothing here ever waits on a client: deliveries are `try_send` into byte-bounded queues.

mod client;
mod server;
mod session;
mod stdin;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::outbound::Outbound;
use super::stats::ServerStats;
use crate::logs::LogHub;
use crate::memory::ShrinkWhenSparse;
use crate::protocol::jsonrpc::{self, RpcError, SERVER_UNREACHABLE};
use crate::status::{StatusHub, now_ms};
use crate::supervisor::LinkEvent;
use crate::supervisor::link::StdinQueue;
use session::Session;

/// Requests that arrive while the server is down wait this long for it to come back.
pub const DOWN_WAIT: Duration = Duration::from_secs(30);
/// At most this many requests wait for a server that is down.
pub const DOWN_QUEUE_MAX: usize = 1024;
/// A client whose queue stays full this long is disconnected (WebSocket close 1013).
pub const SLOW_CLIENT_CLOSE_AFTER: Duration = Duration::from_secs(10);
/// Each client's outbound queue cap.
pub const OUTBOUND_CAP_BYTES: usize = 4 * 1024 * 1024;
/// How often timeouts, waiting requests and slow clients are checked.
const TICK: Duration = Duration::from_millis(50);
/// A tick at least this much later than due means this process did not run (SIGSTOP, a
/// frozen VM, a suspend the monotonic clock counted): that time is charged to no deadline.
const PAUSE_AFTER: Duration = Duration::from_secs(1);
/// How often counters are published to the status hub.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How many messages from clients may wait for the router.
const INBOX: usize = 4096;
/// The same client back within this long counts as a reconnect.
const RECONNECT_WINDOW: Duration = Duration::from_secs(60);
/// Bytes of client messages that may wait for the router: a connection whose message does not
/// fit waits for room (its socket is not read meanwhile: backpressure, bounded in bytes).
const INBOX_BYTES: usize = 8 * 1024 * 1024;
/// At most this many of the server's own requests (roots/list, sampling, elicitation) wait
/// for clients' answers; past it the server is told no. They have no timeout (a person may
/// take minutes to answer an elicitation), so without a cap a client that never answers would
/// let them pile up for as long as it stays connected.
pub const SERVER_REQUESTS_MAX: usize = 1024;
/// Late answers to cancelled or timed-out requests are dropped quietly; remember this many.
const CANCELLED_REMEMBERED: usize = 4096;

#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub request_timeout: Duration,
    pub down_wait: Duration,
    pub down_queue_max: usize,
    pub slow_client_close_after: Duration,
    pub outbound_cap_bytes: usize,
    pub server_requests_max: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            request_timeout: crate::config::DEFAULT_REQUEST_TIMEOUT,
            down_wait: DOWN_WAIT,
            down_queue_max: DOWN_QUEUE_MAX,
            slow_client_close_after: SLOW_CLIENT_CLOSE_AFTER,
            outbound_cap_bytes: OUTBOUND_CAP_BYTES,
            server_requests_max: SERVER_REQUESTS_MAX,
        }
    }
}

/// A message for the router, holding its share of the inbox until the router has taken it.
pub struct Inbound {
    msg: RouterMsg,
    _room: Option<OwnedSemaphorePermit>,
}

pub enum RouterMsg {
    Attach {
        out: Outbound,
        transport: &'static str,
        peer: String,
        reply: oneshot::Sender<u64>,
    },
    Message {
        session: u64,
        msg: Map<String, Value>,
    },
    /// A plain request read by its envelope only (see [`FastRequest`]).
    Forward {
        session: u64,
        request: FastRequest,
    },
    Detach {
        session: u64,
        reason: String,
    },
    /// Asks how much routing state the router holds (see [`RouterOccupancy`]).
    Occupancy {
        reply: oneshot::Sender<RouterOccupancy>,
    },
}

/// How much routing state a router holds right now. Every map and queue in it is bounded or
/// emptied when the requests, clients or server process it is about are gone; this is how the
/// fuzz target (and anyone else) checks that from outside without reaching into the task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterOccupancy {
    pub sessions: usize,
    /// Requests sent to the server and not answered yet (clients' and the bridge's own).
    pub pending: usize,
    /// Of those, the clients' requests.
    pub pending_for_clients: usize,
    pub by_client_id: usize,
    pub progress_routes: usize,
    pub server_requests: usize,
    pub server_request_ids: usize,
    pub waiting: usize,
    pub init_waiters: usize,
    pub overflow_lines: usize,
    pub overflow_bytes: usize,
    pub cancelled_remembered: usize,
    pub gone_clients: usize,
    /// Room the routing tables hold (entries they could take without growing): after a burst
    /// has gone, it comes back down (see [`Router::give_back_room`]).
    pub table_slots: usize,
}

/// A request with nothing for the router to rewrite but its id: no `_meta`, not a method the
/// router handles itself. Its params travel as the client sent them, never parsed.
#[derive(Debug)]
pub struct FastRequest {
    pub id: Value,
    pub method: String,
    pub params: Option<String>,
}

/// Methods the router must see whole (it answers, caches or tracks them).
const ROUTER_METHODS: &[&str] = &[
    "initialize",
    "server/discover",
    "resources/subscribe",
    "resources/unsubscribe",
];

impl FastRequest {
    /// Reads a frame's envelope; None means "take the full path" (including every error case).
    pub fn read(text: &str) -> Option<FastRequest> {
        // serde_json checks a surrogate escape (`\ud800`) only in a string it decodes, never in
        // the raw params this path copies: a lone one would pass here, though the full path
        // refuses the frame (-32700), and would lose its params if it ever took that path.
        if has_surrogate_escape(text) {
            return None;
        }
        let env = jsonrpc::RawEnvelope::parse(text)?;
        if !env.is_v2() || env.result.is_some() || env.error.is_some() {
            return None;
        }
        let method = env.method_str()?;
        if ROUTER_METHODS.contains(&method) {
            return None;
        }
        let id = env.id_value()?;
        let params = match env.params {
            None => None,
            Some(p) => {
                let raw = p.get();
                if !(raw.starts_with('{') || raw.starts_with('[')) || raw.contains("\"_meta\"") {
                    return None;
                }
                // A key may be spelled with escapes (`"\u005fmeta"`): only then are the keys
                // read, so plain frames are still never parsed.
                if raw.contains("\\u") && has_meta_key(raw) {
                    return None;
                }
                Some(raw.to_string())
            }
        };
        Some(FastRequest {
            id,
            method: method.to_string(),
            params,
        })
    }

    fn into_message(self) -> Map<String, Value> {
        let mut msg = Map::new();
        msg.insert("jsonrpc".into(), Value::String("2.0".into()));
        msg.insert("id".into(), self.id);
        msg.insert("method".into(), Value::String(self.method));
        if let Some(p) = self.params.and_then(|p| serde_json::from_str(&p).ok()) {
            msg.insert("params".into(), p);
        }
        msg
    }
}

/// Whether params (an object) have a top-level `_meta` key, however it is spelled; true
/// when they cannot be read, so the full path decides.
fn has_meta_key(params: &str) -> bool {
    if !params.starts_with('{') {
        return false;
    }
    serde_json::from_str::<HashMap<String, serde::de::IgnoredAny>>(params)
        .map_or(true, |keys| keys.contains_key("_meta"))
}

/// `\ud…` anywhere (a backslash before it may make it plain text: then the full path decides).
fn has_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u")
        .any(|(i, _)| matches!(text.as_bytes().get(i + 2), Some(b'd' | b'D')))
}

/// What a connection holds to talk to its server's router.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    server: std::sync::Arc<str>,
    tx: mpsc::Sender<Inbound>,
    /// Room in the inbox, in bytes.
    inbox_room: Arc<Semaphore>,
    pub outbound_cap_bytes: usize,
}

impl RouterHandle {
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Registers a client session; None when the router is gone (bridgedock is shutting down).
    pub async fn attach(
        &self,
        out: Outbound,
        transport: &'static str,
        peer: String,
    ) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        let msg = RouterMsg::Attach {
            out,
            transport,
            peer,
            reply,
        };
        self.tx.send(Inbound { msg, _room: None }).await.ok()?;
        answer.await.ok()
    }

    /// Hands one plain request to the router; false when the router is gone.
    pub async fn forward(&self, session: u64, request: FastRequest) -> bool {
        let bytes = request.method.len() + request.params.as_ref().map_or(0, String::len) + 64;
        self.send_sized(RouterMsg::Forward { session, request }, bytes)
            .await
    }

    /// Hands one validated message (`bytes` long as the client sent it) to the router; false
    /// when the router is gone.
    pub async fn message(&self, session: u64, msg: Map<String, Value>, bytes: usize) -> bool {
        self.send_sized(RouterMsg::Message { session, msg }, bytes)
            .await
    }

    /// Waits for room in the inbox for `bytes`, then queues `msg` with it.
    async fn send_sized(&self, msg: RouterMsg, bytes: usize) -> bool {
        let cost = bytes.clamp(1, INBOX_BYTES) as u32;
        let room = tokio::select! {
            room = self.inbox_room.clone().acquire_many_owned(cost) => room.ok(),
            _ = self.tx.closed() => None,
        };
        let Some(room) = room else {
            return false;
        };
        self.tx
            .send(Inbound {
                msg,
                _room: Some(room),
            })
            .await
            .is_ok()
    }

    /// How much routing state the router holds; None when the router is gone.
    pub async fn occupancy(&self) -> Option<RouterOccupancy> {
        let (reply, answer) = oneshot::channel();
        let msg = RouterMsg::Occupancy { reply };
        self.tx.send(Inbound { msg, _room: None }).await.ok()?;
        answer.await.ok()
    }

    pub async fn detach(&self, session: u64, reason: impl Into<String>) {
        let msg = RouterMsg::Detach {
            session,
            reason: reason.into(),
        };
        let _ = self.tx.send(Inbound { msg, _room: None }).await;
    }
}

/// Starts the router task of `server`, fed by the supervisor's link events.
pub fn spawn(
    server: &str,
    options: RouterOptions,
    link: mpsc::Receiver<LinkEvent>,
    status: StatusHub,
    logs: LogHub,
    shutdown: CancellationToken,
) -> RouterHandle {
    let (tx, rx) = mpsc::channel(INBOX);
    let handle = RouterHandle {
        server: server.into(),
        tx,
        inbox_room: Arc::new(Semaphore::new(INBOX_BYTES)),
        outbound_cap_bytes: options.outbound_cap_bytes,
    };
    let router = Router::new(server.to_string(), options, status, logs);
    tokio::spawn(router.run(rx, link, shutdown));
    handle
}

/// The live connection to the current server process.
struct Link {
    generation: u64,
    to_server: StdinQueue,
    /// `initialize` answered and `notifications/initialized` sent: requests may flow.
    ready: bool,
    init_in_flight: bool,
}

/// A client waiting for the server's `initialize` answer.
struct InitWaiter {
    session: u64,
    id: Value,
    requested: Option<String>,
    since: Instant,
}

enum PendingKind {
    Client {
        session: u64,
        client_id: Value,
        method: String,
        progress: Option<String>,
    },
    /// The bridge's own `initialize` (first client's params, replayed after restarts).
    Init,
    /// The bridge's own `server/discover`, for a server that speaks only the stateless revision.
    Discover,
    /// A request the bridge sent for its own bookkeeping; its answer is dropped.
    Internal,
}

struct Pending {
    kind: PendingKind,
    sent_at: Instant,
    deadline: Instant,
}

struct Waiting {
    session: u64,
    msg: Map<String, Value>,
    since: Instant,
}

struct ProgressRoute {
    session: u64,
    token: Value,
    request: u64,
}

struct ServerRequest {
    session: u64,
    server_id: Value,
}

/// A client that left, remembered for [`RECONNECT_WINDOW`] so that its return counts as a
/// reconnect. Who it was is kept as a hash of its name and version, not as strings: after 200
/// clients have left, 600 small allocations scattered over the allocator's arenas would keep
/// pages of the burst resident for that minute (the load benchmark's RSS after a burst).
struct GoneClient {
    who: u64,
    at: Instant,
    reconnects: u32,
}

fn client_identity(name: Option<&str>, version: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, version).hash(&mut h);
    h.finish()
}

struct Router {
    server: String,
    opts: RouterOptions,
    status: StatusHub,
    logs: LogHub,
    link: Option<Link>,
    init_params: Option<Value>,
    init_result: Option<Value>,
    /// The server speaks only the stateless 2026-07-28 revision: every request gets its `_meta`.
    server_stateless: bool,
    init_waiters: Vec<InitWaiter>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    pending: HashMap<u64, Pending>,
    by_client_id: HashMap<(u64, String), u64>,
    progress: HashMap<String, ProgressRoute>,
    server_requests: HashMap<String, ServerRequest>,
    server_request_ids: HashMap<String, String>,
    waiting: VecDeque<Waiting>,
    /// Lines for the server's stdin that did not fit its queue yet, oldest first.
    overflow: VecDeque<String>,
    overflow_bytes: usize,
    /// When a line last left the overflow for the server (or the overflow started).
    overflow_moved: Instant,
    /// The server was reported as not reading its input, and has not read since.
    stall_reported: bool,
    next_id: u64,
    cancelled: VecDeque<u64>,
    cancelled_set: HashSet<u64>,
    stats: ServerStats,
    gone: VecDeque<GoneClient>,
    last_publish: Instant,
    last_tick: Instant,
}

impl Router {
    fn new(server: String, opts: RouterOptions, status: StatusHub, logs: LogHub) -> Self {
        Router {
            server,
            opts,
            status,
            logs,
            link: None,
            init_params: None,
            init_result: None,
            server_stateless: false,
            init_waiters: Vec::new(),
            sessions: HashMap::new(),
            next_session: 0,
            pending: HashMap::new(),
            by_client_id: HashMap::new(),
            progress: HashMap::new(),
            server_requests: HashMap::new(),
            server_request_ids: HashMap::new(),
            waiting: VecDeque::new(),
            overflow: VecDeque::new(),
            overflow_bytes: 0,
            overflow_moved: Instant::now(),
            stall_reported: false,
            next_id: 0,
            cancelled: VecDeque::new(),
            cancelled_set: HashSet::new(),
            stats: ServerStats::default(),
            gone: VecDeque::new(),
            last_publish: Instant::now(),
            last_tick: Instant::now(),
        }
    }

    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Inbound>,
        mut link: mpsc::Receiver<LinkEvent>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(TICK);
        // One tick after a pause, not a burst; the pause itself is forgiven in `on_tick`.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let backlog = match (&self.link, self.overflow.front()) {
                (Some(l), Some(first)) => Some((l.to_server.clone(), first.len())),
                _ => None,
            };
            let room = async move {
                match backlog {
                    Some((tx, bytes)) => tx.reserve(bytes).await,
                    None => std::future::pending().await,
                }
            };
            let accepting = self.accepting(Instant::now());
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = link.recv() => match event {
                    Some(event) => self.on_link(event),
                    None => break,
                },
                Some(permit) = room => self.drain_overflow(permit),
                inbound = inbox.recv(), if accepting => match inbound {
                    // The message's room in the inbox is given back once it is handled.
                    Some(inbound) => self.on_client(inbound.msg),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(s) = self.sessions.remove(&id) {
                s.out.close(1001, "bridgedock is shutting down");
                self.status.remove_client(&s.info.id);
            }
        }
    }

    fn on_client(&mut self, msg: RouterMsg) {
        match msg {
            RouterMsg::Attach {
                out,
                transport,
                peer,
                reply,
            } => {
                self.next_session += 1;
                let id = self.next_session;
                let session = Session::new(id, &self.server, transport, peer, out);
                self.status.put_client(session.info.clone());
                self.sessions.insert(id, session);
                let _ = reply.send(id);
            }
            RouterMsg::Message { session, msg } => self.client_message(session, msg),
            RouterMsg::Forward { session, request } => self.client_fast_request(session, request),
            RouterMsg::Detach { session, reason } => self.detach(session, &reason),
            RouterMsg::Occupancy { reply } => {
                let _ = reply.send(self.occupancy());
            }
        }
    }

    fn occupancy(&self) -> RouterOccupancy {
        RouterOccupancy {
            sessions: self.sessions.len(),
            pending: self.pending.len(),
            pending_for_clients: self
                .pending
                .values()
                .filter(|p| matches!(p.kind, PendingKind::Client { .. }))
                .count(),
            by_client_id: self.by_client_id.len(),
            progress_routes: self.progress.len(),
            server_requests: self.server_requests.len(),
            server_request_ids: self.server_request_ids.len(),
            waiting: self.waiting.len(),
            init_waiters: self.init_waiters.len(),
            overflow_lines: self.overflow.len(),
            overflow_bytes: self.overflow_bytes,
            cancelled_remembered: self.cancelled.len(),
            gone_clients: self.gone.len(),
            table_slots: self.sessions.capacity()
                + self.pending.capacity()
                + self.by_client_id.capacity()
                + self.progress.capacity()
                + self.server_requests.capacity()
                + self.server_request_ids.capacity()
                + self.waiting.capacity()
                + self.overflow.capacity()
                + self.init_waiters.capacity()
                + self.gone.capacity(),
        }
    }

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up {
                generation,
                to_server,
                ..
            } => {
                self.overflow.clear();
                self.overflow_bytes = 0;
                self.stall_reported = false;
                // Which revisions it speaks is the process's own: a restarted server (perhaps
                // upgraded) negotiates again, or a handshake server would get the stateless
                // envelope on every request for the rest of bridgedock's life.
                self.server_stateless = false;
                self.link = Some(Link {
                    generation,
                    to_server,
                    ready: false,
                    init_in_flight: false,
                });
                // After a restart the server is initialized again, with the first client's
                // params, before anything else reaches it: clients carry on without noticing.
                if self.init_params.is_some()
                    || !self.init_waiters.is_empty()
                    || !self.waiting.is_empty()
                {
                    self.start_init();
                }
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
        }
    }

    /// The server process went away: every request in flight fails now, naming the server
    /// and why; client connections stay open.
    fn server_gone(&mut self, reason: &str) {
        let message = format!(
            "server `{}` went away before answering ({reason}); the request was not completed — bridgedock brings the server back per its restart policy, so you can retry",
            self.server
        );
        let pending: Vec<(u64, Pending)> = self.pending.drain().collect();
        for (_, p) in pending {
            if let PendingKind::Client {
                session, client_id, ..
            } = p.kind
            {
                self.stats.error();
                self.reply_error(
                    session,
                    client_id,
                    RpcError::new(SERVER_UNREACHABLE, message.clone()),
                );
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.pending = s.pending.saturating_sub(1);
                    s.dirty = true;
                }
            }
        }
        self.by_client_id.clear();
        self.progress.clear();
        self.server_requests.clear();
        self.server_request_ids.clear();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let since_last = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;
        if since_last >= TICK + PAUSE_AFTER {
            self.forgive_pause(since_last - TICK);
        }
        self.expire_pending(now);
        self.expire_waiting(now);
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
    fn give_back_room(&mut self) {
        self.sessions.shrink_when_sparse();
        self.pending.shrink_when_sparse();
        self.by_client_id.shrink_when_sparse();
        self.progress.shrink_when_sparse();
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
    fn forgive_pause(&mut self, paused: Duration) {
        tracing::info!(
            server = %self.server,
            "bridgedock did not run for {}; deadlines of `{}` are moved by as much",
            crate::status::format_duration_ms(paused.as_millis() as u64),
            self.server
        );
        for p in self.pending.values_mut() {
            p.deadline += paused;
        }
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
        self.overflow_moved += paused;
    }

    fn expire_pending(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            self.remember_cancelled(id);
            let timeout =
                crate::status::format_duration_ms(self.opts.request_timeout.as_millis() as u64);
            match p.kind {
                PendingKind::Client {
                    session,
                    client_id,
                    method,
                    progress,
                } => {
                    self.forget_request(session, &client_id, progress.as_deref());
                    self.stats.error();
                    let _ = self.send_to_server(&json!({
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": id, "reason": format!("timed out after {timeout} (bridgedock)")},
                    }));
                    self.reply_error(
                        session,
                        client_id,
                        RpcError::new(
                            jsonrpc::BRIDGE_INTERNAL,
                            format!(
                                "`{method}` timed out: server `{}` gave no answer within {timeout} (request_timeout); bridgedock cancelled it",
                                self.server
                            ),
                        ),
                    );
                }
                PendingKind::Init => {
                    if let Some(link) = &mut self.link {
                        link.init_in_flight = false;
                    }
                    tracing::warn!(server = %self.server, "`{}` did not answer initialize within {timeout}", self.server);
                    let waiters = std::mem::take(&mut self.init_waiters);
                    for w in waiters {
                        self.reply_error(
                            w.session,
                            w.id,
                            RpcError::new(
                                SERVER_UNREACHABLE,
                                format!(
                                    "server `{}` did not answer initialize within {timeout}",
                                    self.server
                                ),
                            ),
                        );
                    }
                }
                PendingKind::Internal | PendingKind::Discover => {}
            }
        }
    }

    fn expire_waiting(&mut self, now: Instant) {
        let wait = self.opts.down_wait;
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

    fn unavailable_error(&self, waited: Duration) -> RpcError {
        let state = self
            .status
            .server(&self.server)
            .map(|s| s.state.describe(now_ms()))
            .unwrap_or_else(|| "unknown".into());
        RpcError::new(
            SERVER_UNREACHABLE,
            format!(
                "server `{}` is not available ({state}); waited {} for it",
                self.server,
                crate::status::format_duration_ms(waited.as_millis() as u64)
            ),
        )
    }

    /// A client request is finished (answered, failed, cancelled or timed out): forget how
    /// its answer and progress were routed.
    fn forget_request(&mut self, session: u64, client_id: &Value, progress: Option<&str>) {
        self.by_client_id.remove(&(session, client_id.to_string()));
        if let Some(t) = progress {
            self.progress.remove(t);
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending = s.pending.saturating_sub(1);
            s.dirty = true;
        }
    }

    fn remember_cancelled(&mut self, id: u64) {
        if self.cancelled.len() == CANCELLED_REMEMBERED
            && let Some(old) = self.cancelled.pop_front()
        {
            self.cancelled_set.remove(&old);
        }
        self.cancelled.push_back(id);
        self.cancelled_set.insert(id);
    }

    fn next_bridge_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn ready(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.ready)
    }

    /// Sends the server `initialize` with the cached params (or bridgedock's own when no
    /// client has initialized yet, e.g. for a stateless 2026-07-28 client).
    fn start_init(&mut self) {
        let Some(link) = &self.link else {
            return;
        };
        if link.ready || link.init_in_flight {
            return;
        }
        let params = self.init_params.clone().unwrap_or_else(|| {
            json!({
                "protocolVersion": crate::protocol::mcp::LATEST_HANDSHAKE_REVISION,
                "capabilities": {},
                "clientInfo": {"name": "bridgedock", "version": env!("CARGO_PKG_VERSION")},
            })
        });
        self.init_params = Some(params.clone());
        let id = self.next_bridge_id();
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
        match self.send_to_server(&msg) {
            Ok(()) => {
                let now = Instant::now();
                self.pending.insert(
                    id,
                    Pending {
                        kind: PendingKind::Init,
                        sent_at: now,
                        deadline: now + self.opts.request_timeout,
                    },
                );
                if let Some(link) = &mut self.link {
                    link.init_in_flight = true;
                }
            }
            Err(why) => {
                tracing::warn!(server = %self.server, "cannot initialize `{}`: {why}", self.server)
            }
        }
    }

    /// Re-dispatches requests that waited for the server, in their order.
    fn flush_waiting(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            if self.sessions.contains_key(&w.session) {
                self.client_request(w.session, w.msg, w.since);
            }
        }
    }

    fn reply_error(&mut self, session: u64, id: Value, error: RpcError) {
        let msg = jsonrpc::error_response(id.clone(), error);
        self.deliver(session, &msg, Some(&id));
    }
}
