//! Every config mistake we promise a precise message for, with the exact text the user sees.
//!
//! Table-driven so the expected output sits next to the input that produces it; a failure
//! prints every mismatch at once, which makes rewording a message a one-pass edit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

use std::path::Path;

use bridgedock_engine::config::*;

/// (what the case is about, config.toml contents, expected `render()` output)
const CASES: &[(&str, &str, &str)] = &[
    (
        "syntax: unclosed string",
        "[servers.time]\ncommand = \"uvx\n",
        "config.toml:2:15: invalid TOML: invalid basic string, expected `\"`\n  fix: close the string with the quote it was opened with; strings go in \"double quotes\"",
    ),
    (
        "syntax: missing `=`",
        "[servers.time]\ncommand \"uvx\"\n",
        "config.toml:2:9: invalid TOML: key with no value, expected `=`\n  fix: write each setting as `key = value`, e.g. command = \"uvx\"",
    ),
    (
        "unknown top-level section",
        "[servres.time]\ncommand = \"uvx\"\n",
        "config.toml:1:2: unknown section `[servres]`\n  fix: did you mean `servers`?",
    ),
    (
        "unknown key in [bridge]",
        "[bridge]\nprot = 8000\n",
        "config.toml:2:1: unknown key `prot` in [bridge]\n  fix: did you mean `port`?",
    ),
    (
        "unknown key in a server: comand",
        "[servers.time]\ncomand = \"uvx\"\n",
        "config.toml:2:1: unknown key `comand` in [servers.time]\n  fix: did you mean `command`?",
    ),
    (
        "unknown key in a server: arg",
        "[servers.time]\ncommand = \"uvx\"\narg = [\"mcp-server-time\"]\n",
        "config.toml:3:1: unknown key `arg` in [servers.time]\n  fix: did you mean `args`?",
    ),
    (
        "unknown key with nothing close",
        "[servers.time]\ncommand = \"uvx\"\nflavour = \"vanilla\"\n",
        "config.toml:3:1: unknown key `flavour` in [servers.time]\n  fix: remove it; valid keys are `command`, `args`, `env`, `cwd`, `transport`, `version`, `restart`, `autostart`, `stop_grace`, `request_timeout`, `start_timeout`, `kind`, `http_port`, `ws_port`, `dependency_overrides`",
    ),
    (
        "a duration past any use (deadlines would overflow the clock)",
        "[servers.time]\ncommand = \"uvx\"\nrequest_timeout = \"1639710584329w\"\n",
        "config.toml:3:19: `request_timeout` in [servers.time] is longer than 7 days (\"1639710584329w\")\n  fix: use at most 7 days, e.g. request_timeout = \"60s\"",
    ),
    (
        "godot-ai without a pinned version",
        "[servers.godot]\nkind = \"godot-ai\"\n",
        "config.toml:1:10: server `godot` is kind = \"godot-ai\" but has no `version`\n  fix: pin the package bridgedock runs under [servers.godot], e.g. version = \"4.3.1\"",
    ),
    (
        "godot-ai with args",
        "[servers.godot]\nkind = \"godot-ai\"\nversion = \"4.3.1\"\nargs = [\"--port\", \"8000\"]\n",
        "config.toml:4:8: `args` in [servers.godot] are not used for kind = \"godot-ai\"\n  fix: remove them: bridgedock builds godot-ai's command line (ports, pid file, startup report) itself",
    ),
    (
        "a godot-ai key on an ordinary server",
        "[servers.time]\ncommand = \"uvx\"\nws_port = 9500\n",
        "config.toml:3:11: `ws_port` in [servers.time] is only for kind = \"godot-ai\"\n  fix: add kind = \"godot-ai\" to the section, or remove the key",
    ),
    (
        "unknown kind",
        "[servers.godot]\nkind = \"godot\"\nversion = \"4.3.1\"\n",
        "config.toml:2:8: unknown kind `godot` in [servers.godot]\n  fix: use one of `mcp`, `godot-ai`",
    ),
    (
        "a port in quotes",
        "[servers.godot]\nkind = \"godot-ai\"\nversion = \"4.3.1\"\nhttp_port = \"8000\"\n",
        "config.toml:4:13: `http_port` in [servers.godot] must be a number, found a string\n  fix: write it without quotes, e.g. http_port = 8000",
    ),
    (
        "both godot-ai ports the same",
        "[servers.godot]\nkind = \"godot-ai\"\nversion = \"4.3.1\"\nhttp_port = 9500\n",
        "config.toml:1:10: `http_port` and `ws_port` in [servers.godot] are both 9500\n  fix: give the editor WebSocket its own port, e.g. http_port = 8000 and ws_port = 9500",
    ),
    (
        "server without command",
        "[servers.time]\nargs = [\"mcp-server-time\"]\n",
        "config.toml:1:10: server `time` has no `command`\n  fix: add the program to run under [servers.time], e.g. command = \"npx\" or command = \"uvx\"",
    ),
    (
        "empty command",
        "[servers.time]\ncommand = \"\"\n",
        "config.toml:2:11: `command` in [servers.time] is empty\n  fix: set it to the program to run, e.g. command = \"npx\"",
    ),
    (
        "args is a string",
        "[servers.time]\ncommand = \"uvx\"\nargs = \"mcp-server-time --local-timezone UTC\"\n",
        "config.toml:3:8: `args` in [servers.time] must be an array of strings, found a string\n  fix: wrap it in brackets, one string per argument: args = [\"mcp-server-time\", \"--local-timezone\", \"UTC\"]",
    ),
    (
        "args item is not a string",
        "[servers.time]\ncommand = \"uvx\"\nargs = [\"--port\", 1]\n",
        "config.toml:3:19: `args` in [servers.time] must be an array of strings, but item 2 is an integer\n  fix: put it in quotes: \"1\"",
    ),
    (
        "bad restart value",
        "[servers.time]\ncommand = \"uvx\"\nrestart = \"sometimes\"\n",
        "config.toml:3:11: invalid `restart` value \"sometimes\" in [servers.time]\n  fix: `restart` must be one of `always`, `on-failure`, `never`",
    ),
    (
        "misspelled restart value",
        "[servers.time]\ncommand = \"uvx\"\nrestart = \"on_failure\"\n",
        "config.toml:3:11: invalid `restart` value \"on_failure\" in [servers.time]\n  fix: did you mean \"on-failure\"? `restart` must be one of `always`, `on-failure`, `never`",
    ),
    (
        "unsupported transport",
        "[servers.time]\ncommand = \"uvx\"\ntransport = \"http\"\n",
        "config.toml:3:13: unsupported transport \"http\" in [servers.time]\n  fix: only `stdio` is supported for now; for a remote server, point your client at its URL directly",
    ),
    (
        "bad stop_grace string",
        "[servers.time]\ncommand = \"uvx\"\nstop_grace = \"five seconds\"\n",
        "config.toml:3:14: invalid `stop_grace` duration \"five seconds\" in [servers.time]\n  fix: use a duration with a unit, e.g. stop_grace = \"5s\" or \"1500ms\", or a whole number of seconds",
    ),
    (
        "negative stop_grace",
        "[servers.time]\ncommand = \"uvx\"\nstop_grace = -3\n",
        "config.toml:3:14: `stop_grace` in [servers.time] is negative (-3)\n  fix: use zero or a positive duration, e.g. stop_grace = \"5s\"",
    ),
    (
        "port out of range",
        "[bridge]\nport = 70000\n",
        "config.toml:2:8: port 70000 in [bridge] is out of range\n  fix: use a port from 1 to 65535, e.g. port = 7455",
    ),
    (
        "port zero",
        "[bridge]\nport = 0\n",
        "config.toml:2:8: port 0 in [bridge] is out of range\n  fix: use a port from 1 to 65535, e.g. port = 7455",
    ),
    (
        "empty host",
        "[bridge]\nhost = \"\"\n",
        "config.toml:2:8: `host` in [bridge] is empty\n  fix: set it to the address to listen on, e.g. host = \"127.0.0.1\", or remove it to use that default",
    ),
    (
        "allowed_origins: a trailing slash never matches what browsers send",
        "[bridge]\nallowed_origins = [\"http://localhost:6274/\"]\n",
        "config.toml:2:20: `allowed_origins` in [bridge] has \"http://localhost:6274/\", which is not an origin: it has a path (`/`)\n  fix: write the origin alone, as browsers send it: \"http://localhost:6274\"",
    ),
    (
        "allowed_origins: a URL with a path",
        "[bridge]\nallowed_origins = [\"http://localhost:6274\", \"http://localhost:6274/mcp/time\"]\n",
        "config.toml:2:45: `allowed_origins` in [bridge] has \"http://localhost:6274/mcp/time\", which is not an origin: it has a path (`/mcp/time`)\n  fix: write the origin alone, as browsers send it: \"http://localhost:6274\"",
    ),
    (
        "allowed_origins: no scheme",
        "[bridge]\nallowed_origins = [\"localhost:6274\"]\n",
        "config.toml:2:20: `allowed_origins` in [bridge] has \"localhost:6274\", which is not an origin: it has no scheme\n  fix: write it with the scheme the page is served with: \"http://localhost:6274\" (or https://)",
    ),
    (
        "allowed_origins: a wildcard",
        "[bridge]\nallowed_origins = [\"*\"]\n",
        "config.toml:2:20: `allowed_origins` in [bridge] has \"*\", which is not an origin: a wildcard would let every web page you visit use your MCP servers\n  fix: list each origin that may use them, e.g. allowed_origins = [\"http://localhost:6274\"]",
    ),
    (
        "allowed_origins: null",
        "[bridge]\nallowed_origins = [\"null\"]\n",
        "config.toml:2:20: `allowed_origins` in [bridge] has \"null\", which is not an origin: `null` is what sandboxed pages and local files send, so any page could claim it\n  fix: serve the MCP client from an http:// or https:// address and list that origin",
    ),
    (
        "allowed_origins: one string instead of a list",
        "[bridge]\nallowed_origins = \"http://localhost:6274\"\n",
        "config.toml:2:19: `allowed_origins` in [bridge] must be an array of strings, found a string\n  fix: wrap it in brackets: allowed_origins = [\"http://localhost:6274\"]",
    ),
    (
        "allowed_origins: a bare setting above [bridge]",
        "allowed_origins = []\n",
        "config.toml:1:1: unknown top-level key `allowed_origins`\n  fix: move `allowed_origins` under the [bridge] section",
    ),
    (
        "allowed_origins: misspelled",
        "[bridge]\nallowed_origin = [\"http://localhost:6274\"]\n",
        "config.toml:2:1: unknown key `allowed_origin` in [bridge]\n  fix: did you mean `allowed_origins`?",
    ),
    (
        "invalid server name",
        "[servers.\"my server\"]\ncommand = \"uvx\"\n",
        "config.toml:1:10: invalid server name `my server`\n  fix: server names appear in URLs: use 1–64 ASCII letters, digits, `-` or `_`, e.g. `my-server`",
    ),
    (
        "server name too long",
        "[servers.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\ncommand = \"uvx\"\n",
        "config.toml:1:10: invalid server name `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`: too long (65 characters)\n  fix: server names appear in URLs: use 1–64 ASCII letters, digits, `-` or `_`, e.g. `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`",
    ),
    (
        "reserved server name",
        "[servers.bridge]\ncommand = \"uvx\"\n",
        "config.toml:1:10: server name `bridge` is reserved\n  fix: bridgedock uses `bridge` as the source name of its own logs; rename the server, e.g. `bridge-server`",
    ),
    (
        "env value not a string",
        "[servers.api]\ncommand = \"uvx\"\nenv = { PORT = 8000 }\n",
        "config.toml:3:16: env var `PORT` in [servers.api] must be a string, found an integer\n  fix: environment variables are strings; quote it: PORT = \"8000\"",
    ),
    (
        "autostart as a string",
        "[servers.time]\ncommand = \"uvx\"\nautostart = \"yes\"\n",
        "config.toml:3:13: `autostart` in [servers.time] must be true or false, found a string\n  fix: write it without quotes: autostart = true",
    ),
    (
        "empty cwd",
        "[servers.time]\ncommand = \"uvx\"\ncwd = \"\"\n",
        "config.toml:3:7: `cwd` in [servers.time] is empty\n  fix: set it to the directory to start the server in, or remove it to use bridgedock's working directory",
    ),
];

#[test]
fn each_mistake_gets_a_precise_message() {
    let mut failures = Vec::new();
    for (what, text, expected) in CASES {
        let actual = match parse_toml(text, Path::new("config.toml")) {
            Ok(config) => format!("(parsed without error: {config:?})"),
            Err(e) => e.render(),
        };
        if actual != *expected {
            failures.push(format!(
                "{what}\n--- input\n{text}--- expected\n{expected}\n--- actual\n{actual}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn missing_file() {
    let e = load(Path::new("/nonexistent/dir/config.toml")).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert_eq!(
        e.render(),
        "/nonexistent/dir/config.toml: cannot read config file: No such file or directory\n  fix: create it, or run without --config to use the built-in demo"
    );
}

#[test]
fn empty_version_means_no_expectation() {
    let config = parse_toml(
        "[servers.time]\ncommand = \"uvx\"\nversion = \"\"\n",
        Path::new("config.toml"),
    )
    .unwrap();
    assert_eq!(config.servers["time"].version, None);
}

#[test]
fn json_missing_command_is_located() {
    let text = "{\n  \"mcpServers\": {\n    \"time\": {\"args\": [\"mcp-server-time\"]}\n  }\n}\n";
    let e = parse_mcp_servers_json(text, Path::new("claude_desktop_config.json")).unwrap_err();
    assert_eq!(
        e.render(),
        "claude_desktop_config.json:3:5: server `time` has no `command`\n  fix: add the program to run, e.g. \"command\": \"npx\" (a remote server needs a \"url\" instead)"
    );
}

#[test]
fn json_syntax_error_keeps_serde_json_position() {
    let text =
        "{\n  \"mcpServers\": {\n    \"time\": {\"command\": \"uvx\",}\n    \"x\": 1\n  }\n}\n";
    // The trailing comma is fine (JSONC); the missing comma before "x" is not.
    let e = parse_mcp_servers_json(text, Path::new("mcp.json")).unwrap_err();
    assert_eq!(
        e.render(),
        "mcp.json:4:5: invalid JSON: expected `,` or `}`\n  fix: correct the JSON syntax here: keys and strings need \"double quotes\" and items are separated by commas"
    );
}

#[test]
fn json_import_round_trips_through_toml() {
    let text = r#"{"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}, "disabled": true},
        "remote": {"url": "https://example.com/mcp"}
    }}"#;
    let (config, warnings) = parse_mcp_servers_json(text, Path::new("mcp.json")).unwrap();
    assert_eq!(warnings.len(), 1);
    let back = parse_toml(&to_toml(&config), Path::new("config.toml")).unwrap();
    assert_eq!(back.servers, config.servers);
    assert_eq!(back.bridge, config.bridge);
    assert!(!back.servers["time"].autostart);
}

#[test]
fn allowed_origins_round_trip_through_to_toml() {
    let config = parse_toml(
        "[bridge]\nallowed_origins = [\"http://localhost:6274\", \"HTTPS://Inspector.Example\"]\n",
        Path::new("config.toml"),
    )
    .unwrap();
    let text = to_toml(&config);
    assert!(
        text.contains(
            "allowed_origins = [\"http://localhost:6274\", \"https://inspector.example\"]\n"
        ),
        "{text}"
    );
    let back = parse_toml(&text, Path::new("config.toml")).unwrap();
    assert_eq!(back.bridge, config.bridge);
}
