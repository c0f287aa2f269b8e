//! godot-ai's capability records. A godot-ai backend publishes `http-PORT.json` (0600, in a
//! private 0700 directory): its HTTP bearer capability, its editor WebSocket capability and its
//! instance nonce. The editor plugin and godot-ai's attach bridges read the record for the port
//! they know before they talk to it, and hold `http-PORT.lock` while they own the port.
//!
//! bridgedock gives its backend a private directory in the state dir and publishes the record
//! for the public port itself — same capabilities, the backend's current instance nonce — and
//! holds the lock, so nothing else starts a second godot-ai on that port.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const RECORD_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Bearer token for godot-ai's HTTP endpoints (GODOT_AI_HTTP_CAPABILITY).
    pub http: String,
    /// Key of the editor handshake proofs, 64 hex (GODOT_AI_WS_TOKEN).
    pub websocket: String,
}

impl Capabilities {
    pub fn generate() -> Self {
        Capabilities {
            http: super::proof::random_hex32(),
            websocket: super::proof::random_hex32(),
        }
    }

    /// The pair kept in `file` (0600), made once: the same capabilities across restarts let a
    /// plugin that cached the record keep working.
    pub fn load_or_create(file: &Path) -> std::io::Result<Self> {
        if let Ok(text) = fs::read_to_string(file) {
            if let Ok(caps) = serde_json::from_str::<Capabilities>(&text) {
                if caps.websocket.len() == 64 && caps.http.len() >= 32 {
                    return Ok(caps);
                }
            }
        }
        let caps = Capabilities::generate();
        write_private(file, &serde_json::to_vec(&caps).unwrap_or_default())?;
        Ok(caps)
    }
}

/// The directory godot-ai clients read records from, resolved as godot-ai 4.3.1 does on Linux
/// and macOS: `$GODOT_AI_CAPABILITY_DIR`, else `$XDG_CONFIG_HOME/godot-ai/capabilities`, else
/// `~/.config/godot-ai/capabilities` (`~/Library/Application Support/…` on macOS).
pub fn user_capability_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GODOT_AI_CAPABILITY_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if cfg!(target_os = "macos") {
        if let Some(home) = dirs::home_dir() {
            return home.join("Library/Application Support/godot-ai/capabilities");
        }
    }
    if cfg!(windows) {
        if let Some(local) = dirs::data_local_dir() {
            return local.join("godot-ai").join("capabilities");
        }
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    config.join("godot-ai").join("capabilities")
}

pub fn record_path(dir: &Path, http_port: u16) -> PathBuf {
    dir.join(format!("http-{http_port}.json"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub http: String,
    pub websocket: String,
    pub instance_nonce: String,
}

/// Reads a record the way godot-ai does: exactly the four keys, version 1; anything else is
/// "no record".
pub fn read_record(path: &Path) -> Option<Record> {
    let text = fs::read(path).ok()?;
    if text.len() > 1025 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let o = v.as_object()?;
    if o.len() != 4 || o.get("version")?.as_u64()? != RECORD_VERSION {
        return None;
    }
    Some(Record {
        http: o.get("http")?.as_str()?.to_owned(),
        websocket: o.get("websocket")?.as_str()?.to_owned(),
        instance_nonce: o.get("instance_nonce")?.as_str()?.to_owned(),
    })
}

/// Publishes `record` at `path` atomically, 0600, in a 0700 directory.
pub fn publish(path: &Path, record: &Record) -> std::io::Result<()> {
    let body = serde_json::json!({
        "version": RECORD_VERSION,
        "http": record.http,
        "websocket": record.websocket,
        "instance_nonce": record.instance_nonce,
    });
    let mut text = serde_json::to_vec(&body).unwrap_or_default();
    text.push(b'\n');
    write_private(path, &text)
}

/// Writes `bytes` to `path` through a 0600 temporary file and a rename, creating the parent
/// directory 0700.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::paths::create_private_dir(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// The advisory lock godot-ai takes for a port (`http-PORT.lock`, flock). Held while bridgedock
/// serves the port, so a plugin or attach bridge that would start its own backend there is told
/// the port is claimed.
pub struct PortClaim {
    #[cfg(unix)]
    _lock: nix::fcntl::Flock<File>,
    #[cfg(not(unix))]
    _file: File,
}

pub fn claim_port(dir: &Path, http_port: u16) -> std::io::Result<PortClaim> {
    crate::paths::create_private_dir(dir)?;
    let path = dir.join(format!("http-{http_port}.lock"));
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    if file.metadata()?.len() == 0 {
        file.write_all(b"\0")?;
    }
    #[cfg(unix)]
    {
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| std::io::Error::from_raw_os_error(errno as i32))?;
        Ok(PortClaim { _lock: lock })
    }
    #[cfg(not(unix))]
    Ok(PortClaim { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_private_and_strict() {
        let dir = tempfile::tempdir().unwrap();
        let path = record_path(&dir.path().join("caps"), 8000);
        let rec = Record {
            http: "h".repeat(43),
            websocket: "a".repeat(64),
            instance_nonce: "0".repeat(32),
        };
        publish(&path, &rec).unwrap();
        assert_eq!(read_record(&path), Some(rec));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
        }
        fs::write(
            &path,
            br#"{"version":1,"http":"x","websocket":"y","instance_nonce":"z","extra":1}"#,
        )
        .unwrap();
        assert_eq!(read_record(&path), None);
    }

    #[test]
    fn a_port_is_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim_port(dir.path(), 8000).unwrap();
        assert!(claim_port(dir.path(), 8000).is_err());
        drop(first);
        assert!(claim_port(dir.path(), 8000).is_ok());
    }

    #[test]
    fn capabilities_are_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("caps.json");
        let a = Capabilities::load_or_create(&file).unwrap();
        let b = Capabilities::load_or_create(&file).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.websocket.len(), 64);
        assert_ne!(a.http, a.websocket);
    }
}
