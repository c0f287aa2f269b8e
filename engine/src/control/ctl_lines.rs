//! Newline-delimited framing for the control socket that never ends the connection over a
//! bad line: an over-long line is reported (and skipped to its newline) as an item, not as a
//! decoder error — `Framed` stops reading after any error.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub enum CtlLine {
    /// One line, without its newline (maybe not UTF-8: the caller decides).
    Line(BytesMut),
    /// A line longer than the limit; its bytes are dropped up to the next newline.
    TooLong,
}

pub struct CtlLines {
    max_bytes: usize,
    discarding: bool,
    scanned: usize,
}

impl CtlLines {
    pub fn new(max_bytes: usize) -> Self {
        CtlLines {
            max_bytes,
            discarding: false,
            scanned: 0,
        }
    }
}

impl Decoder for CtlLines {
    type Item = CtlLine;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<CtlLine>, Self::Error> {
        loop {
            let newline = buf[self.scanned..].iter().position(|b| *b == b'\n');
            match newline {
                Some(i) => {
                    let end = self.scanned + i;
                    self.scanned = 0;
                    if self.discarding {
                        buf.advance(end + 1);
                        self.discarding = false;
                        continue;
                    }
                    if end > self.max_bytes {
                        buf.advance(end + 1);
                        return Ok(Some(CtlLine::TooLong));
                    }
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    return Ok(Some(CtlLine::Line(line)));
                }
                None if self.discarding => {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                None if buf.len() > self.max_bytes => {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(CtlLine::TooLong));
                }
                None => {
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }
}

impl Encoder<String> for CtlLines {
    type Error = std::io::Error;

    fn encode(&mut self, line: String, out: &mut BytesMut) -> Result<(), Self::Error> {
        out.reserve(line.len() + 1);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut codec = CtlLines::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // Feed in small pieces, as a socket would.
        for chunk in input.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(match item {
                    CtlLine::Line(l) => String::from_utf8_lossy(&l).into_owned(),
                    CtlLine::TooLong => "<too long>".into(),
                });
            }
        }
        out
    }

    #[test]
    fn long_lines_are_reported_and_skipped_and_reading_goes_on() {
        assert_eq!(lines(b"a\nbb\n", 10), ["a", "bb"]);
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nafter\n");
        assert_eq!(lines(&input, 10), ["ok", "<too long>", "after"]);
    }
}
