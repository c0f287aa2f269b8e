"""What servers ask of their clients — sampling, elicitation, roots — reaching clients of the
previous SDK major (mcp 1.30.0, the initialize handshake) through bridgedock, as the requests
that era sends: from server-everything (handshake-era, npm), whose requests bridgedock forwards,
and from a native 2026-07-28 server (tests/python-mcp2/native_server.py, run with the mcp 2.x
venv's python), whose input-required results bridgedock turns into requests and retries.

bridgedock declares every capability to every server, so a client sees the same tools whatever
it declared and whoever connected first; a server's request goes only to a client that
declared what it needs."""

import json
import os
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx
import pytest

from bridge_daemon import EVERYTHING, REPO, Daemon

from mcp import ClientSession, types
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import McpError

pytestmark = pytest.mark.anyio

MCP2_VENV = Path(
    os.environ.get("BRIDGEDOCK_TEST_VENV_MCP2", Path.home() / ".cache" / "bridgedock" / "test-venv-mcp2")
)
NATIVE_SERVER = REPO / "tests" / "python-mcp2" / "native_server.py"
ROOT_URI = "file:///tmp/legacy-project"
# Each server's tool that needs sampling, and the name of its text argument.
SAMPLING_TOOL = {"everything": ("trigger-sampling-request", "prompt"), "native": ("summarize", "text")}


@pytest.fixture(scope="module")
def daemon():
    python = MCP2_VENV / "bin" / "python"
    assert python.exists(), f"{python} is missing (the mcp 2.x venv): run scripts/setup-test-deps"
    d = Daemon(
        "[servers.everything]\n"
        'command = "node"\n'
        f"args = [{json.dumps(str(EVERYTHING))}]\n\n"
        "[servers.native]\n"
        f"command = {json.dumps(str(python))}\n"
        f"args = [{json.dumps(str(NATIVE_SERVER))}]\n"
    )
    try:
        d.wait_running("everything")
        d.wait_running("native")
        # server-everything asks its one client (bridgedock) for roots 350 ms after its
        # handshake, when no client is connected: wait for bridgedock's no, so that this
        # unprompted request does not land in a test's call.
        deadline = time.monotonic() + 20
        while "Failed to request roots" not in d.ctl("logs", "everything"):
            assert time.monotonic() < deadline, "server-everything never asked for roots:\n" + d.ctl("logs", "everything")
            time.sleep(0.05)
        yield d
    finally:
        d.stop()


class Recording(ClientSession):
    """A ClientSession that remembers every request the server side sent it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []

    async def _received_request(self, responder):
        self.asked.append(responder.request.root.method)
        return await super()._received_request(responder)


class Answers:
    def __init__(self, sample="a 1.x sample"):
        self.sample = sample
        self.prompts = []

    async def sampling(self, context, params):
        self.prompts.append(" ".join(m.content.text for m in params.messages if m.content.type == "text"))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=self.sample), model="test-llm"
        )

    async def elicitation(self, context, params):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def roots(self, context):
        return types.ListRootsResult(roots=[types.Root(uri=ROOT_URI, name="project")])


async def connect(stack, daemon, server, **callbacks) -> Recording:
    """A 1.x client session on bridgedock, once its GET stream (where a server's requests
    come when they belong to no call of this client) is open."""
    url = f"http://{daemon.addr}/mcp/{server}"
    get_stream_open = anyio.Event()

    async def on_response(response):
        if response.request.method == "GET" and response.status_code == 200:
            get_stream_open.set()

    def http_client(headers=None, timeout=None, auth=None):
        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        client.event_hooks["response"].append(on_response)
        return client

    read, write, _ = await stack.enter_async_context(streamablehttp_client(
        url, headers={"Authorization": f"Bearer {daemon.token}"}, httpx_client_factory=http_client
    ))
    session = await stack.enter_async_context(Recording(read, write, **callbacks))
    init = await session.initialize()
    assert init.protocolVersion == "2025-11-25", init
    with anyio.fail_after(10):
        await get_stream_open.wait()
    return session


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_a_handshake_era_servers_sampling_elicitation_and_roots_reach_a_1x_client_as_requests(daemon):
    answers = Answers(sample="sampled by 1.x")
    async with AsyncExitStack() as stack:
        s = await connect(stack, daemon, "everything", sampling_callback=answers.sampling,
                          elicitation_callback=answers.elicitation, list_roots_callback=answers.roots)
        sampled = await s.call_tool("trigger-sampling-request", {"prompt": "the tide"})
        assert "sampled by 1.x" in text_of(sampled), sampled
        assert answers.prompts == ["Resource trigger-sampling-request context: the tide"]
        elicited = await s.call_tool("trigger-elicitation-request", {})
        assert "Ada" in text_of(elicited), elicited
        roots = await s.call_tool("get-roots-list", {})
        assert ROOT_URI in text_of(roots), roots
        assert {"sampling/createMessage", "elicitation/create", "roots/list"} <= set(s.asked), s.asked


async def test_a_native_servers_input_required_results_reach_a_1x_client_as_requests(daemon):
    answers = Answers(sample="short")
    async with AsyncExitStack() as stack:
        s = await connect(stack, daemon, "native", sampling_callback=answers.sampling,
                          elicitation_callback=answers.elicitation, list_roots_callback=answers.roots)
        assert text_of(await s.call_tool("ask_name", {})) == "hello Ada"
        assert s.asked == ["elicitation/create"]
        assert text_of(await s.call_tool("summarize", {"text": "a long story"})) == "summary: short"
        assert answers.prompts == ["Summarize: a long story"]
        assert text_of(await s.call_tool("show_roots", {})) == f"roots: {ROOT_URI}"
        assert s.asked == ["elicitation/create", "sampling/createMessage", "roots/list"]


async def open_pair(stack, daemon, server, first, capable_answers):
    """A 1.x client without sampling and one with it, connected in the order `first` says."""
    order = ["without", "with"] if first == "without sampling" else ["with", "without"]
    sessions = {}
    for who in order:
        callbacks = {"sampling_callback": capable_answers.sampling} if who == "with" else {}
        sessions[who] = await connect(stack, daemon, server, **callbacks)
    return sessions["without"], sessions["with"]


@pytest.mark.parametrize("first", ["without sampling", "with sampling"])
@pytest.mark.parametrize("server", ["everything", "native"])
async def test_1x_clients_with_and_without_sampling_see_the_same_server_in_either_order(daemon, server, first):
    answers = Answers(sample="the capable one's sample")
    tool, arg = SAMPLING_TOOL[server]
    async with AsyncExitStack() as stack:
        plain, capable = await open_pair(stack, daemon, server, first, answers)
        for who, s in (("without", plain), ("with", capable)):
            names = [t.name for t in (await s.list_tools()).tools]
            assert tool in names, f"the client {who} sampling, connected {first} first, does not see {tool}: {names}"
        done = await capable.call_tool(tool, {arg: "for me"})
        assert "the capable one's sample" in text_of(done), done
        assert capable.asked.count("sampling/createMessage") == 1, capable.asked
        # The one without sampling is never sent a sampling request, whatever its call gets.
        with anyio.fail_after(30):
            try:
                await plain.call_tool(tool, {arg: "for the other"})
            except McpError:
                pass
        assert "sampling/createMessage" not in plain.asked, plain.asked


@pytest.mark.parametrize("first", ["without sampling", "with sampling"])
@pytest.mark.parametrize("server", [
    "everything",
    "native",
])
async def test_a_1x_client_without_sampling_gets_a_clear_error_and_no_other_client_is_asked(daemon, server, first):
    answers = Answers()
    tool, arg = SAMPLING_TOOL[server]
    async with AsyncExitStack() as stack:
        plain, capable = await open_pair(stack, daemon, server, first, answers)
        try:
            result = await plain.call_tool(tool, {arg: "secret of the plain client"})
        except McpError as e:
            assert e.error.code == -32021 and "sampling" in e.error.message, e.error
        else:
            assert result.isError and "sampling" in text_of(result), (
                f"the call of the client without sampling succeeded: {text_of(result)[:300]}"
            )
        assert answers.prompts == [], f"the other client was asked to sample this call: {answers.prompts}"
        assert "sampling/createMessage" not in capable.asked + plain.asked, (capable.asked, plain.asked)


async def test_a_2026_call_without_sampling_is_refused_and_not_sampled_by_a_1x_client(daemon):
    answers = Answers()
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    async with AsyncExitStack() as stack:
        capable = await connect(stack, daemon, "everything", sampling_callback=answers.sampling)
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                f"http://{daemon.addr}/mcp/everything",
                headers={
                    "Authorization": f"Bearer {daemon.token}",
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "tools/call",
                    "Mcp-Name": "trigger-sampling-request",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": "trigger-sampling-request", "arguments": {"prompt": "raw secret"}, "_meta": meta}},
            )
        assert answers.prompts == [], f"the 1.x client was asked to sample the 2026 client's call: {answers.prompts}"
        body = r.json()
        assert "error" in body and body["error"]["code"] == -32021, body
        assert body["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}, body


async def test_a_server_request_sent_before_a_sessions_get_stream_opens_arrives_when_it_opens(daemon):
    url = f"http://{daemon.addr}/mcp/everything"
    name = f"late-get-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {daemon.token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {"roots": {}},
                "clientInfo": {"name": name, "version": "1"}}})
        assert r.status_code == 200, r.text
        session = {**headers, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        # A client that can list roots arrived: bridgedock tells server-everything the roots may
        # have changed, and it asks for them (for no call): this session is the one to answer.
        r = await http.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status_code == 202, r.text

        def roots_request_sent_to_us():
            mine = [c for c in daemon.status()["clients"] if c["client_name"] == name]
            return mine and mine[0]["messages_out"] >= 2  # the initialize answer, then roots/list

        deadline = time.monotonic() + 10
        while not await anyio.to_thread.run_sync(roots_request_sent_to_us):
            assert time.monotonic() < deadline, f"bridgedock sent {name} no roots/list: {daemon.status()['clients']}"
            await anyio.sleep(0.05)

        asked = []
        with anyio.move_on_after(5):
            async with http.stream("GET", url, headers={**session, "Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        message = json.loads(line[5:])
                        asked.append(message.get("method"))
                        if message.get("method") == "roots/list":
                            await http.post(url, headers=session, json={
                                "jsonrpc": "2.0", "id": message["id"], "result": {"roots": []}})
                            break
        await http.delete(url, headers=session)
    assert "roots/list" in asked, f"the GET stream opened after the request was sent got only {asked}"
