//! A server's secrets stay hidden wherever bridgedock shows its command line or env, with the
//! real binary: `bridgedockd check`, the status (`ctl status`, `--json`, `/api/status`), the
//! logs (files, `ctl logs`, the daemon's stderr) and the child records in the state dir.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::daemon::{BIN, Daemon, http};
use common::{eventually, fixture};

/// What the config holds and nothing may show.
const SECRETS: &[&str] = &["sk-123456", "--token=abc", "ghp_x"];

fn config_with_secrets(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[servers.keeper]\ncommand = \"python3\"\nargs = [{:?}, \"--api-key\", \"sk-123456\", \"--token=abc\"]\nenv = {{ GITHUB_TOKEN = \"ghp_x\", TZ = \"UTC\" }}\n",
            fixture("stable.py")
        ),
    )
    .unwrap();
    path
}

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows `{secret}`:\n{text}");
    }
}

/// Every regular file under `dir` (none while it does not exist yet), with its text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.map(Result::unwrap) {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_under(&path));
        } else if kind.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            found.push((path, text));
        }
    }
    found
}

#[test]
fn check_prints_the_command_and_env_with_their_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_secrets(dir.path());
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_hidden("check's stdout", &stdout);
    assert_hidden("check's stderr", &stderr);
    assert!(
        stdout.contains("stable.py --api-key *** --token=***\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    env: GITHUB_TOKEN=*** TZ=UTC\n"),
        "{stdout}"
    );
}

#[tokio::test]
async fn status_logs_and_child_records_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_secrets(dir.path());
    let d = Daemon::start(dir.path(), Some(&cfg));
    eventually(Duration::from_secs(10), "keeper running", || {
        (d.server("keeper")["state"] == "running").then_some(())
    })
    .await;

    let status = d.ctl_ok(&["status", "--json"]);
    assert_hidden("ctl status --json", &status);
    let keeper = d.server("keeper");
    let command: Vec<&str> = keeper["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        command[command.len() - 3..],
        ["--api-key", "***", "--token=***"]
    );
    assert_hidden("ctl status", &d.ctl_ok(&["status"]));
    let bearer = format!("Bearer {}", d.token);
    let (code, body) = http(&d.addr, "GET", "/api/status", &[("Authorization", &bearer)]).await;
    assert_eq!(code, 200);
    assert_hidden("/api/status", &body);

    // The "started" line is where a command line is logged: wait until it is on disk.
    let logs = d.state_dir.join("logs");
    let started = eventually(
        Duration::from_secs(10),
        "the started line in a log file",
        || {
            files_under(&logs).into_iter().find_map(|(_, text)| {
                text.lines()
                    .find(|l| l.contains("started `keeper`"))
                    .map(str::to_owned)
            })
        },
    )
    .await;
    assert!(started.contains("--api-key *** --token=***"), "{started}");
    for (path, text) in files_under(&d.state_dir) {
        assert_hidden(&path.display().to_string(), &text);
    }
    assert_hidden("ctl logs", &d.ctl_ok(&["logs", "-n", "1000"]));
    assert_hidden("the daemon's stderr", &d.stderr());
}
