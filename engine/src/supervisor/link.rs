//! The seam between a supervised process and whoever speaks MCP with it (the bridge's router).
//!
//! For each process it spawns, the actor announces `Up` with a queue toward the server,
//! forwards every message the server sends, and announces `Down` the moment the process is
//! going away — so the router can fail what was in flight at once, before the tree is even
//! reaped. Each event carries the process's generation, so nothing from a dead process bleeds
//! into the next. How the messages travel is the upstream's business: the child's stdin and
//! stdout (here), or Streamable HTTP to a port it listens on ([`crate::upstream`]).

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::logs::{Level, LogHub, Stream};

/// How many stdout lines may wait for the router before the reader waits (the router only
/// does non-blocking work per line, so this is a burst buffer, not a place to park slowness).
pub const LINK_QUEUE: usize = 1024;
/// How many bytes may wait to be written to a child's stdin (a longer line takes it all).
pub const STDIN_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Longest stdout line accepted; longer lines are dropped (and logged), never buffered whole.
pub const MAX_STDOUT_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub enum LinkEvent {
    /// A new process is up. Lines sent to `to_server` must end with `\n`. Whoever speaks MCP
    /// with it says through `ready` when it has answered the handshake: only then is it ready.
    Up {
        generation: u64,
        pid: u32,
        to_server: StdinQueue,
        ready: ReadySignal,
    },
    /// One line the process wrote to stdout (without the newline).
    Line { generation: u64, line: String },
    /// The process is being stopped but may still answer what it has (an HTTP server finishes
    /// its requests): nothing new goes to it; `Down` follows when it has exited.
    Draining { generation: u64 },
    /// The process is going away (or is gone); `reason` is for people.
    Down { generation: u64, reason: String },
    /// The answers to these requests (bridgedock's ids, as sent) will never come, though the
    /// process lives on: an HTTP upstream's answer stream was cut, say. `reason` is for people.
    Lost {
        generation: u64,
        ids: Vec<serde_json::Value>,
        reason: String,
    },
}

/// Whether a new process answered the MCP handshake; the supervisor shows it as running only
/// once it has (until then it is starting, however long npx or uvx take to download it).
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// It answered bridgedock's handshake (`server/discover` or `initialize`).
    Ready,
    /// It answered, refusing both handshakes: why, in words.
    Refused(String),
}

/// Where the router says that a process is ready (once; dropped with the process).
pub type ReadySignal = oneshot::Sender<Readiness>;

/// The way into a child's stdin: a queue bounded in bytes, not in lines, so what waits for
/// a server that reads slowly (or not at all) is bounded whatever the size of its messages.
/// Its API follows `mpsc::Sender`: `try_send`, or wait with `reserve` for room for a line.
#[derive(Clone, Debug)]
pub struct StdinQueue {
    tx: mpsc::UnboundedSender<QueuedLine>,
    room: Arc<Semaphore>,
}

/// A line on its way to stdin, holding its share of the queue until it is written.
#[derive(Debug)]
pub struct QueuedLine {
    line: String,
    _room: OwnedSemaphorePermit,
}

impl QueuedLine {
    /// The line as it will be written (without its newline).
    pub fn text(&self) -> &str {
        &self.line
    }
}

/// Room reserved for one line of `bytes`.
pub struct StdinRoom {
    tx: mpsc::UnboundedSender<QueuedLine>,
    permit: OwnedSemaphorePermit,
}

#[derive(Debug, PartialEq)]
pub enum StdinSendError {
    /// No room now; the line is given back.
    Full(String),
    /// The process is gone.
    Closed(String),
}

impl StdinQueue {
    pub fn new() -> (StdinQueue, mpsc::UnboundedReceiver<QueuedLine>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(STDIN_QUEUE_BYTES));
        (StdinQueue { tx, room }, rx)
    }

    /// Queues `line` if there is room for it now. Lines must end with `\n`.
    pub fn try_send(&self, line: String) -> Result<(), StdinSendError> {
        if self.tx.is_closed() {
            return Err(StdinSendError::Closed(line));
        }
        match self.room.clone().try_acquire_many_owned(cost(line.len())) {
            Ok(permit) => self
                .tx
                .send(QueuedLine {
                    line,
                    _room: permit,
                })
                .map_err(|e| StdinSendError::Closed(e.0.line)),
            Err(_) => Err(StdinSendError::Full(line)),
        }
    }

    /// Waits for room for a line of `bytes`; None once the process is gone.
    pub async fn reserve(self, bytes: usize) -> Option<StdinRoom> {
        let permit = tokio::select! {
            permit = self.room.acquire_many_owned(cost(bytes)) => permit.ok()?,
            _ = self.tx.closed() => return None,
        };
        Some(StdinRoom {
            tx: self.tx,
            permit,
        })
    }
}

impl StdinRoom {
    /// Queues `line` in the room reserved for it.
    pub fn send(self, line: String) {
        let _ = self.tx.send(QueuedLine {
            line,
            _room: self.permit,
        });
    }
}

/// A line's share of the queue: its size, or the whole queue for a line longer than that.
fn cost(bytes: usize) -> u32 {
    bytes.clamp(1, STDIN_QUEUE_BYTES) as u32
}

/// Writes queued lines to the child's stdin, batching whatever is queued into one flush.
/// Ends — closing stdin — when `close` is cancelled, the queue closes, or the child stops reading.
/// A line's room in the queue is given back once it is written.
pub async fn write_stdin(
    stdin: ChildStdin,
    mut queue: mpsc::UnboundedReceiver<QueuedLine>,
    close: CancellationToken,
) {
    let mut out = tokio::io::BufWriter::new(stdin);
    loop {
        let queued = tokio::select! {
            biased;
            _ = close.cancelled() => break,
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break,
            },
        };
        if out.write_all(queued.line.as_bytes()).await.is_err() {
            break;
        }
        drop(queued);
        while let Ok(more) = queue.try_recv() {
            if out.write_all(more.line.as_bytes()).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            break;
        }
    }
}

/// Reads the child's stdout line by line into the link. Over-long lines are skipped with a
/// log line; a line that is not valid UTF-8 is logged as protocol noise.
pub async fn read_stdout(
    stdout: ChildStdout,
    link: mpsc::Sender<LinkEvent>,
    generation: u64,
    logs: LogHub,
    server: String,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut skipping = false;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (part, found_newline) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let consumed = part.len() + usize::from(found_newline);
        if !skipping {
            if buf.len() + part.len() > MAX_STDOUT_LINE_BYTES {
                skipping = true;
                buf.clear();
                logs.push(
                    &server,
                    Stream::Stdout,
                    Some(Level::Error),
                    format!(
                        "protocol error: a stdout line longer than {} MiB was dropped (not forwarded)",
                        MAX_STDOUT_LINE_BYTES / (1024 * 1024)
                    ),
                );
            } else {
                buf.extend_from_slice(part);
            }
        }
        reader.consume(consumed);
        if found_newline {
            if !skipping && !buf.is_empty() {
                let line = std::mem::take(&mut buf);
                match String::from_utf8(line) {
                    Ok(line) => {
                        if link
                            .send(LinkEvent::Line { generation, line })
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(bad) => {
                        logs.push(
                            &server,
                            Stream::Stdout,
                            Some(Level::Warn),
                            format!(
                                "protocol noise on stdout (not UTF-8, not forwarded): {}",
                                String::from_utf8_lossy(bad.as_bytes())
                            ),
                        );
                    }
                }
            }
            skipping = false;
        }
    }
    if !buf.is_empty() && !skipping {
        logs.push(
            &server,
            Stream::Stdout,
            Some(Level::Warn),
            format!(
                "protocol noise on stdout (an unfinished line at exit, not forwarded): {}",
                String::from_utf8_lossy(&buf)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stdin_queue_is_bounded_in_bytes_and_frees_room_as_lines_are_taken() {
        let (queue, mut lines) = StdinQueue::new();
        let mib = "x".repeat(1024 * 1024);
        for _ in 0..4 {
            assert!(queue.try_send(mib.clone()).is_ok());
        }
        // 4 MiB wait: not one more byte fits, however few lines that is.
        assert_eq!(
            queue.try_send("y\n".into()),
            Err(StdinSendError::Full("y\n".into()))
        );
        let waiting = tokio::spawn(queue.clone().reserve(10));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room until a line is taken");
        drop(lines.recv().await.unwrap());
        let room = waiting
            .await
            .unwrap()
            .expect("room once a line was written");
        room.send("z\n".into());
        drop(lines);
        assert!(matches!(
            queue.try_send("w\n".into()),
            Err(StdinSendError::Closed(_))
        ));
        // A line longer than the whole queue still goes, alone.
        let (queue, mut lines) = StdinQueue::new();
        assert!(queue.try_send("h".repeat(5 * 1024 * 1024)).is_ok());
        assert!(matches!(
            queue.try_send("a\n".into()),
            Err(StdinSendError::Full(_))
        ));
        assert_eq!(lines.recv().await.unwrap().line.len(), 5 * 1024 * 1024);
    }
}
