"""The newest official MCP Python SDK (mcp 2.x) and fastmcp through bridgedock.

One bridgedockd serves the whole suite (starting servers is most of a test's time): the npm
reference server `server-everything` (handshake-era, stdio), `native_server.py` (a native
2026-07-28 server on mcp 2.3.0, stdio), the built-in demo server and PyPI's `mcp-server-time`.
Tests therefore leave the servers as they found them, or change them in ways no other test
reads (a tool added under a name of the test's own).

Env: BRIDGEDOCKD or CARGO_TARGET_DIR (the binary), BRIDGEDOCK_SERVERS_VENV (mcp-server-time),
BRIDGEDOCK_TEST_VENV (the mcp 1.x venv, for the README's mcp 1.x example).
"""

import json
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.append(str(REPO / "tests" / "python"))  # bridge_daemon.py, shared with that suite
from bridge_daemon import EVERYTHING, TIME_SERVER, Daemon  # noqa: E402

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

NATIVE_SERVER = HERE / "native_server.py"
DEMO_SERVER = REPO / "engine" / "src" / "demo" / "demo_server.py"

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
# What each server calls itself (serverInfo.name), by its name in bridgedock's config.
SERVER_NAMES = {
    "everything": "mcp-servers/everything",
    "native": "bridgedock-native-fixture",
    "demo": "bridgedock-demo",
    "time": "mcp-time",
}
# The revision bridgedock speaks to each server: those on mcp 2.x (the native fixture, and
# mcp-server-time 2026.10.19) answer its server/discover.
SERVER_REVISIONS = {"everything": HANDSHAKE, "native": MODERN, "demo": HANDSHAKE, "time": MODERN}
# A resource server-everything serves.
EVERYTHING_DOC = "demo://resource/static/document/architecture.md"
# The SDK's own HTTP timeouts (mcp.shared._httpx_utils): 30 s, and 300 s to read a stream.
HTTP_TIMEOUT = httpx2.Timeout(30, read=300)


def suite_config() -> str:
    toml = json.dumps  # a JSON string is a valid TOML basic string
    return "\n".join([
        "[servers.everything]",
        'command = "node"',
        f"args = [{toml(str(EVERYTHING))}]",
        "",
        "[servers.native]",
        f"command = {toml(sys.executable)}",
        f"args = [{toml(str(NATIVE_SERVER))}]",
        "",
        "[servers.demo]",
        'command = "python3"',
        f"args = [{toml(str(DEMO_SERVER))}]",
        "",
        "[servers.time]",
        f"command = {toml(str(TIME_SERVER))}",
        "",
    ])


def wait_for_log_line(daemon: Daemon, server: str, text: str, timeout: float = 20) -> str:
    """Waits until `text` is in the server's log (as `ctl logs` shows it); returns that line."""
    deadline = time.monotonic() + timeout
    while True:
        lines = daemon.ctl("logs", server).splitlines()
        found = [line for line in lines if text in line]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            tail = "\n".join(lines[-20:])
            raise AssertionError(f"no line with {text!r} in {server}'s log after {timeout}s; its tail:\n{tail}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def daemon():
    assert TIME_SERVER.exists(), f"{TIME_SERVER} is missing: run scripts/setup-test-deps"
    assert EVERYTHING.exists(), f"{EVERYTHING} is missing: run scripts/setup-test-deps"
    d = Daemon(suite_config())
    try:
        for name in SERVER_NAMES:
            d.wait_running(name)
        # server-everything asks for the roots of its one client 350 ms after its handshake
        # (bridgedock's, which declared roots). No client is connected then, so bridgedock
        # says no; waiting for that keeps this unprompted request out of the first test's call
        # (it would be taken as that call's request).
        wait_for_log_line(d, "everything", "Failed to request roots")
        yield d
    finally:
        d.stop()


def http_url(daemon: Daemon, server: str) -> str:
    return f"http://{daemon.addr}/mcp/{server}"


class Wire:
    """What a client POSTed to bridgedock: the JSON-RPC method of each message, in order."""

    def __init__(self):
        self.methods: list[str] = []
        self.headers: list[dict] = []

    async def record(self, request: httpx2.Request) -> None:
        body = json.loads(request.content) if request.content else {}
        self.methods.append(body.get("method", "(answer)" if "id" in body else "(none)"))
        self.headers.append(dict(request.headers))


@asynccontextmanager
async def mcp_client(daemon: Daemon, server: str, **client_options):
    """An mcp 2.x `Client` in its default mode (auto) on bridgedock's `/mcp/SERVER`, with the
    bearer token on an httpx2 client that also records what it sends. Yields (client, wire)."""
    wire = Wire()
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {daemon.token}"},
        timeout=HTTP_TIMEOUT,
        event_hooks={"request": [wire.record]},
    ) as http:
        transport = streamable_http_client(http_url(daemon, server), http_client=http)
        async with Client(transport, **client_options) as client:
            yield client, wire


def assert_modern_without_fallback(client, wire: Wire, server: str) -> None:
    """The client negotiated 2026-07-28 with bridgedock's answer to its probe: it sent
    server/discover first and never initialize, and knows the server by its real name."""
    assert client.protocol_version == MODERN, (
        f"{server}: the client negotiated {client.protocol_version}, not {MODERN} (it fell back)"
    )
    assert wire.methods[:1] == ["server/discover"], f"{server}: the client's first messages: {wire.methods}"
    assert "initialize" not in wire.methods, f"{server}: the client fell back to initialize: {wire.methods}"
    assert client.server_info is not None, f"{server}: discover carried no serverInfo in _meta"
    assert client.server_info.name == SERVER_NAMES[server], client.server_info


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")
