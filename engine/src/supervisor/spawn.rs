//! Spawning one server process in its own process group (Job Object on Windows), with its
//! three standard streams piped: stdin/stdout are the MCP channel, stderr is its log.

use std::io;
use std::path::Path;
use std::process::Stdio;

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::config::ServerConfig;

pub struct SpawnedChild {
    pub child: Box<dyn ChildWrapper>,
    pub pid: u32,
    /// The process group every signal goes to (on Windows, the pid whose tree is ended).
    pub pgid: u32,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Starts `program` (already resolved on PATH) with the server's args, env and cwd. The
/// command runs directly, never through a shell.
pub fn spawn_server(program: &Path, spec: &ServerConfig) -> io::Result<SpawnedChild> {
    let mut command = CommandWrap::with_new(program, |c| {
        c.args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cwd) = &spec.cwd {
            c.current_dir(cwd);
        }
    });
    #[cfg(unix)]
    command.wrap(process_wrap::tokio::ProcessGroup::leader());
    #[cfg(windows)]
    command.wrap(process_wrap::tokio::JobObject);
    command.wrap(KillOnDrop);
    let mut child = command.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the process exited before its pid could be read"))?;
    let missing = || io::Error::other("a standard stream of the child was not piped");
    let stdin = child.stdin().take().ok_or_else(missing)?;
    let stdout = child.stdout().take().ok_or_else(missing)?;
    let stderr = child.stderr().take().ok_or_else(missing)?;
    Ok(SpawnedChild {
        child,
        pid,
        pgid: pid,
        stdin,
        stdout,
        stderr,
    })
}

/// The command line as a person would type it, for status and records. Values of arguments
/// that look like secrets (`--token=…`, `--api-key …`) are replaced by `***`.
pub fn display_command(spec: &ServerConfig) -> Vec<String> {
    let mut out = Vec::with_capacity(spec.args.len() + 1);
    out.push(spec.command.clone());
    let mut hide_next = false;
    for arg in &spec.args {
        if hide_next {
            out.push("***".into());
            hide_next = false;
            continue;
        }
        match arg.split_once('=') {
            Some((key, _)) if looks_secret(key) => out.push(format!("{key}=***")),
            _ => {
                hide_next = arg.starts_with('-') && looks_secret(arg);
                out.push(arg.clone());
            }
        }
    }
    out
}

/// True for names like TOKEN, api_key, --secret, PASSWORD, Authorization.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "KEY",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "AUTH",
        "CREDENTIAL",
        "CAPABILITY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Joins a display command into one line, quoting arguments with spaces.
pub fn join_command(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| {
            if p.is_empty() || p.contains(char::is_whitespace) {
                format!("{p:?}")
            } else {
                p.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arguments_are_hidden() {
        let spec = ServerConfig {
            command: "srv".into(),
            args: vec![
                "--port".into(),
                "8000".into(),
                "--api-key".into(),
                "sk-123".into(),
                "--token=abc".into(),
                "plain".into(),
            ],
            env: Default::default(),
            cwd: None,
            transport: crate::config::Transport::Stdio,
            version: None,
            restart: crate::config::RestartPolicy::OnFailure,
            autostart: true,
            stop_grace: std::time::Duration::from_secs(5),
            request_timeout: std::time::Duration::from_secs(60),
            start_timeout: std::time::Duration::from_secs(120),
            godot: None,
        };
        assert_eq!(
            join_command(&display_command(&spec)),
            "srv --port 8000 --api-key *** --token=*** plain"
        );
    }
}
