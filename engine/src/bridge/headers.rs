//! The request headers of Streamable HTTP in the 2026-07-28 revision, checked against the body
//! as that revision requires of anyone who reads the body: `MCP-Protocol-Version` (equal to the
//! `_meta` revision), `Mcp-Method` (equal to `method`) and `Mcp-Name` (equal to `params.name`
//! or `params.uri` of `tools/call`, `prompts/get`, `resources/read`; Base64 sentinel
//! `=?base64?…?=` decoded first). A disagreement is `400` with `HeaderMismatch` (-32020): a
//! gateway in front of bridgedock may route on a header while the server acts on the body.
//!
//! `Mcp-Param-*` headers (mirrored tool arguments) are passed by: bridgedock does not route on
//! them, and what the server behind does with a tool's arguments it reads from the body.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::protocol::jsonrpc::{INVALID_PARAMS, RpcError};
use crate::protocol::mcp::{self, HEADER_MISMATCH, SUPPORTED_REVISIONS};

pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";

const SENTINEL_START: &str = "=?base64?";
const SENTINEL_END: &str = "?=";

/// A refusal: the HTTP status and the JSON-RPC error to send with the request's id.
pub type Refusal = (StatusCode, RpcError);

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            mismatch(
                format!("the {name} header is not visible ASCII; encode it as =?base64?…?="),
                "(not text)",
                "",
            )
        }),
    }
}

fn mismatch(message: String, header: &str, body: &str) -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        RpcError {
            code: HEADER_MISMATCH,
            message: format!("header mismatch: {message}"),
            data: Some(json!({"mismatch": {"header": header, "body": body}})),
        },
    )
}

/// Decodes a header value that may use the Base64 sentinel encoding.
pub fn decode_value(raw: &str) -> Option<String> {
    match raw
        .strip_prefix(SENTINEL_START)
        .and_then(|r| r.strip_suffix(SENTINEL_END))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(raw.to_string()),
    }
}

/// Whether the request speaks the modern revision, by its header or its `_meta`.
pub fn is_modern_request(headers: &HeaderMap, msg: &Map<String, Value>) -> bool {
    let by_header = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(mcp::is_modern);
    by_header || mcp::declared_revision(msg).is_some_and(mcp::is_modern)
}

/// Checks a modern request's headers against its body.
pub fn check_modern(headers: &HeaderMap, msg: &Map<String, Value>) -> Result<(), Refusal> {
    let is_request = msg.contains_key("id") && msg.contains_key("method");
    let header_version = header(headers, PROTOCOL_HEADER)?;
    let body_version = mcp::declared_revision(msg);
    // The header and the body must agree before either is believed.
    if is_request {
        match (header_version, body_version) {
            (None, Some(body)) => {
                return Err(mismatch(
                    format!(
                        "the body's _meta names protocol version {body} but the required MCP-Protocol-Version header is absent"
                    ),
                    "(missing)",
                    body,
                ));
            }
            (Some(h), Some(body)) if h != body => {
                return Err(mismatch(
                    format!(
                        "the MCP-Protocol-Version header says {h} but the body's _meta names {body}"
                    ),
                    h,
                    body,
                ));
            }
            _ => {}
        }
    }
    for v in [header_version, body_version].into_iter().flatten() {
        if !SUPPORTED_REVISIONS.contains(&v) {
            return Err((
                StatusCode::BAD_REQUEST,
                RpcError {
                    code: mcp::UNSUPPORTED_PROTOCOL_VERSION,
                    message: format!(
                        "unsupported protocol version \"{v}\"; supported: {}",
                        SUPPORTED_REVISIONS.join(", ")
                    ),
                    data: Some(json!({"supported": SUPPORTED_REVISIONS, "requested": v})),
                },
            ));
        }
    }
    if !is_request {
        // This revision defines no header rules for notifications (cancellation is the
        // closing of a stream): they are taken as they come.
        return Ok(());
    }
    if let (Some(h), None) = (header_version, body_version) {
        let missing = mcp::missing_envelope_keys(msg);
        return Err((
            StatusCode::BAD_REQUEST,
            RpcError {
                code: INVALID_PARAMS,
                message: format!(
                    "invalid params: the MCP-Protocol-Version header names {h}, but the request lacks {}",
                    mcp::describe_missing(&missing)
                ),
                data: Some(json!({"envelope": {"missing": missing}})),
            },
        ));
    }
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    match header(headers, METHOD_HEADER)? {
        None => {
            return Err(mismatch(
                format!(
                    "the body names method {method} but the required Mcp-Method header is absent"
                ),
                "(missing)",
                method,
            ));
        }
        Some(h) if h != method => {
            return Err(mismatch(
                format!("the Mcp-Method header says {h} but the body names method {method}"),
                h,
                method,
            ));
        }
        _ => {}
    }
    if let Some(name) = mcp::named_target(msg) {
        let field = if method == "resources/read" {
            "params.uri"
        } else {
            "params.name"
        };
        match header(headers, NAME_HEADER)? {
            None => {
                return Err(mismatch(
                    format!(
                        "the body has {field} {name:?} but the required Mcp-Name header is absent"
                    ),
                    "(missing)",
                    name,
                ));
            }
            Some(raw) => match decode_value(raw) {
                None => {
                    return Err(mismatch(
                        format!("the Mcp-Name header {raw:?} is not valid =?base64?…?= encoding"),
                        raw,
                        name,
                    ));
                }
                Some(decoded) if decoded != name => {
                    return Err(mismatch(
                        format!(
                            "the Mcp-Name header says {decoded:?} but the body has {field} {name:?}"
                        ),
                        &decoded,
                        name,
                    ));
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// The headers bridgedock sends when it speaks the modern revision to a server over HTTP:
/// `MCP-Protocol-Version`, `Mcp-Method`, and `Mcp-Name` where the body names something (in
/// the Base64 sentinel form when the value is not plain visible ASCII).
pub fn for_request(msg: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(v) = mcp::declared_revision(msg) {
        out.push((PROTOCOL_HEADER, v.to_string()));
    }
    if let Some(m) = msg.get("method").and_then(Value::as_str) {
        out.push((METHOD_HEADER, m.to_string()));
    }
    if let Some(name) = mcp::named_target(msg) {
        out.push((NAME_HEADER, encode_value(name)));
    }
    out
}

/// A header value as the revision asks: plain when it is visible ASCII without edge spaces
/// and does not look like the sentinel, else `=?base64?…?=`.
pub fn encode_value(value: &str) -> String {
    let plain = value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
        && value.trim() == value
        && !(value.starts_with(SENTINEL_START) && value.ends_with(SENTINEL_END));
    if plain {
        value.to_string()
    } else {
        format!(
            "{SENTINEL_START}{}{SENTINEL_END}",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn call(name: &str) -> Map<String, Value> {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name,
            "_meta": {mcp::META_PROTOCOL_VERSION: "2026-07-28", mcp::META_CLIENT_CAPABILITIES: {}}}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn headers_that_agree_with_the_body_pass() {
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ]);
        assert!(check_modern(&h, &call("echo")).is_ok());
        let encoded = encode_value("Hello, 世界");
        assert_eq!(encoded, "=?base64?SGVsbG8sIOS4lueVjA==?=");
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", &encoded),
        ]);
        assert!(check_modern(&h, &call("Hello, 世界")).is_ok());
    }

    #[test]
    fn every_disagreement_is_a_header_mismatch() {
        let cases: Vec<(Vec<(&'static str, &str)>, &str)> = vec![
            (
                vec![("mcp-method", "tools/call"), ("mcp-name", "echo")],
                "MCP-Protocol-Version header is absent",
            ),
            (
                vec![("mcp-protocol-version", "2026-07-28"), ("mcp-name", "echo")],
                "Mcp-Method header is absent",
            ),
            (
                vec![
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/list"),
                    ("mcp-name", "echo"),
                ],
                "says tools/list",
            ),
            (
                vec![
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                ],
                "Mcp-Name header is absent",
            ),
            (
                vec![
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "slow"),
                ],
                "says \"slow\"",
            ),
            (
                vec![
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "=?base64?!!?="),
                ],
                "not valid",
            ),
        ];
        for (pairs, words) in cases {
            let (status, error) = check_modern(&headers(&pairs), &call("echo")).unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(error.code, HEADER_MISMATCH, "{pairs:?}");
            assert!(error.message.contains(words), "{}", error.message);
        }
    }

    #[test]
    fn a_modern_header_without_the_envelope_is_invalid_params() {
        let msg = json!({"jsonrpc": "2.0", "id": 19, "method": "tools/list"});
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ]);
        let (status, error) = check_modern(&h, msg.as_object().unwrap()).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, INVALID_PARAMS);
        assert_eq!(error.data.unwrap()["envelope"]["missing"], json!(["_meta"]));
    }

    #[test]
    fn sentinel_values_round_trip() {
        for v in ["us-west1", " padded ", "line1\nline2", "=?base64?literal?="] {
            assert_eq!(decode_value(&encode_value(v)).as_deref(), Some(v));
        }
        assert_eq!(encode_value("us-west1"), "us-west1");
    }
}
