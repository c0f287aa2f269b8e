//! How messages reach a server — the part below the router.
//!
//! The router owns ids, the handshake and its replay, in-flight failure, timeouts, limits and
//! per-client queues, and sees every server through one seam: [`LinkEvent`] (`Up` with a queue
//! toward the server, the server's messages, `Down`) for each process. Below it:
//!
//! - **stdio** — the child's stdin and stdout ([`crate::supervisor::link`]);
//! - **Streamable HTTP** ([`http`]) — a server bridgedock launched that listens on a port
//!   (godot-ai today; remote servers next). Where it is reached, and anything a kind needs
//!   before a call goes, come from an [`HttpReach`] the kind provides.
//!
//! [`LinkEvent`]: crate::supervisor::LinkEvent

pub mod http;
pub mod sse;

use futures_util::future::BoxFuture;

/// An MCP endpoint and the bearer it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    pub bearer: Option<String>,
}

/// What a kind tells the HTTP upstream of its server; asked again at each request, so a target
/// may change while the process runs (godot-ai adopting one it did not start).
pub trait HttpReach: Send + Sync {
    /// Where the server answers now.
    fn target(&self) -> HttpTarget;
    /// What answers there, in people's words ("godot-ai"), for messages and log lines.
    fn what(&self) -> &str;
    /// Waits until a client's call may go (godot-ai: until the editors are back on a restarted
    /// server). The router's request timeout still counts.
    fn before_call(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
