"""A native MCP 2026-07-28 server over stdio, written on the official Python SDK (mcp 2.3.0
`MCPServer`), for the tests that put it behind bridgedock.

It answers `server/discover`, so bridgedock speaks the stateless revision to it: what it needs
from a client (an elicitation, a sample, the roots) comes back as an input-required result,
and its change notifications go out on bridgedock's `subscriptions/listen` stream.

What it offers, each for one test:
- `echo(text)`: a plain call.
- `ask_name()`: needs a form elicitation; answers "hello NAME" (or "no name" on decline).
- `summarize(text)`: needs sampling; answers "summary: TEXT-OF-THE-SAMPLE".
- `show_roots()`: needs the client's roots; answers their URIs.
- `slow(steps)`: one progress notification per step and two log lines (info, debug).
- `grow(name)`: adds a tool NAME (which answers "I am NAME") and says the tool list changed.
- `touch()`: changes `config://app` and says that resource was updated.
- resource `config://app` (JSON, with a counter `touch` raises), prompt `greet(name)`.

Run it with the mcp 2.3.0 venv's python: `python native_server.py` (stdio only).
"""

from typing import Annotated

from pydantic import BaseModel

from mcp.server import MCPServer
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    ListRoots,
    Resolve,
    Sample,
)
from mcp.types import CreateMessageResult, ListRootsResult, SamplingMessage, TextContent

NAME = "bridgedock-native-fixture"
VERSION = "2026.7.28"

mcp = MCPServer(NAME, version=VERSION, instructions="a native 2026-07-28 test server")
touched = {"count": 0}


class Person(BaseModel):
    name: str


async def ask_for_a_name() -> Elicit[Person]:
    return Elicit("What is your name?", Person)


def ask_for_a_summary(text: str) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarize: {text}"))],
        max_tokens=50,
    )


def ask_for_the_roots() -> ListRoots:
    return ListRoots()


@mcp.tool()
def echo(text: str) -> str:
    """Echo text back."""
    return f"echo: {text}"


@mcp.tool()
async def ask_name(answer: Annotated[ElicitationResult[Person], Resolve(ask_for_a_name)]) -> str:
    """Asks the user for their name (form elicitation)."""
    if isinstance(answer, AcceptedElicitation):
        return f"hello {answer.data.name}"
    return "no name"


@mcp.tool()
async def summarize(text: str, draft: Annotated[CreateMessageResult, Resolve(ask_for_a_summary)]) -> str:
    """Asks the client's model for a summary (sampling)."""
    return f"summary: {draft.content.text if draft.content.type == 'text' else draft.content.type}"


@mcp.tool()
async def show_roots(roots: Annotated[ListRootsResult, Resolve(ask_for_the_roots)]) -> str:
    """Asks the client for its roots."""
    return "roots: " + ", ".join(str(r.uri) for r in roots.roots)


@mcp.tool()
async def slow(steps: int, ctx: Context) -> str:
    """Reports progress per step, and logs."""
    await ctx.info(f"starting {steps} steps")
    await ctx.debug("debug detail")
    for i in range(1, steps + 1):
        await ctx.report_progress(i, total=steps, message=f"step {i}")
    return f"did {steps} steps"


@mcp.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool called NAME, and says the tool list changed."""

    def added() -> str:
        return f"I am {name}"

    mcp.add_tool(added, name=name, description=f"added by grow({name!r})")
    await ctx.notify_tools_changed()
    return f"added {name}"


@mcp.tool()
async def touch(ctx: Context) -> str:
    """Changes config://app, and says it was updated."""
    touched["count"] += 1
    await ctx.notify_resource_updated("config://app")
    return f"touched {touched['count']}"


@mcp.resource("config://app", mime_type="application/json")
def app_config() -> str:
    """The app's config."""
    return '{"theme": "dark", "touched": %d}' % touched["count"]


@mcp.prompt()
def greet(name: str) -> str:
    """A greeting."""
    return f"Say hi to {name}"


if __name__ == "__main__":
    mcp.run()
