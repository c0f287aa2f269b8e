//! The tray: its icon and tooltip say how the servers are, its menu is built from the engine's
//! live status (a submenu per server with Start / Stop / Restart), and it is rebuilt whenever
//! the status changes. Every action goes to the engine; nothing here has state of its own.

use std::sync::Arc;

use bridgedock_engine::Engine;
use bridgedock_engine::status::{ServerState, ServerStatus, Snapshot, now_ms};
use tauri::AppHandle;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

pub const TRAY_ID: &str = "bridgedock";

/// How the servers are, taken together: the tray shows one of three icons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Ready,
    Busy,
    Down,
}

fn stopped_unexpectedly(s: &ServerStatus) -> bool {
    matches!(s.state, ServerState::Stopped) && s.last_exit.as_ref().is_some_and(|e| !e.requested)
}

pub fn aggregate(snap: &Snapshot) -> Aggregate {
    let down = snap.servers.iter().any(|s| {
        matches!(
            s.state,
            ServerState::Failed { .. }
                | ServerState::Crashed { .. }
                | ServerState::NoCommand { .. }
        ) || stopped_unexpectedly(s)
    });
    let busy = snap.servers.iter().any(|s| {
        matches!(
            s.state,
            ServerState::Starting | ServerState::Stopping | ServerState::Backoff { .. }
        )
    });
    if down {
        Aggregate::Down
    } else if busy {
        Aggregate::Busy
    } else {
        Aggregate::Ready
    }
}

/// "3 servers ready"; "time: restarting — attempt 3, next in 8 s"; "time: failed …".
pub fn tooltip(snap: &Snapshot) -> String {
    let now = now_ms();
    let trouble: Vec<String> = snap
        .servers
        .iter()
        .filter_map(|s| match &s.state {
            ServerState::Backoff {
                attempt,
                next_at_ms,
                ..
            } => Some(format!(
                "{}: restarting — attempt {attempt}, next in {} s",
                s.name,
                next_at_ms.saturating_sub(now).div_ceil(1000)
            )),
            ServerState::Running { .. } | ServerState::Stopped => None,
            other => Some(format!("{}: {}", s.name, other.describe(now))),
        })
        .collect();
    if !trouble.is_empty() {
        return trouble.join("\n");
    }
    let ready = snap
        .servers
        .iter()
        .filter(|s| matches!(s.state, ServerState::Running { .. }))
        .count();
    match ready {
        1 => "bridgedock: 1 server ready".to_string(),
        n => format!("bridgedock: {n} servers ready"),
    }
}

fn icon(state: Aggregate) -> Option<Image<'static>> {
    let bytes: &'static [u8] = match state {
        Aggregate::Ready => include_bytes!("../../icons/tray-ok.png"),
        Aggregate::Busy => include_bytes!("../../icons/tray-busy.png"),
        Aggregate::Down => include_bytes!("../../icons/tray-down.png"),
    };
    Image::from_bytes(bytes).ok()
}

fn state_words(s: &ServerStatus) -> String {
    match &s.state {
        ServerState::Backoff { attempt, .. } => format!("restarting (attempt {attempt})"),
        ServerState::NoCommand { program, .. } => format!("{program} not found"),
        other => other.name().to_string(),
    }
}

pub fn menu(app: &AppHandle, snap: &Snapshot, autostart: bool) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(
        app,
        "open-dock",
        "Open Dock",
        true,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    for s in &snap.servers {
        let running = matches!(s.state, ServerState::Running { .. });
        let sub = Submenu::with_id(
            app,
            format!("server:{}", s.name),
            format!("{} — {}", s.name, state_words(s)),
            true,
        )?;
        sub.append(&MenuItem::with_id(
            app,
            format!("start:{}", s.name),
            "Start",
            !running,
            None::<&str>,
        )?)?;
        sub.append(&MenuItem::with_id(
            app,
            format!("stop:{}", s.name),
            "Stop",
            running,
            None::<&str>,
        )?)?;
        sub.append(&MenuItem::with_id(
            app,
            format!("restart:{}", s.name),
            "Restart",
            true,
            None::<&str>,
        )?)?;
        sub.append(&MenuItem::with_id(
            app,
            format!("copy:{}", s.name),
            "Copy MCP URL",
            true,
            None::<&str>,
        )?)?;
        menu.append(&sub)?;
    }
    if !snap.servers.is_empty() {
        menu.append(&PredefinedMenuItem::separator(app)?)?;
    }
    menu.append(&MenuItem::with_id(
        app,
        "restart-all",
        "Restart all",
        !snap.servers.is_empty(),
        None::<&str>,
    )?)?;
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
        autostart,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "quit",
        "Quit bridgedock",
        true,
        None::<&str>,
    )?)?;
    Ok(menu)
}

/// Creates the tray; left click toggles the dock, the menu acts through `on_menu`.
pub fn create(app: &AppHandle, snap: &Snapshot, autostart: bool) -> tauri::Result<TrayIcon> {
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .menu(&menu(app, snap, autostart)?)
        .show_menu_on_left_click(false)
        .tooltip(tooltip(snap))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::toggle_dock(tray.app_handle());
            }
        })
        .on_menu_event(|app, event| crate::on_menu(app, event.id().as_ref()));
    if let Some(image) = icon(aggregate(snap)) {
        builder = builder.icon(image);
    }
    builder.build(app)
}

/// Brings the tray in line with a new snapshot.
pub fn refresh(app: &AppHandle, snap: &Snapshot, autostart: bool) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Ok(m) = menu(app, snap, autostart) {
        let _ = tray.set_menu(Some(m));
    }
    let _ = tray.set_icon(icon(aggregate(snap)));
    let _ = tray.set_tooltip(Some(tooltip(snap)));
}

/// The status the tray follows; the engine handle for menu actions.
pub struct TrayEngine(pub Arc<Engine>);
