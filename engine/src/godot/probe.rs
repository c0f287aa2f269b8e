//! Reads godot-ai's state from the outside: its `/godot-ai/status` (live version, instance id),
//! its startup report when it fails to start, and what answers on a port bridgedock wanted.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::GodotAi;

/// Polls the backend: every second until it answers, then every 3 s.
pub async fn run(ai: Arc<GodotAi>) {
    let mut last_report: Option<String> = None;
    loop {
        let answered = match status(ai.plan.backend_http_port, Some(&ai.plan.caps.http)).await {
            Some(StatusAnswer::GodotAi {
                version,
                instance_id,
            }) => {
                if let Some(id) = &instance_id {
                    ai.publish_record(id);
                }
                ai.set_live(version, instance_id);
                ai.clear_diagnosis("startup-failed");
                true
            }
            _ => {
                ai.set_live(None, None);
                false
            }
        };
        if !answered {
            // godot-ai writes why it could not start (port taken, bad capability dir…).
            if let Ok(text) = std::fs::read_to_string(ai.plan.startup_report()) {
                if last_report.as_deref() != Some(text.as_str()) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                        if let Some(message) = v.get("message").and_then(|m| m.as_str()) {
                            let hint = v
                                .get("hint")
                                .and_then(|h| h.as_str())
                                .filter(|h| !h.is_empty())
                                .unwrap_or("see the server's log in the dock");
                            ai.diagnose(
                                "startup-failed",
                                format!("godot-ai could not start: {message}"),
                                hint,
                            );
                        }
                    }
                    last_report = Some(text);
                }
            }
        }
        let pause = if answered { 3 } else { 1 };
        tokio::select! {
            _ = ai.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(pause)) => {}
        }
    }
}

pub enum StatusAnswer {
    /// A godot-ai answered (version and instance when it let us read them).
    GodotAi {
        version: Option<String>,
        instance_id: Option<String>,
    },
    /// Something answered that is not godot-ai.
    Other,
}

/// GET /godot-ai/status on 127.0.0.1:`port`; `None` when nothing answers within 2 s.
pub async fn status(port: u16, bearer: Option<&str>) -> Option<StatusAnswer> {
    let (code, body) = super::proxy::get(port, "/godot-ai/status", bearer, Duration::from_secs(2))
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if code == 200 && v.get("name").and_then(|n| n.as_str()) == Some("godot-ai") {
        return Some(StatusAnswer::GodotAi {
            version: v
                .get("server_version")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
            instance_id: v
                .get("instance_id")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
        });
    }
    // Without its capability godot-ai still says who it is.
    let code_name = v
        .pointer("/error/code")
        .and_then(|c| c.as_str())
        .unwrap_or("");
    if code_name == "TRANSPORT_AUTH_REQUIRED" {
        return Some(StatusAnswer::GodotAi {
            version: None,
            instance_id: None,
        });
    }
    Some(StatusAnswer::Other)
}

/// A godot-ai bridgedock did not start, found on a port it wanted.
pub struct Foreign {
    /// Its version, or "of unknown version" when it will not say.
    pub version: String,
    /// Its HTTP capability, from the record for that port, when this user can read it.
    pub bearer: Option<String>,
}

/// The godot-ai (not ours) serving `port`, read with the capability in the record for that
/// port if there is one.
pub async fn foreign_godot_ai(port: u16, record_dir: &Path) -> Option<Foreign> {
    let bearer =
        super::record::read_record(&super::record::record_path(record_dir, port)).map(|r| r.http);
    match status(port, bearer.as_deref()).await? {
        StatusAnswer::GodotAi { version, .. } => Some(Foreign {
            bearer: bearer.filter(|_| version.is_some()),
            version: version.unwrap_or_else(|| "of unknown version".to_owned()),
        }),
        StatusAnswer::Other => None,
    }
}

/// godot-ai's own rule for reusing a backend: the same major version.
pub fn compatible(running: &str, pinned: &str) -> bool {
    let major = |v: &str| v.split('.').next().map(str::to_owned);
    running == pinned
        || (major(running).is_some() && major(running) == major(pinned) && running.contains('.'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_major_is_compatible() {
        assert!(super::compatible("4.3.1", "4.3.1"));
        assert!(super::compatible("4.2.0", "4.3.1"));
        assert!(!super::compatible("3.9.0", "4.3.1"));
        assert!(!super::compatible("of unknown version", "4.3.1"));
    }
}
