//! Giving freed memory back to the system.
//!
//! After a burst (many clients, large messages) the C allocator keeps what was freed in its
//! per-thread arenas: measured with 200 clients × 1 000 mixed requests, bridgedockd stayed at
//! 66–87 MiB after every client had gone, and fell to 10 MiB once `malloc_trim` ran. Nothing
//! leaked, but a daemon that sits on a developer's machine all day should not keep a burst's
//! high-water mark. So, on glibc, a task asks the allocator to return free pages every
//! [`TRIM_EVERY`]; elsewhere (musl, macOS, Windows) it does nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often freed memory is handed back. The call walks every arena briefly; under steady
/// load it costs a few page faults later, so not much more often than this.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the task (until `shutdown`); on platforms without `malloc_trim`, returns at once.
pub fn spawn_trimmer(shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !trim_supported() {
            return;
        }
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        every.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {
                    // It takes the allocator's locks: not on a worker thread.
                    let _ = tokio::task::spawn_blocking(trim).await;
                }
            }
        }
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_supported() -> bool {
    true
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas; it takes
    // their locks itself and touches no memory the program owns.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_supported() -> bool {
    false
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trimming_is_harmless_and_the_task_ends_when_asked() {
        // Free half of what was allocated, trim: what is still in use is untouched.
        let mut blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        blocks.truncate(32);
        trim();
        for (i, block) in blocks.iter().enumerate() {
            assert!(block.iter().all(|b| *b == i as u8));
        }
        let stop = CancellationToken::new();
        let task = spawn_trimmer(stop.clone());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the trimmer ends on shutdown")
            .unwrap();
    }
}
