#!/usr/bin/env python3
"""Plots a soak run (bench/results/soak-<date>.json) to a PNG: bridgedockd's resident memory
and open file descriptors every sample, with the answers per second and the machine's load
average beneath. Usage: plot.py SOAK.json OUT.png (needs matplotlib; bench/load/soak makes a
venv with it). A result carrying its own "title" (bench/godot/load.py soak) also gets its
anonymous memory drawn and a mark at each entry of its "restarts"."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out):
    with open(src) as f:
        r = json.load(f)
    samples = r["samples"]
    t0 = samples[0]["t"]
    load_end = (samples[-1]["t"] - t0) / 60.0
    # The quiet before and after the load are on the same time line (sampled every second).
    timeline = r["settle_before"] + samples + r["settle_after"]
    minutes = [(s["t"] - t0) / 60.0 for s in timeline]
    rss = [s["rss_kb"] / 1024.0 for s in timeline]
    fds = [s["fds"] for s in timeline]
    load_t = [(s["t"] - t0) / 60.0 for s in samples]
    load1 = [s["loadavg"][0] for s in samples]
    before = r["before"]["rss_kb"] / 1024.0
    after = r["after"]["rss_kb"] / 1024.0
    after_t = (r["after"]["t"] - t0) / 60.0

    # answers per second between progress lines
    prog = r.get("progress", [])
    rate_t, rate = [], []
    for a, b in zip(prog, prog[1:]):
        dt = b["t"] - a["t"]
        if dt > 0:
            rate_t.append((b["wall"] - t0) / 60.0)
            rate.append((b["ok"] - a["ok"]) / dt)

    fig, (ax_mem, ax_rate) = plt.subplots(2, 1, figsize=(10, 7), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 2]})
    s = r["summary"]
    fig.suptitle(r["title"], fontsize=10) if r.get("title") else fig.suptitle(
        "bridgedockd soak, %s: %d clients × %g req/s (mixed 16 B–64 KiB) across 3 stdio echo servers, %d s\n"
        "%d requests: %d answered, %d errors, %d misrouted, %d lost"
        % (r["date"], r["clients"], r["rate_per_client"], r["duration_s"], s["sent"], s["ok"],
           sum(s["errors_by_code"].values()), s["misrouted"], s["lost"]),
        fontsize=10)

    for ax in (ax_mem, ax_rate):
        ax.axvspan(0, load_end, color="0.92", zorder=0)
    ax_mem.plot(minutes, rss, "o-", color="tab:blue", markersize=2, label="RSS (MiB)")
    if r.get("title"):
        anon = [x["rss_anon_kb"] / 1024.0 for x in timeline]
        ax_mem.plot(minutes, anon, "o-", color="tab:purple", markersize=2, label="RssAnon (MiB)")
    restarts = [(x["t"] - t0) / 60.0 for x in r.get("restarts", [])]
    for i, x in enumerate(restarts):
        for ax in (ax_mem, ax_rate):
            ax.axvline(x, color="tab:red", alpha=0.25, linewidth=1,
                       label="restart" if i == 0 and ax is ax_mem else None)
    ax_mem.axhline(before, color="tab:blue", linestyle=":", linewidth=1)
    ax_mem.annotate("before the load: %.1f MiB" % before, (minutes[0], before), textcoords="offset points",
                    xytext=(4, -12), fontsize=8, color="tab:blue")
    ax_mem.annotate("load (shaded)", (load_end / 2, 0), textcoords="offset points", xytext=(-30, 4),
                    fontsize=8, color="0.4")
    ax_mem.plot([after_t], [after], "s", color="tab:blue")
    ax_mem.annotate("after %d s settle: %.1f MiB" % (r["settle_after"][-1]["t"] - r["settle_after"][0]["t"] + 1,
                                                     after), (after_t, after), textcoords="offset points",
                    xytext=(-150, 8), fontsize=8, color="tab:blue")
    ax_mem.set_ylabel("resident memory (MiB)", color="tab:blue")
    ax_mem.set_ylim(0, max(rss + [after]) * 1.3)
    ax_mem.grid(True, alpha=0.3)
    ax_fd = ax_mem.twinx()
    ax_fd.step(minutes, fds, where="post", color="tab:orange", label="open fds")
    ax_fd.set_ylabel("open file descriptors", color="tab:orange")
    ax_fd.set_ylim(0, max(fds) * 1.3)
    lines = [l for l in ax_mem.get_lines() if not l.get_label().startswith("_")] + ax_fd.get_lines()
    ax_mem.legend(lines, [l.get_label() for l in lines], loc="lower right", fontsize=8)

    ax_rate.plot(rate_t, rate, color="tab:green", label="answers/s (client)")
    ax_rate.set_ylabel("answers per second", color="tab:green")
    ax_rate.set_ylim(0, max(rate + [1]) * 1.3)
    ax_rate.grid(True, alpha=0.3)
    ax_load = ax_rate.twinx()
    ax_load.plot(load_t, load1, color="tab:red", linestyle="--", label="load average (1 min, 2 cores)")
    ax_load.set_ylabel("machine load average", color="tab:red")
    ax_load.set_ylim(0, max(load1) * 1.3)
    lines = [l for l in ax_rate.get_lines() if not l.get_label().startswith("_")] + ax_load.get_lines()
    ax_rate.legend(lines, [l.get_label() for l in lines], loc="lower right", fontsize=8)
    ax_rate.set_xlabel("minutes since the load started (samples every %g s under load, every 1 s before and after)"
                       % r["sample_every_s"])

    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("plot: wrote %s" % out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
