//! MCP facts the bridge relies on: protocol revisions, the `_meta` keys of the stateless
//! 2026-07-28 revision, and the error codes MCP adds to JSON-RPC.

use serde_json::{Map, Value};

/// The stateless revision: no `initialize`; version and capabilities ride in every request's `_meta`.
pub const STATELESS_REVISION: &str = "2026-07-28";
/// What bridgedock speaks to servers when it initializes one on its own.
pub const LATEST_HANDSHAKE_REVISION: &str = "2025-11-25";
/// Every revision a client may speak through the bridge, newest first.
pub const SUPPORTED_REVISIONS: &[&str] = &[
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// The request asked for a protocol revision the server side does not support.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// The `MCP-Protocol-Version` header and the request's `_meta` disagree.
pub const HEADER_MISMATCH: i64 = -32020;

/// `params._meta` of a message, if any.
pub fn meta(msg: &Map<String, Value>) -> Option<&Map<String, Value>> {
    msg.get("params")?.get("_meta")?.as_object()
}

/// The revision a stateless (2026-07-28 style) request declares in its `_meta`.
pub fn declared_revision(msg: &Map<String, Value>) -> Option<&str> {
    meta(msg)?.get(META_PROTOCOL_VERSION)?.as_str()
}

/// Removes the stateless revision's envelope (`io.modelcontextprotocol/*` keys) from a
/// request's `_meta`, for a server that was initialized with the handshake: such servers may
/// refuse the envelope. Other `_meta` keys (a progress token) stay.
pub fn strip_stateless_envelope(msg: &mut Map<String, Value>) {
    let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) else {
        return;
    };
    meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
    if meta.is_empty() {
        params.remove("_meta");
    }
}

/// Adds the stateless envelope to a request's `_meta` (keys the request already has win), for
/// a server that speaks only the stateless revision.
pub fn add_stateless_envelope(msg: &mut Map<String, Value>, envelope: Value) {
    let Value::Object(envelope) = envelope else {
        return;
    };
    let params = msg
        .entry("params")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(params) = params.as_object_mut() else {
        return;
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        for (k, v) in envelope {
            meta.entry(k).or_insert(v);
        }
    }
}

/// `{name, version}` from an `initialize`'s clientInfo or a stateless request's `_meta`.
pub fn client_info(msg: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let params = msg.get("params");
    let info = params
        .and_then(|p| p.get("clientInfo"))
        .or_else(|| meta(msg).and_then(|m| m.get(META_CLIENT_INFO)));
    let field = |k: &str| {
        info.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (field("name"), field("version"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_envelope_goes_and_the_progress_token_stays() {
        let mut m =
            json!({"params": {"_meta": {META_PROTOCOL_VERSION: "2026-07-28", "progressToken": 3}}})
                .as_object()
                .unwrap()
                .clone();
        strip_stateless_envelope(&mut m);
        assert_eq!(
            Value::Object(m),
            json!({"params": {"_meta": {"progressToken": 3}}})
        );
        let mut m = json!({"params": {"_meta": {META_CLIENT_CAPABILITIES: {}}, "name": "x"}})
            .as_object()
            .unwrap()
            .clone();
        strip_stateless_envelope(&mut m);
        assert_eq!(Value::Object(m), json!({"params": {"name": "x"}}));
    }
}
