//! A server asking a client for something — sampling, an elicitation, its roots — in both eras
//! and across them.
//!
//! - A handshake-era server sends its own request. It goes only to a client that declared the
//!   capability it needs — the one with the newest call in flight first, else the most recently
//!   active — and the server is told no when no connected client can take it. A handshake-era
//!   client gets it as a request; a 2026-07-28 client cannot (it has no stream for requests):
//!   its call is answered with an input-required result (`resultType: "input_required"`,
//!   `inputRequests`, and a `requestState` naming the call), the call stays at the server
//!   ("parked"), and the client's retry — a new request carrying `inputResponses` and that
//!   `requestState` — answers the server's request and takes over the call.
//! - A stateless server answers a call with an input-required result. A 2026-07-28 client gets
//!   it as it is; a handshake-era client cannot: bridgedock asks it each input as a request,
//!   then retries the call for it with the answers. The client only sees its call take longer.
//!
//! Everything held here is bounded in time ([`super::INPUT_WAIT`]) and count.

use std::collections::BTreeMap;

use rand::RngCore;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Router;
use super::handshake::Era;
use super::inflight::{ClientCall, PendingKind};
use crate::protocol::capabilities::{self, declares, required_for};
use crate::protocol::jsonrpc::{self, BRIDGE_INTERNAL, INVALID_PARAMS, METHOD_NOT_FOUND, RpcError};
use crate::protocol::mcp::{self, INPUT_REQUIRED_METHODS, MISSING_CLIENT_CAPABILITY};
use crate::protocol::modern;

/// How a `requestState` made by bridgedock starts: a retry carrying one is bridgedock's to
/// take; any other goes to the server, whose it is.
pub const REQUEST_STATE_PREFIX: &str = "bridgedock-input-";

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

/// A server's request held in a parked call, for the client's retry.
pub(super) struct Ask {
    server_id: Value,
    method: String,
    params: Option<Value>,
    /// Given to the client in an input-required result already.
    sent: bool,
    /// The capability it needs, when the client whose call it is did not declare it (it is
    /// then never given to that client; see `give_parked_their_asks`).
    undeclared: Option<Vec<&'static str>>,
}

/// A call whose handshake-era server asked a 2026-07-28 client for input: at the server still,
/// waiting for the client's retry.
pub(super) struct Parked {
    pub call: u64,
    method: String,
    target: Option<String>,
    /// What the client declared: further requests of the server for this call may go to it.
    capabilities: Option<Value>,
    asks: BTreeMap<String, Ask>,
    next_key: u32,
    /// The server's answer, when it came before the retry (it gave up waiting, say).
    answer: Option<Map<String, Value>>,
    /// The client whose call this is (session, its id), until it is given the input-required
    /// result — a moment after the first ask, since a server often asks for several things at
    /// once (an elicitation, a sample and the roots), and they belong in one result.
    owner: Option<(u64, Value)>,
    pub since: Instant,
}

impl Parked {
    /// The client still waiting to be given the asks, if any.
    pub fn owner(self) -> Option<(u64, Value)> {
        self.owner
    }
}

/// How long a parked call gathers its server's asks before its client is given them (the
/// router's tick makes it up to 50 ms more).
const GATHER_ASKS: std::time::Duration = std::time::Duration::from_millis(20);

/// A stateless server's input-required result, being asked of a handshake-era client.
pub(super) struct Gathering {
    pub session: u64,
    pub client_id: Value,
    method: String,
    target: Option<String>,
    /// The client's own progress token, if it asked for progress.
    progress: Option<Value>,
    log_level: Option<usize>,
    /// The request as sent to the server (without its id), to retry.
    request: Map<String, Value>,
    request_state: Option<Value>,
    outstanding: usize,
    responses: Map<String, Value>,
    pub since: Instant,
}

/// Who takes a server's request.
enum Target {
    /// A handshake-era client, as a request.
    Client(u64),
    /// A 2026-07-28 client's call in flight (its bridge id), as an input-required result.
    Call(u64),
    /// A call parked already: the client gets it with the others on its retry.
    Parked(String),
}

/// The `requestState` of a retry, when it is one of bridgedock's.
pub(super) fn our_request_state(msg: &Map<String, Value>) -> Option<&str> {
    msg.get("params")?
        .get("requestState")?
        .as_str()
        .filter(|s| s.starts_with(REQUEST_STATE_PREFIX))
}

fn new_request_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{REQUEST_STATE_PREFIX}{hex}")
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
            self.server_requests.len() + self.parked.values().map(|p| p.asks.len()).sum::<usize>();
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
                let ask = Ask {
                    server_id,
                    method: method.to_string(),
                    params,
                    sent: false,
                    undeclared,
                };
                self.park(bridge_id, ask);
            }
            Target::Parked(token) => {
                if let Some(p) = self.parked.get_mut(&token) {
                    let undeclared = need.filter(|path| !declares(p.capabilities.as_ref(), path));
                    p.next_key += 1;
                    let key = format!("input-{}", p.next_key);
                    p.asks.insert(
                        key,
                        Ask {
                            server_id,
                            method: method.to_string(),
                            params,
                            sent: false,
                            undeclared,
                        },
                    );
                }
            }
        }
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
            .filter(|(_, p)| p.owner.is_some())
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
        let session = match self.inflight.get(bridge_id).map(|p| &p.kind) {
            Some(PendingKind::Client(c)) => c.session,
            _ => return None,
        };
        let caps = self
            .sessions
            .get(&session)
            .and_then(|s| s.capabilities.as_ref());
        (!declares(caps, need)).then(|| need.to_vec())
    }

    /// A 2026-07-28 call whose server needs only what its client did not declare fails as a
    /// native server fails it: MissingRequiredClientCapability (-32021), naming what is missing;
    /// the call is cancelled at the server.
    fn refuse_undeclared(&mut self, token: &str, session: u64, client_id: Value) {
        let Some(p) = self.parked.remove(token) else {
            return;
        };
        let missing = p
            .asks
            .values()
            .find_map(|a| a.undeclared.clone())
            .unwrap_or_default();
        let asked = p
            .asks
            .values()
            .map(|a| a.method.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let error = RpcError {
            code: MISSING_CLIENT_CAPABILITY,
            message: format!(
                "`{}` needs the `{}` capability (server `{}` asked for {asked}), which this request's clientCapabilities do not declare",
                p.method,
                capabilities::describe(&missing),
                self.server
            ),
            data: Some(json!({"requiredCapabilities": capabilities::as_capabilities(&missing)})),
        };
        let mut p = p;
        for ask in std::mem::take(&mut p.asks).into_values() {
            self.refuse_server_request(
                ask.server_id,
                METHOD_NOT_FOUND,
                format!(
                    "the client whose call this is did not declare the `{}` capability",
                    capabilities::describe(&missing)
                ),
            );
        }
        self.drop_parked(p, "the client did not declare the capability this needs");
        self.reply_error(session, client_id, error);
    }

    fn refuse_server_request(&mut self, server_id: Value, code: i64, message: String) {
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
    /// that declared it (or a call parked for one), else the most recently active
    /// handshake-era client that declared it.
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
                    can(s.capabilities.as_ref())
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
            .filter(|(_, p)| {
                p.owner.is_some() && p.answer.is_none() && can(p.capabilities.as_ref())
            })
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
        self.sessions
            .iter()
            .filter(|(_, s)| !s.modern && can(s.capabilities.as_ref()))
            .max_by_key(|(_, s)| s.info.last_activity_ms)
            .map(|(id, _)| Target::Client(*id))
    }

    /// Holds a 2026-07-28 client's call at the server for its retry: the client is answered
    /// with an input-required result asking `ask` (and whatever else the server asks in the
    /// next moment, see [`GATHER_ASKS`]).
    fn park(&mut self, bridge_id: u64, ask: Ask) {
        let token = new_request_state();
        let Some(call) = self.inflight.park(bridge_id, token.clone()) else {
            return;
        };
        self.session_request_done(call.session);
        let capabilities = self
            .sessions
            .get(&call.session)
            .and_then(|s| s.capabilities.clone());
        let mut asks = BTreeMap::new();
        asks.insert("input-1".to_string(), ask);
        self.parked.insert(
            token,
            Parked {
                call: bridge_id,
                method: call.method.clone(),
                target: call.target.clone(),
                capabilities,
                asks,
                next_key: 1,
                answer: None,
                owner: Some((call.session, call.client_id)),
                since: Instant::now(),
            },
        );
    }

    /// Parked calls whose asks have gathered: their clients get the input-required result (or
    /// the server's answer, when it came meanwhile).
    pub(super) fn give_parked_their_asks(&mut self, now: Instant) {
        let due: Vec<String> = self
            .parked
            .iter()
            .filter(|(_, p)| p.owner.is_some() && now.duration_since(p.since) >= GATHER_ASKS)
            .map(|(k, _)| k.clone())
            .collect();
        for token in due {
            let Some(p) = self.parked.get_mut(&token) else {
                continue;
            };
            let Some((session, client_id)) = p.owner.take() else {
                continue;
            };
            let method = p.method.clone();
            if !self.sessions.contains_key(&session) {
                // Its client went away before it was asked: nobody will come back with input.
                if let Some(p) = self.parked.remove(&token) {
                    self.drop_parked(p, "the client went away");
                }
                continue;
            }
            if let Some(mut answer) = p.answer.take() {
                self.parked.remove(&token);
                answer.insert("id".into(), client_id.clone());
                self.deliver_answer(session, &method, answer, &client_id);
                continue;
            }
            // What its client cannot give is refused to the server; if that is everything,
            // the call fails as a native server's would.
            let (declared, undeclared): (BTreeMap<String, Ask>, BTreeMap<String, Ask>) =
                std::mem::take(&mut p.asks)
                    .into_iter()
                    .partition(|(_, a)| a.undeclared.is_none());
            if declared.is_empty() {
                p.asks = undeclared;
                self.refuse_undeclared(&token, session, client_id);
                continue;
            }
            p.asks = declared;
            let mut input_requests = Map::new();
            for (key, ask) in p.asks.iter_mut() {
                ask.sent = true;
                input_requests.insert(key.clone(), ask_as_input_request(ask));
            }
            for ask in undeclared.into_values() {
                let missing = ask.undeclared.clone().unwrap_or_default();
                self.refuse_server_request(
                    ask.server_id,
                    METHOD_NOT_FOUND,
                    format!(
                        "the client whose call this is did not declare the `{}` capability",
                        capabilities::describe(&missing)
                    ),
                );
            }
            self.answer_input_required(&method, session, client_id, input_requests, &token);
        }
    }

    /// A parked call nobody will come back for: the server is told no, the call cancelled.
    fn drop_parked(&mut self, p: Parked, why: &str) {
        for ask in p.asks.into_values() {
            self.refuse_server_request(ask.server_id, BRIDGE_INTERNAL, why.to_string());
        }
        if self.inflight.cancel(p.call).is_some() {
            let _ = self.send_to_server(&super::cancelled(p.call, why));
        }
    }

    fn answer_input_required(
        &mut self,
        method: &str,
        session: u64,
        client_id: Value,
        input_requests: Map<String, Value>,
        token: &str,
    ) {
        let mut result = Map::new();
        result.insert("resultType".into(), json!("input_required"));
        result.insert("inputRequests".into(), Value::Object(input_requests));
        result.insert("requestState".into(), json!(token));
        modern::complete_result(method, &mut result, self.server_info());
        let reply = jsonrpc::response(client_id.clone(), Value::Object(result));
        self.deliver(session, &reply, Some(&client_id));
    }

    /// A 2026-07-28 client's retry carrying bridgedock's `requestState`: its inputs answer the
    /// server's requests, and it takes over the parked call — or is asked again for what is
    /// still missing.
    pub(super) fn retry_with_input(
        &mut self,
        session: u64,
        id: Value,
        msg: Map<String, Value>,
        state: &str,
    ) {
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let target = mcp::named_target(&msg).map(str::to_string);
        let Some(mut parked) = self.parked.remove(state) else {
            let error = RpcError::new(
                INVALID_PARAMS,
                format!(
                    "invalid params: requestState is not one bridgedock gave out, or it has expired (a call waits {} for its input, and not across a restart of server `{}`): make the request again without it",
                    crate::status::format_duration_ms(self.opts.input_wait.as_millis() as u64),
                    self.server
                ),
            );
            self.reply_error(session, id, error);
            return;
        };
        if parked.method != method || parked.target != target {
            let error = RpcError::new(
                INVALID_PARAMS,
                format!(
                    "invalid params: this requestState belongs to `{}`{}, not to this `{method}`{}: a retry must repeat the original request",
                    parked.method,
                    parked
                        .target
                        .as_deref()
                        .map(|t| format!(" of `{t}`"))
                        .unwrap_or_default(),
                    target
                        .as_deref()
                        .map(|t| format!(" of `{t}`"))
                        .unwrap_or_default(),
                ),
            );
            self.parked.insert(state.to_string(), parked);
            self.reply_error(session, id, error);
            return;
        }
        if self.inflight.claimed(session, &id) {
            self.parked.insert(state.to_string(), parked);
            let error = RpcError::new(
                jsonrpc::INVALID_REQUEST,
                format!(
                    "id {id} is already used by one of your requests still in flight; use a new id"
                ),
            );
            self.reply_error(session, id, error);
            return;
        }
        let responses = msg
            .get("params")
            .and_then(|p| p.get("inputResponses"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let answered: Vec<String> = parked
            .asks
            .iter()
            .filter(|(k, a)| a.sent && responses.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in answered {
            if let (Some(ask), Some(response)) = (parked.asks.remove(&key), responses.get(&key)) {
                self.server_request_ids.remove(&ask.server_id.to_string());
                let _ = self.send_to_server(&jsonrpc::response(ask.server_id, response.clone()));
            }
        }
        if let Some(mut answer) = parked.answer.take() {
            // The server finished before the retry: its answer is the retry's.
            answer.insert("id".into(), id.clone());
            self.deliver_answer(session, &method, answer, &id);
            return;
        }
        let undeclared: Vec<String> = parked
            .asks
            .iter()
            .filter(|(_, a)| a.undeclared.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in undeclared {
            if let Some(ask) = parked.asks.remove(&key) {
                self.refuse_server_request(
                    ask.server_id,
                    METHOD_NOT_FOUND,
                    "the client whose call this is did not declare the capability this needs"
                        .into(),
                );
            }
        }
        if !parked.asks.is_empty() {
            // Still missing something: asked again, under a new state.
            let mut input_requests = Map::new();
            for (key, ask) in parked.asks.iter_mut() {
                ask.sent = true;
                input_requests.insert(key.clone(), ask_as_input_request(ask));
            }
            let token = new_request_state();
            if let Some(p) = self.inflight.get_mut(parked.call) {
                p.kind = PendingKind::Parked {
                    token: token.clone(),
                };
            }
            self.parked.insert(token.clone(), parked);
            self.answer_input_required(&method, session, id, input_requests, &token);
            return;
        }
        // Everything was given: the retry is the call now.
        let progress_token = msg
            .get("params")
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let call = ClientCall {
            session,
            client_id: id,
            method,
            target,
            progress: progress_token
                .as_ref()
                .map(|_| format!("bdp-{}", parked.call)),
            log_level: mcp::requested_log_level(&msg).and_then(mcp::log_severity),
            retry_with: None,
        };
        let deadline = Instant::now() + self.opts.request_timeout;
        self.inflight
            .reassign(parked.call, call, progress_token, deadline);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending += 1;
            s.last_request = Some(Instant::now());
        }
    }

    /// The server answered a call that is parked: kept for the retry.
    pub(super) fn parked_answered(&mut self, token: &str, msg: Map<String, Value>) {
        if let Some(p) = self.parked.get_mut(token) {
            p.answer = Some(msg);
            // Whatever it still asked is moot now.
            p.asks.retain(|_, a| a.sent);
        }
    }

    /// The server cancelled one of its own requests: a parked call no longer asks it.
    pub(super) fn server_cancelled_ask(&mut self, server_id: &Value) -> bool {
        for p in self.parked.values_mut() {
            let before = p.asks.len();
            p.asks.retain(|_, a| &a.server_id != server_id);
            if p.asks.len() != before {
                return true;
            }
        }
        false
    }

    /// Input not given within `input_wait`: the server is told no, its call cancelled; a
    /// handshake-era client's call that waited for it fails.
    pub(super) fn expire_input(&mut self, now: Instant) {
        let wait = self.opts.input_wait;
        let expired: Vec<String> = self
            .parked
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) >= wait)
            .map(|(k, _)| k.clone())
            .collect();
        let words = crate::status::format_duration_ms(wait.as_millis() as u64);
        for token in expired {
            let Some(p) = self.parked.remove(&token) else {
                continue;
            };
            self.drop_parked(
                p,
                &format!("the client did not come back with the input within {words}"),
            );
        }
        let expired: Vec<u64> = self
            .gathering
            .iter()
            .filter(|(_, g)| now.duration_since(g.since) >= wait)
            .map(|(k, _)| *k)
            .collect();
        for id in expired {
            if let Some(g) = self.gathering.remove(&id) {
                self.server_requests.retain(
                    |_, r| !matches!(&r.kind, AskKind::Gather { gathering, .. } if *gathering == id),
                );
                let error = RpcError::new(
                    BRIDGE_INTERNAL,
                    format!(
                        "`{}` needed input from you that did not come within {words}; the call was not completed",
                        g.method
                    ),
                );
                self.reply_error(g.session, g.client_id, error);
            }
        }
    }

    /// A stateless server answered a handshake-era client's call with an input-required
    /// result: the client is asked each input as a request, then the call is retried for it.
    pub(super) fn gather(
        &mut self,
        call: ClientCall,
        client_progress: Option<Value>,
        result: &Map<String, Value>,
    ) {
        let Some(request) = call.retry_with.map(|r| *r) else {
            let error = RpcError::new(
                BRIDGE_INTERNAL,
                format!(
                    "server `{}` asked for input on `{}`, which the 2026-07-28 revision does not allow",
                    self.server, call.method
                ),
            );
            self.reply_error(call.session, call.client_id, error);
            return;
        };
        let inputs = result
            .get("inputRequests")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let caps = self
            .sessions
            .get(&call.session)
            .and_then(|s| s.capabilities.clone());
        for input in inputs.values() {
            let method = input.get("method").and_then(Value::as_str).unwrap_or("");
            if let Some(path) = required_for(method, input.get("params"))
                && !declares(caps.as_ref(), &path)
            {
                let error = RpcError {
                    code: MISSING_CLIENT_CAPABILITY,
                    message: format!(
                        "server `{}` needs `{method}` to complete `{}`, and your client did not declare the `{}` capability",
                        self.server,
                        call.method,
                        capabilities::describe(&path)
                    ),
                    data: Some(
                        json!({"requiredCapabilities": capabilities::as_capabilities(&path)}),
                    ),
                };
                self.reply_error(call.session, call.client_id, error);
                return;
            }
        }
        let gathering = self.next_bridge_id();
        let g = Gathering {
            session: call.session,
            client_id: call.client_id,
            method: call.method,
            target: call.target,
            progress: client_progress,
            log_level: call.log_level,
            request,
            request_state: result.get("requestState").cloned(),
            outstanding: inputs.len(),
            responses: Map::new(),
            since: Instant::now(),
        };
        let session = g.session;
        self.gathering.insert(gathering, g);
        if inputs.is_empty() {
            self.retry_gathered(gathering);
            return;
        }
        for (key, input) in inputs {
            let ours = format!("bds-{}", self.next_bridge_id());
            let mut ask = Map::new();
            ask.insert("jsonrpc".into(), json!("2.0"));
            ask.insert("id".into(), json!(ours));
            ask.insert(
                "method".into(),
                input.get("method").cloned().unwrap_or(Value::Null),
            );
            if let Some(p) = input.get("params") {
                ask.insert("params".into(), p.clone());
            }
            self.server_requests.insert(
                ours,
                ServerRequest {
                    session,
                    kind: AskKind::Gather { gathering, key },
                },
            );
            self.deliver(session, &Value::Object(ask), None);
        }
    }

    /// A handshake-era client answered one input of a gathering.
    pub(super) fn gathered(&mut self, gathering: u64, key: String, msg: Map<String, Value>) {
        let Some(g) = self.gathering.get_mut(&gathering) else {
            return;
        };
        if let Some(error) = msg.get("error") {
            let Some(g) = self.gathering.remove(&gathering) else {
                return;
            };
            self.server_requests.retain(
                |_, r| !matches!(&r.kind, AskKind::Gather { gathering: x, .. } if *x == gathering),
            );
            let error = RpcError {
                code: error
                    .get("code")
                    .and_then(Value::as_i64)
                    .unwrap_or(BRIDGE_INTERNAL),
                message: format!(
                    "your client refused the input `{}` needed: {}",
                    g.method,
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                ),
                data: error.get("data").cloned(),
            };
            self.reply_error(g.session, g.client_id, error);
            return;
        }
        g.responses
            .insert(key, msg.get("result").cloned().unwrap_or_else(|| json!({})));
        g.outstanding = g.outstanding.saturating_sub(1);
        if g.outstanding == 0 {
            self.retry_gathered(gathering);
        }
    }

    /// Every input is in: the call goes to the server again, with them.
    fn retry_gathered(&mut self, gathering: u64) {
        let Some(g) = self.gathering.remove(&gathering) else {
            return;
        };
        let mut msg = g.request;
        if let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) {
            params.insert("inputResponses".into(), Value::Object(g.responses));
            match g.request_state {
                Some(state) => {
                    params.insert("requestState".into(), state);
                }
                None => {
                    params.remove("requestState");
                }
            }
        }
        if self.upstream_era() != Some(Era::Stateless) {
            let error = RpcError::new(
                jsonrpc::SERVER_UNREACHABLE,
                format!(
                    "server `{}` restarted while your client gave the input `{}` needed; the call was not completed — retry it",
                    self.server, g.method
                ),
            );
            self.reply_error(g.session, g.client_id, error);
            return;
        }
        let bridge_id = self.next_bridge_id();
        let progress = match (
            &g.progress,
            msg.get_mut("params")
                .and_then(|p| p.get_mut("_meta"))
                .and_then(|m| m.get_mut("progressToken")),
        ) {
            (Some(client_token), Some(token)) => {
                let ours = format!("bdp-{bridge_id}");
                *token = json!(ours);
                self.inflight.route_progress(
                    ours.clone(),
                    g.session,
                    client_token.clone(),
                    bridge_id,
                );
                Some(ours)
            }
            _ => None,
        };
        let retry_with = Some(Box::new(msg.clone()));
        msg.insert("id".into(), Value::from(bridge_id));
        self.stats.request();
        match self.send_to_server(&Value::Object(msg)) {
            Ok(()) => self.track(
                bridge_id,
                ClientCall {
                    session: g.session,
                    client_id: g.client_id,
                    method: g.method,
                    target: g.target,
                    progress,
                    log_level: g.log_level,
                    retry_with,
                },
            ),
            Err(why) => {
                self.stats.error();
                self.reply_error(
                    g.session,
                    g.client_id,
                    RpcError::new(jsonrpc::SERVER_UNREACHABLE, why),
                );
            }
        }
    }
}

/// An ask as an entry of `inputRequests`: `{method, params}`.
fn ask_as_input_request(ask: &Ask) -> Value {
    let mut request = Map::new();
    request.insert("method".into(), json!(ask.method));
    if let Some(p) = &ask.params {
        request.insert("params".into(), p.clone());
    }
    Value::Object(request)
}
