//! The client side of the control socket, and how `ctl` shows what it gets: a status table
//! people can read at a glance, log lines with their time, server and stream.

use serde_json::Value;

use crate::logs::LogLine;
use crate::status::{Snapshot, format_duration_ms, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(
        "bridgedockd is not running (no control socket at {path}): start it with `bridgedockd serve`, or pass the --state-dir it uses"
    )]
    NotRunning { path: String },
    #[error("cannot talk to bridgedockd at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{message} (code {code})")]
    Rpc { code: i64, message: String },
    #[error("bridgedockd sent something that is not JSON-RPC: {0}")]
    BadReply(String),
}

#[cfg(unix)]
pub use unix_client::{follow, request};

#[cfg(unix)]
mod unix_client {
    use std::path::Path;

    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;

    use super::CtlError;

    async fn connect(path: &Path) -> Result<UnixStream, CtlError> {
        UnixStream::connect(path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                CtlError::NotRunning {
                    path: path.display().to_string(),
                }
            }
            _ => CtlError::Io {
                path: path.display().to_string(),
                source: e,
            },
        })
    }

    fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CtlError + '_ {
        move |e| CtlError::Io {
            path: path.display().to_string(),
            source: e,
        }
    }

    fn result_of(line: &str) -> Result<Value, CtlError> {
        let v: Value =
            serde_json::from_str(line).map_err(|_| CtlError::BadReply(line.to_string()))?;
        if let Some(err) = v.get("error") {
            return Err(CtlError::Rpc {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string(),
            });
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| CtlError::BadReply(line.to_string()))
    }

    /// One request, one answer.
    pub async fn request(path: &Path, method: &str, params: Value) -> Result<Value, CtlError> {
        let stream = connect(path).await?;
        let (read, mut write) = stream.into_split();
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        write
            .write_all(format!("{req}\n").as_bytes())
            .await
            .map_err(io_err(path))?;
        let mut line = String::new();
        BufReader::new(read)
            .read_line(&mut line)
            .await
            .map_err(io_err(path))?;
        if line.is_empty() {
            return Err(CtlError::BadReply(
                "the connection closed without an answer".into(),
            ));
        }
        result_of(&line)
    }

    /// Follows logs: `on_message` gets the first reply's result, then each notification.
    pub async fn follow(
        path: &Path,
        params: Value,
        mut on_message: impl FnMut(&str, &Value),
    ) -> Result<(), CtlError> {
        let stream = connect(path).await?;
        let (read, mut write) = stream.into_split();
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": "logs.follow", "params": params});
        write
            .write_all(format!("{req}\n").as_bytes())
            .await
            .map_err(io_err(path))?;
        let mut lines = BufReader::new(read).lines();
        let first = lines
            .next_line()
            .await
            .map_err(io_err(path))?
            .ok_or_else(|| CtlError::BadReply("the connection closed without an answer".into()))?;
        on_message("result", &result_of(&first)?);
        while let Some(line) = lines.next_line().await.map_err(io_err(path))? {
            let v: Value =
                serde_json::from_str(&line).map_err(|_| CtlError::BadReply(line.clone()))?;
            let method = v.get("method").and_then(Value::as_str).unwrap_or("");
            on_message(method, v.get("params").unwrap_or(&Value::Null));
        }
        Ok(())
    }
}

/// `ctl status`: one row per server, the state in a few words; then, under the table, what the
/// short states leave out (why a server is not answering, the newest line of one starting, what
/// to install), so that one long reason does not stretch every row.
pub fn status_table(snap: &Snapshot) -> String {
    status_table_at(snap, now_ms())
}

fn status_table_at(snap: &Snapshot, now: u64) -> String {
    let mut rows = vec![[
        "SERVER".to_string(),
        "STATE".into(),
        "PID".into(),
        "UPTIME".into(),
        "RESTARTS".into(),
        "VERSION".into(),
        "LAST EXIT".into(),
    ]];
    for s in &snap.servers {
        let version = match (&s.reported_version, &s.expected_version) {
            (Some(r), Some(e)) if s.version_mismatch() => format!("{r} (expected {e})"),
            (Some(r), _) => r.clone(),
            (None, Some(e)) => format!("? (expected {e})"),
            (None, None) => "-".into(),
        };
        // A server that exited by itself reads so, as in the dock and the tray.
        let state = match s.state {
            crate::status::ServerState::Stopped => s.meaning.summary.clone(),
            _ => s.state.headline(now),
        };
        rows.push([
            s.name.clone(),
            state,
            s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            s.uptime_ms
                .map(format_duration_ms)
                .unwrap_or_else(|| "-".into()),
            s.restarts.to_string(),
            version,
            s.last_exit
                .as_ref()
                .map(|e| e.reason.clone())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    // Every column but the last is padded to its widest cell.
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "bridgedock {} (pid {}) — API {}, up {} — {}\n",
        snap.bridge.version,
        snap.bridge.pid,
        if snap.bridge.address.is_empty() {
            "not listening"
        } else {
            &snap.bridge.address
        },
        format_duration_ms(snap.bridge.uptime_ms),
        snap.overview.summary
    );
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 6 {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if snap.servers.is_empty() {
        out.push_str("(no servers configured)\n");
    }
    let notes: Vec<(&str, Vec<String>)> = snap
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.state.details()))
        .filter(|(_, details)| !details.is_empty())
        .collect();
    if !notes.is_empty() {
        out.push('\n');
    }
    for (name, details) in notes {
        // "mute: its process …" and its further lines under the first one's text.
        let indent = " ".repeat(name.chars().count() + 2);
        for (i, detail) in details.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("{name}: {detail}\n"));
            } else {
                out.push_str(&format!("{indent}{detail}\n"));
            }
        }
    }
    for o in &snap.bridge.reaped_orphans {
        out.push_str(&format!(
            "note: at start-up, stopped an orphaned `{}` tree (pid {}, {} processes) left by an earlier bridgedock\n",
            o.server, o.pid, o.processes
        ));
    }
    out
}

/// `ctl logs`: `2026-11-21T05:00:00.123Z demo stderr [warn] text`.
pub fn format_log_line(line: &LogLine) -> String {
    let time = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(line.time_ms),
    );
    let stream = serde_json::to_value(line.stream)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let level = line
        .level
        .and_then(|l| serde_json::to_value(l).ok())
        .and_then(|v| v.as_str().map(|s| format!("[{s}] ")))
        .unwrap_or_default();
    format!("{time} {} {stream} {level}{}", line.server, line.text)
}

/// Parses a log line from JSON and formats it; unparseable values are shown raw.
pub fn format_log_value(v: &Value) -> String {
    serde_json::from_value::<LogLine>(v.clone())
        .map(|l| format_log_line(&l))
        .unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BridgeStatus, ServerState, ServerStatus};

    fn snapshot(servers: Vec<ServerStatus>) -> Snapshot {
        Snapshot {
            bridge: BridgeStatus {
                version: "0.1.0".into(),
                pid: 1,
                address: "127.0.0.1:7455".into(),
                started_at_ms: 0,
                uptime_ms: 120_000,
                config_path: None,
                state_dir: "/tmp/s".into(),
                reaped_orphans: Vec::new(),
            },
            overview: crate::status::Overview::of(&servers),
            servers,
            clients: Vec::new(),
        }
    }

    /// A server as the status hub publishes it, its meaning included.
    fn server(name: &str, state: ServerState, pid: Option<u32>) -> ServerStatus {
        let mut s = ServerStatus {
            state,
            pid,
            ..ServerStatus::new(name)
        };
        s.meaning = crate::status::Meaning::of(&s);
        s
    }

    #[test]
    fn long_reasons_go_under_the_table_and_the_state_column_stays_narrow() {
        let reason = "its process (pid 12) has not answered bridgedock's MCP handshake within 2 min (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log";
        let table = status_table_at(
            &snapshot(vec![
                server("demo", ServerState::Running { since_ms: 0 }, Some(10)),
                server(
                    "slow",
                    ServerState::Starting {
                        since_ms: 86_000,
                        last_line: Some(
                            "npm http fetch GET 200 https://registry.npmjs.org/x 55%".into(),
                        ),
                    },
                    Some(11),
                ),
                server(
                    "mute",
                    ServerState::NotAnswering {
                        since_ms: 0,
                        reason: reason.into(),
                        last_line: Some("mute: up pid 12, answering nothing".into()),
                    },
                    Some(12),
                ),
                server(
                    "everything",
                    ServerState::NoCommand {
                        program: "npx".into(),
                        hint: "install Node.js 18+".into(),
                    },
                    None,
                ),
            ]),
            120_000,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "bridgedock 0.1.0 (pid 1) — API 127.0.0.1:7455, up 2 min — 1 ready · 1 starting · 1 not answering · 1 not installed"
        );
        assert_eq!(
            lines[1..6],
            [
                "SERVER      STATE                        PID  UPTIME  RESTARTS  VERSION  LAST EXIT",
                "demo        running (up 2 min)           10   -       0         -        -",
                "slow        starting (34 s)              11   -       0         -        -",
                "mute        not answering (up 2 min)     12   -       0         -        -",
                "everything  no-command: \"npx\" not found  -    -       0         -        -",
            ],
            "{table}"
        );
        assert_eq!(
            lines[6..],
            [
                "",
                "slow: last line: npm http fetch GET 200 https://registry.npmjs.org/x 55%",
                &format!("mute: {reason}"),
                "      last line: mute: up pid 12, answering nothing",
                "everything: install Node.js 18+",
            ],
            "{table}"
        );
    }

    #[test]
    fn a_table_with_nothing_to_add_ends_with_its_rows() {
        let table = status_table_at(
            &snapshot(vec![server("demo", ServerState::Stopped, None)]),
            0,
        );
        assert!(
            table.ends_with("demo    stopped  -    -       0         -        -\n"),
            "{table}"
        );
        // One that exited by itself says so, in the engine's words.
        let mut exited = server("demo", ServerState::Stopped, None);
        exited.last_exit = Some(crate::status::ExitInfo {
            at_ms: 0,
            code: Some(0),
            signal: None,
            reason: "exited with code 0".into(),
            requested: false,
            last_stderr: vec![],
        });
        exited.meaning = crate::status::Meaning::of(&exited);
        let table = status_table_at(&snapshot(vec![exited]), 0);
        assert!(
            table.contains("demo    exited with code 0 by itself, not restarted  -"),
            "{table}"
        );
        assert!(
            table.lines().next().unwrap().ends_with("— 1 exited"),
            "{table}"
        );
    }
}
