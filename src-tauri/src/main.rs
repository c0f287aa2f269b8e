//! bridgedock's desktop app: the engine in-process (the same `Host` as `bridgedockd`, so the
//! same config, state dir, token and API), a tray icon that follows its status, and the dock
//! (the web UI in `ui/dist`) in a window. Everything bridgedock does is the engine's; this crate
//! only shows it and forwards what a person asks.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod actions;
mod commands;
mod notify;
mod summary;
mod tray;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bridgedock_engine::host::{Host, HostOptions};
use bridgedock_engine::logs::{DEFAULT_RING_LINES, LogHub};
use tauri::{Manager, RunEvent, WindowEvent};

use crate::actions::{DOCK, Shell};

/// The argument autostart launches us with: start in the tray, without opening the dock.
const HIDDEN_ARG: &str = "--hidden";

fn main() -> ExitCode {
    let launched = Instant::now();
    let logs = LogHub::new(DEFAULT_RING_LINES);
    bridgedock_engine::engine::install_tracing(&logs);
    let hidden = std::env::args().any(|a| a == HIDDEN_ARG);

    let app = tauri::Builder::default()
        // First, before the engine starts: a second launch only brings the running one's dock
        // forward, then exits (it never gets as far as binding the port).
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("bridgedock was launched again: showing the dock");
            actions::show_dock(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_ARG]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_shell::init())
        .invoke_handler(tauri::generate_handler![
            commands::dock_endpoint,
            commands::server_action,
            commands::mcp_url,
            commands::copy_mcp_url,
            commands::open_logs_folder,
            commands::open_config_file,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let options = HostOptions {
                config: std::env::var_os("BRIDGEDOCK_CONFIG").map(PathBuf::from),
                dock_dir: std::env::var_os("BRIDGEDOCK_DOCK_DIR").map(PathBuf::from),
                ..HostOptions::defaults(logs)
            };
            let (config_dir, state_dir) = (options.config_dir.clone(), options.state_dir.clone());
            let host = match tauri::async_runtime::block_on(Host::start(options)) {
                Ok(host) => host,
                Err(e) => cannot_start(&format!("{e:#}")),
            };
            println!("bridgedock: API listening on http://{}", host.address);
            println!(
                "bridgedock: token in {}, logs in {}",
                host.token_path.display(),
                state_dir.join("logs").display()
            );
            let engine = host.engine.clone();
            app.manage(Shell::new(host, config_dir, &state_dir, launched));
            // Started on login: only the tray, and no web view (its memory) until it is asked for.
            if !hidden {
                actions::show_dock(&handle);
            }
            tray::create(&handle, engine.clone())?;
            notify::spawn(handle.clone(), engine);
            quit_on_signals(handle);
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the dock only hides it: bridgedock lives on in the tray.
            if window.label() == DOCK
                && let WindowEvent::CloseRequested { api, .. } = event
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("bridgedock: cannot start the desktop app: {e}");
            return ExitCode::from(2);
        }
    };
    app.run(|app, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event {
            let stopped = app.try_state::<Shell>().is_none_or(|s| s.stopped());
            // Windows closing never ends bridgedock (code None); an exit asked for before the
            // servers were stopped goes through Quit first, which exits again when done.
            if code.is_none() || !stopped {
                api.prevent_exit();
                if code.is_some() {
                    actions::quit(app);
                }
            }
        }
    });
    ExitCode::SUCCESS
}

/// Another bridgedock owns the port or the state dir, or the config is wrong: say so (stderr
/// and a dialog, since an app started from a menu has no terminal) and exit without having
/// started anything.
fn cannot_start(message: &str) -> ! {
    eprintln!("bridgedock: cannot start: {message}");
    if std::env::var_os("BRIDGEDOCK_NO_DIALOG").is_none() {
        rfd::MessageDialog::new()
            .set_level(rfd::MessageLevel::Error)
            .set_title("bridgedock cannot start")
            .set_description(message)
            .set_buttons(rfd::MessageButtons::Ok)
            .show();
    }
    std::process::exit(1)
}

/// SIGTERM / SIGINT (a logout, `kill`, Ctrl-C in a terminal) quit like the tray's Quit:
/// every server is stopped gracefully, nothing is orphaned.
fn quit_on_signals(app: tauri::AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
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
        tracing::info!("signal received: quitting");
        actions::quit(&app);
    });
    #[cfg(not(unix))]
    let _ = app;
}
