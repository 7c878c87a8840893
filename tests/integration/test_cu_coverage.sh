#!/bin/bash
# cu-suites.txt runs (or names, with a reason, as excluded) every test of `iscsi-test-cu --list`, and docs/conformance.md accounts for every suite.
source "$(dirname "$0")/lib.sh"
tg_require_targed "checks targed's own suite list"

command -v iscsi-test-cu >/dev/null || tg_fail "iscsi-test-cu not installed (package libiscsi-bin)"
list=$TG_DIR/list
iscsi-test-cu --list >"$list"
python3 - "$list" "$TG_INTEGRATION_DIR/cu-suites.txt" "$TG_INTEGRATION_DIR/../../docs/conformance.md" <<'EOF'
import fnmatch
import re
import sys

list_path, suites_path, doc_path = sys.argv[1:]
tests = [l.strip()[len("ALL."):] for l in open(list_path) if re.match(r"^ALL\.\w+\.", l)]
suites = sorted({t.split(".")[0] for t in tests})
assert tests, "iscsi-test-cu --list gave no ALL.Suite.Test lines"

runs, skips, excludes = [], [], []
for n, line in enumerate(open(suites_path), 1):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    fields = line.split(None, 2)
    kind = fields[0]
    if kind == "run":
        f = line.split()
        if len(f) != 5:
            sys.exit(f"cu-suites.txt:{n}: expected 'run NAME SECONDS LAYOUT PATTERNS'")
        runs += [(n, p) for p in f[4].split(",")]
    elif kind in ("skip", "exclude"):
        if len(fields) < 3:
            sys.exit(f"cu-suites.txt:{n}: '{kind}' needs a pattern and a reason")
        (skips if kind == "skip" else excludes).append((n, fields[1]))
    else:
        sys.exit(f"cu-suites.txt:{n}: unknown line kind '{kind}'")

def matches(pattern, test):
    suite = test.split(".")[0]
    return fnmatch.fnmatchcase(test, pattern) or pattern == suite

problems = []
for n, p in runs + skips + excludes:
    if not any(matches(p, t) for t in tests):
        problems.append(f"cu-suites.txt:{n}: '{p}' matches no test of iscsi-test-cu --list")
for t in tests:
    run = any(matches(p, t) for _, p in runs)
    excluded = any(matches(p, t) for _, p in excludes)
    if not run and not excluded:
        problems.append(f"{t}: neither run nor excluded by cu-suites.txt")
    if run and excluded:
        problems.append(f"{t}: both run and excluded by cu-suites.txt")

doc = open(doc_path).read()
for s in suites:
    if not re.search(r"^\| *" + re.escape(s) + r" *\|", doc, re.M):
        problems.append(f"docs/conformance.md: no table row for suite {s}")
for _, p in excludes:
    if p not in doc:
        problems.append(f"docs/conformance.md: excluded '{p}' is not explained")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(tests)} tests in {len(suites)} suites: all run or excluded; "
      f"{len(excludes)} exclude and {len(skips)} skip line(s)")
EOF
