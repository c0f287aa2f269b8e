//! The router, driven in-process: one real router task (`bridge::router::spawn`, the same
//! call the bridge makes) between up to four fake clients and a fake server process, on a
//! paused tokio clock so timeouts cost no real time.
//!
//! The fake clients speak through the router's public face, as the WebSocket task does: each
//! frame goes through `FastRequest::read`, else `jsonrpc::parse_message` (refusals are answered
//! by the connection task and never reach the router), then `forward` or `message`. The fake
//! server is fed as the supervisor feeds the router: `LinkEvent::Up` with a stdin queue,
//! `Line`s, `Down`; a restart is a `Down` then an `Up` with the next generation.
//!
//! The input is a script, one operation per line (see fuzz/README.md); whatever does not parse
//! is skipped, so every input is a valid run.
//!
//! Checked after every operation and at the end:
//! - no panic, in the router task either (a panicking task would leave requests unanswered);
//! - every request a client sent is answered exactly once (an answer or an error), unless the
//!   client cancelled it; nothing answers a request twice or an id the client never sent;
//! - answers, progress and server requests go only to the client they belong to: the fake
//!   server echoes the tag `fz: [client, n]` of each request, and a tag reaching another
//!   client, or with another id or progress token than request n had, is a misroute;
//! - a client's answer to a server request comes back to the server with the server's own id,
//!   and only from the client the request was sent to;
//! - the server sees only valid JSON-RPC lines, bridge ids never reused, progress tokens
//!   rewritten to the bridge's own, nothing but `initialize` (or `server/discover`) before the
//!   handshake of each process, no stateless envelope once it answered `initialize`, and the
//!   envelope on every request once it spoke only the stateless revision;
//! - the router's maps stay consistent and bounded (`RouterOccupancy`), and are empty once
//!   every request has finished, every client has gone and the server is down.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bridgedock_engine::bridge::RouterOccupancy;
use bridgedock_engine::bridge::outbound::{Outbound, OutboundReceiver, Outgoing};
use bridgedock_engine::bridge::router::{self, FastRequest, RouterHandle, RouterOptions};
use bridgedock_engine::logs::LogHub;
use bridgedock_engine::protocol::jsonrpc;
use bridgedock_engine::status::{BridgeStatus, StatusHub};
use bridgedock_engine::supervisor::LinkEvent;
use bridgedock_engine::supervisor::link::{QueuedLine, StdinQueue};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CLIENTS: usize = 4;
const MAX_OPS: usize = 400;
const MAX_SLEEP_MS: u64 = 5_000;
/// Virtual time one input may spend in its own sleeps.
const MAX_SLEPT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);
const DOWN_WAIT: Duration = Duration::from_millis(400);
const DOWN_QUEUE_MAX: usize = 8;
const SLOW_CLIENT_CLOSE_AFTER: Duration = Duration::from_millis(700);
const OUTBOUND_CAP_BYTES: usize = 2_048;
/// The server's requests waiting for clients: low, so the cap is reached.
const SERVER_REQUESTS_MAX: usize = 4;
const LINK_QUEUE: usize = 64;
/// The router's own bounds (see router/mod.rs).
const CANCELLED_REMEMBERED: usize = 4096;
const GONE_REMEMBERED: usize = 256;
const OVERFLOW_MAX_BYTES: usize = 64 * 1024 * 1024;
const STATELESS: &str = "2026-07-28";
const META_PREFIX: &str = "io.modelcontextprotocol/";

/// `FUZZ_TRACE=1` prints every operation and message, to read a failing input's story.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

pub fn run(data: &[u8]) {
    let ops = parse_script(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async move {
        let mut h = Harness::new();
        for op in &ops {
            trace!("== {op:?}");
            h.apply(op).await;
            h.settle().await;
            h.check_bounds().await;
        }
        h.finish().await;
    });
}

// ---------------------------------------------------------------------------------------------
// The script

#[derive(Debug, Clone)]
pub enum Op {
    Attach(usize),
    Detach(usize),
    ToggleReading(usize),
    /// A request built by the harness (tagged): id text, method, flags.
    Request(usize, String, String, String),
    Notify(usize, String),
    Cancel(usize, String),
    /// Client answers the k-th server request the harness knows of (error when the flag is set).
    AnswerServer(usize, usize, bool),
    Raw(usize, String),
    Up,
    Down,
    StaleLine(String),
    ToggleServerReading,
    /// Fake server answers its k-th open request: result (form) or error (code choice).
    ServerResult(usize, u8),
    ServerError(usize, u8),
    ServerTwice(usize),
    ServerProgress(usize),
    ServerRequest(String, u8),
    ServerNotify(u8, usize),
    ServerRaw(String),
    Sleep(u64),
}

fn parse_script(data: &[u8]) -> Vec<Op> {
    let text = String::from_utf8_lossy(data);
    text.split('\n')
        .filter_map(parse_op)
        .take(MAX_OPS)
        .collect()
}

fn parse_op(line: &str) -> Option<Op> {
    let mut chars = line.chars();
    let op = chars.next()?;
    let rest = chars.as_str();
    let (head, tail) = match rest.split_once(' ') {
        Some((h, t)) => (h, t),
        None => (rest, ""),
    };
    let client = || {
        head.bytes()
            .next()
            .map_or(0, |b| usize::from(b.wrapping_sub(b'0')) % CLIENTS)
    };
    let mut words = tail.split(' ');
    let mut word = || words.next().unwrap_or("").to_string();
    let num = |s: &str| s.parse::<usize>().unwrap_or(0);
    let small = |s: &str| s.bytes().next().map_or(0, |b| b.wrapping_sub(b'0'));
    Some(match op {
        'A' => Op::Attach(client()),
        'X' => Op::Detach(client()),
        'Z' => Op::ToggleReading(client()),
        'R' => {
            let id = word();
            let method = word();
            let flags = word();
            Op::Request(client(), id, method, flags)
        }
        'N' => Op::Notify(client(), word()),
        'K' => Op::Cancel(client(), word()),
        'Y' => Op::AnswerServer(client(), num(&word()), false),
        'y' => Op::AnswerServer(client(), num(&word()), true),
        'C' => Op::Raw(client(), tail.to_string()),
        'U' => Op::Up,
        'D' => Op::Down,
        'G' => Op::StaleLine(tail.to_string()),
        'W' => Op::ToggleServerReading,
        'a' => {
            let k = num(&word());
            Op::ServerResult(k, small(&word()))
        }
        'e' => {
            let k = num(&word());
            Op::ServerError(k, small(&word()))
        }
        'd' => Op::ServerTwice(num(&word())),
        'p' => Op::ServerProgress(num(&word())),
        'q' => {
            let method = word();
            Op::ServerRequest(method, small(&word()))
        }
        'n' => {
            let kind = small(&word());
            Op::ServerNotify(kind, num(&word()))
        }
        'S' => Op::ServerRaw(tail.to_string()),
        'T' => Op::Sleep((num(&word()) as u64).min(MAX_SLEEP_MS)),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------
// The harness

/// What a client sent as its tagged request number n, to check what comes back for it.
struct Sent {
    id: String,
    token: Option<String>,
}

#[derive(Default)]
struct Client {
    session: Option<u64>,
    rx: Option<OutboundReceiver>,
    /// The sender the connection task holds: it answers refused frames itself.
    out: Option<Outbound>,
    reading: bool,
    sent: Vec<Sent>,
    /// Answers still due, by id (as JSON text).
    due: HashMap<String, u32>,
    /// Ids the client cancelled: that many answers may never come.
    cancelled: HashMap<String, u32>,
    /// Every progress token the client used.
    tokens: HashSet<String>,
    /// Every uri it asked to subscribe to (the router files a missing uri under "").
    subscribed: HashSet<String>,
    /// The ids of the server requests it was sent.
    server_requests: HashSet<String>,
}

/// A request the fake server received and has not answered.
struct Received {
    id: Value,
    method: String,
    params: Value,
}

/// A request the fake server sent towards the clients.
struct OwnRequest {
    generation: u64,
    id: Value,
    /// The client the router delivered it to, and its id there (known for tagged requests).
    delivered: Option<(usize, Value)>,
    answers_due: u32,
}

/// How far the current server process is with its handshake, as the router sees it.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Negotiated {
    /// Nothing answered yet (or a new `initialize` went out: the router is not ready).
    None,
    /// It refused `initialize` as a stateless-only server does; `server/discover` comes next.
    Refused,
    /// It answered `initialize` with a handshake revision.
    Handshake,
    /// It answered `initialize` with something else (no revision, or the stateless one).
    Other,
    /// It answered `server/discover` after refusing `initialize`.
    Stateless,
}

struct Server {
    generation: u64,
    rx: Option<mpsc::UnboundedReceiver<QueuedLine>>,
    reading: bool,
    open: Vec<Received>,
    bridge_ids: HashSet<String>,
    handshake: Negotiated,
    /// The handshake requests the router is waiting on (older ones it has given up).
    latest_init: Option<Value>,
    latest_discover: Option<Value>,
    own: Vec<OwnRequest>,
    next_own: u64,
}

struct Harness {
    handle: RouterHandle,
    link: mpsc::Sender<LinkEvent>,
    shutdown: CancellationToken,
    slept: Duration,
    clients: Vec<Client>,
    server: Server,
}

fn key(v: &Value) -> String {
    v.to_string()
}

/// A tag the harness put in a request's params (an object, or an array's first element).
fn tag_of(params: &Value, field: &str) -> Option<Value> {
    match params {
        Value::Object(m) => m.get(field).cloned(),
        Value::Array(a) => a.first().and_then(|f| f.get(field)).cloned(),
        _ => None,
    }
}

/// `[session, n]`: request n of the client attached as that router session.
fn tag_parts(tag: &Value) -> (u64, usize) {
    let parts = tag
        .as_array()
        .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()? as usize)));
    parts.unwrap_or_else(|| panic!("malformed tag {tag}"))
}

/// The progress token the router rewrites: `params._meta.progressToken` of an object.
fn progress_token(params: &Value) -> Option<&Value> {
    params.as_object()?.get("_meta")?.get("progressToken")
}

impl Harness {
    fn new() -> Self {
        let (link, link_rx) = mpsc::channel(LINK_QUEUE);
        let status = StatusHub::new(BridgeStatus {
            version: "fuzz".into(),
            pid: 0,
            address: String::new(),
            started_at_ms: 0,
            uptime_ms: 0,
            config_path: None,
            state_dir: String::new(),
            reaped_orphans: Vec::new(),
        });
        let logs = LogHub::new(64);
        let shutdown = CancellationToken::new();
        let options = RouterOptions {
            request_timeout: REQUEST_TIMEOUT,
            down_wait: DOWN_WAIT,
            down_queue_max: DOWN_QUEUE_MAX,
            slow_client_close_after: SLOW_CLIENT_CLOSE_AFTER,
            outbound_cap_bytes: OUTBOUND_CAP_BYTES,
            server_requests_max: SERVER_REQUESTS_MAX,
        };
        let handle = router::spawn("fz", options, link_rx, status, logs, shutdown.clone());
        Harness {
            handle,
            link,
            shutdown,
            slept: Duration::ZERO,
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            server: Server {
                generation: 0,
                rx: None,
                reading: true,
                open: Vec::new(),
                bridge_ids: HashSet::new(),
                handshake: Negotiated::None,
                latest_init: None,
                latest_discover: None,
                own: Vec::new(),
                next_own: 0,
            },
        }
    }

    async fn apply(&mut self, op: &Op) {
        match op {
            Op::Attach(c) => self.attach(*c).await,
            Op::Detach(c) => self.detach(*c).await,
            Op::ToggleReading(c) => {
                let client = &mut self.clients[*c];
                client.reading = !client.reading;
            }
            Op::Request(c, id, method, flags) => {
                if let Some(frame) = self.build_request(*c, id, method, flags) {
                    self.client_frame(*c, frame, true).await;
                }
            }
            Op::Notify(c, method) => {
                let frame =
                    format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"params\":{{}}}}");
                self.client_frame(*c, frame, false).await;
            }
            Op::Cancel(c, id) => {
                let frame = format!(
                    "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{{\"requestId\":{id},\"reason\":\"fuzz\"}}}}"
                );
                self.client_frame(*c, frame, false).await;
            }
            Op::AnswerServer(c, k, error) => {
                if self.server.own.is_empty() {
                    return;
                }
                let k = k % self.server.own.len();
                // Answered with the id it had where it went, from any client: only that one may.
                let Some((_, id)) = self.server.own[k].delivered.clone() else {
                    return;
                };
                let frame = if *error {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -1, "message": "no", "data": {"fzc": c}}})
                } else {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"fzc": c}})
                };
                self.client_frame(*c, frame.to_string(), false).await;
            }
            Op::Raw(c, text) => {
                if !carries_tags(text) {
                    self.client_frame(*c, text.clone(), false).await;
                }
            }
            Op::Up => {
                self.down().await;
                self.up().await;
            }
            Op::Down => self.down().await,
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
            Op::ServerRequest(method, form) => self.server_request(method, *form).await,
            Op::ServerNotify(kind, k) => self.server_notify(*kind, *k).await,
            Op::ServerRaw(line) => {
                if !carries_tags(line) {
                    // An answer written before the process read its request would leave the
                    // harness's books behind the router's: it reads everything first.
                    self.read_server_fully().await;
                    self.note_server_line(line);
                    self.server_line(line.clone()).await;
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

    // --- clients ------------------------------------------------------------------------

    async fn attach(&mut self, c: usize) {
        if self.clients[c].session.is_some() {
            return;
        }
        let (out, rx) = Outbound::new(OUTBOUND_CAP_BYTES);
        let session = self
            .handle
            .attach(out.clone(), "ws", format!("fuzz-{c}"))
            .await
            .expect("the router takes a client");
        self.clients[c] = Client {
            session: Some(session),
            rx: Some(rx),
            out: Some(out),
            reading: true,
            ..Client::default()
        };
    }

    async fn detach(&mut self, c: usize) {
        let Some(session) = self.clients[c].session else {
            return;
        };
        self.handle.detach(session, "fuzz").await;
        self.settle().await;
        // What was queued before the router forgot it is still read and checked.
        self.drain_client(c, true);
        self.clients[c] = Client::default();
    }

    fn build_request(&mut self, c: usize, id: &str, method: &str, flags: &str) -> Option<String> {
        let session = self.clients[c].session?;
        let n = self.clients[c].sent.len();
        let mut params = Map::new();
        params.insert("fz".into(), json!([session, n]));
        let mut meta = Map::new();
        for flag in flags.chars() {
            match flag {
                'p' => {
                    meta.insert("progressToken".into(), json!(format!("t{n}")));
                }
                'P' => {
                    meta.insert("progressToken".into(), json!(7));
                }
                's' => {
                    meta.insert(format!("{META_PREFIX}protocolVersion"), json!(STATELESS));
                    meta.insert(
                        format!("{META_PREFIX}clientInfo"),
                        json!({"name": format!("fz{c}"), "version": "1"}),
                    );
                }
                'o' => {
                    meta.insert(format!("{META_PREFIX}protocolVersion"), json!("2025-06-18"));
                }
                'x' => {
                    meta.insert(format!("{META_PREFIX}protocolVersion"), json!("1999-01-01"));
                }
                'i' => {
                    params.insert("protocolVersion".into(), json!("2025-11-25"));
                    params.insert("capabilities".into(), json!({}));
                    params.insert(
                        "clientInfo".into(),
                        json!({"name": format!("fz{c}"), "version": "1"}),
                    );
                }
                'I' => {
                    params.insert("protocolVersion".into(), json!("2024-11-05"));
                    params.insert("capabilities".into(), json!({}));
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

    /// Sends one frame as the WebSocket connection task does. `tagged`: built by
    /// [`Self::build_request`], whose tag is the next `sent` slot.
    async fn client_frame(&mut self, c: usize, text: String, tagged: bool) {
        trace!("  client {c} -> {text}");
        let Some(session) = self.clients[c].session else {
            return;
        };
        if let Some(request) = FastRequest::read(&text) {
            // The fast path never carries `_meta`, so never a progress token.
            self.expect_answer(c, key(&request.id), None, tagged);
            assert!(self.handle.forward(session, request).await, "router gone");
            return;
        }
        let msg = match jsonrpc::parse_message(&text) {
            Ok(msg) => msg,
            Err((id, error)) => {
                // The connection task answers; the router never sees the frame.
                self.expect_answer(c, key(&id), None, false);
                if let Some(out) = &self.clients[c].out {
                    out.force_send(jsonrpc::error_response(id, error).to_string());
                }
                return;
            }
        };
        let method = msg.get("method").and_then(Value::as_str);
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => {
                let params = msg.get("params").cloned().unwrap_or(Value::Null);
                if method == "resources/subscribe" {
                    let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                    self.clients[c].subscribed.insert(uri.to_string());
                }
                let token = progress_token(&params).map(key);
                self.expect_answer(c, key(id), token, tagged);
            }
            (Some("notifications/cancelled"), None) => {
                if let Some(id) = msg.get("params").and_then(|p| p.get("requestId")) {
                    *self.clients[c].cancelled.entry(key(id)).or_default() += 1;
                }
            }
            _ => {}
        }
        assert!(
            self.handle.message(session, msg, text.len()).await,
            "router gone"
        );
    }

    fn expect_answer(&mut self, c: usize, id: String, token: Option<String>, tagged: bool) {
        let client = &mut self.clients[c];
        *client.due.entry(id.clone()).or_default() += 1;
        if let Some(t) = &token {
            client.tokens.insert(t.clone());
        }
        if tagged {
            client.sent.push(Sent { id, token });
        }
    }

    /// Reads what a client has been sent and checks each message.
    fn drain_client(&mut self, c: usize, force: bool) {
        if !force && !self.clients[c].reading {
            return;
        }
        let mut got = Vec::new();
        if let Some(rx) = &mut self.clients[c].rx {
            while let Some(item) = rx.try_recv() {
                got.push(item);
            }
        }
        for item in got {
            match item {
                Outgoing::Text(text) => self.client_received(c, &text),
                Outgoing::Ping => {}
                Outgoing::Close { code, reason } => {
                    assert_eq!(code, 1013, "client {c} closed with {code} ({reason})");
                    // The router has forgotten this session: nothing more is due to it.
                    self.clients[c] = Client::default();
                    return;
                }
            }
        }
    }

    fn client_received(&mut self, c: usize, text: &str) {
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
            (Some(_), Some(id)) => {
                self.clients[c].server_requests.insert(key(id));
                let k = msg
                    .get("params")
                    .and_then(|p| p.get("fzs"))
                    .and_then(Value::as_u64);
                if let Some(own) = k.and_then(|k| self.server.own.get_mut(k as usize)) {
                    assert!(
                        own.delivered.is_none(),
                        "a server request was delivered twice: {text}"
                    );
                    own.delivered = Some((c, id.clone()));
                }
            }
            (Some(method), None) => self.client_notification(c, &method, &msg, text),
            (None, Some(id)) => {
                let id = id.clone();
                self.client_answer(c, &id, &msg, text);
            }
            (None, None) => panic!("client {c} was sent an answer without id: {text}"),
        }
    }

    fn client_answer(&mut self, c: usize, id: &Value, msg: &Map<String, Value>, text: &str) {
        let k = key(id);
        let client = &mut self.clients[c];
        match client.due.get_mut(&k) {
            Some(n) if *n > 0 => *n -= 1,
            _ => panic!(
                "client {c} got an answer for id {k} with no request of its own in flight (a duplicate or a misroute): {text}"
            ),
        }
        let tag = msg.get("result").and_then(|r| r.get("fz")).or_else(|| {
            msg.get("error")
                .and_then(|e| e.get("data"))
                .and_then(|d| d.get("fz"))
        });
        if let Some(tag) = tag {
            let (session, n) = tag_parts(tag);
            assert_eq!(
                Some(session),
                client.session,
                "client {c} got the answer to session {session}'s request {n}: {text}"
            );
            let sent = &client.sent[n];
            assert_eq!(
                sent.id, k,
                "client {c}'s request {n} had id {}, its answer came with id {k}",
                sent.id
            );
        }
    }

    fn client_notification(
        &mut self,
        c: usize,
        method: &str,
        msg: &Map<String, Value>,
        text: &str,
    ) {
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let client = &self.clients[c];
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
                    let (session, n) = tag_parts(tag);
                    assert_eq!(
                        Some(session),
                        client.session,
                        "client {c} got progress of session {session}'s request {n}: {text}"
                    );
                    let sent = &client.sent[n];
                    assert_eq!(
                        sent.token.as_deref(),
                        Some(token.as_str()),
                        "progress of client {c}'s request {n} came with another token: {text}"
                    );
                    assert!(
                        client.due.get(&sent.id).is_some_and(|n| *n > 0),
                        "progress of client {c}'s request {n} after its answer: {text}"
                    );
                }
            }
            "notifications/resources/updated" => {
                let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                assert!(
                    client.subscribed.contains(uri),
                    "client {c} got an update of {uri:?}, which it never subscribed to: {text}"
                );
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
            _ => {}
        }
    }

    // --- the server -------------------------------------------------------------------

    async fn up(&mut self) {
        self.server.generation += 1;
        let (tx, rx) = StdinQueue::new();
        self.server.rx = Some(rx);
        self.server.open.clear();
        // The router forgets the old process's requests; they are kept (by their tag) only
        // to recognise late deliveries still sitting in a client's queue.
        for own in &mut self.server.own {
            own.answers_due = 0;
        }
        self.server.handshake = Negotiated::None;
        self.server.latest_init = None;
        self.server.latest_discover = None;
        let _ = self
            .link
            .send(LinkEvent::Up {
                generation: self.server.generation,
                pid: 4242,
                to_server: tx,
            })
            .await;
    }

    async fn down(&mut self) {
        if self.server.rx.is_none() {
            return;
        }
        // What the process read before it died is still checked.
        self.read_server(true);
        self.server.rx = None;
        let _ = self
            .link
            .send(LinkEvent::Down {
                generation: self.server.generation,
                reason: "killed by the fuzzer".into(),
            })
            .await;
    }

    /// One stdout line of the current process (also after its `Down`: a dying process still
    /// writes, and the router must ignore it).
    async fn server_line(&mut self, line: String) {
        trace!("  server -> {line}");
        let _ = self
            .link
            .send(LinkEvent::Line {
                generation: self.server.generation,
                line,
            })
            .await;
    }

    /// Keeps the fake server's books on a raw line it writes, as the router will read it.
    fn note_server_line(&mut self, line: &str) {
        if self.server.rx.is_none() {
            return;
        }
        let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(line.trim()) else {
            return;
        };
        match (msg.get("method").and_then(Value::as_str), msg.get("id")) {
            (Some(_), Some(id)) => self.server.own.push(OwnRequest {
                generation: self.server.generation,
                id: id.clone(),
                delivered: None,
                answers_due: 1,
            }),
            (Some(_), None) => {}
            (None, id) => {
                let id = id.cloned().unwrap_or(Value::Null);
                self.note_answer(&id, &msg);
                self.server.open.retain(|r| r.id != id);
            }
        }
    }

    /// The handshake as the router will see this answer.
    fn note_answer(&mut self, id: &Value, msg: &Map<String, Value>) {
        let s = &mut self.server;
        if s.latest_init.as_ref() == Some(id) {
            s.latest_init = None;
            if let Some(result) = msg.get("result") {
                let revision = result.get("protocolVersion").and_then(Value::as_str);
                s.handshake = match revision {
                    Some(r) if r != STATELESS => Negotiated::Handshake,
                    _ => Negotiated::Other,
                };
            } else {
                let code = msg
                    .get("error")
                    .and_then(|e| e.get("code"))
                    .and_then(Value::as_i64);
                if matches!(code, Some(-32601 | -32022)) {
                    s.handshake = Negotiated::Refused;
                }
            }
        } else if s.latest_discover.as_ref() == Some(id) {
            s.latest_discover = None;
            if msg.get("result").is_some() && s.handshake == Negotiated::Refused {
                s.handshake = Negotiated::Stateless;
            }
        }
    }

    async fn server_answer(&mut self, k: usize, form: u8, code: Option<u8>, times: usize) {
        if self.server.open.is_empty() || self.server.rx.is_none() {
            return;
        }
        let r = self.server.open.remove(k % self.server.open.len());
        // The tag goes back only on clients' own requests: the router re-sends the first
        // client's `initialize` as its own, and tells every waiting client how it went.
        let handshake = r.method == "initialize" || r.method == "server/discover";
        let tag = if handshake {
            None
        } else {
            tag_of(&r.params, "fz")
        };
        let mut msg = Map::new();
        match code {
            Some(code) => {
                let code = match code % 4 {
                    0 => -32000,
                    1 => jsonrpc::METHOD_NOT_FOUND,
                    2 => -32022,
                    _ => jsonrpc::INTERNAL_ERROR,
                };
                let data = tag.map_or(Value::Null, |t| json!({"fz": t}));
                msg.insert(
                    "error".into(),
                    json!({"code": code, "message": "fake error", "data": data}),
                );
            }
            None => {
                let result = match r.method.as_str() {
                    "initialize" => {
                        let revision = r
                            .params
                            .get("protocolVersion")
                            .cloned()
                            .unwrap_or(json!("2025-11-25"));
                        json!({"protocolVersion": revision, "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1.0"}})
                    }
                    "server/discover" => {
                        json!({"supportedVersions": [STATELESS], "capabilities": {}, "serverInfo": {"name": "fake", "version": "2.0"}})
                    }
                    method => match tag {
                        Some(tag) => json!({"fz": tag, "m": method}),
                        None => json!({"m": method}),
                    },
                };
                msg.insert("result".into(), result);
            }
        }
        self.note_answer(&r.id, &msg);
        let id = r.id.to_string();
        let (field, body) = msg
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .unwrap_or_default();
        let line = match form % 3 {
            // What the router's fast path reads.
            0 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"{field}\":{body}}}"),
            // The full path: an escaped version string, keys in another order.
            1 => format!("{{\"{field}\":{body},\"id\":{id},\"jsonrpc\":\"2\\u002e0\"}}"),
            // The full path: a duplicated key.
            _ => format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"id\":{id},\"{field}\":{body}}}"),
        };
        for _ in 0..times {
            self.server_line(line.clone()).await;
        }
    }

    async fn server_progress(&mut self, k: usize) {
        if self.server.open.is_empty() || self.server.rx.is_none() {
            return;
        }
        let r = &self.server.open[k % self.server.open.len()];
        let Some(token) = progress_token(&r.params).cloned() else {
            return;
        };
        let mut params = json!({"progressToken": token, "progress": 1, "total": 2});
        if let Some(tag) = tag_of(&r.params, "fz") {
            params["fz"] = tag;
        }
        let line = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
        self.server_line(line.to_string()).await;
    }

    async fn server_request(&mut self, method: &str, form: u8) {
        if self.server.rx.is_none() {
            return;
        }
        let n = self.server.next_own;
        self.server.next_own += 1;
        let id = match form % 5 {
            0 => json!(n),
            1 => json!(format!("s{n}")),
            2 => serde_json::from_str::<Value>(&format!("1234567890123456789012345{n}"))
                .unwrap_or(json!(n)),
            // The server reuses an id it has open (its bug, not the router's).
            3 => self.server.own.last().map_or(json!(n), |o| o.id.clone()),
            _ => json!({"weird": n}),
        };
        let method = if method.is_empty() {
            "roots/list"
        } else {
            method
        };
        let k = self.server.own.len();
        self.server.own.push(OwnRequest {
            generation: self.server.generation,
            id: id.clone(),
            delivered: None,
            answers_due: 1,
        });
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"fzs": k}});
        self.server_line(line.to_string()).await;
    }

    async fn server_notify(&mut self, kind: u8, k: usize) {
        if self.server.rx.is_none() {
            return;
        }
        let line = match kind % 5 {
            0 => json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            1 => {
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "warning", "logger": "fz", "data": {"k": k}}})
            }
            2 => {
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": format!("file:///{}", k % 2)}})
            }
            3 => {
                let Some(own) = self.server.own.get(k % self.server.own.len().max(1)) else {
                    return;
                };
                json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": own.id}})
            }
            _ => {
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {}})
            }
        };
        self.server_line(line.to_string()).await;
    }

    /// Reads what the router wrote to the fake server's stdin and checks each line.
    fn read_server(&mut self, force: bool) {
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
    async fn read_server_fully(&mut self) {
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
        let handshake_done = matches!(
            self.server.handshake,
            Negotiated::Handshake | Negotiated::Other | Negotiated::Stateless
        );
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => {
                let id_key = key(id);
                assert!(
                    id.as_u64().is_some(),
                    "the server was sent request id {id_key}, not a bridge id: {body}"
                );
                assert!(
                    self.server.bridge_ids.insert(id_key.clone()),
                    "bridge id {id_key} was used twice: {body}"
                );
                match method.as_str() {
                    "initialize" => {
                        self.server.handshake = Negotiated::None;
                        self.server.latest_init = Some(id.clone());
                    }
                    "server/discover" => self.server.latest_discover = Some(id.clone()),
                    _ => assert!(
                        handshake_done,
                        "`{method}` reached a server process before its handshake: {body}"
                    ),
                }
                let params = msg.get("params").cloned().unwrap_or(Value::Null);
                if let Some(token) = progress_token(&params) {
                    assert_eq!(
                        token,
                        &json!(format!("bdp-{id_key}")),
                        "a client's progress token reached the server as the client wrote it: {body}"
                    );
                }
                self.check_envelope(&method, &params, body);
                self.server.open.push(Received {
                    id: id.clone(),
                    method,
                    params,
                });
            }
            (Some(method), None) => {
                if !handshake_done {
                    assert_eq!(
                        method, "notifications/initialized",
                        "a notification reached a server process before its handshake: {body}"
                    );
                }
                if method == "notifications/cancelled" {
                    let id = msg.get("params").and_then(|p| p.get("requestId"));
                    assert!(
                        id.is_some_and(|i| self.server.bridge_ids.contains(&key(i))),
                        "a cancellation of a request the server was never sent: {body}"
                    );
                    if let Some(id) = id {
                        self.server.open.retain(|r| &r.id != id);
                    }
                }
            }
            (None, id) => {
                let id =
                    id.unwrap_or_else(|| panic!("an answer without id for the server: {body}"));
                let from = msg
                    .get("result")
                    .and_then(|r| r.get("fzc"))
                    .or_else(|| {
                        msg.get("error")
                            .and_then(|e| e.get("data"))
                            .and_then(|d| d.get("fzc"))
                    })
                    .and_then(Value::as_u64)
                    .map(|c| c as usize);
                // With an id the server used twice in this process, which request an answer is
                // for is the server's own confusion: only answers to unambiguous ids are attributed.
                let generation = self.server.generation;
                let ambiguous = self
                    .server
                    .own
                    .iter()
                    .filter(|o| o.generation == generation && &o.id == id)
                    .count()
                    > 1;
                let mut open = self
                    .server
                    .own
                    .iter_mut()
                    .filter(|o| &o.id == id && o.answers_due > 0)
                    .peekable();
                assert!(
                    open.peek().is_some(),
                    "the server got an answer to {id}, which it has no request open for: {body}"
                );
                let mut open: Vec<&mut OwnRequest> = open.collect();
                let pick = match from {
                    // A client's own answer: it must be one that was sent to that client.
                    Some(c) if !ambiguous => {
                        let to: Vec<Option<usize>> = open
                            .iter()
                            .map(|o| o.delivered.as_ref().map(|d| d.0))
                            .collect();
                        open.iter()
                            .position(|o| o.delivered.as_ref().is_some_and(|d| d.0 == c))
                            .unwrap_or_else(|| panic!(
                                "client {c} answered the server's request {id}, which went to client {to:?}: {body}"
                            ))
                    }
                    _ => 0,
                };
                open[pick].answers_due -= 1;
            }
        }
    }

    /// The revision translation: a process that answered `initialize` with a handshake
    /// revision never sees the stateless envelope; one that speaks only the stateless revision
    /// gets it on every client request.
    fn check_envelope(&self, method: &str, params: &Value, body: &str) {
        let meta = params
            .as_object()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        match self.server.handshake {
            Negotiated::Handshake => assert!(
                !meta.is_some_and(|m| m.keys().any(|k| k.starts_with(META_PREFIX))),
                "a server that answered initialize was sent the stateless envelope: {body}"
            ),
            Negotiated::Stateless if method != "initialize" && params.get("fz").is_some() => {
                assert!(
                    meta.is_some_and(|m| m.contains_key(&format!("{META_PREFIX}protocolVersion"))),
                    "a stateless-only server was sent a request without its envelope: {body}"
                );
            }
            _ => {}
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
        assert_eq!(
            o.by_client_id, o.pending_for_clients,
            "routing keys and requests in flight disagree: {o:?}"
        );
        assert!(
            o.progress_routes <= o.pending_for_clients,
            "progress routes outlive their requests: {o:?}"
        );
        assert!(o.server_request_ids <= o.server_requests, "{o:?}");
        assert!(o.server_requests <= SERVER_REQUESTS_MAX, "server requests past the cap: {o:?}");
        assert!(o.init_waiters <= DOWN_QUEUE_MAX, "more clients wait for initialize than allowed: {o:?}");
        assert!(
            o.waiting <= DOWN_QUEUE_MAX,
            "more requests wait than allowed: {o:?}"
        );
        assert!(o.cancelled_remembered <= CANCELLED_REMEMBERED, "{o:?}");
        assert!(o.gone_clients <= GONE_REMEMBERED, "{o:?}");
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
        let everything =
            REQUEST_TIMEOUT + DOWN_WAIT + SLOW_CLIENT_CLOSE_AFTER + Duration::from_millis(500);
        self.sleep(everything).await;
        let o = self.occupancy().await;
        let attached = self.clients.iter().filter(|c| c.session.is_some()).count();
        assert_eq!(o.sessions, attached, "{o:?}");
        assert_eq!(
            o.pending, 0,
            "requests still pending after every timeout: {o:?}"
        );
        assert_eq!(o.by_client_id, 0, "{o:?}");
        assert_eq!(o.progress_routes, 0, "{o:?}");
        assert_eq!(
            o.waiting, 0,
            "requests still waiting after every timeout: {o:?}"
        );
        assert_eq!(o.init_waiters, 0, "{o:?}");
        for (c, client) in self.clients.iter().enumerate() {
            for (id, due) in &client.due {
                let may_skip = client.cancelled.get(id).copied().unwrap_or(0);
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
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k == "fz" || k == "fzc" || k == "fzs" || walk(v)),
            Value::Array(a) => a.iter().any(walk),
            _ => false,
        }
    }
    // With duplicate keys serde_json keeps the last, as the harness's own reading does.
    serde_json::from_str::<Value>(text.trim()).is_ok_and(|v| walk(&v))
}
