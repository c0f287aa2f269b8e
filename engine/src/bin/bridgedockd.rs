//! `bridgedockd`: the engine without a display. `serve` runs it with its API and control
//! socket; `ctl` talks to a running one; `import` turns an `mcpServers` JSON into our TOML.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bridgedock_engine::config::{self, Config};
use bridgedock_engine::control::access::Access;
use bridgedock_engine::control::{api, ctl_client, token};
use bridgedock_engine::logs::{DEFAULT_RING_LINES, LogHub};
use bridgedock_engine::{Engine, EngineOptions, demo, paths};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

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

/// The config to run: `--config`, else the default file if it exists, else the built-in demo.
fn load_config(explicit: Option<&Path>, config_dir: &Path, state_dir: &Path) -> Result<Config> {
    if let Some(path) = explicit {
        return config::load(path).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let default = config_dir.join("config.toml");
    if default.exists() {
        return config::load(&default).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let script = demo::install(&state_dir.join("demo"))
        .with_context(|| format!("cannot write the demo server into {}", state_dir.display()))?;
    Ok(config::embedded_default(&script))
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let state_dir = args.dirs.state_dir();
    let config_dir = args.config_dir.clone().unwrap_or_else(paths::config_dir);
    let logs = LogHub::new(DEFAULT_RING_LINES);
    bridgedock_engine::engine::install_tracing(&logs);

    let config = load_config(args.config.as_deref(), &config_dir, &state_dir)?;
    let host = config.bridge.host.clone();
    let ip: IpAddr = host.parse().or_else(|_| {
        if host == "localhost" {
            Ok("127.0.0.1".parse()?)
        } else {
            Err(anyhow::anyhow!(
                "bridge.host `{host}` is not an IP address: use 127.0.0.1"
            ))
        }
    })?;
    if !ip.is_loopback() && !args.allow_remote {
        bail!(
            "bridge.host is {host}, which is reachable from other machines; bridgedock binds loopback only unless you pass --allow-remote"
        );
    }
    let port = args.port.unwrap_or(config.bridge.port);
    let (token, token_path) = token::load_or_create(&config_dir)
        .with_context(|| format!("cannot create the API token in {}", config_dir.display()))?;
    let listener = tokio::net::TcpListener::bind((ip, port)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!("port {port} on {host} is already in use (another bridgedockd?): stop that one, or pick another with --port")
        } else {
            anyhow::anyhow!("cannot listen on {host}:{port}: {e}")
        }
    })?;
    let address = listener.local_addr()?;
    bridgedock_engine::engine::create_private_dir(&state_dir)
        .with_context(|| format!("cannot create the state dir {}", state_dir.display()))?;
    #[cfg(unix)]
    let socket = bridgedock_engine::control::ctl_socket::bind(&args.dirs.socket())?;

    let engine = Arc::new(
        Engine::start(EngineOptions::new(config, state_dir.clone()), logs)
            .await
            .context("cannot start the engine")?,
    );
    engine
        .status()
        .update_bridge(|b| b.address = address.to_string());
    let shutdown = CancellationToken::new();
    let state = api::ApiState {
        engine: engine.clone(),
        access: Arc::new(Access::for_address(token.clone(), &host, address.port())),
        dock_dir: dock_dir(args.dock_dir.clone()),
        shutdown: shutdown.clone(),
    };
    let api_task = tokio::spawn(api::serve(listener, state));
    #[cfg(unix)]
    let ctl_task = tokio::spawn(bridgedock_engine::control::ctl_socket::serve(
        socket,
        engine.clone(),
        shutdown.clone(),
    ));
    println!("bridgedockd: API listening on http://{address}");
    println!("bridgedockd: dock at http://{address}/#token={token}");
    println!(
        "bridgedockd: token in {}, logs in {}",
        token_path.display(),
        state_dir.join("logs").display()
    );
    tracing::info!("API listening on http://{address}");

    wait_for_signal().await;
    tracing::info!("shutting down: stopping every server");
    shutdown.cancel();
    engine.shutdown().await;
    let _ = api_task.await;
    #[cfg(unix)]
    let _ = ctl_task.await;
    Ok(ExitCode::SUCCESS)
}

fn dock_dir(explicit: Option<PathBuf>) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit;
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("dock")));
    [
        beside_exe,
        Some(PathBuf::from("/usr/share/bridgedock/dock")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join("index.html").is_file())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
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
    for (name, s) in &config.servers {
        println!("  {name}: {} {}", s.command, s.args.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}
