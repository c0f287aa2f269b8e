//! What the tray shows, derived from the engine's status: the aggregate state (its icon), the
//! tooltip, each server's menu title and the actions it offers, and the desktop notifications
//! changes deserve. Pure functions of a snapshot and the clock, so they are tested without a
//! display.

use bridgedock_engine::status::{ServerState, ServerStatus, format_duration_ms};

/// A server's newest stderr line in the tooltip is cut to this many characters: a tooltip is a
/// glance (Windows cuts the whole of it at 128).
pub const TOOLTIP_LINE_CHARS: usize = 48;
/// ... and in a notification, which has a few lines to itself.
pub const NOTICE_LINE_CHARS: usize = 120;

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

/// Which of Start / Stop / Restart a server offers now. The dock follows the same rules
/// (ui/src/state/server.ts `describeServer`): a live process — running, starting or not
/// answering — can be stopped or restarted, and starting it again would do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
}

pub fn actions(s: &ServerStatus) -> Actions {
    let alive = matches!(
        s.state,
        ServerState::Running { .. }
            | ServerState::Starting { .. }
            | ServerState::NotAnswering { .. }
    );
    let backoff = matches!(s.state, ServerState::Backoff { .. });
    let down = matches!(
        s.state,
        ServerState::Crashed { .. } | ServerState::Failed { .. }
    );
    Actions {
        start: down
            || matches!(
                s.state,
                ServerState::Stopped | ServerState::NoCommand { .. }
            ),
        stop: alive || backoff,
        restart: alive || backoff || down,
    }
}

/// A server's state for the tooltip, with its clock: "restarting — attempt 3, next in 8 s",
/// "starting (34 s) — npm http fetch GET 200 https://…/x 55%".
pub fn long_state(s: &ServerStatus, now_ms: u64) -> String {
    let since = |since_ms: &u64| format_duration_ms(now_ms.saturating_sub(*since_ms));
    let with_line = |head: String, line: &Option<String>| match line {
        Some(line) => format!("{head} — {}", trim_middle(line, TOOLTIP_LINE_CHARS)),
        None => head,
    };
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
        ServerState::Starting {
            since_ms,
            last_line,
        } => with_line(format!("starting ({})", since(since_ms)), last_line),
        ServerState::NotAnswering {
            since_ms,
            last_line,
            ..
        } => with_line(format!("not answering (up {})", since(since_ms)), last_line),
        other => other.describe(now_ms),
    }
}

/// `line` cut to at most `max` characters by taking out its middle: the start says what it is
/// about and the end how far it got ("npm http fetch GET 200 https://…/x 55%").
pub fn trim_middle(line: &str, max: usize) -> String {
    let line = line.trim();
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max || max < 3 {
        return line.to_string();
    }
    let keep = max - 1; // one for the ellipsis
    let head = keep * 2 / 5;
    let tail = keep - head;
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{}…{}", start.trim_end(), end.trim_start())
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

/// Whether a clock is on screen — a countdown to a restart, or how long a server has been
/// starting or not answering (the tooltip must then be refreshed every second).
pub fn has_clock(servers: &[ServerStatus]) -> bool {
    servers.iter().any(|s| {
        matches!(
            s.state,
            ServerState::Backoff { .. }
                | ServerState::Starting { .. }
                | ServerState::NotAnswering { .. }
        )
    })
}

/// What a desktop notification is about; notices of one server share its quiet time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// It crashed (and restarts, or its policy leaves it down).
    Crash,
    /// It gave up: shown at once, since it is the one that needs someone.
    GaveUp,
    /// Its process is alive but has not answered the MCP handshake in time, or refused it.
    NotAnswering,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub title: String,
    pub body: String,
}

/// The notification a change into `s.state` deserves, if any: a crash (backoff or crashed),
/// giving up (failed), or not answering. `None` for every other state.
pub fn notice(s: &ServerStatus, now_ms: u64) -> Option<Notice> {
    if let ServerState::NotAnswering {
        reason, last_line, ..
    } = &s.state
    {
        let mut body = capitalized(reason);
        if let Some(line) = last_line {
            body.push_str(&format!(
                "\nLast line: {}",
                trim_middle(line, NOTICE_LINE_CHARS)
            ));
        }
        return Some(Notice {
            kind: NoticeKind::NotAnswering,
            title: format!("{} is not answering", s.name),
            body,
        });
    }
    let (title, body) = crash_notice(s, now_ms)?;
    let kind = if matches!(s.state, ServerState::Failed { .. }) {
        NoticeKind::GaveUp
    } else {
        NoticeKind::Crash
    };
    Some(Notice { kind, title, body })
}

/// "its process (pid 7) has …" → "Its process (pid 7) has …".
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A crash (backoff or crashed) or giving up (failed), in a title and a body.
fn crash_notice(s: &ServerStatus, now_ms: u64) -> Option<(String, String)> {
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
        assert!(has_clock(&s));
        assert!(!has_clock(&s[..1]));
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
            "a: starting (34 s) — npm http fetch GET 200\nb: failed: gave up after 5 crashes in 1 min"
        );
        assert_eq!(menu_summary(&s), "2 of 2 servers need attention");
    }

    #[test]
    fn starting_is_busy_counting_with_its_last_line_cut_in_the_middle() {
        let line = "npm http fetch GET 200 https://registry.npmjs.org/@modelcontextprotocol%2fserver-everything 55%";
        let s = vec![
            running("a"),
            server(
                "everything",
                ServerState::Starting {
                    since_ms: 1_000,
                    last_line: Some(line.into()),
                },
            ),
        ];
        assert_eq!(Aggregate::of(&s), Aggregate::Busy);
        let tip = tooltip(&s, 35_000);
        assert_eq!(
            tip,
            "everything: starting (34 s) — npm http fetch GET…tocol%2fserver-everything 55%"
        );
        assert!(tip.chars().count() <= 80, "{tip}");
        assert!(has_clock(&s), "its seconds count in the tooltip");
        assert_eq!(menu_summary(&s), "everything: starting");
        assert_eq!(
            actions(&s[1]),
            Actions {
                start: false,
                stop: true,
                restart: true
            }
        );
        // nothing said yet: just the clock
        let quiet = server(
            "q",
            ServerState::Starting {
                since_ms: 0,
                last_line: None,
            },
        );
        assert_eq!(long_state(&quiet, 2_000), "starting (2 s)");
    }

    fn not_answering(last_line: Option<&str>) -> ServerStatus {
        server(
            "mute",
            ServerState::NotAnswering {
                since_ms: 0,
                reason: "its process (pid 7) has not answered bridgedock's MCP handshake within 2 min (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log".into(),
                last_line: last_line.map(Into::into),
            },
        )
    }

    #[test]
    fn not_answering_is_down_and_says_so_briefly() {
        let s = vec![
            running("a"),
            not_answering(Some("mute: up pid 7, answering nothing")),
        ];
        assert_eq!(Aggregate::of(&s), Aggregate::Down);
        assert_eq!(
            tooltip(&s, 125_000),
            "mute: not answering (up 2 min 5 s) — mute: up pid 7, answering nothing"
        );
        assert_eq!(short_state(&s[1]), "not answering");
        assert_eq!(menu_summary(&s), "mute: not answering");
        // alive: Stop and Restart; Start would do nothing
        assert_eq!(
            actions(&s[1]),
            Actions {
                start: false,
                stop: true,
                restart: true
            }
        );
    }

    #[test]
    fn not_answering_raises_a_notice_with_the_reason_and_the_last_line() {
        let n = notice(&not_answering(Some("mute: up pid 7, answering nothing")), 0).unwrap();
        assert_eq!(n.kind, NoticeKind::NotAnswering);
        assert_eq!(n.title, "mute is not answering");
        assert_eq!(
            n.body,
            "Its process (pid 7) has not answered bridgedock's MCP handshake within 2 min (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log\nLast line: mute: up pid 7, answering nothing"
        );
        let n = notice(&not_answering(None), 0).unwrap();
        assert!(!n.body.contains("Last line"), "{}", n.body);
        let long = "x".repeat(500);
        let n = notice(&not_answering(Some(&long)), 0).unwrap();
        assert!(
            n.body.lines().last().unwrap().chars().count()
                <= "Last line: ".len() + NOTICE_LINE_CHARS
        );
    }

    #[test]
    fn actions_follow_the_state_as_in_the_dock() {
        let a = |state| actions(&server("s", state));
        let (yes, no) = (true, false);
        let of = |start, stop, restart| Actions {
            start,
            stop,
            restart,
        };
        assert_eq!(a(ServerState::Running { since_ms: 0 }), of(no, yes, yes));
        assert_eq!(a(ServerState::Stopped), of(yes, no, no));
        assert_eq!(a(ServerState::Stopping), of(no, no, no));
        assert_eq!(
            a(ServerState::Backoff {
                attempt: 1,
                next_at_ms: 0,
                delay_ms: 1
            }),
            of(no, yes, yes)
        );
        assert_eq!(
            a(ServerState::Crashed {
                code: Some(1),
                signal: None,
                last_stderr: vec![]
            }),
            of(yes, no, yes)
        );
        assert_eq!(
            a(ServerState::Failed {
                crashes: 10,
                window_secs: 300,
                last_stderr: vec![]
            }),
            of(yes, no, yes)
        );
        assert_eq!(
            a(ServerState::NoCommand {
                program: "npx".into(),
                hint: String::new()
            }),
            of(yes, no, no)
        );
    }

    #[test]
    fn a_long_line_loses_its_middle() {
        assert_eq!(trim_middle("  short  ", 10), "short");
        let cut = trim_middle("abcdefghijklmnopqrstuvwxyz", 11);
        assert_eq!(cut, "abcd…uvwxyz");
        assert_eq!(cut.chars().count(), 11);
        // by characters, not bytes
        assert_eq!(trim_middle("ééééééééééééé", 6).chars().count(), 6);
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
    fn only_crashes_giving_up_and_not_answering_are_noticed() {
        assert!(notice(&running("a"), 0).is_none());
        assert!(notice(&server("a", ServerState::Stopped), 0).is_none());
        let starting = ServerState::Starting {
            since_ms: 0,
            last_line: None,
        };
        assert!(notice(&server("a", starting), 0).is_none());
        let n = notice(
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
        assert_eq!((n.kind, n.title.as_str()), (NoticeKind::Crash, "a crashed"));
        assert!(n.body.contains("restarting in 2 s"), "{}", n.body);
        let failed = ServerState::Failed {
            crashes: 10,
            window_secs: 300,
            last_stderr: vec![],
        };
        let n = notice(&server("a", failed), 0).unwrap();
        assert_eq!(
            (n.kind, n.title.as_str()),
            (NoticeKind::GaveUp, "a gave up")
        );
    }
}
