//! [`pump_lines`]: a child's stdout/stderr bytes → lines → the hub.
//!
//! Reads in [`READ_CHUNK_BYTES`] chunks (one syscall per chunk, not per line) and cuts lines out
//! of each chunk directly; only a line straddling two reads is copied into a carry buffer, and
//! that buffer never grows past [`MAX_LINE_BYTES`]: a longer line is pushed in pieces
//! ("continuation lines"), cut on a UTF-8 boundary so a multi-byte char is not mangled. A child
//! that writes one endless line therefore costs bounded memory. Pushing never blocks, so a pump
//! always drains its pipe and the child is never stalled by log readers.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::hub::LogHub;
use super::level::guess_level;
use super::line::Stream;

/// Longest line pushed as one; the rest of a longer line follows as continuation lines.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Bytes asked of the pipe per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Splits a child's byte stream into lines and pushes each into the hub. Caps a line at
/// [`MAX_LINE_BYTES`] (the rest of an over-long line is pushed as continuation lines, never
/// buffered without bound); a final unterminated line is pushed at EOF. A trailing `\r` is
/// dropped (CRLF). Never blocks on subscribers. Level: [`guess_level`] for `Stderr`, `None`
/// otherwise. Returns at EOF or on a read error (the child's pipe is gone either way).
pub async fn pump_lines<R: AsyncRead + Unpin>(
    mut reader: R,
    hub: LogHub,
    server: String,
    stream: Stream,
) {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut splitter = LineSplitter::new();
    let mut emit = |text: String| {
        let level = match stream {
            Stream::Stderr => guess_level(&text),
            Stream::Stdout | Stream::Bridge => None,
        };
        hub.push(&server, stream, level, text);
    };
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => splitter.feed(&chunk[..n], &mut emit),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    splitter.finish(&mut emit);
}

/// The synchronous core of [`pump_lines`], separate so its memory bound can be tested.
pub(crate) struct LineSplitter {
    /// The start of a line whose end has not been read yet; at most `MAX_LINE_BYTES`.
    carry: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn new() -> Self {
        Self { carry: Vec::new() }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8], emit: &mut impl FnMut(String)) {
        while let Some(newline) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = (&data[..newline], &data[newline + 1..]);
            if self.carry.is_empty() && line.len() <= MAX_LINE_BYTES {
                emit(decode(strip_cr(line)));
            } else {
                self.append(line, emit);
                emit(decode(strip_cr(&self.carry)));
                self.carry.clear();
            }
            data = rest;
        }
        self.append(data, emit);
    }

    /// Pushes the unterminated last line, if any.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.carry.is_empty() {
            emit(decode(strip_cr(&self.carry)));
            self.carry.clear();
        }
    }

    /// Adds part of a line to the carry, emitting full `MAX_LINE_BYTES` pieces as it fills.
    fn append(&mut self, mut data: &[u8], emit: &mut impl FnMut(String)) {
        if data.is_empty() {
            return;
        }
        if self.carry.capacity() < MAX_LINE_BYTES {
            // Exactly once, so the carry never reallocates past the cap.
            self.carry.reserve_exact(MAX_LINE_BYTES - self.carry.len());
        }
        while self.carry.len() + data.len() > MAX_LINE_BYTES {
            let room = MAX_LINE_BYTES - self.carry.len();
            self.carry.extend_from_slice(&data[..room]);
            data = &data[room..];
            let cut = utf8_safe_cut(&self.carry);
            emit(decode(&self.carry[..cut]));
            self.carry.drain(..cut);
        }
        self.carry.extend_from_slice(data);
    }

    #[cfg(test)]
    fn carry_capacity(&self) -> usize {
        self.carry.capacity()
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn decode(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where to cut a full buffer so that a multi-byte UTF-8 sequence that is still incomplete at
/// its end moves to the next piece instead of being split (and replaced by U+FFFD twice).
fn utf8_safe_cut(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=len.min(3) {
        let byte = buf[len - back];
        if byte & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let needs = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if needs > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Level, LogFilter};

    async fn pump(input: &[u8], stream: Stream) -> Vec<(String, Option<Level>)> {
        let hub = LogHub::new(100_000);
        pump_lines(input, hub.clone(), "srv".into(), stream).await;
        hub.lines(&LogFilter::all(), None, usize::MAX)
            .iter()
            .map(|l| {
                assert_eq!((l.server.as_str(), l.stream), ("srv", stream));
                (l.text.clone(), l.level)
            })
            .collect()
    }

    fn texts(lines: &[(String, Option<Level>)]) -> Vec<&str> {
        lines.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[tokio::test]
    async fn crlf_and_final_line_without_newline() {
        let lines = pump(b"one\r\ntwo\n\nthree\r\nlast", Stream::Stdout).await;
        assert_eq!(texts(&lines), ["one", "two", "", "three", "last"]);
        assert!(lines.iter().all(|(_, level)| level.is_none()));
    }

    #[tokio::test]
    async fn stderr_lines_get_a_guessed_level() {
        let lines = pump(b"ERROR: boom\nhello\n[warn] hmm\n", Stream::Stderr).await;
        let levels: Vec<_> = lines.iter().map(|(_, l)| *l).collect();
        assert_eq!(levels, [Some(Level::Error), None, Some(Level::Warn)]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced() {
        let lines = pump(b"ok \xff\xfe bytes\nfine\n", Stream::Stderr).await;
        assert_eq!(texts(&lines), ["ok \u{FFFD}\u{FFFD} bytes", "fine"]);
    }

    #[tokio::test]
    async fn lines_split_across_reads_are_joined() {
        let (mut tx, rx) = tokio::io::duplex(7);
        let hub = LogHub::new(1000);
        let task = tokio::spawn(pump_lines(rx, hub.clone(), "s".into(), Stream::Stdout));
        use tokio::io::AsyncWriteExt;
        for piece in [&b"hel"[..], b"lo wor", b"ld\nsecond ", b"line\r", b"\nend"] {
            tx.write_all(piece).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        let got: Vec<String> = hub
            .lines(&LogFilter::all(), None, 10)
            .iter()
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(got, ["hello world", "second line", "end"]);
    }

    #[tokio::test]
    async fn a_megabyte_line_is_split_at_max_line_bytes() {
        let mut input = vec![b'a'; 1024 * 1024];
        input.extend_from_slice(b"\nnext\n");
        let lines = pump(&input, Stream::Stdout).await;
        let (big, rest) = lines.split_at(lines.len() - 1);
        assert_eq!(texts(rest), ["next"]);
        assert_eq!(big.len(), 1024 * 1024 / MAX_LINE_BYTES);
        assert!(big.iter().all(|(t, _)| t.len() == MAX_LINE_BYTES));
    }

    #[test]
    fn splitter_memory_stays_bounded_without_newlines() {
        let mut splitter = LineSplitter::new();
        let mut pieces = Vec::new();
        let chunk = vec![b'z'; 8 * 1024];
        for _ in 0..128 {
            splitter.feed(&chunk, &mut |t| pieces.push(t.len()));
            assert!(splitter.carry_capacity() <= MAX_LINE_BYTES);
        }
        splitter.finish(&mut |t| pieces.push(t.len()));
        assert_eq!(pieces.iter().sum::<usize>(), 1024 * 1024);
        assert!(pieces.iter().all(|&n| n <= MAX_LINE_BYTES));
        assert_eq!(pieces.len(), 16);
    }

    #[test]
    fn long_line_is_not_cut_inside_a_char() {
        // 'é' is two bytes; an odd prefix puts a char across the MAX_LINE_BYTES boundary.
        let mut line = b"x".to_vec();
        line.extend("é".repeat(MAX_LINE_BYTES).as_bytes());
        let mut pieces = Vec::new();
        let mut splitter = LineSplitter::new();
        splitter.feed(&line, &mut |t| pieces.push(t));
        splitter.finish(&mut |t| pieces.push(t));
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));
        assert_eq!(pieces.concat().as_bytes(), &line[..]);
        assert_eq!(pieces[0].len(), MAX_LINE_BYTES - 1);
    }
}
