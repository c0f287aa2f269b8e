"""What the benchmarks read about a process from /proc (Linux): memory, descriptors, the
machine's load, and which processes a run started (they carry MARK_VAR=RUN_ID in their
environment). Shared by bench/load/load.py, bench/godot/load.py and bench/bridge/bridge.py."""

from __future__ import annotations

import os
import time

# The environment variable every process a benchmark run starts carries, set to the run's id.
MARK_VAR = "BRIDGEDOCK_BENCH_CHILD"


def status_kb(pid: int, field: str):
    """A field of /proc/PID/status in kB (or a count, for Threads); None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid: int):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def sample(pid: int) -> dict:
    return {
        "t": time.time(),
        "rss_kb": status_kb(pid, "VmRSS"),
        # VmRSS = anonymous (heap, stacks) + file-backed (the binary's code pages, paged in as
        # code paths are first used) + shared memory.
        "rss_anon_kb": status_kb(pid, "RssAnon"),
        "rss_file_kb": status_kb(pid, "RssFile"),
        "hwm_kb": status_kb(pid, "VmHWM"),
        "threads": status_kb(pid, "Threads"),
        "fds": fd_count(pid),
        "loadavg": loadavg(),
    }


def marked_pids(mark_var: str, run_id: str) -> list[int]:
    """Every process (but this one) whose environment holds mark_var=run_id."""
    out = []
    needle = ("%s=%s" % (mark_var, run_id)).encode()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % p, "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(int(p))
        except OSError:
            pass
    return out
