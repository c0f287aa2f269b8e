//! What bridgedock reports about itself, its servers and the clients connected to them.
//!
//! Times are unix epoch milliseconds so a browser can show countdowns and local times without
//! knowing the engine's clock; durations derived from them (uptime) are filled in when a
//! snapshot is taken.

use serde::{Deserialize, Serialize};

use crate::config::{RestartPolicy, Transport};

/// Milliseconds since the unix epoch, the timestamp unit of the whole status model.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a server is in its life. Serialized as `{"state": "backoff", "attempt": 3, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ServerState {
    /// Not running, and nobody expects it to be.
    Stopped,
    /// Being spawned, or spawned and not yet answering bridgedock's MCP handshake (`npx`/`uvx`
    /// may be downloading it): `last_line` is its latest stderr line, which says how far it got.
    Starting {
        since_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_line: Option<String>,
    },
    /// Its process is alive and has answered the MCP handshake (its pid is in
    /// [`ServerStatus::pid`]): it is ready.
    Running { since_ms: u64 },
    /// Its process is alive but has not answered the MCP handshake within `start_timeout`, or
    /// refused it: `reason` says which. It is not crashed; it may still answer.
    NotAnswering {
        since_ms: u64,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_line: Option<String>,
    },
    /// Being stopped: stdin closed, then SIGTERM, then SIGKILL to its process group.
    Stopping,
    /// Waiting to restart after a crash.
    Backoff {
        attempt: u32,
        next_at_ms: u64,
        delay_ms: u64,
    },
    /// Exited unexpectedly and its restart policy says not to restart it.
    Crashed {
        code: Option<i32>,
        signal: Option<i32>,
        last_stderr: Vec<String>,
    },
    /// Gave up: it crashed too often in too short a time.
    Failed {
        crashes: u32,
        window_secs: u64,
        last_stderr: Vec<String>,
    },
    /// Its program is not on PATH; `hint` says what to install. (Named `program`, not
    /// `command`: the state is flattened into [`ServerStatus`], which has a `command` already.)
    NoCommand { program: String, hint: String },
}

impl ServerState {
    /// The state's name as users see it: `running`, `backoff`, `no-command`, ...
    pub fn name(&self) -> &'static str {
        match self {
            ServerState::Stopped => "stopped",
            ServerState::Starting { .. } => "starting",
            ServerState::Running { .. } => "running",
            ServerState::NotAnswering { .. } => "not-answering",
            ServerState::Stopping => "stopping",
            ServerState::Backoff { .. } => "backoff",
            ServerState::Crashed { .. } => "crashed",
            ServerState::Failed { .. } => "failed",
            ServerState::NoCommand { .. } => "no-command",
        }
    }

    /// The whole story in one line, e.g. `backoff: attempt 3, next try in 8 s`, or `starting for
    /// 34 s, waiting for its first answer — last line: npm http fetch …` (what `ctl start`
    /// answers). A table's column takes [`ServerState::headline`] instead.
    pub fn describe(&self, now_ms: u64) -> String {
        match self {
            ServerState::Running { since_ms } => format!(
                "running (up {})",
                format_duration_ms(now_ms.saturating_sub(*since_ms))
            ),
            ServerState::Starting {
                since_ms,
                last_line,
            } => {
                let mut s = format!(
                    "starting for {}, waiting for its first answer",
                    format_duration_ms(now_ms.saturating_sub(*since_ms))
                );
                if let Some(line) = last_line {
                    s.push_str(&format!(" — last line: {line}"));
                }
                s
            }
            ServerState::NotAnswering { reason, .. } => format!("not answering: {reason}"),
            ServerState::Backoff {
                attempt,
                next_at_ms,
                ..
            } => format!(
                "backoff: attempt {attempt}, next try in {}",
                format_duration_ms(next_at_ms.saturating_sub(now_ms))
            ),
            ServerState::Crashed { code, signal, .. } => {
                format!("crashed ({})", describe_exit(*code, *signal))
            }
            ServerState::Failed {
                crashes,
                window_secs,
                ..
            } => format!(
                "failed: gave up after {crashes} crashes in {}",
                format_duration_ms(window_secs * 1000)
            ),
            ServerState::NoCommand { program, hint } => {
                format!("no-command: \"{program}\" not found on PATH — {hint}")
            }
            other => other.name().to_string(),
        }
    }

    /// The state in a few words, for a table's column: `starting (34 s)`, `not answering (up 2
    /// min)`, `no-command: "npx" not found`. What it leaves out is in [`ServerState::details`].
    pub fn headline(&self, now_ms: u64) -> String {
        let since = |since_ms: &u64| format_duration_ms(now_ms.saturating_sub(*since_ms));
        match self {
            ServerState::Starting { since_ms, .. } => format!("starting ({})", since(since_ms)),
            ServerState::NotAnswering { since_ms, .. } => {
                format!("not answering (up {})", since(since_ms))
            }
            ServerState::NoCommand { program, .. } => {
                format!("no-command: \"{program}\" not found")
            }
            other => other.describe(now_ms),
        }
    }

    /// What [`ServerState::headline`] leaves out, a line each: why it is not answering, its
    /// newest stderr line while it starts, what to install. Empty when the headline says it all.
    pub fn details(&self) -> Vec<String> {
        let last = |line: &Option<String>| line.as_ref().map(|l| format!("last line: {l}"));
        match self {
            ServerState::Starting { last_line, .. } => last(last_line).into_iter().collect(),
            ServerState::NotAnswering {
                reason, last_line, ..
            } => std::iter::once(reason.clone())
                .chain(last(last_line))
                .collect(),
            ServerState::NoCommand { hint, .. } => vec![hint.clone()],
            _ => Vec::new(),
        }
    }
}

/// "exited with code 1", "killed by signal 9 (SIGKILL)".
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}{}", signal_name(sig)),
        (None, None) => "exited".to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// "8 s", "2 min 5 s", "3 h 4 min".
pub fn format_duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let secs = ms.div_ceil(1000);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => match s % 60 {
            0 => format!("{} min", s / 60),
            r => format!("{} min {r} s", s / 60),
        },
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A link's circuit breaker, as status shows it: closed (passing), open (paused after repeated
/// failures), half-open (letting one attempt through). The breaker itself belongs to whoever
/// keeps the link (godot-ai's editor relay today).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

/// How a server's previous process ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub at_ms: u64,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// In words: "exited with code 1", "stopped by request", "failed to start: ...".
    pub reason: String,
    /// True when bridgedock asked it to stop.
    pub requested: bool,
    pub last_stderr: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub name: String,
    #[serde(flatten)]
    pub state: ServerState,
    pub pid: Option<u32>,
    pub started_at_ms: Option<u64>,
    /// Filled in when a snapshot is taken.
    pub uptime_ms: Option<u64>,
    /// How many times it was started again after its first start, automatically or by request.
    pub restarts: u32,
    pub transport: Transport,
    pub restart_policy: RestartPolicy,
    pub autostart: bool,
    /// The command line, with secret-looking env values kept out of it.
    pub command: Vec<String>,
    /// The version the config says to expect; `None` means "don't check".
    pub expected_version: Option<String>,
    /// The version the server reported (serverInfo.version); `None` until it says.
    pub reported_version: Option<String>,
    /// The MCP revision bridgedock speaks with the server (`2025-11-25`, `2026-07-28`, ...),
    /// once its process has answered the handshake.
    #[serde(default)]
    pub protocol_revision: Option<String>,
    /// The client capabilities bridgedock declared to the server on behalf of all its clients
    /// (a server of the handshake era; a stateless one is sent each client's own).
    #[serde(default)]
    pub declared_capabilities: Option<serde_json::Value>,
    /// The capabilities the server declared in its handshake.
    #[serde(default)]
    pub server_capabilities: Option<serde_json::Value>,
    pub last_exit: Option<ExitInfo>,
    /// Requests clients sent through the bridge, and how many ended in an error.
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    /// Round-trip times through the bridge, over recent requests.
    #[serde(default)]
    pub latency_p50_ms: Option<f64>,
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
    /// For `kind = "godot-ai"`: the editor side (see [`GodotStatus`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub godot: Option<Box<GodotStatus>>,
    /// What the state means — `health`, `words`, `summary`, `actions` — kept up to date by the
    /// status hub: every face renders these instead of deciding.
    #[serde(flatten)]
    pub meaning: Meaning,
}

/// What bridgedock knows about a godot-ai server beyond its process: its live version, the Godot
/// editors connected through bridgedock's relay, the link to godot-ai's editor WebSocket and
/// what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GodotStatus {
    /// The ports the plugin and AI clients use (bridgedock listens on them).
    pub http_port: u16,
    pub ws_port: u16,
    /// The ports godot-ai itself listens on, behind bridgedock.
    pub backend_http_port: u16,
    pub backend_ws_port: u16,
    /// True while bridgedock holds both public ports.
    pub listening: bool,
    /// The pinned version, and the one godot-ai's `/godot-ai/status` reports (`None` = no answer yet).
    pub expected_version: String,
    pub live_version: Option<String>,
    pub instance_id: Option<String>,
    /// The capability record bridgedock publishes for the plugin.
    pub record_path: String,
    pub editors: Vec<EditorSession>,
    /// The worst circuit among the editors' links to godot-ai's editor WebSocket.
    pub circuit: Circuit,
    pub circuit_failures: u32,
    pub diagnoses: Vec<Diagnosis>,
    /// A compatible godot-ai bridgedock did not start holds the HTTP port: bridgedock's
    /// `/mcp/NAME` goes to it (its port and version) until bridgedock can take the port.
    #[serde(default)]
    pub adopted_port: Option<u16>,
    #[serde(default)]
    pub adopted_version: Option<String>,
}

/// A Godot editor connected to bridgedock's relay, as its handshake and events describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditorSession {
    pub session_id: String,
    pub project_path: String,
    pub godot_version: String,
    pub plugin_version: String,
    pub editor_pid: u64,
    /// `ready`, `importing`, `playing` or `no_scene`.
    pub readiness: String,
    pub current_scene: Option<String>,
    /// `playing` or `stopped`, once the plugin has said.
    pub play_state: Option<String>,
    pub connected_at_ms: u64,
    /// `connected` (to godot-ai), `reconnecting` (godot-ai is away; the editor's socket stays open).
    pub upstream: String,
    pub upstream_since_ms: u64,
    /// The circuit breaker on this editor's link to godot-ai's WebSocket: it opens after 5
    /// failed attempts within 60 s and lets one attempt through 30 s later.
    pub circuit: Circuit,
    pub circuit_failures: u32,
    /// Attempts to reach godot-ai again since it went away (0 when connected).
    pub reconnect_attempts: u32,
    pub next_attempt_at_ms: Option<u64>,
    /// How many times bridgedock replayed this editor's handshake to a new godot-ai.
    pub replays: u32,
    pub commands_in_flight: u32,
    pub commands_done: u64,
    pub last_command: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub last_message_ms: u64,
}

/// Something wrong that a person can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Stable key: `port-held`, `godot-ai-on-port`, `handshake-timeout`, `uvx-missing`,
    /// `duplicate-session`, `token-mismatch`, `startup-failed`.
    pub code: String,
    pub message: String,
    pub hint: String,
    pub at_ms: u64,
}

impl ServerStatus {
    /// A server as it is before anything happened to it: stopped, stdio, default policies.
    pub fn new(name: impl Into<String>) -> Self {
        ServerStatus {
            name: name.into(),
            state: ServerState::Stopped,
            pid: None,
            started_at_ms: None,
            uptime_ms: None,
            restarts: 0,
            transport: Transport::Stdio,
            restart_policy: RestartPolicy::OnFailure,
            autostart: true,
            command: Vec::new(),
            expected_version: None,
            reported_version: None,
            protocol_revision: None,
            declared_capabilities: None,
            server_capabilities: None,
            last_exit: None,
            requests: 0,
            errors: 0,
            latency_p50_ms: None,
            latency_p99_ms: None,
            godot: None,
            meaning: Meaning::default(),
        }
    }

    /// True when both versions are known and differ. An unknown version never mismatches.
    pub fn version_mismatch(&self) -> bool {
        match (&self.expected_version, &self.reported_version) {
            (Some(expected), Some(reported)) => {
                !expected.is_empty() && !reported.is_empty() && expected != reported
            }
            _ => false,
        }
    }
}

/// An MCP client connected through the bridge. Filled in by the bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSession {
    pub id: String,
    pub server: String,
    pub transport: String,
    pub peer: String,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    /// The revision the client speaks.
    pub protocol_version: Option<String>,
    /// The revision the server speaks; when it differs from the client's, the bridge translates
    /// (a 2026-07-28 client on a handshake-era server), or the client is mismatched.
    #[serde(default)]
    pub server_protocol_version: Option<String>,
    pub protocol_mismatch: bool,
    pub connected_at_ms: u64,
    pub last_activity_ms: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub pending: u32,
    pub reconnects: u32,
}

/// A process a previous bridgedock left behind, found and stopped at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReapedOrphan {
    pub server: String,
    pub pid: u32,
    pub processes: usize,
    pub command: String,
    pub at_ms: u64,
}

/// (`Default`: a bridge that has not started yet, for tests and tools that need a snapshot.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeStatus {
    pub version: String,
    pub pid: u32,
    /// `127.0.0.1:7455`, empty until the API listens.
    pub address: String,
    pub started_at_ms: u64,
    pub uptime_ms: u64,
    pub config_path: Option<String>,
    pub state_dir: String,
    pub reaped_orphans: Vec<ReapedOrphan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub bridge: BridgeStatus,
    /// Everything at a glance, kept up to date by the status hub.
    #[serde(default)]
    pub overview: Overview,
    pub servers: Vec<ServerStatus>,
    pub clients: Vec<ClientSession>,
}

/// How a server — or everything — is doing, in four looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Running and answering.
    Ok,
    /// On its way somewhere: starting, stopping, waiting to restart.
    Busy,
    /// Needs someone: crashed, gave up, cannot start, not answering, or exited by itself and
    /// left down by its restart policy.
    Down,
    /// Stopped because someone asked (or never started: autostart off).
    #[default]
    Idle,
}

/// Which of Start / Stop / Restart make sense now. A live process — running, starting or not
/// answering — can be stopped or restarted; starting it again would do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Actions {
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
}

/// A server's state for people: its look, its badge, a clock-free line and its actions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Meaning {
    pub health: Health,
    /// The badge: "Running", "Restarting", "Exited", "Not installed".
    pub words: String,
    /// One line without a clock, for a menu or a list: "restarting (attempt 3)", "cannot start:
    /// npx not found", "exited by itself (code 0), not restarted".
    pub summary: String,
    pub actions: Actions,
}

/// Everything at a glance: the tray's icon and the dock's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub health: Health,
    /// "3 servers ready", "2 ready · 1 restarting", "No servers configured".
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(format_duration_ms(7_200), "8 s");
        assert_eq!(format_duration_ms(230), "230 ms");
        assert_eq!(format_duration_ms(125_000), "2 min 5 s");
        assert_eq!(format_duration_ms(120_000), "2 min");
        assert_eq!(format_duration_ms(3_840_000), "1 h 4 min");
    }

    #[test]
    fn state_serializes_flat_with_its_name() {
        let s = ServerState::Backoff {
            attempt: 3,
            next_at_ms: 10,
            delay_ms: 8000,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "backoff");
        assert_eq!(v["attempt"], 3);
        let nc = ServerState::NoCommand {
            program: "npx".into(),
            hint: "install Node.js 18+".into(),
        };
        assert_eq!(serde_json::to_value(&nc).unwrap()["state"], "no-command");
        assert_eq!(
            nc.describe(0),
            "no-command: \"npx\" not found on PATH — install Node.js 18+"
        );
    }

    #[test]
    fn starting_and_not_answering_say_how_long_in_a_headline_and_the_rest_in_details() {
        let starting = ServerState::Starting {
            since_ms: 1_000,
            last_line: Some("npm http fetch GET 200 https://registry.npmjs.org/x 55%".into()),
        };
        assert_eq!(starting.headline(35_000), "starting (34 s)");
        assert_eq!(
            starting.details(),
            ["last line: npm http fetch GET 200 https://registry.npmjs.org/x 55%"]
        );
        assert_eq!(
            starting.describe(35_000),
            "starting for 34 s, waiting for its first answer — last line: npm http fetch GET 200 https://registry.npmjs.org/x 55%"
        );
        let silent = ServerState::Starting {
            since_ms: 0,
            last_line: None,
        };
        assert!(silent.details().is_empty());
        assert_eq!(
            silent.describe(200),
            "starting for 200 ms, waiting for its first answer"
        );

        let reason = "its process (pid 7) has not answered bridgedock's MCP handshake within 2 min (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log";
        let mute = ServerState::NotAnswering {
            since_ms: 0,
            reason: reason.into(),
            last_line: Some("mute: up pid 7".into()),
        };
        assert_eq!(mute.headline(125_000), "not answering (up 2 min 5 s)");
        assert_eq!(mute.details(), [reason, "last line: mute: up pid 7"]);
        assert_eq!(mute.describe(0), format!("not answering: {reason}"));
    }

    #[test]
    fn a_missing_program_keeps_its_hint_out_of_the_headline() {
        let nc = ServerState::NoCommand {
            program: "npx".into(),
            hint: "install Node.js 18+".into(),
        };
        assert_eq!(nc.headline(0), "no-command: \"npx\" not found");
        assert_eq!(nc.details(), ["install Node.js 18+"]);
        let backoff = ServerState::Backoff {
            attempt: 3,
            next_at_ms: 8_000,
            delay_ms: 8_000,
        };
        assert_eq!(backoff.headline(0), backoff.describe(0));
        assert!(backoff.details().is_empty());
    }

    #[test]
    fn unknown_versions_never_mismatch() {
        let mut s = ServerStatus {
            expected_version: Some("1.0".into()),
            ..ServerStatus::new("t")
        };
        assert!(!s.version_mismatch());
        s.reported_version = Some(String::new());
        assert!(!s.version_mismatch());
        s.reported_version = Some("1.1".into());
        assert!(s.version_mismatch());
        s.reported_version = Some("1.0".into());
        assert!(!s.version_mismatch());
    }
}
