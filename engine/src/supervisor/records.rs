//! Records of every child bridgedock spawns, kept in the state dir, and the start-up sweep that
//! stops what a previous bridgedock left running.
//!
//! A record holds the child's identity (pid + start time + boot id), its process group and
//! its command line. At start-up a recorded tree that is still alive and provably ours — same
//! boot, leader with the same start time, or group members started after it — is stopped and
//! reported. Anything that cannot be proven ours is left alone: a reused pid is never touched.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::platform::{self, GroupSignal, ProcessIdentity};
use crate::status::{ReapedOrphan, now_ms};

/// How long a reaped orphan tree gets between SIGTERM and SIGKILL.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);
const ORPHAN_POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildRecord {
    pub server: String,
    pub child: ProcessIdentity,
    pub pgid: u32,
    pub boot_id: Option<String>,
    pub command_line: String,
    pub started_at_ms: u64,
    /// The bridgedock process that spawned it: while that one lives, the child is not an orphan.
    pub owner: Option<ProcessIdentity>,
}

/// The `children/` folder of the state dir.
#[derive(Debug, Clone)]
pub struct ChildRecords {
    dir: PathBuf,
}

impl ChildRecords {
    pub fn new(state_dir: &Path) -> Self {
        ChildRecords {
            dir: state_dir.join("children"),
        }
    }

    fn path_for(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("{pid}.json"))
    }

    /// Writes the record atomically (temp file + rename), readable only by its owner.
    pub fn add(&self, record: &ChildRecord) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let body = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!(".{}.tmp", record.child.pid));
        std::fs::write(&tmp, body)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(tmp, self.path_for(record.child.pid))
    }

    pub fn remove(&self, pid: u32) {
        let _ = std::fs::remove_file(self.path_for(pid));
    }

    pub fn load_all(&self) -> Vec<ChildRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let body = std::fs::read(e.path()).ok()?;
                match serde_json::from_slice::<ChildRecord>(&body) {
                    Ok(r) => Some(r),
                    Err(err) => {
                        tracing::warn!(
                            "ignoring unreadable child record {}: {err}",
                            e.path().display()
                        );
                        None
                    }
                }
            })
            .collect()
    }

    /// Stops every recorded tree that is still alive and provably ours, and forgets records
    /// of trees that are gone. Returns what was stopped.
    pub async fn reap_orphans(&self) -> Vec<ReapedOrphan> {
        let me = platform::identity(std::process::id());
        let boot = platform::boot_id();
        let mut reaped = Vec::new();
        for record in self.load_all() {
            match self.classify(&record, me, boot.as_deref()) {
                Verdict::Gone => self.remove(record.child.pid),
                Verdict::OwnedByLiveDaemon => {}
                Verdict::Orphan(members) => {
                    let processes = members.len();
                    stop_tree(record.pgid).await;
                    tracing::warn!(
                        server = %record.server,
                        "stopped an orphaned `{}` process tree (pid {}, {} process{}: {}) left by a bridgedock that did not shut down cleanly",
                        record.server,
                        record.child.pid,
                        processes,
                        if processes == 1 { "" } else { "es" },
                        record.command_line
                    );
                    reaped.push(ReapedOrphan {
                        server: record.server.clone(),
                        pid: record.child.pid,
                        processes,
                        command: record.command_line.clone(),
                        at_ms: now_ms(),
                    });
                    self.remove(record.child.pid);
                }
            }
        }
        reaped
    }

    fn classify(
        &self,
        record: &ChildRecord,
        me: Option<ProcessIdentity>,
        boot: Option<&str>,
    ) -> Verdict {
        if boot.is_none() || record.boot_id.as_deref() != boot {
            // Another boot (or no way to tell): whatever that pid is now, it is not ours.
            return Verdict::Gone;
        }
        if let Some(owner) = record.owner
            && Some(owner) != me
            && platform::identity(owner.pid) == Some(owner)
        {
            return Verdict::OwnedByLiveDaemon;
        }
        let members = platform::group_members(record.pgid);
        let leader_replaced = members
            .iter()
            .any(|m| m.pid == record.pgid && m.start_ticks != record.child.start_ticks);
        let ours: Vec<ProcessIdentity> = members
            .into_iter()
            .filter(|m| m.start_ticks >= record.child.start_ticks)
            .collect();
        // A live leader with another start time means the pid was reused for a new group.
        if ours.is_empty() || leader_replaced {
            return Verdict::Gone;
        }
        Verdict::Orphan(ours)
    }
}

enum Verdict {
    Gone,
    OwnedByLiveDaemon,
    Orphan(Vec<ProcessIdentity>),
}

/// SIGTERM to the group, a short grace, then SIGKILL; waits until no live member is left.
async fn stop_tree(pgid: u32) {
    let _ = platform::signal_group(pgid, GroupSignal::Terminate);
    let deadline = tokio::time::Instant::now() + ORPHAN_GRACE;
    while tokio::time::Instant::now() < deadline && !platform::group_members(pgid).is_empty() {
        tokio::time::sleep(ORPHAN_POLL).await;
    }
    if !platform::group_members(pgid).is_empty() {
        let _ = platform::signal_group(pgid, GroupSignal::Kill);
        let deadline = tokio::time::Instant::now() + ORPHAN_GRACE;
        while tokio::time::Instant::now() < deadline && !platform::group_members(pgid).is_empty() {
            tokio::time::sleep(ORPHAN_POLL).await;
        }
    }
}
