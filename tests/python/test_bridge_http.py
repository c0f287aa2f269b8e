"""Streamable HTTP through bridgedock with real peers: the official MCP Python SDK's streamable
HTTP client against server-everything (npm) and mcp-server-time (PyPI), and raw HTTP for the
protocol's edges (sessions, headers, the stateless 2026-07-28 form)."""

import json
import time

import anyio
import httpx
import pytest

from bridge_daemon import Daemon, peers_config

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

pytestmark = pytest.mark.anyio

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "stateless-py", "version": "0.1"},
}
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def daemon():
    d = Daemon(peers_config())
    d.wait_running("everything")
    d.wait_running("time")
    yield d
    d.stop()


def http_url(d, server):
    return f"http://{d.addr}/mcp/{server}"


def auth(d, **extra):
    return {"Authorization": f"Bearer {d.token}", "Accept": ACCEPT, **extra}


def sse_messages(text: str):
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


async def test_bridgedock_greets_every_server_itself_before_any_client_comes(daemon):
    # (First in this module: no client has connected to this daemon yet.)
    status = daemon.status()
    assert status["clients"] == [], status["clients"]
    servers = {s["name"]: s for s in status["servers"]}
    assert servers["time"]["reported_version"] == "2026.10.19", servers["time"]
    assert servers["everything"]["reported_version"], servers["everything"]
    # server-everything answered bridgedock's initialize, with everything bridgedock can route
    # declared on behalf of every client (so every client sees the same server)...
    everything = servers["everything"]
    assert everything["state"] == "running" and everything["protocol_revision"] == "2025-11-25", everything
    assert everything["declared_capabilities"] == {
        "roots": {"listChanged": True}, "sampling": {}, "elicitation": {"form": {}, "url": {}}}, everything
    # ...and mcp-server-time (on mcp 2.x) its server/discover probe.
    assert servers["time"]["state"] == "running" and servers["time"]["protocol_revision"] == "2026-07-28", servers["time"]
    # A first client is answered from that handshake, as every later one is.
    async with streamablehttp_client(http_url(daemon, "time"), headers=auth(daemon)) as (r, w, _):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            assert (init.serverInfo.name, init.serverInfo.version) == ("mcp-time", "2026.10.19")
    assert daemon.server("time")["pid"] == servers["time"]["pid"], "the server was restarted"


async def test_tools_progress_and_session_end_with_the_sdk(daemon):
    async with streamablehttp_client(http_url(daemon, "everything"), headers=auth(daemon)) as (r, w, sid):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            assert init.serverInfo.name == "mcp-servers/everything"
            session_id = sid()
            assert session_id and len(session_id) >= 32 and session_id.isascii()
            assert "echo" in [t.name for t in (await s.list_tools()).tools]
            assert "over http" in (await s.call_tool("echo", {"message": "over http"})).content[0].text
            seen = []

            async def on_progress(p, total, message):
                seen.append(p)

            res = await s.call_tool(
                "trigger-long-running-operation", {"duration": 1, "steps": 3}, progress_callback=on_progress
            )
            assert not res.isError and seen == [1, 2, 3]
            clients = daemon.status()["clients"]
            assert any(c["transport"] == "http" and c["server"] == "everything" for c in clients)
    # Leaving the context sent DELETE: the session is gone.
    async with httpx.AsyncClient() as h:
        r = await h.post(
            http_url(daemon, "everything"),
            headers=auth(daemon, **{"Mcp-Session-Id": session_id}),
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert r.status_code == 404
        assert "send initialize again" in r.json()["error"]["message"]
    async with streamablehttp_client(http_url(daemon, "time"), headers=auth(daemon)) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            now = await s.call_tool("get_current_time", {"timezone": "Europe/Berlin"})
            assert now.structuredContent["timezone"] == "Europe/Berlin"


async def test_a_restart_mid_session_fails_the_call_and_the_session_goes_on(daemon):
    first = daemon.wait_running("everything")
    async with streamablehttp_client(http_url(daemon, "everything"), headers=auth(daemon)) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            outcome = {}

            reached_server = anyio.Event()

            async def working(progress, total, message):
                reached_server.set()

            async def long_call():
                try:
                    await s.call_tool(
                        "trigger-long-running-operation",
                        {"duration": 20, "steps": 20},
                        progress_callback=working,
                    )
                except McpError as e:
                    outcome["error"] = e.error
                    outcome["at"] = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                # The server is working on it once it reports progress.
                with anyio.fail_after(10):
                    await reached_server.wait()
                asked = time.monotonic()
                await anyio.to_thread.run_sync(daemon.ctl, "restart", "everything")
            assert outcome["error"].code == -32002
            print(f"HTTP call failed {(outcome['at'] - asked) * 1000:.0f} ms after the restart was asked")
            again = await s.call_tool("echo", {"message": "same session"})
            assert "same session" in again.content[0].text
    assert daemon.wait_running("everything") != first


def modern(d, method, name=None, version="2026-07-28"):
    """The headers a 2026-07-28 request must carry besides the token: its revision, and its
    method and target mirrored from the body (the bridge refuses a request without them)."""
    extra = {"MCP-Protocol-Version": version, "Mcp-Method": method}
    if name is not None:
        extra["Mcp-Name"] = name
    return auth(d, **extra)


async def test_the_stateless_2026_form_needs_no_session(daemon):
    async with httpx.AsyncClient() as h:
        url = http_url(daemon, "time")
        r = await h.post(url, headers=modern(daemon, "server/discover"), json={
            "jsonrpc": "2.0", "id": "d", "method": "server/discover", "params": {"_meta": META}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == "d"
        result = body["result"]
        assert "2026-07-28" in result["supportedVersions"]
        # 2026-07-28 carries serverInfo in _meta, and a discover result is cacheable.
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-time", result
        assert "serverInfo" not in result, result
        assert result["resultType"] == "complete"
        assert (result["ttlMs"], result["cacheScope"]) == (0, "private"), result
        r = await h.post(url, headers=modern(daemon, "tools/call", "get_current_time"), json={
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "get_current_time", "arguments": {"timezone": "UTC"}, "_meta": META}})
        assert r.status_code == 200, r.text
        assert "result" in r.json(), r.text
        result = r.json()["result"]
        assert result["resultType"] == "complete" and result["structuredContent"]["timezone"] == "UTC"
        r = await h.post(url, headers=modern(daemon, "tools/list", version="2030-01-01"), json={
            "jsonrpc": "2.0", "id": 8, "method": "tools/list",
            "params": {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2030-01-01"}}})
        assert r.json()["error"]["code"] == -32022, r.text
        assert "2026-07-28" in r.json()["error"]["data"]["supported"]


async def test_protocol_edges_get_the_right_status_codes(daemon):
    url = http_url(daemon, "everything")
    async with httpx.AsyncClient() as h:
        r = await h.post(url, headers=auth(daemon), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 400 and "Mcp-Session-Id" in r.json()["error"]["message"]
        r = await h.post(url, headers=auth(daemon, **{"Mcp-Session-Id": "nope"}),
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 404
        r = await h.post(url, headers=auth(daemon, **{"MCP-Protocol-Version": "1999-01-01"}),
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 400 and "MCP-Protocol-Version" in r.json()["error"]["message"]
        r = await h.post(url, headers=auth(daemon), content=b"{not json")
        assert r.status_code == 400 and r.json()["error"]["code"] == -32700
        r = await h.post(url, headers={"Accept": ACCEPT}, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 401
        r = await h.post(url, headers=auth(daemon, Origin="https://evil.example"),
                         json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 403
        r = await h.post(f"http://{daemon.addr}/mcp/nope", headers=auth(daemon),
                         json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 404
        # A notification is accepted with 202; DELETE ends the session.
        r = await h.post(url, headers=auth(daemon), json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        sid = r.headers["mcp-session-id"]
        r = await h.post(url, headers=auth(daemon, **{"Mcp-Session-Id": sid}),
                         json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code == 202
        r = await h.delete(url, headers=auth(daemon, **{"Mcp-Session-Id": sid}))
        assert r.status_code == 200
        r = await h.delete(url, headers=auth(daemon, **{"Mcp-Session-Id": sid}))
        assert r.status_code == 404
