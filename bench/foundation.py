#!/usr/bin/env python3
"""Foundation benchmarks: bridgedockd vs supervisord, side by side, in one run.

Run through bench/run-foundation (it installs supervisor, runs npm ci and builds bridgedockd,
then calls this). Stdlib only. Every process it starts gets BRIDGEDOCK_BENCH_CHILD=<run id> in
its environment; cleanup() kills whatever still carries that mark, so nothing survives a failure.

Measures (targets in brackets are reported, never asserted):
  1. log ingestion lines/s, 1 server x 2 000 000 lines and 10 servers x 500 000  [>= 500 000/s]
  2. idle RSS (VmRSS, VmHWM) of the daemon with 5 stable.py servers            [<= 15 MiB]
  3. time from exec to the API answering (median, max of 20)                    [<= 50 ms]
  4. stop latency of an npx-launched server-everything tree (median of 5)
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
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
NODE_DIR = os.path.join(ROOT, "tests", "node")
EVERYTHING = "@modelcontextprotocol/server-everything@2026.8.31"
MARK_VAR = "BRIDGEDOCK_BENCH_CHILD"

RUN_ID = os.environ.get("BENCH_RUN_ID") or "bench-%d-%d" % (os.getpid(), time.time())
BRIDGEDOCKD = os.environ.get("BRIDGEDOCKD", "")
VENV = os.environ.get("BENCH_VENV", "")
SUPERVISORD = os.path.join(VENV, "bin", "supervisord")
SUPERVISORCTL = os.path.join(VENV, "bin", "supervisorctl")

STARTED = []  # Popen objects of daemons we started
INGEST_REPS = 3


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def child_env():
    env = dict(os.environ)
    env[MARK_VAR] = RUN_ID
    env.pop("BENCH_RUN_ID", None)
    env["NO_COLOR"] = "1"
    return env


# ---------------------------------------------------------------- /proc helpers

def proc_stat(pid):
    """(state, ppid, pgid) or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def group_members(pgid, live_only=True):
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == pgid and (not live_only or st[0] != "Z"):
            out.append(pid)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


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
        log("cleanup: killing leftover processes %s" % left)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def stop_daemon(p, timeout=15):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log("daemon %d ignored SIGTERM for %ds; killing" % (p.pid, timeout))
        p.kill()
        p.wait()
    if p in STARTED:
        STARTED.remove(p)
    # anything the daemon left behind is a finding, then killed
    left = marked_pids()
    if left:
        log("WARNING: processes left after the daemon exited: %s" % [(q, cmdline(q)) for q in left])
        for q in left:
            try:
                os.kill(q, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return left


def wait_for(pred, timeout, interval=0.01, what="condition"):
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


# ---------------------------------------------------------------- bridgedockd driver

def toml_str(s):
    return json.dumps(s)


class Bridgedock:
    name = "bridgedockd"

    def __init__(self, work, servers, port=0):
        """servers: {name: dict(command, args, cwd, restart, autostart)}"""
        self.dir = tempfile.mkdtemp(prefix="bd-", dir=work)
        self.state = os.path.join(self.dir, "state")
        self.confdir = os.path.join(self.dir, "config")
        os.makedirs(self.state)
        os.makedirs(self.confdir)
        self.config = os.path.join(self.dir, "bridgedock.toml")
        with open(self.config, "w") as f:
            for name, s in servers.items():
                f.write("[servers.%s]\n" % name)
                f.write("command = %s\n" % toml_str(s["command"]))
                f.write("args = [%s]\n" % ", ".join(toml_str(a) for a in s.get("args", [])))
                if s.get("cwd"):
                    f.write("cwd = %s\n" % toml_str(s["cwd"]))
                f.write('restart = "%s"\n' % s.get("restart", "never"))
                f.write("autostart = %s\n" % ("true" if s.get("autostart", True) else "false"))
                f.write('stop_grace = "5s"\n\n')
        self.port = port
        self.proc = None
        self.token = None
        self.conn = None

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        self.err = open(os.path.join(self.dir, "stderr"), "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [BRIDGEDOCKD, "serve", "--config", self.config, "--port", str(self.port),
             "--state-dir", self.state, "--config-dir", self.confdir],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err, env=child_env())
        STARTED.append(self.proc)
        return t0

    def discover(self, timeout=10):
        def port_known():
            if self.proc.poll() is not None:
                raise RuntimeError("bridgedockd exited early: " + self.stderr_tail())
            with open(os.path.join(self.dir, "stdout")) as f:
                m = re.search(r"API listening on http://127\.0\.0\.1:(\d+)", f.read())
            return m and int(m.group(1))
        self.port = wait_for(port_known, timeout, what="bridgedockd's port")
        self.token = wait_for(lambda: self._read_token(), timeout, what="token")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _read_token(self):
        try:
            with open(os.path.join(self.confdir, "token")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def stderr_tail(self):
        try:
            with open(os.path.join(self.dir, "stderr"), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def get(self, path):
        """GET over one keep-alive connection (each new connection adds a trace line to the ring)."""
        for attempt in range(2):
            try:
                self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.token})
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError("GET %s -> %d %r" % (path, r.status, body[:200]))
                return json.loads(body)
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def ctl(self, *args, timeout=30):
        return subprocess.run([BRIDGEDOCKD, "ctl", "--state-dir", self.state, *args],
                              capture_output=True, text=True, timeout=timeout, env=child_env())

    def status(self):
        r = self.ctl("status", "--json")
        if r.returncode != 0:
            return None
        return {s["name"]: s for s in json.loads(r.stdout)["servers"]}

    def server_pid(self, name):
        s = (self.status() or {}).get(name)
        return s and s.get("pid")

    def stop_cmd(self, name):
        return [BRIDGEDOCKD, "ctl", "--state-dir", self.state, "stop", name]

    def start_server(self, name):
        r = self.ctl("start", name)
        if r.returncode != 0:
            raise RuntimeError("ctl start %s: %s %s" % (name, r.stdout, r.stderr))

    def shutdown(self):
        if self.conn:
            self.conn.close()
        left = stop_daemon(self.proc)
        self.out.close()
        self.err.close()
        return left


# ---------------------------------------------------------------- supervisord driver

class Supervisor:
    name = "supervisord"

    def __init__(self, work, servers):
        self.dir = tempfile.mkdtemp(prefix="sv-", dir=work)
        self.sock = os.path.join(self.dir, "supervisor.sock")
        self.config = os.path.join(self.dir, "supervisord.conf")
        self.logs = {}
        lines = [
            "[unix_http_server]", "file=%s" % self.sock, "",
            "[supervisord]", "nodaemon=true", "logfile=%s" % os.path.join(self.dir, "supervisord.log"),
            "pidfile=%s" % os.path.join(self.dir, "supervisord.pid"),
            "childlogdir=%s" % self.dir, "loglevel=info", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", "serverurl=unix://%s" % self.sock, "",
        ]
        for name, s in servers.items():
            cmd = " ".join(shell_quote(x) for x in [s["command"], *s.get("args", [])])
            errlog = os.path.join(self.dir, "%s.stderr.log" % name)
            self.logs[name] = errlog
            lines += [
                "[program:%s]" % name,
                "command=%s" % cmd.replace("%", "%%"),
                "autostart=%s" % ("true" if s.get("autostart", True) else "false"),
                "autorestart=%s" % {"never": "false", "always": "true",
                                    "on-failure": "unexpected"}[s.get("restart", "never")],
                "startsecs=%d" % s.get("startsecs", 1),
                "stopasgroup=true", "killasgroup=true", "stopwaitsecs=5",
                "stderr_logfile=%s" % errlog,
                "stderr_logfile_maxbytes=10MB", "stderr_logfile_backups=10",
                "stdout_logfile=%s" % os.path.join(self.dir, "%s.stdout.log" % name),
            ]
            if s.get("cwd"):
                lines.append("directory=%s" % s["cwd"])
            lines.append("")
        with open(self.config, "w") as f:
            f.write("\n".join(lines))
        self.proc = None

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([SUPERVISORD, "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT, env=child_env())
        STARTED.append(self.proc)
        return t0

    def rpc_state(self):
        """supervisor.getState over the unix socket; the state name or None."""
        body = (b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName>"
                b"<params></params></methodCall>")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(b"POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
        finally:
            s.close()
        m = re.search(rb"<name>statename</name>\s*<value><string>(\w+)</string>", data)
        return m and m.group(1).decode()

    def ctl(self, *args, timeout=30):
        return subprocess.run([SUPERVISORCTL, "-c", self.config, *args], capture_output=True,
                              text=True, timeout=timeout, env=child_env())

    def status(self):
        r = self.ctl("status")
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0]] = {"state": parts[1]}
        return out

    def server_pid(self, name):
        r = self.ctl("pid", name)
        try:
            pid = int(r.stdout.strip())
        except ValueError:
            return None
        return pid or None

    def stop_cmd(self, name):
        return [SUPERVISORCTL, "-c", self.config, "stop", name]

    def start_server(self, name):
        r = self.ctl("start", name)
        if "ERROR" in r.stdout:
            raise RuntimeError("supervisorctl start %s: %s" % (name, r.stdout))

    def shutdown(self):
        left = stop_daemon(self.proc)
        self.out.close()
        return left


def shell_quote(s):
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", s):
        return s
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


# ---------------------------------------------------------------- 1. ingestion

def flood_servers(count, n):
    return {("flood%d" % i if count > 1 else "flood"): {
        "command": "sh", "args": ["-c", "seq 1 %d 1>&2" % n], "restart": "never",
        "autostart": True, "startsecs": 0} for i in range(count)}


def producer_ceiling(count, n):
    """Raw speed of the producers alone: the same seq commands into a pipe nobody parses
    (cat > /dev/null) and into /dev/null, all started together."""
    out = {}
    for sink in ("pipe", "devnull"):
        if sink == "pipe":
            script = " ".join("(seq 1 %d 2>&1 1>&2 | cat >/dev/null) &" % n for _ in range(count))
        else:
            script = " ".join("(seq 1 %d >/dev/null) &" % n for _ in range(count))
        best = None
        for _ in range(3):
            t0 = time.monotonic()
            subprocess.run(["sh", "-c", script + " wait"], check=True)
            el = time.monotonic() - t0
            best = el if best is None else min(best, el)
        out[sink] = {"seconds": best, "lines_per_s": count * n / best}
    return out


def ingest_bridgedock(work, count, n):
    d = Bridgedock(work, flood_servers(count, n))
    t0 = d.start()
    try:
        d.discover()
        pending = set(d_name for d_name in flood_servers(count, n))
        done_at = {}
        polls = 0
        deadline = time.monotonic() + 120
        while pending:
            for name in sorted(pending):
                r = d.get("/api/logs?server=%s&stream=stderr&limit=1" % name)
                polls += 1
                if r["lines"] and r["lines"][-1]["text"] == str(n):
                    done_at[name] = time.monotonic()
                    pending.discard(name)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("bridgedockd: still missing the last line of %s" % pending)
            time.sleep(0.005)
        elapsed = max(done_at.values()) - t0
        last_seq = d.get("/api/logs?limit=1")["last_seq"]
        # the engine's own lines (started/exited/missed markers/connection traces) take seqs too
        extra = last_seq - count * n
        # engine timestamps: first stderr line to last, from the ring (newest kept) and file
        # and what reached the rolling files (lossy by design under a burst: "[N lines missed]")
        time.sleep(0.5)  # files flush every 200 ms
        file_lines, missed = 0, 0
        for name in flood_servers(count, n):
            for path in sorted(p for p in os.listdir(os.path.join(d.state, "logs"))
                               if p == name + ".log" or p.startswith(name + ".log.")):
                with open(os.path.join(d.state, "logs", path), "rb") as f:
                    for line in f:
                        if b" stderr " in line:
                            file_lines += 1
                        else:
                            m = re.search(rb"\[(\d+) lines missed\]", line)
                            if m:
                                missed += int(m.group(1))
        return {"elapsed_s": elapsed, "lines": count * n, "lines_per_s": count * n / elapsed,
                "last_seq": last_seq, "engine_lines": extra, "polls": polls,
                "file_stderr_lines": file_lines,
                "file_stderr_lines_lost": count * n - file_lines,
                # the writer puts each "[N lines missed]" marker (a global count) into every
                # server's file, so with 10 servers this sum counts each loss about 10 times
                "file_missed_markers_summed_over_files": missed,
                "includes_daemon_startup": True}
    finally:
        d.shutdown()


def count_lines(paths):
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                total += b.count(b"\n")
    return total


def ends_with(path, tail):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - len(tail) - 1))
            data = f.read()
    except FileNotFoundError:
        return False
    return data.endswith(tail) and (len(data) == len(tail) or data[-len(tail) - 1:-len(tail)] == b"\n")


def ingest_supervisor(work, count, n):
    s = Supervisor(work, flood_servers(count, n))
    t0 = s.start()
    try:
        pending = set(s.logs)
        done_at = {}
        deadline = time.monotonic() + 180
        tail = b"%d\n" % n
        while pending:
            for name in sorted(pending):
                if ends_with(s.logs[name], tail):
                    done_at[name] = time.monotonic()
                    pending.discard(name)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("supervisord: %s not complete after 180 s" % pending)
            if s.proc.poll() is not None:
                raise RuntimeError("supervisord exited early")
            time.sleep(0.005)
        elapsed = max(done_at.values()) - t0
        files = [os.path.join(s.dir, p) for p in os.listdir(s.dir) if ".stderr.log" in p]
        got = count_lines(files)
        return {"elapsed_s": elapsed, "lines": count * n, "lines_per_s": count * n / elapsed,
                "file_lines_counted": got, "files": len(files), "includes_daemon_startup": True}
    finally:
        s.shutdown()


# ---------------------------------------------------------------- 2. idle RSS

def stable_servers(k):
    return {"stable%d" % i: {"command": sys.executable, "args": [os.path.join(FIXTURES, "stable.py")],
                             "restart": "on-failure", "autostart": True} for i in range(k)}


def all_running(drv, names):
    st = drv.status() or {}
    return all(st.get(n, {}).get("state", "").lower() == "running" for n in names)


def idle_rss(work, cls):
    servers = stable_servers(5)
    drv = cls(work, servers)
    drv.start()
    try:
        if cls is Bridgedock:
            drv.discover()
        wait_for(lambda: all_running(drv, servers), 30, 0.1, "5 stable servers running")
        time.sleep(5)
        pid = drv.proc.pid
        return {"pid": pid, "VmRSS_kB": status_kb(pid, "VmRSS"), "VmHWM_kB": status_kb(pid, "VmHWM"),
                "servers_running": len(servers), "idle_s": 5}
    finally:
        drv.shutdown()


# ---------------------------------------------------------------- 3. time to API

def http_healthz(port):
    s = socket.socket()
    try:
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    except OSError:
        return False
    finally:
        s.close()
    return data.startswith(b"HTTP/1.") and b" 200 " in data[:20] and b'"ok":true' in data


def startup_times(work, cls, runs):
    servers = stable_servers(1)
    times = []
    drv = cls(work, servers)  # same config/state dirs each run: a warm restart, token exists
    for i in range(runs + 1):  # run 0 is a discarded warm-up (creates token, page cache)
        if cls is Bridgedock:
            drv.port = free_port()
            t0 = drv.start()
            probe = lambda: http_healthz(drv.port)
        else:
            t0 = drv.start()
            probe = lambda: drv.rpc_state() == "RUNNING"
        try:
            while not probe():
                if drv.proc.poll() is not None:
                    raise RuntimeError("%s exited during start-up" % cls.name)
                if time.monotonic() - t0 > 20:
                    raise TimeoutError("%s not answering after 20 s" % cls.name)
                time.sleep(0.0005)
            el = time.monotonic() - t0
        finally:
            if cls is Bridgedock:
                drv.out.close()
                drv.err.close()
                stop_daemon(drv.proc)
            else:
                drv.shutdown()
        if i:
            times.append(el * 1000)
    return {"runs": runs, "median_ms": statistics.median(times), "max_ms": max(times),
            "min_ms": min(times), "all_ms": times,
            "probe": "GET /healthz 200 ok" if cls is Bridgedock else "XML-RPC supervisor.getState == RUNNING"}


# ---------------------------------------------------------------- 4. stop latency

def everything_server():
    return {"everything": {"command": "npx", "args": ["-y", EVERYTHING], "cwd": NODE_DIR,
                           "restart": "never", "autostart": True, "startsecs": 1}}


def wait_tree(drv, name):
    """Waits for npx -> sh -> node to be up; returns (leader pid, [pids of its group])."""
    def ready():
        pid = drv.server_pid(name)
        if not pid:
            return None
        members = group_members(pid)
        if any("server-everything" in cmdline(p) and "npx" not in cmdline(p) and
               cmdline(p).startswith("node") for p in members):
            return pid
        return None
    pid = wait_for(ready, 60, 0.1, "server-everything tree")
    time.sleep(1.0)  # let it settle
    return pid, group_members(pid)


def stop_latency(work, cls, runs):
    drv = cls(work, everything_server())
    drv.start()
    samples = []
    try:
        if cls is Bridgedock:
            drv.discover()
        for i in range(runs):
            if i:
                drv.start_server("everything")
            leader, tree = wait_tree(drv, "everything")
            trees = {p: cmdline(p) for p in tree}
            t0 = time.monotonic()
            ctl = subprocess.Popen(drv.stop_cmd("everything"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=child_env())
            ctl_done = None
            while True:
                if ctl_done is None and ctl.poll() is not None:
                    ctl_done = time.monotonic() - t0
                alive = []
                for p in tree:
                    st = proc_stat(p)
                    if st and st[0] != "Z" and st[2] == leader:
                        alive.append(p)
                if not alive:
                    break
                if time.monotonic() - t0 > 30:
                    raise TimeoutError("tree %s still alive 30 s after stop" % alive)
                time.sleep(0.001)
            gone = time.monotonic() - t0
            ctl.wait(timeout=30)
            if ctl_done is None:
                ctl_done = time.monotonic() - t0
            samples.append({"tree_gone_ms": gone * 1000, "ctl_returned_ms": ctl_done * 1000,
                            "ctl_rc": ctl.returncode, "tree": trees})
            log("%s stop #%d: tree of %d gone in %.1f ms (ctl returned %.1f ms)"
                % (cls.name, i + 1, len(tree), gone * 1000, ctl_done * 1000))
    finally:
        drv.shutdown()
    g = [s["tree_gone_ms"] for s in samples]
    c = [s["ctl_returned_ms"] for s in samples]
    return {"runs": runs, "median_ms": statistics.median(g), "max_ms": max(g), "min_ms": min(g),
            "ctl_median_ms": statistics.median(c), "samples": samples}


# ---------------------------------------------------------------- report

def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.+)", lscpu)
    mem_kb = status_like("/proc/meminfo", "MemTotal")
    return {"date": datetime.date.today().isoformat(), "nproc": os.cpu_count(),
            "nproc_cmd": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "cpu_model": model.group(1).strip() if model else platform.processor(),
            "ram_MiB": mem_kb // 1024 if mem_kb else None, "kernel": platform.release(),
            "os": _os_release(), "python": platform.python_version(),
            "bridgedockd": subprocess.run([BRIDGEDOCKD, "--version"], capture_output=True,
                                          text=True).stdout.strip(),
            "supervisord": subprocess.run([SUPERVISORD, "--version"], capture_output=True,
                                          text=True).stdout.strip(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "git_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                                         text=True).stdout.strip()}


def status_like(path, field):
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


def fmt_rate(x):
    return "%s lines/s" % format(int(round(x)), ",").replace(",", " ")


def table(res):
    rows = []
    ing = res["ingestion"]
    for key, label in (("1x2000000", "Log ingestion, 1 server × 2 000 000 lines (median of 3)"),
                       ("10x500000", "Log ingestion, 10 servers × 500 000 lines (median of 3)")):
        b, s = ing[key]["bridgedockd"], ing[key]["supervisord"]
        rows.append((label, "%s (%.2f s)" % (fmt_rate(b["lines_per_s"]), b["elapsed_s"]),
                     "%s (%.2f s)" % (fmt_rate(s["lines_per_s"]), s["elapsed_s"]),
                     "≥ 500 000 lines/s", "yes" if b["lines_per_s"] >= 500000 else "no"))
    b, s = res["idle_rss"]["bridgedockd"], res["idle_rss"]["supervisord"]
    rows.append(("Idle RSS, 5 stable.py servers (VmRSS; VmHWM)",
                 "%.1f MiB (HWM %.1f MiB)" % (b["VmRSS_kB"] / 1024, b["VmHWM_kB"] / 1024),
                 "%.1f MiB (HWM %.1f MiB)" % (s["VmRSS_kB"] / 1024, s["VmHWM_kB"] / 1024),
                 "≤ 15 MiB", "yes" if b["VmRSS_kB"] <= 15 * 1024 else "no"))
    b, s = res["startup"]["bridgedockd"], res["startup"]["supervisord"]
    rows.append(("Start to API answering (median / max of 20)",
                 "%.1f / %.1f ms" % (b["median_ms"], b["max_ms"]),
                 "%.1f / %.1f ms" % (s["median_ms"], s["max_ms"]),
                 "≤ 50 ms", "yes" if b["max_ms"] <= 50 else
                 ("median yes, max no" if b["median_ms"] <= 50 else "no")))
    b, s = res["stop"]["bridgedockd"], res["stop"]["supervisord"]
    rows.append(("Stop npx server-everything tree (median / max of 5)",
                 "%.1f / %.1f ms" % (b["median_ms"], b["max_ms"]),
                 "%.1f / %.1f ms" % (s["median_ms"], s["max_ms"]), "—", "—"))
    out = ["| benchmark | bridgedockd | supervisord 4.3.0 | target | met? |",
           "|---|---|---|---|---|"]
    out += ["| %s |" % " | ".join(r) for r in rows]
    p = res["ingestion"]
    out.append("")
    out.append("Producer ceiling (same `seq` commands, no supervisor): 1×2M into a pipe %s, "
               "to /dev/null %s; 10×500k into pipes %s, to /dev/null %s." % (
                   fmt_rate(p["1x2000000"]["producer"]["pipe"]["lines_per_s"]),
                   fmt_rate(p["1x2000000"]["producer"]["devnull"]["lines_per_s"]),
                   fmt_rate(p["10x500000"]["producer"]["pipe"]["lines_per_s"]),
                   fmt_rate(p["10x500000"]["producer"]["devnull"]["lines_per_s"])))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cleanup", action="store_true", help="only kill processes marked with BENCH_RUN_ID")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.cleanup:
        cleanup()
        return 0

    def on_signal(signum, frame):
        # once: a second signal (e.g. the wrapper's TERM after a Ctrl-C) must not cut cleanup short
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(570)  # bounded: the whole run normally takes about a minute

    work = tempfile.mkdtemp(prefix="bridgedock-bench-")
    res = {"run_id": RUN_ID, "machine": machine(), "ingestion": {},
           "loadavg_before": open("/proc/loadavg").read().strip()}
    t_start = time.monotonic()
    try:
        for count, n in ((1, 2000000), (10, 500000)):
            key = "%dx%d" % (count, n)
            log("ingestion %s: producer ceiling" % key)
            entry = {"producer": producer_ceiling(count, n)}
            runs = {"bridgedockd": [], "supervisord": []}
            for rep in range(INGEST_REPS):  # alternate the two, so drift hits both alike
                log("ingestion %s #%d: bridgedockd" % (key, rep + 1))
                runs["bridgedockd"].append(ingest_bridgedock(work, count, n))
                log("  %s" % json.dumps(runs["bridgedockd"][-1]))
                log("ingestion %s #%d: supervisord" % (key, rep + 1))
                runs["supervisord"].append(ingest_supervisor(work, count, n))
                log("  %s" % json.dumps(runs["supervisord"][-1]))
            for name, rs in runs.items():
                # the median run (by elapsed time) is the reported one; all runs are kept
                med = sorted(rs, key=lambda r: r["elapsed_s"])[len(rs) // 2]
                entry[name] = dict(med, runs=rs,
                                   elapsed_s_all=[r["elapsed_s"] for r in rs])
            res["ingestion"][key] = entry
        res["idle_rss"] = {}
        for cls in (Bridgedock, Supervisor):
            log("idle RSS: %s" % cls.name)
            res["idle_rss"][cls.name] = idle_rss(work, cls)
            log("  %s" % json.dumps(res["idle_rss"][cls.name]))
        res["startup"] = {}
        for cls in (Bridgedock, Supervisor):
            log("start-up x20: %s" % cls.name)
            res["startup"][cls.name] = startup_times(work, cls, 20)
            log("  median %.1f ms max %.1f ms" % (res["startup"][cls.name]["median_ms"],
                                                  res["startup"][cls.name]["max_ms"]))
        res["stop"] = {}
        for cls in (Bridgedock, Supervisor):
            log("stop latency x5: %s" % cls.name)
            res["stop"][cls.name] = stop_latency(work, cls, 5)
        res["total_s"] = time.monotonic() - t_start
        res["loadavg_after"] = open("/proc/loadavg").read().strip()
        res["table_md"] = table(res)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
    out = args.out or os.path.join(ROOT, "bench", "results",
                                   "foundation-%s.json" % res["machine"]["date"])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    m = res["machine"]
    print("\n## bridgedock foundation benchmarks, %s\n" % m["date"])
    print("Machine: %s cores (nproc), %s, %s MiB RAM, kernel %s, %s\n"
          % (m["nproc_cmd"], m["cpu_model"], m["ram_MiB"], m["kernel"], m["os"]))
    print(res["table_md"])
    print("\nLoad average before/after: %s / %s" % (res["loadavg_before"], res["loadavg_after"]))
    print("\nRaw results: %s (total %.0f s)" % (os.path.relpath(out, ROOT), res["total_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
