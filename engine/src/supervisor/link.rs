//! The seam between a supervised process and whoever speaks MCP with it (the bridge's router).
//!
//! For each process it spawns, the actor announces `Up` with a sender for the child's stdin,
//! forwards every stdout line, and announces `Down` the moment the process is going away — so
//! the router can fail what was in flight at once, before the tree is even reaped. Each event
//! carries the process's generation, so nothing from a dead process bleeds into the next.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::logs::{Level, LogHub, Stream};

/// How many stdout lines may wait for the router before the reader waits (the router only
/// does non-blocking work per line, so this is a burst buffer, not a place to park slowness).
pub const LINK_QUEUE: usize = 1024;
/// How many messages may wait to be written to a child's stdin.
pub const STDIN_QUEUE: usize = 1024;
/// Longest stdout line accepted; longer lines are dropped (and logged), never buffered whole.
pub const MAX_STDOUT_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub enum LinkEvent {
    /// A new process is up. Lines sent to `to_server` must end with `\n`.
    Up {
        generation: u64,
        pid: u32,
        to_server: mpsc::Sender<String>,
    },
    /// One line the process wrote to stdout (without the newline).
    Line { generation: u64, line: String },
    /// The process is going away (or is gone); `reason` is for people.
    Down { generation: u64, reason: String },
}

/// Writes queued lines to the child's stdin, batching whatever is queued into one flush.
/// Ends — closing stdin — when `close` is cancelled, the queue closes, or the child stops reading.
pub async fn write_stdin(
    stdin: ChildStdin,
    mut queue: mpsc::Receiver<String>,
    close: CancellationToken,
) {
    let mut out = tokio::io::BufWriter::new(stdin);
    loop {
        let line = tokio::select! {
            biased;
            _ = close.cancelled() => break,
            line = queue.recv() => match line {
                Some(line) => line,
                None => break,
            },
        };
        if out.write_all(line.as_bytes()).await.is_err() {
            break;
        }
        while let Ok(more) = queue.try_recv() {
            if out.write_all(more.as_bytes()).await.is_err() {
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
