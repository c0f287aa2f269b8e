//! tauri.conf.json lives at the repo root; src-tauri/tauri.conf.json is a symlink to it so the
//! build, `generate_context!` and the Tauri CLI all resolve its relative paths (`../ui/dist`,
//! `../icons/…`) from this folder.
//!
//! The dock (ui/, built into ui/dist) is written and built separately. Until it is built, the
//! app is built with the minimal stand-in in dock-fallback/ so that `cargo build`/`cargo test`
//! of the workspace never depend on a JavaScript build; packaging (build-deb) insists on the
//! real one.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=TAURI_CONFIG");
    println!("cargo:rerun-if-changed=../ui/dist/index.html");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("TAURI_CONFIG").is_none() && !here.join("../ui/dist/index.html").is_file() {
        let fallback = here.join("dock-fallback");
        println!(
            "cargo:warning=ui/dist is not built (scripts/build-dock): the app gets the stand-in dock in src-tauri/dock-fallback"
        );
        let config = format!(
            "{{\"build\":{{\"frontendDist\":{}}}}}",
            serde_json_string(&fallback.display().to_string())
        );
        // SAFETY: the build script is single-threaded; tauri-build reads this right after.
        unsafe { std::env::set_var("TAURI_CONFIG", &config) };
        println!("cargo:rustc-env=TAURI_CONFIG={config}");
    }
    tauri_build::build()
}

fn serde_json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
