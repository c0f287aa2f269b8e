//! Who may use the HTTP API: a request must carry the token (`Authorization: Bearer …` or
//! `?token=…`, the latter for browsers' WebSockets), and a present `Origin` must be the dock's
//! own (the API's address, or the desktop app's webview). A web page elsewhere gets 403 — the
//! defence against a random site, or a DNS-rebinding one, driving local servers.

use axum::http::{HeaderMap, StatusCode};

use super::token;

#[derive(Debug, Clone)]
pub struct Access {
    pub token: String,
    pub allowed_origins: Vec<String>,
    /// Host names a request may address (the port is not checked): loopback names, plus the
    /// configured address when it is not loopback. Anything else is a DNS-rebinding attempt.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub enum Denied {
    Host(String),
    Origin(String),
    NoToken,
    BadToken,
}

impl Denied {
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::Host(_) | Denied::Origin(_) => StatusCode::FORBIDDEN,
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
            allowed_hosts,
        }
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

    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(origin) = headers.get("origin") else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("(not text)");
        if self
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
        {
            Ok(())
        } else {
            Err(Denied::Origin(origin.to_string()))
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
        assert!(a.check_origin(&headers(&[])).is_ok());
        assert!(
            a.check_origin(&headers(&[("origin", "http://localhost:7455")]))
                .is_ok()
        );
        assert!(
            a.check_origin(&headers(&[("origin", "tauri://localhost")]))
                .is_ok()
        );
        assert_eq!(
            a.check_origin(&headers(&[("origin", "https://evil.example")])),
            Err(Denied::Origin("https://evil.example".into()))
        );
        assert_eq!(
            a.check_origin(&headers(&[("origin", "null")])),
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
}
