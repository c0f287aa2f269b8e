//! bridgedock's configuration: the data model every other module reads, and the two file
//! formats that produce it.
//!
//! - `config.toml` (see [`parse_toml`]) is bridgedock's own format and the one users edit.
//! - `mcpServers` JSON (see [`parse_mcp_servers_json`]) is what Claude Desktop, Cursor and
//!   VS Code already have; reading it lets `bridgedockd import` and `--config x.json` take over
//!   an existing setup without retyping it.
//!
//! The model is plain data with defaults already applied, so consumers never see an
//! `Option` for something that has a sensible default. Loading fails with a single
//! [`ConfigError`] naming file, line, column, the problem and the fix, because a daemon that
//! starts with half a config is worse than one that refuses with a clear message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod mcp_json;
mod origin;
mod position;
mod suggest;
mod toml_file;
mod toml_write;

pub use crate::paths::DEFAULT_PORT;
pub use mcp_json::parse_mcp_servers_json;
pub use origin::{NotAnOrigin, parse_origin};
pub use toml_file::parse_toml;
pub use toml_write::to_toml;

/// The API's default listen address: loopback, so nothing is exposed unless the user asks.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// How long a server gets between the polite stop request and the kill.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// How long a request through the bridge may wait for its answer, unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a new server process may take to answer bridgedock's MCP handshake, unless
/// configured: a cold `npx -y`/`uvx` start downloads the server first (45 s for server-memory
/// on an empty cache, measured), and requests wait for it meanwhile.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Server names end up in URLs and log-source tags, so they are kept to a URL-safe alphabet.
pub const MAX_SERVER_NAME_LEN: usize = 64;

/// Server names that bridgedock uses for itself.
const RESERVED_SERVER_NAMES: &[&str] = &["bridge"];

/// A loaded configuration, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bridge: BridgeConfig,
    pub servers: BTreeMap<String, ServerConfig>,
    pub source: ConfigSource,
}

/// Where the bridge (the API that clients connect to) listens, and who may call it.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    pub host: String,
    pub port: u16,
    /// Web origins (as [`parse_origin`] keeps them) of browser-based MCP clients, such as the
    /// MCP Inspector's page: they may use the MCP endpoints (`/mcp/NAME`), never the dock's API.
    pub allowed_origins: Vec<String>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            allowed_origins: Vec::new(),
        }
    }
}

/// How bridgedock talks to a server: stdio for servers it spawns from config today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    #[default]
    Stdio,
    /// Streamable HTTP. Not a config setting yet: a kind whose server speaks HTTP (godot-ai)
    /// launches it so, and status says so.
    Http,
}

impl Transport {
    /// The spelling used in config files and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
        }
    }
}

/// What the supervisor does when a server exits on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    #[default]
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// Every policy, in the order the docs list them.
    pub const ALL: [RestartPolicy; 3] = [
        RestartPolicy::Always,
        RestartPolicy::OnFailure,
        RestartPolicy::Never,
    ];

    /// The spelling used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    }

    fn from_config_str(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One supervised MCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub transport: Transport,
    /// The version the user expects the server to report; `None` means "don't check".
    pub version: Option<String>,
    pub restart: RestartPolicy,
    pub autostart: bool,
    pub stop_grace: Duration,
    /// How long a client's request may wait for the server's answer (reset by progress).
    pub request_timeout: Duration,
    /// How long a new process may take to answer the MCP handshake before it is shown as not
    /// answering and the requests waiting for it fail.
    pub start_timeout: Duration,
    /// Set for `kind = "godot-ai"`: bridgedock runs that package itself and stands between it
    /// and the Godot editor plugin (see [`crate::godot`]).
    pub godot: Option<GodotAiConfig>,
}

/// A `kind = "godot-ai"` server: the pinned package version is [`ServerConfig::version`].
#[derive(Debug, Clone, PartialEq)]
pub struct GodotAiConfig {
    /// The HTTP port the plugin and godot-ai's own attach bridges know (godot-ai's default 8000).
    pub http_port: u16,
    /// The editor WebSocket port the plugin connects to (godot-ai's default 9500).
    pub ws_port: u16,
    /// Requirement overrides handed to `uvx --overrides`, for a registry that lacks a pin.
    pub dependency_overrides: Vec<String>,
}

impl Default for GodotAiConfig {
    fn default() -> Self {
        GodotAiConfig {
            http_port: 8000,
            ws_port: 9500,
            dependency_overrides: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// A server running `command` with every other setting at its default.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            transport: Transport::Stdio,
            version: None,
            restart: RestartPolicy::OnFailure,
            autostart: true,
            stop_grace: DEFAULT_STOP_GRACE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
            godot: None,
        }
    }
}

/// Where a [`Config`] came from; shown in the UI and used by `import` to label its output.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    File(PathBuf),
    McpServersJson(PathBuf),
    Embedded,
}

/// A config problem, located precisely enough for an editor to jump to it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not at a place in the file (e.g. it can't be read).
    pub line: usize,
    /// 1-based, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl ConfigError {
    /// `FILE:LINE:COLUMN: PROBLEM` then `  fix: FIX`, the shape compilers use so terminals and
    /// editors make the location clickable.
    pub fn render(&self) -> String {
        let file = self.file.display();
        if self.line == 0 {
            format!("{file}: {}\n  fix: {}", self.problem, self.fix)
        } else {
            format!(
                "{file}:{}:{}: {}\n  fix: {}",
                self.line, self.column, self.problem, self.fix
            )
        }
    }

    /// An error at byte `offset` of `text`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        offset: usize,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let (line, column) = position::line_col(text, offset);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// An error about the file as a whole.
    pub(crate) fn whole_file(
        file: &Path,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Reads a config file. `.json` files are read as an `mcpServers` JSON; anything else as
/// bridgedock TOML. Warnings from JSON import are dropped here; use
/// [`parse_mcp_servers_json`] directly to show them.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| read_error(path, &e))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]);
            return Err(ConfigError::at(
                path,
                &prefix,
                valid,
                "config file is not valid UTF-8",
                "save the file as UTF-8",
            ));
        }
    };
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    if is_json {
        parse_mcp_servers_json(&text, path).map(|(config, _warnings)| config)
    } else {
        parse_toml(&text, path)
    }
}

fn read_error(path: &Path, err: &std::io::Error) -> ConfigError {
    use std::io::ErrorKind;
    // io::Error's Display appends "(os error N)" and varies by platform; the kind-based
    // wording keeps messages (and tests) stable.
    let (reason, fix) = match err.kind() {
        ErrorKind::NotFound => (
            "No such file or directory".to_owned(),
            "create it, or run without --config to use the built-in demo",
        ),
        ErrorKind::PermissionDenied => (
            "Permission denied".to_owned(),
            "make the file readable by the user running bridgedock",
        ),
        ErrorKind::IsADirectory => (
            "Is a directory".to_owned(),
            "point --config at a file, e.g. config.toml inside that directory",
        ),
        _ => {
            let full = err.to_string();
            let reason = match full.find(" (os error") {
                Some(i) => full[..i].to_owned(),
                None => full,
            };
            (reason, "check that the path names a readable file")
        }
    };
    ConfigError::whole_file(path, format!("cannot read config file: {reason}"), fix)
}

/// The config used when the user has none: one demo server, `demo`, running the bundled demo
/// script with the platform's Python.
pub fn embedded_default(demo_script: &Path) -> Config {
    let python = if cfg!(windows) { "python" } else { "python3" };
    let mut demo = ServerConfig::new(python);
    demo.args = vec![demo_script.to_string_lossy().into_owned()];
    Config {
        bridge: BridgeConfig::default(),
        servers: BTreeMap::from([("demo".to_owned(), demo)]),
        source: ConfigSource::Embedded,
    }
}

/// Whether `name` can be used as a server name: 1–64 ASCII letters, digits, `-` or `_`, and
/// not reserved. Names appear in URLs (`/servers/NAME/...`) and as log sources.
pub fn is_valid_server_name(name: &str) -> bool {
    server_name_problem(name).is_none()
}

/// Why `name` is not a valid server name, as a `(problem, fix)` pair, or `None` if it is valid.
fn server_name_problem(name: &str) -> Option<(String, String)> {
    if RESERVED_SERVER_NAMES.contains(&name) {
        return Some((
            format!("server name `{name}` is reserved"),
            format!(
                "bridgedock uses `{name}` as the source name of its own logs; rename the server, e.g. `{name}-server`"
            ),
        ));
    }
    let well_formed = !name.is_empty()
        && name.len() <= MAX_SERVER_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        return None;
    }
    let rule = "server names appear in URLs: use 1–64 ASCII letters, digits, `-` or `_`";
    let fix = if name.is_empty() {
        format!("{rule}, e.g. `my-server`")
    } else {
        format!("{rule}, e.g. `{}`", sanitize_server_name(name))
    };
    let problem = if name.len() > MAX_SERVER_NAME_LEN {
        format!(
            "invalid server name `{name}`: too long ({} characters)",
            name.chars().count()
        )
    } else {
        format!("invalid server name `{name}`")
    };
    Some((problem, fix))
}

/// The closest valid name to `name`: other characters become `-`, length is capped, and
/// reserved names get a suffix. Used for suggestions and when importing other tools' configs.
fn sanitize_server_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // "my  server" reads better as "my-server" than "my--server".
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let mut out = out.trim_matches('-').to_owned();
    out.truncate(MAX_SERVER_NAME_LEN);
    if out.is_empty() {
        out = "server".to_owned();
    }
    if RESERVED_SERVER_NAMES.contains(&out.as_str()) {
        out.push_str("-server");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_with_and_without_position() {
        let mut e = ConfigError {
            file: PathBuf::from("c.toml"),
            line: 3,
            column: 7,
            problem: "bad".into(),
            fix: "fix it".into(),
        };
        assert_eq!(e.render(), "c.toml:3:7: bad\n  fix: fix it");
        assert_eq!(e.to_string(), e.render());
        e.line = 0;
        assert_eq!(e.render(), "c.toml: bad\n  fix: fix it");
    }

    #[test]
    fn server_names() {
        assert!(is_valid_server_name("time"));
        assert!(is_valid_server_name("my_server-2"));
        assert!(!is_valid_server_name(""));
        assert!(!is_valid_server_name("my server"));
        assert!(!is_valid_server_name("bridge"));
        assert!(!is_valid_server_name(&"a".repeat(65)));
        assert!(is_valid_server_name(&"a".repeat(64)));
    }

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize_server_name("my server"), "my-server");
        assert_eq!(sanitize_server_name("github.com/x"), "github-com-x");
        assert_eq!(sanitize_server_name("  "), "server");
        assert_eq!(sanitize_server_name("bridge"), "bridge-server");
        assert_eq!(sanitize_server_name(&"é".repeat(100)), "server");
        assert_eq!(sanitize_server_name(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn embedded_default_runs_the_demo() {
        let c = embedded_default(Path::new("/opt/demo.py"));
        assert_eq!(c.source, ConfigSource::Embedded);
        assert_eq!(c.bridge, BridgeConfig::default());
        let demo = &c.servers["demo"];
        let python = if cfg!(windows) { "python" } else { "python3" };
        assert_eq!(demo.command, python);
        assert_eq!(demo.args, vec!["/opt/demo.py".to_owned()]);
        assert_eq!(demo.restart, RestartPolicy::OnFailure);
        assert!(demo.autostart);
        assert_eq!(demo.version, None);
    }

    #[test]
    fn load_missing_file() {
        let e = load(Path::new("/nonexistent/bridgedock.toml")).unwrap_err();
        assert_eq!(
            e.render(),
            "/nonexistent/bridgedock.toml: cannot read config file: No such file or directory\n  fix: create it, or run without --config to use the built-in demo"
        );
    }

    #[test]
    fn load_dispatches_on_extension() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("c.toml");
        std::fs::write(&toml_path, "[servers.a]\ncommand = \"x\"\n").unwrap();
        let c = load(&toml_path).unwrap();
        assert_eq!(c.source, ConfigSource::File(toml_path));
        assert_eq!(c.servers["a"].command, "x");

        let json_path = dir.path().join("claude_desktop_config.JSON");
        std::fs::write(&json_path, r#"{"mcpServers":{"a":{"command":"y"}}}"#).unwrap();
        let c = load(&json_path).unwrap();
        assert_eq!(c.source, ConfigSource::McpServersJson(json_path));
        assert_eq!(c.servers["a"].command, "y");
    }

    #[test]
    fn load_rejects_invalid_utf8_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, b"[bridge]\nhost = \"\xff\"\n").unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
        assert_eq!(e.problem, "config file is not valid UTF-8");
    }
}
