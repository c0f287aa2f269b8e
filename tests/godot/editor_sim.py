#!/usr/bin/env python3
"""Godot editor simulator for the godot-ai 4.3.1 editor WebSocket protocol.

The real godot-ai editor plugin (``plugin/addons/godot_ai/connection.gd``,
v4 line, WebSocket protocol 2) dials the godot-ai server's editor WebSocket,
authenticates with a per-launch capability, then serves commands the server
forwards from MCP tool calls and pushes editor-state events.  This module
speaks that protocol without Godot so bridgedock can be tested end to end
against the *real* godot-ai server.

Where each rule comes from is written next to the code and summarised in
``tests/godot/README.md``.  Short form:

* handshake, proofs, close codes — godot-ai 4.3.1 ``transport/websocket.py``
  (``_handle_connection``, ``websocket_server_proof``,
  ``websocket_client_proof``) and ``protocol/envelope.py``
  (``AuthenticationHello``, ``AuthenticatedHandshake``); editor side in the
  v4 ``connection.gd`` (``_send_auth_hello``, ``_handle_auth_challenge``,
  ``_build_auth_response``, ``_handle_handshake_ack``, ``_fail_handshake``);
* capability record — ``transport/capability.py`` (``read_capabilities``);
* reconnect — ``connection.gd`` (``RECONNECT_DELAYS``,
  ``_reconnect_delay_for_attempt``, ``_attempt_reconnect``,
  ``_should_log_reconnect_transition``, ``_should_regenerate_session_id``);
* command replies — ``dispatcher.gd`` (``_dispatch``), ``utils/error_codes.gd``
  (``make``), ``handlers/editor_handler.gd`` (``get_editor_state``,
  ``get_selection``, ``get_logs``), ``handlers/scene_handler.gd``
  (``get_scene_tree``, ``get_open_scenes``);
* events — ``connection.gd`` (``_check_state_changes``, ``get_readiness``).

Use it as a library (``EditorSimulator``) or as a CLI; ``--help`` explains
the CLI, whose stdout is one JSON object per observable fact and whose stdin
takes control lines (see ``_CLI_HELP``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import os
import re
import secrets
import signal
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Union

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

logger = logging.getLogger("godot_editor_sim")

# --------------------------------------------------------------------------
# Protocol constants.  Each mirrors a constant of the same name in the v4
# plugin's connection.gd and/or godot-ai 4.3.1 transport/websocket.py.
# --------------------------------------------------------------------------

WS_PROTOCOL_VERSION = 2  # envelope.py WS_PROTOCOL_VERSION / connection.gd
HANDSHAKE_TIMEOUT_SEC = 5.0  # connection.gd HANDSHAKE_TIMEOUT_MSEC (server: 5.0 too)
MAX_HANDSHAKE_FRAME_BYTES = 8 * 1024  # both sides' pre-auth frame ceiling
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # connection.gd OUTBOUND_BUFFER_LIMIT_BYTES
CLOSE_CODE_DUPLICATE_SESSION = 4001
CLOSE_CODE_PROTOCOL_MISMATCH = 4002
CLOSE_CODE_AUTH_FAILED = 4003
SERVER_PROOF_DOMAIN = "godot-ai-ws-v2/server-proof"
CLIENT_PROOF_DOMAIN = "godot-ai-ws-v2/client-proof"

# connection.gd: reconnect back-off and log throttling.
RECONNECT_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
RECONNECT_VERBOSE_ATTEMPTS = 5
RECONNECT_LOG_HEARTBEAT_SEC = 60.0  # RECONNECT_LOG_HEARTBEAT_MSEC = 60_000
# The 2.x plugin (v2.4.2 connection.gd) logged the first 5 attempts and then
# every 10th attempt instead of a time heartbeat; kept as an opt-in policy.
LEGACY_RECONNECT_LOG_EVERY_N_ATTEMPTS = 10

READINESS_VALUES = ("ready", "importing", "playing", "no_scene")  # envelope.py Readiness
# envelope.py ErrorWatermarkKey: the six counters newer plugins stamp on replies.
ERROR_WATERMARK_KEYS = (
    "run_seq",
    "editor_ring",
    "debugger_promoted",
    "game_error_warn",
    "editor_ring_warn",
    "game_warn",
)
# debugger/mcp_debugger_plugin.gd GAME_READY_WAIT_SEC (20.0) in msec.
GAME_READY_WAIT_MSEC = 20_000

DEFAULT_GODOT_VERSION = "4.7-stable (official)"  # Engine.get_version_info().string form
DEFAULT_PLUGIN_VERSION = "4.3.1"
DEFAULT_LAUNCH_MODE = "uvx"  # client_configurator.gd get_server_launch_mode()

_LOWER_HEX_64 = re.compile(r"[0-9a-f]{64}")
_RECORD_KEYS = frozenset({"version", "http", "websocket", "instance_nonce"})
_RECORD_MAX_BYTES = 1024  # capability.py MAX_RECORD_BYTES


class ErrorCodes:
    """The subset of utils/error_codes.gd (== protocol/errors.py) the sim emits."""

    INVALID_PARAMS = "INVALID_PARAMS"
    EDITOR_NOT_READY = "EDITOR_NOT_READY"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    MISSING_REQUIRED_PARAM = "MISSING_REQUIRED_PARAM"

    @staticmethod
    def make(code: str, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """error_codes.gd ``make``: ``{"status": "error", "error": {code, message}}``.

        The plugin only adds ``error.data`` for codes that carry a payload
        (e.g. ``make_not_ready``); the server's ``ErrorDetail.data`` defaults
        to ``{}`` when it is absent.
        """
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return {"status": "error", "error": error}


# --------------------------------------------------------------------------
# Pure protocol helpers (unit-testable without a socket).
# --------------------------------------------------------------------------


def proof_message(domain: str, values: tuple[Any, ...] | list[Any]) -> bytes:
    """Domain-separated transcript: ``domain`` then ``\\n<utf8 len>:<value>`` per field.

    websocket.py ``_proof_message`` == connection.gd ``_proof_message``.
    """
    message = bytearray(domain.encode("ascii"))
    for value in values:
        encoded = str(value).encode("utf-8")
        message += b"\n" + str(len(encoded)).encode("ascii") + b":" + encoded
    return bytes(message)


def hmac_proof(capability: str, domain: str, values: tuple[Any, ...] | list[Any]) -> str:
    """HMAC-SHA256 keyed by the ASCII bytes of the 64-hex capability (not its decoded bytes)."""
    if not is_lower_hex_64(capability):
        raise ValueError("editor WebSocket capability must be 64 lowercase hex digits")
    return hmac.new(
        capability.encode("ascii"), proof_message(domain, values), hashlib.sha256
    ).hexdigest()


def server_proof(capability: str, client_nonce: str, server_nonce: str, server_version: str) -> str:
    """websocket.py ``websocket_server_proof`` / connection.gd ``_server_proof``."""
    return hmac_proof(
        capability,
        SERVER_PROOF_DOMAIN,
        (WS_PROTOCOL_VERSION, client_nonce, server_nonce, server_version),
    )


def client_proof(
    capability: str,
    *,
    client_nonce: str,
    server_nonce: str,
    server_version: str,
    session_id: str,
    godot_version: str,
    project_path: str,
    plugin_version: str,
    readiness: str,
    editor_pid: int,
    server_launch_mode: str,
) -> str:
    """websocket.py ``websocket_client_proof`` / connection.gd ``_client_proof``.

    ``server_version`` is the one the *challenge* announced: the server
    recomputes with its own version, so they must agree.
    """
    return hmac_proof(
        capability,
        CLIENT_PROOF_DOMAIN,
        (
            WS_PROTOCOL_VERSION,
            client_nonce,
            server_nonce,
            server_version,
            session_id,
            godot_version,
            project_path,
            plugin_version,
            readiness,
            editor_pid,
            server_launch_mode,
        ),
    )


def is_lower_hex_64(value: Any) -> bool:
    """connection.gd ``_is_lower_hex_64``."""
    return isinstance(value, str) and _LOWER_HEX_64.fullmatch(value) is not None


def is_bounded_text(value: Any, max_length: int) -> bool:
    """connection.gd ``_is_bounded_text``: non-empty string of at most ``max_length`` chars."""
    return isinstance(value, str) and 0 < len(value) <= max_length


def _is_protocol_version(value: Any) -> bool:
    # GDScript's JSON parser yields floats, and 2.0 == 2 there; a string "2" is not.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == WS_PROTOCOL_VERSION


def reconnect_delay_for_attempt(attempt_index: int, delays: tuple[float, ...] = RECONNECT_DELAYS) -> float:
    """connection.gd ``_reconnect_delay_for_attempt``: clamp the index to the last delay."""
    return delays[min(attempt_index, len(delays) - 1)]


def should_log_reconnect_transition(
    attempt_number: int, now: float, last_log: float | None, heartbeat: float = RECONNECT_LOG_HEARTBEAT_SEC
) -> bool:
    """connection.gd ``_should_log_reconnect_transition`` (v4): first 5, then one per heartbeat."""
    return (
        attempt_number <= RECONNECT_VERBOSE_ATTEMPTS
        or last_log is None
        or now - last_log >= heartbeat
    )


def legacy_should_log_reconnect_attempt(attempt_number: int) -> bool:
    """v2.4.2 connection.gd ``_should_log_reconnect_attempt``: first 5, then every 10th."""
    return (
        attempt_number <= RECONNECT_VERBOSE_ATTEMPTS
        or attempt_number % LEGACY_RECONNECT_LOG_EVERY_N_ATTEMPTS == 0
    )


def should_regenerate_session_id(close_code: int | None, server_verified: bool, handshake_complete: bool) -> bool:
    """connection.gd ``_should_regenerate_session_id``.

    A 4001 arrives after the server proved the capability but before the ACK;
    only then does the editor mint a fresh session id (an unauthenticated
    listener cannot churn the editor identity).
    """
    return close_code == CLOSE_CODE_DUPLICATE_SESSION and server_verified and not handshake_complete


def slugify(text: str) -> str:
    """connection.gd ``_slugify``: lowercase ASCII alnum, runs of others become one dash."""
    out = ""
    prev_dash = False
    for ch in text.lower():
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            out += ch
            prev_dash = False
        elif not prev_dash and out:
            out += "-"
            prev_dash = True
    return out.removesuffix("-")


def make_session_id(project_path: str) -> str:
    """connection.gd ``_make_session_id``: ``<slug of project dir>@<16 hex>``."""
    base = os.path.basename(project_path.rstrip("/\\")) or "project"
    slug = slugify(base) or "project"
    return f"{slug}@{secrets.token_hex(8)}"


@dataclass(frozen=True)
class CapabilityRecord:
    """capability.py ``CapabilityRecord`` (``http-<port>.json``)."""

    http: str
    websocket: str
    instance_nonce: str


def capability_record_path(capability_dir: str | os.PathLike[str], http_port: int) -> Path:
    """capability.py ``record_path``: ``<dir>/http-<port>.json``."""
    return Path(capability_dir) / f"http-{int(http_port)}.json"


def read_capability_record(capability_dir: str | os.PathLike[str], http_port: int) -> tuple[CapabilityRecord | None, str]:
    """Read and validate the server's capability record like capability.py ``read_capabilities``.

    Returns ``(record, "")`` or ``(None, reason)``.  Checks: private directory
    and file owned by this user (no group/other bits), regular non-link file,
    at most 1 KiB plus one trailing newline, exactly the four keys,
    ``version == 1`` and a 64-lowercase-hex ``websocket`` capability.
    """
    path = capability_record_path(capability_dir, http_port)
    try:
        dir_info = path.parent.lstat()
        if not stat.S_ISDIR(dir_info.st_mode):
            return None, f"{path.parent} is not a directory"
        if dir_info.st_uid != os.getuid() or stat.S_IMODE(dir_info.st_mode) & 0o077:
            return None, f"{path.parent} is not a private directory of this user"
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None, f"{path} is not a regular file"
            if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
                return None, f"{path} is not private"
            raw = handle.read(_RECORD_MAX_BYTES + 2)
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except OSError as exc:
        return None, f"{path}: {exc}"
    if len(raw) > _RECORD_MAX_BYTES + 1:
        return None, f"{path} is larger than {_RECORD_MAX_BYTES} bytes"
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    try:
        pairs = json.loads(raw.decode("ascii"), object_pairs_hook=list)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path}: invalid JSON ({exc})"
    if not isinstance(pairs, list):
        return None, f"{path}: not a JSON object"
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)) or frozenset(keys) != _RECORD_KEYS:
        return None, f"{path}: keys {sorted(keys)} are not {sorted(_RECORD_KEYS)}"
    payload = dict(pairs)
    if type(payload["version"]) is not int or payload["version"] != 1:
        return None, f"{path}: unsupported record version {payload['version']!r}"
    if not is_lower_hex_64(payload["websocket"]):
        return None, f"{path}: websocket capability is not 64 lowercase hex digits"
    if not isinstance(payload["http"], str) or not isinstance(payload["instance_nonce"], str):
        return None, f"{path}: http/instance_nonce are not strings"
    return CapabilityRecord(payload["http"], payload["websocket"], payload["instance_nonce"]), ""


# --------------------------------------------------------------------------
# A tiny editor model: the state the handlers and events read.
# --------------------------------------------------------------------------


@dataclass
class SimNode:
    """A scene-tree node: what ``get_scene_tree`` walks."""

    name: str
    type: str
    children: list["SimNode"] = field(default_factory=list)


def default_scene_root() -> SimNode:
    return SimNode(
        "Main",
        "Node3D",
        [
            SimNode("Camera3D", "Camera3D"),
            SimNode("Player", "CharacterBody3D", [SimNode("Mesh", "MeshInstance3D")]),
        ],
    )


@dataclass
class EditorModel:
    """What EditorInterface would report.  Mutate through ``EditorSimulator`` so events go out."""

    project_name: str
    scene_path: str = ""  # edited scene's scene_file_path ("" = unsaved)
    scene_root: SimNode | None = None  # None = no scene open
    open_scenes: list[str] = field(default_factory=list)
    playing: bool = False
    importing: bool = False  # EditorFileSystem.is_scanning()
    selection: list[str] = field(default_factory=list)  # clean scene paths ("/Main/Player")
    game_run_token: int = 0

    def readiness(self) -> str:
        """connection.gd ``get_readiness``: importing > playing > no_scene > ready."""
        if self.importing:
            return "importing"
        if self.playing:
            return "playing"
        if self.scene_root is None:
            return "no_scene"
        return "ready"

    def current_scene(self) -> str:
        """connection.gd ``_get_current_scene_path``."""
        return self.scene_path if self.scene_root is not None else ""


# --------------------------------------------------------------------------
# The simulator.
# --------------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], Union[dict[str, Any], Awaitable[dict[str, Any]]]]


class _HandshakeFailed(Exception):
    """The editor aborts the socket itself (connection.gd ``_fail_handshake``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class EditorSimulator:
    """One simulated Godot editor with the godot-ai v4 plugin enabled.

    Observable facts for tests (all append-only lists of dicts unless noted):

    * ``connected`` (``asyncio.Event``): set while authenticated;
    * ``connect_count`` (int): authenticated handshakes so far;
    * ``dials``: every socket attempt (``kind`` "initial" or "reconnect",
      ``outcome`` "refused"/"open", ``local_port`` of the fresh socket);
    * ``reconnect_attempts``: ``{attempt, delay, waited, logged, t}`` —
      ``delay`` is the back-off the plugin arms at that attempt (applied
      before the next one if this one fails), ``waited`` the pause that
      preceded it;
    * ``commands``: ``{request_id, command, params, status, t}``;
    * ``close_events``: ``{code, reason, initiator ("server"|"editor"|"none"),
      authenticated, server_verified, session_id, t}``;
    * ``events_sent``: ``{event, data, t}``;
    * ``challenges``: ``{server_version, server_proof_valid, t}`` per challenge;
    * ``session_ids``: every id used (a 4001 mints a new one, like the plugin);
    * ``last_record`` / ``last_record_error``: the capability record read at
      the latest socket open;
    * ``log_lines``: the plugin log buffer (``logs_read`` source="plugin").

    ``wait_for`` / ``wait_connected`` / ``wait_disconnected`` /
    ``wait_close_code`` wait on these with a deadline.

    ``time_scale`` multiplies the reconnect delays and the log heartbeat;
    leave it at 1.0 for the plugin's real schedule.  ``verify_server_proof``
    and ``capability`` exist so tests can provoke the server's own 4003; the
    real plugin always verifies and always uses the record.
    """

    def __init__(
        self,
        ws_url: str,
        *,
        capability_dir: str | os.PathLike[str],
        http_port: int,
        session_id: str | None = None,
        project_path: str = "/tmp/godot-sim/sim_project/",
        godot_version: str = DEFAULT_GODOT_VERSION,
        plugin_version: str = DEFAULT_PLUGIN_VERSION,
        server_launch_mode: str = DEFAULT_LAUNCH_MODE,
        editor_pid: int | None = None,
        project_name: str | None = None,
        scene_path: str | None = "res://main.tscn",
        time_scale: float = 1.0,
        log_policy: str = "heartbeat",
        capability: str | None = None,
        verify_server_proof: bool = True,
        regenerate_session_id_on_duplicate: bool = True,
        stamp_error_watermark: bool = True,
        on_fact: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if log_policy not in ("heartbeat", "every_10th"):
            raise ValueError("log_policy must be 'heartbeat' (v4 plugin) or 'every_10th' (v2 plugin)")
        self.ws_url = ws_url
        self.capability_dir = Path(capability_dir)
        self.http_port = int(http_port)
        # ProjectSettings.globalize_path("res://") ends with a slash.
        self.project_path = project_path if project_path.endswith("/") else project_path + "/"
        self.session_id = session_id or make_session_id(self.project_path)
        self.godot_version = godot_version
        self.plugin_version = plugin_version
        self.server_launch_mode = server_launch_mode
        self.editor_pid = os.getpid() if editor_pid is None else int(editor_pid)
        self.time_scale = float(time_scale)
        self.reconnect_delays = tuple(d * self.time_scale for d in RECONNECT_DELAYS)
        self.log_heartbeat = RECONNECT_LOG_HEARTBEAT_SEC * self.time_scale
        self.log_policy = log_policy
        self.capability_override = capability
        self.verify_server_proof = verify_server_proof
        self.regenerate_session_id_on_duplicate = regenerate_session_id_on_duplicate
        self.stamp_error_watermark = stamp_error_watermark
        self.on_fact = on_fact

        name = project_name or os.path.basename(self.project_path.rstrip("/")) or "project"
        self.model = EditorModel(project_name=name)
        if scene_path is not None:
            self.model.scene_path = scene_path
            self.model.scene_root = default_scene_root()
            self.model.open_scenes = [scene_path]

        # Observable facts.
        self.connected = asyncio.Event()
        self.connect_count = 0
        self.dials: list[dict[str, Any]] = []
        self.reconnect_attempts: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.close_events: list[dict[str, Any]] = []
        self.events_sent: list[dict[str, Any]] = []
        self.log_lines: list[str] = []
        self.challenges: list[dict[str, Any]] = []
        self.session_ids: list[str] = [self.session_id]
        self.server_version = ""  # from the verified challenge, "" until the ACK
        self.last_record: CapabilityRecord | None = None
        self.last_record_error = ""

        # connection.gd per-connection state.
        self._ws: ClientConnection | None = None
        self._reconnect_attempt = 0
        self._reconnect_timer = 0.0
        self._last_log_time: float | None = None
        self._server_verified = False
        self._auth_response_sent = False
        self._handshake_complete = False
        self._last_scene_path = ""
        self._last_play_state = False
        self._last_readiness = ""
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._t0 = time.monotonic()

        self._handlers: dict[str, Handler] = {
            "get_editor_state": self._cmd_get_editor_state,
            "get_selection": self._cmd_get_selection,
            "get_scene_tree": self._cmd_get_scene_tree,
            "get_open_scenes": self._cmd_get_open_scenes,
            "get_logs": self._cmd_get_logs,
        }

    # ------------------------------------------------------------------ API

    async def start(self) -> "EditorSimulator":
        """Enable the plugin: dial now and keep reconnecting until ``stop``."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"editor-sim {self.session_id}")
        return self

    async def stop(self) -> None:
        """Disable the plugin: close with 1000 "Plugin unloading" and stop reconnecting."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            try:
                await ws.close(1000, "Plugin unloading")
            except Exception:  # noqa: BLE001 - best effort on teardown
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None

    async def __aenter__(self) -> "EditorSimulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def register(self, command: str, handler: Handler) -> None:
        """Add or replace a command handler.

        A handler gets the params (plus ``_request_id``, as dispatcher.gd
        threads it) and returns the plugin's handler shape: ``{"data": {...}}``
        on success or ``ErrorCodes.make(...)`` on failure.  It may be async.
        """
        self._handlers[command] = handler

    def unregister(self, command: str) -> None:
        self._handlers.pop(command, None)

    @property
    def authenticated(self) -> bool:
        return self._handshake_complete

    def readiness(self) -> str:
        return self.model.readiness()

    async def set_scene(self, path: str | None, root: SimNode | None = None) -> None:
        """Open ``path`` as the edited scene (``None`` closes every scene)."""
        if path is None:
            self.model.scene_root = None
            self.model.scene_path = ""
            self.model.open_scenes = []
            self.model.selection = []
        else:
            self.model.scene_path = path
            self.model.scene_root = root or default_scene_root()
            if path and path not in self.model.open_scenes:
                self.model.open_scenes.append(path)
        await self._check_state_changes()

    async def set_playing(self, playing: bool) -> None:
        """Press Play / Stop (drives play_state_changed and readiness_changed)."""
        if playing and not self.model.playing:
            self.model.game_run_token += 1
        self.model.playing = bool(playing)
        await self._check_state_changes()

    async def set_importing(self, importing: bool) -> None:
        """Start / finish a filesystem scan (readiness "importing")."""
        self.model.importing = bool(importing)
        await self._check_state_changes()

    async def set_selection(self, paths: list[str]) -> None:
        self.model.selection = list(paths)

    async def send_event(self, event: str, data: dict[str, Any] | None = None) -> bool:
        """Send a raw ``{"type": "event", ...}`` frame; False unless authenticated (like ``send_event``)."""
        payload = {"type": "event", "event": event, "data": data or {}}
        if not await self._send_json(payload):
            return False
        self._fact("event_sent", event=event, data=payload["data"])
        self.events_sent.append({"event": event, "data": payload["data"], "t": self._now()})
        self._notify()
        return True

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
        """Wait until ``predicate()`` holds, re-checking on every recorded fact; raise on deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            change = self._change
            if predicate():
                return
            if self._task is not None and self._task.done() and not self._task.cancelled():
                error = self._task.exception()
                if error is not None:
                    raise RuntimeError(f"editor sim {self.session_id} crashed") from error
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"editor sim {self.session_id}: timed out after {timeout}s waiting for {what}")
            try:
                await asyncio.wait_for(change.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def wait_connected(self, timeout: float, count: int = 1) -> None:
        """Wait until authenticated and at least ``count`` handshakes have completed."""
        await self.wait_for(
            lambda: self._handshake_complete and self.connect_count >= count,
            timeout,
            f"authenticated connection #{count}",
        )

    async def wait_disconnected(self, timeout: float) -> None:
        await self.wait_for(lambda: not self._handshake_complete, timeout, "disconnect")

    async def wait_close_code(self, code: int, timeout: float, initiator: str | None = None) -> dict[str, Any]:
        """Wait for a close with ``code`` (optionally from ``initiator``); return that close event."""
        def match() -> dict[str, Any] | None:
            for event in self.close_events:
                if event["code"] == code and (initiator is None or event["initiator"] == initiator):
                    return event
            return None

        await self.wait_for(lambda: match() is not None, timeout, f"close code {code}")
        result = match()
        assert result is not None
        return result

    def facts(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of everything recorded so far."""
        return {
            "session_id": self.session_id,
            "session_ids": list(self.session_ids),
            "authenticated": self._handshake_complete,
            "connect_count": self.connect_count,
            "server_version": self.server_version,
            "readiness": self.readiness(),
            "dials": list(self.dials),
            "reconnect_attempts": list(self.reconnect_attempts),
            "challenges": list(self.challenges),
            "commands": list(self.commands),
            "close_events": list(self.close_events),
            "events_sent": list(self.events_sent),
            "log_lines": list(self.log_lines),
        }

    # ------------------------------------------------------ reconnect loop

    async def _run(self) -> None:
        # _ready(): the first dial is not a reconnect attempt.
        await self._dial("initial")
        while not self._stopping:
            # STATE_CLOSED: `_reconnect_timer -= delta` until <= 0, then
            # `_attempt_reconnect()`.  The timer only runs while CLOSED, so the
            # wait starts when the previous socket failed or closed.  After an
            # authenticated session drops, whatever the attempt that connected
            # armed is still on the timer (0 if the initial dial connected).
            waited = max(0.0, self._reconnect_timer)
            if waited:
                await asyncio.sleep(waited)
            if self._stopping:
                break
            self._reconnect_timer = 0.0
            self._attempt_reconnect(waited)
            await self._dial("reconnect")

    def _attempt_reconnect(self, waited: float) -> None:
        """connection.gd ``_attempt_reconnect`` (minus the socket, opened by ``_dial``)."""
        delay = reconnect_delay_for_attempt(self._reconnect_attempt, self.reconnect_delays)
        self._reconnect_attempt += 1
        self._reconnect_timer = delay
        logged = self._log_reconnect_transition(
            f"connecting to server (attempt {self._reconnect_attempt})", self._reconnect_attempt
        )
        record = {
            "attempt": self._reconnect_attempt,
            "delay": delay,
            "waited": waited,
            "logged": logged,
            "t": self._now(),
        }
        self.reconnect_attempts.append(record)
        self._fact("reconnect_attempt", **record)
        self._notify()

    def _log_reconnect_transition(self, message: str, attempt_number: int, force: bool = False) -> bool:
        """connection.gd ``_log_reconnect_transition``; returns whether the line was logged."""
        now = time.monotonic()
        if not force:
            if self.log_policy == "every_10th":
                allowed = legacy_should_log_reconnect_attempt(attempt_number)
            else:
                allowed = should_log_reconnect_transition(
                    attempt_number, now, self._last_log_time, self.log_heartbeat
                )
            if not allowed:
                return False
        self._last_log_time = now
        self._log(message)
        return True

    async def _dial(self, kind: str) -> None:
        """One fresh socket (connection.gd builds a new WebSocketPeer per attempt) and its whole life."""
        dial = {"kind": kind, "attempt": self._reconnect_attempt, "t": self._now(), "session_id": self.session_id}
        self.dials.append(dial)
        started = time.monotonic()
        try:
            # Godot's WebSocketPeer: no Origin, no compression, no client pings
            # (heartbeat off); it still answers the server's keepalive pings.
            ws = await connect(
                self.ws_url,
                max_size=MAX_HANDSHAKE_FRAME_BYTES,  # inbound_buffer_size before the server proof
                compression=None,
                ping_interval=None,
                open_timeout=10,
                close_timeout=1,
                user_agent_header=None,
                proxy=None,
            )
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            dial["outcome"] = "refused"
            dial["error"] = f"{type(exc).__name__}: {exc}"
            self._fact("dial", **dial)
            retry = self._reconnect_timer
            retry_text = f"retrying in {retry:.0f}s" if retry > 0 else "retrying now"
            failed_attempt = max(1, self._reconnect_attempt)
            self._log_reconnect_transition(
                f"connection attempt {failed_attempt} failed before OPEN after "
                f"{time.monotonic() - started:.1f}s; {retry_text} (code -1, reason <none>, url {self.ws_url})",
                failed_attempt,
            )
            self._notify()
            return

        dial["outcome"] = "open"
        dial["local_port"] = ws.local_address[1] if ws.local_address else None
        self._fact("dial", **dial)
        self._ws = ws
        opened = time.monotonic()
        self._log("connected to server; authenticating")
        initiator = "none"
        was_authenticated = False
        server_was_verified = False
        try:
            try:
                await self._handshake(ws)
                await self._serve(ws)
            except _HandshakeFailed as exc:
                # connection.gd _fail_handshake: log, then the editor closes.
                self._log(f"v4 websocket handshake failed: {exc.reason}")
                initiator = "editor"
                await ws.close(exc.code, exc.reason)
            except ConnectionClosed:
                pass
        finally:
            was_authenticated = self._handshake_complete
            server_was_verified = self._server_verified
            self._ws = None
            code = ws.close_code
            reason = ws.close_reason or ""
            protocol = ws.protocol
            if initiator == "none":
                if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent is not False:
                    initiator = "server"
                elif protocol.close_sent is not None:
                    initiator = "editor"
            self._clear_on_disconnect()
            close = {
                "code": code,
                "reason": reason,
                "initiator": initiator,
                "authenticated": was_authenticated,
                "server_verified": server_was_verified,
                "session_id": self.session_id,
                "t": self._now(),
            }
            self.close_events.append(close)
            self._fact("close", **close)
            if self.regenerate_session_id_on_duplicate and should_regenerate_session_id(
                code, server_was_verified, was_authenticated
            ):
                self.session_id = make_session_id(self.project_path)
                self.session_ids.append(self.session_id)
                self._fact("session_id_regenerated", session_id=self.session_id)
            if not self._stopping:
                self._log_reconnect_transition(
                    f"connection lost after being open for {time.monotonic() - opened:.1f}s "
                    f"(code {code}, reason {reason or '<none>'}, url {self.ws_url}); reconnecting",
                    max(1, self._reconnect_attempt),
                    force=True,
                )
            self._notify()

    def _clear_on_disconnect(self) -> None:
        """connection.gd ``_clear_on_disconnect``."""
        if self._handshake_complete:
            self.connected.clear()
            self._fact("disconnected", session_id=self.session_id)
        self.server_version = ""
        self._server_verified = False
        self._auth_response_sent = False
        self._handshake_complete = False

    # ----------------------------------------------------------- handshake

    async def _handshake(self, ws: ClientConnection) -> None:
        """auth_hello -> auth_challenge -> auth_response -> handshake_ack, within 5 s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDSHAKE_TIMEOUT_SEC

        # The capability is read from the server's private record on every
        # (re)connect; a missing/invalid record fails closed the way
        # connection.gd `_send_auth_hello` does with an empty auth_token.
        record, error = read_capability_record(self.capability_dir, self.http_port)
        self.last_record, self.last_record_error = record, error
        capability = self.capability_override if self.capability_override is not None else (
            record.websocket if record else ""
        )
        if not is_lower_hex_64(capability):
            raise _HandshakeFailed(
                CLOSE_CODE_AUTH_FAILED, "missing v4 editor capability; restart the managed server from Godot"
            )

        client_nonce = secrets.token_hex(32)
        await self._send_json(
            {"type": "auth_hello", "protocol_version": WS_PROTOCOL_VERSION, "client_nonce": client_nonce},
            allow_pre_auth=True,
        )
        challenged_version = ""
        while not self._handshake_complete:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "v4 editor handshake timed out")
            try:
                raw = await asyncio.wait_for(ws.recv(), remaining)
            except asyncio.TimeoutError:
                raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "v4 editor handshake timed out") from None
            kind, parsed = self._classify(raw, pre_auth=True)
            if kind == "challenge":
                challenged_version = await self._handle_auth_challenge(parsed, capability, client_nonce)
            elif kind == "ack":
                self._handle_handshake_ack(parsed, challenged_version)
            else:
                raise _HandshakeFailed(
                    CLOSE_CODE_PROTOCOL_MISMATCH, "Godot AI v4 expected auth_challenge or handshake_ack"
                )

    async def _handle_auth_challenge(self, parsed: dict[str, Any], capability: str, client_nonce: str) -> str:
        """connection.gd ``_handle_auth_challenge`` + ``_build_auth_response``."""
        if self._server_verified or not _is_protocol_version(parsed.get("protocol_version")):
            raise _HandshakeFailed(
                CLOSE_CODE_PROTOCOL_MISMATCH, f"Godot AI v4 WebSocket protocol {WS_PROTOCOL_VERSION} required"
            )
        expected_keys = {"type", "protocol_version", "client_nonce", "server_nonce", "server_version", "server_proof"}
        if (
            set(parsed) != expected_keys
            or parsed.get("type") != "auth_challenge"
            or parsed.get("client_nonce") != client_nonce
            or not is_lower_hex_64(parsed.get("server_nonce"))
            or not is_lower_hex_64(parsed.get("server_proof"))
            or not is_bounded_text(parsed.get("server_version"), 64)
        ):
            raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "invalid v4 server challenge")
        server_nonce = parsed["server_nonce"]
        server_version = parsed["server_version"]
        expected = server_proof(capability, client_nonce, server_nonce, server_version)
        proof_ok = hmac.compare_digest(parsed["server_proof"], expected)
        challenge = {"server_version": server_version, "server_proof_valid": proof_ok, "t": self._now()}
        self.challenges.append(challenge)
        self._fact("challenge", **challenge)
        if not proof_ok and self.verify_server_proof:
            raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "v4 server proof failed")

        # Only the proven transition unlocks project/session metadata and the
        # normal 4 MiB inbound budget.
        self._server_verified = True
        if self._ws is not None:
            self._ws.protocol.max_message_size = MAX_MESSAGE_BYTES
        self._last_readiness = self.model.readiness()
        response = self._build_auth_response(capability, client_nonce, server_nonce, server_version)
        if not response or not await self._send_json(response, allow_pre_auth=True):
            raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "could not send v4 editor proof")
        self._auth_response_sent = True
        return server_version

    def _build_auth_response(
        self, capability: str, client_nonce: str, server_nonce: str, server_version: str
    ) -> dict[str, Any]:
        if (
            not is_bounded_text(self.session_id, 128)
            or not is_bounded_text(self.godot_version, 64)
            or not is_bounded_text(self.project_path, 4096)
            or not is_bounded_text(self.plugin_version, 64)
            or not is_bounded_text(self.server_launch_mode, 32)
            or self._last_readiness not in READINESS_VALUES
            or self.editor_pid < 0
        ):
            return {}
        proof = client_proof(
            capability,
            client_nonce=client_nonce,
            server_nonce=server_nonce,
            server_version=server_version,
            session_id=self.session_id,
            godot_version=self.godot_version,
            project_path=self.project_path,
            plugin_version=self.plugin_version,
            readiness=self._last_readiness,
            editor_pid=self.editor_pid,
            server_launch_mode=self.server_launch_mode,
        )
        # Exactly these keys: AuthenticatedHandshake forbids extras.
        return {
            "type": "auth_response",
            "protocol_version": WS_PROTOCOL_VERSION,
            "client_nonce": client_nonce,
            "server_nonce": server_nonce,
            "client_proof": proof,
            "session_id": self.session_id,
            "godot_version": self.godot_version,
            "project_path": self.project_path,
            "plugin_version": self.plugin_version,
            "readiness": self._last_readiness,
            "editor_pid": self.editor_pid,
            "server_launch_mode": self.server_launch_mode,
        }

    def _handle_handshake_ack(self, parsed: dict[str, Any], challenged_version: str) -> None:
        """connection.gd ``_handle_handshake_ack``."""
        if (
            self._handshake_complete
            or not self._server_verified
            or not self._auth_response_sent
            or set(parsed) != {"type", "protocol_version", "server_version"}
            or parsed.get("type") != "handshake_ack"
            or not _is_protocol_version(parsed.get("protocol_version"))
            or parsed.get("server_version") != challenged_version
        ):
            raise _HandshakeFailed(CLOSE_CODE_AUTH_FAILED, "invalid v4 handshake ACK")
        self.server_version = challenged_version
        self._handshake_complete = True
        self._reconnect_attempt = 0
        # Re-emit non-default scene/play state once normal frames are legal.
        self._last_scene_path = ""
        self._last_play_state = False
        self.connect_count += 1
        self.connected.set()
        self._log("authenticated with server")
        self._fact("connected", session_id=self.session_id, server_version=self.server_version,
                   connect_count=self.connect_count)
        self._notify()

    # --------------------------------------------------- authenticated loop

    async def _serve(self, ws: ClientConnection) -> None:
        await self._check_state_changes()
        async for raw in ws:
            kind, parsed = self._classify(raw, pre_auth=False)
            if kind in ("challenge", "ack"):
                raise _HandshakeFailed(CLOSE_CODE_PROTOCOL_MISMATCH, "unexpected v4 handshake frame")
            if kind == "command":
                await self._dispatch(parsed)
            elif kind == "malformed_command":
                await self._reply_malformed_command(parsed)
            # "ignore": the plugin drops anything else silently.

    def _classify(self, raw: str | bytes, *, pre_auth: bool) -> tuple[str, Any]:
        """connection.gd ``_handle_message`` size check + ``_classify_message``."""
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if pre_auth and len(text.encode("utf-8")) > MAX_HANDSHAKE_FRAME_BYTES:
            raise _HandshakeFailed(CLOSE_CODE_PROTOCOL_MISMATCH, "v4 handshake frame too large")
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            logger.warning("MCP: failed to parse websocket JSON")
            return "ignore", None
        if not isinstance(parsed, dict):
            return "ignore", None
        if parsed.get("type", "") == "auth_challenge":
            return "challenge", parsed
        if parsed.get("type", "") == "handshake_ack":
            return "ack", parsed
        if "request_id" in parsed and "command" in parsed:
            if (
                isinstance(parsed["request_id"], str)
                and isinstance(parsed["command"], str)
                and ("params" not in parsed or isinstance(parsed["params"], dict))
            ):
                return "command", parsed
            return "malformed_command", parsed
        return "ignore", parsed

    async def _dispatch(self, cmd: dict[str, Any]) -> None:
        """dispatcher.gd ``_dispatch``: run the handler, wrap and stamp the reply."""
        request_id: str = cmd["request_id"]
        command: str = cmd["command"]
        raw_params: dict[str, Any] = cmd.get("params", {})
        params = dict(raw_params)
        params["_request_id"] = request_id
        self._log(f"[recv] {command}({json.dumps(raw_params, separators=(',', ':'))})")
        record = {"request_id": request_id, "command": command, "params": raw_params, "t": self._now()}
        self.commands.append(record)

        handler = self._handlers.get(command)
        if handler is None:
            result = ErrorCodes.make(ErrorCodes.UNKNOWN_COMMAND, f"Unknown command: {command}")
        else:
            try:
                result = handler(params)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:  # noqa: BLE001 - a crashed handler is a malformed result
                logger.exception("handler %s crashed", command)
                result = None
            if not isinstance(result, dict) or not ("data" in result or "error" in result):
                result = ErrorCodes.make(
                    ErrorCodes.INTERNAL_ERROR,
                    f"Handler '{command}' returned malformed result — likely a runtime error in the "
                    f"handler (e.g. param type mismatch). Args received: "
                    f"{json.dumps(raw_params)[:400]}",
                )
        response = dict(result)
        response["request_id"] = request_id
        response.setdefault("status", "ok")
        # Every envelope carries live readiness so the server cache self-heals.
        response["readiness"] = self.model.readiness()
        self._stamp_error_watermark(response)
        record["status"] = response["status"]
        if response["status"] == "ok":
            self._log(f"[send] {command} -> ok")
        else:
            self._log(f"[send] {command} -> error: {response.get('error', {}).get('message', 'unknown')}")
        self._fact("command", request_id=request_id, command=command, params=raw_params, status=response["status"])
        self._notify()
        await self._send_json(response)

    async def _reply_malformed_command(self, parsed: dict[str, Any]) -> None:
        """connection.gd ``_reply_malformed_command``."""
        rid = parsed.get("request_id")
        if isinstance(rid, str) and rid:
            response = ErrorCodes.make(
                ErrorCodes.INVALID_PARAMS,
                "Malformed command frame: request_id/command must be strings and params a dict",
            )
            response["request_id"] = rid
            response["readiness"] = self.model.readiness()
            self._stamp_error_watermark(response)
            await self._send_json(response)

    def _stamp_error_watermark(self, response: dict[str, Any]) -> None:
        # McpSurfacedErrorTracker.stamp_watermark: an idle editor has no errors.
        if self.stamp_error_watermark:
            response["error_watermark"] = {key: 0 for key in ERROR_WATERMARK_KEYS}

    async def _check_state_changes(self) -> None:
        """connection.gd ``_check_state_changes`` (the plugin polls it every frame)."""
        if not self._handshake_complete:
            return
        scene_path = self.model.current_scene()
        if scene_path != self._last_scene_path:
            if await self.send_event("scene_changed", {"current_scene": scene_path}):
                self._last_scene_path = scene_path
                self._log(f"[event] scene_changed -> {scene_path}")
        playing = self.model.playing
        if playing != self._last_play_state:
            state = "playing" if playing else "stopped"
            if await self.send_event("play_state_changed", {"play_state": state}):
                self._last_play_state = playing
                self._log(f"[event] play_state_changed -> {state}")
        readiness = self.model.readiness()
        if readiness != self._last_readiness:
            if await self.send_event("readiness_changed", {"readiness": readiness}):
                self._last_readiness = readiness
                self._log(f"[event] readiness -> {readiness}")

    async def _send_json(self, payload: dict[str, Any], allow_pre_auth: bool = False) -> bool:
        """connection.gd ``_send_json``: nothing leaves before authentication except handshake frames."""
        ws = self._ws
        if ws is None or (not self._handshake_complete and not allow_pre_auth):
            return False
        text = json.dumps(payload, separators=(",", ":"))
        if allow_pre_auth and len(text.encode("utf-8")) > MAX_HANDSHAKE_FRAME_BYTES:
            return False
        try:
            await ws.send(text)
        except ConnectionClosed:
            return False
        return True

    # ------------------------------------------------------------ handlers

    def _game_status(self) -> dict[str, Any]:
        """mcp_debugger_plugin.gd ``get_game_status`` + ``with_liveness_flags``.

        Simplification: a playing editor's game helper is live at once.
        """
        playing = self.model.playing
        status = "live" if playing else "stopped"
        return {
            "status": status,
            "run_token": self.model.game_run_token,
            "active": playing,
            "ready": playing,
            "helper_expected": True,
            "run_started_msec": 0,
            "elapsed_msec": 0,
            "ready_wait_msec": GAME_READY_WAIT_MSEC,
            "editor_log_cursor": 0,
            "helper_live": status == "live",
            "session_active": status not in ("not_live", "stopped"),
        }

    def _cmd_get_editor_state(self, _params: dict[str, Any]) -> dict[str, Any]:
        """editor_handler.gd ``get_editor_state``."""
        game_status = self._game_status()
        return {
            "data": {
                "godot_version": self.godot_version,
                "project_name": self.model.project_name,
                "current_scene": self.model.current_scene(),
                "is_playing": self.model.playing,
                "readiness": self.model.readiness(),
                "game_capture_ready": bool(game_status["ready"]),
                "game_status": game_status,
                "helper_live": bool(game_status["helper_live"]),
                "session_active": bool(game_status["session_active"]),
            }
        }

    def _cmd_get_selection(self, _params: dict[str, Any]) -> dict[str, Any]:
        """editor_handler.gd ``get_selection``."""
        paths = list(self.model.selection)
        return {"data": {"selected_paths": paths, "count": len(paths)}}

    def _cmd_get_open_scenes(self, _params: dict[str, Any]) -> dict[str, Any]:
        """scene_handler.gd ``get_open_scenes``."""
        scenes = list(self.model.open_scenes)
        return {"data": {"scenes": scenes, "current_scene": self.model.current_scene(), "count": len(scenes)}}

    def _cmd_get_scene_tree(self, params: dict[str, Any]) -> dict[str, Any]:
        """scene_handler.gd ``get_scene_tree``: DFS window over ``depth``/``offset``/``limit``."""
        max_depth = int(params.get("depth", 10))
        offset = max(0, int(params.get("offset", 0)))
        limit = int(params.get("limit", 0))  # <= 0: no limit
        root = self.model.scene_root
        if root is None:
            return {"data": {"nodes": [], "total_count": 0, "offset": offset, "limit": limit,
                             "has_more": False, "message": "No scene open"}}
        nodes: list[dict[str, Any]] = []
        index = 0

        def walk(node: SimNode, depth: int, path: str) -> None:
            nonlocal index
            if depth > max_depth:
                return
            idx = index
            index += 1
            if idx >= offset and (limit <= 0 or idx < offset + limit):
                nodes.append({"name": node.name, "type": node.type, "path": path,
                              "children_count": len(node.children)})
            for child in node.children:
                walk(child, depth + 1, f"{path}/{child.name}")

        walk(root, 0, "/" + root.name)  # McpScenePath: "/Main", "/Main/Player"
        return {"data": {"nodes": nodes, "total_count": index, "offset": offset, "limit": limit,
                         "has_more": limit > 0 and offset + limit < index}}

    def _cmd_get_logs(self, params: dict[str, Any]) -> dict[str, Any]:
        """editor_handler.gd ``get_logs``: the plugin ring; game/editor buffers are empty here."""
        count = max(0, int(params.get("count", 50)))
        offset = max(0, int(params.get("offset", 0)))
        source = str(params.get("source", "plugin"))
        if source not in ("plugin", "game", "editor", "all"):
            return ErrorCodes.make(
                ErrorCodes.VALUE_OUT_OF_RANGE,
                f"Invalid source '{source}' — use 'plugin', 'game', 'editor', or 'all'",
            )
        lines = [{"source": "plugin", "level": "info", "text": text} for text in self.log_lines]
        if source in ("game", "editor"):
            lines = []
        page = lines[offset:offset + count]
        data: dict[str, Any] = {"source": source, "lines": page, "total_count": len(lines),
                                "returned_count": len(page), "offset": offset}
        if source in ("game", "all"):
            game_status = self._game_status()
            data.update({"run_id": "", "current_run_id": "", "is_running": game_status["session_active"],
                         "helper_live": game_status["helper_live"],
                         "session_active": game_status["session_active"],
                         "game_status": game_status, "dropped_count": 0})
            if source == "game":
                data["stale_run_id"] = False
        return {"data": data}

    # ------------------------------------------------------------- plumbing

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 4)

    def _notify(self) -> None:
        """Wake every ``wait_for``."""
        self._change.set()
        self._change = asyncio.Event()

    def _log(self, line: str) -> None:
        """McpLogBuffer.log: the ring ``logs_read(source="plugin")`` reads."""
        self.log_lines.append(line)
        logger.info("[%s] %s", self.session_id, line)

    def _fact(self, fact: str, /, **fields: Any) -> None:
        """Report one observable fact to ``on_fact`` (the CLI prints it as a JSON line)."""
        if self.on_fact is not None:
            try:
                self.on_fact({"fact": fact, "t": self._now(), **fields})
            except Exception:  # noqa: BLE001 - a reporting hook must not break the sim
                logger.exception("on_fact hook failed")


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

_CLI_HELP = """\
stdout: one JSON object per line per observable fact ("fact": dial,
reconnect_attempt, challenge, connected, disconnected, close, command,
event_sent, session_id_regenerated, facts).

stdin control lines (JSON objects, or the bare words in brackets):
  {"op": "scene", "path": "res://level.tscn"}   open a scene
  {"op": "close_scene"}                          close every scene (no_scene)
  {"op": "play"} [play] / {"op": "stop_play"} [stop_play]
  {"op": "importing", "value": true|false}
  {"op": "select", "paths": ["/Main/Player"]}
  {"op": "event", "event": "scene_changed", "data": {...}}   raw event frame
  {"op": "facts"} [facts]                        print a full facts snapshot
  {"op": "quit"} [quit]                          close (1000) and exit
SIGINT/SIGTERM also close and exit.
"""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Simulated Godot editor (godot-ai v4 plugin, WebSocket protocol 2).",
        epilog=_CLI_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ws-port", type=int, help="editor WebSocket port (dials ws://127.0.0.1:PORT)")
    parser.add_argument("--ws-url", help="full WebSocket URL instead of --ws-port")
    parser.add_argument("--http-port", type=int, required=True, help="server HTTP port: names the http-PORT.json record")
    parser.add_argument("--capability-dir", required=True, help="GODOT_AI_CAPABILITY_DIR of the server")
    parser.add_argument("--session-id", help="default: <project dir slug>@<16 hex>, like the plugin")
    parser.add_argument("--project-path", default="/tmp/godot-sim/sim_project/")
    parser.add_argument("--project-name")
    parser.add_argument("--godot-version", default=DEFAULT_GODOT_VERSION)
    parser.add_argument("--plugin-version", default=DEFAULT_PLUGIN_VERSION)
    parser.add_argument("--server-launch-mode", default=DEFAULT_LAUNCH_MODE)
    parser.add_argument("--editor-pid", type=int, help="default: this process's pid")
    parser.add_argument("--scene", default="res://main.tscn", help="edited scene at start; '' for no scene")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply the reconnect delays and log heartbeat (tests only; default 1 = plugin)")
    parser.add_argument("--log-policy", choices=("heartbeat", "every_10th"), default="heartbeat",
                        help="reconnect log throttle: v4 plugin heartbeat (default) or v2 every 10th attempt")
    parser.add_argument("--capability", help="use this ws capability instead of the record (tests only)")
    parser.add_argument("--no-verify-server-proof", action="store_true",
                        help="answer even a wrong server proof, to see the server's 4003 (tests only)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the plugin ring to stderr")
    args = parser.parse_args(argv)
    if not args.ws_url and not args.ws_port:
        parser.error("one of --ws-port or --ws-url is required")
    return args


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Daemon thread: forward stdin lines to the loop (None on EOF)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _apply_control(sim: EditorSimulator, line: str) -> bool:
    """Apply one stdin control line; return False to quit."""
    line = line.strip()
    if not line:
        return True
    try:
        ctl = json.loads(line) if line.startswith("{") else {"op": line}
    except json.JSONDecodeError as exc:
        _emit({"fact": "control_error", "line": line, "error": str(exc)})
        return True
    op = ctl.get("op")
    if op == "scene":
        await sim.set_scene(str(ctl.get("path", "")))
    elif op == "close_scene":
        await sim.set_scene(None)
    elif op == "play":
        await sim.set_playing(True)
    elif op == "stop_play":
        await sim.set_playing(False)
    elif op == "importing":
        await sim.set_importing(bool(ctl.get("value", True)))
    elif op == "select":
        await sim.set_selection([str(p) for p in ctl.get("paths", [])])
    elif op == "event":
        ok = await sim.send_event(str(ctl.get("event", "")), ctl.get("data") or {})
        if not ok:
            _emit({"fact": "control_error", "line": line, "error": "not authenticated"})
    elif op == "facts":
        _emit({"fact": "facts", **sim.facts()})
    elif op == "quit":
        return False
    else:
        _emit({"fact": "control_error", "line": line, "error": f"unknown op {op!r}"})
    return True


async def _cli_main(args: argparse.Namespace) -> int:
    ws_url = args.ws_url or f"ws://127.0.0.1:{args.ws_port}"
    sim = EditorSimulator(
        ws_url,
        capability_dir=args.capability_dir,
        http_port=args.http_port,
        session_id=args.session_id,
        project_path=args.project_path,
        project_name=args.project_name,
        godot_version=args.godot_version,
        plugin_version=args.plugin_version,
        server_launch_mode=args.server_launch_mode,
        editor_pid=args.editor_pid,
        scene_path=args.scene or None,
        time_scale=args.time_scale,
        log_policy=args.log_policy,
        capability=args.capability,
        verify_server_proof=not args.no_verify_server_proof,
        on_fact=_emit,
    )
    loop = asyncio.get_running_loop()
    quit_event = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, quit_event.set)
    controls: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_stdin_lines, args=(loop, controls), daemon=True).start()

    async def control_loop() -> None:
        while True:
            line = await controls.get()
            if line is None:  # EOF: keep running until a signal
                return
            if not await _apply_control(sim, line):
                quit_event.set()
                return

    await sim.start()
    control_task = asyncio.create_task(control_loop())
    await quit_event.wait()
    control_task.cancel()
    await sim.stop()
    _emit({"fact": "facts", **sim.facts()})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    return asyncio.run(_cli_main(args))


if __name__ == "__main__":
    sys.exit(main())
