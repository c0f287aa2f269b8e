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

/// What a hidden value shows as.
pub const MASK: &str = "***";

/// Values of secret-looking env vars shorter than this are not searched for in the command line:
/// hiding every "1" or "on" would garble it and protect nothing.
const MIN_SECRET_CHARS: usize = 4;

/// The command line as a person would type it, for status, `ctl`, child records, logs and
/// `check`, with every secret hidden by [`mask_arg`]: `--api-key ***`, `--token=***`.
pub fn display_command(spec: &ServerConfig) -> Vec<String> {
    let known = secret_env_values(spec);
    let mut out = Vec::with_capacity(spec.args.len() + 1);
    out.push(mask_arg(&spec.command, &known));
    let mut hide_next = false;
    for arg in &spec.args {
        if hide_next {
            out.push(MASK.into());
            hide_next = false;
            continue;
        }
        hide_next = takes_secret_value(arg);
        out.push(mask_arg(arg, &known));
    }
    out
}

/// The server's env as `check` shows it: every name, and the values of secret-looking ones as
/// [`MASK`]; other values pass through [`mask_arg`] (a password in a URL is hidden too).
pub fn display_env(spec: &ServerConfig) -> Vec<(String, String)> {
    let known = secret_env_values(spec);
    spec.env
        .iter()
        .map(|(name, value)| {
            let shown = if looks_secret(name) {
                MASK.to_owned()
            } else {
                mask_arg(value, &known)
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The values of the server's secret-looking env vars, longest first (so a secret that
/// contains another is hidden whole).
fn secret_env_values(spec: &ServerConfig) -> Vec<&str> {
    let mut values: Vec<&str> = spec
        .env
        .iter()
        .filter(|(name, value)| looks_secret(name) && value.chars().count() >= MIN_SECRET_CHARS)
        .map(|(_, value)| value.as_str())
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

/// One argument (or env value) with its secrets hidden — the one masking rule everything
/// shown goes through:
///
/// - `NAME=value` with a secret-looking name (`--token=abc`, `GITHUB_TOKEN=ghp_…` after
///   docker's `-e`) → `NAME=***`;
/// - an HTTP header with a secret-looking name (`Authorization: Bearer …`) → `Authorization: ***`;
/// - in a URL, a password (`postgres://me:***@db/x`), a token used as the user name
///   (`https://***@github.com/…`) and secret-looking query parameters (`?api_key=***`);
/// - the value of any secret-looking env var of the server, wherever it appears.
///
/// `--api-key VALUE` hides the next argument: see [`takes_secret_value`].
pub fn mask_arg(arg: &str, known_secrets: &[&str]) -> String {
    if let Some((name, _)) = arg.split_once('=')
        && is_name(name.trim_start_matches('-'))
        && looks_secret(name)
    {
        return format!("{name}={MASK}");
    }
    if let Some((name, _)) = arg.split_once(':')
        && is_name(name)
        && looks_secret(name)
    {
        return format!("{name}: {MASK}");
    }
    let mut shown = mask_urls(arg);
    for secret in known_secrets {
        shown = shown.replace(secret, MASK);
    }
    shown
}

/// True for an option whose value is the next argument and looks secret: `--api-key`, `-token`.
/// One-letter options (`-k`) say too little to judge, and `--no-auth` takes no value.
fn takes_secret_value(arg: &str) -> bool {
    let name = arg.trim_start_matches('-');
    let dashes = arg.len() - name.len();
    let negated = ["no-", "no_", "disable-", "without-"]
        .iter()
        .any(|p| name.to_ascii_lowercase().starts_with(p));
    (1..=2).contains(&dashes) && name.len() > 1 && is_name(name) && !negated && looks_secret(name)
}

/// A setting, option or header name: letters, digits, `-`, `_`, `.` (no spaces, no `/`).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Hides the user info and secret-looking query parameters of every URL in `text`.
fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        out.push_str(&mask_url(url));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `url` is what follows `scheme://`.
fn mask_url(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, path) = url.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            // A lone user name in a URL is as often a token (https://ghp_…@github.com).
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((before, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if looks_secret(name) => format!("{name}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{before}?{}{fragment}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{authority}{path}")
}

/// True for names that hold secrets: `*TOKEN`, `*KEY` (`API_KEY`, `--api-key`, `apiKey`),
/// `*SECRET*`, `*PASSWORD*`, `*PASSWD*`, `*AUTH*` (`Authorization`, `OAUTH_…`),
/// `*CREDENTIAL*`, `*CAPABILITY*`, `*COOKIE*`, and a last word `PAT`, `PASS` or `PWD`
/// (`GITHUB_PAT`, `DB_PWD`). Names that merely mention one (`MAX_TOKENS`, `TOKEN_FILE`,
/// `KEY_ID`) do not count.
pub fn looks_secret(name: &str) -> bool {
    let upper: String = name
        .trim_start_matches('-')
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let anywhere = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "AUTH",
        "CREDENTIAL",
        "CAPABILITY",
        "COOKIE",
    ];
    let at_end = ["TOKEN", "KEY"];
    // Whole words only: `BYPASS` and `COMPASS` are not passwords, and `PWD` alone is the
    // shell's working directory.
    let last_word = ["_PAT", "_PASS", "_PWD"];
    anywhere.iter().any(|w| upper.contains(w))
        || at_end.iter().any(|w| upper.ends_with(w))
        || last_word.iter().any(|w| upper.ends_with(w))
        || upper == "PAT"
        || upper == "PASS"
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

    fn server(args: &[&str], env: &[(&str, &str)]) -> ServerConfig {
        let mut spec = ServerConfig::new("srv");
        spec.args = args.iter().map(|a| a.to_string()).collect();
        spec.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec
    }

    fn shown(args: &[&str], env: &[(&str, &str)]) -> String {
        join_command(&display_command(&server(args, env)))
    }

    #[test]
    fn secret_options_hide_their_values_and_nothing_else() {
        assert_eq!(
            shown(
                &[
                    "--port",
                    "8000",
                    "--api-key",
                    "sk-123",
                    "--token=abc",
                    "plain"
                ],
                &[]
            ),
            "srv --port 8000 --api-key *** --token=*** plain"
        );
        assert_eq!(
            shown(&["-token", "abc", "--clientSecret", "s3"], &[]),
            "srv -token *** --clientSecret ***"
        );
        // Not secrets: counts, files, ids, one-letter options, flags that switch auth off.
        assert_eq!(
            shown(
                &[
                    "--max-tokens",
                    "4096",
                    "--token-file",
                    "/run/t",
                    "--key-id",
                    "k1",
                    "-k",
                    "v",
                    "--no-auth",
                    "data"
                ],
                &[]
            ),
            "srv --max-tokens 4096 --token-file /run/t --key-id k1 -k v --no-auth data"
        );
    }

    #[test]
    fn name_value_pairs_headers_and_urls_are_masked() {
        assert_eq!(
            shown(
                &[
                    "run",
                    "-e",
                    "GITHUB_PERSONAL_ACCESS_TOKEN=ghp_abc",
                    "-e",
                    "LOG_LEVEL=debug"
                ],
                &[]
            ),
            "srv run -e GITHUB_PERSONAL_ACCESS_TOKEN=*** -e LOG_LEVEL=debug"
        );
        assert_eq!(
            shown(&["--header", "Authorization: Bearer xyz"], &[]),
            "srv --header \"Authorization: ***\""
        );
        assert_eq!(
            shown(&["--header", "X-API-Key:xyz"], &[]),
            "srv --header \"X-API-Key: ***\""
        );
        assert_eq!(
            shown(&["postgresql://me:hunter2@db.local:5432/app"], &[]),
            "srv postgresql://me:***@db.local:5432/app"
        );
        assert_eq!(
            shown(&["--url=https://ghp_abc@github.com/o/r.git"], &[]),
            "srv --url=https://***@github.com/o/r.git"
        );
        assert_eq!(
            shown(
                &["https://mcp.example/sse?api_key=k1&region=eu&access_token=t#top"],
                &[]
            ),
            "srv https://mcp.example/sse?api_key=***&region=eu&access_token=***#top"
        );
        // Plain URLs and times are left alone.
        assert_eq!(
            shown(&["http://localhost:8000/mcp", "12:30"], &[]),
            "srv http://localhost:8000/mcp 12:30"
        );
    }

    #[test]
    fn secret_env_values_never_show_even_in_other_arguments() {
        let env = [("GITHUB_TOKEN", "ghp_x"), ("TZ", "UTC"), ("API_KEY", "on")];
        assert_eq!(
            shown(
                &["--repo-token-from-env", "ghp_x", "--prefix=ghp_x/1", "UTC"],
                &env
            ),
            "srv --repo-token-from-env *** --prefix=***/1 UTC"
        );
        // Too short to search for without garbling the rest ("on" is in "--json").
        assert_eq!(shown(&["--json"], &env), "srv --json");
        let spec = server(
            &[],
            &[
                ("GITHUB_TOKEN", "ghp_x"),
                ("TZ", "UTC"),
                ("DATABASE_URL", "postgres://u:pw@h/db"),
                ("my_password", "p"),
            ],
        );
        assert_eq!(
            display_env(&spec),
            [
                (
                    "DATABASE_URL".to_string(),
                    "postgres://u:***@h/db".to_string()
                ),
                ("GITHUB_TOKEN".into(), "***".into()),
                ("TZ".into(), "UTC".into()),
                ("my_password".into(), "***".into()),
            ]
        );
    }

    #[test]
    fn secret_looking_names() {
        for name in [
            "TOKEN",
            "GITHUB_TOKEN",
            "accessToken",
            "API_KEY",
            "--api-key",
            "apiKey",
            "OPENAI_API_KEY",
            "key",
            "CLIENT_SECRET",
            "DB_PASSWORD",
            "passwd",
            "Authorization",
            "OAUTH_CLIENT",
            "AUTH",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GODOT_AI_HTTP_CAPABILITY",
            "session-cookie",
            "GITHUB_PAT",
            "DB_PASS",
            "DB_PWD",
            "PASS",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "PORT",
            "TZ",
            "MAX_TOKENS",
            "TOKEN_FILE",
            "AWS_ACCESS_KEY_ID",
            "KEYBOARD",
            "PATH",
            "PASSAGE",
            "COMPASS_DIR",
            "BYPASS",
            "PWD",
            "LOG_LEVEL",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}
