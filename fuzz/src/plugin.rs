//! The godot-ai editor plugin protocol as bridgedock's relay reads it (engine/src/godot):
//! the editor's `auth_response` (its identity, in every handshake proof), then the frames both
//! ways after the handshake — the editor's events and replies, godot-ai's commands.
//!
//! Input: lines. `H…` is an `auth_response` candidate, `S…` a frame from godot-ai, anything
//! else a frame from the editor. Checked after every line:
//! - nothing panics (proof computation on any identity, any frame);
//! - the commands in flight stay bounded (MAX_TRACKED) and the session says exactly how many;
//! - readiness is always one of godot-ai's four values;
//! - at most the three state events are kept for replay;
//! - no more replies are counted than the editor sent.

use bridgedock_engine::godot::plugin_frames::{MAX_TRACKED, Traffic, new_session};
use bridgedock_engine::godot::proof::{self, EditorIdentity};

const READINESS: [&str; 4] = ["ready", "importing", "playing", "no_scene"];

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut identity = EditorIdentity {
        session_id: "game@00000000000000a1".into(),
        godot_version: "4.7-stable (official)".into(),
        project_path: "/home/me/game/".into(),
        plugin_version: "4.3.1".into(),
        readiness: "ready".into(),
        editor_pid: 42,
        server_launch_mode: "adopted".into(),
    };
    let mut session = new_session(&identity, 0);
    let mut traffic = Traffic::default();
    let start = std::time::Instant::now();
    let mut editor_frames = 0u64;
    for (i, line) in text.lines().enumerate() {
        let now = start + std::time::Duration::from_millis(i as u64);
        if let Some(rest) = line.strip_prefix('H') {
            if let Ok(candidate) = serde_json::from_str::<EditorIdentity>(rest) {
                let a = proof::client_proof(&"ab".repeat(32), "11", "22", "4.3.1", &candidate);
                let b = proof::client_proof(&"ab".repeat(32), "11", "22", "4.3.1", &candidate);
                assert!(proof::proofs_equal(&a, &b) && a.len() == 64);
                let _ = proof::supports_v4_editor(&candidate.godot_version);
                let fresh = new_session(&candidate, 1);
                assert_eq!(fresh.session_id, candidate.session_id);
            }
        } else if let Some(rest) = line.strip_prefix('S') {
            traffic.from_server(&mut session, rest, now, i as u64);
        } else {
            editor_frames += 1;
            traffic.from_editor(&mut session, &mut identity, line, now, i as u64);
        }
        assert!(traffic.in_flight() <= MAX_TRACKED);
        assert_eq!(session.commands_in_flight as usize, traffic.in_flight());
        assert!(
            READINESS.contains(&session.readiness.as_str()),
            "{}",
            session.readiness
        );
        assert_eq!(session.readiness, identity.readiness);
        assert!(traffic.replay().count() <= 3);
        assert!(session.commands_done <= editor_frames);
        if let Some(c) = &session.last_command {
            assert!(c.chars().count() <= 128);
        }
    }
    traffic.forget_commands(&mut session);
    assert_eq!((traffic.in_flight(), session.commands_in_flight), (0, 0));
}
