//! Doors that open for the right callers, and messages that tell the truth, with the real
//! daemon: a wrong server name is a JSON-RPC 404 that names the right ones.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::path::{Path, PathBuf};

use common::daemon::{Daemon, exchange};
use common::fixture;
use serde_json::{Value, json};

fn write_config(dir: &Path, bridge: &str, servers: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[bridge]\n{bridge}\n\n{servers}")).unwrap();
    path
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
