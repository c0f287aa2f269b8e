#!/usr/bin/env python3
"""Desktop app benchmark (run by bench/app/run inside `xvfb-run -a dbus-run-session`).

1. Idle memory: the app with 3 demo servers vs the bare Tauri window (bench/app/bare), each
   launched directly and measured after it has been idle for IDLE_S seconds. Counted: the app
   process plus its WebKit child processes (WebKitWebProcess, WebKitNetworkProcess), for both;
   NOT counted: the app's MCP servers (python3), which are the user's, not the app's. Reported
   as RSS (what `ps` shows; shared pages counted in every process) and PSS (shared pages split).
2. Time from launch to the dock showing live state: WebKitWebDriver launches the app and polls
   until the dock shows three server cards running (`article.card[data-state="running"]`); also
   the app's own log line of when the dock first called dock_endpoint.
Writes a JSON result and prints a summary.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP, BARE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
RUNS = int(os.environ.get("RUNS", "3"))
IDLE_S = float(os.environ.get("IDLE_S", "10"))
WEBKIT = ("WebKitWebProcess", "WebKitNetworkProcess", "WebKitWebProces", "WebKitNetworkPr")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True)
    rows = [line.split(None, 2) for line in out.stdout.splitlines()]
    kids, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c, pp, comm in rows:
            if int(pp) == p:
                kids.append((int(c), comm.strip()))
                todo.append(int(c))
    return kids


def mem_kib(pid):
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def measure(pid):
    procs = [(pid, "app")] + [(c, comm) for c, comm in children(pid) if comm.startswith(WEBKIT)]
    total_rss = total_pss = 0
    detail = {}
    for p, comm in procs:
        rss, pss = mem_kib(p)
        total_rss += rss
        total_pss += pss
        detail[f"{comm}:{p}"] = {"rss_kib": rss, "pss_kib": pss}
    return total_rss, total_pss, detail


def setup_dirs():
    work = tempfile.mkdtemp(prefix="bridgedock-bench-app-")
    cfg, state, home = (os.path.join(work, d) for d in ("config", "state", "home"))
    for d in (cfg, state, home):
        os.makedirs(d)
    demo = os.path.join(ROOT, "engine", "src", "demo", "demo_server.py")
    port = free_port()
    with open(os.path.join(cfg, "config.toml"), "w") as f:
        f.write(f"[bridge]\nport = {port}\n")
        for n in (1, 2, 3):
            f.write(f'\n[servers.demo{n}]\ncommand = "python3"\nargs = ["{demo}"]\n')
    env = dict(os.environ, BRIDGEDOCK_CONFIG_DIR=cfg, BRIDGEDOCK_STATE_DIR=state, HOME=home,
               XDG_CONFIG_HOME=os.path.join(home, ".config"), BRIDGEDOCK_LOG="warn")
    return work, env, port


def idle_memory(binary, env, ready_line=None):
    log = tempfile.NamedTemporaryFile("w+", delete=False)
    p = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    if ready_line:
        while time.monotonic() - t0 < 30 and ready_line not in open(log.name).read():
            time.sleep(0.1)
    time.sleep(IDLE_S)
    rss, pss, detail = measure(p.pid)
    stdout = open(log.name).read()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    os.unlink(log.name)
    m = re.search(r"dock asked for its endpoint (\d+) ms after launch", stdout)
    return {"rss_kib": rss, "pss_kib": pss, "processes": detail,
            "dock_endpoint_ms": int(m.group(1)) if m else None}


def wd(base, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def time_to_live_dock(env, api_port):
    port = free_port()
    driver = subprocess.Popen(["WebKitWebDriver", f"--port={port}"],
                              env=dict(env, TAURI_WEBVIEW_AUTOMATION="true"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                wd(base, "GET", "/status")
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        t0 = time.monotonic()
        sid = wd(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": APP, "args": []}}}})["sessionId"]
        t_session = time.monotonic() - t0
        script = "return document.querySelectorAll('article.card[data-state=\"running\"]').length;"
        live = None
        while time.monotonic() - t0 < 30:
            if wd(base, "POST", f"/session/{sid}/execute/sync", {"script": script, "args": []}) >= 3:
                live = time.monotonic() - t0
                break
            time.sleep(0.05)
        # Quit the app the way a person would not, but cleanly: SIGTERM quits like the tray.
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=5) as r:
            app_pid = json.load(r)["pid"]
        os.kill(app_pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(f"/proc/{app_pid}") or open(f"/proc/{app_pid}/stat").read().split()[2] == "Z":
                break
            time.sleep(0.1)
        try:
            wd(base, "DELETE", f"/session/{sid}")
        except Exception:  # noqa: BLE001 - already gone
            pass
        return {"session_s": round(t_session, 3), "live_s": round(live, 3) if live else None}
    finally:
        try:
            os.killpg(driver.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        driver.wait(10)


def main():
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    result = {"runs": RUNS, "idle_s": IDLE_S, "commit": commit,
              "machine": {"cores": os.cpu_count(), "loadavg_start": open("/proc/loadavg").read().split()[:3]},
              "app": [], "bare": [], "live": []}
    for i in range(RUNS):
        work, env, port = setup_dirs()
        result["bare"].append(idle_memory(BARE, env))
        result["app"].append(idle_memory(APP, env, ready_line="dock asked for its endpoint"))
        result["live"].append(time_to_live_dock(env, port))
        shutil.rmtree(work, ignore_errors=True)
        print(f"run {i + 1}: app {result['app'][-1]['rss_kib'] / 1024:.1f} MiB RSS / "
              f"{result['app'][-1]['pss_kib'] / 1024:.1f} MiB PSS; bare "
              f"{result['bare'][-1]['rss_kib'] / 1024:.1f} / "
              f"{result['bare'][-1]['pss_kib'] / 1024:.1f}; live dock {result['live'][-1]}",
              flush=True)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    summary = {
        "app_rss_mib": round(med([r["rss_kib"] for r in result["app"]]) / 1024, 1),
        "bare_rss_mib": round(med([r["rss_kib"] for r in result["bare"]]) / 1024, 1),
        "app_pss_mib": round(med([r["pss_kib"] for r in result["app"]]) / 1024, 1),
        "bare_pss_mib": round(med([r["pss_kib"] for r in result["bare"]]) / 1024, 1),
        "dock_endpoint_ms": med([r["dock_endpoint_ms"] for r in result["app"]
                                 if r["dock_endpoint_ms"] is not None] or [0]),
        "live_dock_s": med([r["live_s"] for r in result["live"] if r["live_s"]] or [0]),
    }
    summary["rss_ratio"] = round(summary["app_rss_mib"] / summary["bare_rss_mib"], 2)
    summary["pss_ratio"] = round(summary["app_pss_mib"] / summary["bare_pss_mib"], 2)
    result["summary"] = summary
    result["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    with open(OUT, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
