//! The router in-process, with a fake server process on the other side of its link: for what
//! the fuzz target (fuzz/src/router.rs) found, each kept here as a story.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RouterHandle, RouterOccupancy, RouterOptions, spawn};
use crate::bridge::outbound::{Outbound, OutboundReceiver, Outgoing};
use crate::logs::LogHub;
use crate::protocol::jsonrpc;
use crate::status::{BridgeStatus, StatusHub};
use crate::supervisor::LinkEvent;

const DEADLINE: Duration = Duration::from_secs(5);

struct Rig {
    router: RouterHandle,
    link: mpsc::Sender<LinkEvent>,
    generation: u64,
    stdin: Option<mpsc::UnboundedReceiver<crate::supervisor::link::QueuedLine>>,
    _shutdown: tokio_util::sync::DropGuard,
}

struct Client {
    session: u64,
    rx: OutboundReceiver,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(RouterOptions::default())
    }

    fn with(options: RouterOptions) -> Rig {
        let (link, link_rx) = mpsc::channel(64);
        let status = StatusHub::new(BridgeStatus {
            version: "test".into(),
            pid: 0,
            address: String::new(),
            started_at_ms: 0,
            uptime_ms: 0,
            config_path: None,
            state_dir: String::new(),
            reaped_orphans: Vec::new(),
        });
        let shutdown = CancellationToken::new();
        let router = spawn(
            "srv",
            options,
            link_rx,
            status,
            LogHub::new(16),
            shutdown.clone(),
        );
        Rig {
            router,
            link,
            generation: 0,
            stdin: None,
            _shutdown: shutdown.drop_guard(),
        }
    }

    /// A new server process comes up (after `down` for a restart).
    async fn up(&mut self) {
        self.generation += 1;
        let (to_server, stdin) = crate::supervisor::link::StdinQueue::new();
        self.stdin = Some(stdin);
        self.link
            .send(LinkEvent::Up {
                generation: self.generation,
                pid: 1,
                to_server,
            })
            .await
            .unwrap();
    }

    async fn down(&mut self) {
        self.stdin = None;
        self.link
            .send(LinkEvent::Down {
                generation: self.generation,
                reason: "restarted".into(),
            })
            .await
            .unwrap();
    }

    /// The next message the server process reads on its stdin.
    async fn server_reads(&mut self) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        let line = tokio::time::timeout(DEADLINE, stdin.recv())
            .await
            .expect("the server is sent something")
            .expect("stdin open");
        serde_json::from_str(line.text()).unwrap()
    }

    async fn server_writes(&self, msg: Value) {
        self.link
            .send(LinkEvent::Line {
                generation: self.generation,
                line: msg.to_string(),
            })
            .await
            .unwrap();
    }

    async fn attach(&self) -> Client {
        let (out, rx) = Outbound::new(1024 * 1024);
        let session = self.router.attach(out, "ws", "test".into()).await.unwrap();
        Client { session, rx }
    }

    async fn send(&self, client: &Client, msg: Value) {
        let Value::Object(msg) = msg else {
            panic!("not an object")
        };
        let bytes = serde_json::to_string(&msg).unwrap().len();
        assert!(self.router.message(client.session, msg, bytes).await);
    }
}

impl Client {
    async fn reads(&mut self) -> Value {
        let item = tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .expect("the client is sent something")
            .expect("queue open");
        match item {
            Outgoing::Text(text) => serde_json::from_str(&text).unwrap(),
            _ => panic!("expected a message"),
        }
    }
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}})
}

/// Found by the router fuzz target: once a server had spoken only the stateless revision,
/// the router kept adding the stateless envelope to every request even after the server was
/// restarted as one that answers `initialize` (an upgrade, say) — which may refuse it.
#[tokio::test]
async fn a_server_restarted_as_a_handshake_server_gets_no_stateless_envelope() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.up().await;
    rig.send(&client, initialize(1)).await;

    // The first process speaks only the stateless revision: it refuses `initialize`.
    let init = rig.server_reads().await;
    assert_eq!(init["method"], "initialize");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "error": {"code": jsonrpc::METHOD_NOT_FOUND, "message": "no"}}))
        .await;
    let discover = rig.server_reads().await;
    assert_eq!(discover["method"], "server/discover");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": discover["id"], "result": {
        "supportedVersions": ["2026-07-28"], "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}}))
        .await;
    assert_eq!(client.reads().await["result"]["serverInfo"]["name"], "s");

    // Restarted, it answers `initialize` like any handshake-era server.
    rig.down().await;
    rig.up().await;
    let init = rig.server_reads().await;
    assert_eq!(init["method"], "initialize");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    assert_eq!(
        rig.server_reads().await["method"],
        "notifications/initialized"
    );

    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
    )
    .await;
    let request = rig.server_reads().await;
    assert_eq!(request["method"], "tools/list");
    assert_eq!(
        request["params"],
        json!({}),
        "no stateless envelope for a server that answered initialize"
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": request["id"], "result": {"tools": []}}))
        .await;
    let answer = client.reads().await;
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"], json!({"tools": []}));
}

/// The occupancy report the fuzz target checks: routing state exists while a request is in
/// flight and is gone once it is answered and its client has left.
#[tokio::test]
async fn routing_state_is_gone_once_requests_and_clients_are() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.up().await;
    rig.send(&client, initialize(1)).await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    client.reads().await;
    rig.server_reads().await; // notifications/initialized

    rig.send(&client, json!({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"_meta": {"progressToken": 5}}}))
        .await;
    let request = rig.server_reads().await;
    let busy = rig.router.occupancy().await.unwrap();
    assert_eq!(
        (
            busy.sessions,
            busy.pending_for_clients,
            busy.by_client_id,
            busy.progress_routes
        ),
        (1, 1, 1, 1)
    );

    rig.server_writes(json!({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
        .await;
    assert_eq!(client.reads().await["id"], "x");
    rig.router.detach(client.session, "done").await;
    let idle = rig.router.occupancy().await.unwrap();
    assert_eq!(
        idle,
        RouterOccupancy {
            gone_clients: idle.gone_clients,
            table_slots: idle.table_slots,
            ..RouterOccupancy::default()
        }
    );
}

/// A burst (300 clients, a request each in flight at once) grows the routing tables; once it
/// has gone they give their room back instead of keeping it for the rest of the day (the load
/// benchmark's RSS target: bench/README.md "Load").
#[tokio::test]
async fn the_tables_a_burst_grew_shrink_once_it_has_gone() {
    let mut rig = Rig::new();
    rig.up().await;
    let mut first = rig.attach().await;
    rig.send(&first, initialize(1)).await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    first.reads().await;
    rig.server_reads().await; // notifications/initialized
    let quiet = rig.router.occupancy().await.unwrap().table_slots;

    let mut clients = Vec::new();
    for n in 0..300 {
        let client = rig.attach().await;
        rig.send(&client, json!({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"_meta": {"progressToken": n}}}))
            .await;
        clients.push(client);
    }
    let mut asked = Vec::new();
    for _ in 0..300 {
        asked.push(rig.server_reads().await["id"].clone());
    }
    let busy = rig.router.occupancy().await.unwrap();
    assert_eq!(busy.pending_for_clients, 300);
    assert!(busy.table_slots >= 4 * 300, "{busy:?}");

    for id in asked {
        rig.server_writes(json!({"jsonrpc": "2.0", "id": id, "result": {}}))
            .await;
    }
    for client in clients.iter_mut() {
        client.reads().await;
    }
    for client in clients {
        rig.router.detach(client.session, "done").await;
    }
    // The tables shrink on the router's once-a-second round.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = rig.router.occupancy().await.unwrap();
        if now.table_slots <= quiet + 10 * crate::memory::KEEP_SLOTS {
            assert_eq!(now.sessions, 1, "the first client is still there");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {} slots, {quiet} before the burst",
            now.table_slots
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Found by the router fuzz target: a server's request (here `roots/list`) goes to one client,
/// but any client could answer it by guessing its id, and the server took that answer as the
/// real one.
#[tokio::test]
async fn only_the_client_a_server_request_went_to_can_answer_it() {
    let mut rig = Rig::new();
    let mut asker = rig.attach().await;
    let mut other = rig.attach().await;
    rig.up().await;
    rig.send(&asker, initialize(1)).await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    asker.reads().await;
    rig.server_reads().await; // notifications/initialized
    rig.send(&other, initialize(1)).await;
    other.reads().await;

    // The asker's call is in flight, so the server's request goes to it.
    rig.send(
        &asker,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}}),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 77, "method": "roots/list"}))
        .await;
    let request = asker.reads().await;
    assert_eq!(request["method"], "roots/list");

    rig.send(&other, json!({"jsonrpc": "2.0", "id": request["id"], "result": {"roots": [{"uri": "file:///not/yours"}]}}))
        .await;
    rig.send(&asker, json!({"jsonrpc": "2.0", "id": request["id"], "result": {"roots": [{"uri": "file:///mine"}]}}))
        .await;
    let answer = rig.server_reads().await;
    assert_eq!(answer["id"], 77);
    assert_eq!(answer["result"]["roots"][0]["uri"], "file:///mine");
}

/// Found by the router fuzz target: the first client's `initialize` params became the
/// bridge's own `initialize` (sent now and after every restart) with that request's `_meta`,
/// so its progress token reached the server as the client wrote it, unrouted.
#[tokio::test]
async fn the_bridge_initializes_the_server_without_the_first_clients_meta() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.up().await;
    let mut init = initialize(1);
    init["params"]["_meta"] = json!({"progressToken": "mine"});
    rig.send(&client, init).await;
    for _ in 0..2 {
        let sent = rig.server_reads().await;
        assert_eq!(sent["method"], "initialize");
        assert_eq!(sent["params"]["clientInfo"]["name"], "test");
        assert!(sent["params"].get("_meta").is_none(), "{sent}");
        rig.server_writes(json!({"jsonrpc": "2.0", "id": sent["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
            .await;
        rig.server_reads().await; // notifications/initialized
        // Restarted: the bridge initializes the new process with the same params.
        rig.down().await;
        rig.up().await;
    }
    assert_eq!(client.reads().await["id"], 1);
}

/// Found by the router fuzz target: a server line that was a JSON object but not JSON-RPC
/// (no `jsonrpc`, a method that is not a string) was forwarded to clients as it was.
#[tokio::test]
async fn server_lines_that_are_not_json_rpc_never_reach_clients() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.up().await;
    rig.send(&client, initialize(1)).await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    client.reads().await;
    rig.server_reads().await; // notifications/initialized
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}}),
    )
    .await;
    let call = rig.server_reads().await;

    for noise in [
        json!({"id": 5, "method": "roots/list"}),
        json!({"jsonrpc": "2.0", "method": 5}),
        json!({"jsonrpc": "1.0", "method": "notifications/tools/list_changed"}),
        json!({"jsonrpc": "2.0", "id": call["id"], "method": 7}),
    ] {
        rig.server_writes(noise).await;
    }
    rig.server_writes(json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}))
        .await;
    assert_eq!(
        client.reads().await,
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": call["id"], "result": {"ok": true}}))
        .await;
    assert_eq!(
        client.reads().await,
        json!({"jsonrpc": "2.0", "id": 2, "result": {"ok": true}})
    );
}

/// Found by the envelope fuzz target: serde_json checks surrogate escapes only in strings it
/// decodes, so a frame with a lone `\ude00` in its params took the fast path although the
/// full path refuses it; and had it waited for a server that was down, turning it back into a
/// message would have dropped its params without a word.
#[test]
fn a_frame_the_full_path_refuses_never_takes_the_fast_path() {
    use super::FastRequest;
    let lone = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"\ude00"}}"#;
    assert!(FastRequest::read(lone).is_none());
    let (_, error) = jsonrpc::parse_message(lone).unwrap_err();
    assert_eq!(error.code, jsonrpc::PARSE_ERROR);

    // Nor does an array that serde would read field by field (a batch is refused: -32600).
    let array = r#"["2.0",1,"tools/call",{},null,null]"#;
    assert!(FastRequest::read(array).is_none());
    let (_, error) = jsonrpc::parse_message(array).unwrap_err();
    assert_eq!(error.code, jsonrpc::INVALID_REQUEST);

    // A proper pair (how Python's json.dumps writes an emoji) is fine either way.
    let pair = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"\ud83d\ude00"}}"#;
    let msg = jsonrpc::parse_message(pair).unwrap();
    assert_eq!(msg["params"]["x"], "😀");
    let plain = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"\\ud"}}"#;
    assert!(jsonrpc::parse_message(plain).is_ok());
}

/// Found with the envelope target's fast/full agreement property (on a hand-written input):
/// the fast path looked for `"_meta"` as written, so a key spelled with escapes slipped
/// through, and its progress token reached the server unrewritten (progress then went
/// nowhere) and a stateless envelope unchecked.
#[test]
fn an_escaped_meta_key_takes_the_full_path() {
    use super::FastRequest;
    for text in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"\u005fmeta":{"progressToken":1}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_m\u0065ta":null,"x":"\u00e9"}}"#,
    ] {
        assert!(FastRequest::read(text).is_none(), "{text}");
        let msg = jsonrpc::parse_message(text).unwrap();
        assert!(msg["params"].get("_meta").is_some());
    }
    // Escapes elsewhere (how Python's json.dumps writes non-ASCII) keep the fast path.
    let plain =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"caf\u00e9","y":{"z":1}}}"#;
    let fast = FastRequest::read(plain).unwrap();
    assert_eq!(fast.method, "tools/call");
}

/// Server→client requests have no timeout (a person may take minutes over an elicitation), so
/// they are capped instead: a client that never answers cannot make them pile up.
#[tokio::test]
async fn a_servers_requests_waiting_for_clients_are_capped() {
    let mut rig = Rig::with(RouterOptions {
        server_requests_max: 2,
        ..RouterOptions::default()
    });
    let mut client = rig.attach().await;
    rig.up().await;
    rig.send(&client, initialize(1)).await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    client.reads().await;
    rig.server_reads().await; // notifications/initialized

    for id in 10..13 {
        rig.server_writes(json!({"jsonrpc": "2.0", "id": id, "method": "roots/list"}))
            .await;
    }
    let first = client.reads().await;
    client.reads().await;
    let refused = rig.server_reads().await;
    assert_eq!(refused["id"], 12);
    assert_eq!(refused["error"]["code"], jsonrpc::BRIDGE_INTERNAL);
    assert_eq!(rig.router.occupancy().await.unwrap().server_requests, 2);

    // An answer makes room again.
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": first["id"], "result": {"roots": []}}),
    )
    .await;
    assert_eq!(rig.server_reads().await["id"], 10);
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 13, "method": "roots/list"}))
        .await;
    assert_eq!(client.reads().await["method"], "roots/list");
}

/// Clients waiting for the server's first `initialize` answer are bounded like the requests
/// waiting for a server that is down, not only by the time they may wait.
#[tokio::test]
async fn clients_waiting_for_the_handshake_are_capped() {
    let mut rig = Rig::with(RouterOptions {
        down_queue_max: 2,
        ..RouterOptions::default()
    });
    rig.up().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = rig.attach().await;
        rig.send(&client, initialize(1)).await;
        clients.push(client);
    }
    assert_eq!(rig.server_reads().await["method"], "initialize");
    let refused = clients[2].reads().await;
    assert_eq!(refused["error"]["code"], jsonrpc::SERVER_UNREACHABLE);
    assert_eq!(rig.router.occupancy().await.unwrap().init_waiters, 2);
}
