//! What a connection holds to talk to its server's router: a cloneable handle whose messages
//! wait for room in a byte-bounded inbox (backpressure on the connection, never on the router).

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::fast::FastRequest;
use super::{Outbound, RouterOccupancy};
use crate::bridge::param_headers::ToolHeaders;

/// How many messages from clients may wait for the router.
const INBOX: usize = 4096;
/// Bytes of client messages that may wait for the router: a connection whose message does not
/// fit waits for room (its socket is not read meanwhile: backpressure, bounded in bytes).
const INBOX_BYTES: usize = 8 * 1024 * 1024;

/// A message for the router, holding its share of the inbox until the router has taken it.
pub struct Inbound {
    pub(super) msg: RouterMsg,
    _room: Option<OwnedSemaphorePermit>,
}

pub enum RouterMsg {
    Attach {
        out: Outbound,
        transport: &'static str,
        peer: String,
        reply: oneshot::Sender<u64>,
    },
    Message {
        session: u64,
        msg: Map<String, Value>,
    },
    /// A plain request read by its envelope only (see [`FastRequest`]).
    Forward { session: u64, request: FastRequest },
    Detach {
        session: u64,
        reason: String,
        /// The client ended the session itself (an HTTP DELETE): if it comes back, that is a
        /// new session, not a reconnect.
        ended: bool,
    },
    /// Asks how much routing state the router holds (see [`RouterOccupancy`]).
    Occupancy {
        reply: oneshot::Sender<RouterOccupancy>,
    },
}

/// What a connection holds to talk to its server's router.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    server: Arc<str>,
    tx: mpsc::Sender<Inbound>,
    /// Room in the inbox, in bytes.
    inbox_room: Arc<Semaphore>,
    pub outbound_cap_bytes: usize,
    /// The tools' arguments mirrored into `Mcp-Param-*` headers, as the router last saw them
    /// listed: the HTTP face checks calls against them.
    pub tool_headers: ToolHeaders,
}

impl RouterHandle {
    pub(super) fn new(
        server: &str,
        outbound_cap_bytes: usize,
    ) -> (RouterHandle, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(INBOX);
        let handle = RouterHandle {
            server: server.into(),
            tx,
            inbox_room: Arc::new(Semaphore::new(INBOX_BYTES)),
            outbound_cap_bytes,
            tool_headers: ToolHeaders::default(),
        };
        (handle, rx)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Registers a client session; None when the router is gone (bridgedock is shutting down).
    pub async fn attach(
        &self,
        out: Outbound,
        transport: &'static str,
        peer: String,
    ) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        let msg = RouterMsg::Attach {
            out,
            transport,
            peer,
            reply,
        };
        self.tx.send(Inbound { msg, _room: None }).await.ok()?;
        answer.await.ok()
    }

    /// Hands one plain request to the router; false when the router is gone.
    pub async fn forward(&self, session: u64, request: FastRequest) -> bool {
        let bytes = request.method.len() + request.params.as_ref().map_or(0, String::len) + 64;
        self.send_sized(RouterMsg::Forward { session, request }, bytes)
            .await
    }

    /// Hands one validated message (`bytes` long as the client sent it) to the router; false
    /// when the router is gone.
    pub async fn message(&self, session: u64, msg: Map<String, Value>, bytes: usize) -> bool {
        self.send_sized(RouterMsg::Message { session, msg }, bytes)
            .await
    }

    /// Waits for room in the inbox for `bytes`, then queues `msg` with it.
    async fn send_sized(&self, msg: RouterMsg, bytes: usize) -> bool {
        let cost = bytes.clamp(1, INBOX_BYTES) as u32;
        let room = tokio::select! {
            room = self.inbox_room.clone().acquire_many_owned(cost) => room.ok(),
            _ = self.tx.closed() => None,
        };
        let Some(room) = room else {
            return false;
        };
        self.tx
            .send(Inbound {
                msg,
                _room: Some(room),
            })
            .await
            .is_ok()
    }

    /// How much routing state the router holds; None when the router is gone.
    pub async fn occupancy(&self) -> Option<RouterOccupancy> {
        let (reply, answer) = oneshot::channel();
        let msg = RouterMsg::Occupancy { reply };
        self.tx.send(Inbound { msg, _room: None }).await.ok()?;
        answer.await.ok()
    }

    /// The client's connection is gone (`reason`); the same client back within a minute is a
    /// reconnect.
    pub async fn detach(&self, session: u64, reason: impl Into<String>) {
        self.send_detach(session, reason.into(), false).await;
    }

    /// The client ended its session itself (an HTTP DELETE): gone for good.
    pub async fn end(&self, session: u64, reason: impl Into<String>) {
        self.send_detach(session, reason.into(), true).await;
    }

    async fn send_detach(&self, session: u64, reason: String, ended: bool) {
        let msg = RouterMsg::Detach {
            session,
            reason,
            ended,
        };
        let _ = self.tx.send(Inbound { msg, _room: None }).await;
    }
}
