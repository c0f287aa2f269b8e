//! Request counts and latency percentiles of one server, over a sliding sample.

use std::collections::VecDeque;
use std::time::Duration;

/// How many recent latencies the percentiles are computed from.
const LATENCY_SAMPLES: usize = 2048;

#[derive(Debug)]
pub struct ServerStats {
    pub requests: u64,
    pub errors: u64,
    latencies_us: VecDeque<u64>,
    pub changed: bool,
}

impl Default for ServerStats {
    /// The sample's whole room (16 KiB) at once: grown step by step during a burst, each step
    /// would leave a hole in the allocator's arena among the burst's buffers.
    fn default() -> Self {
        ServerStats {
            requests: 0,
            errors: 0,
            latencies_us: VecDeque::with_capacity(LATENCY_SAMPLES),
            changed: false,
        }
    }
}

impl ServerStats {
    pub fn request(&mut self) {
        self.requests += 1;
        self.changed = true;
    }

    pub fn error(&mut self) {
        self.errors += 1;
        self.changed = true;
    }

    pub fn answered(&mut self, took: Duration) {
        if self.latencies_us.len() == LATENCY_SAMPLES {
            self.latencies_us.pop_front();
        }
        self.latencies_us.push_back(took.as_micros() as u64);
        self.changed = true;
    }

    /// (p50, p99) in milliseconds, None before any answer.
    pub fn percentiles_ms(&self) -> (Option<f64>, Option<f64>) {
        if self.latencies_us.is_empty() {
            return (None, None);
        }
        let mut sorted: Vec<u64> = self.latencies_us.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| {
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
        };
        (Some(at(0.5)), Some(at(0.99)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let mut s = ServerStats::default();
        assert_eq!(s.percentiles_ms(), (None, None));
        for ms in 1..=100 {
            s.answered(Duration::from_millis(ms));
        }
        let (p50, p99) = s.percentiles_ms();
        assert_eq!(p50, Some(51.0));
        assert_eq!(p99, Some(99.0));
    }
}
