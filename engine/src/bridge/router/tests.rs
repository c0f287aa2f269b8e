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
use crate::protocol::mcp::{META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SUBSCRIPTION_ID};
use crate::status::{BridgeStatus, StatusHub};
use crate::supervisor::{LinkEvent, Readiness};

const DEADLINE: Duration = Duration::from_secs(5);

struct Rig {
    router: RouterHandle,
    link: mpsc::Sender<LinkEvent>,
    generation: u64,
    stdin: Option<mpsc::UnboundedReceiver<crate::supervisor::link::QueuedLine>>,
    /// What the router says of the current process's handshake.
    ready: Option<tokio::sync::oneshot::Receiver<Readiness>>,
    status: StatusHub,
    stopping: CancellationToken,
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
        let status = StatusHub::new(BridgeStatus::default());
        status.put_server(crate::status::ServerStatus::new("srv"));
        let shutdown = CancellationToken::new();
        let stopping = CancellationToken::new();
        let router = spawn(
            "srv",
            options,
            link_rx,
            status.clone(),
            LogHub::new(16),
            stopping.clone(),
            shutdown.clone(),
        );
        Rig {
            router,
            link,
            generation: 0,
            stdin: None,
            ready: None,
            status,
            stopping,
            _shutdown: shutdown.drop_guard(),
        }
    }

    /// A new server process comes up (after `down` for a restart).
    async fn up(&mut self) {
        self.generation += 1;
        let (to_server, stdin) = crate::supervisor::link::StdinQueue::new();
        self.stdin = Some(stdin);
        let (ready, told) = tokio::sync::oneshot::channel();
        self.ready = Some(told);
        self.link
            .send(LinkEvent::Up {
                generation: self.generation,
                pid: 1,
                to_server,
                ready,
            })
            .await
            .unwrap();
    }

    /// A server of the handshake era comes up: it refuses bridgedock's `server/discover` probe
    /// and answers its `initialize` (with `capabilities`).
    async fn up_legacy(&mut self, capabilities: Value) {
        self.up().await;
        let probe = self.server_reads().await;
        assert_eq!(probe["method"], "server/discover");
        self.server_writes(json!({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": jsonrpc::METHOD_NOT_FOUND, "message": "Method not found"}}))
            .await;
        let init = self.server_reads().await;
        assert_eq!(init["method"], "initialize");
        assert_eq!(init["params"]["clientInfo"]["name"], "bridgedock");
        self.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "serverInfo": {"name": "h", "version": "2"}}}))
            .await;
        assert_eq!(
            self.server_reads().await["method"],
            "notifications/initialized"
        );
        self.is_ready().await;
    }

    /// A server of the stateless revision comes up: it answers the probe.
    async fn up_modern(&mut self, capabilities: Value) {
        self.up().await;
        let probe = self.server_reads().await;
        assert_eq!(probe["method"], "server/discover");
        self.server_writes(json!({"jsonrpc": "2.0", "id": probe["id"], "result": {
            "resultType": "complete", "supportedVersions": ["2026-07-28"],
            "capabilities": capabilities, "ttlMs": 0, "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "m", "version": "3"}}}}))
            .await;
        self.is_ready().await;
    }

    /// The router told the supervisor the process is ready.
    async fn is_ready(&mut self) {
        let told = tokio::time::timeout(DEADLINE, self.ready.take().unwrap())
            .await
            .expect("the router says whether the process is ready")
            .expect("said");
        assert_eq!(told, Readiness::Ready);
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

    /// A client that has sent its `initialize` and read the answer.
    async fn initialized_client(&self) -> Client {
        let mut client = self.attach().await;
        self.send(&client, initialize(1)).await;
        assert!(client.reads().await.get("result").is_some());
        client
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
    initialize_with(id, json!({}))
}

fn initialize_with(id: u64, capabilities: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities,
        "clientInfo": {"name": "test", "version": "1"}}})
}

/// A request of the stateless revision, with `capabilities` declared.
fn modern(id: Value, method: &str, params: Value, capabilities: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "2"}});
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Found by the router fuzz target: once a server had spoken only the stateless revision,
/// the router kept adding the stateless envelope to every request even after the server was
/// restarted as one that answers `initialize` (an upgrade, say) — which may refuse it.
#[tokio::test]
async fn a_server_restarted_as_a_handshake_server_gets_no_stateless_envelope() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    // The first process speaks only the stateless revision: it answers the probe.
    rig.up_modern(json!({"tools": {}})).await;
    rig.send(&client, initialize(1)).await;
    let answer = client.reads().await;
    assert_eq!(answer["result"]["serverInfo"]["name"], "m");
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");

    // Restarted, it answers `initialize` like any handshake-era server.
    rig.down().await;
    rig.up_legacy(json!({})).await;

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
    rig.up_legacy(json!({})).await;
    rig.send(&client, initialize(1)).await;
    client.reads().await;

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
    rig.up_legacy(json!({})).await;
    let mut first = rig.attach().await;
    rig.send(&first, initialize(1)).await;
    first.reads().await;
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
    rig.up_legacy(json!({})).await;
    // Both can list roots: the request goes to the one whose call is in flight.
    rig.send(&asker, initialize_with(1, json!({"roots": {}})))
        .await;
    asker.reads().await;
    assert_eq!(
        rig.server_reads().await["method"],
        "notifications/roots/list_changed"
    );
    rig.send(&other, initialize_with(1, json!({"roots": {}})))
        .await;
    other.reads().await;
    assert_eq!(
        rig.server_reads().await["method"],
        "notifications/roots/list_changed"
    );

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
/// so its progress token reached the server as the client wrote it, unrouted. Now bridgedock
/// initializes every process itself, with its own params: nothing of any client's request
/// reaches the server in the handshake, before or after a restart.
#[tokio::test]
async fn the_bridge_initializes_the_server_without_the_first_clients_meta() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    let mut init = initialize(1);
    init["params"]["_meta"] = json!({"progressToken": "mine"});
    rig.send(&client, init).await;
    for _ in 0..2 {
        rig.up().await;
        let probe = rig.server_reads().await;
        assert_eq!(probe["method"], "server/discover");
        rig.server_writes(json!({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": -32601, "message": "no"}}))
            .await;
        let sent = rig.server_reads().await;
        assert_eq!(sent["method"], "initialize");
        assert_eq!(sent["params"]["clientInfo"]["name"], "bridgedock");
        assert!(sent["params"].get("_meta").is_none(), "{sent}");
        assert!(!sent.to_string().contains("mine"), "{sent}");
        rig.server_writes(json!({"jsonrpc": "2.0", "id": sent["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "2"}}}))
            .await;
        rig.server_reads().await; // notifications/initialized
        // Restarted: the bridge initializes the new process with the same params.
        rig.down().await;
    }
    assert_eq!(client.reads().await["id"], 1);
}

/// Found by the router fuzz target: a server line that was a JSON object but not JSON-RPC
/// (no `jsonrpc`, a method that is not a string) was forwarded to clients as it was.
#[tokio::test]
async fn server_lines_that_are_not_json_rpc_never_reach_clients() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.up_legacy(json!({})).await;
    rig.send(&client, initialize(1)).await;
    client.reads().await;
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
    rig.up_legacy(json!({})).await;
    rig.send(&client, initialize_with(1, json!({"roots": {}})))
        .await;
    client.reads().await;
    rig.server_reads().await; // notifications/roots/list_changed

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
    assert_eq!(rig.server_reads().await["method"], "server/discover");
    let refused = clients[2].reads().await;
    assert_eq!(refused["error"]["code"], jsonrpc::SERVER_UNREACHABLE);
    assert_eq!(rig.router.occupancy().await.unwrap().init_waiters, 2);
}

/// bridgedock is one client that can do what any of its clients can: the server sees the
/// sampling, elicitation and roots capabilities in bridgedock's own handshake, whoever connects
/// first — so no client gets a server that hid tools from another.
#[tokio::test]
async fn the_server_sees_one_client_that_can_do_what_any_client_can() {
    let mut rig = Rig::new();
    let mut bare = rig.attach().await;
    rig.send(&bare, initialize(1)).await;
    rig.up().await;
    let probe = rig.server_reads().await;
    assert_eq!(probe["method"], "server/discover");
    assert_eq!(
        probe["params"]["_meta"][META_CLIENT_CAPABILITIES],
        crate::protocol::capabilities::bridge_capabilities()
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": -32602, "message": "Invalid request parameters"}}))
        .await;
    let init = rig.server_reads().await;
    assert_eq!(
        init["params"]["capabilities"],
        json!({"roots": {"listChanged": true}, "sampling": {}, "elicitation": {"form": {}, "url": {}}})
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "h", "version": "2"}}}))
        .await;
    assert_eq!(
        rig.server_reads().await["method"],
        "notifications/initialized"
    );
    assert_eq!(bare.reads().await["result"]["serverInfo"]["name"], "h");
    rig.is_ready().await;
    let status = rig.status.server("srv").unwrap();
    assert_eq!(status.protocol_revision.as_deref(), Some("2025-11-25"));
    assert_eq!(
        status.declared_capabilities,
        Some(crate::protocol::capabilities::bridge_capabilities())
    );
}

/// A server request goes only to a client that declared the capability it needs — the one
/// whose call is in flight. An idle client that could answer is not asked for another
/// client's call (its sample would become the caller's result); with nobody able to take it,
/// the server is told so in words.
#[tokio::test]
async fn a_server_request_goes_only_to_a_client_that_declared_it() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut plain = rig.attach().await;
    rig.send(&plain, initialize(1)).await;
    plain.reads().await;
    let mut sampler = rig.attach().await;
    rig.send(&sampler, initialize_with(1, json!({"sampling": {}})))
        .await;
    sampler.reads().await;

    // The plain client's call is in flight, and it cannot sample: nobody is asked.
    rig.send(
        &plain,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "sampleLLM"}}),
    )
    .await;
    let call = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 50, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}))
        .await;
    let refused = rig.server_reads().await;
    assert_eq!(refused["id"], 50);
    assert_eq!(refused["error"]["code"], jsonrpc::METHOD_NOT_FOUND);
    let words = refused["error"]["message"].as_str().unwrap();
    assert!(words.contains("`sampling`"), "{words}");
    assert!(words.contains("2 connected clients"), "{words}");
    rig.server_writes(
        json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": [], "isError": true}}),
    )
    .await;
    assert_eq!(plain.reads().await["id"], 2);

    // The sampler's own call: it is asked.
    rig.send(
        &sampler,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "sampleLLM"}}),
    )
    .await;
    let call = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 51, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}))
        .await;
    assert_eq!(sampler.reads().await["method"], "sampling/createMessage");

    // Nobody can elicit a URL.
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 52, "method": "elicitation/create", "params": {"mode": "url", "url": "https://x", "message": "m"}}))
        .await;
    let refused = rig.server_reads().await;
    assert_eq!(refused["id"], 52);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("elicitation.url")
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": []}}))
        .await;
    assert_eq!(sampler.reads().await["id"], 3);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), plain.rx.recv())
            .await
            .is_err(),
        "the plain client was never sent the server's requests"
    );
}

/// A 2026-07-28 client through a handshake-era server gets results in its revision's shape:
/// `resultType`, the caching hints of list results, the server's identity in `_meta`, its
/// discover answer from bridgedock — and none of the legacy error codes.
#[tokio::test]
async fn a_modern_client_gets_its_revisions_shapes_from_a_handshake_server() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {"listChanged": true}})).await;
    let mut client = rig.attach().await;

    rig.send(
        &client,
        modern(json!("d"), "server/discover", json!({}), json!({})),
    )
    .await;
    let discover = client.reads().await["result"].clone();
    assert_eq!(discover["resultType"], "complete");
    assert!(
        discover["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert_eq!(
        discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "h"
    );
    assert_eq!(
        (discover["ttlMs"].clone(), discover["cacheScope"].clone()),
        (json!(0), json!("private"))
    );
    assert!(discover.get("serverInfo").is_none());

    let traced = {
        let mut r = modern(json!(1), "tools/list", json!({}), json!({}));
        r["params"]["_meta"]["traceparent"] =
            json!("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
        r
    };
    rig.send(&client, traced).await;
    let forwarded = rig.server_reads().await;
    assert_eq!(
        forwarded["params"]["_meta"],
        json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}),
        "the stateless envelope goes, trace context stays"
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": forwarded["id"], "result": {"tools": []}}))
        .await;
    let list = client.reads().await;
    assert_eq!(list["id"], 1);
    assert_eq!(
        list["result"],
        json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private",
               "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "h", "version": "2"}}})
    );

    rig.send(
        &client,
        modern(
            json!(2),
            "resources/read",
            json!({"uri": "x://gone"}),
            json!({}),
        ),
    )
    .await;
    let read = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": read["id"], "error": {"code": -32002, "message": "Resource not found"}}))
        .await;
    assert_eq!(
        client.reads().await["error"]["code"],
        jsonrpc::INVALID_PARAMS
    );

    rig.send(
        &client,
        modern(json!(3), "tools/call", json!({"name": "slow"}), json!({})),
    )
    .await;
    rig.server_reads().await;
    rig.down().await;
    let gone = client.reads().await;
    assert_eq!(gone["error"]["code"], jsonrpc::INTERNAL_ERROR, "{gone}");
    assert_eq!(gone["error"]["data"]["reason"], "server_unreachable");
}

/// What a native server of the 2026-07-28 revision refuses, bridgedock refuses the same way.
#[tokio::test]
async fn modern_requests_are_checked_as_a_native_server_checks_them() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({})).await;
    let mut client = rig.attach().await;
    let mut no_caps = modern(json!(1), "tools/list", json!({}), json!({}));
    no_caps["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove(META_CLIENT_CAPABILITIES);
    rig.send(&client, no_caps).await;
    let refused = client.reads().await;
    assert_eq!(
        (refused["id"].clone(), refused["error"]["code"].clone()),
        (json!(1), json!(jsonrpc::INVALID_PARAMS))
    );
    for removed in [
        "ping",
        "initialize",
        "logging/setLevel",
        "resources/subscribe",
    ] {
        rig.send(
            &client,
            modern(json!(removed), removed, json!({}), json!({})),
        )
        .await;
        let answer = client.reads().await;
        assert_eq!(
            answer["error"]["code"],
            jsonrpc::METHOD_NOT_FOUND,
            "{removed}: {answer}"
        );
    }
    let mut future = modern(json!(9), "tools/list", json!({}), json!({}));
    future["params"]["_meta"][META_PROTOCOL_VERSION] = json!("2099-01-01");
    rig.send(&client, future).await;
    let answer = client.reads().await;
    assert_eq!(
        answer["error"]["code"],
        crate::protocol::mcp::UNSUPPORTED_PROTOCOL_VERSION
    );
    assert!(
        answer["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
}

/// A handshake-era server asks for an elicitation while serving a 2026-07-28 client's call:
/// the client gets the revision's input-required result, and its retry — a new request with
/// the answer — carries the answer to the server and gets the call's result.
#[tokio::test]
async fn a_modern_client_answers_a_handshake_servers_elicitation_in_its_retry() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let caps = json!({"elicitation": {"form": {}}});
    let mut first = rig.attach().await;
    rig.send(
        &first,
        modern(
            json!(5),
            "tools/call",
            json!({"name": "ask_name", "arguments": {}}),
            caps.clone(),
        ),
    )
    .await;
    let call = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 70, "method": "elicitation/create",
        "params": {"mode": "form", "message": "What is your name?", "requestedSchema": {"type": "object"}}}))
        .await;
    let interim = first.reads().await;
    assert_eq!(interim["id"], 5);
    let result = &interim["result"];
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["input-1"]["method"],
        "elicitation/create"
    );
    assert_eq!(
        result["inputRequests"]["input-1"]["params"]["message"],
        "What is your name?"
    );
    let state = result["requestState"].as_str().unwrap().to_string();
    // The first request's stream is over (a stateless request's session ends with it).
    rig.router.detach(first.session, "answered").await;

    // A tampered state is refused; the call still waits for the real one.
    let mut retry = rig.attach().await;
    let mut tampered = modern(
        json!(6),
        "tools/call",
        json!({"name": "ask_name", "arguments": {}}),
        caps.clone(),
    );
    tampered["params"]["requestState"] = json!(format!("{state}x"));
    tampered["params"]["inputResponses"] =
        json!({"input-1": {"action": "accept", "content": {"name": "Eve"}}});
    rig.send(&retry, tampered).await;
    assert_eq!(
        retry.reads().await["error"]["code"],
        jsonrpc::INVALID_PARAMS
    );

    let mut good = modern(
        json!(7),
        "tools/call",
        json!({"name": "ask_name", "arguments": {}}),
        caps,
    );
    good["params"]["requestState"] = json!(state);
    good["params"]["inputResponses"] =
        json!({"input-1": {"action": "accept", "content": {"name": "Ada"}}});
    rig.send(&retry, good).await;
    let answered = rig.server_reads().await;
    assert_eq!(answered["id"], 70);
    assert_eq!(answered["result"]["content"]["name"], "Ada");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": [{"type": "text", "text": "hello Ada"}]}}))
        .await;
    let done = retry.reads().await;
    assert_eq!(done["id"], 7);
    assert_eq!(done["result"]["resultType"], "complete");
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada");
    let idle = rig.router.occupancy().await.unwrap();
    assert_eq!((idle.parked, idle.pending_for_clients), (0, 0));
}

/// A stateless server answers a handshake-era client's call with an input-required result:
/// bridgedock asks the client as that era does (a request), then retries the call for it; the
/// client only sees its call answered.
#[tokio::test]
async fn a_handshake_client_is_asked_what_a_stateless_server_needs() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(&client, initialize_with(1, json!({"elicitation": {}})))
        .await;
    assert_eq!(
        client.reads().await["result"]["protocolVersion"],
        "2025-11-25"
    );
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "ask_name", "arguments": {}, "_meta": {"progressToken": "p"}}}),
    )
    .await;
    let first = rig.server_reads().await;
    assert_eq!(
        first["params"]["_meta"][META_PROTOCOL_VERSION],
        "2026-07-28"
    );
    assert_eq!(
        first["params"]["_meta"][META_CLIENT_CAPABILITIES],
        json!({"elicitation": {}})
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": first["id"], "result": {
        "resultType": "input_required", "requestState": "server-state-1",
        "inputRequests": {"name": {"method": "elicitation/create", "params": {"mode": "form", "message": "Name?", "requestedSchema": {}}}}}}))
        .await;
    let asked = client.reads().await;
    assert_eq!(asked["method"], "elicitation/create");
    assert_eq!(asked["params"]["message"], "Name?");
    rig.send(&client, json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"name": "Ada"}}}))
        .await;
    let retry = rig.server_reads().await;
    assert_eq!(retry["method"], "tools/call");
    assert_ne!(retry["id"], first["id"], "a retry is a new request");
    assert_eq!(retry["params"]["requestState"], "server-state-1");
    assert_eq!(
        retry["params"]["inputResponses"]["name"]["content"]["name"],
        "Ada"
    );
    let token = retry["params"]["_meta"]["progressToken"].clone();
    rig.server_writes(json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}}))
        .await;
    assert_eq!(client.reads().await["params"]["progressToken"], "p");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": retry["id"], "result": {"resultType": "complete", "content": []}}))
        .await;
    let done = client.reads().await;
    assert_eq!(done["id"], 2);
    assert_eq!(done["result"]["content"], json!([]));
}

/// `subscriptions/listen` through a handshake-era server: acknowledged with what bridgedock
/// will send, then exactly that, tagged with the stream's id; handshake-era clients keep
/// getting notifications their way.
#[tokio::test]
async fn a_listen_stream_gets_what_it_opted_in_to() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}}))
        .await;
    let mut old = rig.attach().await;
    rig.send(&old, initialize(1)).await;
    old.reads().await;
    let mut listener = rig.attach().await;
    rig.send(&listener, modern(json!("L1"), "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["a://x"]}}), json!({})))
        .await;
    let ack = listener.reads().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["_meta"][META_SUBSCRIPTION_ID], "L1");
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["a://x"]})
    );
    let subscribe = rig.server_reads().await;
    assert_eq!(
        (
            subscribe["method"].clone(),
            subscribe["params"]["uri"].clone()
        ),
        (json!("resources/subscribe"), json!("a://x"))
    );
    rig.server_writes(json!({"jsonrpc": "2.0", "id": subscribe["id"], "result": {}}))
        .await;

    for method in [
        "notifications/prompts/list_changed",
        "notifications/tools/list_changed",
    ] {
        rig.server_writes(json!({"jsonrpc": "2.0", "method": method}))
            .await;
    }
    rig.server_writes(json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "a://x"}}))
        .await;
    let tools = listener.reads().await;
    assert_eq!(
        tools["method"], "notifications/tools/list_changed",
        "prompts were not asked for"
    );
    assert_eq!(tools["params"]["_meta"][META_SUBSCRIPTION_ID], "L1");
    let updated = listener.reads().await;
    assert_eq!(
        (updated["method"].clone(), updated["params"]["uri"].clone()),
        (json!("notifications/resources/updated"), json!("a://x"))
    );
    assert_eq!(
        old.reads().await["method"],
        "notifications/prompts/list_changed"
    );
    assert_eq!(
        old.reads().await["method"],
        "notifications/tools/list_changed"
    );

    // Bridgedock shuts down: the stream ends with the empty answer to the listen.
    rig.stopping.cancel();
    let closed = listener.reads().await;
    assert_eq!(closed["id"], "L1");
    assert_eq!(closed["result"]["_meta"][META_SUBSCRIPTION_ID], "L1");
}

/// At a stateless server bridgedock holds one `subscriptions/listen` for all its clients;
/// what comes on it reaches each listener under its own id, and handshake-era clients as they
/// expect.
#[tokio::test]
async fn a_stateless_server_is_listened_to_once_for_everyone() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}}))
        .await;
    let ours = rig.server_reads().await;
    assert_eq!(ours["method"], "subscriptions/listen");
    let mut listener = rig.attach().await;
    rig.send(&listener, modern(json!(4), "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["a://x"]}}), json!({})))
        .await;
    listener.reads().await; // acknowledged
    let wider = rig.server_reads().await;
    assert_eq!(wider["method"], "subscriptions/listen");
    assert_eq!(
        wider["params"]["notifications"]["resourceSubscriptions"],
        json!(["a://x"])
    );
    let cancel = rig.server_reads().await;
    assert_eq!(
        (
            cancel["method"].clone(),
            cancel["params"]["requestId"].clone()
        ),
        (json!("notifications/cancelled"), ours["id"].clone())
    );

    let mut old = rig.attach().await;
    rig.send(&old, initialize(1)).await;
    old.reads().await;
    rig.server_writes(
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
        "params": {"uri": "a://x", "_meta": {META_SUBSCRIPTION_ID: wider["id"]}}}),
    )
    .await;
    let updated = listener.reads().await;
    assert_eq!(updated["params"]["_meta"][META_SUBSCRIPTION_ID], 4);
    rig.server_writes(
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
        "params": {"_meta": {META_SUBSCRIPTION_ID: wider["id"]}}}),
    )
    .await;
    assert_eq!(
        listener.reads().await["method"],
        "notifications/tools/list_changed"
    );
    let plain = old.reads().await;
    assert_eq!(
        plain,
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    );
}

/// A 2026-07-28 request gets log messages only when it asked for them, and only at or above
/// the level it asked for.
#[tokio::test]
async fn log_messages_go_to_the_modern_requests_that_asked() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"logging": {}})).await;
    let mut quiet = rig.attach().await;
    let mut chatty = rig.attach().await;
    rig.send(
        &quiet,
        modern(json!(1), "tools/call", json!({"name": "slow"}), json!({})),
    )
    .await;
    let q = rig.server_reads().await;
    let mut asks = modern(json!(2), "tools/call", json!({"name": "slow"}), json!({}));
    asks["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("warning");
    rig.send(&chatty, asks).await;
    // A handshake-era server has one level for everyone: it is set first.
    let level = rig.server_reads().await;
    assert_eq!(level["method"], "logging/setLevel");
    assert_eq!(level["params"]["level"], "warning");
    let c = rig.server_reads().await;
    assert_eq!(c["method"], "tools/call");
    for level in ["info", "error"] {
        rig.server_writes(json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": level, "data": level}}))
            .await;
    }
    rig.server_writes(json!({"jsonrpc": "2.0", "id": c["id"], "result": {}}))
        .await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": q["id"], "result": {}}))
        .await;
    let log = chatty.reads().await;
    assert_eq!(
        (log["method"].clone(), log["params"]["level"].clone()),
        (json!("notifications/message"), json!("error"))
    );
    assert_eq!(chatty.reads().await["id"], 2);
    assert_eq!(
        quiet.reads().await["id"],
        1,
        "no log messages for a request that did not ask"
    );
}

/// At shutdown, calls in flight are told that bridgedock is shutting down — not that the
/// server will be back — and their server is told to stop working on them.
#[tokio::test]
async fn at_shutdown_calls_in_flight_are_told_bridgedock_is_shutting_down() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({})).await;
    let mut client = rig.attach().await;
    rig.send(&client, initialize(1)).await;
    client.reads().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "slow"}}),
    )
    .await;
    let call = rig.server_reads().await;
    rig.stopping.cancel();
    let told = client.reads().await;
    assert_eq!(told["id"], 2);
    assert_eq!(told["error"]["code"], jsonrpc::SERVER_UNREACHABLE);
    let words = told["error"]["message"].as_str().unwrap();
    assert!(words.contains("shutting down"), "{words}");
    assert!(!words.contains("brings the server back"), "{words}");
    let cancelled = rig.server_reads().await;
    assert_eq!(
        (
            cancelled["method"].clone(),
            cancelled["params"]["requestId"].clone()
        ),
        (json!("notifications/cancelled"), call["id"].clone())
    );
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    )
    .await;
    assert!(
        client.reads().await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
}

/// A process that refuses both handshakes is not ready, and the supervisor is told why.
#[tokio::test]
async fn a_process_that_refuses_both_handshakes_is_not_ready() {
    let mut rig = Rig::new();
    let mut client = rig.attach().await;
    rig.send(&client, initialize(1)).await;
    rig.up().await;
    let probe = rig.server_reads().await;
    rig.server_writes(
        json!({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": -32601, "message": "no"}}),
    )
    .await;
    let init = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32600, "message": "go away"}}))
        .await;
    let told = tokio::time::timeout(DEADLINE, rig.ready.take().unwrap())
        .await
        .unwrap()
        .unwrap();
    let Readiness::Refused(why) = told else {
        panic!("{told:?}")
    };
    assert!(why.contains("go away"), "{why}");
    let answer = client.reads().await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused both handshakes"),
        "{answer}"
    );
    // What comes later is refused at once, with the reason, instead of waiting for nothing.
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let later = client.reads().await;
    assert_eq!(later["id"], 2);
    assert!(
        later["error"]["message"]
            .as_str()
            .unwrap()
            .contains("go away"),
        "{later}"
    );
}

/// A handshake-era server that asks for three things at once (an elicitation, a sample, the
/// roots) gets them asked of a 2026-07-28 client in one input-required result, and the
/// client's one retry answers all three.
#[tokio::test]
async fn what_a_server_asks_at_once_goes_in_one_input_required_result() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let caps = json!({"elicitation": {}, "sampling": {}, "roots": {}});
    let mut first = rig.attach().await;
    rig.send(
        &first,
        modern(json!(1), "tools/call", json!({"name": "all"}), caps.clone()),
    )
    .await;
    let call = rig.server_reads().await;
    for (id, method) in [
        (81, "elicitation/create"),
        (82, "sampling/createMessage"),
        (83, "roots/list"),
    ] {
        rig.server_writes(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"message": "m", "messages": [], "maxTokens": 1, "requestedSchema": {}}}))
            .await;
    }
    let interim = first.reads().await;
    let asked = interim["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .clone();
    let methods: Vec<&str> = asked
        .values()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods.len(), 3, "{interim}");
    for m in ["elicitation/create", "sampling/createMessage", "roots/list"] {
        assert!(methods.contains(&m), "{methods:?}");
    }
    let mut retry = modern(json!(2), "tools/call", json!({"name": "all"}), caps);
    retry["params"]["requestState"] = interim["result"]["requestState"].clone();
    retry["params"]["inputResponses"] = Value::Object(
        asked
            .keys()
            .map(|k| (k.clone(), json!({"answer": k})))
            .collect(),
    );
    rig.send(&first, retry).await;
    let mut answered = Vec::new();
    for _ in 0..3 {
        answered.push(rig.server_reads().await["id"].as_u64().unwrap());
    }
    answered.sort_unstable();
    assert_eq!(answered, vec![81, 82, 83]);
    rig.server_writes(json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": []}}))
        .await;
    assert_eq!(first.reads().await["id"], 2);
}

/// When the server needs something the 2026-07-28 client whose call it is did not declare,
/// and nobody else can give it, that call fails as a native server fails it:
/// MissingRequiredClientCapability (-32021) naming what is missing.
#[tokio::test]
async fn a_modern_call_that_needs_an_undeclared_capability_fails_with_minus_32021() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(
        &client,
        modern(
            json!(1),
            "tools/call",
            json!({"name": "test_missing_capability"}),
            json!({}),
        ),
    )
    .await;
    let call = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 90, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    let refused = client.reads().await;
    assert_eq!(refused["id"], 1);
    assert_eq!(
        refused["error"]["code"],
        crate::protocol::mcp::MISSING_CLIENT_CAPABILITY
    );
    assert_eq!(
        refused["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    let mut saw = Vec::new();
    for _ in 0..2 {
        saw.push(rig.server_reads().await);
    }
    assert!(
        saw.iter()
            .any(|m| m["method"] == "notifications/cancelled"
                && m["params"]["requestId"] == call["id"]),
        "{saw:?}"
    );
    assert!(
        saw.iter()
            .any(|m| m["id"] == 90 && m["error"]["code"] == jsonrpc::METHOD_NOT_FOUND),
        "{saw:?}"
    );
}

/// Found by the conformance suite, scenarios run one after another on one server: a call
/// parked for a retry that never came (its client went on to other things) took the asks of
/// the next calls, which then waited for a client that would never see them.
#[tokio::test]
async fn a_call_left_waiting_for_its_retry_takes_no_later_asks() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let caps = json!({"sampling": {}});
    let mut left = rig.attach().await;
    rig.send(
        &left,
        modern(json!(1), "tools/call", json!({"name": "ask"}), caps.clone()),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 91, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    assert_eq!(left.reads().await["result"]["resultType"], "input_required");
    rig.router.detach(left.session, "done, never retried").await;

    let mut next = rig.attach().await;
    rig.send(
        &next,
        modern(json!(2), "tools/call", json!({"name": "ask"}), caps),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 92, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    let asked = next.reads().await;
    assert_eq!(
        asked["id"], 2,
        "the new call is asked, not the old one: {asked}"
    );
    assert_eq!(asked["result"]["resultType"], "input_required");
}

/// Found by the router fuzz target: in the 2026-07-28 revision each request declares its own
/// capabilities, but a call is judged by what its session declared last. Here the call declared
/// nothing, a later request of the same session declared sampling, and the call was asked for
/// sampling in an input-required result — as a native server never would (it fails the call
/// with -32021, as the test above shows). The other way round, a call that declared sampling
/// fails with -32021 once a later request of its session declares nothing.
#[tokio::test]
async fn a_modern_call_is_asked_only_what_its_own_request_declared() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(
        &client,
        modern(json!(1), "tools/call", json!({"name": "ask"}), json!({})),
    )
    .await;
    rig.server_reads().await;
    rig.send(
        &client,
        modern(json!(2), "tools/list", json!({}), json!({"sampling": {}})),
    )
    .await;
    let list = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": list["id"], "result": {"tools": []}}))
        .await;
    assert_eq!(client.reads().await["id"], 2);

    rig.server_writes(json!({"jsonrpc": "2.0", "id": 93, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    let answer = client.reads().await;
    assert_eq!(answer["id"], 1);
    assert_ne!(
        answer["result"]["resultType"], "input_required",
        "call 1 declared no sampling, and was asked for it: {answer}"
    );
    assert_eq!(
        answer["error"]["code"],
        crate::protocol::mcp::MISSING_CLIENT_CAPABILITY,
        "{answer}"
    );
}

/// Found by the router fuzz target: a request that names a handshake-era revision in its
/// `_meta` is accepted as a request of that revision, but through a stateless server it kept
/// that revision in the envelope bridgedock adds (the request's own keys win), so the server
/// was told 2025-06-18 — which it does not speak, and would refuse with -32022.
#[tokio::test]
async fn a_stateless_server_is_told_only_its_own_revision() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(&client, initialize(1)).await;
    client.reads().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
            "params": {"_meta": {META_PROTOCOL_VERSION: "2025-06-18"}}}),
    )
    .await;
    let forwarded = rig.server_reads().await;
    assert_eq!(forwarded["method"], "tools/list");
    assert_eq!(
        forwarded["params"]["_meta"][META_PROTOCOL_VERSION], "2026-07-28",
        "{forwarded}"
    );
}

/// Found by the router fuzz target: an answer dropped because its client reads too slowly is
/// replaced by an error with -32001, the legacy code, also for a 2026-07-28 client — which
/// must never get it (see `Router::reply_error`): it should get -32603, the reason in `data`.
#[tokio::test]
async fn a_slow_modern_client_gets_no_legacy_error_code() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let (out, rx) = Outbound::new(256);
    let session = rig.router.attach(out, "ws", "test".into()).await.unwrap();
    let mut client = Client { session, rx };
    for id in 1..=2 {
        rig.send(
            &client,
            modern(json!(id), "tools/call", json!({"name": "big"}), json!({})),
        )
        .await;
    }
    for _ in 0..2 {
        let call = rig.server_reads().await;
        rig.server_writes(json!({"jsonrpc": "2.0", "id": call["id"],
            "result": {"content": [{"type": "text", "text": "x".repeat(300)}]}}))
            .await;
    }
    assert_eq!(client.reads().await["id"], 1);
    let dropped = client.reads().await;
    assert_eq!(dropped["id"], 2);
    assert_eq!(dropped["error"]["data"]["reason"], "client_too_slow");
    assert_eq!(
        dropped["error"]["code"],
        jsonrpc::INTERNAL_ERROR,
        "{dropped}"
    );
}

/// Found by the router fuzz target: a `subscriptions/listen` is taken whatever its id, also one
/// the client has in flight (another listen, a call). Any other request reusing such an id is
/// refused (-32600); these two share their answers' id, and one `notifications/cancelled`
/// ends both listens — or ends the listen where the client meant to cancel its call.
#[tokio::test]
async fn a_listen_with_an_id_in_flight_is_refused() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {"listChanged": true}})).await;
    let mut client = rig.attach().await;
    let listen = |id: u64| {
        modern(
            json!(id),
            "subscriptions/listen",
            json!({"notifications": {"toolsListChanged": true}}),
            json!({}),
        )
    };
    rig.send(&client, listen(1)).await;
    assert_eq!(
        client.reads().await["method"],
        "notifications/subscriptions/acknowledged"
    );
    rig.send(&client, listen(1)).await;
    let again = client.reads().await;
    assert_eq!(again["error"]["code"], jsonrpc::INVALID_REQUEST, "{again}");

    rig.send(
        &client,
        modern(json!(2), "tools/call", json!({"name": "slow"}), json!({})),
    )
    .await;
    rig.server_reads().await;
    rig.send(&client, listen(2)).await;
    let clash = client.reads().await;
    assert_eq!(clash["error"]["code"], jsonrpc::INVALID_REQUEST, "{clash}");
}

/// Found by the router fuzz target: what a retry leaves unanswered is asked again in a new
/// input-required result without looking at what the retry declared. Here the retry (from
/// another session, as over HTTP) declares nothing and answers nothing, and is asked for
/// sampling — which a client is never sent without declaring it.
#[tokio::test]
async fn a_retry_is_asked_again_only_what_it_declared() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut first = rig.attach().await;
    rig.send(
        &first,
        modern(
            json!(1),
            "tools/call",
            json!({"name": "ask"}),
            json!({"sampling": {}}),
        ),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 94, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    let interim = first.reads().await;
    assert_eq!(interim["result"]["resultType"], "input_required");

    let mut retry = rig.attach().await;
    let mut again = modern(json!(2), "tools/call", json!({"name": "ask"}), json!({}));
    again["params"]["requestState"] = interim["result"]["requestState"].clone();
    again["params"]["inputResponses"] = json!({});
    rig.send(&retry, again).await;
    let answer = retry.reads().await;
    assert_eq!(answer["id"], 2);
    let asked: Vec<Value> = answer["result"]["inputRequests"]
        .as_object()
        .map(|m| m.values().map(|r| r["method"].clone()).collect())
        .unwrap_or_default();
    assert!(
        !asked.contains(&json!("sampling/createMessage")),
        "the retry declared no sampling, and was asked for it: {answer}"
    );
}

/// Found by the router fuzz target: while bridgedock asks a handshake-era client what a
/// stateless server needs for its call, the call's id is not held. The client may reuse it for
/// another request, which is taken; once the call is retried, the two share one routing key, so
/// the table no longer matches the calls in flight (a cancellation of that id finds one of
/// them, and the other's key is gone when the first ends).
#[tokio::test]
async fn a_call_whose_input_is_gathered_keeps_its_id() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(&client, initialize_with(1, json!({"sampling": {}})))
        .await;
    client.reads().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask"}}),
    )
    .await;
    let first = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": first["id"], "result": {
        "resultType": "input_required", "requestState": "s",
        "inputRequests": {"q": {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}}}}))
        .await;
    let asked = client.reads().await;
    assert_eq!(asked["method"], "sampling/createMessage");

    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
    )
    .await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"model": "m", "role": "assistant", "content": {"type": "text", "text": "hi"}}}),
    )
    .await;
    let o = rig.router.occupancy().await.unwrap();
    assert_eq!(
        o.by_client_id, o.pending_for_clients,
        "routing keys and calls in flight disagree: {o:?}"
    );
    let reused = client.reads().await;
    assert_eq!(reused["id"], 2);
    assert_eq!(
        reused["error"]["code"],
        jsonrpc::INVALID_REQUEST,
        "id 2 is still the call's: {reused}"
    );
}

/// Found by the router fuzz target: a call sent before its session declared anything (no
/// `initialize`, no envelope) took the capabilities a later 2026-07-28 request of the same
/// session declared, and was asked for sampling in an input-required result.
#[tokio::test]
async fn a_call_is_judged_by_what_was_declared_when_it_was_sent() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(&client, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "early", "_meta": {"progressToken": "t"}}}))
        .await;
    rig.server_reads().await;
    rig.send(
        &client,
        modern(
            json!(3),
            "tools/call",
            json!({"name": "later"}),
            json!({"sampling": {}}),
        ),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 95, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}))
        .await;
    let asked = client.reads().await;
    assert_eq!(
        asked["id"], 3,
        "only the call that declared sampling is asked: {asked}"
    );
    assert_eq!(asked["result"]["resultType"], "input_required");
}

/// Found by the router fuzz target: a server's `notifications/cancelled` names one of the
/// server's own requests (each side cancels only what it sent). One naming a number that is
/// also the id of bridgedock's subscription — here a `roots/list` the server had sent with
/// that id, already answered — made bridgedock forget its subscription while the server kept
/// it: the next one was opened beside it, never cancelled, and every change came twice. A
/// server ends a subscription with a result, never with a cancellation.
#[tokio::test]
async fn a_servers_cancellation_never_ends_bridgedocks_subscription() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}}))
        .await;
    let ours = rig.server_reads().await;
    assert_eq!(ours["method"], "subscriptions/listen");
    let mut old = rig.attach().await;
    rig.send(&old, initialize(1)).await;
    old.reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": ours["id"], "method": "roots/list"}))
        .await;
    let refused = rig.server_reads().await;
    assert_eq!(refused["id"], ours["id"], "{refused}");
    assert!(
        refused["error"].is_object(),
        "nobody declared roots: {refused}"
    );
    rig.server_writes(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": ours["id"]}}),
    )
    .await;
    rig.server_writes(
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
        "params": {"_meta": {META_SUBSCRIPTION_ID: ours["id"]}}}),
    )
    .await;
    assert_eq!(
        old.reads().await,
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
        "the subscription still carries the server's changes"
    );
    let mut listener = rig.attach().await;
    rig.send(
        &listener,
        modern(
            json!(4),
            "subscriptions/listen",
            json!({"notifications": {"resourceSubscriptions": ["a://x"]}}),
            json!({}),
        ),
    )
    .await;
    listener.reads().await; // acknowledged
    let wider = rig.server_reads().await;
    assert_eq!(wider["method"], "subscriptions/listen");
    let cancel = rig.server_reads().await;
    assert_eq!(
        (
            cancel["method"].clone(),
            cancel["params"]["requestId"].clone()
        ),
        (json!("notifications/cancelled"), ours["id"].clone()),
        "the subscription it replaces is still bridgedock's to cancel"
    );
}

/// Found by the router fuzz target: a session that sent a call in the handshake era and then
/// turned to the 2026-07-28 revision could only be asked in an input-required result, in the
/// answer to a call whose request declared no capabilities of its own. Such a call is asked
/// nothing; the server is told no one can answer.
#[tokio::test]
async fn a_call_from_before_its_session_turned_modern_is_asked_nothing() {
    let mut rig = Rig::new();
    rig.up_modern(json!({"tools": {}})).await;
    let mut client = rig.attach().await;
    rig.send(
        &client,
        initialize_with(1, json!({"roots": {"listChanged": true}})),
    )
    .await;
    client.reads().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": {"name": "early"}}),
    )
    .await;
    let early = rig.server_reads().await;
    assert_eq!(
        early["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["roots"],
        json!({"listChanged": true}),
        "the server is told what the session's initialize declared: {early}"
    );
    rig.send(
        &client,
        modern(json!(2), "tools/call", json!({"name": "later"}), json!({})),
    )
    .await;
    rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": 0, "method": "roots/list"}))
        .await;
    let refused = rig.server_reads().await;
    assert_eq!(refused["id"], 0, "{refused}");
    assert!(
        refused["error"].is_object(),
        "no call can be asked: {refused}"
    );
}

#[tokio::test]
async fn an_answer_the_upstream_lost_fails_that_call_in_the_kinds_words_and_the_session_goes_on() {
    let mut rig = Rig::with(RouterOptions {
        behind: Some("godot-ai".into()),
        ..RouterOptions::default()
    });
    rig.up_legacy(json!({"tools": {}})).await;
    let mut client = rig.initialized_client().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "x"}}),
    )
    .await;
    let sent = rig.server_reads().await;
    assert_eq!(sent["method"], "tools/call");
    // An HTTP upstream's answer stream was cut: the router answers that call, the process
    // lives on.
    rig.link
        .send(LinkEvent::Lost {
            generation: rig.generation,
            ids: vec![sent["id"].clone()],
            reason: "its answer stream was cut off".into(),
        })
        .await
        .unwrap();
    let failed = client.reads().await;
    assert_eq!(failed["id"], "a");
    assert_eq!(failed["error"]["code"], jsonrpc::SERVER_UNREACHABLE);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "godot-ai (server `srv`) went away before answering (its answer stream was cut off)"
        ),
        "{message}"
    );
    // A loss of another generation's request is not this process's: nothing happens.
    rig.link
        .send(LinkEvent::Lost {
            generation: rig.generation + 7,
            ids: vec![json!(1)],
            reason: "stale".into(),
        })
        .await
        .unwrap();
    // The server restarts under the session: the session goes on and counts a reconnect.
    rig.down().await;
    rig.up_legacy(json!({"tools": {}})).await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": "b", "method": "tools/list"}),
    )
    .await;
    let sent = rig.server_reads().await;
    rig.server_writes(json!({"jsonrpc": "2.0", "id": sent["id"], "result": {"tools": []}}))
        .await;
    loop {
        let m = client.reads().await;
        if m["id"] == "b" {
            assert!(m.get("result").is_some(), "{m}");
            break;
        }
    }
    let clients = rig.status.snapshot().clients;
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].reconnects, 1, "{clients:?}");
}

#[tokio::test]
async fn a_draining_server_answers_what_it_has_and_new_calls_wait_for_the_next_process() {
    let mut rig = Rig::new();
    rig.up_legacy(json!({"tools": {}})).await;
    let mut client = rig.initialized_client().await;
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": "old", "method": "tools/list"}),
    )
    .await;
    let in_flight = rig.server_reads().await;
    // It is being stopped (an HTTP server finishing its requests): its answer still counts.
    rig.link
        .send(LinkEvent::Draining {
            generation: rig.generation,
        })
        .await
        .unwrap();
    rig.server_writes(json!({"jsonrpc": "2.0", "id": in_flight["id"], "result": {"tools": []}}))
        .await;
    let answered = client.reads().await;
    assert_eq!(answered["id"], "old");
    assert!(answered.get("result").is_some(), "{answered}");
    // Calls made meanwhile wait for the next process — on the full path and on the
    // envelope-only one (a WebSocket client's plain request) alike.
    rig.send(
        &client,
        json!({"jsonrpc": "2.0", "id": "new", "method": "tools/list"}),
    )
    .await;
    let fast = super::FastRequest::read(
        r#"{"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"x"}}"#,
    )
    .expect("a plain request");
    assert!(rig.router.forward(client.session, fast).await);
    // (The router has taken both before the process goes down.)
    assert_eq!(rig.router.occupancy().await.unwrap().waiting, 2);
    rig.down().await;
    rig.up_legacy(json!({"tools": {}})).await;
    let next = rig.server_reads().await;
    assert_eq!(next["method"], "tools/list");
    let fast = rig.server_reads().await;
    assert_eq!(fast["method"], "tools/call");
    rig.server_writes(json!({"jsonrpc": "2.0", "id": next["id"], "result": {"tools": []}}))
        .await;
    let answered = client.reads().await;
    assert_eq!(answered["id"], "new");
}
