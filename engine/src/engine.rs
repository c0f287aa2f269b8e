//! The engine: config in, supervised servers, logs and status out.
//!
//! Both faces (the tray app and `bridgedockd`) build one [`Engine`], give it the process-wide
//! [`LogHub`] they installed as the tracing sink, and then only read its status and send it
//! controls. Start-up order matters: orphans of a previous run are stopped before any new
//! child is spawned, so a restarted bridgedock never runs two copies of a server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for the background tasks once they are told to stop.
const TASKS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

use crate::bridge::Bridge;
use crate::config::{Config, ConfigSource};
use crate::godot::GodotAi;
use crate::logs::{self, LogHub};
use crate::status::{BridgeStatus, ServerStatus, Snapshot, StatusHub, now_ms};
use crate::supervisor::{
    Action, ChildRecords, ControlError, RestartTuning, ServerHandle, Supervisor,
};
use crate::upstream::HttpReach;

pub struct EngineOptions {
    pub config: Config,
    pub state_dir: PathBuf,
    pub tuning: RestartTuning,
    pub log_file_max_bytes: u64,
    pub log_files_kept: usize,
}

impl EngineOptions {
    pub fn new(config: Config, state_dir: PathBuf) -> Self {
        EngineOptions {
            config,
            state_dir,
            tuning: RestartTuning::default(),
            log_file_max_bytes: logs::DEFAULT_FILE_MAX_BYTES,
            log_files_kept: logs::DEFAULT_FILES_KEPT,
        }
    }
}

pub struct Engine {
    status: StatusHub,
    logs: LogHub,
    bridge: Bridge,
    supervisor: Supervisor,
    /// The config as the user wrote it (kinds' launch plans are not in it).
    config: Config,
    state_dir: PathBuf,
    /// The editor side of every `kind = "godot-ai"` server, by name.
    godot: BTreeMap<String, Arc<GodotAi>>,
    /// Cancelled when bridgedock shuts down; the background tasks' tokens are its children,
    /// cancelled first in the order shutdown needs.
    root: CancellationToken,
    godot_shutdown: CancellationToken,
    /// The engine's background tasks (the kinds' listeners, relays and probes, the HTTP
    /// session sweeper, the memory trimmer): shutdown waits for them, with a deadline.
    tasks: TaskTracker,
    files_shutdown: CancellationToken,
    file_writer: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Stops the memory trimmer.
    trimmer_shutdown: CancellationToken,
}

impl Engine {
    pub async fn start(options: EngineOptions, logs: LogHub) -> std::io::Result<Engine> {
        let EngineOptions {
            config,
            state_dir,
            tuning,
            log_file_max_bytes,
            log_files_kept,
        } = options;
        crate::paths::create_private_dir(&state_dir)?;
        let root = CancellationToken::new();
        let tasks = TaskTracker::new();
        let files_shutdown = root.child_token();
        let file_writer = logs::spawn_file_writer(
            &logs,
            state_dir.join("logs"),
            log_file_max_bytes,
            log_files_kept,
            files_shutdown.clone(),
        );
        let trimmer_shutdown = root.child_token();
        crate::memory::spawn_trimmer(trimmer_shutdown.clone(), &tasks);
        let status = StatusHub::new(BridgeStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            address: String::new(),
            started_at_ms: now_ms(),
            uptime_ms: 0,
            config_path: match &config.source {
                ConfigSource::File(p) | ConfigSource::McpServersJson(p) => {
                    Some(p.display().to_string())
                }
                ConfigSource::Embedded => None,
            },
            state_dir: state_dir.display().to_string(),
            reaped_orphans: Vec::new(),
        });
        let records = ChildRecords::new(&state_dir);
        status.record_reaped(records.reap_orphans().await);
        // A kind lays out its servers; what is launched is its plan, the user's config stays
        // as written (it is what the faces show and write back).
        let plans = crate::godot::prepare(&config, &state_dir)?;
        let mut launched = config.clone();
        for plan in &plans {
            launched
                .servers
                .insert(plan.name.clone(), plan.launch.clone());
        }
        // A kind's server is reached over HTTP where the kind says; the router in front of it
        // is every server's.
        let godot_shutdown = root.child_token();
        let godot: BTreeMap<String, Arc<GodotAi>> = plans
            .into_iter()
            .map(|plan| {
                let ai = GodotAi::new(plan, status.clone(), godot_shutdown.clone(), tasks.clone());
                (ai.plan.name.clone(), ai)
            })
            .collect();
        let reaches: BTreeMap<String, Arc<dyn HttpReach>> = godot
            .iter()
            .map(|(name, ai)| (name.clone(), ai.clone() as Arc<dyn HttpReach>))
            .collect();
        let (bridge, links) = Bridge::start(&launched, &status, &logs, &reaches, &tasks);
        let supervisor = Supervisor::spawn(
            &launched, &status, &logs, &records, &tuning, links, &reaches,
        );
        for ai in godot.values() {
            ai.start();
        }
        tracing::info!(
            "bridgedock {} supervising {} server{}",
            env!("CARGO_PKG_VERSION"),
            config.servers.len(),
            if config.servers.len() == 1 { "" } else { "s" }
        );
        Ok(Engine {
            status,
            logs,
            bridge,
            supervisor,
            config,
            state_dir,
            godot,
            root,
            godot_shutdown,
            tasks,
            files_shutdown,
            file_writer: parking_lot::Mutex::new(Some(file_writer)),
            trimmer_shutdown,
        })
    }

    pub fn status(&self) -> &StatusHub {
        &self.status
    }

    pub fn logs(&self) -> &LogHub {
        &self.logs
    }

    pub fn bridge(&self) -> &Bridge {
        &self.bridge
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    pub fn snapshot(&self) -> Snapshot {
        self.status.snapshot()
    }

    pub fn server(&self, name: &str) -> Result<&ServerHandle, ControlError> {
        self.supervisor.server(name)
    }

    pub async fn start_server(&self, name: &str) -> Result<ServerStatus, ControlError> {
        self.server(name)?.start().await
    }

    pub async fn stop_server(&self, name: &str) -> Result<ServerStatus, ControlError> {
        self.server(name)?.stop().await
    }

    pub async fn restart_server(&self, name: &str) -> Result<ServerStatus, ControlError> {
        self.server(name)?.restart().await
    }

    /// Starts, stops or restarts server `name` (what a face's button or menu item says).
    pub async fn act(&self, name: &str, action: Action) -> Result<ServerStatus, ControlError> {
        self.server(name)?.send(action).await
    }

    /// Restarts every server at once; the tray's and the dock's "Restart all".
    pub async fn restart_all(&self) -> Vec<Result<ServerStatus, ControlError>> {
        let restarts = self.supervisor.servers().map(|h| h.restart());
        futures_util::future::join_all(restarts).await
    }

    /// The godot-ai side of server `name`, when it is `kind = "godot-ai"`.
    pub fn godot(&self, name: &str) -> Option<&Arc<GodotAi>> {
        self.godot.get(name)
    }

    /// Stops every server gracefully (no orphans), then flushes the log files.
    pub async fn shutdown(&self) {
        self.bridge.begin_shutdown();
        self.godot_shutdown.cancel();
        for ai in self.godot.values() {
            ai.withdraw_record();
        }
        self.supervisor.shutdown().await;
        self.bridge.shutdown();
        tracing::info!("all servers stopped; bridgedock is exiting");
        self.trimmer_shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(TASKS_WAIT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} background task{} (godot-ai listeners or relays, the HTTP session sweeper, the memory trimmer) did not finish within {} of the shutdown; exiting anyway",
                self.tasks.len(),
                if self.tasks.len() == 1 { "" } else { "s" },
                crate::status::format_duration_ms(TASKS_WAIT.as_millis() as u64)
            );
        }
        // Last, so that everything above is in the files.
        self.root.cancel();
        self.files_shutdown.cancel();
        let writer = self.file_writer.lock().take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }
}

/// The default log filter: bridgedock's own events at info, everyone else's only when they
/// warn. Dependencies' debug/trace events (a WebSocket library logs every frame it sends) must
/// never reach the log stream the dock follows over that same WebSocket.
pub const DEFAULT_LOG_FILTER: &str = "warn,bridgedock_engine=info,bridgedockd=info,bridgedock=info";

/// Installs the process-wide tracing subscriber both faces use: readable lines on stderr and
/// every event into `logs` as the `bridge` source. `BRIDGEDOCK_LOG` overrides the filter.
pub fn install_tracing(logs: &LogHub) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRIDGEDOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ =
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(logs::HubLayer::new(logs.clone()).with_filter(
                tracing_subscriber::filter::filter_fn(|meta| {
                    *meta.level() <= tracing::Level::WARN || !is_transport_chatter(meta.target())
                }),
            ))
            .try_init();
}

/// Crates whose debug output describes the very frames that carry the log stream.
fn is_transport_chatter(target: &str) -> bool {
    [
        "tungstenite",
        "tokio_tungstenite",
        "hyper",
        "h2",
        "axum",
        "tower",
        "mio",
    ]
    .iter()
    .any(|c| target == *c || target.starts_with(&format!("{c}::")))
}
