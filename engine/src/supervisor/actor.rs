//! One actor task per server: it alone owns the child process and its state.
//!
//! The loop waits on four things — a control request, the child's exit, the end of a backoff
//! wait, the moment a run counts as stable — and turns each into a state change published to
//! the status hub. Decisions about restarting come from [`CrashTracker`]; signals go to the
//! whole process group, so nothing a server starts outlives it.

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::handle::{Action, Request};
mod ending;

use super::channel;
use super::link::{LinkEvent, Readiness};
use super::platform::{self, ProcessIdentity};
use super::policy::{CrashTracker, Decision, LAST_STDERR_LINES};
use super::records::{ChildRecord, ChildRecords};
use super::runtime::resolve_command;
use super::spawn::{display_command, join_command, spawn_server};
use crate::backoff::log_attempt;
use crate::config::ServerConfig;
use crate::logs::{self, LogFilter, LogHub, Stream};
use crate::status::{ExitInfo, ServerState, ServerStatus, StatusHub, now_ms};
use crate::upstream::HttpReach;

/// Longest a stopping server may take to exit on stdin EOF before it gets SIGTERM.
const EOF_WAIT_MAX: Duration = Duration::from_secs(1);
/// After SIGKILL, how long to wait for the kernel to report the exit.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How long to wait for a dead child's output readers to drain.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
const GROUP_POLL: Duration = Duration::from_millis(20);
/// While a process has not answered the handshake, its latest stderr line (npx or uvx saying
/// how the download goes) is copied into its state this often.
const STARTING_LINE_EVERY: Duration = Duration::from_millis(500);

pub(crate) struct ActorContext {
    /// Where the process's MCP channel goes; None logs its stdout (no bridge attached).
    pub link: Option<mpsc::Sender<LinkEvent>>,
    /// For a server launched to speak HTTP: where its endpoint is (the kind says). Its MCP
    /// channel is then Streamable HTTP, and its stdout only a log.
    pub reach: Option<Arc<dyn HttpReach>>,
    pub status: StatusHub,
    pub logs: LogHub,
    pub records: ChildRecords,
    pub shutdown: CancellationToken,
    pub owner: Option<ProcessIdentity>,
    pub boot_id: Option<String>,
}

struct Running {
    pid: u32,
    pgid: u32,
    generation: u64,
    since: Instant,
    stable_at: Option<Instant>,
    /// Cancelled to close the child's stdin.
    close_stdin: CancellationToken,
    /// Cancelled once the process has exited: ends its HTTP channel (a stdio channel ends
    /// with stdin).
    close_channel: CancellationToken,
    /// Answers may still come while it stops (its HTTP server finishes what it is doing):
    /// the router is told `Draining` at the stop, `Down` at the exit.
    drains: bool,
    exit: oneshot::Receiver<std::io::Result<ExitStatus>>,
    readers: Vec<JoinHandle<()>>,
    /// The last log seq before this run: its stderr tail is everything after.
    first_seq: u64,
    /// Wall-clock start, for the state's `since_ms`.
    started_ms: u64,
    /// Told by the router when the process answers the MCP handshake; None when nothing
    /// speaks MCP with it (it is running as soon as it is spawned) or once told.
    ready: Option<oneshot::Receiver<Readiness>>,
    /// Until then it is starting; after, not answering (but still welcome to answer).
    answer_by: Instant,
    /// Shown as not answering already.
    late: bool,
    next_line_check: Instant,
    last_line: Option<String>,
}

enum Phase {
    Idle,
    Running(Box<Running>),
    Backoff { until: Instant },
}

enum Event {
    Request(Request),
    Exited(std::io::Result<ExitStatus>),
    BackoffOver,
    Stable,
    /// The router's word on the handshake; Err when it dropped the signal unsaid.
    Handshake(Result<Readiness, oneshot::error::RecvError>),
    StartTimedOut,
    CheckStartingLine,
    Shutdown,
}

pub(crate) struct Actor {
    name: String,
    spec: ServerConfig,
    ctx: ActorContext,
    tracker: CrashTracker,
    requests: mpsc::Receiver<Request>,
    phase: Phase,
    started_once: bool,
    generation: u64,
}

impl Actor {
    pub fn new(
        name: String,
        spec: ServerConfig,
        ctx: ActorContext,
        tracker: CrashTracker,
        requests: mpsc::Receiver<Request>,
    ) -> Self {
        Actor {
            name,
            spec,
            ctx,
            tracker,
            requests,
            phase: Phase::Idle,
            started_once: false,
            generation: 0,
        }
    }

    pub fn initial_status(name: &str, spec: &ServerConfig) -> ServerStatus {
        ServerStatus {
            transport: spec.transport,
            restart_policy: spec.restart,
            autostart: spec.autostart,
            command: display_command(spec),
            expected_version: spec.version.clone().filter(|v| !v.is_empty()),
            ..ServerStatus::new(name)
        }
    }

    pub async fn run(mut self) {
        if self.spec.autostart {
            self.launch().await;
        }
        loop {
            let event = self.next_event().await;
            match event {
                Event::Request(req) => self.handle(req).await,
                Event::Exited(result) => self.on_exit(result).await,
                Event::BackoffOver => self.launch().await,
                Event::Stable => {
                    if let Phase::Running(run) = &mut self.phase {
                        run.stable_at = None;
                    }
                    self.tracker.stable();
                }
                Event::Handshake(word) => self.on_handshake(word),
                Event::StartTimedOut => self.on_start_timeout(),
                Event::CheckStartingLine => self.check_starting_line(),
                Event::Shutdown => break,
            }
        }
        if let Phase::Running(run) = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.stop_running(*run, "stopped because bridgedock is shutting down")
                .await;
        }
        self.set_state(ServerState::Stopped);
    }

    async fn next_event(&mut self) -> Event {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let (backoff_until, stable_at) = match &self.phase {
            Phase::Backoff { until, .. } => (Some(*until), None),
            Phase::Running(run) => (None, run.stable_at),
            Phase::Idle => (None, None),
        };
        // While a process has not answered the handshake: its deadline, and its stderr.
        let (answer_by, line_check) = match &self.phase {
            Phase::Running(run) if run.ready.is_some() => (
                (!run.late).then_some(run.answer_by),
                Some(run.next_line_check),
            ),
            _ => (None, None),
        };
        // The running process's exit, or the router's word on its handshake (one borrow of it).
        let process = async {
            match &mut self.phase {
                Phase::Running(run) => {
                    let lost = |_| Err(std::io::Error::other("the process waiter vanished"));
                    match &mut run.ready {
                        Some(ready) => tokio::select! {
                            biased;
                            result = &mut run.exit => Event::Exited(result.unwrap_or_else(lost)),
                            word = ready => Event::Handshake(word),
                        },
                        None => Event::Exited((&mut run.exit).await.unwrap_or_else(lost)),
                    }
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.ctx.shutdown.cancelled() => Event::Shutdown,
            req = self.requests.recv() => match req {
                Some(req) => Event::Request(req),
                None => Event::Shutdown,
            },
            event = process => event,
            _ = sleep_until(answer_by.unwrap_or(far)), if answer_by.is_some() => Event::StartTimedOut,
            _ = sleep_until(line_check.unwrap_or(far)), if line_check.is_some() => Event::CheckStartingLine,
            _ = sleep_until(backoff_until.unwrap_or(far)), if backoff_until.is_some() => Event::BackoffOver,
            _ = sleep_until(stable_at.unwrap_or(far)), if stable_at.is_some() => Event::Stable,
        }
    }

    async fn handle(&mut self, req: Request) {
        match (req.action, std::mem::replace(&mut self.phase, Phase::Idle)) {
            (Action::Start, Phase::Running(run)) => self.phase = Phase::Running(run),
            (Action::Start, Phase::Backoff { .. }) => self.launch().await,
            (Action::Start | Action::Restart, Phase::Idle) => {
                self.tracker.reset();
                self.launch().await;
            }
            (Action::Restart, Phase::Backoff { .. }) => {
                self.tracker.reset();
                self.launch().await;
            }
            (Action::Restart, Phase::Running(run)) => {
                tracing::info!(server = %self.name, "restarting `{}` on request", self.name);
                self.stop_running(*run, "restarted by request").await;
                self.tracker.reset();
                self.launch().await;
            }
            (Action::Stop, Phase::Running(run)) => {
                tracing::info!(server = %self.name, "stopping `{}` on request", self.name);
                self.stop_running(*run, "stopped by request").await;
                self.set_state(ServerState::Stopped);
            }
            (Action::Stop, Phase::Backoff { .. } | Phase::Idle) => {
                self.set_state(ServerState::Stopped);
            }
        }
        let _ = req.reply.send(self.current_status());
    }

    fn current_status(&self) -> ServerStatus {
        self.ctx
            .status
            .server(&self.name)
            .unwrap_or_else(|| Self::initial_status(&self.name, &self.spec))
    }

    fn set_state(&self, state: ServerState) {
        self.ctx.status.update_server(&self.name, |s| {
            if !matches!(
                state,
                ServerState::Running { .. }
                    | ServerState::Stopping
                    | ServerState::Starting { .. }
                    | ServerState::NotAnswering { .. }
            ) {
                s.pid = None;
                s.started_at_ms = None;
            }
            s.state = state;
        });
    }

    /// Resolves the command and spawns it; on failure, decides what comes next.
    async fn launch(&mut self) {
        let path_var = self.spec.env.get("PATH").map(std::ffi::OsString::from);
        let program = match resolve_command(&self.spec.command, path_var, self.spec.cwd.as_deref())
        {
            Ok(program) => program,
            Err(missing) => {
                tracing::error!(
                    server = %self.name,
                    "cannot start `{}`: \"{}\" not found on PATH — {}",
                    self.name, missing.command, missing.hint
                );
                self.phase = Phase::Idle;
                self.set_state(ServerState::NoCommand {
                    program: missing.command,
                    hint: missing.hint,
                });
                return;
            }
        };
        self.set_state(ServerState::Starting {
            since_ms: now_ms(),
            last_line: None,
        });
        let command_line = join_command(&display_command(&self.spec));
        let first_seq = self.ctx.logs.last_seq();
        let spawned = match spawn_server(&program, &self.spec) {
            Ok(spawned) => spawned,
            Err(err) => {
                let reason = format!("failed to start: {err}");
                tracing::error!(server = %self.name, "`{}` {reason} (command: {command_line})", self.name);
                let info = ExitInfo {
                    at_ms: now_ms(),
                    code: None,
                    signal: None,
                    reason,
                    requested: false,
                    last_stderr: Vec::new(),
                };
                self.after_unexpected_exit(info, false);
                return;
            }
        };
        let (pid, pgid) = (spawned.pid, spawned.pgid);
        let record = ChildRecord {
            server: self.name.clone(),
            child: platform::identity(pid).unwrap_or(ProcessIdentity {
                pid,
                start_ticks: 0,
            }),
            pgid,
            boot_id: self.ctx.boot_id.clone(),
            command_line: command_line.clone(),
            started_at_ms: now_ms(),
            owner: self.ctx.owner,
        };
        if let Err(err) = self.ctx.records.add(&record) {
            tracing::warn!(server = %self.name, "could not record child pid {pid} in the state dir ({err}); if bridgedock is killed it cannot clean this one up");
        }
        let (exit_tx, exit_rx) = oneshot::channel();
        let mut child = spawned.child;
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = exit_tx.send(status);
        });
        let stderr = tokio::spawn(logs::pump_lines(
            spawned.stderr,
            self.ctx.logs.clone(),
            self.name.clone(),
            Stream::Stderr,
        ));
        self.generation += 1;
        let generation = self.generation;
        let peers = channel::Peers {
            link: self.ctx.link.as_ref(),
            reach: self.ctx.reach.as_ref(),
            logs: &self.ctx.logs,
        };
        let channel = channel::open(
            peers,
            &self.name,
            self.spec.transport,
            (generation, pid),
            spawned.stdin,
            spawned.stdout,
        )
        .await;
        let now = Instant::now();
        let restarted = std::mem::replace(&mut self.started_once, true);
        let since_ms = now_ms();
        // Running means ready: with something speaking MCP to it, it is starting until it has
        // answered the handshake (a cold npx/uvx start downloads it first).
        let state = match channel.ready {
            Some(_) => ServerState::Starting {
                since_ms,
                last_line: None,
            },
            None => ServerState::Running { since_ms },
        };
        self.ctx.status.update_server(&self.name, |s| {
            s.state = state;
            s.pid = Some(pid);
            s.started_at_ms = Some(since_ms);
            // A new process has said nothing yet: no version, protocol or capabilities from the
            // last one may linger (the dock would show them for a process that never answered).
            s.reported_version = None;
            s.protocol_revision = None;
            s.declared_capabilities = None;
            s.server_capabilities = None;
            if restarted {
                s.restarts += 1;
            }
        });
        tracing::info!(server = %self.name, "started `{}` (pid {pid}): {command_line}", self.name);
        self.phase = Phase::Running(Box::new(Running {
            pid,
            pgid,
            since: now,
            stable_at: Some(now + self.tracker.tuning().stable_after),
            close_stdin: channel.close_stdin,
            close_channel: channel.close_channel,
            drains: channel.drains,
            generation,
            exit: exit_rx,
            readers: vec![stderr, channel.reader, channel.writer],
            first_seq,
            started_ms: since_ms,
            ready: channel.ready,
            answer_by: now + self.spec.start_timeout,
            late: false,
            next_line_check: now + STARTING_LINE_EVERY,
            last_line: None,
        }));
    }

    /// The router's word on the handshake of the running process.
    fn on_handshake(&mut self, word: Result<Readiness, oneshot::error::RecvError>) {
        let Phase::Running(run) = &mut self.phase else {
            return;
        };
        run.ready = None;
        let (since_ms, last_line) = (run.started_ms, run.last_line.clone());
        match word {
            Ok(Readiness::Ready) => {
                if run.late {
                    tracing::info!(server = %self.name, "`{}` answered after all: it is ready", self.name);
                }
                self.set_state(ServerState::Running { since_ms });
            }
            Ok(Readiness::Refused(reason)) => {
                run.late = true;
                self.set_state(ServerState::NotAnswering {
                    since_ms,
                    reason: format!("its process runs, but {reason}"),
                    last_line,
                });
            }
            // The router went away (bridgedock is shutting down): nothing to say.
            Err(_) => {}
        }
    }

    /// `start_timeout` passed without an answer: shown as not answering, not as crashed —
    /// its process may be alive and may answer yet.
    fn on_start_timeout(&mut self) {
        let Phase::Running(run) = &mut self.phase else {
            return;
        };
        run.late = true;
        let waited = crate::status::format_duration_ms(self.spec.start_timeout.as_millis() as u64);
        let reason = format!(
            "its process (pid {}) has not answered bridgedock's MCP handshake within {waited} (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log",
            run.pid
        );
        tracing::warn!(server = %self.name, "`{}`: {reason}", self.name);
        let (since_ms, last_line) = (run.started_ms, run.last_line.clone());
        self.set_state(ServerState::NotAnswering {
            since_ms,
            reason,
            last_line,
        });
    }

    /// Copies the newest stderr line of a process that has not answered yet into its state.
    fn check_starting_line(&mut self) {
        let Phase::Running(run) = &mut self.phase else {
            return;
        };
        run.next_line_check = Instant::now() + STARTING_LINE_EVERY;
        let filter = LogFilter {
            server: Some(self.name.clone()),
            stream: Some(Stream::Stderr),
        };
        let newest = self
            .ctx
            .logs
            .lines(&filter, None, 1)
            .into_iter()
            .find(|l| l.seq > run.first_seq)
            .map(|l| {
                logs::plain_text(&l.text)
                    .chars()
                    .take(300)
                    .collect::<String>()
            });
        if newest.is_none() || newest == run.last_line {
            return;
        }
        run.last_line = newest.clone();
        self.ctx
            .status
            .update_server(&self.name, |s| match &mut s.state {
                ServerState::Starting { last_line, .. }
                | ServerState::NotAnswering { last_line, .. } => {
                    *last_line = newest.clone();
                }
                _ => {}
            });
    }

    /// Records the exit and applies the restart policy.
    fn after_unexpected_exit(&mut self, info: ExitInfo, success: bool) {
        let decision = self
            .tracker
            .on_exit(std::time::Instant::now(), self.spec.restart, success);
        let (code, signal, last_stderr) = (info.code, info.signal, info.last_stderr.clone());
        let reason = info.reason.clone();
        self.ctx.status.update_server(&self.name, |s| {
            s.last_exit = Some(info);
        });
        match decision {
            Decision::Restart { attempt, delay } => {
                if log_attempt(attempt) {
                    tracing::warn!(
                        server = %self.name,
                        "`{}` {reason}; restarting in {} (attempt {attempt})",
                        self.name,
                        crate::status::format_duration_ms(delay.as_millis() as u64)
                    );
                }
                self.phase = Phase::Backoff {
                    until: Instant::now() + delay,
                };
                self.set_state(ServerState::Backoff {
                    attempt,
                    next_at_ms: now_ms() + delay.as_millis() as u64,
                    delay_ms: delay.as_millis() as u64,
                });
            }
            Decision::GiveUp { crashes } => {
                let window_secs = self.tracker.tuning().crash_window.as_secs();
                tracing::error!(
                    server = %self.name,
                    "`{}` {reason}; gave up after {crashes} crashes in {} — fix the cause, then start it again (dock, tray, or `bridgedockd ctl start {}`)",
                    self.name,
                    crate::status::format_duration_ms(window_secs * 1000),
                    self.name
                );
                self.phase = Phase::Idle;
                self.set_state(ServerState::Failed {
                    crashes,
                    window_secs,
                    last_stderr,
                });
            }
            Decision::LeaveDown if success => {
                tracing::info!(server = %self.name, "`{}` {reason}; its restart policy leaves it stopped", self.name);
                self.phase = Phase::Idle;
                self.set_state(ServerState::Stopped);
            }
            Decision::LeaveDown => {
                tracing::warn!(server = %self.name, "`{}` {reason}; its restart policy (`never`) leaves it down", self.name);
                self.phase = Phase::Idle;
                self.set_state(ServerState::Crashed {
                    code,
                    signal,
                    last_stderr,
                });
            }
        }
    }

    fn stderr_tail(&self, after_seq: u64) -> Vec<String> {
        let filter = LogFilter {
            server: Some(self.name.clone()),
            stream: Some(Stream::Stderr),
        };
        self.ctx
            .logs
            .lines(&filter, None, LAST_STDERR_LINES)
            .into_iter()
            .filter(|l| l.seq > after_seq)
            .map(|l| l.text.clone())
            .collect()
    }
}
