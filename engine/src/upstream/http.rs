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

/// Posts what the router queues until `close` is cancelled (the process is stopping) or the
/// router lets go of the queue (the process went down).
pub async fn run(
    link: HttpLink,
    mut queue: mpsc::UnboundedReceiver<QueuedLine>,
    close: CancellationToken,
) {
    let shared = Arc::new(Shared {
        link,
        client: client(),
        session: Mutex::new(Session::default()),
        reopening: tokio::sync::Mutex::new(()),
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
    close: CancellationToken,
    /// Bumped each time a session opens: the standalone stream follows it.
    opened: watch::Sender<u64>,
}

#[derive(Default)]
struct Session {
    id: Option<String>,
    protocol: Option<String>,
    /// Where it was opened: a new target is a new session.
    target: Option<HttpTarget>,
    /// The router's `initialize` and its id: it opens the session again when the server
    /// forgets it, and its answer says the revision.
    initialize: Option<Bytes>,
    initialize_id: Option<Value>,
    /// Counts openings, so that one re-opening serves every message that saw the 404.
    epoch: u64,
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

    /// Sends bridgedock's `initialize`, opening a new session; remembered to open it again.
    async fn open(&self, body: Bytes, message: Message) {
        let target = self.link.reach.target();
        {
            let mut s = self.session.lock();
            s.id = None;
            s.protocol = None;
            s.initialize = Some(body.clone());
            s.initialize_id = message.ids.first().cloned();
        }
        let res = match self.send(Method::POST, &body, None, None, &target).await {
            Ok(res) => res,
            Err(SendFailed::Closed) => return,
            Err(SendFailed::Lost(why)) => return self.lost(message.ids, why).await,
        };
        let id = session_id(&res);
        let ok = res.status().is_success();
        {
            let mut s = self.session.lock();
            if ok {
                s.id = id;
                s.target = Some(target);
                s.epoch += 1;
            }
        }
        self.answer(res, message.ids).await;
        if ok {
            self.opened.send_modify(|n| *n += 1);
        }
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
        let messages = match v {
            Value::Array(items) => items,
            one => vec![one],
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
                line: m.to_string(),
            };
            if self.link.link.send(line).await.is_err() {
                return;
            }
        }
    }

    /// The answer to bridgedock's `initialize` says the revision every later request names.
    fn note_revision(&self, id: &Value, answer: &Value) {
        let mut s = self.session.lock();
        if s.initialize_id.as_ref() == Some(id) {
            s.protocol = answer
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
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

    async fn cannot_reopen(&self, ids: Vec<Value>) {
        let why = format!(
            "{} no longer knows bridgedock's session and did not open a new one",
            self.link.reach.what()
        );
        self.lost(ids, why).await;
    }

    /// Opens the session again with the router's own `initialize` (answered here, not passed
    /// on: the router has its handshake) and `notifications/initialized`. True when the
    /// session that failed at `epoch` is open again — by this call or another.
    async fn reopen(&self, epoch: u64) -> bool {
        let _one_at_a_time = self.reopening.lock().await;
        let initialize = {
            let s = self.session.lock();
            if s.epoch != epoch {
                return s.id.is_some();
            }
            s.initialize.clone()
        };
        let Some(initialize) = initialize else {
            return false;
        };
        let target = self.link.reach.target();
        let Ok(res) = self
            .send(Method::POST, &initialize, None, None, &target)
            .await
        else {
            return false;
        };
        let id = session_id(&res);
        let ok = res.status().is_success();
        let answer = http_body_util::Limited::new(res.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        // JSON or one SSE event: either way the answer holds the result.
        let (Some(id), true) = (id, ok && answer.contains("\"result\"")) else {
            tracing::warn!(
                server = %self.server(),
                "{} refused to open bridgedock's session again; the calls that needed it fail",
                self.link.reach.what()
            );
            return false;
        };
        let protocol = self.session.lock().protocol.clone();
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        match self
            .send(
                Method::POST,
                &initialized,
                Some(&id),
                protocol.as_deref(),
                &target,
            )
            .await
        {
            Ok(res) if res.status().is_success() => {}
            _ => return false,
        }
        {
            let mut s = self.session.lock();
            s.id = Some(id);
            s.target = Some(target);
            s.epoch += 1;
        }
        self.opened.send_modify(|n| *n += 1);
        tracing::info!(
            server = %self.server(),
            "`{}`: {} had forgotten bridgedock's session; it was opened again and the calls go on",
            self.server(),
            self.link.reach.what()
        );
        true
    }

    /// The server's standalone stream (GET): what it sends outside any request. Followed for
    /// each session while the process lives; a server that offers none (405) is not asked again.
    async fn listen(self: Arc<Self>) {
        let mut opened = self.opened.subscribe();
        loop {
            opened.borrow_and_update();
            let (session, protocol) = {
                let s = self.session.lock();
                (s.id.clone(), s.protocol.clone())
            };
            // Try again in a moment after a stream that ended or broke; after a refusal, only
            // once a new session is open.
            let mut again = false;
            if let Some(session) = session {
                let target = self.link.reach.target();
                let nothing = Bytes::new();
                let get = self.send(
                    Method::GET,
                    &nothing,
                    Some(&session),
                    protocol.as_deref(),
                    &target,
                );
                match get.await {
                    Err(SendFailed::Closed) => return,
                    Err(SendFailed::Lost(_)) => again = true,
                    Ok(res) if res.status() == hyper::StatusCode::METHOD_NOT_ALLOWED => return,
                    Ok(res) if res.status().is_success() => {
                        again = true;
                        let mut body = res.into_body();
                        let mut events = SseReader::new(MAX_MESSAGE);
                        let mut none = Vec::new();
                        loop {
                            let frame = tokio::select! {
                                _ = self.close.cancelled() => return,
                                frame = body.frame() => frame,
                            };
                            let Some(Ok(frame)) = frame else {
                                break;
                            };
                            if let Some(chunk) = frame.data_ref() {
                                for event in events.feed(chunk) {
                                    self.event(event, &mut none).await;
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
            tokio::select! {
                _ = self.close.cancelled() => return,
                _ = opened.changed() => {}
                _ = tokio::time::sleep(LISTEN_AGAIN), if again => {}
            }
        }
    }
}

fn session_id(res: &hyper::Response<Incoming>) -> Option<String> {
    res.headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
