//! The WebSocket bridge with the real daemon, the demo server and raw WebSocket clients:
//! bad frames, exact ids, answers only to their owner, a server killed mid-call, slow clients,
//! protocol negotiation and the stateless revision, timeouts, heartbeats, fan-out of log
//! messages, and requests that wait for a server to come back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, http};
use common::eventually;
use common::ws::WsClient;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/demo_server.py");

fn demo_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!("[servers.demo]\ncommand = \"python3\"\nargs = [{DEMO:?}]\nrestart = \"always\"\n{extra}\n"),
    )
    .unwrap();
    path
}

fn demo_pid(d: &Daemon) -> Option<u64> {
    let s = d.server("demo");
    (s["state"] == "running")
        .then(|| s["pid"].as_u64())
        .flatten()
}

#[tokio::test]
async fn bad_frames_get_json_rpc_errors_and_the_connection_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut c = WsClient::connect(&d, "demo").await;
    let cases: &[(&str, i64, Value, &str)] = &[
        ("this is not json", -32700, Value::Null, "parse error"),
        ("{\"jsonrpc\":\"2.0\",", -32700, Value::Null, "parse error"),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            -32600,
            Value::Null,
            "batches",
        ),
        ("42", -32600, Value::Null, "must be a JSON object"),
        (
            r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#,
            -32600,
            json!(3),
            "`jsonrpc` must be \"2.0\"",
        ),
        (
            r#"{"id":4,"method":"ping"}"#,
            -32600,
            json!(4),
            "`jsonrpc` is missing",
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            -32600,
            Value::Null,
            "`id` must be a string or a number",
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":17}"#,
            -32600,
            json!(6),
            "`method` must be a non-empty string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":"x"}"#,
            -32600,
            json!(7),
            "`params` must be an object or an array",
        ),
        (
            r#"{"jsonrpc":"2.0","id":8}"#,
            -32600,
            json!(8),
            "no `method`",
        ),
    ];
    for (frame, code, id, says) in cases {
        c.send_text(frame).await;
        let v = c.recv().await;
        assert_eq!(v["error"]["code"], *code, "{frame} → {v}");
        assert_eq!(v["id"], *id, "{frame} → {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{frame}: {msg}");
    }
    let init = c.initialize("bad-frames", "2025-11-25").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "bridgedock-demo");
    let ping = c.request("ping", json!({})).await;
    assert_eq!(ping["result"], json!({}), "still open and working: {ping}");

    // A binary frame ends the connection with 1003, saying why.
    c.send_message(Message::Binary(vec![1, 2, 3].into())).await;
    let (code, reason) = c.closed_with().await.unwrap();
    assert_eq!(code, CloseCode::Unsupported);
    assert!(
        reason.contains("binary frames are not supported"),
        "{reason}"
    );

    // A message over 4 MiB ends it with 1009.
    let mut big = WsClient::connect(&d, "demo").await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let _ = big.try_send_message(Message::Text(huge.into())).await;
    let (code, reason) = big.closed_with().await.unwrap();
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("too big"), "{reason}");
}

#[tokio::test]
async fn the_endpoint_checks_server_token_and_origin_before_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h = upgrade.to_vec();
        h.extend_from_slice(extra);
        h
    };
    let (code, body) = http(
        &d.addr,
        "GET",
        &format!("/mcp/nope?token={}", d.token),
        &upgrade,
    )
    .await;
    assert_eq!(code, 404);
    assert!(
        body.contains("no server named `nope` on this bridgedock (configured: demo)"),
        "{body}"
    );
    let (code, _) = http(&d.addr, "GET", "/mcp/demo", &upgrade).await;
    assert_eq!(code, 401);
    let (code, _) = http(&d.addr, "GET", "/mcp/demo?token=wrong", &upgrade).await;
    assert_eq!(code, 401);
    let path = format!("/mcp/demo?token={}", d.token);
    let (code, _) = http(
        &d.addr,
        "GET",
        &path,
        &with(&[("Origin", "https://evil.example")]),
    )
    .await;
    assert_eq!(code, 403);
    // The `mcp` subprotocol is accepted when offered.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}{path}", d.addr),
    )
    .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mcp".parse().unwrap());
    let (_, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "mcp");
}

#[tokio::test]
async fn ids_come_back_exactly_and_only_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut a = WsClient::connect(&d, "demo").await;
    let mut b = WsClient::connect(&d, "demo").await;
    a.initialize("client-a", "2025-11-25").await;
    b.initialize("client-b", "2025-11-25").await;
    // Both clients use the same ids at once; each must get only its own answers, ids intact.
    let ids = [
        r#""same-id""#,
        "7",
        "123456789012345678901234567890",
        "-5",
        r#""""#,
    ];
    for id in ids {
        for (c, who) in [(&mut a, "a"), (&mut b, "b")] {
            let text = serde_json::to_string(&format!("{who} {id}")).unwrap();
            c.send_text(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{text}}}}}}}"#
            ))
            .await;
        }
    }
    for (c, who) in [(&mut a, "a"), (&mut b, "b")] {
        for id in ids {
            let (v, raw) = c.recv_text().await;
            assert!(
                raw.contains(&format!(r#""id":{id}"#)),
                "{who}: id {id} restored exactly in {raw}"
            );
            let text = v["result"]["content"][0]["text"].as_str().unwrap();
            assert_eq!(
                text,
                format!("{who} {}", id),
                "{who} got only its own answer"
            );
        }
    }
    // An id still in flight cannot be reused by the same client.
    a.send(json!({"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"slow_count","arguments":{"to":3,"delay_ms":100}}})).await;
    a.send(json!({"jsonrpc":"2.0","id":"dup","method":"ping"}))
        .await;
    let v = a.recv().await;
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let done = a.answer(&json!("dup")).await;
    assert_eq!(done["result"]["structuredContent"]["count"], 3);
}

#[tokio::test]
async fn progress_tokens_are_private_to_each_client() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut clients = Vec::new();
    for i in 0..4 {
        let mut c = WsClient::connect(&d, "demo").await;
        c.initialize(&format!("progress-{i}"), "2025-11-25").await;
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
            "name":"slow_count","arguments":{"to":3 + i,"delay_ms":50},"_meta":{"progressToken":"tok"}}}))
            .await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut progress = Vec::new();
        let result = loop {
            let v = c.recv().await;
            if v["method"] == "notifications/progress" {
                assert_eq!(
                    v["params"]["progressToken"], "tok",
                    "the client's own token comes back"
                );
                assert_eq!(v["params"]["total"], 3 + i as u64, "only its own progress");
                progress.push(v["params"]["progress"].as_u64().unwrap());
            } else if v["id"] == 1 {
                break v;
            }
        };
        assert_eq!(progress, (1..=3 + i as u64).collect::<Vec<_>>());
        assert_eq!(result["result"]["structuredContent"]["count"], 3 + i as u64);
    }
}

#[tokio::test]
async fn a_server_killed_mid_call_fails_it_at_once_and_the_client_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut c = WsClient::connect(&d, "demo").await;
    c.initialize("survivor", "2025-11-25").await;
    let first = eventually(Duration::from_secs(10), "demo running", || demo_pid(&d)).await;
    c.send(json!({"jsonrpc":"2.0","id":"long","method":"tools/call","params":{"name":"slow_count","arguments":{"to":100,"delay_ms":100}}})).await;
    // Let the call reach the server, then kill it.
    let _ = tokio::time::timeout(Duration::from_millis(300), c.recv()).await;
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let v = c.answer(&json!("long")).await;
    let took = killed_at.elapsed();
    eprintln!("in-flight request failed {took:?} after SIGKILL");
    assert_eq!(v["error"]["code"], -32002, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("server `demo` went away") && msg.contains("signal 9"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(2), "failed promptly ({took:?})");

    // The same connection works again once bridgedock has restarted the server.
    let again = c
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "still here"}}),
        )
        .await;
    assert_eq!(
        again["result"]["content"][0]["text"], "still here",
        "{again}"
    );
    let second = demo_pid(&d).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        d.server("demo")["reported_version"],
        "1.0.0",
        "re-initialized by the bridge"
    );
}

#[tokio::test]
async fn requests_wait_for_a_server_that_is_coming_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut c = WsClient::connect(&d, "demo").await;
    c.initialize("patient", "2025-11-25").await;
    d.ctl_ok(&["stop", "demo"]);
    c.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"waited"}}})).await;
    d.ctl_ok(&["start", "demo"]);
    let v = c.answer(&json!(1)).await;
    assert_eq!(v["result"]["content"][0]["text"], "waited", "{v}");
}

#[tokio::test]
async fn a_slow_client_does_not_stall_a_fast_one_and_is_closed_with_1013() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut slow = WsClient::connect(&d, "demo").await;
    slow.initialize("slow", "2025-11-25").await;
    let mut fast = WsClient::connect(&d, "demo").await;
    fast.initialize("fast", "2025-11-25").await;
    // The slow client asks for ~40 MiB of answers and never reads them.
    slow.stop_reading();
    let chunk = "s".repeat(1024 * 1024);
    for i in 0..40 {
        slow.send(json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"echo","arguments":{"text":chunk}}})).await;
    }
    for i in 0..20 {
        let v = fast
            .request(
                "tools/call",
                json!({"name": "echo", "arguments": {"text": format!("fast {i}")}}),
            )
            .await;
        assert_eq!(v["result"]["content"][0]["text"], format!("fast {i}"));
    }
    // The slow one is disconnected once its queue has stayed full for 10 s.
    eventually(
        Duration::from_secs(30),
        "the slow client to be dropped from status",
        || {
            let clients = d.status()["clients"].clone();
            let names: Vec<String> = clients
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["client_name"].as_str().map(str::to_string))
                .collect();
            (!names.contains(&"slow".to_string())).then_some(())
        },
    )
    .await;
    // Reading at last, it finds what was sent before it was closed, then the close.
    slow.read_again();
    let (messages, close) = slow.messages_until_close().await;
    let too_slow_errors = messages
        .iter()
        .filter(|v| v["error"]["data"]["reason"] == "client_too_slow")
        .count();
    let (code, reason) = close.expect("a close frame with a code");
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("too slow"), "{reason}");
    assert!(
        too_slow_errors > 0,
        "answers over the cap were replaced by errors saying why"
    );
    let ping = fast.request("ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));
}

#[tokio::test]
async fn later_clients_are_answered_from_the_cache_and_mismatches_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        Some(&demo_config(dir.path(), "version = \"9.9.9\"")),
    );
    let mut a = WsClient::connect(&d, "demo").await;
    let first = a.initialize("first", "2025-11-25").await;
    assert_eq!(first["result"]["protocolVersion"], "2025-11-25");
    let mut b = WsClient::connect(&d, "demo").await;
    let second = b.initialize("older", "2024-11-05").await;
    assert_eq!(
        second["result"]["protocolVersion"], "2025-11-25",
        "the spec's negotiation answer"
    );
    assert_eq!(
        second["result"]["serverInfo"],
        first["result"]["serverInfo"]
    );
    let status = eventually(Duration::from_secs(5), "both clients in status", || {
        let s = d.status();
        (s["clients"].as_array().unwrap().len() == 2).then_some(s)
    })
    .await;
    let older = status["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_name"] == "older")
        .unwrap()
        .clone();
    assert_eq!(older["protocol_mismatch"], true);
    assert_eq!(older["protocol_version"], "2024-11-05");
    assert_eq!(older["transport"], "websocket");
    let demo = &status["servers"][0];
    assert_eq!(demo["reported_version"], "1.0.0");
    assert_eq!(demo["expected_version"], "9.9.9");
    // The stderr of the server shows one initialize only: later clients never reached it.
    let logs = d.ctl_ok(&["logs", "demo", "-n", "200"]);
    assert_eq!(
        logs.matches("is ready: bridgedock-demo 1.0.0").count(),
        1,
        "{logs}"
    );
}

#[tokio::test]
async fn a_stateless_2026_client_works_without_initialize() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut c = WsClient::connect(&d, "demo").await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "2.0"},
    });
    let discover = c.request("server/discover", json!({"_meta": meta})).await;
    let r = &discover["result"];
    assert_eq!(r["resultType"], "complete", "{discover}");
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    // The released revision has the server's identity in `_meta`, not at the top.
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "bridgedock-demo"
    );
    assert_eq!(
        (r["ttlMs"].clone(), r["cacheScope"].clone()),
        (json!(0), json!("private"))
    );
    assert!(r["capabilities"]["tools"].is_object());
    let tools = c.request("tools/list", json!({"_meta": meta})).await;
    assert_eq!(tools["result"]["resultType"], "complete");
    assert!(tools["result"]["tools"].as_array().unwrap().len() >= 5);
    let old = c
        .request(
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01"}}),
        )
        .await;
    assert_eq!(old["error"]["code"], -32022, "{old}");
    assert!(
        old["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    let status = d.status();
    assert_eq!(status["clients"][0]["client_name"], "modern");
    assert_eq!(status["clients"][0]["protocol_version"], "2026-07-28");
}

#[tokio::test]
async fn a_request_past_its_timeout_is_failed_and_cancelled_but_progress_keeps_it_alive() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        Some(&demo_config(dir.path(), "request_timeout = \"400ms\"")),
    );
    let mut c = WsClient::connect(&d, "demo").await;
    c.initialize("impatient", "2025-11-25").await;
    let v = c
        .request(
            "tools/call",
            json!({"name": "slow_count", "arguments": {"to": 10, "delay_ms": 300}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32001, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("timed out") && msg.contains("request_timeout"),
        "{msg}"
    );
    eventually(
        Duration::from_secs(5),
        "the server to be told to cancel",
        || {
            d.ctl_ok(&["logs", "demo", "-n", "100"])
                .contains("cancelled")
                .then_some(())
        },
    )
    .await;
    // With progress every 300 ms, a 400 ms timeout never fires: progress resets it.
    let v = c
        .request(
            "tools/call",
            json!({"name": "slow_count", "arguments": {"to": 4, "delay_ms": 300}, "_meta": {"progressToken": 9}}),
        )
        .await;
    assert_eq!(v["result"]["structuredContent"]["count"], 4, "{v}");
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_and_its_work_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), "");
    let d = Daemon::try_start_with_env(
        dir.path(),
        Some(&cfg),
        &[("BRIDGEDOCK_WS_PING_INTERVAL_MS", "200")],
    )
    .unwrap();
    let mut c = WsClient::connect(&d, "demo").await;
    c.initialize("sleepy", "2025-11-25").await;
    c.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow_count","arguments":{"to":100,"delay_ms":100}}})).await;
    // Never read again: pings go unanswered.
    c.stop_reading();
    eventually(
        Duration::from_secs(10),
        "the silent client to be closed",
        || {
            let clients = d.status()["clients"].clone();
            clients.as_array().unwrap().is_empty().then_some(())
        },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "its request to be cancelled at the server",
        || {
            d.ctl_ok(&["logs", "demo", "-n", "100"])
                .contains("cancelled")
                .then_some(())
        },
    )
    .await;
    drop(c);
}

#[tokio::test]
async fn log_messages_reach_every_client_and_the_servers_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&demo_config(dir.path(), "")));
    let mut a = WsClient::connect(&d, "demo").await;
    let mut b = WsClient::connect(&d, "demo").await;
    a.initialize("a", "2025-11-25").await;
    b.initialize("b", "2025-11-25").await;
    a.request("logging/setLevel", json!({"level": "info"}))
        .await;
    let v = a
        .request(
            "tools/call",
            json!({"name": "write_logs", "arguments": {"count": 2}}),
        )
        .await;
    assert!(v["result"].is_object(), "{v}");
    let mut seen = 0;
    while seen < 2 {
        let m = b.recv().await;
        if m["method"] == "notifications/message" {
            seen += 1;
        }
    }
    eventually(
        Duration::from_secs(5),
        "mcp log lines in the server's log",
        || {
            d.ctl_ok(&["logs", "demo", "-n", "100"])
                .contains("mcp log: demo: log line 2 of 2")
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_sigkilled_server_without_clients_has_nothing_to_fail_and_noise_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = dir.path().join("noisy.py");
    std::fs::write(
        &noisy,
        "import sys, json\nprint('hello, I am not JSON-RPC', flush=True)\nfor line in sys.stdin:\n    m = json.loads(line)\n    if 'id' in m:\n        print(json.dumps({'jsonrpc':'2.0','id':424242,'result':{}}), flush=True)\n        print(json.dumps({'jsonrpc':'2.0','id':m['id'],'result':{'protocolVersion':'2025-11-25','capabilities':{},'serverInfo':{'name':'noisy','version':''}}}), flush=True)\n",
    )
    .unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[servers.noisy]\ncommand = \"python3\"\nargs = [{:?}]\n",
            noisy.display().to_string()
        ),
    )
    .unwrap();
    let d = Daemon::start(dir.path(), Some(&cfg));
    let mut c = WsClient::connect(&d, "noisy").await;
    let init = c.initialize("n", "2025-11-25").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "noisy");
    let logs = eventually(Duration::from_secs(5), "noise in the log", || {
        let l = d.ctl_ok(&["logs", "noisy", "-n", "100"]);
        (l.contains(
            "protocol noise on stdout (not JSON-RPC, not forwarded): hello, I am not JSON-RPC",
        ) && l.contains("unknown request id 424242"))
        .then_some(l)
    })
    .await;
    assert!(logs.contains("stdout [warn]"), "{logs}");
    // An empty reported version is "unknown", never a mismatch.
    assert_eq!(d.server("noisy")["reported_version"], Value::Null);
}

fn asker_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[servers.asker]\ncommand = \"python3\"\nargs = [{:?}]\n",
            common::fixture("asker.py")
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn server_requests_reach_the_client_whose_call_is_in_flight_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&asker_config(dir.path())));
    let mut a = WsClient::connect(&d, "asker").await;
    let mut b = WsClient::connect(&d, "asker").await;
    // Both can list roots.
    a.initialize_with("a", "2025-11-25", json!({"roots": {}}))
        .await;
    b.initialize_with("b", "2025-11-25", json!({"roots": {}}))
        .await;
    // b is the more recently active client, but a's call is the one in flight: a is asked.
    b.request("ping", json!({})).await;
    a.send(
        json!({"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"ask_roots"}}),
    )
    .await;
    let ask = a.recv().await;
    assert_eq!(ask["method"], "roots/list", "{ask}");
    let ours = ask["id"].clone();
    assert_ne!(
        ours,
        json!("srv-1"),
        "the server's id is rewritten for the client"
    );
    a.send(json!({"jsonrpc":"2.0","id":ours,"result":{"roots":[{"uri":"file:///a","name":"a's root"}]}})).await;
    let done = a.answer(&json!("call")).await;
    let text = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("a's root"), "{text}");
    // The server's own ping is answered by the bridge.
    let pinged = a
        .request("tools/call", json!({"name": "ping_client"}))
        .await;
    assert_eq!(pinged["result"]["content"][0]["text"], "{}", "{pinged}");
    // b saw none of it.
    let quiet = b.arrival_within(Duration::from_millis(300)).await;
    assert!(quiet.is_none(), "b received {quiet:?}");
}

#[tokio::test]
async fn resource_updates_go_to_subscribers_and_shared_subscriptions_stay() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&asker_config(dir.path())));
    let mut a = WsClient::connect(&d, "asker").await;
    let mut b = WsClient::connect(&d, "asker").await;
    let mut c = WsClient::connect(&d, "asker").await;
    for (cl, n) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
        cl.initialize(n, "2025-11-25").await;
    }
    a.request("resources/subscribe", json!({"uri": "demo://x"}))
        .await;
    b.request("resources/subscribe", json!({"uri": "demo://x"}))
        .await;
    c.request(
        "tools/call",
        json!({"name": "touch", "arguments": {"uri": "demo://x"}}),
    )
    .await;
    for cl in [&mut a, &mut b] {
        let v = cl.recv().await;
        assert_eq!(v["method"], "notifications/resources/updated");
        assert_eq!(v["params"]["uri"], "demo://x");
    }
    // a leaves the subscription; b still wants it, so the server is not told to stop.
    let r = a
        .request("resources/unsubscribe", json!({"uri": "demo://x"}))
        .await;
    assert_eq!(r["result"], json!({}));
    c.request(
        "tools/call",
        json!({"name": "touch", "arguments": {"uri": "demo://x"}}),
    )
    .await;
    let v = b.recv().await;
    assert_eq!(v["method"], "notifications/resources/updated");
    let logs = d.ctl_ok(&["logs", "asker", "-n", "100"]);
    assert_eq!(
        logs.matches("asker: resources/unsubscribe").count(),
        0,
        "{logs}"
    );
    let quiet = a.arrival_within(Duration::from_millis(300)).await;
    assert!(quiet.is_none(), "a unsubscribed but received {quiet:?}");
}

#[tokio::test]
async fn handshake_clients_are_bridged_to_a_server_that_speaks_only_the_stateless_revision() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[servers.modern]\ncommand = \"python3\"\nargs = [{:?}]\n",
            common::fixture("stateless_only.py")
        ),
    )
    .unwrap();
    let d = Daemon::start(dir.path(), Some(&cfg));
    let mut c = WsClient::connect(&d, "modern").await;
    let init = c.initialize("old-school", "2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "stateless-only");
    let tools = c.request("tools/list", json!({})).await;
    assert_eq!(tools["result"]["tools"][0]["name"], "whoami", "{tools}");
    let who = c.request("tools/call", json!({"name": "whoami"})).await;
    let text = who["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("old-school"),
        "the server got the client's identity in _meta: {text}"
    );
    assert_eq!(d.server("modern")["reported_version"], "2.0.0");
    // A stateless client on the same server passes straight through.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "new-school", "version": "1"}});
    let mut m = WsClient::connect(&d, "modern").await;
    let who = m
        .request("tools/call", json!({"name": "whoami", "_meta": meta}))
        .await;
    assert!(
        who["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("new-school"),
        "{who}"
    );
    // After a restart the bridge finds its way in again.
    d.ctl_ok(&["restart", "modern"]);
    let again = c.request("tools/list", json!({})).await;
    assert_eq!(again["result"]["tools"][0]["name"], "whoami", "{again}");
}
