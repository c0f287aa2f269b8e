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


def children(pid):
    out = []
    for p in all_pids():
        f = stat_fields(p)
        if f and int(f[1]) == pid:
            out.append(p)
    return out


def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


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

    def __init__(self, work):
        self.work = os.path.join(work, "supergateway")
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
            ["node", SUPERGATEWAY_JS, "--stdio", "node %s" % ECHO, "--outputTransport", "ws",
             "--port", str(self.port), "--logLevel", "none"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(),
            cwd=HERE)
        STARTED.append(self.p)

        def up():
            if self.p.poll() is not None:
                raise RuntimeError("supergateway exited: %s" % self.log_tail())
            return port_open(self.port)

        wait_for(up, 20, what="supergateway to listen")
        self.url = "ws://127.0.0.1:%d/message" % self.port
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
        return stop_daemon(self.p, "supergateway")


# ---------------------------------------------------------------- one cell

class Sampler(threading.Thread):
    """Samples VmRSS of one pid every 50 ms until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.max_kb = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            kb = status_kb(self.pid, "VmRSS")
            if kb:
                self.max_kb = max(self.max_kb, kb)
                self.samples += 1
            self.halt.wait(0.05)


def run_cell(target, bridge, clients, payload, window, args):
    cmd = [LOADGEN, "--clients", str(clients), "--payload", str(payload), "--window", str(window),
           "--warmup", str(args.warmup), "--duration", str(args.duration), "--drain", str(args.drain),
           "--label", "%s c=%d p=%d w=%d" % (target, clients, payload, window)]
    if target == "direct":
        cmd += ["--target", "direct", "--cmd", "node %s" % ECHO]
    else:
        cmd += ["--target", "ws", "--url", bridge.url]
    sampler = None
    cpu0 = {}
    if bridge is not None:
        sampler = Sampler(bridge.p.pid)
        sampler.start()
        cpu0 = {"bridge": cpu_seconds(bridge.p.pid), "echo": cpu_seconds(bridge.echo_pid)}
    la0 = loadavg()
    t0 = time.monotonic()
    timeout = args.warmup + args.duration + args.drain + 40
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
        c_bridge = cpu_seconds(bridge.p.pid)
        c_echo = cpu_seconds(bridge.echo_pid)
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


def table(cells):
    lines = ["| target | clients | W | payload | msgs/s | p50 µs | p99 µs | lost/misrouted | errors (rejected) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cells:
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


def cpu_table(cells):
    """CPU seconds each process used over a cell (warm-up, measurement and drain), and the
    bridge's CPU per answer: where the time goes."""
    lines = ["", "CPU seconds over each cell (warm-up + measured + drain; 2 cores = 2 s per second):", "",
             "| target | clients | W | payload | bridge CPU s | echo server CPU s | loadgen CPU s | bridge CPU µs/answer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cells:
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
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before (default 1)")
    ap.add_argument("--drain", type=float, default=10.0, help="seconds to wait for answers after (default 10)")
    ap.add_argument("--window", type=int, default=32, help="requests in flight per client (default 32)")
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--payloads", default="100,16384")
    ap.add_argument("--extra-64-window", type=int, default=8,
                    help="also run 64 clients at this window (0: no)")
    ap.add_argument("--latency-window", type=int, default=1,
                    help="also run 1 client x 100 B at this window for unloaded latency (0: no)")
    ap.add_argument("--targets", default=",".join(TARGETS))
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
    targets = [t for t in args.targets.split(",") if t]
    clients = [int(x) for x in args.clients.split(",")]
    payloads = [int(x) for x in args.payloads.split(",")]
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
    try:
        if "bridgedock" in targets:
            bridges["bridgedock"] = Bridgedock(work)
        if "supergateway" in targets:
            bridges["supergateway"] = Supergateway(work)
        for b in bridges.values():
            b.start()
            log("%s up (pid %d, echo pid %d): %s" % (b.name, b.p.pid, b.echo_pid, b.url.split("?")[0]))
        for rep in range(args.reps):
            for (c, p, w) in plan:
                for t in targets:
                    r = run_cell(t, bridges.get(t), c, p, w, args)
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
                b.log = f.read()[-20000:].decode("utf-8", "replace")
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
        under = [r for r in runs if r["target"] == name and r["clients"] == 64]
        if under:
            rss[name] = {"max_vmrss_kb": max(r.get("bridge_vmrss_max_kb") or 0 for r in under),
                         "vmhwm_kb": max(r.get("bridge_vmhwm_kb") or 0 for r in under),
                         "per_cell": {}}
            for r in under:
                k = "W=%d %s" % (r["window"], fmt_payload(r["payload_bytes"]))
                rss[name]["per_cell"][k] = max(rss[name]["per_cell"].get(k, 0), r.get("bridge_vmrss_max_kb") or 0)
    dv = derived(cells, rss, args.window, args.latency_window)
    result = {"machine": info, "run_id": RUN_ID,
              "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "drain_s": args.drain,
                           "window": args.window, "extra_64_window": args.extra_64_window,
                           "latency_window": args.latency_window, "targets": targets,
                           "supergateway_flags": "--outputTransport ws --logLevel none"},
              "cells": cells, "runs": runs if args.reps > 1 else None, "derived": dv, "leftover_processes": leftovers}
    out = args.out or os.path.join(ROOT, "bench", "results", "bridge-%s.json" % info["date"])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print("Machine: %s, nproc %s, %s, load average %s at start, %s at end\n" % (
        info["cpu_model"], info["nproc"], info["date"],
        " ".join("%.2f" % x for x in info["loadavg_start"]), " ".join("%.2f" % x for x in info["loadavg_end"])))
    print(table(cells))
    print(fmt_derived(dv))
    print(cpu_table(cells))
    print("\nraw results: %s" % os.path.relpath(out, os.getcwd()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
