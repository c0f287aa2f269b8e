//! The JSON-RPC envelope: `parse_request` (control socket), `parse_message` (the bridge's full
//! path), `RawEnvelope` and `FastRequest` (the bridge's fast path, which reads only the
//! top level and copies params through unparsed).
//!
//! Properties:
//! - every refusal carries -32700 or -32600 and an answer id that is null, a string or a
//!   number, and the error reply built from it is itself a valid JSON-RPC message;
//! - anything accepted re-serializes to valid JSON that means the same and is accepted again;
//! - an id put back into a reply comes out as the client wrote it: a number with the exact
//!   same digits, a string with the same value;
//! - the fast path never accepts what the full path refuses, and when it accepts, it agrees
//!   with the full path on id, method and params, and the request is one the router has no
//!   reason to look inside (no `params._meta`, not a method it handles itself).

use bridgedock_engine::bridge::router::{FastRequest, ROUTER_METHODS};
use bridgedock_engine::protocol::jsonrpc::{
    self, INVALID_REQUEST, PARSE_ERROR, RawEnvelope, RpcError,
};
use serde_json::{Map, Value};

pub fn check(text: &str) {
    check_parse_request(text);
    let full = check_parse_message(text);
    check_raw_envelope(text);
    check_fast_path(text, full.as_ref());
}

fn check_refusal(text: &str, id: &Value, error: &RpcError) {
    assert!(
        error.code == PARSE_ERROR || error.code == INVALID_REQUEST,
        "refusal with an unexpected code {} for {text:?}",
        error.code
    );
    assert!(!error.message.is_empty(), "refusal without a message");
    assert!(
        matches!(id, Value::Null | Value::String(_) | Value::Number(_)),
        "refusal answers with id {id}, which is not null, a string or a number"
    );
    let reply = jsonrpc::error_response(id.clone(), error.clone()).to_string();
    if let Err((_, e)) = jsonrpc::parse_message(&reply) {
        panic!(
            "the error reply {reply} is not a valid JSON-RPC message: {}",
            e.message
        );
    }
    // The id the refusal names must be the id the client sent, exactly.
    if !id.is_null() {
        let sent = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("id").cloned());
        assert_eq!(
            sent.as_ref(),
            Some(id),
            "refusal names another id than sent"
        );
    }
}

fn check_parse_request(text: &str) {
    match jsonrpc::parse_request(text) {
        Ok(req) => {
            assert!(!req.method.is_empty(), "accepted an empty method");
            assert!(
                req.params.is_object() || req.params.is_array(),
                "accepted params that are neither object nor array"
            );
            if let Some(id) = &req.id {
                assert!(
                    matches!(id, Value::Null | Value::String(_) | Value::Number(_)),
                    "accepted id {id}"
                );
                // JSON-RPC allows a null id; there is nothing to restore (and RawEnvelope
                // reads a null field as absent).
                if !id.is_null() {
                    check_id_round_trip(text, id);
                }
            }
        }
        Err((id, error)) => check_refusal(text, &id, &error),
    }
}

fn check_parse_message(text: &str) -> Option<Map<String, Value>> {
    match jsonrpc::parse_message(text) {
        Ok(obj) => {
            let again = Value::Object(obj.clone()).to_string();
            let back: Value = serde_json::from_str(&again).unwrap_or_else(|e| {
                panic!("an accepted message re-serializes to invalid JSON ({e}): {again}")
            });
            assert_eq!(
                back,
                Value::Object(obj.clone()),
                "re-serialized message means something else"
            );
            if let Err((_, e)) = jsonrpc::parse_message(&again) {
                panic!("accepted, re-serialized, refused ({}): {again}", e.message);
            }
            if let Some(id @ (Value::String(_) | Value::Number(_))) = obj.get("id") {
                check_id_round_trip(text, id);
            }
            Some(obj)
        }
        Err((id, error)) => {
            check_refusal(text, &id, &error);
            None
        }
    }
}

/// The router keeps a client's id as a `Value` and writes it back into the answer: the
/// answer must carry the id as the client wrote it.
fn check_id_round_trip(text: &str, id: &Value) {
    let reply = jsonrpc::response(id.clone(), Value::Null).to_string();
    let fast_reply = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{}}}}");
    for reply in [reply, fast_reply] {
        let env = RawEnvelope::parse(&reply)
            .unwrap_or_else(|| panic!("a reply to id {id} is not one JSON object: {reply}"));
        let back = env.id.map(|raw| raw.get()).unwrap_or("");
        match id {
            Value::Number(_) => {
                // arbitrary_precision keeps a number's digits: an integer comes back byte for
                // byte; other numbers may only change how their exponent is spelled
                // (`1.5E3` → `1.5e+3`), never their digits or value.
                if let Some(sent) = sent_id_text(text) {
                    assert_same_number(back, sent);
                }
            }
            _ => {
                let value: Value = serde_json::from_str(back)
                    .unwrap_or_else(|e| panic!("id in reply is not JSON ({e}): {back}"));
                assert_eq!(&value, id, "string id came back as another value");
            }
        }
    }
}

fn assert_same_number(back: &str, sent: &str) {
    let integer = sent
        .trim_start_matches('-')
        .bytes()
        .all(|b| b.is_ascii_digit());
    if integer {
        assert_eq!(back, sent, "integer id came back with other digits");
    } else {
        // One spelling of the exponent: `e`, and no `+`.
        let spelled = |n: &str| n.to_ascii_lowercase().replace("e+", "e");
        assert_eq!(
            spelled(back),
            spelled(sent),
            "number id {sent} came back as another number {back}"
        );
    }
}

/// The id's text as it appears in the message, when the message has one top-level `id`.
fn sent_id_text(text: &str) -> Option<&str> {
    RawEnvelope::parse(text)?.id.map(|raw| raw.get())
}

fn check_raw_envelope(text: &str) {
    let Some(env) = RawEnvelope::parse(text) else {
        return;
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        // serde_json checks surrogate escapes (`\ud800`) only where it decodes a string, not
        // in values it skips or keeps raw; that leniency is serde_json's. It must not reach
        // the router (see check_fast_path), but anything else here is a real refusal.
        Err(e) => {
            assert!(
                has_surrogate_escape(text),
                "RawEnvelope took text that is not JSON ({e})"
            );
            return;
        }
    };
    assert!(value.is_object(), "RawEnvelope took a non-object");
    for raw in [
        env.jsonrpc,
        env.id,
        env.method,
        env.params,
        env.result,
        env.error,
    ]
    .into_iter()
    .flatten()
    {
        if let Err(e) = serde_json::from_str::<Value>(raw.get()) {
            panic!(
                "a top-level field is not JSON on its own ({e}): {}",
                raw.get()
            );
        }
    }
    if let Some(method) = env.method_str() {
        assert!(!method.is_empty(), "method_str gave an empty method");
        assert_eq!(
            value.get("method"),
            Some(&Value::String(method.to_string())),
            "method_str disagrees with the parsed method"
        );
    }
    if let Some(id) = env.id_value() {
        assert!(id.is_string() || id.is_number(), "id_value gave {id}");
        assert_eq!(
            value.get("id"),
            Some(&id),
            "id_value disagrees with the parsed id"
        );
        if id.is_number() {
            assert_same_number(&id.to_string(), env.id.map(|r| r.get()).unwrap_or(""));
        }
    }
    if env.is_v2() {
        assert_eq!(value.get("jsonrpc"), Some(&Value::String("2.0".into())));
    }
}

fn has_surrogate_escape(text: &str) -> bool {
    text.to_ascii_lowercase().contains("\\ud")
}

fn check_fast_path(text: &str, full: Option<&Map<String, Value>>) {
    let Some(fast) = FastRequest::read(text) else {
        return;
    };
    let Some(full) = full else {
        panic!("the fast path took a message the full path refuses: {text:?}");
    };
    assert_eq!(
        full.get("method").and_then(Value::as_str),
        Some(fast.method.as_str()),
        "fast and full paths read different methods"
    );
    assert!(
        !ROUTER_METHODS.contains(&fast.method.as_str()),
        "the fast path took `{}`, which the router must see whole",
        fast.method
    );
    assert_eq!(
        full.get("id"),
        Some(&fast.id),
        "fast and full paths read different ids"
    );
    assert!(fast.id.is_string() || fast.id.is_number());
    let fast_params = fast.params.as_deref().map(|p| {
        serde_json::from_str::<Value>(p)
            .unwrap_or_else(|e| panic!("fast-path params are not JSON ({e}): {p}"))
    });
    assert_eq!(
        fast_params.as_ref(),
        full.get("params"),
        "fast and full paths read different params"
    );
    let meta = full.get("params").and_then(|p| p.get("_meta"));
    assert!(
        meta.is_none(),
        "the fast path took a request with params._meta ({}), which the router must rewrite (progress token) or translate (revision envelope): {text:?}",
        meta.map(Value::to_string).unwrap_or_default()
    );
}
