"""godot-ai through bridgedock vs godot-ai on its own (what the Godot plugin does today), in one
run on one machine: tool-call latency (an AI client's `editor_state`, answered by the editor
simulator) and how long the editor is unreachable across a godot-ai restart.

Run with bench/godot/run (it builds bridgedockd --release and uses the test venv). Writes
bench/results/godot-<date>.json and prints a markdown table.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "godot"))
sys.path.insert(0, str(REPO / "tests" / "python"))
from bridge_daemon import Daemon  # noqa: E402
from editor_sim import EditorSimulator  # noqa: E402

UVX = os.environ["GODOT_AI_UVX"]
CALLS = int(os.environ.get("BENCH_CALLS", "300"))
RESTARTS = int(os.environ.get("BENCH_RESTARTS", "3"))
ENV = {"GODOT_AI_DISABLE_TELEMETRY": "1", "FASTMCP_CHECK_FOR_UPDATES": "off"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def calls(url: str, bearer: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (r, w, _):
            async with ClientSession(r, w) as s:
                await s.initialize()
                for i in range(n + 20):
                    t = time.perf_counter()
                    res = await s.call_tool("editor_state", {})
                    dt = (time.perf_counter() - t) * 1000
                    assert not res.isError, res
                    if i >= 20:  # warm-up
                        out.append(dt)
    return out


async def answerable_after(url: str, bearer: str, since: float, deadline_s: float = 180) -> float:
    """Seconds from `since` until an AI client's editor_state is answered by the editor."""
    while time.monotonic() - since < deadline_s:
        try:
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=10) as http:
                async with streamable_http_client(url, http_client=http) as (r, w, _):
                    async with ClientSession(r, w) as s:
                        await s.initialize()
                        res = await s.call_tool("editor_state", {})
                        if not res.isError:
                            return time.monotonic() - since
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("editor never answerable again")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Direct:
    """godot-ai on its own ports, the way the plugin starts it."""

    def __init__(self, root: Path):
        self.root = root
        self.caps = root / "caps"
        self.caps.mkdir(mode=0o700)
        self.http_port, self.ws_port = free_port(), free_port()
        self.http_cap, self.ws_cap = secrets.token_urlsafe(32), secrets.token_hex(32)
        (root / "ov.txt").write_text("certifi>=2026.10.18\n")
        self.proc = None

    def start(self) -> None:
        env = dict(os.environ, **ENV, GODOT_AI_CAPABILITY_DIR=str(self.caps),
                   GODOT_AI_HTTP_CAPABILITY=self.http_cap, GODOT_AI_WS_TOKEN=self.ws_cap)
        self.proc = subprocess.Popen(
            [UVX, "--overrides", str(self.root / "ov.txt"), "--from", "godot-ai==4.3.1", "godot-ai",
             "--transport", "streamable-http", "--port", str(self.http_port), "--ws-port", str(self.ws_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{self.http_port}/godot-ai/status",
                              headers={"Authorization": f"Bearer {self.http_cap}"}, timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("godot-ai did not start")


async def run_direct(root: Path) -> dict:
    d = Direct(root)
    d.start()
    d.wait_ready()
    sim = EditorSimulator(f"ws://127.0.0.1:{d.ws_port}", capability_dir=d.caps, http_port=d.http_port,
                          project_path=str(root / "game") + "/")
    await sim.start()
    await sim.wait_connected(timeout=30)
    url = f"http://127.0.0.1:{d.http_port}/mcp"
    lat = await calls(url, d.http_cap, CALLS)
    outages = []
    for _ in range(RESTARTS):
        t = time.monotonic()
        await asyncio.to_thread(d.stop)
        d.start()
        outages.append(await answerable_after(url, d.http_cap, t))
    reconnects = sim.connect_count - 1
    await sim.stop()
    d.stop()
    return {"latency_ms": lat, "outage_s": outages, "editor_reconnects": reconnects}


async def run_bridgedock(root: Path) -> dict:
    http_port, ws_port = free_port(), free_port()
    caps = root / "caps"
    env = dict(os.environ, GODOT_AI_CAPABILITY_DIR=str(caps), PATH=f"{Path(UVX).parent}:{os.environ['PATH']}")
    cfg = (
        "[servers.godot]\nkind = \"godot-ai\"\nversion = \"4.3.1\"\n"
        f"http_port = {http_port}\nws_port = {ws_port}\n"
        "dependency_overrides = [\"certifi>=2026.10.18\"]\n"
        "env = { GODOT_AI_DISABLE_TELEMETRY = \"1\", FASTMCP_CHECK_FOR_UPDATES = \"off\" }\n"
    )
    daemon = Daemon(cfg, env=env)
    try:
        deadline = time.monotonic() + 180
        while not (daemon.server("godot").get("godot") or {}).get("live_version"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        sim = EditorSimulator(f"ws://127.0.0.1:{ws_port}", capability_dir=caps, http_port=http_port,
                              project_path=str(root / "game") + "/")
        await sim.start()
        await sim.wait_connected(timeout=30)
        url = f"http://{daemon.addr}/mcp/godot"
        while not any(e["upstream"] == "connected" for e in daemon.server("godot")["godot"]["editors"]):
            await asyncio.sleep(0.05)
        lat = await calls(url, daemon.token, CALLS)
        rss_kib = int(next(l for l in open(f"/proc/{daemon.proc.pid}/status") if l.startswith("VmRSS")).split()[1])
        outages = []
        for _ in range(RESTARTS):
            t = time.monotonic()
            daemon.ctl("restart", "godot")
            outages.append(await answerable_after(url, daemon.token, t))
        reconnects = sim.connect_count - 1
        await sim.stop()
        return {"latency_ms": lat, "outage_s": outages, "editor_reconnects": reconnects, "bridgedockd_rss_kib": rss_kib}
    finally:
        daemon.stop()


def summary(name: str, r: dict) -> str:
    lat = r["latency_ms"]
    return (f"| {name} | {statistics.median(lat):.2f} | {pct(lat, 99):.2f} | "
            f"{statistics.median(r['outage_s']):.1f} (max {max(r['outage_s']):.1f}) | {r['editor_reconnects']} |")


async def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        direct = await run_direct(Path(a))
        through = await run_bridgedock(Path(b))
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "calls": CALLS, "restarts": RESTARTS, "load_before": load_before, "load_after": os.getloadavg(),
        "godot_ai_alone": direct, "through_bridgedock": through,
    }
    out = REPO / "bench" / "results" / f"godot-{result['date']}.json"
    out.write_text(json.dumps(result, indent=1))
    print("| path | editor_state p50 ms | p99 ms | restart → answerable again, s (median) | editor reconnects |")
    print("|---|---|---|---|---|")
    print(summary("godot-ai alone (plugin connects directly)", direct))
    print(summary("through bridgedock (relay + proxy)", through))
    print(f"\nbridgedockd RSS: {through['bridgedockd_rss_kib'] / 1024:.1f} MiB; load avg before {load_before}, after {result['load_after']}")
    print(f"raw: {out}")


asyncio.run(main())
