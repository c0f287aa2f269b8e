//! The config parsers: bridgedock TOML and `mcpServers` JSON(C).
//!
//! Properties:
//! - a refusal always says where and what: the file it was given, a line and column inside
//!   the text (columns in characters, 1-based), a problem and a fix, and renders as
//!   `FILE:LINE:COLUMN: PROBLEM`;
//! - an accepted config holds only valid server names and non-empty commands;
//! - what is accepted survives `to_toml` (what `bridgedockd import` writes) and reads back
//!   as the same config: an import never writes a file bridgedock then refuses.

use std::path::Path;

use bridgedock_engine::config::{
    Config, ConfigError, ConfigSource, is_valid_server_name, parse_mcp_servers_json, parse_toml,
    to_toml,
};

pub fn check_toml(text: &str) {
    let file = Path::new("config.toml");
    match parse_toml(text, file) {
        Ok(config) => {
            assert_eq!(config.source, ConfigSource::File(file.to_path_buf()));
            check_accepted(&config);
        }
        Err(e) => check_error(&e, text, file),
    }
}

pub fn check_mcp_json(text: &str) {
    let file = Path::new("mcp.json");
    match parse_mcp_servers_json(text, file) {
        Ok((config, warnings)) => {
            assert_eq!(
                config.source,
                ConfigSource::McpServersJson(file.to_path_buf())
            );
            for w in &warnings {
                assert!(!w.trim().is_empty(), "an empty warning");
            }
            check_accepted(&config);
        }
        Err(e) => check_error(&e, text, file),
    }
}

fn check_accepted(config: &Config) {
    for (name, server) in &config.servers {
        assert!(is_valid_server_name(name), "accepted server name {name:?}");
        assert!(
            !server.command.is_empty(),
            "accepted server `{name}` without a command"
        );
    }
    let written = to_toml(config);
    let back = parse_toml(&written, Path::new("written.toml")).unwrap_or_else(|e| {
        panic!("to_toml wrote a config parse_toml refuses: {e}\n--- written:\n{written}")
    });
    assert_eq!(
        back.servers, config.servers,
        "servers changed through to_toml:\n{written}"
    );
    assert_eq!(
        back.bridge, config.bridge,
        "[bridge] changed through to_toml:\n{written}"
    );
}

fn check_error(e: &ConfigError, text: &str, file: &Path) {
    assert_eq!(e.file, file, "error names another file");
    assert!(
        !e.problem.trim().is_empty(),
        "error without a problem: {e:?}"
    );
    assert!(!e.fix.trim().is_empty(), "error without a fix: {e:?}");
    // Both parsers count positions in the text without its byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        e.line >= 1 && e.line <= lines.len(),
        "error at line {} of a text with {} lines: {e:?}",
        e.line,
        lines.len()
    );
    let line = lines[e.line - 1].trim_end_matches('\r');
    let width = line.chars().count();
    assert!(
        e.column >= 1 && e.column <= width + 1,
        "error at column {} of line {} which is {width} characters long ({line:?}): {e:?}",
        e.column,
        e.line
    );
    let rendered = e.render();
    let place = format!("{}:{}:{}: ", file.display(), e.line, e.column);
    assert!(
        rendered.starts_with(&place),
        "rendered error does not start with {place:?}: {rendered:?}"
    );
    assert!(rendered.contains(&e.problem) && rendered.contains(&e.fix));
}
