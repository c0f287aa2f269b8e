//! See fuzz/src/envelope.rs for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Every caller hands these parsers a str: bytes that are not UTF-8 never reach them.
    if let Ok(text) = std::str::from_utf8(data) {
        bridgedock_fuzz::envelope::check(text);
    }
});
