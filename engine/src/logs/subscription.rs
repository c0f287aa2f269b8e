//! [`LogSubscription`]: a reader's cursor into the hub's live tail, plus its snapshot.
//!
//! A subscription is the seq it wants next. Reading takes the hub lock once per batch (up to
//! [`BATCH_EVENTS`] events), copies the matching `Arc`s out and releases it, so a reader that
//! keeps up costs the pushers one short lock per batch, not per line. When there is nothing new
//! it parks its waker in the hub; the next push wakes it. When the tail has already dropped the
//! seq it wants, it reports `Missed` and jumps to the oldest line still there.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::hub::Shared;
use super::line::{LogFilter, LogLine};

/// Most events moved out of the hub per lock; bounds both lock hold time and local memory.
const BATCH_EVENTS: usize = 1024;

/// What a subscriber receives after its backlog.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    Line(Arc<LogLine>),
    /// The subscriber fell behind the live tail and lost `count` lines. The count is of *all*
    /// lines lost, whatever the subscriber's filter (lines it would have filtered out included),
    /// because the lost lines are no longer there to be filtered. For an unfiltered subscriber,
    /// lines received + sum of missed counts == lines pushed since it subscribed.
    Missed {
        count: u64,
    },
}

/// Snapshot + live tail of the hub, see [`super::LogHub::subscribe`].
pub struct LogSubscription {
    shared: Arc<Shared>,
    id: u64,
    filter: LogFilter,
    backlog: Vec<Arc<LogLine>>,
    /// The seq of the next live line this subscriber has not yet looked at.
    cursor: u64,
    ready: VecDeque<LogEvent>,
}

impl LogSubscription {
    pub(super) fn new(
        shared: Arc<Shared>,
        id: u64,
        filter: LogFilter,
        backlog: Vec<Arc<LogLine>>,
        cursor: u64,
    ) -> Self {
        Self {
            shared,
            id,
            filter,
            backlog,
            cursor,
            ready: VecDeque::new(),
        }
    }

    /// The snapshot taken at subscribe time, oldest first. Once; afterwards empty.
    pub fn take_backlog(&mut self) -> Vec<Arc<LogLine>> {
        std::mem::take(&mut self.backlog)
    }

    /// The filter this subscription was created with.
    pub fn filter(&self) -> &LogFilter {
        &self.filter
    }

    /// Next live event matching the filter; `None` when the hub is gone (after every line pushed
    /// before that has been delivered). If this subscriber fell behind, it gets
    /// `Missed { count }` and then continues with newer lines. Cancel-safe.
    pub async fn next(&mut self) -> Option<LogEvent> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<LogEvent>> {
        if let Some(event) = self.ready.pop_front() {
            return Poll::Ready(Some(event));
        }
        let mut st = self.shared.state.lock();
        if let Some(front) = st.tail.front().map(|l| l.seq) {
            if self.cursor < front {
                self.ready.push_back(LogEvent::Missed {
                    count: front - self.cursor,
                });
                self.cursor = front;
            }
            let end = st.next_seq;
            while self.cursor < end && self.ready.len() < BATCH_EVENTS {
                // The tail is contiguous in seq, so the index is the distance from its front.
                let index = usize::try_from(self.cursor - front).unwrap_or(usize::MAX);
                self.cursor += 1;
                match st.tail.get(index) {
                    Some(line) if self.filter.matches(line) => {
                        self.ready.push_back(LogEvent::Line(Arc::clone(line)));
                    }
                    _ => {}
                }
            }
        }
        if self.ready.is_empty() {
            if st.closed {
                return Poll::Ready(None);
            }
            register(&mut st.waiters, self.id, cx.waker());
            return Poll::Pending;
        }
        drop(st);
        Poll::Ready(self.ready.pop_front())
    }
}

fn register(waiters: &mut Vec<(u64, Waker)>, id: u64, waker: &Waker) {
    match waiters.iter_mut().find(|(i, _)| *i == id) {
        Some((_, parked)) => {
            if !parked.will_wake(waker) {
                parked.clone_from(waker);
            }
        }
        None => waiters.push((id, waker.clone())),
    }
}

impl Drop for LogSubscription {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .waiters
            .retain(|(i, _)| *i != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::super::hub::LogHub;
    use super::super::line::Stream;
    use super::*;
    use std::time::Duration;

    fn text(event: &LogEvent) -> String {
        match event {
            LogEvent::Line(l) => l.text.clone(),
            LogEvent::Missed { count } => format!("missed {count}"),
        }
    }

    #[tokio::test]
    async fn backlog_then_live_without_gap_or_duplicate() {
        let hub = LogHub::new(100);
        for i in 1..=5 {
            hub.push("a", Stream::Stderr, None, format!("{i}"));
        }
        let mut sub = hub.subscribe(LogFilter::all(), Some(2));
        let backlog: Vec<u64> = sub.take_backlog().iter().map(|l| l.seq).collect();
        assert_eq!(backlog, [3, 4, 5]);
        assert!(sub.take_backlog().is_empty(), "backlog is handed out once");
        hub.push("a", Stream::Stderr, None, "6".into());
        let event = sub.next().await.unwrap();
        assert_eq!(text(&event), "6");
    }

    #[tokio::test]
    async fn filter_applies_to_backlog_and_live() {
        let hub = LogHub::new(100);
        hub.push("a", Stream::Stderr, None, "a1".into());
        hub.push("b", Stream::Stderr, None, "b1".into());
        hub.push("a", Stream::Stdout, None, "a-out".into());
        let filter = LogFilter {
            server: Some("a".into()),
            stream: Some(Stream::Stderr),
        };
        let mut sub = hub.subscribe(filter, None);
        let backlog: Vec<String> = sub.take_backlog().iter().map(|l| l.text.clone()).collect();
        assert_eq!(backlog, ["a1"]);
        hub.push("b", Stream::Stderr, None, "b2".into());
        hub.push("a", Stream::Stdout, None, "a-out2".into());
        hub.push("a", Stream::Stderr, None, "a2".into());
        assert_eq!(text(&sub.next().await.unwrap()), "a2");
    }

    #[tokio::test]
    async fn waiting_subscriber_is_woken_by_push_from_another_thread() {
        let hub = LogHub::new(100);
        let mut sub = hub.subscribe(LogFilter::all(), None);
        let pusher = hub.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            pusher.push("x", Stream::Stdout, None, "late".into());
        });
        let event = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
        assert_eq!(text(&event.unwrap().unwrap()), "late");
    }

    #[tokio::test]
    async fn ends_after_draining_when_hub_is_dropped() {
        let hub = LogHub::new(100);
        let mut sub = hub.subscribe(LogFilter::all(), None);
        hub.push("x", Stream::Stdout, None, "last words".into());
        drop(hub);
        assert_eq!(text(&sub.next().await.unwrap()), "last words");
        assert!(sub.next().await.is_none());
    }

    #[tokio::test]
    async fn parked_subscriber_ends_when_hub_is_dropped() {
        let hub = LogHub::new(100);
        let mut sub = hub.subscribe(LogFilter::all(), None);
        let reader = tokio::spawn(async move { sub.next().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(hub);
        let got = tokio::time::timeout(Duration::from_secs(5), reader).await;
        assert!(got.unwrap().unwrap().is_none());
    }

    #[tokio::test]
    async fn lagging_subscriber_is_told_how_many_it_missed() {
        let hub = LogHub::with_capacities(100, 8);
        let mut sub = hub.subscribe(LogFilter::all(), None);
        for i in 1..=20 {
            hub.push("x", Stream::Stdout, None, format!("{i}"));
        }
        assert_eq!(sub.next().await, Some(LogEvent::Missed { count: 12 }));
        for i in 13..=20 {
            assert_eq!(text(&sub.next().await.unwrap()), i.to_string());
        }
    }
}
