//! Logs: every line of every server's output, and the engine's own events, in one stream.
//!
//! - [`LogHub`] (`hub`): per-server rings + a global live tail under one short lock per push;
//!   pushes never wait on readers.
//! - [`LogSubscription`] (`subscription`): snapshot, then live tail, gap- and duplicate-free;
//!   slow readers are told how many lines they missed instead of slowing anyone down.
//! - [`pump_lines`] (`pump`): child byte stream → bounded lines → hub.
//! - [`guess_level`] (`level`): heuristic severity of a server's stderr line.
//! - [`spawn_file_writer`] (`files`): size-capped rolling files in the state dir.
//! - [`HubLayer`] (`tracing_layer`): the engine's `tracing` events as `Stream::Bridge` lines.

mod files;
mod hub;
mod level;
mod line;
mod pump;
mod subscription;
mod tracing_layer;

pub use files::{DEFAULT_FILE_MAX_BYTES, DEFAULT_FILES_KEPT, spawn_file_writer};
pub use hub::{LIVE_TAIL_LINES, LogHub, bench_ingest};
pub use level::guess_level;
pub use line::{BRIDGE_SOURCE, DEFAULT_RING_LINES, Level, LogFilter, LogLine, Stream, plain_text};
pub use pump::{MAX_LINE_BYTES, pump_lines};
pub use subscription::{LogEvent, LogSubscription};
pub use tracing_layer::HubLayer;
