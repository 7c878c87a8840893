#!/usr/bin/env python3
"""Turns bench/run.sh's raw JSON lines into the medians-and-ratios table, printed and appended to docs/performance.md."""
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


def goal_for(workload):
    # Labels look like "randread 4k QD32" (plus " xN" for several sessions).
    parts = workload.split()
    if len(parts) != 3:
        return None
    return GOALS.get((parts[0], parts[1].lower()))


def main():
    results_path, doc_path = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
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
            ok = [r for r in rows if r["workload"] == w and r["target"] == t and "failed" not in r]
            bad = [r for r in rows if r["workload"] == w and r["target"] == t and
                   ("failed" in r or r.get("client_status") or r.get("errors"))]
            if bad:
                notes.append(f"{t}: {len(bad)} run(s) failed or had errors")
            for r in ok:
                secs = r.get("seconds") or 0
                if secs:
                    r["client_cpu_per_s"] = r["client_cpu_s"] / secs
                    if "daemon_cpu_s" in r:
                        r["daemon_cpu_per_s"] = r["daemon_cpu_s"] / secs
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
        f"- versions: tgt {sh('dpkg-query', '-W', '-f=${Version}', 'tgt') or '?'}, "
        f"libiscsi {sh('dpkg-query', '-W', '-f=${Version}', 'libiscsi7') or '?'}; targed io_threads: {threads}",
        f"- command: `{env('BENCH_COMMAND', 'bench/run.sh')}` (what `make bench` runs, with these settings)",
        f"- client per run: `{env('BENCH_CLIENT', '?')}`",
        f"- tgt: `{env('BENCH_TGT_SETUP', '?')}`; targed: file backend, same data, LUN 0",
    ]
    if env("BENCH_NOTE"):
        machine.append(f"- note: {env('BENCH_NOTE')}")

    print()
    print("\n".join(machine))
    print()
    print("medians (targed / tgt; × = targed ÷ tgt):")
    print("\n".join(table))

    if doc_path == "-":
        return 0
    if not os.path.exists(doc_path) or os.path.getsize(doc_path) == 0:
        with open(doc_path, "w") as f:
            f.write("# Performance\n\nMeasurements written by `make bench` (bench/run.sh).\n\n## Runs\n")
    section = [
        "",
        f"### {env('BENCH_STARTED', '?')}: targed vs tgt on loopback",
        "",
        *machine,
        "",
        "Medians of the rounds; × is targed ÷ tgt (for CPU per I/O, lower is better).",
        "",
        *table,
        "",
        "<details><summary>every run, in the order they ran</summary>",
        "",
        *raw,
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
