//! Change notifications (lists changed, resources updated, log messages), from a server of
//! either era to clients of either era.
//!
//! bridgedock is the one subscriber at the server: to a handshake-era server it sends
//! `resources/subscribe` for every resource some client wants, and takes the list changes it
//! sends everyone; at a stateless server it holds one `subscriptions/listen` for all its
//! clients (re-opened with the new set when the wanted resources change, and after a restart).
//! Then it fans out: a handshake-era client gets notifications as that era sends them (list
//! changes always, resource updates for what it subscribed to); a 2026-07-28 client gets them
//! only on a `subscriptions/listen` stream, only what it opted in to, tagged with that
//! stream's id. A restarted server may have other lists: listeners are told so.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::Router;
use super::handshake::Era;
use super::inflight::PendingKind;
use super::session::Session;
use crate::logs::{Level, Stream};
use crate::protocol::jsonrpc;
use crate::protocol::mcp::{self, META_SUBSCRIPTION_ID};

/// One open `subscriptions/listen` of a client, with what bridgedock agreed to send on it.
#[derive(Debug, Clone)]
pub(super) struct Listen {
    pub id: Value,
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
    pub uris: BTreeSet<String>,
}

impl Listen {
    fn wants(&self, method: &str, uri: Option<&str>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools,
            "notifications/prompts/list_changed" => self.prompts,
            "notifications/resources/list_changed" => self.resources,
            "notifications/resources/updated" => uri.is_some_and(|u| self.uris.contains(u)),
            _ => false,
        }
    }
}

/// bridgedock's own subscription at a stateless server.
#[derive(Default)]
pub(super) struct Upstream {
    /// The id of the open `subscriptions/listen`, and the resources it covers.
    current: Option<(u64, BTreeSet<String>)>,
    /// The server answered `subscriptions/listen` with an error: not tried again for this process.
    unsupported: bool,
}

impl Upstream {
    pub fn server_gone(&mut self) {
        *self = Upstream::default();
    }
}

impl Router {
    /// A client's `subscriptions/listen`: acknowledged at once with what bridgedock will send;
    /// the request stays open (its answer ends the stream, see [`Self::close_listens_gracefully`]).
    pub(super) fn open_listen(&mut self, session: u64, id: Value, msg: &Map<String, Value>) {
        let filter = msg
            .get("params")
            .and_then(|p| p.get("notifications"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        let asked = |k: &str| filter.get(k).and_then(Value::as_bool) == Some(true);
        let can_subscribe = self
            .server_capabilities()
            .and_then(|c| c.get("resources"))
            .and_then(|r| r.get("subscribe"))
            .and_then(Value::as_bool)
            == Some(true);
        let uris: BTreeSet<String> = if can_subscribe {
            filter
                .get("resourceSubscriptions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            BTreeSet::new()
        };
        let listen = Listen {
            id: id.clone(),
            tools: asked("toolsListChanged"),
            prompts: asked("promptsListChanged"),
            resources: asked("resourcesListChanged"),
            uris,
        };
        let mut honored = Map::new();
        for (key, on) in [
            ("toolsListChanged", listen.tools),
            ("promptsListChanged", listen.prompts),
            ("resourcesListChanged", listen.resources),
        ] {
            if on {
                honored.insert(key.into(), Value::Bool(true));
            }
        }
        if filter.get("resourceSubscriptions").is_some() && can_subscribe {
            honored.insert("resourceSubscriptions".into(), json!(listen.uris));
        }
        let before = self.wanted_uris();
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.listens.push(listen);
        let ack = jsonrpc::notification(
            "notifications/subscriptions/acknowledged",
            json!({"_meta": {META_SUBSCRIPTION_ID: id}, "notifications": honored}),
        );
        self.deliver(session, &ack, None);
        self.wanted_uris_changed(&before);
    }

    /// A client cancelled one of its listens (`notifications/cancelled` naming it); true when
    /// `request` was one.
    pub(super) fn close_listen(&mut self, session: u64, request: &Value) -> bool {
        let before = self.wanted_uris();
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        let count = s.listens.len();
        s.listens.retain(|l| &l.id != request);
        if s.listens.len() == count {
            return false;
        }
        self.wanted_uris_changed(&before);
        true
    }

    /// bridgedock ends every open listen, as the revision asks of a server that ends one on
    /// its own: with the empty answer to the `subscriptions/listen` request.
    pub(super) fn close_listens_gracefully(&mut self) {
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for session in ids {
            let listens = match self.sessions.get_mut(&session) {
                Some(s) => std::mem::take(&mut s.listens),
                None => continue,
            };
            for l in listens {
                let reply = jsonrpc::response(
                    l.id.clone(),
                    json!({"resultType": "complete", "_meta": {META_SUBSCRIPTION_ID: l.id}}),
                );
                self.deliver(session, &reply, Some(&l.id));
            }
        }
    }

    /// A handshake-era client's `resources/subscribe` or `resources/unsubscribe`; true when it
    /// was answered here (a stateless server has no such methods; another client still wants
    /// the resource), false when it goes to the server.
    pub(super) fn subscribe(
        &mut self,
        session: u64,
        id: &Value,
        method: &str,
        msg: &Map<String, Value>,
    ) -> bool {
        let uri = msg
            .get("params")
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let before = self.wanted_uris();
        let Some(s) = self.sessions.get_mut(&session) else {
            return true;
        };
        if method == "resources/subscribe" {
            s.subscriptions.insert(uri.clone());
        } else {
            s.subscriptions.remove(&uri);
        }
        let answer_here = match self.upstream_era() {
            Some(Era::Stateless) => {
                self.wanted_uris_changed(&before);
                true
            }
            // Others still want updates: the server must not stop sending them.
            _ => method == "resources/unsubscribe" && self.wanted_uris().contains(&uri),
        };
        if answer_here {
            let reply = jsonrpc::response(id.clone(), json!({}));
            self.deliver(session, &reply, Some(id));
        }
        answer_here
    }

    /// Every resource some client wants updates of.
    fn wanted_uris(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for s in self.sessions.values() {
            all.extend(s.subscriptions.iter().cloned());
            for l in &s.listens {
                all.extend(l.uris.iter().cloned());
            }
        }
        all
    }

    /// The wanted resources changed (from `before`): the server is told.
    fn wanted_uris_changed(&mut self, before: &BTreeSet<String>) {
        let now = self.wanted_uris();
        if &now == before || !self.ready() {
            return;
        }
        match self.upstream_era() {
            Some(Era::Handshake) => {
                // Subscriptions made through the server's own answer (a client's
                // `resources/subscribe` forwarded) are the server's business; these are the
                // ones only listens wanted.
                let forwarded: HashSet<String> = self
                    .sessions
                    .values()
                    .flat_map(|s| s.subscriptions.iter().cloned())
                    .collect();
                for uri in now.difference(before) {
                    if !forwarded.contains(uri) {
                        self.send_own("resources/subscribe", json!({"uri": uri}));
                    }
                }
                for uri in before.difference(&now) {
                    self.send_own("resources/unsubscribe", json!({"uri": uri}));
                }
            }
            Some(Era::Stateless) => self.open_upstream_listen(),
            None => {}
        }
    }

    /// A session left: what it alone wanted is released at the server.
    pub(super) fn subscriptions_changed(
        &mut self,
        subscriptions: &HashSet<String>,
        listens: &[Listen],
    ) {
        let mut before = self.wanted_uris();
        before.extend(subscriptions.iter().cloned());
        for l in listens {
            before.extend(l.uris.iter().cloned());
        }
        self.wanted_uris_changed(&before);
    }

    /// A new process is ready: what clients want is asked for again (the process before it
    /// took its subscriptions with it).
    pub(super) fn resubscribe(&mut self) {
        match self.upstream_era() {
            Some(Era::Handshake) => {
                for uri in self.wanted_uris() {
                    self.send_own("resources/subscribe", json!({"uri": uri}));
                }
            }
            Some(Era::Stateless) => self.open_upstream_listen(),
            None => {}
        }
    }

    /// (Re)opens bridgedock's `subscriptions/listen` at a stateless server with everything its
    /// clients may want; the one it replaces is cancelled after. A server that announces no
    /// list changes and no subscriptions has nothing to say on one.
    fn open_upstream_listen(&mut self) {
        let caps = self.server_capabilities();
        let flag = |list: &str, key: &str| {
            caps.and_then(|c| c.get(list))
                .and_then(|l| l.get(key))
                .and_then(Value::as_bool)
                == Some(true)
        };
        let has_news = flag("tools", "listChanged")
            || flag("prompts", "listChanged")
            || flag("resources", "listChanged")
            || flag("resources", "subscribe");
        if self.listen.unsupported || !has_news {
            return;
        }
        let uris = self.wanted_uris();
        if self
            .listen
            .current
            .as_ref()
            .is_some_and(|(_, covered)| covered == &uris)
        {
            return;
        }
        let id = self.next_bridge_id();
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen", "params": {
            "_meta": mcp::envelope(
                crate::protocol::capabilities::bridge_capabilities(),
                mcp::bridge_client_info(),
                None,
            ),
            "notifications": {
                "toolsListChanged": true,
                "promptsListChanged": true,
                "resourcesListChanged": true,
                "resourceSubscriptions": uris,
            },
        }});
        if self.send_to_server(&msg).is_err() {
            return;
        }
        self.inflight.track_own(id, PendingKind::Listen, None);
        if let Some((old, _)) = self.listen.current.replace((id, uris)) {
            self.inflight.cancel(old);
            let _ = self.send_to_server(&super::cancelled(old, "replaced by a new subscription"));
        }
    }

    /// The answer to bridgedock's own `subscriptions/listen`: the server ended it, or refused.
    pub(super) fn upstream_listen_answered(&mut self, id: u64, msg: &Map<String, Value>) {
        if self.listen.current.as_ref().is_some_and(|(c, _)| *c == id) {
            self.listen.current = None;
            if let Some(error) = msg.get("error") {
                tracing::info!(server = %self.server, "`{}` does not take subscriptions/listen ({error}); its clients hear of changes after restarts only", self.server);
                self.listen.unsupported = true;
            }
        }
    }

    /// A request of bridgedock's own bookkeeping, answer dropped.
    fn send_own(&mut self, method: &str, params: Value) {
        let id = self.next_bridge_id();
        let mut params = params;
        if self.upstream_era() == Some(Era::Stateless)
            && let Some(p) = params.as_object_mut()
        {
            p.insert(
                "_meta".into(),
                mcp::envelope(
                    crate::protocol::capabilities::bridge_capabilities(),
                    mcp::bridge_client_info(),
                    None,
                ),
            );
        }
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.send_to_server(&msg).is_ok() {
            let deadline = tokio::time::Instant::now() + self.opts.request_timeout;
            self.inflight
                .track_own(id, PendingKind::Internal, Some(deadline));
        }
    }

    /// A restarted server may offer other tools, prompts and resources: everyone who listens
    /// for a list is told it may have changed, and handshake-era clients of a server that
    /// announces list changes are too.
    pub(super) fn notify_lists_may_have_changed(&mut self) {
        let announces = |list: &str| {
            self.server_capabilities()
                .and_then(|c| c.get(list))
                .and_then(|l| l.get("listChanged"))
                .and_then(Value::as_bool)
                == Some(true)
        };
        let lists = [
            ("tools", announces("tools")),
            ("prompts", announces("prompts")),
            ("resources", announces("resources")),
        ];
        for (list, announced) in lists {
            let method = format!("notifications/{list}/list_changed");
            let msg = Map::from_iter([
                ("jsonrpc".to_string(), json!("2.0")),
                ("method".to_string(), json!(method)),
            ]);
            self.fan_out_to_listeners(&method, None, &msg);
            if announced {
                self.broadcast(&Value::Object(msg), |s| !s.modern);
            }
        }
    }

    /// A notification from the server, to whoever should have it.
    pub(super) fn server_notification_out(&mut self, method: &str, mut msg: Map<String, Value>) {
        // On a stateless server's stream, notifications carry bridgedock's subscription id:
        // not for clients, who get their own.
        if let Some(meta) = msg
            .get_mut("params")
            .and_then(|p| p.get_mut("_meta"))
            .and_then(Value::as_object_mut)
        {
            meta.remove(META_SUBSCRIPTION_ID);
        }
        if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut)
            && params
                .get("_meta")
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        {
            params.remove("_meta");
            if params.is_empty() {
                msg.remove("params");
            }
        }
        match method {
            "notifications/subscriptions/acknowledged" => {}
            "notifications/message" => self.log_message_out(msg),
            "notifications/resources/updated" => {
                let uri = msg
                    .get("params")
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.fan_out_to_listeners(method, Some(&uri), &msg);
                self.broadcast(&Value::Object(msg), |s| {
                    !s.modern && s.subscriptions.contains(&uri)
                });
            }
            "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed" => {
                self.fan_out_to_listeners(method, None, &msg);
                self.broadcast(&Value::Object(msg), |s| !s.modern);
            }
            _ => self.broadcast(&Value::Object(msg), |s| !s.modern),
        }
    }

    fn fan_out_to_listeners(&mut self, method: &str, uri: Option<&str>, msg: &Map<String, Value>) {
        let mut out = Vec::new();
        for (id, s) in &self.sessions {
            for l in s.listens.iter().filter(|l| l.wants(method, uri)) {
                let mut tagged = msg.clone();
                let params = tagged
                    .entry("params")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(p) = params.as_object_mut() {
                    let meta = p
                        .entry("_meta")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(m) = meta.as_object_mut() {
                        m.insert(META_SUBSCRIPTION_ID.into(), l.id.clone());
                    }
                }
                out.push((*id, Value::Object(tagged)));
            }
        }
        for (id, msg) in out {
            self.deliver(id, &msg, None);
        }
    }

    /// A log message of the server: into its log, to handshake-era clients (a stateless
    /// server's only to those that set a level), and to 2026-07-28 requests in flight that
    /// asked for logs at or below its level — on their own stream, as that revision has it.
    fn log_message_out(&mut self, msg: Map<String, Value>) {
        self.log_server_message(&msg);
        let severity = msg
            .get("params")
            .and_then(|p| p.get("level"))
            .and_then(Value::as_str)
            .and_then(mcp::log_severity)
            .unwrap_or(0);
        let stateless = self.upstream_era() == Some(Era::Stateless);
        let mut modern_targets: Vec<u64> = self
            .inflight
            .iter()
            .filter_map(|(_, p)| match &p.kind {
                PendingKind::Client(c) if c.log_level.is_some_and(|l| l <= severity) => {
                    Some(c.session)
                }
                _ => None,
            })
            .collect();
        modern_targets.sort_unstable();
        modern_targets.dedup();
        let wants =
            |s: &Session| !s.modern && (!stateless || s.log_level.is_some_and(|l| l <= severity));
        let value = Value::Object(msg);
        self.broadcast(&value, wants);
        for session in modern_targets {
            if self.sessions.get(&session).is_some_and(|s| s.modern) {
                self.deliver(session, &value, None);
            }
        }
    }

    /// MCP log messages also go into the server's log, at their level.
    fn log_server_message(&self, msg: &Map<String, Value>) {
        let params = msg.get("params");
        let level = match params.and_then(|p| p.get("level")).and_then(Value::as_str) {
            Some("debug") => Level::Debug,
            Some("info" | "notice") => Level::Info,
            Some("warning") => Level::Warn,
            Some("error" | "critical" | "alert" | "emergency") => Level::Error,
            _ => Level::Info,
        };
        let logger = params
            .and_then(|p| p.get("logger"))
            .and_then(Value::as_str)
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        let data = match params.and_then(|p| p.get("data")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        self.logs.push(
            &self.server,
            Stream::Stdout,
            Some(level),
            format!("mcp log: {logger}{data}"),
        );
    }
}
