//! Shared by the integration tests: fixtures, temp dirs, engines with short schedules,
//! waiting on states with deadlines (never bare sleeps), the real daemon ([`daemon`]) and a
//! WebSocket MCP client of it ([`ws`]).
#![allow(dead_code)]

pub mod daemon;
pub mod ws;

use std::path::PathBuf;
use std::time::Duration;

use bridgedock_engine::config::{BridgeConfig, Config, ConfigSource, ServerConfig};
use bridgedock_engine::logs::LogHub;
use bridgedock_engine::status::{ServerState, ServerStatus};
use bridgedock_engine::supervisor::RestartTuning;
use bridgedock_engine::{Engine, EngineOptions};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

pub fn python(script: &str, args: &[&str]) -> ServerConfig {
    let mut spec = ServerConfig::new("python3");
    spec.args = std::iter::once(fixture(script))
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    spec
}

pub fn config(servers: Vec<(&str, ServerConfig)>) -> Config {
    Config {
        bridge: BridgeConfig {
            host: "127.0.0.1".into(),
            port: 0,
            ..BridgeConfig::default()
        },
        servers: servers
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
        source: ConfigSource::Embedded,
    }
}

/// A schedule that fits in a test: 50 ms, 100 ms, 150 ms backoff.
pub fn quick_tuning() -> RestartTuning {
    RestartTuning {
        backoff: vec![
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(150),
        ],
        stable_after: Duration::from_secs(30),
        crash_limit: 10,
        crash_window: Duration::from_secs(300),
    }
}

pub struct TestEngine {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

pub async fn start_engine(config: Config, tuning: RestartTuning) -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let mut options = EngineOptions::new(config, dir.path().join("state"));
    options.tuning = tuning;
    let engine = Engine::start(options, LogHub::new(10_000)).await.unwrap();
    TestEngine { engine, dir }
}

/// Waits until `name`'s status satisfies `done`, following status changes; panics with the
/// last status seen when `within` passes.
pub async fn wait_server(
    engine: &Engine,
    name: &str,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&ServerStatus) -> bool,
) -> ServerStatus {
    let mut sub = engine.status().subscribe();
    let deadline = tokio::time::Instant::now() + within;
    let mut last = sub
        .snapshot
        .servers
        .iter()
        .find(|s| s.name == name)
        .cloned();
    loop {
        if let Some(s) = &last
            && done(s)
        {
            return s.clone();
        }
        match tokio::time::timeout_at(deadline, sub.changes.recv()).await {
            Err(_) => panic!(
                "timed out after {within:?} waiting for `{name}` to be {what}; last status: {last:#?}"
            ),
            Ok(Ok(change)) => {
                if let bridgedock_engine::status::StatusChange::Server { server, .. } = &*change
                    && server.name == name
                {
                    last = Some((**server).clone());
                }
            }
            Ok(Err(_)) => {
                sub = engine.status().subscribe();
                last = sub
                    .snapshot
                    .servers
                    .iter()
                    .find(|s| s.name == name)
                    .cloned();
            }
        }
    }
}

/// Running: its process is up and has answered the MCP handshake (it is ready).
pub fn is_running(s: &ServerStatus) -> bool {
    matches!(s.state, ServerState::Running { .. })
}

/// Its process is up, whether or not it speaks MCP: for the supervision tests, whose fixtures
/// (a crasher, a forker) are processes, not MCP servers — they never answer the handshake, so
/// they are starting while they live.
pub fn is_up(s: &ServerStatus) -> bool {
    s.pid.is_some()
        && matches!(
            s.state,
            ServerState::Starting { .. }
                | ServerState::Running { .. }
                | ServerState::NotAnswering { .. }
        )
}

/// True while `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(") ").map(|(_, r)| r.chars().next());
            !matches!(state, Some(Some('Z')) | None)
        })
        .unwrap_or(false)
}

/// Polls `check` every 10 ms until it returns Some, or panics after `within`.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every live process in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(") ")?.1.to_string();
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    Some(f.first()? != &"Z" && f.get(2)?.parse::<u32>().ok()? == pgid)
                })
                .unwrap_or(false)
        })
        .collect()
}
