//! The API token: random per install, stored readable only by its owner in the config dir,
//! compared in constant time.

use std::io;
use std::path::{Path, PathBuf};

use rand::RngCore;
use subtle::ConstantTimeEq;

pub const TOKEN_FILE: &str = "token";

/// Reads the install's token, creating it (32 random bytes, hex) on first use.
pub fn load_or_create(config_dir: &Path) -> io::Result<(String, PathBuf)> {
    let path = config_dir.join(TOKEN_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = existing.trim().to_string();
        if token.len() >= 32 {
            return Ok((token, path));
        }
    }
    std::fs::create_dir_all(config_dir)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &token)?;
    Ok((token, path))
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    std::fs::write(path, text)
}

/// Constant-time comparison, so response timing says nothing about how much of a guess matched.
pub fn matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let (a, path) = load_or_create(dir.path()).unwrap();
        let (b, _) = load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(matches(&a, &b));
        assert!(!matches(&a, "nope"));
    }
}
