"""The WebSocket bridge with real peers: the official MCP Python SDK's websocket client through
bridgedock to `@modelcontextprotocol/server-everything` (npm) and `mcp-server-time` (PyPI)."""

import time
import warnings

import anyio
import pytest

from bridge_daemon import Daemon, peers_config

warnings.filterwarnings("ignore", category=DeprecationWarning)
from mcp import ClientSession  # noqa: E402
from mcp.client.websocket import websocket_client  # noqa: E402
from mcp.shared.exceptions import McpError  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def daemon():
    d = Daemon(peers_config())
    d.wait_running("everything")
    d.wait_running("time")
    yield d
    d.stop()


async def test_list_and_call_tools_on_both_real_servers(daemon):
    async with websocket_client(daemon.url("everything")) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            assert init.serverInfo.name == "mcp-servers/everything"
            names = [t.name for t in (await s.list_tools()).tools]
            assert "echo" in names and "trigger-long-running-operation" in names
            echoed = await s.call_tool("echo", {"message": "through the bridge"})
            assert "through the bridge" in echoed.content[0].text
            total = await s.call_tool("get-sum", {"a": 2, "b": 40})
            assert "42" in total.content[0].text
    async with websocket_client(daemon.url("time")) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            assert init.serverInfo.name == "mcp-time"
            now = await s.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})
            assert now.structuredContent["timezone"] == "Asia/Tokyo"
            bad = await s.call_tool("get_current_time", {"timezone": "Mars/Olympus"})
            assert bad.isError
    assert daemon.server("time")["reported_version"] == "2026.10.19"


async def test_four_clients_with_the_same_progress_token_get_only_their_own(daemon):
    results = {}

    async def one(i: int):
        progress = []

        async def on_progress(p, total, message):
            progress.append((p, total))

        async with websocket_client(daemon.url("everything")) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                # Each SDK session numbers its requests from 0, so all four use the same
                # progress token: the bridge must keep them apart.
                res = await s.call_tool(
                    "trigger-long-running-operation",
                    {"duration": 1, "steps": 2 + i},
                    progress_callback=on_progress,
                )
                results[i] = (progress, res)

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    for i in range(4):
        progress, res = results[i]
        assert [t for _, t in progress] == [2 + i] * (2 + i), f"client {i}: {progress}"
        assert [p for p, _ in progress] == list(range(1, 3 + i))
        assert not res.isError
        assert f"{2 + i} steps" in res.content[0].text or "completed" in res.content[0].text.lower()


async def test_a_server_restarted_mid_call_fails_that_call_fast_and_the_session_carries_on(daemon):
    first = daemon.wait_running("everything")
    async with websocket_client(daemon.url("everything")) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            failed_after = {}

            reached_server = anyio.Event()

            async def working(progress, total, message):
                reached_server.set()

            async def long_call():
                with pytest.raises(McpError) as err:
                    await s.call_tool(
                        "trigger-long-running-operation",
                        {"duration": 20, "steps": 20},
                        progress_callback=working,
                    )
                failed_after["s"] = time.monotonic()
                failed_after["error"] = err.value.error

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                # The server is working on it once it reports progress.
                with anyio.fail_after(10):
                    await reached_server.wait()
                asked = time.monotonic()
                await anyio.to_thread.run_sync(daemon.ctl, "restart", "everything")
            assert failed_after["error"].code == -32002
            assert "everything" in failed_after["error"].message
            took = failed_after["s"] - asked
            print(f"in-flight call failed {took * 1000:.1f} ms after the restart was asked")
            assert took < 5
            # No reconnect: the same session goes on once the server is back.
            again = await s.call_tool("echo", {"message": "after restart"})
            assert "after restart" in again.content[0].text
    assert daemon.wait_running("everything") != first
