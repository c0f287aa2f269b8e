//! `bridgedockd`: the engine without a display. `serve` runs it with its API and control
//! socket; `ctl` talks to a running one; `import` turns an `mcpServers` JSON into our TOML.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use bridgedock_engine::config;
use bridgedock_engine::control::ctl_client;
use bridgedock_engine::host::{Host, HostOptions};
use bridgedock_engine::logs::{DEFAULT_RING_LINES, LogHub};
use bridgedock_engine::paths;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "bridgedockd",
    version,
    about = "Runs your local MCP servers and bridges them to your AI tools (headless bridgedock)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine, its API (for the dock) and its control socket (for `ctl`). The default.
    Serve(ServeArgs),
    /// Talk to a running bridgedockd.
    Ctl(CtlArgs),
    /// Convert an `mcpServers` JSON (Claude Desktop, Cursor, VS Code) into bridgedock's TOML.
    Import(ImportArgs),
    /// Check a config file and print what it configures.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct Dirs {
    /// Where logs, child records and the control socket live [default: the platform state dir]
    #[arg(long, global = true, env = "BRIDGEDOCK_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The control socket [default: STATE_DIR/ctl.sock]
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
}

impl Dirs {
    fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(paths::state_dir)
    }
    #[cfg(unix)]
    fn socket(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            bridgedock_engine::control::ctl_socket::default_path(&self.state_dir())
        })
    }
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// A bridgedock TOML, or an `mcpServers` JSON [default: CONFIG_DIR/config.toml, else the built-in demo]
    #[arg(long, env = "BRIDGEDOCK_CONFIG")]
    config: Option<PathBuf>,
    /// The API port (0 picks a free one) [default: the config's bridge.port, 7455]
    #[arg(long)]
    port: Option<u16>,
    /// Where the token (and the default config) live [default: the platform config dir]
    #[arg(long, env = "BRIDGEDOCK_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// The dock's built web files [default: next to the binary, or /usr/share/bridgedock/dock]
    #[arg(long, env = "BRIDGEDOCK_DOCK_DIR")]
    dock_dir: Option<PathBuf>,
    /// Allow a non-loopback bridge.host (exposes your servers to the network; token still required)
    #[arg(long)]
    allow_remote: bool,
    #[command(flatten)]
    dirs: Dirs,
}

#[derive(Args)]
struct CtlArgs {
    #[command(subcommand)]
    what: CtlCommand,
    #[command(flatten)]
    dirs: Dirs,
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Every server's state (`--json` for the full snapshot).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Start a server (now, even while it waits to restart).
    Start { name: String },
    /// Stop a server and its whole process tree.
    Stop { name: String },
    /// Restart a server.
    Restart { name: String },
    /// Restart every server.
    RestartAll,
    /// Print what to add to an AI client to use a server through bridgedock.
    Config {
        name: String,
        /// claude-code, cursor, vscode or claude-desktop
        #[arg(long, default_value = "claude-code")]
        client: String,
    },
    /// Show log lines (all servers, or one); `-f` keeps following.
    Logs {
        name: Option<String>,
        #[arg(short, long)]
        follow: bool,
        /// How many recent lines to show first
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        /// Print each line as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ImportArgs {
    /// The JSON file (claude_desktop_config.json, ~/.cursor/mcp.json, .vscode/mcp.json)
    file: PathBuf,
    /// Where to write the TOML (`-` for stdout) [default: CONFIG_DIR/config.toml]
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite an existing output file
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bridgedockd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Ctl(args)) => ctl(args).await,
            Some(Command::Import(args)) => import(args),
            Some(Command::Check { config }) => check(config),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bridgedockd: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    // Listen for SIGTERM/SIGINT before anything starts: a stop that arrives while the servers
    // start (a service manager's `stop` right after `start`) must shut down cleanly, not kill
    // the daemon by the default action and leave its children behind.
    let stop = stop_signals();
    let logs = LogHub::new(DEFAULT_RING_LINES);
    bridgedock_engine::engine::install_tracing(&logs);
    let state_dir = args.dirs.state_dir();
    let host = Host::start(HostOptions {
        config: args.config,
        config_dir: args.config_dir.unwrap_or_else(paths::config_dir),
        state_dir: state_dir.clone(),
        socket: args.dirs.socket,
        port: args.port,
        dock_dir: args.dock_dir,
        allow_remote: args.allow_remote,
        logs,
    })
    .await?;
    println!("bridgedockd: API listening on http://{}", host.address);
    println!("bridgedockd: dock at {}", host.dock_url());
    println!(
        "bridgedockd: token in {}, logs in {}",
        host.token_path.display(),
        state_dir.join("logs").display()
    );
    stop.await;
    host.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Registers for SIGTERM and SIGINT now; the future it returns ends when either arrives (one
/// that arrived in between included).
fn stop_signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            let (Ok(mut term), Ok(mut int)) = signals else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(unix)]
async fn ctl(args: CtlArgs) -> Result<ExitCode> {
    use bridgedock_engine::status::{ServerStatus, Snapshot};
    let socket = args.dirs.socket();
    let server_line = |v: Value| -> Result<String> {
        let s: ServerStatus = serde_json::from_value(v)?;
        Ok(format!(
            "{}: {}",
            s.name,
            s.state.describe(bridgedock_engine::status::now_ms())
        ))
    };
    match args.what {
        CtlCommand::Status { json } => {
            let v = ctl_client::request(&socket, "status", json!({})).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let snap: Snapshot = serde_json::from_value(v)?;
                print!("{}", ctl_client::status_table(&snap));
            }
        }
        CtlCommand::Start { name } => {
            let v = ctl_client::request(&socket, "start", json!({ "name": name })).await?;
            println!("{}", server_line(v)?);
        }
        CtlCommand::Stop { name } => {
            let v = ctl_client::request(&socket, "stop", json!({ "name": name })).await?;
            println!("{}", server_line(v)?);
        }
        CtlCommand::Restart { name } => {
            let v = ctl_client::request(&socket, "restart", json!({ "name": name })).await?;
            println!("{}", server_line(v)?);
        }
        CtlCommand::RestartAll => {
            let v = ctl_client::request(&socket, "restart_all", json!({})).await?;
            for s in v["servers"].as_array().cloned().unwrap_or_default() {
                match s.get("error") {
                    Some(e) => println!("error: {e}"),
                    None => println!("{}", server_line(s)?),
                }
            }
        }
        CtlCommand::Config { name, client } => {
            let v = ctl_client::request(
                &socket,
                "client_config",
                json!({ "name": name, "client": client }),
            )
            .await?;
            println!("{}", v["text"].as_str().unwrap_or_default());
        }
        CtlCommand::Logs {
            name,
            follow,
            lines,
            json,
        } => {
            let show = |v: &Value| {
                if json {
                    println!("{v}");
                } else {
                    println!("{}", ctl_client::format_log_value(v));
                }
            };
            let params = json!({ "server": name, "limit": lines });
            if follow {
                ctl_client::follow(&socket, params, |method, v| match method {
                    "result" => v["lines"]
                        .as_array()
                        .iter()
                        .flat_map(|a| a.iter())
                        .for_each(show),
                    "log" => show(v),
                    "missed" => {
                        eprintln!("[{} lines missed: this terminal fell behind]", v["count"])
                    }
                    _ => {}
                })
                .await?;
            } else {
                let v = ctl_client::request(&socket, "logs", params).await?;
                v["lines"]
                    .as_array()
                    .iter()
                    .flat_map(|a| a.iter())
                    .for_each(show);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(unix))]
async fn ctl(_args: CtlArgs) -> Result<ExitCode> {
    bail!("`ctl` talks over a unix socket, which this platform lacks; use the dock or the HTTP API")
}

fn import(args: ImportArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let (config, warnings) =
        config::parse_mcp_servers_json(&text, &args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let toml = config::to_toml(&config);
    let out = args.output.unwrap_or_else(paths::default_config_file);
    if out == Path::new("-") {
        print!("{toml}");
        return Ok(ExitCode::SUCCESS);
    }
    if out.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it, or `-o -` to print the TOML instead",
            out.display()
        );
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, toml).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "imported {} server{} from {} into {}",
        config.servers.len(),
        if config.servers.len() == 1 { "" } else { "s" },
        args.file.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn check(path: Option<PathBuf>) -> Result<ExitCode> {
    use bridgedock_engine::supervisor::spawn::{display_command, display_env, join_command};
    let path = path.unwrap_or_else(paths::default_config_file);
    let config = config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}: ok — bridge on {}:{}, {} server{}",
        path.display(),
        config.bridge.host,
        config.bridge.port,
        config.servers.len(),
        if config.servers.len() == 1 { "" } else { "s" }
    );
    if !config.bridge.allowed_origins.is_empty() {
        println!(
            "  MCP endpoints also open to pages from: {}",
            config.bridge.allowed_origins.join(", ")
        );
    }
    // Shown as status and logs show them: a config check pasted into an issue leaks nothing.
    for (name, s) in &config.servers {
        println!("  {name}: {}", join_command(&display_command(s)));
        let env = display_env(s);
        if !env.is_empty() {
            let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("    env: {}", vars.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
