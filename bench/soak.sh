#!/bin/bash
# Soak: many iSCSI sessions on loopback drive verified I/O at a tmpfs LUN; asserts nothing is lost, targed stays within its stated memory footprint and gives the memory back after logout.
#
# Environment (defaults in brackets):
#   SOAK_SESSIONS        sessions, each its own TCP connection [1000]
#   SOAK_DURATION        seconds of verified I/O in the first cycle [60]
#   SOAK_CYCLES          login / I/O / logout cycles; those after the first look for leaks [2]
#   SOAK_CYCLE_DURATION  seconds of I/O in the later cycles [5]
#   SOAK_QD              commands outstanding per session [4]
#   SOAK_BS              bytes per command [4K]
#   SOAK_SIZE            size of the tmpfs-backed LUN [256M]
#   SOAK_HOLD            seconds the sessions stay logged in and idle before and after the I/O [3]
#   SOAK_SELFCHECK       1: first show that the check catches writes lost behind the target [1]
#   SOAK_DOC             file to append the results to (make bench: docs/performance.md) [none]
#   BUILD                build directory holding targed and bench/ [build]
#   TARGED, ISCSI_LOAD, FOOTPRINT  the binaries themselves (ctest sets them)
#
# Each cycle runs `iscsi-load --rw randrw --verify`: every slot writes a block range of its own
# stamped with a new generation and reads it back, and after the timed part every block written
# is read once more and checked against its last write. Memory is the daemon's anonymous
# resident memory (/proc/PID/smaps_rollup "Anonymous"), sampled four times a second.
# The bounds come from bench/footprint (the model in docs/performance.md, "Memory").
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export TARGED=${TARGED:-$BUILD/targed}
ISCSI_LOAD=${ISCSI_LOAD:-$BUILD/bench/iscsi-load}
FOOTPRINT=${FOOTPRINT:-$BUILD/bench/footprint}
SOAK_SESSIONS=${SOAK_SESSIONS:-1000}
SOAK_DURATION=${SOAK_DURATION:-60}
SOAK_CYCLES=${SOAK_CYCLES:-2}
SOAK_CYCLE_DURATION=${SOAK_CYCLE_DURATION:-5}
SOAK_QD=${SOAK_QD:-4}
SOAK_BS=${SOAK_BS:-4K}
SOAK_SIZE=${SOAK_SIZE:-256M}
SOAK_HOLD=${SOAK_HOLD:-3}
SOAK_SELFCHECK=${SOAK_SELFCHECK:-1}
SOAK_DOC=${SOAK_DOC:-}
# The LUN's pages live in tmpfs, outside the daemon's memory; so do the config and the log.
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
# info: the daemon logs the heap it holds each time its last session is gone (core/mem.c).
export TG_LOG_LEVEL=${TG_LOG_LEVEL:-info}
source "$ROOT/tests/integration/lib.sh"

for bin in "$ISCSI_LOAD" "$FOOTPRINT"; do
	[ -x "$bin" ] || tg_fail "$bin is missing (build first: make build)"
done
tg_require_targed "the memory checks read targed's own footprint model"

# Every session is a socket in the daemon and another in the client.
need_fds=$((SOAK_SESSIONS + 64))
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
	ulimit -n "$need_fds" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
fi
[ "$(ulimit -n)" -ge "$need_fds" ] ||
	tg_fail "$SOAK_SESSIONS sessions need $need_fds descriptors; the limit is $(ulimit -n) (hard $(ulimit -Hn))"

eval "$("$FOOTPRINT" --shell)"
bs_bytes=$(tg_size_bytes "$SOAK_BS")
buf_bytes=$("$FOOTPRINT" --buffer "$bs_bytes")
# A 4 KiB..256 KiB randrw command queues one PDU each way at most twice (Data-In, response).
pdus_per_cmd=$((2 + bs_bytes / 262144))
cmd_bytes=$((buf_bytes + FP_CMD_FIXED + pdus_per_cmd * FP_PDU))
cache_bytes=$((FP_BUF_CACHE_PER_CLASS * buf_bytes))
[ "$cache_bytes" -le "$FP_BUF_CACHE" ] || cache_bytes=$FP_BUF_CACHE
# What glibc cannot give back: pages shared by live small blocks, arena bookkeeping.
allocator_slack=$((4 << 20))
outstanding=$((SOAK_SESSIONS * SOAK_QD))
# Freed transmit PDUs stay on the transport's free list at its high-water mark.
pdu_list_bytes=$((outstanding * pdus_per_cmd * FP_PDU))
retained_bytes=$((cache_bytes + pdu_list_bytes + FP_GLOBAL + allocator_slack))
# After every logout the allocator should hold the same for the daemon: its caches at their
# high-water marks, nothing per session. Allow for those marks to move a little.
leak_tolerance=$(((64 << 10) + SOAK_SESSIONS * 16))

tg_device soak0 "$SOAK_SIZE" 512
tg_lun "$TG_IQN" 0 soak0
tg_start
url=$(tg_url 0)
img=$TG_DIR/soak0.img
log_start=$(tg_log_mark)

# Anonymous, Rss and Pss of the daemon, KiB.
mem_kib() {
	awk '/^Anonymous:/ { a = $2 } /^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print a, r, p }' \
		"/proc/$TG_PID/smaps_rollup"
}
phase_of() { sed -n 's/^iscsi-load: phase //p' "$1" | tail -n 1; }
# KiB of heap in use the daemon last reported with no session left, since log offset $1.
heap_in_use() { tg_log_since "$1" | sed -n 's/.*no session left: heap in use \([0-9]*\) KiB.*/\1/p' | tail -n 1; }
json_field() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" "$1"; }

# The idle daemon, before any session: the baseline everything is measured from.
sleep 1
read -r idle0_anon idle0_rss idle0_pss < <(mem_kib)
tg_log "idle, no session: anonymous $idle0_anon KiB, RSS $idle0_rss KiB, PSS $idle0_pss KiB"

if [ "$SOAK_SELFCHECK" = 1 ]; then
	tg_log "self-check: writes lost behind the target's back must fail the verification"
	: >"$TG_DIR/selfcheck.err"
	"$ISCSI_LOAD" --url "$url" --rw randrw --verify --bs 4K --qd 4 --sessions 4 --duration 3 \
		--ramp 0 --seed 4242 --phases --json >"$TG_DIR/selfcheck.json" 2>"$TG_DIR/selfcheck.err" &
	cpid=$!
	deadline=$((SECONDS + 30))
	until [ "$(phase_of "$TG_DIR/selfcheck.err")" = io ]; do
		kill -0 "$cpid" 2>/dev/null || break
		[ $SECONDS -lt $deadline ] || tg_fail "self-check client never started its I/O"
		sleep 0.05
	done
	sleep 1
	# Zero the whole image: every block written so far is lost.
	dd if=/dev/zero of="$img" bs=1M count=$(($(stat -c %s "$img") >> 20)) conv=notrunc status=none
	crc=0
	wait "$cpid" || crc=$?
	mismatches=$(json_field "$TG_DIR/selfcheck.json" verify_mismatches)
	[ "$crc" = 1 ] && [ "${mismatches:-0}" -gt 0 ] || {
		cat "$TG_DIR/selfcheck.err" "$TG_DIR/selfcheck.json" >&2
		tg_fail "self-check: lost writes went unnoticed (client status $crc, mismatches ${mismatches:-none})"
	}
	tg_log "self-check: caught, $mismatches blocks reported lost (client status 1)"
	sleep 1
	read -r idle0_anon idle0_rss idle0_pss < <(mem_kib)
fi

summary=$TG_DIR/summary.txt
echo "no session: anonymous $idle0_anon KiB, RSS $idle0_rss KiB, PSS $idle0_pss KiB" >"$summary"
first_heap=
for cycle in $(seq 1 "$SOAK_CYCLES"); do
	duration=$SOAK_DURATION
	[ "$cycle" = 1 ] || duration=$SOAK_CYCLE_DURATION
	out=$TG_DIR/cycle$cycle.json
	err=$TG_DIR/cycle$cycle.err
	samples=$TG_DIR/cycle$cycle.samples
	: >"$samples"
	: >"$err"
	tg_log "cycle $cycle: $SOAK_SESSIONS sessions, randrw $SOAK_BS QD$SOAK_QD verified, ${duration}s of I/O"
	cycle_log=$(tg_log_mark)
	"$ISCSI_LOAD" --url "$url" --rw randrw --verify --bs "$SOAK_BS" --qd "$SOAK_QD" \
		--sessions "$SOAK_SESSIONS" --duration "$duration" --ramp 0 --seed $((1000 + cycle)) \
		--hold-before "$SOAK_HOLD" --hold-after "$SOAK_HOLD" --phases --pid "$TG_PID" --json \
		>"$out" 2>"$err" &
	cpid=$!
	started=$SECONDS
	while kill -0 "$cpid" 2>/dev/null; do
		tg_alive || { kill "$cpid" 2>/dev/null; tg_fail "targed died during cycle $cycle"; }
		phase=$(phase_of "$err")
		echo "$((SECONDS - started)) ${phase:-login} $(mem_kib)" >>"$samples"
		sleep 0.25
	done
	crc=0
	wait "$cpid" || crc=$?
	# Sessions are freed as their connections close; give the last ones a moment.
	sleep 1
	tg_assert_alive "after the logout of cycle $cycle"
	read -r after_anon after_rss after_pss < <(mem_kib)
	echo "$((SECONDS - started)) after-logout $after_anon $after_rss $after_pss" >>"$samples"
	heap=$(heap_in_use "$cycle_log")
	[ -n "$heap" ] || tg_fail "cycle $cycle: targed did not report its heap once the last session was gone"
	[ -n "$first_heap" ] || first_heap=$heap
	[ "$crc" = 0 ] || { cat "$err" "$out" >&2; tg_fail "cycle $cycle: iscsi-load exited with status $crc"; }

	python3 - "$out" "$samples" "$cycle" "$SOAK_SESSIONS" "$outstanding" "$idle0_anon" \
		"$FP_SESSION" "$cmd_bytes" "$cache_bytes" "$pdu_list_bytes" "$FP_GLOBAL" \
		"$allocator_slack" "$retained_bytes" "$heap" "$first_heap" "$leak_tolerance" >>"$summary" <<'PY' ||
import json, sys
(out, samples, cycle, sessions, outstanding, idle0, per_session, per_cmd, cache, pdu_list,
 fixed, slack, retained, heap, first_heap, leak_tol) = sys.argv[1:]
cycle, sessions, outstanding, idle0 = int(cycle), int(sessions), int(outstanding), int(idle0)
per_session, per_cmd, cache, pdu_list, fixed, slack, retained, leak_tol = (
    int(x) / 1024 for x in (per_session, per_cmd, cache, pdu_list, fixed, slack, retained, leak_tol))
heap, first_heap = int(heap), int(first_heap)
r = json.loads(open(out).read().strip().splitlines()[-1])
phases = {}
for line in open(samples):
    t, phase, anon, rss, pss = line.split()
    phases.setdefault(phase, []).append((int(anon), int(rss), int(pss)))
def peak(phase):
    return max(phases.get(phase, [(0, 0, 0)]))
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)

check(r["errors"] == 0, "%d I/O errors" % r["errors"])
check(r["verify_mismatches"] == 0, "%d blocks did not read back as written" % r["verify_mismatches"])
check(r["dead_sessions"] == 0, "%d sessions failed" % r["dead_sessions"])
check(r["logout_failures"] == 0, "%d logouts failed" % r["logout_failures"])
check(r["ios"] > 0 and r["verified_reads"] > 0, "no verified I/O was done")
check(r["final_check_reads"] > 0, "the final check read nothing back")

idle_n = peak("logged-in")[0]
load = peak("io")[0]
overall = max(a for v in phases.values() for a, _, _ in v)
after_io = peak("io-done")[0]
after = phases["after-logout"][-1][0]
bound_idle = idle0 + sessions * per_session
bound_peak = bound_idle + outstanding * per_cmd + cache + pdu_list + fixed + slack
bound_after = idle0 + retained
check("logged-in" in phases, "no sample while the sessions were idle (raise SOAK_HOLD)")
check(idle_n <= bound_idle, "idle with %d sessions: %d KiB > %d KiB (%.1f KiB per session stated)"
      % (sessions, idle_n, bound_idle, per_session))
check(overall <= bound_peak, "peak %d KiB > bound %d KiB" % (overall, bound_peak))
check(after <= bound_after, "after logout %d KiB > idle %d KiB + %d KiB retained caches"
      % (after, idle0, retained))
check(heap - first_heap <= leak_tol, "heap in use after logout %d KiB, %d KiB more than after "
      "cycle 1 (allowed %d): a leak" % (heap, heap - first_heap, leak_tol))

per = (idle_n - idle0) / sessions if sessions else 0
print("cycle %d: %d sessions, %s I/Os in %.1f s (%.0f IOPS), %d reads verified (%d in the final check), "
      "errors %d, mismatches %d, failed sessions %d, failed logouts %d"
      % (cycle, sessions, r["ios"], r["seconds"], r["iops"], r["verified_reads"],
         r["final_check_reads"], r["errors"], r["verify_mismatches"], r["dead_sessions"],
         r["logout_failures"]))
print("cycle %d: anonymous KiB: no session %d | %d idle sessions %d (%.1f per session, stated %.1f) | "
      "under load peak %d (bound %d) | idle after I/O %d | after logout %d (bound %d), "
      "heap in use %d" % (cycle, idle0, sessions, idle_n, per, per_session, load, bound_peak,
                          after_io, after, bound_after, heap))
def rss_pss(sample):
    return "%d/%d" % (sample[1], sample[2])
print("cycle %d: RSS/PSS KiB: %d idle sessions %s | under load peak %s | after logout %s"
      % (cycle, sessions, rss_pss(peak("logged-in")), rss_pss(peak("io")),
         rss_pss(phases["after-logout"][-1])))
for f in failures:
    print("cycle %d: FAIL: %s" % (cycle, f))
sys.exit(1 if failures else 0)
PY
	{ grep "^cycle $cycle:" "$summary" >&2; tg_fail "cycle $cycle: see above"; }
	grep "^cycle $cycle:" "$summary" >&2
done

if grep -E '^[0-9:.]+ (warn|error) ' <(tg_log_since "$log_start") >"$TG_DIR/warnings"; then
	head -n 20 "$TG_DIR/warnings" >&2
	tg_fail "targed logged $(wc -l <"$TG_DIR/warnings") warnings or errors during the soak"
fi
tg_stop || tg_fail "targed did not exit cleanly on SIGTERM"
tg_log "targed exited 0 on SIGTERM"

if [ -n "$SOAK_DOC" ]; then
	{
		echo
		echo "### $(date -u '+%Y-%m-%d %H:%M UTC'): soak, $SOAK_SESSIONS sessions"
		echo
		echo "- targe $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + uncommitted changes');" \
			"kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "- command: \`SOAK_SESSIONS=$SOAK_SESSIONS SOAK_DURATION=$SOAK_DURATION SOAK_CYCLES=$SOAK_CYCLES" \
			"SOAK_CYCLE_DURATION=$SOAK_CYCLE_DURATION SOAK_QD=$SOAK_QD SOAK_BS=$SOAK_BS SOAK_SIZE=$SOAK_SIZE bench/soak.sh\`"
		echo
		sed 's/^/    /' "$summary"
	} >>"$SOAK_DOC"
	tg_log "results appended to $SOAK_DOC"
fi
