//! MCP facts the bridge relies on: the protocol revisions of both eras, the `_meta` keys of the
//! modern (2026-07-28, stateless) revision, which methods each era has, and the error codes MCP
//! adds to JSON-RPC.
//!
//! The two eras, in the spec's words: **legacy** revisions (2025-11-25 and earlier) open with an
//! `initialize` handshake; **modern** ones (2026-07-28 and later) have none — every request
//! carries its revision, client capabilities and client info in `_meta`.

use serde_json::{Map, Value, json};

/// The stateless revision: no `initialize`; version and capabilities ride in every request's `_meta`.
pub const STATELESS_REVISION: &str = "2026-07-28";
/// What bridgedock speaks to a legacy server when it initializes it.
pub const LATEST_HANDSHAKE_REVISION: &str = "2025-11-25";
/// Every revision a client may speak through the bridge, newest first.
pub const SUPPORTED_REVISIONS: &[&str] = &[
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];
/// The modern revisions among them (per-request `_meta`, no handshake).
pub const MODERN_REVISIONS: &[&str] = &["2026-07-28"];

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The HTTP headers and the request body disagree (or a required header is missing).
pub const HEADER_MISMATCH: i64 = -32020;
/// Answering would need a client capability the request did not declare.
pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
/// The request asked for a protocol revision the server side does not support.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// Resource not found in the legacy revisions; the modern one says -32602 instead.
pub const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;

/// Methods the modern revision removed: a modern request for one is "method not found".
pub const REMOVED_IN_MODERN: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Results that carry caching hints (`ttlMs`, `cacheScope`) in the modern revision.
pub const CACHEABLE_METHODS: &[&str] = &[
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

/// Requests a modern server may answer with `resultType: "input_required"`.
pub const INPUT_REQUIRED_METHODS: &[&str] = &["tools/call", "prompts/get", "resources/read"];

/// The requests a server may send a client (legacy) or embed in an input-required result (modern).
pub const SERVER_TO_CLIENT_METHODS: &[&str] =
    &["sampling/createMessage", "elicitation/create", "roots/list"];

pub fn is_modern(revision: &str) -> bool {
    MODERN_REVISIONS.contains(&revision)
}

/// `params._meta` of a message, if any.
pub fn meta(msg: &Map<String, Value>) -> Option<&Map<String, Value>> {
    msg.get("params")?.get("_meta")?.as_object()
}

/// The revision a stateless (2026-07-28 style) request declares in its `_meta`.
pub fn declared_revision(msg: &Map<String, Value>) -> Option<&str> {
    meta(msg)?.get(META_PROTOCOL_VERSION)?.as_str()
}

/// The capabilities a modern request declares in its `_meta`.
pub fn declared_capabilities(msg: &Map<String, Value>) -> Option<&Value> {
    meta(msg)?.get(META_CLIENT_CAPABILITIES)
}

/// What is missing from a modern request's `_meta` (the spec's required keys), if anything.
pub fn missing_envelope_keys(msg: &Map<String, Value>) -> Vec<&'static str> {
    let Some(meta) = meta(msg) else {
        return vec!["_meta"];
    };
    let mut missing = Vec::new();
    if !meta
        .get(META_PROTOCOL_VERSION)
        .is_some_and(Value::is_string)
    {
        missing.push(META_PROTOCOL_VERSION);
    }
    if !meta
        .get(META_CLIENT_CAPABILITIES)
        .is_some_and(Value::is_object)
    {
        missing.push(META_CLIENT_CAPABILITIES);
    }
    missing
}

/// What [`missing_envelope_keys`] found, in words: "params._meta (with … and …)" or "… in
/// params._meta".
pub fn describe_missing(missing: &[&str]) -> String {
    if missing == ["_meta"] {
        format!("params._meta (with {META_PROTOCOL_VERSION} and {META_CLIENT_CAPABILITIES})")
    } else {
        format!("{} in params._meta", missing.join(" and "))
    }
}

/// The log level a modern request asks for (`io.modelcontextprotocol/logLevel`).
pub fn requested_log_level(msg: &Map<String, Value>) -> Option<&str> {
    meta(msg)?.get(META_LOG_LEVEL)?.as_str()
}

/// The syslog levels MCP uses, least severe first.
pub const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Where `level` stands among [`LOG_LEVELS`] (None for an unknown one).
pub fn log_severity(level: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|l| *l == level)
}

/// Removes the stateless revision's envelope (`io.modelcontextprotocol/*` keys) from a
/// request's `_meta`, for a server that was initialized with the handshake: such servers may
/// refuse the envelope. Other `_meta` keys (a progress token, trace context) stay.
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

/// The envelope a modern server needs on a request made for a client with these
/// capabilities and identity.
pub fn envelope(capabilities: Value, client_info: Value, log_level: Option<&str>) -> Value {
    let mut env = json!({
        META_PROTOCOL_VERSION: STATELESS_REVISION,
        META_CLIENT_CAPABILITIES: capabilities,
        META_CLIENT_INFO: client_info,
    });
    if let Some(level) = log_level {
        env[META_LOG_LEVEL] = Value::String(level.to_string());
    }
    env
}

/// bridgedock's own identity, in its handshakes with servers.
pub fn bridge_client_info() -> Value {
    json!({"name": "bridgedock", "version": env!("CARGO_PKG_VERSION")})
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

/// What a `tools/call`, `prompts/get` or `resources/read` names (`params.name` or
/// `params.uri`): the `Mcp-Name` header's source, and what a retry must repeat.
pub fn named_target(msg: &Map<String, Value>) -> Option<&str> {
    let params = msg.get("params")?;
    match msg.get("method")?.as_str()? {
        "tools/call" | "prompts/get" => params.get("name")?.as_str(),
        "resources/read" => params.get("uri")?.as_str(),
        _ => None,
    }
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

    #[test]
    fn trace_context_survives_the_translation() {
        let mut m = json!({"params": {"_meta": {
            META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {},
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
            "tracestate": "a=b", "baggage": "k=v"}}})
        .as_object()
        .unwrap()
        .clone();
        strip_stateless_envelope(&mut m);
        assert_eq!(
            m["params"]["_meta"],
            json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
                   "tracestate": "a=b", "baggage": "k=v"})
        );
    }

    #[test]
    fn a_modern_request_names_what_it_lacks() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            missing_envelope_keys(&obj(json!({"method": "tools/list"}))),
            vec!["_meta"]
        );
        assert_eq!(
            missing_envelope_keys(&obj(
                json!({"params": {"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}}})
            )),
            vec![META_CLIENT_CAPABILITIES]
        );
        assert!(
            missing_envelope_keys(&obj(json!({"params": {"_meta": {
                META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}}}})))
            .is_empty()
        );
    }

    #[test]
    fn named_targets() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            named_target(&obj(
                json!({"method": "tools/call", "params": {"name": "echo"}})
            )),
            Some("echo")
        );
        assert_eq!(
            named_target(&obj(
                json!({"method": "resources/read", "params": {"uri": "file:///a"}})
            )),
            Some("file:///a")
        );
        assert_eq!(
            named_target(&obj(json!({"method": "tools/list", "params": {}}))),
            None
        );
    }
}
