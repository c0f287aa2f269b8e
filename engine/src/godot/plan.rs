//! The godot-ai kind's launch plan: where its state lives, its capabilities and private ports,
//! and the command line bridgedock runs it with — laid out without touching the user's config.

use std::path::{Path, PathBuf};

use super::record::{self, Capabilities};
use crate::config::Config;

/// How a `kind = "godot-ai"` server is laid out on this machine.
#[derive(Debug, Clone)]
pub struct GodotPlan {
    pub name: String,
    pub version: String,
    pub http_port: u16,
    pub ws_port: u16,
    pub backend_http_port: u16,
    pub backend_ws_port: u16,
    pub caps: Capabilities,
    /// STATE/godot-ai/NAME: capabilities, pid file, startup report, godot-ai's private records.
    pub dir: PathBuf,
    /// Where the plugin reads records (`~/.config/godot-ai/capabilities`).
    pub public_record_dir: PathBuf,
    /// The server as bridgedock launches it: the user's entry with godot-ai's command line,
    /// private ports and capabilities (in its environment).
    pub launch: crate::config::ServerConfig,
}

impl GodotPlan {
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("server.pid")
    }
    pub fn startup_report(&self) -> PathBuf {
        self.dir.join("startup-report.json")
    }
    pub fn public_record(&self) -> PathBuf {
        record::record_path(&self.public_record_dir, self.http_port)
    }
}

/// Lays out every `kind = "godot-ai"` server of `config`: its state dir, capabilities and private
/// ports, and the command line bridgedock runs it with. The user's config is left as it is; the
/// engine launches [`GodotPlan::launch`] instead of the server's own entry.
///
/// `command = "uvx"` (the default) runs `uvx --from godot-ai==VERSION godot-ai …`; any other
/// command is taken to be a godot-ai executable (say, in a venv you manage) and gets only the
/// server's arguments.
pub fn prepare(config: &Config, state_dir: &Path) -> std::io::Result<Vec<GodotPlan>> {
    let mut plans = Vec::new();
    for (name, spec) in &config.servers {
        let Some(godot) = &spec.godot else {
            continue;
        };
        let version = spec.version.clone().unwrap_or_default();
        let dir = state_dir.join("godot-ai").join(name);
        crate::paths::create_private_dir(&dir)?;
        let private_records = dir.join("capabilities");
        crate::paths::create_private_dir(&private_records)?;
        let caps = Capabilities::load_or_create(&dir.join("capabilities.json"))?;
        let backend_http_port = free_port()?;
        let backend_ws_port = free_port()?;
        let mut plan = GodotPlan {
            name: name.clone(),
            version: version.clone(),
            http_port: godot.http_port,
            ws_port: godot.ws_port,
            backend_http_port,
            backend_ws_port,
            caps: caps.clone(),
            dir: dir.clone(),
            public_record_dir: record::user_capability_dir(),
            launch: spec.clone(),
        };
        let mut args = Vec::new();
        let is_uvx = Path::new(&spec.command)
            .file_stem()
            .is_some_and(|s| s == "uvx");
        if is_uvx {
            if !godot.dependency_overrides.is_empty() {
                let file = dir.join("overrides.txt");
                std::fs::write(&file, godot.dependency_overrides.join("\n") + "\n")?;
                args.push("--overrides".to_owned());
                args.push(file.display().to_string());
            }
            args.push("--from".to_owned());
            args.push(format!("godot-ai=={version}"));
            args.push("godot-ai".to_owned());
        }
        for a in [
            "--transport",
            "streamable-http",
            "--port",
            &backend_http_port.to_string(),
            "--ws-port",
            &backend_ws_port.to_string(),
            "--pid-file",
            &plan.pid_file().display().to_string(),
            "--startup-report",
            &plan.startup_report().display().to_string(),
        ] {
            args.push(a.to_owned());
        }
        let launch = &mut plan.launch;
        launch.args = args;
        // godot-ai speaks Streamable HTTP: AI clients reach it over HTTP, never its stdio.
        launch.transport = crate::config::Transport::Http;
        launch
            .env
            .insert("GODOT_AI_HTTP_CAPABILITY".into(), caps.http.clone());
        launch
            .env
            .insert("GODOT_AI_WS_TOKEN".into(), caps.websocket.clone());
        launch.env.insert(
            "GODOT_AI_CAPABILITY_DIR".into(),
            private_records.display().to_string(),
        );
        plans.push(plan);
    }
    Ok(plans)
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}
