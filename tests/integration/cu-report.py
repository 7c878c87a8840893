#!/usr/bin/env python3
"""Tabulates iscsi-test-cu results for docs/conformance.md from the outputs test_cu_suite.sh keeps.

Usage: TG_CU_RESULTS=DIR ctest -R 'integration\\.cu\\.' ; cu-report.py DIR
Each test of `iscsi-test-cu --list` counts once, from the first `run` line of cu-suites.txt that
runs it; later runs of the same test (another layout) are reported apart.
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


def main():
    results_dir = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    runs, reasons = [], {}
    for line in open(os.path.join(here, "cu-suites.txt")):
        line = line.split("#", 1)[0].strip()
        if line.startswith("run "):
            _, name, _, layout, patterns = line.split()
            runs.append((name, layout, patterns.split(",")))
        elif line.startswith(("skip ", "exclude ")):
            kind, pattern, reason = line.split(None, 2)
            reasons[pattern] = (kind, reason)
    listed = subprocess.run(["iscsi-test-cu", "--list"], capture_output=True, text=True).stdout
    tests = [l[4:] for l in listed.split() if re.match(r"^ALL\.\w+\.", l)]
    suites = list(dict.fromkeys(t.split(".")[0] for t in tests))

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

    def reason_for(test):
        for pattern, (kind, reason) in reasons.items():
            if fnmatch.fnmatchcase(test, pattern):
                return kind, reason
        return None, ""

    total = {"pass": 0, "fail": 0, "skip": 0, "not run": 0}
    print("| Suite | Tests | Passed | Failed | Skipped | Not run | Layout |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for suite in suites:
        counts = {"pass": 0, "fail": 0, "skip": 0, "not run": 0}
        layouts = set()
        members = [t for t in tests if t.split(".")[0] == suite]
        for t in members:
            outcome = final.get(t, ["not run", ""])[0]
            counts[outcome] += 1
            if t in layout_of:
                layouts.add(layout_of[t])
        for k in total:
            total[k] += counts[k]
        print(f"| {suite} | {len(members)} | {counts['pass']} | {counts['fail']} | "
              f"{counts['skip']} | {counts['not run']} | {', '.join(sorted(layouts))} |")
    print(f"| **total** | **{len(tests)}** | **{total['pass']}** | **{total['fail']}** | "
          f"**{total['skip']}** | **{total['not run']}** | |")
    print()
    print("| Test | Outcome | Reason |")
    print("|---|---|---|")
    for t in tests:
        outcome, said = final.get(t, ["not run", ""])
        kind, reason = reason_for(t)
        if outcome == "skip" or outcome == "not run" or kind:
            print(f"| {t} | {outcome} | {reason or said} (iscsi-test-cu: \"{said}\") |"
                  if outcome == "skip" else f"| {t} | {outcome} | {reason} |")
    if reruns:
        bad = [r for r in reruns if r[2] == "fail"]
        print()
        print(f"Reruns in other layouts: {len(reruns)} test runs, "
              f"{sum(r[2] == 'pass' for r in reruns)} passed, {len(bad)} failed, "
              f"{sum(r[2] == 'skip' for r in reruns)} skipped.")


main()
