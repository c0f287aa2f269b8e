//! A circuit breaker toward a server's own WebSocket (godot-ai's editor port): it opens after
//! 5 failures within 60 s, lets one attempt through (half-open) 30 s later, and closes again
//! after 3 successes in a row. Pure: the caller passes the time, so tests need no clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use crate::status::Circuit;

#[derive(Debug, Clone)]
pub struct Breaker {
    state: Circuit,
    failures: VecDeque<Instant>,
    opened_at: Option<Instant>,
    successes: u32,
    pub failure_limit: usize,
    pub window: Duration,
    pub cool_off: Duration,
    pub successes_to_close: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: Circuit::Closed,
            failures: VecDeque::new(),
            opened_at: None,
            successes: 0,
            failure_limit: 5,
            window: Duration::from_secs(60),
            cool_off: Duration::from_secs(30),
            successes_to_close: 3,
        }
    }
}

impl Breaker {
    pub fn state(&self, now: Instant) -> Circuit {
        match (self.state, self.opened_at) {
            (Circuit::Open, Some(at)) if now.duration_since(at) >= self.cool_off => {
                Circuit::HalfOpen
            }
            (state, _) => state,
        }
    }

    /// May an attempt be made now? While open, the answer is no until the cool-off ends.
    pub fn allows(&mut self, now: Instant) -> bool {
        let state = self.state(now);
        self.state = state;
        state != Circuit::Open
    }

    /// When an open circuit lets the next attempt through.
    pub fn retry_at(&self) -> Option<Instant> {
        match (self.state, self.opened_at) {
            (Circuit::Open, Some(at)) => Some(at + self.cool_off),
            _ => None,
        }
    }

    pub fn failures_in_window(&self, now: Instant) -> usize {
        self.failures
            .iter()
            .filter(|t| now.duration_since(**t) <= self.window)
            .count()
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.successes = 0;
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.failures.pop_front();
        }
        // Bounded: only the last `failure_limit` failures can matter.
        while self.failures.len() > self.failure_limit {
            self.failures.pop_front();
        }
        let state = self.state(now);
        if state == Circuit::HalfOpen || self.failures.len() >= self.failure_limit {
            self.state = Circuit::Open;
            self.opened_at = Some(now);
        }
    }

    pub fn record_success(&mut self, now: Instant) {
        match self.state(now) {
            Circuit::Closed => {
                self.failures.clear();
            }
            Circuit::HalfOpen | Circuit::Open => {
                self.state = Circuit::HalfOpen;
                self.successes += 1;
                if self.successes >= self.successes_to_close {
                    self.state = Circuit::Closed;
                    self.opened_at = None;
                    self.successes = 0;
                    self.failures.clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_five_failures_in_a_minute_half_opens_after_30s_closes_after_three() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for i in 0..4 {
            assert!(b.allows(t0 + Duration::from_secs(i)));
            b.record_failure(t0 + Duration::from_secs(i));
        }
        assert_eq!(b.state(t0 + Duration::from_secs(4)), Circuit::Closed);
        b.record_failure(t0 + Duration::from_secs(5));
        assert_eq!(b.state(t0 + Duration::from_secs(5)), Circuit::Open);
        assert!(!b.allows(t0 + Duration::from_secs(20)));
        assert_eq!(b.retry_at(), Some(t0 + Duration::from_secs(35)));
        let half = t0 + Duration::from_secs(35);
        assert!(b.allows(half));
        assert_eq!(b.state(half), Circuit::HalfOpen);
        // A failure while half-open opens it again at once.
        b.record_failure(half);
        assert_eq!(b.state(half), Circuit::Open);
        let later = half + Duration::from_secs(30);
        assert!(b.allows(later));
        b.record_success(later);
        b.record_success(later);
        assert_eq!(b.state(later), Circuit::HalfOpen);
        b.record_success(later);
        assert_eq!(b.state(later), Circuit::Closed);
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_never_open_it() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for i in 0..20 {
            b.record_failure(t0 + Duration::from_secs(i * 20));
        }
        assert_eq!(b.state(t0 + Duration::from_secs(400)), Circuit::Closed);
        assert!(b.failures_in_window(t0 + Duration::from_secs(380)) <= 4);
    }
}
