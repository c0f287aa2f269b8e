#!/usr/bin/env python3
"""bridgedock demo MCP server.

A small but real Model Context Protocol server over stdio, shipped inside bridgedock so a
fresh install has something real to run, watch and restart. Python standard library only.

Transport: newline-delimited JSON-RPC 2.0 on stdin/stdout (one message per line, no embedded
newlines). Only protocol messages go to stdout; every log line goes to stderr.

Tools: echo, add, current_time, write_logs, slow_count (progress + cancellation), crash.
Resources: demo://readme. Prompts: greet. Also: ping, logging/setLevel.

Exits with code 0 on stdin EOF and on SIGTERM. The `crash` tool exits with the requested code
without answering, which is handy for trying out restart policies.

Environment (optional):
  BRIDGEDOCK_DEMO_HEARTBEAT_SECS  seconds between heartbeat lines on stderr (default 30)
"""

import datetime
import json
import math
import os
import signal
import sys
import threading
import time

try:
    import zoneinfo
except ImportError:  # Python < 3.9: only UTC is available
    zoneinfo = None

SERVER_NAME = "bridgedock-demo"
SERVER_VERSION = "1.0.0"

# Newest first: the fallback answer when the client asks for a version we do not know.
SUPPORTED_PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")

# JSON-RPC / MCP error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

# RFC 5424 severities, as used by MCP logging, from least to most severe.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

README_URI = "demo://readme"
README_TEXT = """bridgedock demo server
======================

This is the demo MCP server that ships with bridgedock. It is a real MCP server speaking
JSON-RPC 2.0 over stdio, written with nothing but the Python standard library.

Things to try:
  - echo          returns the text you give it
  - add           adds two numbers (also returns structured content)
  - current_time  the current time in an IANA time zone (default UTC)
  - write_logs    writes log lines to stderr, to watch bridgedock's log view
  - slow_count    counts slowly, sending progress notifications (and can be cancelled)
  - crash         exits with a chosen exit code, to try out restart policies

The server writes a heartbeat line to stderr every 30 seconds.
"""

# --------------------------------------------------------------------------------------------
# Output: stdout carries protocol only, one JSON message per line; stderr carries logs.
# --------------------------------------------------------------------------------------------

_stdout_lock = threading.Lock()
_stderr_lock = threading.Lock()
_state_lock = threading.Lock()

_state = {
    "served": 0,  # requests answered (or attempted)
    "log_level": None,  # minimum level for notifications/message; None = not requested
}

# Cancellation events of in-flight cancellable requests, keyed by the JSON form of their id.
_inflight = {}


def _exit_now(code):
    """Flush what we can and leave immediately (no interpreter teardown races with threads)."""
    for stream in (sys.stderr, sys.stdout):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def send(message):
    """Write one JSON-RPC message to stdout as a single line."""
    # ASCII-only output: valid UTF-8 whatever strings (even lone surrogates) came in.
    data = json.dumps(message, separators=(",", ":"), allow_nan=False)
    line = (data + "\n").encode("utf-8")
    with _stdout_lock:
        try:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError, OSError):
            # The client is gone; nobody is listening any more.
            _exit_now(0)


def stderr_line(text):
    with _stderr_lock:
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass


def _level_enabled(level):
    with _state_lock:
        threshold = _state["log_level"]
    if threshold is None:
        return False
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold)


def log(level, text, line=None):
    """Log `text` at `level`: a stderr line, plus notifications/message when the client asked."""
    stderr_line(line if line is not None else "demo: " + text)
    if _level_enabled(level):
        send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": level, "logger": "demo", "data": text},
            }
        )


def utc_stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class RpcError(Exception):
    """A JSON-RPC error response."""

    def __init__(self, code, message, data=None):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.data = data


class ToolError(Exception):
    """A tool execution error: reported as a tool result with isError true."""


class Cancelled(Exception):
    """The client cancelled the request: no response must be sent."""


def error_response(msg_id, code, message, data=None):
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


# --------------------------------------------------------------------------------------------
# Parameter helpers
# --------------------------------------------------------------------------------------------


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_int(value):
    """An int from a JSON integer (5 or 5.0), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def require_string(params, key):
    value = params.get(key)
    if value is None:
        raise RpcError(INVALID_PARAMS, "missing required param: %s" % key)
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, "invalid param '%s': must be a string" % key)
    return value


def optional_object(params, key):
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, "invalid param '%s': must be an object" % key)
    return value


def check_arguments(tool, args, allowed):
    for key in args:
        if key not in allowed:
            raise ToolError(
                "invalid argument '%s' for %s: unknown argument (expected: %s)"
                % (key, tool, ", ".join(allowed) or "none")
            )


def arg_string(tool, args, key, default=None, required=False):
    if key not in args or args[key] is None:
        if required:
            raise ToolError("missing required argument '%s' for %s" % (key, tool))
        return default
    value = args[key]
    if not isinstance(value, str):
        raise ToolError("invalid argument '%s' for %s: must be a string" % (key, tool))
    return value


def arg_number(tool, args, key):
    if key not in args or args[key] is None:
        raise ToolError("missing required argument '%s' for %s" % (key, tool))
    value = args[key]
    if not _is_number(value) or not math.isfinite(value):
        raise ToolError("invalid argument '%s' for %s: must be a number" % (key, tool))
    return value


def arg_int(tool, args, key, default, minimum, maximum, required=False):
    if key not in args or args[key] is None:
        if required:
            raise ToolError("missing required argument '%s' for %s" % (key, tool))
        return default
    value = _as_int(args[key])
    if value is None:
        raise ToolError("invalid argument '%s' for %s: must be an integer" % (key, tool))
    if value < minimum or value > maximum:
        raise ToolError(
            "invalid argument '%s' for %s: must be between %d and %d (got %d)"
            % (key, tool, minimum, maximum, value)
        )
    return value


def text_result(text, structured=None):
    result = {"content": [{"type": "text", "text": text}], "isError": False}
    if structured is not None:
        result["structuredContent"] = structured
    return result


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------

TOOLS = [
    {
        "name": "echo",
        "title": "Echo",
        "description": "Returns the given text unchanged.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "Text to echo back."}},
            "required": ["text"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "add",
        "title": "Add",
        "description": "Adds two numbers and returns the sum.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "First addend."},
                "b": {"type": "number", "description": "Second addend."},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
        "outputSchema": {
            "type": "object",
            "properties": {"sum": {"type": "number", "description": "a + b"}},
            "required": ["sum"],
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "current_time",
        "title": "Current time",
        "description": "Returns the current time as ISO 8601 in an IANA time zone (default UTC).",
        "inputSchema": {
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone name such as 'Europe/Paris'. Default: UTC.",
                    "default": "UTC",
                }
            },
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "write_logs",
        "title": "Write log lines",
        "description": "Writes `count` log lines to the server's stderr, to watch logs flow.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10000,
                    "default": 5,
                    "description": "How many lines to write.",
                },
                "level": {
                    "type": "string",
                    "enum": ["info", "warning", "error"],
                    "default": "info",
                    "description": "Level of the lines.",
                },
            },
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "slow_count",
        "title": "Slow count",
        "description": (
            "Counts from 1 to `to`, waiting `delay_ms` between steps. Sends progress "
            "notifications when the request carries a progress token; can be cancelled."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "to": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "Number to count to (at most 100).",
                },
                "delay_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10000,
                    "default": 100,
                    "description": "Delay between steps in milliseconds.",
                },
            },
            "required": ["to"],
            "additionalProperties": False,
        },
        "annotations": {"readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "crash",
        "title": "Crash",
        "description": (
            "Makes the server exit immediately with the given exit code, without answering. "
            "For trying out restart policies."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "exit_code": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 255,
                    "default": 1,
                    "description": "Process exit code.",
                }
            },
            "additionalProperties": False,
        },
        "annotations": {"destructiveHint": True, "openWorldHint": False},
    },
]

_TOOL_NAMES = tuple(tool["name"] for tool in TOOLS)


def tool_echo(args, ctx):
    check_arguments("echo", args, ("text",))
    return text_result(arg_string("echo", args, "text", required=True))


def tool_add(args, ctx):
    check_arguments("add", args, ("a", "b"))
    a = arg_number("add", args, "a")
    b = arg_number("add", args, "b")
    total = a + b
    if not math.isfinite(total):
        raise ToolError("the sum of %r and %r is not a finite number" % (a, b))
    return text_result(str(total), {"sum": total})


def tool_current_time(args, ctx):
    check_arguments("current_time", args, ("timezone",))
    name = arg_string("current_time", args, "timezone", default="UTC")
    tz = None
    if zoneinfo is not None and name:
        try:
            tz = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            tz = None
    if tz is None and name.upper() == "UTC":
        tz = datetime.timezone.utc  # no tz database installed: UTC still works
    if tz is None:
        raise ToolError(
            "unknown time zone '%s': use an IANA name such as 'UTC', "
            "'Europe/Paris' or 'America/New_York'" % name
        )
    now = datetime.datetime.now(tz).isoformat(timespec="seconds")
    return text_result(now, {"timezone": name, "iso": now})


def tool_write_logs(args, ctx):
    check_arguments("write_logs", args, ("count", "level"))
    count = arg_int("write_logs", args, "count", 5, 1, 10000)
    level = arg_string("write_logs", args, "level", default="info")
    if level not in ("info", "warning", "error"):
        raise ToolError(
            "invalid argument 'level' for write_logs: must be one of info, warning, error"
        )
    tag = level.upper()
    for i in range(1, count + 1):
        text = "log line %d of %d" % (i, count)
        log(level, text, "%s %s demo: %s" % (utc_stamp(), tag, text))
    return text_result("wrote %d lines to stderr" % count)


def tool_slow_count(args, ctx):
    check_arguments("slow_count", args, ("to", "delay_ms"))
    to = arg_int("slow_count", args, "to", None, 1, 100, required=True)
    delay_ms = arg_int("slow_count", args, "delay_ms", 100, 0, 10000)
    token = ctx.get("progress_token")
    cancelled = ctx["cancelled"]
    for i in range(1, to + 1):
        if cancelled.wait(delay_ms / 1000.0):
            raise Cancelled()
        if token is not None:
            send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": token,
                        "progress": i,
                        "total": to,
                        "message": "counted %d of %d" % (i, to),
                    },
                }
            )
    if cancelled.is_set():
        raise Cancelled()
    return text_result("counted to %d" % to, {"count": to})


def tool_crash(args, ctx):
    check_arguments("crash", args, ("exit_code",))
    code = arg_int("crash", args, "exit_code", 1, 0, 255)
    stderr_line("demo: crashing on request (exit code %d)" % code)
    _exit_now(code)


TOOL_HANDLERS = {
    "echo": tool_echo,
    "add": tool_add,
    "current_time": tool_current_time,
    "write_logs": tool_write_logs,
    "slow_count": tool_slow_count,
    "crash": tool_crash,
}

# Tools that may take a while run on their own thread so ping/echo stay responsive.
THREADED_TOOLS = ("slow_count", "write_logs")


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def m_initialize(params, ctx):
    requested = require_string(params, "protocolVersion")
    optional_object(params, "capabilities")
    client = optional_object(params, "clientInfo")
    if requested in SUPPORTED_PROTOCOL_VERSIONS:
        version = requested
    else:
        version = SUPPORTED_PROTOCOL_VERSIONS[0]
    stderr_line(
        "demo: initialize from %s %s (asked %s, using %s)"
        % (client.get("name", "?"), client.get("version", "?"), requested, version)
    )
    return {
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": False},
            "logging": {},
            "resources": {},
            "prompts": {},
        },
        "serverInfo": {
            "name": SERVER_NAME,
            "title": "bridgedock demo server",
            "version": SERVER_VERSION,
        },
        "instructions": (
            "A demo server shipped with bridgedock. Try the echo, add, current_time, "
            "write_logs and slow_count tools; crash exits the server on purpose."
        ),
    }


def m_ping(params, ctx):
    return {}


def m_tools_list(params, ctx):
    return {"tools": TOOLS}


def m_tools_call(params, ctx):
    name = require_string(params, "name")
    args = optional_object(params, "arguments")
    handler = TOOL_HANDLERS.get(name)
    if handler is None:
        raise RpcError(
            INVALID_PARAMS,
            "unknown tool: %s" % name,
            {"availableTools": list(_TOOL_NAMES)},
        )
    try:
        return handler(args, ctx)
    except ToolError as err:
        # Argument and execution problems are tool errors (isError), so the model can see them.
        return {"content": [{"type": "text", "text": str(err)}], "isError": True}


def m_resources_list(params, ctx):
    return {
        "resources": [
            {
                "uri": README_URI,
                "name": "readme",
                "title": "About the demo server",
                "description": "What this demo server is and what to try.",
                "mimeType": "text/plain",
                "size": len(README_TEXT.encode("utf-8")),
            }
        ]
    }


def m_resource_templates_list(params, ctx):
    return {"resourceTemplates": []}


def m_resources_read(params, ctx):
    uri = require_string(params, "uri")
    if uri != README_URI:
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found: %s" % uri, {"uri": uri})
    return {"contents": [{"uri": README_URI, "mimeType": "text/plain", "text": README_TEXT}]}


GREET_PROMPT = {
    "name": "greet",
    "title": "Greet someone",
    "description": "Asks the model to greet someone by name.",
    "arguments": [{"name": "name", "description": "Who to greet.", "required": True}],
}


def m_prompts_list(params, ctx):
    return {"prompts": [GREET_PROMPT]}


def m_prompts_get(params, ctx):
    name = require_string(params, "name")
    if name != "greet":
        raise RpcError(INVALID_PARAMS, "unknown prompt: %s" % name)
    arguments = optional_object(params, "arguments")
    who = arguments.get("name")
    if who is None:
        raise RpcError(INVALID_PARAMS, "missing required argument 'name' for prompt greet")
    if not isinstance(who, str):
        raise RpcError(INVALID_PARAMS, "invalid argument 'name' for prompt greet: must be a string")
    return {
        "description": "Greet %s" % who,
        "messages": [
            {
                "role": "user",
                "content": {
                    "type": "text",
                    "text": "Please greet %s warmly, in one short sentence." % who,
                },
            }
        ],
    }


def m_logging_set_level(params, ctx):
    level = require_string(params, "level")
    if level not in LOG_LEVELS:
        raise RpcError(
            INVALID_PARAMS,
            "invalid param 'level': must be one of %s" % ", ".join(LOG_LEVELS),
        )
    with _state_lock:
        _state["log_level"] = level
    stderr_line("demo: log level set to %s" % level)
    return {}


METHODS = {
    "initialize": m_initialize,
    "ping": m_ping,
    "tools/list": m_tools_list,
    "tools/call": m_tools_call,
    "resources/list": m_resources_list,
    "resources/templates/list": m_resource_templates_list,
    "resources/read": m_resources_read,
    "prompts/list": m_prompts_list,
    "prompts/get": m_prompts_get,
    "logging/setLevel": m_logging_set_level,
}


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


def _id_key(msg_id):
    return json.dumps(msg_id)


def run_request(msg_id, method, params, ctx):
    """Run one request and send its response (unless it was cancelled)."""
    key = _id_key(msg_id)
    try:
        result = METHODS[method](params, ctx)
        response = {"jsonrpc": "2.0", "id": msg_id, "result": result}
    except Cancelled:
        stderr_line("demo: request %s cancelled" % key)
        response = None
    except RpcError as err:
        response = error_response(msg_id, err.code, err.message, err.data)
    except Exception as err:  # a bug here must not take the server down
        stderr_line("demo: internal error in %s: %r" % (method, err))
        response = error_response(msg_id, INTERNAL_ERROR, "internal error: %s" % err)
    finally:
        with _state_lock:
            _inflight.pop(key, None)
            _state["served"] += 1
    if response is not None and not ctx["cancelled"].is_set():
        send(response)


def handle_notification(method, params):
    if method == "notifications/cancelled":
        request_id = params.get("requestId")
        with _state_lock:
            event = _inflight.get(_id_key(request_id))
        if event is not None:
            event.set()
            stderr_line(
                "demo: cancel requested for %s (%s)"
                % (_id_key(request_id), params.get("reason", "no reason given"))
            )
    elif method == "notifications/initialized":
        stderr_line("demo: client initialized")
    # Any other notification is accepted and ignored; notifications never get a response.


def _valid_id(msg_id):
    if isinstance(msg_id, bool):
        return False
    if isinstance(msg_id, str):
        return True
    return isinstance(msg_id, int) or (isinstance(msg_id, float) and msg_id.is_integer())


def handle_message(msg):
    if not isinstance(msg, dict):
        if isinstance(msg, list):
            reason = "batch requests are not supported"
        else:
            reason = "a request must be a JSON object"
        send(error_response(None, INVALID_REQUEST, "invalid request: %s" % reason))
        return

    has_id = "id" in msg
    msg_id = msg.get("id")
    id_ok = has_id and _valid_id(msg_id)
    reply_id = msg_id if id_ok else None

    if "method" not in msg and ("result" in msg or "error" in msg):
        # A response from the client; we never send requests, so there is nothing to match.
        stderr_line("demo: ignoring unexpected response with id %s" % _id_key(msg_id))
        return

    if msg.get("jsonrpc") != "2.0":
        send(error_response(reply_id, INVALID_REQUEST, "invalid request: jsonrpc must be \"2.0\""))
        return
    method = msg.get("method")
    if not isinstance(method, str):
        send(error_response(reply_id, INVALID_REQUEST, "invalid request: method must be a string"))
        return
    if has_id and not id_ok:
        send(
            error_response(
                None, INVALID_REQUEST, "invalid request: id must be a string or an integer"
            )
        )
        return

    params = msg.get("params")
    if params is not None and not isinstance(params, dict):
        if has_id:
            send(error_response(msg_id, INVALID_PARAMS, "invalid params: must be an object"))
        return
    params = params or {}

    if not has_id:
        handle_notification(method, params)
        return

    if method not in METHODS:
        with _state_lock:
            _state["served"] += 1
        send(error_response(msg_id, METHOD_NOT_FOUND, "method not found: %s" % method))
        return

    meta = params.get("_meta")
    ctx = {
        "progress_token": meta.get("progressToken") if isinstance(meta, dict) else None,
        "cancelled": threading.Event(),
    }
    with _state_lock:
        _inflight[_id_key(msg_id)] = ctx["cancelled"]

    if method == "tools/call" and params.get("name") in THREADED_TOOLS:
        worker = threading.Thread(
            target=run_request, args=(msg_id, method, params, ctx), daemon=True
        )
        worker.start()
    else:
        run_request(msg_id, method, params, ctx)


def _reject_constant(name):
    raise ValueError("invalid JSON constant: %s" % name)


def handle_line(raw):
    line = raw.strip()
    if not line:
        return
    try:
        msg = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as err:
        send(error_response(None, PARSE_ERROR, "parse error: %s" % err))
        return
    handle_message(msg)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _heartbeat(interval):
    while True:
        time.sleep(interval)
        with _state_lock:
            served = _state["served"]
        log("info", "still here, served %d requests" % served)


def _on_signal(signum, frame):
    code = 0 if signum == signal.SIGTERM else 128 + signum
    try:
        os.write(2, ("demo: got signal %d, exiting\n" % signum).encode())
    except OSError:
        pass
    os._exit(code)


def main():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        # Log lines must never take the server down, whatever the locale or the input.
        sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace")
    except (AttributeError, ValueError, OSError):
        pass

    try:
        interval = float(os.environ.get("BRIDGEDOCK_DEMO_HEARTBEAT_SECS", "30"))
    except ValueError:
        interval = 30.0
    if not interval > 0:
        interval = 30.0

    stderr_line(
        "demo: bridgedock demo server %s ready (pid %d, python %d.%d)"
        % (SERVER_VERSION, os.getpid(), sys.version_info[0], sys.version_info[1])
    )
    threading.Thread(target=_heartbeat, args=(interval,), daemon=True).start()

    stdin = sys.stdin.buffer
    while True:
        try:
            raw = stdin.readline()
        except (OSError, ValueError):
            break
        if not raw:
            break
        handle_line(raw)

    stderr_line("demo: stdin closed, exiting")
    _exit_now(0)


if __name__ == "__main__":
    main()
