//! Bad input, table by table, against the real daemon: WebSocket frames, HTTP requests,
//! control-socket lines, config files and a server's stdout. Each case gets its specified
//! error; afterwards the daemon still serves everyone and its memory stayed bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use common::daemon::{Daemon, http, http_body, rss_mib};
use common::ws::{REVISION, WsClient};
use common::{eventually, fixture};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/demo_server.py");

/// (case, method, path, headers, body, expected status, expected text in the answer).
type HttpCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
);

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[servers.demo]\ncommand = \"python3\"\nargs = [{DEMO:?}]\n\n[servers.bad]\ncommand = \"python3\"\nargs = [{:?}]\nrestart = \"always\"\n",
            fixture("misbehave.py")
        ),
    )
    .unwrap();
    path
}

fn deep(open: &str, n: usize) -> String {
    open.repeat(n)
}

/// (case, frame text, expected JSON-RPC error code, expected id).
fn ws_cases() -> Vec<(&'static str, String, i64, Value)> {
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{}}}"#,
        deep(r#"{"a":"#, 10_000)
    );
    vec![
        ("not JSON", "not json".into(), -32700, Value::Null),
        (
            "truncated JSON",
            r#"{"jsonrpc":"2.0","id":1,"#.into(),
            -32700,
            Value::Null,
        ),
        (
            "10 000 nested arrays",
            deep("[", 10_000),
            -32700,
            Value::Null,
        ),
        (
            "10 000 nested objects in params",
            deep_params,
            -32700,
            Value::Null,
        ),
        (
            "a raw NUL byte",
            "{\"jsonrpc\":\"2.0\",\u{0}}".into(),
            -32700,
            Value::Null,
        ),
        ("an empty frame", String::new(), -32700, Value::Null),
        (
            "a batch",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.into(),
            -32600,
            Value::Null,
        ),
        ("an empty batch", "[]".into(), -32600, Value::Null),
        ("a string", r#""ping""#.into(), -32600, Value::Null),
        ("a number", "42".into(), -32600, Value::Null),
        ("null", "null".into(), -32600, Value::Null),
        (
            "jsonrpc missing",
            r#"{"id":1,"method":"ping"}"#.into(),
            -32600,
            json!(1),
        ),
        (
            "jsonrpc 2.0 as a number",
            r#"{"jsonrpc":2.0,"id":2,"method":"ping"}"#.into(),
            -32600,
            json!(2),
        ),
        (
            "jsonrpc 1.0",
            r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#.into(),
            -32600,
            json!(3),
        ),
        (
            "id true",
            r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.into(),
            -32600,
            Value::Null,
        ),
        (
            "id an object",
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#.into(),
            -32600,
            Value::Null,
        ),
        (
            "id an array",
            r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#.into(),
            -32600,
            Value::Null,
        ),
        (
            "id null on a request",
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#.into(),
            -32600,
            Value::Null,
        ),
        (
            "method a number",
            r#"{"jsonrpc":"2.0","id":4,"method":5}"#.into(),
            -32600,
            json!(4),
        ),
        (
            "method empty",
            r#"{"jsonrpc":"2.0","id":5,"method":""}"#.into(),
            -32600,
            json!(5),
        ),
        (
            "method null",
            r#"{"jsonrpc":"2.0","id":6,"method":null}"#.into(),
            -32600,
            json!(6),
        ),
        (
            "params a string",
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":"x"}"#.into(),
            -32600,
            json!(7),
        ),
        (
            "params a number",
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":8}"#.into(),
            -32600,
            json!(8),
        ),
        (
            "a response with no id",
            r#"{"jsonrpc":"2.0","result":{}}"#.into(),
            -32600,
            Value::Null,
        ),
        (
            "neither request nor response",
            r#"{"jsonrpc":"2.0","id":9}"#.into(),
            -32600,
            json!(9),
        ),
    ]
}

#[tokio::test]
async fn bad_input_of_every_kind_gets_its_error_and_nothing_else_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Some(&config(dir.path())));
    eventually(Duration::from_secs(15), "both servers running", || {
        let s = d.status();
        s["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "running")
            .then_some(())
    })
    .await;
    let mut cases = 0;

    // --- WebSocket frames: each gets its error; the connection stays open.
    let mut ws = WsClient::connect(&d, "demo").await;
    ws.initialize("bad-input", REVISION).await;
    for (name, frame, code, id) in ws_cases() {
        ws.send_text(&frame).await;
        let v = ws.recv().await;
        assert_eq!(v["error"]["code"], code, "{name}: {v}");
        assert_eq!(v["id"], id, "{name}: {v}");
        cases += 1;
    }
    // A 3 MiB string and a NUL inside a string are fine: they are valid JSON.
    for (name, text) in [
        ("a 3 MiB string", "y".repeat(3 * 1024 * 1024)),
        ("a NUL in a string", "a\u{0}b".into()),
    ] {
        let req = json!({"jsonrpc":"2.0","id":name,"method":"tools/call","params":{"name":"echo","arguments":{"text":text}}});
        ws.send(req).await;
        let v = ws.answer(&json!(name)).await;
        assert_eq!(
            v["result"]["content"][0]["text"].as_str().unwrap().len(),
            text.len(),
            "{name}"
        );
        cases += 1;
    }
    // One client reusing an id still in flight.
    let slow = json!({"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"slow_count","arguments":{"to":2,"delay_ms":200}}});
    ws.send(slow).await;
    ws.send_text(r#"{"jsonrpc":"2.0","id":"dup","method":"ping"}"#)
        .await;
    let v = ws.recv().await;
    assert_eq!(v["error"]["code"], -32600, "reused id: {v}");
    ws.answer(&json!("dup")).await;
    cases += 1;
    // Frames that end a connection, each with its close code.
    let mut c = WsClient::connect(&d, "demo").await;
    c.send_message(Message::Binary(vec![0, 159, 146, 150].into()))
        .await;
    assert_eq!(c.close_code().await, CloseCode::Unsupported, "binary frame");
    let mut c = WsClient::connect(&d, "demo").await;
    let _ = c
        .try_send_message(Message::Text("z".repeat(5 * 1024 * 1024).into()))
        .await;
    assert_eq!(c.close_code().await, CloseCode::Size, "frame over 4 MiB");
    let mut c = WsClient::connect(&d, "demo").await;
    let bad_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.send_message(Message::Frame(bad_utf8)).await;
    assert_eq!(
        c.close_code().await,
        CloseCode::Invalid,
        "text frame that is not UTF-8"
    );
    cases += 3;
    let v = {
        ws.send_text(r#"{"jsonrpc":"2.0","id":"alive","method":"ping"}"#)
            .await;
        ws.answer(&json!("alive")).await
    };
    assert_eq!(v["result"], json!({}), "the first connection still works");

    // --- HTTP requests.
    let bearer = format!("Bearer {}", d.token);
    let auth: &[(&str, &str)] = &[
        ("Authorization", bearer.as_str()),
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h = auth.to_vec();
        h.extend_from_slice(extra);
        h
    };
    let big = vec![b'{'; 5 * 1024 * 1024];
    let deep_body = deep("[", 10_000);
    let http_cases: Vec<HttpCase> = vec![
        (
            "POST not JSON",
            "POST",
            "/mcp/demo",
            with(&[]),
            b"nope".to_vec(),
            400,
            "-32700",
        ),
        (
            "POST not UTF-8",
            "POST",
            "/mcp/demo",
            with(&[]),
            vec![0xff, 0xfe],
            400,
            "not UTF-8",
        ),
        (
            "POST 10 000 nested",
            "POST",
            "/mcp/demo",
            with(&[]),
            deep_body.into_bytes(),
            400,
            "recursion limit",
        ),
        (
            "POST a batch",
            "POST",
            "/mcp/demo",
            with(&[]),
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec(),
            400,
            "batches",
        ),
        (
            "POST over 4 MiB",
            "POST",
            "/mcp/demo",
            with(&[]),
            big,
            413,
            "limit",
        ),
        (
            "POST with no session",
            "POST",
            "/mcp/demo",
            with(&[]),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec(),
            400,
            "Mcp-Session-Id",
        ),
        (
            "POST an unknown session",
            "POST",
            "/mcp/demo",
            with(&[("Mcp-Session-Id", "0000")]),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec(),
            404,
            "initialize again",
        ),
        (
            "POST an unknown revision header",
            "POST",
            "/mcp/demo",
            with(&[("MCP-Protocol-Version", "1.0")]),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec(),
            400,
            "MCP-Protocol-Version",
        ),
        (
            "POST id true",
            "POST",
            "/mcp/demo",
            with(&[]),
            br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.to_vec(),
            400,
            "-32600",
        ),
        (
            "POST to an unknown server",
            "POST",
            "/mcp/nope",
            with(&[]),
            br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec(),
            404,
            "no server named",
        ),
        (
            "GET without a session",
            "GET",
            "/mcp/demo",
            with(&[]),
            vec![],
            400,
            "Mcp-Session-Id",
        ),
        (
            "GET an unknown session",
            "GET",
            "/mcp/demo",
            with(&[("Mcp-Session-Id", "0000")]),
            vec![],
            404,
            "initialize again",
        ),
        (
            "DELETE without a session",
            "DELETE",
            "/mcp/demo",
            with(&[]),
            vec![],
            400,
            "Mcp-Session-Id",
        ),
        (
            "no token",
            "POST",
            "/mcp/demo",
            vec![("Accept", "application/json")],
            b"{}".to_vec(),
            401,
            "missing token",
        ),
        (
            "a foreign Origin",
            "POST",
            "/mcp/demo",
            with(&[("Origin", "https://evil.example")]),
            b"{}".to_vec(),
            403,
            "may not use MCP endpoints",
        ),
        (
            "Origin null",
            "POST",
            "/mcp/demo",
            with(&[("Origin", "null")]),
            b"{}".to_vec(),
            403,
            "may not use MCP endpoints",
        ),
        (
            "a foreign Host",
            "GET",
            "/api/status",
            with(&[("Host", "evil.example")]),
            vec![],
            403,
            "not allowed",
        ),
        (
            "an unknown API action",
            "POST",
            "/api/servers/demo/explode",
            with(&[]),
            vec![],
            404,
            "unknown action",
        ),
    ];
    for (name, method, path, headers, body, status, says) in http_cases {
        let (code, text) = http_body(&d.addr, method, path, &headers, &body).await;
        assert_eq!(code, status, "{name}: {text}");
        assert!(text.contains(says), "{name}: {text}");
        cases += 1;
    }

    // --- Control-socket lines: each gets its error; the connection stays.
    let mut sock = std::os::unix::net::UnixStream::connect(d.state_dir.join("ctl.sock")).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let ctl_cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("not JSON", b"status please".to_vec(), -32700),
        ("not UTF-8", vec![0xff, 0xfe, 0xfd], -32700),
        ("10 000 nested", deep("[", 10_000).into_bytes(), -32700),
        (
            "a batch",
            br#"[{"jsonrpc":"2.0","id":1,"method":"status"}]"#.to_vec(),
            -32600,
        ),
        (
            "wrong jsonrpc",
            br#"{"jsonrpc":"1","id":1,"method":"status"}"#.to_vec(),
            -32600,
        ),
        (
            "id an object",
            br#"{"jsonrpc":"2.0","id":{},"method":"status"}"#.to_vec(),
            -32600,
        ),
        (
            "params a string",
            br#"{"jsonrpc":"2.0","id":1,"method":"status","params":"x"}"#.to_vec(),
            -32600,
        ),
        (
            "an unknown method",
            br#"{"jsonrpc":"2.0","id":1,"method":"format_disk"}"#.to_vec(),
            -32601,
        ),
        (
            "restart without a name",
            br#"{"jsonrpc":"2.0","id":1,"method":"restart"}"#.to_vec(),
            -32602,
        ),
        (
            "restart an unknown server",
            br#"{"jsonrpc":"2.0","id":1,"method":"restart","params":{"name":"nope"}}"#.to_vec(),
            -32602,
        ),
        (
            "logs with a wrong field",
            br#"{"jsonrpc":"2.0","id":1,"method":"logs","params":{"sever":"demo"}}"#.to_vec(),
            -32602,
        ),
        ("a 2 MiB line", vec![b'x'; 2 * 1024 * 1024], -32600),
    ];
    for (name, line, code) in ctl_cases {
        sock.write_all(&line).unwrap();
        sock.write_all(b"\n").unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        let v: Value =
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{name}: {e}: {answer}"));
        assert_eq!(v["error"]["code"], code, "{name}: {v}");
        cases += 1;
    }
    sock.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"ok\",\"method\":\"ping\"}\n")
        .unwrap();
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    assert!(
        answer.contains("\"result\""),
        "the control connection still works: {answer}"
    );

    // --- Config files: errors, never a panic.
    let config_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not UTF-8",
            vec![b'[', 0xff, b']'],
            "config file is not valid UTF-8",
        ),
        (
            "a NUL byte",
            b"[servers.a]\ncommand = \"x\0\"\n".to_vec(),
            "config.toml:",
        ),
        (
            "10 000 nested arrays",
            format!("a = {}", deep("[", 10_000)).into_bytes(),
            "config.toml:",
        ),
        (
            "a 5 MB key",
            format!("{} = 1", "k".repeat(5_000_000)).into_bytes(),
            "unknown",
        ),
        (
            "command a table",
            b"[servers.a.command]\nx = 1\n".to_vec(),
            "config.toml:",
        ),
        (
            "servers not a table",
            b"servers = 5\n".to_vec(),
            "config.toml:",
        ),
    ];
    for (name, bytes, says) in config_cases {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &bytes).unwrap();
        let err = bridgedock_engine::config::load(&path)
            .expect_err(name)
            .render();
        assert!(err.contains(says), "{name}: {err}");
        assert!(err.contains("fix:"), "{name} says what to do: {err}");
        cases += 1;
    }

    // --- A server's stdout: noise is logged, not forwarded; the bridge keeps going.
    let mut bad = WsClient::connect(&d, "bad").await;
    bad.initialize("bad-input", REVISION).await;
    let stdout_cases = [
        (
            "noise",
            "protocol noise on stdout (not JSON-RPC, not forwarded): hello",
        ),
        (
            "not_utf8",
            "protocol noise on stdout (not UTF-8, not forwarded)",
        ),
        (
            "nul",
            "protocol noise on stdout (not JSON-RPC, not forwarded)",
        ),
        (
            "deep",
            "protocol noise on stdout (not JSON-RPC, not forwarded): [[[[",
        ),
        (
            "batch",
            "protocol noise on stdout (not JSON-RPC, not forwarded): [{",
        ),
        ("unknown_id", "unknown request id 987654321"),
        ("huge_line", "a stdout line longer than 16 MiB was dropped"),
    ];
    for (what, logged) in stdout_cases {
        let req = json!({"jsonrpc":"2.0","id":what,"method":"tools/call","params":{"name":what}});
        bad.send(req).await;
        let v = bad.answer(&json!(what)).await;
        assert_eq!(
            v["result"]["content"][0]["text"],
            format!("survived {what}"),
            "{what}: {v}"
        );
        let logs = d.ctl_ok(&["logs", "bad", "-n", "400"]);
        assert!(
            logs.contains(logged),
            "{what}: expected `{logged}` in\n{logs}"
        );
        cases += 1;
    }
    // Half a line, then exit: the call fails with -32002, the half line is logged, the bridge goes on.
    let req = json!({"jsonrpc":"2.0","id":"half","method":"tools/call","params":{"name":"half_line_exit"}});
    bad.send(req).await;
    let v = bad.answer(&json!("half")).await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    eventually(
        Duration::from_secs(10),
        "the unfinished line in the log",
        || {
            d.ctl_ok(&["logs", "bad", "-n", "400"])
                .contains("an unfinished line at exit")
                .then_some(())
        },
    )
    .await;
    cases += 1;
    let again =
        json!({"jsonrpc":"2.0","id":"again","method":"tools/call","params":{"name":"noise"}});
    bad.send(again).await;
    let v = bad.answer(&json!("again")).await;
    assert_eq!(
        v["result"]["content"][0]["text"], "survived noise",
        "the restarted server answers on the same socket: {v}"
    );

    // Everyone else was served throughout, and memory stayed bounded.
    let (code, _) = http(&d.addr, "GET", "/healthz", &[]).await;
    assert_eq!(code, 200);
    let mut fresh = WsClient::connect(&d, "demo").await;
    fresh.initialize("bad-input", REVISION).await;
    let rss = rss_mib(d.pid());
    eprintln!("{cases} bad-input cases; daemon RSS afterwards {rss:.1} MiB");
    assert!(cases >= 50, "{cases} cases");
    assert!(rss < 256.0, "memory stayed bounded: {rss:.1} MiB");
}
