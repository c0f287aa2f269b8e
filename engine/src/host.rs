//! Hosting the engine for a face: load the config, make the token, bind the API port and the
//! control socket, start the engine, serve both, and shut it all down in order.
//!
//! `bridgedockd serve` and the desktop app both call [`Host::start`], so they share the same
//! config, state dir, token and API — and cannot drift apart.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::control::access::Access;
use crate::control::{api, token};
use crate::logs::LogHub;
use crate::{Engine, EngineOptions, demo, paths};

pub struct HostOptions {
    /// A config file given explicitly (`--config`); else CONFIG_DIR/config.toml, else the demo.
    pub config: Option<PathBuf>,
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    /// The control socket; default STATE_DIR/ctl.sock.
    pub socket: Option<PathBuf>,
    /// The API port; default the config's `bridge.port`. 0 picks a free one.
    pub port: Option<u16>,
    pub dock_dir: Option<PathBuf>,
    pub allow_remote: bool,
    /// The process-wide log hub the face installed as its tracing sink.
    pub logs: LogHub,
}

impl HostOptions {
    /// The platform's default dirs, no overrides.
    pub fn defaults(logs: LogHub) -> Self {
        HostOptions {
            config: None,
            config_dir: paths::config_dir(),
            state_dir: paths::state_dir(),
            socket: None,
            port: None,
            dock_dir: None,
            allow_remote: false,
            logs,
        }
    }
}

pub struct Host {
    pub engine: Arc<Engine>,
    pub address: SocketAddr,
    pub token: String,
    pub token_path: PathBuf,
    /// The config file in use, or None for the built-in demo.
    pub config_path: Option<PathBuf>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Host {
    pub async fn start(options: HostOptions) -> Result<Host> {
        let HostOptions {
            config,
            config_dir,
            state_dir,
            socket,
            port,
            dock_dir,
            allow_remote,
            logs,
        } = options;
        let (config, config_path) = load_config(config.as_deref(), &config_dir, &state_dir)?;
        let host = config.bridge.host.clone();
        let ip: IpAddr = match host.as_str() {
            "localhost" => IpAddr::from([127, 0, 0, 1]),
            other => other.parse().map_err(|_| {
                anyhow!("bridge.host `{other}` is not an IP address: use 127.0.0.1")
            })?,
        };
        if !ip.is_loopback() && !allow_remote {
            bail!(
                "bridge.host is {host}, which is reachable from other machines; bridgedock binds loopback only unless you pass --allow-remote"
            );
        }
        let port = port.unwrap_or(config.bridge.port);
        let (token, token_path) = token::load_or_create(&config_dir)
            .with_context(|| format!("cannot create the API token in {}", config_dir.display()))?;
        let listener = tokio::net::TcpListener::bind((ip, port))
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    let by = match crate::supervisor::platform::tcp_listener(port) {
                        Some((pid, cmd)) => format!("by pid {pid}: {cmd}"),
                        None => "by another program (another bridgedock?)".to_string(),
                    };
                    anyhow!(
                        "port {port} on {host} is already in use {by}; stop that one, or pick another port (--port, or bridge.port in the config)"
                    )
                } else {
                    anyhow!("cannot listen on {host}:{port}: {e}")
                }
            })?;
        let address = listener.local_addr()?;
        paths::create_private_dir(&state_dir)
            .with_context(|| format!("cannot create the state dir {}", state_dir.display()))?;
        #[cfg(unix)]
        let ctl_socket = crate::control::ctl_socket::bind(
            &socket.unwrap_or_else(|| crate::control::ctl_socket::default_path(&state_dir)),
        )?;
        #[cfg(not(unix))]
        let _ = socket;

        let mut options = EngineOptions::new(config, state_dir.clone());
        options.tuning = crate::supervisor::RestartTuning::from_env();
        let engine = Arc::new(
            Engine::start(options, logs)
                .await
                .context("cannot start the engine")?,
        );
        engine
            .status()
            .update_bridge(|b| b.address = address.to_string());
        let shutdown = CancellationToken::new();
        let state = api::ApiState {
            engine: engine.clone(),
            access: Arc::new(Access::for_address(token.clone(), &host, address.port())),
            dock_dir: find_dock_dir(dock_dir),
            shutdown: shutdown.clone(),
        };
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = api::serve(listener, state).await {
                tracing::error!("the API server stopped: {e}");
            }
        })];
        #[cfg(unix)]
        tasks.push(tokio::spawn(crate::control::ctl_socket::serve(
            ctl_socket,
            engine.clone(),
            token.clone().into(),
            shutdown.clone(),
        )));
        tracing::info!("API listening on http://{address}");
        Ok(Host {
            engine,
            address,
            token,
            token_path,
            config_path,
            shutdown,
            tasks,
        })
    }

    /// The dock's URL with the token in the fragment (never sent to a server, never logged).
    pub fn dock_url(&self) -> String {
        format!("http://{}/#token={}", self.address, self.token)
    }

    /// Stops every server gracefully, flushes logs, closes the API and removes the socket.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: stopping every server");
        self.shutdown.cancel();
        self.engine.shutdown().await;
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The config to run: `explicit`, else CONFIG_DIR/config.toml if it exists, else the built-in
/// demo (its script written into the state dir). Returns the file used, if any.
pub fn load_config(
    explicit: Option<&Path>,
    config_dir: &Path,
    state_dir: &Path,
) -> Result<(Config, Option<PathBuf>)> {
    if let Some(path) = explicit {
        let config = config::load(path).map_err(|e| anyhow!("{e}"))?;
        return Ok((config, Some(path.to_path_buf())));
    }
    let default = config_dir.join("config.toml");
    if default.exists() {
        let config = config::load(&default).map_err(|e| anyhow!("{e}"))?;
        return Ok((config, Some(default)));
    }
    let script = demo::install(&state_dir.join("demo"))
        .with_context(|| format!("cannot write the demo server into {}", state_dir.display()))?;
    Ok((config::embedded_default(&script), None))
}

/// The dock's built files: `explicit`, else `dock/` beside the executable, else the system's.
pub fn find_dock_dir(explicit: Option<PathBuf>) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit;
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("dock")));
    [
        beside_exe,
        Some(PathBuf::from("/usr/share/bridgedock/dock")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("index.html").is_file())
}
