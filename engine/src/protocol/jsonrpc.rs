//! JSON-RPC 2.0: parsing one message into a request or a clear error, and the error codes
//! bridgedock uses everywhere (the control socket now, the bridge later).
//!
//! A bad message never ends a connection: it gets an error reply naming what was wrong.

use serde::Serialize;
use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Something inside bridgedock (or a server behind it) failed.
pub const BRIDGE_INTERNAL: i64 = -32001;
/// The server is unreachable: exited, restarting, or bridgedock is shutting down.
pub const SERVER_UNREACHABLE: i64 = -32002;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A request (with an id) or a notification (without).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    pub params: Value,
}

/// Parses one message. On failure returns the id to answer with (null when unknown) and the error.
pub fn parse_request(text: &str) -> Result<Request, (Value, RpcError)> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            RpcError::new(PARSE_ERROR, format!("parse error: not valid JSON ({e})")),
        )
    })?;
    let Value::Object(mut obj) = value else {
        let what = if value.is_array() {
            "batches are not supported: send one JSON-RPC object per line"
        } else {
            "a JSON-RPC message must be a JSON object"
        };
        return Err((Value::Null, RpcError::new(INVALID_REQUEST, what)));
    };
    let id = obj.remove("id");
    let answer_id = match &id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    let invalid = |msg: &str| (answer_id.clone(), RpcError::new(INVALID_REQUEST, msg));
    if let Some(bad) = &id
        && !matches!(bad, Value::String(_) | Value::Number(_) | Value::Null)
    {
        return Err(invalid(
            "invalid request: `id` must be a string or a number",
        ));
    }
    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        _ => return Err(invalid("invalid request: `jsonrpc` must be \"2.0\"")),
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) if !m.is_empty() => m,
        Some(_) => {
            return Err(invalid(
                "invalid request: `method` must be a non-empty string",
            ));
        }
        None => return Err(invalid("invalid request: `method` is missing")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ (Value::Object(_) | Value::Array(_))) => p,
        Some(_) => {
            return Err(invalid(
                "invalid request: `params` must be an object or an array",
            ));
        }
    };
    Ok(Request { id, method, params })
}

/// Validates one JSON-RPC 2.0 message of any kind — request, notification or response — and
/// returns it as an object. Batches (arrays) are refused: MCP has had none since 2025-06-18.
pub fn parse_message(text: &str) -> Result<Map<String, Value>, (Value, RpcError)> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            RpcError::new(PARSE_ERROR, format!("parse error: not valid JSON ({e})")),
        )
    })?;
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err((
                Value::Null,
                RpcError::new(
                    INVALID_REQUEST,
                    "invalid request: JSON-RPC batches are not supported by MCP (since 2025-06-18): send one message per frame",
                ),
            ));
        }
        _ => {
            return Err((
                Value::Null,
                RpcError::new(
                    INVALID_REQUEST,
                    "invalid request: a JSON-RPC message must be a JSON object",
                ),
            ));
        }
    };
    let answer_id = match obj.get("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    let invalid = |msg: String| Err((answer_id.clone(), RpcError::new(INVALID_REQUEST, msg)));
    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => {
            return invalid(format!(
                "invalid request: `jsonrpc` must be \"2.0\", found {other}"
            ));
        }
        None => return invalid("invalid request: `jsonrpc` is missing (must be \"2.0\")".into()),
    }
    match obj.get("id") {
        None | Some(Value::String(_) | Value::Number(_)) => {}
        Some(Value::Null) if obj.contains_key("error") => {}
        Some(other) => {
            return invalid(format!(
                "invalid request: `id` must be a string or a number, found {other}"
            ));
        }
    }
    match obj.get("method") {
        Some(Value::String(m)) if !m.is_empty() => match obj.get("params") {
            None | Some(Value::Object(_) | Value::Array(_)) => {}
            Some(other) => {
                return invalid(format!(
                    "invalid request: `params` must be an object or an array, found {other}"
                ));
            }
        },
        Some(other) => {
            return invalid(format!(
                "invalid request: `method` must be a non-empty string, found {other}"
            ));
        }
        None => {
            let is_response = obj.contains_key("result") || obj.contains_key("error");
            if !is_response {
                return invalid("invalid request: no `method` (a request or notification) and no `result`/`error` (a response)".into());
            }
            if !obj.contains_key("id") {
                return invalid("invalid response: `id` is missing".into());
            }
        }
    }
    Ok(obj)
}

/// A message's top-level fields, borrowed from its text and not parsed further: the fast path
/// reads the envelope, swaps the id, and copies params or results through untouched.
#[derive(Debug, serde::Deserialize)]
pub struct RawEnvelope<'a> {
    #[serde(borrow)]
    pub jsonrpc: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub method: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub params: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub result: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub error: Option<&'a serde_json::value::RawValue>,
}

impl<'a> RawEnvelope<'a> {
    /// None when the text is not a single JSON object with distinct top-level keys.
    pub fn parse(text: &'a str) -> Option<Self> {
        // A derived struct also reads a JSON array, field by field in order: a six-item array
        // is not an envelope (MCP has no batches), and must not pass for one.
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    pub fn is_v2(&self) -> bool {
        self.jsonrpc.is_some_and(|v| v.get() == "\"2.0\"")
    }

    /// The method, when it is a plain string (no escapes).
    pub fn method_str(&self) -> Option<&'a str> {
        let raw = self.method?.get();
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.is_empty() && !inner.contains('\\')).then_some(inner)
    }

    /// The id, when it is a string or a number.
    pub fn id_value(&self) -> Option<Value> {
        let raw = self.id?.get();
        match raw.as_bytes().first()? {
            b'"' | b'-' | b'0'..=b'9' => serde_json::from_str(raw).ok(),
            _ => None,
        }
    }
}

pub fn response(id: Value, result: impl Serialize) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error_response(id: Value, error: RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

pub fn notification(method: &str, params: impl Serialize) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_messages_get_named_errors() {
        let cases = [
            ("{", PARSE_ERROR, Value::Null),
            ("[1]", INVALID_REQUEST, Value::Null),
            ("42", INVALID_REQUEST, Value::Null),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
                INVALID_REQUEST,
                json!(1),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":7}"#,
                INVALID_REQUEST,
                json!("a"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"method":"x","params":3}"#,
                INVALID_REQUEST,
                json!(2),
            ),
        ];
        for (text, code, id) in cases {
            let (got_id, err) = parse_request(text).unwrap_err();
            assert_eq!(err.code, code, "{text}");
            assert_eq!(got_id, id, "{text}");
        }
    }

    #[test]
    fn messages_of_every_kind_are_classified() {
        assert!(parse_message(r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#).is_ok());
        assert!(parse_message(r#"{"jsonrpc":"2.0","method":"n"}"#).is_ok());
        assert!(parse_message(r#"{"jsonrpc":"2.0","id":"s","result":{}}"#).is_ok());
        assert!(
            parse_message(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}"#)
                .is_ok()
        );
        let cases = [
            ("nope", PARSE_ERROR),
            ("[]", INVALID_REQUEST),
            ("\"s\"", INVALID_REQUEST),
            (r#"{"id":1,"method":"x"}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":""}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"p"}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","result":{}}"#, INVALID_REQUEST),
        ];
        for (text, code) in cases {
            assert_eq!(parse_message(text).unwrap_err().1.code, code, "{text}");
        }
    }

    #[test]
    fn the_raw_envelope_reads_only_the_top_level() {
        let text =
            r#"{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"x":[1,{"y":2}]}}"#;
        let env = RawEnvelope::parse(text).unwrap();
        assert!(env.is_v2());
        assert_eq!(env.method_str(), Some("tools/call"));
        assert_eq!(env.id_value(), Some(json!("a\"b")));
        assert_eq!(env.params.unwrap().get(), r#"{"x":[1,{"y":2}]}"#);
        let big = RawEnvelope::parse(
            r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"result":{}}"#,
        )
        .unwrap();
        assert_eq!(
            big.id_value().unwrap().to_string(),
            "123456789012345678901234567890"
        );
        assert!(RawEnvelope::parse("[1]").is_none());
        // Found by the envelope fuzz target: serde reads a struct from an array too.
        assert!(RawEnvelope::parse(r#"["2.0",1,"tools/call",{},null,null]"#).is_none());
        assert!(RawEnvelope::parse(r#" ["2.0",1,null,null,{},null]"#).is_none());
        assert!(RawEnvelope::parse("\r\n {\"jsonrpc\":\"2.0\"}").is_some());
        assert!(RawEnvelope::parse(r#"{"id":1,"id":2}"#).is_none());
    }

    #[test]
    fn requests_and_notifications_parse() {
        let r = parse_request(r#"{"jsonrpc":"2.0","id":12345678901234567890,"method":"status"}"#)
            .unwrap();
        assert_eq!(r.method, "status");
        assert!(r.id.is_some());
        let n = parse_request(r#"{"jsonrpc":"2.0","method":"ping"}"#).unwrap();
        assert_eq!(n.id, None);
    }
}
