//! Load and soak client for bench/load: many MCP clients over WebSocket, every answer checked.
//!
//! N clients, client i on server `servers[i % len]` at `URL/NAME?token=T`. Each initializes,
//! then keeps up to W `tools/call` requests in flight (optionally at most R per second) until
//! it has sent `--requests` of them or `--duration` has passed, then waits up to `--drain`
//! seconds for what is still in flight and closes its socket.
//!
//! Requests are mixed on purpose:
//! - ids of five kinds in turn: a positive integer, a string with non-ASCII, a negative
//!   integer, an integer too large for 64 bits, and a string that looks like a number (`"7"`
//!   and `7` may be in flight at once and must not be confused). Ids repeat across clients.
//! - payloads (the echoed `text` argument): 75 % small (16–100 B), 20 % about 1 KiB, 5 % about
//!   64 KiB; the text includes quotes, backslashes, newlines and non-ASCII characters.
//!
//! The upstream is `bench/bridge/echo-server.mjs`, which answers `{"echo": <params>}`. Each
//! answer is checked: its id (compared as raw JSON text) must be one of this client's requests
//! in flight; the echoed `client` and `seq` must be this client's and that request's (else
//! misrouted) and the echoed text must hash to what was sent (else corrupt). An error answer is
//! counted by its code; it is "clear" when its message names the server. Whatever is still in
//! flight after the drain is lost; a connection that fails loses what it had in flight.
//!
//! Prints one JSON summary on stdout; with `--progress S`, a JSON line of running totals on
//! stderr every S seconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const PROTOCOL_VERSION: &str = "2025-11-25";
/// Messages kept verbatim per error code, for the report.
const KEEP_SAMPLES: usize = 3;

#[derive(Clone, Debug)]
struct Opts {
    url: String,
    token: String,
    servers: Vec<String>,
    clients: usize,
    requests: u64,
    duration: Duration,
    window: usize,
    rate: f64,
    drain: Duration,
    progress: Duration,
    threads: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: load-client --url ws://HOST:PORT/mcp --token T --servers A,B,C [--clients N] \
         [--requests R (per client; 0: no limit)] [--duration S (0: no limit)] [--window W] \
         [--rate PER_CLIENT_PER_S (0: as fast as the window allows)] [--drain S] \
         [--progress S] [--threads T]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        url: String::new(),
        token: String::new(),
        servers: Vec::new(),
        clients: 1,
        requests: 100,
        duration: Duration::ZERO,
        window: 4,
        rate: 0.0,
        drain: Duration::from_secs(60),
        progress: Duration::ZERO,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    let secs = |v: String| Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage()));
    while let Some(a) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => o.url = v().trim_end_matches('/').to_string(),
            "--token" => o.token = v(),
            "--servers" => o.servers = v().split(',').map(str::to_string).collect(),
            "--clients" => o.clients = v().parse().unwrap_or_else(|_| usage()),
            "--requests" => o.requests = v().parse().unwrap_or_else(|_| usage()),
            "--duration" => o.duration = secs(v()),
            "--window" => o.window = v().parse().unwrap_or_else(|_| usage()),
            "--rate" => o.rate = v().parse().unwrap_or_else(|_| usage()),
            "--drain" => o.drain = secs(v()),
            "--progress" => o.progress = secs(v()),
            "--threads" => o.threads = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.url.is_empty() || o.servers.is_empty() || o.clients == 0 || o.window == 0 {
        usage()
    }
    if o.requests == 0 && o.duration.is_zero() {
        eprintln!("load-client: give --requests or --duration (or both)");
        usage()
    }
    o
}

/// A fast, deterministic 64-bit mix (splitmix64): payloads and ids follow from (client, seq).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over the text: what the echo must come back with.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Characters the payloads are made of: plain, JSON-escaped, and multi-byte.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', 'A', 'B', 'C', 'D', 'E', 'F', '0', '1', '2', '3', '4', '5',
    '6', '7', '8', '9', ' ', '-', '_', '.', ',', ':', '{', '}', '[', ']', '"', '\\', '\n', '\t',
    'é', 'ß', '✓', '€', '中', '😀', '/', '#',
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Size {
    Small,
    Kib1,
    Kib64,
}

impl Size {
    fn label(self) -> &'static str {
        match self {
            Size::Small => "small (16-100 B)",
            Size::Kib1 => "~1 KiB",
            Size::Kib64 => "~64 KiB",
        }
    }
}

/// The text request `seq` of `client` carries, and its size class.
fn payload(client: u64, seq: u64) -> (String, Size) {
    let h = mix(client << 32 | seq);
    let (size, bytes) = match h % 100 {
        0..=74 => (Size::Small, 16 + (h >> 8) % 85),
        75..=94 => (Size::Kib1, 924 + (h >> 8) % 200),
        _ => (Size::Kib64, 65_024 + (h >> 8) % 1024),
    };
    let mut text = String::with_capacity(bytes as usize + 4);
    let mut r = h;
    while (text.len() as u64) < bytes {
        r = mix(r);
        for shift in (0..64).step_by(8) {
            text.push(ALPHABET[((r >> shift) as usize) % ALPHABET.len()]);
        }
    }
    (text, size)
}

const ID_KINDS: [&str; 5] = [
    "integer",
    "string (non-ASCII)",
    "negative integer",
    "integer over 64 bits",
    "numeric string",
];

/// The id of request `seq`, as the raw JSON text sent (and expected back exactly).
fn request_id(seq: u64) -> (String, usize) {
    let kind = (seq % ID_KINDS.len() as u64) as usize;
    let text = match kind {
        0 => seq.to_string(),
        1 => serde_json::to_string(&format!("req-{seq}-ü✓")).unwrap_or_default(),
        2 => format!("-{seq}"),
        3 => format!("18446744073709551616{seq:010}"),
        _ => format!("\"{seq}\""),
    };
    (text, kind)
}

struct InFlight {
    seq: u64,
    hash: u64,
    len: usize,
    sent_at: Instant,
}

#[derive(Default, Debug)]
struct Stats {
    sent: u64,
    ok: u64,
    errors_by_code: BTreeMap<i64, u64>,
    error_samples: BTreeMap<i64, Vec<String>>,
    /// Error answers whose message does not name the server.
    unclear_errors: u64,
    misrouted: u64,
    corrupt: u64,
    /// Answers to ids this client has not in flight (a duplicate, or someone else's id).
    unknown_id: u64,
    /// Messages that are neither answers nor parseable.
    other_messages: u64,
    lost: u64,
    connection_errors: Vec<String>,
    by_size: BTreeMap<Size, u64>,
    by_id_kind: BTreeMap<usize, u64>,
    latencies_us: Vec<u32>,
    initialized: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.sent += o.sent;
        self.ok += o.ok;
        for (k, v) in o.errors_by_code {
            *self.errors_by_code.entry(k).or_default() += v;
        }
        for (k, v) in o.error_samples {
            let kept = self.error_samples.entry(k).or_default();
            for m in v {
                if kept.len() < KEEP_SAMPLES {
                    kept.push(m);
                }
            }
        }
        self.unclear_errors += o.unclear_errors;
        self.misrouted += o.misrouted;
        self.corrupt += o.corrupt;
        self.unknown_id += o.unknown_id;
        self.other_messages += o.other_messages;
        self.lost += o.lost;
        self.connection_errors.extend(o.connection_errors);
        for (k, v) in o.by_size {
            *self.by_size.entry(k).or_default() += v;
        }
        for (k, v) in o.by_id_kind {
            *self.by_id_kind.entry(k).or_default() += v;
        }
        self.latencies_us.extend(o.latencies_us);
        self.initialized += o.initialized;
    }
}

/// Running totals for the progress lines.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    bad: AtomicU64,
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct EchoResult {
    echo: EchoParams,
}

#[derive(Deserialize)]
struct EchoParams {
    arguments: EchoArgs,
}

#[derive(Deserialize)]
struct EchoArgs {
    client: u64,
    seq: u64,
    text: String,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(o: &Opts, server: &str) -> Result<Ws, String> {
    let url = format!("{}/{server}?token={}", o.url, o.token);
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(16 << 20);
    config.max_frame_size = Some(16 << 20);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    Ok(ws)
}

/// Connects and initializes; the socket is ready for requests.
async fn open(o: &Opts, client: u64, server: &str) -> Result<Ws, String> {
    let mut ws = connect(o, server).await?;
    let init = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": format!("load-{client}"), "version": "1"}}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .map_err(|e| format!("send initialize: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .map_err(|_| "no answer to initialize within 60 s".to_string())?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?;
                if v["id"] == "init" {
                    if v.get("result").is_none() {
                        return Err(format!("initialize failed: {v}"));
                    }
                    break;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("during initialize: {e}")),
            None => return Err("closed during initialize".into()),
        }
    }
    ws.send(Message::Text(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
    ))
    .await
    .map_err(|e| format!("send initialized: {e}"))?;
    Ok(ws)
}

async fn run_client(o: Arc<Opts>, index: usize, start: Arc<Barrier>, live: Arc<Live>) -> Stats {
    let mut st = Stats::default();
    let client = index as u64;
    let server = o.servers[index % o.servers.len()].clone();
    let opened = open(&o, client, &server).await;
    start.wait().await;
    let ws = match opened {
        Ok(ws) => ws,
        Err(e) => {
            st.connection_errors.push(format!("client {index}: {e}"));
            return st;
        }
    };
    st.initialized = 1;
    let (mut sink, mut stream) = ws.split();
    let begin = Instant::now();
    let stop_at = (!o.duration.is_zero()).then(|| begin + o.duration);
    let mut in_flight: HashMap<String, InFlight> = HashMap::with_capacity(o.window * 2);
    let mut seq = 0u64;
    let mut next_slot = begin;
    let spacing = (o.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / o.rate));
    let name_tag = format!("`{server}`");
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let issuing = drain_deadline.is_none();
        if issuing {
            let done_count = o.requests > 0 && seq >= o.requests;
            let done_time = stop_at.is_some_and(|t| Instant::now() >= t);
            if done_count || done_time {
                drain_deadline = Some(Instant::now() + o.drain);
                continue;
            }
        } else if in_flight.is_empty() || drain_deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let can_send = issuing && in_flight.len() < o.window;
        let paced = spacing.is_some() && Instant::now() < next_slot;
        if can_send && !paced {
            seq += 1;
            let (id, kind) = request_id(seq);
            let (text, size) = payload(client, seq);
            let params = json!({"name": "echo", "arguments": {"client": client, "seq": seq, "text": text}});
            let frame = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#
            );
            in_flight.insert(
                id,
                InFlight {
                    seq,
                    hash: fnv(&text),
                    len: text.len(),
                    sent_at: Instant::now(),
                },
            );
            *st.by_size.entry(size).or_default() += 1;
            *st.by_id_kind.entry(kind).or_default() += 1;
            st.sent += 1;
            live.sent.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = spacing {
                next_slot = next_slot.max(Instant::now() - s) + s;
            }
            // feed, not send: a burst of requests goes out in one flush below
            if let Err(e) = sink.feed(Message::Text(frame.into())).await {
                st.connection_errors.push(format!("client {index}: send: {e}"));
                break;
            }
            if in_flight.len() < o.window && spacing.is_none() {
                continue;
            }
            if let Err(e) = sink.flush().await {
                st.connection_errors.push(format!("client {index}: flush: {e}"));
                break;
            }
        }
        let wake = match (drain_deadline, can_send && paced, stop_at) {
            (Some(d), _, _) => d,
            (None, true, Some(t)) => next_slot.min(t),
            (None, true, None) => next_slot,
            (None, false, Some(t)) => t,
            (None, false, None) => Instant::now() + Duration::from_secs(3600),
        };
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep_until(wake.into()) => continue,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                st.connection_errors
                    .push(format!("client {index}: closed by the bridge: {frame:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                st.connection_errors.push(format!("client {index}: {e}"));
                break;
            }
            None => {
                st.connection_errors.push(format!("client {index}: connection ended"));
                break;
            }
        };
        let Ok(answer) = serde_json::from_str::<Answer>(text.as_str()) else {
            st.other_messages += 1;
            continue;
        };
        if answer.method.is_some() {
            st.other_messages += 1;
            continue;
        }
        let Some(id) = answer.id.map(|r| r.get().to_string()) else {
            st.other_messages += 1;
            continue;
        };
        let Some(sent) = in_flight.remove(&id) else {
            st.unknown_id += 1;
            live.bad.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        match (answer.result, answer.error) {
            (Some(result), None) => match serde_json::from_str::<EchoResult>(result.get()) {
                Ok(echo) => {
                    let a = echo.echo.arguments;
                    if a.client != client || a.seq != sent.seq {
                        st.misrouted += 1;
                        live.bad.fetch_add(1, Ordering::Relaxed);
                    } else if a.text.len() != sent.len || fnv(&a.text) != sent.hash {
                        st.corrupt += 1;
                        live.bad.fetch_add(1, Ordering::Relaxed);
                    } else {
                        st.ok += 1;
                        live.ok.fetch_add(1, Ordering::Relaxed);
                        let us = sent.sent_at.elapsed().as_micros().min(u32::MAX as u128);
                        st.latencies_us.push(us as u32);
                    }
                }
                Err(_) => {
                    st.corrupt += 1;
                    live.bad.fetch_add(1, Ordering::Relaxed);
                }
            },
            (None, Some(error)) => {
                *st.errors_by_code.entry(error.code).or_default() += 1;
                live.errors.fetch_add(1, Ordering::Relaxed);
                if !error.message.contains(&name_tag) {
                    st.unclear_errors += 1;
                }
                let samples = st.error_samples.entry(error.code).or_default();
                if samples.len() < KEEP_SAMPLES {
                    samples.push(error.message);
                }
            }
            _ => {
                st.other_messages += 1;
            }
        }
    }
    st.lost += in_flight.len() as u64;
    let _ = sink.send(Message::Close(None)).await;
    st
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let o = Arc::new(parse_args());
    let runtime = if o.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.threads)
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    let summary = runtime.block_on(async move {
        let live = Arc::new(Live::default());
        let start = Arc::new(Barrier::new(o.clients + 1));
        let mut tasks = Vec::with_capacity(o.clients);
        for i in 0..o.clients {
            tasks.push(tokio::spawn(run_client(o.clone(), i, start.clone(), live.clone())));
        }
        start.wait().await;
        let began = Instant::now();
        let progress = if o.progress.is_zero() {
            None
        } else {
            let live = live.clone();
            let every = o.progress;
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    eprintln!(
                        "{}",
                        json!({"t": began.elapsed().as_secs_f64(),
                            "sent": live.sent.load(Ordering::Relaxed),
                            "ok": live.ok.load(Ordering::Relaxed),
                            "errors": live.errors.load(Ordering::Relaxed),
                            "bad": live.bad.load(Ordering::Relaxed)})
                    );
                }
            }))
        };
        let mut all = Stats::default();
        for t in tasks {
            match t.await {
                Ok(st) => all.merge(st),
                Err(e) => all.connection_errors.push(format!("a client task failed: {e}")),
            }
        }
        let elapsed = began.elapsed().as_secs_f64();
        if let Some(p) = progress {
            p.abort();
        }
        all.latencies_us.sort_unstable();
        let answered = all.ok + all.errors_by_code.values().sum::<u64>();
        json!({
            "clients": o.clients,
            "servers": o.servers,
            "window": o.window,
            "rate_per_client": o.rate,
            "requests_per_client": o.requests,
            "duration_limit_s": o.duration.as_secs_f64(),
            "initialized": all.initialized,
            "elapsed_s": elapsed,
            "sent": all.sent,
            "answered": answered,
            "ok": all.ok,
            "errors_by_code": all.errors_by_code.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "error_samples": all.error_samples.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "unclear_errors": all.unclear_errors,
            "misrouted": all.misrouted,
            "corrupt": all.corrupt,
            "unknown_id": all.unknown_id,
            "other_messages": all.other_messages,
            "lost": all.lost,
            "connection_errors": all.connection_errors,
            "by_size": all.by_size.iter().map(|(k, v)| (k.label().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "by_id_kind": all.by_id_kind.iter().map(|(k, v)| (ID_KINDS[*k].to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "throughput_per_s": all.ok as f64 / elapsed.max(1e-9),
            "latency_us": {
                "p50": percentile(&all.latencies_us, 0.50),
                "p99": percentile(&all.latencies_us, 0.99),
                "max": all.latencies_us.last().copied().unwrap_or(0),
            },
        })
    });
    println!("{summary}");
}
