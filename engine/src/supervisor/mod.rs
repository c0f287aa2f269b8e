//! The supervisor: one actor per configured server, each owning its child process.
//!
//! Faces hold [`ServerHandle`]s and send controls; state flows out through the status hub.

mod actor;
mod channel;
mod handle;
pub mod link;
pub mod platform;
pub mod policy;
pub mod records;
pub mod runtime;
pub mod spawn;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use handle::{Action, ControlError, ServerHandle, UnknownAction};
pub use link::{LinkEvent, Readiness, ReadySignal};
pub use policy::{CrashTracker, Decision, RestartTuning};
pub use records::ChildRecords;

use crate::config::Config;
use crate::logs::LogHub;
use crate::status::StatusHub;
use crate::upstream::HttpReach;

pub struct Supervisor {
    servers: BTreeMap<String, ServerHandle>,
    actors: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    shutdown: CancellationToken,
}

impl Supervisor {
    /// Publishes every configured server as `stopped` and starts its actor; actors of
    /// `autostart` servers start them at once.
    pub fn spawn(
        config: &Config,
        status: &StatusHub,
        logs: &LogHub,
        records: &ChildRecords,
        tuning: &RestartTuning,
        mut links: BTreeMap<String, mpsc::Sender<LinkEvent>>,
        reaches: &BTreeMap<String, Arc<dyn HttpReach>>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let owner = platform::identity(std::process::id());
        let boot_id = platform::boot_id();
        let mut servers = BTreeMap::new();
        let mut actors = Vec::new();
        for (name, spec) in &config.servers {
            status.put_server(actor::Actor::initial_status(name, spec));
            let (tx, rx) = mpsc::channel(handle::REQUEST_QUEUE);
            let ctx = actor::ActorContext {
                link: links.remove(name),
                reach: reaches.get(name).cloned(),
                status: status.clone(),
                logs: logs.clone(),
                records: records.clone(),
                shutdown: shutdown.clone(),
                owner,
                boot_id: boot_id.clone(),
            };
            let actor = actor::Actor::new(
                name.clone(),
                spec.clone(),
                ctx,
                CrashTracker::new(tuning.clone()),
                rx,
            );
            actors.push(tokio::spawn(actor.run()));
            servers.insert(name.clone(), ServerHandle::new(name, tx));
        }
        Supervisor {
            servers,
            actors: parking_lot::Mutex::new(actors),
            shutdown,
        }
    }

    pub fn server(&self, name: &str) -> Result<&ServerHandle, ControlError> {
        self.servers
            .get(name)
            .ok_or_else(|| ControlError::UnknownServer {
                name: name.to_string(),
                known: if self.servers.is_empty() {
                    "none".to_string()
                } else {
                    self.servers.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
    }

    pub fn servers(&self) -> impl Iterator<Item = &ServerHandle> {
        self.servers.values()
    }

    /// Stops every server (in parallel, each with its own grace) and waits for all actors.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let actors = std::mem::take(&mut *self.actors.lock());
        for actor in actors {
            let _ = actor.await;
        }
    }
}
