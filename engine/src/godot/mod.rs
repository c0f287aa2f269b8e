//! godot-ai end to end: bridgedock runs the pinned godot-ai package and stands between it and
//! the Godot editor plugin.
//!
//! godot-ai listens on two ports the plugin knows (HTTP 8000 and the editor WebSocket 9500 by
//! default). bridgedock holds those two public ports itself and runs godot-ai on private ports
//! behind them:
//!
//! - HTTP ([`proxy`]): every request is forwarded to godot-ai unchanged, except that
//!   `/godot-ai/status` reports the public editor port; AI clients also reach it through
//!   bridgedock's own `/mcp/NAME`, with bridgedock's token instead of godot-ai's capability.
//! - Editor WebSocket ([`relay`]): bridgedock completes the plugin's handshake itself (it holds
//!   the capability), then relays to godot-ai with a handshake of its own. When godot-ai
//!   restarts the editor's socket stays open; bridgedock reconnects upstream on the plugin's
//!   schedule, behind a circuit breaker, and replays the handshake.
//! - The capability record ([`record`]) for the public port is published by bridgedock, which
//!   also holds godot-ai's port lock: a plugin finds a compatible server and attaches to it,
//!   and nothing starts a second godot-ai on the port.

pub mod breaker;
mod plan;
pub mod plugin_frames;
pub mod probe;
pub mod proof;
pub mod proxy;
pub mod record;
pub mod relay;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::status::{Diagnosis, EditorSession, GodotStatus, ServerState, StatusHub, now_ms};
use breaker::Circuit;
pub use plan::{GodotPlan, prepare};

/// One running godot-ai side: what the relay, the proxy and the prober share.
/// How long an AI client's call waits for editors to be back on a restarted godot-ai; a restart
/// with uvx takes 5–9 s here, the editors' replay a few milliseconds after godot-ai answers.
pub const EDITORS_BACK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

pub struct GodotAi {
    pub plan: GodotPlan,
    status: StatusHub,
    state: Mutex<Shared>,
    /// Bumped each time the prober sees a godot-ai instance answer for the first time: relays
    /// waiting to reconnect try at once instead of waiting out the rest of their delay.
    instance_seen: tokio::sync::watch::Sender<u64>,
    /// Bumped on every change to an editor: AI clients' calls waiting for editors to be back
    /// on a restarted godot-ai look again.
    editors_changed: tokio::sync::watch::Sender<u64>,
    pub shutdown: CancellationToken,
    /// Every task of the kind (listeners, relays, the prober, the public port) runs here: the
    /// engine waits for them at shutdown.
    pub tasks: tokio_util::task::TaskTracker,
}

struct Shared {
    listening: bool,
    live_version: Option<String>,
    instance_id: Option<String>,
    editors: BTreeMap<u64, EditorSession>,
    diagnoses: BTreeMap<String, Diagnosis>,
    adopted: Option<Adopted>,
    _claim: Option<record::PortClaim>,
}

/// A compatible godot-ai bridgedock did not start, holding the public HTTP port: bridgedock's
/// `/mcp/NAME` goes to it until bridgedock can take the port.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub http_port: u16,
    pub bearer: String,
    pub version: String,
}

impl GodotAi {
    pub fn new(
        plan: GodotPlan,
        status: StatusHub,
        shutdown: CancellationToken,
        tasks: tokio_util::task::TaskTracker,
    ) -> Arc<GodotAi> {
        let ai = Arc::new(GodotAi {
            plan,
            status,
            state: Mutex::new(Shared {
                listening: false,
                live_version: None,
                instance_id: None,
                editors: BTreeMap::new(),
                diagnoses: BTreeMap::new(),
                adopted: None,
                _claim: None,
            }),
            instance_seen: tokio::sync::watch::channel(0).0,
            editors_changed: tokio::sync::watch::channel(0).0,
            shutdown,
            tasks,
        });
        ai.publish();
        ai
    }

    /// Starts the public listeners (retrying while their ports are held), the relay, the proxy
    /// and the prober.
    pub fn start(self: &Arc<Self>) {
        self.publish();
        let ai = self.clone();
        self.tasks.spawn(async move { ai.listen().await });
        let ai = self.clone();
        self.tasks.spawn(async move { probe::run(ai).await });
    }

    async fn listen(self: Arc<Self>) {
        let http_port = self.plan.http_port;
        let ws_port = self.plan.ws_port;
        let (mut http, mut ws): (Option<TcpListener>, Option<TcpListener>) = (None, None);
        loop {
            if http.is_none() {
                http = self.bind_public(http_port, "HTTP").await;
            }
            if ws.is_none() {
                ws = self.bind_public(ws_port, "editor WebSocket").await;
            }
            if http.is_some() && ws.is_some() {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        let (Some(http), Some(ws)) = (http, ws) else {
            return;
        };
        match record::claim_port(&self.plan.public_record_dir, http_port) {
            Ok(claim) => self.state.lock()._claim = Some(claim),
            Err(e) => self.diagnose(
                "port-claimed",
                format!(
                    "another godot-ai process holds the launch lock for port {http_port} ({e})"
                ),
                "a plugin or attach bridge started its own godot-ai: stop it, then restart this server",
            ),
        }
        self.state.lock().listening = true;
        self.adopt(None);
        self.clear_diagnosis("port-held");
        self.clear_diagnosis("godot-ai-on-port");
        tracing::info!(
            "{}: godot-ai's ports {http_port} (HTTP) and {ws_port} (editor WebSocket) are bridgedock's; godot-ai itself runs on {} and {}",
            self.plan.name,
            self.plan.backend_http_port,
            self.plan.backend_ws_port
        );
        self.publish();
        let ai = self.clone();
        self.tasks
            .spawn(async move { proxy::serve(ai, http).await });
        relay::accept_loop(self.clone(), ws).await;
    }

    async fn bind_public(&self, port: u16, what: &str) -> Option<TcpListener> {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => Some(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let holder = crate::supervisor::platform::tcp_listener(port);
                let who = match &holder {
                    Some((pid, cmd)) => {
                        let mut cmd = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
                        if cmd.chars().count() > 160 {
                            cmd = cmd.chars().take(160).collect::<String>() + "…";
                        }
                        format!("pid {pid}: {cmd}")
                    }
                    None => "another program (the OS does not say which)".to_owned(),
                };
                let godot = probe::foreign_godot_ai(port, &self.plan.public_record_dir).await;
                match godot {
                    Some(foreign) if port == self.plan.http_port
                        && probe::compatible(&foreign.version, &self.plan.version)
                        && foreign.bearer.is_some() =>
                    {
                        let version = foreign.version.clone();
                        self.adopt(Some(Adopted {
                            http_port: port,
                            bearer: foreign.bearer.unwrap_or_default(),
                            version: version.clone(),
                        }));
                        self.diagnose(
                            &format!("godot-ai-on-port:{port}"),
                            format!(
                                "godot-ai {version} that bridgedock did not start already serves port {port} ({who}); it is compatible, so bridgedock adopts it: AI clients on /mcp/{} reach it and the editors connected to it",
                                self.plan.name
                            ),
                            "nothing to do; for bridgedock to manage godot-ai itself, quit the editor or client that launched that one — bridgedock takes the port within 5 s (it never stops what it did not start)",
                        )
                    }
                    Some(foreign) => self.diagnose(
                        &format!("godot-ai-on-port:{port}"),
                        format!(
                            "godot-ai {} that bridgedock did not start already serves port {port} ({who}){}",
                            foreign.version,
                            if probe::compatible(&foreign.version, &self.plan.version) {
                                String::new()
                            } else {
                                format!("; it is incompatible with the pinned godot-ai == {}", self.plan.version)
                            }
                        ),
                        "bridgedock never stops what it did not start: quit the editor or client that launched it (or stop that process), and bridgedock takes the port within 5 s",
                    ),
                    None => self.diagnose(
                        &format!("port-held:{port}"),
                        format!("the {what} port {port} is held by {who}"),
                        "stop that program, or give this server other ports (http_port / ws_port) and the same in the Godot plugin's settings; bridgedock retries every 5 s",
                    ),
                }
                None
            }
            Err(e) => {
                self.diagnose(
                    &format!("port-held:{port}"),
                    format!("cannot listen on 127.0.0.1:{port} ({what}): {e}"),
                    "pick another port in the config",
                );
                None
            }
        }
    }

    /// Records what is wrong under `key`: its code, or `code:detail` when one code can hold
    /// several at once (a port held, per port).
    pub fn diagnose(&self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        let message = message.into();
        let code = key.split(':').next().unwrap_or(key);
        let changed = {
            let mut s = self.state.lock();
            let same = s.diagnoses.get(key).is_some_and(|d| d.message == message);
            if !same {
                s.diagnoses.insert(
                    key.to_owned(),
                    Diagnosis {
                        code: code.to_owned(),
                        message: message.clone(),
                        hint: hint.into(),
                        at_ms: now_ms(),
                    },
                );
            }
            !same
        };
        if changed {
            tracing::warn!("{}: {message}", self.plan.name);
            self.publish();
        }
    }

    /// Clears the diagnoses with this code (every key `code` or `code:…`).
    pub fn clear_diagnosis(&self, code: &str) {
        let removed = {
            let mut s = self.state.lock();
            let before = s.diagnoses.len();
            s.diagnoses.retain(|key, _| {
                key != code && !key.strip_prefix(code).is_some_and(|r| r.starts_with(':'))
            });
            before != s.diagnoses.len()
        };
        if removed {
            self.publish();
        }
    }

    fn adopt(&self, adopted: Option<Adopted>) {
        let changed = {
            let mut s = self.state.lock();
            let changed =
                s.adopted.as_ref().map(|a| a.http_port) != adopted.as_ref().map(|a| a.http_port);
            s.adopted = adopted;
            changed
        };
        if changed {
            self.publish();
        }
    }

    /// Where `/mcp/NAME` goes: the adopted godot-ai, else bridgedock's own (port, bearer).
    pub fn mcp_target(&self) -> (u16, String) {
        match &self.state.lock().adopted {
            Some(a) => (a.http_port, a.bearer.clone()),
            None => (self.plan.backend_http_port, self.plan.caps.http.clone()),
        }
    }

    pub fn live_version(&self) -> Option<String> {
        self.state.lock().live_version.clone()
    }

    pub fn set_live(&self, version: Option<String>, instance_id: Option<String>) {
        let (changed, new_instance) = {
            let mut s = self.state.lock();
            let changed = s.live_version != version || s.instance_id != instance_id;
            let new_instance = instance_id.is_some() && s.instance_id != instance_id;
            s.live_version = version;
            s.instance_id = instance_id;
            (changed, new_instance)
        };
        if changed {
            self.publish();
        }
        if new_instance {
            self.instance_seen.send_modify(|n| *n += 1);
        }
    }

    /// Changes each time a new godot-ai instance answers.
    pub fn instances(&self) -> tokio::sync::watch::Receiver<u64> {
        self.instance_seen.subscribe()
    }

    pub fn listening(&self) -> bool {
        self.state.lock().listening
    }

    pub fn put_editor(&self, id: u64, editor: EditorSession) {
        self.state.lock().editors.insert(id, editor);
        self.editors_changed.send_modify(|n| *n += 1);
        self.publish();
    }

    pub fn update_editor(&self, id: u64, f: impl FnOnce(&mut EditorSession)) {
        if let Some(e) = self.state.lock().editors.get_mut(&id) {
            f(e);
        }
        self.editors_changed.send_modify(|n| *n += 1);
        self.publish();
    }

    pub fn remove_editor(&self, id: u64) {
        self.state.lock().editors.remove(&id);
        self.editors_changed.send_modify(|n| *n += 1);
        self.publish();
    }

    /// Should an AI client's call wait before going to godot-ai? Only when editors are attached
    /// and godot-ai is on its way down or back (restart, crash) or an editor's link is being
    /// re-established — not for editors whose circuit is open, and never without editors.
    fn hold_calls(&self) -> bool {
        let (editors, away) = {
            let s = self.state.lock();
            let away = s
                .editors
                .values()
                .filter(|e| e.upstream != "connected" && e.circuit != breaker::Circuit::Open)
                .count();
            (s.editors.len(), away)
        };
        if editors == 0 {
            return false;
        }
        away > 0
            || self.status.server(&self.plan.name).is_some_and(|s| {
                matches!(
                    s.state,
                    ServerState::Stopping
                        | ServerState::Starting { .. }
                        | ServerState::Backoff { .. }
                )
            })
    }

    /// An AI client's call during a godot-ai restart waits (at most [`EDITORS_BACK_WAIT`]) until
    /// godot-ai is running again with the editors re-attached: the old godot-ai still answers
    /// while it shuts down, and the new one as soon as it listens, in both cases before
    /// bridgedock has replayed the editors' handshakes — a tool call would fail with godot-ai's
    /// PLUGIN_DISCONNECTED ("Godot session not found") although the editor is seconds away.
    pub async fn editors_back(&self) {
        if !self.hold_calls() {
            return;
        }
        let mut changed = self.editors_changed.subscribe();
        let _ = tokio::time::timeout(EDITORS_BACK_WAIT, async {
            while self.hold_calls() {
                // Editor changes wake it at once; the server's state is looked at every 100 ms.
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        })
        .await;
    }

    /// Is an editor with this session id connected already (through another socket)?
    pub fn session_taken(&self, session_id: &str) -> bool {
        self.state
            .lock()
            .editors
            .values()
            .any(|e| e.session_id == session_id)
    }

    /// Rebuilds the server's `godot` status from the shared state and announces it.
    fn publish(&self) {
        let g = {
            let s = self.state.lock();
            // The server's circuit is its worst editor link's.
            let circuit = s
                .editors
                .values()
                .map(|e| e.circuit)
                .max_by_key(|c| match c {
                    Circuit::Closed => 0,
                    Circuit::HalfOpen => 1,
                    Circuit::Open => 2,
                })
                .unwrap_or(Circuit::Closed);
            GodotStatus {
                http_port: self.plan.http_port,
                ws_port: self.plan.ws_port,
                backend_http_port: self.plan.backend_http_port,
                backend_ws_port: self.plan.backend_ws_port,
                listening: s.listening,
                expected_version: self.plan.version.clone(),
                live_version: s.live_version.clone(),
                instance_id: s.instance_id.clone(),
                record_path: self.plan.public_record().display().to_string(),
                editors: s.editors.values().cloned().collect(),
                circuit,
                circuit_failures: s
                    .editors
                    .values()
                    .map(|e| e.circuit_failures)
                    .max()
                    .unwrap_or(0),
                diagnoses: s.diagnoses.values().cloned().collect(),
                adopted_port: s.adopted.as_ref().map(|a| a.http_port),
                adopted_version: s.adopted.as_ref().map(|a| a.version.clone()),
            }
        };
        let live = g.live_version.clone();
        self.status.update_server(&self.plan.name, |s| {
            s.reported_version = live;
            s.godot = Some(Box::new(g));
        });
    }

    /// Publishes the record for the public port with godot-ai's current instance id, so the
    /// plugin and attach bridges that read it accept the status our proxy answers with.
    pub fn publish_record(&self, instance_id: &str) {
        if !self.listening() {
            return;
        }
        let rec = record::Record {
            http: self.plan.caps.http.clone(),
            websocket: self.plan.caps.websocket.clone(),
            instance_nonce: instance_id.to_owned(),
        };
        if record::read_record(&self.plan.public_record()).as_ref() == Some(&rec) {
            return;
        }
        match record::publish(&self.plan.public_record(), &rec) {
            Ok(()) => tracing::info!(
                "{}: published the capability record {} for the Godot plugin",
                self.plan.name,
                self.plan.public_record().display()
            ),
            Err(e) => self.diagnose(
                "record-unwritable",
                format!(
                    "cannot write the capability record {}: {e}",
                    self.plan.public_record().display()
                ),
                "make the directory writable by this user (godot-ai wants it 0700 and owned by you)",
            ),
        }
    }

    /// Removes the public record if it is still ours (at shutdown).
    pub fn withdraw_record(&self) {
        let path = self.plan.public_record();
        if let Some(rec) = record::read_record(&path) {
            if rec.http == self.plan.caps.http {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// AI clients' `/mcp/NAME` reaches godot-ai through the router like any server: over HTTP, to
/// the adopted godot-ai or bridgedock's own, with its capability; a call waits for the editors
/// to be back on a restarted godot-ai first.
impl crate::upstream::HttpReach for GodotAi {
    fn target(&self) -> crate::upstream::HttpTarget {
        let (port, bearer) = self.mcp_target();
        crate::upstream::HttpTarget {
            url: format!("http://127.0.0.1:{port}/mcp"),
            bearer: Some(bearer),
        }
    }

    fn what(&self) -> &str {
        "godot-ai"
    }

    fn before_call(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(self.editors_back())
    }
}
