"""Starting a real bridgedockd for the bridge tests: temp dirs, a config, the API address and
token read from what it prints, `ctl` calls, and a clean SIGTERM shutdown that must exit 0."""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(
    os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "bridgedock-target")
)
BRIDGEDOCKD = Path(os.environ.get("BRIDGEDOCKD", TARGET / "debug" / "bridgedockd"))
SERVERS_VENV = Path(
    os.environ.get(
        "BRIDGEDOCK_SERVERS_VENV", Path.home() / ".cache" / "bridgedock" / "servers-venv"
    )
)
EVERYTHING = (
    REPO / "tests/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
TIME_SERVER = SERVERS_VENV / "bin" / "mcp-server-time"


class Daemon:
    def __init__(self, config_toml: str, env: dict | None = None):
        if not BRIDGEDOCKD.exists():
            raise RuntimeError(f"{BRIDGEDOCKD} is missing: run `cargo build` (scripts/test does)")
        self.dir = tempfile.TemporaryDirectory(prefix="bd-py-")
        d = Path(self.dir.name)
        (d / "config.toml").write_text(config_toml)
        self.state = d / "state"
        self.proc = subprocess.Popen(
            [
                str(BRIDGEDOCKD), "serve", "--port", "0",
                "--config", str(d / "config.toml"),
                "--state-dir", str(self.state),
                "--config-dir", str(d / "cfg"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        prefix = "bridgedockd: API listening on http://"
        for line in self.proc.stdout:
            if line.startswith(prefix):
                self.addr = line[len(prefix):].strip()
                break
        else:
            raise RuntimeError("bridgedockd exited before listening")
        self.token = (d / "cfg" / "token").read_text().strip()

    def url(self, server: str) -> str:
        return f"ws://{self.addr}/mcp/{server}?token={self.token}"

    def ctl(self, *args: str) -> str:
        out = subprocess.run(
            [str(BRIDGEDOCKD), "ctl", "--state-dir", str(self.state), *args],
            capture_output=True, text=True, check=True,
        )
        return out.stdout

    def status(self) -> dict:
        return json.loads(self.ctl("status", "--json"))

    def server(self, name: str) -> dict:
        return next(s for s in self.status()["servers"] if s["name"] == name)

    def wait_running(self, name: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.server(name)
            if s["state"] == "running":
                return s["pid"]
            time.sleep(0.05)
        raise AssertionError(f"{name} not running after {timeout}s: {self.server(name)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=20)
            assert code == 0, f"bridgedockd exited with {code}"
        self.dir.cleanup()


def peers_config() -> str:
    return (
        "[servers.everything]\n"
        'command = "node"\n'
        f"args = [{json.dumps(str(EVERYTHING))}]\n"
        'restart = "always"\n\n'
        "[servers.time]\n"
        f"command = {json.dumps(str(TIME_SERVER))}\n"
    )
