//! Commands the dock calls inside the app: only what it cannot know by itself.

use serde::Serialize;

/// Where the dock finds the engine's API, and the token for it (never hard-coded in the page).
#[derive(Clone, Serialize)]
pub struct DockEndpoint {
    pub api: String,
    pub token: String,
}

#[tauri::command]
pub fn dock_endpoint(state: tauri::State<'_, DockEndpoint>) -> DockEndpoint {
    state.inner().clone()
}
