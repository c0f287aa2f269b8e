//! [`HubLayer`]: the engine's own `tracing` events as `Stream::Bridge` lines in the hub.
//!
//! With it, "why did my server not start?" reads in the same stream as the server's stderr: an
//! event carrying a `server` field lands in that server's ring, anything else under
//! [`BRIDGE_SOURCE`]. Pushing never blocks and the hub emits no events, so there is no feedback
//! loop; a thread-local guard drops any event raised while this layer is already pushing on the
//! same thread, in case something on that path ever does log. Which events reach the layer is
//! the composer's choice (a per-layer filter); this layer takes what it is given.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::hub::LogHub;
use super::line::{BRIDGE_SOURCE, Level, Stream};

/// The field that routes an event to a server's ring.
const SERVER_FIELD: &str = "server";

thread_local! {
    static PUSHING: Cell<bool> = const { Cell::new(false) };
}

/// A `tracing_subscriber` layer that pushes events into a [`LogHub`].
pub struct HubLayer {
    hub: LogHub,
}

impl HubLayer {
    pub fn new(hub: LogHub) -> Self {
        Self { hub }
    }
}

impl<S: Subscriber> Layer<S> for HubLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // try_with: events can fire while thread-locals are being torn down.
        let reentered = PUSHING.try_with(|p| p.replace(true)).unwrap_or(true);
        if reentered {
            return;
        }
        let _reset = ResetOnDrop;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = Level::from(*event.metadata().level());
        let server = fields.server.take();
        let server = server.as_deref().unwrap_or(BRIDGE_SOURCE);
        self.hub
            .push(server, Stream::Bridge, Some(level), fields.into_text());
    }
}

struct ResetOnDrop;

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        let _ = PUSHING.try_with(|p| p.set(false));
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    server: Option<String>,
    /// " key=value" pairs in the order recorded.
    rest: String,
}

impl Fields {
    fn into_text(self) -> String {
        let mut text = self.message;
        if text.is_empty() {
            text.push_str(self.rest.trim_start());
        } else {
            text.push_str(&self.rest);
        }
        text
    }

    fn skip(field: &Field) -> bool {
        // tracing-log's bookkeeping fields for events bridged from the `log` crate.
        field.name().starts_with("log.")
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            SERVER_FIELD => self.server = Some(value.to_owned()),
            _ if Self::skip(field) => {}
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            SERVER_FIELD => self.server = Some(format!("{value:?}")),
            _ if Self::skip(field) => {}
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogFilter;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn event_with_server_field_lands_in_that_servers_ring() {
        let hub = LogHub::new(100);
        let subscriber = tracing_subscriber::registry().with(HubLayer::new(hub.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let name = "x";
            tracing::warn!(server = %name, pid = 42, "started pid {}", 42);
            tracing::info!(attempt = 3, path = "/tmp/a b", "engine ready");
            tracing::debug!(answer = 42);
        });
        let x = hub.lines(&LogFilter::server("x"), None, 10);
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].stream, Stream::Bridge);
        assert_eq!(x[0].level, Some(Level::Warn));
        assert_eq!(x[0].text, "started pid 42 pid=42");
        let bridge = hub.lines(&LogFilter::server(BRIDGE_SOURCE), None, 10);
        let texts: Vec<&str> = bridge.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["engine ready attempt=3 path=/tmp/a b", "answer=42"]);
        assert_eq!(bridge[1].level, Some(Level::Debug));
    }
}
