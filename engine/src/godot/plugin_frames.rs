//! What the Godot plugin's frames say, once the handshake is done: the editor's events
//! (`{"type":"event","event":"scene_changed","data":{…}}`) and replies
//! (`{"request_id","status","data","readiness"}`), and godot-ai's commands
//! (`{"request_id","command","params"}`). The relay forwards every frame unchanged; this only
//! keeps the editor's session up to date, the commands in flight (bounded) and the last state
//! events to replay to a new godot-ai.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::Value;

use super::breaker::Circuit;
use super::proof::EditorIdentity;
use crate::status::EditorSession;

/// Commands tracked in flight at most; more are still relayed, just not timed.
pub const MAX_TRACKED: usize = 1024;
/// The events that describe the editor's state, replayed after a reconnect.
const STATE_EVENTS: [&str; 3] = ["scene_changed", "play_state_changed", "readiness_changed"];
const READINESS: [&str; 4] = ["ready", "importing", "playing", "no_scene"];

/// The session of an editor that just completed its handshake.
pub fn new_session(identity: &EditorIdentity, now_ms: u64) -> EditorSession {
    EditorSession {
        session_id: identity.session_id.clone(),
        project_path: identity.project_path.clone(),
        godot_version: identity.godot_version.clone(),
        plugin_version: identity.plugin_version.clone(),
        editor_pid: identity.editor_pid,
        readiness: identity.readiness.clone(),
        current_scene: None,
        play_state: None,
        connected_at_ms: now_ms,
        upstream: "connecting".into(),
        upstream_since_ms: now_ms,
        circuit: Circuit::Closed,
        circuit_failures: 0,
        reconnect_attempts: 0,
        next_attempt_at_ms: None,
        replays: 0,
        commands_in_flight: 0,
        commands_done: 0,
        last_command: None,
        last_latency_ms: None,
        last_message_ms: now_ms,
    }
}

#[derive(Debug, Default)]
pub struct Traffic {
    in_flight: HashMap<String, (String, Instant)>,
    last_events: BTreeMap<&'static str, String>,
}

impl Traffic {
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The editor's last state events, in a fixed order.
    pub fn replay(&self) -> impl Iterator<Item = &String> {
        self.last_events.values()
    }

    /// godot-ai went away: nobody waits for the replies of its commands any more.
    pub fn forget_commands(&mut self, session: &mut EditorSession) -> usize {
        let n = self.in_flight.len();
        self.in_flight.clear();
        session.commands_in_flight = 0;
        n
    }

    /// A text frame from the editor.
    pub fn from_editor(
        &mut self,
        session: &mut EditorSession,
        identity: &mut EditorIdentity,
        text: &str,
        now: Instant,
        now_ms: u64,
    ) {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return;
        };
        session.last_message_ms = now_ms;
        let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if o.get("type").and_then(Value::as_str) == Some("event") {
            let event = o.get("event").and_then(Value::as_str).unwrap_or("");
            let data = o.get("data").cloned().unwrap_or(Value::Null);
            if let Some(kind) = STATE_EVENTS.iter().find(|k| **k == event) {
                self.last_events.insert(kind, text.to_owned());
            }
            match event {
                "scene_changed" => session.current_scene = str_of(&data, "current_scene"),
                "play_state_changed" => session.play_state = str_of(&data, "play_state"),
                _ => {}
            }
            if let Some(r) = str_of(&data, "readiness").filter(|r| READINESS.contains(&r.as_str()))
            {
                identity.readiness = r.clone();
                session.readiness = r;
            }
            return;
        }
        let (Some(rid), Some(_)) = (
            o.get("request_id").and_then(Value::as_str),
            o.get("status").and_then(Value::as_str),
        ) else {
            return;
        };
        if let Some((_, started)) = self.in_flight.remove(rid) {
            session.commands_done += 1;
            session.last_latency_ms = Some(now.duration_since(started).as_secs_f64() * 1000.0);
        }
        session.commands_in_flight = self.in_flight.len() as u32;
        if let Some(r) = o
            .get("readiness")
            .and_then(Value::as_str)
            .filter(|r| READINESS.contains(r))
        {
            identity.readiness = r.to_owned();
            session.readiness = r.to_owned();
        }
    }

    /// A text frame from godot-ai.
    pub fn from_server(
        &mut self,
        session: &mut EditorSession,
        text: &str,
        now: Instant,
        now_ms: u64,
    ) {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let (Some(rid), Some(cmd)) = (
            o.get("request_id").and_then(Value::as_str),
            o.get("command").and_then(Value::as_str),
        ) else {
            return;
        };
        if self.in_flight.len() < MAX_TRACKED || self.in_flight.contains_key(rid) {
            self.in_flight.insert(rid.to_owned(), (cmd.to_owned(), now));
        }
        session.commands_in_flight = self.in_flight.len() as u32;
        session.last_command = Some(cmd.chars().take(128).collect());
        session.last_message_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn session() -> (EditorSession, EditorIdentity) {
        let identity = EditorIdentity {
            session_id: "game@1".into(),
            godot_version: "4.7-stable".into(),
            project_path: "/g/".into(),
            plugin_version: "4.3.1".into(),
            readiness: "ready".into(),
            editor_pid: 1,
            server_launch_mode: "adopted".into(),
        };
        (new_session(&identity, 0), identity)
    }

    #[test]
    fn commands_are_timed_events_kept_for_replay() {
        let (mut s, mut id) = session();
        let mut t = Traffic::default();
        let t0 = Instant::now();
        t.from_server(
            &mut s,
            r#"{"request_id":"a","command":"get_editor_state","params":{}}"#,
            t0,
            1,
        );
        assert_eq!(
            (s.commands_in_flight, s.last_command.as_deref()),
            (1, Some("get_editor_state"))
        );
        t.from_editor(
            &mut s,
            &mut id,
            r#"{"request_id":"a","status":"ok","data":{},"readiness":"importing"}"#,
            t0 + std::time::Duration::from_millis(7),
            2,
        );
        assert_eq!(
            (s.commands_in_flight, s.commands_done, s.readiness.as_str()),
            (0, 1, "importing")
        );
        assert_eq!(id.readiness, "importing");
        assert!((s.last_latency_ms.unwrap() - 7.0).abs() < 0.01);
        t.from_editor(
            &mut s,
            &mut id,
            r#"{"type":"event","event":"scene_changed","data":{"current_scene":"res://a.tscn"}}"#,
            t0,
            3,
        );
        t.from_editor(
            &mut s,
            &mut id,
            r#"{"type":"event","event":"scene_changed","data":{"current_scene":"res://b.tscn"}}"#,
            t0,
            4,
        );
        t.from_editor(
            &mut s,
            &mut id,
            r#"{"type":"event","event":"play_state_changed","data":{"play_state":"playing"}}"#,
            t0,
            5,
        );
        assert_eq!(s.current_scene.as_deref(), Some("res://b.tscn"));
        let replay: Vec<&String> = t.replay().collect();
        assert_eq!(replay.len(), 2);
        assert!(replay.iter().any(|r| r.contains("res://b.tscn")));
        // A reply nobody asked for, garbage, an unknown readiness: nothing breaks.
        t.from_editor(
            &mut s,
            &mut id,
            r#"{"request_id":"zzz","status":"ok","readiness":"flying"}"#,
            t0,
            6,
        );
        t.from_editor(&mut s, &mut id, "not json", t0, 7);
        assert_eq!((s.commands_done, s.readiness.as_str()), (1, "importing"));
    }

    #[test]
    fn a_flood_of_unanswered_commands_stays_bounded() {
        let (mut s, _) = session();
        let mut t = Traffic::default();
        for i in 0..(MAX_TRACKED * 3) {
            t.from_server(
                &mut s,
                &format!(r#"{{"request_id":"{i}","command":"c"}}"#),
                Instant::now(),
                0,
            );
        }
        assert_eq!(t.in_flight(), MAX_TRACKED);
        assert_eq!(t.forget_commands(&mut s), MAX_TRACKED);
        assert_eq!(s.commands_in_flight, 0);
    }
}
