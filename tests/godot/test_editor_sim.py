"""The editor simulator against the REAL godot-ai 4.3.1 server (no bridgedock).

Run (from the repository root):

    /root/.cache/bridgedock/test-venv/bin/python -m pytest tests/godot -v

The module fixture starts ``uvx --from godot-ai==4.3.1 godot-ai`` in its own
process group (``start_new_session=True`` is ``setsid``) on free ports with
fixed capabilities, and kills the group afterwards.  Every wait is a deadline
on an observable condition; no sleep is an assertion.

Environment knobs: ``GODOT_AI_UVX`` (uvx binary, default the bridgedock
tools venv), ``GODOT_AI_SERVER_START_TIMEOUT`` (seconds, default 180).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
import editor_sim  # noqa: E402
from editor_sim import (  # noqa: E402
    CLOSE_CODE_AUTH_FAILED,
    CLOSE_CODE_DUPLICATE_SESSION,
    CLOSE_CODE_PROTOCOL_MISMATCH,
    RECONNECT_DELAYS,
    EditorSimulator,
    read_capability_record,
)

UVX = os.environ.get(
    "GODOT_AI_UVX",
    str(
        Path(os.environ.get("BRIDGEDOCK_SERVERS_VENV", Path.home() / ".cache" / "bridgedock" / "servers-venv"))
        / "bin"
        / "uvx"
    ),
)
SERVER_PACKAGE = "godot-ai==4.3.1"
SERVER_START_TIMEOUT = float(os.environ.get("GODOT_AI_SERVER_START_TIMEOUT", "180"))
# This registry lacks certifi 2026.10.19, which godot-ai's lock would pick.
UV_OVERRIDES = "certifi>=2026.10.18\n"

SESSION_ID_RE = re.compile(r"^[a-z0-9-]+@[0-9a-f]{16}$")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GodotAIServer:
    """One real godot-ai server process group with fixed ports and capabilities.

    ``restart`` reuses both, which is what the editor plugin sees when the
    server process is replaced.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.capability_dir = root / "caps"  # GODOT_AI_CAPABILITY_DIR: absolute, private (0700)
        self.capability_dir.mkdir(mode=0o700)
        self.capability_dir.chmod(0o700)
        self.http_port = _free_port()
        self.ws_port = _free_port()
        while self.ws_port == self.http_port:
            self.ws_port = _free_port()
        self.http_capability = secrets.token_urlsafe(32)  # 43 url-safe chars
        self.ws_capability = secrets.token_hex(32)  # 64 lowercase hex
        self.overrides = root / "overrides.txt"
        self.overrides.write_text(UV_OVERRIDES)
        self.proc: subprocess.Popen[bytes] | None = None
        self.instance_nonce: str | None = None
        self.start_seconds: list[float] = []
        self.starts = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/mcp"

    def log_tail(self, lines: int = 40) -> str:
        path = self.root / f"server-{self.starts}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> float:
        """Start the server and wait (deadline) until it is ready; return the seconds it took."""
        assert self.proc is None, "already running"
        self.starts += 1
        env = dict(os.environ)
        env.update(
            GODOT_AI_CAPABILITY_DIR=str(self.capability_dir),
            GODOT_AI_HTTP_CAPABILITY=self.http_capability,
            GODOT_AI_WS_TOKEN=self.ws_capability,
            GODOT_AI_DISABLE_TELEMETRY="1",  # telemetry.py: no network
            FASTMCP_CHECK_FOR_UPDATES="off",  # fastmcp banner: no PyPI update check
            FASTMCP_SHOW_SERVER_BANNER="false",
            PATH=f"{Path(UVX).parent}:{env.get('PATH', '')}",
        )
        log = open(self.root / f"server-{self.starts}.log", "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                UVX, "--overrides", str(self.overrides), "--from", SERVER_PACKAGE, "godot-ai",
                "--transport", "streamable-http",
                "--port", str(self.http_port),
                "--ws-port", str(self.ws_port),
                "--pid-file", str(self.root / "server.pid"),
                "--startup-report", str(self.root / "startup-report.json"),
            ],
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: its own process group, killed as a whole
        )
        log.close()
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        took = time.monotonic() - started
        self.start_seconds.append(took)
        return took

    def _wait_ready(self, started: float) -> None:
        """Deadline wait: a fresh capability record, then an authenticated /godot-ai/status."""
        previous_nonce = self.instance_nonce
        deadline = started + SERVER_START_TIMEOUT
        headers = {"Authorization": f"Bearer {self.http_capability}"}
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    report = self.root / "startup-report.json"
                    raise RuntimeError(
                        f"godot-ai exited with {self.proc.returncode}\n"
                        f"{report.read_text() if report.exists() else ''}\n{self.log_tail()}"
                    )
                record, _ = read_capability_record(self.capability_dir, self.http_port)
                if record is not None and record.instance_nonce != previous_nonce:
                    assert record.websocket == self.ws_capability
                    assert record.http == self.http_capability
                    try:
                        response = client.get(
                            f"http://127.0.0.1:{self.http_port}/godot-ai/status", headers=headers
                        )
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code == 200:
                        status = response.json()
                        assert status["server_version"] == "4.3.1"
                        assert status["ws_port"] == self.ws_port
                        assert status["instance_id"] == record.instance_nonce
                        self.instance_nonce = record.instance_nonce
                        return
                time.sleep(0.2)  # poll interval, not an assertion
        raise TimeoutError(f"godot-ai not ready after {SERVER_START_TIMEOUT}s\n{self.log_tail()}")

    def stop(self) -> None:
        """Kill the whole process group (uvx and the Python server under it)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # Reap any straggler of the group (e.g. the Python child if uvx died first).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart(self) -> float:
        self.stop()
        return self.start()


@pytest.fixture(scope="module")
def server() -> Any:
    root = Path(tempfile.mkdtemp(prefix="godot-sim-"))
    root.chmod(0o700)
    srv = GodotAIServer(root)
    try:
        took = srv.start()
        print(f"\ngodot-ai 4.3.1 ready in {took:.1f}s (http {srv.http_port}, ws {srv.ws_port})")
        yield srv
    finally:
        srv.stop()
        print(f"\ngodot-ai start times: {[round(s, 1) for s in srv.start_seconds]}")
        shutil.rmtree(root, ignore_errors=True)


def _sim(server: GodotAIServer, tmp_path: Path, **kwargs: Any) -> EditorSimulator:
    kwargs.setdefault("project_path", str(tmp_path / "sim_project") + "/")
    return EditorSimulator(
        server.ws_url,
        capability_dir=server.capability_dir,
        http_port=server.http_port,
        **kwargs,
    )


# ----------------------------------------------------------------- MCP side


@asynccontextmanager
async def mcp_client(server: GodotAIServer) -> AsyncIterator[ClientSession]:
    """An AI client: the official SDK over streamable HTTP with the bearer capability."""
    headers = {"Authorization": f"Bearer {server.http_capability}"}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30.0)) as http:
        async with streamable_http_client(server.mcp_url, http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call_tool(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    """Return ``(is_error, payload)``: structured content, else the first text block (JSON if it parses)."""
    result = await session.call_tool(name, arguments)
    if result.structuredContent is not None and not result.isError:
        return False, result.structuredContent
    text = next((block.text for block in result.content if getattr(block, "text", None)), "")
    try:
        return bool(result.isError), json.loads(text)
    except json.JSONDecodeError:
        return bool(result.isError), text


async def list_sessions(session: ClientSession) -> dict[str, dict[str, Any]]:
    """``session_manage(op="list")`` (tools/session.py) keyed by session id."""
    is_error, payload = await call_tool(session, "session_manage", {"op": "list"})
    assert not is_error, payload
    return {entry["session_id"]: entry for entry in payload["sessions"]}


async def wait_session(
    session: ClientSession, session_id: str, timeout: float, **expected: Any
) -> dict[str, Any]:
    """Deadline-poll the server registry until ``session_id`` is listed with ``expected`` fields."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        last = (await list_sessions(session)).get(session_id)
        if last is not None and all(last.get(key) == value for key, value in expected.items()):
            return last
        await anyio.sleep(0.1)  # poll interval, not an assertion
    raise AssertionError(f"session {session_id} never matched {expected}; last seen {last}")


# ------------------------------------------------------- offline unit tests


def test_transcript_encoding_matches_server_format() -> None:
    # websocket.py _proof_message: domain, then "\n<utf-8 byte length>:<value>" per field.
    message = editor_sim.proof_message("dom", (2, "é", ""))
    assert message == b"dom\n1:2\n2:\xc3\xa9\n0:"


def test_schedule_and_log_rules_mirror_the_plugin() -> None:
    # connection.gd RECONNECT_DELAYS / _reconnect_delay_for_attempt clamp.
    assert RECONNECT_DELAYS == (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
    assert [editor_sim.reconnect_delay_for_attempt(i) for i in range(9)] == [1, 2, 4, 8, 16, 30, 60, 60, 60]
    # v4 _should_log_reconnect_transition: first 5, then one per 60 s heartbeat.
    log = editor_sim.should_log_reconnect_transition
    assert all(log(n, now=100.0, last_log=99.9) for n in range(1, 6))
    assert not log(6, now=100.0, last_log=99.9)
    assert log(6, now=160.0, last_log=100.0)
    assert log(6, now=100.0, last_log=None)
    # v2.4.2 _should_log_reconnect_attempt: first 5, then every 10th.
    legacy = [n for n in range(1, 41) if editor_sim.legacy_should_log_reconnect_attempt(n)]
    assert legacy == [1, 2, 3, 4, 5, 10, 20, 30, 40]
    # _should_regenerate_session_id: only a 4001 after the server proved itself, before the ACK.
    assert editor_sim.should_regenerate_session_id(4001, True, False)
    assert not editor_sim.should_regenerate_session_id(4001, False, False)
    assert not editor_sim.should_regenerate_session_id(4003, True, False)
    assert SESSION_ID_RE.match(editor_sim.make_session_id("/home/me/My Game!/"))
    assert editor_sim.make_session_id("/home/me/My Game!/").startswith("my-game@")


@pytest.mark.anyio
async def test_reconnect_backoff_against_a_closed_port(tmp_path: Path) -> None:
    """No listener: each attempt is a fresh socket, spaced by the (scaled) plugin schedule."""
    scale = 0.1  # 1 s -> 100 ms; the 60 s log heartbeat -> 6 s
    port = _free_port()  # nothing listens here
    caps = tmp_path / "caps"
    caps.mkdir(mode=0o700)
    sim = EditorSimulator(f"ws://127.0.0.1:{port}", capability_dir=caps, http_port=1, time_scale=scale)
    async with sim:
        await sim.wait_for(lambda: len(sim.reconnect_attempts) >= 8, timeout=60, what="8 reconnect attempts")
    attempts = sim.reconnect_attempts[:8]
    expected = [d * scale for d in (1, 2, 4, 8, 16, 30, 60, 60)]
    assert [a["attempt"] for a in attempts] == list(range(1, 9))
    assert [a["delay"] for a in attempts] == pytest.approx(expected)
    # The initial dial failed with the timer unarmed: attempt 1 follows at once,
    # then each attempt waits the delay the previous one armed.
    assert attempts[0]["waited"] == 0.0
    for previous, current in zip(attempts, attempts[1:]):
        assert current["waited"] == pytest.approx(previous["delay"])
        assert current["t"] - previous["t"] >= previous["delay"] * 0.95
    assert sim.dials[0]["kind"] == "initial"
    assert all(d["outcome"] == "refused" for d in sim.dials)
    assert len(sim.dials) >= 9  # one socket per attempt plus the initial dial
    # Logging: attempts 1-5 always; afterwards at most one line per heartbeat
    # (6 s here): attempts 6 (t~3.1 s) and 7 (t~6.1 s) fall inside the
    # heartbeat after attempt 5's lines (t~1.5 s); attempt 8 (t~12.1 s) is past it.
    assert [a["logged"] for a in attempts] == [True] * 5 + [False, False, True]
    assert "connecting to server (attempt 8)" in sim.log_lines
    assert "connecting to server (attempt 6)" not in sim.log_lines


# ------------------------------------------------------- real-server tests


@pytest.mark.anyio
async def test_handshake_registers_session(server: GodotAIServer, tmp_path: Path) -> None:
    session_id = "bridgedock-sim@" + secrets.token_hex(8)
    sim = _sim(server, tmp_path, session_id=session_id, editor_pid=4242)
    async with sim:
        await sim.wait_connected(timeout=20)
        # We verified the server proof; the server verified ours and ACKed.
        assert sim.challenges[-1]["server_proof_valid"] is True
        assert sim.server_version == "4.3.1"
        assert sim.connect_count == 1 and sim.close_events == []
        # The plugin re-emits the open scene right after the ACK.
        assert sim.events_sent[0] == {
            "event": "scene_changed",
            "data": {"current_scene": "res://main.tscn"},
            "t": sim.events_sent[0]["t"],
        }
        async with mcp_client(server) as mcp:
            entry = await wait_session(mcp, session_id, timeout=10, current_scene="res://main.tscn")
    assert entry["godot_version"] == "4.7-stable (official)"
    assert entry["project_path"] == sim.project_path
    assert entry["plugin_version"] == "4.3.1"
    assert entry["protocol_version"] == 2
    assert entry["readiness"] == "ready"
    assert entry["play_state"] == "stopped"
    assert entry["editor_pid"] == 4242
    assert entry["server_launch_mode"] == "uvx"
    assert entry["name"] == "sim_project"
    # Closed with 1000 "Plugin unloading" on stop.
    assert sim.close_events[-1]["code"] == 1000 and sim.close_events[-1]["initiator"] == "editor"


@pytest.mark.anyio
async def test_editor_state_tool_reaches_the_simulator(server: GodotAIServer, tmp_path: Path) -> None:
    sim = _sim(server, tmp_path)
    async with sim:
        await sim.wait_connected(timeout=20)
        async with mcp_client(server) as mcp:
            await wait_session(mcp, sim.session_id, timeout=10)
            await call_tool(mcp, "session_activate", {"session_id": sim.session_id})

            is_error, state = await call_tool(mcp, "editor_state", {})
            assert not is_error, state
            assert state == sim._cmd_get_editor_state({})["data"]
            assert state["readiness"] == "ready" and state["is_playing"] is False
            assert state["current_scene"] == "res://main.tscn"
            command = sim.commands[-1]
            assert command["command"] == "get_editor_state" and command["status"] == "ok"
            assert re.fullmatch(r"[0-9a-f]{32}", command["request_id"])  # CommandRequest uuid4().hex

            # Play: play_state_changed + readiness_changed reach the registry,
            # and the live reply says so too.
            await sim.set_playing(True)
            assert [e["event"] for e in sim.events_sent[-2:]] == ["play_state_changed", "readiness_changed"]
            await wait_session(mcp, sim.session_id, timeout=10, play_state="playing", readiness="playing")
            is_error, state = await call_tool(mcp, "editor_state", {})
            assert not is_error and state["is_playing"] is True and state["readiness"] == "playing"
            await sim.set_playing(False)
            await wait_session(mcp, sim.session_id, timeout=10, play_state="stopped", readiness="ready")

            # Other implemented reads.
            is_error, tree = await call_tool(mcp, "scene_get_hierarchy", {})
            assert not is_error, tree
            assert [n["path"] for n in tree["nodes"]] == ["/Main", "/Main/Camera3D", "/Main/Player", "/Main/Player/Mesh"]
            assert sim.commands[-1]["params"] == {"depth": 10, "offset": 0, "limit": 100}
            await sim.set_selection(["/Main/Player"])
            is_error, selection = await call_tool(mcp, "editor_manage", {"op": "selection_get"})
            assert not is_error and selection == {"selected_paths": ["/Main/Player"], "count": 1}

            # An unimplemented command gets the plugin's UNKNOWN_COMMAND error.
            is_error, error = await call_tool(mcp, "editor_manage", {"op": "monitors_get"})
            assert is_error
            assert sim.commands[-1]["command"] == "get_performance_monitors"
            assert sim.commands[-1]["status"] == "error"
            assert "UNKNOWN_COMMAND" in json.dumps(error)
            assert "Unknown command: get_performance_monitors" in json.dumps(error)


@pytest.mark.anyio
async def test_state_events_update_the_registry(server: GodotAIServer, tmp_path: Path) -> None:
    sim = _sim(server, tmp_path)
    async with sim:
        await sim.wait_connected(timeout=20)
        async with mcp_client(server) as mcp:
            await wait_session(mcp, sim.session_id, timeout=10, current_scene="res://main.tscn")
            await sim.set_scene("res://levels/level2.tscn")
            await wait_session(mcp, sim.session_id, timeout=10, current_scene="res://levels/level2.tscn")
            await sim.set_importing(True)
            await wait_session(mcp, sim.session_id, timeout=10, readiness="importing")
            await sim.set_importing(False)
            await sim.set_scene(None)
            await wait_session(mcp, sim.session_id, timeout=10, current_scene="", readiness="no_scene")
            # A raw event is forwarded as-is (readiness_changed with a valid value).
            assert await sim.send_event("readiness_changed", {"readiness": "ready"})
            await wait_session(mcp, sim.session_id, timeout=10, readiness="ready")
    sent = [(e["event"], e["data"]) for e in sim.events_sent]
    assert ("readiness_changed", {"readiness": "importing"}) in sent
    assert ("readiness_changed", {"readiness": "no_scene"}) in sent


@pytest.mark.anyio
async def test_wrong_capability_server_closes_4003(server: GodotAIServer, tmp_path: Path) -> None:
    """With proof checking off (tests only) the sim answers anyway; the server rejects the client proof."""
    wrong = secrets.token_hex(32)
    sim = _sim(server, tmp_path, capability=wrong, verify_server_proof=False, time_scale=0.05)
    async with sim:
        close = await sim.wait_close_code(CLOSE_CODE_AUTH_FAILED, timeout=20, initiator="server")
        async with mcp_client(server) as mcp:
            assert sim.session_id not in await list_sessions(mcp)
    assert close["reason"] == "v4 editor proof failed"
    assert close["authenticated"] is False
    assert sim.challenges[0]["server_proof_valid"] is False
    assert sim.connect_count == 0


@pytest.mark.anyio
async def test_wrong_capability_editor_fails_closed_4003(server: GodotAIServer, tmp_path: Path) -> None:
    """Like the plugin: a server proof that does not verify makes the editor close with 4003 itself."""
    sim = _sim(server, tmp_path, capability=secrets.token_hex(32), time_scale=0.05)
    async with sim:
        close = await sim.wait_close_code(CLOSE_CODE_AUTH_FAILED, timeout=20, initiator="editor")
        async with mcp_client(server) as mcp:
            assert sim.session_id not in await list_sessions(mcp)
    assert close["reason"] == "v4 server proof failed"
    assert close["server_verified"] is False
    assert "v4 websocket handshake failed: v4 server proof failed" in sim.log_lines
    assert sim.connect_count == 0


@pytest.mark.anyio
async def test_duplicate_session_id_gets_4001_then_a_fresh_id(server: GodotAIServer, tmp_path: Path) -> None:
    session_id = "dup-project@" + secrets.token_hex(8)
    first = _sim(server, tmp_path, session_id=session_id)
    second = _sim(server, tmp_path, session_id=session_id, time_scale=0.05)
    async with first:
        await first.wait_connected(timeout=20)
        async with second:
            close = await second.wait_close_code(CLOSE_CODE_DUPLICATE_SESSION, timeout=20, initiator="server")
            assert close["session_id"] == session_id
            assert close["server_verified"] is True and close["authenticated"] is False
            # connection.gd _should_regenerate_session_id: a new id, then it gets in.
            await second.wait_connected(timeout=20)
            assert second.session_id != session_id
            assert SESSION_ID_RE.match(second.session_id)
            assert second.session_id.startswith("sim-project@")
            async with mcp_client(server) as mcp:
                await wait_session(mcp, second.session_id, timeout=10)
                assert session_id in await list_sessions(mcp)
            # The first editor was never disturbed.
            assert first.connect_count == 1 and first.close_events == []


@pytest.mark.anyio
async def test_godot_older_than_4_7_gets_4002(server: GodotAIServer, tmp_path: Path) -> None:
    """websocket.py checks the proof first, then ``_supports_v4_editor``: Godot 4.6 is a protocol mismatch."""
    sim = _sim(server, tmp_path, godot_version="4.6.2-stable (official)", time_scale=0.05)
    async with sim:
        close = await sim.wait_close_code(CLOSE_CODE_PROTOCOL_MISMATCH, timeout=20, initiator="server")
    assert close["server_verified"] is True and close["authenticated"] is False
    assert "4.7" in close["reason"]
    assert sim.session_ids == [sim.session_id]  # only 4001 mints a new id


@pytest.mark.anyio
async def test_capability_record_is_reread_on_every_attempt(server: GodotAIServer, tmp_path: Path) -> None:
    """No record: fail closed (editor closes 4003).  Once the record appears, the next attempt uses it."""
    caps = tmp_path / "caps"
    caps.mkdir(mode=0o700)
    sim = EditorSimulator(
        server.ws_url,
        capability_dir=caps,
        http_port=server.http_port,
        project_path=str(tmp_path / "sim_project") + "/",
        time_scale=0.05,
    )
    async with sim:
        close = await sim.wait_close_code(CLOSE_CODE_AUTH_FAILED, timeout=20, initiator="editor")
        assert close["reason"] == "missing v4 editor capability; restart the managed server from Godot"
        assert "does not exist" in sim.last_record_error
        # Publish the server's record the way capability.py does: a private 0600 file.
        source = editor_sim.capability_record_path(server.capability_dir, server.http_port)
        target = editor_sim.capability_record_path(caps, server.http_port)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(source.read_bytes())
        await sim.wait_connected(timeout=20)
    assert sim.last_record is not None and sim.last_record.websocket == server.ws_capability


@pytest.mark.anyio
async def test_cli_reports_facts_as_json_lines(server: GodotAIServer, tmp_path: Path) -> None:
    """The CLI: JSON facts on stdout, control lines on stdin, 1000 close on quit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(editor_sim.__file__)),
        "--ws-port", str(server.ws_port),
        "--http-port", str(server.http_port),
        "--capability-dir", str(server.capability_dir),
        "--project-path", str(tmp_path / "cli_project"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def next_fact(kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind!r} fact from the CLI")
            line = await asyncio.wait_for(proc.stdout.readline(), remaining)
            if not line:
                raise EOFError(f"CLI exited before a {kind!r} fact")
            fact = json.loads(line)
            if fact["fact"] == kind:
                return fact

    try:
        connected = await next_fact("connected", timeout=20)
        assert connected["server_version"] == "4.3.1"
        assert connected["session_id"].startswith("cli-project@")
        proc.stdin.write(b'{"op": "scene", "path": "res://cli.tscn"}\nplay\n')
        await proc.stdin.drain()
        async with mcp_client(server) as mcp:
            await wait_session(mcp, connected["session_id"], timeout=10,
                               current_scene="res://cli.tscn", play_state="playing")
            await call_tool(mcp, "session_activate", {"session_id": connected["session_id"]})
            is_error, state = await call_tool(mcp, "editor_state", {})
            assert not is_error and state["is_playing"] is True
        command = await next_fact("command", timeout=10)
        assert command["command"] == "get_editor_state" and command["status"] == "ok"
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        facts = await next_fact("facts", timeout=10)
        assert facts["close_events"][-1]["code"] == 1000
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# Keep last: it restarts the module's server (same ports and capabilities).
@pytest.mark.anyio
async def test_server_restart_simulator_reconnects_on_its_own(server: GodotAIServer, tmp_path: Path) -> None:
    """Real schedule (time_scale=1): kill the server, start it again, the editor comes back by itself."""
    sim = _sim(server, tmp_path)
    async with sim:
        await sim.wait_connected(timeout=20)
        assert sim.dials[0]["kind"] == "initial"

        # Stop/start block on the process, so they run in a worker thread:
        # the simulator's loop must keep running (and retrying) meanwhile.
        await anyio.to_thread.run_sync(server.stop)
        await sim.wait_disconnected(timeout=30)
        dropped = next(c for c in sim.close_events if c["authenticated"])
        assert dropped["initiator"] in ("server", "none"), dropped
        restart_seconds = await anyio.to_thread.run_sync(server.start)
        # Attempts at ~0, 1, 3, 7, 15, 31, 61 s after the drop: a server that
        # needs up to ~60 s to start is still picked up within this deadline.
        await sim.wait_connected(timeout=restart_seconds + 90, count=2)

        attempts = sim.reconnect_attempts
        assert len(attempts) >= 2
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert [a["delay"] for a in attempts] == [
            editor_sim.reconnect_delay_for_attempt(i) for i in range(len(attempts))
        ]
        assert attempts[0]["waited"] == 0.0  # the initial dial connected: nothing armed
        for previous, current in zip(attempts, attempts[1:]):
            assert current["waited"] == previous["delay"]
            assert current["t"] - previous["t"] >= previous["delay"] * 0.95
        assert all(a["logged"] for a in attempts[:5])
        # A fresh socket per attempt: one dial per attempt, distinct local ports when opened.
        assert len(sim.dials) == len(attempts) + 1
        open_ports = [d["local_port"] for d in sim.dials if d["outcome"] == "open"]
        assert len(open_ports) == len(set(open_ports))
        # Same identity after a plain drop (no 4001 => no new session id).
        assert sim.session_ids == [sim.session_id]

        async with mcp_client(server) as mcp:
            await wait_session(mcp, sim.session_id, timeout=10, current_scene="res://main.tscn")
            is_error, state = await call_tool(mcp, "editor_state", {})
            assert not is_error, state
            assert state["current_scene"] == "res://main.tscn"
        assert sim.commands[-1]["command"] == "get_editor_state"
    print(
        f"\nrestart: dropped with {dropped['code']} ({dropped['initiator']}); server ready in "
        f"{restart_seconds:.1f}s; (attempt, waited, delay): "
        f"{[(a['attempt'], a['waited'], a['delay']) for a in attempts]}; "
        f"dials: {[(d['kind'], d['outcome']) for d in sim.dials]}"
    )
