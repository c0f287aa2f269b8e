//! What the dock may ask of the shell through `window.__TAURI__.core.invoke`: where the API
//! is, and the few things a web page cannot do by itself (open a folder, copy to the
//! clipboard). Each command parses its arguments, delegates, and maps errors to a message.

use std::sync::atomic::Ordering;

use bridgedock_engine::status::ServerStatus;
use bridgedock_engine::supervisor::Action;
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::actions::{self, Shell};

#[derive(Debug, Serialize)]
pub struct DockEndpoint {
    /// `http://127.0.0.1:PORT`: the HTTP/WebSocket API of the engine in this process.
    pub api: String,
    /// The API token (`Authorization: Bearer …`, or `?token=` for WebSockets).
    pub token: String,
}

/// `invoke('dock_endpoint')` → `{api, token}`.
#[tauri::command]
pub fn dock_endpoint(shell: State<'_, Shell>) -> DockEndpoint {
    if !shell.dock_connected.swap(true, Ordering::SeqCst) {
        println!(
            "bridgedock: dock asked for its endpoint {} ms after launch",
            shell.launched.elapsed().as_millis()
        );
    }
    DockEndpoint {
        api: shell.api.clone(),
        token: shell.token.clone(),
    }
}

/// `invoke('server_action', {name, action})` with action start | stop | restart.
#[tauri::command]
pub async fn server_action(
    shell: State<'_, Shell>,
    name: String,
    action: String,
) -> Result<ServerStatus, String> {
    let action = action.parse::<Action>().map_err(|e| e.to_string())?;
    actions::server_action(&shell.engine, &name, action)
        .await
        .map_err(|e| e.to_string())
}

/// `invoke('mcp_url', {name})` → `http://127.0.0.1:PORT/mcp/NAME` (Streamable HTTP).
#[tauri::command]
pub fn mcp_url(shell: State<'_, Shell>, name: String) -> Result<String, String> {
    shell.engine.server(&name).map_err(|e| e.to_string())?;
    Ok(shell.mcp_url(&name))
}

/// `invoke('copy_mcp_url', {name})`: puts the URL on the clipboard and returns it.
#[tauri::command]
pub fn copy_mcp_url(
    app: AppHandle,
    shell: State<'_, Shell>,
    name: String,
) -> Result<String, String> {
    shell.engine.server(&name).map_err(|e| e.to_string())?;
    actions::copy_mcp_url(&app, &name).map_err(|e| format!("{e:#}"))
}

/// `invoke('open_logs_folder')` → the folder's path.
#[tauri::command]
pub fn open_logs_folder(app: AppHandle) -> Result<String, String> {
    actions::open_logs_folder(&app)
        .map(|p| p.display().to_string())
        .map_err(|e| format!("{e:#}"))
}

/// `invoke('open_config_file')` → the file's path (written first if missing).
#[tauri::command]
pub fn open_config_file(app: AppHandle) -> Result<String, String> {
    actions::open_config_file(&app)
        .map(|p| p.display().to_string())
        .map_err(|e| format!("{e:#}"))
}
