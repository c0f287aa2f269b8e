"""mcp 2.3.0's `mcp.Client`, in its default mode ("auto": it probes with server/discover and
falls back to initialize on anything but a conformant answer), through bridgedock to a
handshake-era npm server, a native 2026-07-28 Python server, the built-in demo and PyPI's time
server. bridgedock must keep it on 2026-07-28 with all of them, and carry what those servers
ask of it (sampling, elicitation, roots) through that revision's input-required results."""

import json
import uuid

import anyio
import httpx2
import pytest

from conftest import (
    EVERYTHING_DOC,
    MODERN,
    SERVER_NAMES,
    SERVER_REVISIONS,
    assert_modern_without_fallback,
    http_url,
    mcp_client,
    text_of,
)
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolResult,
    CreateMessageResult,
    ElicitResult,
    InputRequiredResult,
    ListRootsResult,
    Root,
    TextContent,
)

pytestmark = pytest.mark.anyio

ROOT_URI = "file:///tmp/bridgedock-project"
ROOT = Root(uri=ROOT_URI, name="project")


class Asked:
    """Callbacks that answer as a user and a model would, and remember what they were asked."""

    def __init__(self, sample_text="a short summary", name="Ada"):
        self.sample_text = sample_text
        self.name = name
        self.sampling = []
        self.elicitation = []
        self.roots = 0

    async def sample(self, context, params):
        self.sampling.append(params)
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text=self.sample_text), model="test-llm")

    async def elicit(self, context, params):
        self.elicitation.append(params)
        return ElicitResult(action="accept", content={"name": self.name})

    async def list_roots(self, context):
        self.roots += 1
        return ListRootsResult(roots=[ROOT])

    def options(self):
        return dict(sampling_callback=self.sample, elicitation_callback=self.elicit, list_roots_callback=self.list_roots)


def prompt_text(params) -> str:
    return " ".join(m.content.text for m in params.messages if m.content.type == "text")


async def clients_of(daemon, server):
    status = await anyio.to_thread.run_sync(daemon.status)
    return [c for c in status["clients"] if c["server"] == server]


# ------------------------------------------------------------------ the era

@pytest.mark.parametrize("server", ["everything", "native", "demo", "time"])
async def test_the_default_client_stays_on_2026_07_28_with_every_kind_of_server(daemon, server):
    async with mcp_client(daemon, server) as (client, wire):
        assert_modern_without_fallback(client, wire, server)
        tools = await client.list_tools()
        assert tools.tools, f"{server} listed no tools"
        assert (tools.ttl_ms, tools.cache_scope) == (0, "private"), tools
    # Every request carried that revision's headers, and none asked for a session.
    for method, headers in zip(wire.methods, wire.headers):
        assert headers.get("mcp-protocol-version") == MODERN, (method, headers)
        assert headers.get("mcp-method") == method, (method, headers)
        assert "mcp-session-id" not in headers, (method, headers)


async def test_a_url_with_the_token_in_it_is_all_the_client_needs(daemon):
    # `Client(url)` with nothing else: the SDK's own HTTP client, the token in the query.
    async with Client(f"{http_url(daemon, 'native')}?token={daemon.token}") as client:
        assert client.protocol_version == MODERN
        assert client.server_info.name == SERVER_NAMES["native"]
        assert "echo: hi" in text_of(await client.call_tool("echo", {"text": "hi"}))


# ------------------------------------------------------------------ tools, resources, prompts, progress

async def test_a_handshake_era_servers_tools_resources_prompts_and_progress(daemon):
    async with mcp_client(daemon, "everything") as (client, wire):
        names = [t.name for t in (await client.list_tools()).tools]
        assert {"echo", "get-sum", "trigger-long-running-operation"} <= set(names), names
        assert "over the bridge" in text_of(await client.call_tool("echo", {"message": "over the bridge"}))
        total = await client.call_tool("get-sum", {"a": 2, "b": 40})
        assert "42" in text_of(total), total

        progress = []

        async def on_progress(p, total, message):
            progress.append((p, total))

        done = await client.call_tool(
            "trigger-long-running-operation", {"duration": 1, "steps": 2}, progress_callback=on_progress
        )
        assert not done.is_error, done
        assert progress == [(1, 2), (2, 2)], progress

        resources = await client.list_resources()
        assert EVERYTHING_DOC in [str(r.uri) for r in resources.resources]
        assert (resources.ttl_ms, resources.cache_scope) == (0, "private")
        read = await client.read_resource(EVERYTHING_DOC)
        assert read.contents[0].text.startswith("# Everything Server"), read.contents[0].text[:80]
        assert (read.ttl_ms, read.cache_scope) == (0, "private")

        prompts = await client.list_prompts()
        assert "simple-prompt" in [p.name for p in prompts.prompts]
        prompt = await client.get_prompt("simple-prompt")
        assert prompt.messages[0].content.text == "This is a simple prompt without arguments."
    assert "initialize" not in wire.methods


async def test_the_native_servers_tools_resources_prompts_and_progress(daemon):
    async with mcp_client(daemon, "native") as (client, _):
        assert "echo: hi" in text_of(await client.call_tool("echo", {"text": "hi"}))
        progress = []

        async def on_progress(p, total, message):
            progress.append((p, total, message))

        slow = await client.call_tool("slow", {"steps": 3}, progress_callback=on_progress)
        assert text_of(slow) == "did 3 steps"
        assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")], progress

        resources = await client.list_resources()
        assert [str(r.uri) for r in resources.resources] == ["config://app"]
        config = json.loads((await client.read_resource("config://app")).contents[0].text)
        assert config["theme"] == "dark", config

        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["greet"]
        greeting = await client.get_prompt("greet", {"name": "Bob"})
        assert greeting.messages[0].content.text == "Say hi to Bob"


async def test_the_demo_servers_tools_resources_prompts_and_progress(daemon):
    async with mcp_client(daemon, "demo") as (client, _):
        added = await client.call_tool("add", {"a": 2, "b": 40})
        assert added.structured_content is not None and 42 in added.structured_content.values(), added
        progress = []

        async def on_progress(p, total, message):
            progress.append(p)

        counted = await client.call_tool("slow_count", {"to": 3, "delay_ms": 10}, progress_callback=on_progress)
        assert not counted.is_error, counted
        assert progress == [1, 2, 3], progress
        readme = await client.read_resource("demo://readme")
        assert readme.contents[0].text.startswith("bridgedock demo server")
        greeting = await client.get_prompt("greet", {"name": "Bob"})
        assert "Bob" in greeting.messages[0].content.text


# ------------------------------------------------------------------ what servers ask of the client

async def test_a_handshake_era_servers_sampling_request_comes_back_as_an_input_required_result(daemon):
    # Driven by hand, to see the 2026-07-28 shape: the first answer asks for a sample, the
    # retry carrying it gets the tool's result.
    async with mcp_client(daemon, "everything", **Asked().options()) as (client, _):
        first = await client.session.call_tool(
            "trigger-sampling-request", {"prompt": "the weather"}, allow_input_required=True
        )
        assert isinstance(first, InputRequiredResult), first
        asks = {k: v.model_dump(by_alias=True, exclude_none=True) for k, v in (first.input_requests or {}).items()}
        assert [a["method"] for a in asks.values()] == ["sampling/createMessage"], asks
        (key, ask), = asks.items()
        assert "the weather" in json.dumps(ask["params"]["messages"]), ask
        assert first.request_state, "an input-required result from bridgedock names the parked call"

        answer = CreateMessageResult(role="assistant", content=TextContent(type="text", text="sunny, by hand"), model="m")
        final = await client.session.call_tool(
            "trigger-sampling-request",
            {"prompt": "the weather"},
            input_responses={key: answer},
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(final, CallToolResult), final
        assert "sunny, by hand" in text_of(final), final


async def test_a_handshake_era_server_gets_sampling_elicitation_and_roots_from_the_callbacks(daemon):
    asked = Asked(sample_text="sampled for everything", name="Ada Lovelace")
    async with mcp_client(daemon, "everything", **asked.options()) as (client, wire):
        sampled = await client.call_tool("trigger-sampling-request", {"prompt": "the sea"})
        assert "sampled for everything" in text_of(sampled), sampled
        assert [prompt_text(p) for p in asked.sampling] == ["Resource trigger-sampling-request context: the sea"]

        elicited = await client.call_tool("trigger-elicitation-request", {})
        assert "Ada Lovelace" in text_of(elicited), elicited
        assert len(asked.elicitation) == 1 and "name" in asked.elicitation[0].requested_schema["properties"]

        # server-everything asks its one client (bridgedock) for roots once, and keeps them:
        # keep this the suite's only call of get-roots-list, so that this client is the one asked.
        roots = await client.call_tool("get-roots-list", {})
        assert ROOT_URI in text_of(roots), roots
        assert asked.roots == 1
    # Each of them was one call answered with input-required, then its retry.
    assert wire.methods.count("tools/call") == 6, wire.methods
    assert "initialize" not in wire.methods


async def test_the_native_server_gets_sampling_elicitation_and_roots_from_the_callbacks(daemon):
    asked = Asked(sample_text="three words only")
    async with mcp_client(daemon, "native", **asked.options()) as (client, _):
        # The native server's own input-required result reaches the client as the server made
        # it: its own requestState (sealed by the server), its own keys.
        first = await client.session.call_tool("ask_name", {}, allow_input_required=True)
        assert isinstance(first, InputRequiredResult), first
        assert first.request_state and not first.request_state.startswith("bridgedock-input-"), first.request_state
        assert [r.method for r in first.input_requests.values()] == ["elicitation/create"]

        assert text_of(await client.call_tool("ask_name", {})) == "hello Ada"
        assert [p.message for p in asked.elicitation] == ["What is your name?"]
        assert text_of(await client.call_tool("summarize", {"text": "a long text"})) == "summary: three words only"
        assert [prompt_text(p) for p in asked.sampling] == ["Summarize: a long text"]
        assert text_of(await client.call_tool("show_roots", {})) == f"roots: {ROOT_URI}"
        assert asked.roots == 1


# ------------------------------------------------------------------ subscriptions, logs

async def test_a_listen_stream_gets_the_native_servers_tool_list_changes_and_resource_updates(daemon):
    tool = f"sprout_{uuid.uuid4().hex[:8]}"
    async with mcp_client(daemon, "native") as (client, _):
        async with client.listen(tools_list_changed=True, resource_subscriptions=["config://app"]) as sub:
            assert sub.honored.tools_list_changed and sub.honored.resource_subscriptions == ["config://app"]
            # While it listens, bridgedock shows the client, in its revision, and the server's.
            listening = [c for c in await clients_of(daemon, "native") if c["client_name"] == "mcp"]
            assert [(c["protocol_version"], c["server_protocol_version"]) for c in listening] == [
                (MODERN, SERVER_REVISIONS["native"])
            ], listening

            assert text_of(await client.call_tool("grow", {"name": tool})) == f"added {tool}"
            assert text_of(await client.call_tool("touch", {})).startswith("touched")
            events = []
            with anyio.fail_after(10):
                async for event in sub:
                    events.append(event)
                    if len(events) == 2:
                        break
            assert events == [ToolsListChanged(), ResourceUpdated(uri="config://app")], events
        names = [t.name for t in (await client.list_tools()).tools]
        assert tool in names, names
        assert text_of(await client.call_tool(tool, {})) == f"I am {tool}"


async def test_a_listen_stream_gets_a_handshake_era_servers_resource_updates(daemon):
    async with mcp_client(daemon, "everything") as (client, _):
        async with client.listen(resource_subscriptions=[EVERYTHING_DOC]) as sub:
            assert sub.honored.resource_subscriptions == [EVERYTHING_DOC]
            listening = [c for c in await clients_of(daemon, "everything") if c["client_name"] == "mcp"]
            assert [(c["protocol_version"], c["server_protocol_version"]) for c in listening] == [
                (MODERN, SERVER_REVISIONS["everything"])
            ], listening
            # server-everything sends an update for every subscribed resource at once, then
            # every 5 s until toggled off.
            started = await client.call_tool("toggle-subscriber-updates", {})
            assert "Started" in text_of(started), started
            try:
                with anyio.fail_after(10):
                    event = await sub.__anext__()
                assert event == ResourceUpdated(uri=EVERYTHING_DOC), event
            finally:
                stopped = await client.call_tool("toggle-subscriber-updates", {})
                assert "Stopped" in text_of(stopped), stopped


async def test_the_native_server_logs_to_a_request_at_the_level_it_asks_for(daemon):
    logs = []

    async def on_log(params):
        logs.append((params.level, params.data))

    async with mcp_client(daemon, "native", logging_callback=on_log) as (client, _):
        await client.call_tool("slow", {"steps": 1})
        assert logs == [], "a request that asked for no logs got some"
        await client.call_tool("slow", {"steps": 1}, meta={"io.modelcontextprotocol/logLevel": "info"})
        assert logs == [("info", "starting 1 steps")], logs
    logs.clear()
    async with mcp_client(daemon, "native", logging_callback=on_log, log_level="debug") as (client, _):
        await client.call_tool("slow", {"steps": 1})
        assert logs == [("info", "starting 1 steps"), ("debug", "debug detail")], logs


async def test_the_demo_server_logs_to_a_request_that_asks_for_logs(daemon):
    logs = []

    async def on_log(params):
        logs.append((params.level, params.data))

    async with mcp_client(daemon, "demo", logging_callback=on_log, log_level="warning") as (client, _):
        await client.call_tool("write_logs", {"count": 1, "level": "info"})
        await client.call_tool("write_logs", {"count": 1, "level": "warning"})
    assert logs == [("warning", "log line 1 of 1")], logs


# ------------------------------------------------------------------ capabilities, both orders

@pytest.mark.parametrize("first", ["without sampling", "with sampling"])
async def test_a_client_without_sampling_and_one_with_it_see_the_same_server_in_either_order(daemon, first):
    capable_asked = Asked(sample_text="capable's sample")
    plain_asked = Asked()
    options = {
        "without sampling": dict(elicitation_callback=plain_asked.elicit),  # sampling not declared
        "with sampling": capable_asked.options(),
    }
    second = "with sampling" if first == "without sampling" else "without sampling"
    async with mcp_client(daemon, "everything", **options[first]) as (one, _):
        async with mcp_client(daemon, "everything", **options[second]) as (two, _):
            plain, capable = (one, two) if first == "without sampling" else (two, one)
            for who, client in (("without", plain), ("with", capable)):
                names = [t.name for t in (await client.list_tools()).tools]
                assert "trigger-sampling-request" in names, f"the client {who} sampling does not see it: {names}"

            # The one without sampling: a clear error, and no sampling request, not even
            # inside an input-required result.
            with pytest.raises(MCPError) as refused:
                await plain.session.call_tool(
                    "trigger-sampling-request", {"prompt": "not for you"}, allow_input_required=True
                )
            error = refused.value.error
            assert error.code == -32021, error
            assert "sampling" in error.message and error.data == {"requiredCapabilities": {"sampling": {}}}, error
            assert plain_asked.sampling == []
            assert capable_asked.sampling == [], "the other client was asked to sample for this call"

            # The one with sampling uses it.
            sampled = await capable.call_tool("trigger-sampling-request", {"prompt": "for you"})
            assert "capable's sample" in text_of(sampled), sampled
            assert [prompt_text(p) for p in capable_asked.sampling] == [
                "Resource trigger-sampling-request context: for you"
            ]


async def test_a_server_request_for_no_call_does_not_fail_an_unrelated_2026_call(daemon):
    url = http_url(daemon, "everything")
    headers = {"Authorization": f"Bearer {daemon.token}", "Accept": "application/json, text/event-stream"}
    progress = anyio.Event()

    async def on_progress(p, total, message):
        progress.set()

    async with mcp_client(daemon, "everything") as (client, _), httpx2.AsyncClient(timeout=30) as http:
        outcome = {}

        async def long_call():
            try:
                outcome["result"] = await client.call_tool(
                    "trigger-long-running-operation", {"duration": 2, "steps": 4}, progress_callback=on_progress
                )
            except MCPError as e:
                outcome["error"] = e.error

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_call)
            with anyio.fail_after(10):
                await progress.wait()  # the call is running at the server
            # A handshake-era client says its roots changed; server-everything asks for roots,
            # for no call of anyone's, and no connected client declared roots.
            r = await http.post(url, headers=headers, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "roots-changed", "version": "1"}}})
            session = {**headers, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
            await http.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            await http.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
        await http.delete(url, headers=session)
    assert "error" not in outcome, f"the unrelated call failed: {outcome.get('error')}"
    assert "Long running operation completed" in text_of(outcome["result"]), outcome
