"""Smoke test of the desktop app under Xvfb and a D-Bus session (run by tests/app/run):

1. the app starts the engine in-process (its API answers, the configured server runs);
2. its tray menu is published over D-Bus (com.canonical.dbusmenu): read it, find the demo
   server's "Restart" item, click it, and see the pid change through the API;
3. through WebKitWebDriver, the window shows the dock with live data (screenshot saved);
4. SIGTERM stops every server and the app exits 0, leaving no process and no child record.

Standard library only. Prints a closing `N passed, M failed` line.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/bridgedock-target"))
APP = Path(os.environ.get("BRIDGEDOCK_APP", TARGET / "debug/bridgedock"))
ART = ROOT / "tests/artifacts/app"
ART.mkdir(parents=True, exist_ok=True)
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f" — {detail}" if detail and not ok else ""), flush=True)


def until(what, fn, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.2)
    raise TimeoutError(what)


def gdbus(*args):
    return subprocess.run(["gdbus", *args], capture_output=True, text=True, timeout=10).stdout


def find_menu():
    """(bus name, object path) of an exported com.canonical.dbusmenu with our items."""
    names = re.findall(r"'(:[0-9.]+)'", gdbus("call", "--session", "--dest", "org.freedesktop.DBus",
                                               "--object-path", "/org/freedesktop/DBus",
                                               "--method", "org.freedesktop.DBus.ListNames"))
    for name in names:
        stack = ["/"]
        while stack:
            path = stack.pop()
            xml = gdbus("introspect", "--session", "--dest", name, "--object-path", path, "--xml")
            if "com.canonical.dbusmenu" in xml:
                return name, path
            for child in re.findall(r'<node name="([^"]+)"', xml):
                stack.append(path.rstrip("/") + "/" + child)
    return None


def layout(name, path):
    return gdbus("call", "--session", "--dest", name, "--object-path", path,
                 "--method", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "@as []")


def main():
    tmp = Path(tempfile.mkdtemp(prefix="bd-app-"))
    cfg = tmp / "cfg"
    cfg.mkdir()
    (cfg / "config.toml").write_text(
        f'[servers.demo]\ncommand = "python3"\nargs = ["{ROOT}/engine/src/demo/demo_server.py"]\n'
        f'[bridge]\nport = {free_port()}\n')
    env = dict(os.environ, BRIDGEDOCK_CONFIG_DIR=str(cfg), BRIDGEDOCK_STATE_DIR=str(tmp / "state"),
               TAURI_WEBVIEW_AUTOMATION="true")
    app = subprocess.Popen([str(APP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = app.stdout.readline()
    m = re.search(r"http://(127\.0\.0\.1:\d+)", line)
    check("the app starts the engine and its API", bool(m), line)
    if not m:
        return finish(app, tmp)
    addr = m.group(1)
    token = (cfg / "token").read_text().strip()

    def status():
        req = urllib.request.Request(f"http://{addr}/api/status", headers={"Authorization": f"Bearer {token}"})
        return json.load(urllib.request.urlopen(req, timeout=5))

    def demo_pid():
        s = next(s for s in status()["servers"] if s["name"] == "demo")
        return s["pid"] if s["state"] == "running" else None

    first = until("demo running", demo_pid)
    check("the configured server runs", bool(first))

    try:
        bus, path = until("the tray menu on D-Bus", find_menu, 20)
        menu = until("menu items", lambda: (lambda l: l if "Restart" in l else None)(layout(bus, path)), 10)
        check("the tray menu lists the server with Restart", "demo" in menu and "Restart all" in menu, menu[:300])
        # Items are (id, {'label': <'...'>, ...}, [children]); the demo submenu holds Restart.
        sub = menu[menu.index("demo"):]
        item = re.search(r"\((\d+), \{[^}]*'label': <'Restart'>", sub)
        gdbus("call", "--session", "--dest", bus, "--object-path", path, "--method",
              "com.canonical.dbusmenu.Event", "--", item.group(1), "clicked", "<''>", "0")
        second = until("a new pid after the tray's Restart", lambda: (lambda p: p if p and p != first else None)(demo_pid()), 20)
        check("clicking Restart in the tray restarts the server (pid changes)", second != first)
    except Exception as e:  # noqa: BLE001 - report and go on
        check("the tray menu over D-Bus", False, repr(e))

    code = finish(app, tmp)
    check_window(env)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


def check_window(env):
    """WebKitWebDriver starts the app itself (the only instance: a second would defer to the
    first), with the test's config and state dirs in its environment."""
    port = free_port()
    driver = subprocess.Popen(["WebKitWebDriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        until("WebDriver up", lambda: urllib.request.urlopen(base + "/status", timeout=2).status == 200, 10)
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": str(APP), "args": []}}}}
        session = post(base + "/session", caps)
        sid = session["value"]["sessionId"]
        text = until("the dock with live data", lambda: (lambda t: t if "demo" in t and "Running" in t else None)(
            post(f"{base}/session/{sid}/execute/sync", {"script": "return document.body.innerText", "args": []})["value"]), 30)
        check("the window renders the dock with live data", "Live logs" in text, text[:200])
        png = get(f"{base}/session/{sid}/screenshot")["value"]
        (ART / "dock-window.png").write_bytes(base64.b64decode(png))
        req = urllib.request.Request(f"{base}/session/{sid}", method="DELETE")
        urllib.request.urlopen(req, timeout=10)
    except Exception as e:  # noqa: BLE001
        check("the window renders the dock with live data", False, repr(e))
    finally:
        os.killpg(driver.pid, signal.SIGTERM)


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=60))


def get(url):
    return json.load(urllib.request.urlopen(url, timeout=30))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def finish(app, tmp):
    children = list((tmp / "state" / "children").glob("*.json")) if (tmp / "state" / "children").exists() else []
    pids = [int(p.stem) for p in children]
    app.send_signal(signal.SIGTERM)
    try:
        code = app.wait(timeout=30)
    except subprocess.TimeoutExpired:
        app.kill()
        code = None
    check("SIGTERM stops the app with exit 0", code == 0, f"exit {code}")
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    left = list((tmp / "state" / "children").glob("*.json")) if (tmp / "state" / "children").exists() else []
    check("no server process is left behind", not alive and not left, f"alive {alive}, records {left}")
    return code


if __name__ == "__main__":
    sys.exit(main())
