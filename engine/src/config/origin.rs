//! Web origins as `allowed_origins` under [bridge] takes them: `scheme://host[:port]`, exactly
//! what a browser sends in its `Origin` header, and nothing else.
//!
//! Matching is exact, so a value that cannot match is refused here instead of being kept: a
//! trailing `/` or a path would silently never match, and a wildcard or `null` would open the
//! MCP endpoints to every page the user happens to visit. Each refusal says what was probably
//! meant.

/// Why a configured value is not an origin: `why` completes "… is not an origin: ", `fix`
/// says what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub struct NotAnOrigin {
    pub why: String,
    pub fix: String,
}

const EXAMPLE: &str = "http://localhost:6274";

/// `text` as a browser serializes an origin: scheme and host in lower case, and the default
/// port (80 for http, 443 for https) left out, since browsers never send it.
pub fn parse_origin(text: &str) -> Result<String, NotAnOrigin> {
    let s = text.trim();
    let refuse = |why: &str, fix: String| {
        Err(NotAnOrigin {
            why: why.to_owned(),
            fix,
        })
    };
    if s.is_empty() {
        return refuse(
            "it is empty",
            format!("write the origin of the page, e.g. \"{EXAMPLE}\""),
        );
    }
    if s.contains('*') {
        return refuse(
            "a wildcard would let every web page you visit use your MCP servers",
            format!("list each origin that may use them, e.g. allowed_origins = [\"{EXAMPLE}\"]"),
        );
    }
    if s.eq_ignore_ascii_case("null") {
        return refuse(
            "`null` is what sandboxed pages and local files send, so any page could claim it",
            "serve the MCP client from an http:// or https:// address and list that origin".into(),
        );
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        let host = s.split(['/', '?', '#']).next().unwrap_or(s);
        return refuse(
            "it has no scheme",
            format!(
                "write it with the scheme the page is served with: \"http://{host}\" (or https://)"
            ),
        );
    };
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return refuse(
            &format!("its scheme `{scheme}` is not one"),
            format!("use http:// or https://, e.g. \"{EXAMPLE}\""),
        );
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if let Some((_, host)) = authority.rsplit_once('@') {
        return refuse(
            "it has a user name",
            format!("write the origin alone, as browsers send it: \"{scheme}://{host}\""),
        );
    }
    if !path.is_empty() {
        return refuse(
            &format!("it has a path (`{path}`)"),
            format!("write the origin alone, as browsers send it: \"{scheme}://{authority}\""),
        );
    }
    // The port follows the last `:` outside an IPv6 address's brackets.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return refuse(
            "it has no host",
            format!("name the host the page is served from, e.g. \"{EXAMPLE}\""),
        );
    }
    let host = host.to_ascii_lowercase();
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return refuse(
                    &format!("its port `{p}` is not a port number (1 to 65535)"),
                    format!("e.g. \"{scheme}://{host}:6274\""),
                );
            }
        },
    };
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Ok(match port {
        Some(p) if Some(p) != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        for (given, kept) in [
            ("http://localhost:6274", "http://localhost:6274"),
            ("HTTP://LocalHost:6274", "http://localhost:6274"),
            (" https://inspector.example ", "https://inspector.example"),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("https://example.com:443", "https://example.com"),
            ("https://example.com:8443", "https://example.com:8443"),
            ("http://[::1]:6274", "http://[::1]:6274"),
            ("http://[::1]", "http://[::1]"),
            ("vscode-webview://abc123", "vscode-webview://abc123"),
        ] {
            assert_eq!(parse_origin(given).as_deref(), Ok(kept), "{given}");
        }
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_what_was_meant() {
        let why = |s: &str| parse_origin(s).unwrap_err();
        let e = why("http://localhost:6274/");
        assert_eq!(e.why, "it has a path (`/`)");
        assert!(e.fix.ends_with("\"http://localhost:6274\""), "{}", e.fix);
        let e = why("http://localhost:6274/mcp?x=1");
        assert_eq!(e.why, "it has a path (`/mcp?x=1`)");
        let e = why("localhost:6274");
        assert_eq!(e.why, "it has no scheme");
        assert!(e.fix.contains("\"http://localhost:6274\""), "{}", e.fix);
        let e = why("localhost:6274/mcp");
        assert!(e.fix.contains("\"http://localhost:6274\""), "{}", e.fix);
        assert!(why("*").why.contains("every web page"));
        assert!(why("http://*.example.com").why.contains("wildcard"));
        assert!(why("null").why.contains("sandboxed"));
        assert_eq!(why("").why, "it is empty");
        assert_eq!(why("http://").why, "it has no host");
        assert_eq!(why("http://:6274").why, "it has no host");
        assert!(why("http://localhost:99999").why.contains("`99999`"));
        assert!(why("http://localhost:0").why.contains("`0`"));
        assert!(why("http://localhost:+80").why.contains("`+80`"));
        assert_eq!(why("http://me@localhost").why, "it has a user name");
        assert!(why("1http://x").why.contains("scheme"));
    }
}
