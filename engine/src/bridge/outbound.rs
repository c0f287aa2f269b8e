//! A client's outbound queue, bounded in bytes.
//!
//! The router never waits on a client: it tries to queue, and when the client's queue is over
//! its cap the router decides what to do instead (a small error in place of a response). Close
//! and ping frames bypass the cap so a stuck client can still be told to go.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

pub enum Outgoing {
    Text(String),
    Ping,
    Close { code: u16, reason: String },
}

#[derive(Clone)]
pub struct Outbound {
    tx: mpsc::UnboundedSender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    cap_bytes: usize,
}

pub struct OutboundReceiver {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
}

/// The client's queue is over its cap; the message was not queued.
#[derive(Debug)]
pub struct Full;

impl Outbound {
    pub fn new(cap_bytes: usize) -> (Outbound, OutboundReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        (
            Outbound {
                tx,
                queued_bytes: queued_bytes.clone(),
                cap_bytes,
            },
            OutboundReceiver { rx, queued_bytes },
        )
    }

    /// Queues `text` unless that would take the queue over its cap. An empty queue always
    /// takes one message, however large, so one big answer is never refused outright.
    pub fn try_send(&self, text: String) -> Result<(), Full> {
        let len = text.len();
        let queued = self.queued_bytes.load(Ordering::Acquire);
        if queued > 0 && queued + len > self.cap_bytes {
            return Err(Full);
        }
        self.force_send(text);
        Ok(())
    }

    /// Queues `text` regardless of the cap: for the small errors that replace dropped answers.
    pub fn force_send(&self, text: String) {
        self.queued_bytes.fetch_add(text.len(), Ordering::AcqRel);
        if self.tx.send(Outgoing::Text(text)).is_err() {
            // The connection is gone; nothing will drain the counter.
        }
    }

    pub fn ping(&self) {
        let _ = self.tx.send(Outgoing::Ping);
    }

    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let _ = self.tx.send(Outgoing::Close {
            code,
            reason: reason.into(),
        });
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire)
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl OutboundReceiver {
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.recv().await?;
        Some(self.taken(item))
    }

    /// The next item if one is waiting, without waiting: lets a writer batch a burst.
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.try_recv().ok()?;
        Some(self.taken(item))
    }

    fn taken(&self, item: Outgoing) -> Outgoing {
        if let Outgoing::Text(t) = &item {
            self.queued_bytes.fetch_sub(t.len(), Ordering::AcqRel);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cap_refuses_more_but_never_a_first_message() {
        let (out, mut rx) = Outbound::new(10);
        assert!(
            out.try_send("x".repeat(50)).is_ok(),
            "an empty queue takes anything"
        );
        assert!(out.try_send("y".into()).is_err());
        out.force_send("forced".into());
        assert!(matches!(rx.recv().await, Some(Outgoing::Text(t)) if t.len() == 50));
        assert!(matches!(rx.recv().await, Some(Outgoing::Text(t)) if t == "forced"));
        assert_eq!(out.queued_bytes(), 0);
        assert!(out.try_send("z".into()).is_ok());
    }
}
