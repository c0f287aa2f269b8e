//! What a person can ask of the shell, from the tray or from the dock: show the dock, act on a
//! server, copy its MCP URL, open the logs folder or the config file, quit. Server control is
//! the engine's; this only forwards it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use bridgedock_engine::Engine;
use bridgedock_engine::host::Host;
use bridgedock_engine::status::ServerStatus;
use bridgedock_engine::supervisor::Action;
use parking_lot::Mutex;
use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_shell::ShellExt;

/// The dock window's label.
pub const DOCK: &str = "dock";
/// The dock window's first size (logical pixels): three server cards a row, and the logs below.
const DOCK_WIDTH: f64 = 1280.0;
const DOCK_HEIGHT: f64 = 860.0;

/// The running shell: the engine's host and what the dock needs to reach its API.
pub struct Shell {
    pub engine: Arc<Engine>,
    host: Mutex<Option<Host>>,
    /// `http://127.0.0.1:PORT`
    pub api: String,
    pub token: String,
    pub address: std::net::SocketAddr,
    pub config_dir: PathBuf,
    /// The config file in use; None for the built-in demo.
    pub config_path: Option<PathBuf>,
    pub logs_dir: PathBuf,
    pub launched: Instant,
    pub dock_connected: AtomicBool,
    quitting: AtomicBool,
    stopped: AtomicBool,
}

impl Shell {
    pub fn new(host: Host, config_dir: PathBuf, state_dir: &Path, launched: Instant) -> Shell {
        Shell {
            engine: host.engine.clone(),
            api: format!("http://{}", host.address),
            token: host.token.clone(),
            address: host.address,
            config_dir,
            config_path: host.config_path.clone(),
            logs_dir: state_dir.join("logs"),
            launched,
            dock_connected: AtomicBool::new(false),
            quitting: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            host: Mutex::new(Some(host)),
        }
    }

    /// True once every server was stopped and the process may exit.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The bridge URL an MCP client connects to for `server` (Streamable HTTP, what Claude
    /// Code, Cursor and VS Code speak); the engine says how it is spelled.
    pub fn mcp_url(&self, server: &str) -> String {
        bridgedock_engine::control::client_setup::http_url(&self.address.to_string(), server)
    }
}

/// Brings the dock forward, opening its window first if there is none yet (started on login,
/// the app has no web view until the dock is asked for).
pub fn show_dock(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(DOCK) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, DOCK, WebviewUrl::App("index.html".into()))
        .title("bridgedock")
        .inner_size(DOCK_WIDTH, DOCK_HEIGHT)
        .min_inner_size(560.0, 400.0)
        .build();
    if let Err(e) = built {
        tracing::error!("cannot open the dock window: {e}");
    }
}

/// Left click on the tray icon: show the dock, or hide it when it is in front.
pub fn toggle_dock(app: &AppHandle) {
    match app.get_webview_window(DOCK) {
        Some(w) if w.is_visible().unwrap_or(false) && w.is_focused().unwrap_or(false) => {
            let _ = w.hide();
        }
        _ => show_dock(app),
    }
}

pub async fn server_action(engine: &Engine, name: &str, action: Action) -> Result<ServerStatus> {
    Ok(engine.act(name, action).await?)
}

/// Runs a server action in the background (the tray cannot wait), logging a failure.
pub fn spawn_server_action(app: &AppHandle, name: String, action: Action) {
    let engine = app.state::<Shell>().engine.clone();
    tauri::async_runtime::spawn(async move {
        match server_action(&engine, &name, action).await {
            Ok(s) => tracing::info!("{action:?} {name}: now {}", s.state.name()),
            Err(e) => tracing::warn!("{action:?} {name}: {e}"),
        }
    });
}

pub fn spawn_restart_all(app: &AppHandle) {
    let engine = app.state::<Shell>().engine.clone();
    tauri::async_runtime::spawn(async move {
        for r in engine.restart_all().await {
            if let Err(e) = r {
                tracing::warn!("restart all: {e}");
            }
        }
    });
}

pub fn copy_mcp_url(app: &AppHandle, server: &str) -> Result<String> {
    let url = app.state::<Shell>().mcp_url(server);
    app.clipboard()
        .write_text(url.clone())
        .with_context(|| format!("cannot copy {url} to the clipboard"))?;
    tracing::info!("copied {url} to the clipboard");
    Ok(url)
}

pub fn open_logs_folder(app: &AppHandle) -> Result<PathBuf> {
    let dir = app.state::<Shell>().logs_dir.clone();
    std::fs::create_dir_all(&dir)?;
    open_path(app, &dir)?;
    Ok(dir)
}

/// Opens the config file, first writing it (the running config, commented) when missing.
pub fn open_config_file(app: &AppHandle) -> Result<PathBuf> {
    let shell = app.state::<Shell>();
    let path = match &shell.config_path {
        Some(p) => p.clone(),
        None => {
            let path = shell.config_dir.join("config.toml");
            ensure_config_file(&path, shell.engine.config())?;
            path
        }
    };
    open_path(app, &path)?;
    Ok(path)
}

/// Writes `path` with `running` (the config bridgedock runs now) and comments that explain
/// the keys, unless it exists. Writing the running config keeps the next start the same.
pub fn ensure_config_file(path: &Path, running: &bridgedock_engine::config::Config) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = format!(
        "{CONFIG_HEADER}\n{}",
        bridgedock_engine::config::to_toml(running)
    );
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("wrote a config file at {}", path.display());
    Ok(())
}

const CONFIG_HEADER: &str = "\
# bridgedock config. bridgedock reads it when it starts: quit and start it again after a change.
# Check it with `bridgedockd check`. Below is what bridgedock runs now (the built-in demo until
# you add your own servers). Every key a server takes, with its default:
#
# [servers.time]
# command = \"uvx\"                          # run directly, never through a shell
# args = [\"mcp-server-time\"]
# env = { TZ = \"UTC\" }                     # added to bridgedock's own environment
# cwd = \"/home/me/project\"                 # default: bridgedock's
# version = \"2025.9.25\"                    # what serverInfo.version should say (optional)
# restart = \"on-failure\"                   # always | on-failure | never
# autostart = true
# stop_grace = \"5s\"                        # SIGTERM -> SIGKILL grace
# request_timeout = \"60s\"                  # how long a bridged request may wait
#
# Have an mcpServers JSON (Claude Desktop, Cursor, VS Code)? `bridgedockd import FILE`.
";

fn open_path(app: &AppHandle, path: &Path) -> Result<()> {
    #[allow(deprecated)] // plugin-shell's `open` is the one this app is specified to use
    app.shell()
        .open(path.to_string_lossy(), None)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Quit: stop every server (no orphans), then exit 0. A second call while stopping is ignored.
pub fn quit(app: &AppHandle) {
    let shell = app.state::<Shell>();
    if shell.quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    let host = shell.host.lock().take();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(host) = host {
            host.shutdown().await;
        }
        println!("bridgedock: every server stopped; exiting");
        app.state::<Shell>().stopped.store(true, Ordering::SeqCst);
        app.exit(0);
    });
}
