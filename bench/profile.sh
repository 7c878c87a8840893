#!/usr/bin/env bash
# Profiles targed under an iscsi-load workload with perf (sampled CPU time) or callgrind (instruction counts) and prints the hot spots.
#
# usage: bench/profile.sh perf|callgrind [iscsi-load options...]   (default: --rw randread --bs 4k --qd 32)
# Environment: BUILD [build], PROFILE_SECONDS [perf 10, callgrind 5], PROFILE_SIZE [256M],
#   PROFILE_OUT (directory to keep perf.data / callgrind.out and the reports in) [a temp dir, kept].
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TARGED=${TARGED:-$BUILD/targed}
LOAD=${LOAD:-$BUILD/bench/iscsi-load}
MODE=${1:-}
shift || true
case "$MODE" in
perf) SECONDS_DEFAULT=10 ;;
callgrind) SECONDS_DEFAULT=5 ;;
*) echo "usage: $0 perf|callgrind [iscsi-load options]" >&2; exit 2 ;;
esac
PROFILE_SECONDS=${PROFILE_SECONDS:-$SECONDS_DEFAULT}
PROFILE_SIZE=${PROFILE_SIZE:-256M}
LOAD_ARGS=("$@")
[ ${#LOAD_ARGS[@]} -gt 0 ] || LOAD_ARGS=(--rw randread --bs 4k --qd 32)
OUT=${PROFILE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/targe-profile.XXXXXX")}
mkdir -p "$OUT"
IMG=$(mktemp /dev/shm/targe-profile.XXXXXX.img)
PID=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -f "$IMG"
}
trap cleanup EXIT

head -c "$(numfmt --from=iec "$PROFILE_SIZE")" /dev/urandom >"$IMG"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
IQN=iqn.2026-11.org.targe:profile
cat >"$OUT/targed.conf" <<EOF
global = { log_level = "warn"; control_socket = "$OUT/targed.sock"; };
transports = { iscsi = { listen = [ "127.0.0.1:$PORT" ]; }; };
devices = ( { name = "p0"; backend = "file"; path = "$IMG"; size = "$(numfmt --from=iec "$PROFILE_SIZE")"; } );
targets = ( { name = "$IQN"; luns = ( { lun = 0; device = "p0"; } ); } );
EOF

if [ "$MODE" = callgrind ]; then
	# Instruction counts only from the measured window: instrumentation starts switched off.
	setpriv --pdeathsig KILL -- valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$OUT/callgrind.out" "$TARGED" -c "$OUT/targed.conf" >"$OUT/targed.log" 2>&1 &
else
	setpriv --pdeathsig KILL -- "$TARGED" -c "$OUT/targed.conf" >"$OUT/targed.log" 2>&1 &
fi
PID=$!
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { cat "$OUT/targed.log" >&2; exit 1; }
	sleep 0.1
done

"$LOAD" --url "iscsi://127.0.0.1:$PORT/$IQN/0" "${LOAD_ARGS[@]}" --ramp 1 \
	--duration "$((PROFILE_SECONDS + 2))" --pid "$PID" >"$OUT/load.txt" 2>&1 &
LOAD_PID=$!
sleep 1.5
if [ "$MODE" = perf ]; then
	perf record -e cpu-clock -F 4000 --call-graph dwarf,16384 -p "$PID" -o "$OUT/perf.data" \
		-- sleep "$PROFILE_SECONDS" 2>"$OUT/perf-record.log"
else
	callgrind_control -i on "$PID" >/dev/null
	sleep "$PROFILE_SECONDS"
	callgrind_control -i off "$PID" >/dev/null
fi
wait "$LOAD_PID"
cat "$OUT/load.txt"
cleanup
PID=

if [ "$MODE" = perf ]; then
	perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio -g none --percent-limit 0.7 \
		2>/dev/null | grep -v '^$' >"$OUT/report-self.txt"
	perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none --percent-limit 3 \
		2>/dev/null | grep -v '^$' >"$OUT/report-children.txt"
	perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
		grep -v '^$' >"$OUT/report-dso.txt"
	echo "== self time by object"; grep -v '^#' "$OUT/report-dso.txt" | head -15
	echo "== self time by symbol"; grep -v '^#' "$OUT/report-self.txt" | head -60
	echo "== inclusive time by symbol"; grep -v '^#' "$OUT/report-children.txt" | head -60
else
	callgrind_annotate --inclusive=no "$OUT/callgrind.out" 2>/dev/null | head -60 >"$OUT/report-self.txt"
	callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | head -80 >"$OUT/report-inclusive.txt"
	echo "== instructions by function (self)"; cat "$OUT/report-self.txt"
	echo "== instructions by function (inclusive)"; cat "$OUT/report-inclusive.txt"
fi
echo "profile kept in $OUT" >&2
