"""Quick checks that tests/fixtures/*.py behave as the Rust integration tests expect."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, wait_for


def run_fixture(name, *args, **kwargs):
    return subprocess.run(
        [sys.executable, str(FIXTURES / name), *args],
        capture_output=True,
        timeout=60,
        **kwargs,
    )


def test_fixtures_have_docstrings():
    for path in sorted(FIXTURES.glob("*.py")):
        source = path.read_text()
        body = source.split("\n", 1)[1] if source.startswith("#!") else source
        assert body.lstrip().startswith('"""'), "%s lacks a module docstring" % path.name


def test_crasher_defaults():
    start = time.monotonic()
    proc = run_fixture("crasher.py")
    assert proc.returncode == 1
    assert time.monotonic() - start >= 0.05
    assert proc.stdout == b""


def test_crasher_code_delay_and_stderr_lines():
    start = time.monotonic()
    proc = run_fixture("crasher.py", "--after-ms", "200", "--code", "42", "--stderr-lines", "3")
    assert proc.returncode == 42
    assert time.monotonic() - start >= 0.2
    assert proc.stderr.decode().splitlines() == ["crasher: line 1", "crasher: line 2", "crasher: line 3"]


def test_flood_default_line_count():
    proc = run_fixture("flood.py")
    assert proc.returncode == 0
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 200001
    assert lines[0] == "flood: line 1 of 200000"
    assert lines[-2] == "flood: line 200000 of 200000"
    assert lines[-1] == "flood: done"


def test_flood_custom_count():
    proc = run_fixture("flood.py", "--lines", "1234")
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1235
    assert lines[1233] == "flood: line 1234 of 1234"


def _alive(pid):
    """True when `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _start_forker(tmp_path, *args):
    pids_file = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURES / "forker.py"), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, FORKER_PIDS_FILE=str(pids_file)),
        start_new_session=True,  # its own group, so the test can kill the whole group safely
    )
    assert wait_for(pids_file.exists), "forker did not write its pids file"
    parent, child = (int(x) for x in pids_file.read_text().split())
    return proc, parent, child


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_forker_writes_pids_and_keeps_grandchild_in_its_group(tmp_path):
    proc, parent, child = _start_forker(tmp_path)
    try:
        assert parent == proc.pid
        assert _alive(child)
        assert os.getpgid(child) == os.getpgid(parent) == proc.pid
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=5) == -signal.SIGTERM
        assert wait_for(lambda: not _alive(child))
        assert proc.stdout.read() == b""
        assert proc.stderr.read().decode() == "forker: parent %d child %d\n" % (parent, child)
    finally:
        _kill_group(proc)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_forker_ignore_term_needs_sigkill(tmp_path):
    proc, parent, child = _start_forker(tmp_path, "--ignore-term")
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None and _alive(child), "SIGTERM should be ignored"
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=5) == -signal.SIGKILL
        assert wait_for(lambda: not _alive(child))
    finally:
        _kill_group(proc)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)
    proc.stdout.close()
    proc.stderr.close()


def test_stable_exits_zero_on_stdin_eof():
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURES / "stable.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = proc.stderr.readline().decode()
    assert line == "stable: up pid %d\n" % proc.pid
    proc.stdin.write(b"ignored input\n")
    proc.stdin.flush()
    time.sleep(0.1)
    assert proc.poll() is None
    proc.stdin.close()
    assert proc.wait(timeout=5) == 0
    assert proc.stdout.read() == b""
    proc.stdout.close()
    proc.stderr.close()


def test_stable_exits_zero_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURES / "stable.py")],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr.readline().startswith(b"stable: up pid ")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    proc.stdin.close()
    proc.stderr.close()


def test_echo_stdio():
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/call", "params": {"name": "x", "n": [1, 2]}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
    proc = run_fixture("echo_stdio.py", input=data)
    assert proc.returncode == 0
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(replies) == 3
    assert replies[0]["id"] == 1
    assert replies[0]["result"]["serverInfo"] == {"name": "echo", "version": "0.0.1"}
    assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
    assert "capabilities" in replies[0]["result"]
    assert replies[1] == {"jsonrpc": "2.0", "id": "two", "result": {"name": "x", "n": [1, 2]}}
    assert replies[2] == {"jsonrpc": "2.0", "id": 3, "result": {}}
