//! bridgedock's desktop face: the engine in-process (the same `Host` as `bridgedockd`, so the
//! same config, state dir, token and API), a tray that shows and controls it, and the dock in a
//! window. Thin on purpose: everything users act on goes to the engine; the window is the same
//! dock a browser gets, talking to the same API.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod tray;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridgedock_engine::host::{Host, HostOptions};
use bridgedock_engine::logs::{DEFAULT_RING_LINES, LogHub};
use bridgedock_engine::status::{ServerState, StatusChange};
use parking_lot::Mutex;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt as _};
use tauri_plugin_clipboard_manager::ClipboardExt as _;
use tauri_plugin_notification::NotificationExt as _;
use tauri_plugin_shell::ShellExt as _;

use crate::commands::DockEndpoint;
use crate::tray::TrayEngine;

const DOCK: &str = "dock";
/// At most one crash notification per server in this long.
const NOTIFY_EVERY: Duration = Duration::from_secs(30);
/// Status changes come in bursts (a restart is several): the tray is rebuilt once per burst.
const TRAY_DEBOUNCE: Duration = Duration::from_millis(200);

/// The running engine, taken out on Quit so it is shut down exactly once.
struct Hosted(Mutex<Option<Host>>);

fn main() {
    let logs = LogHub::new(DEFAULT_RING_LINES);
    bridgedock_engine::engine::install_tracing(&logs);
    let host = match tauri::async_runtime::block_on(Host::start(HostOptions::defaults(logs))) {
        Ok(host) => host,
        Err(e) => {
            // Most often: another bridgedock (app or daemon) already runs on this state dir.
            eprintln!("bridgedock: {e:#}");
            std::process::exit(2);
        }
    };
    println!("bridgedock: API listening on http://{}", host.address);
    let endpoint = DockEndpoint {
        api: format!("http://{}", host.address),
        token: host.token.clone(),
    };
    let engine = host.engine.clone();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_dock(app)
        }))
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            None,
        ))
        .manage(endpoint)
        .manage(TrayEngine(engine.clone()))
        .manage(Hosted(Mutex::new(Some(host))))
        .invoke_handler(tauri::generate_handler![commands::dock_endpoint])
        .setup(move |app| {
            let handle = app.handle().clone();
            let autostart = handle.autolaunch().is_enabled().unwrap_or(false);
            tray::create(&handle, &engine.snapshot(), autostart)?;
            if std::env::var_os("BRIDGEDOCK_START_HIDDEN").is_none() {
                show_dock(&handle);
            }
            tauri::async_runtime::spawn(follow_status(handle.clone(), engine.clone()));
            tauri::async_runtime::spawn(quit_on_signal(handle));
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the dock hides it: bridgedock lives on in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("bridgedock: cannot start the desktop app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        match event {
            // The last window closing is not an exit: only Quit (an exit code) is.
            RunEvent::ExitRequested { api, code, .. } if code.is_none() => api.prevent_exit(),
            RunEvent::Exit => shutdown_engine(app),
            _ => {}
        }
    });
}

/// Stops every server gracefully (no orphans) and flushes logs; safe to call twice.
fn shutdown_engine(app: &AppHandle) {
    let host = app.state::<Hosted>().0.lock().take();
    if let Some(host) = host {
        tauri::async_runtime::block_on(host.shutdown());
    }
}

pub(crate) fn show_dock(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(DOCK) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, DOCK, WebviewUrl::App("index.html".into()))
        .title("bridgedock")
        .inner_size(1280.0, 860.0)
        .min_inner_size(640.0, 480.0)
        .build();
    if let Err(e) = built {
        tracing::error!("cannot open the dock window: {e}");
    }
}

pub(crate) fn toggle_dock(app: &AppHandle) {
    match app.get_webview_window(DOCK) {
        Some(w) if w.is_visible().unwrap_or(false) => {
            let _ = w.hide();
        }
        _ => show_dock(app),
    }
}

/// Menu actions, each one call into the engine (the same calls the dock's buttons make).
pub(crate) fn on_menu(app: &AppHandle, id: &str) {
    let engine = app.state::<TrayEngine>().0.clone();
    match id {
        "open-dock" => show_dock(app),
        "quit" => {
            let app = app.clone();
            std::thread::spawn(move || {
                shutdown_engine(&app);
                app.exit(0);
            });
        }
        "restart-all" => {
            tauri::async_runtime::spawn(async move {
                engine.restart_all().await;
            });
        }
        "open-logs" => open_path(app, &engine.state_dir().join("logs")),
        "open-config" => {
            let path = bridgedock_engine::paths::default_config_file();
            if !path.exists() {
                let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
                let _ = std::fs::write(&path, CONFIG_TEMPLATE);
            }
            open_path(app, &path);
        }
        "autostart" => {
            let launcher = app.autolaunch();
            let on = launcher.is_enabled().unwrap_or(false);
            let _ = if on {
                launcher.disable()
            } else {
                launcher.enable()
            };
            tray::refresh(app, &engine.snapshot(), !on);
        }
        other => {
            let Some((verb, name)) = other.split_once(':') else {
                return;
            };
            let (verb, name) = (verb.to_string(), name.to_string());
            if verb == "copy" {
                let addr = engine.snapshot().bridge.address;
                let _ =
                    app.clipboard()
                        .write_text(bridgedock_engine::control::client_setup::http_url(
                            &addr, &name,
                        ));
                return;
            }
            tauri::async_runtime::spawn(async move {
                let result = match verb.as_str() {
                    "start" => engine.start_server(&name).await,
                    "stop" => engine.stop_server(&name).await,
                    "restart" => engine.restart_server(&name).await,
                    _ => return,
                };
                if let Err(e) = result {
                    tracing::warn!("tray: {verb} {name}: {e}");
                }
            });
        }
    }
}

#[allow(deprecated)]
fn open_path(app: &AppHandle, path: &std::path::Path) {
    let _ = std::fs::create_dir_all(if path.extension().is_some() {
        path.parent().unwrap_or(path)
    } else {
        path
    });
    if let Err(e) = app.shell().open(path.display().to_string(), None) {
        tracing::warn!("cannot open {}: {e}", path.display());
    }
}

/// SIGTERM or SIGINT (a session ending, `kill`) quit like the tray's Quit: servers are stopped
/// gracefully, nothing is orphaned.
async fn quit_on_signal(app: AppHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        std::thread::spawn(move || {
            shutdown_engine(&app);
            app.exit(0);
        });
    }
    #[cfg(not(unix))]
    let _ = app;
}

/// Keeps the tray in step with the engine and tells the user when a server crashes or gives up
/// (at most once per server per 30 s).
async fn follow_status(app: AppHandle, engine: Arc<bridgedock_engine::Engine>) {
    let mut sub = engine.status().subscribe();
    let mut last_notified: HashMap<String, Instant> = HashMap::new();
    loop {
        let first = sub.changes.recv().await;
        if matches!(first, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
            return;
        }
        let mut changes = Vec::new();
        if let Ok(c) = first {
            changes.push(c);
        }
        tokio::time::sleep(TRAY_DEBOUNCE).await;
        while let Ok(c) = sub.changes.try_recv() {
            changes.push(c);
        }
        for change in changes {
            if let StatusChange::Server { server } = &*change {
                let what = match &server.state {
                    ServerState::Backoff { attempt: 1, .. } | ServerState::Crashed { .. } => {
                        Some(format!(
                            "{} crashed ({}); bridgedock is handling it",
                            server.name,
                            server
                                .last_exit
                                .as_ref()
                                .map(|e| e.reason.as_str())
                                .unwrap_or("exited")
                        ))
                    }
                    ServerState::Failed { crashes, .. } => Some(format!(
                        "{} gave up after {crashes} crashes — open the dock to see why",
                        server.name
                    )),
                    _ => None,
                };
                let recent = last_notified
                    .get(&server.name)
                    .is_some_and(|t| t.elapsed() < NOTIFY_EVERY);
                if let Some(body) = what
                    && !recent
                {
                    last_notified.insert(server.name.clone(), Instant::now());
                    let _ = app
                        .notification()
                        .builder()
                        .title("bridgedock")
                        .body(body)
                        .show();
                }
            }
        }
        let autostart = app.autolaunch().is_enabled().unwrap_or(false);
        let snap = engine.snapshot();
        let handle = app.clone();
        let _ = app.run_on_main_thread(move || tray::refresh(&handle, &snap, autostart));
    }
}

const CONFIG_TEMPLATE: &str = r#"# bridgedock configuration — see the README for every key.
# Each [servers.NAME] is one MCP server bridgedock runs and bridges.

# [servers.time]
# command = "uvx"
# args = ["mcp-server-time"]
# restart = "on-failure"
"#;
