//! What the fuzz targets check, kept out of `fuzz_targets/` so each target stays a one-liner
//! and a failing input can be replayed by any of them the same way.
//!
//! Every target asserts properties, not just "no panic": a property that fails panics with a
//! message saying which promise was broken, and libFuzzer saves the input as a crash.

pub mod config;
pub mod envelope;
pub mod plugin;
pub mod router;
