//! bridgedock's TOML written back: `to_toml` renders a [`Config`] with only what differs from
//! the defaults (what `bridgedockd import` and the tray's "Open config file" write), and the
//! quoting helpers the checker's messages use to show keys and values as the user would write
//! them.

use std::fmt::Write as _;
use std::time::Duration;

use super::{
    Config, ConfigSource, DEFAULT_REQUEST_TIMEOUT, DEFAULT_START_TIMEOUT, DEFAULT_STOP_GRACE,
    RestartPolicy, Transport,
};

/// The section header as the user would write it, e.g. `[servers.time]`.
pub(super) fn server_section(name: &str) -> String {
    format!("[servers.{}]", toml_key(name))
}

/// A TOML string literal with whatever escaping `s` needs.
pub(super) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when possible, else a one-line basic string. Not [`toml_string`]: for
/// text with both kinds of quote or a line break it writes a multi-line string, which TOML
/// allows for values but not for keys.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    for c in key.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `5s`, `1500ms`: the shortest spelling humantime reads back exactly.
fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// Renders `config` as bridgedock TOML. Settings at their default are left out so the file
/// shows only what is particular to each server; `parse_toml` restores the defaults.
pub fn to_toml(config: &Config) -> String {
    let mut out = String::new();
    match &config.source {
        ConfigSource::McpServersJson(path) => {
            let _ = writeln!(
                out,
                "# bridgedock config, imported from {}\n",
                path.display()
            );
        }
        ConfigSource::File(_) | ConfigSource::Embedded => {}
    }
    let _ = writeln!(out, "[bridge]");
    let _ = writeln!(out, "host = {}", toml_string(&config.bridge.host));
    let _ = writeln!(out, "port = {}", config.bridge.port);
    if !config.bridge.allowed_origins.is_empty() {
        let origins: Vec<String> = config
            .bridge
            .allowed_origins
            .iter()
            .map(|o| toml_string(o))
            .collect();
        let _ = writeln!(out, "allowed_origins = [{}]", origins.join(", "));
    }
    for (name, server) in &config.servers {
        let _ = writeln!(out, "\n{}", server_section(name));
        if let Some(godot) = &server.godot {
            // bridgedock builds godot-ai's command line itself: it has no `args`.
            let _ = writeln!(out, "kind = \"godot-ai\"");
            let defaults = crate::config::GodotAiConfig::default();
            if godot.http_port != defaults.http_port {
                let _ = writeln!(out, "http_port = {}", godot.http_port);
            }
            if godot.ws_port != defaults.ws_port {
                let _ = writeln!(out, "ws_port = {}", godot.ws_port);
            }
            if !godot.dependency_overrides.is_empty() {
                let o: Vec<String> = godot
                    .dependency_overrides
                    .iter()
                    .map(|a| toml_string(a))
                    .collect();
                let _ = writeln!(out, "dependency_overrides = [{}]", o.join(", "));
            }
        }
        let _ = writeln!(out, "command = {}", toml_string(&server.command));
        if !server.args.is_empty() && server.godot.is_none() {
            let args: Vec<String> = server.args.iter().map(|a| toml_string(a)).collect();
            let _ = writeln!(out, "args = [{}]", args.join(", "));
        }
        if !server.env.is_empty() {
            let vars: Vec<String> = server
                .env
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_string(v)))
                .collect();
            let _ = writeln!(out, "env = {{ {} }}", vars.join(", "));
        }
        if let Some(cwd) = &server.cwd {
            let _ = writeln!(out, "cwd = {}", toml_string(&cwd.to_string_lossy()));
        }
        if server.transport != Transport::default() {
            let _ = writeln!(out, "transport = \"{}\"", server.transport.as_str());
        }
        if let Some(version) = &server.version {
            let _ = writeln!(out, "version = {}", toml_string(version));
        }
        if server.restart != RestartPolicy::default() {
            let _ = writeln!(out, "restart = \"{}\"", server.restart.as_str());
        }
        if !server.autostart {
            let _ = writeln!(out, "autostart = false");
        }
        if server.stop_grace != DEFAULT_STOP_GRACE {
            let _ = writeln!(
                out,
                "stop_grace = \"{}\"",
                format_duration(server.stop_grace)
            );
        }
        if server.request_timeout != DEFAULT_REQUEST_TIMEOUT {
            let _ = writeln!(
                out,
                "request_timeout = \"{}\"",
                format_duration(server.request_timeout)
            );
        }
        if server.start_timeout != DEFAULT_START_TIMEOUT {
            let _ = writeln!(
                out,
                "start_timeout = \"{}\"",
                format_duration(server.start_timeout)
            );
        }
    }
    out
}
