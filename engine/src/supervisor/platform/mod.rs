//! Operating-system facts and signals for process trees, one file per OS.
//!
//! The supervisor speaks in process groups: a server and everything it starts (`npx` → `node`,
//! `uvx` → `python`) share one group, and every signal goes to the whole group.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// The two ways bridgedock asks a process tree to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    /// Please exit (SIGTERM).
    Terminate,
    /// Exit now (SIGKILL).
    Kill,
}

/// A process's identity over time: its pid and when it started. A pid alone can be reused;
/// the pair cannot (within one boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessIdentity {
    pub pid: u32,
    /// Start time in clock ticks since boot (Linux `/proc/PID/stat` field 22).
    pub start_ticks: u64,
}
