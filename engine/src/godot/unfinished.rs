//! An AI client's request whose answer godot-ai never finished.
//!
//! godot-ai answers a POST on `/mcp` with an SSE stream. When it goes away while a request is
//! in flight (Restart in the tray, a crash), the stream is cut before the answer, and MCP
//! clients keep waiting for that answer until their own timeout: 15 of 4 000 tool calls under a
//! restart every 20 s in `bench/godot/load`. bridgedock passes the stream on as it comes and,
//! when it ends without the answer, ends it with a JSON-RPC error for each request still
//! unanswered — the -32002 the stdio bridge answers with when a server restarts mid-request.
//!
//! Likewise when godot-ai cannot be reached at all or drops the connection before answering
//! (it went away between reading the request and answering): bridgedock's own 502 would reach
//! the MCP SDKs as an HTTP error that belongs to no request — the Python SDK then waits for the
//! call forever — so each request gets a JSON-RPC error with its id instead, and a POST of
//! notifications only is taken (202) with a warning in the server's log.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::proxy::Unreachable;
use crate::protocol::jsonrpc::SERVER_UNREACHABLE;

/// An event this big is not followed: the stream is passed on untouched, nothing is added.
const MAX_EVENT: usize = 8 * 1024 * 1024;

/// The ids of the requests in a POST body (one message or a batch); notifications and answers
/// have none.
pub fn request_ids(body: &[u8]) -> Vec<Value> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let messages = match v {
        Value::Array(items) => items,
        one => vec![one],
    };
    messages
        .into_iter()
        .filter(|m| m.get("method").is_some())
        .filter_map(|m| m.get("id").filter(|id| !id.is_null()).cloned())
        .collect()
}

/// What goes back to an AI client for its POST of the requests `ids`: godot-ai's answer, with an
/// SSE answer guarded (see [`guard`]); or, when bridgedock could not reach godot-ai, a JSON-RPC
/// error for each request — and a 202 for notifications only, with a warning in `server`'s log.
pub fn answer_for_client(res: Response, ids: Vec<Value>, server: &str) -> Response {
    if let Some(why) = res.extensions().get::<Unreachable>() {
        if ids.is_empty() {
            // Nobody waits for a reply, and an HTTP error would end the Python SDK's whole
            // session (its writer task fails).
            tracing::warn!(
                server = %server,
                "an AI client's notification could not be passed on: {}",
                why.0
            );
            return StatusCode::ACCEPTED.into_response();
        }
        return unreachable_answer(&ids, &format!("server `{server}`: {}", why.0));
    }
    let is_sse = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if ids.is_empty() || !is_sse {
        return res;
    }
    let (parts, stream) = res.into_parts();
    Response::from_parts(parts, guard(stream, ids, server.to_owned()))
}

/// `body` (godot-ai's SSE answer to the requests `ids`), ended with an error for each request
/// it did not answer.
fn guard(body: Body, ids: Vec<Value>, server: String) -> Body {
    let watch = Watch {
        unanswered: ids,
        event: Vec::new(),
        following: true,
    };
    let stream =
        futures_util::stream::unfold(Some((body.into_data_stream(), watch)), move |state| {
            let server = server.clone();
            async move {
                let (mut inner, mut watch) = state?;
                match inner.next().await {
                    Some(Ok(chunk)) => {
                        watch.see(&chunk);
                        Some((Ok::<Bytes, std::io::Error>(chunk), Some((inner, watch))))
                    }
                    // Cut off (an error) or ended: what is still unanswered gets its error.
                    Some(Err(_)) | None => {
                        let tail = watch.closing_events(&server);
                        (!tail.is_empty()).then_some((Ok(tail), None))
                    }
                }
            }
        });
    Body::from_stream(stream)
}

/// bridgedock's answer to the requests `ids` when godot-ai was not reached (`why`): a JSON-RPC
/// error for each, by id, like any answer godot-ai would give.
pub fn unreachable_answer(ids: &[Value], why: &str) -> Response {
    let errors: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": SERVER_UNREACHABLE, "message": why}})
        })
        .collect();
    let body = match <[Value; 1]>::try_from(errors) {
        Ok([one]) => one,
        Err(many) => Value::Array(many),
    };
    axum::Json(body).into_response()
}

struct Watch {
    unanswered: Vec<Value>,
    /// The event read so far (without `\r`), up to its blank line.
    event: Vec<u8>,
    following: bool,
}

impl Watch {
    fn see(&mut self, chunk: &[u8]) {
        if !self.following || self.unanswered.is_empty() {
            return;
        }
        self.event
            .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        while let Some(end) = self.event.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.event.drain(..end + 2).collect();
            self.answered_in(&event);
        }
        if self.event.len() > MAX_EVENT {
            // Cannot tell what it holds without keeping all of it: add nothing.
            self.following = false;
            self.event = Vec::new();
        }
    }

    fn answered_in(&mut self, event: &[u8]) {
        let text = String::from_utf8_lossy(event);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) else {
            return;
        };
        let messages = match v {
            Value::Array(items) => items,
            one => vec![one],
        };
        for m in messages {
            if m.get("result").is_some() || m.get("error").is_some() {
                if let Some(id) = m.get("id") {
                    self.unanswered.retain(|u| u != id);
                }
            }
        }
    }

    fn closing_events(&self, server: &str) -> Bytes {
        if !self.following {
            return Bytes::new();
        }
        let mut out = String::new();
        for id in &self.unanswered {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": SERVER_UNREACHABLE,
                "message": format!(
                    "godot-ai (server `{server}`) went away before answering — restarted or stopped; \
                     whether the editor carried the request out is unknown. bridgedock keeps your \
                     session: retry once it is back"
                ),
            }});
            out.push_str(&format!("event: message\ndata: {error}\n\n"));
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn read(body: Body) -> String {
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    fn cut_after(chunks: Vec<&'static str>) -> Body {
        let mut items: Vec<Result<Bytes, std::io::Error>> =
            chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
        items.push(Err(std::io::Error::other("incomplete chunked read")));
        Body::from_stream(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn a_request_godot_ai_never_got_to_is_answered_by_id() {
        let res = unreachable_answer(&[json!("a")], "godot-ai is not answering");
        assert_eq!(res.status(), axum::http::StatusCode::OK);
        let one: Value = serde_json::from_str(&read(res.into_body()).await).unwrap();
        assert_eq!(one["id"], "a");
        assert_eq!(one["error"]["code"], SERVER_UNREACHABLE);
        assert_eq!(one["error"]["message"], "godot-ai is not answering");
        let res = unreachable_answer(&[json!(1), json!(2)], "gone");
        let batch: Value = serde_json::from_str(&read(res.into_body()).await).unwrap();
        assert_eq!(batch.as_array().unwrap().len(), 2);
        assert_eq!(batch[1]["id"], 2);
    }

    #[test]
    fn the_requests_of_a_body_are_those_with_a_method_and_an_id() {
        assert_eq!(
            request_ids(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#),
            vec![json!(7)]
        );
        assert_eq!(
            request_ids(
                br#"[{"jsonrpc":"2.0","id":"a","method":"x"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":3,"result":{}}]"#
            ),
            vec![json!("a")]
        );
        assert!(request_ids(b"not json").is_empty());
    }

    #[tokio::test]
    async fn a_stream_cut_before_the_answer_ends_with_an_error_for_the_request() {
        let body = guard(
            cut_after(vec![
                ": ping\r\n\r\n",
                "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n",
            ]),
            vec![json!(7)],
            "godot".into(),
        );
        let text = read(body).await;
        assert!(
            text.starts_with(": ping\r\n\r\nevent: message\r\n"),
            "{text}"
        );
        let last = text.trim_end().lines().last().unwrap();
        let error: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(error["id"], 7);
        assert_eq!(error["error"]["code"], SERVER_UNREACHABLE);
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("server `godot`")
        );
    }

    #[tokio::test]
    async fn an_answered_request_gets_nothing_added_even_if_the_stream_is_cut_later() {
        // The answer arrives split over two chunks.
        let body = guard(
            cut_after(vec![
                "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"x\",",
                "\"result\":{\"content\":[]}}\r\n\r\n",
            ]),
            vec![json!("x")],
            "godot".into(),
        );
        let text = read(body).await;
        assert_eq!(
            text,
            "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{\"content\":[]}}\r\n\r\n"
        );
        // An answer with an error counts too, and another id's answer does not.
        let body = guard(
            cut_after(vec![
                "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":\"no\"}}\n\n",
            ]),
            vec![json!(1), json!(2)],
            "godot".into(),
        );
        let text = read(body).await;
        assert_eq!(text.matches("\"code\":-32002").count(), 1, "{text}");
        assert!(text.contains("\"id\":2"));
    }
}
