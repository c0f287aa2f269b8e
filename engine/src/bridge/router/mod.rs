//! The router: many clients, one server process, nobody gets anyone else's answer.
//!
//! One task per server owns all routing state (no locks). Its jobs, one file each:
//! - [`handshake`]: bridgedock's own handshake with each new process (a `server/discover`
//!   probe, then `initialize` for a server of the handshake era), which decides when the
//!   process is ready and what clients are told about it;
//! - [`client`]: clients' messages — ids rewritten to bridge-unique ones, owners remembered in
//!   the [`inflight`] table, each era's envelope translated for the server's era;
//! - [`server`]: the server's messages — answers restored to their owner's id and shaped for
//!   the owner's era;
//! - [`asks`]: a server asking a client for something (sampling, elicitation, roots) — sent
//!   only to a client that declared it can; to a 2026-07-28 client as an input-required result
//!   it answers in its retry ([`parked`]); a stateless server's input-required result asked of
//!   a handshake-era client and retried for it ([`gather`]);
//! - [`listen`]: change notifications, to handshake-era clients as they come and to
//!   `subscriptions/listen` streams by what each opted in to;
//! - [`session`]: one client's queue and counters; [`stdin`]: the way to the server's stdin;
//! - [`link`]: the server process coming and going, and what ends when it or bridgedock goes;
//! - [`timers`]: deadlines, waits that give up, tables that shrink after a burst.
//!
//! It is transport-independent: a WebSocket or HTTP connection attaches a session with an
//! [`Outbound`] queue and sends it validated JSON-RPC objects. Nothing here ever waits on a
//! client: deliveries are `try_send` into byte-bounded queues.

mod asks;
mod client;
mod fast;
mod gather;
mod handle;
mod handshake;
mod inflight;
mod link;
mod listen;
mod parked;
mod server;
mod session;
mod stdin;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::outbound::Outbound;
use super::stats::ServerStats;
use crate::logs::LogHub;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::status::StatusHub;
use crate::supervisor::LinkEvent;
use crate::supervisor::link::StdinQueue;

pub use fast::{FastRequest, ROUTER_METHODS};
pub use handle::{Inbound, RouterHandle, RouterMsg};
use handshake::{Handshake, Known};
use inflight::InFlight;
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
/// The same client back within this long counts as a reconnect.
const RECONNECT_WINDOW: Duration = Duration::from_secs(60);
/// At most this many of the server's own requests (roots/list, sampling, elicitation) wait
/// for clients' answers; past it the server is told no. They have no timeout of their own (a
/// person may take minutes to answer an elicitation) beyond [`INPUT_WAIT`], so without a cap a
/// client that never answers would let them pile up for as long as it stays connected.
pub const SERVER_REQUESTS_MAX: usize = 1024;
/// How long a call whose server asked for input (sampling, an elicitation a person answers)
/// waits for the client to give it, before the server is told no and the call is cancelled.
pub const INPUT_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub request_timeout: Duration,
    /// How long a new process may take to answer the handshake (an `npx`/`uvx` download
    /// included) before the requests waiting for it fail.
    pub start_timeout: Duration,
    pub down_wait: Duration,
    pub down_queue_max: usize,
    pub slow_client_close_after: Duration,
    pub outbound_cap_bytes: usize,
    pub server_requests_max: usize,
    pub input_wait: Duration,
    /// What a kind runs behind this server, in people's words ("godot-ai"): messages then say
    /// "godot-ai (server `godot`) went away", not just "server `godot`".
    pub behind: Option<String>,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            request_timeout: crate::config::DEFAULT_REQUEST_TIMEOUT,
            start_timeout: crate::config::DEFAULT_START_TIMEOUT,
            down_wait: DOWN_WAIT,
            down_queue_max: DOWN_QUEUE_MAX,
            slow_client_close_after: SLOW_CLIENT_CLOSE_AFTER,
            outbound_cap_bytes: OUTBOUND_CAP_BYTES,
            server_requests_max: SERVER_REQUESTS_MAX,
            input_wait: INPUT_WAIT,
            behind: None,
        }
    }
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
    /// Calls held for a client's retry with the input their server asked for.
    pub parked: usize,
    /// Input-required results being gathered from a handshake-era client.
    pub gathering: usize,
    /// Open `subscriptions/listen` streams.
    pub listens: usize,
    /// Room the routing tables hold (entries they could take without growing): after a burst
    /// has gone, it comes back down (see [`Router::give_back_room`]).
    pub table_slots: usize,
}

/// Starts the router task of `server`, fed by the supervisor's link events. `stopping` is
/// cancelled when bridgedock begins to shut down (calls in flight are told so); `shutdown`
/// when the router is to end (its clients are disconnected).
pub fn spawn(
    server: &str,
    options: RouterOptions,
    link: mpsc::Receiver<LinkEvent>,
    status: StatusHub,
    logs: LogHub,
    stopping: CancellationToken,
    shutdown: CancellationToken,
) -> RouterHandle {
    let (handle, inbox) = RouterHandle::new(server, options.outbound_cap_bytes);
    let mut router = Router::new(server.to_string(), options, status, logs, stopping);
    router.tool_headers = handle.tool_headers.clone();
    tokio::spawn(router.run(inbox, link, shutdown));
    handle
}

/// The live connection to the current server process.
struct Link {
    generation: u64,
    pid: u32,
    to_server: StdinQueue,
    handshake: Handshake,
    /// Told once the process has answered the handshake (or refused it).
    ready: Option<crate::supervisor::ReadySignal>,
    since: Instant,
    /// Being stopped: it answers what it has, new requests wait for the next process.
    draining: bool,
}

/// A client waiting for the server's first handshake answer with its `initialize`.
struct InitWaiter {
    session: u64,
    id: Value,
    requested: Option<String>,
    since: Instant,
}

struct Waiting {
    session: u64,
    msg: serde_json::Map<String, Value>,
    since: Instant,
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
    /// When the last process went away (epoch ms): the sessions older than that are carried
    /// over to the next one.
    down_at_ms: Option<u64>,
    /// What the server said about itself in its last handshake; clients are answered from it,
    /// also while a new process starts.
    known: Option<Known>,
    init_waiters: Vec<InitWaiter>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    inflight: InFlight,
    server_requests: HashMap<String, asks::ServerRequest>,
    server_request_ids: HashMap<String, String>,
    parked: HashMap<String, parked::Parked>,
    gathering: HashMap<u64, gather::Gathering>,
    listen: listen::Upstream,
    waiting: VecDeque<Waiting>,
    /// Lines for the server's stdin that did not fit its queue yet, oldest first.
    overflow: VecDeque<String>,
    overflow_bytes: usize,
    /// When a line last left the overflow for the server (or the overflow started).
    overflow_moved: Instant,
    /// The server was reported as not reading its input, and has not read since.
    stall_reported: bool,
    next_id: u64,
    stats: ServerStats,
    gone: VecDeque<GoneClient>,
    last_publish: Instant,
    last_tick: Instant,
    /// Cancelled when bridgedock begins to shut down.
    stopping: CancellationToken,
    /// The calls in flight were told that bridgedock is shutting down.
    stopped: bool,
    /// What the tool lists said of `Mcp-Param-*` headers (shared with the HTTP face).
    tool_headers: crate::bridge::param_headers::ToolHeaders,
    /// The client whose roots the server was last told may have changed, and when: its
    /// `roots/list` that follows belongs to no call (see `asks.rs`).
    roots_changed: Option<(u64, Instant)>,
    /// The log level bridgedock last set at a handshake-era server for 2026-07-28 requests
    /// that asked for logs (a severity, see `mcp::LOG_LEVELS`).
    server_log_level: Option<usize>,
}

impl Router {
    fn new(
        server: String,
        opts: RouterOptions,
        status: StatusHub,
        logs: LogHub,
        stopping: CancellationToken,
    ) -> Self {
        Router {
            server,
            opts,
            status,
            logs,
            link: None,
            down_at_ms: None,
            known: None,
            init_waiters: Vec::new(),
            sessions: HashMap::new(),
            next_session: 0,
            inflight: InFlight::default(),
            server_requests: HashMap::new(),
            server_request_ids: HashMap::new(),
            parked: HashMap::new(),
            gathering: HashMap::new(),
            listen: listen::Upstream::default(),
            waiting: VecDeque::new(),
            overflow: VecDeque::new(),
            overflow_bytes: 0,
            overflow_moved: Instant::now(),
            stall_reported: false,
            next_id: 0,
            stats: ServerStats::default(),
            gone: VecDeque::new(),
            last_publish: Instant::now(),
            last_tick: Instant::now(),
            stopping,
            stopped: false,
            tool_headers: Default::default(),
            roots_changed: None,
            server_log_level: None,
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
        let stopping = self.stopping.clone();
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
                _ = stopping.cancelled(), if !self.stopped => self.fail_for_shutdown(),
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
            RouterMsg::Detach {
                session,
                reason,
                ended,
            } => self.detach(session, &reason, ended),
            RouterMsg::Occupancy { reply } => {
                let _ = reply.send(self.occupancy());
            }
        }
    }

    fn occupancy(&self) -> RouterOccupancy {
        RouterOccupancy {
            sessions: self.sessions.len(),
            pending: self.inflight.len(),
            pending_for_clients: self.inflight.client_calls(),
            by_client_id: self.inflight.by_client_id_len(),
            progress_routes: self.inflight.progress_len(),
            server_requests: self.server_requests.len(),
            server_request_ids: self.server_request_ids.len(),
            waiting: self.waiting.len(),
            init_waiters: self.init_waiters.len(),
            overflow_lines: self.overflow.len(),
            overflow_bytes: self.overflow_bytes,
            cancelled_remembered: self.inflight.cancelled_len(),
            gone_clients: self.gone.len(),
            parked: self.parked.len(),
            gathering: self.gathering.len(),
            listens: self.sessions.values().map(|s| s.listens.len()).sum(),
            table_slots: self.sessions.capacity()
                + self.inflight.slots()
                + self.server_requests.capacity()
                + self.server_request_ids.capacity()
                + self.waiting.capacity()
                + self.overflow.capacity()
                + self.init_waiters.capacity()
                + self.gone.capacity(),
        }
    }

    /// One client request fewer in flight for `session`.
    fn session_request_done(&mut self, session: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending = s.pending.saturating_sub(1);
            s.dirty = true;
        }
    }

    fn next_bridge_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The current process has answered the handshake: requests may flow.
    fn ready(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.handshake.is_ready() && !l.draining)
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

    /// Answers a client with an error, in the words of its era: a modern (2026-07-28) client
    /// must never get the legacy codes -32001/-32002 (the revision reserves them), so it gets
    /// -32603 with the same message and the reason in `data`.
    fn reply_error(&mut self, session: u64, id: Value, error: RpcError) {
        let modern = self.sessions.get(&session).is_some_and(|s| s.modern);
        let error = if modern {
            for_modern_client(error)
        } else {
            error
        };
        let msg = jsonrpc::error_response(id.clone(), error);
        self.deliver(session, &msg, Some(&id));
    }
}

/// A bridge error as a modern client gets it (see [`Router::reply_error`]).
fn for_modern_client(mut error: RpcError) -> RpcError {
    if matches!(
        error.code,
        jsonrpc::BRIDGE_INTERNAL | jsonrpc::SERVER_UNREACHABLE
    ) {
        let reason = match error.code {
            jsonrpc::SERVER_UNREACHABLE => "server_unreachable",
            _ => "bridge_error",
        };
        let mut data = match error.data.take() {
            Some(Value::Object(m)) => m,
            Some(other) => {
                let mut m = serde_json::Map::new();
                m.insert("detail".into(), other);
                m
            }
            None => serde_json::Map::new(),
        };
        data.entry("reason")
            .or_insert_with(|| Value::String(reason.into()));
        error.code = jsonrpc::INTERNAL_ERROR;
        error.data = Some(Value::Object(data));
    }
    error
}

/// `notifications/cancelled` for the server's request `id`.
fn cancelled(id: u64, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": id, "reason": reason},
    })
}
