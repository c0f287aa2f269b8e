//! A bare Tauri window: the baseline the desktop app's memory is compared with.
fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("bare: {e}");
        std::process::exit(1);
    }
}
