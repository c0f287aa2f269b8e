//! What a user pastes into their AI client to reach a server through bridgedock: the exact
//! command or JSON for Claude Code, Cursor, VS Code and Claude Desktop, token included.
//! The dock and `ctl config` both print these, from this one place.

use serde_json::json;

/// The clients bridgedock knows how to set up.
pub const CLIENTS: &[&str] = &["claude-code", "cursor", "vscode", "claude-desktop"];

/// The Streamable HTTP URL of a server, e.g. `http://127.0.0.1:7455/mcp/time`.
pub fn http_url(address: &str, server: &str) -> String {
    format!("http://{address}/mcp/{server}")
}

/// The snippet for `client`, or None for a client bridgedock does not know.
pub fn snippet(client: &str, server: &str, address: &str, token: &str) -> Option<String> {
    let url = http_url(address, server);
    let bearer = format!("Bearer {token}");
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    Some(match client {
        "claude-code" => format!(
            "claude mcp add --transport http {server} {url} --header \"Authorization: {bearer}\""
        ),
        "cursor" => format!(
            "// ~/.cursor/mcp.json (or .cursor/mcp.json in a project)\n{}",
            pretty(
                json!({"mcpServers": {server: {"url": url, "headers": {"Authorization": bearer}}}})
            )
        ),
        "vscode" => format!(
            "// .vscode/mcp.json\n{}",
            pretty(
                json!({"servers": {server: {"type": "http", "url": url, "headers": {"Authorization": bearer}}}})
            )
        ),
        // Claude Desktop's config file starts local commands only; mcp-remote carries the
        // connection over to bridgedock's HTTP endpoint.
        "claude-desktop" => format!(
            "// claude_desktop_config.json\n{}",
            pretty(json!({"mcpServers": {server: {
                "command": "npx",
                "args": ["-y", "mcp-remote", url, "--header", format!("Authorization: {bearer}")],
            }}}))
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_gets_its_own_form_with_the_token() {
        for c in CLIENTS {
            let s = snippet(c, "time", "127.0.0.1:7455", "T0K").unwrap();
            assert!(s.contains("http://127.0.0.1:7455/mcp/time"), "{c}: {s}");
            assert!(s.contains("Bearer T0K"), "{c}: {s}");
        }
        assert_eq!(
            snippet("claude-code", "time", "127.0.0.1:7455", "T").unwrap(),
            "claude mcp add --transport http time http://127.0.0.1:7455/mcp/time --header \"Authorization: Bearer T\""
        );
        assert!(snippet("emacs", "time", "a", "t").is_none());
    }
}
