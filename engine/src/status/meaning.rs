//! What a server's state means — decided once, here, for every face.
//!
//! The tray, the dock, the browser and `ctl` render these; none of them decides what is healthy,
//! what a state is called or which buttons it offers. (They used to, each on its own, and
//! disagreed: a server that exited by itself was red in the tray and grey in the dock.) The
//! types are part of the status model ([`super::model`]); what they say is decided here.

use super::model::{Actions, Health, Meaning, Overview, ServerState, ServerStatus};

impl Default for Overview {
    fn default() -> Self {
        Overview::of(&[])
    }
}

impl Meaning {
    pub fn of(s: &ServerStatus) -> Meaning {
        let exited_by_itself =
            |s: &ServerStatus| s.last_exit.as_ref().is_some_and(|e| !e.requested);
        let (health, words, summary) = match &s.state {
            ServerState::Running { .. } => (Health::Ok, "Running", "running".to_owned()),
            ServerState::Starting { .. } => (Health::Busy, "Starting", "starting".to_owned()),
            ServerState::Stopping => (Health::Busy, "Stopping", "stopping".to_owned()),
            ServerState::Backoff { attempt, .. } => (
                Health::Busy,
                "Restarting",
                format!("restarting (attempt {attempt})"),
            ),
            ServerState::NotAnswering { .. } => {
                (Health::Down, "Not answering", "not answering".to_owned())
            }
            ServerState::Crashed { .. } => (Health::Down, "Crashed", "crashed".to_owned()),
            ServerState::Failed { .. } => (Health::Down, "Failed", "failed (gave up)".to_owned()),
            ServerState::NoCommand { program, .. } => (
                Health::Down,
                "Not installed",
                format!("cannot start: {program} not found"),
            ),
            ServerState::Stopped if exited_by_itself(s) => {
                let how = s
                    .last_exit
                    .as_ref()
                    .map(|e| super::describe_exit(e.code, e.signal))
                    .unwrap_or_default();
                (
                    Health::Down,
                    "Exited",
                    format!("{how} by itself, not restarted"),
                )
            }
            ServerState::Stopped => (Health::Idle, "Stopped", "stopped".to_owned()),
        };
        Meaning {
            health,
            words: words.to_owned(),
            summary,
            actions: Actions::of(&s.state),
        }
    }
}

impl Actions {
    pub fn of(state: &ServerState) -> Actions {
        use ServerState::*;
        let alive = matches!(
            state,
            Running { .. } | Starting { .. } | NotAnswering { .. }
        );
        let backoff = matches!(state, Backoff { .. });
        let gave_up = matches!(state, Crashed { .. } | Failed { .. });
        Actions {
            start: gave_up || matches!(state, Stopped | NoCommand { .. }),
            stop: alive || backoff,
            restart: alive || backoff || gave_up,
        }
    }
}

impl Overview {
    /// The worst health wins; the summary counts servers by what their badges say.
    pub fn of(servers: &[ServerStatus]) -> Overview {
        if servers.is_empty() {
            return Overview {
                health: Health::Idle,
                summary: "No servers configured".to_owned(),
            };
        }
        let health = if servers.iter().any(|s| s.meaning.health == Health::Down) {
            Health::Down
        } else if servers.iter().any(|s| s.meaning.health == Health::Busy) {
            Health::Busy
        } else if servers.iter().any(|s| s.meaning.health == Health::Ok) {
            Health::Ok
        } else {
            Health::Idle
        };
        let ready = servers
            .iter()
            .filter(|s| s.meaning.health == Health::Ok)
            .count();
        if ready == servers.len() {
            let noun = if ready == 1 { "server" } else { "servers" };
            return Overview {
                health,
                summary: format!("{ready} {noun} ready"),
            };
        }
        // In this order, each with how many: "1 ready · 2 restarting · 1 failed".
        const PARTS: [(&str, &[&str]); 9] = [
            ("ready", &["Running"]),
            ("restarting", &["Restarting"]),
            ("starting", &["Starting"]),
            ("not answering", &["Not answering"]),
            ("stopping", &["Stopping"]),
            ("failed", &["Failed", "Crashed"]),
            ("not installed", &["Not installed"]),
            ("exited", &["Exited"]),
            ("stopped", &["Stopped"]),
        ];
        let parts: Vec<String> = PARTS
            .iter()
            .filter_map(|(label, words)| {
                let n = servers
                    .iter()
                    .filter(|s| words.contains(&s.meaning.words.as_str()))
                    .count();
                (n > 0).then(|| format!("{n} {label}"))
            })
            .collect();
        Overview {
            health,
            summary: parts.join(" · "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ExitInfo;

    fn server(name: &str, state: ServerState) -> ServerStatus {
        let mut s = ServerStatus {
            state,
            ..ServerStatus::new(name)
        };
        s.meaning = Meaning::of(&s);
        s
    }

    fn running(name: &str) -> ServerStatus {
        server(name, ServerState::Running { since_ms: 0 })
    }

    fn backoff() -> ServerState {
        ServerState::Backoff {
            attempt: 3,
            next_at_ms: 0,
            delay_ms: 8_000,
        }
    }

    fn exit(requested: bool) -> ExitInfo {
        ExitInfo {
            at_ms: 0,
            code: Some(0),
            signal: None,
            reason: "exited with code 0".into(),
            requested,
            last_stderr: vec![],
        }
    }

    #[test]
    fn all_running_is_ready() {
        let o = Overview::of(&[running("a"), running("b"), running("c")]);
        assert_eq!(o.health, Health::Ok);
        assert_eq!(o.summary, "3 servers ready");
        assert_eq!(Overview::of(&[running("a")]).summary, "1 server ready");
        let none = Overview::of(&[]);
        assert_eq!(
            (none.health, none.summary.as_str()),
            (Health::Idle, "No servers configured")
        );
    }

    #[test]
    fn the_worst_health_wins_and_every_kind_is_counted() {
        let o = Overview::of(&[running("a"), server("b", backoff())]);
        assert_eq!(
            (o.health, o.summary.as_str()),
            (Health::Busy, "1 ready · 1 restarting")
        );
        let failed = ServerState::Failed {
            crashes: 5,
            window_secs: 60,
            last_stderr: vec![],
        };
        let crashed = ServerState::Crashed {
            code: Some(1),
            signal: None,
            last_stderr: vec![],
        };
        let missing = ServerState::NoCommand {
            program: "npx".into(),
            hint: String::new(),
        };
        let o = Overview::of(&[
            server("a", backoff()),
            server("b", failed),
            server("c", crashed),
            server("d", missing),
        ]);
        assert_eq!(
            (o.health, o.summary.as_str()),
            (Health::Down, "1 restarting · 2 failed · 1 not installed")
        );
        let o = Overview::of(&[server("a", ServerState::Stopped)]);
        assert_eq!((o.health, o.summary.as_str()), (Health::Idle, "1 stopped"));
    }

    #[test]
    fn a_server_that_exited_by_itself_needs_someone_one_stopped_on_request_does_not() {
        let mut s = server("a", ServerState::Stopped);
        s.last_exit = Some(exit(true));
        let m = Meaning::of(&s);
        assert_eq!((m.health, m.words.as_str()), (Health::Idle, "Stopped"));
        s.last_exit = Some(exit(false));
        let m = Meaning::of(&s);
        assert_eq!(
            (m.health, m.words.as_str(), m.summary.as_str()),
            (
                Health::Down,
                "Exited",
                "exited with code 0 by itself, not restarted"
            )
        );
        assert!(m.actions.start && !m.actions.stop && !m.actions.restart);
        s.meaning = m;
        let o = Overview::of(&[running("b"), s]);
        assert_eq!(
            (o.health, o.summary.as_str()),
            (Health::Down, "1 ready · 1 exited")
        );
    }

    #[test]
    fn actions_follow_the_state() {
        let a = |state| Actions::of(&state);
        let of = |start, stop, restart| Actions {
            start,
            stop,
            restart,
        };
        let (yes, no) = (true, false);
        assert_eq!(a(ServerState::Running { since_ms: 0 }), of(no, yes, yes));
        let starting = ServerState::Starting {
            since_ms: 0,
            last_line: None,
        };
        assert_eq!(a(starting), of(no, yes, yes));
        let mute = ServerState::NotAnswering {
            since_ms: 0,
            reason: String::new(),
            last_line: None,
        };
        assert_eq!(a(mute), of(no, yes, yes));
        assert_eq!(a(ServerState::Stopped), of(yes, no, no));
        assert_eq!(a(ServerState::Stopping), of(no, no, no));
        // Waiting to restart: Start would do nothing, Stop keeps it down, Restart goes now.
        assert_eq!(a(backoff()), of(no, yes, yes));
        let crashed = ServerState::Crashed {
            code: Some(1),
            signal: None,
            last_stderr: vec![],
        };
        assert_eq!(a(crashed), of(yes, no, yes));
        let failed = ServerState::Failed {
            crashes: 10,
            window_secs: 300,
            last_stderr: vec![],
        };
        assert_eq!(a(failed), of(yes, no, yes));
        let missing = ServerState::NoCommand {
            program: "npx".into(),
            hint: String::new(),
        };
        assert_eq!(a(missing), of(yes, no, no));
    }

    #[test]
    fn summaries_have_no_clock() {
        assert_eq!(
            Meaning::of(&server("a", backoff())).summary,
            "restarting (attempt 3)"
        );
        let missing = ServerState::NoCommand {
            program: "uvx".into(),
            hint: "install uv".into(),
        };
        let m = Meaning::of(&server("a", missing));
        assert_eq!(
            (m.words.as_str(), m.summary.as_str()),
            ("Not installed", "cannot start: uvx not found")
        );
    }
}
