//! [`guess_level`]: the severity of a server's stderr line, by heuristic.
//!
//! MCP servers write logs to stderr in every format there is (Python `logging`, uvicorn, Node
//! consoles, Rust `tracing`, JSON loggers), and many write *everything* to stderr, so "stderr"
//! alone says nothing about severity. We only look at the first few words of a line, where
//! formats put their level, and only trust a level word when it is shaped like a level: all caps
//! (`ERROR`), followed by a colon (`error:`), bracketed (`[warn]`), or a value (`level=info`,
//! `"level":"debug"`). Anything else is `None`: a wrong guess is worse than no guess.

use super::line::Level;

/// Words looked at from the start of a line; level fields sit near the front in every format.
const LOOK_AT_WORDS: usize = 8;
/// Bytes looked at, so an over-long line costs no more than a short one.
const LOOK_AT_BYTES: usize = 160;

/// Heuristic level of a server's stderr line ("ERROR", "error:", "[warn]", "WARNING",
/// "Traceback", "DEBUG", "INFO" …), `None` when unsure.
pub fn guess_level(text: &str) -> Option<Level> {
    let head = head(text.trim_start(), LOOK_AT_BYTES);
    if head.starts_with("Traceback (most recent call last)") {
        return Some(Level::Error);
    }
    let bytes = head.as_bytes();
    let mut words = 0;
    let mut i = 0;
    while i < bytes.len() && words < LOOK_AT_WORDS {
        if !bytes[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        words += 1;
        let word = &head[start..i];
        let before = start.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i).copied();
        if let Some(level) = level_word(word, before, after) {
            return Some(level);
        }
    }
    None
}

fn level_word(word: &str, before: Option<u8>, after: Option<u8>) -> Option<Level> {
    let shaped_like_a_level = is_all_caps(word)
        || after == Some(b':')
        || matches!(
            (before, after),
            (Some(b'['), Some(b']')) | (Some(b'<'), Some(b'>')) | (Some(b'('), Some(b')'))
        )
        || matches!(before, Some(b'=') | Some(b'"') | Some(b'\''));
    // Python and Node exceptions: "ValueError: …", "TypeError: …", "ModuleNotFoundError: …".
    if after == Some(b':') && word.len() > "Error".len() && word.ends_with("Error") {
        return Some(Level::Error);
    }
    if !shaped_like_a_level {
        return None;
    }
    let level = match word.to_ascii_lowercase().as_str() {
        "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "severe" | "emerg"
        | "emergency" | "alert" | "exception" => Level::Error,
        "warn" | "warning" => Level::Warn,
        "info" | "notice" => Level::Info,
        "debug" | "dbg" => Level::Debug,
        "trace" | "verbose" => Level::Trace,
        _ => return None,
    };
    Some(level)
}

fn is_all_caps(word: &str) -> bool {
    word.len() >= 3 && word.bytes().all(|b| b.is_ascii_uppercase())
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a char boundary.
fn head(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    #[test]
    fn guess_level_table() {
        let table: &[(&str, Option<Level>)] = &[
            // Python logging, uvicorn, basicConfig
            ("ERROR:root:boom", Some(Error)),
            ("WARNING:mcp.server:slow tool", Some(Warn)),
            ("INFO:     Started server process [4242]", Some(Info)),
            ("DEBUG:asyncio:Using selector: EpollSelector", Some(Debug)),
            (
                "2024-05-01 12:00:00,123 - server - INFO - ready",
                Some(Info),
            ),
            (
                "2024-05-01 12:00:00,123 - server - CRITICAL - dead",
                Some(Error),
            ),
            ("Traceback (most recent call last):", Some(Error)),
            ("ModuleNotFoundError: No module named 'mcp'", Some(Error)),
            // Node
            ("Error: Cannot find module 'express'", Some(Error)),
            ("TypeError: x is not a function", Some(Error)),
            ("npm WARN deprecated foo@1.0.0", Some(Warn)),
            ("npm ERR! code ENOENT", Some(Error)),
            ("(node:123) Warning: something deprecated", Some(Warn)),
            ("[warn] low disk", Some(Warn)),
            ("[Error] failed", Some(Error)),
            ("<debug> tick", Some(Debug)),
            ("warning: unused variable", Some(Warn)),
            ("error: could not connect", Some(Error)),
            // Rust tracing / env_logger
            (
                "2024-05-01T12:00:00.123Z  WARN mcp_server: retrying",
                Some(Warn),
            ),
            ("[2024-05-01T12:00:00Z TRACE my_crate] frame", Some(Trace)),
            // key=value and JSON loggers
            ("time=2024 level=info msg=\"ready\"", Some(Info)),
            (r#"{"level":"error","msg":"boom"}"#, Some(Error)),
            (r#"{"levelname": "WARNING", "message": "x"}"#, Some(Warn)),
            ("FATAL: out of memory", Some(Error)),
            // Unsure
            ("Server listening on stdio", None),
            ("no errors found in 3 files", None),
            ("for more info see the docs", None),
            ("Debugger listening on ws://127.0.0.1:9229", None),
            ("", None),
            ("    at Object.<anonymous> (/srv/index.js:1:1)", None),
        ];
        for (text, want) in table {
            assert_eq!(guess_level(text), *want, "guess_level({text:?})");
        }
    }

    #[test]
    fn only_looks_at_the_start_of_long_lines() {
        let mut line = "x ".repeat(100);
        line.push_str("ERROR");
        assert_eq!(guess_level(&line), None);
        let wide = "é".repeat(1000);
        assert_eq!(guess_level(&wide), None);
    }
}
