//! Log hub under load: gap-free handover with concurrent pushers, a slow subscriber that must
//! not slow a flooding child down, and the ingestion rate (printed; meaningful in release:
//! `cargo test --release -p bridgedock-engine --test logs_flood -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridgedock_engine::logs::{LogEvent, LogFilter, LogHub, Stream, bench_ingest};

const FLOOD_LINES: u64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_mid_flood_is_contiguous_from_several_threads() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50_000;
    // Big enough that nothing is evicted: then every seq must arrive exactly once.
    let hub = LogHub::with_capacities(1_000_000, 1_000_000);
    let started = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..THREADS)
        .map(|t| {
            let hub = hub.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    hub.push(&format!("s{t}"), Stream::Stderr, None, i.to_string());
                    if i == 1000 {
                        started.store(true, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    while !started.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    let mut sub = hub.subscribe(LogFilter::all(), None);
    let mut seqs: Vec<u64> = sub.take_backlog().iter().map(|l| l.seq).collect();
    let backlog_len = seqs.len();
    while (seqs.len() as u64) < THREADS * PER_THREAD {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(LogEvent::Line(line))) => seqs.push(line.seq),
            other => panic!("unexpected {other:?} after {} lines", seqs.len()),
        }
    }
    for p in pushers {
        p.join().unwrap();
    }
    assert!(backlog_len > 0, "subscribed mid-flood");
    let expected: Vec<u64> = (1..=THREADS * PER_THREAD).collect();
    assert_eq!(seqs, expected, "no gap, no duplicate, in order");

    // Resuming from any seq replays exactly what follows it.
    let mut resumed = hub.subscribe(LogFilter::all(), Some(123_456));
    let backlog = resumed.take_backlog();
    assert_eq!(backlog.first().unwrap().seq, 123_457);
    assert_eq!(backlog.len() as u64, THREADS * PER_THREAD - 123_456);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_never_blocks_the_pusher() {
    let hub = LogHub::new(10_000);
    let mut stalled = hub.subscribe(LogFilter::all(), None);
    let mut slow = hub.subscribe(LogFilter::all(), None);
    let mut filtered = hub.subscribe(LogFilter::server("quiet"), None);

    let slow_reader = tokio::spawn(async move {
        let (mut received, mut missed, mut missed_events) = (0u64, 0u64, 0u64);
        while received + missed < FLOOD_LINES {
            match slow.next().await {
                Some(LogEvent::Line(_)) => received += 1,
                Some(LogEvent::Missed { count }) => {
                    missed += count;
                    missed_events += 1;
                }
                None => break,
            }
            if received % 1000 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        (received, missed, missed_events)
    });

    let pusher_hub = hub.clone();
    let pusher = std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..FLOOD_LINES {
            let server = if i % 1000 == 0 { "quiet" } else { "noisy" };
            pusher_hub.push(server, Stream::Stderr, None, format!("flood {i}"));
        }
        start.elapsed()
    });
    let push_time = pusher.join().unwrap();
    // Nobody read from `stalled` while all of that was pushed: the pusher did not wait for it.
    println!("pushed {FLOOD_LINES} lines past a stalled subscriber in {push_time:?}");
    assert!(push_time < Duration::from_secs(20));

    let (received, missed, missed_events) = slow_reader.await.unwrap();
    println!("slow subscriber: received {received}, missed {missed} in {missed_events} gaps");
    assert_eq!(received + missed, FLOOD_LINES);
    assert!(
        missed > 0,
        "a 1 ms nap per 1000 lines cannot keep up with a flood"
    );

    // The stalled one learns how much it lost, then gets the newest lines, all of them.
    let first = stalled.next().await.unwrap();
    let LogEvent::Missed { count } = first else {
        panic!("expected Missed, got {first:?}");
    };
    let mut rest = 0;
    let mut last_seq = 0;
    while let Some(Some(event)) = futures_util::FutureExt::now_or_never(stalled.next()) {
        let LogEvent::Line(line) = event else {
            panic!("only one gap expected");
        };
        assert!(line.seq > last_seq);
        last_seq = line.seq;
        rest += 1;
    }
    assert_eq!(count + rest, FLOOD_LINES);
    assert_eq!(last_seq, hub.last_seq());

    // A filtered subscriber's Missed counts every lost line (documented), then only its lines.
    let mut filtered_lines = 0;
    let mut filtered_missed = 0;
    while let Some(Some(event)) = futures_util::FutureExt::now_or_never(filtered.next()) {
        match event {
            LogEvent::Line(line) => {
                assert_eq!(line.server, "quiet");
                filtered_lines += 1;
            }
            LogEvent::Missed { count } => filtered_missed += count,
        }
    }
    assert_eq!(filtered_missed, count);
    assert!(filtered_lines > 0);
}

#[test]
fn ingest_rate() {
    // Small in debug builds; the number that matters comes from --release.
    let lines = if cfg!(debug_assertions) {
        200_000
    } else {
        5_000_000
    };
    for servers in [1, 4] {
        let rate = bench_ingest(lines, servers);
        println!("ingest: {rate:.0} lines/s ({lines} lines from {servers} thread(s))");
        assert!(rate > 0.0);
    }
}
