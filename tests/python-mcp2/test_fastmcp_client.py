"""fastmcp 4.2.3's `fastmcp.Client(url)`, in its default mode, through bridgedock.

fastmcp probes like mcp 2.x but stricter: a `server/discover` answer missing `resultType`,
`ttlMs` or `cacheScope` counts as handshake-era, and it silently falls back to initialize. So
these tests assert the era it ended up in: its negotiated `protocol_version`, the absence of an
`initialize_result` (a 2026-07-28 connection has none), and bridgedock's own status of the
client while one of its listen streams is open."""

import json
import uuid

import anyio
import pytest

from conftest import EVERYTHING_DOC, MODERN, SERVER_NAMES, SERVER_REVISIONS, http_url, text_of
from fastmcp import Client
from mcp.client.subscriptions import ToolsListChanged, listen

pytestmark = pytest.mark.anyio

ROOT_URI = "file:///tmp/fastmcp-project"


class Handlers:
    """fastmcp's handler signatures, answering as a user and a model would."""

    def __init__(self):
        self.sampled = []
        self.elicited = []
        self.progress = []
        self.logs = []

    async def sampling(self, messages, params, context):
        self.sampled.append(" ".join(m.content.text for m in messages if m.content.type == "text"))
        return "a fastmcp sample"

    async def elicitation(self, message, response_type, params, context):
        self.elicited.append(message)
        return {"name": "Grace"}

    async def on_progress(self, progress, total, message):
        self.progress.append((progress, total))

    async def on_log(self, message):
        self.logs.append((message.level, message.data))

    def options(self):
        return dict(
            sampling_handler=self.sampling,
            elicitation_handler=self.elicitation,
            roots=[ROOT_URI],
            progress_handler=self.on_progress,
            log_handler=self.on_log,
        )


def fastmcp_client(daemon, server, **options):
    # The token as fastmcp takes it: `auth="TOKEN"` is sent as `Authorization: Bearer TOKEN`.
    return Client(http_url(daemon, server), auth=daemon.token, **options)


def assert_modern(client, server):
    assert client.protocol_version == MODERN, (
        f"{server}: fastmcp negotiated {client.protocol_version}, not {MODERN}: it fell back to initialize"
    )
    assert client.initialize_result is None, f"{server}: fastmcp has an initialize result: it fell back"
    assert client.server_info is not None and client.server_info.name == SERVER_NAMES[server], client.server_info


@pytest.mark.parametrize("server", ["everything", "native", "demo"])
async def test_fastmcp_stays_on_2026_07_28_and_bridgedock_sees_it_there(daemon, server):
    async with fastmcp_client(daemon, server) as client:
        assert_modern(client, server)
        assert await client.list_tools()
        # fastmcp has no listen() of its own; the SDK's works on its session.
        async with listen(client.session, tools_list_changed=True) as sub:
            assert sub.honored.tools_list_changed
            status = await anyio.to_thread.run_sync(daemon.status)
            mine = [c for c in status["clients"] if c["server"] == server and c["client_name"] == "fastmcp"]
            assert [(c["protocol_version"], c["server_protocol_version"]) for c in mine] == [
                (MODERN, SERVER_REVISIONS[server])
            ], status["clients"]


async def test_fastmcp_uses_a_handshake_era_servers_tools_resources_prompts_and_what_it_asks(daemon):
    handlers = Handlers()
    async with fastmcp_client(daemon, "everything", **handlers.options()) as client:
        assert_modern(client, "everything")
        names = [t.name for t in await client.list_tools()]
        assert {"echo", "trigger-sampling-request", "trigger-elicitation-request"} <= set(names)
        assert "from fastmcp" in text_of(await client.call_tool("echo", {"message": "from fastmcp"}))

        done = await client.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 2})
        assert not done.is_error
        assert handlers.progress == [(1, 2), (2, 2)], handlers.progress

        assert EVERYTHING_DOC in [str(r.uri) for r in await client.list_resources()]
        doc = await client.read_resource(EVERYTHING_DOC)
        assert doc[0].text.startswith("# Everything Server")
        assert "simple-prompt" in [p.name for p in await client.list_prompts()]
        prompt = await client.get_prompt("simple-prompt")
        assert prompt.messages[0].content.text == "This is a simple prompt without arguments."

        sampled = await client.call_tool("trigger-sampling-request", {"prompt": "fastmcp"})
        assert "a fastmcp sample" in text_of(sampled), sampled
        assert handlers.sampled == ["Resource trigger-sampling-request context: fastmcp"]
        elicited = await client.call_tool("trigger-elicitation-request", {})
        assert "Grace" in text_of(elicited), elicited
        assert len(handlers.elicited) == 1
        # (Roots against the native server below: server-everything asks its one client —
        # bridgedock — for roots only once, and test_mcp_client answers that.)


async def test_fastmcp_uses_the_native_servers_tools_resources_prompts_logs_and_what_it_asks(daemon):
    handlers = Handlers()
    async with fastmcp_client(daemon, "native", **handlers.options()) as client:
        assert_modern(client, "native")
        assert "echo: hi" in text_of(await client.call_tool("echo", {"text": "hi"}))
        # fastmcp asks for logs at debug with every request.
        assert text_of(await client.call_tool("slow", {"steps": 2})) == "did 2 steps"
        assert handlers.progress == [(1, 2), (2, 2)], handlers.progress
        assert handlers.logs == [("info", "starting 2 steps"), ("debug", "debug detail")], handlers.logs

        assert json.loads((await client.read_resource("config://app"))[0].text)["theme"] == "dark"
        assert [p.name for p in await client.list_prompts()] == ["greet"]
        assert (await client.get_prompt("greet", {"name": "Ann"})).messages[0].content.text == "Say hi to Ann"

        assert text_of(await client.call_tool("ask_name", {})) == "hello Grace"
        assert handlers.elicited == ["What is your name?"]
        assert text_of(await client.call_tool("summarize", {"text": "t"})) == "summary: a fastmcp sample"
        assert handlers.sampled == ["Summarize: t"]
        assert text_of(await client.call_tool("show_roots", {})) == f"roots: {ROOT_URI}"

        tool = f"bud_{uuid.uuid4().hex[:8]}"
        async with listen(client.session, tools_list_changed=True) as sub:
            await client.call_tool("grow", {"name": tool})
            with anyio.fail_after(10):
                assert await sub.__anext__() == ToolsListChanged()
        assert tool in [t.name for t in await client.list_tools()]
