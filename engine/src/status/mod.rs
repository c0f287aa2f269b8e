//! The status model and its hub: the single source of truth every face reads.
//!
//! Actors and the bridge write here; the tray, the dock, the browser and `ctl` only read the
//! snapshot and follow its change events, so they can never disagree about what is running.

mod hub;
mod meaning;
mod model;

pub use hub::{StatusChange, StatusHub, StatusSubscription};
pub use model::{
    Actions, BridgeStatus, Circuit, ClientSession, Diagnosis, EditorSession, ExitInfo, GodotStatus,
    Health, Meaning, Overview, ReapedOrphan, ServerState, ServerStatus, Snapshot, describe_exit,
    format_duration_ms, now_ms,
};
