"""The demo server spoken to in raw JSON-RPC over a pipe: framing, errors, lifecycle."""

import json
import signal
import sys
import time

import pytest

INIT_PARAMS = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "raw-test", "version": "0"},
}


def test_malformed_line_gives_parse_error_with_null_id_then_ping_works(raw_server):
    server = raw_server()
    server.send_raw(b"not json\n")
    error = server.recv()
    assert error["jsonrpc"] == "2.0"
    assert error["id"] is None
    assert error["error"]["code"] == -32700

    server.request(1, "ping")
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_stdin_eof_exits_zero(raw_server):
    server = raw_server()
    server.request(1, "ping")
    assert server.recv()["id"] == 1
    server.close_stdin()
    assert server.wait() == 0
    assert server.recv() is None  # nothing else on stdout
    assert "ready (pid %d, python %d.%d)" % (
        server.proc.pid,
        sys.version_info[0],
        sys.version_info[1],
    ) in server.stderr_text()


def test_sigterm_exits_zero(raw_server):
    server = raw_server()
    server.request(1, "ping")
    assert server.recv()["id"] == 1
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait() == 0


@pytest.mark.parametrize(
    "asked, answered",
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2024-11-05"),
        ("1999-01-01", "2025-11-25"),
    ],
)
def test_protocol_version_negotiation(raw_server, asked, answered):
    server = raw_server()
    server.request(1, "initialize", dict(INIT_PARAMS, protocolVersion=asked))
    result = server.recv()["result"]
    assert result["protocolVersion"] == answered
    assert result["serverInfo"]["name"] == "bridgedock-demo"
    assert result["serverInfo"]["version"] == "1.0.0"
    assert result["capabilities"]["tools"] == {"listChanged": False}
    server.notify("notifications/initialized")
    server.request(2, "ping")
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_every_output_line_is_one_compact_json_message(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "echo", "arguments": {"text": "line1\nline2\r\n\u2028"}})
    line = server._lines.get(timeout=5)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line)["result"]["content"][0]["text"] == "line1\nline2\r\n\u2028"


def test_error_codes(raw_server):
    server = raw_server()
    # Invalid requests.
    server.send({"id": 1, "method": "ping"})  # no "jsonrpc": "2.0"
    assert server.recv()["error"]["code"] == -32600
    server.send({"jsonrpc": "2.0", "id": 2, "method": 42})
    assert server.recv()["error"]["code"] == -32600
    server.send_raw(b"[1, 2]\n")
    assert server.recv()["error"]["code"] == -32600
    server.send_raw(b"17\n")
    reply = server.recv()
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    # Unknown method.
    server.request(3, "no/such/method")
    reply = server.recv()
    assert reply["id"] == 3 and reply["error"]["code"] == -32601
    # Bad params, naming the param.
    server.request(4, "tools/call", {"arguments": {}})
    reply = server.recv()
    assert reply["error"]["code"] == -32602 and "name" in reply["error"]["message"]
    server.request(5, "resources/read", {"uri": 12})
    reply = server.recv()
    assert reply["error"]["code"] == -32602 and "uri" in reply["error"]["message"]
    server.request(6, "logging/setLevel", {"level": "loud"})
    reply = server.recv()
    assert reply["error"]["code"] == -32602 and "level" in reply["error"]["message"]
    server.request(7, "ping", [1, 2])
    assert server.recv()["error"]["code"] == -32602
    # Unknown tool: a JSON-RPC error.
    server.request("eight", "tools/call", {"name": "nope", "arguments": {}})
    reply = server.recv()
    assert reply["id"] == "eight"
    assert reply["error"]["code"] == -32602
    assert reply["error"]["message"] == "unknown tool: nope"
    # Still alive and well.
    server.request(9, "ping")
    assert server.recv() == {"jsonrpc": "2.0", "id": 9, "result": {}}


def test_notifications_never_get_a_response(raw_server):
    server = raw_server()
    server.notify("notifications/initialized")
    server.notify("notifications/unknown_thing", {"x": 1})
    server.notify("ping")  # a notification, even with a request's method name
    server.notify("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    server.recv_nothing(0.3)
    server.request(1, "ping")
    assert server.recv()["id"] == 1


def test_slow_count_progress_and_cancellation(raw_server):
    server = raw_server()
    server.request(
        "slow",
        "tools/call",
        {
            "name": "slow_count",
            "arguments": {"to": 50, "delay_ms": 50},
            "_meta": {"progressToken": "tok-1"},
        },
    )
    first = server.recv()
    assert first["method"] == "notifications/progress"
    assert first["params"]["progressToken"] == "tok-1"
    assert first["params"]["progress"] == 1
    assert first["params"]["total"] == 50
    assert "message" in first["params"]

    # Not blocked by the slow call.
    server.request(2, "ping")
    reply, _ = server.recv_id(2, timeout=1.0)
    assert reply["result"] == {}

    server.notify("notifications/cancelled", {"requestId": "slow", "reason": "test"})
    time.sleep(0.2)
    server.request(3, "ping")
    _, skipped = server.recv_id(3)
    # After the cancel, nothing but (possibly one in-flight) progress arrives, and no response.
    time.sleep(0.3)
    server.request(4, "ping")
    _, skipped_later = server.recv_id(4)
    for msg in skipped + skipped_later:
        assert msg.get("method") == "notifications/progress", msg
    assert skipped_later == []
    assert "cancel" in server.stderr_text()


def test_slow_count_without_progress_token_sends_no_progress(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "slow_count", "arguments": {"to": 3, "delay_ms": 1}})
    reply = server.recv()
    assert reply["id"] == 1
    assert reply["result"]["content"][0]["text"] == "counted to 3"


def test_slow_count_argument_limits(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "slow_count", "arguments": {"to": 101}})
    result = server.recv()["result"]
    assert result["isError"] is True
    assert "'to'" in result["content"][0]["text"]


def test_crash_exits_with_code_and_no_answer(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "crash", "arguments": {"exit_code": 3}})
    assert server.wait() == 3
    assert server.recv() is None
    assert "demo: crashing on request (exit code 3)" in server.stderr_text()


def test_crash_default_exit_code_is_one(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "crash", "arguments": {}})
    assert server.wait() == 1


def test_write_logs_line_format_and_limits(raw_server):
    server = raw_server()
    server.request(1, "tools/call", {"name": "write_logs", "arguments": {}})
    assert server.recv()["result"]["content"][0]["text"] == "wrote 5 lines to stderr"
    lines = [l for l in server.stderr_text().splitlines() if " demo: log line " in l]
    assert len(lines) == 5
    assert lines[2].split(" ", 1)[1] == "INFO demo: log line 3 of 5"

    server.request(2, "tools/call", {"name": "write_logs", "arguments": {"count": 10001}})
    assert server.recv()["result"]["isError"] is True
    server.request(3, "tools/call", {"name": "write_logs", "arguments": {"level": "debug"}})
    assert server.recv()["result"]["isError"] is True


def test_heartbeat_line(raw_server):
    server = raw_server(env={"BRIDGEDOCK_DEMO_HEARTBEAT_SECS": "0.2"})
    server.request(1, "ping")
    server.recv()
    deadline = time.monotonic() + 5
    # The first beat may predate the ping; a later one must count it.
    while "demo: still here, served 1 requests" not in server.stderr_text():
        assert time.monotonic() < deadline, server.stderr_text()
        time.sleep(0.05)
