//! Who may use the HTTP API: a request must carry the token (`Authorization: Bearer …` or
//! `?token=…`, the latter for browsers' WebSockets), and a present `Origin` must be one the
//! door it knocks on lets in. A web page elsewhere gets 403 — the defence against a random
//! site, or a DNS-rebinding one, driving local servers.
//!
//! There are two doors. The dock's (the API under `/api`, the dock's files) opens to the dock's
//! own origins only: the API's address and the desktop app's webview. The MCP endpoints
//! (`/mcp/NAME`) also open to the origins the user listed in `allowed_origins` under [bridge],
//! so a browser-based MCP client such as the MCP Inspector's page can reach a server without
//! also being able to stop, restart or read the logs of every server.

use axum::http::{HeaderMap, StatusCode};

use super::token;
use crate::config::{Config, ConfigSource, parse_origin};

/// Headers a browser may send to the MCP endpoints, besides any `mcp-*` one (`mcp-param-*`
/// carries a tool's arguments in the 2026-07-28 revision). A preflight asking for others gets
/// this list, which the browser then finds lacking and refuses the request itself.
pub const ALLOWED_REQUEST_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id";
/// Standard headers a preflight may ask for, echoed with the `mcp-*` ones.
const STANDARD_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "content-language",
    "last-event-id",
];
/// Answer headers a browser page may read: the session id to send back, and the revision.
pub const EXPOSED_HEADERS: &str = "mcp-session-id, mcp-protocol-version";

#[derive(Debug, Clone)]
pub struct Access {
    pub token: String,
    /// The dock's own origins: they may use every door.
    pub allowed_origins: Vec<String>,
    /// `allowed_origins` under [bridge]: browser-based MCP clients, the MCP door only.
    pub mcp_origins: Vec<String>,
    /// Where `allowed_origins` would be set, for a refusal to name.
    pub config_source: ConfigSource,
    /// Host names a request may address (the port is not checked): loopback names, plus the
    /// configured address when it is not loopback. Anything else is a DNS-rebinding attempt.
    pub allowed_hosts: Vec<String>,
}

/// What a request asks to use, which decides the origins let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The API under `/api` and the dock's files.
    Dock,
    /// An MCP endpoint, `/mcp/NAME` exactly (the only paths the bridge routes).
    Mcp,
}

impl Door {
    pub fn of(path: &str) -> Door {
        match path.strip_prefix("/mcp/") {
            Some(name) if !name.is_empty() && !name.contains('/') => Door::Mcp,
            _ => Door::Dock,
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Denied {
    Host(String),
    /// An origin other than the dock's, at the dock's door.
    Origin(String),
    /// An origin from `allowed_origins` at the dock's door: it may use MCP endpoints only.
    McpOnly(String),
    /// An origin not allowed at the MCP door; `how` says how to open it, or why it cannot be.
    McpOrigin {
        origin: String,
        how: String,
    },
    NoToken,
    BadToken,
}

impl Denied {
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::Host(_) | Denied::Origin(_) | Denied::McpOnly(_) | Denied::McpOrigin { .. } => {
                StatusCode::FORBIDDEN
            }
            Denied::NoToken | Denied::BadToken => StatusCode::UNAUTHORIZED,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denied::Host(h) => format!(
                "host `{h}` is not allowed: bridgedock answers requests addressed to 127.0.0.1 or localhost only"
            ),
            Denied::Origin(o) => format!(
                "origin `{o}` is not allowed: the bridgedock API only answers its own dock (open the URL bridgedockd printed)"
            ),
            Denied::McpOnly(o) => format!(
                "origin `{o}` may use the MCP endpoints (/mcp/NAME) only: the bridgedock API answers its own dock alone (`allowed_origins` opens no other door)"
            ),
            Denied::McpOrigin { origin, how } => {
                format!("origin `{origin}` may not use MCP endpoints: {how}")
            }
            Denied::NoToken => "missing token: send `Authorization: Bearer TOKEN` or `?token=TOKEN` (the token is in the dock URL bridgedockd printed, and in the config dir's `token` file)".into(),
            Denied::BadToken => "wrong token: use the one in the config dir's `token` file (it is also in the dock URL bridgedockd printed)".into(),
        }
    }
}

impl Access {
    /// Origins the dock can have when served from `host:port`, plus the desktop app's webview.
    pub fn for_address(token: String, host: &str, port: u16) -> Self {
        let mut allowed_origins = vec![
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
            "tauri://localhost".to_string(),
            "http://tauri.localhost".to_string(),
            "https://tauri.localhost".to_string(),
        ];
        let own = format!("http://{host}:{port}");
        if !allowed_origins.contains(&own) {
            allowed_origins.push(own);
        }
        let mut allowed_hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| h.to_string())
            .collect();
        if !allowed_hosts.iter().any(|h| h == host) {
            allowed_hosts.push(host.to_string());
        }
        Access {
            token,
            allowed_origins,
            mcp_origins: Vec::new(),
            config_source: ConfigSource::Embedded,
            allowed_hosts,
        }
    }

    /// The MCP door also opens to the config's `allowed_origins`; refusals name its file.
    pub fn with_config(mut self, config: &Config) -> Self {
        self.mcp_origins = config.bridge.allowed_origins.clone();
        self.config_source = config.source.clone();
        self
    }

    /// The `Host` header must name this machine's loopback (or the configured address): a page
    /// on `evil.example` that rebinds its name to 127.0.0.1 still sends `Host: evil.example`.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(host) = headers.get("host") else {
            return Ok(());
        };
        let host = host.to_str().unwrap_or("(not text)");
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        if self
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            Ok(())
        } else {
            Err(Denied::Host(host.to_string()))
        }
    }

    /// A present `Origin` must be one `door` lets in.
    pub fn check_origin(&self, headers: &HeaderMap, door: Door) -> Result<(), Denied> {
        let Some(origin) = headers.get("origin") else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("(not text)");
        let listed = |list: &[String]| list.iter().any(|o| o.eq_ignore_ascii_case(origin));
        if listed(&self.allowed_origins) {
            return Ok(());
        }
        match door {
            Door::Mcp if listed(&self.mcp_origins) => Ok(()),
            Door::Mcp => Err(Denied::McpOrigin {
                origin: origin.to_string(),
                how: self.how_to_allow(origin),
            }),
            Door::Dock if listed(&self.mcp_origins) => Err(Denied::McpOnly(origin.to_string())),
            Door::Dock => Err(Denied::Origin(origin.to_string())),
        }
    }

    /// The setting that opens the MCP door to `origin`, in the file bridgedock runs from: the
    /// exact line to write, with the origins already there.
    fn how_to_allow(&self, origin: &str) -> String {
        let origin = match parse_origin(origin) {
            Ok(o) => o,
            Err(e) => return format!("it cannot be allowed, as {}", e.why),
        };
        let line = format!(
            "allowed_origins = [{}]",
            self.mcp_origins
                .iter()
                .chain(std::iter::once(&origin))
                .map(|o| format!("{o:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match &self.config_source {
            ConfigSource::File(path) => format!(
                "add it to `allowed_origins` under [bridge] in {} ({line}), then restart bridgedock",
                path.display()
            ),
            ConfigSource::McpServersJson(path) => format!(
                "add it to `allowed_origins` under [bridge] of a bridgedock config.toml ({line}) and restart bridgedock with that file: {} is an mcpServers JSON, which has no [bridge] (`bridgedockd import {}` turns it into a config.toml)",
                path.display(),
                path.display()
            ),
            ConfigSource::Embedded => format!(
                "add it to `allowed_origins` under [bridge] in {} ({line}; bridgedock runs its built-in demo, so create that file), then restart bridgedock",
                crate::paths::default_config_file().display()
            ),
        }
    }

    pub fn check_token(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(), Denied> {
        let from_header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let from_query =
            query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
        match from_header.or(from_query) {
            None => Err(Denied::NoToken),
            Some(given) if token::matches(&self.token, given) => Ok(()),
            Some(_) => Err(Denied::BadToken),
        }
    }
}

/// A preflight's `Access-Control-Allow-Headers`: the requested headers echoed when every one is
/// a standard one or an `mcp-*` one, else [`ALLOWED_REQUEST_HEADERS`].
pub fn allow_headers(requested: Option<&str>) -> String {
    let Some(requested) = requested else {
        return ALLOWED_REQUEST_HEADERS.to_owned();
    };
    let names: Vec<String> = requested
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let ours = |n: &String| {
        let token = n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        token && (STANDARD_REQUEST_HEADERS.contains(&n.as_str()) || n.starts_with("mcp-"))
    };
    if names.is_empty() || !names.iter().all(ours) {
        return ALLOWED_REQUEST_HEADERS.to_owned();
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_and_tokens() {
        let a = Access::for_address("t0k".repeat(11), "127.0.0.1", 7455);
        assert!(a.check_origin(&headers(&[]), Door::Dock).is_ok());
        assert!(
            a.check_origin(&headers(&[("origin", "http://localhost:7455")]), Door::Dock)
                .is_ok()
        );
        assert!(
            a.check_origin(&headers(&[("origin", "tauri://localhost")]), Door::Dock)
                .is_ok()
        );
        assert_eq!(
            a.check_origin(&headers(&[("origin", "https://evil.example")]), Door::Dock),
            Err(Denied::Origin("https://evil.example".into()))
        );
        assert_eq!(
            a.check_origin(&headers(&[("origin", "null")]), Door::Dock),
            Err(Denied::Origin("null".into()))
        );
        let t = "t0k".repeat(11);
        assert!(
            a.check_token(&headers(&[("authorization", &format!("Bearer {t}"))]), None)
                .is_ok()
        );
        assert!(
            a.check_token(&headers(&[]), Some(&format!("x=1&token={t}")))
                .is_ok()
        );
        assert_eq!(a.check_token(&headers(&[]), None), Err(Denied::NoToken));
        assert_eq!(
            a.check_token(&headers(&[]), Some("token=nope")),
            Err(Denied::BadToken)
        );
    }

    fn inspector_allowed() -> Access {
        let config = crate::config::parse_toml(
            "[bridge]\nallowed_origins = [\"http://localhost:6274\"]\n",
            std::path::Path::new("/home/me/.config/bridgedock/config.toml"),
        )
        .unwrap();
        Access::for_address("t0k".repeat(11), "127.0.0.1", 7455).with_config(&config)
    }

    #[test]
    fn the_door_is_the_path() {
        assert_eq!(Door::of("/mcp/time"), Door::Mcp);
        assert_eq!(Door::of("/api/status"), Door::Dock);
        assert_eq!(Door::of("/"), Door::Dock);
        assert_eq!(Door::of("/mcp"), Door::Dock);
        assert_eq!(Door::of("/mcp/"), Door::Dock);
        // Only the routes the bridge answers: nothing else under /mcp/ is an MCP endpoint.
        assert_eq!(Door::of("/mcp/time/extra"), Door::Dock);
        assert_eq!(Door::of("/mcp/../api/status"), Door::Dock);
    }

    #[test]
    fn allowed_origins_open_the_mcp_door_only() {
        let a = inspector_allowed();
        let inspector = headers(&[("origin", "http://localhost:6274")]);
        assert!(a.check_origin(&inspector, Door::Mcp).is_ok());
        // Scheme and host compare without case, as browsers treat them.
        let shouting = headers(&[("origin", "HTTP://LOCALHOST:6274")]);
        assert!(a.check_origin(&shouting, Door::Mcp).is_ok());
        let denied = a.check_origin(&inspector, Door::Dock).unwrap_err();
        assert_eq!(denied, Denied::McpOnly("http://localhost:6274".into()));
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert!(denied.message().contains("MCP endpoints (/mcp/NAME) only"));
        // The dock keeps both doors; no Origin (a CLI, an SDK outside a browser) passes.
        let dock = headers(&[("origin", "http://127.0.0.1:7455")]);
        assert!(a.check_origin(&dock, Door::Mcp).is_ok());
        assert!(a.check_origin(&headers(&[]), Door::Mcp).is_ok());
        // Another port is another origin.
        let other = headers(&[("origin", "http://localhost:6275")]);
        assert!(a.check_origin(&other, Door::Mcp).is_err());
    }

    #[test]
    fn a_refused_origin_is_told_the_exact_setting_that_opens_the_door() {
        let a = Access::for_address("t0k".repeat(11), "127.0.0.1", 7455).with_config(
            &crate::config::parse_toml("", std::path::Path::new("/home/me/config.toml")).unwrap(),
        );
        let denied = a
            .check_origin(&headers(&[("origin", "http://localhost:6274")]), Door::Mcp)
            .unwrap_err();
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            denied.message(),
            "origin `http://localhost:6274` may not use MCP endpoints: add it to `allowed_origins` under [bridge] in /home/me/config.toml (allowed_origins = [\"http://localhost:6274\"]), then restart bridgedock"
        );
        // The line to write keeps the origins already allowed, and the origin as it is kept.
        let denied = inspector_allowed()
            .check_origin(&headers(&[("origin", "HTTPS://Other.Example")]), Door::Mcp)
            .unwrap_err();
        assert!(
            denied.message().contains(
                "(allowed_origins = [\"http://localhost:6274\", \"https://other.example\"])"
            ),
            "{}",
            denied.message()
        );
        // An origin no setting could open says so instead of suggesting a line that fails.
        let denied = a
            .check_origin(&headers(&[("origin", "null")]), Door::Mcp)
            .unwrap_err();
        assert!(
            denied.message().starts_with(
                "origin `null` may not use MCP endpoints: it cannot be allowed, as `null` is what sandboxed pages"
            ),
            "{}",
            denied.message()
        );
    }

    #[test]
    fn a_refusal_names_the_file_to_edit_whatever_bridgedock_runs_from() {
        let mut a = Access::for_address("t".into(), "127.0.0.1", 7455);
        a.config_source = ConfigSource::McpServersJson("/home/me/.cursor/mcp.json".into());
        let m = a
            .check_origin(&headers(&[("origin", "http://localhost:6274")]), Door::Mcp)
            .unwrap_err()
            .message();
        assert!(
            m.contains("`bridgedockd import /home/me/.cursor/mcp.json`"),
            "{m}"
        );
        a.config_source = ConfigSource::Embedded;
        let m = a
            .check_origin(&headers(&[("origin", "http://localhost:6274")]), Door::Mcp)
            .unwrap_err()
            .message();
        assert!(m.contains("config.toml (allowed_origins = [\"http://localhost:6274\"]; bridgedock runs its built-in demo, so create that file)"), "{m}");
    }

    #[test]
    fn preflights_may_ask_for_mcp_headers_and_nothing_else() {
        assert_eq!(allow_headers(None), ALLOWED_REQUEST_HEADERS);
        assert_eq!(
            allow_headers(Some(
                "Content-Type, Authorization,mcp-protocol-version, Mcp-Param-City"
            )),
            "content-type, authorization, mcp-protocol-version, mcp-param-city"
        );
        for name in [
            "accept",
            "mcp-session-id",
            "mcp-method",
            "mcp-name",
            "last-event-id",
        ] {
            assert!(ALLOWED_REQUEST_HEADERS.contains(name), "{name}");
        }
        // One header that is not ours: the fixed list, which the browser finds lacking.
        assert_eq!(
            allow_headers(Some("content-type, x-forwarded-for")),
            ALLOWED_REQUEST_HEADERS
        );
        assert_eq!(
            allow_headers(Some("mcp-x\r\nevil")),
            ALLOWED_REQUEST_HEADERS
        );
        assert_eq!(allow_headers(Some(" ")), ALLOWED_REQUEST_HEADERS);
    }
}
