"""The 2026-07-28 revision's HTTP header rules, from a raw HTTP client (no SDK would send these
mistakes): the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers must mirror the body,
every request needs its `_meta` envelope, and methods the revision removed are not found.
The same rules hold whatever era the server behind bridgedock speaks."""

import base64

import httpx2
import pytest

from conftest import MODERN, http_url

pytestmark = pytest.mark.anyio

META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "raw-httpx2", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADER_MISMATCH = -32020
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601

# Tools by server: one each serves, and its arguments.
ECHO = {"everything": ("echo", {"message": "hi"}), "native": ("echo", {"text": "hi"})}


@pytest.fixture(params=["everything", "native"])
def server(request):
    return request.param


async def post(daemon, server, body, **headers):
    base = {"Authorization": f"Bearer {daemon.token}", "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(http_url(daemon, server), json=body, headers={**base, **headers})


def call(tool, arguments, request_id=1, meta=META):
    params = {"name": tool, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def refused(response, status, code, request_id):
    assert response.status_code == status, f"expected HTTP {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert body.get("id") == request_id, body
    assert body["error"]["code"] == code, body
    return body["error"]


async def test_a_well_formed_request_is_answered(daemon, server):
    tool, args = ECHO[server]
    r = await post(daemon, server, call(tool, args), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": tool})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["resultType"] == "complete", r.text
    # A name in the Base64 sentinel form is decoded before it is compared.
    encoded = "=?base64?" + base64.b64encode(tool.encode()).decode() + "?="
    r = await post(daemon, server, call(tool, args, request_id=2), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": encoded})
    assert r.status_code == 200 and "result" in r.json(), r.text


async def test_a_missing_or_wrong_mcp_method_header_is_a_header_mismatch(daemon, server):
    tool, args = ECHO[server]
    r = await post(daemon, server, call(tool, args, request_id=3), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Name": tool})
    error = refused(r, 400, HEADER_MISMATCH, 3)
    assert "Mcp-Method" in error["message"], error
    r = await post(daemon, server, call(tool, args, request_id=4), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list", "Mcp-Name": tool})
    error = refused(r, 400, HEADER_MISMATCH, 4)
    assert "tools/list" in error["message"] and "tools/call" in error["message"], error


async def test_a_missing_or_wrong_mcp_name_header_is_a_header_mismatch(daemon, server):
    tool, args = ECHO[server]
    r = await post(daemon, server, call(tool, args, request_id=5), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call"})
    error = refused(r, 400, HEADER_MISMATCH, 5)
    assert "Mcp-Name" in error["message"], error
    r = await post(daemon, server, call(tool, args, request_id=6), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "not-" + tool})
    error = refused(r, 400, HEADER_MISMATCH, 6)
    assert error["data"]["mismatch"] == {"header": "not-" + tool, "body": tool}, error


async def test_a_protocol_version_header_that_disagrees_with_meta_is_a_header_mismatch(daemon, server):
    tool, args = ECHO[server]
    r = await post(daemon, server, call(tool, args, request_id=7), **{
        "MCP-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/call", "Mcp-Name": tool})
    refused(r, 400, HEADER_MISMATCH, 7)
    r = await post(daemon, server, call(tool, args, request_id=8), **{"Mcp-Method": "tools/call", "Mcp-Name": tool})
    error = refused(r, 400, HEADER_MISMATCH, 8)
    assert "MCP-Protocol-Version" in error["message"], error


async def test_a_request_without_its_meta_envelope_is_invalid_params(daemon, server):
    tool, args = ECHO[server]
    r = await post(daemon, server, call(tool, args, request_id=9, meta=None), **{
        "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": tool})
    error = refused(r, 400, INVALID_PARAMS, 9)
    assert error["data"]["envelope"]["missing"], error


async def test_ping_is_not_part_of_2026_07_28(daemon, server):
    body = {"jsonrpc": "2.0", "id": 10, "method": "ping", "params": {"_meta": META}}
    r = await post(daemon, server, body, **{"MCP-Protocol-Version": MODERN, "Mcp-Method": "ping"})
    error = refused(r, 404, METHOD_NOT_FOUND, 10)
    assert "ping" in error["message"], error
