//! The bridge: MCP clients reach supervised servers through it, many clients to one server.
//!
//! One [`router`] per server owns the routing; each transport (WebSocket now, Streamable HTTP
//! next) is a thin connection task that validates frames, attaches a session and pumps its
//! outbound queue.

pub mod headers;
pub mod http;
pub mod http_session;
pub mod outbound;
pub mod param_headers;
pub mod router;
pub mod stats;
pub mod ws;

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use router::{RouterHandle, RouterOccupancy, RouterOptions};

use crate::config::Config;
use crate::logs::LogHub;
use crate::status::StatusHub;
use crate::supervisor::LinkEvent;
use crate::supervisor::link::LINK_QUEUE;

pub struct Bridge {
    routers: BTreeMap<String, RouterHandle>,
    /// Every configured server.
    names: Vec<String>,
    http_sessions: http_session::HttpSessions,
    /// Cancelled when bridgedock begins to shut down: calls in flight are told so.
    stopping: CancellationToken,
    shutdown: CancellationToken,
}

impl Bridge {
    /// Starts one router per configured MCP server; returns the bridge and, per server, the
    /// link sender its supervisor actor feeds, whatever the server's upstream (stdio, or HTTP
    /// for one a kind runs: its reach names what runs there, for messages).
    pub fn start(
        config: &Config,
        status: &StatusHub,
        logs: &LogHub,
        reaches: &BTreeMap<String, std::sync::Arc<dyn crate::upstream::HttpReach>>,
        tasks: &tokio_util::task::TaskTracker,
    ) -> (Bridge, BTreeMap<String, mpsc::Sender<LinkEvent>>) {
        let shutdown = CancellationToken::new();
        let stopping = CancellationToken::new();
        let mut routers = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (name, spec) in &config.servers {
            let (tx, rx) = mpsc::channel(LINK_QUEUE);
            let options = RouterOptions {
                request_timeout: spec.request_timeout,
                start_timeout: spec.start_timeout,
                behind: reaches.get(name).map(|r| r.what().to_owned()),
                ..RouterOptions::default()
            };
            let handle = router::spawn(
                name,
                options,
                rx,
                status.clone(),
                logs.clone(),
                stopping.clone(),
                shutdown.clone(),
            );
            routers.insert(name.clone(), handle);
            links.insert(name.clone(), tx);
        }
        let http_sessions = http_session::HttpSessions::default();
        let sweeper = http_sessions.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            // After a long pause one sweep is enough, not one per minute missed.
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => sweeper.sweep(http_session::IDLE_SESSION_TTL).await,
                }
            }
        });
        (
            Bridge {
                routers,
                names: config.servers.keys().cloned().collect(),
                http_sessions,
                stopping,
                shutdown,
            },
            links,
        )
    }

    pub fn router(&self, server: &str) -> Option<&RouterHandle> {
        self.routers.get(server)
    }

    pub fn http_sessions(&self) -> &http_session::HttpSessions {
        &self.http_sessions
    }

    /// 404 for a server name that is not configured, naming the ones that are, as a JSON-RPC
    /// error (MCP SDKs read nothing else) answering id null. [`Bridge::unknown_server_at`] also
    /// answers the request's id and says at which URL the configured servers are.
    pub fn unknown_server(&self, server: &str) -> axum::response::Response {
        self.unknown_server_at(server, serde_json::Value::Null, None)
    }

    /// As [`Bridge::unknown_server`], answering `id`; `base_url` (`http://HOST:PORT`, or
    /// `ws://…` for a WebSocket) is where this bridgedock answers.
    pub fn unknown_server_at(
        &self,
        server: &str,
        id: serde_json::Value,
        base_url: Option<&str>,
    ) -> axum::response::Response {
        use crate::protocol::jsonrpc::{INVALID_REQUEST, RpcError, error_response};
        use axum::response::IntoResponse;
        let configured: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let message = if configured.is_empty() {
            format!(
                "no server named `{server}` on this bridgedock (none is configured): add one as a [servers.NAME] section of the config, then restart bridgedock"
            )
        } else {
            format!(
                "no server named `{server}` on this bridgedock (configured: {}): use {}/mcp/<one of them>",
                configured.join(", "),
                base_url.unwrap_or("")
            )
        };
        let error = RpcError {
            code: INVALID_REQUEST,
            message,
            data: Some(serde_json::json!({ "configured": configured })),
        };
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(error_response(id, error)),
        )
            .into_response()
    }

    /// bridgedock begins to shut down: every call in flight is answered now with an error that
    /// says so (not that the server will be back), and new ones are refused the same way,
    /// while the servers are being stopped.
    pub fn begin_shutdown(&self) {
        self.stopping.cancel();
    }

    /// Closes every client connection (1001, going away).
    pub fn shutdown(&self) {
        self.stopping.cancel();
        self.shutdown.cancel();
    }
}
