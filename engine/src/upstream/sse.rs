//! Server-Sent Events as a Streamable HTTP server writes them: events separated by a blank
//! line, each carrying its JSON-RPC message in `data:` lines. Read incrementally from chunks
//! as they arrive, bounded: an event longer than the limit is skipped (and said), never
//! buffered whole.

/// What one complete event gave.
#[derive(Debug, PartialEq, Eq)]
pub enum SseEvent {
    /// The event's data, its `data:` lines joined by `\n`.
    Data(String),
    /// An event longer than the limit was skipped.
    TooLong,
}

pub struct SseReader {
    /// The event read so far, without `\r`.
    event: Vec<u8>,
    max_event: usize,
    /// Inside an event that went over the limit: skipping to its end.
    skipping: bool,
}

impl SseReader {
    pub fn new(max_event: usize) -> Self {
        SseReader {
            event: Vec::new(),
            max_event,
            skipping: false,
        }
    }

    /// Takes the next chunk; returns every event it completed, in order. Events without data
    /// (comments such as `: ping`, a bare `id:`) give nothing.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\r' {
                continue;
            }
            if self.skipping {
                // Only the blank line that ends the event matters: "\n\n".
                if b == b'\n' && self.event.last() == Some(&b'\n') {
                    self.skipping = false;
                    self.event.clear();
                } else {
                    self.event.clear();
                    self.event.push(b);
                }
                continue;
            }
            self.event.push(b);
            if b == b'\n' && self.event.ends_with(b"\n\n") {
                let event = std::mem::take(&mut self.event);
                if let Some(data) = data_of(&event) {
                    out.push(SseEvent::Data(data));
                }
            } else if self.event.len() > self.max_event {
                self.skipping = true;
                self.event.clear();
                self.event.push(b);
                out.push(SseEvent::TooLong);
            }
        }
        out
    }
}

/// The `data:` lines of one event (one space after the colon dropped), joined by `\n`.
fn data_of(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    (!data.is_empty()).then(|| data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_whole_however_the_chunks_fall() {
        let text = ": ping\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{}}\r\n\r\nid: 7\n\ndata:x\n\n";
        for split in 0..text.len() {
            let mut r = SseReader::new(1024);
            let mut got = r.feed(&text.as_bytes()[..split]);
            got.extend(r.feed(&text.as_bytes()[split..]));
            assert_eq!(
                got,
                vec![
                    SseEvent::Data("{\"jsonrpc\":\"2.0\",\"id\":1,\n\"result\":{}}".into()),
                    SseEvent::Data("x".into()),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_event_over_the_limit_is_skipped_and_said_and_the_next_one_read() {
        let mut r = SseReader::new(16);
        let long = format!("data: {}\n\ndata: ok\n\n", "y".repeat(100));
        assert_eq!(
            r.feed(long.as_bytes()),
            vec![SseEvent::TooLong, SseEvent::Data("ok".into())]
        );
        // An unfinished event stays pending, bounded.
        assert!(r.feed(b"data: half").is_empty());
        assert_eq!(r.feed(b"\n\n"), vec![SseEvent::Data("half".into())]);
    }
}
