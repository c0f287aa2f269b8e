//! The bridge: MCP clients reach supervised servers through it, many clients to one server.
//!
//! One [`router`] per server owns the routing; each transport (WebSocket now, Streamable HTTP
//! next) is a thin connection task that validates frames, attaches a session and pumps its
//! outbound queue.

pub mod outbound;
pub mod router;
pub mod stats;
pub mod ws;

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use router::{RouterHandle, RouterOptions};

use crate::config::Config;
use crate::logs::LogHub;
use crate::status::StatusHub;
use crate::supervisor::LinkEvent;
use crate::supervisor::link::LINK_QUEUE;

pub struct Bridge {
    routers: BTreeMap<String, RouterHandle>,
    shutdown: CancellationToken,
}

impl Bridge {
    /// Starts one router per configured server; returns the bridge and, per server, the link
    /// sender its supervisor actor feeds.
    pub fn start(
        config: &Config,
        status: &StatusHub,
        logs: &LogHub,
    ) -> (Bridge, BTreeMap<String, mpsc::Sender<LinkEvent>>) {
        let shutdown = CancellationToken::new();
        let mut routers = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (name, spec) in &config.servers {
            let (tx, rx) = mpsc::channel(LINK_QUEUE);
            let options = RouterOptions {
                request_timeout: spec.request_timeout,
                ..RouterOptions::default()
            };
            let handle = router::spawn(
                name,
                options,
                rx,
                status.clone(),
                logs.clone(),
                shutdown.clone(),
            );
            routers.insert(name.clone(), handle);
            links.insert(name.clone(), tx);
        }
        (Bridge { routers, shutdown }, links)
    }

    pub fn router(&self, server: &str) -> Option<&RouterHandle> {
        self.routers.get(server)
    }

    /// Closes every client connection (1001, going away).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}
