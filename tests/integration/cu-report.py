#!/usr/bin/env python3
"""Tabulates iscsi-test-cu results for docs/conformance.md from the outputs test_cu_suite.sh keeps.

Usage: TG_CU_RESULTS=DIR ctest -R 'integration\\.cu\\.' ; cu-report.py DIR [REFERENCE_DIR]
Each test of `iscsi-test-cu --list` counts once, from the first `run` line of cu-suites.txt that
runs it; later runs of the same test (another layout) are reported apart. REFERENCE_DIR holds
the same run against another target (TARGE_TEST_TARGET=tgt), shown in extra columns.
"""
import fnmatch
import os
import re
import subprocess
import sys


def parse_output(path):
    """{Suite.Test: ('pass'|'fail'|'skip', reason)} from one iscsi-test-cu output."""
    results, suite, test = {}, None, None
    for line in open(path, errors="replace"):
        m = re.match(r"^Suite: (\S+)", line)
        if m:
            suite = m.group(1)
            continue
        m = re.match(r"^  Test: (\S+)", line)
        if m:
            test = f"{suite}.{m.group(1)}"
            results.setdefault(test, ["pass", ""])
        if test is None:
            continue
        if "[SKIPPED]" in line and results[test][0] == "pass":
            results[test] = ["skip", line.split("[SKIPPED]", 1)[1].strip()]
        # CUnit's verdict ends the test's output: "passed", or "FAILED" (libiscsi's own
        # "[FAILED] ..." notes are about commands that were meant to fail).
        stripped = line.strip()
        if stripped == "FAILED" or stripped.endswith("...FAILED"):
            results[test] = ["fail", "FAILED"]
    return results


def load_runs(here):
    runs, reasons = [], {}
    for line in open(os.path.join(here, "cu-suites.txt")):
        line = line.split("#", 1)[0].strip()
        if line.startswith("run "):
            _, name, _, layout, patterns = line.split()
            runs.append((name, layout, patterns.split(",")))
        elif line.startswith(("skip ", "exclude ")):
            kind, pattern, reason = line.split(None, 2)
            reasons[pattern] = (kind, reason)
    return runs, reasons


def collect(results_dir, runs):
    """Each test's outcome from its first run, its layout, and the outcomes of later runs."""
    final, layout_of, reruns = {}, {}, []
    for name, layout, _ in runs:
        path = os.path.join(results_dir, f"{name}.out")
        if not os.path.exists(path):
            sys.exit(f"{path}: missing (run the cu ctests with TG_CU_RESULTS={results_dir})")
        for test, outcome in parse_output(path).items():
            if test in final:
                reruns.append((test, layout, outcome[0]))
                continue
            final[test] = outcome
            layout_of[test] = layout
    return final, layout_of, reruns


OUTCOMES = ("pass", "fail", "skip", "not run")


def count(final, members):
    counts = dict.fromkeys(OUTCOMES, 0)
    for t in members:
        counts[final.get(t, ["not run"])[0]] += 1
    return counts


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    runs, reasons = load_runs(here)
    listed = subprocess.run(["iscsi-test-cu", "--list"], capture_output=True, text=True).stdout
    tests = [l[4:] for l in listed.split() if re.match(r"^ALL\.\w+\.", l)]
    suites = list(dict.fromkeys(t.split(".")[0] for t in tests))
    final, layout_of, reruns = collect(sys.argv[1], runs)
    reference = collect(sys.argv[2], runs)[0] if len(sys.argv) > 2 else None

    def reason_for(test):
        for pattern, (kind, reason) in reasons.items():
            if fnmatch.fnmatchcase(test, pattern):
                return kind, reason
        return None, ""

    head = "| Suite | Tests | Passed | Failed | Skipped | Not run | Layout |"
    rule = "|---|---:|---:|---:|---:|---:|---|"
    if reference is not None:
        head += " Reference passed / failed / skipped |"
        rule += "---|"
    print(head)
    print(rule)
    total = dict.fromkeys(OUTCOMES, 0)
    ref_total = dict.fromkeys(OUTCOMES, 0)
    for suite in suites:
        members = [t for t in tests if t.split(".")[0] == suite]
        c = count(final, members)
        layouts = sorted({layout_of[t] for t in members if t in layout_of})
        row = (f"| {suite} | {len(members)} | {c['pass']} | {c['fail']} | {c['skip']} | "
               f"{c['not run']} | {', '.join(layouts)} |")
        for k in OUTCOMES:
            total[k] += c[k]
        if reference is not None:
            r = count(reference, members)
            for k in OUTCOMES:
                ref_total[k] += r[k]
            row += f" {r['pass']} / {r['fail']} / {r['skip']} |"
        print(row)
    row = (f"| **total** | **{len(tests)}** | **{total['pass']}** | **{total['fail']}** | "
           f"**{total['skip']}** | **{total['not run']}** | |")
    if reference is not None:
        row += f" **{ref_total['pass']} / {ref_total['fail']} / {ref_total['skip']}** |"
    print(row)
    print()
    print("| Test | Outcome | Why |")
    print("|---|---|---|")
    for t in tests:
        outcome, said = final.get(t, ["not run", ""])
        kind, reason = reason_for(t)
        if outcome == "skip":
            print(f"| {t} | skipped | {reason} (iscsi-test-cu: \"{said}\") |")
        elif outcome == "not run":
            print(f"| {t} | not run | {reason} |")
    if reruns:
        print()
        print(f"Reruns in other layouts: {len(reruns)} test runs, "
              f"{sum(r[2] == 'pass' for r in reruns)} passed, "
              f"{sum(r[2] == 'fail' for r in reruns)} failed, "
              f"{sum(r[2] == 'skip' for r in reruns)} skipped.")

main()
