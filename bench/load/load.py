#!/usr/bin/env python3
"""Load and soak of the bridge (issue #7, point 4). Stdlib only; run through bench/load/run
(load) or bench/load/soak, which build bridgedockd and the client first.

Both start one `bridgedockd serve` (release) with three stdio MCP servers, echo-a, echo-b and
echo-c, each `node bench/bridge/echo-server.mjs` (a real stdio MCP server, no mocks in the
bridge), and drive them with bench/load/client over WebSocket (see its header: mixed ids,
mixed payloads, every answer checked).

load: 200 clients × 5 000 requests across the three servers while echo-a is restarted every
  10 s (`bridgedockd ctl restart echo-a`). Asserts 0 misrouted / corrupt / lost / unknown ids,
  every request answered or failed with an error naming its server (counted by code), and
  VmRSS of bridgedockd after a settle period within 10 % of before. "Before" is taken twice:
  cold (servers up, no client yet) and warm (after a 200 × 50 warm-up with the same mix, then
  the same settle): the warm figure is what the run is compared with, since the first clients
  make the allocator set up its per-thread arenas once; both are reported.
soak: steady mixed load for --duration seconds (default 600) at a fixed rate, sampling VmRSS,
  open fds and threads of bridgedockd every 10 s (and the machine's load average), then a
  settle; plots them to bench/soak-<date>.png (matplotlib, from a venv the soak script makes).

Every process it starts carries BRIDGEDOCK_BENCH_CHILD=<run id> in its environment; at exit
the daemon's process group gets SIGTERM, then anything still carrying the mark gets SIGKILL.
Raw results: bench/results/load-<date>.json and soak-<date>.json.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procstat  # noqa: E402  (bench/procstat.py)
from procstat import MARK_VAR, sample  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ECHO = os.path.join(ROOT, "bench", "bridge", "echo-server.mjs")
RUN_ID = os.environ.get("BENCH_RUN_ID") or "bench-load-%d-%d" % (os.getpid(), time.time())
BRIDGEDOCKD = os.environ.get("BRIDGEDOCKD", "")
CLIENT = os.environ.get("LOAD_CLIENT", "")
SERVERS = ["echo-a", "echo-b", "echo-c"]
DAEMON = None  # the Popen of bridgedockd


def log(msg):
    print("[load %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def child_env():
    env = dict(os.environ)
    env[MARK_VAR] = RUN_ID
    env.pop("BENCH_RUN_ID", None)
    return env


# ---------------------------------------------------------------- /proc

def marked_pids():
    return procstat.marked_pids(MARK_VAR, RUN_ID)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = status_kb_meminfo()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "engine"], capture_output=True,
                           text=True).stdout.strip() != ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_mib": mem_kb // 1024 if mem_kb else None,
            "kernel": platform.release(), "os": platform_os(), "python": platform.python_version(),
            "node": node, "commit": commit, "engine_dirty": dirty}


def status_kb_meminfo():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def platform_os():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


# ---------------------------------------------------------------- the daemon

class Daemon:
    def __init__(self, workdir):
        self.dir = workdir
        self.state = os.path.join(workdir, "state")
        self.cfgdir = os.path.join(workdir, "cfg")
        self.config = os.path.join(workdir, "config.toml")
        with open(self.config, "w") as f:
            for name in SERVERS:
                f.write('[servers.%s]\ncommand = "node"\nargs = [%s]\n\n' % (name, json.dumps(ECHO)))
        self.stderr = open(os.path.join(workdir, "bridgedockd.stderr"), "w+")
        self.proc = subprocess.Popen(
            [BRIDGEDOCKD, "serve", "--config", self.config, "--port", "0", "--state-dir", self.state,
             "--config-dir", self.cfgdir],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, env=child_env(),
            start_new_session=True, text=True)
        global DAEMON
        DAEMON = self.proc
        self.addr = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("bridgedockd exited before listening")
            if line.startswith("bridgedockd: API listening on http://"):
                self.addr = line.strip().rsplit("/", 1)[-1]
                break
        if not self.addr:
            raise RuntimeError("bridgedockd did not print its address")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        with open(os.path.join(self.cfgdir, "token")) as f:
            self.token = f.read().strip()
        self.pid = self.proc.pid

    def ctl(self, *args):
        return subprocess.run([BRIDGEDOCKD, "ctl", "--state-dir", self.state] + list(args),
                              capture_output=True, text=True, env=child_env(), timeout=60)

    def status(self):
        out = self.ctl("status", "--json")
        return json.loads(out.stdout) if out.returncode == 0 else None

    def wait_running(self, within=60):
        deadline = time.time() + within
        while time.time() < deadline:
            s = self.status()
            if s and all(x["state"] == "running" for x in s["servers"]) and len(s["servers"]) == len(SERVERS):
                return s
            time.sleep(0.1)
        raise RuntimeError("servers not running within %d s: %s" % (within, self.status()))

    def warnings(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return [l.rstrip("\n") for l in self.stderr if " WARN " in l or " ERROR " in l]

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def cleanup():
    if DAEMON is not None and DAEMON.poll() is None:
        try:
            os.killpg(DAEMON.pid, signal.SIGTERM)
            DAEMON.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    left = marked_pids()
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def run_client(d, args, progress_lines=None):
    """Runs the load client to its end; returns its summary. Progress lines (stderr) are
    appended to progress_lines with the time they arrived."""
    cmd = [CLIENT, "--url", "ws://%s/mcp" % d.addr, "--token", d.token, "--servers", ",".join(SERVERS)] + args
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())

    def read_err():
        for line in proc.stderr:
            line = line.strip()
            if progress_lines is not None and line.startswith("{"):
                try:
                    v = json.loads(line)
                    v["wall"] = time.time()
                    progress_lines.append(v)
                    continue
                except ValueError:
                    pass
            log("client: " + line)

    t = threading.Thread(target=read_err, daemon=True)
    t.start()
    out = proc.stdout.read()
    proc.wait()
    t.join(5)
    if proc.returncode != 0:
        raise RuntimeError("load client failed (%d)" % proc.returncode)
    return json.loads(out)


def settle(d, seconds, every=1.0):
    """Samples the daemon while nothing happens; returns the samples (the last is "after")."""
    samples = []
    end = time.time() + seconds
    while True:
        samples.append(sample(d.pid))
        if time.time() >= end:
            return samples
        time.sleep(every)


class Sampler(threading.Thread):
    def __init__(self, pid, every):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.stopped = pid, every, [], threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.samples.append(sample(self.pid))
            self.stopped.wait(self.every)

    def stop(self):
        self.stopped.set()
        self.join(5)
        self.samples.append(sample(self.pid))


class Restarter(threading.Thread):
    def __init__(self, d, name, every):
        super().__init__(daemon=True)
        self.d, self.name, self.every, self.stopped, self.restarts = d, name, every, threading.Event(), []

    def run(self):
        while not self.stopped.wait(self.every):
            t0 = time.time()
            out = self.d.ctl("restart", self.name)
            self.restarts.append({"t": t0, "took_ms": round((time.time() - t0) * 1000, 1),
                                  "rc": out.returncode, "out": (out.stdout + out.stderr).strip()})
            log("restarted %s: %s" % (self.name, (out.stdout + out.stderr).strip()))

    def stop(self):
        self.stopped.set()
        self.join(30)


def kib(kb):
    return "%.1f MiB" % (kb / 1024.0)


# ---------------------------------------------------------------- load

def load(a):
    result = {"kind": "load", "date": datetime.date.today().isoformat(), "machine": machine(),
              "command": "bench/load/run " + " ".join(sys.argv[2:]), "started": time.time()}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as work:
        d = Daemon(work)
        d.wait_running()
        log("bridgedockd pid %d on %s; settling %d s" % (d.pid, d.addr, a.settle))
        cold = settle(d, a.settle)
        log("cold: RSS %s, %d fds" % (kib(cold[-1]["rss_kb"]), cold[-1]["fds"]))
        mix = ["--window", str(a.window), "--drain", "60", "--progress", "5"]
        warm_summary = run_client(d, ["--clients", str(a.clients), "--requests", str(a.warmup_requests)] + mix)
        warm = settle(d, a.settle)
        log("warm (after %d × %d): RSS %s, %d fds" % (a.clients, a.warmup_requests, kib(warm[-1]["rss_kb"]),
                                                       warm[-1]["fds"]))
        pids_before = {s["name"]: s["pid"] for s in d.status()["servers"]}
        rounds = []
        for n in range(1, a.rounds + 1):
            sampler = Sampler(d.pid, 1.0)
            sampler.start()
            restarter = Restarter(d, a.restart, a.restart_every)
            restarter.start()
            progress = []
            log("round %d: %d clients × %d requests, %s restarted every %g s" % (
                n, a.clients, a.requests, a.restart, a.restart_every))
            summary = run_client(d, ["--clients", str(a.clients), "--requests", str(a.requests)] + mix, progress)
            restarter.stop()
            sampler.stop()
            log("round %d done in %.1f s; settling %d s" % (n, summary["elapsed_s"], a.settle))
            after = settle(d, a.settle)
            log("after round %d: RSS %s (anon %s), %d fds" % (n, kib(after[-1]["rss_kb"]),
                                                             kib(after[-1]["rss_anon_kb"]), after[-1]["fds"]))
            rounds.append({"summary": summary, "restarts": restarter.restarts, "during": sampler.samples,
                           "progress": progress, "settle_after": after, "after": after[-1]})
        status = d.status()
        warnings = d.warnings()
        d.stop()
    left = cleanup()
    before_cold, before_warm = cold[-1], warm[-1]
    first, end = rounds[0]["after"], rounds[-1]["after"]

    def within(after, before, key="rss_kb"):
        return abs(after[key] - before[key]) <= 0.10 * before[key]

    checks = {}
    for n, r in enumerate(rounds, 1):
        s_ = r["summary"]
        answered_or_failed = s_["ok"] + sum(s_["errors_by_code"].values())
        checks.update({
            "round %d: every request answered or failed" % n:
                answered_or_failed == s_["sent"] == a.clients * a.requests,
            "round %d: 0 misrouted, corrupt, unknown ids, lost" % n:
                s_["misrouted"] + s_["corrupt"] + s_["unknown_id"] + s_["lost"] == 0,
            "round %d: 0 connection errors" % n: not s_["connection_errors"],
            "round %d: every error names its server" % n: s_["unclear_errors"] == 0,
            "round %d: errors only -32002 (server restarted)" % n: set(s_["errors_by_code"]) <= {"-32002"},
        })
    checks.update({
        "RSS after within 10 % of cold (no client yet)": within(end, before_cold),
        "RSS after within 10 % of warm (after the small warm-up)": within(end, before_warm),
        "RSS after the last round within 10 % of after the first": within(end, first),
        "anonymous RSS after within 10 % of warm": within(end, before_warm, "rss_anon_kb"),
        "fds after = before": end["fds"] == before_cold["fds"],
        "nothing left running": not left,
    })
    result.update({
        "clients": a.clients, "requests_per_client": a.requests, "window": a.window,
        "restarted": a.restart, "restart_every_s": a.restart_every, "settle_s": a.settle,
        "warmup": {"requests_per_client": a.warmup_requests, "summary": warm_summary},
        "rounds": rounds, "before_cold": before_cold, "before_warm": before_warm, "after": end,
        "settle_cold": cold, "settle_warm": warm, "server_pids_before": pids_before,
        "servers_after": [{k: s.get(k) for k in ("name", "state", "pid", "restarts", "requests", "errors",
                                                  "latency_p50_ms", "latency_p99_ms")}
                          for s in status["servers"]],
        "daemon_warnings": warnings, "left_running": left, "checks": checks, "finished": time.time(),
    })
    write(result, "load")
    peak = max(s["hwm_kb"] or 0 for r in rounds for s in r["during"])
    loads = [s["loadavg"][0] for r in rounds for s in r["during"]]

    def mem(x):
        return "%s (anon %s)" % (kib(x["rss_kb"]), kib(x["rss_anon_kb"]))

    print("| figure | " + " | ".join("round %d" % n for n in range(1, len(rounds) + 1)) + " |")
    print("|---|" + "---|" * len(rounds))
    per_round = [
        ("requests", lambda r: "%d (%d clients × %d)" % (r["summary"]["sent"], a.clients, a.requests)),
        ("answered with the echo", lambda r: "%d" % r["summary"]["ok"]),
        ("failed with a bridge error", lambda r: ", ".join("%s: %d" % kv for kv in r["summary"]["errors_by_code"].items()) or "0"),
        ("misrouted / corrupt / unknown id / lost", lambda r: "%d / %d / %d / %d" % (
            r["summary"]["misrouted"], r["summary"]["corrupt"], r["summary"]["unknown_id"], r["summary"]["lost"])),
        ("errors not naming their server", lambda r: "%d" % r["summary"]["unclear_errors"]),
        ("restarts of %s (every %g s)" % (a.restart, a.restart_every), lambda r: "%d" % len(r["restarts"])),
        ("elapsed, throughput", lambda r: "%.1f s, %.0f answers/s" % (r["summary"]["elapsed_s"], r["summary"]["throughput_per_s"])),
        ("latency p50 / p99 / max", lambda r: "%.1f / %.1f / %.1f ms" % tuple(r["summary"]["latency_us"][k] / 1000 for k in ("p50", "p99", "max"))),
        ("bridgedockd RSS after, %d s settle" % a.settle, lambda r: mem(r["after"])),
        ("bridgedockd peak RSS (VmHWM, cumulative)", lambda r: kib(max(s["hwm_kb"] or 0 for s in r["during"]))),
        ("fds after", lambda r: "%d" % r["after"]["fds"]),
        ("load average (1-min, min–max)", lambda r: "%.2f–%.2f" % (min(s["loadavg"][0] for s in r["during"]), max(s["loadavg"][0] for s in r["during"]))),
    ]
    for label, f in per_round:
        print("| %s | %s |" % (label, " | ".join(f(r) for r in rounds)))
    print()
    s0 = rounds[0]["summary"]
    rows = [
        ("ids (each round)", ", ".join("%s %d" % kv for kv in s0["by_id_kind"].items())),
        ("payloads (each round)", ", ".join("%s %d" % kv for kv in s0["by_size"].items())),
        ("bridgedockd RSS cold / warm (after %d × %d)" % (a.clients, a.warmup_requests),
         "%s / %s" % (mem(before_cold), mem(before_warm))),
        ("RSS after the last round vs cold / warm / after round 1", "%+.1f %% / %+.1f %% / %+.1f %%" % tuple(
            100.0 * (end["rss_kb"] - b["rss_kb"]) / b["rss_kb"] for b in (before_cold, before_warm, first))),
        ("bridgedockd peak RSS (VmHWM)", kib(peak)),
        ("bridgedockd fds before / after", "%d / %d" % (before_cold["fds"], end["fds"])),
        ("load average during the rounds (1-min, min–max)", "%.2f–%.2f" % (min(loads), max(loads))),
    ]
    print("| figure | value |\n|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    print()
    for k, ok in checks.items():
        print("- %s: %s" % (k, "yes" if ok else "**NO**"))
    return 0 if all(checks.values()) else 1


# ---------------------------------------------------------------- soak

def soak(a):
    result = {"kind": "soak", "date": datetime.date.today().isoformat(), "machine": machine(),
              "command": "bench/load/soak " + " ".join(sys.argv[2:]), "started": time.time()}
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as work:
        d = Daemon(work)
        d.wait_running()
        log("bridgedockd pid %d on %s; settling %d s" % (d.pid, d.addr, a.settle))
        before = settle(d, a.settle)
        sampler = Sampler(d.pid, a.every)
        sampler.start()
        progress = []
        log("soak: %d clients at %g requests/s each for %d s" % (a.clients, a.rate, a.duration))
        summary = run_client(d, ["--clients", str(a.clients), "--requests", "0", "--duration", str(a.duration),
                                 "--rate", str(a.rate),
                                 "--window", str(a.window), "--drain", "60", "--progress", str(a.every)],
                             progress)
        sampler.stop()
        log("done; settling %d s" % a.settle)
        after = settle(d, a.settle)
        status = d.status()
        warnings = d.warnings()
        d.stop()
    left = cleanup()
    samples = sampler.samples
    t0 = samples[0]["t"]
    rss = [s["rss_kb"] for s in samples]
    fds = [s["fds"] for s in samples]
    # After the first minute the load is steady: growth from there on is what a leak would show.
    steady = [s for s in samples if s["t"] - t0 >= 60]
    checks = {
        "0 misrouted / corrupt / unknown / lost": summary["misrouted"] + summary["corrupt"] + summary["unknown_id"]
        + summary["lost"] == 0,
        "0 errors": not summary["errors_by_code"],
        "0 connection errors": not summary["connection_errors"],
        "fds flat during the steady part": len({s["fds"] for s in steady}) <= 2,
        "RSS after within 10 % of before": abs(after[-1]["rss_kb"] - before[-1]["rss_kb"]) <= 0.10 * before[-1]["rss_kb"],
        "nothing left running": not left,
    }
    result.update({
        "clients": a.clients, "rate_per_client": a.rate, "window": a.window, "duration_s": a.duration,
        "sample_every_s": a.every, "summary": summary, "before": before[-1], "after": after[-1],
        "settle_before": before, "settle_after": after, "samples": samples, "progress": progress,
        "servers_after": [{k: s.get(k) for k in ("name", "state", "pid", "restarts", "requests", "errors",
                                                  "latency_p50_ms", "latency_p99_ms")}
                          for s in status["servers"]],
        "daemon_warnings": warnings, "left_running": left, "checks": checks, "finished": time.time(),
    })
    path = write(result, "soak")
    loads = [s["loadavg"][0] for s in samples]
    print("| figure | value |\n|---|---|")
    rows = [
        ("load", "%d clients × %g requests/s for %d s, window %d: %d requests, %.0f answers/s" % (
            a.clients, a.rate, a.duration, a.window, summary["sent"], summary["throughput_per_s"])),
        ("payloads", ", ".join("%s %d" % kv for kv in summary["by_size"].items())),
        ("answered / errors / misrouted / corrupt / lost", "%d / %d / %d / %d / %d" % (
            summary["ok"], sum(summary["errors_by_code"].values()), summary["misrouted"], summary["corrupt"],
            summary["lost"])),
        ("latency p50 / p99 / max", "%.1f / %.1f / %.1f ms" % tuple(summary["latency_us"][k] / 1000
                                                                   for k in ("p50", "p99", "max"))),
        ("RSS before / min–max during / after", "%s / %s–%s / %s" % (kib(before[-1]["rss_kb"]), kib(min(rss)),
                                                                      kib(max(rss)), kib(after[-1]["rss_kb"]))),
        ("RSS at 1 min / at the last sample under load", "%s / %s" % (
            kib(steady[0]["rss_kb"]) if steady else "-", kib(samples[-2]["rss_kb"]))),
        ("open fds before / min–max during / after", "%d / %d–%d / %d" % (before[-1]["fds"], min(fds), max(fds),
                                                                           after[-1]["fds"])),
        ("threads during", "%d–%d" % (min(s["threads"] for s in samples), max(s["threads"] for s in samples))),
        ("load average during (1-min, min–max)", "%.2f–%.2f" % (min(loads), max(loads))),
    ]
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    print()
    for k, ok in checks.items():
        print("- %s: %s" % (k, "yes" if ok else "**NO**"))
    print("\nraw: %s" % os.path.relpath(path, ROOT))
    return 0 if all(checks.values()) else 1


def write(result, kind):
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results", "%s-%s.json" % (kind, result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    log("wrote %s" % os.path.relpath(path, ROOT))
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cleanup", action="store_true", help="only kill what a previous run left")
    sub = p.add_subparsers(dest="kind")
    l = sub.add_parser("load")
    l.add_argument("--clients", type=int, default=200)
    l.add_argument("--requests", type=int, default=5000, help="per client")
    l.add_argument("--window", type=int, default=4, help="requests in flight per client")
    l.add_argument("--restart", default="echo-a")
    l.add_argument("--restart-every", type=float, default=10.0)
    l.add_argument("--warmup-requests", type=int, default=50)
    l.add_argument("--rounds", type=int, default=2, help="the whole load, this many times in a row")
    l.add_argument("--settle", type=int, default=20, help="seconds of quiet before each RSS reading")
    s = sub.add_parser("soak")
    s.add_argument("--clients", type=int, default=50)
    s.add_argument("--rate", type=float, default=20.0, help="requests per second per client")
    s.add_argument("--window", type=int, default=4)
    s.add_argument("--duration", type=int, default=600)
    s.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    s.add_argument("--settle", type=int, default=20)
    a = p.parse_args()
    if a.cleanup:
        cleanup()
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    try:
        return load(a) if a.kind == "load" else soak(a)
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
