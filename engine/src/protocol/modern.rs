//! The shapes the modern revision (2026-07-28) gives results, and the translation between a
//! legacy server's handshake answer and a modern server's `server/discover` answer — so a
//! client of either era gets from bridgedock exactly what a native server of its era would send,
//! whatever era the server behind it speaks.

use serde_json::{Map, Value, json};

use super::mcp::{
    CACHEABLE_METHODS, LATEST_HANDSHAKE_REVISION, META_SERVER_INFO, SUPPORTED_REVISIONS,
};

/// The freshness hint on cacheable results of a legacy server (which has none of its own).
/// Zero — "stale at once, ask again when you need it" — is the one value that is always true
/// through a bridge: the server behind may be restarted or upgraded from the dock at any
/// moment, and a server that announces `listChanged` may change a list whenever it likes.
/// Clients that want to avoid refetching listen (`subscriptions/listen`) and are told of every
/// change, restarts included. A modern server's own hints pass through untouched.
pub const BRIDGE_TTL_MS: u64 = 0;
/// Private: bridgedock serves one person's servers behind their token, and never knows
/// whether a list or a resource depends on that person's environment, so no shared cache may
/// keep what it answers.
pub const BRIDGE_CACHE_SCOPE: &str = "private";

/// Completes a result for a modern client: `resultType` (absent means complete, in every
/// earlier revision), the caching hints of cacheable results, and the server's identity in
/// `_meta`. What the result already has is kept.
pub fn complete_result(method: &str, result: &mut Map<String, Value>, server_info: Option<&Value>) {
    result
        .entry("resultType")
        .or_insert_with(|| Value::String("complete".into()));
    let complete = result.get("resultType").and_then(Value::as_str) == Some("complete");
    if complete && CACHEABLE_METHODS.contains(&method) {
        result
            .entry("ttlMs")
            .or_insert_with(|| Value::from(BRIDGE_TTL_MS));
        result
            .entry("cacheScope")
            .or_insert_with(|| Value::String(BRIDGE_CACHE_SCOPE.into()));
    }
    if let Some(info) = server_info.filter(|i| i.is_object()) {
        let meta = result
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(META_SERVER_INFO).or_insert_with(|| info.clone());
        }
    }
}

/// Removes from a result what only the 2026-07-28 revision has (`resultType: "complete"`, the
/// caching hints, the server's identity in `_meta`), for a client of an earlier revision.
pub fn strip_modern_fields(result: &mut Map<String, Value>) {
    if result.get("resultType").and_then(Value::as_str) == Some("complete") {
        result.remove("resultType");
    }
    result.remove("ttlMs");
    result.remove("cacheScope");
    if let Some(meta) = result.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove(META_SERVER_INFO);
        if meta.is_empty() {
            result.remove("_meta");
        }
    }
}

/// A legacy server's `initialize` answer, as the `server/discover` answer a modern client gets
/// from bridgedock: every revision bridgedock serves, the server's capabilities and
/// instructions, its identity in `_meta`.
pub fn discover_from_initialize(init: &Value) -> Value {
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": SUPPORTED_REVISIONS,
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "ttlMs": BRIDGE_TTL_MS,
        "cacheScope": BRIDGE_CACHE_SCOPE,
    });
    if let Some(info) = init.get("serverInfo") {
        result["_meta"] = json!({ META_SERVER_INFO: info });
    }
    if let Some(instructions) = init.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    result
}

/// A modern server's `server/discover` answer as it goes to a modern client through
/// bridgedock: the same, except that bridgedock serves every revision it knows.
pub fn discover_through_bridge(discover: &Value) -> Value {
    let mut result = discover.clone();
    if let Some(obj) = result.as_object_mut() {
        obj.insert("supportedVersions".into(), json!(SUPPORTED_REVISIONS));
        complete_result("server/discover", obj, None);
    }
    result
}

/// A modern server's `server/discover` answer, as the `initialize` answer a legacy client gets
/// from bridgedock, in the revision that client asked for when bridgedock speaks it.
pub fn initialize_from_discover(discover: &Value, requested: Option<&str>) -> Value {
    let revision = requested
        .filter(|r| SUPPORTED_REVISIONS.contains(r) && !super::mcp::is_modern(r))
        .unwrap_or(LATEST_HANDSHAKE_REVISION);
    let mut init = json!({
        "protocolVersion": revision,
        "capabilities": discover.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info_of_discover(discover).unwrap_or_else(|| json!({"name": "", "version": ""})),
    });
    if let Some(instructions) = discover.get("instructions") {
        init["instructions"] = instructions.clone();
    }
    init
}

/// The server's identity in a discover answer: `_meta.serverInfo` (the released revision), or
/// a top-level `serverInfo` (drafts before it).
pub fn server_info_of_discover(discover: &Value) -> Option<Value> {
    discover
        .get("_meta")
        .and_then(|m| m.get(META_SERVER_INFO))
        .or_else(|| discover.get("serverInfo"))
        .cloned()
}

/// Whether a discover answer shows a modern server bridgedock can speak to.
pub fn is_usable_discover(result: &Value) -> bool {
    result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .is_some_and(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .any(super::mcp::is_modern)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_legacy_list_gets_every_field_a_modern_client_requires() {
        let mut r = obj(json!({"tools": []}));
        complete_result(
            "tools/list",
            &mut r,
            Some(&json!({"name": "s", "version": "1"})),
        );
        assert_eq!(
            Value::Object(r),
            json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private",
                   "_meta": {META_SERVER_INFO: {"name": "s", "version": "1"}}})
        );
        let mut call = obj(json!({"content": []}));
        complete_result("tools/call", &mut call, None);
        assert_eq!(
            Value::Object(call),
            json!({"content": [], "resultType": "complete"})
        );
    }

    #[test]
    fn a_modern_servers_own_hints_and_identity_are_kept() {
        let mut r = obj(
            json!({"tools": [], "resultType": "complete", "ttlMs": 60000,
            "cacheScope": "public", "_meta": {META_SERVER_INFO: {"name": "own"}}}),
        );
        complete_result("tools/list", &mut r, Some(&json!({"name": "other"})));
        assert_eq!(r["ttlMs"], 60000);
        assert_eq!(r["cacheScope"], "public");
        assert_eq!(r["_meta"][META_SERVER_INFO]["name"], "own");
        let mut ask = obj(json!({"resultType": "input_required", "requestState": "s"}));
        complete_result("resources/read", &mut ask, None);
        assert!(
            ask.get("ttlMs").is_none(),
            "interim results carry no caching hints"
        );
    }

    #[test]
    fn a_handshake_era_client_gets_no_fields_of_the_later_revision() {
        let mut r = obj(
            json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private",
            "_meta": {META_SERVER_INFO: {"name": "m"}, "other": 1}}),
        );
        strip_modern_fields(&mut r);
        assert_eq!(
            Value::Object(r),
            json!({"tools": [], "_meta": {"other": 1}})
        );
    }

    #[test]
    fn handshake_and_discover_translate_both_ways() {
        let init = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "s", "version": "1"}, "instructions": "be kind"});
        let d = discover_from_initialize(&init);
        assert_eq!(d["_meta"][META_SERVER_INFO], init["serverInfo"]);
        assert_eq!(d["capabilities"], init["capabilities"]);
        assert_eq!(d["instructions"], "be kind");
        assert!(is_usable_discover(&d));
        assert!(d.get("serverInfo").is_none());
        let back = initialize_from_discover(&d, Some("2025-06-18"));
        assert_eq!(back["protocolVersion"], "2025-06-18");
        assert_eq!(back["serverInfo"], init["serverInfo"]);
        assert_eq!(
            initialize_from_discover(&d, Some("1999-01-01"))["protocolVersion"],
            LATEST_HANDSHAKE_REVISION
        );
        assert!(!is_usable_discover(
            &json!({"supportedVersions": ["2025-11-25"]})
        ));
    }
}
