//! Running the real `bridgedockd` binary in a test: its own temp config and state dirs, the
//! API address read from what it prints, `ctl` calls, and raw HTTP requests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BIN: &str = env!("CARGO_BIN_EXE_bridgedockd");

pub struct Daemon {
    pub child: Child,
    /// Everything the daemon wrote to stderr so far (drained by a thread: a daemon that logs
    /// more than a pipe holds must never block on it).
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    pub addr: String,
    pub token: String,
    pub state_dir: PathBuf,
    pub config_dir: PathBuf,
}

impl Daemon {
    /// Starts `bridgedockd serve` with `config` (a path, or None for the built-in default) and
    /// waits until it prints its API address.
    pub fn start(dir: &Path, config: Option<&Path>) -> Daemon {
        Self::try_start(dir, config).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(dir: &Path, config: Option<&Path>) -> Result<Daemon, String> {
        Self::try_start_with_env(dir, config, &[])
    }

    pub fn try_start_with_env(
        dir: &Path,
        config: Option<&Path>,
        envs: &[(&str, &str)],
    ) -> Result<Daemon, String> {
        let state_dir = dir.join("state");
        let config_dir = dir.join("cfg");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(["--port", "0", "--state-dir"])
            .arg(&state_dir)
            .arg("--config-dir")
            .arg(&config_dir)
            .env_remove("BRIDGEDOCK_CONFIG")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd.spawn().expect("spawn bridgedockd");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("bridgedockd: API listening on http://") {
                        break rest.trim().to_string();
                    }
                }
                _ => {
                    let out = child.wait_with_output().expect("wait");
                    return Err(format!(
                        "bridgedockd exited before listening ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        };
        // Keep draining stdout and stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = child.stderr.take().map(|pipe| {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut all = sink.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            })
        });
        let token = std::fs::read_to_string(config_dir.join("token"))
            .expect("token file")
            .trim()
            .to_string();
        Ok(Daemon {
            child,
            stderr,
            stderr_reader,
            addr,
            token,
            state_dir,
            config_dir,
        })
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("ctl")
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(args)
            .output()
            .expect("run ctl")
    }

    /// `ctl ARGS`, asserting success; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ctl_ok(&["status", "--json"])).unwrap()
    }

    pub fn server(&self, name: &str) -> serde_json::Value {
        self.status()["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no server {name}"))
    }

    /// What the daemon has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    /// Waits for the daemon to exit; returns its exit code and stderr.
    pub fn wait(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return (status.code(), self.stderr());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bridgedockd did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.child.wait();
        }
    }
}

/// A raw HTTP/1.1 request; returns the status code and the body.
pub async fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nContent-Length: 0\r\n");
    let given = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !given("host") {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    if !given("connection") {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    // Read the head, then exactly Content-Length bytes: a kept-alive connection never ends.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let text = loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an HTTP answer within 10 s")
            .unwrap();
        raw.extend_from_slice(&buf[..n]);
        let so_far = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = so_far.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                break so_far;
            }
        } else if n == 0 {
            break so_far;
        }
    };
    status_and_body(&text)
}

/// The head of a raw HTTP/1.1 request: `Host` and `Connection: close` unless `headers` say
/// otherwise.
fn request_head(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body_len: usize,
) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nContent-Length: {body_len}\r\n");
    let given = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !given("host") {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    if !given("connection") {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// A raw HTTP/1.1 request with a body; returns the status code and the body.
pub async fn http_body(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = request_head(addr, method, path, headers, body.len());
    stream.write_all(req.as_bytes()).await.unwrap();
    // A server may answer (413) before reading a huge body: a failed write is not a failure.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut raw),
    )
    .await;
    let text = String::from_utf8_lossy(&raw).to_string();
    status_and_body(&text)
}

/// An HTTP answer with its headers, for tests of what a browser would read (CORS).
pub struct Answer {
    pub status: u16,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// A raw HTTP/1.1 request with a body on its own connection; returns the whole answer.
pub async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = request_head(addr, method, path, headers, body.len());
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    // The head, then Content-Length bytes: a kept-alive (or upgradable) connection never ends.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an HTTP answer within 20 s")
            .unwrap();
        raw.extend_from_slice(&buf[..n]);
        let so_far = String::from_utf8_lossy(&raw).into_owned();
        let complete = so_far.split_once("\r\n\r\n").map(|(head, body)| {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            length.is_some_and(|len| body.len() >= len)
        });
        if n == 0 || complete == Some(true) {
            break so_far;
        }
    };
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    proc_status_mib(pid, "VmRSS:")
}

/// The most resident memory a process ever had (its high-water mark), in MiB.
pub fn vm_hwm_mib(pid: u32) -> f64 {
    proc_status_mib(pid, "VmHWM:")
}

fn proc_status_mib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// How many file descriptors a process has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The status code and the body of a raw HTTP/1.1 response.
fn status_and_body(text: &str) -> (u16, String) {
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}
