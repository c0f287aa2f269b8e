//! The tray icon: its look and tooltip follow the aggregate state, and its menu is built from
//! the engine's live status — rebuilt (debounced) whenever what it shows changes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bridgedock_engine::Engine;
use bridgedock_engine::status::{Actions, Health, Snapshot, now_ms};
use bridgedock_engine::supervisor::Action;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt;

use crate::actions;
use crate::summary;

pub const TRAY_ID: &str = "bridgedock";
/// Status changes closer together than this rebuild the menu once.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// The icon for the engine's overall health: stopped-on-request looks like all is well.
fn icon(state: Health) -> Image<'static> {
    let bytes: &[u8] = match state {
        Health::Ok | Health::Idle => include_bytes!("../../icons/tray-ok@64.png"),
        Health::Busy => include_bytes!("../../icons/tray-busy@64.png"),
        Health::Down => include_bytes!("../../icons/tray-down@64.png"),
    };
    // The PNGs are ours and decode; a broken one is a build mistake worth a loud failure.
    #[allow(clippy::expect_used)]
    Image::from_bytes(bytes).expect("bundled tray icon decodes")
}

/// Everything the menu shows; the menu is rebuilt only when this changes (not for uptimes).
#[derive(Debug, Clone, PartialEq)]
struct MenuModel {
    summary: String,
    servers: Vec<ServerEntry>,
    autostart: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct ServerEntry {
    name: String,
    title: String,
    actions: Actions,
}

impl MenuModel {
    fn of(snapshot: &Snapshot, autostart: bool) -> MenuModel {
        MenuModel {
            summary: snapshot.overview.summary.clone(),
            servers: snapshot
                .servers
                .iter()
                .map(|s| ServerEntry {
                    name: s.name.clone(),
                    title: format!("{} — {}", s.name, s.meaning.summary),
                    actions: s.meaning.actions,
                })
                .collect(),
            autostart,
        }
    }
}

fn build_menu(app: &AppHandle, model: &MenuModel) -> Result<Menu<Wry>> {
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(
        app,
        "summary",
        &model.summary,
        false,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "open-dock",
        "Open Dock",
        true,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    for s in &model.servers {
        let items: Vec<Box<dyn IsMenuItem<Wry>>> = vec![
            Box::new(MenuItem::with_id(
                app,
                format!("server:start:{}", s.name),
                "Start",
                s.actions.start,
                None::<&str>,
            )?),
            Box::new(MenuItem::with_id(
                app,
                format!("server:stop:{}", s.name),
                "Stop",
                s.actions.stop,
                None::<&str>,
            )?),
            Box::new(MenuItem::with_id(
                app,
                format!("server:restart:{}", s.name),
                "Restart",
                s.actions.restart,
                None::<&str>,
            )?),
            Box::new(PredefinedMenuItem::separator(app)?),
            Box::new(MenuItem::with_id(
                app,
                format!("copy-url:{}", s.name),
                "Copy MCP URL",
                true,
                None::<&str>,
            )?),
        ];
        let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(|b| b.as_ref()).collect();
        menu.append(&Submenu::with_id_and_items(
            app,
            format!("server:{}", s.name),
            &s.title,
            true,
            &refs,
        )?)?;
    }
    menu.append(&MenuItem::with_id(
        app,
        "restart-all",
        "Restart all",
        !model.servers.is_empty(),
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "open-logs",
        "Open logs folder",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        "open-config",
        "Open config file",
        true,
        None::<&str>,
    )?)?;
    menu.append(&CheckMenuItem::with_id(
        app,
        "autostart",
        "Start on login",
        true,
        model.autostart,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?)?;
    Ok(menu)
}

fn autostart_enabled(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// Creates the tray icon and starts following the engine's status.
pub fn create(app: &AppHandle, engine: Arc<Engine>) -> Result<()> {
    let snapshot = engine.snapshot();
    let model = MenuModel::of(&snapshot, autostart_enabled(app));
    let state = snapshot.overview.health;
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(state))
        .tooltip(summary::tooltip(&snapshot, now_ms()))
        .menu(&build_menu(app, &model)?)
        // Left click toggles the dock; the menu is on the right button (on Linux the
        // indicator shows the menu on any click, with "Open Dock" right under its summary).
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                actions::toggle_dock(tray.app_handle());
            }
        })
        .build(app)?;
    follow(app.clone(), tray, engine, model, state);
    Ok(())
}

fn on_menu(app: &AppHandle, id: &str) {
    tracing::debug!("tray menu: {id}");
    match id {
        "open-dock" => actions::show_dock(app),
        "restart-all" => actions::spawn_restart_all(app),
        "open-logs" => {
            if let Err(e) = actions::open_logs_folder(app) {
                tracing::warn!("{e:#}");
            }
        }
        "open-config" => {
            if let Err(e) = actions::open_config_file(app) {
                tracing::warn!("{e:#}");
            }
        }
        "autostart" => {
            let autolaunch = app.autolaunch();
            let result = if autolaunch.is_enabled().unwrap_or(false) {
                autolaunch.disable()
            } else {
                autolaunch.enable()
            };
            match result {
                Ok(()) => tracing::info!(
                    "start on login: {}",
                    if autostart_enabled(app) { "on" } else { "off" }
                ),
                Err(e) => tracing::warn!("cannot change start on login: {e}"),
            }
            refresh_now(app);
        }
        "quit" => actions::quit(app),
        other => {
            if let Some(name) = other.strip_prefix("copy-url:") {
                if let Err(e) = actions::copy_mcp_url(app, name) {
                    tracing::warn!("{e:#}");
                }
            } else if let Some(rest) = other.strip_prefix("server:")
                && let Some((action, name)) = rest.split_once(':')
                && let Ok(action) = action.parse::<Action>()
            {
                actions::spawn_server_action(app, name.to_string(), action);
            }
        }
    }
}

/// Wakes the follower to redraw now (after a change that is not a status change).
struct Poke(tokio::sync::mpsc::Sender<()>);

fn refresh_now(app: &AppHandle) {
    if let Some(poke) = app.try_state::<Poke>() {
        let _ = poke.0.try_send(());
    }
}

fn follow(
    app: AppHandle,
    tray: TrayIcon,
    engine: Arc<Engine>,
    mut model: MenuModel,
    mut state: Health,
) {
    let (poke_tx, mut poke) = tokio::sync::mpsc::channel::<()>(4);
    app.manage(Poke(poke_tx));
    tauri::async_runtime::spawn(async move {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        let mut sub = engine.status().subscribe();
        let mut tooltip = String::new();
        loop {
            let snapshot = engine.snapshot();
            let servers = &snapshot.servers;
            let now_state = snapshot.overview.health;
            if now_state != state {
                state = now_state;
                if let Err(e) = tray.set_icon(Some(icon(state))) {
                    tracing::warn!("cannot change the tray icon: {e}");
                }
            }
            let now_tooltip = summary::tooltip(&snapshot, now_ms());
            if now_tooltip != tooltip {
                tooltip = now_tooltip;
                let _ = tray.set_tooltip(Some(&tooltip));
            }
            let now_model = MenuModel::of(&snapshot, autostart_enabled(&app));
            if now_model != model {
                model = now_model;
                match build_menu(&app, &model) {
                    Ok(menu) => {
                        if let Err(e) = tray.set_menu(Some(menu)) {
                            tracing::warn!("cannot update the tray menu: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("cannot build the tray menu: {e}"),
                }
            }
            let clock = summary::has_clock(servers);
            tokio::select! {
                change = sub.changes.recv() => match change {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // Debounce: let a burst of changes settle, then draw once.
                        tokio::time::sleep(DEBOUNCE).await;
                        loop {
                            match sub.changes.try_recv() {
                                Ok(_) => continue,
                                Err(TryRecvError::Lagged(_)) => continue,
                                Err(TryRecvError::Empty) => break,
                                Err(TryRecvError::Closed) => return,
                            }
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                Some(()) = poke.recv() => {}
                // The tooltip counts down to the next restart, or up while a server starts.
                _ = tokio::time::sleep(Duration::from_secs(1)), if clock => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::{server, snapshot};
    use bridgedock_engine::status::{Meaning, ServerState, ServerStatus};

    /// The menu of one server, as the engine's hub would publish it.
    fn menu_of(s: &ServerStatus) -> MenuModel {
        let mut s = s.clone();
        s.meaning = Meaning::of(&s);
        MenuModel::of(&snapshot(vec![s]), false)
    }

    #[test]
    fn uptime_changes_do_not_rebuild_the_menu() {
        let mut a = server("demo", ServerState::Running { since_ms: 1 });
        let before = menu_of(&a);
        a.uptime_ms = Some(5_000);
        a.requests = 9;
        assert_eq!(menu_of(&a), before);
        a.state = ServerState::Backoff {
            attempt: 1,
            next_at_ms: 0,
            delay_ms: 1,
        };
        let after = menu_of(&a);
        assert_ne!(after, before);
        assert_eq!(after.servers[0].title, "demo — restarting (attempt 1)");
        assert!(after.servers[0].actions.stop && after.servers[0].actions.restart);
    }

    #[test]
    fn a_starting_servers_new_stderr_line_does_not_rebuild_the_menu_but_not_answering_does() {
        let mut a = server(
            "slow",
            ServerState::Starting {
                since_ms: 1,
                last_line: Some("downloading 10%".into()),
            },
        );
        let before = menu_of(&a);
        assert_eq!(before.servers[0].title, "slow — starting");
        a.state = ServerState::Starting {
            since_ms: 1,
            last_line: Some("downloading 20%".into()),
        };
        assert_eq!(menu_of(&a), before);
        a.state = ServerState::NotAnswering {
            since_ms: 1,
            reason: "its process (pid 2) has not answered".into(),
            last_line: None,
        };
        let after = menu_of(&a);
        assert_eq!(after.servers[0].title, "slow — not answering");
        assert_eq!(after.summary, "1 not answering");
        let act = after.servers[0].actions;
        assert!(!act.start && act.stop && act.restart, "{act:?}");
    }
}
