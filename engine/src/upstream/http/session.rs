//! bridgedock's MCP session with an HTTP server: opened by the router's `initialize`, opened
//! again with that same `initialize` when the server forgets it (a 404: idle for long, or a new
//! target), one re-opening serving every message that saw the 404.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use hyper::body::Incoming;
use serde_json::Value;

use super::{MAX_ERROR_BODY, Message, SESSION_HEADER, SendFailed, Shared};
use crate::upstream::HttpTarget;

#[derive(Default)]
pub(super) struct Session {
    pub(super) id: Option<String>,
    pub(super) protocol: Option<String>,
    /// Where it was opened: a new target is a new session.
    pub(super) target: Option<HttpTarget>,
    /// The router's `initialize` and its id: it opens the session again when the server
    /// forgets it, and its answer says the revision.
    pub(super) initialize: Option<Bytes>,
    pub(super) initialize_id: Option<Value>,
    /// Counts openings, so that one re-opening serves every message that saw the 404.
    pub(super) epoch: u64,
}

impl Shared {
    /// Sends bridgedock's `initialize`, opening a new session; remembered to open it again.
    pub(super) async fn open(&self, body: Bytes, message: Message) {
        let target = self.link.reach.target();
        {
            let mut s = self.session.lock();
            s.id = None;
            s.protocol = None;
            s.initialize = Some(body.clone());
            s.initialize_id = message.ids.first().cloned();
        }
        let res = match self.send(Method::POST, &body, None, None, &target).await {
            Ok(res) => res,
            Err(SendFailed::Closed) => return,
            Err(SendFailed::Lost(why)) => return self.lost(message.ids, why).await,
        };
        let id = session_id(&res);
        let ok = res.status().is_success();
        {
            let mut s = self.session.lock();
            if ok {
                s.id = id;
                s.target = Some(target);
                s.epoch += 1;
            }
        }
        self.answer(res, message.ids).await;
        if ok {
            self.opened.send_modify(|n| *n += 1);
        }
    }

    /// The answer to bridgedock's `initialize` says the revision every later request names.
    pub(super) fn note_revision(&self, id: &Value, answer: &Value) {
        let mut s = self.session.lock();
        if s.initialize_id.as_ref() == Some(id) {
            s.protocol = answer
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }

    pub(super) async fn cannot_reopen(&self, ids: Vec<Value>) {
        let why = format!(
            "{} no longer knows bridgedock's session and did not open a new one",
            self.link.reach.what()
        );
        self.lost(ids, why).await;
    }

    /// Opens the session again with the router's own `initialize` (answered here, not passed
    /// on: the router has its handshake) and `notifications/initialized`. True when the
    /// session that failed at `epoch` is open again — by this call or another.
    pub(super) async fn reopen(&self, epoch: u64) -> bool {
        let _one_at_a_time = self.reopening.lock().await;
        let initialize = {
            let s = self.session.lock();
            if s.epoch != epoch {
                return s.id.is_some();
            }
            s.initialize.clone()
        };
        let Some(initialize) = initialize else {
            return false;
        };
        let target = self.link.reach.target();
        let Ok(res) = self
            .send(Method::POST, &initialize, None, None, &target)
            .await
        else {
            return false;
        };
        let id = session_id(&res);
        let ok = res.status().is_success();
        let answer = http_body_util::Limited::new(res.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        // JSON or one SSE event: either way the answer holds the result.
        let (Some(id), true) = (id, ok && answer.contains("\"result\"")) else {
            tracing::warn!(
                server = %self.server(),
                "{} refused to open bridgedock's session again; the calls that needed it fail",
                self.link.reach.what()
            );
            return false;
        };
        let protocol = self.session.lock().protocol.clone();
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        match self
            .send(
                Method::POST,
                &initialized,
                Some(&id),
                protocol.as_deref(),
                &target,
            )
            .await
        {
            Ok(res) if res.status().is_success() => {}
            _ => return false,
        }
        {
            let mut s = self.session.lock();
            s.id = Some(id);
            s.target = Some(target);
            s.epoch += 1;
        }
        self.opened.send_modify(|n| *n += 1);
        tracing::info!(
            server = %self.server(),
            "`{}`: {} had forgotten bridgedock's session; it was opened again and the calls go on",
            self.server(),
            self.link.reach.what()
        );
        true
    }
}

pub(super) fn session_id(res: &hyper::Response<Incoming>) -> Option<String> {
    res.headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
