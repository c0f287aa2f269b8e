//! Windows: the child runs in a Job Object (process-wrap); ending the tree goes through
//! `taskkill /T`, which walks the same tree. Process identities are not provable here, so
//! orphan reaping touches nothing on Windows.

use std::io;

use super::{GroupSignal, ProcessIdentity};

pub fn signal_group(pid: u32, signal: GroupSignal) -> io::Result<bool> {
    let mut cmd = std::process::Command::new("taskkill");
    cmd.args(["/T", "/PID", &pid.to_string()]);
    if signal == GroupSignal::Kill {
        cmd.arg("/F");
    }
    Ok(cmd.status()?.success())
}

pub fn group_alive(pid: u32) -> bool {
    std::process::Command::new("tasklist")
        .args(["/FI", &format!("PID eq {pid}"), "/NH"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&pid.to_string()))
        .unwrap_or(false)
}

pub fn group_members(_pgid: u32) -> Vec<ProcessIdentity> {
    Vec::new()
}

pub fn identity(_pid: u32) -> Option<ProcessIdentity> {
    None
}

pub fn boot_id() -> Option<String> {
    None
}

pub fn command_line(_pid: u32) -> Option<String> {
    None
}

pub fn tcp_listener(_port: u16) -> Option<(u32, String)> {
    None
}
