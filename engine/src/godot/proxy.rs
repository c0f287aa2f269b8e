//! The public godot-ai HTTP port: bridgedock holds it and forwards every request to godot-ai
//! unchanged (the plugin's status probe, AI clients using godot-ai's own attach bridge,
//! leases). AI clients of bridgedock's own `/mcp/NAME` go through the router instead (see
//! [`crate::upstream::http`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use super::GodotAi;

type HttpClient = Client<HttpConnector, Body>;

fn client() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Client::builder(TokioExecutor::new()).build(connector)
    })
}

/// A GET to 127.0.0.1:`port`; the status and the whole body (bounded to 1 MiB).
pub async fn get(
    port: u16,
    path: &str,
    bearer: Option<&str>,
    within: Duration,
) -> anyhow::Result<(u16, Bytes)> {
    let mut req = axum::http::Request::get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(b) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
    }
    let req = req.body(Body::empty())?;
    let answer = tokio::time::timeout(within, async {
        let res = client().request(req).await?;
        let code = res.status().as_u16();
        let body = http_body_util::Limited::new(res.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_bytes();
        anyhow::Ok((code, body))
    })
    .await??;
    Ok(answer)
}

/// Serves the public godot-ai HTTP port until shutdown.
pub async fn serve(ai: Arc<GodotAi>, listener: TcpListener) {
    use axum::serve::ListenerExt;
    let shutdown = ai.shutdown.clone();
    let app = axum::Router::new().fallback(public).with_state(ai);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
}

async fn public(State(ai): State<Arc<GodotAi>>, req: Request) -> Response {
    // The same DNS-rebinding rule as godot-ai's own guard: loopback names only.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": {"code": "HOST_NOT_ALLOWED",
                "message": format!("host `{host}` is not allowed: godot-ai answers loopback names only")}})),
        )
            .into_response();
    }
    let status_probe = req.uri().path() == "/godot-ai/status";
    let res = forward(ai.plan.backend_http_port, req).await;
    if status_probe && res.status() == StatusCode::OK {
        return rewrite_status(res, ai.plan.ws_port).await;
    }
    res
}

/// `/godot-ai/status` names godot-ai's private editor port; the plugin and attach bridges
/// compare it with the port they know, which is bridgedock's.
async fn rewrite_status(res: Response, ws_port: u16) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = http_body_util::Limited::new(body, 1 << 20).collect().await else {
        return bad_gateway("godot-ai's status answer was too large or cut off");
    };
    let bytes = bytes.to_bytes();
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("ws_port".into(), ws_port.into());
    }
    let out = serde_json::to_vec(&v).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len() as u64));
    Response::from_parts(parts, Body::from(out))
}

/// Forwards `req` to 127.0.0.1:`port` with the same path and query, streaming the answer.
async fn forward(port: u16, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let Ok(uri) = format!("http://127.0.0.1:{port}{path_and_query}").parse::<Uri>() else {
        return bad_gateway("cannot build the upstream address");
    };
    parts.uri = uri;
    for hop in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
    ] {
        parts.headers.remove(hop);
    }
    if let Ok(h) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        parts.headers.insert(header::HOST, h);
    }
    // Bodies are small JSON-RPC messages (godot-ai refuses more than 4 MiB); holding one lets
    // a request that arrives while godot-ai restarts wait for it instead of failing.
    let Ok(body) = http_body_util::Limited::new(body, MAX_BODY).collect().await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32600, "message": "request body over 4 MiB (godot-ai's limit) or cut off"}})),
        )
            .into_response();
    };
    let body = body.to_bytes();
    let deadline = tokio::time::Instant::now() + RESTART_WAIT;
    loop {
        let upstream = Request::from_parts(parts.clone(), Body::from(body.clone()));
        match client().request(upstream).await {
            Ok(res) => {
                let (parts, body) = res.into_parts();
                return Response::from_parts(parts, Body::new(body));
            }
            Err(e) if e.is_connect() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return bad_gateway(&format!(
                    "godot-ai is not answering on its port {port} ({e}); if it is restarting, retry in a moment"
                ));
            }
        }
    }
}

const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a request waits for godot-ai to come back (a restart takes 6–9 s with uvx).
const RESTART_WAIT: Duration = Duration::from_secs(30);

/// bridgedock's own answer when godot-ai could not be reached: a 502 with a JSON-RPC error.
fn bad_gateway(message: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(serde_json::json!({
            "jsonrpc": "2.0", "id": null,
            "error": {"code": -32002, "message": message}
        })),
    )
        .into_response()
}

fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']')
            .next()
            .map(|h| format!("[{h}]"))
            .unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or_else(|| host.to_owned())
    };
    matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback_host("127.0.0.1:8000"));
        assert!(super::is_loopback_host("localhost"));
        assert!(super::is_loopback_host("[::1]:8000"));
        assert!(!super::is_loopback_host("evil.example:8000"));
        assert!(!super::is_loopback_host(""));
    }
}
