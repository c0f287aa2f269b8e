//! [`LogHub`]: per-server rings plus one global live tail, all under a single mutex.
//!
//! Shape: one `parking_lot::Mutex<State>` holds the global seq counter, a ring per server and a
//! global *live tail* (the last [`LIVE_TAIL_LINES`] lines of all servers, in seq order). A push
//! takes that lock once, briefly: assign seq, append to the ring and the tail, take the waiting
//! subscribers' wakers. Allocation happens before the lock and evicted lines are freed after it.
//!
//! The tail replaces a `tokio::sync::broadcast` channel: broadcast would add a second lock per
//! push, while subscribers reading the tail under the same lock get gap-free, duplicate-free
//! handover from snapshot to live for free (the snapshot and the cursor are taken atomically).
//! A subscriber is just a cursor (next seq wanted); if the tail has moved past it, it lost
//! `front - cursor` lines and is told so. Pushers never wait for subscribers: nothing on the push
//! path depends on how far any reader has got.
//!
//! Nothing here may emit `tracing` events: the engine's own events are pushed into this hub
//! (see `tracing_layer`), and an event on the push path would recurse.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use super::line::{Level, LogFilter, LogLine, Stream, now_ms};
use super::subscription::LogSubscription;

/// How many of the most recent lines (all servers together) stay reachable by live subscribers.
/// A subscriber further behind than this loses lines and receives `LogEvent::Missed`.
pub const LIVE_TAIL_LINES: usize = 16_384;

pub(super) struct State {
    /// The seq the next pushed line gets; seqs start at 1.
    pub(super) next_seq: u64,
    rings: HashMap<String, VecDeque<Arc<LogLine>>>,
    /// Every line of every server, contiguous in seq, the newest `tail_lines` of them.
    pub(super) tail: VecDeque<Arc<LogLine>>,
    /// Subscribers parked because they had read everything, by subscription id.
    pub(super) waiters: Vec<(u64, Waker)>,
    next_subscription_id: u64,
    /// Set when the last `LogHub` handle is dropped; subscribers drain the tail, then end.
    pub(super) closed: bool,
}

/// What subscriptions share with the hub. Subscriptions keep this alive (not the hub) so that
/// they can notice the hub is gone and still drain what was pushed before.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    ring_lines: usize,
    tail_lines: usize,
}

/// The hub's identity: dropping the last one closes the hub for its subscribers.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let wakers = {
            let mut st = self.shared.state.lock();
            st.closed = true;
            std::mem::take(&mut st.waiters)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// The engine's log hub: cheap to clone, shared by pumps, the tracing layer and readers.
#[derive(Clone)]
pub struct LogHub {
    owner: Arc<Owner>,
}

impl fmt::Debug for LogHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHub")
            .field("ring_lines", &self.owner.shared.ring_lines)
            .field("tail_lines", &self.owner.shared.tail_lines)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

/// Which end of the matching lines `collect` keeps when there are more than `limit`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Oldest,
    Newest,
}

impl LogHub {
    /// A hub keeping `ring_lines` lines per server and a live tail of [`LIVE_TAIL_LINES`].
    pub fn new(ring_lines: usize) -> Self {
        Self::with_capacities(ring_lines, LIVE_TAIL_LINES)
    }

    /// Like [`LogHub::new`] with an explicit live-tail size (at least 1): how far behind a
    /// subscriber may fall before it misses lines.
    pub fn with_capacities(ring_lines: usize, tail_lines: usize) -> Self {
        let tail_lines = tail_lines.max(1);
        let state = State {
            next_seq: 1,
            rings: HashMap::new(),
            tail: VecDeque::with_capacity(tail_lines),
            waiters: Vec::new(),
            next_subscription_id: 0,
            closed: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            ring_lines,
            tail_lines,
        });
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// Never blocks on subscribers. Returns the line's seq.
    pub fn push(&self, server: &str, stream: Stream, level: Option<Level>, text: String) -> u64 {
        let shared = &self.owner.shared;
        // Allocate before locking; the seq is patched in under the lock while we are still the
        // only owner of the Arc.
        let mut line = Arc::new(LogLine {
            seq: 0,
            time_ms: now_ms(),
            server: server.to_owned(),
            stream,
            level,
            text,
        });
        let seq;
        let evicted_ring;
        let evicted_tail;
        let wakers;
        {
            let mut guard = shared.state.lock();
            let st = &mut *guard;
            seq = st.next_seq;
            st.next_seq += 1;
            if let Some(l) = Arc::get_mut(&mut line) {
                l.seq = seq;
            }
            evicted_ring = match st.rings.get_mut(server) {
                Some(ring) => push_capped(ring, Arc::clone(&line), shared.ring_lines),
                None => {
                    let mut ring = VecDeque::new();
                    let evicted = push_capped(&mut ring, Arc::clone(&line), shared.ring_lines);
                    st.rings.insert(server.to_owned(), ring);
                    evicted
                }
            };
            evicted_tail = push_capped(&mut st.tail, line, shared.tail_lines);
            wakers = if st.waiters.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut st.waiters)
            };
        }
        // Freed outside the lock: dropping the last Arc of a line deallocates two strings.
        drop(evicted_ring);
        drop(evicted_tail);
        for (_, waker) in wakers {
            waker.wake();
        }
        seq
    }

    /// Lines matching `filter` with seq > `since` (oldest first), at most `limit`: with
    /// `since = Some(s)` the oldest `limit` after `s` (paging forward); with `since = None` the
    /// newest `limit`.
    pub fn lines(&self, filter: &LogFilter, since: Option<u64>, limit: usize) -> Vec<Arc<LogLine>> {
        let keep = if since.is_some() {
            Keep::Oldest
        } else {
            Keep::Newest
        };
        let st = self.owner.shared.state.lock();
        let picked = collect(&st, filter, since, limit, keep);
        drop(st);
        merge(picked, limit, keep)
    }

    /// Snapshot + live tail, gap-free and duplicate-free: the backlog is the ring content
    /// matching the filter with seq > `since` (`None` = everything buffered), then live lines
    /// (seq above the newest line at the time of this call) follow.
    pub fn subscribe(&self, filter: LogFilter, since: Option<u64>) -> LogSubscription {
        let shared = Arc::clone(&self.owner.shared);
        let (picked, cursor, id) = {
            let mut st = shared.state.lock();
            let picked = collect(&st, &filter, since, usize::MAX, Keep::Oldest);
            let id = st.next_subscription_id;
            st.next_subscription_id += 1;
            (picked, st.next_seq, id)
        };
        let backlog = merge(picked, usize::MAX, Keep::Oldest);
        LogSubscription::new(shared, id, filter, backlog, cursor)
    }

    /// The seq of the newest line pushed so far (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.owner.shared.state.lock().next_seq - 1
    }

    /// Drops a server's ring (when the server is removed from config). Its lines may still
    /// reach live subscribers that are behind, through the tail.
    pub fn forget_server(&self, server: &str) {
        let ring = self.owner.shared.state.lock().rings.remove(server);
        drop(ring);
    }

    /// Names of the servers that currently have a ring.
    pub fn servers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .owner
            .shared
            .state
            .lock()
            .rings
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}

/// Appends, dropping the oldest entry beyond `cap`; returns what was dropped so the caller can
/// free it after unlocking.
fn push_capped<T>(queue: &mut VecDeque<T>, item: T, cap: usize) -> Option<T> {
    queue.push_back(item);
    if queue.len() > cap {
        queue.pop_front()
    } else {
        None
    }
}

/// Under the lock: per ring, the (at most `limit`) matching lines with seq > `since`, from the
/// end `keep` says. Rings are sorted by seq, so the start is a binary search.
fn collect(
    st: &State,
    filter: &LogFilter,
    since: Option<u64>,
    limit: usize,
    keep: Keep,
) -> Vec<Arc<LogLine>> {
    let mut out = Vec::new();
    let mut take_from = |ring: &VecDeque<Arc<LogLine>>| {
        let start = since.map_or(0, |s| ring.partition_point(|l| l.seq <= s));
        let matching = ring
            .range(start..)
            .filter(|l| filter.stream.is_none_or(|s| s == l.stream));
        match keep {
            Keep::Oldest => out.extend(matching.take(limit).cloned()),
            Keep::Newest => out.extend(matching.rev().take(limit).cloned()),
        }
    };
    match &filter.server {
        Some(server) => {
            if let Some(ring) = st.rings.get(server) {
                take_from(ring);
            }
        }
        None => st.rings.values().for_each(take_from),
    }
    out
}

/// Outside the lock: orders the per-ring picks by seq and keeps `limit` from the `keep` end.
fn merge(mut picked: Vec<Arc<LogLine>>, limit: usize, keep: Keep) -> Vec<Arc<LogLine>> {
    picked.sort_unstable_by_key(|l| l.seq);
    if picked.len() > limit {
        match keep {
            Keep::Oldest => picked.truncate(limit),
            Keep::Newest => {
                picked.drain(..picked.len() - limit);
            }
        }
    }
    picked
}

/// Pushes `lines` lines from `servers` threads (one server each) into a fresh hub with no
/// subscribers and returns the aggregate rate in lines per second. Each push allocates its text,
/// as a pump does. Run it in release mode; see `tests/logs_flood.rs`.
pub fn bench_ingest(lines: usize, servers: usize) -> f64 {
    let servers = servers.max(1);
    let hub = LogHub::new(super::line::DEFAULT_RING_LINES);
    let per_server = lines / servers;
    let barrier = Arc::new(std::sync::Barrier::new(servers + 1));
    let workers: Vec<_> = (0..servers)
        .map(|i| {
            let hub = hub.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let name = format!("server-{i}");
                let text = "INFO:     127.0.0.1:53412 - \"POST /mcp HTTP/1.1\" 200 OK";
                barrier.wait();
                for _ in 0..per_server {
                    hub.push(&name, Stream::Stderr, Some(Level::Info), text.to_owned());
                }
            })
        })
        .collect();
    barrier.wait();
    let started = std::time::Instant::now();
    for worker in workers {
        let _ = worker.join();
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    (per_server * servers) as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_n(hub: &LogHub, server: &str, n: usize) {
        for i in 0..n {
            hub.push(server, Stream::Stderr, None, format!("{server} {i}"));
        }
    }

    #[test]
    fn ring_drops_oldest_per_server_only() {
        let hub = LogHub::new(10);
        push_n(&hub, "quiet", 3);
        push_n(&hub, "noisy", 1000);
        let quiet = hub.lines(&LogFilter::server("quiet"), None, 100);
        assert_eq!(
            quiet.len(),
            3,
            "a noisy server must not evict another's lines"
        );
        let noisy = hub.lines(&LogFilter::server("noisy"), None, 100);
        assert_eq!(noisy.len(), 10);
        assert_eq!(noisy[0].text, "noisy 990");
        assert_eq!(noisy[9].text, "noisy 999");
        assert_eq!(hub.last_seq(), 1003);
    }

    #[test]
    fn seq_strictly_increasing_across_servers_and_threads() {
        let hub = LogHub::new(100_000);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let hub = hub.clone();
                std::thread::spawn(move || push_n(&hub, &format!("s{t}"), 5000))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = hub.lines(&LogFilter::all(), None, usize::MAX);
        assert_eq!(all.len(), 20_000);
        for (i, line) in all.iter().enumerate() {
            assert_eq!(line.seq, i as u64 + 1);
        }
        // Within one server, seq order is push order.
        let s0 = hub.lines(&LogFilter::server("s0"), None, usize::MAX);
        for (i, line) in s0.iter().enumerate() {
            assert_eq!(line.text, format!("s0 {i}"));
        }
    }

    #[test]
    fn lines_pages_forward_with_since_and_tails_without() {
        let hub = LogHub::new(100);
        for i in 0..10 {
            let server = if i % 2 == 0 { "a" } else { "b" };
            let stream = if i < 5 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            hub.push(server, stream, None, i.to_string());
        }
        let seqs = |v: Vec<Arc<LogLine>>| v.iter().map(|l| l.seq).collect::<Vec<_>>();
        assert_eq!(seqs(hub.lines(&LogFilter::all(), None, 3)), [8, 9, 10]);
        assert_eq!(seqs(hub.lines(&LogFilter::all(), Some(2), 3)), [3, 4, 5]);
        assert_eq!(seqs(hub.lines(&LogFilter::all(), Some(9), 3)), [10]);
        assert_eq!(seqs(hub.lines(&LogFilter::server("a"), None, 2)), [7, 9]);
        let stderr_a = LogFilter {
            server: Some("a".into()),
            stream: Some(Stream::Stderr),
        };
        assert_eq!(seqs(hub.lines(&stderr_a, Some(0), 10)), [7, 9]);
        assert!(hub.lines(&LogFilter::server("nobody"), None, 10).is_empty());
    }

    #[test]
    fn forget_server_drops_its_ring() {
        let hub = LogHub::new(100);
        push_n(&hub, "gone", 5);
        push_n(&hub, "kept", 5);
        hub.forget_server("gone");
        assert_eq!(hub.servers(), ["kept"]);
        assert!(hub.lines(&LogFilter::server("gone"), None, 10).is_empty());
        assert_eq!(hub.push("gone", Stream::Stdout, None, "back".into()), 11);
    }
}
