//! The router between fake clients and a fake server: see fuzz/src/router.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bridgedock_fuzz::router::run(data));
