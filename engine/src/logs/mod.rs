//! TEMPORARY stub matching the logs contract; replaced by the logs branch.
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    Bridge,
}
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub seq: u64,
    pub time_ms: u64,
    pub server: String,
    pub stream: Stream,
    pub level: Option<Level>,
    pub text: String,
}
pub const BRIDGE_SOURCE: &str = "bridge";
pub const DEFAULT_RING_LINES: usize = 10_000;
pub const DEFAULT_FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_FILES_KEPT: usize = 3;
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub server: Option<String>,
    pub stream: Option<Stream>,
}
#[derive(Clone)]
pub struct LogHub {
    lines: Arc<Mutex<Vec<Arc<LogLine>>>>,
    tx: tokio::sync::broadcast::Sender<Arc<LogLine>>,
}
pub enum LogEvent {
    Line(Arc<LogLine>),
    Missed { count: u64 },
}
pub struct LogSubscription {
    backlog: Vec<Arc<LogLine>>,
    rx: tokio::sync::broadcast::Receiver<Arc<LogLine>>,
    filter: LogFilter,
}
fn matches(f: &LogFilter, l: &LogLine) -> bool {
    f.server.as_ref().is_none_or(|s| *s == l.server) && f.stream.is_none_or(|s| s == l.stream)
}
impl LogHub {
    pub fn new(_ring: usize) -> Self {
        LogHub {
            lines: Default::default(),
            tx: tokio::sync::broadcast::channel(8192).0,
        }
    }
    pub fn push(&self, server: &str, stream: Stream, level: Option<Level>, text: String) -> u64 {
        let mut l = self.lines.lock();
        let seq = l.len() as u64 + 1;
        let line = Arc::new(LogLine {
            seq,
            time_ms: crate::status::now_ms(),
            server: server.into(),
            stream,
            level,
            text,
        });
        l.push(line.clone());
        let _ = self.tx.send(line);
        seq
    }
    pub fn lines(&self, f: &LogFilter, since: Option<u64>, limit: usize) -> Vec<Arc<LogLine>> {
        let l = self.lines.lock();
        let v: Vec<_> = l
            .iter()
            .filter(|x| matches(f, x) && x.seq > since.unwrap_or(0))
            .cloned()
            .collect();
        if since.is_some() {
            v.into_iter().take(limit).collect()
        } else {
            let n = v.len().saturating_sub(limit);
            v[n..].to_vec()
        }
    }
    pub fn subscribe(&self, filter: LogFilter, since: Option<u64>) -> LogSubscription {
        let l = self.lines.lock();
        let rx = self.tx.subscribe();
        let backlog = l
            .iter()
            .filter(|x| matches(&filter, x) && x.seq > since.unwrap_or(0))
            .cloned()
            .collect();
        LogSubscription {
            backlog,
            rx,
            filter,
        }
    }
    pub fn last_seq(&self) -> u64 {
        self.lines.lock().len() as u64
    }
    pub fn forget_server(&self, _s: &str) {}
}
impl LogSubscription {
    pub fn take_backlog(&mut self) -> Vec<Arc<LogLine>> {
        std::mem::take(&mut self.backlog)
    }
    pub async fn next(&mut self) -> Option<LogEvent> {
        loop {
            match self.rx.recv().await {
                Ok(l) if matches(&self.filter, &l) => return Some(LogEvent::Line(l)),
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    return Some(LogEvent::Missed { count: n });
                }
                Err(_) => return None,
            }
        }
    }
}
pub fn guess_level(_t: &str) -> Option<Level> {
    None
}
pub async fn pump_lines<R: AsyncRead + Unpin>(
    reader: R,
    hub: LogHub,
    server: String,
    stream: Stream,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        hub.push(&server, stream, None, l);
    }
}
pub fn spawn_file_writer(
    _hub: &LogHub,
    _dir: std::path::PathBuf,
    _max: u64,
    _keep: usize,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { shutdown.cancelled().await })
}
pub struct HubLayer {
    pub hub: LogHub,
}
impl HubLayer {
    pub fn new(hub: LogHub) -> Self {
        HubLayer { hub }
    }
}
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HubLayer {}
