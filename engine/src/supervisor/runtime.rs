//! Finding a server's command on PATH before spawning it, and saying what to install when it
//! is missing. A missing runtime is a state the user can fix, never a crash.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Why a command could not be found, with what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingCommand {
    pub command: String,
    pub hint: String,
}

/// Resolves `command` the way the child would see it: relative to `cwd` when it contains a
/// path separator, else on the PATH the child will get (its own `env.PATH` when configured).
pub fn resolve_command(
    command: &str,
    path_var: Option<OsString>,
    cwd: Option<&Path>,
) -> Result<PathBuf, MissingCommand> {
    let base = cwd
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let path_var = path_var.or_else(|| std::env::var_os("PATH"));
    which::which_in(command, path_var, base).map_err(|_| MissingCommand {
        command: command.to_string(),
        hint: install_hint(command),
    })
}

/// What a user should install to get `command`, in their words.
pub fn install_hint(command: &str) -> String {
    let name = Path::new(command)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(command)
        .to_ascii_lowercase();
    match name.as_str() {
        "node" | "npx" | "npm" => "install Node.js 18+ (https://nodejs.org, or your package manager's `nodejs` and `npm`)".into(),
        "python" | "python3" => "install Python 3.10+ (your package manager's `python3`, or https://python.org)".into(),
        "uv" | "uvx" => "install uv (`pipx install uv`, `pip install uv`, or https://docs.astral.sh/uv/)".into(),
        "deno" => "install Deno (https://deno.com)".into(),
        "bun" | "bunx" => "install Bun (https://bun.sh)".into(),
        "docker" => "install Docker and make sure `docker` is on PATH".into(),
        _ if command.contains('/') || command.contains('\\') => {
            "check the path in your config: no executable file is there".into()
        }
        _ => "install it, give its absolute path in `command`, or add its folder to PATH (env.PATH in the server's config)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_runtime_names_what_to_install() {
        let err = resolve_command("npx", Some(OsString::from("/nonexistent")), None).unwrap_err();
        assert_eq!(err.command, "npx");
        assert!(err.hint.starts_with("install Node.js 18+"), "{}", err.hint);
        assert!(install_hint("uvx").contains("uv"));
        assert!(install_hint("/opt/x/server").starts_with("check the path"));
    }

    #[test]
    fn finds_commands_on_the_given_path() {
        let found = resolve_command("sh", Some(OsString::from("/usr/bin:/bin")), None).unwrap();
        assert!(found.ends_with("sh"));
    }
}
