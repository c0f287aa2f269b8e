//! The harness's books: what each fake client sent and may be sent, what the fake server was
//! sent and asked, kept as the router will see them so that what comes out can be checked.

use std::collections::{HashMap, HashSet};

use bridgedock_engine::bridge::outbound::{Outbound, OutboundReceiver};
use bridgedock_engine::supervisor::Readiness;
use bridgedock_engine::supervisor::link::QueuedLine;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::handshake::Handshake;

/// A tagged request: `fz: [session, n]`, request n of the client attached as that session.
pub(super) type Tag = (u64, usize);

/// Who may be sent the answer to a tagged request: the client that sent it, and every retry
/// that took its call over.
#[derive(Debug, Clone)]
pub(super) struct Holder {
    pub(super) session: u64,
    /// The id as JSON text.
    pub(super) id: String,
    /// The progress token as JSON text.
    pub(super) token: Option<String>,
}

/// A request a client sent with a tag, to check what comes back for it.
pub(super) struct Sent {
    pub(super) method: String,
    /// `params.name` and `params.uri` as sent: a retry repeats them.
    pub(super) target: serde_json::Map<String, Value>,
    /// The capabilities its own 2026-07-28 envelope declared, if it had one.
    pub(super) caps: Option<Value>,
    /// The capabilities its `_meta` named, whatever its revision: a stateless server is told
    /// those.
    pub(super) meta_caps: Option<Value>,
    /// The revision its `_meta` named, if any.
    pub(super) revision: Option<String>,
    /// The log level its envelope asked for, as a severity.
    pub(super) log_level: Option<usize>,
    pub(super) holders: Vec<Holder>,
    /// For a retry with bridgedock's `requestState`: the requests whose call it takes over.
    pub(super) origin: Vec<Tag>,
}

/// What a client asked to hear of on one `subscriptions/listen`.
#[derive(Debug, Default, Clone)]
pub(super) struct ListenAsk {
    pub(super) tools: bool,
    pub(super) prompts: bool,
    pub(super) resources: bool,
    pub(super) uris: HashSet<String>,
}

#[derive(Default)]
pub(super) struct Client {
    pub(super) session: Option<u64>,
    pub(super) rx: Option<OutboundReceiver>,
    /// The sender the connection task holds: it answers refused frames itself.
    pub(super) out: Option<Outbound>,
    pub(super) reading: bool,
    /// What it declares when the script does not say otherwise.
    pub(super) profile: Value,
    /// Its next tag's n.
    pub(super) next_n: usize,
    /// Answers still due, by id (as JSON text).
    pub(super) due: HashMap<String, u32>,
    /// Ids the client cancelled: that many answers may never come.
    pub(super) cancelled: HashMap<String, u32>,
    /// `subscriptions/listen` requests by id: an open stream is answered only at shutdown.
    pub(super) listen_due: HashMap<String, u32>,
    /// Every listen it opened, by id, and what it asked for.
    pub(super) listens: HashMap<String, ListenAsk>,
    /// Every progress token the client used.
    pub(super) tokens: HashSet<String>,
    /// Every uri it asked to subscribe to (the router files a missing uri under "").
    pub(super) subscribed: HashSet<String>,
    /// The ids of the requests it was sent.
    pub(super) server_requests: HashSet<String>,
    /// Every set of capabilities it declared (in an `initialize`, or a 2026-07-28 envelope).
    pub(super) declared: Vec<Value>,
    /// The operation since which the router holds it for a 2026-07-28 client (no
    /// `initialize` since).
    pub(super) modern_since: Option<u64>,
    /// The operation of its last drain: what it reads later was queued after it.
    pub(super) last_drain: u64,
}

impl Client {
    /// The router holds it for a 2026-07-28 client since before anything it reads now was
    /// queued.
    pub(super) fn certainly_modern(&self) -> bool {
        self.modern_since.is_some_and(|j| self.last_drain >= j)
    }

    pub(super) fn declared_any(&self, need: &[&str]) -> bool {
        use bridgedock_engine::protocol::capabilities::declares;
        self.declared.iter().any(|d| declares(Some(d), need))
    }
}

/// A request some client was sent (a server's own, or an input bridgedock gathers for a
/// stateless server): the script's `Y`/`y` answer it.
pub(super) struct Asked {
    pub(super) id: Value,
}

/// An input-required result a client was given.
pub(super) struct InputRequired {
    pub(super) method: String,
    pub(super) target: serde_json::Map<String, Value>,
    pub(super) state: Option<Value>,
    pub(super) keys: Vec<String>,
    /// Made by the fake server (passed through): its retry is the server's business.
    pub(super) server_made: bool,
    /// The calls a retry with its state takes over.
    pub(super) origin: Vec<Tag>,
    /// The server's own requests asked in it.
    pub(super) asks: Vec<usize>,
}

/// A request the fake server received and has not answered.
pub(super) struct Received {
    pub(super) id: Value,
    pub(super) method: String,
    pub(super) params: Value,
}

/// A request the fake server sent towards the clients.
pub(super) struct OwnRequest {
    pub(super) generation: u64,
    pub(super) id: Value,
    /// Sent to a client as a request.
    pub(super) as_request: bool,
    /// Given in input-required results, and how many times that may have been.
    pub(super) in_results: u32,
    pub(super) results_allowed: u32,
    /// Sessions that may answer it: the one it went to, and retries with its state.
    pub(super) answerable: HashSet<u64>,
    /// Built by the harness, with its index in `params.fzs`; a raw line the script wrote is
    /// not, so who it went to is not known and any session may answer it.
    pub(super) tagged: bool,
    pub(super) answers_due: u32,
}

impl OwnRequest {
    /// A request just sent by process `generation`: not yet given to anyone.
    pub(super) fn sent(generation: u64, id: Value, tagged: bool, answers_due: u32) -> Self {
        OwnRequest {
            generation,
            id,
            as_request: false,
            in_results: 0,
            results_allowed: 1,
            answerable: HashSet::new(),
            tagged,
            answers_due,
        }
    }
}

pub(super) struct Server {
    pub(super) generation: u64,
    pub(super) rx: Option<mpsc::UnboundedReceiver<QueuedLine>>,
    /// Where the router says whether this process answered the handshake.
    pub(super) ready: Option<oneshot::Receiver<Readiness>>,
    pub(super) reading: bool,
    pub(super) open: Vec<Received>,
    /// Every bridge id the server was sent, and those of the current process.
    pub(super) bridge_ids: HashSet<String>,
    pub(super) process_ids: HashSet<u64>,
    pub(super) handshake: Handshake,
    pub(super) initialized: bool,
    pub(super) own: Vec<OwnRequest>,
    pub(super) next_own: u64,
    /// Input-required results it gave (each may make the router ask clients a few inputs).
    pub(super) input_required: usize,
}
