"""godot-ai end to end through bridgedock: the real godot-ai 4.3.1 package run by bridgedockd
(`kind = "godot-ai"`), the editor simulator (which speaks the plugin's v4 protocol exactly as
godot-ai 4.3.1 expects it) on bridgedock's editor port, and AI clients (the official MCP Python
SDK) on bridgedock's `/mcp/godot` and on the public godot-ai port.

Every wait has a deadline; nothing asserts wall-clock speed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import anyio
import asyncio
import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from bridge_daemon import Daemon  # noqa: E402
from editor_sim import EditorSimulator  # noqa: E402

UVX = os.environ.get(
    "GODOT_AI_UVX",
    str(
        Path(
            os.environ.get(
                "BRIDGEDOCK_SERVERS_VENV", Path.home() / ".cache" / "bridgedock" / "servers-venv"
            )
        )
        / "bin"
        / "uvx"
    ),
)
VERSION = "4.3.1"
# This registry's view of PyPI lacks certifi 2026.10.19, which fastmcp-slim 4.1.3 pins as a floor.
OVERRIDES = '["certifi>=2026.10.18"]'
# The server starts in 6-9 s with uv's cache warm; a cold cache downloads 77 packages.
START = float(os.environ.get("GODOT_AI_SERVER_START_TIMEOUT", "180"))


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def godot_config(http_port: int, ws_port: int, version: str = VERSION, command: str | None = None) -> str:
    lines = [
        "[servers.godot]",
        'kind = "godot-ai"',
        f'version = "{version}"',
        f"http_port = {http_port}",
        f"ws_port = {ws_port}",
        f"dependency_overrides = {OVERRIDES}",
        'env = { GODOT_AI_DISABLE_TELEMETRY = "1", FASTMCP_CHECK_FOR_UPDATES = "off" }',
    ]
    if command:
        lines.append(f"command = {json.dumps(command)}")
    return "\n".join(lines) + "\n"


class GodotDaemon:
    """bridgedockd running one godot-ai, with the plugin's capability directory in a temp dir."""

    def __init__(self, *, version: str = VERSION, command: str | None = None, path: str | None = None,
                 http_port: int | None = None, ws_port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bd-godot-"))
        self.caps = self.root / "godot-caps"
        self.http_port = http_port or free_port()
        self.ws_port = ws_port or free_port()
        env = dict(os.environ)
        env["GODOT_AI_CAPABILITY_DIR"] = str(self.caps)
        env["PATH"] = path if path is not None else f"{Path(UVX).parent}:{env.get('PATH', '')}"
        self.daemon = Daemon(godot_config(self.http_port, self.ws_port, version, command), env=env)
        self.token = self.daemon.token

    def godot(self) -> dict[str, Any]:
        return self.daemon.server("godot")

    def wait(self, what: str, predicate: Callable[[dict[str, Any]], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.godot()
            got = predicate(last)
            if got:
                return got
            time.sleep(0.1)  # poll interval, not an assertion
        raise AssertionError(f"never {what} within {timeout}s; last status: {json.dumps(last, indent=1)}")

    def wait_live(self) -> dict[str, Any]:
        return self.wait("answering", lambda s: s.get("godot") and s["godot"]["live_version"] and s, START)

    def editor(self, session_id: str) -> dict[str, Any] | None:
        g = self.godot().get("godot") or {}
        return next((e for e in g.get("editors", []) if e["session_id"] == session_id), None)

    def sim(self, tmp_path: Path, **kwargs: Any) -> EditorSimulator:
        kwargs.setdefault("project_path", str(tmp_path / "game") + "/")
        return EditorSimulator(
            f"ws://127.0.0.1:{self.ws_port}",
            capability_dir=self.caps,
            http_port=self.http_port,
            **kwargs,
        )

    def restart_in_background(self) -> threading.Thread:
        """`ctl restart godot`, which answers once the new godot-ai is ready (it answered
        bridgedock's handshake): run aside, so that what happens meanwhile can be watched."""
        t = threading.Thread(target=self.daemon.ctl, args=("restart", "godot"), daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        try:
            self.daemon.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@asynccontextmanager
async def ai_client(url: str, bearer: str) -> AsyncIterator[ClientSession]:
    """An AI client: the official MCP Python SDK over Streamable HTTP."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {bearer}"},
                                 timeout=httpx.Timeout(60.0)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def tool(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    result = await session.call_tool(name, arguments)
    if result.structuredContent is not None and not result.isError:
        return False, result.structuredContent
    text = next((b.text for b in result.content if getattr(b, "text", None)), "")
    try:
        return bool(result.isError), json.loads(text)
    except json.JSONDecodeError:
        return bool(result.isError), text


def restart_and_wait_for_the_editor(bd: GodotDaemon, sim: EditorSimulator) -> None:
    """`ctl restart godot`, then until the new godot-ai answers with the editor back on it."""
    old_instance = bd.godot()["godot"]["instance_id"]
    bd.daemon.ctl("restart", "godot")
    bd.wait("the editor back on the new godot-ai",
            lambda s: s["godot"]["instance_id"] not in (None, old_instance)
            and (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", START)


async def editor_state_of_game(ai: ClientSession) -> None:
    is_error, state = await tool(ai, "editor_state", {})
    assert not is_error, state
    assert state["project_name"] == "game"


@pytest.fixture(scope="module")
def bd() -> Any:
    d = GodotDaemon()
    try:
        d.wait_live()
        yield d
    finally:
        d.stop()


def bridge_url(d: GodotDaemon) -> str:
    return f"http://{d.daemon.addr}/mcp/godot"


@pytest.mark.anyio
async def test_an_ai_client_reaches_the_editor_through_bridgedock(bd: GodotDaemon, tmp_path: Path) -> None:
    status = bd.godot()
    assert status["command"][0].endswith("uvx") and f"godot-ai=={VERSION}" in status["command"]
    # It is launched to speak Streamable HTTP, and status says so.
    assert "streamable-http" in status["command"] and status["transport"] == "http"
    g = status["godot"]
    assert g["listening"] and g["live_version"] == VERSION and g["expected_version"] == VERSION
    assert status["reported_version"] == VERSION
    # The plugin's record for the public port: bridgedock's capabilities, godot-ai's instance.
    record = json.loads((bd.caps / f"http-{bd.http_port}.json").read_text())
    assert record["instance_nonce"] == g["instance_id"]
    assert oct((bd.caps / f"http-{bd.http_port}.json").stat().st_mode & 0o777) == "0o600"
    # The plugin's status probe on the public port names the public editor port.
    probe = httpx.get(f"http://127.0.0.1:{bd.http_port}/godot-ai/status",
                      headers={"Authorization": f"Bearer {record['http']}"})
    assert probe.status_code == 200 and probe.json()["ws_port"] == bd.ws_port
    assert probe.json()["instance_id"] == record["instance_nonce"]

    sim = bd.sim(tmp_path, session_id="game@00000000000000a1")
    async with sim:
        await sim.wait_connected(timeout=20)
        assert sim.server_version == VERSION
        await sim.set_scene("res://levels/one.tscn")
        bd.wait("to list the editor", lambda s: (e := next(iter(s["godot"]["editors"]), None))
                and e["upstream"] == "connected" and e["current_scene"] == "res://levels/one.tscn", 20)

        # Through bridgedock's own endpoint, with bridgedock's token.
        async with ai_client(bridge_url(bd), bd.token) as ai:
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
            assert state["project_name"] == "game"
            assert state["current_scene"] == "res://levels/one.tscn"
            # The AI client is listed among the client sessions, like any other server's (its
            # counters are published within a second, as for every server).
            deadline = time.monotonic() + 5
            while True:
                clients = [c for c in bd.daemon.status()["clients"] if c["server"] == "godot"]
                assert len(clients) == 1, clients
                c = clients[0]
                if (c["messages_in"] >= 3 and c["messages_out"] >= 3 and c["pending"] == 0) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # poll interval
            assert c["transport"] == "http" and c["client_name"] == "mcp" and c["protocol_version"]
            assert c["messages_in"] >= 3 and c["messages_out"] >= 3 and c["pending"] == 0
        # The SDK ends its session on the way out (DELETE): it leaves the list.
        deadline = time.monotonic() + 10
        while [c for c in bd.daemon.status()["clients"] if c["server"] == "godot"]:
            assert time.monotonic() < deadline, bd.daemon.status()["clients"]
            time.sleep(0.1)  # poll interval
        assert sim.commands[-1]["command"] == "get_editor_state"
        e = bd.editor(sim.session_id)
        assert e["commands_done"] >= 1 and e["last_command"] == "get_editor_state"
        assert e["last_latency_ms"] is not None and e["commands_in_flight"] == 0
        assert e["project_path"].endswith("/game/") and e["godot_version"].startswith("4.7")
        assert e["readiness"] == "ready"

        # Through the public godot-ai port, as godot-ai's own attach bridge would.
        async with ai_client(f"http://127.0.0.1:{bd.http_port}/mcp", record["http"]) as ai:
            is_error, sessions = await tool(ai, "session_manage", {"op": "list"})
            assert not is_error, sessions
            ids = [s["session_id"] for s in sessions["sessions"]]
            assert ids == [sim.session_id]

        # The editor plays: readiness follows its events.
        await sim.set_playing(True)
        bd.wait("to see the editor playing", lambda s: s["godot"]["editors"][0]["play_state"] == "playing"
                and s["godot"]["editors"][0]["readiness"] == "playing", 10)
        await sim.set_playing(False)


@pytest.mark.anyio
async def test_a_websocket_client_reaches_godot_ai_through_the_router(bd: GodotDaemon, tmp_path: Path) -> None:
    """/mcp/godot is a router like every server's: a WebSocket client (the SDK's) is served too,
    though godot-ai itself speaks only Streamable HTTP."""
    from mcp.client.websocket import websocket_client

    sim = bd.sim(tmp_path, session_id="game@00000000000000a7")
    async with sim:
        await sim.wait_connected(timeout=20)
        bd.wait("to list the editor", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", 20)
        url = f"ws://{bd.daemon.addr}/mcp/godot?token={bd.token}"
        async with websocket_client(url) as (read, write):
            async with ClientSession(read, write) as ai:
                await ai.initialize()
                is_error, sessions = await tool(ai, "session_manage", {"op": "list"})
                assert not is_error, sessions
                assert sim.session_id in [s["session_id"] for s in sessions["sessions"]]


@pytest.mark.anyio
async def test_a_restart_keeps_the_editor_connected_and_answering(bd: GodotDaemon, tmp_path: Path) -> None:
    sim = bd.sim(tmp_path, session_id="game@00000000000000b2")
    async with sim:
        await sim.wait_connected(timeout=20)
        await sim.set_scene("res://levels/two.tscn")
        bd.wait("to list the editor", lambda s: any(e["session_id"] == sim.session_id and e["upstream"] == "connected"
                                                     for e in s["godot"]["editors"]), 20)
        pid = bd.godot()["pid"]
        old_instance = bd.godot()["godot"]["instance_id"]
        restart = bd.restart_in_background()
        # bridgedock holds the editor's socket: it sees godot-ai go away and come back.
        bd.wait("to show the reconnect", lambda s: any(e["upstream"] in ("reconnecting", "connecting")
                                                       for e in s["godot"]["editors"]), 20)
        back = bd.wait("the editor back on the new godot-ai",
                       lambda s: s["pid"] != pid and s["godot"]["instance_id"] not in (None, old_instance)
                       and (e := bd.editor(sim.session_id)) and e["upstream"] == "connected" and e["replays"] >= 1 and e,
                       START)
        restart.join(60)
        assert back["reconnect_attempts"] == 0
        # The editor itself noticed nothing: one handshake, no close.
        assert sim.connect_count == 1 and sim.close_events == [], (sim.close_events, sim.dials)
        async with ai_client(bridge_url(bd), bd.token) as ai:
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
            assert state["current_scene"] == "res://levels/two.tscn"
            # The new godot-ai learnt the editor's scene from the replayed events.
            is_error, sessions = await tool(ai, "session_manage", {"op": "list"})
            entry = next(s for s in sessions["sessions"] if s["session_id"] == sim.session_id)
            assert entry["current_scene"] == "res://levels/two.tscn", entry


@pytest.mark.anyio
async def test_an_ai_clients_session_outlives_a_godot_ai_restart(bd: GodotDaemon, tmp_path: Path) -> None:
    """godot-ai forgets its MCP sessions when restarted (404 to the old id); bridgedock opens the
    session again with the client's own initialize: the client keeps calling, never re-initializes."""
    sim = bd.sim(tmp_path, session_id="game@00000000000000d4")
    async with sim:
        await sim.wait_connected(timeout=20)
        bd.wait("to list the editor", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", 20)
        async with ai_client(bridge_url(bd), bd.token) as ai:
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
            mine = [c for c in bd.daemon.status()["clients"] if c["server"] == "godot" and c["client_name"] == "mcp"]
            assert len(mine) == 1, mine
            restart_and_wait_for_the_editor(bd, sim)
            for _ in range(3):
                await editor_state_of_game(ai)
            # Still the one client session, with the id it started with, and one reconnect.
            after = [c for c in bd.daemon.status()["clients"] if c["server"] == "godot" and c["client_name"] == "mcp"]
            assert [c["id"] for c in after] == [mine[0]["id"]], after
            assert after[0]["reconnects"] == 1, after
        lines = bd.daemon.ctl("logs", "godot", "--lines", "400")
        assert "opened again on the restarted godot-ai" in lines, lines[-2000:]


@pytest.mark.anyio
async def test_a_call_in_flight_when_godot_ai_restarts_gets_a_clear_error_not_silence(bd: GodotDaemon, tmp_path: Path) -> None:
    """godot-ai killed mid-request cuts its SSE answer; bridgedock ends the stream with a -32002
    error for the call instead of leaving the client waiting until its own timeout."""
    sim = bd.sim(tmp_path, session_id="game@00000000000000e5")
    held = asyncio.Event()
    release = asyncio.Event()

    async def slow_state(params: dict[str, Any]) -> dict[str, Any]:
        held.set()
        await release.wait()
        return {"data": {"project_name": "game"}}

    async with sim:
        await sim.wait_connected(timeout=20)
        bd.wait("to list the editor", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", 20)
        async with ai_client(bridge_url(bd), bd.token) as ai:
            sim.register("get_editor_state", slow_state)
            call = asyncio.ensure_future(ai.call_tool("editor_state", {}))
            await asyncio.wait_for(held.wait(), 30)
            old_instance = bd.godot()["godot"]["instance_id"]
            bd.daemon.ctl("restart", "godot")
            with pytest.raises(McpError) as failed:
                await asyncio.wait_for(call, 30)
            assert failed.value.error.code == -32002, failed.value.error
            assert "godot-ai (server `godot`) went away before answering" in failed.value.error.message
            release.set()
            bd.wait("the editor back on the new godot-ai",
                    lambda s: s["godot"]["instance_id"] not in (None, old_instance)
                    and (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", START)
            # The same session goes on (carried over), and the editor answers again.
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error and state["project_name"] == "game", state


@pytest.mark.anyio
async def test_a_call_while_godot_ai_stays_down_fails_by_id_after_the_wait(bd: GodotDaemon) -> None:
    """godot-ai stopped: the call is held 30 s for it, then answered with a JSON-RPC error for
    that call (an HTTP 502 would reach the SDK as an error of no request: it would wait forever)."""
    async with ai_client(bridge_url(bd), bd.token) as ai:
        bd.daemon.ctl("stop", "godot")
        try:
            started = time.monotonic()
            with pytest.raises(McpError) as failed:
                await asyncio.wait_for(ai.call_tool("session_manage", {"op": "list"}), 90)
            assert failed.value.error.code == -32002, failed.value.error
            assert failed.value.error.message.startswith("server `godot`: godot-ai is not answering"), failed.value.error
            assert time.monotonic() - started >= 25  # held for godot-ai first
        finally:
            bd.daemon.ctl("start", "godot")
            bd.wait_live()


@pytest.mark.anyio
async def test_godot_ai_down_opens_the_circuit_and_back_closes_it(bd: GodotDaemon, tmp_path: Path) -> None:
    """5 failed attempts within 60 s open the editor link's circuit; the editor stays connected."""
    sim = bd.sim(tmp_path, session_id="game@00000000000000a9")
    async with sim:
        await sim.wait_connected(timeout=20)
        bd.wait("to list the editor", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", 20)
        bd.daemon.ctl("stop", "godot")
        # Attempts at 1, 3, 7, 15 and 31 s after the drop (the plugin's schedule): the 5th opens it.
        opened = bd.wait("the circuit open", lambda s: (e := bd.editor(sim.session_id)) and e["circuit"] == "open" and e, 60)
        assert opened["upstream"] == "circuit open" and opened["reconnect_attempts"] >= 5
        assert bd.godot()["godot"]["circuit"] == "open"
        assert sim.connect_count == 1 and sim.close_events == []
        bd.daemon.ctl("start", "godot")
        # A new godot-ai answering lets one attempt through at once (half-open) ...
        bd.wait("the editor back", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", START)
        # ... and 3 good messages close it.
        async with ai_client(bridge_url(bd), bd.token) as ai:
            for _ in range(3):
                is_error, state = await tool(ai, "editor_state", {})
                assert not is_error, state
        closed = bd.wait("the circuit closed", lambda s: (e := bd.editor(sim.session_id)) and e["circuit"] == "closed" and e, 10)
        assert closed["replays"] >= 1
        assert sim.connect_count == 1


@pytest.mark.anyio
async def test_a_request_sent_during_a_restart_waits_for_godot_ai(bd: GodotDaemon, tmp_path: Path) -> None:
    sim = bd.sim(tmp_path, session_id="game@00000000000000c3")
    async with sim:
        await sim.wait_connected(timeout=20)
        restart = bd.restart_in_background()
        bd.wait("to go down", lambda s: s["godot"]["live_version"] is None, 20)
        # A new AI client connects while godot-ai is still starting: it is held, not refused.
        async with ai_client(bridge_url(bd), bd.token) as ai:
            # bridgedock holds the call until the editor is back on the new godot-ai too, so it
            # is answered by the editor, not with godot-ai's PLUGIN_DISCONNECTED.
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
            assert state["project_name"] == "game"
        restart.join(60)


@pytest.mark.anyio
async def test_handshake_faults_are_refused_with_godot_ais_codes_and_diagnosed(bd: GodotDaemon, tmp_path: Path) -> None:
    # A wrong capability: bridgedock refuses with 4003 and says what to do.
    bad = bd.sim(tmp_path, session_id="game@00000000000000d4", capability="0" * 64,
                 verify_server_proof=False)
    async with bad:
        await bad.wait_close_code(4003, timeout=20)
    d = bd.wait("to diagnose the token mismatch",
                lambda s: next((x for x in s["godot"]["diagnoses"] if x["code"] == "token-mismatch"), None), 10)
    assert "capability" in d["hint"]

    # Two editors with one session id: the second gets 4001 (and, like the plugin, a new id).
    first = bd.sim(tmp_path, session_id="game@00000000000000e5")
    second = bd.sim(tmp_path, session_id="game@00000000000000e5")
    async with first:
        await first.wait_connected(timeout=20)
        async with second:
            await second.wait_close_code(4001, timeout=20)
            await second.wait_connected(timeout=20)
            assert second.session_ids[-1] != first.session_id
        bd.wait("to diagnose the duplicate", lambda s: any(x["code"] == "duplicate-session" for x in s["godot"]["diagnoses"]), 10)

    # Connected but silent: closed after 5 s like godot-ai would, and diagnosed.
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{bd.ws_port}") as ws:
        with anyio.fail_after(15):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    bd.wait("to diagnose the silent client", lambda s: any(x["code"] == "handshake-timeout" for x in s["godot"]["diagnoses"]), 10)

    # A browser page cannot reach the editor port.
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"ws://127.0.0.1:{bd.ws_port}", origin="https://evil.example"):
            pass


@pytest.mark.anyio
async def test_bad_frames_on_the_editor_port_get_godot_ais_close_codes(bd: GodotDaemon, tmp_path: Path) -> None:
    import websockets

    async def closed_with(frames: list) -> int:
        async with websockets.connect(f"ws://127.0.0.1:{bd.ws_port}", max_size=None) as ws:
            for f in frames:
                await ws.send(f)
            with anyio.fail_after(10):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else 1006

    hello = json.dumps({"type": "auth_hello", "protocol_version": 2, "client_nonce": "ab" * 32})
    assert await closed_with([b"\x00\x01binary"]) == 1008
    assert await closed_with(["{not json"]) == 1008
    assert await closed_with(["[1, 2, 3]"]) == 1008
    assert await closed_with(["x" * 9000]) == 1009
    assert await closed_with([json.dumps({"type": "handshake", "protocol_version": 1})]) == 4002  # a v2.x plugin
    assert await closed_with([json.dumps({"type": "auth_hello", "protocol_version": 2, "client_nonce": "XYZ"})]) == 1008
    nested = "[" * 10000 + "]" * 10000
    assert await closed_with([nested]) == 1009
    # A hello, then a response that is not an auth_response.
    assert await closed_with([hello, json.dumps({"type": "event"})]) == 4002

    # After the handshake, garbage is relayed (godot-ai drops it) and the editor stays connected.
    sim = bd.sim(tmp_path, session_id="game@00000000000000f7")
    async with sim:
        await sim.wait_connected(timeout=20)
        for junk in ["{not json", "[]", json.dumps({"request_id": 5, "status": []}), "\u0000" * 100]:
            await sim._ws.send(junk)
        async with ai_client(bridge_url(bd), bd.token) as ai:
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
        assert sim.connect_count == 1 and sim.close_events == []


@pytest.mark.anyio
async def test_an_editor_plugin_of_another_version_is_shown(bd: GodotDaemon, tmp_path: Path) -> None:
    sim = bd.sim(tmp_path, session_id="game@00000000000000f6", plugin_version="4.2.0")
    async with sim:
        await sim.wait_connected(timeout=20)
        e = bd.wait("to list the editor", lambda s: bd.editor(sim.session_id), 10)
        assert e["plugin_version"] == "4.2.0" and bd.godot()["godot"]["live_version"] == VERSION


def test_a_server_of_another_version_than_pinned_is_reported(tmp_path: Path) -> None:
    """godot-ai from a venv you manage (`command` = its executable) that is not the pinned one."""
    venv = tmp_path / "venv"
    uv = str(Path(UVX).with_name("uv"))
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("certifi>=2026.10.18\n")
    subprocess.run([uv, "venv", "-q", str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    "--override", str(overrides), f"godot-ai=={VERSION}"], check=True)
    d = GodotDaemon(version="4.2.3", command=str(venv / "bin" / "godot-ai"))
    try:
        s = d.wait_live()
        assert s["command"][0] == str(venv / "bin" / "godot-ai")
        assert s["godot"]["live_version"] == VERSION and s["godot"]["expected_version"] == "4.2.3"
        assert s["reported_version"] == VERSION and s["expected_version"] == "4.2.3"
    finally:
        d.stop()


def holder(port: int) -> subprocess.Popen:
    """A foreign process holding `port` (not bridgedock's, not godot-ai)."""
    code = (
        "import socket, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    assert p.stdout.readline().strip() == "ready"
    return p


@pytest.mark.anyio
async def test_foreign_processes_on_both_ports_are_diagnosed_not_killed(tmp_path: Path) -> None:
    http_port, ws_port = free_port(), free_port()
    squatters = [holder(http_port), holder(ws_port)]
    d = None
    try:
        d = GodotDaemon(http_port=http_port, ws_port=ws_port)
        s = d.wait("to diagnose both ports", lambda s: s.get("godot") and len(
            [x for x in s["godot"]["diagnoses"] if x["code"] == "port-held"]) >= 1 and s, 30)
        d.wait_live()  # godot-ai itself runs on its private ports meanwhile
        g = d.godot()["godot"]
        messages = " ".join(x["message"] for x in g["diagnoses"])
        assert f"port {http_port}" in messages and f"pid {squatters[0].pid}" in messages, messages
        assert not g["listening"]
        time.sleep(6)  # longer than bridgedock's 5 s retry: it must still not touch them
        assert all(p.poll() is None for p in squatters), "bridgedock killed a process it did not start"
        # Once they go, bridgedock takes the ports and the editor connects.
        for p in squatters:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        d.wait("to take the ports", lambda s: s["godot"]["listening"] and not any(
            x["code"] == "port-held" for x in s["godot"]["diagnoses"]), 30)
        sim = d.sim(tmp_path)
        async with sim:
            await sim.wait_connected(timeout=30)
    finally:
        for p in squatters:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        if d:
            d.stop()


def test_a_foreign_godot_ai_on_the_port_is_named_with_its_version(tmp_path: Path) -> None:
    caps = tmp_path / "godot-caps"
    caps.mkdir(mode=0o700)
    http_port, ws_port = free_port(), free_port()
    env = dict(os.environ, GODOT_AI_CAPABILITY_DIR=str(caps), GODOT_AI_DISABLE_TELEMETRY="1",
               FASTMCP_CHECK_FOR_UPDATES="off")
    overrides = tmp_path / "ov.txt"
    overrides.write_text("certifi>=2026.10.18\n")
    foreign = subprocess.Popen(
        [UVX, "--overrides", str(overrides), "--from", f"godot-ai=={VERSION}", "godot-ai",
         "--transport", "streamable-http", "--port", str(http_port), "--ws-port", str(ws_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START
        while not (caps / f"http-{http_port}.json").exists():
            assert time.monotonic() < deadline and foreign.poll() is None, "foreign godot-ai did not start"
            time.sleep(0.2)
        # bridgedock reads the plugin's records where godot-ai writes them.
        env_daemon = dict(os.environ, GODOT_AI_CAPABILITY_DIR=str(caps),
                          PATH=f"{Path(UVX).parent}:{os.environ.get('PATH', '')}")
        daemon = Daemon(godot_config(http_port, ws_port), env=env_daemon)
        try:
            deadline = time.monotonic() + 30
            found = None
            while time.monotonic() < deadline and not found:
                g = daemon.server("godot").get("godot") or {}
                found = next((x for x in g.get("diagnoses", []) if x["code"] == "godot-ai-on-port"), None)
                time.sleep(0.2)
            assert found, daemon.server("godot")
            assert f"godot-ai {VERSION} that bridgedock did not start already serves port {http_port}" in found["message"]
            assert "compatible, so bridgedock adopts it" in found["message"]
            assert "never stops what it did not start" in found["hint"]
            g = daemon.server("godot")["godot"]
            assert g["adopted_port"] == http_port and g["adopted_version"] == VERSION
            # Adopted: an AI client on bridgedock's endpoint reaches the foreign godot-ai.
            async def through_bridgedock() -> Any:
                async with ai_client(f"http://{daemon.addr}/mcp/godot", daemon.token) as ai:
                    return await tool(ai, "session_manage", {"op": "list"})
            is_error, sessions = anyio.run(through_bridgedock)
            assert not is_error and sessions["sessions"] == [], sessions
            assert foreign.poll() is None
            # bridgedock must not publish over the foreign server's record.
            rec = json.loads((caps / f"http-{http_port}.json").read_text())
            assert rec["http"] != json.loads((Path(daemon.state) / "godot-ai" / "godot" / "capabilities.json").read_text())["http"]
        finally:
            daemon.stop()
        assert foreign.poll() is None, "bridgedock stopped a godot-ai it did not start"
    finally:
        try:
            os.killpg(foreign.pid, signal.SIGTERM)
            foreign.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(foreign.pid, signal.SIGKILL)


def test_without_uvx_the_server_says_what_to_install() -> None:
    d = GodotDaemon(path="/usr/bin:/bin")
    try:
        s = d.wait("to report the missing uvx", lambda s: s["state"] == "no-command" and s, 20)
        assert s["program"] == "uvx" and "uv" in s["hint"]
    finally:
        d.stop()


@asynccontextmanager
async def attach_bridge(d: GodotDaemon, tmp_path: Path) -> AsyncIterator[ClientSession]:
    """The plugin's usual AI-client setup: godot-ai's own stdio attach bridge (`godot-ai attach`),
    run by the official MCP Python SDK as Claude Code would, on godot-ai's public ports."""
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("certifi>=2026.10.18\n")
    env = dict(os.environ)  # uv's index, proxy and certificate settings included
    env["GODOT_AI_CAPABILITY_DIR"] = str(d.caps)
    env["GODOT_AI_DISABLE_TELEMETRY"] = "1"
    env["FASTMCP_CHECK_FOR_UPDATES"] = "off"
    params = StdioServerParameters(
        command=UVX,
        args=["--overrides", str(overrides), "--from", f"godot-ai=={VERSION}", "godot-ai", "attach",
              "--port", str(d.http_port), "--ws-port", str(d.ws_port)],
        env=env,
    )
    errlog = open(tmp_path / "attach.stderr", "w+")
    try:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
    finally:
        errlog.close()


@pytest.mark.anyio
async def test_godot_ais_own_attach_bridge_keeps_working_across_a_restart(bd: GodotDaemon, tmp_path: Path) -> None:
    """`godot-ai attach` (what the plugin sets AI clients up with) finds bridgedock's godot-ai on
    the public port, reaches the editor, and keeps answering after Restart."""
    sim = bd.sim(tmp_path, session_id="game@00000000000000f6")
    async with sim:
        await sim.wait_connected(timeout=20)
        bd.wait("to list the editor", lambda s: (e := bd.editor(sim.session_id)) and e["upstream"] == "connected", 20)
        pid = bd.godot()["pid"]
        async with attach_bridge(bd, tmp_path) as ai:
            is_error, state = await tool(ai, "editor_state", {})
            assert not is_error, state
            assert state["project_name"] == "game"
            restart_and_wait_for_the_editor(bd, sim)
            for _ in range(3):
                await editor_state_of_game(ai)
            # It attached to bridgedock's godot-ai, the restarted one, and never started its own
            # on the public port.
            assert bd.godot()["pid"] != pid
            assert own_backends(bd.http_port) == [], own_backends(bd.http_port)


def own_backends(port: int) -> list[str]:
    """godot-ai servers listening on `port` themselves (what an attach bridge spawns when it
    finds no compatible server there)."""
    found = []
    for p in Path("/proc").iterdir():
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "godot_ai" in args and "streamable-http" in args and str(port) in args:
            found.append(" ".join(args))
    return found
