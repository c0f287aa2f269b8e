//! The proofs of godot-ai's editor WebSocket handshake (protocol 2): HMAC-SHA256 over a
//! length-prefixed, domain-separated transcript, keyed with the editor capability (64 hex).
//! bridgedock computes them on both sides of its relay: as the server the editor talks to, and
//! as the editor when it replays the handshake to a restarted godot-ai.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const WS_PROTOCOL_VERSION: u64 = 2;
const SERVER_PROOF_DOMAIN: &str = "godot-ai-ws-v2/server-proof";
const CLIENT_PROOF_DOMAIN: &str = "godot-ai-ws-v2/client-proof";

/// The editor's identity as it disclosed it in `auth_response`; every field is in the proof.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EditorIdentity {
    pub session_id: String,
    pub godot_version: String,
    pub project_path: String,
    pub plugin_version: String,
    pub readiness: String,
    pub editor_pid: u64,
    pub server_launch_mode: String,
}

/// `"domain\n<len>:<value>\n<len>:<value>…"`, as godot-ai's `_proof_message` builds it.
fn transcript(domain: &str, values: &[&str]) -> Vec<u8> {
    let mut message = domain.as_bytes().to_vec();
    for value in values {
        message.push(b'\n');
        message.extend_from_slice(value.len().to_string().as_bytes());
        message.push(b':');
        message.extend_from_slice(value.as_bytes());
    }
    message
}

fn hmac_hex(capability: &str, message: &[u8]) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(capability.as_bytes()) else {
        return String::new();
    };
    mac.update(message);
    to_hex(&mac.finalize().into_bytes())
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes as 64 lowercase hex digits: a nonce or a capability.
pub fn random_hex32() -> String {
    let bytes: [u8; 32] = rand::random();
    to_hex(&bytes)
}

pub fn server_proof(
    capability: &str,
    client_nonce: &str,
    server_nonce: &str,
    server_version: &str,
) -> String {
    let v = WS_PROTOCOL_VERSION.to_string();
    hmac_hex(
        capability,
        &transcript(
            SERVER_PROOF_DOMAIN,
            &[&v, client_nonce, server_nonce, server_version],
        ),
    )
}

pub fn client_proof(
    capability: &str,
    client_nonce: &str,
    server_nonce: &str,
    server_version: &str,
    editor: &EditorIdentity,
) -> String {
    let v = WS_PROTOCOL_VERSION.to_string();
    let pid = editor.editor_pid.to_string();
    hmac_hex(
        capability,
        &transcript(
            CLIENT_PROOF_DOMAIN,
            &[
                &v,
                client_nonce,
                server_nonce,
                server_version,
                &editor.session_id,
                &editor.godot_version,
                &editor.project_path,
                &editor.plugin_version,
                &editor.readiness,
                &pid,
                &editor.server_launch_mode,
            ],
        ),
    )
}

/// Constant-time comparison of two proofs.
pub fn proofs_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Godot 4.7 or newer within 4.x, as godot-ai's `_supports_v4_editor` requires
/// ("4.7-stable (official)", "4.7.1.stable").
pub fn supports_v4_editor(godot_version: &str) -> bool {
    fn digits(s: &str) -> (&str, &str) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        s.split_at(n)
    }
    let (major, rest) = digits(godot_version);
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let (minor, rest) = digits(rest);
    let delimited = rest.is_empty() || rest.starts_with('.') || rest.starts_with('-');
    matches!((major.parse::<u32>(), minor.parse::<u32>()), (Ok(4), Ok(m)) if m >= 7) && delimited
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed with godot-ai 4.3.1's own functions:
    // websocket_server_proof("ab"*32, client_nonce="11"*32, server_nonce="22"*32, server_version="4.3.1")
    #[test]
    fn proofs_match_godot_ai() {
        let cap = "ab".repeat(32);
        let c = "11".repeat(32);
        let s = "22".repeat(32);
        assert_eq!(server_proof(&cap, &c, &s, "4.3.1"), SERVER_VECTOR);
        let editor = EditorIdentity {
            session_id: "demo@1a2b".into(),
            godot_version: "4.7-stable (official)".into(),
            project_path: "/home/me/game".into(),
            plugin_version: "4.3.1".into(),
            readiness: "ready".into(),
            editor_pid: 4242,
            server_launch_mode: "adopted".into(),
        };
        assert_eq!(client_proof(&cap, &c, &s, "4.3.1", &editor), CLIENT_VECTOR);
        assert!(proofs_equal(SERVER_VECTOR, SERVER_VECTOR));
        assert!(!proofs_equal(SERVER_VECTOR, CLIENT_VECTOR));
    }

    #[test]
    fn godot_versions() {
        assert!(supports_v4_editor("4.7-stable (official)"));
        assert!(supports_v4_editor("4.7.1.stable"));
        assert!(supports_v4_editor("4.8"));
        assert!(!supports_v4_editor("4.6.2.stable"));
        assert!(!supports_v4_editor("5.0"));
        assert!(!supports_v4_editor("4.70x"));
        assert!(!supports_v4_editor("garbage"));
    }

    const SERVER_VECTOR: &str = "37babe7082229e22927d822aff02311feec7462144b58b3c3b14550410449ace";
    const CLIENT_VECTOR: &str = "e300f48a376fb95a12376501cc22d7cd53acc5da3e7b2f68ec031f5e46a4bc5c";
}
