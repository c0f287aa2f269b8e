"""The demo server driven by the official MCP Python SDK client (mcp.client.stdio)."""

import datetime
import sys
import tempfile
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl

from conftest import DEMO_SERVER

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def demo_session(errlog=None, **session_kwargs):
    """An initialized ClientSession on a fresh demo server; yields (session, init_result)."""
    params = StdioServerParameters(command=sys.executable, args=[str(DEMO_SERVER)])
    own_log = errlog is None
    if own_log:
        errlog = tempfile.TemporaryFile("w+")
    try:
        with anyio.fail_after(30):
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, **session_kwargs) as session:
                    init = await session.initialize()
                    yield session, init
    finally:
        if own_log:
            errlog.close()


def text_of(result):
    assert len(result.content) == 1
    content = result.content[0]
    assert content.type == "text"
    return content.text


async def test_initialize_negotiates_latest_version_and_reports_server_info():
    async with demo_session() as (session, init):
        assert init.serverInfo.name == "bridgedock-demo"
        assert init.serverInfo.version == "1.0.0"
        # The SDK asks for its latest version, which the demo server supports.
        assert types.LATEST_PROTOCOL_VERSION == "2025-11-25"
        assert init.protocolVersion == types.LATEST_PROTOCOL_VERSION
        caps = init.capabilities
        assert caps.tools is not None and caps.tools.listChanged is False
        assert caps.logging is not None
        assert caps.resources is not None
        assert caps.prompts is not None


async def test_ping():
    async with demo_session() as (session, _):
        assert isinstance(await session.send_ping(), types.EmptyResult)


async def test_list_tools_with_schemas():
    async with demo_session() as (session, _):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"echo", "add", "current_time", "write_logs", "slow_count", "crash"}
        for tool in tools.values():
            assert tool.inputSchema["type"] == "object"
            assert tool.description
        assert tools["echo"].inputSchema["required"] == ["text"]
        assert tools["add"].inputSchema["properties"]["a"]["type"] == "number"
        assert tools["add"].outputSchema["properties"]["sum"]["type"] == "number"
        assert tools["write_logs"].inputSchema["properties"]["count"]["maximum"] == 10000
        assert tools["slow_count"].inputSchema["properties"]["to"]["maximum"] == 100


async def test_echo():
    async with demo_session() as (session, _):
        result = await session.call_tool("echo", {"text": "hello, bridgedock ✓"})
        assert not result.isError
        assert text_of(result) == "hello, bridgedock ✓"


async def test_add_returns_text_and_structured_content():
    async with demo_session() as (session, _):
        result = await session.call_tool("add", {"a": 2, "b": 40})
        assert not result.isError
        assert text_of(result) == "42"
        assert result.structuredContent == {"sum": 42}

        result = await session.call_tool("add", {"a": 1.5, "b": -0.25})
        assert result.structuredContent == {"sum": 1.25}


async def test_add_with_bad_argument_is_a_tool_error_naming_it():
    async with demo_session() as (session, _):
        result = await session.call_tool("add", {"a": "two", "b": 1})
        assert result.isError
        assert "'a'" in text_of(result)


async def test_current_time_default_utc_and_named_zone():
    async with demo_session() as (session, _):
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        result = await session.call_tool("current_time", {})
        assert not result.isError
        stamp = datetime.datetime.fromisoformat(text_of(result))
        assert stamp.utcoffset() == datetime.timedelta(0)
        assert abs((stamp - before).total_seconds()) < 60

        result = await session.call_tool("current_time", {"timezone": "Asia/Kolkata"})
        assert not result.isError
        stamp = datetime.datetime.fromisoformat(text_of(result))
        assert stamp.utcoffset() == datetime.timedelta(hours=5, minutes=30)


async def test_current_time_unknown_zone_is_error():
    async with demo_session() as (session, _):
        result = await session.call_tool("current_time", {"timezone": "Mars/Olympus_Mons"})
        assert result.isError
        assert "unknown time zone 'Mars/Olympus_Mons'" in text_of(result)


async def test_write_logs_goes_to_stderr(tmp_path):
    with open(tmp_path / "stderr.log", "w+") as errlog:
        async with demo_session(errlog=errlog) as (session, _):
            result = await session.call_tool("write_logs", {"count": 7, "level": "warning"})
            assert not result.isError
            assert text_of(result) == "wrote 7 lines to stderr"
            # The tool answers after writing; give the stderr file a moment to be complete.
            await session.send_ping()
        lines = (tmp_path / "stderr.log").read_text().splitlines()

    assert lines[0].startswith("demo: bridgedock demo server 1.0.0 ready (pid ")
    log_lines = [line for line in lines if " demo: log line " in line]
    assert len(log_lines) == 7
    for i, line in enumerate(log_lines, start=1):
        stamp, level, rest = line.split(" ", 2)
        datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
        assert level == "WARNING"
        assert rest == "demo: log line %d of 7" % i


async def test_write_logs_sends_log_notifications_at_or_above_level():
    received = []

    async def on_log(params: types.LoggingMessageNotificationParams):
        received.append(params)

    async with demo_session(logging_callback=on_log) as (session, _):
        await session.call_tool("write_logs", {"count": 2})  # level not set yet: none
        await session.set_logging_level("warning")
        await session.call_tool("write_logs", {"count": 3, "level": "info"})  # below: none
        await session.call_tool("write_logs", {"count": 2, "level": "error"})  # at/above: sent
        await session.send_ping()

    assert [(p.level, p.data) for p in received] == [
        ("error", "log line 1 of 2"),
        ("error", "log line 2 of 2"),
    ]
    assert all(p.logger == "demo" for p in received)


async def test_slow_count_reports_progress():
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async with demo_session() as (session, _):
        result = await session.call_tool(
            "slow_count", {"to": 5, "delay_ms": 10}, progress_callback=on_progress
        )
        assert not result.isError
        assert text_of(result) == "counted to 5"

    assert [(v, t) for v, t, _ in progress] == [(i, 5) for i in range(1, 6)]
    assert progress[-1][2] == "counted 5 of 5"


async def test_slow_count_does_not_block_other_requests():
    async with demo_session() as (session, _):
        done = anyio.Event()
        results = {}

        async def slow():
            results["slow"] = await session.call_tool("slow_count", {"to": 10, "delay_ms": 100})
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            await anyio.sleep(0.1)
            with anyio.fail_after(0.5):  # the slow call takes ~1 s
                await session.send_ping()
                echoed = await session.call_tool("echo", {"text": "still responsive"})
            assert not done.is_set()
            assert text_of(echoed) == "still responsive"
        assert text_of(results["slow"]) == "counted to 10"


async def test_resources():
    async with demo_session() as (session, _):
        resources = (await session.list_resources()).resources
        assert [str(r.uri) for r in resources] == ["demo://readme"]
        assert resources[0].mimeType == "text/plain"

        read = await session.read_resource(AnyUrl("demo://readme"))
        assert len(read.contents) == 1
        content = read.contents[0]
        assert str(content.uri) == "demo://readme"
        assert content.mimeType == "text/plain"
        assert "bridgedock demo server" in content.text

        with pytest.raises(McpError) as err:
            await session.read_resource(AnyUrl("demo://nope"))
        assert "demo://nope" in err.value.error.message


async def test_prompts():
    async with demo_session() as (session, _):
        prompts = (await session.list_prompts()).prompts
        assert [p.name for p in prompts] == ["greet"]
        assert [(a.name, a.required) for a in prompts[0].arguments] == [("name", True)]

        got = await session.get_prompt("greet", {"name": "Ada"})
        assert len(got.messages) == 1
        assert got.messages[0].role == "user"
        assert "Ada" in got.messages[0].content.text

        with pytest.raises(McpError) as err:
            await session.get_prompt("greet", {})
        assert err.value.error.code == types.INVALID_PARAMS
        assert "'name'" in err.value.error.message


async def test_unknown_tool_is_a_jsonrpc_error():
    async with demo_session() as (session, _):
        with pytest.raises(McpError) as err:
            await session.call_tool("does_not_exist", {})
        assert err.value.error.code == types.INVALID_PARAMS
        assert err.value.error.message == "unknown tool: does_not_exist"
        # The session is still usable afterwards.
        await session.send_ping()
