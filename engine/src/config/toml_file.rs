//! bridgedock's own `config.toml`: reading it with located, fixable errors (writing it back is
//! [`super::toml_write`]). Longer than most files here on purpose: it is one job — the rule and
//! the message for every key of one file format — and reads best in one place.
//!
//! Reading walks toml's spanned document tree ([`toml::de::DeTable`], where every key and
//! value is a [`toml::Spanned`]) instead of deriving `Deserialize`. serde stops at the first
//! mismatch with wording we don't control ("invalid type: string \"x\", expected a sequence")
//! and without saying which key or section it was in; walking the tree ourselves lets every
//! message name the key and section, point at the exact key or value, and carry a fix. Only
//! syntax errors come from toml, and those keep toml's own position.
//!
//! All problems in a file are collected and the first one in reading order is reported (see
//! [`Problems`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::origin::parse_origin;
use super::position::Problems;
use super::suggest::{closest, list};
use super::toml_write::{server_section, toml_string};
use super::{
    BridgeConfig, Config, ConfigError, ConfigSource, DEFAULT_HOST, DEFAULT_PORT, RestartPolicy,
    ServerConfig, Transport, server_name_problem,
};

const SECTIONS: &[&str] = &["bridge", "servers"];
const BRIDGE_KEYS: &[&str] = &["host", "port", "allowed_origins"];
const SERVER_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "transport",
    "version",
    "restart",
    "autostart",
    "stop_grace",
    "request_timeout",
    "start_timeout",
    "kind",
    "http_port",
    "ws_port",
    "dependency_overrides",
];
const KINDS: &[&str] = &["mcp", "godot-ai"];
/// The longest duration a setting takes: anything longer is a typo, and deadlines that far out
/// would overflow the clock's arithmetic.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
const RESTART_VALUES: &[&str] = &["always", "on-failure", "never"];
const REMOTE_TRANSPORTS: &[&str] = &["http", "sse", "streamable-http", "streamable_http", "ws"];

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;

/// Parses bridgedock TOML. `file` is only used to label errors and [`Config::source`].
pub fn parse_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
    // toml accepts a byte order mark, but it is invisible in editors, so it must not count
    // as a column in our positions either.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = DeTable::parse(text).map_err(|e| syntax_error(text, file, &e))?;
    let mut checker = Checker {
        text,
        problems: Problems::default(),
    };
    let (bridge, servers) = checker.document(root.get_ref());
    match checker.problems.first(file, text) {
        Some(e) => Err(e),
        None => Ok(Config {
            bridge,
            servers,
            source: ConfigSource::File(file.to_path_buf()),
        }),
    }
}

fn syntax_error(text: &str, file: &Path, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |s| s.start);
    // toml's message can span lines (it sometimes appends notes); the first is the summary.
    let message = err.message().lines().next().unwrap_or("").trim();
    let message = message.trim_end_matches('.');
    let fix = if message.contains("string") {
        "close the string with the quote it was opened with; strings go in \"double quotes\""
    } else if message.contains("expected `=`") || message.contains("key with no value") {
        "write each setting as `key = value`, e.g. command = \"uvx\""
    } else if message.contains("duplicate") {
        "remove or rename one of the duplicates"
    } else {
        "correct the syntax here (see https://toml.io for the format)"
    };
    ConfigError::at(file, text, offset, format!("invalid TOML: {message}"), fix)
}

struct Checker<'t> {
    text: &'t str,
    problems: Problems,
}

impl<'t> Checker<'t> {
    fn report(&mut self, offset: usize, problem: impl Into<String>, fix: impl Into<String>) {
        self.problems.report(offset, problem, fix);
    }

    /// The value as written in the file, for quoting it back in fixes.
    fn source_of<T>(&self, value: &Spanned<T>) -> &'t str {
        self.text.get(value.span()).unwrap_or("").trim()
    }

    fn document(&mut self, root: &DeTable<'_>) -> (BridgeConfig, BTreeMap<String, ServerConfig>) {
        let mut bridge = BridgeConfig::default();
        let mut servers = BTreeMap::new();
        for (key, value) in root {
            match key.get_ref().as_ref() {
                "bridge" => {
                    if let Some(table) = self.section(key, value) {
                        bridge = self.bridge(table);
                    }
                }
                "servers" => {
                    if let Some(table) = self.section(key, value) {
                        servers = self.servers(table);
                    }
                }
                other => self.unknown_top_level(key, other, value),
            }
        }
        (bridge, servers)
    }

    fn section<'a, 'i>(&mut self, key: &Key<'_>, value: &'a Value<'i>) -> Option<&'a DeTable<'i>> {
        if let DeValue::Table(table) = value.get_ref() {
            return Some(table);
        }
        let name = key.get_ref();
        self.report(
            key.span().start,
            format!(
                "`{name}` must be a section, found {}",
                a_type(value.get_ref())
            ),
            format!("write it as a [{name}] section header followed by its settings"),
        );
        None
    }

    fn unknown_top_level(&mut self, key: &Key<'_>, name: &str, value: &Value<'_>) {
        let at = key.span().start;
        if !value.get_ref().is_table() {
            // A setting with no section: most often a [bridge] or server key written above
            // the first header, so say where it belongs rather than just "unknown".
            let fix = if BRIDGE_KEYS.contains(&name) {
                format!("move `{name}` under the [bridge] section")
            } else if SERVER_KEYS.contains(&name) {
                format!("`{name}` belongs to a server: move it under a [servers.NAME] section")
            } else {
                unknown_fix(
                    name,
                    SECTIONS,
                    "valid sections are [bridge] and [servers.NAME]",
                )
            };
            self.report(at, format!("unknown top-level key `{name}`"), fix);
            return;
        }
        let fix = match closest(name, SECTIONS) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "valid sections are [bridge] and [servers.NAME]".to_owned(),
        };
        self.report(at, format!("unknown section `[{name}]`"), fix);
    }

    fn bridge(&mut self, table: &DeTable<'_>) -> BridgeConfig {
        let mut bridge = BridgeConfig::default();
        for (key, value) in table {
            match key.get_ref().as_ref() {
                "host" => {
                    if let Some(host) = self.string(value, "[bridge]", "host", DEFAULT_HOST) {
                        if host.trim().is_empty() {
                            self.report(
                                value.span().start,
                                "`host` in [bridge] is empty",
                                format!(
                                    "set it to the address to listen on, e.g. host = \"{DEFAULT_HOST}\", or remove it to use that default"
                                ),
                            );
                        } else {
                            bridge.host = host.to_owned();
                        }
                    }
                }
                "port" => {
                    if let Some(port) = self.port(value) {
                        bridge.port = port;
                    }
                }
                "allowed_origins" => bridge.allowed_origins = self.allowed_origins(value),
                other => self.unknown_key(key, other, "[bridge]", BRIDGE_KEYS),
            }
        }
        bridge
    }

    fn port(&mut self, value: &Value<'_>) -> Option<u16> {
        let at = value.span().start;
        let example = format!("port = {DEFAULT_PORT}");
        match value.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                match n.and_then(|n| u16::try_from(n).ok()).filter(|&n| n != 0) {
                    Some(port) => Some(port),
                    None => {
                        self.report(
                            at,
                            format!("port {} in [bridge] is out of range", self.source_of(value)),
                            format!("use a port from 1 to 65535, e.g. {example}"),
                        );
                        None
                    }
                }
            }
            DeValue::String(s) if s.trim().parse::<u16>().is_ok() => {
                self.report(
                    at,
                    "`port` in [bridge] must be an integer, found a string",
                    format!("remove the quotes: port = {}", s.trim()),
                );
                None
            }
            other => {
                self.report(
                    at,
                    format!(
                        "`port` in [bridge] must be an integer, found {}",
                        a_type(other)
                    ),
                    format!("use a port from 1 to 65535, e.g. {example}"),
                );
                None
            }
        }
    }

    /// Origins of browser-based MCP clients, each kept as a browser sends it; duplicates once.
    fn allowed_origins(&mut self, value: &Value<'_>) -> Vec<String> {
        let example = "allowed_origins = [\"http://localhost:6274\"]";
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            DeValue::String(s) => {
                self.report(
                    value.span().start,
                    "`allowed_origins` in [bridge] must be an array of strings, found a string",
                    format!(
                        "wrap it in brackets: allowed_origins = [{}]",
                        toml_string(s.trim())
                    ),
                );
                return Vec::new();
            }
            other => {
                self.report(
                    value.span().start,
                    format!(
                        "`allowed_origins` in [bridge] must be an array of strings, found {}",
                        a_type(other)
                    ),
                    format!("list the origins in quotes, e.g. {example}"),
                );
                return Vec::new();
            }
        };
        let mut origins: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let DeValue::String(s) = item.get_ref() else {
                self.report(
                    item.span().start,
                    format!(
                        "`allowed_origins` in [bridge] must be an array of strings, but item {} is {}",
                        i + 1,
                        a_type(item.get_ref())
                    ),
                    format!("write each origin in quotes, e.g. {example}"),
                );
                continue;
            };
            match parse_origin(s) {
                Ok(origin) if origins.contains(&origin) => {}
                Ok(origin) => origins.push(origin),
                Err(e) => self.report(
                    item.span().start,
                    format!(
                        "`allowed_origins` in [bridge] has {}, which is not an origin: {}",
                        toml_string(s),
                        e.why
                    ),
                    e.fix,
                ),
            }
        }
        origins
    }

    fn servers(&mut self, table: &DeTable<'_>) -> BTreeMap<String, ServerConfig> {
        let mut servers = BTreeMap::new();
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            if let Some((problem, fix)) = server_name_problem(name) {
                self.report(key.span().start, problem, fix);
            }
            let section = server_section(name);
            let DeValue::Table(entries) = value.get_ref() else {
                let fix = if SERVER_KEYS.contains(&name) {
                    // `[servers]` then `command = ...`: the server's name was left out.
                    format!(
                        "each server needs a name: put `{name}` under a [servers.NAME] section, e.g. [servers.time]"
                    )
                } else {
                    format!("write it as a {section} section with at least `command = \"...\"`")
                };
                self.report(
                    key.span().start,
                    format!(
                        "server `{name}` must be a table, found {}",
                        a_type(value.get_ref())
                    ),
                    fix,
                );
                continue;
            };
            let server = self.server(key, entries, &section);
            servers.insert(name.to_owned(), server);
        }
        servers
    }

    fn server(&mut self, name: &Key<'_>, table: &DeTable<'_>, section: &str) -> ServerConfig {
        let mut server = ServerConfig::new("");
        let mut command_mentioned = false;
        let mut kind: Option<(usize, String)> = None;
        let mut godot = crate::config::GodotAiConfig::default();
        let mut godot_keys: Vec<(usize, &'static str)> = Vec::new();
        let mut args_at = None;
        for (key, value) in table {
            let at = value.span().start;
            match key.get_ref().as_ref() {
                "command" => {
                    command_mentioned = true;
                    if let Some(command) = self.command(value, section) {
                        server.command = command;
                    }
                }
                "args" => {
                    args_at = Some(at);
                    server.args = self.args(value, section);
                }
                "env" => server.env = self.env(value, section),
                "cwd" => {
                    if let Some(cwd) = self.string(value, section, "cwd", "/path/to/dir") {
                        if cwd.is_empty() {
                            self.report(
                                at,
                                format!("`cwd` in {section} is empty"),
                                "set it to the directory to start the server in, or remove it to use bridgedock's working directory",
                            );
                        } else {
                            server.cwd = Some(PathBuf::from(cwd));
                        }
                    }
                }
                "transport" => {
                    if let Some(t) = self.string(value, section, "transport", "stdio") {
                        self.transport(at, t, section);
                    }
                }
                "version" => {
                    if let Some(v) = self.string(value, section, "version", "1.2.3") {
                        server.version = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
                    }
                }
                "restart" => {
                    if let Some(r) = self.string(value, section, "restart", "on-failure") {
                        if let Some(policy) = self.restart(at, r, section) {
                            server.restart = policy;
                        }
                    }
                }
                "autostart" => {
                    if let Some(b) = self.autostart(value, section) {
                        server.autostart = b;
                    }
                }
                "stop_grace" => {
                    if let Some(d) = self.duration(value, section, "stop_grace") {
                        server.stop_grace = d;
                    }
                }
                "request_timeout" => match self.duration(value, section, "request_timeout") {
                    Some(d) if d.is_zero() => self.report(
                        at,
                        format!("`request_timeout` in {section} is zero"),
                        "use a positive duration, e.g. request_timeout = \"60s\"",
                    ),
                    Some(d) => server.request_timeout = d,
                    None => {}
                },
                "start_timeout" => match self.duration(value, section, "start_timeout") {
                    Some(d) if d.is_zero() => self.report(
                        at,
                        format!("`start_timeout` in {section} is zero"),
                        "use a positive duration, e.g. start_timeout = \"2min\" (npx and uvx may download the server first)",
                    ),
                    Some(d) => server.start_timeout = d,
                    None => {}
                },
                "kind" => {
                    if let Some(k) = self.string(value, section, "kind", "godot-ai") {
                        if KINDS.contains(&k) {
                            kind = Some((at, k.to_owned()));
                        } else {
                            // It was meant to be some kind: "no `command`" would mislead.
                            command_mentioned = true;
                            self.report(
                                at,
                                format!("unknown kind `{k}` in {section}"),
                                unknown_fix(k, KINDS, &format!("use one of {}", list(KINDS))),
                            );
                        }
                    }
                }
                "http_port" => {
                    godot_keys.push((at, "http_port"));
                    if let Some(p) = self.server_port(value, section, "http_port") {
                        godot.http_port = p;
                    }
                }
                "ws_port" => {
                    godot_keys.push((at, "ws_port"));
                    if let Some(p) = self.server_port(value, section, "ws_port") {
                        godot.ws_port = p;
                    }
                }
                "dependency_overrides" => {
                    godot_keys.push((at, "dependency_overrides"));
                    godot.dependency_overrides = self.args(value, section);
                }
                other => {
                    // `comand = "uvx"` is better reported as the typo it is than as a
                    // missing `command`, which would be the first error in the file.
                    command_mentioned |= closest(other, SERVER_KEYS) == Some("command");
                    self.unknown_key(key, other, section, SERVER_KEYS);
                }
            }
        }
        if kind.as_ref().is_some_and(|(_, k)| k == "godot-ai") {
            if server.version.is_none() {
                self.report(
                    name.span().start,
                    format!(
                        "server `{}` is kind = \"godot-ai\" but has no `version`",
                        name.get_ref()
                    ),
                    format!(
                        "pin the package bridgedock runs under {section}, e.g. version = \"4.3.1\""
                    ),
                );
            }
            if let Some(at) = args_at {
                self.report(
                    at,
                    format!("`args` in {section} are not used for kind = \"godot-ai\""),
                    "remove them: bridgedock builds godot-ai's command line (ports, pid file, startup report) itself",
                );
            }
            if godot.http_port == godot.ws_port {
                self.report(
                    name.span().start,
                    format!("`http_port` and `ws_port` in {section} are both {}", godot.http_port),
                    "give the editor WebSocket its own port, e.g. http_port = 8000 and ws_port = 9500",
                );
            }
            if !command_mentioned {
                server.command = "uvx".to_owned();
            }
            server.godot = Some(godot);
            return server;
        }
        for (at, key) in godot_keys {
            self.report(
                at,
                format!("`{key}` in {section} is only for kind = \"godot-ai\""),
                "add kind = \"godot-ai\" to the section, or remove the key",
            );
        }
        if !command_mentioned {
            self.report(
                name.span().start,
                format!("server `{}` has no `command`", name.get_ref()),
                format!(
                    "add the program to run under {section}, e.g. command = \"npx\" or command = \"uvx\""
                ),
            );
        }
        server
    }

    fn unknown_key(&mut self, key: &Key<'_>, name: &str, section: &str, valid: &[&str]) {
        let fix = unknown_fix(
            name,
            valid,
            &format!("remove it; valid keys are {}", list(valid)),
        );
        self.report(
            key.span().start,
            format!("unknown key `{name}` in {section}"),
            fix,
        );
    }

    /// A string-valued key; reports and returns `None` for any other type.
    fn string<'v>(
        &mut self,
        value: &'v Value<'_>,
        section: &str,
        name: &str,
        example: &str,
    ) -> Option<&'v str> {
        if let DeValue::String(s) = value.get_ref() {
            return Some(s.as_ref());
        }
        let raw = self.source_of(value);
        let fix = if matches!(
            value.get_ref(),
            DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)
        ) {
            format!("put it in quotes: {name} = \"{raw}\"")
        } else {
            format!("use a string, e.g. {name} = \"{example}\"")
        };
        self.report(
            value.span().start,
            format!(
                "`{name}` in {section} must be a string, found {}",
                a_type(value.get_ref())
            ),
            fix,
        );
        None
    }

    fn command(&mut self, value: &Value<'_>, section: &str) -> Option<String> {
        let at = value.span().start;
        match value.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.report(
                    at,
                    format!("`command` in {section} is empty"),
                    "set it to the program to run, e.g. command = \"npx\"",
                );
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Array(_) => {
                // The shape of a Docker/Compose command line; bridgedock splits it in two.
                self.report(
                    at,
                    format!("`command` in {section} must be a string, found an array"),
                    "put the program in `command` and the rest in `args`, e.g. command = \"uvx\" and args = [\"mcp-server-time\"]",
                );
                None
            }
            other => {
                self.report(
                    at,
                    format!(
                        "`command` in {section} must be a string, found {}",
                        a_type(other)
                    ),
                    "set it to the program to run, e.g. command = \"npx\"",
                );
                None
            }
        }
    }

    fn server_port(&mut self, value: &Value<'_>, section: &str, name: &str) -> Option<u16> {
        match value.get_ref() {
            DeValue::Integer(i) => match i.as_str().parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    self.report(
                        value.span().start,
                        format!("`{name}` in {section} must be a port number from 1 to 65535"),
                        format!("e.g. {name} = 8000"),
                    );
                    None
                }
            },
            other => {
                self.report(
                    value.span().start,
                    format!(
                        "`{name}` in {section} must be a number, found {}",
                        a_type(other)
                    ),
                    format!("write it without quotes, e.g. {name} = 8000"),
                );
                None
            }
        }
    }

    fn args(&mut self, value: &Value<'_>, section: &str) -> Vec<String> {
        let at = value.span().start;
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            DeValue::String(s) => {
                self.report(
                    at,
                    format!("`args` in {section} must be an array of strings, found a string"),
                    format!(
                        "wrap it in brackets, one string per argument: args = [{}]",
                        quoted_words(s)
                    ),
                );
                return Vec::new();
            }
            other => {
                self.report(
                    at,
                    format!(
                        "`args` in {section} must be an array of strings, found {}",
                        a_type(other)
                    ),
                    "use one string per argument, e.g. args = [\"--port\", \"8000\"]",
                );
                return Vec::new();
            }
        };
        let mut args = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::String(s) => args.push(s.to_string()),
                other => {
                    let raw = self.source_of(item);
                    let fix = if matches!(
                        other,
                        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)
                    ) {
                        format!("put it in quotes: \"{raw}\"")
                    } else {
                        "use one string per argument, e.g. args = [\"--port\", \"8000\"]".to_owned()
                    };
                    self.report(
                        item.span().start,
                        format!(
                            "`args` in {section} must be an array of strings, but item {} is {}",
                            i + 1,
                            a_type(other)
                        ),
                        fix,
                    );
                }
            }
        }
        args
    }

    fn env(&mut self, value: &Value<'_>, section: &str) -> BTreeMap<String, String> {
        let DeValue::Table(vars) = value.get_ref() else {
            self.report(
                value.span().start,
                format!(
                    "`env` in {section} must be a table of strings, found {}",
                    a_type(value.get_ref())
                ),
                "write it as env = { NAME = \"value\" }",
            );
            return BTreeMap::new();
        };
        let mut env = BTreeMap::new();
        for (key, value) in vars {
            let name = key.get_ref().as_ref();
            match value.get_ref() {
                DeValue::String(s) => {
                    env.insert(name.to_owned(), s.to_string());
                }
                other => {
                    let raw = self.source_of(value);
                    let fix = if matches!(
                        other,
                        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)
                    ) {
                        format!("environment variables are strings; quote it: {name} = \"{raw}\"")
                    } else {
                        format!("environment variables are strings, e.g. {name} = \"value\"")
                    };
                    self.report(
                        value.span().start,
                        format!(
                            "env var `{name}` in {section} must be a string, found {}",
                            a_type(other)
                        ),
                        fix,
                    );
                }
            }
        }
        env
    }

    fn transport(&mut self, at: usize, transport: &str, section: &str) {
        if transport == Transport::Stdio.as_str() {
            return;
        }
        let fix = if REMOTE_TRANSPORTS.contains(&transport.to_lowercase().as_str()) {
            "only `stdio` is supported for now; for a remote server, point your client at its URL directly"
        } else {
            "only `stdio` is supported for now: set transport = \"stdio\" or remove it"
        };
        self.report(
            at,
            format!("unsupported transport \"{transport}\" in {section}"),
            fix,
        );
    }

    fn restart(&mut self, at: usize, value: &str, section: &str) -> Option<RestartPolicy> {
        if let Some(policy) = RestartPolicy::from_config_str(value) {
            return Some(policy);
        }
        let valid = list(RESTART_VALUES);
        let fix = match closest(value, RESTART_VALUES) {
            Some(s) => format!("did you mean \"{s}\"? `restart` must be one of {valid}"),
            None => format!("`restart` must be one of {valid}"),
        };
        self.report(
            at,
            format!("invalid `restart` value \"{value}\" in {section}"),
            fix,
        );
        None
    }

    fn autostart(&mut self, value: &Value<'_>, section: &str) -> Option<bool> {
        let fix = match value.get_ref() {
            DeValue::Boolean(b) => return Some(*b),
            DeValue::String(s) => match s.trim().to_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => "write it without quotes: autostart = true",
                "false" | "no" | "off" | "0" => "write it without quotes: autostart = false",
                _ => "write autostart = true or autostart = false, without quotes",
            },
            DeValue::Integer(_) if self.source_of(value) == "1" => "write autostart = true",
            DeValue::Integer(_) if self.source_of(value) == "0" => "write autostart = false",
            _ => "write autostart = true or autostart = false",
        };
        self.report(
            value.span().start,
            format!(
                "`autostart` in {section} must be true or false, found {}",
                a_type(value.get_ref())
            ),
            fix,
        );
        None
    }

    fn duration(&mut self, value: &Value<'_>, section: &str, key: &str) -> Option<Duration> {
        let at = value.span().start;
        let units = format!(
            "use a duration with a unit, e.g. {key} = \"5s\" or \"1500ms\", or a whole number of seconds"
        );
        match value.get_ref() {
            DeValue::String(s) => match humantime::parse_duration(s.trim()) {
                Ok(d) if d > MAX_DURATION => self.report(
                    at,
                    format!(
                        "`{key}` in {section} is longer than 7 days (\"{}\")",
                        s.trim()
                    ),
                    format!("use at most 7 days, e.g. {key} = \"60s\""),
                ),
                Ok(d) => return Some(d),
                Err(_) => {
                    let fix =
                        if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) {
                            format!("add a unit: {key} = \"{}s\"", s.trim())
                        } else {
                            units.clone()
                        };
                    self.report(
                        at,
                        format!("invalid `{key}` duration \"{s}\" in {section}"),
                        fix,
                    );
                }
            },
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) if Duration::from_secs(n.unsigned_abs()) > MAX_DURATION && n > 0 => self
                    .report(
                        at,
                        format!("`{key}` in {section} is longer than 7 days ({n} s)"),
                        format!("use at most 7 days, e.g. {key} = \"60s\""),
                    ),
                Ok(n) if n >= 0 => return Some(Duration::from_secs(n.unsigned_abs())),
                Ok(_) => self.report(
                    at,
                    format!(
                        "`{key}` in {section} is negative ({})",
                        self.source_of(value)
                    ),
                    format!("use zero or a positive duration, e.g. {key} = \"5s\""),
                ),
                Err(_) => self.report(at, format!("`{key}` in {section} is too large"), units),
            },
            DeValue::Float(_) => {
                let raw = self.source_of(value);
                let fix = match raw.parse::<f64>() {
                    Ok(secs) if (0.0..1e9).contains(&secs) => format!(
                        "whole seconds only; for fractions use milliseconds: {key} = \"{}ms\"",
                        (secs * 1000.0).round()
                    ),
                    _ => units.clone(),
                };
                self.report(
                    at,
                    format!("`{key}` in {section} must be a duration, found a float"),
                    fix,
                );
            }
            other => self.report(
                at,
                format!(
                    "`{key}` in {section} must be a duration, found {}",
                    a_type(other)
                ),
                units,
            ),
        }
        None
    }
}

fn unknown_fix(name: &str, valid: &[&str], otherwise: &str) -> String {
    match closest(name, valid) {
        Some(s) => format!("did you mean `{s}`?"),
        None => otherwise.to_owned(),
    }
}

/// "a string", "an integer", … for "found …" messages.
fn a_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// `"a", "b"` from `a b`, to show how a command-line string becomes an args array.
fn quoted_words(s: &str) -> String {
    s.split_whitespace()
        .map(toml_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::to_toml;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_toml(text, Path::new("c.toml"))
    }

    #[test]
    fn empty_file_is_an_empty_config() {
        let c = parse("").unwrap();
        assert!(c.servers.is_empty());
        assert_eq!(c.bridge, BridgeConfig::default());
        assert_eq!(c.source, ConfigSource::File(PathBuf::from("c.toml")));
    }

    #[test]
    fn full_example_parses() {
        let c = parse(
            r#"
[bridge]
host = "0.0.0.0"
port = 8080
allowed_origins = ["http://localhost:6274", "HTTPS://Inspector.Example:443", "http://localhost:6274"]

[servers.time]
command = "uvx"
args = ["mcp-server-time==2025.9.25"]
env = { TZ = "UTC" }
cwd = "/tmp"
transport = "stdio"
version = "2025.9.25"
restart = "always"
autostart = false
stop_grace = "1500ms"

[servers.fs]
command = "npx"
stop_grace = 2
"#,
        )
        .unwrap();
        assert_eq!(c.bridge.host, "0.0.0.0");
        assert_eq!(c.bridge.port, 8080);
        // Kept as browsers send them, each once.
        assert_eq!(
            c.bridge.allowed_origins,
            ["http://localhost:6274", "https://inspector.example"]
        );
        let time = &c.servers["time"];
        assert_eq!(time.command, "uvx");
        assert_eq!(time.args, ["mcp-server-time==2025.9.25"]);
        assert_eq!(time.env["TZ"], "UTC");
        assert_eq!(time.cwd.as_deref(), Some(Path::new("/tmp")));
        assert_eq!(time.version.as_deref(), Some("2025.9.25"));
        assert_eq!(time.restart, RestartPolicy::Always);
        assert!(!time.autostart);
        assert_eq!(time.stop_grace, Duration::from_millis(1500));
        let fs = &c.servers["fs"];
        assert_eq!(fs, &{
            let mut s = ServerConfig::new("npx");
            s.stop_grace = Duration::from_secs(2);
            s
        });
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let c = parse("\u{feff}[servers.a]\ncommand = \"x\"\n").unwrap();
        assert_eq!(c.servers["a"].command, "x");
        let e = parse("\u{feff}[servres]\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 2));
    }

    #[test]
    fn defaults_apply() {
        let c = parse("[servers.a]\ncommand = \"x\"\nversion = \"\"\n").unwrap();
        assert_eq!(c.servers["a"], ServerConfig::new("x"));
        assert_eq!(c.bridge.port, DEFAULT_PORT);
        assert_eq!(c.bridge.host, "127.0.0.1");
    }

    #[test]
    fn stop_grace_spellings() {
        for (text, expected) in [
            ("\"5s\"", Duration::from_secs(5)),
            ("\"2m\"", Duration::from_secs(120)),
            ("\"1500ms\"", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            ("10", Duration::from_secs(10)),
        ] {
            let c = parse(&format!(
                "[servers.a]\ncommand = \"x\"\nstop_grace = {text}\n"
            ))
            .unwrap();
            assert_eq!(c.servers["a"].stop_grace, expected, "{text}");
        }
    }

    #[test]
    fn dotted_and_inline_forms_are_equivalent() {
        let a = parse("servers.a.command = \"x\"\n").unwrap();
        let b = parse("servers = { a = { command = \"x\" } }\n").unwrap();
        let c = parse("[servers.a]\ncommand = \"x\"\n").unwrap();
        assert_eq!(a.servers, c.servers);
        assert_eq!(b.servers, c.servers);
    }

    #[test]
    fn reports_the_first_problem_in_the_file() {
        // `zzz` sorts after `aaa` but comes first in the file.
        let e = parse("[servers.zzz]\nargs = []\n[servers.aaa]\nargs = []\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 10));
        assert_eq!(e.problem, "server `zzz` has no `command`");
        // Within one server too: `zzz` (line 2) is reported before `aaa` (line 3).
        let e = parse("[servers.a]\nzzz = 1\naaa = 2\ncommand = \"x\"\n").unwrap_err();
        assert_eq!(e.problem, "unknown key `zzz` in [servers.a]");
    }

    #[test]
    fn extra_cases_are_helpful() {
        let cases = [
            (
                "port = 7455\n",
                "c.toml:1:1: unknown top-level key `port`\n  fix: move `port` under the [bridge] section",
            ),
            (
                "[servers]\ncommand = \"x\"\n",
                "c.toml:2:1: server `command` must be a table, found a string\n  fix: each server needs a name: put `command` under a [servers.NAME] section, e.g. [servers.time]",
            ),
            (
                "[servers.a]\ncommand = [\"uvx\", \"t\"]\n",
                "c.toml:2:11: `command` in [servers.a] must be a string, found an array\n  fix: put the program in `command` and the rest in `args`, e.g. command = \"uvx\" and args = [\"mcp-server-time\"]",
            ),
            (
                "[bridge]\nport = \"8080\"\n",
                "c.toml:2:8: `port` in [bridge] must be an integer, found a string\n  fix: remove the quotes: port = 8080",
            ),
            (
                "[servers.a]\ncommand = \"x\"\nrestart = \"OnFailure\"\n",
                "c.toml:3:11: invalid `restart` value \"OnFailure\" in [servers.a]\n  fix: did you mean \"on-failure\"? `restart` must be one of `always`, `on-failure`, `never`",
            ),
            (
                "[servers.a]\ncommand = \"x\"\nstop_grace = \"5\"\n",
                "c.toml:3:14: invalid `stop_grace` duration \"5\" in [servers.a]\n  fix: add a unit: stop_grace = \"5s\"",
            ),
            (
                "[servers.a]\ncommand = \"x\"\nstop_grace = 1.5\n",
                "c.toml:3:14: `stop_grace` in [servers.a] must be a duration, found a float\n  fix: whole seconds only; for fractions use milliseconds: stop_grace = \"1500ms\"",
            ),
            (
                "bridge = 1\n",
                "c.toml:1:1: `bridge` must be a section, found an integer\n  fix: write it as a [bridge] section header followed by its settings",
            ),
            (
                "[servers.a]\ncommand = \"x\"\nversion = 1.2\n",
                "c.toml:3:11: `version` in [servers.a] must be a string, found a float\n  fix: put it in quotes: version = \"1.2\"",
            ),
            (
                "[servers.a]\ncommand = \"x\"\nenv = [\"A=1\"]\n",
                "c.toml:3:7: `env` in [servers.a] must be a table of strings, found an array\n  fix: write it as env = { NAME = \"value\" }",
            ),
            (
                "[servers.a]\ncommand = \"x\"\n[servers.a]\n",
                "c.toml:3:10: invalid TOML: duplicate key\n  fix: remove or rename one of the duplicates",
            ),
        ];
        let mut failures = Vec::new();
        for (text, expected) in cases {
            let actual = parse(text).unwrap_err().render();
            if actual != expected {
                failures.push(format!(
                    "input:\n{text}\nexpected:\n{expected}\nactual:\n{actual}\n"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn round_trips_through_to_toml() {
        let mut time = ServerConfig::new("uvx");
        time.args = vec!["mcp-server-time".into(), "--tz=\"UTC\"".into()];
        time.env = BTreeMap::from([
            ("TZ".into(), "UTC".into()),
            ("WEIRD KEY".into(), "a\\b\nc".into()),
            // Found by the config fuzz target: a key with both quotes or a line break was
            // written as a multi-line string, which no TOML key may be.
            ("it's \"quoted\"".into(), "\"both\" 'kinds'".into()),
            ("line\nbreak\t\u{7f}\\".into(), "\nleading newline".into()),
        ]);
        time.cwd = Some(PathBuf::from("C:\\Users\\me"));
        time.version = Some("2025.9.25".into());
        time.restart = RestartPolicy::Never;
        time.autostart = false;
        time.stop_grace = Duration::from_millis(1500);
        let mut odd = ServerConfig::new("x");
        odd.stop_grace = Duration::from_nanos(1_000_000_007);
        // A kind keeps its own keys (they used to be dropped: the file came back a plain `uvx`).
        let mut godot = ServerConfig::new("uvx");
        godot.version = Some("4.3.1".into());
        godot.godot = Some(crate::config::GodotAiConfig {
            http_port: 8100,
            ws_port: 9500,
            dependency_overrides: vec!["certifi>=2026.10.18".into()],
        });
        let config = Config {
            bridge: BridgeConfig {
                host: "::1".into(),
                port: 9000,
                allowed_origins: vec![
                    "http://localhost:6274".into(),
                    "https://inspector.example".into(),
                ],
            },
            servers: BTreeMap::from([
                ("time".into(), time),
                ("plain".into(), ServerConfig::new("npx")),
                ("odd".into(), odd),
                ("godot".into(), godot),
            ]),
            source: ConfigSource::McpServersJson(PathBuf::from("mcp.json")),
        };
        let text = to_toml(&config);
        let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.bridge, config.bridge);
        assert_eq!(back.servers, config.servers);
        assert!(text.starts_with("# bridgedock config, imported from mcp.json\n"));
    }

    #[test]
    fn to_toml_is_minimal_for_defaults() {
        let config = Config {
            bridge: BridgeConfig::default(),
            servers: BTreeMap::from([("a".into(), ServerConfig::new("npx"))]),
            source: ConfigSource::Embedded,
        };
        assert_eq!(
            to_toml(&config),
            "[bridge]\nhost = \"127.0.0.1\"\nport = 7455\n\n[servers.a]\ncommand = \"npx\"\n"
        );
    }
}
