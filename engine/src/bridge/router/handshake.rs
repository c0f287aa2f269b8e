//! bridgedock's own handshake with each server process, and what clients are told of it.
//!
//! Every new process is greeted by bridgedock itself, at once, as one client that can do what
//! any of its clients can (see [`crate::protocol::capabilities`]): first `server/discover`,
//! the 2026-07-28 revision's probe; a modern server answers it. Any other answer — or none
//! within [`PROBE_WAIT`], as from a server still being downloaded by `npx` — and bridgedock
//! also sends `initialize`, as a handshake-era client does; whichever succeeds first decides.
//! The process is *ready* when it has answered: the supervisor shows it as running only then,
//! and requests wait for it until `start_timeout`.
//!
//! What the server said is kept ([`Known`]) in both shapes — an `initialize` answer for
//! handshake-era clients, a `server/discover` answer for modern ones — so every client is
//! answered in its own era, also while a restarted process starts.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::inflight::PendingKind;
use super::{InitWaiter, Router};
use crate::protocol::capabilities::bridge_capabilities;
use crate::protocol::jsonrpc::{self, INVALID_PARAMS, RpcError, SERVER_UNREACHABLE};
use crate::protocol::mcp::{
    self, LATEST_HANDSHAKE_REVISION, STATELESS_REVISION, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::protocol::modern;
use crate::supervisor::Readiness;

/// How long the `server/discover` probe waits for an answer before `initialize` is sent too.
/// A server that is still starting reads both in order later, and answers them in order.
pub const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Which era of MCP a server process speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    /// It answered `initialize` (2025-11-25 and earlier): one session for all of bridgedock.
    Handshake,
    /// It answered `server/discover` (2026-07-28): every request carries its own envelope.
    Stateless,
}

pub(super) enum Handshake {
    NotStarted,
    Shaking(Shake),
    Ready(Era),
    /// It refused both handshakes: why, in words.
    Refused(String),
}

pub(super) struct Shake {
    probe: Option<u64>,
    probe_failed: Option<String>,
    init: Option<u64>,
    init_sent: bool,
    init_failed: Option<String>,
    init_due: Instant,
}

impl Handshake {
    pub fn is_ready(&self) -> bool {
        matches!(self, Handshake::Ready(_))
    }

    /// Why the process refused the handshake, if it did.
    pub fn refused(&self) -> Option<&str> {
        match self {
            Handshake::Refused(why) => Some(why),
            _ => None,
        }
    }

    pub fn era(&self) -> Option<Era> {
        match self {
            Handshake::Ready(era) => Some(*era),
            _ => None,
        }
    }

    pub fn forgive(&mut self, paused: Duration) {
        if let Handshake::Shaking(s) = self {
            s.init_due += paused;
        }
    }
}

/// What the server said in its last handshake, in the shape each era of client expects.
pub(super) struct Known {
    pub era: Era,
    /// The `initialize` answer (a modern server's is built from its discover answer, with the
    /// revision filled in per client).
    pub init: Value,
    /// The `server/discover` answer as bridgedock gives it to modern clients.
    pub discover: Value,
    pub server_info: Option<Value>,
    pub capabilities: Value,
}

impl Router {
    /// Greets a new process: the `server/discover` probe, now.
    pub(super) fn start_handshake(&mut self) {
        let id = self.next_bridge_id();
        let msg = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "server/discover",
            "params": {"_meta": mcp::envelope(bridge_capabilities(), mcp::bridge_client_info(), None)},
        });
        let sent = self.send_to_server(&msg).is_ok();
        if sent {
            self.inflight.track_own(id, PendingKind::Probe, None);
        }
        if let Some(link) = &mut self.link {
            link.handshake = Handshake::Shaking(Shake {
                probe: sent.then_some(id),
                probe_failed: (!sent).then(|| "could not be sent".to_string()),
                init: None,
                init_sent: false,
                init_failed: None,
                init_due: Instant::now() + PROBE_WAIT,
            });
        }
        if !sent {
            self.send_initialize();
        }
    }

    /// A probe unanswered for [`PROBE_WAIT`]: `initialize` goes too.
    pub(super) fn handshake_tick(&mut self, now: Instant) {
        let due = match self.link.as_ref().map(|l| &l.handshake) {
            Some(Handshake::Shaking(s)) => !s.init_sent && s.init_due <= now,
            _ => false,
        };
        if due {
            self.send_initialize();
        }
    }

    fn send_initialize(&mut self) {
        let Some(Handshake::Shaking(shake)) = self.link.as_ref().map(|l| &l.handshake) else {
            return;
        };
        if shake.init_sent {
            return;
        }
        let id = self.next_bridge_id();
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": LATEST_HANDSHAKE_REVISION,
            "capabilities": bridge_capabilities(),
            "clientInfo": mcp::bridge_client_info(),
        }});
        match self.send_to_server(&msg) {
            Ok(()) => {
                self.inflight.track_own(id, PendingKind::Init, None);
                if let Some(Handshake::Shaking(s)) = self.link.as_mut().map(|l| &mut l.handshake) {
                    s.init = Some(id);
                    s.init_sent = true;
                }
            }
            Err(why) => {
                tracing::warn!(server = %self.server, "cannot initialize `{}`: {why}", self.server)
            }
        }
    }

    /// The answer to the `server/discover` probe.
    pub(super) fn probe_answered(&mut self, msg: Map<String, Value>) {
        if let Some(Handshake::Shaking(s)) = self.link.as_mut().map(|l| &mut l.handshake) {
            s.probe = None;
        } else {
            return;
        }
        if let Some(result) = msg.get("result").filter(|r| modern::is_usable_discover(r)) {
            let known = Known {
                era: Era::Stateless,
                init: modern::initialize_from_discover(result, None),
                discover: modern::discover_through_bridge(result),
                server_info: modern::server_info_of_discover(result),
                capabilities: capabilities_of(result),
            };
            self.became_ready(known);
            return;
        }
        let why = describe_refusal(&msg, "server/discover");
        if let Some(Handshake::Shaking(s)) = self.link.as_mut().map(|l| &mut l.handshake) {
            s.probe_failed = Some(why);
        }
        // Not a server of the stateless revision: it is greeted the handshake era's way.
        self.send_initialize();
        self.maybe_refused();
    }

    /// The answer to bridgedock's `initialize`.
    pub(super) fn init_answered(&mut self, msg: Map<String, Value>) {
        if let Some(Handshake::Shaking(s)) = self.link.as_mut().map(|l| &mut l.handshake) {
            s.init = None;
        } else {
            // The probe won (a dual-era server answers both): this answer is not needed.
            return;
        }
        if let Some(result) = msg.get("result").filter(|r| r.is_object()) {
            let _ = self
                .send_to_server(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
            let known = Known {
                era: Era::Handshake,
                init: result.clone(),
                discover: modern::discover_from_initialize(result),
                server_info: result.get("serverInfo").cloned(),
                capabilities: capabilities_of(result),
            };
            self.became_ready(known);
            return;
        }
        let why = describe_refusal(&msg, "initialize");
        if let Some(Handshake::Shaking(s)) = self.link.as_mut().map(|l| &mut l.handshake) {
            // A server that answered the probe with -32022 and refuses `initialize` too speaks
            // only revisions bridgedock does not know.
            s.init_failed = Some(why);
        }
        self.maybe_refused();
    }

    /// Both handshakes answered, both refusals: the process is not usable.
    fn maybe_refused(&mut self) {
        let Some(Handshake::Shaking(s)) = self.link.as_ref().map(|l| &l.handshake) else {
            return;
        };
        let (Some(probe), Some(init)) = (&s.probe_failed, &s.init_failed) else {
            return;
        };
        let reason = format!("it refused both handshakes: {init}; {probe}");
        tracing::warn!(server = %self.server, "`{}` is not usable: {reason}", self.server);
        if let Some(link) = &mut self.link {
            link.handshake = Handshake::Refused(reason.clone());
            if let Some(ready) = link.ready.take() {
                let _ = ready.send(Readiness::Refused(reason.clone()));
            }
        }
        let refusal = RpcError {
            code: SERVER_UNREACHABLE,
            message: format!("server `{}` {reason}", self.server),
            data: Some(json!({"reason": "handshake_refused", "server": self.server})),
        };
        for w in std::mem::take(&mut self.init_waiters) {
            self.reply_error(w.session, w.id, refusal.clone());
        }
        for w in std::mem::take(&mut self.waiting) {
            let id = w.msg.get("id").cloned().unwrap_or(Value::Null);
            self.reply_error(w.session, id, refusal.clone());
        }
    }

    /// The process answered: it is ready, clients that waited are answered, requests flow.
    fn became_ready(&mut self, known: Known) {
        let restarted = self.known.is_some();
        let era = known.era;
        let info = known.server_info.clone().unwrap_or(Value::Null);
        let version = info
            .get("version")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let name = info
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let revision = match era {
            Era::Stateless => STATELESS_REVISION.to_string(),
            Era::Handshake => known
                .init
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
        };
        let waited = self
            .link
            .as_ref()
            .map(|l| l.since.elapsed())
            .unwrap_or_default();
        tracing::info!(
            server = %self.server,
            "`{}` is ready: {name} {} (protocol {revision}), answered bridgedock's handshake after {}",
            self.server,
            version.as_deref().unwrap_or("(no version)"),
            crate::status::format_duration_ms(waited.as_millis() as u64),
        );
        let declared = match era {
            Era::Handshake => bridge_capabilities(),
            // A stateless server is sent each client's own capabilities with each request.
            Era::Stateless => Value::Null,
        };
        let capabilities = known.capabilities.clone();
        self.status.update_server(&self.server, |s| {
            s.reported_version = version.clone();
            s.protocol_revision = Some(revision.clone());
            s.declared_capabilities = (!declared.is_null()).then(|| declared.clone());
            s.server_capabilities = Some(capabilities.clone());
        });
        self.known = Some(known);
        self.tool_headers.forget();
        self.server_log_level = None;
        if let Some(link) = &mut self.link {
            link.handshake = Handshake::Ready(era);
            if let Some(ready) = link.ready.take() {
                let _ = ready.send(Readiness::Ready);
            }
        }
        for w in std::mem::take(&mut self.init_waiters) {
            self.answer_initialize(w.session, w.id, w.requested);
        }
        self.resubscribe();
        if restarted {
            self.carry_sessions_over();
            self.notify_lists_may_have_changed();
        }
        self.flush_waiting();
    }

    /// The sessions that were there when the last process went away go on with this one: each
    /// counts a reconnect (the dock's client row), and the server's log says so once.
    fn carry_sessions_over(&mut self) {
        let Some(down) = self.down_at_ms.take() else {
            return;
        };
        let mut carried = 0;
        for s in self.sessions.values_mut() {
            if s.info.connected_at_ms <= down {
                s.info.reconnects += 1;
                self.status.put_client(s.info.clone());
                carried += 1;
            }
        }
        if carried > 0 {
            tracing::info!(
                server = %self.server,
                "`{}`: {carried} client session{} carried over — bridgedock's session was opened again on the restarted {}; the clients keep theirs",
                self.server,
                if carried == 1 { "" } else { "s" },
                self.opts.behind.as_deref().unwrap_or("server")
            );
        }
    }

    /// The era the current process speaks, once it is ready.
    pub(super) fn upstream_era(&self) -> Option<Era> {
        self.link.as_ref().and_then(|l| l.handshake.era())
    }

    /// A handshake-era client's `initialize`: answered from what the server said, or held
    /// until the process answers bridgedock's own handshake.
    pub(super) fn client_initialize(
        &mut self,
        session: u64,
        id: Value,
        msg: Map<String, Value>,
        since: Instant,
    ) {
        let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (name, version) = mcp::client_info(&msg);
        self.identify(session, name, version);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.modern = false;
            s.capabilities = params.get("capabilities").cloned();
            s.client_info = params.get("clientInfo").cloned();
        }
        if !params.is_object() || requested.is_none() {
            let error = RpcError::new(
                INVALID_PARAMS,
                "initialize needs params with `protocolVersion`, `capabilities` and `clientInfo`",
            );
            self.reply_error(session, id, error);
            return;
        }
        if self.known.is_some() {
            self.answer_initialize(session, id, requested);
            self.roots_may_have_changed(session);
            return;
        }
        // Like the requests that wait for a server that is down: bounded in count, not only
        // in time, or a client could pile up initializes faster than they expire.
        if self.init_waiters.len() >= self.opts.down_queue_max {
            let error = RpcError::new(
                SERVER_UNREACHABLE,
                format!(
                    "server `{}` has not answered bridgedock's handshake yet and {} clients already wait for it; try again later",
                    self.server, self.opts.down_queue_max
                ),
            );
            self.reply_error(session, id, error);
            return;
        }
        self.init_waiters.push(InitWaiter {
            session,
            id,
            requested,
            since,
        });
    }

    /// Answers a client's `initialize` from what the server said. A handshake-era server's
    /// revision is the one negotiated for everyone (the spec's negotiation: a client that asked
    /// for another is marked as mismatched); through a stateless server, bridgedock speaks the
    /// client's own revision.
    pub(super) fn answer_initialize(&mut self, session: u64, id: Value, requested: Option<String>) {
        let Some(known) = &self.known else {
            return;
        };
        let result = match known.era {
            Era::Handshake => known.init.clone(),
            Era::Stateless => {
                modern::initialize_from_discover(&known.discover, requested.as_deref())
            }
        };
        let answered = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let server_revision = match known.era {
            Era::Handshake => answered.clone(),
            Era::Stateless => Some(STATELESS_REVISION.to_string()),
        };
        let mismatch = known.era == Era::Handshake && requested.is_some() && requested != answered;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.info.protocol_version = requested.clone().or(answered.clone());
            s.info.server_protocol_version = server_revision;
            s.info.protocol_mismatch = mismatch;
            self.status.put_client(s.info.clone());
        }
        if mismatch {
            tracing::info!(
                server = %self.server,
                "a client asked for protocol {} but `{}` speaks {}; answered with the server's revision",
                requested.as_deref().unwrap_or("?"),
                self.server,
                answered.as_deref().unwrap_or("?")
            );
        }
        let reply = jsonrpc::response(id.clone(), result);
        self.deliver(session, &reply, Some(&id));
    }

    /// Answers `server/discover` from what the server said.
    pub(super) fn answer_discover(&mut self, session: u64, id: Value) {
        let Some(known) = &self.known else {
            return;
        };
        let result = known.discover.clone();
        let reply = jsonrpc::response(id.clone(), result);
        self.deliver(session, &reply, Some(&id));
    }

    /// The server's identity, for the `_meta` of results to modern clients.
    pub(super) fn server_info(&self) -> Option<&Value> {
        self.known.as_ref().and_then(|k| k.server_info.as_ref())
    }

    /// The server's declared capabilities (from its handshake).
    pub(super) fn server_capabilities(&self) -> Option<&Value> {
        self.known.as_ref().map(|k| &k.capabilities)
    }

    /// A handshake-era client that can list roots arrived: a handshake-era server that asked
    /// for roots when nobody could answer is told the roots may have changed, so it asks again.
    fn roots_may_have_changed(&mut self, session: u64) {
        let has_roots = self.sessions.get(&session).is_some_and(|s| {
            crate::protocol::capabilities::declares(s.capabilities.as_ref(), &["roots"])
        });
        if has_roots && self.upstream_era() == Some(Era::Handshake) {
            self.roots_changed = Some((session, Instant::now()));
            let _ = self.send_to_server(
                &json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}),
            );
        }
    }
}

/// The server capabilities of a handshake answer (`{}` when it has none).
fn capabilities_of(result: &Value) -> Value {
    result
        .get("capabilities")
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// Why a handshake request failed, for people: the server's error, or what it sent instead.
fn describe_refusal(msg: &Map<String, Value>, method: &str) -> String {
    match msg.get("error") {
        Some(e) => {
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            let hint = if code == UNSUPPORTED_PROTOCOL_VERSION {
                format!(
                    " (it supports {})",
                    e.get("data")
                        .and_then(|d| d.get("supported"))
                        .map(Value::to_string)
                        .unwrap_or_else(|| "?".into())
                )
            } else {
                String::new()
            };
            format!("`{method}` answered error {code} {message:?}{hint}")
        }
        None => format!("`{method}` answered something bridgedock cannot use"),
    }
}
