//! The bundled demo MCP server.
//!
//! A fresh install has no servers configured, so bridgedock ships a small but real MCP server
//! inside the binary ([`DEMO_SERVER_PY`], Python standard library only) and writes it to disk
//! with [`install`] on first run. It gives the user something real to start, watch (it logs a
//! heartbeat to stderr), call (echo, add, current time, progress, ...) and crash on purpose to
//! try out restart policies.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Source of the demo server (`python3 bridgedock-demo-server.py` speaks MCP over stdio).
pub const DEMO_SERVER_PY: &str = include_str!("demo_server.py");

/// File name the demo server is installed under.
pub const DEMO_SERVER_FILE: &str = "bridgedock-demo-server.py";

/// Writes the demo server into `dir` (creating it), only rewriting when the content differs;
/// returns its path.
///
/// The write goes to a temporary file in `dir` that is then renamed over the target, so a
/// concurrently starting server never sees a half-written script.
pub fn install(dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join(DEMO_SERVER_FILE);

    match fs::read(&path) {
        Ok(existing) if existing == DEMO_SERVER_PY.as_bytes() => return Ok(path),
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }

    let tmp = dir.join(format!(".{DEMO_SERVER_FILE}.{}.tmp", std::process::id()));
    let written =
        write_file(&tmp, DEMO_SERVER_PY.as_bytes()).and_then(|()| fs::rename(&tmp, &path));
    if let Err(err) = written {
        // Best effort: do not leave the temporary file behind.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(path)
}

fn write_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_source_is_the_demo_server() {
        assert!(DEMO_SERVER_PY.starts_with("#!/usr/bin/env python3"));
        assert!(DEMO_SERVER_PY.contains("bridgedock-demo"));
        assert!(DEMO_SERVER_PY.contains("def main()"));
    }

    #[test]
    fn install_creates_dir_writes_and_rewrites_only_when_changed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested").join("demo");

        let path = install(&dir).unwrap();
        assert_eq!(path, dir.join(DEMO_SERVER_FILE));
        assert_eq!(fs::read_to_string(&path).unwrap(), DEMO_SERVER_PY);

        // Same content: the file is left alone (its mtime does not move).
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(install(&dir).unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old);

        // Different content: it is rewritten.
        fs::write(&path, "print('stale')\n").unwrap();
        assert_eq!(install(&dir).unwrap(), path);
        assert_eq!(fs::read_to_string(&path).unwrap(), DEMO_SERVER_PY);

        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(DEMO_SERVER_FILE)]);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "installed script is executable");
        }
    }
}
