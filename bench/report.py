#!/usr/bin/env python3
"""Turns bench/run.sh's raw JSON lines into the medians-and-ratios tables (targed vs tgt, io_threads 2 vs 1), printed and appended to docs/performance.md."""
import json
import os
import platform
import statistics
import subprocess
import sys

TARGETS = ("targed", "tgt")

# Issue 9's targets, by workload kind: (metric, minimum ratio targed/tgt[, max CPU-per-I/O ratio]).
GOALS = {
    ("randread", "4k"): ("iops", 2.0, 0.5),
    ("read", "1m"): ("mib_s", 1.5, None),
    ("randwrite", "4k"): ("iops", 1.5, None),
    ("write", "1m"): ("mib_s", 1.5, None),
}


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.2f}x"


def median_of(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


# Issue 9: "with 2 I/O threads and 4 sessions, aggregate IOPS >= 1.6x one thread".
SCALING_GOAL = 1.6
SCALING_CONFIGS = ("io_threads=1", "io_threads=2")


def read_rows(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def add_rates(rows):
    """CPU-seconds per second of the measured window, of the daemon and of the client."""
    for r in rows:
        secs = r.get("seconds") or 0
        if secs and "failed" not in r:
            r["client_cpu_per_s"] = r["client_cpu_s"] / secs
            if "daemon_cpu_s" in r:
                r["daemon_cpu_per_s"] = r["daemon_cpu_s"] / secs


def problems(runs):
    bad = [r for r in runs if "failed" in r or r.get("client_status") or r.get("errors")]
    return f"{len(bad)} run(s) failed or had errors" if bad else None


def raw_table(rows):
    raw = ["| workload | target | round | IOPS | MiB/s | mean µs | p99 µs | daemon CPU-s | CPU-µs/IO | client CPU-s | errors |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if "failed" in r:
            raw.append(f"| {r['workload']} | {r['target']} | {r['round']} | failed: {r['failed']} |||||||")
            continue
        raw.append(
            f"| {r['workload']} | {r['target']} | {r['round']} | {fmt(r['iops'])} | {fmt(r['mib_s'], 1)} "
            f"| {fmt(r['lat_mean_us'])} | {fmt(r['lat_p99_us'])} | {fmt(r.get('daemon_cpu_s'), 2)} "
            f"| {fmt(r.get('daemon_cpu_us_per_io'), 2)} | {fmt(r['client_cpu_s'], 2)} | {r['errors']} |")
    return raw


def scaling_table(rows):
    """io_threads=2 against io_threads=1 per workload: the IOPS of every round, medians, ratio,
    and the CPU both sides used, so a reader can see whether the client or the machine ran out."""
    table = [
        "| workload | io_threads=1 IOPS (runs) | io_threads=2 IOPS (runs) | median 1 | median 2 "
        "| ratio 2 ÷ 1 | goal | met | daemon CPU-s/s 1 / 2 | client CPU-s/s 1 / 2 "
        "| daemon + client CPU-s/s 1 / 2 |",
        "|---|---|---|--:|--:|--:|---|---|--:|--:|--:|",
    ]
    for w in dict.fromkeys(r["workload"] for r in rows):
        med, runs_text, notes = {}, {}, []
        for c in SCALING_CONFIGS:
            runs = [r for r in rows if r["workload"] == w and r["target"] == c]
            ok = [r for r in runs if "failed" not in r]
            if problems(runs):
                notes.append(f"{c}: {problems(runs)}")
            runs_text[c] = " / ".join("failed" if "failed" in r else fmt(r["iops"]) for r in runs)
            med[c] = {k: median_of(ok, k) for k in ("iops", "daemon_cpu_per_s", "client_cpu_per_s")}
            d, cl = med[c]["daemon_cpu_per_s"], med[c]["client_cpu_per_s"]
            med[c]["busy"] = d + cl if d is not None and cl is not None else None
        one, two = med[SCALING_CONFIGS[0]], med[SCALING_CONFIGS[1]]
        x = ratio(two["iops"], one["iops"])
        met = "yes" if x is not None and x >= SCALING_GOAL else "no"
        if notes:
            met += " (" + "; ".join(notes) + ")"
        table.append(
            f"| {w} | {runs_text[SCALING_CONFIGS[0]]} | {runs_text[SCALING_CONFIGS[1]]} "
            f"| {fmt(one['iops'])} | {fmt(two['iops'])} | {fmt_ratio(x)} | ≥{SCALING_GOAL}x IOPS | {met} "
            f"| {fmt(one['daemon_cpu_per_s'], 2)} / {fmt(two['daemon_cpu_per_s'], 2)} "
            f"| {fmt(one['client_cpu_per_s'], 2)} / {fmt(two['client_cpu_per_s'], 2)} "
            f"| {fmt(one['busy'], 2)} / {fmt(two['busy'], 2)} |")
    return table


def goal_for(workload):
    # Labels look like "randread 4k QD32" (plus " xN" for several sessions).
    parts = workload.split()
    if len(parts) != 3:
        return None
    return GOALS.get((parts[0], parts[1].lower()))


def main():
    results_path, doc_path = sys.argv[1], sys.argv[2]
    rows = read_rows(results_path)
    scaling_rows = read_rows(sys.argv[3]) if len(sys.argv) > 3 else []
    add_rates(rows)
    add_rates(scaling_rows)
    workloads = list(dict.fromkeys(r["workload"] for r in rows))

    table = [
        "| workload | targed IOPS | tgt IOPS | IOPS × | targed MiB/s | tgt MiB/s | MiB/s × "
        "| p99 µs targed / tgt | CPU-µs per I/O targed / tgt | CPU/IO × | daemon CPU-s/s targed / tgt "
        "| client CPU-s/s targed / tgt | goal | met |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for w in workloads:
        med = {}
        notes = []
        for t in TARGETS:
            runs = [r for r in rows if r["workload"] == w and r["target"] == t]
            ok = [r for r in runs if "failed" not in r]
            if problems(runs):
                notes.append(f"{t}: {problems(runs)}")
            med[t] = {k: median_of(ok, k) for k in
                      ("iops", "mib_s", "lat_p99_us", "daemon_cpu_us_per_io", "daemon_cpu_per_s",
                       "client_cpu_per_s")}
            med[t]["n"] = len(ok)
        a, b = med["targed"], med["tgt"]
        iops_x = ratio(a["iops"], b["iops"])
        mib_x = ratio(a["mib_s"], b["mib_s"])
        cpu_x = ratio(a["daemon_cpu_us_per_io"], b["daemon_cpu_us_per_io"])
        goal = goal_for(w)
        goal_text, met = "—", "—"
        if goal:
            metric, min_x, max_cpu_x = goal
            got = iops_x if metric == "iops" else mib_x
            goal_text = f"≥{min_x}x {'IOPS' if metric == 'iops' else 'MiB/s'}"
            ok = got is not None and got >= min_x
            if max_cpu_x is not None:
                goal_text += f", CPU/IO ≤{max_cpu_x}x"
                ok = ok and cpu_x is not None and cpu_x <= max_cpu_x
            met = "yes" if ok else "no"
        if notes:
            met += " (" + "; ".join(notes) + ")"
        table.append(
            f"| {w} | {fmt(a['iops'])} | {fmt(b['iops'])} | {fmt_ratio(iops_x)} "
            f"| {fmt(a['mib_s'], 1)} | {fmt(b['mib_s'], 1)} | {fmt_ratio(mib_x)} "
            f"| {fmt(a['lat_p99_us'])} / {fmt(b['lat_p99_us'])} "
            f"| {fmt(a['daemon_cpu_us_per_io'], 2)} / {fmt(b['daemon_cpu_us_per_io'], 2)} | {fmt_ratio(cpu_x)} "
            f"| {fmt(a['daemon_cpu_per_s'], 2)} / {fmt(b['daemon_cpu_per_s'], 2)} "
            f"| {fmt(a['client_cpu_per_s'], 2)} / {fmt(b['client_cpu_per_s'], 2)} "
            f"| {goal_text} | {met} |")

    env = os.environ.get
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh("git", "-C", root, "rev-parse", "--short", "HEAD")
    if sh("git", "-C", root, "status", "--porcelain", "--untracked-files=no"):
        commit += " + uncommitted changes"
    threads = env("BENCH_IO_THREADS") or "default"
    machine = [
        f"- date: {env('BENCH_STARTED', '?')}; targe {commit or '?'}",
        f"- machine: kernel {platform.release()}, {os.cpu_count()} CPUs ({cpu_model()}), "
        f"load average before/after {env('BENCH_LOAD_BEFORE', '?')} / {env('BENCH_LOAD_AFTER', '?')}",
        (f"- versions: tgt {sh('dpkg-query', '-W', '-f=${Version}', 'tgt') or '?'}, "
         f"libiscsi {sh('dpkg-query', '-W', '-f=${Version}', 'libiscsi7') or '?'}; targed io_threads: {threads}"
         if rows else f"- versions: libiscsi {sh('dpkg-query', '-W', '-f=${Version}', 'libiscsi7') or '?'}"),
        f"- command: `{env('BENCH_COMMAND', 'bench/run.sh')}` (what `make bench` runs, with these settings)",
    ]
    if rows:
        machine += [
            f"- client per run: `{env('BENCH_CLIENT', '?')}`",
            f"- tgt: `{env('BENCH_TGT_SETUP', '?')}`; targed: file backend, same data, LUN 0",
        ]
    if scaling_rows:
        machine.append(f"- scaling: targed alone, restarted with global.io_threads = 1 and 2 in turn; "
                       f"client per run: `{env('BENCH_SCALING_CLIENT', '?')}`")
    if env("BENCH_NOTE"):
        machine.append(f"- note: {env('BENCH_NOTE')}")
    scaling = scaling_table(scaling_rows) if scaling_rows else []
    # What nproc prints: the CPUs this process may run on, the ones client and daemon share.
    cpus = len(os.sched_getaffinity(0))
    scaling_text = (f"I/O thread scaling: medians of the rounds; ratio = io_threads=2 ÷ io_threads=1; "
                    f"this machine has {cpus} CPUs (nproc), shared by daemon, client, loopback "
                    f"TCP and whatever else runs (see the load average): \"daemon + client\" near "
                    f"{cpus} means the machine, not targed, is the limit, and client CPU-s/s near "
                    f"the client's thread count means the client is.")

    print()
    print("\n".join(machine))
    if rows:
        print()
        print("medians (targed / tgt; × = targed ÷ tgt):")
        print("\n".join(table))
    if scaling:
        print()
        print(scaling_text)
        print("\n".join(scaling))

    if doc_path == "-":
        return 0
    if not os.path.exists(doc_path) or os.path.getsize(doc_path) == 0:
        with open(doc_path, "w") as f:
            f.write("# Performance\n\nMeasurements written by `make bench` (bench/run.sh).\n\n## Runs\n")
    title = "targed vs tgt on loopback" if rows else "targed I/O thread scaling on loopback"
    if rows and scaling_rows:
        title += ", and I/O thread scaling"
    section = ["", f"### {env('BENCH_STARTED', '?')}: {title}", "", *machine, ""]
    if rows:
        section += ["Medians of the rounds; × is targed ÷ tgt (for CPU per I/O, lower is better).",
                    "", *table, ""]
    if scaling:
        section += [scaling_text, "", *scaling, ""]
    section += [
        "<details><summary>every run, in the order they ran</summary>",
        "",
        *raw_table(rows + scaling_rows),
        "",
        "</details>",
        "",
    ]
    with open(doc_path, "a") as f:
        f.write("\n".join(section))
    print(f"\nbench: appended to {doc_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
