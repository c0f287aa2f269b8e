//! A 2026-07-28 client's call whose handshake-era server asked for input (`asks.rs`).
//!
//! Such a client has no stream for the server's requests, so its call is *parked*: it stays at
//! the server, and the client is answered with an input-required result (`resultType:
//! "input_required"`, `inputRequests`, and a `requestState` naming the parked call) — after a
//! moment, so that what the server asks at once goes in one result. The client's retry, a new
//! request carrying `inputResponses` and that `requestState`, answers the server's requests and
//! takes over the call. What the client did not declare is never asked of it: the server is
//! told no, and a call that needs only that fails with -32021, as a native server's would.
//! A parked call waits for its retry up to `input_wait` (10 min), then is cancelled.

use std::collections::BTreeMap;

use rand::RngCore;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Router;
use super::inflight::{ClientCall, PendingKind};
use crate::protocol::capabilities;
use crate::protocol::jsonrpc::{self, BRIDGE_INTERNAL, INVALID_PARAMS, METHOD_NOT_FOUND, RpcError};
use crate::protocol::mcp::{self, MISSING_CLIENT_CAPABILITY};
use crate::protocol::modern;

/// How a `requestState` made by bridgedock starts: a retry carrying one is bridgedock's to
/// take; any other goes to the server, whose it is.
pub const REQUEST_STATE_PREFIX: &str = "bridgedock-input-";

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

impl Ask {
    /// The server's request `server_id`; `undeclared` is the capability it needs that the
    /// client whose call it is did not declare, if so.
    pub fn new(
        server_id: Value,
        method: &str,
        params: Option<Value>,
        undeclared: Option<Vec<&'static str>>,
    ) -> Ask {
        Ask {
            server_id,
            method: method.to_string(),
            params,
            sent: false,
            undeclared,
        }
    }
}

impl Parked {
    /// The client still waiting to be given the asks, if any.
    pub fn owner(self) -> Option<(u64, Value)> {
        self.owner
    }

    /// How many of the server's requests it holds.
    pub fn asks_held(&self) -> usize {
        self.asks.len()
    }

    /// Still gathering the server's asks: its client has not been given them yet.
    pub fn is_gathering(&self) -> bool {
        self.owner.is_some() && self.answer.is_none()
    }

    /// What the client whose call it is declared.
    pub fn capabilities(&self) -> Option<&Value> {
        self.capabilities.as_ref()
    }

    /// One more of the server's requests for this call.
    pub fn add_ask(&mut self, ask: Ask) {
        self.next_key += 1;
        self.asks.insert(format!("input-{}", self.next_key), ask);
    }
}

/// How long a parked call gathers its server's asks before its client is given them (the
/// router's tick makes it up to 50 ms more).
const GATHER_ASKS: std::time::Duration = std::time::Duration::from_millis(20);

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
    /// Holds a 2026-07-28 client's call at the server for its retry: the client is answered
    /// with an input-required result asking `ask` (and whatever else the server asks in the
    /// next moment, see [`GATHER_ASKS`]).
    pub(super) fn park(&mut self, bridge_id: u64, ask: Ask) {
        let token = new_request_state();
        let Some(call) = self.inflight.park(bridge_id, token.clone()) else {
            return;
        };
        self.session_request_done(call.session);
        let capabilities = call.declared(self.sessions.get(&call.session)).cloned();
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
        // What is still to ask goes to the retry only as far as the retry declared it can
        // answer (each 2026-07-28 request speaks for itself).
        let retry_caps = mcp::declared_capabilities(&msg).cloned();
        for ask in parked.asks.values_mut() {
            if let Some(path) = capabilities::required_for(&ask.method, ask.params.as_ref())
                && !capabilities::declares(retry_caps.as_ref(), &path)
            {
                ask.undeclared = Some(path);
            }
        }
        parked.capabilities = retry_caps;
        let undeclared: Vec<String> = parked
            .asks
            .iter()
            .filter(|(_, a)| a.undeclared.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        if !undeclared.is_empty() && undeclared.len() == parked.asks.len() {
            // Nothing left it could give: the call fails as a native server's would.
            let token = new_request_state();
            if let Some(p) = self.inflight.get_mut(parked.call) {
                p.kind = PendingKind::Parked {
                    token: token.clone(),
                };
            }
            self.parked.insert(token.clone(), parked);
            self.refuse_undeclared(&token, session, id);
            return;
        }
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
            capabilities: parked.capabilities.clone(),
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

    /// Input not given within `input_wait`: the server is told no, its call cancelled.
    pub(super) fn expire_parked(&mut self, now: Instant) {
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
