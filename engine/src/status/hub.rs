//! The status hub: the current snapshot behind one lock, and a broadcast of changes.
//!
//! Subscribing takes the snapshot and the receiver under the same lock as every update, so a
//! subscriber sees each change exactly once after its snapshot. A subscriber that falls behind
//! is told so (`Lagged`) and simply takes a fresh snapshot: status is state, not history.

use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::memory::ShrinkWhenSparse;

use super::model::{
    BridgeStatus, ClientSession, Meaning, Overview, ReapedOrphan, ServerStatus, Snapshot, now_ms,
};

/// How many changes a slow subscriber may fall behind before it must re-read the snapshot.
const CHANGE_BACKLOG: usize = 1024;

/// One change, as the dock and `ctl` receive it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StatusChange {
    /// A server changed; `overview` is everything at a glance after the change.
    Server {
        server: Box<ServerStatus>,
        overview: Overview,
    },
    Bridge {
        bridge: BridgeStatus,
    },
    Client {
        client: ClientSession,
    },
    ClientGone {
        id: String,
        server: String,
    },
}

struct Inner {
    snapshot: Mutex<Snapshot>,
    tx: broadcast::Sender<Arc<StatusChange>>,
}

#[derive(Clone)]
pub struct StatusHub {
    inner: Arc<Inner>,
}

pub struct StatusSubscription {
    pub snapshot: Snapshot,
    pub changes: broadcast::Receiver<Arc<StatusChange>>,
}

impl StatusHub {
    pub fn new(bridge: BridgeStatus) -> Self {
        let (tx, _) = broadcast::channel(CHANGE_BACKLOG);
        StatusHub {
            inner: Arc::new(Inner {
                snapshot: Mutex::new(Snapshot {
                    bridge,
                    overview: Overview::default(),
                    servers: Vec::new(),
                    clients: Vec::new(),
                }),
                tx,
            }),
        }
    }

    /// The current snapshot, with uptimes computed for now.
    pub fn snapshot(&self) -> Snapshot {
        let snap = self.inner.snapshot.lock().clone();
        with_uptimes(snap)
    }

    pub fn server(&self, name: &str) -> Option<ServerStatus> {
        let snap = self.inner.snapshot.lock();
        let found = snap.servers.iter().find(|s| s.name == name).cloned();
        found.map(|s| with_uptime(s, now_ms()))
    }

    /// A snapshot and the changes after it, with nothing missed in between.
    pub fn subscribe(&self) -> StatusSubscription {
        let snap = self.inner.snapshot.lock();
        let changes = self.inner.tx.subscribe();
        let snapshot = with_uptimes(snap.clone());
        drop(snap);
        StatusSubscription { snapshot, changes }
    }

    /// Adds a server or replaces its whole entry.
    pub fn put_server(&self, mut server: ServerStatus) {
        server.meaning = Meaning::of(&server);
        let mut snap = self.inner.snapshot.lock();
        match snap.servers.iter_mut().find(|s| s.name == server.name) {
            Some(slot) => *slot = server.clone(),
            None => {
                snap.servers.push(server.clone());
                snap.servers.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
        snap.overview = Overview::of(&snap.servers);
        let overview = snap.overview.clone();
        let _ = self.inner.tx.send(Arc::new(StatusChange::Server {
            server: Box::new(server),
            overview,
        }));
    }

    /// Changes one server's entry in place and announces it. Returns the entry as changed.
    pub fn update_server(
        &self,
        name: &str,
        change: impl FnOnce(&mut ServerStatus),
    ) -> Option<ServerStatus> {
        let mut snap = self.inner.snapshot.lock();
        let slot = snap.servers.iter_mut().find(|s| s.name == name)?;
        change(slot);
        slot.meaning = Meaning::of(slot);
        let server = slot.clone();
        snap.overview = Overview::of(&snap.servers);
        let _ = self.inner.tx.send(Arc::new(StatusChange::Server {
            server: Box::new(server.clone()),
            overview: snap.overview.clone(),
        }));
        Some(server)
    }

    pub fn update_bridge(&self, change: impl FnOnce(&mut BridgeStatus)) {
        let mut snap = self.inner.snapshot.lock();
        change(&mut snap.bridge);
        let bridge = snap.bridge.clone();
        let _ = self
            .inner
            .tx
            .send(Arc::new(StatusChange::Bridge { bridge }));
    }

    pub fn record_reaped(&self, reaped: Vec<ReapedOrphan>) {
        if reaped.is_empty() {
            return;
        }
        self.update_bridge(|b| b.reaped_orphans.extend(reaped));
    }

    /// Adds or replaces a client session.
    pub fn put_client(&self, client: ClientSession) {
        let mut snap = self.inner.snapshot.lock();
        match snap.clients.iter_mut().find(|c| c.id == client.id) {
            Some(slot) => *slot = client.clone(),
            None => snap.clients.push(client.clone()),
        }
        let _ = self
            .inner
            .tx
            .send(Arc::new(StatusChange::Client { client }));
    }

    pub fn remove_client(&self, id: &str) {
        let mut snap = self.inner.snapshot.lock();
        let Some(pos) = snap.clients.iter().position(|c| c.id == id) else {
            return;
        };
        let gone = snap.clients.remove(pos);
        snap.clients.shrink_when_sparse();
        let _ = self.inner.tx.send(Arc::new(StatusChange::ClientGone {
            id: gone.id,
            server: gone.server,
        }));
    }
}

fn with_uptimes(mut snap: Snapshot) -> Snapshot {
    let now = now_ms();
    snap.bridge.uptime_ms = now.saturating_sub(snap.bridge.started_at_ms);
    snap.servers = snap
        .servers
        .into_iter()
        .map(|s| with_uptime(s, now))
        .collect();
    snap
}

fn with_uptime(mut s: ServerStatus, now: u64) -> ServerStatus {
    s.uptime_ms = s.started_at_ms.map(|t| now.saturating_sub(t));
    s
}
