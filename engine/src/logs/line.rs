//! The log line and its small vocabulary (stream, level, filter).
//!
//! A [`LogLine`] is immutable once pushed and is shared as `Arc<LogLine>` between the per-server
//! ring, the live tail and every subscriber, so fan-out never copies text. The serde shape is the
//! wire shape other faces (API, CLI) expose, hence the lowercase enum names.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The `server` of lines that belong to the engine itself rather than to one server.
pub const BRIDGE_SOURCE: &str = "bridge";

/// Per-server ring capacity used by the engine unless configured otherwise.
pub const DEFAULT_RING_LINES: usize = 10_000;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// The engine's own `tracing` events.
    Bridge,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Bridge => "bridge",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity, most severe first so `level <= Level::Warn` reads as "warn or worse".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<tracing::Level> for Level {
    fn from(level: tracing::Level) -> Self {
        // `tracing::Level` is a struct of associated consts, so compare rather than match.
        if level == tracing::Level::ERROR {
            Level::Error
        } else if level == tracing::Level::WARN {
            Level::Warn
        } else if level == tracing::Level::INFO {
            Level::Info
        } else if level == tracing::Level::DEBUG {
            Level::Debug
        } else {
            Level::Trace
        }
    }
}

/// One line of output, as buffered, streamed and written to files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Global across all servers, strictly increasing from 1.
    pub seq: u64,
    /// Unix epoch milliseconds.
    pub time_ms: u64,
    /// Server name, or [`BRIDGE_SOURCE`] for engine-wide lines.
    pub server: String,
    pub stream: Stream,
    pub level: Option<Level>,
    /// One line, no trailing newline; invalid UTF-8 replaced (lossy).
    pub text: String,
}

/// Which lines a reader wants; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub server: Option<String>,
    pub stream: Option<Stream>,
}

impl LogFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only one server's lines.
    pub fn server(name: impl Into<String>) -> Self {
        Self {
            server: Some(name.into()),
            stream: None,
        }
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        self.server.as_deref().is_none_or(|s| s == line.server)
            && self.stream.is_none_or(|s| s == line.stream)
    }
}

/// Wall-clock now in unix epoch milliseconds; 0 if the clock is before 1970.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_shape_is_lowercase() {
        let line = LogLine {
            seq: 7,
            time_ms: 1,
            server: "x".into(),
            stream: Stream::Stderr,
            level: Some(Level::Warn),
            text: "hi".into(),
        };
        let json = serde_json::to_string(&line).unwrap();
        assert!(json.contains(r#""stream":"stderr""#), "{json}");
        assert!(json.contains(r#""level":"warn""#), "{json}");
        let back: LogLine = serde_json::from_str(&json).unwrap();
        assert_eq!(back, line);
    }

    #[test]
    fn level_orders_most_severe_first() {
        assert!(Level::Error < Level::Warn && Level::Debug < Level::Trace);
        assert_eq!(Level::from(tracing::Level::WARN), Level::Warn);
    }
}

/// A log line as one plain line for a status or a tooltip: terminal colour codes removed, and
/// of a line redrawn with carriage returns (a progress bar) only what was drawn last.
pub fn plain_text(text: &str) -> String {
    let last = text
        .split('\r')
        .rfind(|part| !part.trim().is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(last.len());
    let mut chars = last.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte (0x40..=0x7e); other escapes: ESC + one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod plain_text_tests {
    use super::plain_text;

    #[test]
    fn progress_bars_and_colours_become_one_plain_line() {
        assert_eq!(plain_text("\u{1b}[32mok\u{1b}[0m done"), "ok done");
        assert_eq!(
            plain_text("npm http fetch 10%\rnpm http fetch 55%\r"),
            "npm http fetch 55%"
        );
        assert_eq!(plain_text("plain"), "plain");
    }
}
