#!/bin/bash
# global.io_threads = 2: sessions spread over two loops run verified I/O at once, reinstate a session of the other loop, and see each other's task management and persistent reservations.
source "$(dirname "$0")/lib.sh"

tg_require_targed "global.io_threads"
ISCSI_LOAD=${ISCSI_LOAD:-$(dirname "$TARGED")/bench/iscsi-load}
[ -x "$ISCSI_LOAD" ] || tg_fail "no iscsi-load at $ISCSI_LOAD (set ISCSI_LOAD)"
TG_IO_THREADS=2
tg_start
grep -q "ready: .* 2 I/O thread(s)" "$TG_LOG" || tg_fail "no 'ready: ... 2 I/O thread(s)' line"
url=$(tg_url 0)

# 1. Four sessions of randomized verified writes and reads, and meanwhile a reinstatement: the
#    old session (A) and the login that replaces it (B) land on different loops, since the
#    connection of each goes to the loop with fewer connections.
mark=$(tg_log_mark)
"$ISCSI_LOAD" --url "$url" --rw randrw --verify --sessions 4 --qd 16 --duration 4 --ramp 0.5 \
	--size-limit 32M >"$TG_DIR/load.out" 2>&1 &
load=$!
sleep 1
# Placement follows the connection counts, which a logout lowers only once the target has
# closed that connection: a slow run (a sanitizer build) may put A and B on one loop. Every
# attempt must pass; it is repeated until one has crossed loops.
crossed=
for attempt in 1 2 3 4 5; do
	before=$(tg_log_mark)
	# (its blocks sit above the load's first 32 MiB, which the load rewrites all the while)
	python3 "$TG_INTEGRATION_DIR/reinstate.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" 0 $((40 << 11)) >"$TG_DIR/reinstate.out" 2>&1 ||
		{ cat "$TG_DIR/reinstate.out"; tg_fail "session reinstatement under load (attempt $attempt)"; }
	if tg_log_since "$before" | grep -q "reinstating session TSIH [0-9]* of iqn.2026-11.org.targe:reinstate (on another I/O thread)"; then
		crossed=$attempt
		break
	fi
done
[ -n "$crossed" ] || tg_fail "no reinstatement crossed loops (see the log)"
tg_log "reinstatement across loops on attempt $crossed"
rc=0
wait $load || rc=$?
cat "$TG_DIR/load.out"
[ $rc -eq 0 ] || tg_fail "iscsi-load --verify over 4 sessions failed (status $rc)"
grep -q "errors 0  verify mismatches 0" "$TG_DIR/load.out" || tg_fail "iscsi-load saw errors or mismatches"
tg_log_since "$mark" >"$TG_DIR/phase1.log"
for t in 1 2; do
	grep -q "connection from .* (I/O thread $t)" "$TG_DIR/phase1.log" || tg_fail "no connection went to I/O thread $t"
done
tg_assert_alive "after load and reinstatement"

# 2. Task management whose side effects reach a second session (LUN RESET, TARGET COLD RESET,
#    I_T NEXUS RESET, SPC-2 reservations): its two sessions sit on different loops.
mark=$(tg_log_mark)
python3 "$TG_INTEGRATION_DIR/tmf.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" 0 >"$TG_DIR/tmf.out" 2>&1 ||
	{ cat "$TG_DIR/tmf.out"; tg_fail "task management across loops"; }
tg_log_since "$mark" | grep -q "connection from .* (I/O thread 2)" || tg_fail "tmf.py never used I/O thread 2"

# 3. Persistent reservations between two initiators on different loops: registrations,
#    reservation conflicts, PREEMPT (AND ABORT), CLEAR (libiscsi's suites).
mark=$(tg_log_mark)
out=$TG_DIR/cu.out
timeout -k 5 120 iscsi-test-cu --dataloss \
	--test=ALL.PrinReadKeys,ALL.ProutRegister,ALL.ProutReserve,ALL.ProutClear,ALL.ProutPreempt \
	--initiator-name=iqn.2026-11.org.targe:cu-1 --initiator-name-2=iqn.2026-11.org.targe:cu-2 \
	"$url" >"$out" 2>&1 || true
sed -n '/^Suite:/,$p' "$out"
summary=$(grep -E '^ +tests +[0-9]' "$out") || tg_fail "no CUnit summary from iscsi-test-cu"
read -r _ total ran passed failed inactive <<<"$summary"
[ "$ran" -gt 10 ] || tg_fail "iscsi-test-cu ran only $ran tests"
[ "$failed" -eq 0 ] || tg_fail "$failed persistent reservation test(s) failed across loops"
! grep -q "\[SKIPPED\]" "$out" || tg_fail "a persistent reservation test was skipped"
tg_log_since "$mark" >"$TG_DIR/phase3.log"
grep -q "connection from .* (I/O thread 1)" "$TG_DIR/phase3.log" &&
	grep -q "connection from .* (I/O thread 2)" "$TG_DIR/phase3.log" ||
	tg_fail "the two initiators did not use both loops"

# 4. The harness stops the daemon with SIGTERM and requires exit status 0.
tg_assert_alive "at the end"
