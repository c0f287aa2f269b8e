//! Tool arguments mirrored into `Mcp-Param-{Name}` headers (2026-07-28, `x-mcp-header`).
//!
//! A server may mark arguments of a tool with `x-mcp-header` in its `inputSchema`; a client
//! then sends each such argument's value in a header too, so a gateway can route on it. Whoever
//! reads the body must check that both say the same. bridgedock learns the marked arguments
//! from the tool lists that pass through it ([`ToolHeaders`], one per server, filled by the
//! router, read by the HTTP face) and checks every `tools/call` of a listed tool.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use parking_lot::RwLock;
use serde_json::{Map, Value, json};

use crate::protocol::jsonrpc::RpcError;
use crate::protocol::mcp::HEADER_MISMATCH;

/// One argument mirrored into a header: `Mcp-Param-{header}` carries `arguments.{path}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamHeader {
    pub header: String,
    pub path: Vec<String>,
}

/// The mirrored arguments of each tool of one server, as its latest tool lists said.
#[derive(Clone, Default, Debug)]
pub struct ToolHeaders {
    inner: Arc<RwLock<HashMap<String, Vec<ParamHeader>>>>,
}

impl ToolHeaders {
    /// Takes in one page of a `tools/list` result.
    pub fn learn(&self, result: &Map<String, Value>) {
        let Some(tools) = result.get("tools").and_then(Value::as_array) else {
            return;
        };
        let mut map = self.inner.write();
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let mut found = Vec::new();
            if let Some(schema) = tool.get("inputSchema") {
                collect(schema, &mut Vec::new(), &mut found);
            }
            if found.is_empty() {
                map.remove(name);
            } else {
                map.insert(name.to_string(), found);
            }
        }
    }

    /// A new server process: what the last one listed no longer holds.
    pub fn forget(&self) {
        self.inner.write().clear();
    }

    pub fn of(&self, tool: &str) -> Option<Vec<ParamHeader>> {
        self.inner.read().get(tool).cloned()
    }
}

/// `x-mcp-header` marks reachable from the schema root through `properties` only (the spec:
/// not through arrays, composition, conditionals or `$ref`).
fn collect(schema: &Value, path: &mut Vec<String>, out: &mut Vec<ParamHeader>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, prop) in props {
        path.push(key.clone());
        if let Some(header) = prop.get("x-mcp-header").and_then(Value::as_str)
            && !header.is_empty()
            && header.bytes().all(is_tchar)
        {
            out.push(ParamHeader {
                header: header.to_ascii_lowercase(),
                path: path.clone(),
            });
        }
        collect(prop, path, out);
        path.pop();
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn mismatch(message: String) -> (StatusCode, RpcError) {
    (
        StatusCode::BAD_REQUEST,
        RpcError {
            code: HEADER_MISMATCH,
            message: format!("header mismatch: {message}"),
            data: None,
        },
    )
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its arguments, for a tool whose
/// mirrored arguments are `marks`.
pub fn check(
    headers: &HeaderMap,
    msg: &Map<String, Value>,
    marks: &[ParamHeader],
) -> Result<(), (StatusCode, RpcError)> {
    let arguments = msg
        .get("params")
        .and_then(|p| p.get("arguments"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    for mark in marks {
        let name = format!("mcp-param-{}", mark.header);
        let shown = format!("Mcp-Param-{}", mark.header);
        let at = mark
            .path
            .iter()
            .try_fold(&arguments, |v, k| v.get(k))
            .filter(|v| !v.is_null());
        let header = match headers.get(&name) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                mismatch(format!(
                    "the {shown} header has characters a header may not carry; send them as =?base64?…?="
                ))
            })?),
        };
        let field = format!("arguments.{}", mark.path.join("."));
        match (at, header) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(mismatch(format!(
                    "the {shown} header is set but {field} is not in the body"
                )));
            }
            (Some(_), None) => {
                return Err(mismatch(format!(
                    "{field} is in the body but the required {shown} header is absent (list the tools again: they mark it with x-mcp-header)"
                )));
            }
            (Some(value), Some(raw)) => {
                let Some(decoded) = super::headers::decode_value(raw) else {
                    return Err(mismatch(format!(
                        "the {shown} header {raw:?} is not valid =?base64?…?= encoding"
                    )));
                };
                if !same(value, &decoded) {
                    return Err(mismatch(format!(
                        "the {shown} header says {decoded:?} but {field} is {value}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A header value against the argument it mirrors: strings as they are, integers compared as
/// numbers (`42.0` is `42`), booleans as `true`/`false`.
fn same(value: &Value, header: &str) -> bool {
    match value {
        Value::String(s) => s == header,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => match (n.as_f64(), header.trim().parse::<f64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: Value) -> Map<String, Value> {
        json!({"method": "tools/call", "params": {"name": "execute_sql", "arguments": args}})
            .as_object()
            .unwrap()
            .clone()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn marked_arguments_are_learned_through_properties_only() {
        let tools = ToolHeaders::default();
        tools.learn(json!({"tools": [{"name": "execute_sql", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {"limit": {"type": "integer", "x-mcp-header": "Limit"}}},
            "list": {"type": "array", "items": {"properties": {"x": {"x-mcp-header": "X"}}}},
        }}}]}).as_object().unwrap());
        let marks = tools.of("execute_sql").unwrap();
        assert_eq!(marks.len(), 2, "{marks:?}");
        assert!(marks.contains(&ParamHeader {
            header: "region".into(),
            path: vec!["region".into()]
        }));
        assert!(marks.contains(&ParamHeader {
            header: "limit".into(),
            path: vec!["opts".into(), "limit".into()]
        }));
    }

    #[test]
    fn headers_must_mirror_the_arguments() {
        let marks = vec![
            ParamHeader {
                header: "region".into(),
                path: vec!["region".into()],
            },
            ParamHeader {
                header: "limit".into(),
                path: vec!["limit".into()],
            },
        ];
        let args = json!({"region": "us-west1", "limit": 42});
        assert!(
            check(
                &headers(&[
                    ("mcp-param-region", "us-west1"),
                    ("mcp-param-limit", "42.0")
                ]),
                &call(args.clone()),
                &marks
            )
            .is_ok()
        );
        for bad in [
            vec![("mcp-param-limit", "42")],
            vec![("mcp-param-region", "eu-west1"), ("mcp-param-limit", "42")],
            vec![("mcp-param-region", "us-west1"), ("mcp-param-limit", "41")],
            vec![
                ("mcp-param-region", "=?base64?%%?="),
                ("mcp-param-limit", "42"),
            ],
        ] {
            let (status, error) = check(&headers(&bad), &call(args.clone()), &marks).unwrap_err();
            assert_eq!(
                (status, error.code),
                (StatusCode::BAD_REQUEST, HEADER_MISMATCH),
                "{bad:?}"
            );
        }
        let (_, error) = check(
            &headers(&[("mcp-param-region", "x")]),
            &call(json!({})),
            &marks,
        )
        .unwrap_err();
        assert!(
            error.message.contains("not in the body"),
            "{}",
            error.message
        );
        assert!(
            check(
                &headers(&[("mcp-param-region", "=?base64?SGVsbG8sIOS4lueVjA==?=")]),
                &call(json!({"region": "Hello, 世界"})),
                &marks[..1]
            )
            .is_ok()
        );
        assert!(
            check(
                &headers(&[("mcp-param-other", "free")]),
                &call(json!({})),
                &marks
            )
            .is_ok(),
            "unknown headers pass"
        );
    }
}
