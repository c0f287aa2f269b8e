//! A server process reached over Streamable HTTP, as one MCP client: bridgedock's.
//!
//! The router writes its messages into the same byte-bounded queue a stdio child's stdin gets;
//! here each is POSTed to the server's endpoint, and what comes back — a JSON body or an SSE
//! stream, answers and the server's own requests and notifications alike — goes to the router
//! as `Line`s, exactly as a stdio server's stdout would. The server's standalone stream (GET)
//! brings what it sends outside any request. Nothing of routing is done here.
//!
//! What only HTTP has is handled here too:
//! - **The session.** The router's `initialize` opens it (and is remembered); a server that
//!   forgets the session — idle for long, or a new target — answers 404, and the session is
//!   opened again with that same `initialize` before the message is sent again. Clients never
//!   see it.
//! - **A server still starting** refuses connections: a message is tried again every 250 ms
//!   until it listens (the router's start and request timeouts bound the wait).
//! - **Answers that will never come** — the connection broke or the stream ended before the
//!   answer — are reported as [`LinkEvent::Lost`], and the router fails those calls in its own
//!   words. An HTTP error without a JSON-RPC body becomes a JSON-RPC error for each request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::sse::{SseEvent, SseReader};
use super::{HttpReach, HttpTarget};
use crate::logs::{Level, LogHub, Stream};
use crate::protocol::jsonrpc::INTERNAL_ERROR;
use crate::supervisor::link::{LinkEvent, MAX_STDOUT_LINE_BYTES, QueuedLine};

mod listen;
mod session;

use session::Session;

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// How often a message is tried again while the server does not take connections yet.
const CONNECT_RETRY: Duration = Duration::from_millis(250);
/// Messages posted at once; the next waits (and the queue behind it fills, as a stdin would).
const POSTS_AT_ONCE: usize = 64;
/// The longest message read from the server, as for a stdio line.
const MAX_MESSAGE: usize = MAX_STDOUT_LINE_BYTES;
/// How much of an HTTP error's body is read to quote it.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Between two tries of the server's standalone stream.
const LISTEN_AGAIN: Duration = Duration::from_secs(1);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One process's HTTP link: what the actor hands over for each generation.
pub struct HttpLink {
    pub server: String,
    pub reach: Arc<dyn HttpReach>,
    pub generation: u64,
    pub link: mpsc::Sender<LinkEvent>,
    pub logs: LogHub,
}

/// Posts what the router queues until `close` is cancelled (the process has exited) or the
/// router lets go of the queue (the process went down). `stopping` is cancelled when the
/// process is asked to stop: its standalone stream is let go then (an HTTP server waits for
/// open streams before it exits), what is in flight may still be answered.
pub async fn run(
    link: HttpLink,
    mut queue: mpsc::UnboundedReceiver<QueuedLine>,
    stopping: CancellationToken,
    close: CancellationToken,
) {
    let shared = Arc::new(Shared {
        link,
        client: client(),
        session: Mutex::new(Session::default()),
        reopening: tokio::sync::Mutex::new(()),
        stopping,
        close: close.clone(),
        opened: watch::channel(0).0,
    });
    let posts = Arc::new(Semaphore::new(POSTS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(shared.clone().listen());
    loop {
        let queued = tokio::select! {
            biased;
            _ = close.cancelled() => break,
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break,
            },
        };
        while tasks.try_join_next().is_some() {}
        let body = Bytes::copy_from_slice(queued.text().trim_end().as_bytes());
        let message = Message::of(&body);
        if message.initialize {
            // Everything after it goes in the session it opens: nothing is sent meanwhile.
            tokio::select! {
                _ = close.cancelled() => break,
                _ = shared.open(body, message) => {}
            }
            continue;
        }
        let permit = tokio::select! {
            _ = close.cancelled() => break,
            permit = posts.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            // The message keeps its room in the queue until it is sent.
            let _held = (permit, queued);
            shared.post(body, message).await;
        });
    }
    tasks.shutdown().await;
}

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new()).build(connector)
}

struct Shared {
    link: HttpLink,
    client: HttpClient,
    session: Mutex<Session>,
    /// One re-opening at a time: every message in flight gets the 404; the first opens the
    /// session again, the others find it open.
    reopening: tokio::sync::Mutex<()>,
    /// The process is being stopped: the standalone stream is let go.
    stopping: CancellationToken,
    close: CancellationToken,
    /// Bumped each time a session opens: the standalone stream follows it.
    opened: watch::Sender<u64>,
}

/// What bridgedock knows about a message without routing it.
struct Message {
    /// The ids of its requests (one, or a batch's).
    ids: Vec<Value>,
    initialize: bool,
    /// A request a client made (not bridgedock's own handshake or ping): a kind may hold it.
    call: bool,
}

impl Message {
    fn of(body: &[u8]) -> Message {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let items = match &v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut m = Message {
            ids: Vec::new(),
            initialize: false,
            call: false,
        };
        for item in items {
            let Some(method) = item.get("method").and_then(Value::as_str) else {
                continue;
            };
            let Some(id) = item.get("id").filter(|id| !id.is_null()) else {
                continue;
            };
            m.ids.push(id.clone());
            match method {
                "initialize" => m.initialize = true,
                "ping" | "server/discover" => {}
                _ => m.call = true,
            }
        }
        m
    }
}

enum SendFailed {
    /// The process is stopping: nothing more to do.
    Closed,
    /// The request may have reached the server, but its answer cannot come: why.
    Lost(String),
}

impl Shared {
    fn server(&self) -> &str {
        &self.link.server
    }

    /// Posts one message (anything but the `initialize`) in the current session.
    async fn post(&self, body: Bytes, message: Message) {
        if message.call {
            self.link.reach.before_call().await;
        }
        let mut reopened = false;
        loop {
            let target = self.link.reach.target();
            let (session, protocol, epoch, same_target) = {
                let s = self.session.lock();
                (
                    s.id.clone(),
                    s.protocol.clone(),
                    s.epoch,
                    s.target.as_ref() == Some(&target),
                )
            };
            if session.is_some() && !same_target && !reopened {
                reopened = true;
                if !self.reopen(epoch).await {
                    return self.cannot_reopen(message.ids).await;
                }
                continue;
            }
            let res = match self
                .send(
                    Method::POST,
                    &body,
                    session.as_deref(),
                    protocol.as_deref(),
                    &target,
                )
                .await
            {
                Ok(res) => res,
                Err(SendFailed::Closed) => return,
                Err(SendFailed::Lost(why)) => return self.lost(message.ids, why).await,
            };
            if res.status() == hyper::StatusCode::NOT_FOUND && session.is_some() && !reopened {
                // The server forgot bridgedock's session (idle too long, or restarted behind
                // our back): open it again, then send this once more.
                reopened = true;
                if !self.reopen(epoch).await {
                    return self.cannot_reopen(message.ids).await;
                }
                continue;
            }
            return self.answer(res, message.ids).await;
        }
    }

    /// Sends a request, trying again while the server does not take connections.
    async fn send(
        &self,
        method: Method,
        body: &Bytes,
        session: Option<&str>,
        protocol: Option<&str>,
        target: &HttpTarget,
    ) -> Result<hyper::Response<Incoming>, SendFailed> {
        loop {
            let mut req = hyper::Request::builder()
                .method(method.clone())
                .uri(target.url.as_str());
            if method == Method::POST {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ACCEPT, "application/json, text/event-stream");
            } else {
                req = req.header(header::ACCEPT, "text/event-stream");
            }
            if let Some(b) = &target.bearer {
                req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
            }
            if let Some(v) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
                req = req.header(SESSION_HEADER, v);
            }
            if let Some(v) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
                req = req.header(PROTOCOL_HEADER, v);
            }
            let req = match req.body(Full::new(body.clone())) {
                Ok(req) => req,
                Err(e) => {
                    return Err(SendFailed::Lost(format!(
                        "cannot address {}: {e}",
                        target.url
                    )));
                }
            };
            let sent = tokio::select! {
                _ = self.close.cancelled() => return Err(SendFailed::Closed),
                sent = self.client.request(req) => sent,
            };
            match sent {
                Ok(res) => return Ok(res),
                Err(e) if e.is_connect() => {
                    tokio::select! {
                        _ = self.close.cancelled() => return Err(SendFailed::Closed),
                        _ = tokio::time::sleep(CONNECT_RETRY) => {}
                    }
                }
                Err(e) => {
                    return Err(SendFailed::Lost(format!(
                        "the connection to {} broke: {e}",
                        self.link.reach.what()
                    )));
                }
            }
        }
    }

    /// Passes the server's answer to the router; requests of `ids` it did not answer are lost
    /// (a cut stream) or answered with bridgedock's error (an HTTP error without one).
    async fn answer(&self, res: hyper::Response<Incoming>, mut ids: Vec<Value>) {
        let status = res.status();
        let kind = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !status.is_success() {
            return self.http_error(res, ids).await;
        }
        let mut body = res.into_body();
        if kind.starts_with("text/event-stream") {
            let mut events = SseReader::new(MAX_MESSAGE);
            let cut = loop {
                let frame = tokio::select! {
                    _ = self.close.cancelled() => return,
                    frame = body.frame() => frame,
                };
                match frame {
                    None => break None,
                    Some(Err(e)) => break Some(e.to_string()),
                    Some(Ok(frame)) => {
                        let Some(chunk) = frame.data_ref() else {
                            continue;
                        };
                        for event in events.feed(chunk) {
                            self.event(event, &mut ids).await;
                        }
                    }
                }
            };
            if !ids.is_empty() {
                let why = match cut {
                    Some(e) => format!("its answer stream was cut off: {e}"),
                    None => "its answer stream ended before the answer".to_owned(),
                };
                self.lost(ids, why).await;
            }
            return;
        }
        if kind.starts_with("application/json") {
            match http_body_util::Limited::new(body, MAX_MESSAGE)
                .collect()
                .await
            {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes.to_bytes()).into_owned();
                    self.forward(&text, &mut ids).await;
                }
                Err(e) => {
                    let why = format!("its answer could not be read: {e}");
                    return self.lost(ids, why).await;
                }
            }
        }
        if !ids.is_empty() {
            let why = format!("it answered HTTP {status} without the answer");
            self.lost(ids, why).await;
        }
    }

    async fn event(&self, event: SseEvent, ids: &mut Vec<Value>) {
        match event {
            SseEvent::Data(data) => self.forward(&data, ids).await,
            SseEvent::TooLong => {
                self.link.logs.push(
                    self.server(),
                    Stream::Stdout,
                    Some(Level::Error),
                    format!(
                        "protocol error: a message longer than {} MiB was dropped (not forwarded)",
                        MAX_MESSAGE / (1024 * 1024)
                    ),
                );
            }
        }
    }

    /// One message (or batch) from the server, to the router as a stdio server's lines.
    async fn forward(&self, text: &str, ids: &mut Vec<Value>) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            self.link.logs.push(
                self.server(),
                Stream::Stdout,
                Some(Level::Warn),
                format!("protocol noise from the server (not JSON-RPC, not forwarded): {text}"),
            );
            return;
        };
        // One message goes on as the server wrote it (the router reads it anyway); only a
        // batch is taken apart.
        let (messages, whole) = match v {
            Value::Array(items) => (items, None),
            one => (vec![one], Some(text)),
        };
        for m in messages {
            if m.get("result").is_some() || m.get("error").is_some() {
                if let Some(id) = m.get("id") {
                    ids.retain(|i| i != id);
                    self.note_revision(id, &m);
                }
            }
            let line = LinkEvent::Line {
                generation: self.link.generation,
                line: whole.map_or_else(|| m.to_string(), str::to_owned),
            };
            if self.link.link.send(line).await.is_err() {
                return;
            }
        }
    }

    /// An HTTP error: the server's own JSON-RPC errors for our requests when its body has
    /// them, bridgedock's words for the rest; a notification's or answer's failure is logged.
    async fn http_error(&self, res: hyper::Response<Incoming>, mut ids: Vec<Value>) {
        let status = res.status();
        let body = http_body_util::Limited::new(res.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
            .unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<Value>(&body) {
            let errors: Vec<Value> = match v {
                Value::Array(items) => items,
                one => vec![one],
            };
            for e in errors {
                let ours = e.get("id").is_some_and(|id| ids.contains(id));
                if ours && e.get("error").is_some() {
                    self.forward(&e.to_string(), &mut ids).await;
                }
            }
        }
        let said: String = body.chars().take(300).collect();
        let message = format!(
            "{} (server `{}`) answered HTTP {status}{}",
            self.link.reach.what(),
            self.server(),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        );
        if ids.is_empty() {
            self.link.logs.push(
                self.server(),
                Stream::Stdout,
                Some(Level::Warn),
                format!("a message to the server was refused: {message}"),
            );
            return;
        }
        for id in std::mem::take(&mut ids) {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": INTERNAL_ERROR, "message": message,
            }});
            self.forward(&error.to_string(), &mut ids).await;
        }
    }

    async fn lost(&self, ids: Vec<Value>, reason: String) {
        if ids.is_empty() {
            return;
        }
        let _ = self
            .link
            .link
            .send(LinkEvent::Lost {
                generation: self.link.generation,
                ids,
                reason,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_says_its_requests_and_whether_a_client_made_them() {
        let m = Message::of(br#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}"#);
        assert_eq!((m.ids, m.initialize, m.call), (vec![json!(3)], true, false));
        let m = Message::of(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call"}"#);
        assert_eq!(
            (m.ids, m.initialize, m.call),
            (vec![json!("a")], false, true)
        );
        let m = Message::of(br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
        assert!(!m.call && m.ids == vec![json!(4)]);
        // Notifications and answers to the server's requests wait for nothing.
        let m = Message::of(
            br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":9,"result":{}}]"#,
        );
        assert!(m.ids.is_empty() && !m.call && !m.initialize);
    }
}
