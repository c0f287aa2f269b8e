//! Desktop notifications when a server crashes, gives up or is not answering, at most one per
//! server per [`QUIET`], with a summary of what was held back once the quiet time is over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridgedock_engine::status::{StatusChange, now_ms};
use parking_lot::Mutex;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::summary::{self, NoticeKind};

/// At most one notification per server in this long.
pub const QUIET: Duration = Duration::from_secs(30);

/// What to do with one crash notice.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Show it now (it says how many were held back before it, if any).
    Show { held_back: u32 },
    /// Hold it back; if this is the first held back since the last one shown, a summary is
    /// due at the given instant.
    Hold { summary_at: Option<Instant> },
}

/// Per-server rate limiting, free of clocks and I/O so it can be tested.
#[derive(Default)]
pub struct Limiter {
    servers: HashMap<String, Slot>,
}

#[derive(Default)]
struct Slot {
    last_shown: Option<Instant>,
    held_back: u32,
    /// What the held-back notices were about, while they were all about one thing.
    held_kind: Option<NoticeKind>,
    held_mixed: bool,
}

/// What a summary sums up: how many notices were held back, and what about.
#[derive(Debug, PartialEq)]
pub struct HeldBack {
    pub count: u32,
    /// None when they were about different things.
    pub kind: Option<NoticeKind>,
}

impl HeldBack {
    /// "crashy: 4 more crash notifications held back".
    pub fn title(&self, server: &str) -> String {
        let what = match self.kind {
            Some(NoticeKind::Crash) => "crash notification",
            Some(NoticeKind::NotAnswering) => "not-answering notification",
            Some(NoticeKind::GaveUp) | None => "notification",
        };
        let s = if self.count == 1 { "" } else { "s" };
        format!("{server}: {} more {what}{s} held back", self.count)
    }
}

impl Limiter {
    pub fn offer(&mut self, server: &str, kind: NoticeKind, now: Instant) -> Decision {
        let slot = self.servers.entry(server.to_string()).or_default();
        match slot.last_shown {
            Some(last) if now.duration_since(last) < QUIET => {
                slot.held_back += 1;
                match slot.held_kind {
                    None if !slot.held_mixed => slot.held_kind = Some(kind),
                    Some(held) if held != kind => {
                        slot.held_kind = None;
                        slot.held_mixed = true;
                    }
                    _ => {}
                }
                Decision::Hold {
                    summary_at: (slot.held_back == 1).then(|| last + QUIET),
                }
            }
            _ => {
                let held_back = slot.forget_held().count;
                slot.last_shown = Some(now);
                Decision::Show { held_back }
            }
        }
    }

    /// A notice that is always shown (the server gave up: it will not crash again until someone
    /// starts it, so this cannot repeat): how many were held back before it. It counts as shown.
    pub fn show_now(&mut self, server: &str, now: Instant) -> u32 {
        let slot = self.servers.entry(server.to_string()).or_default();
        slot.last_shown = Some(now);
        slot.forget_held().count
    }

    /// When a summary is due: what was held back (and resets the count and the quiet time), or
    /// a count of 0 when a later notification already told them.
    pub fn take_summary(&mut self, server: &str, now: Instant) -> HeldBack {
        let Some(slot) = self.servers.get_mut(server) else {
            return HeldBack {
                count: 0,
                kind: None,
            };
        };
        let held = slot.forget_held();
        if held.count > 0 {
            slot.last_shown = Some(now);
        }
        held
    }
}

impl Slot {
    fn forget_held(&mut self) -> HeldBack {
        self.held_mixed = false;
        HeldBack {
            count: std::mem::take(&mut self.held_back),
            kind: self.held_kind.take(),
        }
    }
}

/// Follows status changes and notifies on entering backoff, crashed, failed or not-answering.
pub fn spawn(app: AppHandle, engine: Arc<bridgedock_engine::Engine>) {
    let limiter = Arc::new(Mutex::new(Limiter::default()));
    tauri::async_runtime::spawn(async move {
        let mut sub = engine.status().subscribe();
        // The last state name per server, so only entering a bad state notifies.
        let mut last: HashMap<String, &'static str> = sub
            .snapshot
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.state.name()))
            .collect();
        loop {
            let change = match sub.changes.recv().await {
                Ok(change) => change,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    sub = engine.status().subscribe();
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let StatusChange::Server { server, .. } = &*change else {
                continue;
            };
            let name = server.state.name();
            let before = last.insert(server.name.clone(), name);
            if before == Some(name) {
                continue;
            }
            let Some(summary::Notice { kind, title, body }) = summary::notice(server, now_ms())
            else {
                continue;
            };
            // Giving up ends a crash loop: the one notice that must not wait for the quiet time.
            let decision = if kind == NoticeKind::GaveUp {
                Decision::Show {
                    held_back: limiter.lock().show_now(&server.name, Instant::now()),
                }
            } else {
                limiter.lock().offer(&server.name, kind, Instant::now())
            };
            match decision {
                Decision::Show { held_back } => {
                    let body = if held_back > 0 {
                        format!("{body}\n({held_back} more held back in the last 30 s)")
                    } else {
                        body
                    };
                    show(&app, title, body);
                }
                Decision::Hold { summary_at } => {
                    let Some(at) = summary_at else { continue };
                    let (app, engine, limiter) = (app.clone(), engine.clone(), limiter.clone());
                    let server = server.name.clone();
                    tauri::async_runtime::spawn(async move {
                        tokio::time::sleep_until(at.into()).await;
                        let held = limiter.lock().take_summary(&server, Instant::now());
                        if held.count == 0 {
                            return;
                        }
                        let now = engine
                            .status()
                            .server(&server)
                            .map(|s| summary::long_state(&s, now_ms()))
                            .unwrap_or_default();
                        show(&app, held.title(&server), format!("now: {now}"));
                    });
                }
            }
        }
    });
}

fn show(app: &AppHandle, title: String, body: String) {
    tracing::info!("notification: {title}: {}", body.replace('\n', " / "));
    let app = app.clone();
    // Talking to the notification daemon blocks (D-Bus); keep it off the async workers.
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = app.notification().builder().title(title).body(body).show() {
            tracing::warn!("cannot show a desktop notification: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH: NoticeKind = NoticeKind::Crash;
    const MUTE: NoticeKind = NoticeKind::NotAnswering;

    #[test]
    fn one_per_server_per_quiet_time_then_a_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        assert_eq!(l.offer("a", CRASH, t0), Decision::Show { held_back: 0 });
        // another server is not held back by the first
        assert_eq!(l.offer("b", CRASH, t0), Decision::Show { held_back: 0 });
        let s = Duration::from_secs;
        assert_eq!(
            l.offer("a", CRASH, t0 + s(5)),
            Decision::Hold {
                summary_at: Some(t0 + QUIET)
            }
        );
        assert_eq!(
            l.offer("a", CRASH, t0 + s(6)),
            Decision::Hold { summary_at: None }
        );
        let held = l.take_summary("a", t0 + QUIET);
        assert_eq!(held.count, 2);
        assert_eq!(held.title("a"), "a: 2 more crash notifications held back");
        // the summary counts as shown: the next crash soon after is held back again
        assert_eq!(
            l.offer("a", CRASH, t0 + s(31)),
            Decision::Hold {
                summary_at: Some(t0 + QUIET + QUIET)
            }
        );
    }

    #[test]
    fn giving_up_is_shown_at_once_with_what_was_held_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Limiter::default();
        assert_eq!(l.offer("a", CRASH, t0), Decision::Show { held_back: 0 });
        l.offer("a", CRASH, t0 + s(1));
        l.offer("a", CRASH, t0 + s(3));
        assert_eq!(l.show_now("a", t0 + s(8)), 2);
        // the summary due at t0 + QUIET has nothing left to say
        assert_eq!(l.take_summary("a", t0 + QUIET).count, 0);
        // and it counts as shown: a crash right after (started again) waits for the quiet time
        assert!(matches!(
            l.offer("a", CRASH, t0 + s(9)),
            Decision::Hold { .. }
        ));
    }

    #[test]
    fn a_notification_after_the_quiet_time_tells_what_was_held_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Limiter::default();
        l.offer("a", CRASH, t0);
        l.offer("a", CRASH, t0 + s(1));
        assert_eq!(
            l.offer("a", CRASH, t0 + s(40)),
            Decision::Show { held_back: 1 }
        );
        // the summary timer then finds nothing left to say
        assert_eq!(l.take_summary("a", t0 + s(41)).count, 0);
    }

    #[test]
    fn not_answering_shares_a_servers_quiet_time_and_its_summary_says_what_was_held() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Limiter::default();
        // not answering, restarted by hand, not answering again 5 s later: one notification
        assert_eq!(l.offer("mute", MUTE, t0), Decision::Show { held_back: 0 });
        assert!(matches!(
            l.offer("mute", MUTE, t0 + s(5)),
            Decision::Hold {
                summary_at: Some(_)
            }
        ));
        let held = l.take_summary("mute", t0 + QUIET);
        assert_eq!(
            held.title("mute"),
            "mute: 1 more not-answering notification held back"
        );
        // a crash and a silence held back together are summed up as notifications
        l.offer("mute", CRASH, t0 + QUIET + s(1));
        l.offer("mute", MUTE, t0 + QUIET + s(2));
        l.offer("mute", CRASH, t0 + QUIET + s(3));
        let held = l.take_summary("mute", t0 + QUIET + QUIET);
        assert_eq!(held.title("mute"), "mute: 3 more notifications held back");
        // and the next summary starts over
        l.offer("mute", CRASH, t0 + QUIET * 2 + s(1));
        let held = l.take_summary("mute", t0 + QUIET * 3);
        assert_eq!(
            held.title("mute"),
            "mute: 1 more crash notification held back"
        );
    }
}
