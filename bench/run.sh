#!/usr/bin/env bash
# `make bench`: targed against Debian's tgtd on loopback, same client and same tmpfs data, alternating runs, medians and ratios into docs/performance.md; then targed's I/O-thread scaling (io_threads 2 vs 1).
#
# Environment (defaults in brackets):
#   BUILD             build directory holding targed and bench/iscsi-load [build]
#   BENCH_DURATION    measured seconds per run [10]
#   BENCH_RAMP        seconds of load before each measurement [2]
#   BENCH_ROUNDS      A/B rounds per workload; the table shows medians [3]
#   BENCH_SIZE        size of the tmpfs-backed LUN (K/M/G) [1G]
#   BENCH_WORKLOADS   space-separated rw:bs:qd[:sessions]
#                     [randread:4k:32 read:1m:8 randwrite:4k:32 write:1m:8]
#   BENCH_IO_THREADS  targed's global.io_threads in the comparison (unset: targed's default)
#   BENCH_TGT=0       skip the comparison with tgt (e.g. to run only the scaling part)
#   BENCH_SCALING=0   skip the I/O-thread scaling part: after the comparison, targed alone with
#                     global.io_threads = 1 and 2 in alternating rounds, the same client for both
#   BENCH_SCALING_WORKLOADS        rw:bs:qd, as above [randread:4k:32 randwrite:4k:32]
#   BENCH_SCALING_SESSIONS         client sessions in the scaling part [4]
#   BENCH_SCALING_CLIENT_THREADS   client threads they are split over [2]
#   BENCH_DOC         where the results section is appended [docs/performance.md]; "-" = nowhere
#   BENCH_NOTE        one line of free text added to the section
#   BENCH_KEEP=1      keep the work directory (configs, logs, raw JSON)
#   BENCH_SOAK=1      afterwards, the 1000-session memory soak (bench/soak.sh; SOAK_* knobs)
# It measures and reports; missed targets do not change the exit status. Only a broken setup
# (missing binaries, a daemon that does not start) or a failed soak exits non-zero.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TARGED=${TARGED:-$BUILD/targed}
LOAD=${LOAD:-$BUILD/bench/iscsi-load}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_RAMP=${BENCH_RAMP:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SIZE=${BENCH_SIZE:-1G}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-randread:4k:32 read:1m:8 randwrite:4k:32 write:1m:8}
BENCH_IO_THREADS=${BENCH_IO_THREADS:-}
BENCH_TGT=${BENCH_TGT:-1}
BENCH_SCALING=${BENCH_SCALING:-1}
BENCH_SCALING_WORKLOADS=${BENCH_SCALING_WORKLOADS:-randread:4k:32 randwrite:4k:32}
BENCH_SCALING_SESSIONS=${BENCH_SCALING_SESSIONS:-4}
BENCH_SCALING_CLIENT_THREADS=${BENCH_SCALING_CLIENT_THREADS:-2}
BENCH_DOC=${BENCH_DOC:-$ROOT/docs/performance.md}
BENCH_NOTE=${BENCH_NOTE:-}
IQN=iqn.2026-11.org.targe:bench
HOST=127.0.0.1

die() {
	echo "bench: $*" >&2
	exit 1
}
say() { echo "bench: $*" >&2; }

[ -x "$TARGED" ] || die "no targed at $TARGED (build first: make build)"
[ -x "$LOAD" ] || die "no load generator at $LOAD (build first: make build)"
[ "$BENCH_TGT" = 0 ] || { command -v tgtd >/dev/null && command -v tgtadm >/dev/null; } ||
	die "tgtd/tgtadm missing (apt-get install tgt)"
[ "$BENCH_SCALING_CLIENT_THREADS" -ge 1 ] 2>/dev/null &&
	[ "$BENCH_SCALING_CLIENT_THREADS" -le "$BENCH_SCALING_SESSIONS" ] 2>/dev/null ||
	die "BENCH_SCALING_CLIENT_THREADS must be 1..BENCH_SCALING_SESSIONS"
command -v python3 >/dev/null || die "python3 missing"

size_bytes() {
	local s=${1^^}
	case "$s" in
	*K) echo $((${s%K} * 1024)) ;;
	*M) echo $((${s%M} * 1024 * 1024)) ;;
	*G) echo $((${s%G} * 1024 * 1024 * 1024)) ;;
	*) echo "$s" ;;
	esac
}
SIZE_BYTES=$(size_bytes "$BENCH_SIZE")
SHM=/dev/shm
copies=2
[ "$BENCH_TGT" != 0 ] || copies=1
need_kib=$((SIZE_BYTES / 1024 * copies + 65536))
free_kib=$(df -Pk "$SHM" | awk 'NR == 2 { print $4 }')
[ "$free_kib" -ge "$need_kib" ] || die "$SHM has ${free_kib} KiB free; $copies ${BENCH_SIZE} copies need ${need_kib} KiB"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/targe-bench.XXXXXX")
IMG_A=$(mktemp "$SHM/targe-bench-targed.XXXXXX.img")
IMG_B=
[ "$BENCH_TGT" = 0 ] || IMG_B=$(mktemp "$SHM/targe-bench-tgt.XXXXXX.img")
PID_A=
PID_B=
TGT_CONTROL=$((($$ % 32000) + 400)) # tgtd management channel; lib.sh uses +100 for tests

pick_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_accepts() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_port() { # port pid name
	local deadline=$((SECONDS + 15))
	until port_accepts "$1"; do
		kill -0 "$2" 2>/dev/null || die "$3 exited before listening on $HOST:$1 (log: $WORK/$3.log)"
		[ $SECONDS -lt $deadline ] || die "$3 not listening on $HOST:$1 after 15 s"
		sleep 0.05
	done
}

# targed on IMG_A with the given global.io_threads (empty: its default); sets PORT_A, PID_A and
# URL_A. Its config and log are $WORK/NAME.conf and .log (the log is appended to).
start_targed() { # io_threads name
	PORT_A=$(pick_port)
	{
		echo "# targed under make bench: one file device on tmpfs."
		echo "global = {"
		echo "  log_level      = \"warn\";"
		echo "  control_socket = \"$WORK/targed.sock\";"
		[ -z "$1" ] || echo "  io_threads     = $1;"
		echo "};"
		echo "transports = { iscsi = { listen = [ \"$HOST:$PORT_A\" ]; }; };"
		echo "devices = ( { name = \"bench0\"; backend = \"file\"; path = \"$IMG_A\"; size = \"$SIZE_BYTES\"; } );"
		echo "targets = ( { name = \"$IQN\"; luns = ( { lun = 0; device = \"bench0\"; } ); } );"
	} >"$WORK/$2.conf"
	setpriv --pdeathsig KILL -- "$TARGED" -c "$WORK/$2.conf" >>"$WORK/$2.log" 2>&1 &
	PID_A=$!
	wait_port "$PORT_A" "$PID_A" "$2"
	URL_A="iscsi://$HOST:$PORT_A/$IQN/0"
}

stop_targed() {
	if [ -n "$PID_A" ] && kill -0 "$PID_A" 2>/dev/null; then
		kill -TERM "$PID_A"
		for _ in $(seq 100); do kill -0 "$PID_A" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID_A" 2>/dev/null
		wait "$PID_A" 2>/dev/null
	fi
	PID_A=
}

stop_daemons() {
	stop_targed
	if [ -n "$PID_B" ] && kill -0 "$PID_B" 2>/dev/null; then
		# tgtd ignores SIGTERM; it shuts down through its management channel.
		tgtadm -C "$TGT_CONTROL" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1
		tgtadm -C "$TGT_CONTROL" --op delete --mode system >/dev/null 2>&1
		for _ in $(seq 100); do kill -0 "$PID_B" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID_B" 2>/dev/null
		wait "$PID_B" 2>/dev/null
	fi
	rm -f "/var/run/tgtd/socket.$TGT_CONTROL" "/var/run/tgtd/socket.$TGT_CONTROL.lock"
	PID_B=
}

cleanup() {
	stop_daemons
	rm -f "$IMG_A" ${IMG_B:+"$IMG_B"}
	if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Real pages, not holes: tmpfs reads of a hole cost less than reads of data and would flatter
# whoever happens to read more of them.
say "writing ${BENCH_SIZE} of random data to $IMG_A${IMG_B:+ and copying it to $IMG_B}"
head -c "$SIZE_BYTES" /dev/urandom >"$IMG_A" || die "cannot fill $IMG_A"
[ -z "$IMG_B" ] || cp "$IMG_A" "$IMG_B" || die "cannot copy to $IMG_B"

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
LOAD_REL=${LOAD#"$ROOT"/}
load_args() { # rw bs qd sessions [client-threads]
	echo "--rw $1 --bs $2 --qd $3 --sessions $4${5:+ --threads $5} --duration $BENCH_DURATION --ramp $BENCH_RAMP --size-limit $SIZE_BYTES"
}

run_one() { # target url pid workload-label rw bs qd sessions round [client-threads]; appends to $RESULTS
	local target=$1 url=$2 pid=$3 label=$4 round=$9 out rc
	if ! kill -0 "$pid" 2>/dev/null; then
		say "$target is no longer running; skipping $label round $round"
		echo "{\"target\":\"$target\",\"workload\":\"$label\",\"round\":$round,\"failed\":\"daemon not running\"}" >>"$RESULTS"
		return
	fi
	# shellcheck disable=SC2046
	out=$("$LOAD" --url "$url" $(load_args "$5" "$6" "$7" "$8" "${10:-}") --pid "$pid" --json \
		--label "$target" 2>"$WORK/client.err")
	rc=$?
	[ $rc -eq 0 ] || say "$target $label round $round: client exit status $rc: $(tr '\n' ' ' <"$WORK/client.err")"
	if [ -z "$out" ]; then
		echo "{\"target\":\"$target\",\"workload\":\"$label\",\"round\":$round,\"failed\":\"client exit status $rc\"}" >>"$RESULTS"
		return
	fi
	# A run with I/O errors still reports its numbers; the table marks it.
	python3 - "$out" "$target" "$label" "$round" "$rc" >>"$RESULTS" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
r.update(target=sys.argv[2], workload=sys.argv[3], round=int(sys.argv[4]), client_status=int(sys.argv[5]))
print(json.dumps(r))
print("bench: %-7s %-18s round %d: %9.0f IOPS %8.1f MiB/s  p99 %7.0f us  %s CPU-us/IO" % (
    r["target"], r["workload"], r["round"], r["iops"], r["mib_s"], r["lat_p99_us"],
    "%.2f" % r["daemon_cpu_us_per_io"] if "daemon_cpu_us_per_io" in r else "?"), file=sys.stderr)
PY
}

workload_label() { # rw bs qd sessions
	local label="$1 $2 QD$3"
	[ "$4" = 1 ] || label="$label x$4"
	echo "$label"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
if [ "$BENCH_TGT" != 0 ]; then
	start_targed "$BENCH_IO_THREADS" targed

	PORT_B=$(pick_port)
	setpriv --pdeathsig KILL -- tgtd -f -C "$TGT_CONTROL" --iscsi "portal=$HOST:$PORT_B" >"$WORK/tgt.log" 2>&1 &
	PID_B=$!
	wait_port "$PORT_B" "$PID_B" tgt
	tgtadm -C "$TGT_CONTROL" --lld iscsi --op new --mode target --tid 1 -T "$IQN" || die "tgtadm: new target"
	# tgt's LUN 0 is its controller; the disk is LUN 1 with the default (rdwr) backing store.
	tgtadm -C "$TGT_CONTROL" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$IMG_B" ||
		die "tgtadm: new logicalunit"
	tgtadm -C "$TGT_CONTROL" --lld iscsi --op bind --mode target --tid 1 -I ALL || die "tgtadm: bind"

	URL_B="iscsi://$HOST:$PORT_B/$IQN/1"
	say "targed pid $PID_A on $URL_A; tgtd pid $PID_B on $URL_B"

	for w in $BENCH_WORKLOADS; do
		IFS=: read -r rw bs qd sessions <<<"$w"
		sessions=${sessions:-1}
		label=$(workload_label "$rw" "$bs" "$qd" "$sessions")
		for round in $(seq 1 "$BENCH_ROUNDS"); do
			run_one targed "$URL_A" "$PID_A" "$label" "$rw" "$bs" "$qd" "$sessions" "$round"
			run_one tgt "$URL_B" "$PID_B" "$label" "$rw" "$bs" "$qd" "$sessions" "$round"
		done
	done
	stop_daemons
fi

# Issue 9's scaling target: io_threads = 2 against 1, one daemon at a time on the same data,
# restarted for every run so the configurations alternate (A B A B ...) under the same load.
SCALING_RESULTS=$WORK/scaling.jsonl
: >"$SCALING_RESULTS"
if [ "$BENCH_SCALING" != 0 ]; then
	COMPARE_RESULTS=$RESULTS
	RESULTS=$SCALING_RESULTS
	for w in $BENCH_SCALING_WORKLOADS; do
		IFS=: read -r rw bs qd _ <<<"$w"
		label=$(workload_label "$rw" "$bs" "$qd" "$BENCH_SCALING_SESSIONS")
		for round in $(seq 1 "$BENCH_ROUNDS"); do
			for io_threads in 1 2; do
				start_targed "$io_threads" "targed-io$io_threads"
				run_one "io_threads=$io_threads" "$URL_A" "$PID_A" "$label" "$rw" "$bs" "$qd" \
					"$BENCH_SCALING_SESSIONS" "$round" "$BENCH_SCALING_CLIENT_THREADS"
				stop_targed
			done
		done
	done
	RESULTS=$COMPARE_RESULTS
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

COMMAND="BENCH_DURATION=$BENCH_DURATION BENCH_RAMP=$BENCH_RAMP BENCH_ROUNDS=$BENCH_ROUNDS BENCH_SIZE=$BENCH_SIZE"
if [ "$BENCH_TGT" = 0 ]; then
	COMMAND="$COMMAND BENCH_TGT=0"
else
	[ -z "$BENCH_IO_THREADS" ] || COMMAND="$COMMAND BENCH_IO_THREADS=$BENCH_IO_THREADS"
	COMMAND="$COMMAND BENCH_WORKLOADS='$BENCH_WORKLOADS'"
fi
if [ "$BENCH_SCALING" = 0 ]; then
	COMMAND="$COMMAND BENCH_SCALING=0"
else
	COMMAND="$COMMAND BENCH_SCALING_WORKLOADS='$BENCH_SCALING_WORKLOADS'"
	COMMAND="$COMMAND BENCH_SCALING_SESSIONS=$BENCH_SCALING_SESSIONS BENCH_SCALING_CLIENT_THREADS=$BENCH_SCALING_CLIENT_THREADS"
fi
COMMAND="$COMMAND bench/run.sh"
export BENCH_STARTED=$STARTED BENCH_COMMAND=$COMMAND BENCH_LOAD_BEFORE=$LOAD_BEFORE \
	BENCH_LOAD_AFTER=$LOAD_AFTER BENCH_NOTE BENCH_IO_THREADS
export BENCH_CLIENT="$LOAD_REL --url iscsi://$HOST:PORT/$IQN/LUN $(load_args RW BS QD SESSIONS) --pid DAEMON_PID --json"
export BENCH_SCALING_CLIENT="$LOAD_REL --url iscsi://$HOST:PORT/$IQN/0 $(load_args RW BS QD "$BENCH_SCALING_SESSIONS" "$BENCH_SCALING_CLIENT_THREADS") --pid DAEMON_PID --json"
export BENCH_TGT_SETUP="tgtd -f --iscsi portal=$HOST:PORT; tgtadm --op new --mode logicalunit --tid 1 --lun 1 -b FILE (rdwr backing store)"
python3 "$ROOT/bench/report.py" "$RESULTS" "$BENCH_DOC" "$SCALING_RESULTS" ||
	say "report failed (raw results: $RESULTS $SCALING_RESULTS)"
if [ "${BENCH_KEEP:-0}" != 1 ]; then
	for log in "$WORK"/targed*.log; do
		[ ! -s "$log" ] || { say "${log##*/} logged:"; tail -n 20 "$log" >&2; }
	done
fi
if [ "${BENCH_SOAK:-0}" = 1 ]; then
	soak_doc=$BENCH_DOC
	[ "$soak_doc" != - ] || soak_doc=
	# Lost data, or memory beyond the stated model, is a defect rather than a missed target.
	BUILD=$BUILD TARGED=$TARGED ISCSI_LOAD=$LOAD SOAK_DOC=$soak_doc bash "$ROOT/bench/soak.sh" ||
		die "the memory soak failed"
fi
exit 0
