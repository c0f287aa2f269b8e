//! The fast path's reading of a request: its envelope only, when there is nothing in it for
//! the router to rewrite but its id (no `_meta`, not a method the router handles itself), so its
//! params travel as the client sent them, never parsed.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::protocol::jsonrpc;

/// A request with nothing for the router to rewrite but its id.
#[derive(Debug)]
pub struct FastRequest {
    pub id: Value,
    pub method: String,
    pub params: Option<String>,
}

/// Methods the router must see whole (it answers, caches or tracks them): never on the fast
/// path (the envelope fuzz target checks [`FastRequest::read`] against this list).
pub const ROUTER_METHODS: &[&str] = &[
    "initialize",
    "server/discover",
    "subscriptions/listen",
    "resources/subscribe",
    "resources/unsubscribe",
    "logging/setLevel",
    "ping",
];

impl FastRequest {
    /// Reads a frame's envelope; None means "take the full path" (including every error case).
    pub fn read(text: &str) -> Option<FastRequest> {
        // serde_json checks a surrogate escape (`\ud800`) only in a string it decodes, never in
        // the raw params this path copies: a lone one would pass here, though the full path
        // refuses the frame (-32700), and would lose its params if it ever took that path.
        if has_surrogate_escape(text) {
            return None;
        }
        let env = jsonrpc::RawEnvelope::parse(text)?;
        if !env.is_v2() || env.result.is_some() || env.error.is_some() {
            return None;
        }
        let method = env.method_str()?;
        if ROUTER_METHODS.contains(&method) {
            return None;
        }
        let id = env.id_value()?;
        let params = match env.params {
            None => None,
            Some(p) => {
                let raw = p.get();
                if !(raw.starts_with('{') || raw.starts_with('[')) || raw.contains("\"_meta\"") {
                    return None;
                }
                // A key may be spelled with escapes (`"\u005fmeta"`): only then are the keys
                // read, so plain frames are still never parsed.
                if raw.contains("\\u") && has_meta_key(raw) {
                    return None;
                }
                Some(raw.to_string())
            }
        };
        Some(FastRequest {
            id,
            method: method.to_string(),
            params,
        })
    }

    pub(super) fn into_message(self) -> Map<String, Value> {
        let mut msg = Map::new();
        msg.insert("jsonrpc".into(), Value::String("2.0".into()));
        msg.insert("id".into(), self.id);
        msg.insert("method".into(), Value::String(self.method));
        if let Some(p) = self.params.and_then(|p| serde_json::from_str(&p).ok()) {
            msg.insert("params".into(), p);
        }
        msg
    }
}

/// Whether params (an object) have a top-level `_meta` key, however it is spelled; true
/// when they cannot be read, so the full path decides.
fn has_meta_key(params: &str) -> bool {
    if !params.starts_with('{') {
        return false;
    }
    serde_json::from_str::<HashMap<String, serde::de::IgnoredAny>>(params)
        .map_or(true, |keys| keys.contains_key("_meta"))
}

/// `\ud…` anywhere (a backslash before it may make it plain text: then the full path decides).
fn has_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u")
        .any(|(i, _)| matches!(text.as_bytes().get(i + 2), Some(b'd' | b'D')))
}
