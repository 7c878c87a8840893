#!/usr/bin/env bash
# `make bench-guest` (or `BENCH_GUEST=1 make bench`): fio through the guest's iscsi_tcp, ib_iser and ib_srp initiators against targed and LIO in one boot; per-path ratios into docs/performance.md.
#
# Environment (defaults in brackets):
#   BUILD                 build directory holding targed [build]
#   TARGED                the targed binary [$BUILD/targed]
#   BENCH_GUEST_PATHS     which paths, of iscsi_tcp iser srp [all three]
#   BENCH_GUEST_TIMEOUT   seconds each compare scenario may take in the guest [600]
#   BENCH_GUEST_OUT       where the guest's logs and raw fio JSON go [$BUILD/bench-guest]
#   BENCH_DOC             where the section is written [docs/performance.md]; "-" = nowhere
#   BENCH_NOTE            one line of free text added to the run
#   BENCH_GUEST_REPORT_ONLY=1  no guest: the table again from the last run in BENCH_GUEST_OUT
# The scenarios' own knobs (ISCSI_COMPARE_*, ISER_COMPARE_*, SRP_COMPARE_*: rounds, run time,
# srp-compare's targed configurations) pass through run-scenario to the guest; by default each
# scenario runs 3 rounds.
# A path that cannot run (the scenario fails, or leaves no result) makes this exit 1, after the
# table shows it as FAILED. Missed goals do not change the exit status.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TARGED=${TARGED:-$BUILD/targed}
BENCH_GUEST_PATHS=${BENCH_GUEST_PATHS:-iscsi_tcp iser srp}
BENCH_GUEST_TIMEOUT=${BENCH_GUEST_TIMEOUT:-600}
BENCH_GUEST_OUT=${BENCH_GUEST_OUT:-$BUILD/bench-guest}
BENCH_DOC=${BENCH_DOC:-$ROOT/docs/performance.md}
BENCH_NOTE=${BENCH_NOTE:-}

die() {
	echo "bench-guest: $*" >&2
	exit 1
}

[ -x "$TARGED" ] || die "no targed at $TARGED (build first: make build)"
command -v python3 >/dev/null || die "python3 missing"
scenarios=()
for p in $BENCH_GUEST_PATHS; do
	case "$p" in
	iscsi_tcp) scenarios+=(iscsi-compare) ;;
	iser) scenarios+=(iser-compare) ;;
	srp) scenarios+=(srp-compare) ;;
	*) die "unknown path $p in BENCH_GUEST_PATHS (iscsi_tcp, iser, srp)" ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || die "BENCH_GUEST_PATHS names no path"

mkdir -p "$BENCH_GUEST_OUT"
BENCH_GUEST_OUT=$(readlink -f "$BENCH_GUEST_OUT")
# run-scenario boots the guest once for all the scenarios named (one machine-wide guest lock)
cmd=("$ROOT/tests/vm/run-scenario" --targed "$TARGED" --timeout "$BENCH_GUEST_TIMEOUT"
	--out "$BENCH_GUEST_OUT" "${scenarios[@]}")
if [ "${BENCH_GUEST_REPORT_ONLY:-0}" = 1 ]; then
	# the table again from an earlier run's logs, with that run's date, load and exit status
	[ -s "$BENCH_GUEST_OUT/run.env" ] || die "no earlier run in $BENCH_GUEST_OUT (run.env missing)"
	. "$BENCH_GUEST_OUT/run.env"
else
	echo "bench-guest: ${cmd[*]}" >&2
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	REVISION=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)
	[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
		REVISION="$REVISION + uncommitted changes"
	STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
	"${cmd[@]}" 2>&1 | tee "$BENCH_GUEST_OUT/run-scenario.log"
	run_rc=${PIPESTATUS[0]}
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	printf 'STARTED=%q\nLOAD_BEFORE=%q\nLOAD_AFTER=%q\nrun_rc=%q\nREVISION=%q\n' "$STARTED" \
		"$LOAD_BEFORE" "$LOAD_AFTER" "$run_rc" "$REVISION" > "$BENCH_GUEST_OUT/run.env"
fi

COMMAND="BENCH_GUEST_PATHS='$BENCH_GUEST_PATHS' BENCH_GUEST_TIMEOUT=$BENCH_GUEST_TIMEOUT bench/guest.sh"
export BENCH_STARTED=$STARTED BENCH_REVISION=${REVISION:-?} BENCH_LOAD_BEFORE=$LOAD_BEFORE BENCH_LOAD_AFTER=$LOAD_AFTER \
	BENCH_COMMAND=$COMMAND BENCH_NOTE BENCH_RUN_RC=$run_rc BENCH_TARGED=${TARGED#"$ROOT"/}
python3 - "$ROOT" "$BENCH_GUEST_OUT" "$BENCH_DOC" "${scenarios[@]}" <<'PY'
import glob, os, platform, re, statistics, subprocess, sys

root, out, doc = sys.argv[1:4]
scenarios = sys.argv[4:]
env = os.environ.get
PATH_OF = {"iscsi-compare": "iscsi_tcp", "iser-compare": "iser", "srp-compare": "srp"}
LIO_NAME = {"iscsi_tcp": "LIO iscsi_target_mod", "iser": "LIO ib_isert", "srp": "LIO ib_srpt"}
WORKLOAD_TEXT = {"randread-4k-qd32": "4 KiB random read QD32", "read-1m-qd8": "1 MiB sequential read QD8",
                 "randwrite-4k-qd32": "4 KiB random write QD32"}


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def parse_result_lines(text):
    # The agreed format: RESULT path=P target=T workload=W unit=U median=M runs=a,b,c [key=value...]
    rows = []
    for line in text.splitlines():
        if line.startswith("RESULT "):
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    return rows


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


results, failures = [], {}
for sc in scenarios:
    path = PATH_OF[sc]
    d = os.path.join(out, sc)
    verdict = read(os.path.join(d, "verdict")).strip() or "no verdict"
    rows = parse_result_lines(read(os.path.join(d, "results.txt")))
    if verdict != "pass" or not rows:
        reason = read(os.path.join(d, "reason")).strip() or ("no result lines" if verdict == "pass" else verdict)
        failures[path] = f"{sc}: {verdict}: {reason}"
    results += rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, unit):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if unit == "IOPS" else f"{v:,.1f}"


# A scenario may measure targed in more than one configuration (srp-compare: "targed", the
# default, and "targed-pinned"); each gets its row against the same LIO runs.
CONFIG_TEXT = {"targed": "default", "targed-pinned": "one I/O thread pinned per CPU"}
table = ["| path | workload | targed configuration | targed | LIO | targed/LIO | goal | met | targed runs | LIO runs |",
         "|---|---|---|--:|--:|--:|---|---|---|---|"]
cpu_rows, tgt_rows = [], []
for sc in scenarios:
    path = PATH_OF[sc]
    if path in failures:
        table.append(f"| {path} | FAILED: {failures[path][:200]} | | | | | ≥ 1.0x | no | | |")
        continue
    by = {(r["target"], r["workload"]): r for r in results if r.get("path") == path}
    variants = sorted({r["target"] for r in results if r.get("path") == path and r["target"].startswith("targed")},
                      key=lambda v: (v != "targed", v))
    for wl in WORKLOAD_TEXT:
        l = by.get(("lio", wl))
        for v in variants:
            t = by.get((v, wl))
            if not t or not l:
                continue
            tv, lv = num(t["median"]), num(l["median"])
            ratio = tv / lv if tv is not None and lv else None
            met = "n/a" if ratio is None else ("yes" if ratio >= 1.0 else "no")
            unit = t.get("unit", "")
            table.append(f"| {path} | {WORKLOAD_TEXT[wl]}, {unit} | {CONFIG_TEXT.get(v, v)} | {fmt(tv, unit)} | "
                         f"{fmt(lv, unit)} | {'n/a' if ratio is None else f'{ratio:.2f}x'} | ≥ 1.0x | {met} | "
                         f"{t.get('runs', '').replace(',', ', ')} | {l.get('runs', '').replace(',', ', ')} |")
            if t.get("guest_cpu_us_per_io") and l.get("guest_cpu_us_per_io"):
                cpu_rows.append(f"| {path} | {WORKLOAD_TEXT[wl]} | {CONFIG_TEXT.get(v, v)} | {t['guest_cpu_us_per_io']} | "
                                f"{t.get('daemon_cpu_us_per_io', '-')} | {l['guest_cpu_us_per_io']} |")
        tg = by.get(("tgt", wl))
        if tg:
            tgt_rows.append(f"tgt ({path}) {WORKLOAD_TEXT[wl]}: {tg['median']} {unit} (runs {tg.get('runs', '')})")

commit = env("BENCH_REVISION", "?")
cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines() if l.startswith("model name")), "?")
boot = re.search(r"booting (\S+) \(([^,]*)", read(os.path.join(out, "run-scenario.log")))
meta = [
    f"- date: {env('BENCH_STARTED', '?')}; targe {commit or '?'}; targed `{env('BENCH_TARGED', '?')}`",
    f"- machine: kernel {platform.release()}, {os.cpu_count()} CPUs ({cpu}), load average before/after "
    f"{env('BENCH_LOAD_BEFORE', '?')} / {env('BENCH_LOAD_AFTER', '?')}",
    f"- guest: Debian kernel {boot.group(1) if boot else '?'}, {boot.group(2) if boot else '?'}, "
    f"{env('TARGE_VM_SMP', '2')} vCPUs, soft-RoCE (rxe0) over virtio-net; fio "
    f"{sh('fio', '--version') or '?'}, `--direct=1 --ioengine=libaio`",
    f"- command: `{env('BENCH_COMMAND', 'bench/guest.sh')}` (what `make bench-guest` runs); one boot: "
    f"`tests/vm/run-scenario --timeout ... {' '.join(scenarios)}`",
]
if env("BENCH_NOTE"):
    meta.append(f"- note: {env('BENCH_NOTE')}")

body = ["", *meta, "", "Medians of the rounds (each round: targed in each configuration measured, then LIO, in the same boot).", "", *table, ""]
if cpu_rows:
    body += ["Guest CPU per I/O (all guest CPUs, busy ticks ÷ I/Os, medians; lower is better):", "",
             "| path | workload | targed configuration | targed: whole guest µs/IO | targed's own threads µs/IO | LIO: whole guest µs/IO |",
             "|---|---|---|--:|--:|--:|", *cpu_rows, ""]
if tgt_rows:
    body += ["Also measured in the same boot: " + "; ".join(tgt_rows) + ".", ""]

print("\n".join(body))
if doc != "-":
    heading = "## Guest: targed vs LIO per path"
    text = read(doc)
    run = [f"### {env('BENCH_STARTED', '?')}: targed vs LIO in the TCG guest"] + body
    if heading not in text:
        intro = [
            "", heading, "",
            "`make bench-guest` (`bench/guest.sh`; also `BENCH_GUEST=1 make bench`, after the loopback",
            "comparison) boots the lab guest once and runs `iscsi-compare`, `iser-compare` and",
            "`srp-compare` there: fio through the Linux iscsi_tcp, ib_iser and ib_srp initiators against",
            "targed and against LIO's kernel target on the same path, on a file in the guest's tmpfs.",
            "The goal (issue 9) is targed ≥ LIO on each path. Under TCG on a shared machine only ratios",
            "within one boot mean anything, and even those move between boots: compare several runs.",
            "Raw fio JSON, per-thread CPU of every run (`cpu-*.txt`) and the logs stay in",
            "`$BUILD/bench-guest/<scenario>/`.",
            "",
        ]
        text = text.rstrip("\n") + "\n" + "\n".join(intro)
    # a run goes at the end of this section, before whatever section follows it
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    insert = "\n".join(run) + "\n"
    if nxt < 0:
        text = text.rstrip("\n") + "\n\n" + insert
    else:
        text = text[:nxt].rstrip("\n") + "\n\n" + insert + text[nxt:]
    with open(doc, "w") as f:
        f.write(text)
    print(f"bench-guest: wrote the run into {doc}", file=sys.stderr)
for p, why in failures.items():
    print(f"bench-guest: FAILED path {p}: {why}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
report_rc=$?
[ "$run_rc" -eq 0 ] || echo "bench-guest: run-scenario exited $run_rc (logs: $BENCH_GUEST_OUT)" >&2
[ "$report_rc" -eq 0 ] && [ "$run_rc" -eq 0 ] || exit 1
exit 0
