//! Doors that open for the right callers, and messages that tell the truth, with the real
//! daemon: a wrong server name is a JSON-RPC 404 that names the right ones, and a browser-based
//! MCP client (the MCP Inspector's page) is refused with the exact setting that lets it in —
//! and once let in, reaches the MCP endpoints and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::{Daemon, exchange};
use common::fixture;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo/demo_server.py");
const INSPECTOR: &str = "http://localhost:6274";

fn write_config(dir: &Path, bridge: &str, servers: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[bridge]\n{bridge}\n\n{servers}")).unwrap();
    path
}

fn demo_server() -> String {
    format!("[servers.demo]\ncommand = \"python3\"\nargs = [{DEMO:?}]\n")
}

fn initialize(id: u64) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "inspector-page", "version": "1"}}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_wrong_server_name_is_a_json_rpc_404_naming_the_servers_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let stable = format!("args = [{:?}]", fixture("stable.py"));
    let cfg = write_config(
        dir.path(),
        "",
        &format!(
            "[servers.beta]\ncommand = \"python3\"\n{stable}\n\n[servers.alpha]\ncommand = \"python3\"\n{stable}\n"
        ),
    );
    let d = Daemon::start(dir.path(), Some(&cfg));
    let bearer = format!("Bearer {}", d.token);
    let auth = ("Authorization", bearer.as_str());
    let expected = |id: Value, scheme: &str| {
        json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": -32600,
            "message": format!(
                "no server named `nope` on this bridgedock (configured: alpha, beta): use {scheme}://{}/mcp/<one of them>",
                d.addr
            ),
            "data": {"configured": ["alpha", "beta"]}
        }})
    };
    let post = [
        auth,
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];

    // A request is answered with its own id, so the SDK that sent it can show the message.
    let a = exchange(&d.addr, "POST", "/mcp/nope", &post, &initialize(7)).await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.json(), expected(json!(7), "http"));
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/nope",
        &post,
        br#"{"jsonrpc":"2.0","id":"call-1","method":"tools/list"}"#,
    )
    .await;
    assert_eq!(a.json(), expected(json!("call-1"), "http"));
    // No request to answer (a notification, or no JSON at all): id null.
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/nope",
        &post,
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!((a.status, a.json()), (404, expected(Value::Null, "http")));
    let a = exchange(&d.addr, "POST", "/mcp/nope", &post, b"{not json").await;
    assert_eq!((a.status, a.json()), (404, expected(Value::Null, "http")));

    let sse = [auth, ("Accept", "text/event-stream")];
    let a = exchange(&d.addr, "GET", "/mcp/nope", &sse, b"").await;
    assert_eq!((a.status, a.json()), (404, expected(Value::Null, "http")));
    let a = exchange(&d.addr, "DELETE", "/mcp/nope", &[auth], b"").await;
    assert_eq!((a.status, a.json()), (404, expected(Value::Null, "http")));
    // A WebSocket client is refused before the upgrade, and told the ws:// URL.
    let upgrade = [
        auth,
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let a = exchange(&d.addr, "GET", "/mcp/nope", &upgrade, b"").await;
    assert_eq!((a.status, a.json()), (404, expected(Value::Null, "ws")));
    assert_eq!(a.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_browser_mcp_client_is_told_the_setting_then_let_in_to_mcp_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "", &demo_server());
    let d = Daemon::start(dir.path(), Some(&cfg));
    let bearer = format!("Bearer {}", d.token);
    let auth = ("Authorization", bearer.as_str());
    let from_inspector = [
        auth,
        ("Origin", INSPECTOR),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];

    // Not allowed yet: 403, and the message says which line to add where.
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/demo",
        &from_inspector,
        &initialize(1),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let v = a.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(
        v["error"]["message"],
        format!(
            "origin `http://localhost:6274` may not use MCP endpoints: add it to `allowed_origins` under [bridge] in {} (allowed_origins = [\"http://localhost:6274\"]), then restart bridgedock",
            cfg.display()
        )
    );
    assert!(a.header("access-control-allow-origin").is_none());
    let preflight = [
        ("Origin", INSPECTOR),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let a = exchange(&d.addr, "OPTIONS", "/mcp/demo", &preflight, b"").await;
    assert_eq!(a.status, 403, "{}", a.body);

    // The user does what the message says.
    d.signal(Signal::SIGTERM);
    let (code, stderr) = d.wait(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{stderr}");
    let cfg = write_config(
        dir.path(),
        &format!("allowed_origins = [{INSPECTOR:?}]"),
        &demo_server(),
    );
    let d = Daemon::start(dir.path(), Some(&cfg));
    let bearer = format!("Bearer {}", d.token);
    let auth = ("Authorization", bearer.as_str());
    let from_inspector = [
        auth,
        ("Origin", INSPECTOR),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];

    // The browser's preflight: every header an MCP client sends may be sent, `mcp-param-*`
    // included, and the page may read the session id and revision of the answer.
    let asked = "content-type, authorization, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, mcp-param-city, last-event-id";
    let preflight = [
        ("Origin", INSPECTOR),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", asked),
    ];
    let a = exchange(&d.addr, "OPTIONS", "/mcp/demo", &preflight, b"").await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(a.header("access-control-allow-origin"), Some(INSPECTOR));
    assert_eq!(a.header("access-control-allow-headers"), Some(asked));
    assert_eq!(
        a.header("access-control-expose-headers"),
        Some("mcp-session-id, mcp-protocol-version")
    );
    let methods = a.header("access-control-allow-methods").unwrap();
    assert!(
        ["GET", "POST", "DELETE"]
            .iter()
            .all(|m| methods.contains(m)),
        "{methods}"
    );
    // A header that is not MCP's is not granted (the browser then refuses the request).
    let odd = [
        ("Origin", INSPECTOR),
        ("Access-Control-Request-Method", "POST"),
        (
            "Access-Control-Request-Headers",
            "content-type, x-forwarded-for",
        ),
    ];
    let a = exchange(&d.addr, "OPTIONS", "/mcp/demo", &odd, b"").await;
    assert_eq!(a.status, 204);
    assert!(
        !a.header("access-control-allow-headers")
            .unwrap()
            .contains("x-forwarded-for")
    );

    // The request itself passes: initialize opens a session the page can read.
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/demo",
        &from_inspector,
        &initialize(1),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["id"], 1);
    assert!(a.json()["result"]["serverInfo"].is_object(), "{}", a.body);
    assert!(a.header("mcp-session-id").is_some());
    assert_eq!(a.header("access-control-allow-origin"), Some(INSPECTOR));

    // The dock's API stays closed to it, preflight and request alike, and says why.
    let a = exchange(
        &d.addr,
        "GET",
        "/api/status",
        &[auth, ("Origin", INSPECTOR)],
        b"",
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.json()["error"]["message"].as_str().unwrap().starts_with(
            "origin `http://localhost:6274` may use the MCP endpoints (/mcp/NAME) only"
        ),
        "{}",
        a.body
    );
    let api_preflight = [
        ("Origin", INSPECTOR),
        ("Access-Control-Request-Method", "POST"),
    ];
    let a = exchange(
        &d.addr,
        "OPTIONS",
        "/api/servers/demo/stop",
        &api_preflight,
        b"",
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(a.header("access-control-allow-origin").is_none());
    // Other origins are still refused at the MCP door, and the Host check is unchanged.
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/demo",
        &[auth, ("Origin", "https://evil.example")],
        &initialize(2),
    )
    .await;
    assert_eq!(a.status, 403);
    let a = exchange(
        &d.addr,
        "POST",
        "/mcp/demo",
        &[auth, ("Origin", INSPECTOR), ("Host", "evil.example:7455")],
        &initialize(3),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("host `"), "{}", a.body);
}
