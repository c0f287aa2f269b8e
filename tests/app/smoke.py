#!/usr/bin/env python3
"""Smoke test of the desktop app, used as a person would use it, under Xvfb and a private D-Bus
session (tests/app/run starts it inside `xvfb-run -a dbus-run-session`). Standard library only;
outside programs: WebKitWebDriver, gdbus, dbus-monitor, xclip.

The app, launched by WebKitWebDriver (through a wrapper that records its exit code), runs three
servers: `demo` (the built-in demo MCP server), `crashy` (a fixture that exits with code 3
after 300 ms) and `mute` (a process that never answers, start_timeout 2 s); the last two are
not started until the test asks. Checks:
  - the window shows the real dock with live data from the app's engine; screenshots are saved
    under tests/artifacts/app/;
  - the dock's Restart button for `demo`, clicked INSIDE THE APP WINDOW (tauri://localhost calls
    the API on http://127.0.0.1:PORT, which needs the API's CORS answer), gives demo a new pid,
    seen through the API and in the dock;
  - the dock's Copy puts an endpoint on the clipboard (tauri://localhost counts as secure);
  - the dock's commands answer (`mcp_url`, and a refusal for an unknown action);
  - the tray's menu, read over D-Bus (com.canonical.dbusmenu): a summary line, a submenu per
    server with its state and Start / Stop / Restart / Copy MCP URL, Restart all, Open logs
    folder, Open config file, Start on login, Quit; its Restart gives demo a new pid, and its
    Copy MCP URL puts demo's URL on the clipboard;
  - a second launch exits at once and leaves the first serving (single instance);
  - "Start on login" writes ~/.config/autostart/bridgedock.desktop starting the app with
    --hidden, and unchecking it removes the file;
  - starting `mute` from the tray: 2 s later it is not answering — one desktop notification
    says so with its reason, the tray menu says "mute — not answering" with Start greyed out
    (Stop and Restart offered), the dock's card says "Not answering"; tray Stop stops it;
  - starting `crashy` from the tray raises one desktop notification (a Notify call to
    org.freedesktop.Notifications, seen by dbus-monitor) although it crashes again and again:
    the rest are held back and summed up in one notification 30 s later; when it gives up (6th
    crash, BRIDGEDOCK_CRASH_LIMIT=6) that is notified at once, quiet time or not;
  - Quit stops every server (no process, no child record left) and the app exits 0;
  - started with --hidden (as on login) it opens no web view until Open Dock; SIGTERM quits it
    cleanly, like Quit;
  - with a bridgedockd already serving the same dirs, the app says why it cannot start, exits 1.
With --packaged (tests/app/run, on the binary it unpacked from the .deb): the window shows the
dock with live data, its Restart works, SIGTERM quits cleanly.
Prints one line per check and a closing `N passed, M failed`.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/bridgedock-target"))
APP = os.environ.get("BRIDGEDOCK_APP", os.path.join(TARGET, "debug", "bridgedock"))
DAEMON = os.environ.get("BRIDGEDOCKD", os.path.join(os.path.dirname(APP), "bridgedockd"))
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts", "app")
CRASHER = os.path.join(ROOT, "tests", "fixtures", "crasher.py")
MUTE = os.path.join(ROOT, "tests", "fixtures", "mute.py")
# The notifier holds back a server's crash notices for this long after one it showed.
NOTIFY_QUIET_S = 30

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f" — {detail}" if detail else ""), flush=True)
    return ok


def wait_for(what, fn, timeout=20.0, interval=0.2):
    """Polls fn until it returns something truthy; returns it, or None after timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - polling through transient failures
            last_error = e
        time.sleep(interval)
    print(f"     (gave up waiting for {what}{': ' + str(last_error) if last_error else ''})")
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the API ---------------------------------------------------------------------------------

class Api:
    def __init__(self, address, token):
        self.address, self.token = address, token

    def call(self, method, path):
        req = urllib.request.Request(f"http://{self.address}{path}", method=method,
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.load(r)

    def server(self, name):
        return next(s for s in self.call("GET", "/api/status")["servers"] if s["name"] == name)

    def running_pid(self, name, other_than=None):
        s = self.server(name)
        return s["state"] == "running" and s["pid"] not in (None, other_than) and s


# ---- the tray, over D-Bus --------------------------------------------------------------------

def gdbus(*args, timeout=10):
    out = subprocess.run(["gdbus", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout


class Tray:
    """The app's tray menu as an indicator host sees it: com.canonical.dbusmenu on the bus."""

    ITEM = re.compile(r"\((\d+), (?:@a\{sv\} )?\{(.*?)\}, (?:@av )?\[")

    def __init__(self, bus, path):
        self.bus, self.path = bus, path

    @staticmethod
    def find():
        """The (bus name, object path) exporting a dbusmenu, walking each peer's object tree."""
        names = re.findall(r"'(:[0-9.]+)'", gdbus(
            "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path",
            "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.ListNames"))
        for name in names:
            stack = ["/"]
            while stack:
                path = stack.pop()
                try:
                    xml = gdbus("introspect", "--session", "--dest", name, "--object-path", path,
                                "--xml", timeout=5)
                except (RuntimeError, subprocess.TimeoutExpired):
                    break
                if "com.canonical.dbusmenu" in xml:
                    return Tray(name, path)
                stack += [path.rstrip("/") + "/" + c for c in re.findall(r'<node name="([^"]+)"', xml)]
        return None

    def layout_text(self, parent=0, depth=-1):
        return gdbus("call", "--session", "--dest", self.bus, "--object-path", self.path,
                     "--method", "com.canonical.dbusmenu.GetLayout", "--", str(parent), str(depth),
                     "@as []")

    def items(self, parent=0, depth=-1):
        """[(id, label, props)] in menu order, the parent itself first."""
        items = []
        for m in self.ITEM.finditer(self.layout_text(parent, depth)):
            props = m.group(2)
            label = re.search(r"'label': <'((?:[^'\\]|\\.)*)'>", props)
            items.append((int(m.group(1)), label.group(1).replace("_", "") if label else "", props))
        return items

    def labels(self):
        return [lab for _, lab, _ in self.items()]

    def submenu(self, starts_with):
        """(label, [child labels]) of the submenu whose label starts with `starts_with`."""
        parent = next(((i, lab) for i, lab, _ in self.items() if lab.startswith(starts_with)), None)
        if parent is None:
            return None, []
        return parent[1], [lab for _, lab, _ in self.items(parent[0], 1)[1:]]

    def find_item(self, label, under=None):
        """The id of the item with this label (under the submenu whose label starts with `under`)."""
        items = self.items()
        if under is not None:
            parent = next((i for i, lab, _ in items if lab.startswith(under)), None)
            if parent is None:
                return None
            items = self.items(parent, 1)[1:]
        return next((i for i, lab, _ in items if lab == label), None)

    def click(self, label, under=None, timeout=10):
        """Activates an item the way an indicator host does (Event "clicked" on its id). The
        app replaces its menu as the status changes, and the ids with it: an id looked up just
        before a rebuild is refused (never taken for another item), and is then looked up again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self.find_item(label, under)
                if item is None:
                    raise RuntimeError(f"no tray item {label!r}" + (f" under {under!r}" if under else ""))
                gdbus("call", "--session", "--dest", self.bus, "--object-path", self.path,
                      "--method", "com.canonical.dbusmenu.Event", "--", str(item), "clicked",
                      "<''>", "0")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


# ---- desktop notifications, as the session bus carries them ---------------------------------

class Notifications:
    """Every Notify call on the session bus, recorded by dbus-monitor."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["dbus-monitor", "--session",
             "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def calls(self):
        """[(summary, body)] of every Notify call so far, in order."""
        return [(summary, body) for _, summary, body in self.timed_calls()]

    def timed_calls(self):
        """[(bus time in s, summary, body)] of every Notify call so far, in order."""
        text = open(self.log_path).read()
        calls = []
        for block in re.split(r"\n(?=method call |signal |method return |error )", text):
            header = block.split("\n", 1)[0]
            if "member=Notify" not in header:
                continue
            # Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, timeout)
            strings = re.findall(r'^   string "(.*?)"$', block, re.M | re.S)
            at = re.search(r"time=([0-9.]+)", header)
            if len(strings) >= 4 and at:
                calls.append((float(at.group(1)), strings[2], strings[3]))
        return calls

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.log.close()


# ---- WebDriver -------------------------------------------------------------------------------

class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None

    def start(self, binary):
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": binary, "args": []}}}})
        self.session = value["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def js(self, script, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        """Runs `script` with a `done` callback as its last argument (WebDriver execute/async)."""
        return self.call("POST", self.s("/execute/async"), {"script": script, "args": list(args)})

    def click(self, css):
        """A real click (WebKit's automation input) on the element `css` selects."""
        found = self.call("POST", self.s("/element"), {"using": "css selector", "value": css})
        element = next(iter(found.values()))
        self.call("POST", self.s(f"/element/{element}/click"), {})

    def screenshot(self, name):
        # Let the page paint what its DOM already shows (a snapshot can be a frame behind).
        self.js_async("const done = arguments[arguments.length - 1];"
                      "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
        png = base64.b64decode(self.call("GET", self.s("/screenshot")))
        with open(os.path.join(ARTIFACTS, name), "wb") as f:
            f.write(png)
        return len(png)


def card(wd, server):
    """What the dock's card for `server` shows: state, pid, and any action error."""
    return wd.js("""
        const c = document.querySelector(`article.card[data-server="${arguments[0]}"]`);
        if (!c) return null;
        const t = (sel) => c.querySelector(sel)?.textContent ?? null;
        return {state: c.dataset.state, pid: t('[data-testid=pid]'), badge: t('[data-testid=badge]'),
                error: t('.action-error')};""", server)


def clipboard():
    """What the X clipboard holds now."""
    return subprocess.run(["xclip", "-selection", "clipboard", "-o"], capture_output=True,
                          text=True, timeout=5).stdout


# ---- processes -------------------------------------------------------------------------------

def processes_running(marker):
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def descendants(pid):
    """[(pid, comm)] of every process under `pid`."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True)
    rows = [line.split(None, 2) for line in out.stdout.splitlines()]
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c, pp, comm in rows:
            if int(pp) == p:
                found.append((int(c), comm.strip()))
                todo.append(int(c))
    return found


def web_views(pid):
    return [c for c, comm in descendants(pid) if comm.startswith("WebKitWebProces")]


def child_records(state_dir):
    d = os.path.join(state_dir, "children")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# ---- the story -------------------------------------------------------------------------------

class Setup:
    """A private config dir, state dir and HOME for one app under test, with `demo` (our own copy
    of the demo, so this run's processes are told apart from anyone else's) and `crashy`; and a
    wrapper that launches the app with its output and exit code kept."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="bridgedock-app-test-")
        w = lambda *p: os.path.join(self.work, *p)  # noqa: E731
        self.config_dir, self.state_dir, home = w("config"), w("state"), w("home")
        self.xdg = os.path.join(home, ".config")
        for d in (self.config_dir, self.state_dir, self.xdg):
            os.makedirs(d)
        self.demo, self.crasher, self.mute = w("demo_server.py"), w("crasher.py"), w("mute.py")
        shutil.copy(os.path.join(ROOT, "engine", "src", "demo", "demo_server.py"), self.demo)
        shutil.copy(CRASHER, self.crasher)
        shutil.copy(MUTE, self.mute)
        with open(os.path.join(self.config_dir, "config.toml"), "w") as f:
            f.write(f'[bridge]\nport = {free_port()}\n\n'
                    f'[servers.demo]\ncommand = "python3"\nargs = ["{self.demo}"]\n\n'
                    f'[servers.crashy]\ncommand = "python3"\n'
                    f'args = ["{self.crasher}", "--after-ms", "300", "--code", "3", "--stderr-lines", "2"]\n'
                    f'restart = "on-failure"\nautostart = false\n\n'
                    f'[servers.mute]\ncommand = "python3"\nargs = ["{self.mute}"]\n'
                    f'start_timeout = "2s"\nautostart = false\n')
        self.env = dict(os.environ, BRIDGEDOCK_CONFIG_DIR=self.config_dir,
                        BRIDGEDOCK_STATE_DIR=self.state_dir, HOME=home, XDG_CONFIG_HOME=self.xdg,
                        TAURI_WEBVIEW_AUTOMATION="true", BRIDGEDOCK_CRASH_LIMIT="6")
        self.env.pop("BRIDGEDOCK_CONFIG", None)
        self.app_log, self.exit_file = w("app.log"), w("app.exit")
        self.wrapper = w("bridgedock-under-test")
        with open(self.wrapper, "w") as f:
            f.write(f'#!/bin/sh\n"{APP}" "$@" >"{self.app_log}" 2>&1\necho $? >"{self.exit_file}"\n')
        os.chmod(self.wrapper, 0o755)

    def log(self):
        return open(self.app_log).read() if os.path.exists(self.app_log) else ""

    def exit_code(self):
        return os.path.exists(self.exit_file) and open(self.exit_file).read().strip()

    def api(self):
        """The app's API, once it says where it listens."""
        m = wait_for("the API address", lambda: re.search(r"API listening on http://(\S+)", self.log()))
        if not check("the app prints its API address", m, m and m.group(0)):
            return None
        token = open(os.path.join(self.config_dir, "token")).read().strip()
        return Api(m.group(1), token)

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)


class Driver:
    """WebKitWebDriver, started with the app's environment; `wd` launches the app."""

    def __init__(self, env):
        port = free_port()
        self.proc = subprocess.Popen(["WebKitWebDriver", f"--port={port}"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.wd = WebDriver(port)
        wait_for("WebKitWebDriver", lambda: self.wd.call("GET", "/status", timeout=2), 15)

    def stop(self):
        try:
            if self.wd.session:
                self.wd.call("DELETE", f"/session/{self.wd.session}", timeout=10)
        except Exception:  # noqa: BLE001 - the app may be gone already
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def restart_in_dock(wd, api, first, screenshot):
    """Clicks demo's Restart in the app's window: a fetch from tauri://localhost to the API on
    http://127.0.0.1:PORT, which only goes through with the API's CORS answer."""
    wd.click('article.card[data-server="demo"] button[data-action="restart"]')
    second = wait_for("a new demo pid after the dock's Restart",
                      lambda: api.running_pid("demo", other_than=first["pid"]), 20)
    check("Restart in the app's dock restarts demo (new pid, through the API)", second,
          f"pid {first['pid']} -> {second['pid']}" if second else f"card: {card(wd, 'demo')}")
    if not second:
        return first
    follows = wait_for("the dock showing the new pid", lambda: (c := card(wd, "demo"))
                       and c["pid"] == str(second["pid"]) and c["state"] == "running" and c, 10)
    check("the dock shows the new pid, and no action error", follows and not follows["error"],
          follows)
    wd.screenshot(screenshot)
    return second


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    setup = Setup()
    env, state_dir, xdg, demo, crasher = (setup.env, setup.state_dir, setup.xdg, setup.demo,
                                          setup.crasher)
    log = setup.log
    notifications = Notifications(os.path.join(setup.work, "notify.log"))
    driver = Driver(env)
    wd = driver.wd
    try:
        t0 = time.monotonic()
        wd.start(setup.wrapper)
        check("WebDriver session with the app", wd.session, f"{time.monotonic() - t0:.1f} s")
        api = setup.api()
        if not api:
            return
        first = wait_for("demo running", lambda: api.running_pid("demo"))
        check("the demo server runs in the app's engine", first, first and f"pid {first['pid']}")
        if not first:
            return

        # ---- the dock, in the app's window ----
        shown = wait_for("the dock showing demo running", lambda: (c := card(wd, "demo"))
                         and c["state"] == "running" and c["pid"] == str(first["pid"]) and c, 30)
        check("the window shows the dock with live data (demo running, its pid)", shown,
              shown and f"{shown['badge']}, pid {shown['pid']}")
        text = wd.js("return document.body.innerText")
        check("the dock shows both servers and the live logs",
              "crashy" in text and "Live logs" in text, repr(text[:120]))
        size = wd.screenshot("dock.png")
        check("WebDriver screenshot of the dock", size > 10_000, f"{size} bytes")

        url = wd.js_async("const done = arguments[arguments.length - 1];"
                          "window.__TAURI__.core.invoke('mcp_url', {name: 'demo'})"
                          ".then(done, (e) => done('error: ' + e));")
        check("the dock's command mcp_url answers the server's MCP URL",
              url == f"http://{api.address}/mcp/demo", url)
        refused = wd.js_async("const done = arguments[arguments.length - 1];"
                              "window.__TAURI__.core.invoke('server_action', {name: 'demo', action: 'reboot'})"
                              ".then((v) => done('answered ' + JSON.stringify(v)), (e) => done(String(e)));")
        check("server_action refuses an unknown action, saying what to use",
              "unknown action" in refused and "restart" in refused, refused)

        second = restart_in_dock(wd, api, first, "dock-after-restart.png")
        # The dock's own Copy (navigator.clipboard: tauri://localhost must count as secure).
        wd.click('article.card[data-server="demo"] button[data-copy-id="ws:demo"]')
        check("the dock's Copy inside the app puts demo's WebSocket URL on the clipboard",
              wait_for("the clipboard", lambda: clipboard() == f"ws://{api.address}/mcp/demo", 5),
              clipboard())
        check("the old demo process is gone", first["pid"] not in processes_running(demo))

        # ---- the tray, read and clicked over D-Bus ----
        tray = wait_for("the tray menu on D-Bus", Tray.find, 15)
        if not check("the tray publishes its menu (com.canonical.dbusmenu)", tray,
                     tray and f"{tray.bus} {tray.path}"):
            return
        with open(os.path.join(ARTIFACTS, "tray-layout.txt"), "w") as f:
            f.write(tray.layout_text())
        labels = wait_for("the menu listing demo running",
                          lambda: (ls := tray.labels()) and "demo — running" in ls and ls, 10)
        check("the tray menu lists each server with its state",
              labels and "demo — running" in labels and "crashy — stopped" in labels,
              " | ".join(labels or tray.labels()))
        for want in ("1 ready · 2 stopped", "Open Dock", "Restart all", "Open logs folder",
                     "Open config file", "Start on login", "Quit"):
            check(f"the tray menu has '{want}'", labels and want in labels)
        _, sub = tray.submenu("demo — ")
        check("the server's submenu: Start / Stop / Restart / Copy MCP URL",
              [s for s in sub if s] == ["Start", "Stop", "Restart", "Copy MCP URL"], sub)
        tray.click("Restart", under="demo — ")
        third = wait_for("a new demo pid after the tray's Restart",
                         lambda: api.running_pid("demo", other_than=second["pid"]), 20)
        check("tray Restart restarts demo (new pid)", third,
              third and f"pid {second['pid']} -> {third['pid']}, restarts {third['restarts']}")
        check("the tray menu follows the restart", wait_for(
            "the menu back at running", lambda: "demo — running" in tray.labels(), 10))
        tray.click("Copy MCP URL", under="demo — ")
        check("tray Copy MCP URL puts demo's MCP (HTTP) URL on the clipboard",
              wait_for("the clipboard", lambda: clipboard() == f"http://{api.address}/mcp/demo", 5),
              clipboard())

        # ---- single instance ----
        again = subprocess.run([APP], env=env, capture_output=True, text=True, timeout=30)
        check("a second launch exits at once (single instance)", again.returncode == 0,
              f"exit {again.returncode}")
        check("... and the first shows its dock and still serves",
              wait_for("the first app's log", lambda: "launched again: showing the dock" in log(), 5)
              and api.server("demo")["state"] == "running")

        # ---- start on login ----
        entry = os.path.join(xdg, "autostart", "bridgedock.desktop")
        tray.click("Start on login")
        found = wait_for("the autostart entry", lambda: os.path.exists(entry), 5)
        exec_line = found and next((line for line in open(entry).read().splitlines()
                                    if line.startswith("Exec=")), "")
        check("'Start on login' writes ~/.config/autostart/bridgedock.desktop", found, entry)
        check("... which starts the app hidden in the tray",
              exec_line and exec_line.split()[-1] == "--hidden" and "bridgedock" in exec_line,
              exec_line)
        check("... and the menu shows it checked", wait_for("the check mark", lambda: "'toggle-state': <1>" in next(
            p for _, lab, p in tray.items() if lab == "Start on login"), 5))
        tray.click("Start on login")
        check("unchecking 'Start on login' removes the entry",
              wait_for("the autostart entry gone", lambda: not os.path.exists(entry), 5))
        check("... and the menu shows it unchecked", wait_for("no check mark", lambda: "'toggle-state': <0>" in next(
            p for _, lab, p in tray.items() if lab == "Start on login"), 5))

        # ---- a process that never answers: not answering, told once, Start greyed out ----
        not_answering(tray, api, wd, notifications, setup.mute)

        # ---- a crash raises one notification; the next ones are held back and summed up ----
        tray.click("Start", under="crashy — ")
        started = time.monotonic()
        first_notice = wait_for("a Notify call for crashy", lambda: [
            c for c in notifications.calls() if c[0].startswith("crashy")], 15)
        check("crashy's crash raises a desktop notification (Notify on the session bus)",
              first_notice and first_notice[0][0] == "crashy crashed"
              and "exited with code 3" in first_notice[0][1] and "restarting in" in first_notice[0][1],
              first_notice and first_notice[0])
        crashing = wait_for("crashy in backoff in the dock", lambda: (c := card(wd, "crashy"))
                            and c["state"] == "backoff" and c, 10)
        if crashing:
            wd.screenshot("dock-crash-loop.png")
        crashes = wait_for("crashy to crash 3 times", lambda: api.server("crashy")["restarts"] >= 3,
                           NOTIFY_QUIET_S - 8)
        held = [c for c in notifications.calls() if c[0].startswith("crashy")]
        check("... only one while it keeps crashing (at most one per server per 30 s)",
              crashes and len(held) == 1,
              f"{api.server('crashy')['restarts']} restarts, notifications: {held}")
        summary = wait_for("the held-back summary", lambda: [
            c for c in notifications.calls() if "held back" in c[0]],
            NOTIFY_QUIET_S + 10 - (time.monotonic() - started))
        check("... then one notification sums up the held-back ones",
              summary and re.fullmatch(r"crashy: \d+ more crash notifications? held back", summary[0][0])
              and summary[0][1].startswith("now: "), summary)
        # BRIDGEDOCK_CRASH_LIMIT=6: the 6th crash, ~33 s after the first, is the last.
        gave_up = wait_for("crashy to give up and say so", lambda: [
            c for c in notifications.timed_calls() if c[1] == "crashy gave up"], 25)
        summed_at = next((t for t, title, _ in notifications.timed_calls() if "held back" in title), None)
        check("giving up is notified at once, although within 30 s of the summary",
              gave_up and summed_at and gave_up[0][0] - summed_at < NOTIFY_QUIET_S
              and gave_up[0][2].startswith("failed: gave up after 6 crashes in 5 min")
              and api.server("crashy")["state"] == "failed",
              gave_up and (round(gave_up[0][0] - summed_at, 1) if summed_at else None, gave_up[0][1:]))
        tray.click("Stop", under="crashy — ")
        check("tray Stop stops crashy", wait_for(
            "crashy stopped", lambda: api.server("crashy")["state"] == "stopped", 10))

        # ---- Quit from the tray ----
        pids = processes_running(demo)
        check("one demo process before Quit", len(pids) == 1, pids)
        tray.click("Quit")
        code = wait_for("the app to exit", setup.exit_code, 30)
        check("tray Quit exits the app with 0", code == "0", f"exit {code}")
        check("no server process or child record left after Quit",
              not processes_running(demo) and not processes_running(crasher)
              and not processes_running(setup.mute) and not child_records(state_dir),
              f"{processes_running(demo)} {child_records(state_dir)}")
        check("the app said it stopped every server", "every server stopped" in log())
    finally:
        driver.stop()
        notifications.stop()

    hidden_start(env, state_dir, demo)
    clash_with_daemon(env)
    setup.remove()


def not_answering(tray, api, wd, notifications, mute):
    """`mute` reads its input and never answers: 2 s (its start_timeout) after the tray's Start
    it is not answering — alive, not crashed — and that is notified once, with the reason."""
    tray.click("Start", under="mute — ")
    shown = wait_for("mute not answering", lambda: (s := api.server("mute"))
                     and s["state"] == "not-answering" and s, 15)
    check("a process that never answers is not answering 2 s after the tray's Start (alive)",
          shown and shown["pid"] in processes_running(mute), shown and shown["reason"][:80])
    notice = wait_for("a Notify call for mute", lambda: [
        c for c in notifications.calls() if c[0].startswith("mute")], 10)
    check("... which raises a desktop notification with its reason and last line",
          notice and notice[0][0] == "mute is not answering"
          and "has not answered bridgedock's MCP handshake within 2 s" in notice[0][1]
          and "Last line: mute: up pid" in notice[0][1], notice and notice[0])
    label = wait_for("the menu saying mute is not answering",
                     lambda: "mute — not answering" in tray.labels(), 10)
    items = {lab: props for _, lab, props in tray.items(
        tray.find_item("mute — not answering") or 0, 1)[1:]} if label else {}
    greyed = lambda lab: "'enabled': <false>" in items.get(lab, "")  # noqa: E731
    check("the tray menu says 'mute — not answering'; Start greyed out, Stop and Restart offered",
          label and greyed("Start") and not greyed("Stop") and not greyed("Restart"),
          items or tray.labels())
    dock = wait_for("the dock's card saying Not answering", lambda: (c := card(wd, "mute"))
                    and c["badge"] == "Not answering" and c, 10)
    check("the dock in the app's window says Not answering", dock, dock)
    if dock:
        wd.screenshot("dock-not-answering.png")
    tray.click("Stop", under="mute — ")
    check("tray Stop stops mute", wait_for(
        "mute stopped", lambda: api.server("mute")["state"] == "stopped"
        and not processes_running(mute), 10))
    check("... and it was notified once", len([
        c for c in notifications.calls() if c[0].startswith("mute")]) == 1, notifications.calls())


def hidden_start(env, state_dir, demo):
    """As on login: --hidden starts the engine and the tray, and no web view until Open Dock.
    SIGTERM (a logout) quits like Quit."""
    app = subprocess.Popen([APP, "--hidden"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        line = app.stdout.readline()
        check("started with --hidden, the app serves its API", "API listening" in line, line.strip())
        tray = wait_for("the tray menu on D-Bus", Tray.find, 15)
        check("... shows its tray, and has no web view yet", tray and not web_views(app.pid),
              descendants(app.pid))
        if tray:
            tray.click("Open Dock")
            check("Open Dock opens the dock's web view", wait_for(
                "a WebKitWebProcess", lambda: web_views(app.pid), 15))
        wait_for("demo running", lambda: processes_running(demo), 10)
        app.send_signal(signal.SIGTERM)
        code = app.wait(30)
        check("SIGTERM quits the app with 0", code == 0, f"exit {code}")
        check("... leaving no server process or child record",
              not processes_running(demo) and not child_records(state_dir),
              f"{processes_running(demo)} {child_records(state_dir)}")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def clash_with_daemon(env):
    """A daemon already serving these dirs: the app explains and exits without starting."""
    if not os.path.exists(DAEMON):
        check(f"bridgedockd is built ({DAEMON})", False)
        return
    daemon = subprocess.Popen([DAEMON, "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for("bridgedockd", lambda: "API listening" in daemon.stdout.readline(), 15)
        clash = subprocess.run([APP], env=dict(env, BRIDGEDOCK_NO_DIALOG="1"),
                               capture_output=True, text=True, timeout=30)
        check("with bridgedockd running, the app exits 1 with a clear reason",
              clash.returncode == 1 and "cannot start" in clash.stderr
              and "already in use" in clash.stderr, clash.stderr.strip()[:200])
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)


def packaged():
    """The app as the .deb installs it (tests/app/run points BRIDGEDOCK_APP at the binary it
    unpacked): its window shows the dock it carries, with live data, and acts; SIGTERM quits."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    setup = Setup()
    driver = Driver(setup.env)
    wd = driver.wd
    try:
        wd.start(setup.wrapper)
        api = setup.api()
        first = api and wait_for("demo running", lambda: api.running_pid("demo"))
        if not check("the packaged app runs demo", first):
            return
        shown = wait_for("the dock showing demo running", lambda: (c := card(wd, "demo"))
                         and c["state"] == "running" and c["pid"] == str(first["pid"]) and c, 30)
        check("the packaged app's window shows the dock with live data", shown, shown)
        restart_in_dock(wd, api, first, "dock-packaged.png")
        os.kill(api.call("GET", "/healthz")["pid"], signal.SIGTERM)
        code = wait_for("the app to exit", setup.exit_code, 30)
        check("SIGTERM quits the packaged app with 0, leaving no server process",
              code == "0" and not processes_running(setup.demo), f"exit {code}")
    finally:
        driver.stop()
    setup.remove()


if __name__ == "__main__":
    try:
        packaged() if sys.argv[1:] == ["--packaged"] else main()
    except Exception:  # noqa: BLE001 - a broken step is a failure, told with its traceback
        traceback.print_exc()
        check("the smoke test ran to its end", False)
    finally:
        failed = results.count(False)
        print(f"{len(results) - failed} passed, {failed} failed")
        sys.exit(1 if failed or not results else 0)
