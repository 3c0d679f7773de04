"""Turns the suite's runs into bench/results/NAME.md, the summary table
printed at the end, and NAME.png.

The summary's ratios are paired: for each repetition, sockit's run and the
peer's run that came right next to it (scenarios.py orders the cases so)
give one ratio, and the summary shows the median of those ratios and their
range.  A target is met only when that median meets it.  Beside each
throughput ratio is the ratio of the server's CPU time per unit of work,
paired the same way, which a noisy neighbour disturbs far less."""


# Per scenario (or per scenario and group): the figures its tables show, as
# (key, heading, format).  The first one is the scenario's main figure; its
# min-max over the runs is shown too.
_CPU_REQ = ("cpu_us", "server CPU µs/req", "f2")
COLUMNS = {
    "echo": [("rps", "req/s", "int"), ("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"),
             _CPU_REQ, ("errors", "errors", "int")],
    "bulk": [("mib_s", "MiB/s", "int"), ("seconds", "s per transfer", "f2"),
             ("cpu_s_gib", "server CPU-s/GiB", "f3"),
             ("client_cpu_s_gib", "client CPU-s/GiB", "f3")],
    "latency": [("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"), ("p99_9", "p99.9 µs", "f1"),
                ("mean", "mean µs", "f1"), ("rps", "round trips/s", "int"),
                ("cpu_us", "server CPU µs/round trip", "f2")],
    "conns": [("server_held", "held by server", "int"), ("attempted", "attempted", "int"),
              ("connected", "connected", "int"), ("alive", "still open at the end", "int"),
              ("rss_before_kib", "RSS before, KiB", "int"),
              ("rss_after_kib", "RSS after, KiB", "int"),
              ("kib_per_conn", "KiB per conn", "f2"), ("connect_s", "s to connect", "f1")],
    "chat": [("deliveries_s", "deliveries/s", "int"), ("per_reader_s", "per reader/s", "int"),
             ("sent_s", "lines sent/s", "int"), ("client_cpu", "client CPU", "pct"),
             ("server_cpu", "server CPU", "pct"),
             ("cpu_s_m", "server CPU-s per M deliveries", "f3"),
             ("stalled_dropped_at_s", "stalled client dropped at, s", "f2"),
             ("stopped_at_s", "deliveries stopped at, s", "f2")],
    "udp": [("rps", "replies/s", "int"), ("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"),
            ("cpu_us", "server CPU µs/reply", "f2"), ("lost", "lost", "int")],
    ("tls", "bulk"): [("mib_s", "MiB/s", "int"), ("seconds", "s per transfer", "f2"),
                      ("cpu_s_gib", "server CPU-s/GiB", "f3"),
                      ("client_cpu_s_gib", "client CPU-s/GiB", "f3")],
    ("tls", "echo"): [("rps", "req/s", "int"), ("p50", "p50 µs", "f1"),
                      ("p99", "p99 µs", "f1"), _CPU_REQ, ("errors", "errors", "int")],
    ("tls", "new connections"): [("rps", "connects/s", "int"), ("p50", "p50 µs", "f1"),
                                 ("p99", "p99 µs", "f1"),
                                 ("cpu_us", "server CPU µs/connection", "f1"),
                                 ("errors", "errors", "int")],
    "door": [("rps", "accepts/s", "int"), ("p50", "p50 µs", "f1"), ("p99", "p99 µs", "f1"),
             ("cpu_us", "server CPU µs/connection", "f1"), ("errors", "errors", "int")],
}


def columns(key, group):
    """The columns of scenario key's table for group."""
    for (k, prefix), cols in ((k, c) for k, c in COLUMNS.items() if isinstance(k, tuple)):
        if k == key and group.startswith(prefix):
            return cols
    return COLUMNS[key]


DESCRIPTIONS = {
    "echo": "Requests per second with 64-byte messages over 50 connections, each with 1 or 16 "
            "requests in flight. `sockit bench` loads `sockit listen -s echo`, the floor "
            "(bench/floor/floor_echo.c: an epoll loop making one `read` and one `write` per "
            "request, the least the kernel allows) and redis-server (every request `PING`, "
            "one reply line each); redis-benchmark's own figure for the same server is a "
            "reference. Latencies are request-to-reply round trips. Server CPU is the "
            "server's utime + stime over the measured window divided by the requests "
            "answered in it.",
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
    "tls": "Every TLS server uses the same self-signed ECDSA P-256 certificate, made with "
           "`openssl req` at the start; clients do not verify it (`--insecure`, `verify=0`). "
           "Bulk: the bulk scenario's file through each TLS client into its server, timed the "
           "same way; the stunnel case is `nc -N` into a client stunnel, a server stunnel, "
           "and `nc -l`, and its CPU columns add the two stunnels to their side. sockit over "
           "TLS runs twice per repetition, next to each of its four peers. Echo: pipeline 1 "
           "over TLS against plain TCP. New connections: `sockit bench --mode connect` opens "
           "connections (the TLS handshake included) and closes each as soon as it is open; "
           "openssl s_server (-www) handles one connection at a time and is a reference.",
    "door": "New connections per second through the door (src/door.c): `sockit bench --mode "
            "connect` (50 in flight, each closed once open) against `sockit listen -s "
            "discard` with no rules, with a --deny-file of 10,000 random IPv4 and IPv6 "
            "networks of every prefix length (none covers loopback: every check probes every "
            "length and matches nothing), with an --allow-file of the same kind whose last "
            "line lets 127.0.0.1 in, and with the per-source limits on (a table entry and a "
            "token bucket per source). Each rules case runs next to a no-rules run; the "
            "figure is the median of the per-pair ratios, with the server's CPU per accepted "
            "connection beside it.",
}

# The summary.  Each row compares a sockit case's figure with a peer
# case's (or with a constant goal), and the servers' CPU per unit of work
# when cpu names it.  target: (what, op, ratio), what being "figure" (the
# ratio of the figures) or "cpu" (the ratio of CPU per unit); None for a
# reported ratio without a target.
def _row(scen, what, sid, key, peer, pid, pkey=None, target=None, cpu=None):
    return {"scenario": scen, "what": what, "sid": sid, "key": key, "peer": peer,
            "pid": pid, "pkey": pkey or key, "target": target, "cpu": cpu}


CPU_UNITS = {"cpu_us": "µs/req", "cpu_s_gib": "CPU-s/GiB", "cpu_s_m": "CPU-s/M deliveries"}

SUMMARY = [
    _row("echo", "echo P1 req/s", "echo.p1.sockit-line", "rps",
         "floor (epoll, 1 read + 1 write)", "echo.p1.floor", target=("cpu", "<=", 1.05),
         cpu="cpu_us"),
    _row("echo", "echo P1 req/s", "echo.p1.sockit-line", "rps", "redis-server (same client)",
         "echo.p1.redis", cpu="cpu_us"),
    _row("echo", "echo P1 req/s", "echo.p1.sockit-line", "rps", "redis-benchmark (reference)",
         "echo.p1.redis-benchmark", cpu="cpu_us"),
    _row("echo", "echo P16 req/s", "echo.p16.sockit-line", "rps", "redis-server (same client)",
         "echo.p16.redis", target=("figure", ">=", 1.0), cpu="cpu_us"),
    _row("echo", "echo P16 req/s", "echo.p16.sockit-line", "rps",
         "redis-benchmark (reference)", "echo.p16.redis-benchmark", cpu="cpu_us"),
    _row("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "nc", "bulk.nc",
         target=("figure", ">=", 1.5), cpu="cpu_s_gib"),
    _row("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "socat", "bulk.socat",
         cpu="cpu_s_gib"),
    _row("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "ncat", "bulk.ncat",
         cpu="cpu_s_gib"),
    _row("bulk", "bulk MiB/s", "bulk.sockit-discard", "mib_s", "iperf3", "bulk.iperf3",
         target=("figure", ">=", 0.9), cpu="cpu_s_gib"),
    _row("bulk", "bulk MiB/s, stdio receiver", "bulk.sockit-stdio", "mib_s", "nc", "bulk.nc",
         target=("figure", ">=", 1.5), cpu="cpu_s_gib"),
    _row("bulk", "bulk MiB/s, bench stream", "bulk.sockit-stream", "mib_s", "iperf3",
         "bulk.iperf3", target=("figure", ">=", 0.9), cpu="cpu_s_gib"),
    _row("latency", "latency p50 µs", "lat.sockit", "p50", "sockperf", "lat.sockperf",
         target=("figure", "<=", 1.1), cpu="cpu_us"),
    _row("latency", "latency p99 µs", "lat.sockit", "p99", "sockperf", "lat.sockperf"),
    _row("conns", "connections held", "conns.sockit", "server_held", "goal", 100000,
         target=("figure", ">=", 1.0)),
    _row("conns", "server KiB per connection", "conns.sockit", "kib_per_conn", "goal", 1.0,
         target=("figure", "<=", 1.0)),
    _row("chat", "chat deliveries/s", "chat.sockit", "deliveries_s", "ncat --chat",
         "chat.ncat", target=("figure", ">=", 1.0), cpu="cpu_s_m"),
    _row("chat", "chat, 1 stalled: per-reader rate", "chat.sockit.stalled", "per_reader_s",
         "sockit, nobody stalled", "chat.sockit", target=("figure", ">=", 0.9)),
    _row("chat", "chat, 1 stalled: deliveries/s", "chat.sockit.stalled", "deliveries_s",
         "ncat --chat, 1 stalled", "chat.ncat.stalled", cpu="cpu_s_m"),
    _row("udp", "UDP echo replies/s", "udp.sockit", "rps", "sockperf ul (echo)",
         "udp.sockperf-ul", cpu="cpu_us"),
    _row("udp", "UDP echo replies/s", "udp.sockit", "rps", "sockperf tp (one way)",
         "udp.sockperf-tp", cpu="cpu_us"),
    _row("udp", "UDP ping-pong replies/s", "udp.pp.sockit", "rps", "sockperf pp",
         "udp.pp.sockperf", cpu="cpu_us"),
    _row("tls", "TLS bulk MiB/s", "tls.bulk.sockit", "mib_s", "sockit, plain TCP",
         "tls.bulk.sockit-plain", target=("figure", ">=", 0.7), cpu="cpu_s_gib"),
    _row("tls", "TLS bulk MiB/s", "tls.bulk.sockit", "mib_s", "stunnel4 (client + server)",
         "tls.bulk.stunnel", target=("figure", ">=", 1.0), cpu="cpu_s_gib"),
    _row("tls", "TLS bulk MiB/s", "tls.bulk.sockit", "mib_s", "socat OPENSSL",
         "tls.bulk.socat", target=("figure", ">=", 1.5), cpu="cpu_s_gib"),
    _row("tls", "TLS bulk MiB/s", "tls.bulk.sockit", "mib_s", "ncat --ssl",
         "tls.bulk.ncat", target=("figure", ">=", 1.5), cpu="cpu_s_gib"),
    _row("tls", "TLS echo P1 req/s", "tls.echo.sockit", "rps", "sockit, plain TCP",
         "tls.echo.sockit-plain", target=("figure", ">=", 0.8), cpu="cpu_us"),
    _row("tls", "TLS handshakes/s", "tls.connect.sockit", "rps", "openssl s_server (reference)",
         "tls.connect.s_server", cpu="cpu_us"),
    _row("tls", "TLS handshakes/s", "tls.connect.sockit", "rps",
         "sockit, plain TCP connects (reference)", "tls.connect.sockit-plain", cpu="cpu_us"),
    _row("door", "accepts/s, 10,000 deny rules", "door.sockit-deny", "rps", "no rules",
         "door.sockit-none", target=("cpu", "<=", 1.1), cpu="cpu_us"),
    _row("door", "accepts/s, 10,000 allow rules", "door.sockit-allow", "rps", "no rules",
         "door.sockit-none", target=("cpu", "<=", 1.1), cpu="cpu_us"),
    _row("door", "accepts/s, per-source limits", "door.sockit-per-ip", "rps", "no rules",
         "door.sockit-none", target=("cpu", "<=", 1.1), cpu="cpu_us"),
]


def check_pairs(orders):
    """Raises AssertionError when a summary row with a target compares two
    cases that never run next to each other (orders: {scenario: [Case]})."""
    for r in SUMMARY:
        if r["target"] is None or not isinstance(r["pid"], str):
            continue
        ids = [c.id for c in orders[r["scenario"]]]
        assert any({ids[i], ids[i + 1]} == {r["sid"], r["pid"]} for i in range(len(ids) - 1)), \
            "%s and %s never run one after the other" % (r["sid"], r["pid"])


def fmt(v, how="auto"):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if how == "pct":
        return "%.0f %%" % (v * 100)
    if how == "int" or (how == "auto" and abs(v) >= 1000):
        return "{:,.0f}".format(v)
    if how == "f3":
        return "%.3f" % v
    if how == "f2" or (how == "auto" and abs(v) < 10):
        return "%.2f" % v
    return "%.1f" % v


def brief(fig):
    """One line for the progress log."""
    parts = []
    for k in ("rps", "mib_s", "p50", "p99", "server_held", "kib_per_conn", "deliveries_s",
              "per_reader_s", "client_cpu", "cpu_us", "cpu_s_gib", "client_cpu_s_gib",
              "cpu_s_m", "errors", "note"):
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


def pairs(results, scen, sid, skey, pid, pkey):
    """Per repetition, sockit's run and the peer's closest to it in the
    order: [{"rep", "sockit", "peer", "ratio", "adjacent"}]."""
    s, p = _case(results, scen, sid), _case(results, scen, pid)
    if not s or not p:
        return []
    out = []
    for rep in sorted({r.get("_rep") for r in s["runs"]} - {None}):
        best = None
        for a in (r for r in s["runs"] if r.get("_rep") == rep):
            for b in (r for r in p["runs"] if r.get("_rep") == rep):
                if not isinstance(a.get(skey), (int, float)) or \
                        not isinstance(b.get(pkey), (int, float)) or not b[pkey]:
                    continue
                d = abs(a["_slot"] - b["_slot"])
                if best is None or d < best[0]:
                    best = (d, a[skey], b[pkey])
        if best:
            out.append({"rep": rep, "sockit": best[1], "peer": best[2],
                        "ratio": best[1] / best[2], "adjacent": best[0] == 1})
    return out


def _spread(ps):
    """(median, min, max, n) of the pairs' ratios, or Nones."""
    if not ps:
        return None, None, None, 0
    rs = sorted(x["ratio"] for x in ps)
    n = len(rs)
    med = rs[n // 2] if n % 2 else (rs[n // 2 - 1] + rs[n // 2]) / 2
    return med, rs[0], rs[-1], n


def _meets(ratio, op, target):
    return ratio >= target if op == ">=" else ratio <= target


def summary_rows(results):
    rows = []
    for d in SUMMARY:
        scen = d["scenario"]
        if scen not in results:
            continue
        s, swhy = _value(results, scen, d["sid"], d["key"])
        row = {"scenario": scen, "what": d["what"], "sockit": s, "peer": d["peer"],
               "target": d["target"][2] if d["target"] else None,
               "op": d["target"][1] if d["target"] else None,
               "target_on": d["target"][0] if d["target"] else None,
               "cpu_unit": CPU_UNITS.get(d["cpu"]), "note": None}
        if isinstance(d["pid"], str):
            p, pwhy = _value(results, scen, d["pid"], d["pkey"])
            ps = pairs(results, scen, d["sid"], d["key"], d["pid"], d["pkey"])
            row["ratio"], row["ratio_min"], row["ratio_max"], row["pairs"] = _spread(ps)
            row["pair_runs"] = ps
        else:   # a constant goal: nothing to pair with
            p, pwhy = float(d["pid"]), None
            row["ratio"] = s / p if s is not None else None
            row["ratio_min"] = row["ratio_max"] = None
            row["pairs"] = 0
        row["peer_value"] = p
        if d["cpu"]:
            row["sockit_cpu"], _ = _value(results, scen, d["sid"], d["cpu"])
            row["peer_cpu"], _ = _value(results, scen, d["pid"], d["cpu"])
            cps = pairs(results, scen, d["sid"], d["cpu"], d["pid"], d["cpu"])
            (row["cpu_ratio"], row["cpu_ratio_min"], row["cpu_ratio_max"],
             row["cpu_pairs"]) = _spread(cps)
            row["cpu_pair_runs"] = cps
        judged = row["cpu_ratio"] if row["target_on"] == "cpu" else row["ratio"]
        row["met"] = (_meets(judged, row["op"], row["target"])
                      if judged is not None and row["target"] is not None else None)
        row["why"] = swhy if s is None else (pwhy if p is None else (
            "the peer's figure is 0" if p == 0 else
            "no pair of runs in the same repetition" if row["ratio"] is None else None))
        c = _case(results, scen, d["sid"])
        if scen == "conns" and c and c["median"] and d["target"]:
            row["note"] = c["median"].get("note") or None
        rows.append(row)
    return rows


def _target_text(r):
    if not r["target"]:
        return ""
    return "%s%s %gx" % ("CPU " if r["target_on"] == "cpu" else "",
                         "≥" if r["op"] == ">=" else "≤", r["target"])


def _met_text(r):
    if r["met"] is None:
        text = "" if not r["target"] else "?"
    else:
        text = "yes" if r["met"] else "**no**"
    return text + (" (%s)" % r["note"] if r.get("note") else "")


def _ratio_text(r, pre="", ranged=True):
    """Two decimals (three when two would hide a miss: 0.998x shown as
    1.00x against 1.0x), then the pairs' range and count."""
    v = r.get(pre + "ratio")
    if v is None:
        return None
    digits = 2
    on = "cpu" if pre else "figure"
    if r["target"] and r["target_on"] == on and \
            _meets(round(v, 2), r["op"], r["target"]) != _meets(v, r["op"], r["target"]):
        digits = 3
    text = "%.*fx" % (digits, v)
    if ranged and r.get(pre + "pairs"):
        n = r[pre + "pairs"]
        text += " (%.2f–%.2f, %d pair%s)" % (r[pre + "ratio_min"], r[pre + "ratio_max"], n,
                                            "" if n == 1 else "s") if n > 1 else " (1 pair)"
    return text


def _cpu_text(r, who):
    v = r.get(who + "_cpu")
    if v is None:
        return "—"
    return "%s %s" % (fmt(v, "f3" if r["cpu_unit"] != "µs/req" else "f2"), r["cpu_unit"])


def summary_table(rows):
    out = ["| figure | sockit | peer | peer's figure | sockit/peer (range over pairs) | "
           "server CPU per unit: sockit | peer | CPU sockit/peer (range) | target | met |",
           "|---|---:|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ratio = _ratio_text(r) or (r["why"] or "—")
        cpu_ratio = _ratio_text(r, "cpu_") or "—" if r.get("cpu_unit") else ""
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["what"], fmt(r["sockit"]), r["peer"], fmt(r["peer_value"]), ratio,
            _cpu_text(r, "sockit") if r.get("cpu_unit") else "",
            _cpu_text(r, "peer") if r.get("cpu_unit") else "", cpu_ratio,
            _target_text(r), _met_text(r)))
    return "\n".join(out)


def summary_text(rows):
    """The summary as plain text for the terminal."""
    head = ("figure", "sockit", "peer", "peer's", "ratio (pairs)", "CPU ratio", "target", "met")
    lines = [head]
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        lines.append((r["what"], fmt(r["sockit"]), r["peer"], fmt(r["peer_value"]),
                      _ratio_text(r) or "—", _ratio_text(r, "cpu_", False) or "",
                      _target_text(r), met))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    text = []
    for l in lines:
        text.append("  ".join(c.ljust(w) if i in (0, 2, 6) else c.rjust(w)
                              for i, (c, w) in enumerate(zip(l, widths))).rstrip())
    notes = ["  %s vs %s: %s" % (r["what"], r["peer"], r["why"]) for r in rows
             if r["ratio"] is None and r["why"]]
    notes += ["  %s: %s" % (r["what"], r["note"]) for r in rows if r.get("note")]
    return "\n".join(text + (["", "notes:"] + notes if notes else []))


def _scenario_tables(key, scen):
    out = []
    groups = []
    for c in scen["cases"].values():
        if c["group"] not in groups:
            groups.append(c["group"])
    for g in groups:
        cols = columns(key, g)
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


def markdown(info, results, summary, png=None):
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
            "Each ratio is sockit's figure over the peer's, paired: in every repetition "
            "sockit's run and the peer's ran one after the other (which one first "
            "alternates), and the table shows the median of those per-pair ratios, their "
            "range and how many pairs there were. The sockit and peer columns are the "
            "medians of all runs. A target is met only when the median paired ratio meets "
            "it. Server CPU per unit is the server's user + system time (`/proc/PID/stat`, "
            "all threads; for a receiver that exits, `wait4`'s rusage) over the measured "
            "window, divided by the work done in it; its ratio is paired the same way, and "
            "lower is cheaper. For latency and memory lower is better, so their target is a "
            "ceiling.", "", summary_table(summary), ""]
    if png:
        out += ["![ratios](%s)" % png, ""]
    for key, scen in results.items():
        out += ["## %s" % scen["title"], "", DESCRIPTIONS[key]]
        out += _scenario_tables(key, scen)
        out += ["", "_%.0f s for this scenario._" % scen["seconds"], ""]
    return "\n".join(out) + "\n"


def chart(rows, path, info):
    """A bar per summary ratio (the CPU ratio where the target is on CPU),
    with the pairs' range as an error bar and the target as a marker.
    Returns an error text instead of raising when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return str(e)
    pre = lambda r: "cpu_" if r["target_on"] == "cpu" else ""
    rows = [r for r in rows if r.get(pre(r) + "ratio") is not None or r["target"]]
    if not rows:
        return "no ratios to draw"
    labels = ["%s vs %s%s" % (r["what"], r["peer"], ", server CPU/unit" if pre(r) else "")
              for r in rows][::-1]
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    ys = range(len(rows))
    vals = [r.get(pre(r) + "ratio") or 0 for r in rows]
    lo_err = [v - r[pre(r) + "ratio_min"] if v and r.get(pre(r) + "ratio_min") else 0
              for v, r in zip(vals, rows)]
    hi_err = [r[pre(r) + "ratio_max"] - v if v and r.get(pre(r) + "ratio_max") else 0
              for v, r in zip(vals, rows)]
    colors = ["#3a8f3a" if r["met"] else "#c23b22" if r["met"] is False else "#8c8c8c"
              for r in rows]
    ax.barh(list(ys), [v if v > 0 else 1e-3 for v in vals], color=colors, left=0,
            xerr=[lo_err, hi_err], ecolor="#333333", capsize=2)
    ax.set_xscale("log")
    finite = [v for v in vals if v > 0] + [r["target"] for r in rows if r["target"]]
    finite += [r[pre(r) + "ratio_max"] for r in rows if r.get(pre(r) + "ratio_max")]
    lo, hi = min(finite + [0.5]) / 1.5, max(finite + [2.0]) * 2
    ax.set_xlim(lo, hi)
    for y, r, v in zip(ys, rows, vals):
        if r["target"]:
            ax.plot([r["target"]], [y], marker="<" if r["op"] == "<=" else ">",
                    color="black", markersize=8, zorder=3)
        right = max(v, r["target"] or 0, r.get(pre(r) + "ratio_max") or 0, lo)
        ax.text(right * 1.08, y, "%.2fx" % v if v else "n/a", va="center", fontsize=8)
    ax.axvline(1.0, color="#444444", linewidth=0.8, linestyle="--")
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if lo <= t <= hi]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["%g" % t for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("sockit / peer, median of paired runs with their range (log scale); "
                  "▶ target floor, ◀ target ceiling")
    ax.set_title("sockit vs peers — %s, %s cores, %s" % (
        info["machine"]["model"], info["machine"]["cores"], info["machine"]["date"]),
        fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
