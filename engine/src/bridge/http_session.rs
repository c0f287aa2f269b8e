//! Streamable HTTP sessions: each `Mcp-Session-Id` is one router session whose outbound queue
//! is pumped to wherever its messages belong — the POST that asked (as its JSON answer or on
//! its SSE stream), or the session's GET stream for everything else.
//!
//! Every SSE event gets an id and is kept in a bounded per-session window, so a client that
//! lost a stream can come back with `Last-Event-ID` and get what it missed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::RngCore;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::outbound::{Outbound, OutboundReceiver, Outgoing};
use super::router::RouterHandle;

/// Events kept per session for `Last-Event-ID` resumption.
pub const RESUME_WINDOW_EVENTS: usize = 1024;
/// Bytes kept per session for resumption.
pub const RESUME_WINDOW_BYTES: usize = 4 * 1024 * 1024;
/// A session with no requests and no open stream for this long is ended.
pub const IDLE_SESSION_TTL: Duration = Duration::from_secs(3600);
/// Messages one open stream may have waiting before extras are dropped (kept for resumption).
const STREAM_QUEUE: usize = 1024;

/// One SSE event: its id and the JSON-RPC message it carries.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: u64,
    pub data: Arc<str>,
    /// The answer that completes a POSTed request: its stream ends here.
    pub last: bool,
}

/// Where a message goes: the GET stream, or the stream of one POSTed request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Get,
    Post(u64),
}

struct InFlight {
    stream: u64,
    tx: mpsc::Sender<SseEvent>,
    progress_token: Option<String>,
}

struct State {
    /// POSTed requests waiting for their answer, by the client's id (as JSON text).
    inflight: HashMap<String, InFlight>,
    /// The order requests were posted in, newest last (server requests go to the newest).
    order: Vec<String>,
    get: Option<mpsc::Sender<SseEvent>>,
    /// The first event for the GET stream that no GET stream took (none was open yet, as for
    /// a server request right after `initialize`): a GET that opens without `Last-Event-ID`
    /// gets it and what followed, from the resumption window.
    get_backlog_from: Option<u64>,
    window: VecDeque<(StreamKey, SseEvent)>,
    window_bytes: usize,
    next_event: u64,
    next_stream: u64,
    last_activity: Instant,
    ended: bool,
}

pub struct HttpSession {
    pub id: String,
    pub router: RouterHandle,
    pub router_session: u64,
    /// A stateless (2026-07-28) request's own session: whatever comes for it belongs on its
    /// request's stream (there is no GET stream in that revision).
    one_request: bool,
    state: Mutex<State>,
}

/// What a POSTed request receives: events on its own stream, the last one being its answer.
pub struct RequestStream {
    pub stream: u64,
    pub rx: mpsc::Receiver<SseEvent>,
}

impl HttpSession {
    /// Attaches a new router session and starts pumping its outbound queue.
    pub async fn open(
        router: RouterHandle,
        peer: String,
        one_request: bool,
    ) -> Option<Arc<HttpSession>> {
        let (out, queue) = Outbound::new(router.outbound_cap_bytes);
        let router_session = router.attach(out, "http", peer).await?;
        let session = Arc::new(HttpSession {
            id: new_session_id(),
            router,
            router_session,
            one_request,
            state: Mutex::new(State {
                inflight: HashMap::new(),
                order: Vec::new(),
                get: None,
                get_backlog_from: None,
                window: VecDeque::new(),
                window_bytes: 0,
                next_event: 0,
                next_stream: 0,
                last_activity: Instant::now(),
                ended: false,
            }),
        });
        tokio::spawn(pump(Arc::downgrade(&session), queue));
        Some(session)
    }

    /// Registers a request before it is sent, so its answer cannot slip past.
    pub fn expect_answer(&self, id: &Value, progress_token: Option<&Value>) -> RequestStream {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let mut st = self.state.lock();
        st.next_stream += 1;
        let stream = st.next_stream;
        let key = id.to_string();
        st.order.retain(|k| k != &key);
        st.order.push(key.clone());
        st.inflight.insert(
            key,
            InFlight {
                stream,
                tx,
                progress_token: progress_token.map(token_key),
            },
        );
        st.last_activity = Instant::now();
        RequestStream { stream, rx }
    }

    /// Opens (or replaces) the GET stream; replays what came after `last_event_id` on the
    /// stream that event belonged to, within the resumption window — or, without one, what
    /// was meant for the GET stream before any was open.
    pub fn open_get(&self, last_event_id: Option<u64>) -> mpsc::Receiver<SseEvent> {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let mut st = self.state.lock();
        st.last_activity = Instant::now();
        if last_event_id.is_none()
            && let Some(first) = st.get_backlog_from.take()
        {
            for (k, e) in st.window.iter() {
                if e.id >= first && *k == StreamKey::Get {
                    let _ = tx.try_send(e.clone());
                }
            }
        }
        if let Some(last) = last_event_id {
            let stream = st
                .window
                .iter()
                .find(|(_, e)| e.id == last)
                .map(|(k, _)| k.clone())
                .unwrap_or(StreamKey::Get);
            for (k, e) in st.window.iter() {
                if e.id > last && *k == stream {
                    let _ = tx.try_send(e.clone());
                }
            }
        }
        st.get = Some(tx);
        rx
    }

    pub fn touch(&self) {
        self.state.lock().last_activity = Instant::now();
    }

    pub fn idle_for(&self) -> Duration {
        let st = self.state.lock();
        if st.get.as_ref().is_some_and(|g| !g.is_closed()) || !st.inflight.is_empty() {
            return Duration::ZERO;
        }
        st.last_activity.elapsed()
    }

    pub fn ended(&self) -> bool {
        self.state.lock().ended
    }

    /// Ends the session: the router forgets it and every open stream closes.
    pub async fn end(&self, reason: &str) {
        self.finish(reason, false).await;
    }

    /// The client ended the session (DELETE): as [`HttpSession::end`], and its return would be
    /// a new session, not a reconnect.
    pub async fn end_by_client(&self, reason: &str) {
        self.finish(reason, true).await;
    }

    async fn finish(&self, reason: &str, by_client: bool) {
        {
            let mut st = self.state.lock();
            st.ended = true;
            st.get = None;
            st.inflight.clear();
        }
        if by_client {
            self.router.end(self.router_session, reason).await;
        } else {
            self.router.detach(self.router_session, reason).await;
        }
    }

    fn route(&self, text: String) {
        // Only the envelope is read: answers are routed by id, progress by token, what belongs
        // to a `subscriptions/listen` by its subscription id.
        let (is_response, id_key, method, progress_key, subscription_key) =
            match crate::protocol::jsonrpc::RawEnvelope::parse(&text) {
                Some(env) => {
                    let method = env.method_str().map(str::to_string);
                    let id_key = env.id.and_then(|_| env.id_value()).map(|v| v.to_string());
                    let notification = method.is_some() && env.id.is_none();
                    let params = (notification && env.params.is_some())
                        .then(|| {
                            env.params
                                .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                        })
                        .flatten();
                    let progress_key = (method.as_deref() == Some("notifications/progress"))
                        .then(|| params.as_ref()?.get("progressToken").map(token_key))
                        .flatten();
                    let subscription_key = params
                        .as_ref()
                        .and_then(|p| p.get("_meta"))
                        .and_then(|m| m.get(crate::protocol::mcp::META_SUBSCRIPTION_ID))
                        .map(Value::to_string);
                    (
                        method.is_none() && env.id.is_some(),
                        id_key,
                        method,
                        progress_key,
                        subscription_key,
                    )
                }
                None => (false, None, None, None, None),
            };
        let mut st = self.state.lock();
        st.next_event += 1;
        let event = SseEvent {
            id: st.next_event,
            data: text.into(),
            last: is_response,
        };
        // Pick the POST stream this message belongs to, if any.
        let target = if is_response {
            id_key
        } else if progress_key.is_some() {
            st.inflight
                .iter()
                .find(|(_, f)| f.progress_token.is_some() && f.progress_token == progress_key)
                .map(|(k, _)| k.clone())
        } else if subscription_key.is_some() {
            subscription_key
        } else if method.is_some() && (id_key.is_some() || self.one_request) {
            // A server→client request rides on the newest request's stream when there is one;
            // so does anything for a stateless request (its log messages).
            st.order.last().cloned()
        } else {
            None
        };
        let to_post = target.and_then(|k| {
            let f = st.inflight.get(&k)?;
            Some((k, f.stream, f.tx.clone()))
        });
        match to_post {
            Some((k, stream, tx)) => {
                if is_response {
                    st.inflight.remove(&k);
                    st.order.retain(|o| o != &k);
                }
                // A final answer handed to a waiting POST is its JSON body (or the end of its
                // stream): kept for resumption only when that POST has gone away.
                let delivered = tx.try_send(event.clone()).is_ok();
                if !is_response || !delivered {
                    remember(&mut st, StreamKey::Post(stream), &event);
                }
            }
            None => {
                remember(&mut st, StreamKey::Get, &event);
                let id = event.id;
                let taken = st
                    .get
                    .as_ref()
                    .is_some_and(|get| get.try_send(event).is_ok());
                if !taken && st.get_backlog_from.is_none() {
                    st.get_backlog_from = Some(id);
                }
            }
        }
    }
}

fn remember(st: &mut State, key: StreamKey, event: &SseEvent) {
    st.window_bytes += event.data.len();
    st.window.push_back((key, event.clone()));
    while st.window.len() > RESUME_WINDOW_EVENTS || st.window_bytes > RESUME_WINDOW_BYTES {
        match st.window.pop_front() {
            Some((_, old)) => st.window_bytes -= old.data.len(),
            None => break,
        }
    }
}

fn token_key(token: &Value) -> String {
    match token {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// 32 random bytes as hex: visible ASCII, unguessable.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn pump(session: std::sync::Weak<HttpSession>, mut queue: OutboundReceiver) {
    while let Some(item) = queue.recv().await {
        let Some(session) = session.upgrade() else {
            return;
        };
        match item {
            Outgoing::Text(text) => session.route(text),
            Outgoing::Ping => {}
            Outgoing::Close { .. } => {
                let mut st = session.state.lock();
                st.ended = true;
                st.get = None;
                st.inflight.clear();
                return;
            }
        }
    }
}

/// Every live HTTP session of every server, by `Mcp-Session-Id`.
#[derive(Clone, Default)]
pub struct HttpSessions {
    inner: Arc<Mutex<HashMap<String, Arc<HttpSession>>>>,
}

impl HttpSessions {
    pub fn insert(&self, session: Arc<HttpSession>) {
        self.inner.lock().insert(session.id.clone(), session);
    }

    /// The session with this id on this server, if it is still alive.
    pub fn get(&self, id: &str, server: &str) -> Option<Arc<HttpSession>> {
        let found = self.inner.lock().get(id).cloned()?;
        if found.router.server() != server || found.ended() {
            return None;
        }
        Some(found)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<HttpSession>> {
        self.inner.lock().remove(id)
    }

    /// Ends sessions nobody has used for `ttl`.
    pub async fn sweep(&self, ttl: Duration) {
        let stale: Vec<Arc<HttpSession>> = {
            let mut map = self.inner.lock();
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| s.ended() || s.idle_for() >= ttl)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in stale {
            s.end("idle for too long").await;
        }
    }
}
