//! bridgedock's engine: everything bridgedock does, with no GUI dependency.
//!
//! The desktop app (`src-tauri`) and the headless daemon (`bridgedockd`) are thin faces over
//! [`Engine`]: they read its status snapshot and event stream and send it commands. Data paths:
//!
//! - child stderr → [`logs::LogHub`] (seq, time, stream) → subscribers (API, `ctl logs -f`, files)
//! - any state change → [`status::StatusHub`] → every face
//! - start / stop / restart (tray, dock, CLI) → [`supervisor::ServerHandle`] → the server's actor

pub mod backoff;
pub mod bridge;
pub mod config;
pub mod control;
pub mod demo;
pub mod engine;
pub mod godot;
pub mod host;
pub mod logs;
pub mod memory;
pub mod paths;
pub mod protocol;
pub mod status;
pub mod supervisor;
pub mod upstream;

pub use engine::{Engine, EngineOptions};
