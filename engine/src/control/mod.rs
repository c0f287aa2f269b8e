//! The control faces of the engine: the HTTP/WebSocket API the dock uses, and the unix-socket
//! JSON-RPC that `bridgedockd ctl` uses. Both only read the status hub and log hub and send
//! controls through server handles; neither owns any behaviour of its own.

pub mod access;
pub mod api;
pub mod client_setup;
pub mod ctl_client;
#[cfg(unix)]
mod ctl_lines;
#[cfg(unix)]
pub mod ctl_socket;
pub mod events;
pub mod methods;
pub mod token;
