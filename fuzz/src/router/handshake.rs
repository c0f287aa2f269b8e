//! What the harness expects of bridgedock's own handshake with each server process: a
//! `server/discover` probe first; `initialize` only after it (when the probe failed, or went
//! unanswered for a while); ready when either succeeds, refused when both failed. Kept from
//! what the fake server reads and writes, so the router's readiness and what it sends before
//! it can be checked against it.

use bridgedock_engine::protocol::modern;
use serde_json::{Map, Value};

/// Which era a ready process speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// It answered `initialize`.
    Handshake,
    /// It answered `server/discover`.
    Stateless,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// No process, or one the fake server has not read the probe of yet.
    Waiting,
    Shaking {
        probe: Option<Value>,
        probe_failed: bool,
        init: Option<Value>,
        init_sent: bool,
        init_failed: bool,
    },
    Ready {
        era: Era,
        /// It answered the probe before the router's `initialize` (sent when the probe went
        /// unanswered a while) was read: that one may still come.
        late_init: bool,
    },
    Refused,
}

impl Handshake {
    pub fn era(&self) -> Option<Era> {
        match self {
            Handshake::Ready { era, .. } => Some(*era),
            _ => None,
        }
    }

    /// The router sent `server/discover` (`id`); false when it was not the first thing a new
    /// process read, or came twice.
    pub fn probe_sent(&mut self, id: &Value) -> bool {
        if *self != Handshake::Waiting {
            return false;
        }
        *self = Handshake::Shaking {
            probe: Some(id.clone()),
            probe_failed: false,
            init: None,
            init_sent: false,
            init_failed: false,
        };
        true
    }

    /// The router sent `initialize` (`id`); false when it was not shaking hands, or had sent
    /// one already.
    pub fn init_sent(&mut self, id: &Value) -> bool {
        match self {
            Handshake::Ready { late_init, .. } if *late_init => {
                *late_init = false;
                true
            }
            Handshake::Shaking {
                init, init_sent, ..
            } if !*init_sent => {
                *init = Some(id.clone());
                *init_sent = true;
                true
            }
            _ => false,
        }
    }

    /// The fake server wrote an answer (as the router reads it: a JSON-RPC response);
    /// `unread`: lines the router sent wait unread.
    pub fn answered(&mut self, msg: &Map<String, Value>, unread: bool) {
        let Handshake::Shaking {
            probe,
            probe_failed,
            init,
            init_sent,
            init_failed,
        } = self
        else {
            return;
        };
        // The router takes answers by bridge id, a number.
        let Some(id) = msg.get("id").and_then(Value::as_u64) else {
            return;
        };
        let is = |sent: &Option<Value>| sent.as_ref().and_then(Value::as_u64) == Some(id);
        if is(probe) {
            *probe = None;
            if msg.get("result").is_some_and(modern::is_usable_discover) {
                *self = Handshake::Ready {
                    era: Era::Stateless,
                    late_init: unread && !*init_sent,
                };
                return;
            }
            *probe_failed = true;
        } else if is(init) {
            *init = None;
            if msg.get("result").is_some_and(Value::is_object) {
                *self = Handshake::Ready {
                    era: Era::Handshake,
                    late_init: false,
                };
                return;
            }
            *init_failed = true;
        } else {
            return;
        }
        if *probe_failed && *init_failed {
            *self = Handshake::Refused;
        }
    }
}
