//! The one backoff schedule: how long bridgedock waits before trying something again that
//! failed — a server process that exited (supervisor), an editor's link to godot-ai that broke
//! (godot/relay.rs) — and which of those attempts it logs.
//!
//! It is the schedule of the systems bridgedock replaces (the Godot plugin's own reconnect
//! loop among them): 1, 2, 4, 8, 16, 30, 60 s, then 60 s; the first five attempts are logged,
//! then every tenth, so a loop that never ends cannot flood the log (the status still shows
//! every attempt).

use std::time::Duration;

/// The delays before attempt 1, 2, …, in seconds; the last one repeats.
pub const SCHEDULE_SECS: [u64; 7] = [1, 2, 4, 8, 16, 30, 60];
/// Attempts logged one by one; after them only every [`LOG_EVERY_NTH`]th.
pub const LOG_FIRST: u32 = 5;
pub const LOG_EVERY_NTH: u32 = 10;

/// The schedule as durations (what the supervisor's tuning starts from).
pub fn schedule() -> Vec<Duration> {
    SCHEDULE_SECS
        .iter()
        .map(|s| Duration::from_secs(*s))
        .collect()
}

/// The delay before attempt `attempt` (1-based; 0 counts as 1).
pub fn delay(attempt: u32) -> Duration {
    let index = (attempt.max(1) as usize - 1).min(SCHEDULE_SECS.len() - 1);
    Duration::from_secs(SCHEDULE_SECS[index])
}

/// Whether attempt `attempt` (1-based) gets a log line: the first five, then every tenth.
pub fn log_attempt(attempt: u32) -> bool {
    attempt <= LOG_FIRST || attempt % LOG_EVERY_NTH == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_four_up_to_a_minute_then_a_minute() {
        let delays: Vec<u64> = (1..=9).map(|a| delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 60, 60, 60]);
        assert_eq!(delay(0), delay(1));
        assert_eq!(schedule().len(), SCHEDULE_SECS.len());
    }

    #[test]
    fn the_first_five_attempts_are_logged_then_every_tenth() {
        let logged: Vec<u32> = (1..=40).filter(|a| log_attempt(*a)).collect();
        assert_eq!(logged, vec![1, 2, 3, 4, 5, 10, 20, 30, 40]);
    }
}
