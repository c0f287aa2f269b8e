//! [`spawn_file_writer`]: every line, appended to size-capped rolling files in the state dir.
//!
//! One task per engine, itself an ordinary hub subscriber: it can fall behind like any reader
//! (and then writes a "[N lines missed]" marker) but can never slow a child down. Lines are
//! formatted into per-server in-memory batches and written every [`FLUSH_EVERY_MS`] (or sooner
//! when a batch reaches [`FLUSH_AT_BYTES`]) by `spawn_blocking`, so file I/O (slow disks, network
//! home dirs) never stalls a runtime worker, and the task keeps reading while a flush runs. It
//! stops reading once [`MAX_PENDING_BYTES`] are waiting, which bounds its memory; the hub's live
//! tail absorbs the burst or the writer reports missed lines.
//!
//! Files must never stop anything else: an I/O error (dir unwritable, disk full) is reported by
//! ONE `tracing::warn` per outage, the affected lines are counted, and the next flush retries
//! (reopening the file); when writing works again the file gets a "[N lines missed]" marker.
//! An outage ends only when every file that failed has been written again: one full file
//! among healthy ones is one outage, not one warning per flush.
//! The warning is emitted from the task, not the blocking thread, so it goes wherever the
//! engine's tracing goes (including back into the hub as a `bridge` line, harmlessly).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::FutureExt as _;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::hub::LogHub;
use super::line::{BRIDGE_SOURCE, Level, LogFilter, Stream, now_ms};
use super::subscription::{LogEvent, LogSubscription};

/// A server's log file rolls once it would pass this size.
pub const DEFAULT_FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rolled files kept per server (`NAME.log.1` … `NAME.log.N`).
pub const DEFAULT_FILES_KEPT: usize = 3;

/// Flush period: how stale a log file may be, at most.
const FLUSH_EVERY_MS: u64 = 200;
/// A batch this large is flushed without waiting for the tick.
const FLUSH_AT_BYTES: usize = 1024 * 1024;
/// Formatted bytes waiting (plus one flush in flight) before the writer stops reading.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// Events taken from the hub after shutdown is requested, so a flood cannot delay shutdown.
const SHUTDOWN_DRAIN_EVENTS: usize = 100_000;

/// Rolling files: one writer task (a hub subscriber) that appends every line to
/// `dir/<server>.log` as `"2024-05-01T12:00:00.123Z stderr [WARN] text\n"` (UTC, RFC 3339 with
/// milliseconds; the `[LEVEL]` part is absent when the line has no level), rolls a file before it
/// would pass `max_bytes` (a single longer line gets a file of its own), keeping `keep` old files
/// `NAME.log.1` … `NAME.log.N`, writes a `"[N lines missed]"` marker into every server's file seen
/// so far (or `bridge.log`) when it falls behind (N counts all servers' lost lines), flushes on a
/// 200 ms tick and on shutdown, and on an I/O error emits ONE `tracing::warn` and keeps going,
/// retrying later. Starts with the hub's backlog. The returned handle completes after the final
/// flush (on `shutdown`, or when the hub is gone). Must be called inside a tokio runtime.
pub fn spawn_file_writer(
    hub: &LogHub,
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    // Subscribe now, not in the task, so nothing pushed after this call can be skipped.
    let sub = hub.subscribe(LogFilter::all(), None);
    let config = FileConfig {
        dir,
        max_bytes: max_bytes.max(1),
        keep,
    };
    tokio::spawn(run(sub, config, shutdown))
}

async fn run(mut sub: LogSubscription, config: FileConfig, shutdown: CancellationToken) {
    let mut pending = Pending::default();
    for line in sub.take_backlog() {
        pending.add(LogEvent::Line(line));
    }
    let mut flusher = Flusher::new(config);
    let mut tick = tokio::time::interval(Duration::from_millis(FLUSH_EVERY_MS));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let can_read = pending.bytes < MAX_PENDING_BYTES;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            done = flusher.in_flight(), if flusher.busy() => flusher.settle(done),
            event = sub.next(), if can_read => match event {
                Some(event) => {
                    pending.add(event);
                    if pending.bytes >= FLUSH_AT_BYTES {
                        flusher.start(&mut pending);
                    }
                }
                None => break,
            },
            _ = tick.tick() => flusher.start(&mut pending),
        }
    }
    for _ in 0..SHUTDOWN_DRAIN_EVENTS {
        match sub.next().now_or_never() {
            Some(Some(event)) => pending.add(event),
            _ => break,
        }
    }
    flusher.wait().await;
    flusher.start(&mut pending);
    flusher.wait().await;
}

#[derive(Clone)]
struct FileConfig {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
}

/// Formatted lines waiting for the next flush, per server file.
#[derive(Default)]
struct Pending {
    blobs: HashMap<String, Vec<u8>>,
    bytes: usize,
    /// Every server that had a line, for the missed marker.
    known: HashSet<String>,
}

impl Pending {
    fn add(&mut self, event: LogEvent) {
        match event {
            LogEvent::Line(line) => self.append(&line.server, |out| {
                format_line(out, line.time_ms, line.stream, line.level, &line.text);
            }),
            LogEvent::Missed { count } => {
                // The count covers every server's lines (the writer cannot tell whose were lost),
                // so each file says so rather than claiming them as its own.
                let text = format!(
                    "[{count} lines missed across all servers: the log file writer fell behind]"
                );
                let time_ms = now_ms();
                let mut servers: Vec<String> = self.known.iter().cloned().collect();
                if servers.is_empty() {
                    servers.push(BRIDGE_SOURCE.to_owned());
                }
                for server in servers {
                    self.append(&server, |out| {
                        format_line(out, time_ms, Stream::Bridge, Some(Level::Warn), &text);
                    });
                }
            }
        }
    }

    fn append(&mut self, server: &str, write: impl FnOnce(&mut Vec<u8>)) {
        if !self.blobs.contains_key(server) {
            self.blobs.insert(server.to_owned(), Vec::new());
            self.known.insert(server.to_owned());
        }
        if let Some(blob) = self.blobs.get_mut(server) {
            let before = blob.len();
            write(blob);
            self.bytes += blob.len() - before;
        }
    }

    fn take(&mut self) -> HashMap<String, Vec<u8>> {
        self.bytes = 0;
        std::mem::take(&mut self.blobs)
    }
}

fn format_line(out: &mut Vec<u8>, time_ms: u64, stream: Stream, level: Option<Level>, text: &str) {
    let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(time_ms));
    let _ = write!(out, "{time} {stream} ");
    if let Some(level) = level {
        let _ = write!(out, "[{}] ", level.as_str().to_ascii_uppercase());
    }
    if text.contains(['\n', '\r']) {
        // One record per file line, whatever a caller pushed.
        out.extend_from_slice(text.replace('\n', "\\n").replace('\r', "\\r").as_bytes());
    } else {
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b'\n');
}

type FlushResult = (FileSet, Option<io::Error>);

/// Runs at most one flush at a time on the blocking pool and reports outages once.
struct Flusher {
    config: FileConfig,
    /// `None` while a flush owns the files.
    files: Option<FileSet>,
    in_flight: Option<JoinHandle<FlushResult>>,
    /// An error was reported and some file has not been written since. The files that failed
    /// are the set's `lost` keys: a flush that only touched healthy files ends no outage.
    failing: bool,
}

impl Flusher {
    fn new(config: FileConfig) -> Self {
        Self {
            files: Some(FileSet::new(config.clone())),
            config,
            in_flight: None,
            failing: false,
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    fn start(&mut self, pending: &mut Pending) {
        if self.in_flight.is_some() || pending.blobs.is_empty() {
            return;
        }
        let mut files = self
            .files
            .take()
            .unwrap_or_else(|| FileSet::new(self.config.clone()));
        let blobs = pending.take();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let error = files.write(blobs);
            (files, error)
        }));
    }

    async fn in_flight(&mut self) -> Result<FlushResult, JoinError> {
        match &mut self.in_flight {
            Some(handle) => handle.await,
            None => std::future::pending().await,
        }
    }

    async fn wait(&mut self) {
        if self.in_flight.is_some() {
            let done = self.in_flight().await;
            self.settle(done);
        }
    }

    fn settle(&mut self, done: Result<FlushResult, JoinError>) {
        self.in_flight = None;
        let (error, still_failing) = match done {
            Ok((files, error)) => {
                let still_failing = !files.lost.is_empty();
                self.files = Some(files);
                (error, still_failing)
            }
            // A panicked or cancelled flush took its files with it; start over next time.
            Err(e) => (Some(io::Error::other(e.to_string())), true),
        };
        match error {
            // Lines of a failing file still wait for it: the outage goes on.
            None if still_failing => {}
            Some(error) if !self.failing => {
                self.failing = true;
                tracing::warn!(
                    dir = %self.config.dir.display(),
                    %error,
                    "cannot write log files; lines are kept in memory only, will retry"
                );
            }
            None if self.failing => {
                self.failing = false;
                tracing::info!(dir = %self.config.dir.display(), "log files writable again");
            }
            _ => {}
        }
    }
}

/// The open files, used only on the blocking pool.
struct FileSet {
    config: FileConfig,
    open: HashMap<String, OpenFile>,
    /// Lines that could not be written, per server, for the marker once writing works again.
    lost: HashMap<String, u64>,
}

struct OpenFile {
    file: File,
    size: u64,
}

impl FileSet {
    fn new(config: FileConfig) -> Self {
        Self {
            config,
            open: HashMap::new(),
            lost: HashMap::new(),
        }
    }

    /// Writes every blob; returns the first error, after trying them all.
    fn write(&mut self, blobs: HashMap<String, Vec<u8>>) -> Option<io::Error> {
        let mut first_error = None;
        for (server, blob) in blobs {
            if let Err(error) = self.write_server(&server, &blob) {
                // Reopen next time: the dir may come back, the disk may be freed.
                self.open.remove(&server);
                let lines = blob.iter().filter(|&&b| b == b'\n').count() as u64;
                *self.lost.entry(server).or_default() += lines;
                first_error.get_or_insert(error);
            }
        }
        first_error
    }

    fn write_server(&mut self, server: &str, blob: &[u8]) -> io::Result<()> {
        if let Some(&lost) = self.lost.get(server) {
            let mut marker = Vec::new();
            let text = format!("[{lost} lines missed]");
            format_line(
                &mut marker,
                now_ms(),
                Stream::Bridge,
                Some(Level::Warn),
                &text,
            );
            self.append(server, &marker)?;
            self.lost.remove(server);
        }
        self.append(server, blob)
    }

    /// Appends whole lines, rolling the file before it would pass `max_bytes`.
    fn append(&mut self, server: &str, mut rest: &[u8]) -> io::Result<()> {
        let max_bytes = self.config.max_bytes;
        while !rest.is_empty() {
            let file = self.file(server)?;
            let room = usize::try_from(max_bytes.saturating_sub(file.size)).unwrap_or(usize::MAX);
            let take = if rest.len() <= room {
                rest.len()
            } else if let Some(newline) = rest[..room].iter().rposition(|&b| b == b'\n') {
                newline + 1
            } else if file.size == 0 {
                // A single line longer than max_bytes: it gets a file of its own.
                rest.iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |n| n + 1)
            } else {
                0
            };
            if take > 0 {
                file.file.write_all(&rest[..take])?;
                file.size += take as u64;
                rest = &rest[take..];
            }
            if !rest.is_empty() {
                self.roll(server)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, server: &str) -> io::Result<&mut OpenFile> {
        if !self.open.contains_key(server) {
            std::fs::create_dir_all(&self.config.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(server, 0))?;
            let size = file.metadata()?.len();
            self.open.insert(server.to_owned(), OpenFile { file, size });
        }
        self.open
            .get_mut(server)
            .ok_or_else(|| io::Error::other("log file vanished from the open set"))
    }

    /// NAME.log → NAME.log.1 → … → NAME.log.keep (dropped beyond).
    fn roll(&mut self, server: &str) -> io::Result<()> {
        // Closed before renaming: Windows cannot rename an open file.
        self.open.remove(server);
        let keep = self.config.keep;
        if keep == 0 {
            return ignore_not_found(std::fs::remove_file(self.path(server, 0)));
        }
        ignore_not_found(std::fs::remove_file(self.path(server, keep)))?;
        for n in (1..keep).rev() {
            ignore_not_found(std::fs::rename(
                self.path(server, n),
                self.path(server, n + 1),
            ))?;
        }
        ignore_not_found(std::fs::rename(self.path(server, 0), self.path(server, 1)))
    }

    /// `dir/NAME.log` for n = 0, else `dir/NAME.log.n`.
    fn path(&self, server: &str, n: usize) -> PathBuf {
        let name = file_stem(server);
        let file = if n == 0 {
            format!("{name}.log")
        } else {
            format!("{name}.log.{n}")
        };
        self.config.dir.join(file)
    }
}

fn ignore_not_found(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A server name as a file name that stays inside the dir on every platform.
fn file_stem(server: &str) -> String {
    let mut stem: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        stem.insert(0, '_');
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn line_format() {
        let mut out = Vec::new();
        format_line(
            &mut out,
            1_714_564_800_123,
            Stream::Stderr,
            Some(Level::Warn),
            "a\nb",
        );
        format_line(&mut out, 0, Stream::Stdout, None, "plain");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "2024-05-01T12:00:00.123Z stderr [WARN] a\\nb\n1970-01-01T00:00:00.000Z stdout plain\n"
        );
        assert_eq!(file_stem("../etc/x y"), "_.._etc_x_y");
    }

    #[tokio::test]
    async fn rolls_at_max_bytes_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let hub = LogHub::new(10_000);
        let stop = CancellationToken::new();
        let writer = spawn_file_writer(&hub, dir.path().to_owned(), 1000, 2, stop.clone());
        for i in 0..200 {
            hub.push(
                "x",
                Stream::Stderr,
                None,
                format!("line {i:04} {}", "-".repeat(20)),
            );
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        hub.push("y", Stream::Stdout, None, "other server".into());
        stop.cancel();
        writer.await.unwrap();

        let log = |name: &str| dir.path().join(name);
        assert!(log("x.log.1").exists() && log("x.log.2").exists());
        assert!(!log("x.log.3").exists(), "only `keep` old files are kept");
        for name in ["x.log", "x.log.1", "x.log.2"] {
            let len = std::fs::metadata(log(name)).unwrap().len();
            assert!(len <= 1000, "{name} is {len} bytes");
        }
        assert!(std::fs::metadata(log("x.log.1")).unwrap().len() > 900);
        let current = read(&log("x.log"));
        assert!(
            current
                .trim_end()
                .ends_with(&format!("line 0199 {}", "-".repeat(20)))
        );
        // The kept files are contiguous: the first line of x.log follows the last of x.log.1.
        let number =
            |line: &str| -> u32 { line.split("line ").nth(1).unwrap()[..4].parse().unwrap() };
        let last_of_1 = number(read(&log("x.log.1")).lines().last().unwrap());
        let first_of_0 = number(current.lines().next().unwrap());
        assert_eq!(first_of_0, last_of_1 + 1);
        assert!(read(&log("y.log")).ends_with("stdout other server\n"));
    }

    #[tokio::test]
    async fn marker_when_the_writer_falls_behind() {
        let dir = tempfile::tempdir().unwrap();
        let hub = LogHub::with_capacities(10_000, 16);
        let stop = CancellationToken::new();
        let writer = spawn_file_writer(&hub, dir.path().to_owned(), 1 << 20, 1, stop.clone());
        hub.push("x", Stream::Stderr, None, "first".into());
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The writer runs on this thread, so it cannot read while we push.
        for i in 0..1000 {
            hub.push("x", Stream::Stderr, None, format!("n{i}"));
        }
        stop.cancel();
        writer.await.unwrap();
        let text = read(&dir.path().join("x.log"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("stderr first"));
        assert!(
            lines[1].ends_with(
                "bridge [WARN] [984 lines missed across all servers: the log file writer fell behind]"
            ),
            "{}",
            lines[1]
        );
        assert!(lines[2].ends_with("stderr n984"));
        assert_eq!(lines.len(), 2 + 16);
    }

    struct CountWarnings(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for CountWarnings {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[tokio::test]
    async fn unwritable_dir_warns_once_and_recovers() {
        let warnings = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);

        let tmp = tempfile::tempdir().unwrap();
        // A regular file where a dir should be: unwritable even for root.
        let blocker = tmp.path().join("state");
        std::fs::write(&blocker, b"not a dir").unwrap();
        let dir = blocker.join("logs");
        let hub = LogHub::new(10_000);
        let stop = CancellationToken::new();
        let writer = spawn_file_writer(&hub, dir.clone(), 1 << 20, 1, stop.clone());
        for round in 0..3 {
            for i in 0..10 {
                hub.push("x", Stream::Stderr, None, format!("r{round} {i}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning per outage");
        assert!(!writer.is_finished(), "the writer keeps going");

        std::fs::remove_file(&blocker).unwrap();
        hub.push("x", Stream::Stderr, None, "back".into());
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        writer.await.unwrap();
        let text = read(&dir.join("x.log"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("[30 lines missed]"), "{}", lines[0]);
        assert!(lines[1].ends_with("stderr back"));
        assert_eq!(warnings.load(Ordering::SeqCst), 1);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn one_full_file_among_healthy_ones_is_one_outage_not_one_per_flush() {
        let warnings = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);

        let dir = tempfile::tempdir().unwrap();
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        std::os::unix::fs::symlink("/dev/full", dir.path().join("full.log")).unwrap();
        let hub = LogHub::new(10_000);
        let stop = CancellationToken::new();
        let writer = spawn_file_writer(&hub, dir.path().to_owned(), 1 << 20, 1, stop.clone());
        // Flushes alternate between the failing file and a healthy one.
        for round in 0..4 {
            hub.push("full", Stream::Stderr, None, format!("lost {round}"));
            tokio::time::sleep(Duration::from_millis(300)).await;
            hub.push("fine", Stream::Stderr, None, format!("kept {round}"));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stop.cancel();
        writer.await.unwrap();
        assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning per outage");
        assert_eq!(read(&dir.path().join("fine.log")).lines().count(), 4);
    }
}
