"""Turns the suite's medians into bench/results/latest.md, the summary
table printed at the end, and ratios.png."""


# Per scenario: the figures its tables show, as (key, heading, format).
# The first one is the scenario's main figure; its min-max over the runs is
# shown too.
COLUMNS = {
    "echo": [("rps", "req/s", "int"), ("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"),
             ("errors", "errors", "int")],
    "bulk": [("mib_s", "MiB/s", "int"), ("seconds", "s per transfer", "f2")],
    "latency": [("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"), ("p99_9", "p99.9 µs", "f1"),
                ("mean", "mean µs", "f1"), ("rps", "round trips/s", "int")],
    "conns": [("server_held", "held by server", "int"), ("attempted", "attempted", "int"),
              ("connected", "connected", "int"), ("alive", "still open at the end", "int"),
              ("rss_before_kib", "RSS before, KiB", "int"),
              ("rss_after_kib", "RSS after, KiB", "int"),
              ("kib_per_conn", "KiB per conn", "f2"), ("connect_s", "s to connect", "f1")],
    "chat": [("deliveries_s", "deliveries/s", "int"), ("per_reader_s", "per reader/s", "int"),
             ("sent_s", "lines sent/s", "int"), ("client_cpu", "client CPU", "pct"),
             ("server_cpu", "server CPU", "pct"),
             ("stalled_dropped_at_s", "stalled client dropped at, s", "f2"),
             ("stopped_at_s", "deliveries stopped at, s", "f2")],
    "udp": [("rps", "replies/s", "int"), ("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"),
            ("lost", "lost", "int")],
}

DESCRIPTIONS = {
    "echo": "Requests per second with 64-byte messages over 50 connections, each with 1 or 16 "
            "requests in flight. `sockit bench` loads `sockit listen -s echo` and redis-server "
            "(every request `PING`, one reply line each); redis-benchmark's own figure for "
            "the same server is a reference. Latencies are request-to-reply round trips.",
    "bulk": "One file from tmpfs through a client into a server, timed from the sender's start "
            "to the receiver's exit (for `-s discard`, which keeps running: to the sender's "
            "exit, which waits for the server to close after reading everything). "
            "MiB/s = 2^20 bytes per second. iperf3 and `sockit bench --mode stream` send from "
            "memory for the run's duration.",
    "latency": "One connection, one 64-byte message in flight: round-trip times. sockperf runs "
               "with --full-rtt so that both sides report round trips (by default it halves "
               "them).",
    "conns": "Idle TCP connections opened from bench/lib/connflood.py to "
             "`sockit listen -s discard --max-conns 0`; the server's memory per connection is "
             "(VmRSS after - VmRSS before) / connections held, held meaning the server's open "
             "descriptors grew by that much.",
    "chat": "Clients in one room; every client sends 100-byte lines and reads everything "
            "(bench/lib/chatload.c, one process; see the machine table). A delivery is one "
            "line received by one client. The clients keep at most 2,000 lines in flight "
            "towards any reader. The CPU columns show which side was saturated. "
            "With a stalled client, the figure that matters is the readers' rate per reader, "
            "against the same server with nobody stalled.",
    "udp": "64-byte datagrams echoed: replies per second. sockperf's under-load mode with "
           "--mps=max --reply-every 1 is its echo at full speed; its throughput mode (tp) is "
           "one way and shown as a ceiling.",
}

# The summary: (scenario, figure, sockit case, key, peer label, peer case
# or a constant goal, peer key, target ratio, how the ratio must compare).
SUMMARY = [
    ("echo", "echo P1 req/s", "echo.p1.sockit-line", "rps",
     "redis-server (same client)", "echo.p1.redis", "rps", 1.2, ">="),
    ("echo", "echo P1 req/s", "echo.p1.sockit-line", "rps",
     "redis-benchmark (reference)", "echo.p1.redis-benchmark", "rps", None, None),
    ("echo", "echo P16 req/s", "echo.p16.sockit-line", "rps",
     "redis-server (same client)", "echo.p16.redis", "rps", 1.0, ">="),
    ("echo", "echo P16 req/s", "echo.p16.sockit-line", "rps",
     "redis-benchmark (reference)", "echo.p16.redis-benchmark", "rps", None, None),
    ("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "nc", "bulk.nc", "mib_s", 1.5, ">="),
    ("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "socat", "bulk.socat", "mib_s",
     None, None),
    ("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "ncat", "bulk.ncat", "mib_s",
     None, None),
    ("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "iperf3", "bulk.iperf3", "mib_s",
     0.9, ">="),
    ("bulk", "bulk MiB/s, stdio receiver", "bulk.sockit-stdio", "mib_s", "nc", "bulk.nc",
     "mib_s", 1.5, ">="),
    ("bulk", "bulk MiB/s, bench stream", "bulk.sockit-stream", "mib_s", "iperf3",
     "bulk.iperf3", "mib_s", 0.9, ">="),
    ("latency", "latency p50 µs", "lat.sockit", "p50", "sockperf", "lat.sockperf", "p50",
     1.1, "<="),
    ("latency", "latency p99 µs", "lat.sockit", "p99", "sockperf", "lat.sockperf", "p99",
     None, None),
    ("conns", "connections held", "conns.sockit", "server_held", "goal", 100000, None,
     1.0, ">="),
    ("conns", "server KiB per connection", "conns.sockit", "kib_per_conn", "goal", 1.0, None,
     1.0, "<="),
    ("chat", "chat deliveries/s", "chat.sockit", "deliveries_s", "ncat --chat", "chat.ncat",
     "deliveries_s", 1.0, ">="),
    ("chat", "chat, 1 stalled: per-reader rate", "chat.sockit.stalled", "per_reader_s",
     "sockit, nobody stalled", "chat.sockit", "per_reader_s", 0.9, ">="),
    ("chat", "chat, 1 stalled: deliveries/s", "chat.sockit.stalled", "deliveries_s",
     "ncat --chat, 1 stalled", "chat.ncat.stalled", "deliveries_s", None, None),
    ("udp", "UDP echo replies/s", "udp.sockit", "rps", "sockperf ul (echo)",
     "udp.sockperf-ul", "rps", None, None),
    ("udp", "UDP echo replies/s", "udp.sockit", "rps", "sockperf tp (one way)",
     "udp.sockperf-tp", "rps", None, None),
    ("udp", "UDP ping-pong replies/s", "udp.pp.sockit", "rps", "sockperf pp",
     "udp.pp.sockperf", "rps", None, None),
]


def fmt(v, how="auto"):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if how == "pct":
        return "%.0f %%" % (v * 100)
    if how == "int" or (how == "auto" and abs(v) >= 1000):
        return "{:,.0f}".format(v)
    if how == "f2" or (how == "auto" and abs(v) < 10):
        return "%.2f" % v
    return "%.1f" % v


def brief(fig):
    """One line for the progress log."""
    parts = []
    for k in ("rps", "mib_s", "p50", "p99", "server_held", "kib_per_conn", "deliveries_s",
              "per_reader_s", "client_cpu", "errors", "note"):
        if fig.get(k) not in (None, ""):
            parts.append("%s=%s" % (k, fmt(fig[k]) if not isinstance(fig[k], str) else fig[k]))
    return " ".join(parts)


def _case(results, scen, cid):
    return results.get(scen, {}).get("cases", {}).get(cid)


def _value(results, scen, cid, key):
    """(median, why missing)."""
    c = _case(results, scen, cid)
    if c is None:
        return None, "not run"
    if c["unavailable"]:
        return None, c["unavailable"]
    m = c["median"]
    if not m:
        return None, "failed: " + (c["errors"][-1] if c["errors"] else "no result")
    if m.get(key) is None:
        return None, "no %s" % key
    return m[key], None


def summary_rows(results):
    rows = []
    for scen, what, sid, skey, plabel, pid, pkey, target, op in SUMMARY:
        if scen not in results:
            continue
        s, swhy = _value(results, scen, sid, skey)
        if isinstance(pid, str):
            p, pwhy = _value(results, scen, pid, pkey)
        else:
            p, pwhy = float(pid), None
        ratio = s / p if s is not None and p else None
        if s is not None and p == 0:
            pwhy = "the peer's figure is 0"
        met = None
        if ratio is not None and target is not None:
            met = ratio >= target if op == ">=" else ratio <= target
        c = _case(results, scen, sid)
        note = c["median"].get("note") if c and c["median"] and target else None
        rows.append({"scenario": scen, "what": what, "sockit": s, "peer": plabel,
                     "peer_value": p, "ratio": ratio, "target": target, "op": op,
                     "met": met, "why": swhy if s is None else pwhy,
                     "note": note if scen == "conns" else None})
    return rows


def _target_text(r):
    return "%s %.1fx" % ("≥" if r["op"] == ">=" else "≤", r["target"]) if r["target"] else ""


def _met_text(r):
    if r["met"] is None:
        text = "" if not r["target"] else "?"
    else:
        text = "yes" if r["met"] else "**no**"
    return text + (" (%s)" % r["note"] if r.get("note") else "")


def _ratio_text(r):
    """Two decimals, or three when two would hide a miss (0.998x shown
    as 1.00x against a target of 1.0x)."""
    if r["ratio"] is None:
        return None
    text = "%.2fx" % r["ratio"]
    if r["met"] is False and abs(round(r["ratio"], 2) - r["target"]) < 1e-9:
        text = "%.3fx" % r["ratio"]
    return text


def summary_table(rows):
    out = ["| figure | sockit | peer | peer's figure | sockit/peer | target | met |",
           "|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        ratio = _ratio_text(r) or (r["why"] or "—")
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["what"], fmt(r["sockit"]), r["peer"], fmt(r["peer_value"]), ratio,
            _target_text(r), _met_text(r)))
    return "\n".join(out)


def summary_text(rows):
    """The summary as plain text for the terminal."""
    head = ("figure", "sockit", "peer", "peer's", "ratio", "target", "met")
    lines = [head]
    for r in rows:
        ratio = _ratio_text(r) or "—"
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        lines.append((r["what"], fmt(r["sockit"]), r["peer"], fmt(r["peer_value"]), ratio,
                      _target_text(r), met))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    text = []
    for l in lines:
        text.append("  ".join(c.ljust(w) if i in (0, 2, 5) else c.rjust(w)
                              for i, (c, w) in enumerate(zip(l, widths))).rstrip())
    notes = ["  %s vs %s: %s" % (r["what"], r["peer"], r["why"]) for r in rows
             if r["ratio"] is None and r["why"]]
    notes += ["  %s: %s" % (r["what"], r["note"]) for r in rows if r.get("note")]
    return "\n".join(text + (["", "notes:"] + notes if notes else []))


def _scenario_tables(key, scen):
    cols = COLUMNS[key]
    out = []
    groups = []
    for c in scen["cases"].values():
        if c["group"] not in groups:
            groups.append(c["group"])
    for g in groups:
        if len(groups) > 1:
            out.append("\n### %s\n" % g)
        else:
            out.append("")
        out.append("| contender | " + " | ".join(h for _, h, _ in cols) +
                   " | %s over runs | note |" % cols[0][1])
        out.append("|---|" + "---:|" * len(cols) + "---|---|")
        for c in scen["cases"].values():
            if c["group"] != g:
                continue
            m = c["median"]
            if c["unavailable"] or not m:
                why = c["unavailable"] or "failed: " + (c["errors"][-1] if c["errors"]
                                                        else "no result")
                out.append("| %s | " % c["label"] + " | ".join("—" for _ in cols) +
                           " | — | %s |" % why.replace("|", "/").replace("\n", " "))
                continue
            k0 = cols[0][0]
            rng = "%s–%s (%d)" % (fmt(m.get(k0 + "__min"), cols[0][2]),
                                  fmt(m.get(k0 + "__max"), cols[0][2]), m["n"]) \
                if m.get(k0 + "__min") is not None else "(%d run)" % m["n"]
            note = m.get("note") if isinstance(m.get("note"), str) else ""
            if c["errors"]:
                note = (note + "; " if note else "") + "%d run(s) failed: %s" % (
                    len(c["errors"]), c["errors"][-1])
            out.append("| %s | " % c["label"] + " | ".join(fmt(m.get(k), f) for k, _, f in cols) +
                       " | %s | %s |" % (rng, note.replace("|", "/").replace("\n", " ")))
    return out


def markdown(info, results, summary):
    mc, v, o = info["machine"], info["versions"], info["options"]
    out = ["# sockit side by side", "",
           "Made by `bench/run`%s on %s. All traffic on loopback; client and server share "
           "the machine's cores." % (" --quick" if o["quick"] else "", mc["date"]), "",
           "| machine | |", "|---|---|",
           "| CPU | %s, %s cores |" % (mc["model"], mc["cores"]),
           "| kernel | %s |" % mc["kernel"],
           "| date | %s |" % mc["date"]]
    for name, text in v.items():
        out.append("| %s | %s |" % (name, text.replace("|", "/")))
    out += ["| runs | %d per contender (median shown), %g s measured after %g s warm-up |"
            % (o["runs"], o["duration"], o["warmup"]),
            "| bulk file | %d MiB in tmpfs |" % (o["bulk_size"] >> 20),
            "| chat load | %s, %d clients |" % (o["chat_why"], o["chat_clients"]),
            "| CPUs | %s |" % ("servers on CPU %s, clients on CPU %s" % (
                ",".join(map(str, sorted(o["server_cpus"]))),
                ",".join(map(str, sorted(o["client_cpus"]))))
                if o["server_cpus"] else "not pinned"),
            "| suite's wall time | %.0f s%s |" % (info["wall_s"],
                                                  ", interrupted" if info["interrupted"] else ""),
            "", "## Summary", "",
            "Ratios are sockit's figure over the peer's; for latency and memory lower is "
            "better, so the target is a ceiling.", "", summary_table(summary), "",
            "![ratios](ratios.png)", ""]
    for key, scen in results.items():
        out += ["## %s" % scen["title"], "", DESCRIPTIONS[key]]
        out += _scenario_tables(key, scen)
        out += ["", "_%.0f s for this scenario._" % scen["seconds"], ""]
    return "\n".join(out) + "\n"


def chart(rows, path, info):
    """A bar per summary ratio with its target as a marker.  Returns an
    error text instead of raising when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return str(e)
    rows = [r for r in rows if r["ratio"] is not None or r["target"]]
    if not rows:
        return "no ratios to draw"
    labels = ["%s vs %s" % (r["what"], r["peer"]) for r in rows][::-1]
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    ys = range(len(rows))
    vals = [r["ratio"] if r["ratio"] is not None else 0 for r in rows]
    colors = ["#3a8f3a" if r["met"] else "#c23b22" if r["met"] is False else "#8c8c8c"
              for r in rows]
    ax.barh(list(ys), [v if v > 0 else 1e-3 for v in vals], color=colors, left=0)
    ax.set_xscale("log")
    finite = [v for v in vals if v > 0] + [r["target"] for r in rows if r["target"]]
    lo, hi = min(finite + [0.5]) / 1.5, max(finite + [2.0]) * 2
    ax.set_xlim(lo, hi)
    for y, r, v in zip(ys, rows, vals):
        if r["target"]:
            ax.plot([r["target"]], [y], marker="<" if r["op"] == "<=" else ">",
                    color="black", markersize=8, zorder=3)
        ax.text(max(v, r["target"] or 0, lo) * 1.08, y, "%.2fx" % v if v else "n/a",
                va="center", fontsize=8)
    ax.axvline(1.0, color="#444444", linewidth=0.8, linestyle="--")
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if lo <= t <= hi]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["%g" % t for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("sockit / peer (log scale); ▶ target floor, ◀ target ceiling")
    ax.set_title("sockit vs peers — %s, %s cores, %s" % (
        info["machine"]["model"], info["machine"]["cores"], info["machine"]["date"]),
        fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
