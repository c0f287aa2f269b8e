//! Desktop notifications when a server crashes or gives up, at most one per server per
//! [`QUIET`], with a summary of what was held back once the quiet time is over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridgedock_engine::status::{ServerState, StatusChange, now_ms};
use parking_lot::Mutex;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::summary;

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
}

impl Limiter {
    pub fn offer(&mut self, server: &str, now: Instant) -> Decision {
        let slot = self.servers.entry(server.to_string()).or_default();
        match slot.last_shown {
            Some(last) if now.duration_since(last) < QUIET => {
                slot.held_back += 1;
                Decision::Hold {
                    summary_at: (slot.held_back == 1).then(|| last + QUIET),
                }
            }
            _ => {
                let held_back = std::mem::take(&mut slot.held_back);
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
        std::mem::take(&mut slot.held_back)
    }

    /// When a summary is due: how many were held back (and resets the count and the quiet
    /// time), or 0 when a later notification already told them.
    pub fn take_summary(&mut self, server: &str, now: Instant) -> u32 {
        let Some(slot) = self.servers.get_mut(server) else {
            return 0;
        };
        let held_back = std::mem::take(&mut slot.held_back);
        if held_back > 0 {
            slot.last_shown = Some(now);
        }
        held_back
    }
}

/// Follows status changes and notifies on entering backoff, crashed or failed.
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
            let StatusChange::Server { server } = &*change else {
                continue;
            };
            let name = server.state.name();
            let before = last.insert(server.name.clone(), name);
            if before == Some(name) {
                continue;
            }
            let Some((title, body)) = summary::crash_notice(server, now_ms()) else {
                continue;
            };
            // Giving up ends a crash loop: the one notice that must not wait for the quiet time.
            let decision = if matches!(server.state, ServerState::Failed { .. }) {
                Decision::Show {
                    held_back: limiter.lock().show_now(&server.name, Instant::now()),
                }
            } else {
                limiter.lock().offer(&server.name, Instant::now())
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
                        let count = limiter.lock().take_summary(&server, Instant::now());
                        if count == 0 {
                            return;
                        }
                        let now = engine
                            .status()
                            .server(&server)
                            .map(|s| summary::long_state(&s, now_ms()))
                            .unwrap_or_default();
                        show(
                            &app,
                            format!(
                                "{server}: {count} more crash notification{} held back",
                                if count == 1 { "" } else { "s" }
                            ),
                            format!("now: {now}"),
                        );
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

    #[test]
    fn one_per_server_per_quiet_time_then_a_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        assert_eq!(l.offer("a", t0), Decision::Show { held_back: 0 });
        // another server is not held back by the first
        assert_eq!(l.offer("b", t0), Decision::Show { held_back: 0 });
        let s = Duration::from_secs;
        assert_eq!(
            l.offer("a", t0 + s(5)),
            Decision::Hold {
                summary_at: Some(t0 + QUIET)
            }
        );
        assert_eq!(l.offer("a", t0 + s(6)), Decision::Hold { summary_at: None });
        assert_eq!(l.take_summary("a", t0 + QUIET), 2);
        // the summary counts as shown: the next crash soon after is held back again
        assert_eq!(
            l.offer("a", t0 + s(31)),
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
        assert_eq!(l.offer("a", t0), Decision::Show { held_back: 0 });
        l.offer("a", t0 + s(1));
        l.offer("a", t0 + s(3));
        assert_eq!(l.show_now("a", t0 + s(8)), 2);
        // the summary due at t0 + QUIET has nothing left to say
        assert_eq!(l.take_summary("a", t0 + QUIET), 0);
        // and it counts as shown: a crash right after (started again) waits for the quiet time
        assert!(matches!(l.offer("a", t0 + s(9)), Decision::Hold { .. }));
    }

    #[test]
    fn a_notification_after_the_quiet_time_tells_what_was_held_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Limiter::default();
        l.offer("a", t0);
        l.offer("a", t0 + s(1));
        assert_eq!(l.offer("a", t0 + s(40)), Decision::Show { held_back: 1 });
        // the summary timer then finds nothing left to say
        assert_eq!(l.take_summary("a", t0 + s(41)), 0);
    }
}
