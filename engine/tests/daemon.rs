//! The real `bridgedockd` binary: first run with the built-in demo, `ctl` against a running
//! daemon, the HTTP API's token and Origin rules and its event stream, SIGTERM shutdown, orphan
//! reaping after SIGKILL, bad configs, `import`, the single-instance socket and socket activation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::daemon::{BIN, Daemon, http};
use common::{alive, eventually, fixture, group_members};
use futures_util::StreamExt;
use nix::sys::signal::Signal;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stable_config(dir: &Path, names: &[&str]) -> std::path::PathBuf {
    let mut toml = String::new();
    for n in names {
        toml.push_str(&format!(
            "[servers.{n}]\ncommand = \"python3\"\nargs = [{:?}]\n\n",
            fixture("stable.py")
        ));
    }
    write(dir, "config.toml", &toml)
}

/// A config running the forking fixture, which writes "PARENT CHILD" pids to `pids_file`.
fn forker_config(dir: &Path, pids_file: &Path) -> std::path::PathBuf {
    write(
        dir,
        "config.toml",
        &format!(
            "[servers.forker]\ncommand = \"python3\"\nargs = [{:?}]\nenv = {{ FORKER_PIDS_FILE = {:?} }}\n",
            fixture("forker.py"),
            pids_file.display().to_string()
        ),
    )
}

/// The forker's two pids, once it has written them.
fn forker_pids(pids_file: &Path) -> Option<(u32, u32)> {
    let t = std::fs::read_to_string(pids_file).ok()?;
    let v: Vec<u32> = t
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    (v.len() == 2).then(|| (v[0], v[1]))
}

fn running_pid(d: &Daemon, name: &str) -> Option<u64> {
    let s = d.server(name);
    (s["state"] == "running")
        .then(|| s["pid"].as_u64())
        .flatten()
}

#[tokio::test]
async fn first_run_without_config_serves_the_demo_server_with_live_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), None);
    eventually(Duration::from_secs(10), "demo running", || {
        running_pid(&d, "demo")
    })
    .await;
    let logs = eventually(Duration::from_secs(10), "the demo's ready line", || {
        let out = d.ctl_ok(&["logs", "demo"]);
        out.contains("bridgedock demo server 1.0.0 ready")
            .then_some(out)
    })
    .await;
    assert!(logs.contains(" demo stderr "), "{logs}");
    let table = d.ctl_ok(&["status"]);
    assert!(
        table.contains("SERVER") && table.contains("demo") && table.contains("running"),
        "{table}"
    );
}

#[tokio::test]
async fn ctl_shows_status_restarts_stops_and_follows_logs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha", "beta"]);
    let d = Daemon::start(dir.path(), Some(&cfg));
    let first = eventually(Duration::from_secs(10), "alpha running", || {
        running_pid(&d, "alpha")
    })
    .await;
    eventually(Duration::from_secs(10), "beta running", || {
        running_pid(&d, "beta")
    })
    .await;

    let table = d.ctl_ok(&["status"]);
    let alpha_row = table.lines().find(|l| l.starts_with("alpha")).unwrap();
    assert!(
        alpha_row.contains("running") && alpha_row.contains(&first.to_string()),
        "{table}"
    );

    // Follow alpha's logs, then restart it: the new process's first line arrives live.
    let mut follower = Command::new(BIN)
        .args(["ctl", "--state-dir"])
        .arg(&d.state_dir)
        .args(["logs", "alpha", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let follow_out = follower.stdout.take().unwrap();
    let restarted = d.ctl_ok(&["restart", "alpha"]);
    assert!(restarted.starts_with("alpha: running"), "{restarted}");
    let second = running_pid(&d, "alpha").unwrap();
    assert_ne!(first, second);
    let want = format!("stable: up pid {second}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(follow_out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let seen = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("`ctl logs -f` shows the restarted server's first line");
        if line.contains(&want) {
            break line;
        }
    };
    assert!(seen.contains(" alpha stderr "), "{seen}");
    follower.kill().unwrap();
    let _ = follower.wait();

    let stopped = d.ctl_ok(&["stop", "beta"]);
    assert_eq!(stopped.trim(), "beta: stopped");
    assert_eq!(d.server("beta")["state"], "stopped");

    let bad = d.ctl(&["restart", "gamma"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no server named `gamma` (configured: alpha, beta) (code -32602)"),
        "{err}"
    );
    let logs = d.ctl_ok(&["logs", "-n", "500"]);
    assert!(
        logs.contains("restarting `alpha` on request"),
        "bridge lines join the log: {logs}"
    );

    // What to paste into an AI client, token included.
    let claude = d.ctl_ok(&["config", "alpha"]);
    assert_eq!(
        claude.trim(),
        format!(
            "claude mcp add --transport http alpha http://{}/mcp/alpha --header \"Authorization: Bearer {}\"",
            d.addr, d.token
        )
    );
    let cursor = d.ctl_ok(&["config", "alpha", "--client", "cursor"]);
    let json_part: serde_json::Value =
        serde_json::from_str(cursor.split_once('\n').unwrap().1).unwrap();
    assert_eq!(
        json_part["mcpServers"]["alpha"]["url"],
        format!("http://{}/mcp/alpha", d.addr)
    );
    let bad = d.ctl(&["config", "alpha", "--client", "emacs"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains(
        "unknown client `emacs`; bridgedock can set up: claude-code, cursor, vscode, claude-desktop"
    ));
}

#[tokio::test]
async fn the_control_socket_is_private_and_survives_bad_lines() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha"]);
    let d = Daemon::start(dir.path(), Some(&cfg));
    let sock = d.state_dir.join("ctl.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let state_mode = std::fs::metadata(&d.state_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(state_mode, 0o700);

    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut ask = |line: &str| -> serde_json::Value {
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        let mut answer = String::new();
        r.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    };
    let cases = [
        ("this is not json", -32700, serde_json::Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"status"}]"#,
            -32600,
            serde_json::Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"launch"}"#,
            -32601,
            serde_json::json!(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"x","method":"restart"}"#,
            -32602,
            serde_json::json!("x"),
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"stop","params":{"name":"nope"}}"#,
            -32602,
            serde_json::json!(4),
        ),
        (
            r#"{"jsonrpc":"1.0","id":5,"method":"status"}"#,
            -32600,
            serde_json::json!(5),
        ),
    ];
    for (line, code, id) in cases {
        let v = ask(line);
        assert_eq!(v["error"]["code"], code, "{line} → {v}");
        assert_eq!(v["id"], id, "{line} → {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // The same connection still answers.
    let v = ask(r#"{"jsonrpc":"2.0","id":9,"method":"status"}"#);
    assert_eq!(v["id"], 9);
    assert_eq!(v["result"]["servers"][0]["name"], "alpha");
}

#[tokio::test]
async fn the_api_needs_the_token_refuses_foreign_origins_and_streams_events() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha"]);
    let d = Daemon::start(dir.path(), Some(&cfg));
    let first = eventually(Duration::from_secs(10), "alpha running", || {
        running_pid(&d, "alpha")
    })
    .await;
    let a = d.addr.as_str();
    let bearer = format!("Bearer {}", d.token);
    let auth = [("Authorization", bearer.as_str())];

    let (code, body) = http(a, "GET", "/healthz", &[]).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(a, "GET", "/api/status", &[]).await;
    assert_eq!(code, 401);
    assert!(body.contains("missing token"), "{body}");
    let (code, body) = http(
        a,
        "GET",
        "/api/status",
        &[("Authorization", "Bearer wrong")],
    )
    .await;
    assert_eq!(code, 401);
    assert!(body.contains("wrong token"), "{body}");
    let (code, body) = http(a, "GET", "/api/status", &auth).await;
    assert_eq!(code, 200);
    let snap: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(snap["servers"][0]["name"], "alpha");
    assert_eq!(snap["bridge"]["address"], d.addr);
    let (code, _) = http(a, "GET", &format!("/api/status?token={}", d.token), &[]).await;
    assert_eq!(code, 200);
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let (code, body) = http(a, "GET", "/api/status", &[auth[0], ("Origin", origin)]).await;
        assert_eq!(code, 403, "origin {origin}");
        assert!(body.contains("is not allowed"), "{body}");
    }
    // The app's webview is another origin than the API: its preflight is answered and every
    // answer carries CORS headers for it, without a token (browsers send none on preflight).
    let raw = raw_http(
        a,
        "OPTIONS /api/servers/alpha/restart HTTP/1.1\r\nHost: HOST\r\nOrigin: tauri://localhost\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 204"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-origin: tauri://localhost"),
        "{raw}"
    );
    assert!(
        lower.contains("access-control-allow-headers: authorization"),
        "{raw}"
    );
    assert!(
        lower.contains("access-control-allow-methods: get, post"),
        "{raw}"
    );
    let raw = raw_http(
        a,
        &format!(
            "GET /api/status HTTP/1.1\r\nHost: HOST\r\nOrigin: tauri://localhost\r\n\
             Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
            d.token
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("access-control-allow-origin: tauri://localhost"),
        "{raw}"
    );
    // A foreign page's preflight is refused like its request.
    let raw = raw_http(
        a,
        "OPTIONS /api/status HTTP/1.1\r\nHost: HOST\r\nOrigin: https://evil.example\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(
        !raw.to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{raw}"
    );
    // DNS rebinding: a page whose name now points at 127.0.0.1 still says who it is in Host.
    let (code, body) = http(
        a,
        "GET",
        "/api/status",
        &[auth[0], ("Host", "evil.example:7455")],
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        body.contains("host `evil.example:7455` is not allowed"),
        "{body}"
    );
    assert!(
        body.contains("\"jsonrpc\":\"2.0\""),
        "a JSON-RPC error body: {body}"
    );
    let own = format!("http://{a}");
    let (code, _) = http(
        a,
        "GET",
        "/api/status",
        &[auth[0], ("Origin", own.as_str())],
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = http(a, "POST", "/api/servers/nope/restart", &auth).await;
    assert_eq!(code, 404);
    assert!(body.contains("no server named `nope`"), "{body}");
    let (code, _) = http(a, "POST", "/api/servers/alpha/restart", &[]).await;
    assert_eq!(code, 401, "actions need the token too");

    // The event stream: a snapshot first, then changes as they happen.
    let url = format!("ws://{a}/api/events?token={}", d.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let next_json = |msg: tokio_tungstenite::tungstenite::Message| -> serde_json::Value {
        serde_json::from_str(msg.to_text().unwrap()).unwrap()
    };
    let hello = next_json(ws.next().await.unwrap().unwrap());
    assert_eq!(hello["type"], "snapshot");
    assert_eq!(hello["status"]["servers"][0]["pid"], first);

    let (code, body) = http(a, "POST", "/api/servers/alpha/restart", &auth).await;
    assert_eq!(code, 200, "{body}");
    let after: serde_json::Value = serde_json::from_str(&body).unwrap();
    let second = after["server"]["pid"].as_u64().unwrap();
    assert_ne!(second, first);

    let mut states = Vec::new();
    let mut saw_log = false;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(states
        .last()
        .is_some_and(|(s, p)| s == "running" && *p == Some(second))
        && saw_log)
    {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!("events stopped arriving; states {states:?}, events {seen:#?}")
            })
            .unwrap()
            .unwrap();
        let v = next_json(msg);
        seen.push(v.clone());
        match v["type"].as_str().unwrap() {
            "server" => states.push((
                v["server"]["state"].as_str().unwrap().to_string(),
                v["server"]["pid"].as_u64(),
            )),
            "log" => saw_log |= v["line"]["text"] == format!("stable: up pid {second}"),
            _ => {}
        }
    }
    let names: Vec<&str> = states.iter().map(|(s, _)| s.as_str()).collect();
    assert!(names.starts_with(&["stopping"]), "{names:?}");
    assert!(names.contains(&"starting"), "{names:?}");

    let (code, body) = http(a, "GET", "/api/logs?server=alpha&limit=5", &auth).await;
    assert_eq!(code, 200);
    let logs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(logs["lines"].as_array().unwrap().len() <= 5);
    assert!(logs["last_seq"].as_u64().unwrap() > 0);

    // A foreign page cannot even open the event stream.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn sigterm_stops_every_server_flushes_logs_removes_the_socket_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let cfg = forker_config(dir.path(), &pids_file);
    let d = Daemon::start(dir.path(), Some(&cfg));
    let (parent, child) = eventually(Duration::from_secs(10), "forker pids", || {
        forker_pids(&pids_file)
    })
    .await;
    let state_dir = d.state_dir.clone();
    d.signal(Signal::SIGTERM);
    let (code, _) = d.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0));
    assert!(!alive(parent) && !alive(child), "no orphans after shutdown");
    assert!(
        !state_dir.join("ctl.sock").exists(),
        "the socket is removed"
    );
    let log = std::fs::read_to_string(state_dir.join("logs/forker.log")).unwrap();
    assert!(
        log.contains(&format!("forker: parent {parent} child {child}")),
        "{log}"
    );
    assert!(
        std::fs::read_dir(state_dir.join("children"))
            .unwrap()
            .next()
            .is_none(),
        "child records are cleared on a clean stop"
    );
}

/// A stop that comes while bridgedockd is still starting (a service manager's `stop` right after
/// `start`) is a clean stop too: exit 0, no process left behind — not death by the signal's
/// default action. CI once caught a SIGTERM sent just after "API listening" killing the daemon.
#[tokio::test]
async fn sigterm_while_starting_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let cfg = forker_config(dir.path(), &pids_file);
    let state_dir = dir.path().join("state");
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--port", "0", "--state-dir"])
        .arg(&state_dir)
        .arg("--config-dir")
        .arg(dir.path().join("cfg"))
        .arg("--config")
        .arg(&cfg)
        .env_remove("BRIDGEDOCK_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first thing it logs is written while it starts, before it listens.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let status = child.wait().unwrap();
    let rest = drain.join().unwrap();
    assert_eq!(status.code(), Some(0), "{first}{rest}");
    if let Some((parent, forked)) = forker_pids(&pids_file) {
        assert!(
            !alive(parent) && !alive(forked),
            "no orphans after the stop"
        );
    }
    assert!(
        !state_dir.join("ctl.sock").exists(),
        "the socket is removed"
    );
}

#[tokio::test]
async fn orphans_of_a_sigkilled_daemon_are_reaped_and_reported_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let cfg = forker_config(dir.path(), &pids_file);
    // An unrelated process that must never be touched.
    let mut bystander = Command::new("sleep").arg("60").spawn().unwrap();

    let d = Daemon::start(dir.path(), Some(&cfg));
    let read_pids = || forker_pids(&pids_file);
    let (parent, child) = eventually(Duration::from_secs(10), "forker pids", read_pids).await;
    d.signal(Signal::SIGKILL);
    let (code, _) = d.wait(Duration::from_secs(5));
    assert_eq!(code, None, "killed by a signal");
    assert!(
        alive(parent) && alive(child),
        "SIGKILL left the tree running: orphans"
    );
    std::fs::remove_file(&pids_file).unwrap();

    let d2 = Daemon::start(dir.path(), Some(&cfg));
    assert!(
        !alive(parent) && !alive(child),
        "the orphans are stopped before anything else runs"
    );
    assert!(group_members(parent).is_empty());
    let status = d2.status();
    let reaped = &status["bridge"]["reaped_orphans"][0];
    assert_eq!(reaped["server"], "forker");
    assert_eq!(reaped["pid"], parent);
    assert_eq!(reaped["processes"], 2);
    let logs = d2.ctl_ok(&["logs", "forker", "-n", "50"]);
    assert!(
        logs.contains("stopped an orphaned `forker` process tree"),
        "{logs}"
    );
    // The new daemon runs its own, new forker.
    let (p2, _) = eventually(Duration::from_secs(10), "new forker pids", read_pids).await;
    assert_ne!(p2, parent);
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "an unrelated process is untouched"
    );
    bystander.kill().unwrap();
    let _ = bystander.wait();
}

#[tokio::test]
async fn a_bad_config_names_file_line_column_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "bad.toml", "[servers.time]\ncomand = \"uvx\"\n");
    let err = Daemon::try_start(dir.path(), Some(&cfg)).err().unwrap();
    let path = cfg.display().to_string();
    assert!(err.contains(&format!("{path}:2:1:")), "{err}");
    assert!(err.contains("did you mean `command`?"), "{err}");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn import_turns_an_mcp_servers_json_into_a_config_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        dir.path(),
        "claude_desktop_config.json",
        &format!(
            r#"{{"mcpServers": {{"stable": {{"command": "python3", "args": [{:?}], "env": {{"A": "1"}}}},
                "remote": {{"url": "https://example.invalid/mcp"}}}}}}"#,
            fixture("stable.py")
        ),
    );
    let out_toml = dir.path().join("imported.toml");
    let out = Command::new(BIN)
        .arg("import")
        .arg(&json)
        .arg("-o")
        .arg(&out_toml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipped `remote`"), "{err}");
    let toml = std::fs::read_to_string(&out_toml).unwrap();
    assert!(toml.contains("[servers.stable]"), "{toml}");
    let again = Command::new(BIN)
        .arg("import")
        .arg(&json)
        .arg("-o")
        .arg(&out_toml)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "refuses to overwrite without --force"
    );

    let d = Daemon::start(dir.path(), Some(&out_toml));
    eventually(Duration::from_secs(10), "imported server running", || {
        running_pid(&d, "stable")
    })
    .await;
    drop(d);
    // The JSON works directly too.
    let dir2 = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir2.path(), Some(&json));
    eventually(Duration::from_secs(10), "server from JSON running", || {
        running_pid(&d, "stable")
    })
    .await;
}

#[tokio::test]
async fn one_daemon_per_state_dir_and_a_stale_socket_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha"]);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // A crashed daemon's socket file: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(state.join("ctl.sock")).unwrap());
    assert!(state.join("ctl.sock").exists());
    let d = Daemon::start(dir.path(), Some(&cfg));
    eventually(Duration::from_secs(10), "alpha running", || {
        running_pid(&d, "alpha")
    })
    .await;

    let err = Daemon::try_start(dir.path(), Some(&cfg)).err().unwrap();
    assert!(
        err.contains("another bridgedockd is already running"),
        "{err}"
    );
    assert!(
        running_pid(&d, "alpha").is_some(),
        "the first one is unaffected"
    );
}

#[tokio::test]
async fn socket_activation_serves_ctl_on_the_inherited_socket() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha"]);
    let activated = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&activated).unwrap();
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    // sh's $$ is the pid bridgedockd keeps after exec, as a service manager would set it.
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
        BIN,
        "serve",
        "--port",
        "0",
    ])
    .arg("--state-dir")
    .arg(dir.path().join("state"))
    .arg("--config-dir")
    .arg(dir.path().join("cfg"))
    .arg("--config")
    .arg(&cfg)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: only async-signal-safe dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);
    let out = eventually(
        Duration::from_secs(10),
        "ctl over the activated socket",
        || {
            let out = Command::new(BIN)
                .args(["ctl", "--socket"])
                .arg(&activated)
                .args(["status", "--json"])
                .output()
                .ok()?;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["servers"][0]["state"] == "running").then_some(v)
        },
    )
    .await;
    assert_eq!(out["servers"][0]["name"], "alpha");
    assert!(
        !dir.path().join("state/ctl.sock").exists(),
        "no socket of its own"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        activated.exists(),
        "the activated socket's file belongs to whoever made it"
    );
}

#[tokio::test]
async fn a_taken_port_is_reported_with_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = stable_config(dir.path(), &["alpha"]);
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["serve", "--port", &port, "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--config-dir")
        .arg(dir.path().join("cfg"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "port {port} on 127.0.0.1 is already in use by pid {}",
            std::process::id()
        )),
        "{err}"
    );
    assert!(err.contains("pick another port"), "{err}");
}

/// Sends `request` (with `HOST` replaced by the address) and returns the whole answer, headers
/// included, read until the server closes.
async fn raw_http(addr: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request.replace("HOST", addr).as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}
