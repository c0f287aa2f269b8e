//! A handshake-era server asking a client for something — sampling, an elicitation, its roots.
//!
//! It goes only to a client that declared the capability it needs: the one with the newest
//! call in flight first, else the most recently active one; the server is told no, in words,
//! when no connected client can take it. A handshake-era client gets it as a request (its
//! answer goes back with the server's id restored); a 2026-07-28 client has no stream for
//! requests, so its call is parked and it gets an input-required result instead (`parked.rs`).
//! A stateless server asks the other way round, in its results (`gather.rs`).

use serde_json::{Map, Value, json};

use super::Router;
use super::inflight::PendingKind;
use super::parked::Ask;
use crate::protocol::capabilities::{self, declares, required_for};
use crate::protocol::jsonrpc::{self, BRIDGE_INTERNAL, METHOD_NOT_FOUND, RpcError};
use crate::protocol::mcp::{self, INPUT_REQUIRED_METHODS};

/// A request bridgedock sent a handshake-era client, waiting for its answer.
pub(super) struct ServerRequest {
    pub session: u64,
    pub kind: AskKind,
}

pub(super) enum AskKind {
    /// The server's own request: its answer goes back to the server with this id.
    Forwarded { server_id: Value },
    /// One input of a stateless server's input-required result, asked on its behalf.
    Gather { gathering: u64, key: String },
}

/// How long after the server was told a client's roots may have changed its `roots/list` is
/// taken to be the answer to that (and goes to that client).
const ROOTS_ANSWER_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Who takes a server's request.
enum Target {
    /// A handshake-era client, as a request.
    Client(u64),
    /// A 2026-07-28 client's call in flight (its bridge id), as an input-required result.
    Call(u64),
    /// A call parked already: the client gets it with the others on its retry.
    Parked(String),
}

impl Router {
    /// A request from a handshake-era server (its own id `server_id`).
    pub(super) fn server_request(&mut self, method: &str, mut msg: Map<String, Value>) {
        let server_id = msg.get("id").cloned().unwrap_or(Value::Null);
        if method == "ping" {
            // The bridge is the server's client: it answers for itself.
            let _ = self.send_to_server(&jsonrpc::response(server_id, json!({})));
            return;
        }
        let waiting =
            self.server_requests.len() + self.parked.values().map(|p| p.asks_held()).sum::<usize>();
        if waiting >= self.opts.server_requests_max {
            self.refuse_server_request(
                server_id,
                BRIDGE_INTERNAL,
                format!(
                    "{} of your requests already wait for clients' answers; bridgedock takes no more until some are answered",
                    self.opts.server_requests_max
                ),
            );
            return;
        }
        let params = msg.get("params").cloned();
        let need = required_for(method, params.as_ref());
        let target = self.request_target(need.as_deref(), method).or_else(|| {
            // Nobody can give it. Then it belongs to the newest 2026-07-28 call, whose client
            // did not declare what it needs: that call is decided once the server's asks have
            // gathered (see `give_parked_their_asks`).
            need.as_ref()?;
            // Unless it answers a change the server was just told of (roots after a client's
            // `roots/list_changed`): then it is nobody's call's, and no call fails for it.
            if method == "roots/list" && self.roots_recently_changed() {
                return None;
            }
            self.newest_modern_call_or_gathering()
        });
        let Some(target) = target else {
            let message = match &need {
                Some(path) => format!(
                    "no client connected to bridgedock can answer `{method}`: it needs the `{}` capability, which none of {} declared",
                    capabilities::describe(path),
                    self.clients_in_words()
                ),
                None => format!("no client is connected to bridgedock to answer `{method}`"),
            };
            self.refuse_server_request(server_id, METHOD_NOT_FOUND, message);
            return;
        };
        match target {
            Target::Client(session) => {
                let ours = format!("bds-{}", self.next_bridge_id());
                self.server_request_ids
                    .insert(server_id.to_string(), ours.clone());
                self.server_requests.insert(
                    ours.clone(),
                    ServerRequest {
                        session,
                        kind: AskKind::Forwarded {
                            server_id: server_id.clone(),
                        },
                    },
                );
                msg.insert("id".into(), Value::String(ours.clone()));
                let full = self.sessions.get(&session).is_some_and(|s| {
                    s.out
                        .try_send(Value::Object(msg.clone()).to_string())
                        .is_err()
                });
                if full {
                    self.server_requests.remove(&ours);
                    self.server_request_ids.remove(&server_id.to_string());
                    self.refuse_server_request(
                        server_id,
                        BRIDGE_INTERNAL,
                        "the client is reading too slowly to take this request".into(),
                    );
                } else if let Some(s) = self.sessions.get_mut(&session) {
                    s.info.messages_out += 1;
                    s.dirty = true;
                }
            }
            Target::Call(bridge_id) => {
                let undeclared = self.undeclared_by_call(bridge_id, need.as_deref());
                self.park(bridge_id, Ask::new(server_id, method, params, undeclared));
            }
            Target::Parked(token) => {
                if let Some(p) = self.parked.get_mut(&token) {
                    let undeclared = need.filter(|path| !declares(p.capabilities(), path));
                    p.add_ask(Ask::new(server_id, method, params, undeclared));
                }
            }
        }
    }

    /// The server was told a client's roots may have changed a moment ago.
    fn roots_recently_changed(&self) -> bool {
        self.roots_changed
            .is_some_and(|(_, at)| at.elapsed() < ROOTS_ANSWER_WINDOW)
    }

    /// The newest 2026-07-28 call in flight that may be asked for input, or the newest call
    /// parked a moment ago whose client has not been given its asks yet.
    fn newest_modern_call_or_gathering(&self) -> Option<Target> {
        let call = self
            .inflight
            .iter()
            .filter_map(|(id, p)| match &p.kind {
                PendingKind::Client(c)
                    if INPUT_REQUIRED_METHODS.contains(&c.method.as_str())
                        && self.sessions.get(&c.session).is_some_and(|s| s.modern) =>
                {
                    Some((*id, p.sent_at))
                }
                _ => None,
            })
            .max_by_key(|(_, at)| *at);
        let gathering = self
            .parked
            .iter()
            .filter(|(_, p)| p.is_gathering())
            .max_by_key(|(_, p)| p.since);
        match (call, gathering) {
            (Some((id, at)), g) if g.is_none_or(|(_, p)| p.since < at) => Some(Target::Call(id)),
            (_, Some((token, _))) => Some(Target::Parked(token.clone())),
            _ => None,
        }
    }

    /// What the client of call `bridge_id` did not declare of `need`.
    fn undeclared_by_call(
        &self,
        bridge_id: u64,
        need: Option<&[&'static str]>,
    ) -> Option<Vec<&'static str>> {
        let need = need?;
        let Some(PendingKind::Client(c)) = self.inflight.get(bridge_id).map(|p| &p.kind) else {
            return None;
        };
        let caps = c.declared(self.sessions.get(&c.session));
        (!declares(caps, need)).then(|| need.to_vec())
    }

    pub(super) fn refuse_server_request(&mut self, server_id: Value, code: i64, message: String) {
        tracing::info!(server = %self.server, "told `{}` no: {message}", self.server);
        let _ = self.send_to_server(&jsonrpc::error_response(
            server_id,
            RpcError::new(code, message),
        ));
    }

    /// "2 clients (claude-code, cursor)" — who was asked, for an error the server logs.
    fn clients_in_words(&self) -> String {
        let names: Vec<&str> = self
            .sessions
            .values()
            .map(|s| s.info.client_name.as_deref().unwrap_or("unnamed"))
            .collect();
        match names.len() {
            0 => "the connected clients (there are none)".into(),
            n => format!(
                "{n} connected client{} ({})",
                if n == 1 { "" } else { "s" },
                names.join(", ")
            ),
        }
    }

    /// Who takes a server's request that needs `need`: the newest call in flight of a client
    /// that declared it (or a call parked for one a moment ago); with no call in flight at all,
    /// the most recently active handshake-era client that declared it; else nobody.
    fn request_target(&self, need: Option<&[&str]>, method: &str) -> Option<Target> {
        let can = |caps: Option<&Value>| need.is_none_or(|path| declares(caps, path));
        let gated = need.is_some() || mcp::SERVER_TO_CLIENT_METHODS.contains(&method);
        let newest_call = self
            .inflight
            .iter()
            .filter_map(|(id, p)| match &p.kind {
                PendingKind::Client(c) => Some((*id, p.sent_at, c)),
                _ => None,
            })
            .filter(|(_, _, c)| {
                self.sessions.get(&c.session).is_some_and(|s| {
                    can(c.declared(Some(s)))
                        && (!s.modern
                            || (gated && INPUT_REQUIRED_METHODS.contains(&c.method.as_str())))
                })
            })
            .max_by_key(|(_, at, _)| *at);
        // A parked call takes more asks only while it gathers them (its client has not been
        // given them yet): one parked and waiting for its retry is done asking, and an ask
        // given to it would wait for a client that will never see it.
        let newest_parked = self
            .parked
            .iter()
            .filter(|(_, p)| p.is_gathering() && can(p.capabilities()))
            .max_by_key(|(_, p)| p.since);
        match (newest_call, newest_parked) {
            (Some((id, at, c)), parked) if parked.is_none_or(|(_, p)| p.since < at) => {
                let modern = self.sessions.get(&c.session).is_some_and(|s| s.modern);
                return Some(if modern {
                    Target::Call(id)
                } else {
                    Target::Client(c.session)
                });
            }
            (_, Some((token, _))) => return Some(Target::Parked(token.clone())),
            _ => {}
        }
        // No capable client's call is in flight, and the server asks for the roots because it
        // was just told they may have changed: that is the client whose roots they are.
        if method == "roots/list"
            && let Some((session, at)) = self.roots_changed
            && at.elapsed() < ROOTS_ANSWER_WINDOW
            && self
                .sessions
                .get(&session)
                .is_some_and(|s| !s.modern && can(s.capabilities.as_ref()))
        {
            return Some(Target::Client(session));
        }
        // Some call is in flight, and its client cannot answer: the request is that call's, most
        // likely — an idle client that could answer is not asked for another's call (its answer
        // would become the caller's result, and a client gone quiet may never answer).
        let busy = self.inflight.iter().any(|(_, p)| {
            matches!(&p.kind, PendingKind::Client(c) if c.method != "subscriptions/listen")
        });
        if busy {
            return None;
        }
        // Nothing in flight: the server asks on its own (the roots, after `initialized`, say).
        self.sessions
            .iter()
            .filter(|(_, s)| !s.modern && can(s.capabilities.as_ref()))
            .max_by_key(|(_, s)| s.info.last_activity_ms)
            .map(|(id, _)| Target::Client(*id))
    }
}
