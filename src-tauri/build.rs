fn main() {
    // tauri.conf.json lives at the repo root; src-tauri/tauri.conf.json is a symlink to it so
    // that the build, `generate_context!` and the Tauri CLI all resolve its relative paths
    // (`../ui/dist`, `../icons/…`) from this folder.
    tauri_build::build()
}
