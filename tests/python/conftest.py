"""Shared helpers for the bridgedock Python test suite.

The suite proves that engine/src/demo/demo_server.py is a real MCP server (driven by the
official MCP Python SDK and by raw JSON-RPC over a pipe) and that tests/fixtures/*.py behave as
the Rust integration tests expect.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_SERVER = REPO / "engine" / "src" / "demo" / "demo_server.py"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def anyio_backend():
    return "asyncio"


class RawServer:
    """A server child process spoken to in raw newline-delimited JSON-RPC."""

    def __init__(self, script, args=(), env=None, stderr_path=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._stderr_file = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=full_env,
        )
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, msg_id, method, params=None):
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def recv(self, timeout=5.0):
        """The next stdout message (parsed), or None on EOF. Fails on timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message from the server within %.1f s" % timeout)
        if line is None:
            return None
        assert line.endswith(b"\n")
        return json.loads(line)

    def recv_nothing(self, within):
        """Assert that no stdout message arrives within `within` seconds."""
        try:
            line = self._lines.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError("unexpected message from the server: %r" % line)

    def recv_id(self, msg_id, timeout=5.0):
        """Skip notifications until the response with `msg_id`; returns (response, skipped)."""
        skipped = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(timeout=max(deadline - time.monotonic(), 0.01))
            assert msg is not None, "server closed stdout before answering %r" % (msg_id,)
            if msg.get("id") == msg_id and "method" not in msg:
                return msg, skipped
            skipped.append(msg)

    def close_stdin(self):
        self.proc.stdin.close()

    def wait(self, timeout=5.0):
        return self.proc.wait(timeout=timeout)

    def stderr_text(self):
        return Path(self.stderr_path).read_text() if self.stderr_path else ""

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except Exception:
                pass
        if self.stderr_path:
            self._stderr_file.close()


@pytest.fixture
def raw_server(tmp_path):
    """Factory: start the demo server (or another script) in raw mode; cleaned up afterwards."""
    started = []

    def start(script=DEMO_SERVER, args=(), env=None):
        server = RawServer(script, args, env, stderr_path=tmp_path / ("stderr-%d.log" % len(started)))
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


def wait_for(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
