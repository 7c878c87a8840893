#!/bin/bash
# Benchmark (not run by ctest): the Linux iscsi_tcp initiator against targed and LIO's iscsi_target_mod on the same tmpfs file in one guest boot; alternating rounds, fio medians, RESULT lines and per-thread CPU.
. "$(dirname "$0")/common.sh"

ROUNDS=${ISCSI_COMPARE_ROUNDS:-3}
FIO_RUNTIME=${ISCSI_COMPARE_RUNTIME:-8}
SIZE_MIB=256
TARGED_PORT=3260
LIO_PORT=3261
RESULTS=$SO/results.txt
: > "$RESULTS"

# label:fio-rw:bs:iodepth:unit; the first one is the issue's headline figure
WORKLOADS="randread-4k-qd32:randread:4k:32:IOPS read-1m-qd8:read:1m:8:MiB/s randwrite-4k-qd32:randwrite:4k:32:IOPS"

# The same file behind both targets (they never run I/O at the same time), filled so that
# nobody reads holes.
make_disk $SIZE_MIB
[ "$DISK_BACKEND" = file ] || fail "iscsi-compare measures the tmpfs file; run it without --fault"
dd if=/dev/urandom of="$DISK_IMG" bs=1M count=$SIZE_MIB conv=notrunc status=none || fail "cannot fill $DISK_IMG"

step "targed on $IP:$TARGED_PORT"
PORT=$TARGED_PORT
LAB_TARGET=targed
target_start
TARGED_PID=$(target_pid)

# LIO on a port of its own, so both stay configured and the rounds only log in and out. Its
# teardown is ours: common.sh's cleanup knows one target only.
step "LIO (iscsi_target_mod, fileio) on $IP:$LIO_PORT"
PORT=$LIO_PORT
lio_start
lio_teardown() { PORT=$LIO_PORT; lio_stop 2>/dev/null; PORT=$TARGED_PORT; }
trap 'rc=$?; lio_teardown; (exit $rc); cleanup' EXIT
PORT=$TARGED_PORT

iscsid_start
for p in $TARGED_PORT $LIO_PORT; do
	out=$(timeout 60 iscsiadm -m discovery -t st -p "$IP:$p" 2>&1)
	echo "$out" >> "$SO/initiator.log"
	echo "$out" | grep -q "^$IP:$p,[0-9]* $IQN\$" || fail "discovery at $IP:$p did not list $IQN (got: $(echo "$out" | tr '\n' ' '))"
	iadm -m node -T "$IQN" -p "$IP:$p" -o update -n node.session.timeo.replacement_timeout -v 15
done

who_port() { [ "$1" = targed ] && echo $TARGED_PORT || echo $LIO_PORT; }

session_login() { # session_login WHO: sets DISK
	local p; p=$(who_port "$1")
	iadm -m node -T "$IQN" -p "$IP:$p" --login || fail "login to $1 at $IP:$p failed"
	wait_session_disk "$1"
	[ "$(cat "/sys/block/${DISK#/dev/}/size")" -eq $((SIZE_MIB * 2048)) ] || fail "$1's disk $DISK has the wrong size"
}
session_logout() {
	local p; p=$(who_port "$1")
	iadm -m node -T "$IQN" -p "$IP:$p" --logout || fail "logout from $1 failed"
	local d=${DISK#/dev/} i=0
	while [ -e "/sys/block/$d" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	# each round must read from the file, not from pages the previous session left behind
	sync; echo 3 > /proc/sys/vm/drop_caches
}

bench_once() { # bench_once WHO ROUND
	local who=$1 r=$2 w label rw bs qd unit
	session_login "$who"
	log "$who round $r on $DISK"
	for w in $WORKLOADS; do
		IFS=: read -r label rw bs qd unit <<< "$w"
		fio_measure "$who-$label-$r" "$([ "$who" = targed ] && echo "$TARGED_PID" || echo none)" \
			"$rw" "$bs" "$qd" "$unit" --size=${SIZE_MIB}M
		fio_record "$who-$label"
	done
	session_logout "$who"
	target_alive || fail "targed died during $who's round $r"
}

for r in $(seq 1 "$ROUNDS"); do
	step "round $r of $ROUNDS"
	bench_once targed "$r"
	bench_once lio "$r"
done

step "results (median of $ROUNDS rounds, ${FIO_RUNTIME} s each)"
fio_result_lines iscsi_tcp "targed lio" "$WORKLOADS" | tee "$RESULTS"
cp "$RESULTS" "$SO/summary.txt"

target_stop
lio_teardown
log "PASS"
