//! The restart policy as pure logic: given how a process ended and when, decide whether to
//! restart it, after how long, or to give up.
//!
//! Time comes in as arguments (`Instant`s), so a 60 s schedule is tested in microseconds and
//! the actor stays a thin loop around these decisions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::RestartPolicy;

/// A run this long counts as stable: the attempt counter starts again from 1.
pub const STABLE_RUN: Duration = Duration::from_secs(30);
/// Give up after this many crashes ...
pub const CRASH_LIMIT: u32 = 10;
/// ... within this window.
pub const CRASH_WINDOW: Duration = Duration::from_secs(300);
/// How many of a crashed server's last stderr lines are kept for the crash report.
pub const LAST_STDERR_LINES: usize = 20;

/// The numbers behind the restart policy. Tests inject short ones; users get the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartTuning {
    /// Delay before attempt 1, 2, ...; the last entry repeats.
    pub backoff: Vec<Duration>,
    pub stable_after: Duration,
    pub crash_limit: u32,
    pub crash_window: Duration,
}

impl Default for RestartTuning {
    fn default() -> Self {
        RestartTuning {
            backoff: crate::backoff::schedule(),
            stable_after: STABLE_RUN,
            crash_limit: CRASH_LIMIT,
            crash_window: CRASH_WINDOW,
        }
    }
}

impl RestartTuning {
    /// The defaults, with two overrides for tests of a long crash loop, which would otherwise
    /// take minutes: `BRIDGEDOCK_RESTART_BACKOFF_MS` (delays in ms, comma-separated, the last
    /// repeating) and `BRIDGEDOCK_CRASH_LIMIT` (crashes within the window before giving up).
    pub fn from_env() -> Self {
        let mut tuning = RestartTuning::default();
        if let Some(backoff) = std::env::var("BRIDGEDOCK_RESTART_BACKOFF_MS")
            .ok()
            .and_then(|v| parse_backoff_ms(&v))
        {
            tuning.backoff = backoff;
        }
        if let Some(limit) = std::env::var("BRIDGEDOCK_CRASH_LIMIT")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
        {
            tuning.crash_limit = limit;
        }
        tuning
    }

    /// The delay before restart attempt `attempt` (1-based).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let index = (attempt.max(1) as usize - 1).min(self.backoff.len().saturating_sub(1));
        self.backoff
            .get(index)
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// `"50,100,200"` → those delays in ms; None when empty or anything is not a number.
fn parse_backoff_ms(text: &str) -> Option<Vec<Duration>> {
    let delays: Option<Vec<Duration>> = text
        .split(',')
        .map(|ms| ms.trim().parse::<u64>().ok().map(Duration::from_millis))
        .collect();
    delays.filter(|d| !d.is_empty())
}

/// What to do after a process exited on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start it again after `delay`; this is restart attempt `attempt`.
    Restart { attempt: u32, delay: Duration },
    /// Too many crashes in the window: stop trying until someone says so.
    GiveUp { crashes: u32 },
    /// The policy says to leave it down.
    LeaveDown,
}

/// Counts crashes in a sliding window and the current attempt number of one server.
#[derive(Debug, Clone)]
pub struct CrashTracker {
    tuning: RestartTuning,
    crashes: VecDeque<Instant>,
    attempt: u32,
}

impl CrashTracker {
    pub fn new(tuning: RestartTuning) -> Self {
        CrashTracker {
            tuning,
            crashes: VecDeque::new(),
            attempt: 0,
        }
    }

    pub fn tuning(&self) -> &RestartTuning {
        &self.tuning
    }

    /// A person asked for a start: earlier crashes no longer count against it.
    pub fn reset(&mut self) {
        self.crashes.clear();
        self.attempt = 0;
    }

    /// The process has been up long enough to count as stable.
    pub fn stable(&mut self) {
        self.attempt = 0;
    }

    /// How many crashes are within the window ending `now`.
    pub fn recent_crashes(&self, now: Instant) -> u32 {
        self.crashes
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= self.tuning.crash_window)
            .count() as u32
    }

    /// The process exited without being asked to. `success` is exit code 0.
    pub fn on_exit(&mut self, now: Instant, policy: RestartPolicy, success: bool) -> Decision {
        let wants_restart = match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Never => false,
        };
        if !success {
            self.crashes.push_back(now);
            while let Some(first) = self.crashes.front() {
                if now.saturating_duration_since(*first) > self.tuning.crash_window {
                    self.crashes.pop_front();
                } else {
                    break;
                }
            }
        }
        if !wants_restart {
            return Decision::LeaveDown;
        }
        let crashes = self.recent_crashes(now);
        if crashes >= self.tuning.crash_limit {
            return Decision::GiveUp { crashes };
        }
        self.attempt += 1;
        Decision::Restart {
            attempt: self.attempt,
            delay: self.tuning.delay_for(self.attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_follows_the_schedule_then_stays_at_sixty_seconds() {
        let mut t = CrashTracker::new(RestartTuning {
            crash_limit: u32::MAX,
            ..RestartTuning::default()
        });
        let start = Instant::now();
        let delays: Vec<u64> = (0..9)
            .map(
                |i| match t.on_exit(start + secs(i * 100), RestartPolicy::Always, false) {
                    Decision::Restart { delay, .. } => delay.as_secs(),
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 60, 60, 60]);
    }

    #[test]
    fn gives_up_after_ten_crashes_in_five_minutes() {
        let mut t = CrashTracker::new(RestartTuning::default());
        let start = Instant::now();
        for i in 0..9 {
            let d = t.on_exit(start + secs(i), RestartPolicy::Always, false);
            assert!(matches!(d, Decision::Restart { .. }), "crash {i}: {d:?}");
        }
        assert_eq!(
            t.on_exit(start + secs(9), RestartPolicy::Always, false),
            Decision::GiveUp { crashes: 10 }
        );
    }

    #[test]
    fn crashes_outside_the_window_do_not_count() {
        let mut t = CrashTracker::new(RestartTuning::default());
        let start = Instant::now();
        for i in 0..9 {
            t.on_exit(start + secs(i), RestartPolicy::Always, false);
        }
        // The tenth crash comes six minutes later: the first nine have aged out.
        let d = t.on_exit(start + secs(360), RestartPolicy::Always, false);
        assert!(matches!(d, Decision::Restart { .. }), "{d:?}");
        assert_eq!(t.recent_crashes(start + secs(360)), 1);
    }

    #[test]
    fn a_stable_run_resets_the_attempt_counter() {
        let mut t = CrashTracker::new(RestartTuning::default());
        let start = Instant::now();
        t.on_exit(start, RestartPolicy::Always, false);
        t.on_exit(start + secs(2), RestartPolicy::Always, false);
        t.stable();
        assert_eq!(
            t.on_exit(start + secs(40), RestartPolicy::Always, false),
            Decision::Restart {
                attempt: 1,
                delay: secs(1)
            }
        );
    }

    #[test]
    fn a_backoff_override_is_a_list_of_milliseconds() {
        assert_eq!(
            parse_backoff_ms(" 10, 20 ,40"),
            Some(vec![
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(40)
            ])
        );
        assert_eq!(parse_backoff_ms("10,x"), None);
        assert_eq!(parse_backoff_ms(""), None);
    }

    #[test]
    fn policies_decide_who_comes_back() {
        let now = Instant::now();
        let mut t = CrashTracker::new(RestartTuning::default());
        assert_eq!(
            t.on_exit(now, RestartPolicy::Never, false),
            Decision::LeaveDown
        );
        assert_eq!(
            t.on_exit(now, RestartPolicy::OnFailure, true),
            Decision::LeaveDown
        );
        assert!(matches!(
            t.on_exit(now, RestartPolicy::OnFailure, false),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            t.on_exit(now, RestartPolicy::Always, true),
            Decision::Restart { .. }
        ));
    }
}
