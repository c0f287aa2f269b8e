//! The way to the server's stdin: a line goes straight into the process's queue (bounded in
//! bytes, [`STDIN_QUEUE_BYTES`]) or, when that is full, into the router's overflow, kept in
//! order and drained as room frees up. While much waits, the router stops taking client
//! messages, so fast clients are slowed at their sockets, never refused.
//!
//! A server that takes nothing for `request_timeout` while lines wait is not reading its input
//! (stuck, or blocked writing to a stdout nobody can drain): from then on new lines are refused
//! with a clear error, client messages flow again so each gets that answer at once, and what
//! waits stays bounded. One warning per episode; it ends when the server reads again or a new
//! process starts.
//!
//! [`STDIN_QUEUE_BYTES`]: crate::supervisor::link::STDIN_QUEUE_BYTES

use serde_json::Value;
use tokio::time::Instant;

use super::Router;
use crate::supervisor::link::{StdinRoom, StdinSendError};

/// Past this many bytes in the overflow the router stops taking client messages (their
/// sockets are not read: backpressure).
pub(super) const OVERFLOW_PAUSE_BYTES: usize = 4 * 1024 * 1024;

impl Router {
    /// Writes one message to the server's stdin without waiting (see the module doc).
    pub(super) fn send_to_server(&mut self, value: &Value) -> Result<(), String> {
        let mut text = value.to_string();
        text.push('\n');
        self.send_line(text)
    }

    /// Like [`Self::send_to_server`], for a line already serialized (ending with `\n`).
    pub(super) fn send_line(&mut self, mut text: String) -> Result<(), String> {
        let Some(link) = &self.link else {
            return Err(format!("server `{}` is not running", self.server));
        };
        if self.overflow.is_empty() {
            match link.to_server.try_send(text) {
                Ok(()) => return Ok(()),
                Err(StdinSendError::Full(t)) => {
                    text = t;
                    self.overflow_moved = Instant::now();
                }
                Err(StdinSendError::Closed(_)) => {
                    return Err(format!("server `{}` is not running", self.server));
                }
            }
        } else if self.not_reading(Instant::now()) {
            return Err(self.refuse());
        }
        self.overflow_bytes += text.len();
        self.overflow.push_back(text);
        Ok(())
    }

    /// Lines wait for the server, and it has taken none of them for `request_timeout`.
    pub(super) fn not_reading(&self, now: Instant) -> bool {
        !self.overflow.is_empty()
            && now.saturating_duration_since(self.overflow_moved) >= self.opts.request_timeout
    }

    /// Whether the router takes client messages now: not while much waits for a server that
    /// reads, always for one that does not (its requests are refused at once).
    pub(super) fn accepting(&self, now: Instant) -> bool {
        self.overflow_bytes < OVERFLOW_PAUSE_BYTES || self.not_reading(now)
    }

    /// The refusal a line gets while the server is not reading; warns once per episode.
    fn refuse(&mut self) -> String {
        let waited =
            crate::status::format_duration_ms(self.overflow_moved.elapsed().as_millis() as u64);
        let mib = self.overflow_bytes as f64 / (1024.0 * 1024.0);
        if !self.stall_reported {
            self.stall_reported = true;
            tracing::warn!(
                server = %self.server,
                "`{}` is not reading its input: {mib:.1} MiB have waited {waited} for it; refusing its requests until it reads again (or restart it)",
                self.server,
            );
        }
        format!(
            "server `{}` is not reading its input: {mib:.1} MiB have waited {waited} for it; try again later, or restart the server",
            self.server
        )
    }

    /// Moves waiting lines into the server's stdin queue while it has room.
    pub(super) fn drain_overflow(&mut self, room: StdinRoom) {
        let Some(first) = self.overflow.pop_front() else {
            return;
        };
        self.overflow_bytes -= first.len();
        self.overflow_moved = Instant::now();
        self.stall_reported = false;
        room.send(first);
        let Some(link) = &self.link else {
            return;
        };
        while let Some(next) = self.overflow.pop_front() {
            let len = next.len();
            match link.to_server.try_send(next) {
                Ok(()) => self.overflow_bytes -= len,
                Err(StdinSendError::Full(back) | StdinSendError::Closed(back)) => {
                    self.overflow.push_front(back);
                    break;
                }
            }
        }
    }
}
