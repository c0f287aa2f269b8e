//! Client capabilities: what bridgedock declares to a server on behalf of all its clients,
//! and whether one client can take a given server→client request.
//!
//! A server sees bridgedock as one client. So that every client sees the same full server (a
//! server may hide its sampling tools from a client without `sampling`), bridgedock declares
//! everything it can route: sampling, elicitation (form and URL) and roots. Each request the
//! server then sends goes only to a client that declared what that request needs — never to
//! one that did not, even when it is the only client connected.

use serde_json::{Value, json};

/// What bridgedock declares to every server, in its handshake and in its own modern requests.
pub fn bridge_capabilities() -> Value {
    json!({
        "roots": {"listChanged": true},
        "sampling": {},
        "elicitation": {"form": {}, "url": {}},
    })
}

/// The capability a server→client request needs, as a path into ClientCapabilities, e.g.
/// `["elicitation", "url"]` for a URL-mode elicitation. None for a request no capability gates.
pub fn required_for(method: &str, params: Option<&Value>) -> Option<Vec<&'static str>> {
    let param = |k: &str| params.and_then(|p| p.get(k));
    match method {
        "roots/list" => Some(vec!["roots"]),
        "sampling/createMessage" => {
            if param("tools").is_some() || param("toolChoice").is_some() {
                Some(vec!["sampling", "tools"])
            } else if param("includeContext")
                .and_then(Value::as_str)
                .is_some_and(|c| c != "none")
            {
                Some(vec!["sampling", "context"])
            } else {
                Some(vec!["sampling"])
            }
        }
        "elicitation/create" => match param("mode").and_then(Value::as_str) {
            Some("url") => Some(vec!["elicitation", "url"]),
            _ => Some(vec!["elicitation", "form"]),
        },
        _ => None,
    }
}

/// Whether `capabilities` (a client's ClientCapabilities) declare `path`. An empty
/// `elicitation: {}` means form mode, as the spec says for clients of earlier revisions.
pub fn declares(capabilities: Option<&Value>, path: &[&str]) -> bool {
    let Some(mut at) = capabilities else {
        return false;
    };
    for (i, key) in path.iter().enumerate() {
        match at.get(*key) {
            Some(next) if next.is_object() || next.as_bool() == Some(true) => at = next,
            _ => {
                let implicit_form = i == 1
                    && path[0] == "elicitation"
                    && *key == "form"
                    && at
                        .as_object()
                        .is_some_and(|o| !o.contains_key("form") && !o.contains_key("url"));
                return implicit_form;
            }
        }
    }
    true
}

/// The part of `required_for` a person reads in an error: `elicitation.url`.
pub fn describe(path: &[&str]) -> String {
    path.join(".")
}

/// `{"elicitation": {"url": {}}}` for `["elicitation", "url"]`: the `requiredCapabilities` of
/// a MissingRequiredClientCapability error.
pub fn as_capabilities(path: &[&str]) -> Value {
    path.iter()
        .rev()
        .fold(json!({}), |inner, key| json!({ *key: inner }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_needs_its_capability() {
        let caps = json!({"sampling": {}, "elicitation": {}});
        let need = |m: &str, p: Value| required_for(m, Some(&p)).unwrap();
        assert!(declares(
            Some(&caps),
            &need("sampling/createMessage", json!({}))
        ));
        assert!(!declares(
            Some(&caps),
            &need("sampling/createMessage", json!({"tools": []}))
        ));
        assert!(declares(
            Some(&caps),
            &need("elicitation/create", json!({"mode": "form"}))
        ));
        assert!(
            declares(Some(&caps), &need("elicitation/create", json!({}))),
            "an empty elicitation capability means form mode"
        );
        assert!(!declares(
            Some(&caps),
            &need("elicitation/create", json!({"mode": "url"}))
        ));
        assert!(!declares(Some(&caps), &need("roots/list", json!({}))));
        assert!(!declares(None, &need("roots/list", json!({}))));
        let url_only = json!({"elicitation": {"url": {}}});
        assert!(!declares(
            Some(&url_only),
            &need("elicitation/create", json!({"mode": "form"}))
        ));
        assert!(declares(
            Some(&bridge_capabilities()),
            &need("elicitation/create", json!({"mode": "url"}))
        ));
        assert_eq!(required_for("tools/list", None), None);
    }

    #[test]
    fn a_missing_capability_is_described_both_ways() {
        assert_eq!(describe(&["elicitation", "url"]), "elicitation.url");
        assert_eq!(
            as_capabilities(&["elicitation", "url"]),
            json!({"elicitation": {"url": {}}})
        );
    }
}
