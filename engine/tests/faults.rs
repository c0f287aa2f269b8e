//! Faults, with the real daemon and real server processes: a server that stops reading its
//! stdin, one that never answers, one that dies at start-up a hundred times in a row, a log
//! directory that cannot be written (or a disk that is full), and the whole daemon frozen
//! (SIGSTOP, as a laptop's suspend looks to a process) past its heartbeat and request timeouts.
//! Each test waits on states with deadlines; the only sleeps are the faults themselves (a
//! freeze) and traffic spread over time (log lines across several flush periods).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, fd_count, http, rss_mib, vm_hwm_mib};
use common::ws::{REVISION, WsClient};
use common::{eventually, fixture};
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/demo_server.py");

fn write_config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn server(name: &str, script: &str, extra: &str) -> String {
    format!("[servers.{name}]\ncommand = \"python3\"\nargs = [{script:?}]\n{extra}\n\n")
}

/// A client of `server` that has introduced itself as `name` (a current client, declaring no
/// capabilities) and was greeted back.
async fn joined(d: &Daemon, server: &str, name: &str) -> WsClient {
    let mut c = WsClient::connect(d, server).await;
    let v = c.initialize(name, REVISION).await;
    assert!(v["result"]["serverInfo"].is_object(), "{v}");
    c
}

/// `name`'s entry in the daemon's status.
fn server_status(d: &Daemon, name: &str) -> Value {
    d.server(name)
}

/// Waits until every server in the daemon's status is running.
async fn all_running(d: &Daemon) {
    eventually(Duration::from_secs(30), "every server running", || {
        d.status()["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "running")
            .then_some(())
    })
    .await;
}

/// How many lines of `ctl logs NAME` contain `text`.
fn log_count(d: &Daemon, name: &str, text: &str) -> usize {
    d.ctl_ok(&["logs", name, "-n", "10000"])
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

#[tokio::test]
async fn a_server_that_stops_reading_fails_requests_clearly_and_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &(server("deaf", &fixture("stuck.py"), "request_timeout = \"2s\"")
            + &server("echo", &fixture("echo_stdio.py"), "")),
    );
    let d = Daemon::start(dir.path(), Some(&cfg));
    all_running(&d).await;
    let mut deaf = joined(&d, "deaf", "flooder").await;
    let mut other = joined(&d, "echo", "bystander").await;
    let hello = deaf.call("echo", json!({"n": 1})).await;
    assert_eq!(hello["result"]["structuredContent"]["n"], 1, "{hello}");
    let rss_before = rss_mib(d.pid());

    let stopped = deaf.call("stop_reading", json!({})).await;
    assert!(stopped["result"].is_object(), "{stopped}");
    // 256 requests of 1 MiB each, all at once: far more than the bridge may hold for a server.
    const FLOOD: usize = 256;
    let blob = "x".repeat(1 << 20);
    for i in 0..FLOOD {
        deaf.queue(
            json!({"jsonrpc": "2.0", "id": format!("big-{i}"), "method": "tools/call",
            "params": {"name": "echo", "arguments": {"blob": blob}}}),
        );
    }
    // While they wait, another server and its client carry on, and so does the control socket.
    for i in 0..20 {
        let v = other
            .request("tools/call", json!({"name": "x", "arguments": {"i": i}}))
            .await;
        assert_eq!(v["result"]["arguments"]["i"], i, "{v}");
    }
    assert_eq!(server_status(&d, "echo")["state"], "running");

    // Every one of them is answered, with an error that says what happened; none hangs.
    let mut codes: BTreeMap<i64, usize> = BTreeMap::new();
    let mut refused = None;
    let mut answered = 0;
    while answered < FLOOD {
        let v = deaf.recv_within(Duration::from_secs(60)).await;
        let Some(id) = v["id"].as_str().filter(|i| i.starts_with("big-")) else {
            continue;
        };
        answered += 1;
        let code = v["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{id} got no error: {v}"));
        let message = v["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("`deaf`"), "names the server: {message}");
        match code {
            -32001 => assert!(message.contains("timed out"), "{message}"),
            -32002 => {
                assert!(message.contains("is not reading its input"), "{message}");
                refused = Some(message);
            }
            _ => panic!("unexpected error for {id}: {v}"),
        }
        *codes.entry(code).or_default() += 1;
    }
    let refused = refused.unwrap_or_else(|| panic!("no request was refused: {codes:?}"));
    eprintln!("flood answers by code: {codes:?}; refusal: {refused}");

    // Memory stayed bounded: a fraction of the 256 MiB sent went anywhere.
    let peak = vm_hwm_mib(d.pid());
    eprintln!("daemon RSS {rss_before:.1} MiB before the flood, peak {peak:.1} MiB");
    assert!(
        peak - rss_before < 96.0,
        "the daemon held {:.0} MiB more at its peak ({peak:.0} MiB, {rss_before:.0} before)",
        peak - rss_before
    );
    // The connection is still usable: the next request is refused at once, clearly.
    let v = deaf.call("echo", json!({"n": 2})).await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    assert!(deaf.ended().is_none());
    // One warning for the whole episode, not one per refused request.
    eventually(Duration::from_secs(5), "the warning", || {
        (log_count(&d, "deaf", "is not reading its input") > 0).then_some(())
    })
    .await;
    assert_eq!(log_count(&d, "deaf", "is not reading its input"), 1);

    // Restarting it clears what waited for the old process: the same client carries on.
    d.ctl_ok(&["restart", "deaf"]);
    let v = deaf.call("echo", json!({"n": 3})).await;
    assert_eq!(v["result"]["structuredContent"]["n"], 3, "{v}");
    let v = other
        .request("tools/call", json!({"name": "x", "arguments": {"i": 99}}))
        .await;
    assert_eq!(v["result"]["arguments"]["i"], 99, "{v}");
}

/// POSTs one JSON-RPC message to `/mcp/NAME`; returns the status, the session id header (if
/// any) and the body.
async fn post(
    d: &Daemon,
    name: &str,
    session: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut req = format!(
        "POST /mcp/{name} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        d.addr,
        d.token,
        body.len()
    );
    if let Some(s) = session {
        req.push_str(&format!(
            "Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut stream = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("an HTTP answer within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let session = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("mcp-session-id")
            .then(|| v.trim().to_string())
    });
    (code, session, body.to_string())
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_every_connection_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &server("mute", &fixture("stuck.py"), "request_timeout = \"1s\""),
    );
    let d = Daemon::start(dir.path(), Some(&cfg));
    all_running(&d).await;
    let pid = server_status(&d, "mute")["pid"].clone();

    // Over WebSocket: the hanging call times out, naming the server and the setting; a call
    // sent after it is answered first; the server is told to cancel.
    let mut ws = joined(&d, "mute", "patient").await;
    let hang = ws.send_request("tools/call", json!({"name": "hang"})).await;
    let quick = ws
        .send_request("tools/call", json!({"name": "echo", "arguments": {"q": 1}}))
        .await;
    let first = ws.recv().await;
    assert_eq!(
        first["id"], quick,
        "the quick call comes back first: {first}"
    );
    assert_eq!(first["result"]["structuredContent"]["q"], 1);
    let v = ws.answer(&hang).await;
    assert_eq!(v["error"]["code"], -32001, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("timed out")
            && message.contains("`mute`")
            && message.contains("request_timeout"),
        "{message}"
    );
    eventually(Duration::from_secs(10), "the server told to cancel", || {
        (log_count(&d, "mute", "stuck: cancelled") >= 1).then_some(())
    })
    .await;
    // The same connection goes on: several hanging calls at once, and work between them.
    let mut hangs = Vec::new();
    for _ in 0..3 {
        hangs.push(ws.send_request("tools/call", json!({"name": "hang"})).await);
    }
    let v = ws.request("ping", json!({})).await;
    assert_eq!(v["result"], json!({}), "{v}");
    for id in &hangs {
        let v = ws.answer(id).await;
        assert_eq!(v["error"]["code"], -32001, "{v}");
    }
    let v = ws.call("echo", json!({"q": 2})).await;
    assert_eq!(v["result"]["structuredContent"]["q"], 2, "{v}");
    assert!(ws.ended().is_none(), "{:?}", ws.ended());

    // Over Streamable HTTP: the same, on one session.
    let (code, session, body) = post(
        &d,
        "mute",
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "http-patient", "version": "1"}}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let session = session.expect("a session id");
    let (code, _, body) = post(
        &d,
        "mute",
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": "h", "method": "tools/call", "params": {"name": "hang"}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32001, "{v}");
    let (code, _, body) = post(
        &d,
        "mute",
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": "e", "method": "tools/call", "params": {"name": "echo", "arguments": {"q": 3}}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["structuredContent"]["q"], 3, "{v}");

    // Nothing is left pending, the errors are counted, and a hang never restarts a server.
    eventually(Duration::from_secs(10), "no request pending", || {
        let s = d.status();
        s["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pending"] == 0)
            .then_some(())
    })
    .await;
    let s = server_status(&d, "mute");
    assert_eq!(s["state"], "running");
    assert_eq!(s["pid"], pid);
    assert_eq!(s["restarts"], 0);
    eventually(Duration::from_secs(5), "the timeouts counted", || {
        (server_status(&d, "mute")["errors"].as_u64() >= Some(5)).then_some(())
    })
    .await;
}

/// The children of `pid`: (pid, state letter, command line).
fn children_of(pid: u32) -> Vec<(u32, char, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            let rest = stat.rsplit_once(") ")?.1.to_string();
            let mut f = rest.split_whitespace();
            let state = f.next()?.chars().next()?;
            let ppid: u32 = f.next()?.parse().ok()?;
            let cmd = std::fs::read_to_string(format!("/proc/{child}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            (ppid == pid).then_some((child, state, cmd))
        })
        .collect()
}

/// Follows `/api/events` and records every state `name` passes through, in order.
async fn follow_states(d: &Daemon, name: &str) -> Arc<Mutex<Vec<Value>>> {
    let url = format!("ws://{}/api/events?token={}", d.addr, d.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            let servers = match v["type"].as_str() {
                Some("server") => vec![v["server"].clone()],
                // A follower that fell behind gets a fresh snapshot instead.
                Some("snapshot") => v["status"]["servers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                _ => continue,
            };
            for s in servers.into_iter().filter(|s| s["name"] == name.as_str()) {
                into.lock().unwrap().push(s);
            }
        }
    });
    seen
}

#[tokio::test]
async fn a_server_that_dies_at_start_up_a_hundred_times_backs_off_then_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let crasher = format!(
        "[servers.crashy]\ncommand = \"python3\"\nargs = [{:?}, \"--after-ms\", \"0\", \"--code\", \"3\", \"--stderr-lines\", \"3\"]\nautostart = false\n\n",
        fixture("crasher.py")
    );
    let cfg = write_config(
        dir.path(),
        &(crasher + &server("echo", &fixture("echo_stdio.py"), "")),
    );
    // The default schedule (1 s … 60 s, give up after 10 crashes in 5 min) would take minutes:
    // a short one, and a limit of 100.
    let d = Daemon::try_start_with_env(
        dir.path(),
        Some(&cfg),
        &[
            ("BRIDGEDOCK_RESTART_BACKOFF_MS", "5,10,20"),
            ("BRIDGEDOCK_CRASH_LIMIT", "100"),
        ],
    )
    .unwrap();
    eventually(Duration::from_secs(30), "echo running", || {
        (server_status(&d, "echo")["state"] == "running").then_some(())
    })
    .await;
    let echo_pid = server_status(&d, "echo")["pid"].clone();
    let mut client = joined(&d, "echo", "bystander").await;
    let states = follow_states(&d, "crashy").await;

    let mut fds_after_first_round = 0;
    for round in 1..=2u64 {
        let seen_before = states.lock().unwrap().len();
        d.ctl_ok(&["start", "crashy"]);
        // Others are served all along.
        let mut i = 0;
        let failed = loop {
            let s = server_status(&d, "crashy");
            if s["state"] == "failed" {
                break s;
            }
            i += 1;
            let v = client
                .request("tools/call", json!({"name": "x", "arguments": {"i": i}}))
                .await;
            assert_eq!(v["result"]["arguments"]["i"], i, "{v}");
            assert!(i < 100_000, "crashy never gave up; last status {s:#}");
        };
        // It gave up after exactly 100 crashes, with the last stderr lines and a consistent status.
        assert_eq!(failed["crashes"], 100, "{failed:#}");
        assert_eq!(
            failed["last_stderr"],
            json!(["crasher: line 1", "crasher: line 2", "crasher: line 3"]),
            "{failed:#}"
        );
        assert_eq!(failed["pid"], Value::Null);
        assert_eq!(failed["started_at_ms"], Value::Null);
        assert_eq!(failed["last_exit"]["code"], 3);
        assert_eq!(failed["last_exit"]["requested"], false);
        assert_eq!(failed["restarts"], round * 100 - 1, "{failed:#}");
        let table = d.ctl_ok(&["status"]);
        assert!(table.contains("failed"), "{table}");

        // It backed off between attempts, counting up; nothing went backwards.
        let attempts: Vec<u64> = eventually(Duration::from_secs(10), "the events", || {
            let seen = states.lock().unwrap();
            let attempts: Vec<u64> = seen[seen_before..]
                .iter()
                .filter(|s| s["state"] == "backoff")
                .filter_map(|s| s["attempt"].as_u64())
                .collect();
            let gave_up = seen[seen_before..].iter().any(|s| s["state"] == "failed");
            gave_up.then_some(attempts)
        })
        .await;
        assert_eq!(attempts.first(), Some(&1), "{attempts:?}");
        assert_eq!(attempts.last(), Some(&99), "{attempts:?}");
        assert!(
            attempts.windows(2).all(|w| w[0] <= w[1]),
            "attempts only count up: {attempts:?}"
        );

        // No zombie, no child left, no descriptor leaked.
        eventually(Duration::from_secs(10), "no crasher process left", || {
            children_of(d.pid())
                .iter()
                .all(|(_, state, cmd)| *state != 'Z' && !cmd.contains("crasher.py"))
                .then_some(())
        })
        .await;
        if round == 1 {
            fds_after_first_round = fd_count(d.pid());
        } else {
            let limit = fds_after_first_round;
            eventually(
                Duration::from_secs(10),
                "as many descriptors as before",
                || (fd_count(d.pid()) <= limit).then_some(()),
            )
            .await;
        }
    }
    // Backoff is logged for the first 5 attempts and then every 10th, not 99 times a round.
    let logged = log_count(&d, "crashy", "restarting in");
    assert!(
        (10..=30).contains(&logged),
        "{logged} restart lines in the log for 198 restarts"
    );
    // The other server never noticed.
    let echo = server_status(&d, "echo");
    assert_eq!(echo["pid"], echo_pid);
    assert_eq!(echo["restarts"], 0);
    assert!(client.ended().is_none());
}

/// A demo server with a lazy heartbeat, and an echo server.
fn demo_and_echo(dir: &Path) -> PathBuf {
    write_config(
        dir,
        &(server("demo", DEMO, "") + &server("echo", &fixture("echo_stdio.py"), "")),
    )
}

#[tokio::test]
async fn an_unwritable_log_dir_warns_once_and_bridging_and_api_logs_go_on() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the logs dir belongs: no file can be created in it, even by root.
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/logs"), b"not a dir").unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_and_echo(dir.path())));
    all_running(&d).await;
    let mut c = joined(&d, "demo", "logger").await;
    // Log lines over many flush periods (one every 200 ms): each flush fails again.
    for round in 0..8 {
        let v = c.call("write_logs", json!({"count": 20})).await;
        assert!(v["result"].is_object(), "{v}");
        let v = c
            .call("echo", json!({"text": format!("round {round}")}))
            .await;
        assert_eq!(v["result"]["content"][0]["text"], format!("round {round}"));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let warning = "cannot write log files";
    eventually(Duration::from_secs(5), "the warning", || {
        d.stderr().contains(warning).then_some(())
    })
    .await;
    assert_eq!(d.stderr().matches(warning).count(), 1, "{}", d.stderr());
    assert_eq!(log_count(&d, "bridge", warning), 1);
    // The API still serves every line from memory.
    let (code, body) = http(
        &d.addr,
        "GET",
        "/api/logs?server=demo&limit=1000",
        &[("Authorization", &format!("Bearer {}", d.token))],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let lines: Value = serde_json::from_str(&body).unwrap();
    let texts: Vec<&str> = lines["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("log line 20 of 20"))
            .count(),
        8,
        "{texts:?}"
    );
}

#[tokio::test]
async fn a_full_disk_under_one_log_file_warns_once_not_once_per_flush() {
    let dir = tempfile::tempdir().unwrap();
    // demo's log file is /dev/full (every write fails with ENOSPC); echo's is an ordinary file.
    std::fs::create_dir_all(dir.path().join("state/logs")).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("state/logs/demo.log")).unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_and_echo(dir.path())));
    all_running(&d).await;
    let mut c = joined(&d, "demo", "logger").await;
    let echo_log = dir.path().join("state/logs/echo.log");
    for round in 1..=6 {
        let v = c.call("write_logs", json!({"count": 5})).await;
        assert!(v["result"].is_object(), "{v}");
        eventually(Duration::from_secs(5), "the lines in memory", || {
            (log_count(&d, "demo", "log line 5 of 5") == round).then_some(())
        })
        .await;
        // echo's file is written in the flush that follows: once it shows this round's
        // restart, the flush holding demo's lines has been tried too.
        d.ctl_ok(&["restart", "echo"]);
        eventually(
            Duration::from_secs(10),
            "echo's file to show the restart",
            || {
                let text = std::fs::read_to_string(&echo_log).unwrap_or_default();
                (text.matches("restarting `echo` on request").count() == round).then_some(())
            },
        )
        .await;
    }
    let warning = "cannot write log files";
    assert_eq!(d.stderr().matches(warning).count(), 1, "{}", d.stderr());
    assert_eq!(log_count(&d, "bridge", warning), 1);
    assert_eq!(log_count(&d, "bridge", "log files writable again"), 0);
    let v = c.call("echo", json!({"text": "still bridging"})).await;
    assert_eq!(v["result"]["content"][0]["text"], "still bridging");
}

/// The most pings `peer` received within any window of `window` at or after `from`.
fn densest_pings(peer: &WsClient, from: Instant, window: Duration) -> usize {
    let pings: Vec<Instant> = peer.pings().into_iter().filter(|t| *t >= from).collect();
    pings
        .iter()
        .map(|start| {
            pings
                .iter()
                .filter(|t| **t >= *start && **t < *start + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Freezes the daemon (and `also`, process groups of servers) for `pause`, as a suspend would.
fn freeze(d: &Daemon, also: &[i32], pause: Duration) -> Instant {
    use nix::sys::signal::{kill, killpg};
    use nix::unistd::Pid;
    for g in also {
        killpg(Pid::from_raw(*g), Signal::SIGSTOP).unwrap();
    }
    d.signal(Signal::SIGSTOP);
    std::thread::sleep(pause);
    for g in also {
        killpg(Pid::from_raw(*g), Signal::SIGCONT).unwrap();
    }
    let _ = kill(Pid::from_raw(d.pid() as i32), Signal::SIGCONT);
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_daemon_wakes_without_storms_drops_or_spurious_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &server("demo", DEMO, "request_timeout = \"1s\""),
    );
    const PING: Duration = Duration::from_millis(200);
    let d = Daemon::try_start_with_env(
        dir.path(),
        Some(&cfg),
        &[("BRIDGEDOCK_WS_PING_INTERVAL_MS", "200")],
    )
    .unwrap();
    all_running(&d).await;
    let before = server_status(&d, "demo");
    let mut peers = Vec::new();
    for i in 0..3 {
        peers.push(joined(&d, "demo", &format!("sleeper-{i}")).await);
    }
    // Pings flow before the freeze.
    eventually(Duration::from_secs(10), "pings", || {
        peers.iter().all(|p| p.pings().len() >= 2).then_some(())
    })
    .await;
    // Longer than two heartbeats (400 ms) and than the request timeout (1 s).
    let pause = Duration::from_millis(2500);

    for (phase, also) in [
        ("the daemon frozen", vec![]),
        (
            "the daemon and its server frozen",
            vec![before["pid"].as_i64().unwrap() as i32],
        ),
    ] {
        // A call of about 400 ms is in flight when the daemon stops — the server has reported
        // its first step — and the server answers it during the freeze (or, frozen too, after
        // it): the answer is what its client gets.
        let across = peers[0]
            .send_request(
                "tools/call",
                json!({"name": "slow_count", "arguments": {"to": 2, "delay_ms": 200},
                       "_meta": {"progressToken": format!("across {phase}")}}),
            )
            .await;
        peers[0]
            .next_where(Duration::from_secs(10), "its first step", |m| {
                m["method"] == "notifications/progress"
            })
            .await;
        let woke = freeze(&d, &also, pause);
        let v = peers[0].answer(&across).await;
        assert_eq!(
            v["result"]["structuredContent"]["count"], 2,
            "{phase}: the call in flight was answered, not timed out: {v}"
        );
        // Requests sent after waking are answered, each of them; slow ones within the timeout too.
        for (i, p) in peers.iter_mut().enumerate() {
            let v = p
                .call("echo", json!({"text": format!("{phase} {i}")}))
                .await;
            assert_eq!(
                v["result"]["content"][0]["text"],
                format!("{phase} {i}"),
                "{v}"
            );
            let v = p
                .call("slow_count", json!({"to": 3, "delay_ms": 150}))
                .await;
            assert_eq!(v["result"]["structuredContent"]["count"], 3, "{phase}: {v}");
        }
        // Nobody was dropped, and the heartbeat did not burst to catch up.
        eventually(Duration::from_secs(10), "pings after waking", || {
            peers
                .iter()
                .all(|p| p.pings().iter().filter(|t| **t >= woke).count() >= 2)
                .then_some(())
        })
        .await;
        for (i, p) in peers.iter().enumerate() {
            assert!(p.ended().is_none(), "{phase}: peer {i} {:?}", p.ended());
            let densest = densest_pings(p, woke, PING);
            assert!(
                densest <= 3,
                "{phase}: peer {i} got {densest} pings within one interval after waking"
            );
        }
        let s = d.status();
        assert_eq!(s["clients"].as_array().unwrap().len(), 3, "{phase}: {s:#}");
    }
    // No restart, no timeout, no error anywhere.
    let after = server_status(&d, "demo");
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["restarts"], 0);
    assert_eq!(after["state"], "running");
    eventually(Duration::from_secs(5), "the counters published", || {
        (server_status(&d, "demo")["requests"].as_u64() >= Some(14)).then_some(())
    })
    .await;
    assert_eq!(server_status(&d, "demo")["errors"], 0);
    assert_eq!(log_count(&d, "demo", "timed out"), 0);
}
