//! The `mcpServers` JSON that MCP clients already keep (Claude Desktop, Cursor, Cline:
//! `{"mcpServers": {...}}`; VS Code's `.vscode/mcp.json`: `{"servers": {...}}`), read into a
//! [`Config`] so bridgedock can take over an existing setup.
//!
//! These files belong to other tools, so reading is lenient where bridgedock has no opinion
//! (unknown per-entry keys are ignored, remote `url` servers are skipped with a warning,
//! awkward names are renamed with a warning) and strict only where guessing would run the
//! wrong thing (a stdio entry without a usable `command`, `args`/`env` of the wrong type).
//!
//! VS Code's files are JSONC, so comments and trailing commas are blanked out before parsing.
//! serde_json's `Value` carries no positions, so a small scanner over the (already valid)
//! text finds the byte offset of the key or value an error is about.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::position::Problems;
use super::{
    BridgeConfig, Config, ConfigError, ConfigSource, RESERVED_SERVER_NAMES, ServerConfig,
    is_valid_server_name, sanitize_server_name,
};

/// The top-level keys holding servers, in the order they are read.
const SERVER_SECTIONS: &[&str] = &["mcpServers", "servers"];
const REMOTE_TYPES: &[&str] = &["http", "sse", "streamable-http", "streamableHttp", "ws"];

/// Parses an `mcpServers` JSON (or JSONC) file. Returns the config plus human-readable
/// warnings about entries that were skipped, renamed or only partly understood.
pub fn parse_mcp_servers_json(
    text: &str,
    file: &Path,
) -> Result<(Config, Vec<String>), ConfigError> {
    // A byte order mark is invisible in editors, so it must not count as a column either.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let clean = strip_jsonc(text);
    let root: Value = serde_json::from_str(&clean).map_err(|e| syntax_error(file, text, &e))?;
    let mut reader = Reader {
        text: &clean,
        problems: Problems::default(),
        warnings: Vec::new(),
    };
    let servers = reader.document(&root);
    // Offsets in `clean` are offsets in `text`, but columns are counted in the characters the
    // user sees: a comment's `é` is one, not the two spaces it was blanked to.
    if let Some(e) = reader.problems.first(file, text) {
        return Err(e);
    }
    let config = Config {
        bridge: BridgeConfig::default(),
        servers,
        source: ConfigSource::McpServersJson(file.to_path_buf()),
    };
    Ok((config, reader.warnings))
}

fn syntax_error(file: &Path, text: &str, err: &serde_json::Error) -> ConfigError {
    // serde_json's Display appends " at line X column Y", which our render already says.
    let full = err.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    // serde_json counts columns in bytes, ours are characters: its position is turned back
    // into the offset of the byte it stopped at (column 0 is "just after a newline").
    let line_start = match err.line() {
        0 | 1 => 0,
        n => text
            .match_indices('\n')
            .nth(n - 2)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    let offset = line_start + err.column().saturating_sub(1);
    ConfigError::at(
        file,
        text,
        offset,
        format!("invalid JSON: {message}"),
        "correct the JSON syntax here: keys and strings need \"double quotes\" and items are separated by commas",
    )
}

/// One step of a path into a JSON document, for locating errors.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Reader<'t> {
    text: &'t str,
    problems: Problems,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// Byte offset of the value at `path` (or of its key, with `key`), falling back to the
    /// start of the document: a slightly vague position beats none.
    fn offset(&self, path: &[Step<'_>], key: bool) -> usize {
        locate(self.text, path)
            .map(|(k, v)| if key { k.unwrap_or(v) } else { v })
            .unwrap_or(0)
    }

    fn report(&mut self, offset: usize, problem: impl Into<String>, fix: impl Into<String>) {
        self.problems.report(offset, problem, fix);
    }

    fn document(&mut self, root: &Value) -> BTreeMap<String, ServerConfig> {
        let mut servers = BTreeMap::new();
        let Value::Object(root) = root else {
            self.report(
                self.offset(&[], false),
                format!("expected a JSON object, found {}", a_type(root)),
                "an MCP client config looks like {\"mcpServers\": {\"NAME\": {\"command\": \"npx\", \"args\": [...]}}}",
            );
            return servers;
        };
        let present: Vec<&str> = SERVER_SECTIONS
            .iter()
            .copied()
            .filter(|s| root.contains_key(*s))
            .collect();
        if present.is_empty() {
            self.report(
                self.offset(&[], false),
                "no `mcpServers` or `servers` object in this JSON file",
                "point bridgedock at an MCP client config such as claude_desktop_config.json or .vscode/mcp.json, or use a bridgedock .toml config",
            );
            return servers;
        }
        // Names valid as they are keep them; renamed entries must not take one of those.
        let mut taken: BTreeSet<String> = present
            .iter()
            .filter_map(|s| root.get(*s).and_then(Value::as_object))
            .flat_map(|m| m.keys())
            .filter(|n| is_valid_server_name(n))
            .cloned()
            .collect();
        for section in present {
            let Some(value) = root.get(section) else {
                continue;
            };
            let Value::Object(entries) = value else {
                self.report(
                    self.offset(&[Step::Key(section)], false),
                    format!("`{section}` must be an object, found {}", a_type(value)),
                    format!("write it as \"{section}\": {{\"NAME\": {{\"command\": \"...\"}}}}"),
                );
                continue;
            };
            for (name, entry) in entries {
                let path = [Step::Key(section), Step::Key(name)];
                let Some(server) = self.entry(&path, name, entry) else {
                    continue;
                };
                let final_name = self.server_name(name, &mut taken);
                if servers.contains_key(&final_name) {
                    self.warnings.push(format!(
                        "skipped `{name}` in `{section}`: a server with that name was already read"
                    ));
                    continue;
                }
                servers.insert(final_name, server);
            }
        }
        servers
    }

    /// The bridgedock name for `name`, renaming (with a warning) names bridgedock can't use.
    fn server_name(&mut self, name: &str, taken: &mut BTreeSet<String>) -> String {
        if is_valid_server_name(name) {
            return name.to_owned();
        }
        let base = sanitize_server_name(name);
        let mut candidate = base.clone();
        let mut n = 2;
        while taken.contains(&candidate) {
            let suffix = format!("-{n}");
            let mut b = base.clone();
            b.truncate(super::MAX_SERVER_NAME_LEN - suffix.len());
            candidate = format!("{b}{suffix}");
            n += 1;
        }
        taken.insert(candidate.clone());
        let why = if RESERVED_SERVER_NAMES.contains(&name) {
            format!("`{name}` is reserved for bridgedock's own logs")
        } else {
            "server names may only use ASCII letters, digits, `-` and `_` (1–64 characters)"
                .to_owned()
        };
        self.warnings
            .push(format!("renamed `{name}` to `{candidate}`: {why}"));
        candidate
    }

    fn entry(&mut self, path: &[Step<'_>], name: &str, entry: &Value) -> Option<ServerConfig> {
        let Value::Object(entry) = entry else {
            self.report(
                self.offset(path, true),
                format!("server `{name}` must be an object, found {}", a_type(entry)),
                "write it as {\"command\": \"npx\", \"args\": [...]}",
            );
            return None;
        };
        let field = |key: &str| entry.get(key).filter(|v| !v.is_null());
        let kind = field("type").and_then(Value::as_str);
        if field("url").is_some() || kind.is_some_and(|t| REMOTE_TYPES.contains(&t)) {
            self.warnings.push(format!(
                "skipped `{name}`: remote servers (url) are not supervised by bridgedock; point your client at it directly"
            ));
            return None;
        }
        if let Some(kind) = field("type").filter(|t| t.as_str() != Some("stdio")) {
            self.warnings.push(format!(
                "skipped `{name}`: unsupported server type {kind}; bridgedock supervises stdio servers"
            ));
            return None;
        }

        let at = |key: &'static str| child(path, Step::Key(key));
        let mut server = ServerConfig::new("");
        match field("command") {
            None => {
                self.report(
                    self.offset(path, true),
                    format!("server `{name}` has no `command`"),
                    "add the program to run, e.g. \"command\": \"npx\" (a remote server needs a \"url\" instead)",
                );
                return None;
            }
            Some(Value::String(c)) if c.trim().is_empty() => {
                self.report(
                    self.offset(&at("command"), false),
                    format!("`command` of server `{name}` is empty"),
                    "set it to the program to run, e.g. \"command\": \"npx\"",
                );
                return None;
            }
            Some(Value::String(c)) => server.command = c.clone(),
            Some(other) => {
                self.report(
                    self.offset(&at("command"), false),
                    format!("`command` of server `{name}` must be a string, found {}", a_type(other)),
                    "put the program in \"command\" and its arguments in \"args\", e.g. \"command\": \"npx\", \"args\": [\"-y\", \"pkg\"]",
                );
                return None;
            }
        }
        if let Some(args) = field("args") {
            server.args = self.args(&at("args"), name, args);
        }
        if let Some(env) = field("env") {
            server.env = self.env(&at("env"), name, env);
        }
        match field("cwd") {
            Some(Value::String(cwd)) if !cwd.is_empty() => server.cwd = Some(PathBuf::from(cwd)),
            Some(Value::String(_)) | None => {}
            Some(other) => self.report(
                self.offset(&at("cwd"), false),
                format!(
                    "`cwd` of server `{name}` must be a string, found {}",
                    a_type(other)
                ),
                "set it to a directory path, e.g. \"cwd\": \"/path/to/dir\"",
            ),
        }
        match field("disabled") {
            Some(Value::Bool(disabled)) => server.autostart = !disabled,
            None => {}
            Some(other) => self.report(
                self.offset(&at("disabled"), false),
                format!(
                    "`disabled` of server `{name}` must be true or false, found {}",
                    a_type(other)
                ),
                "write \"disabled\": true or \"disabled\": false, without quotes",
            ),
        }
        if field("envFile").is_some() {
            self.warnings.push(format!(
                "`{name}`: envFile is not read by bridgedock; copy the variables it needs into env"
            ));
        }
        let uses_placeholders = std::iter::once(&server.command)
            .chain(&server.args)
            .chain(server.env.values())
            .any(|s| s.contains("${"))
            || server
                .cwd
                .as_ref()
                .is_some_and(|c| c.to_string_lossy().contains("${"));
        if uses_placeholders {
            self.warnings.push(format!(
                "`{name}` uses ${{...}} placeholders (client variables such as ${{workspaceFolder}} or ${{input:...}}); bridgedock passes them through unchanged, so replace them with real values"
            ));
        }
        Some(server)
    }

    fn args(&mut self, path: &[Step<'_>], name: &str, args: &Value) -> Vec<String> {
        let Value::Array(items) = args else {
            self.report(
                self.offset(path, false),
                format!(
                    "`args` of server `{name}` must be an array of strings, found {}",
                    a_type(args)
                ),
                "use one string per argument, e.g. \"args\": [\"-y\", \"pkg\"]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => {
                    self.report(
                        self.offset(&child(path, Step::Index(i)), false),
                        format!(
                            "`args` of server `{name}` must be an array of strings, but item {} is {}",
                            i + 1,
                            a_type(other)
                        ),
                        quote_fix(other, "use one string per argument"),
                    );
                }
            }
        }
        out
    }

    fn env(&mut self, path: &[Step<'_>], name: &str, env: &Value) -> BTreeMap<String, String> {
        let Value::Object(vars) = env else {
            self.report(
                self.offset(path, false),
                format!(
                    "`env` of server `{name}` must be an object of strings, found {}",
                    a_type(env)
                ),
                "write it as \"env\": {\"NAME\": \"value\"}",
            );
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (var, value) in vars {
            match value {
                Value::String(s) => {
                    out.insert(var.clone(), s.clone());
                }
                other => {
                    self.report(
                        self.offset(&child(path, Step::Key(var)), false),
                        format!(
                            "env var `{var}` of server `{name}` must be a string, found {}",
                            a_type(other)
                        ),
                        quote_fix(other, "environment variables are strings"),
                    );
                }
            }
        }
        out
    }
}

fn child<'a>(path: &[Step<'a>], step: Step<'a>) -> Vec<Step<'a>> {
    let mut p = path.to_vec();
    p.push(step);
    p
}

fn quote_fix(value: &Value, otherwise: &str) -> String {
    match value {
        Value::Number(_) | Value::Bool(_) => format!("put it in quotes: \"{value}\""),
        _ => otherwise.to_owned(),
    }
}

fn a_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` with JSONC comments and trailing commas replaced by spaces. Everything else,
/// including newlines, stays at the same byte offset, so positions found in the result are
/// positions in the original.
fn strip_jsonc(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let b = text.as_bytes();
    let mut i = 0;
    // Offset of the last comma seen outside strings, until something other than
    // whitespace or a comment follows it.
    let mut pending_comma: Option<usize> = None;
    while i < b.len() {
        match b[i] {
            b'"' => {
                pending_comma = None;
                i = string_end(b, i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                for (j, byte) in out.iter_mut().enumerate().take(end).skip(i) {
                    if b[j] != b'\n' {
                        *byte = b' ';
                    }
                }
                i = end;
                continue;
            }
            b',' => pending_comma = Some(i),
            b'}' | b']' => {
                if let Some(c) = pending_comma.take() {
                    out[c] = b' ';
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => pending_comma = None,
        }
        i += 1;
    }
    // Only ASCII bytes outside strings were replaced with ASCII, so this cannot fail; fall
    // back to the original text rather than panic if it somehow did.
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// Index just past the string starting at the quote at `start`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Finds `path` in valid JSON `text`: the byte offset of the last step's key (for object
/// members) and of its value. With duplicate keys the last one wins, as in serde_json.
fn locate(text: &str, path: &[Step<'_>]) -> Option<(Option<usize>, usize)> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    let mut key_at = None;
    for step in path {
        let mut found = None;
        match (step, b.get(pos)) {
            (Step::Key(want), Some(b'{')) => {
                pos = skip_ws(b, pos + 1);
                while b.get(pos) == Some(&b'"') {
                    let key_end = string_end(b, pos);
                    let key: String = serde_json::from_str(text.get(pos..key_end)?).ok()?;
                    let value_at = skip_ws(b, skip_ws(b, key_end) + 1);
                    if key == *want {
                        found = Some((Some(pos), value_at));
                    }
                    pos = skip_ws(b, skip_value(b, value_at));
                    if b.get(pos) == Some(&b',') {
                        pos = skip_ws(b, pos + 1);
                    }
                }
            }
            (Step::Index(want), Some(b'[')) => {
                pos = skip_ws(b, pos + 1);
                let mut index = 0;
                while pos < b.len() && b[pos] != b']' {
                    if index == *want {
                        found = Some((None, pos));
                        break;
                    }
                    pos = skip_ws(b, skip_value(b, pos));
                    if b.get(pos) == Some(&b',') {
                        pos = skip_ws(b, pos + 1);
                    }
                    index += 1;
                }
            }
            _ => return None,
        }
        let (k, v) = found?;
        key_at = k;
        pos = v;
    }
    Some((key_at, pos))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index just past the value starting at `start`.
fn skip_value(b: &[u8], start: usize) -> usize {
    match b.get(start) {
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']') && !b[i].is_ascii_whitespace()
            {
                i += 1;
            }
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        parse_mcp_servers_json(text, Path::new("mcp.json"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().render()
    }

    #[test]
    fn claude_desktop_config() {
        let (c, warnings) = parse(
            r#"{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
      "env": {"DEBUG": "1"},
      "cwd": "/home/me"
    },
    "time": {"command": "uvx", "args": ["mcp-server-time"]}
  },
  "globalShortcut": "Ctrl+Space"
}"#,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            c.source,
            ConfigSource::McpServersJson(PathBuf::from("mcp.json"))
        );
        assert_eq!(c.bridge, BridgeConfig::default());
        let fs = &c.servers["filesystem"];
        assert_eq!(fs.command, "npx");
        assert_eq!(
            fs.args,
            ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
        );
        assert_eq!(fs.env["DEBUG"], "1");
        assert_eq!(fs.cwd.as_deref(), Some(Path::new("/home/me")));
        assert!(fs.autostart);
        let mut time = ServerConfig::new("uvx");
        time.args = vec!["mcp-server-time".into()];
        assert_eq!(c.servers["time"], time);
    }

    #[test]
    fn vscode_mcp_json_with_comments_and_trailing_commas() {
        let (c, warnings) = parse(
            r#"{
  // VS Code allows comments here
  "inputs": [{"type": "promptString", "id": "key", "password": true}],
  "servers": {
    "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"},
    "fetch": {
      "type": "stdio", /* block comment, "with quotes" */
      "command": "uvx",
      "args": ["mcp-server-fetch", "--url=http://x//y",],
      "env": {"API_KEY": "${input:key}"},
      "envFile": "${workspaceFolder}/.env",
    },
  },
}"#,
        )
        .unwrap();
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["fetch"]);
        assert_eq!(
            c.servers["fetch"].args,
            ["mcp-server-fetch", "--url=http://x//y"]
        );
        assert_eq!(
            warnings,
            [
                "`fetch`: envFile is not read by bridgedock; copy the variables it needs into env",
                "`fetch` uses ${...} placeholders (client variables such as ${workspaceFolder} or ${input:...}); bridgedock passes them through unchanged, so replace them with real values",
                "skipped `github`: remote servers (url) are not supervised by bridgedock; point your client at it directly",
            ]
        );
    }

    #[test]
    fn remote_and_unknown_types_are_skipped() {
        let (c, warnings) = parse(
            r#"{"mcpServers": {
                "a": {"url": "https://example.com/sse"},
                "b": {"type": "sse", "command": "ignored"},
                "c": {"type": "carrier-pigeon", "command": "x"},
                "d": {"command": "x", "url": null}
            }}"#,
        )
        .unwrap();
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(
            warnings,
            [
                "skipped `a`: remote servers (url) are not supervised by bridgedock; point your client at it directly",
                "skipped `b`: remote servers (url) are not supervised by bridgedock; point your client at it directly",
                "skipped `c`: unsupported server type \"carrier-pigeon\"; bridgedock supervises stdio servers",
            ]
        );
    }

    #[test]
    fn disabled_means_no_autostart_and_unknown_keys_are_ignored() {
        let (c, warnings) = parse(
            r#"{"mcpServers": {
                "a": {"command": "x", "disabled": true, "autoApprove": ["t"], "timeout": 60},
                "b": {"command": "y", "disabled": false}
            }}"#,
        )
        .unwrap();
        assert!(warnings.is_empty());
        assert!(!c.servers["a"].autostart);
        assert!(c.servers["b"].autostart);
    }

    #[test]
    fn invalid_names_are_sanitized_with_a_warning() {
        let (c, warnings) = parse(
            r#"{"mcpServers": {
                "my server": {"command": "a"},
                "my-server": {"command": "b"},
                "github.com": {"command": "c"},
                "bridge": {"command": "d"}
            }}"#,
        )
        .unwrap();
        assert_eq!(
            c.servers.keys().collect::<Vec<_>>(),
            ["bridge-server", "github-com", "my-server", "my-server-2"]
        );
        assert_eq!(c.servers["my-server"].command, "b");
        assert_eq!(c.servers["my-server-2"].command, "a");
        assert_eq!(
            warnings,
            [
                "renamed `bridge` to `bridge-server`: `bridge` is reserved for bridgedock's own logs",
                "renamed `github.com` to `github-com`: server names may only use ASCII letters, digits, `-` and `_` (1–64 characters)",
                "renamed `my server` to `my-server-2`: server names may only use ASCII letters, digits, `-` and `_` (1–64 characters)",
            ]
        );
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        // Windows editors save claude_desktop_config.json with one.
        let (c, _) = parse("\u{feff}{\"mcpServers\": {\"a\": {\"command\": \"x\"}}}").unwrap();
        assert_eq!(c.servers["a"].command, "x");
    }

    #[test]
    fn both_top_level_keys_are_read() {
        let (c, _) =
            parse(r#"{"mcpServers": {"a": {"command": "x"}}, "servers": {"b": {"command": "y"}}}"#)
                .unwrap();
        assert_eq!(c.servers.keys().collect::<Vec<_>>(), ["a", "b"]);
        let (c, _) = parse(r#"{"mcpServers": {}}"#).unwrap();
        assert!(c.servers.is_empty());
    }

    #[test]
    fn errors_are_located() {
        let cases = [
            (
                "{\n  \"mcpServers\": {\n    \"time\": {\"args\": []}\n  }\n}",
                "mcp.json:3:5: server `time` has no `command`\n  fix: add the program to run, e.g. \"command\": \"npx\" (a remote server needs a \"url\" instead)",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"\"}}}",
                "mcp.json:1:34: `command` of server `a` is empty\n  fix: set it to the program to run, e.g. \"command\": \"npx\"",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\",\n \"args\": [\"ok\", 3]}}}",
                "mcp.json:2:17: `args` of server `a` must be an array of strings, but item 2 is a number\n  fix: put it in quotes: \"3\"",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": \"-y pkg\"}}}",
                "mcp.json:1:47: `args` of server `a` must be an array of strings, found a string\n  fix: use one string per argument, e.g. \"args\": [\"-y\", \"pkg\"]",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"PORT\": 8000}}}}",
                "mcp.json:1:55: env var `PORT` of server `a` must be a string, found a number\n  fix: put it in quotes: \"8000\"",
            ),
            (
                "{\"mcpServers\": {\"a\": \"npx\"}}",
                "mcp.json:1:17: server `a` must be an object, found a string\n  fix: write it as {\"command\": \"npx\", \"args\": [...]}",
            ),
            (
                "{\"mcpServers\": []}",
                "mcp.json:1:16: `mcpServers` must be an object, found an array\n  fix: write it as \"mcpServers\": {\"NAME\": {\"command\": \"...\"}}",
            ),
            (
                "{\"other\": 1}",
                "mcp.json:1:1: no `mcpServers` or `servers` object in this JSON file\n  fix: point bridgedock at an MCP client config such as claude_desktop_config.json or .vscode/mcp.json, or use a bridgedock .toml config",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\"}\n",
                "mcp.json:2:1: invalid JSON: EOF while parsing an object\n  fix: correct the JSON syntax here: keys and strings need \"double quotes\" and items are separated by commas",
            ),
            (
                "{\"mcpServers\": {\"a\": {command: \"x\"}}}",
                "mcp.json:1:23: invalid JSON: key must be a string\n  fix: correct the JSON syntax here: keys and strings need \"double quotes\" and items are separated by commas",
            ),
        ];
        let mut failures = Vec::new();
        // Found by the config fuzz target: columns are characters, not bytes, also in syntax
        // errors (serde_json counts bytes) and after a comment with non-ASCII characters
        // (blanked to one space per byte before parsing).
        let non_ascii = [
            (
                "{\"mcpServers\": {\"é\": {\"command\": \"x\" \"args\": []}}}",
                "mcp.json:1:38: invalid JSON: expected `,` or `}`\n  fix: correct the JSON syntax here: keys and strings need \"double quotes\" and items are separated by commas",
            ),
            (
                "{ /* é */ \"mcpServers\": {\"a\": {\"command\": 5}}}",
                "mcp.json:1:43: `command` of server `a` must be a string, found a number\n  fix: put the program in \"command\" and its arguments in \"args\", e.g. \"command\": \"npx\", \"args\": [\"-y\", \"pkg\"]",
            ),
        ];
        for (text, expected) in cases.into_iter().chain(non_ascii) {
            if err(text) != expected {
                failures.push(format!(
                    "input:\n{text}\nexpected:\n{expected}\nactual:\n{}\n",
                    err(text)
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn strips_jsonc_without_moving_anything() {
        let text =
            "{\"a\": \"//not a comment\", // yes\n\"b\": [1, 2,], /* x\ny */ \"c\": \"\\\"/*\",}";
        let clean = strip_jsonc(text);
        assert_eq!(clean.len(), text.len());
        let v: Value = serde_json::from_str(&clean).unwrap();
        assert_eq!(v["a"], "//not a comment");
        assert_eq!(v["c"], "\"/*");
        assert_eq!(clean.matches('\n').count(), text.matches('\n').count());
    }

    #[test]
    fn locates_keys_and_values() {
        let text = r#"{"x": {"a": [10, {"b": "c"}], "a": 5}}"#;
        // Duplicate `a`: the last one wins, as in serde_json.
        assert_eq!(
            locate(text, &[Step::Key("x"), Step::Key("a")]),
            Some((Some(30), 35))
        );
        let t2 = r#"{"x": {"a": [10, {"b": "c"}]}}"#;
        assert_eq!(
            locate(
                t2,
                &[
                    Step::Key("x"),
                    Step::Key("a"),
                    Step::Index(1),
                    Step::Key("b")
                ]
            ),
            Some((Some(18), 23))
        );
        assert_eq!(locate(t2, &[Step::Key("nope")]), None);
    }
}
