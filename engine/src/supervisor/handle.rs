//! The cloneable handle every face uses to control one server. Controls are messages to the
//! server's actor, answered through a oneshot with the server's status after the action.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::status::ServerStatus;

/// How many control requests may wait for one actor before senders wait their turn.
pub(crate) const REQUEST_QUEUE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

/// A word that is not an action, as the dock, the API, `ctl` and the tray may send one.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown action `{0}`: use start, stop or restart")]
pub struct UnknownAction(pub String);

/// The one place the words `start`, `stop` and `restart` become actions (HTTP API, control
/// socket, the app's commands and tray menu).
impl std::str::FromStr for Action {
    type Err = UnknownAction;

    fn from_str(word: &str) -> Result<Action, UnknownAction> {
        [Action::Start, Action::Stop, Action::Restart]
            .into_iter()
            .find(|a| a.verb() == word)
            .ok_or_else(|| UnknownAction(word.to_string()))
    }
}

pub(crate) struct Request {
    pub action: Action,
    pub reply: oneshot::Sender<ServerStatus>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ControlError {
    #[error("no server named `{name}` (configured: {known})")]
    UnknownServer { name: String, known: String },
    #[error("server `{0}` is shutting down with bridgedock")]
    ShuttingDown(String),
}

#[derive(Clone, Debug)]
pub struct ServerHandle {
    name: Arc<str>,
    tx: mpsc::Sender<Request>,
}

impl ServerHandle {
    pub(crate) fn new(name: &str, tx: mpsc::Sender<Request>) -> Self {
        ServerHandle {
            name: name.into(),
            tx,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the server (now, even during a backoff wait); a no-op when it is running.
    pub async fn start(&self) -> Result<ServerStatus, ControlError> {
        self.send(Action::Start).await
    }

    /// Stops the whole process tree: stdin closed, SIGTERM, grace, SIGKILL.
    pub async fn stop(&self) -> Result<ServerStatus, ControlError> {
        self.send(Action::Stop).await
    }

    /// Stops it if it runs, then starts it with a fresh crash count.
    pub async fn restart(&self) -> Result<ServerStatus, ControlError> {
        self.send(Action::Restart).await
    }

    pub async fn send(&self, action: Action) -> Result<ServerStatus, ControlError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ControlError::ShuttingDown(self.name.to_string());
        self.tx
            .send(Request { action, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verb_reads_back_as_its_action_and_anything_else_says_what_to_use() {
        for action in [Action::Start, Action::Stop, Action::Restart] {
            assert_eq!(action.verb().parse::<Action>(), Ok(action));
        }
        assert_eq!(
            "reboot".parse::<Action>().unwrap_err().to_string(),
            "unknown action `reboot`: use start, stop or restart"
        );
    }
}
