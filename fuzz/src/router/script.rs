//! The router target's input: a script, one operation per line (the table in fuzz/README.md).
//! Whatever does not parse is skipped, so every input is a run.

use super::CLIENTS;

/// At most this many operations are run per input.
const MAX_OPS: usize = 400;
/// One `T` sleeps at most this long (and one input at most `super::MAX_SLEPT` in all).
const MAX_SLEEP_MS: u64 = 5_000;

#[derive(Debug, Clone)]
pub enum Op {
    /// A client attaches, declaring what its capability letters say (see [`Profile`]).
    Attach(usize, String),
    Detach(usize),
    ToggleReading(usize),
    /// A request built by the harness (tagged): id text, method, flags.
    Request(usize, String, String, String),
    /// `subscriptions/listen`: id text, flags (what it opts in to).
    Listen(usize, String, String),
    /// A retry of the k-th input-required result any client was given: id text, k, flags.
    Retry(usize, String, usize, String),
    Notify(usize, String),
    Cancel(usize, String),
    /// The client answers the k-th request clients were sent (an error when the flag is set).
    AnswerServer(usize, usize, bool),
    Raw(usize, String),
    Up,
    Down,
    /// bridgedock begins to shut down (the router's `stopping` token).
    Stopping,
    StaleLine(String),
    ToggleServerReading,
    /// The fake server answers its k-th open request: a result (form) or an error (code).
    ServerResult(usize, usize),
    ServerError(usize, u8),
    ServerTwice(usize),
    ServerProgress(usize),
    /// The fake server answers its k-th open request with an input-required result (shape).
    ServerInputRequired(usize, usize),
    /// The fake server sends a request: method, id form, params variant.
    ServerRequest(String, u8, u8),
    ServerNotify(u8, usize),
    ServerRaw(String),
    Sleep(u64),
}

pub fn parse_script(data: &[u8]) -> Vec<Op> {
    let text = String::from_utf8_lossy(data);
    text.split('\n')
        .filter_map(parse_op)
        .take(MAX_OPS)
        .collect()
}

fn parse_op(line: &str) -> Option<Op> {
    let mut chars = line.chars();
    let op = chars.next()?;
    let rest = chars.as_str();
    let (head, tail) = match rest.split_once(' ') {
        Some((h, t)) => (h, t),
        None => (rest, ""),
    };
    let client = || {
        head.bytes()
            .next()
            .map_or(0, |b| usize::from(b.wrapping_sub(b'0')) % CLIENTS)
    };
    let mut words = tail.split(' ');
    let mut word = || words.next().unwrap_or("").to_string();
    let num = |s: &str| s.parse::<usize>().unwrap_or(0);
    let small = |s: &str| s.bytes().next().map_or(0, |b| b.wrapping_sub(b'0'));
    Some(match op {
        'A' => Op::Attach(client(), word()),
        'X' => Op::Detach(client()),
        'Z' => Op::ToggleReading(client()),
        'R' => {
            let id = word();
            let method = word();
            let flags = word();
            Op::Request(client(), id, method, flags)
        }
        'L' => {
            let id = word();
            Op::Listen(client(), id, word())
        }
        'I' => {
            let id = word();
            let k = num(&word());
            Op::Retry(client(), id, k, word())
        }
        'N' => Op::Notify(client(), word()),
        'K' => Op::Cancel(client(), word()),
        'Y' => Op::AnswerServer(client(), num(&word()), false),
        'y' => Op::AnswerServer(client(), num(&word()), true),
        'C' => Op::Raw(client(), tail.to_string()),
        'U' => Op::Up,
        'D' => Op::Down,
        '!' => Op::Stopping,
        'G' => Op::StaleLine(tail.to_string()),
        'W' => Op::ToggleServerReading,
        'a' => {
            let k = num(&word());
            Op::ServerResult(k, num(&word()))
        }
        'e' => {
            let k = num(&word());
            Op::ServerError(k, small(&word()))
        }
        'i' => {
            let k = num(&word());
            Op::ServerInputRequired(k, num(&word()))
        }
        'd' => Op::ServerTwice(num(&word())),
        'p' => Op::ServerProgress(num(&word())),
        'q' => {
            let method = word();
            let form = small(&word());
            Op::ServerRequest(method, form, small(&word()))
        }
        'n' => {
            let kind = small(&word());
            Op::ServerNotify(kind, num(&word()))
        }
        'S' => Op::ServerRaw(tail.to_string()),
        'T' => Op::Sleep((num(&word()) as u64).min(MAX_SLEEP_MS)),
        _ => return None,
    })
}
