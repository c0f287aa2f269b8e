//! The supervisor with real child processes: restart policy and backoff with a short injected
//! schedule, giving up, stable runs, stopping whole process trees (a forking fixture and a real
//! `npx` server-everything tree), missing runtimes, and a child flooding stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::time::Duration;

use bridgedock_engine::config::RestartPolicy;
use bridgedock_engine::logs::{LogEvent, LogFilter};
use bridgedock_engine::status::{Health, ServerState};
use common::*;

const SECS_10: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_crashing_server_backs_off_restarts_then_gives_up_with_its_last_stderr() {
    let mut crasher = python(
        "crasher.py",
        &["--after-ms", "30", "--code", "3", "--stderr-lines", "25"],
    );
    crasher.restart = RestartPolicy::Always;
    let mut tuning = quick_tuning();
    tuning.crash_limit = 4;
    let t = start_engine(config(vec![("crasher", crasher)]), tuning).await;
    let e = &t.engine;

    let first = wait_server(e, "crasher", SECS_10, "up", is_up).await;
    let backoff1 = wait_server(e, "crasher", SECS_10, "in backoff", |s| {
        matches!(s.state, ServerState::Backoff { attempt: 1, .. })
    })
    .await;
    let exit = backoff1.last_exit.clone().unwrap();
    assert_eq!(exit.code, Some(3));
    assert!(
        exit.reason.starts_with("exited with code 3"),
        "{}",
        exit.reason
    );
    let second = wait_server(e, "crasher", SECS_10, "running again", |s| {
        is_up(s) && s.pid != first.pid
    })
    .await;
    assert_eq!(second.restarts, 1);
    wait_server(e, "crasher", SECS_10, "in backoff attempt 2", |s| {
        matches!(s.state, ServerState::Backoff { attempt: 2, .. })
    })
    .await;

    let failed = wait_server(e, "crasher", SECS_10, "failed", |s| {
        matches!(s.state, ServerState::Failed { .. })
    })
    .await;
    let ServerState::Failed {
        crashes,
        last_stderr,
        ..
    } = &failed.state
    else {
        unreachable!()
    };
    assert_eq!(*crashes, 4);
    assert_eq!(last_stderr.len(), 20, "keeps the last 20 stderr lines");
    assert_eq!(last_stderr.last().unwrap(), "crasher: line 25");
    assert!(failed.pid.is_none());

    // A person asks for a start: the crash count starts over and it runs again.
    let started = e.start_server("crasher").await.unwrap();
    assert!(is_up(&started) || matches!(started.state, ServerState::Starting { .. }));
    e.shutdown().await;
}

#[tokio::test]
async fn a_stable_run_resets_the_backoff_attempt() {
    let mut crasher = python("crasher.py", &["--after-ms", "300", "--code", "1"]);
    crasher.restart = RestartPolicy::OnFailure;
    let mut tuning = quick_tuning();
    tuning.stable_after = Duration::from_millis(100);
    let t = start_engine(config(vec![("flaky", crasher)]), tuning).await;
    for round in 0..3 {
        let s = wait_server(&t.engine, "flaky", SECS_10, "in backoff", |s| {
            matches!(s.state, ServerState::Backoff { .. }) && s.restarts == round
        })
        .await;
        assert!(
            matches!(s.state, ServerState::Backoff { attempt: 1, .. }),
            "round {round}: each run was stable, so every restart is attempt 1: {:?}",
            s.state
        );
    }
    t.engine.shutdown().await;
}

#[tokio::test]
async fn restart_policies_never_and_on_failure_leave_servers_down() {
    let mut never = python("crasher.py", &["--after-ms", "10", "--code", "2"]);
    never.restart = RestartPolicy::Never;
    let mut clean = python("crasher.py", &["--after-ms", "10", "--code", "0"]);
    clean.restart = RestartPolicy::OnFailure;
    let t = start_engine(
        config(vec![("never", never), ("clean", clean)]),
        quick_tuning(),
    )
    .await;
    let s = wait_server(&t.engine, "never", SECS_10, "crashed", |s| {
        matches!(s.state, ServerState::Crashed { .. })
    })
    .await;
    assert!(matches!(
        s.state,
        ServerState::Crashed { code: Some(2), .. }
    ));
    let s = wait_server(
        &t.engine,
        "clean",
        SECS_10,
        "stopped after exiting 0",
        |s| s.last_exit.is_some() && matches!(s.state, ServerState::Stopped),
    )
    .await;
    assert_eq!(s.last_exit.unwrap().code, Some(0));
    // What that means is the engine's to say, once, for every face: nobody asked it to stop,
    // so it needs someone — and a crash that is not restarted does too.
    assert_eq!(s.meaning.health, Health::Down);
    assert_eq!(
        (s.meaning.words.as_str(), s.meaning.summary.as_str()),
        ("Exited", "exited with code 0 by itself, not restarted")
    );
    assert!(s.meaning.actions.start && !s.meaning.actions.stop);
    let snap = t.engine.snapshot();
    assert_eq!(snap.overview.health, Health::Down);
    assert_eq!(snap.overview.summary, "1 failed · 1 exited");
    t.engine.shutdown().await;
}

async fn stop_kills_the_whole_tree(ignore_term: bool) {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let mut forker = python(
        "forker.py",
        if ignore_term { &["--ignore-term"] } else { &[] },
    );
    forker
        .env
        .insert("FORKER_PIDS_FILE".into(), pids_file.display().to_string());
    forker.stop_grace = Duration::from_millis(400);
    let t = start_engine(config(vec![("forker", forker)]), quick_tuning()).await;
    let running = wait_server(&t.engine, "forker", SECS_10, "up", is_up).await;
    let (parent, child) = eventually(SECS_10, "the forker's pids file", || {
        let text = std::fs::read_to_string(&pids_file).ok()?;
        let mut it = text.split_whitespace().map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??))
    })
    .await;
    assert_eq!(Some(parent), running.pid);
    assert!(alive(parent) && alive(child));

    let stopped = t.engine.stop_server("forker").await.unwrap();
    assert!(matches!(stopped.state, ServerState::Stopped));
    assert!(!alive(parent), "the server itself is gone");
    assert!(!alive(child), "its grandchild is gone too");
    assert!(
        group_members(parent).is_empty(),
        "nothing of its group survives"
    );
    let exit = stopped.last_exit.unwrap();
    assert!(exit.requested);
    if ignore_term {
        assert_eq!(
            exit.signal,
            Some(9),
            "it ignored SIGTERM, so it got SIGKILL"
        );
    }
    t.engine.shutdown().await;
}

#[tokio::test]
async fn stop_kills_a_forking_server_and_its_grandchild() {
    stop_kills_the_whole_tree(false).await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_a_tree_that_ignores_sigterm() {
    stop_kills_the_whole_tree(true).await;
}

#[tokio::test]
async fn stop_kills_a_real_npx_server_everything_tree() {
    let node_dir = repo_root().join("tests/node");
    assert!(
        node_dir
            .join("node_modules/@modelcontextprotocol/server-everything")
            .is_dir(),
        "run scripts/setup-test-deps first (npm ci in tests/node)"
    );
    let mut spec = python("stable.py", &[]);
    spec.command = "npx".into();
    spec.args = vec![
        "-y".into(),
        "@modelcontextprotocol/server-everything@2026.8.31".into(),
    ];
    spec.cwd = Some(node_dir);
    let t = start_engine(config(vec![("everything", spec)]), quick_tuning()).await;
    let running = wait_server(
        &t.engine,
        "everything",
        Duration::from_secs(30),
        "running",
        is_running,
    )
    .await;
    let pgid = running.pid.unwrap();
    // npx starts the real server under itself: wait until there is more than one process.
    let tree = eventually(
        Duration::from_secs(30),
        "npx to start node under itself",
        || {
            let members = group_members(pgid);
            let has_server = members.iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .map(|c| c.contains("server-everything") || c.contains("mcp-server-everything"))
                    .unwrap_or(false)
                    && *pid != pgid
            });
            (members.len() >= 2 && has_server).then_some(members)
        },
    )
    .await;
    let stopped = t.engine.stop_server("everything").await.unwrap();
    assert!(matches!(stopped.state, ServerState::Stopped));
    for pid in &tree {
        assert!(
            !alive(*pid),
            "process {pid} of the npx tree survived the stop"
        );
    }
    assert!(group_members(pgid).is_empty());
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_missing_runtime_is_a_state_with_an_install_hint() {
    let mut npx = python("stable.py", &[]);
    npx.command = "npx".into();
    npx.env.insert("PATH".into(), "/nonexistent-bin".into());
    let mut other = python("stable.py", &[]);
    other.command = "definitely-not-installed-xyz".into();
    let t = start_engine(config(vec![("npx", npx), ("other", other)]), quick_tuning()).await;
    let s = wait_server(&t.engine, "npx", SECS_10, "no-command", |s| {
        matches!(s.state, ServerState::NoCommand { .. })
    })
    .await;
    assert!(
        s.state
            .describe(0)
            .starts_with("no-command: \"npx\" not found on PATH — install Node.js 18+"),
        "{}",
        s.state.describe(0)
    );
    let s = wait_server(&t.engine, "other", SECS_10, "no-command", |s| {
        matches!(s.state, ServerState::NoCommand { .. })
    })
    .await;
    assert!(s.state.describe(0).contains("definitely-not-installed-xyz"));
    // The engine is fine: a start just reports the same state again.
    let again = t.engine.start_server("npx").await.unwrap();
    assert!(matches!(again.state, ServerState::NoCommand { .. }));
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_child_flooding_stderr_is_never_blocked_by_a_slow_subscriber() {
    const LINES: u64 = 200_000;
    let mut flood = python("flood.py", &["--lines", &LINES.to_string()]);
    flood.autostart = false;
    let t = start_engine(config(vec![("flood", flood)]), quick_tuning()).await;
    let e = &t.engine;
    let mut slow = e.logs().subscribe(LogFilter::default(), None);
    let _ = slow.take_backlog();
    let before = e.logs().last_seq();
    e.start_server("flood").await.unwrap();

    // The subscriber reads one event per millisecond while the child writes as fast as it can.
    let reader = tokio::spawn(async move {
        let (mut received, mut missed) = (0u64, 0u64);
        let mut saw_done = false;
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(3), slow.next()).await
        {
            match event {
                LogEvent::Line(l) => {
                    received += 1;
                    saw_done |= l.text == "flood: done";
                }
                LogEvent::Missed { count } => missed += count,
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            if saw_done {
                break;
            }
        }
        (received, missed, saw_done)
    });
    let exited = wait_server(e, "flood", Duration::from_secs(60), "finished", |s| {
        s.last_exit.is_some() && !is_up(s)
    })
    .await;
    assert_eq!(
        exited.last_exit.unwrap().code,
        Some(0),
        "the child ran to the end"
    );
    let filter = LogFilter {
        server: Some("flood".into()),
        stream: None,
    };
    let ring = e.logs().lines(&filter, None, 20_000);
    assert!(ring.iter().any(|l| l.text == "flood: done"));
    assert!(
        ring.iter()
            .any(|l| l.text == format!("flood: line {LINES} of {LINES}"))
    );
    let (received, missed, saw_done) = reader.await.unwrap();
    assert!(saw_done, "the slow subscriber still reaches the end");
    assert!(missed > 0, "it was told it missed lines");
    assert!(
        received + missed >= LINES,
        "received {received} + missed {missed}"
    );
    assert!(e.logs().last_seq() - before > LINES);
    e.shutdown().await;
}

#[tokio::test]
async fn restart_replaces_the_process_and_counts_it() {
    let t = start_engine(
        config(vec![("stable", python("stable.py", &[]))]),
        quick_tuning(),
    )
    .await;
    let first = wait_server(&t.engine, "stable", SECS_10, "up", is_up).await;
    let after = t.engine.restart_server("stable").await.unwrap();
    assert!(is_up(&after));
    assert_ne!(after.pid, first.pid);
    assert_eq!(after.restarts, 1);
    assert!(!alive(first.pid.unwrap()));
    assert_eq!(after.last_exit.unwrap().reason, "restarted by request");
    let err = t.engine.restart_server("nope").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no server named `nope` (configured: stable)"
    );
    t.engine.shutdown().await;
    assert!(!alive(after.pid.unwrap()), "shutdown stops every server");
}
