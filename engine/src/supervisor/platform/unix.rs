//! Unix: process groups via killpg, process facts from /proc (Linux). Where /proc is missing
//! (macOS), identities cannot be proven, so orphan reaping touches nothing.

use std::io;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{GroupSignal, ProcessIdentity};

/// Sends `signal` to every process in group `pgid`. `Ok(false)` when the group is gone.
pub fn signal_group(pgid: u32, signal: GroupSignal) -> io::Result<bool> {
    let sig = match signal {
        GroupSignal::Terminate => Signal::SIGTERM,
        GroupSignal::Kill => Signal::SIGKILL,
    };
    match killpg(Pid::from_raw(pgid as i32), sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// True while any process of group `pgid` exists (zombies included, until reaped).
pub fn group_alive(pgid: u32) -> bool {
    match killpg(Pid::from_raw(pgid as i32), None) {
        Ok(()) => true,
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Live members of group `pgid`, zombies excluded (a zombie is already dead; its parent reaps it).
pub fn group_members(pgid: u32) -> Vec<ProcessIdentity> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = read_stat(pid)?;
            (stat.pgid == pgid && stat.state != 'Z').then_some(ProcessIdentity {
                pid,
                start_ticks: stat.start_ticks,
            })
        })
        .collect()
}

/// The identity of a live process, or None when it is gone (or is a zombie).
pub fn identity(pid: u32) -> Option<ProcessIdentity> {
    let stat = read_stat(pid)?;
    (stat.state != 'Z').then_some(ProcessIdentity {
        pid,
        start_ticks: stat.start_ticks,
    })
}

/// This boot's id: start ticks only mean something within one boot.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The command line of a live process, for reports.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    Some(parts.join(" "))
}

/// Who is listening on TCP `port` (pid and command line), when the OS will say: the socket's
/// inode from /proc/net/tcp{,6}, then the process holding that inode among its fds. Processes
/// of other users cannot be looked into, so None means "unknown", not "nobody".
pub fn tcp_listener(port: u16) -> Option<(u32, String)> {
    let hex_port = format!(":{port:04X}");
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            text.lines().skip(1).find_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local_address ends with :PORT; state 0A is LISTEN; field 9 is the inode.
                (f.get(1)?.ends_with(&hex_port) && *f.get(3)? == "0A")
                    .then(|| f.get(9).map(|s| s.to_string()))?
            })
        })?;
    let target = format!("socket:[{inode}]");
    let procs = std::fs::read_dir("/proc").ok()?;
    for entry in procs.filter_map(|e| e.ok()) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds
            .filter_map(|fd| fd.ok())
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target));
        if holds {
            return Some((pid, command_line(pid).unwrap_or_default()));
        }
    }
    None
}

struct Stat {
    state: char,
    pgid: u32,
    start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgid: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_identity_and_group() {
        let me = std::process::id();
        let id = identity(me).unwrap();
        assert_eq!(id.pid, me);
        assert!(id.start_ticks > 0);
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_members(pgid).iter().any(|p| p.pid == me));
        assert!(group_alive(pgid));
        assert!(boot_id().is_some());
    }

    #[test]
    fn names_who_listens_on_a_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (pid, _) = tcp_listener(port).expect("our own listener is found");
        assert_eq!(pid, std::process::id());
    }
}
