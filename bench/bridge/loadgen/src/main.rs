//! Load generator for the bridge benchmark.
//!
//! N MCP clients, each keeping up to W `tools/call` echo requests in flight (a string argument
//! of P bytes), against one of:
//!
//! - `--target direct --cmd "node echo-server.mjs"`: spawns the server itself and multiplexes
//!   the N logical clients over its one stdin/stdout pair (the ceiling: no bridge at all);
//! - `--target ws --url ws://...`: N WebSocket connections (bridgedock, supergateway);
//! - `--target http --url http://HOST:PORT/PATH`: MCP Streamable HTTP. Each client is its own
//!   MCP session (`initialize` first; its `Mcp-Session-Id`, when the server gives one, goes on
//!   every later POST with `MCP-Protocol-Version`) over W HTTP/1.1 keep-alive connections of its
//!   own, each with one POST in flight at a time (HTTP/1.1 has no usable pipelining), so the
//!   client keeps W requests in flight. Answers may come as `application/json` or as an SSE
//!   body (`text/event-stream`, read to its end). Each answer must carry the id of the request
//!   POSTed on that very connection: another client's id is misrouted, another id of the same
//!   client is unexpected; a POST that ends without its answer counts as lost (2xx) or as an
//!   error (non-2xx, e.g. an unknown session). At the end each session is ended with DELETE.
//!
//! Every request id is `client_tag << 32 | seq` (tag = client index + 1; seq 0 is the client's
//! `initialize`), so an answer that reaches the wrong client is recognised. Each answer must
//! carry an id that belongs to the client that received it and is outstanding; anything else
//! is counted (misrouted: another client's id; unexpected: own tag but not outstanding, e.g.
//! a duplicate). Requests still unanswered after the drain time are lost.
//!
//! Timeline: all clients connect and initialize, then start together at t0; answers in
//! [t0 + warmup, t0 + warmup + duration) are counted and their latency (from the moment the
//! request was generated to the moment its answer was parsed) recorded. At the end no new
//! requests are issued; the ones in flight are drained (up to --drain seconds).
//!
//! Prints one JSON object on stdout.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, watch, Barrier};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const TAG_SHIFT: u32 = 32;
const PROTOCOL_VERSION: &str = "2025-11-25";
/// Error messages kept verbatim for the report.
const KEEP_ERRORS: usize = 5;
/// Sequence numbers of one HTTP connection start at `conn_index << CONN_SEQ_SHIFT` + 1, so
/// that the W connections of a client never reuse each other's ids.
const CONN_SEQ_SHIFT: u32 = 24;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Debug)]
struct Opts {
    target: String,
    cmd: String,
    url: String,
    headers: Vec<(String, String)>,
    clients: usize,
    window: usize,
    payload: usize,
    warmup: Duration,
    duration: Duration,
    drain: Duration,
    connect_timeout: Duration,
    threads: usize,
    label: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --target direct|ws|http [--cmd CMD | --url URL] [--header 'K: V']... \
         [--clients N] [--window W] [--payload BYTES] [--warmup S] [--duration S] [--drain S] \
         [--connect-timeout S] [--threads T] [--label TEXT]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        target: String::new(),
        cmd: String::new(),
        url: String::new(),
        headers: Vec::new(),
        clients: 1,
        window: 32,
        payload: 100,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        drain: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(20),
        threads: 1,
        label: String::new(),
    };
    let mut it = std::env::args().skip(1);
    let secs = |v: String| Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage()));
    let num = |v: String| -> usize { v.parse().unwrap_or_else(|_| usage()) };
    while let Some(a) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--target" => o.target = v(),
            "--cmd" => o.cmd = v(),
            "--url" => o.url = v(),
            "--header" => {
                let h = v();
                let Some((k, val)) = h.split_once(':') else { usage() };
                o.headers.push((k.trim().to_string(), val.trim().to_string()));
            }
            "--clients" => o.clients = num(v()),
            "--window" => o.window = num(v()),
            "--payload" => o.payload = num(v()),
            "--warmup" => o.warmup = secs(v()),
            "--duration" => o.duration = secs(v()),
            "--drain" => o.drain = secs(v()),
            "--connect-timeout" => o.connect_timeout = secs(v()),
            "--threads" => o.threads = num(v()),
            "--label" => o.label = v(),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let ok_target = (o.target == "direct" && !o.cmd.is_empty())
        || ((o.target == "ws" || o.target == "http") && !o.url.is_empty());
    if !ok_target || o.clients == 0 || o.window == 0 || o.clients >= (1 << 20) || o.window >= (1 << 8) {
        usage()
    }
    o
}

/// The fixed points of the run, shared by every client once all are ready.
#[derive(Clone, Copy, Debug)]
struct Timing {
    t0: Instant,
    warm_end: Instant,
    end: Instant,
    drain_deadline: Instant,
}

impl Timing {
    fn new(t0: Instant, o: &Opts) -> Timing {
        let warm_end = t0 + o.warmup;
        let end = warm_end + o.duration;
        Timing { t0, warm_end, end, drain_deadline: end + o.drain }
    }
}

#[derive(Default, Debug)]
struct Stats {
    sent: u64,
    answers_total: u64,
    answers_in_window: u64,
    errors_in_window: u64,
    latencies_us: Vec<u32>,
    misrouted: u64,
    unexpected: u64,
    lost: u64,
    too_slow: u64,
    errors: u64,
    corrupt: u64,
    other_messages: u64,
    unparsable: u64,
    error_samples: Vec<String>,
    connection_errors: Vec<String>,
    /// HTTP: 2xx replies with no JSON-RPC message in them.
    empty_replies: u64,
    /// HTTP: DELETEs of the session that did not succeed.
    delete_failures: Vec<String>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.sent += o.sent;
        self.answers_total += o.answers_total;
        self.answers_in_window += o.answers_in_window;
        self.errors_in_window += o.errors_in_window;
        self.latencies_us.extend(o.latencies_us);
        self.misrouted += o.misrouted;
        self.unexpected += o.unexpected;
        self.lost += o.lost;
        self.too_slow += o.too_slow;
        self.errors += o.errors;
        self.corrupt += o.corrupt;
        self.other_messages += o.other_messages;
        self.unparsable += o.unparsable;
        for e in o.error_samples {
            if self.error_samples.len() < KEEP_ERRORS {
                self.error_samples.push(e);
            }
        }
        self.connection_errors.extend(o.connection_errors);
        self.empty_replies += o.empty_replies;
        self.delete_failures.extend(o.delete_failures);
    }
}

/// One logical client's bookkeeping: its tag, next sequence number, requests in flight.
struct Client {
    tag: u64,
    next_seq: u64,
    outstanding: HashMap<u64, Instant>,
}

impl Client {
    fn new(index: usize, window: usize) -> Client {
        Client { tag: index as u64 + 1, next_seq: 1, outstanding: HashMap::with_capacity(window * 2) }
    }

    /// One HTTP connection's share of a client: same tag, its own range of sequence numbers.
    fn connection(index: usize, conn: usize) -> Client {
        Client { tag: index as u64 + 1, next_seq: ((conn as u64) << CONN_SEQ_SHIFT) + 1, outstanding: HashMap::with_capacity(2) }
    }

    /// A new request, recorded as outstanding; returns its frame.
    fn next_request(&mut self, payload: &str) -> String {
        let id = (self.tag << TAG_SHIFT) | self.next_seq;
        self.next_seq += 1;
        self.outstanding.insert(id, Instant::now());
        request_frame(id, payload)
    }
}

fn request_frame(id: u64, payload: &str) -> String {
    // payload is plain ASCII ('x'...), so it needs no escaping
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"p":"{payload}"}}}}}}"#
    )
}

fn initialize_frame(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}
        }
    })
    .to_string()
}

const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    result: Option<EchoResult<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct EchoResult<'a> {
    #[serde(default, borrow)]
    echo: Option<EchoParams<'a>>,
}

#[derive(Deserialize)]
struct EchoParams<'a> {
    #[serde(default, borrow)]
    arguments: Option<EchoArgs<'a>>,
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(default, borrow)]
    p: Option<Cow<'a, str>>,
}

/// What one incoming message meant for the client that received it.
enum Outcome {
    /// An answer to one of this client's requests (index of the logical client).
    Answered(usize),
    /// Nothing to refill.
    Other,
}

/// Handles one incoming message for the clients in `clients` (one for a WebSocket
/// connection, all N for direct pipes; `base_tag` is the tag of clients[0]).
fn handle(text: &[u8], clients: &mut [Client], base_tag: u64, payload_len: usize, t: &Timing, st: &mut Stats) -> Outcome {
    let now = Instant::now();
    let msg: Answer = match serde_json::from_slice(text) {
        Ok(m) => m,
        Err(_) => {
            st.unparsable += 1;
            return Outcome::Other;
        }
    };
    if msg.method.is_some() {
        // a notification or a server->client request: not expected from an echo server
        st.other_messages += 1;
        return Outcome::Other;
    }
    let id = match msg.id.as_ref().and_then(Value::as_u64) {
        Some(id) => id,
        None => {
            // id null or of a foreign type: an error about no request of ours in particular
            st.other_messages += 1;
            if let Some(e) = &msg.error {
                st.errors += 1;
                if st.error_samples.len() < KEEP_ERRORS {
                    st.error_samples.push(e.to_string());
                }
            }
            return Outcome::Other;
        }
    };
    let tag = id >> TAG_SHIFT;
    if tag < base_tag || tag >= base_tag + clients.len() as u64 {
        st.misrouted += 1;
        return Outcome::Other;
    }
    let idx = (tag - base_tag) as usize;
    let c = &mut clients[idx];
    let Some(sent_at) = c.outstanding.remove(&id) else {
        st.unexpected += 1;
        return Outcome::Other;
    };
    st.answers_total += 1;
    let in_window = now >= t.warm_end && now < t.end;
    if let Some(e) = &msg.error {
        let too_slow = e.pointer("/data/reason").and_then(Value::as_str) == Some("client_too_slow");
        if too_slow {
            st.too_slow += 1;
        } else {
            st.errors += 1;
            if st.error_samples.len() < KEEP_ERRORS {
                st.error_samples.push(e.to_string());
            }
        }
        if in_window {
            st.errors_in_window += 1;
        }
    } else {
        let len = msg.result.and_then(|r| r.echo).and_then(|e| e.arguments).and_then(|a| a.p).map(|p| p.len());
        if len != Some(payload_len) {
            st.corrupt += 1;
        } else if in_window {
            // only good echoes count towards throughput and latency
            st.answers_in_window += 1;
            let us = now.duration_since(sent_at).as_micros().min(u32::MAX as u128) as u32;
            st.latencies_us.push(us);
        }
    }
    Outcome::Answered(idx)
}

// ---------------------------------------------------------------------------------------------
// WebSocket target

async fn ws_client(
    index: usize,
    o: Arc<Opts>,
    payload: Arc<str>,
    barrier: Arc<Barrier>,
    mut start: watch::Receiver<Option<Timing>>,
) -> Stats {
    let mut st = Stats::default();
    let ready = tokio::time::timeout(o.connect_timeout, ws_connect_and_initialize(index, &o)).await;
    let ws = match ready {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(e)) => {
            st.connection_errors.push(format!("client {index}: {e}"));
            None
        }
        Err(_) => {
            st.connection_errors.push(format!("client {index}: connect+initialize timed out"));
            None
        }
    };
    // Everyone reaches the barrier, connected or not, so that the run can go on and report.
    barrier.wait().await;
    let Some(ws) = ws else { return st };
    let t = match start.wait_for(Option::is_some).await {
        Ok(t) => t.expect("checked"),
        Err(_) => return st,
    };

    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            sink.feed(Message::text(first)).await?;
            while let Ok(more) = rx.try_recv() {
                sink.feed(Message::text(more)).await?;
            }
            sink.flush().await?;
        }
        let _ = sink.close().await;
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    });

    let mut clients = [Client::new(index, o.window)];
    let base_tag = clients[0].tag;
    for _ in 0..o.window {
        let _ = tx.send(clients[0].next_request(&payload));
        st.sent += 1;
    }
    loop {
        let next = tokio::time::timeout_at(t.drain_deadline.into(), stream.next()).await;
        let frame = match next {
            Err(_) => break, // drain deadline
            Ok(None) => {
                st.connection_errors.push(format!("client {index}: connection closed by the server"));
                break;
            }
            Ok(Some(Err(e))) => {
                st.connection_errors.push(format!("client {index}: {e}"));
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let text = match &frame {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b.as_ref(),
            Message::Close(c) => {
                st.connection_errors.push(format!("client {index}: closed by the server: {c:?}"));
                break;
            }
            _ => continue,
        };
        if let Outcome::Answered(i) = handle(text, &mut clients, base_tag, o.payload, &t, &mut st) {
            if Instant::now() < t.end {
                let _ = tx.send(clients[i].next_request(&payload));
                st.sent += 1;
            }
        }
        if Instant::now() >= t.end && clients[0].outstanding.is_empty() {
            break;
        }
    }
    st.lost += clients[0].outstanding.len() as u64;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    st
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect_and_initialize(index: usize, o: &Opts) -> Result<Ws, BoxError> {
    let mut req = o.url.as_str().into_client_request()?;
    for (k, v) in &o.headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())?,
            v.parse()?,
        );
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (mut ws, _resp) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
    let tag = index as u64 + 1;
    let init_id = tag << TAG_SHIFT;
    ws.send(Message::text(initialize_frame(init_id))).await?;
    loop {
        match ws.next().await {
            None => return Err("closed before answering initialize".into()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str())?;
                if v.get("id").and_then(Value::as_u64) == Some(init_id) {
                    if let Some(e) = v.get("error") {
                        return Err(format!("initialize failed: {e}").into());
                    }
                    break;
                }
            }
            Some(Ok(Message::Close(c))) => return Err(format!("closed before answering initialize: {c:?}").into()),
            Some(Ok(_)) => {}
        }
    }
    ws.send(Message::text(INITIALIZED)).await?;
    Ok(ws)
}

async fn run_ws(o: Arc<Opts>) -> (Stats, Timing) {
    let payload: Arc<str> = "x".repeat(o.payload).into();
    let barrier = Arc::new(Barrier::new(o.clients + 1));
    let (start_tx, start_rx) = watch::channel(None);
    let mut tasks = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        tasks.push(tokio::spawn(ws_client(i, o.clone(), payload.clone(), barrier.clone(), start_rx.clone())));
    }
    barrier.wait().await;
    let t = Timing::new(Instant::now(), &o);
    let _ = start_tx.send(Some(t));
    let mut total = Stats::default();
    for task in tasks {
        match task.await {
            Ok(st) => total.merge(st),
            Err(e) => total.connection_errors.push(format!("client task failed: {e}")),
        }
    }
    (total, t)
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP target

type HttpConn = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// Where the POSTs go: `http://HOST:PORT/PATH` split up (no DNS: HOST is an IP address).
#[derive(Debug)]
struct HttpUrl {
    addr: SocketAddr,
    authority: String,
    path: String,
}

fn parse_http_url(url: &str) -> Result<HttpUrl, BoxError> {
    let rest = url.strip_prefix("http://").ok_or("--url must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok(HttpUrl { addr: authority.parse()?, authority: authority.to_string(), path: path.to_string() })
}

async fn http_connect(u: &HttpUrl) -> Result<HttpConn, BoxError> {
    let stream = tokio::net::TcpStream::connect(u.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

struct HttpReply {
    status: u16,
    session: Option<String>,
    sse: bool,
    body: bytes::Bytes,
}

impl HttpReply {
    /// The JSON-RPC messages in the body: the body itself, or each SSE event's data.
    fn messages(&self) -> Vec<Cow<'_, [u8]>> {
        if !self.sse {
            return if self.body.iter().all(u8::is_ascii_whitespace) {
                Vec::new()
            } else {
                vec![Cow::Borrowed(&self.body[..])]
            };
        }
        let mut out = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        let mut have = false;
        for line in self.body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if have {
                    out.push(Cow::Owned(std::mem::take(&mut data)));
                    have = false;
                }
            } else if let Some(d) = line.strip_prefix(b"data:") {
                if have {
                    data.push(b'\n');
                }
                data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
                have = true;
            }
        }
        if have {
            out.push(Cow::Owned(data));
        }
        out
    }

    fn body_sample(&self) -> String {
        let b = &self.body[..self.body.len().min(300)];
        format!("HTTP {}: {}", self.status, String::from_utf8_lossy(b))
    }
}

enum Verb {
    Post(String),
    Delete,
}

async fn http_send(conn: &mut HttpConn, u: &HttpUrl, o: &Opts, session: Option<&str>, versioned: bool, verb: Verb) -> Result<HttpReply, BoxError> {
    use http_body_util::BodyExt;
    use hyper::header;
    conn.ready().await?;
    let (method, body) = match verb {
        Verb::Post(b) => (hyper::Method::POST, b),
        Verb::Delete => (hyper::Method::DELETE, String::new()),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(u.path.as_str())
        .header(header::HOST, u.authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    for (k, v) in &o.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    if versioned {
        req = req.header("mcp-protocol-version", PROTOCOL_VERSION);
    }
    let resp = conn.send_request(req.body(http_body_util::Full::new(bytes::Bytes::from(body)))?).await?;
    let status = resp.status().as_u16();
    let session = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(HttpReply { status, session, sse, body })
}

/// Opens a client's W connections and its session: `initialize` (answer checked), then
/// `notifications/initialized`. Returns the connections and the session id, if any.
async fn http_open(index: usize, o: &Opts, u: &HttpUrl) -> Result<(Vec<HttpConn>, Option<String>), BoxError> {
    let mut conns = Vec::with_capacity(o.window);
    for _ in 0..o.window {
        conns.push(http_connect(u).await?);
    }
    let init_id = (index as u64 + 1) << TAG_SHIFT;
    let r = http_send(&mut conns[0], u, o, None, false, Verb::Post(initialize_frame(init_id))).await?;
    if !(200..300).contains(&r.status) {
        return Err(format!("initialize refused: {}", r.body_sample()).into());
    }
    let mut answered = false;
    for m in r.messages() {
        let v: Value = serde_json::from_slice(&m)?;
        if v.get("id").and_then(Value::as_u64) == Some(init_id) {
            if let Some(e) = v.get("error") {
                return Err(format!("initialize failed: {e}").into());
            }
            answered = true;
        }
    }
    if !answered {
        return Err(format!("no answer to initialize: {}", r.body_sample()).into());
    }
    let session = r.session;
    let n = http_send(&mut conns[0], u, o, session.as_deref(), true, Verb::Post(INITIALIZED.to_string())).await?;
    if !(200..300).contains(&n.status) {
        return Err(format!("notifications/initialized refused: {}", n.body_sample()).into());
    }
    Ok((conns, session))
}

/// One connection of one client: POST, wait for the answer, check it, POST the next one.
async fn http_connection(
    index: usize,
    k: usize,
    mut conn: HttpConn,
    session: Option<&str>,
    o: &Opts,
    u: &HttpUrl,
    payload: &str,
    t: Timing,
) -> Stats {
    let mut st = Stats::default();
    let mut c = [Client::connection(index, k)];
    let tag = c[0].tag;
    while Instant::now() < t.end {
        let frame = c[0].next_request(payload);
        let id = (c[0].tag << TAG_SHIFT) | (c[0].next_seq - 1);
        st.sent += 1;
        let sent = tokio::time::timeout_at(t.drain_deadline.into(), http_send(&mut conn, u, o, session, true, Verb::Post(frame))).await;
        let reply = match sent {
            Err(_) => break, // drain deadline: the request is lost
            Ok(Err(e)) => {
                st.connection_errors.push(format!("client {index} connection {k}: {e}"));
                break;
            }
            Ok(Ok(r)) => r,
        };
        let msgs = reply.messages();
        if msgs.is_empty() && (200..300).contains(&reply.status) {
            st.empty_replies += 1;
        }
        for m in &msgs {
            handle(m, &mut c, tag, o.payload, &t, &mut st);
        }
        if c[0].outstanding.remove(&id).is_some() {
            // the POST is over and its answer was not in it
            if (200..300).contains(&reply.status) {
                st.lost += 1;
            } else {
                st.errors += 1;
                let now = Instant::now();
                if now >= t.warm_end && now < t.end {
                    st.errors_in_window += 1;
                }
            }
            if st.error_samples.len() < KEEP_ERRORS {
                st.error_samples.push(reply.body_sample());
            }
        }
    }
    st.lost += c[0].outstanding.len() as u64;
    st
}

async fn http_client(
    index: usize,
    o: Arc<Opts>,
    u: Arc<HttpUrl>,
    payload: Arc<str>,
    barrier: Arc<Barrier>,
    mut start: watch::Receiver<Option<Timing>>,
) -> Stats {
    let mut st = Stats::default();
    let ready = tokio::time::timeout(o.connect_timeout, http_open(index, &o, &u)).await;
    let opened = match ready {
        Ok(Ok(x)) => Some(x),
        Ok(Err(e)) => {
            st.connection_errors.push(format!("client {index}: {e}"));
            None
        }
        Err(_) => {
            st.connection_errors.push(format!("client {index}: connect+initialize timed out"));
            None
        }
    };
    barrier.wait().await;
    let Some((conns, session)) = opened else { return st };
    let t = match start.wait_for(Option::is_some).await {
        Ok(t) => t.expect("checked"),
        Err(_) => return st,
    };
    let runs = conns
        .into_iter()
        .enumerate()
        .map(|(k, conn)| http_connection(index, k, conn, session.as_deref(), &o, &u, &payload, t));
    for s in futures_util::future::join_all(runs).await {
        st.merge(s);
    }
    if let Some(sid) = session.as_deref() {
        // end the session (on a fresh connection: the others may have been cut by an error)
        let end = async {
            let mut conn = http_connect(&u).await?;
            http_send(&mut conn, &u, &o, Some(sid), true, Verb::Delete).await
        };
        match tokio::time::timeout(Duration::from_secs(5), end).await {
            Ok(Ok(r)) if (200..300).contains(&r.status) => {}
            Ok(Ok(r)) => st.delete_failures.push(r.body_sample()),
            Ok(Err(e)) => st.delete_failures.push(e.to_string()),
            Err(_) => st.delete_failures.push("DELETE timed out".into()),
        }
    }
    st
}

async fn run_http(o: Arc<Opts>) -> Result<(Stats, Timing), BoxError> {
    let u = Arc::new(parse_http_url(&o.url)?);
    let payload: Arc<str> = "x".repeat(o.payload).into();
    let barrier = Arc::new(Barrier::new(o.clients + 1));
    let (start_tx, start_rx) = watch::channel(None);
    let mut tasks = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        tasks.push(tokio::spawn(http_client(i, o.clone(), u.clone(), payload.clone(), barrier.clone(), start_rx.clone())));
    }
    barrier.wait().await;
    let t = Timing::new(Instant::now(), &o);
    let _ = start_tx.send(Some(t));
    let mut total = Stats::default();
    for task in tasks {
        match task.await {
            Ok(st) => total.merge(st),
            Err(e) => total.connection_errors.push(format!("client task failed: {e}")),
        }
    }
    Ok((total, t))
}

// ---------------------------------------------------------------------------------------------
// Direct pipes

async fn run_direct(o: Arc<Opts>) -> Result<(Stats, Timing, Option<f64>), BoxError> {
    let payload = "x".repeat(o.payload);
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {}", o.cmd))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(1 << 20, stdin);
        while let Some(first) = rx.recv().await {
            w.write_all(first.as_bytes()).await?;
            w.write_all(b"\n").await?;
            while let Ok(more) = rx.try_recv() {
                w.write_all(more.as_bytes()).await?;
                w.write_all(b"\n").await?;
            }
            w.flush().await?;
        }
        w.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });

    // initialize once on the process, as a bridge would (id 0: tag 0 belongs to no client)
    let mut line = Vec::with_capacity(1 << 16);
    let _ = tx.send(initialize_frame(0));
    let init = async {
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                return Err::<(), BoxError>("server closed stdout before answering initialize".into());
            }
            let v: Value = serde_json::from_slice(&line)?;
            if v.get("id").and_then(Value::as_u64) == Some(0) {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(o.connect_timeout, init).await.map_err(|_| "initialize timed out")??;
    let _ = tx.send(INITIALIZED.to_string());

    let mut clients: Vec<Client> = (0..o.clients).map(|i| Client::new(i, o.window)).collect();
    let server_pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let server_cpu0 = cpu_seconds(&server_pid);
    let t = Timing::new(Instant::now(), &o);
    let mut st = Stats::default();
    for _ in 0..o.window {
        for c in clients.iter_mut() {
            let _ = tx.send(c.next_request(&payload));
            st.sent += 1;
        }
    }
    let mut in_flight = o.clients * o.window;
    loop {
        line.clear();
        let n = match tokio::time::timeout_at(t.drain_deadline.into(), reader.read_until(b'\n', &mut line)).await {
            Err(_) => break,
            Ok(Err(e)) => {
                st.connection_errors.push(format!("reading stdout: {e}"));
                break;
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            st.connection_errors.push("server closed stdout".into());
            break;
        }
        if let Outcome::Answered(i) = handle(&line, &mut clients, 1, o.payload, &t, &mut st) {
            in_flight -= 1;
            if Instant::now() < t.end {
                let _ = tx.send(clients[i].next_request(&payload));
                st.sent += 1;
                in_flight += 1;
            }
        }
        if in_flight == 0 && Instant::now() >= t.end {
            break;
        }
    }
    st.lost += clients.iter().map(|c| c.outstanding.len() as u64).sum::<u64>();
    let server_cpu = match (server_cpu0, cpu_seconds(&server_pid)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    let _ = child.kill().await;
    Ok((st, t, server_cpu))
}

// ---------------------------------------------------------------------------------------------

fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// User+system CPU seconds of this process so far.
fn self_cpu_seconds() -> Option<f64> {
    cpu_seconds("self")
}

/// User+system CPU seconds of a process so far (`pid`: a number or "self"; assumes 100 ticks/s).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields after the command: state is index 0 => utime is field 14 overall => index 11
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let o = Arc::new(parse_args());
    let rt = if o.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(o.threads).enable_all().build()
    }
    .expect("tokio runtime");
    let cpu0 = self_cpu_seconds();
    let result = rt.block_on(async {
        if o.target == "direct" {
            run_direct(o.clone()).await
        } else if o.target == "http" {
            run_http(o.clone()).await.map(|(st, t)| (st, t, None))
        } else {
            let (st, t) = run_ws(o.clone()).await;
            Ok((st, t, None))
        }
    });
    let cpu1 = self_cpu_seconds();
    let (mut st, t, server_cpu) = match result {
        Ok(r) => r,
        Err(e) => {
            println!("{}", json!({"ok": false, "error": e.to_string(), "label": o.label}));
            std::process::exit(1);
        }
    };
    let elapsed = t.t0.elapsed().as_secs_f64();
    st.latencies_us.sort_unstable();
    let secs = o.duration.as_secs_f64();
    let out = json!({
        "ok": st.connection_errors.is_empty(),
        "label": o.label,
        "target": o.target,
        "clients": o.clients,
        "window": o.window,
        "payload_bytes": o.payload,
        "warmup_s": o.warmup.as_secs_f64(),
        "duration_s": secs,
        "sent": st.sent,
        "answers_total": st.answers_total,
        "answers_in_window": st.answers_in_window,
        "errors_in_window": st.errors_in_window,
        "msgs_per_s": st.answers_in_window as f64 / secs,
        "errors_per_s": st.errors_in_window as f64 / secs,
        "p50_us": percentile(&st.latencies_us, 50.0),
        "p90_us": percentile(&st.latencies_us, 90.0),
        "p99_us": percentile(&st.latencies_us, 99.0),
        "max_us": st.latencies_us.last(),
        "lost": st.lost,
        "misrouted": st.misrouted,
        "unexpected": st.unexpected,
        "client_too_slow": st.too_slow,
        "errors": st.errors,
        "corrupt": st.corrupt,
        "other_messages": st.other_messages,
        "unparsable": st.unparsable,
        "error_samples": st.error_samples,
        "connection_errors": st.connection_errors.iter().take(10).collect::<Vec<_>>(),
        "connection_error_count": st.connection_errors.len(),
        "empty_replies": st.empty_replies,
        "delete_failures": st.delete_failures.iter().take(5).collect::<Vec<_>>(),
        "delete_failure_count": st.delete_failures.len(),
        "loadgen_cpu_s": match (cpu0, cpu1) { (Some(a), Some(b)) => Some(b - a), _ => None },
        "elapsed_s": elapsed,
        "direct_server_cpu_s": server_cpu,
    });
    println!("{out}");
}
