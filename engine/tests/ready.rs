//! "Ready" means the server answers: with the real daemon, a server that takes 40 s before it
//! reads its input (as a cold `npx -y` start does while it downloads) is shown as starting —
//! with its latest stderr line — until it answers bridgedock's own handshake, and the first
//! client's `initialize`, sent meanwhile, is answered then; a process that never answers is
//! shown as not answering (alive, not crashed), and what waited for it is told what it waited for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::path::Path;
use std::time::Duration;

use common::daemon::Daemon;
use common::ws::WsClient;
use serde_json::{Value, json};

fn config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "early", "version": "1"}}})
}

#[tokio::test]
async fn a_server_that_takes_40_s_to_start_is_ready_only_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[servers.slow]\ncommand = \"python3\"\nargs = [{:?}, \"--delay-s\", \"40\"]\n",
        common::fixture("slow_start.py")
    );
    let d = Daemon::start(dir.path(), Some(&config(dir.path(), &body)));
    let mut ws = WsClient::connect(&d, "slow").await;
    ws.send(initialize(1)).await;

    // While it downloads, its state says so, with its progress; never "running" before the
    // server answered bridgedock's handshake (its answer reaches this client a moment later,
    // so a look in between may already see "running": then the server has answered, after
    // its 40 s, and its protocol is known).
    let mut saw_progress = None;
    let answer = loop {
        tokio::select! {
            answer = ws.recv_within(Duration::from_secs(120)) => break answer,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let s = d.server("slow");
                if s["state"] == "running" {
                    assert!(
                        s["protocol_revision"].is_string()
                            && s["uptime_ms"].as_u64().is_some_and(|up| up >= 40_000),
                        "running before it answered: {s}"
                    );
                }
                assert!(s["state"] == "starting" || s["state"] == "running", "{s}");
                if let Some(line) = s["last_line"].as_str()
                    && line.contains("downloading")
                {
                    assert!(s["pid"].is_u64(), "its process is alive: {s}");
                    saw_progress = Some(line.to_string());
                }
            }
        }
    };
    assert_eq!(answer["id"], 1);
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "slow-start",
        "{answer}"
    );
    let progress = saw_progress.expect("its stderr progress was shown while it started");
    assert!(
        progress.starts_with("slow_start: downloading"),
        "{progress}"
    );
    let ready = d.server("slow");
    assert_eq!(ready["state"], "running", "{ready}");
    assert_eq!(ready["protocol_revision"], "2025-11-25");
    assert!(
        ready["declared_capabilities"]["sampling"].is_object(),
        "{ready}"
    );

    ws.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}))
        .await;
    let echoed = ws.recv().await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi");
}

#[tokio::test]
async fn a_process_that_never_answers_is_not_answering_not_crashed() {
    let dir = tempfile::tempdir().unwrap();
    // mute.py reads its input and never writes a byte back.
    let body = format!(
        "[servers.mute]\ncommand = \"python3\"\nargs = [{:?}]\nstart_timeout = \"3s\"\n",
        common::fixture("mute.py")
    );
    let d = Daemon::start(dir.path(), Some(&config(dir.path(), &body)));
    let mut ws = WsClient::connect(&d, "mute").await;
    ws.send(initialize(1)).await;
    // (Held while it starts: max(start_timeout, down_wait) = 30 s.)
    let refused = ws.recv_within(Duration::from_secs(90)).await;
    let words = refused["error"]["message"].as_str().unwrap();
    assert!(
        words.contains("has not answered bridgedock's MCP handshake"),
        "{words}"
    );
    assert!(words.contains("start_timeout"), "{words}");

    let s = common::eventually(
        Duration::from_secs(10),
        "mute shown as not answering",
        || {
            let s = d.server("mute");
            (s["state"] == "not-answering").then_some(s)
        },
    )
    .await;
    assert!(s["pid"].is_u64(), "its process is alive: {s}");
    assert!(s["reason"].as_str().unwrap().contains("within 3 s"), "{s}");
    assert_eq!(s["restarts"], 0, "not treated as a crash: {s}");
    let table = d.ctl_ok(&["status"]);
    assert!(table.contains("not answering"), "{table}");
}

/// A restart is a new process: until it answers, it speaks no protocol and nothing was declared
/// to it — what bridgedock agreed with the last process went with it.
#[tokio::test]
async fn a_restarted_server_speaks_no_protocol_until_its_new_process_answers() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[servers.slow]\ncommand = \"python3\"\nargs = [{:?}, \"--delay-s\", \"2\"]\n",
        common::fixture("slow_start.py")
    );
    let d = Daemon::start(dir.path(), Some(&config(dir.path(), &body)));
    let ready = common::eventually(Duration::from_secs(15), "slow ready", || {
        let s = d.server("slow");
        (s["state"] == "running").then_some(s)
    })
    .await;
    assert_eq!(ready["protocol_revision"], "2025-11-25", "{ready}");
    assert!(ready["server_capabilities"]["tools"].is_object(), "{ready}");

    let (code, body) = common::daemon::http(
        &d.addr,
        "POST",
        "/api/servers/slow/restart",
        &[("Authorization", &format!("Bearer {}", d.token))],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let restarted: Value = serde_json::from_str(&body).unwrap();
    let s = &restarted["server"];
    assert_eq!(s["state"], "starting", "{s}");
    assert_ne!(s["pid"], ready["pid"], "{s}");
    for field in [
        "reported_version",
        "protocol_revision",
        "declared_capabilities",
        "server_capabilities",
    ] {
        assert_eq!(s[field], Value::Null, "{field} of the last process: {s}");
    }
    let again = common::eventually(Duration::from_secs(15), "slow ready again", || {
        let s = d.server("slow");
        (s["state"] == "running").then_some(s)
    })
    .await;
    assert_eq!(again["protocol_revision"], "2025-11-25", "{again}");
}
