//! The server's standalone stream (GET): what it sends outside any request (list changes, its
//! own requests), followed for each session while the process lives.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;

use super::{LISTEN_AGAIN, MAX_MESSAGE, SendFailed, Shared};
use crate::upstream::sse::SseReader;

impl Shared {
    /// The server's standalone stream (GET): what it sends outside any request. Followed for
    /// each session while the process lives; a server that offers none (405) is not asked again.
    pub(super) async fn listen(self: Arc<Self>) {
        let mut opened = self.opened.subscribe();
        loop {
            opened.borrow_and_update();
            let (session, protocol) = {
                let s = self.session.lock();
                (s.id.clone(), s.protocol.clone())
            };
            // Try again in a moment after a stream that ended or broke; after a refusal, only
            // once a new session is open.
            let mut again = false;
            if let Some(session) = session {
                let target = self.link.reach.target();
                let nothing = Bytes::new();
                let get = self.send(
                    Method::GET,
                    &nothing,
                    Some(&session),
                    protocol.as_deref(),
                    &target,
                );
                let got = tokio::select! {
                    _ = self.stopping.cancelled() => return,
                    got = get => got,
                };
                match got {
                    Err(SendFailed::Closed) => return,
                    Err(SendFailed::Lost(_)) => again = true,
                    Ok(res) if res.status() == hyper::StatusCode::METHOD_NOT_ALLOWED => return,
                    Ok(res) if res.status().is_success() => {
                        again = true;
                        let mut body = res.into_body();
                        let mut events = SseReader::new(MAX_MESSAGE);
                        let mut none = Vec::new();
                        loop {
                            let frame = tokio::select! {
                                _ = self.stopping.cancelled() => return,
                                frame = body.frame() => frame,
                            };
                            let Some(Ok(frame)) = frame else {
                                break;
                            };
                            if let Some(chunk) = frame.data_ref() {
                                for event in events.feed(chunk) {
                                    self.event(event, &mut none).await;
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
            tokio::select! {
                _ = self.stopping.cancelled() => return,
                _ = opened.changed() => {}
                _ = tokio::time::sleep(LISTEN_AGAIN), if again => {}
            }
        }
    }
}
