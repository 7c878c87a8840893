#!/bin/bash
# global.io_thread_cpus: the I/O threads (or, with one loop, the main thread) run on the CPUs listed, in order, and serve verified I/O there; a CPU the daemon may not use stops it with the file, line and key.
source "$(dirname "$0")/lib.sh"

tg_require_targed "global.io_thread_cpus"
ISCSI_LOAD=${ISCSI_LOAD:-$(dirname "$TARGED")/bench/iscsi-load}
[ -x "$ISCSI_LOAD" ] || tg_fail "no iscsi-load at $ISCSI_LOAD (set ISCSI_LOAD)"

# The CPUs this test may use, whatever the machine: the first and the last of them.
read -r first last < <(python3 -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[-1])')
mask_of() { awk '/^Cpus_allowed_list:/ {print $2}' "$1/status"; }
own_mask=$(mask_of /proc/$$)
thread_named() {
	local t
	for t in /proc/"$TG_PID"/task/*; do
		[ "$(cat "$t/comm")" = "$1" ] && { echo "$t"; return 0; }
	done
	tg_fail "targed has no thread named $1"
}
verified_load() { # verified_load SESSIONS: randomized verified writes and reads
	"$ISCSI_LOAD" --url "$(tg_url 0)" --rw randrw --verify --sessions "$1" --qd 8 --duration 1.5 \
		--ramp 0 --size-limit 16M >"$TG_DIR/load.out" 2>&1 || { cat "$TG_DIR/load.out"; tg_fail "iscsi-load --verify failed"; }
	grep -q "errors 0  verify mismatches 0" "$TG_DIR/load.out" || tg_fail "iscsi-load saw errors or mismatches"
}

# 1. Two I/O threads, listed last CPU first: thread 1 on the last, thread 2 on the first; the
#    main thread keeps the daemon's whole mask. Connections on both threads move verified data.
TG_IO_THREADS=2
TG_GLOBAL_EXTRA="io_thread_cpus = [ $last, $first ];"
tg_start
grep -q "I/O loops pinned to CPUs $last, $first (in thread order)" "$TG_LOG" || tg_fail "no 'pinned to CPUs' line"
[ "$(mask_of "$(thread_named targed-io1)")" = "$last" ] || tg_fail "targed-io1 runs on $(mask_of "$(thread_named targed-io1)"), not CPU $last"
[ "$(mask_of "$(thread_named targed-io2)")" = "$first" ] || tg_fail "targed-io2 runs on $(mask_of "$(thread_named targed-io2)"), not CPU $first"
[ "$(mask_of /proc/"$TG_PID")" = "$own_mask" ] || tg_fail "the main thread was pinned ($(mask_of /proc/"$TG_PID")) with io_threads = 2"
mark=$(tg_log_mark)
verified_load 2
for t in 1 2; do
	tg_log_since "$mark" | grep -q "connection from .* (I/O thread $t)" || tg_fail "no connection went to I/O thread $t"
done
tg_stop || exit 1

# 2. One loop: the main thread, which then does all I/O, runs on the first CPU listed.
TG_IO_THREADS=
TG_GLOBAL_EXTRA="io_thread_cpus = [ $last ];"
tg_start
[ "$(mask_of /proc/"$TG_PID")" = "$last" ] || tg_fail "with one loop the main thread runs on $(mask_of /proc/"$TG_PID"), not CPU $last"
verified_load 1
tg_stop || exit 1

# 3. A CPU outside the daemon's mask (here: it may only use the first CPU, and the list names
#    another one, or one that cannot exist on a machine with a single CPU): refused at load.
other=$last
[ "$other" != "$first" ] || other=100000
cat >"$TG_DIR/bad.conf" <<EOF
global = {
  io_thread_cpus = [ $first, $other ];
};
EOF
rc=0
taskset -c "$first" "$TARGED" -c "$TG_DIR/bad.conf" --check >"$TG_DIR/bad.out" 2>&1 || rc=$?
cat "$TG_DIR/bad.out"
[ $rc -eq 1 ] || tg_fail "--check exited $rc on a CPU it may not use (expected 1)"
grep -q "bad.conf:2: global.io_thread_cpus\[1\]: CPU $other is not one targed may run on here (allowed: $first)" "$TG_DIR/bad.out" ||
	tg_fail "the refusal does not name the file, line, key and CPU"
