//! The router, driven in-process: one real router task (`bridge::router::spawn`, the same
//! call the bridge makes) between up to four fake clients and a fake server process, on a
//! paused tokio clock so timeouts cost no real time.
//!
//! The fake clients speak through the router's public face, as the WebSocket task does: each
//! frame goes through `FastRequest::read`, else `jsonrpc::parse_message` (refusals are answered
//! by the connection task and never reach the router), then `forward` or `message`. They speak
//! both eras: `initialize` then plain requests, or 2026-07-28 requests carrying their envelope,
//! and they declare capabilities (some sampling, elicitation or roots, some nothing). The fake
//! server is fed as the supervisor feeds the router: `LinkEvent::Up` with a stdin queue and a
//! readiness signal, `Line`s, `Down`; a restart is a `Down` then an `Up` of the next
//! generation. It answers bridgedock's own handshake as the script says: as a 2026-07-28
//! server (the `server/discover` probe), as a handshake-era one (`initialize`), both, or
//! neither.
//!
//! The input is a script, one operation per line (see fuzz/README.md and [`script`]).
//!
//! Checked after every operation and at the end:
//! - no panic, in the router task either (a panicking task would leave requests unanswered);
//! - every request a client sent is answered exactly once (an answer or an error), unless the
//!   client cancelled it or it is a `subscriptions/listen` stream still open; nothing answers
//!   a request twice or an id the client never sent;
//! - answers and progress go only to the client they belong to: the fake server echoes the tag
//!   `fz: [session, n]` of each request, and a tag reaching another client, or with another id
//!   or progress token, is a misroute — unless that client's retry took the call over with the
//!   `requestState` it was given (an input-required result);
//! - a client is sent a server request (as a request, or inside an input-required result) only
//!   if it declared the capability that request needs; the server's answers to its requests
//!   come back with the server's own id, once, and only from a client the request was given to;
//!   a stateless server is told only capabilities the client declared;
//! - a 2026-07-28 client is never sent a request, legacy error codes (-32001/-32002), or
//!   notifications other than those of its open listens and of requests that asked for logs;
//!   listens get only what they opted in to, tagged with their own id;
//! - the server sees only valid JSON-RPC lines, bridge ids never reused, progress tokens
//!   rewritten, bridgedock's own `server/discover` first and its own `initialize` at most once,
//!   nothing else before the process answered one of them, no stateless envelope once it
//!   answered `initialize`, the envelope on every request once it answered the probe; the
//!   router says the process is ready exactly when it answered, refused when it refused both;
//! - once bridgedock is stopping, everything in flight is answered and nothing new is taken;
//! - the router's maps stay consistent and bounded (`RouterOccupancy`), and are empty once
//!   every request has finished, every client has gone and the server is down.

mod books;
mod clients;
mod delivered;
mod handshake;
mod script;
mod server;
mod server_reads;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bridgedock_engine::bridge::RouterOccupancy;
use bridgedock_engine::bridge::router::{self, RouterHandle, RouterOptions};
use bridgedock_engine::logs::LogHub;
use bridgedock_engine::status::{BridgeStatus, StatusHub};
use bridgedock_engine::supervisor::LinkEvent;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use books::{Asked, Client, Holder, InputRequired, OwnRequest, Received, Sent, Server, Tag};
use handshake::Handshake;
use script::Op;

const CLIENTS: usize = 4;
/// Virtual time one input may spend in its own sleeps.
const MAX_SLEPT: Duration = Duration::from_secs(60);
// The router's options, small so that every cap and timeout is within reach of a short script.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);
const START_TIMEOUT: Duration = Duration::from_millis(1_500);
const DOWN_WAIT: Duration = Duration::from_millis(400);
const DOWN_QUEUE_MAX: usize = 8;
const SLOW_CLIENT_CLOSE_AFTER: Duration = Duration::from_millis(700);
const OUTBOUND_CAP_BYTES: usize = 2_048;
/// The server's requests waiting for clients: low, so the cap is reached.
const SERVER_REQUESTS_MAX: usize = 4;
const INPUT_WAIT: Duration = Duration::from_millis(2_000);
const LINK_QUEUE: usize = 64;
/// A generous bound on the lines waiting for a server that does not read (the router stops
/// taking client messages past a few MiB; this is far beyond).
const OVERFLOW_MAX_BYTES: usize = 64 * 1024 * 1024;
/// The most asks one input-required result of the fake server carries.
const ASKS_PER_RESULT: usize = 4;

// Bugs of the engine this harness found, each shown by an ignored test in
// engine/src/bridge/router/tests.rs (named below). While one is unfixed the harness lets that
// one through, and only it, so that the fuzzer looks further; set it to false once its test
// passes.

/// `a_listen_with_an_id_in_flight_is_refused`: a `subscriptions/listen` is taken with an id
/// the client has in flight, and one cancellation ends every listen of that id. Let through: a
/// cancelled id excuses all its listens.
const LISTEN_ID_BUG: bool = false;
/// `a_modern_call_is_asked_only_what_its_own_request_declared`: a 2026-07-28 call is judged
/// by what its session declared last, not by its own request. Let through: what a call is
/// asked is checked against its own request only when that request carried an envelope and its
/// client declared the same in every request.
const SESSION_CAPABILITIES_BUG: bool = false;
/// `a_slow_modern_client_gets_no_legacy_error_code`: an answer dropped for a client that
/// reads too slowly becomes an error with -32001, also for a 2026-07-28 client. Let through:
/// that one error (its `data.reason` says which).
const SLOW_CLIENT_CODE_BUG: bool = false;
/// `a_retry_is_asked_again_only_what_it_declared`: what a retry leaves unanswered is asked
/// again whatever the retry declared. Let through: what was asked of a client before, asked
/// again.
const RETRY_REASK_BUG: bool = false;
/// `a_call_whose_input_is_gathered_keeps_its_id`: while input is gathered for a call, its id
/// may be reused, and both calls then share one routing key. Let through: as many calls
/// without a key of their own as the server gave input-required results.
const GATHERED_ID_BUG: bool = false;
/// `a_stateless_server_is_told_only_its_own_revision`: the stateless envelope keeps a
/// handshake-era revision the request named in its `_meta`. Let through: that revision.
const REVISION_KEPT_BUG: bool = false;

/// `FUZZ_TRACE=1` prints every operation and message, to read a failing input's story.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::router::tracing() {
            eprintln!($($arg)*);
        }
    };
}
use trace;

pub fn run(data: &[u8]) {
    let ops = script::parse_script(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async move {
        let mut h = Harness::new();
        for op in &ops {
            h.op += 1;
            trace!("== {op:?}");
            h.apply(op).await;
            h.settle().await;
            h.check_bounds().await;
        }
        h.finish().await;
    });
}

struct Harness {
    handle: RouterHandle,
    link: mpsc::Sender<LinkEvent>,
    stopping: CancellationToken,
    shutdown: CancellationToken,
    /// bridgedock began to shut down.
    stopped: bool,
    op: u64,
    slept: Duration,
    attaches: usize,
    clients: Vec<Client>,
    server: Server,
    requests: HashMap<Tag, Sent>,
    asked: Vec<Asked>,
    results: Vec<InputRequired>,
    /// The tag of the frame being sent, and the calls it takes over: registered once the frame
    /// is read as the router reads it.
    tagging: Option<(Tag, Vec<Tag>)>,
    /// A raw server line answered with -32001/-32002: what a 2026-07-28 client gets of it is
    /// the server's doing, not the router's.
    raw_legacy_codes: bool,
}

fn key(v: &Value) -> String {
    v.to_string()
}

impl Harness {
    fn new() -> Self {
        let (link, link_rx) = mpsc::channel(LINK_QUEUE);
        let status = StatusHub::new(BridgeStatus {
            version: "fuzz".into(),
            ..BridgeStatus::default()
        });
        let logs = LogHub::new(64);
        let stopping = CancellationToken::new();
        let shutdown = CancellationToken::new();
        let options = RouterOptions {
            request_timeout: REQUEST_TIMEOUT,
            start_timeout: START_TIMEOUT,
            down_wait: DOWN_WAIT,
            down_queue_max: DOWN_QUEUE_MAX,
            slow_client_close_after: SLOW_CLIENT_CLOSE_AFTER,
            outbound_cap_bytes: OUTBOUND_CAP_BYTES,
            server_requests_max: SERVER_REQUESTS_MAX,
            input_wait: INPUT_WAIT,
            behind: None,
        };
        let handle = router::spawn(
            "fz",
            options,
            link_rx,
            status,
            logs,
            stopping.clone(),
            shutdown.clone(),
        );
        Harness {
            handle,
            link,
            stopping,
            shutdown,
            stopped: false,
            op: 0,
            slept: Duration::ZERO,
            attaches: 0,
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            server: Server {
                generation: 0,
                rx: None,
                ready: None,
                reading: true,
                open: Vec::new(),
                bridge_ids: HashSet::new(),
                process_ids: HashSet::new(),
                handshake: Handshake::Waiting,
                initialized: false,
                own: Vec::new(),
                next_own: 0,
                input_required: 0,
            },
            requests: HashMap::new(),
            asked: Vec::new(),
            results: Vec::new(),
            tagging: None,
            raw_legacy_codes: false,
        }
    }

    async fn apply(&mut self, op: &Op) {
        match op {
            Op::Attach(c, caps) => self.attach(*c, caps).await,
            Op::Detach(c) => self.detach(*c).await,
            Op::ToggleReading(c) => {
                let client = &mut self.clients[*c];
                client.reading = !client.reading;
            }
            Op::Request(c, id, method, flags) => {
                if let Some(frame) = self.build_request(*c, id, method, flags) {
                    self.client_frame(*c, frame).await;
                }
            }
            Op::Listen(c, id, flags) => {
                if let Some(frame) = self.build_listen(*c, id, flags) {
                    self.client_frame(*c, frame).await;
                }
            }
            Op::Retry(c, id, k, flags) => {
                if let Some(frame) = self.build_retry(*c, id, *k, flags) {
                    self.client_frame(*c, frame).await;
                }
            }
            Op::Notify(c, method) => {
                let frame =
                    format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"params\":{{}}}}");
                self.client_frame(*c, frame).await;
            }
            Op::Cancel(c, id) => {
                let frame = format!(
                    "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{{\"requestId\":{id},\"reason\":\"fuzz\"}}}}"
                );
                self.client_frame(*c, frame).await;
            }
            Op::AnswerServer(c, k, error) => self.answer_server(*c, *k, *error).await,
            Op::Raw(c, text) => {
                if !carries_tags(text) {
                    self.client_frame(*c, text.clone()).await;
                }
            }
            Op::Up => {
                self.down().await;
                self.up().await;
            }
            Op::Down => self.down().await,
            Op::Stopping => self.begin_stopping().await,
            Op::StaleLine(line) => {
                let generation = self.server.generation.saturating_sub(1);
                let _ = self
                    .link
                    .send(LinkEvent::Line {
                        generation,
                        line: line.clone(),
                    })
                    .await;
            }
            Op::ToggleServerReading => self.server.reading = !self.server.reading,
            Op::ServerResult(k, form) => self.server_answer(*k, *form, None, 1).await,
            Op::ServerError(k, code) => self.server_answer(*k, 0, Some(*code), 1).await,
            Op::ServerTwice(k) => self.server_answer(*k, 0, None, 2).await,
            Op::ServerProgress(k) => self.server_progress(*k).await,
            Op::ServerInputRequired(k, shape) => self.server_input_required(*k, *shape).await,
            Op::ServerRequest(method, form, variant) => {
                self.server_request(method, *form, *variant).await
            }
            Op::ServerNotify(kind, k) => self.server_notify(*kind, *k).await,
            Op::ServerRaw(line) => {
                if !carries_tags(line) {
                    // An answer written before the process read its request would leave the
                    // harness's books behind the router's: it reads everything first.
                    self.read_server_fully().await;
                    self.server_writes(line.clone()).await;
                }
            }
            Op::Sleep(ms) => {
                // Bounded per input, so one input cannot take the fuzzer's whole time.
                let ms = Duration::from_millis(*ms).min(MAX_SLEPT.saturating_sub(self.slept));
                self.slept += ms;
                self.sleep(ms).await;
            }
        }
    }

    /// bridgedock begins to shut down: from now on every request is answered at once, and no
    /// client's request reaches the server.
    async fn begin_stopping(&mut self) {
        if self.stopped {
            return;
        }
        // What the server was sent before is read now, so that what it reads later came after.
        self.read_server_fully().await;
        self.stopped = true;
        self.stopping.cancel();
        // The router sees the token between two messages; a round trip makes sure it has.
        for _ in 0..4 {
            tokio::task::yield_now().await;
            self.occupancy().await;
        }
    }

    // --- time and checks --------------------------------------------------------------

    /// Lets the router take in everything sent so far, then reads what it sent.
    async fn settle(&mut self) {
        for _ in 0..4 {
            let mut spins = 0;
            while self.link.capacity() < self.link.max_capacity() {
                tokio::task::yield_now().await;
                spins += 1;
                assert!(spins < 100_000, "the router stopped taking link events");
            }
            // The router takes client messages in order: when this answers, all before it are in.
            self.occupancy().await;
            self.read_server(false);
            for c in 0..CLIENTS {
                self.drain_client(c, false);
            }
        }
        self.check_readiness();
    }

    async fn occupancy(&mut self) -> RouterOccupancy {
        self.handle
            .occupancy()
            .await
            .unwrap_or_else(|| panic!("the router task ended (a panic inside it?)"))
    }

    async fn sleep(&mut self, total: Duration) {
        // In steps, reading as a live client and server would between ticks.
        let step = Duration::from_millis(100);
        let mut left = total;
        while !left.is_zero() {
            let now = left.min(step);
            tokio::time::sleep(now).await;
            left -= now;
            self.settle().await;
        }
    }

    async fn check_bounds(&mut self) {
        let o = self.occupancy().await;
        // A client the router closed for being slow is forgotten before the harness reads the close.
        let attached = self.clients.iter().filter(|c| c.session.is_some()).count();
        assert!(
            o.sessions <= attached,
            "the router has sessions nobody attached: {o:?}"
        );
        // Each call retried with gathered input (one per input-required result of the server at
        // most) may share its key with a request that reused its id meanwhile
        // (GATHERED_ID_BUG); none may otherwise.
        let shared = if GATHERED_ID_BUG {
            self.server.input_required
        } else {
            0
        };
        assert!(
            o.by_client_id <= o.pending_for_clients
                && o.pending_for_clients <= o.by_client_id + shared,
            "routing keys and requests in flight disagree: {o:?}"
        );
        assert!(
            o.progress_routes <= o.pending_for_clients,
            "progress routes outlive their requests: {o:?}"
        );
        assert!(o.server_request_ids <= o.server_requests, "{o:?}");
        // The server's own requests are capped; the inputs bridgedock asks of a handshake-era
        // client for a stateless server's input-required results come on top.
        assert!(
            o.server_requests <= SERVER_REQUESTS_MAX + ASKS_PER_RESULT * self.server.input_required,
            "server requests past the cap: {o:?}"
        );
        assert!(
            o.gathering <= self.server.input_required,
            "more inputs gathered than the server asked for: {o:?}"
        );
        assert!(
            o.init_waiters <= DOWN_QUEUE_MAX,
            "more clients wait for initialize than allowed: {o:?}"
        );
        assert!(
            o.waiting <= DOWN_QUEUE_MAX,
            "more requests wait than allowed: {o:?}"
        );
        let listens: u32 = self
            .clients
            .iter()
            .filter(|c| c.session.is_some())
            .flat_map(|c| c.listen_due.values())
            .sum();
        assert!(
            o.listens <= listens as usize,
            "more listens open than clients asked for: {o:?}"
        );
        // Every bridge id comes from a client's request or one of the router's own few per
        // operation; the router remembers only ids it issued.
        assert!(
            o.cancelled_remembered as u64 <= 8 * self.op,
            "more cancellations remembered than requests made: {o:?}"
        );
        assert!(
            o.gone_clients <= self.attaches,
            "more clients remembered than ever came: {o:?}"
        );
        assert!(o.overflow_bytes <= OVERFLOW_MAX_BYTES, "{o:?}");
    }

    /// Every request finishes (the server answers nothing more), then every client goes and
    /// the server stops: nothing may be left due, and nothing left in the router.
    async fn finish(&mut self) {
        self.server.reading = true;
        for c in &mut self.clients {
            c.reading = true;
        }
        self.settle().await;
        let everything = REQUEST_TIMEOUT
            + START_TIMEOUT.max(DOWN_WAIT)
            + INPUT_WAIT
            + SLOW_CLIENT_CLOSE_AFTER
            + Duration::from_millis(500);
        self.sleep(everything).await;
        let o = self.occupancy().await;
        let attached = self.clients.iter().filter(|c| c.session.is_some()).count();
        assert_eq!(o.sessions, attached, "{o:?}");
        assert_eq!(
            o.pending_for_clients, 0,
            "requests still pending after every timeout: {o:?}"
        );
        // What stays is bridgedock's own: a handshake or a subscription the process has not
        // answered (they wait as long as the process lives).
        let own = self
            .server
            .open
            .iter()
            .filter(|r| {
                matches!(
                    r.method.as_str(),
                    "server/discover" | "initialize" | "subscriptions/listen"
                )
            })
            .count();
        assert_eq!(
            o.pending, own,
            "requests pending other than bridgedock's own unanswered ones: {o:?}"
        );
        assert_eq!(o.by_client_id, 0, "{o:?}");
        assert_eq!(o.progress_routes, 0, "{o:?}");
        assert_eq!(
            o.waiting, 0,
            "requests still waiting after every timeout: {o:?}"
        );
        assert_eq!(o.init_waiters, 0, "{o:?}");
        assert_eq!(
            o.parked, 0,
            "calls still parked after the input wait: {o:?}"
        );
        assert_eq!(
            o.gathering, 0,
            "inputs still gathered after the input wait: {o:?}"
        );
        for (c, client) in self.clients.iter().enumerate() {
            for (id, due) in &client.due {
                let cancelled = client.cancelled.get(id).copied().unwrap_or(0);
                let listens = client.listen_due.get(id).copied().unwrap_or(0);
                let mut may_skip = cancelled;
                if LISTEN_ID_BUG && cancelled > 0 {
                    may_skip += listens;
                }
                if !self.stopped {
                    // An open stream is answered when bridgedock shuts down.
                    may_skip += listens;
                }
                assert!(
                    *due <= may_skip,
                    "client {c} never got an answer to its request {id} ({due} due)"
                );
            }
        }
        for c in 0..CLIENTS {
            self.detach(c).await;
        }
        self.down().await;
        self.settle().await;
        let o = self.occupancy().await;
        let empty = RouterOccupancy {
            cancelled_remembered: o.cancelled_remembered,
            gone_clients: o.gone_clients,
            table_slots: o.table_slots,
            overflow_lines: o.overflow_lines,
            overflow_bytes: o.overflow_bytes,
            ..RouterOccupancy::default()
        };
        assert_eq!(
            o, empty,
            "state left in the router with no client and no server"
        );
        self.shutdown.cancel();
    }
}

/// Whether a raw frame or line carries one of the harness's tags (anywhere, in any spelling
/// JSON allows): it would pass for proof of a misroute that did not happen.
fn carries_tags(text: &str) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| k.starts_with("fz") || walk(v)),
            Value::Array(a) => a.iter().any(walk),
            _ => false,
        }
    }
    // With duplicate keys serde_json keeps the last, as the harness's own reading does.
    serde_json::from_str::<Value>(text.trim()).is_ok_and(|v| walk(&v))
}
