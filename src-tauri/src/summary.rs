//! What the tray shows, derived from the engine's status: the aggregate state (its icon), the
//! tooltip, and each server's menu title. Pure functions of a snapshot and the clock, so they
//! are tested without a display.

use bridgedock_engine::status::{ServerState, ServerStatus, format_duration_ms};

/// The tray icon's three looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Every server that should run is running.
    Ok,
    /// Something is starting, stopping or waiting to restart.
    Busy,
    /// Something crashed, gave up, cannot start, or stopped on its own.
    Down,
}

impl Aggregate {
    pub fn of(servers: &[ServerStatus]) -> Aggregate {
        if servers.iter().any(is_down) {
            Aggregate::Down
        } else if servers.iter().any(is_busy) {
            Aggregate::Busy
        } else {
            Aggregate::Ok
        }
    }
}

fn is_busy(s: &ServerStatus) -> bool {
    matches!(
        s.state,
        ServerState::Starting { .. } | ServerState::Stopping | ServerState::Backoff { .. }
    )
}

fn is_down(s: &ServerStatus) -> bool {
    match &s.state {
        ServerState::Crashed { .. }
        | ServerState::Failed { .. }
        | ServerState::NoCommand { .. }
        | ServerState::NotAnswering { .. } => true,
        // Stopped by nobody: it exited by itself and its policy left it down.
        ServerState::Stopped => s.last_exit.as_ref().is_some_and(|e| !e.requested),
        _ => false,
    }
}

/// A server's state in a few words, for its menu title: "running", "restarting (attempt 3)".
pub fn short_state(s: &ServerStatus) -> String {
    match &s.state {
        ServerState::Backoff { attempt, .. } => format!("restarting (attempt {attempt})"),
        ServerState::Failed { .. } => "failed (gave up)".to_string(),
        ServerState::Crashed { .. } => "crashed".to_string(),
        ServerState::NoCommand { program, .. } => format!("cannot start: {program} not found"),
        ServerState::NotAnswering { .. } => "not answering".to_string(),
        ServerState::Stopped if is_down(s) => "stopped (exited)".to_string(),
        other => other.name().to_string(),
    }
}

/// A server's state for the tooltip, with its countdown: "restarting — attempt 3, next in 8 s".
pub fn long_state(s: &ServerStatus, now_ms: u64) -> String {
    match &s.state {
        ServerState::Backoff {
            attempt,
            next_at_ms,
            ..
        } => format!(
            "restarting — attempt {attempt}, next in {}",
            format_duration_ms(next_at_ms.saturating_sub(now_ms))
        ),
        ServerState::Running { .. } => "running".to_string(),
        other => other.describe(now_ms),
    }
}

/// The tooltip: "3 servers ready", or one line per server that needs attention.
pub fn tooltip(servers: &[ServerStatus], now_ms: u64) -> String {
    let attention: Vec<&ServerStatus> = servers
        .iter()
        .filter(|s| is_down(s) || is_busy(s))
        .collect();
    if attention.is_empty() {
        return ready_line(servers);
    }
    const MAX_LINES: usize = 5;
    let mut lines: Vec<String> = attention
        .iter()
        .take(MAX_LINES)
        .map(|s| format!("{}: {}", s.name, long_state(s, now_ms)))
        .collect();
    if attention.len() > MAX_LINES {
        lines.push(format!("… and {} more", attention.len() - MAX_LINES));
    }
    lines.join("\n")
}

/// The first line of the tray menu: like the tooltip, without countdowns (so that the menu is
/// not rebuilt every second): "3 servers ready", "time: restarting (attempt 3)".
pub fn menu_summary(servers: &[ServerStatus]) -> String {
    let attention: Vec<&ServerStatus> = servers
        .iter()
        .filter(|s| is_down(s) || is_busy(s))
        .collect();
    match attention.as_slice() {
        [] => ready_line(servers),
        [one] => format!("{}: {}", one.name, short_state(one)),
        many => format!("{} of {} servers need attention", many.len(), servers.len()),
    }
}

/// "3 servers ready", "2 servers ready, 1 stopped", "no servers configured".
pub fn ready_line(servers: &[ServerStatus]) -> String {
    if servers.is_empty() {
        return "no servers configured".to_string();
    }
    let running = servers
        .iter()
        .filter(|s| matches!(s.state, ServerState::Running { .. }))
        .count();
    let stopped = servers
        .iter()
        .filter(|s| matches!(s.state, ServerState::Stopped))
        .count();
    let noun = if running == 1 { "server" } else { "servers" };
    match (running, stopped) {
        (0, _) if stopped == servers.len() => format!(
            "{stopped} server{} stopped",
            if stopped == 1 { "" } else { "s" }
        ),
        (r, 0) => format!("{r} {noun} ready"),
        (r, s) => format!("{r} {noun} ready, {s} stopped"),
    }
}

/// Whether a countdown is on screen (the tooltip must then be refreshed every second).
pub fn has_countdown(servers: &[ServerStatus]) -> bool {
    servers
        .iter()
        .any(|s| matches!(s.state, ServerState::Backoff { .. }))
}

/// The notification a change into `s.state` deserves, if any: a crash (backoff or crashed)
/// or giving up (failed). `None` for every other state.
pub fn crash_notice(s: &ServerStatus, now_ms: u64) -> Option<(String, String)> {
    let why = s
        .last_exit
        .as_ref()
        .map(|e| e.reason.clone())
        .unwrap_or_default();
    let tail = s
        .last_exit
        .as_ref()
        .and_then(|e| e.last_stderr.last())
        .map(|l| format!("\n{l}"))
        .unwrap_or_default();
    match &s.state {
        // The delay as the policy chose it ("1 s"), not what is left of it by the time the
        // change arrives here ("995 ms").
        ServerState::Backoff { delay_ms, .. } => Some((
            format!("{} crashed", s.name),
            format!(
                "{why}; restarting in {}{tail}",
                format_duration_ms(*delay_ms)
            ),
        )),
        ServerState::Crashed { code, signal, .. } => Some((
            format!("{} crashed", s.name),
            format!(
                "{}; its restart policy leaves it stopped{tail}",
                bridgedock_engine::status::describe_exit(*code, *signal)
            ),
        )),
        ServerState::Failed { .. } => Some((
            format!("{} gave up", s.name),
            format!("{}{tail}", s.state.describe(now_ms)),
        )),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bridgedock_engine::status::ExitInfo;

    pub fn server(name: &str, state: ServerState) -> ServerStatus {
        ServerStatus {
            state,
            ..ServerStatus::new(name)
        }
    }

    fn running(name: &str) -> ServerStatus {
        server(name, ServerState::Running { since_ms: 0 })
    }

    #[test]
    fn all_running_is_ok_and_counts_them() {
        let s = vec![running("a"), running("b"), running("time")];
        assert_eq!(Aggregate::of(&s), Aggregate::Ok);
        assert_eq!(tooltip(&s, 0), "3 servers ready");
        assert_eq!(tooltip(&s[..1], 0), "1 server ready");
    }

    #[test]
    fn backoff_is_busy_with_a_countdown() {
        let s = vec![
            running("a"),
            server(
                "time",
                ServerState::Backoff {
                    attempt: 3,
                    next_at_ms: 10_000,
                    delay_ms: 8_000,
                },
            ),
        ];
        assert_eq!(Aggregate::of(&s), Aggregate::Busy);
        assert_eq!(
            tooltip(&s, 2_000),
            "time: restarting — attempt 3, next in 8 s"
        );
        assert_eq!(short_state(&s[1]), "restarting (attempt 3)");
        assert_eq!(menu_summary(&s), "time: restarting (attempt 3)");
        assert!(has_countdown(&s));
    }

    #[test]
    fn failures_win_over_busy() {
        let s = vec![
            server(
                "a",
                ServerState::Starting {
                    since_ms: 1_000,
                    last_line: Some("npm http fetch GET 200".into()),
                },
            ),
            server(
                "b",
                ServerState::Failed {
                    crashes: 5,
                    window_secs: 60,
                    last_stderr: vec![],
                },
            ),
        ];
        assert_eq!(Aggregate::of(&s), Aggregate::Down);
        assert_eq!(
            tooltip(&s, 35_000),
            "a: starting for 34 s, waiting for its first answer — npm http fetch GET 200\nb: failed: gave up after 5 crashes in 1 min"
        );
        assert_eq!(menu_summary(&s), "2 of 2 servers need attention");
    }

    #[test]
    fn stopped_on_request_is_fine_but_exiting_alone_is_down() {
        let mut stopped = server("a", ServerState::Stopped);
        let exit = |requested| ExitInfo {
            at_ms: 0,
            code: Some(0),
            signal: None,
            reason: "exited with code 0".into(),
            requested,
            last_stderr: vec![],
        };
        stopped.last_exit = Some(exit(true));
        let s = vec![running("b"), stopped.clone()];
        assert_eq!(Aggregate::of(&s), Aggregate::Ok);
        assert_eq!(tooltip(&s, 0), "1 server ready, 1 stopped");
        stopped.last_exit = Some(exit(false));
        assert_eq!(Aggregate::of(&[stopped.clone()]), Aggregate::Down);
        assert_eq!(short_state(&stopped), "stopped (exited)");
    }

    #[test]
    fn only_crashes_and_giving_up_are_noticed() {
        assert!(crash_notice(&running("a"), 0).is_none());
        assert!(crash_notice(&server("a", ServerState::Stopped), 0).is_none());
        let (title, body) = crash_notice(
            &server(
                "a",
                ServerState::Backoff {
                    attempt: 1,
                    next_at_ms: 2_000,
                    delay_ms: 2_000,
                },
            ),
            5,
        )
        .unwrap();
        assert_eq!(title, "a crashed");
        assert!(body.contains("restarting in 2 s"), "{body}");
    }
}
