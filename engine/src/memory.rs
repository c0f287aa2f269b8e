//! Giving freed memory back to the system.
//!
//! After a burst (many clients, large messages) the C allocator keeps what was freed in its
//! per-thread arenas: measured with 200 clients × 1 000 mixed requests, bridgedockd stayed at
//! 66–87 MiB after every client had gone, and fell to 10 MiB once `malloc_trim` ran. Nothing
//! leaked, but a daemon that sits on a developer's machine all day should not keep a burst's
//! high-water mark. So, on glibc, a task asks the allocator to return free pages every
//! [`TRIM_EVERY`]; elsewhere (musl, macOS, Windows) it does nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often freed memory is handed back. The call walks every arena briefly; under steady
/// load it costs a few page faults later, so not much more often than this.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the task on `tasks` (until `shutdown`); on platforms without `malloc_trim`, it
/// returns at once.
pub fn spawn_trimmer(
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> tokio::task::JoinHandle<()> {
    tasks.spawn(async move {
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

/// Tables at most this big keep their room: shrinking them would only make the next few
/// entries grow them again.
pub const KEEP_SLOTS: usize = 64;

/// A table that grew for a burst (200 clients, 800 requests in flight) keeps that room after
/// the burst unless told otherwise, and trimming cannot return memory that is still part of a
/// table. Below a quarter full, and bigger than [`KEEP_SLOTS`], it shrinks to twice what it
/// holds; the quarter leaves room for traffic that comes and goes without a grow–shrink cycle.
pub trait ShrinkWhenSparse {
    fn shrink_when_sparse(&mut self);
}

fn sparse(len: usize, capacity: usize) -> bool {
    capacity > KEEP_SLOTS && len.saturating_mul(4) < capacity
}

impl<K: Eq + Hash, V, S: BuildHasher> ShrinkWhenSparse for HashMap<K, V, S> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<K: Eq + Hash, S: BuildHasher> ShrinkWhenSparse for HashSet<K, S> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<T> ShrinkWhenSparse for VecDeque<T> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<T> ShrinkWhenSparse for Vec<T> {
    fn shrink_when_sparse(&mut self) {
        if sparse(self.len(), self.capacity()) {
            self.shrink_to(self.len() * 2);
        }
    }
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

    #[test]
    fn a_table_a_burst_grew_gives_its_room_back_once_mostly_empty() {
        let mut map: HashMap<u64, String> = (0..1000).map(|i| (i, i.to_string())).collect();
        let grown = map.capacity();
        map.shrink_when_sparse();
        assert_eq!(map.capacity(), grown, "full: untouched");
        map.retain(|k, _| *k < 100);
        map.shrink_when_sparse();
        assert!(map.capacity() < grown / 4, "{} of {grown}", map.capacity());
        assert!(map.capacity() >= 200, "room for twice what it holds");
        assert_eq!(map.len(), 100);
        assert!((0..100).all(|k| map[&k] == k.to_string()));

        let mut small: HashSet<u64> = (0..KEEP_SLOTS as u64 / 2).collect();
        small.clear();
        let kept = small.capacity();
        small.shrink_when_sparse();
        assert_eq!(small.capacity(), kept, "small tables keep their room");

        let mut queue: VecDeque<u32> = (0..4096).collect();
        queue.drain(..4000);
        queue.shrink_when_sparse();
        assert!(queue.capacity() < 1024 && queue.len() == 96);
        assert_eq!(queue.front(), Some(&4000));

        let mut list: Vec<u32> = (0..512).collect();
        list.truncate(10);
        list.shrink_when_sparse();
        assert!(list.capacity() < 64, "{}", list.capacity());
    }

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
        let task = spawn_trimmer(stop.clone(), &tokio_util::task::TaskTracker::new());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the trimmer ends on shutdown")
            .unwrap();
    }
}
