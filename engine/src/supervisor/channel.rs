//! A new process's MCP channel, announced to the router with `Up`: what the router queues
//! reaches the process — on its stdin, or POSTed to its port when it speaks Streamable HTTP (a
//! kind's server, [`crate::upstream::http`]) — and what it says comes back as lines.

use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use tokio::sync::mpsc;

use super::link::{self, LinkEvent, Readiness, StdinQueue};
use crate::config::Transport;
use crate::logs::{self, LogHub, Stream};
use crate::upstream::HttpReach;
use crate::upstream::http::HttpLink;

pub(super) struct Channel {
    /// Reads what the process writes on stdout (its messages, or only its log).
    pub reader: JoinHandle<()>,
    /// Takes the router's queue to the process (its stdin, or HTTP).
    pub writer: JoinHandle<()>,
    /// Told by the router when the process answers the handshake; None when nothing speaks
    /// MCP with it.
    pub ready: Option<oneshot::Receiver<Readiness>>,
    /// Cancelled at a stop: closes stdin (an HTTP channel lets go of its standalone stream).
    pub close_stdin: CancellationToken,
    /// Cancelled once the process has exited: ends an HTTP channel.
    pub close_channel: CancellationToken,
    /// It may still answer while it stops (an HTTP server finishes its requests): the router
    /// is told `Draining` at the stop and `Down` at the exit.
    pub drains: bool,
}

/// Who a process's channel is for: the router's link (None: nothing speaks MCP with it), where
/// an HTTP server answers (a kind's), and the log.
pub(super) struct Peers<'a> {
    pub link: Option<&'a mpsc::Sender<LinkEvent>>,
    pub reach: Option<&'a Arc<dyn HttpReach>>,
    pub logs: &'a LogHub,
}

/// Opens the channel of process `pid` (its `generation`) and announces it to the router.
pub(super) async fn open(
    ctx: Peers<'_>,
    server: &str,
    transport: Transport,
    (generation, pid): (u64, u32),
    stdin: ChildStdin,
    stdout: ChildStdout,
) -> Channel {
    let close_stdin = CancellationToken::new();
    let close_channel = CancellationToken::new();
    let (to_server, queue) = StdinQueue::new();
    let log_stdout = |stdout| {
        tokio::spawn(logs::pump_lines(
            stdout,
            ctx.logs.clone(),
            server.to_owned(),
            Stream::Stdout,
        ))
    };
    let Some(link_tx) = ctx.link else {
        // Nothing speaks MCP with it: its stdout is read (bounded) into its log, so it never
        // blocks on a full pipe, and its stdin closes at once.
        drop(to_server);
        return Channel {
            reader: log_stdout(stdout),
            writer: tokio::spawn(link::write_stdin(stdin, queue, close_stdin.clone())),
            ready: None,
            close_stdin,
            close_channel,
            drains: false,
        };
    };
    let (ready, told) = oneshot::channel();
    let _ = link_tx
        .send(LinkEvent::Up {
            generation,
            pid,
            to_server,
            ready,
        })
        .await;
    let http = ctx.reach.filter(|_| transport == Transport::Http);
    let (reader, writer) = match http {
        // It speaks Streamable HTTP on its port: its stdout is only its log, its stdin unused.
        Some(reach) => {
            drop(stdin);
            let http = HttpLink {
                server: server.to_owned(),
                reach: reach.clone(),
                generation,
                link: link_tx.clone(),
                logs: ctx.logs.clone(),
            };
            (
                log_stdout(stdout),
                tokio::spawn(crate::upstream::http::run(
                    http,
                    queue,
                    close_stdin.clone(),
                    close_channel.clone(),
                )),
            )
        }
        None => (
            tokio::spawn(link::read_stdout(
                stdout,
                link_tx.clone(),
                generation,
                ctx.logs.clone(),
                server.to_owned(),
            )),
            tokio::spawn(link::write_stdin(stdin, queue, close_stdin.clone())),
        ),
    };
    Channel {
        reader,
        writer,
        ready: Some(told),
        close_stdin,
        close_channel,
        drains: http.is_some(),
    }
}
