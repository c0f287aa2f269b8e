#!/usr/bin/env python3
"""Bridge benchmark: many MCP clients over WebSocket to one stdio echo server.

Run through bench/bridge/run (it runs npm ci, builds the load generator and bridgedockd, then
calls this). Stdlib only. Targets, all in front of the same bench/bridge/echo-server.mjs:

  direct        the load generator spawns the echo server and multiplexes its N logical
                clients over the one stdin/stdout pair: the ceiling, nothing in between;
  bridgedock    bridgedockd, N WebSocket connections to ws://127.0.0.1:PORT/mcp/echo;
  supergateway  supergateway 4.0.0 (`--stdio ... --outputTransport ws`, path /message),
                N WebSocket connections.

Cells are run interleaved (for each cell, each target) so that a change in the machine's load
hits all targets alike. While a cell runs, VmRSS of the bridge process (bridgedockd / the
supergateway node process, not the echo child) is sampled every 50 ms, and the CPU time of
the bridge process and of the echo server is measured over the cell.

Every process it starts gets BRIDGEDOCK_BENCH_CHILD=<run id> in its environment; cleanup()
kills whatever still carries that mark, so nothing survives a failure.

--suite http (bench/bridge/run-http) compares MCP Streamable HTTP instead (issue #5): each
client is its own MCP session over W keep-alive HTTP/1.1 connections (one POST in flight on
each), same echo server, targets:

  bridgedock-http             bridgedockd, POST http://127.0.0.1:PORT/mcp/echo (Bearer token);
  bridgedock-ws               the same bridgedockd (same echo child), WebSocket as above;
  supergateway-http           supergateway 4.0.0 `--outputTransport streamableHttp`, default
                              (stateless) mode: it spawns a new echo server for every POST;
  supergateway-http-stateful  the same with --stateful: one echo server per session.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from procstat import status_kb  # noqa: E402  (bench/procstat.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ECHO = os.path.join(HERE, "echo-server.mjs")
SUPERGATEWAY_JS = os.path.join(HERE, "node_modules", "supergateway", "dist", "index.js")
MARK_VAR = "BRIDGEDOCK_BENCH_CHILD"
RUN_ID = os.environ.get("BENCH_RUN_ID") or "bench-%d-%d" % (os.getpid(), time.time())
BRIDGEDOCKD = os.environ.get("BRIDGEDOCKD", "")
LOADGEN = os.environ.get("LOADGEN", "")
TICK = os.sysconf("SC_CLK_TCK")

TARGETS = ["direct", "bridgedock", "supergateway"]
TARGETS_HTTP = ["bridgedock-http", "bridgedock-ws", "supergateway-http", "supergateway-http-stateful"]
# which daemon serves each target
BRIDGE_OF = {"bridgedock": "bridgedock", "supergateway": "supergateway",
             "bridgedock-http": "bridgedock", "bridgedock-ws": "bridgedock",
             "supergateway-http": "supergateway-http", "supergateway-http-stateful": "supergateway-http-stateful"}
STARTED = []  # Popen objects of daemons we started
STOPPING = False


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def child_env():
    env = dict(os.environ)
    env[MARK_VAR] = RUN_ID
    env.pop("BENCH_RUN_ID", None)
    env["NO_COLOR"] = "1"
    return env


# ---------------------------------------------------------------- /proc helpers

def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def stat_fields(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()


def cpu_seconds(pid):
    f = stat_fields(pid)
    if not f:
        return None
    return (int(f[11]) + int(f[12])) / TICK


def children_cpu_seconds(pid):
    """CPU time of pid's children that have exited and been waited for (cutime + cstime)."""
    f = stat_fields(pid)
    if not f:
        return None
    return (int(f[13]) + int(f[14])) / TICK


def children(pid):
    out = []
    for p in all_pids():
        f = stat_fields(p)
        if f and int(f[1]) == pid:
            out.append(p)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def marked_pids():
    me = os.getpid()
    needle = ("%s=%s" % (MARK_VAR, RUN_ID)).encode()
    out = []
    for pid in all_pids():
        if pid == me:
            continue
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(pid)
        except OSError:
            pass
    return out


def cleanup():
    """Stops daemons gracefully, then SIGKILLs anything still carrying this run's mark."""
    for p in STARTED:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 10
    for p in STARTED:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    STARTED.clear()
    for _ in range(3):
        left = marked_pids()
        if not left:
            return
        log("cleanup: killing leftover processes %s" % [(q, cmdline(q)) for q in left])
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def descendants(pid):
    """Every live descendant of pid (a snapshot of the process tree)."""
    kids = {}
    for p in all_pids():
        f = stat_fields(p)
        if f and f[0] != "Z":
            kids.setdefault(int(f[1]), []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def stop_daemon(p, name, timeout=10):
    """SIGTERM, then waits; returns the daemon's descendants still alive after it exited
    (a finding: they are logged, then killed)."""
    tree = descendants(p.pid)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log("%s (%d) ignored SIGTERM for %ds; killing" % (name, p.pid, timeout))
        p.kill()
        p.wait()
    if p in STARTED:
        STARTED.remove(p)
    def alive():
        return [q for q in tree if (stat_fields(q) or ["Z"])[0] != "Z"]

    try:
        wait_for(lambda: not alive(), 1.0, what="the daemon's children to exit")
    except TimeoutError:
        pass
    left = alive()
    found = [cmdline(q) for q in left]
    if left:
        log("WARNING: processes left after %s exited: %s" % (name, list(zip(left, found))))
        for q in left:
            try:
                os.kill(q, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return found


def wait_for(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------- the bridges

class Bridgedock:
    name = "bridgedock"

    def __init__(self, work):
        self.work = os.path.join(work, "bridgedock")
        os.makedirs(self.work)
        self.config = os.path.join(self.work, "bridgedock.toml")
        with open(self.config, "w") as f:
            f.write('[servers.echo]\ncommand = "node"\nargs = [%s]\nrestart = "never"\n' % json.dumps(ECHO))
        self.out_path = os.path.join(self.work, "stdout.log")
        self.p = None

    def start(self):
        out = open(self.out_path, "wb")
        self.p = subprocess.Popen(
            [BRIDGEDOCKD, "serve", "--port", "0", "--config", self.config,
             "--state-dir", os.path.join(self.work, "state"), "--config-dir", os.path.join(self.work, "cfg")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env())
        STARTED.append(self.p)

        def listening():
            if self.p.poll() is not None:
                raise RuntimeError("bridgedockd exited: %s" % self.log_tail())
            with open(self.out_path, "rb") as f:
                m = re.search(rb"API listening on http://127\.0\.0\.1:(\d+)", f.read())
            return int(m.group(1)) if m else None

        self.port = wait_for(listening, 15, what="bridgedockd to listen")
        with open(os.path.join(self.work, "cfg", "token")) as f:
            self.token = f.read().strip()
        self.url = "ws://127.0.0.1:%d/mcp/echo?token=%s" % (self.port, self.token)
        self.http_url = "http://127.0.0.1:%d/mcp/echo" % self.port
        self.echo_pid = wait_for(lambda: self.echo_child(), 15, what="the echo server under bridgedockd")

    def echo_child(self):
        for c in children(self.p.pid):
            if "echo-server.mjs" in cmdline(c):
                return c
        return None

    def log_tail(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        return stop_daemon(self.p, "bridgedockd")


class Supergateway:
    name = "supergateway"
    # --outputTransport and what follows it; the URL path; whether one echo server lives as
    # long as the gateway (ws) or they come and go (streamableHttp: per request or per session)
    transport = ["--outputTransport", "ws"]
    path = "/message"
    scheme = "ws"
    persistent_echo = True

    def __init__(self, work):
        self.work = os.path.join(work, self.name)
        os.makedirs(self.work)
        self.out_path = os.path.join(self.work, "stdout.log")
        self.p = None

    def start(self):
        self.port = free_port()
        out = open(self.out_path, "wb")
        # The package's bin run with node directly (what `npx supergateway` ends up running),
        # so that the pid measured is supergateway's node process itself. --logLevel none:
        # its default (info) logs every message, which would only slow it down further.
        self.p = subprocess.Popen(
            ["node", SUPERGATEWAY_JS, "--stdio", "node %s" % ECHO] + self.transport +
            ["--port", str(self.port), "--logLevel", "none"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(),
            cwd=HERE)
        STARTED.append(self.p)

        def up():
            if self.p.poll() is not None:
                raise RuntimeError("supergateway exited: %s" % self.log_tail())
            return port_open(self.port)

        wait_for(up, 20, what="supergateway to listen")
        self.url = "%s://127.0.0.1:%d%s" % (self.scheme, self.port, self.path)
        self.http_url = self.url
        self.echo_pid = None
        if self.persistent_echo:
            self.echo_pid = wait_for(lambda: self.echo_child(), 15, what="the echo server under supergateway")

    def echo_child(self):
        # supergateway spawns the command through a shell: look one level further down
        for c in children(self.p.pid):
            if "echo-server.mjs" in cmdline(c) and cmdline(c).startswith("node"):
                return c
            for g in children(c):
                if "echo-server.mjs" in cmdline(g):
                    return g
        return None

    def log_tail(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        return stop_daemon(self.p, self.name)

    def settle(self, timeout=15):
        """Waits until no echo server is left under the gateway (the stateless mode keeps a
        child up to 5 s after a notification), so that the next cell does not share the CPU
        with them. Returns the seconds waited and how many were still there at the end."""
        if self.persistent_echo:
            return 0.0, 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and descendants(self.p.pid):
            time.sleep(0.05)
        return round(time.monotonic() - t0, 2), len(descendants(self.p.pid))


class SupergatewayHttp(Supergateway):
    """supergateway in its default Streamable HTTP mode (stateless: a child per POST)."""
    name = "supergateway-http"
    transport = ["--outputTransport", "streamableHttp", "--streamableHttpPath", "/mcp"]
    path = "/mcp"
    scheme = "http"
    persistent_echo = False


class SupergatewayHttpStateful(SupergatewayHttp):
    """supergateway --stateful: one child per session, ended by DELETE."""
    name = "supergateway-http-stateful"
    transport = SupergatewayHttp.transport + ["--stateful"]


# ---------------------------------------------------------------- one cell

class Sampler(threading.Thread):
    """Samples VmRSS of one pid every 50 ms until stopped."""

    def __init__(self, pid, tree=False):
        super().__init__(daemon=True)
        self.pid = pid
        self.max_kb = 0
        self.samples = 0
        # with tree: also the sum over the pid and all its descendants, every 4th sample
        self.tree = tree
        self.tree_max_kb = 0
        self.tree_max_procs = 0
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            kb = status_kb(self.pid, "VmRSS")
            if kb:
                self.max_kb = max(self.max_kb, kb)
                self.samples += 1
            if self.tree and n % 4 == 0:
                procs = [self.pid] + descendants(self.pid)
                total = sum(status_kb(q, "VmRSS") or 0 for q in procs)
                self.tree_max_kb = max(self.tree_max_kb, total)
                self.tree_max_procs = max(self.tree_max_procs, len(procs))
            n += 1
            self.halt.wait(0.05)


def run_cell(target, bridge, clients, payload, window, args):
    drain = args.drain
    if target == "supergateway-http":
        # requests in flight at the end each wait for a node process to start: slow, not lost
        drain = max(drain, args.spawn_drain)
    cmd = [LOADGEN, "--clients", str(clients), "--payload", str(payload), "--window", str(window),
           "--warmup", str(args.warmup), "--duration", str(args.duration), "--drain", str(drain),
           "--label", "%s c=%d p=%d w=%d" % (target, clients, payload, window)]
    if target == "direct":
        cmd += ["--target", "direct", "--cmd", "node %s" % ECHO]
    elif target in ("bridgedock-http", "supergateway-http", "supergateway-http-stateful"):
        cmd += ["--target", "http", "--url", bridge.http_url]
        if isinstance(bridge, Bridgedock):
            cmd += ["--header", "Authorization: Bearer %s" % bridge.token]
    else:
        cmd += ["--target", "ws", "--url", bridge.url]
    sampler = None
    cpu0 = {}
    if bridge is not None:
        sampler = Sampler(bridge.p.pid, tree=args.suite == "http")
        sampler.start()
        cpu0 = {"bridge": cpu_seconds(bridge.p.pid),
                "echo": cpu_seconds(bridge.echo_pid) if bridge.echo_pid else None,
                "children": children_cpu_seconds(bridge.p.pid)}
    la0 = loadavg()
    t0 = time.monotonic()
    timeout = args.warmup + args.duration + drain + 40
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env())
        stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout, stderr, rc = "", "loadgen timed out after %ds" % timeout, None
        del e
    wall = time.monotonic() - t0
    res = {}
    try:
        res = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {"ok": False, "error": "no result from loadgen (rc %s): %s" % (rc, stderr[-1000:])}
    if stderr.strip():
        res["loadgen_stderr"] = stderr[-2000:]
    res["target"] = target
    res["window"] = window
    res.setdefault("clients", clients)
    res.setdefault("payload_bytes", payload)
    res["wall_s"] = round(wall, 3)
    res["loadavg_before"] = la0
    res["loadavg_after"] = loadavg()
    if target == "direct":
        res["echo_cpu_s"] = res.get("direct_server_cpu_s")
    if bridge is not None:
        sampler.halt.set()
        sampler.join()
        res["bridge_pid"] = bridge.p.pid
        res["bridge_vmrss_max_kb"] = sampler.max_kb
        res["bridge_vmrss_samples"] = sampler.samples
        res["bridge_vmhwm_kb"] = status_kb(bridge.p.pid, "VmHWM")
        if sampler.tree:
            res["bridge_tree_vmrss_max_kb"] = sampler.tree_max_kb
            res["bridge_tree_max_procs"] = sampler.tree_max_procs
        if hasattr(bridge, "settle"):
            res["settle_s"], res["echo_children_left"] = bridge.settle()
        c_bridge = cpu_seconds(bridge.p.pid)
        c_echo = cpu_seconds(bridge.echo_pid) if bridge.echo_pid else None
        c_children = children_cpu_seconds(bridge.p.pid)
        if c_children is not None and cpu0["children"] is not None:
            # echo servers that came and went during the cell (supergateway streamableHttp)
            res["exited_children_cpu_s"] = round(c_children - cpu0["children"], 2)
        res["bridge_cpu_s"] = round(c_bridge - cpu0["bridge"], 2) if c_bridge is not None and cpu0["bridge"] is not None else None
        res["echo_cpu_s"] = round(c_echo - cpu0["echo"], 2) if c_echo is not None and cpu0["echo"] is not None else None
        if bridge.p.poll() is not None:
            res["bridge_exited"] = bridge.p.returncode
    return res


# ---------------------------------------------------------------- report

def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.+)", lscpu)
    mem_kb = status_kb_file("/proc/meminfo", "MemTotal")

    def out(cmd, cwd=None):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd).stdout.strip()
        except OSError:
            return ""

    sg_version = ""
    try:
        with open(os.path.join(HERE, "node_modules", "supergateway", "package.json")) as f:
            sg_version = json.load(f).get("version", "")
    except OSError:
        pass
    return {"date": datetime.date.today().isoformat(), "nproc": os.cpu_count(),
            "nproc_cmd": out(["nproc"]),
            "cpu_model": model.group(1).strip() if model else platform.processor(),
            "ram_MiB": mem_kb // 1024 if mem_kb else None, "kernel": platform.release(),
            "os": _os_release(), "python": platform.python_version(), "node": out(["node", "--version"]),
            "bridgedockd": out([BRIDGEDOCKD, "--version"]), "supergateway": sg_version,
            "git_commit": out(["git", "-C", ROOT, "rev-parse", "HEAD"]),
            "git_dirty": bool(out(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]))}


def status_kb_file(path, field):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _os_release():
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'PRETTY_NAME="([^"]+)"', f.read())
            return m.group(1) if m else ""
    except OSError:
        return ""


def fmt_int(x):
    if x is None:
        return "—"
    return format(int(round(x)), ",").replace(",", " ")


def fmt_payload(p):
    return "%d KiB" % (p // 1024) if p >= 1024 and p % 1024 == 0 else "%d B" % p


def table(cells, errors_head="errors (rejected)"):
    lines = ["| target | clients | W | payload | msgs/s | p50 µs | p99 µs | lost/misrouted | %s |" % errors_head,
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cells:
        if r.get("skipped"):
            lines.append("| %s | %d | %d | %s | skipped: %s | | | | |" % (
                r["target"], r["clients"], r["window"], fmt_payload(r["payload_bytes"]), r["skipped"]))
            continue
        if not r.get("answers_total") and not r.get("ok", True) and "msgs_per_s" not in r:
            lines.append("| %s | %d | %d | %s | failed: %s | | | | |" % (
                r["target"], r["clients"], r["window"], fmt_payload(r["payload_bytes"]),
                (r.get("error") or "")[:80]))
            continue
        bad = r.get("misrouted", 0) + r.get("unexpected", 0)
        errs = r.get("errors", 0) + r.get("client_too_slow", 0)
        note = ""
        if r.get("client_too_slow"):
            note = " (%s client_too_slow)" % fmt_int(r["client_too_slow"])
        if r.get("corrupt"):
            note += " (%s corrupt)" % fmt_int(r["corrupt"])
        if r.get("connection_error_count"):
            note += " (%d connection errors)" % r["connection_error_count"]
        lines.append("| %s | %d | %d | %s | %s | %s | %s | %d/%d | %s%s |" % (
            r["target"], r["clients"], r["window"], fmt_payload(r["payload_bytes"]),
            fmt_int(r.get("msgs_per_s")), fmt_int(r.get("p50_us")), fmt_int(r.get("p99_us")),
            r.get("lost", 0), bad, fmt_int(errs), note))
    return "\n".join(lines)


def find(cells, target, clients, payload, window):
    for r in cells:
        if (r["target"], r.get("clients"), r.get("payload_bytes"), r["window"]) == (target, clients, payload, window):
            return r
    return None


def derived(cells, rss, window, latency_window):
    """The figures the issue's targets are about, and whether each is met."""
    out = {"throughput": [], "targets": {}}
    ok80 = ok10 = True
    for c in cells:
        if c["target"] != "bridgedock" or c["window"] != window:
            continue
        d = find(cells, "direct", c["clients"], c["payload_bytes"], window)
        s = find(cells, "supergateway", c["clients"], c["payload_bytes"], window)
        b_rate = c.get("msgs_per_s") or 0
        row = {"clients": c["clients"], "payload_bytes": c["payload_bytes"], "bridgedock": b_rate,
               "direct": d.get("msgs_per_s") if d else None,
               "supergateway": s.get("msgs_per_s") if s else None}
        row["vs_direct"] = b_rate / row["direct"] if row["direct"] else None
        row["vs_supergateway"] = b_rate / row["supergateway"] if row["supergateway"] else None
        ok80 = ok80 and row["vs_direct"] is not None and row["vs_direct"] >= 0.8
        ok10 = ok10 and row["vs_supergateway"] is not None and row["vs_supergateway"] >= 10
        out["throughput"].append(row)
    out["targets"]["bridgedock >= 80%% of direct (every W=%d cell)" % window] = ok80
    out["targets"]["bridgedock >= 10x supergateway (every W=%d cell)" % window] = ok10
    b = find(cells, "bridgedock", 1, 100, window)
    d = find(cells, "direct", 1, 100, window)
    if b and d and b.get("p50_us") is not None and d.get("p50_us") is not None:
        out["added_p50_us"] = b["p50_us"] - d["p50_us"]
        out["targets"]["added p50 <= 50 us (1 client, 100 B, W=%d)" % window] = out["added_p50_us"] <= 50
    if latency_window:
        b = find(cells, "bridgedock", 1, 100, latency_window)
        d = find(cells, "direct", 1, 100, latency_window)
        s = find(cells, "supergateway", 1, 100, latency_window)
        if b and d and b.get("p50_us") is not None and d.get("p50_us") is not None:
            out["added_p50_us_unloaded"] = b["p50_us"] - d["p50_us"]
            if s and s.get("p50_us") is not None:
                out["added_p50_us_unloaded_supergateway"] = s["p50_us"] - d["p50_us"]
            out["targets"]["added p50 <= 50 us (1 client, 100 B, W=%d: one request at a time)" % latency_window] = \
                out["added_p50_us_unloaded"] <= 50
    clean = True
    for c in cells:
        if c["target"] == "bridgedock" and c["clients"] == 64:
            clean = clean and c.get("all_reps_lost", 1) == 0 and c.get("all_reps_misrouted", 1) == 0
    out["targets"]["0 lost or misrouted at 64 clients (bridgedock)"] = clean
    out["rss_kb"] = rss
    return out


def http_derived(cells):
    """Suite http: bridgedock HTTP against bridgedock WS and against supergateway HTTP."""
    rows = []
    for c in cells:
        if c["target"] != "bridgedock-http":
            continue
        key = (c["clients"], c["payload_bytes"], c["window"])
        row = {"clients": key[0], "payload_bytes": key[1], "window": key[2], "bridgedock-http": c.get("msgs_per_s")}
        for other in ("bridgedock-ws", "supergateway-http", "supergateway-http-stateful"):
            o = find(cells, other, *[key[0], key[1], key[2]])
            row[other] = o.get("msgs_per_s") if o else None
            row["vs_" + other] = (c.get("msgs_per_s") or 0) / row[other] if row[other] else None
        rows.append(row)
    return rows


def fmt_http_derived(rows, rss):
    lines = ["", "| clients | W | payload | bridgedock HTTP / WS | bridgedock HTTP / supergateway HTTP | … / supergateway --stateful |",
             "|---:|---:|---:|---:|---:|---:|"]

    def ratio(x, pct=False):
        if x is None:
            return "—"
        return "%.0f %%" % (100 * x) if pct else ("%.0f×" % x if x >= 10 else "%.1f×" % x)

    for r in rows:
        lines.append("| %d | %d | %s | %s | %s | %s |" % (
            r["clients"], r["window"], fmt_payload(r["payload_bytes"]), ratio(r["vs_bridgedock-ws"], True),
            ratio(r["vs_supergateway-http"]), ratio(r["vs_supergateway-http-stateful"])))
    lines += ["", "| daemon | max VmRSS of the daemon | max VmRSS of the daemon + its children | most processes at once |",
              "|---|---:|---:|---:|"]
    for name, v in rss.items():
        lines.append("| %s | %s KiB | %s KiB | %s |" % (name, fmt_int(v["max_vmrss_kb"]), fmt_int(v.get("tree_max_kb")),
                                                  v.get("tree_max_procs", "—")))
    return "\n".join(lines)


def cpu_table(cells):
    """CPU seconds each process used over a cell (warm-up, measurement and drain), and the
    bridge's CPU per answer: where the time goes."""
    lines = ["", "CPU seconds over each cell (warm-up + measured + drain; 2 cores = 2 s per second):", "",
             "| target | clients | W | payload | bridge CPU s | echo server CPU s | loadgen CPU s | bridge CPU µs/answer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cells:
        if r.get("skipped"):
            continue
        if r.get("echo_cpu_s") is None and r.get("exited_children_cpu_s"):
            # echo servers spawned and gone within the cell (supergateway streamableHttp)
            r = dict(r, echo_cpu_s=r["exited_children_cpu_s"])
        per = None
        if r.get("bridge_cpu_s") is not None and r.get("answers_total"):
            per = 1e6 * r["bridge_cpu_s"] / r["answers_total"]
        lines.append("| %s | %d | %d | %s | %s | %s | %s | %s |" % (
            r["target"], r["clients"], r["window"], fmt_payload(r["payload_bytes"]),
            "—" if r.get("bridge_cpu_s") is None else "%.2f" % r["bridge_cpu_s"],
            "—" if r.get("echo_cpu_s") is None else "%.2f" % r["echo_cpu_s"],
            "—" if r.get("loadgen_cpu_s") is None else "%.2f" % r["loadgen_cpu_s"],
            "—" if per is None else "%.1f" % per))
    return "\n".join(lines)


def fmt_derived(dv):
    lines = ["", "| clients | payload | bridgedock / direct | bridgedock / supergateway |", "|---:|---:|---:|---:|"]
    for r in dv["throughput"]:
        lines.append("| %d | %s | %s | %s |" % (
            r["clients"], fmt_payload(r["payload_bytes"]),
            "%.0f %%" % (100 * r["vs_direct"]) if r["vs_direct"] is not None else "—",
            "%.2f×" % r["vs_supergateway"] if r["vs_supergateway"] is not None else "—"))
    lines.append("")
    if "added_p50_us" in dv:
        lines.append("- added p50, 1 client 100 B, pipelined: %d µs" % dv["added_p50_us"])
    if "added_p50_us_unloaded" in dv:
        lines.append("- added p50, 1 client 100 B, one request at a time: %d µs (supergateway: %s µs)" % (
            dv["added_p50_us_unloaded"], dv.get("added_p50_us_unloaded_supergateway", "—")))
    for k, v in dv["rss_kb"].items():
        lines.append("- VmRSS of %s under 64-client load: max %s KiB (VmHWM %s KiB)" % (
            k, fmt_int(v.get("max_vmrss_kb")), fmt_int(v.get("vmhwm_kb"))))
    for k, v in dv["targets"].items():
        lines.append("- %s: %s" % (k, "MET" if v else "NOT MET"))
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["ws", "http"], default="ws",
                    help="ws: issue #4 (direct / bridgedock / supergateway over WebSocket); "
                         "http: issue #5 (Streamable HTTP; bench/bridge/run-http)")
    ap.add_argument("--windows", default="1,8", help="suite http: the W values (default 1,8)")
    ap.add_argument("--spawn-drain", type=float, default=30.0,
                    help="suite http: drain seconds for supergateway-http, which starts a node "
                         "process per request (default 30)")
    ap.add_argument("--max-spawns", type=int, default=128,
                    help="suite http: skip supergateway-http cells with more than this many "
                         "requests in flight (clients x W), each of which is a node process "
                         "(default 128; 0: no limit)")
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before (default 1)")
    ap.add_argument("--drain", type=float, default=10.0, help="seconds to wait for answers after (default 10)")
    ap.add_argument("--window", type=int, default=32, help="requests in flight per client (default 32)")
    ap.add_argument("--clients", default=None, help="default 1,16,64 (suite http too)")
    ap.add_argument("--payloads", default="100,16384")
    ap.add_argument("--extra-64-window", type=int, default=8,
                    help="also run 64 clients at this window (0: no)")
    ap.add_argument("--latency-window", type=int, default=1,
                    help="also run 1 client x 100 B at this window for unloaded latency (0: no)")
    ap.add_argument("--targets", default=None,
                    help="default %s (suite http: %s)" % (",".join(TARGETS), ",".join(TARGETS_HTTP)))
    ap.add_argument("--reps", type=int, default=1,
                    help="run the whole plan this many times; the table shows each cell's median by msgs/s")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/bridge-<date>.json)")
    ap.add_argument("--cleanup", action="store_true", help="only kill leftovers of BENCH_RUN_ID")
    args = ap.parse_args()
    if args.cleanup:
        cleanup()
        return 0
    for path, what in ((BRIDGEDOCKD, "BRIDGEDOCKD"), (LOADGEN, "LOADGEN")):
        if not path or not os.access(path, os.X_OK):
            sys.exit("bridge.py: %s must name an executable (run bench/bridge/run)" % what)
    http = args.suite == "http"
    targets = [t for t in (args.targets or ",".join(TARGETS_HTTP if http else TARGETS)).split(",") if t]
    for t in targets:
        if t not in (TARGETS_HTTP if http else TARGETS):
            sys.exit("bridge.py: unknown target %r for suite %s" % (t, args.suite))
    clients = [int(x) for x in (args.clients or "1,16,64").split(",")]
    payloads = [int(x) for x in args.payloads.split(",")]
    if http:
        windows = [int(x) for x in args.windows.split(",")]
        plan = [(c, p, w) for c in clients for w in windows for p in payloads]
    else:
        plan = [(c, p, args.window) for c in clients for p in payloads]
        if args.extra_64_window and args.extra_64_window != args.window:
            plan += [(64, p, args.extra_64_window) for p in payloads]
        if args.latency_window:
            plan.append((1, 100, args.latency_window))

    def on_signal(signum, _frame):
        global STOPPING
        if STOPPING:
            return
        STOPPING = True
        log("signal %d: cleaning up" % signum)
        cleanup()
        sys.exit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    info = machine()
    info["loadavg_start"] = loadavg()
    log("machine: %s, %s cores, load average %s" % (info["cpu_model"], info["nproc"], info["loadavg_start"]))
    work = tempfile.mkdtemp(prefix="bridge-bench-")
    bridges = {}
    runs = []
    leftovers = {}
    warnings = {}
    try:
        kinds = {"bridgedock": Bridgedock, "supergateway": Supergateway,
                 "supergateway-http": SupergatewayHttp, "supergateway-http-stateful": SupergatewayHttpStateful}
        for t in targets:
            name = BRIDGE_OF.get(t)
            if name and name not in bridges:
                bridges[name] = kinds[name](work)
        for b in bridges.values():
            b.start()
            log("%s up (pid %d, echo pid %s): %s" % (b.name, b.p.pid, b.echo_pid or "per request/session",
                                                    b.url.split("?")[0]))
        for rep in range(args.reps):
            for (c, p, w) in plan:
                for t in targets:
                    if t == "supergateway-http" and args.max_spawns and c * w > args.max_spawns:
                        why = "%d node processes at once (--max-spawns %d)" % (c * w, args.max_spawns)
                        runs.append({"target": t, "clients": c, "payload_bytes": p, "window": w, "rep": rep,
                                     "skipped": why})
                        log("%-12s clients=%-3d W=%-2d payload=%-6d skipped: %s" % (t, c, w, p, why))
                        continue
                    r = run_cell(t, bridges.get(BRIDGE_OF.get(t)), c, p, w, args)
                    r["rep"] = rep
                    runs.append(r)
                    log("%-12s clients=%-3d W=%-2d payload=%-6d %9s msgs/s  p50 %6s µs  p99 %7s µs  lost %s misrouted %s errors %s%s" % (
                        t, c, w, p, fmt_int(r.get("msgs_per_s")), fmt_int(r.get("p50_us")), fmt_int(r.get("p99_us")),
                        r.get("lost"), r.get("misrouted", 0) + r.get("unexpected", 0),
                        fmt_int(r.get("errors", 0) + r.get("client_too_slow", 0)),
                        "" if r.get("ok") else "  NOT OK: %s" % (r.get("error") or r.get("connection_errors"))))
        for name, b in bridges.items():
            leftovers[name] = b.stop()
            with open(b.out_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            # the daemon's own complaints (bridgedockd's WARN/ERROR lines, supergateway's errors)
            warnings[name] = [l for l in text.splitlines()
                              if re.search(r"\b(WARN|ERROR|Error|error)\b", l)][:30]
    finally:
        cleanup()
    info["loadavg_end"] = loadavg()
    if args.keep:
        log("work directory kept: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)

    # each cell's median run by msgs/s (with --reps 1: the one run)
    cells = []
    for (c, p, w) in plan:
        for t in targets:
            same = sorted((r for r in runs if (r["target"], r.get("clients", c), r.get("payload_bytes", p), r["window"]) == (t, c, p, w)),
                          key=lambda r: r.get("msgs_per_s") or 0)
            if same:
                cells.append(dict(same[(len(same) - 1) // 2], reps=len(same)))
    # lost/misrouted/errors must hold over every run, not just the median one
    for cell in cells:
        same = [r for r in runs if (r["target"], r.get("clients"), r.get("payload_bytes"), r["window"]) ==
                (cell["target"], cell.get("clients"), cell.get("payload_bytes"), cell["window"])]
        cell["all_reps_lost"] = sum(r.get("lost", 0) for r in same)
        cell["all_reps_misrouted"] = sum(r.get("misrouted", 0) + r.get("unexpected", 0) for r in same)

    rss = {}
    for name in bridges:
        if http:
            # every cell the daemon served (bridgedockd: both its HTTP and WS cells)
            under = [r for r in runs if BRIDGE_OF.get(r["target"]) == name]
            if under:
                rss[name] = {"max_vmrss_kb": max(r.get("bridge_vmrss_max_kb") or 0 for r in under),
                             "vmhwm_kb": max(r.get("bridge_vmhwm_kb") or 0 for r in under),
                             "tree_max_kb": max(r.get("bridge_tree_vmrss_max_kb") or 0 for r in under),
                             "tree_max_procs": max(r.get("bridge_tree_max_procs") or 0 for r in under),
                             "per_target": {}}
                for r in under:
                    k = "%s c=%d W=%d %s" % (r["target"], r["clients"], r["window"], fmt_payload(r["payload_bytes"]))
                    rss[name]["per_target"][k] = [r.get("bridge_vmrss_max_kb"), r.get("bridge_tree_vmrss_max_kb")]
            continue
        under = [r for r in runs if r["target"] == name and r["clients"] == 64]
        if under:
            rss[name] = {"max_vmrss_kb": max(r.get("bridge_vmrss_max_kb") or 0 for r in under),
                         "vmhwm_kb": max(r.get("bridge_vmhwm_kb") or 0 for r in under),
                         "per_cell": {}}
            for r in under:
                k = "W=%d %s" % (r["window"], fmt_payload(r["payload_bytes"]))
                rss[name]["per_cell"][k] = max(rss[name]["per_cell"].get(k, 0), r.get("bridge_vmrss_max_kb") or 0)
    if http:
        dv = {"ratios": http_derived(cells), "rss_kb": rss}
        settings = {"suite": "http", "duration_s": args.duration, "warmup_s": args.warmup, "drain_s": args.drain,
                    "spawn_drain_s": args.spawn_drain, "max_spawns": args.max_spawns,
                    "windows": windows, "clients": clients, "payloads": payloads, "targets": targets,
                    "supergateway_flags": {n: b.transport + ["--logLevel", "none"] for n, b in bridges.items()
                                           if isinstance(b, Supergateway)}}
    else:
        dv = derived(cells, rss, args.window, args.latency_window)
        settings = {"duration_s": args.duration, "warmup_s": args.warmup, "drain_s": args.drain,
                    "window": args.window, "extra_64_window": args.extra_64_window,
                    "latency_window": args.latency_window, "targets": targets,
                    "supergateway_flags": "--outputTransport ws --logLevel none"}
    result = {"machine": info, "run_id": RUN_ID, "settings": settings,
              "cells": cells, "runs": runs if args.reps > 1 else None, "derived": dv, "leftover_processes": leftovers,
              "daemon_log_warnings": warnings}
    out = args.out or os.path.join(ROOT, "bench", "results", "bridge-%s%s.json" % ("http-" if http else "", info["date"]))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print("Machine: %s, nproc %s, %s, load average %s at start, %s at end\n" % (
        info["cpu_model"], info["nproc"], info["date"],
        " ".join("%.2f" % x for x in info["loadavg_start"]), " ".join("%.2f" % x for x in info["loadavg_end"])))
    if http:
        print(table(cells, "errors"))
        print(fmt_http_derived(dv["ratios"], rss))
    else:
        print(table(cells))
        print(fmt_derived(dv))
    print(cpu_table(cells))
    for name, w in warnings.items():
        if w:
            print("\n%s logged %d warning/error line(s), first: %s" % (name, len(w), w[0][:300]))
    print("\nraw results: %s" % os.path.relpath(out, os.getcwd()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
