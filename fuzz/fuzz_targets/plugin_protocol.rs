//! See fuzz/src/plugin.rs for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bridgedock_fuzz::plugin::check(data);
});
