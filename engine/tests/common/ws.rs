//! The one WebSocket MCP client of the integration tests: [`WsClient`].
//!
//! It behaves as a real client does: a background task reads the socket all the time, so
//! pings are answered (and their arrival times kept, for tests of the heartbeat), text frames
//! wait in an inbox until a test asks for them, and the close frame is recorded. A test can
//! stop that reading ([`WsClient::stop_reading`]) to play a client that never reads: the
//! daemon then sees unanswered pings and a TCP window that fills up.
//!
//! Every wait has a deadline ([`WAIT`] unless the call says otherwise) and panics saying what
//! it waited for.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::daemon::Daemon;

/// How long a wait lasts unless the call says otherwise.
pub const WAIT: Duration = Duration::from_secs(30);

/// The protocol revision a client speaks unless a test says otherwise.
pub const REVISION: &str = "2025-11-25";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket MCP client of one server behind a [`Daemon`], at `/mcp/{server}`.
///
/// - Sending: [`send`](Self::send) (a JSON value), [`send_text`](Self::send_text) (any text),
///   [`send_message`](Self::send_message) (any frame, even a hand-made
///   [`Message::Frame`]) return once the frame is written, and panic if it cannot be;
///   [`try_send_message`](Self::try_send_message) says how writing went instead (for frames
///   the daemon may refuse half-way); [`queue`](Self::queue) returns at once (for floods).
/// - Reading: [`recv`](Self::recv) is the next message (with its raw text:
///   [`recv_text`](Self::recv_text)); [`answer`](Self::answer) and
///   [`next_where`](Self::next_where) wait for one message and keep the others, oldest first,
///   for the next reads; [`arrival_within`](Self::arrival_within) tells whether anything new
///   came.
/// - MCP: [`request`](Self::request), [`call`](Self::call),
///   [`initialize`](Self::initialize) and [`initialize_with`](Self::initialize_with).
/// - The end: [`closed_with`](Self::closed_with) waits for the close frame,
///   [`messages_until_close`](Self::messages_until_close) also returns what came before it,
///   [`ended`](Self::ended) says without waiting whether the connection has ended.
/// - The heartbeat: [`pings`](Self::pings) are the arrival times of the daemon's pings.
pub struct WsClient {
    /// To the writer task, which owns the sending half of the socket.
    to_writer: mpsc::UnboundedSender<Outgoing>,
    /// Text frames from the reader task, in order; closed once the connection has ended.
    inbox: mpsc::UnboundedReceiver<String>,
    /// Messages read while waiting for another, oldest first: the next reads take them first.
    stash: VecDeque<(Value, String)>,
    pings: Arc<Mutex<Vec<Instant>>>,
    ending: Arc<Mutex<Option<Ending>>>,
    /// Why the writer stopped, if a frame sent with [`Self::queue`] could not be written.
    write_failure: Arc<Mutex<Option<String>>>,
    /// Whether the reader task reads the socket (see [`Self::stop_reading`]).
    reading: watch::Sender<bool>,
    next_id: u64,
}

struct Outgoing {
    message: Message,
    /// Told how writing went, unless the frame was only queued.
    written: Option<oneshot::Sender<Result<(), tungstenite::Error>>>,
}

/// How a connection ended, as the reader task saw it.
#[derive(Debug, Clone)]
enum Ending {
    Closed(Option<CloseFrame>),
    Failed(String),
    Eof,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Closed(frame) => write!(f, "closed: {frame:?}"),
            Ending::Failed(e) => write!(f, "error: {e}"),
            Ending::Eof => write!(f, "ended"),
        }
    }
}

impl WsClient {
    /// Connects to `ws://{d.addr}/mcp/{server}` with the daemon's token, and starts reading.
    pub async fn connect(d: &Daemon, server: &str) -> WsClient {
        let url = format!("ws://{}/mcp/{server}?token={}", d.addr, d.token);
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url))
            .await
            .unwrap_or_else(|_| panic!("no WebSocket connection to {url} within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        let (sink, stream) = ws.split();
        let (to_writer, outgoing) = mpsc::unbounded_channel();
        let write_failure = Arc::new(Mutex::new(None));
        tokio::spawn(write(sink, outgoing, write_failure.clone()));
        let (deliver, inbox) = mpsc::unbounded_channel();
        let pings = Arc::new(Mutex::new(Vec::new()));
        let ending = Arc::new(Mutex::new(None));
        let (reading, switch) = watch::channel(true);
        tokio::spawn(read(stream, deliver, pings.clone(), ending.clone(), switch));
        WsClient {
            to_writer,
            inbox,
            stash: VecDeque::new(),
            pings,
            ending,
            write_failure,
            reading,
            next_id: 1000,
        }
    }

    // --- Sending.

    /// Sends `v` as a text frame; returns once it is written.
    pub async fn send(&mut self, v: Value) {
        self.send_message(Message::Text(v.to_string().into())).await;
    }

    /// Sends `text` as it is (not necessarily JSON); returns once it is written.
    pub async fn send_text(&mut self, text: &str) {
        self.send_message(Message::Text(text.into())).await;
    }

    /// Sends any frame — binary, or a hand-made [`Message::Frame`]; returns once it is
    /// written, and panics if it cannot be.
    pub async fn send_message(&mut self, message: Message) {
        if let Err(e) = self.try_send_message(message).await {
            panic!("a frame could not be written: {e}");
        }
    }

    /// Sends any frame and says how writing it went: for a frame the daemon may refuse (and
    /// close the connection) before it has read all of it.
    pub async fn try_send_message(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        let (written, result) = oneshot::channel();
        self.to_writer
            .send(Outgoing {
                message,
                written: Some(written),
            })
            .unwrap_or_else(|_| panic!("{}", self.writer_gone()));
        match tokio::time::timeout(WAIT, result).await {
            Err(_) => panic!("a frame was not written within {WAIT:?}: is the daemon reading?"),
            Ok(Err(_)) => panic!("{}", self.writer_gone()),
            Ok(Ok(result)) => result,
        }
    }

    /// Queues `v` for writing and returns at once, before it is written: for floods, which
    /// the daemon may take more slowly than they are sent while the test goes on. A frame that
    /// cannot be written makes the next send panic.
    pub fn queue(&self, v: Value) {
        let message = Message::Text(v.to_string().into());
        self.to_writer
            .send(Outgoing {
                message,
                written: None,
            })
            .unwrap_or_else(|_| panic!("{}", self.writer_gone()));
    }

    fn writer_gone(&self) -> String {
        match &*self.write_failure.lock().unwrap() {
            Some(e) => format!("the socket cannot be written any more: {e}"),
            None => "the socket cannot be written any more".to_string(),
        }
    }

    // --- Reading.

    /// The next message: a kept one first, else the next to arrive within [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    /// The next message, kept or arriving within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Value {
        self.next(within).await.0
    }

    /// The next message, as JSON and as the raw text the daemon sent (for exact bytes).
    pub async fn recv_text(&mut self) -> (Value, String) {
        self.next(WAIT).await
    }

    async fn next(&mut self, within: Duration) -> (Value, String) {
        if let Some(kept) = self.stash.pop_front() {
            return kept;
        }
        let deadline = tokio::time::Instant::now() + within;
        self.arrival(deadline, within, "a message").await
    }

    /// The answer (a result or an error) to request `id`, within [`WAIT`]; other messages
    /// are kept for later.
    pub async fn answer(&mut self, id: &Value) -> Value {
        let is_it = |v: &Value| {
            v.get("id") == Some(id) && (v.get("result").is_some() || v.get("error").is_some())
        };
        self.next_where(WAIT, &format!("the answer to {id}"), is_it)
            .await
    }

    /// The first message, kept or arriving within `within`, for which `wanted` holds (`what`
    /// names it in a panic); the others are kept for later, in order.
    pub async fn next_where(
        &mut self,
        within: Duration,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.stash.iter().position(|(v, _)| wanted(v)) {
            return self.stash.remove(i).unwrap().0;
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (v, raw) = self.arrival(deadline, within, what).await;
            if wanted(&v) {
                return v;
            }
            self.stash.push_back((v, raw));
        }
    }

    /// The next message to arrive (kept ones do not count), or how the connection ended, if
    /// either comes within `within`; None when nothing did. What arrived is kept for later.
    /// Pings are the connection's own business: they do not count either.
    pub async fn arrival_within(&mut self, within: Duration) -> Option<String> {
        match tokio::time::timeout(within, self.inbox.recv()).await {
            Err(_) => None,
            Ok(Some(raw)) => {
                self.stash.push_back((parse(&raw), raw.clone()));
                Some(raw)
            }
            Ok(None) => Some(format!("the connection ended: {}", self.ending_text())),
        }
    }

    /// One message from the socket, by `deadline`.
    async fn arrival(
        &mut self,
        deadline: tokio::time::Instant,
        within: Duration,
        what: &str,
    ) -> (Value, String) {
        match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            Ok(Some(raw)) => (parse(&raw), raw),
            Ok(None) => panic!(
                "the connection ended ({}) while waiting for {what}",
                self.ending_text()
            ),
            Err(_) => panic!(
                "timed out after {within:?} waiting for {what}{}",
                self.paused_hint()
            ),
        }
    }

    // --- MCP.

    /// Sends request `method` with a fresh numeric id; returns the id, once the request is
    /// written.
    pub async fn send_request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Request `method` and its answer; other messages are kept for later.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params).await;
        self.answer(&id).await
    }

    /// `tools/call` of `tool` with `arguments`, and its answer.
    pub async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
    }

    /// The handshake as client `name` speaking `revision`, declaring no capabilities;
    /// returns the answer to `initialize`.
    pub async fn initialize(&mut self, name: &str, revision: &str) -> Value {
        self.initialize_with(name, revision, json!({})).await
    }

    /// The handshake, declaring `capabilities` (the server's requests go only to clients that
    /// declared what they need): `initialize`, then `notifications/initialized`. Returns the
    /// answer to `initialize`.
    pub async fn initialize_with(
        &mut self,
        name: &str,
        revision: &str,
        capabilities: Value,
    ) -> Value {
        let v = self
            .request(
                "initialize",
                json!({"protocolVersion": revision, "capabilities": capabilities, "clientInfo": {"name": name, "version": "1.0"}}),
            )
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        v
    }

    // --- The end.

    /// The close frame's code and reason once the connection has ended (messages before it
    /// are dropped), or None if it ended without one; panics if it goes on past [`WAIT`].
    pub async fn closed_with(&mut self) -> Option<(CloseCode, String)> {
        self.messages_until_close().await.1
    }

    /// The close code the connection ended with; panics if it ended without a close frame.
    pub async fn close_code(&mut self) -> CloseCode {
        match self.closed_with().await {
            Some((code, _)) => code,
            None => panic!(
                "expected a close frame, but the connection {}",
                self.ending_text()
            ),
        }
    }

    /// Every message until the connection ended (kept ones first), and the close frame's code
    /// and reason, or None if it ended without one; panics if it goes on past [`WAIT`].
    pub async fn messages_until_close(&mut self) -> (Vec<Value>, Option<(CloseCode, String)>) {
        let mut before: Vec<Value> = self.stash.drain(..).map(|(v, _)| v).collect();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(raw)) => before.push(parse(&raw)),
                Ok(None) => break,
                Err(_) => panic!(
                    "the socket was not closed within {WAIT:?}{}",
                    self.paused_hint()
                ),
            }
        }
        let close = match &*self.ending.lock().unwrap() {
            Some(Ending::Closed(Some(frame))) => Some((frame.code, frame.reason.to_string())),
            _ => None,
        };
        (before, close)
    }

    /// How the connection ended — `closed: …` (with the close frame), `error: …` or `ended`
    /// — or None while it is open. Does not wait.
    pub fn ended(&self) -> Option<String> {
        self.ending.lock().unwrap().as_ref().map(Ending::to_string)
    }

    fn ending_text(&self) -> String {
        self.ended().unwrap_or_else(|| "still open".into())
    }

    // --- The heartbeat and reading.

    /// When each of the daemon's pings arrived, in order (recorded as they arrive, whether or
    /// not the test is reading).
    pub fn pings(&self) -> Vec<Instant> {
        self.pings.lock().unwrap().clone()
    }

    /// Stops reading the socket, as a client that is stuck or slow: pings go unanswered, and
    /// what the daemon sends stays in the network until its TCP window is full. Sending still
    /// works.
    pub fn stop_reading(&self) {
        self.reading.send_replace(false);
    }

    /// Reads the socket again, from where [`Self::stop_reading`] left it.
    pub fn read_again(&self) {
        self.reading.send_replace(true);
    }

    fn paused_hint(&self) -> &'static str {
        if *self.reading.borrow() {
            ""
        } else {
            " (this client has stopped reading its socket)"
        }
    }
}

/// A text frame from the daemon as JSON; it only ever sends JSON.
fn parse(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|e| {
        panic!("the daemon sent a text frame that is not JSON ({e}): {raw:.300}")
    })
}

/// The writer task: writes frames in order, telling each sender how it went. A queued frame
/// that cannot be written stops it (the next send says why).
async fn write(
    mut sink: SplitSink<Ws, Message>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    failure: Arc<Mutex<Option<String>>>,
) {
    while let Some(Outgoing { message, written }) = outgoing.recv().await {
        let result = sink.send(message).await;
        match written {
            Some(told) => {
                let _ = told.send(result);
            }
            None => {
                if let Err(e) = result {
                    *failure.lock().unwrap() = Some(e.to_string());
                    break;
                }
            }
        }
    }
}

/// The reader task: reads while `reading` says so, until the connection ends or the client is
/// dropped. Text frames go to `inbox`, pings' arrival times to `pings` (tungstenite answers
/// them as it reads), and how the connection ended to `ending`, before `inbox` closes.
async fn read(
    mut stream: SplitStream<Ws>,
    inbox: mpsc::UnboundedSender<String>,
    pings: Arc<Mutex<Vec<Instant>>>,
    ending: Arc<Mutex<Option<Ending>>>,
    mut reading: watch::Receiver<bool>,
) {
    let end = loop {
        if reading.wait_for(|r| *r).await.is_err() {
            return; // the client is gone
        }
        let next = tokio::select! {
            // A switch to stop reading takes effect before another frame is read.
            biased;
            changed = reading.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            next = stream.next() => next,
        };
        match next {
            Some(Ok(Message::Text(t))) => {
                let _ = inbox.send(t.to_string());
            }
            Some(Ok(Message::Ping(_))) => pings.lock().unwrap().push(Instant::now()),
            Some(Ok(Message::Close(frame))) => break Ending::Closed(frame),
            Some(Ok(_)) => {}
            Some(Err(e)) => break Ending::Failed(e.to_string()),
            None => break Ending::Eof,
        }
    };
    *ending.lock().unwrap() = Some(end);
}
