//! Where bridgedock keeps its files: the config dir (config.toml, the API token) and the state
//! dir (logs, child records, the control socket). Both can be overridden by flags or by
//! `BRIDGEDOCK_CONFIG_DIR` / `BRIDGEDOCK_STATE_DIR`, which is how tests isolate themselves.

use std::path::PathBuf;

/// The API's default TCP port on loopback.
pub const DEFAULT_PORT: u16 = 7455;

/// The platform config dir for bridgedock (`~/.config/bridgedock` on Linux).
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BRIDGEDOCK_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    dirs::config_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("bridgedock")
}

/// The platform state dir for bridgedock (`~/.local/state/bridgedock` on Linux).
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BRIDGEDOCK_STATE_DIR") {
        return PathBuf::from(dir);
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("bridgedock")
}

/// The config file used when no `--config` is given.
pub fn default_config_file() -> PathBuf {
    config_dir().join("config.toml")
}

/// Creates `dir` (and parents) readable only by its owner: it holds logs and child records.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
