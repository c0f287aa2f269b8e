//! How a process ends: asked to stop (stdin closed, SIGTERM, the grace, SIGKILL — always to
//! its whole group), or by itself. The router is told first, so calls in flight fail at once
//! (or, for a server that still answers while it stops, once it has exited); then its group
//! and its readers are finished.

use std::process::ExitStatus;

use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

use super::{Actor, DRAIN_WAIT, EOF_WAIT_MAX, GROUP_POLL, KILL_WAIT, Phase, Running};
use crate::status::{ExitInfo, ServerState, now_ms};
use crate::supervisor::link::LinkEvent;
use crate::supervisor::platform::{self, GroupSignal};

impl Actor {
    pub(super) async fn on_exit(&mut self, result: std::io::Result<ExitStatus>) {
        let Phase::Running(mut run) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        let (code, signal) = exit_parts(&result);
        self.link_down(run.generation, crate::status::describe_exit(code, signal))
            .await;
        // Whatever the server left behind in its group goes with it.
        run.close_stdin.cancel();
        run.close_channel.cancel();
        finish_group(run.pgid, Instant::now() + self.spec.stop_grace, false).await;
        drain_readers(&mut run.readers).await;
        self.ctx.records.remove(run.pid);
        let ran_for = run.since.elapsed();
        let info = ExitInfo {
            at_ms: now_ms(),
            code,
            signal,
            reason: match &result {
                Ok(_) => format!(
                    "{} after {}",
                    crate::status::describe_exit(code, signal),
                    crate::status::format_duration_ms(ran_for.as_millis() as u64)
                ),
                Err(err) => format!("lost track of the process: {err}"),
            },
            requested: false,
            last_stderr: self.stderr_tail(run.first_seq),
        };
        self.after_unexpected_exit(info, code == Some(0));
    }

    /// Stop = close stdin, SIGTERM to the group, grace, SIGKILL to the group.
    pub(super) async fn stop_running(&mut self, mut run: Running, reason: &str) {
        self.set_state(ServerState::Stopping);
        if run.drains {
            self.link_draining(run.generation).await;
        } else {
            self.link_down(run.generation, reason.to_string()).await;
        }
        let grace = self.spec.stop_grace;
        let deadline = Instant::now() + grace;
        run.close_stdin.cancel();
        let mut result = timeout((grace / 5).min(EOF_WAIT_MAX), &mut run.exit)
            .await
            .ok();
        let mut signalled = false;
        if result.is_none() {
            signalled = true;
            let _ = platform::signal_group(run.pgid, GroupSignal::Terminate);
            result = timeout_at(deadline, &mut run.exit).await.ok();
        }
        if result.is_none() {
            tracing::warn!(server = %self.name, "`{}` did not exit within {} of SIGTERM; killing its process group", self.name, crate::status::format_duration_ms(grace.as_millis() as u64));
            let _ = platform::signal_group(run.pgid, GroupSignal::Kill);
            result = timeout(KILL_WAIT, &mut run.exit).await.ok();
        }
        if run.drains {
            self.link_down(run.generation, reason.to_string()).await;
        }
        run.close_channel.cancel();
        finish_group(run.pgid, deadline, signalled).await;
        drain_readers(&mut run.readers).await;
        self.ctx.records.remove(run.pid);
        let exit = result.and_then(|r| r.ok()).and_then(|r| r.ok());
        let (code, signal) = exit_parts(&exit.ok_or(()));
        self.ctx.status.update_server(&self.name, |s| {
            s.last_exit = Some(ExitInfo {
                at_ms: now_ms(),
                code,
                signal,
                reason: reason.to_string(),
                requested: true,
                last_stderr: Vec::new(),
            });
        });
        tracing::info!(server = %self.name, "`{}` {reason} (pid {})", self.name, run.pid);
    }

    /// Tells the router this process is being stopped: nothing new goes to it, what it answers
    /// still comes back, until `Down`.
    async fn link_draining(&self, generation: u64) {
        if let Some(link_tx) = &self.ctx.link {
            let _ = link_tx.send(LinkEvent::Draining { generation }).await;
        }
    }

    /// Tells the router this process is going away, before anything is reaped.
    async fn link_down(&self, generation: u64, reason: String) {
        if let Some(link_tx) = &self.ctx.link {
            let _ = link_tx.send(LinkEvent::Down { generation, reason }).await;
        }
    }
}

/// The leader has exited; make sure no member of its group survives it. Members get SIGTERM
/// (unless it was already sent to the group), then SIGKILL at `deadline`.
async fn finish_group(pgid: u32, deadline: Instant, already_signalled: bool) {
    if platform::group_members(pgid).is_empty() {
        return;
    }
    if !already_signalled {
        let _ = platform::signal_group(pgid, GroupSignal::Terminate);
    }
    while Instant::now() < deadline && !platform::group_members(pgid).is_empty() {
        tokio::time::sleep(GROUP_POLL).await;
    }
    if !platform::group_members(pgid).is_empty() {
        let _ = platform::signal_group(pgid, GroupSignal::Kill);
        let until = Instant::now() + KILL_WAIT;
        while Instant::now() < until && !platform::group_members(pgid).is_empty() {
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
}

async fn drain_readers(readers: &mut Vec<JoinHandle<()>>) {
    for reader in readers.drain(..) {
        let abort = reader.abort_handle();
        if timeout(DRAIN_WAIT, reader).await.is_err() {
            abort.abort();
        }
    }
}

pub(super) fn exit_parts<E>(result: &Result<ExitStatus, E>) -> (Option<i32>, Option<i32>) {
    match result {
        Ok(status) => {
            #[cfg(unix)]
            let signal = std::os::unix::process::ExitStatusExt::signal(status);
            #[cfg(not(unix))]
            let signal = None;
            (status.code(), signal)
        }
        Err(_) => (None, None),
    }
}
