//! What the tray writes, from the engine's status: the tooltip (with its clocks) and the desktop
//! notifications changes deserve. What states mean — health, words, actions — is the engine's
//! (`status::Meaning`, `status::Overview`); this only renders. Pure functions of a snapshot and
//! the clock, so they are tested without a display.

use bridgedock_engine::status::{Health, ServerState, ServerStatus, Snapshot, format_duration_ms};

/// A server's newest stderr line in the tooltip is cut to this many characters: a tooltip is a
/// glance (Windows cuts the whole of it at 128).
pub const TOOLTIP_LINE_CHARS: usize = 48;
/// ... and in a notification, which has a few lines to itself.
pub const NOTICE_LINE_CHARS: usize = 120;

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
        // Stopped on request, or exited by itself: the engine's words say which.
        ServerState::Stopped => s.meaning.summary.clone(),
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

/// The tooltip: the engine's overview ("3 servers ready"), or one line per server that needs
/// attention, with its clock ("time: restarting — attempt 3, next in 8 s").
pub fn tooltip(snapshot: &Snapshot, now_ms: u64) -> String {
    let attention: Vec<&ServerStatus> = snapshot
        .servers
        .iter()
        .filter(|s| matches!(s.meaning.health, Health::Down | Health::Busy))
        .collect();
    if attention.is_empty() {
        return snapshot.overview.summary.clone();
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
    use bridgedock_engine::status::{BridgeStatus, ExitInfo, Meaning, Overview};

    /// A server in `state`, with the meaning the engine's status hub gives it.
    pub fn server(name: &str, state: ServerState) -> ServerStatus {
        let mut s = ServerStatus {
            state,
            ..ServerStatus::new(name)
        };
        s.meaning = Meaning::of(&s);
        s
    }

    /// A snapshot of `servers`, with the engine's overview.
    pub fn snapshot(servers: Vec<ServerStatus>) -> Snapshot {
        Snapshot {
            bridge: BridgeStatus::default(),
            overview: Overview::of(&servers),
            servers,
            clients: Vec::new(),
        }
    }

    fn running(name: &str) -> ServerStatus {
        server(name, ServerState::Running { since_ms: 0 })
    }

    #[test]
    fn all_running_shows_the_engines_overview() {
        let s = snapshot(vec![running("a"), running("b"), running("time")]);
        assert_eq!(tooltip(&s, 0), "3 servers ready");
        assert_eq!(tooltip(&snapshot(vec![running("a")]), 0), "1 server ready");
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
        assert!(has_clock(&s));
        let s = snapshot(s);
        assert_eq!(
            tooltip(&s, 2_000),
            "time: restarting — attempt 3, next in 8 s"
        );
        let s = s.servers;
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
        assert_eq!(
            tooltip(&snapshot(s), 35_000),
            "a: starting (34 s) — npm http fetch GET 200\nb: failed: gave up after 5 crashes in 1 min"
        );
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
        let tip = tooltip(&snapshot(s.clone()), 35_000);
        assert_eq!(
            tip,
            "everything: starting (34 s) — npm http fetch GET…tocol%2fserver-everything 55%"
        );
        assert!(tip.chars().count() <= 80, "{tip}");
        assert!(has_clock(&s), "its seconds count in the tooltip");
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
        assert_eq!(
            tooltip(&snapshot(s), 125_000),
            "mute: not answering (up 2 min 5 s) — mute: up pid 7, answering nothing"
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
    fn a_long_line_loses_its_middle() {
        assert_eq!(trim_middle("  short  ", 10), "short");
        let cut = trim_middle("abcdefghijklmnopqrstuvwxyz", 11);
        assert_eq!(cut, "abcd…uvwxyz");
        assert_eq!(cut.chars().count(), 11);
        // by characters, not bytes
        assert_eq!(trim_middle("ééééééééééééé", 6).chars().count(), 6);
    }

    #[test]
    fn stopped_on_request_is_counted_and_exiting_alone_is_listed() {
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
        stopped.meaning = Meaning::of(&stopped);
        let s = snapshot(vec![running("b"), stopped.clone()]);
        assert_eq!(tooltip(&s, 0), "1 ready · 1 stopped");
        stopped.last_exit = Some(exit(false));
        stopped.meaning = Meaning::of(&stopped);
        let s = snapshot(vec![running("b"), stopped]);
        assert_eq!(
            tooltip(&s, 0),
            "a: exited with code 0 by itself, not restarted"
        );
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
