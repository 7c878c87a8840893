#!/bin/bash
# Benchmark (not run by ctest): the Linux iscsi_tcp initiator against targed and LIO's iscsi_target_mod on the same tmpfs file in one guest boot; alternating rounds, fio medians, RESULT lines and per-thread CPU.
. "$(dirname "$0")/common.sh"

ROUNDS=${ISCSI_COMPARE_ROUNDS:-3}
RUNTIME=${ISCSI_COMPARE_RUNTIME:-8}
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

# Where the guest's CPU went during one fio run, by thread (what `top -H` would show), plus the
# whole guest's busy ticks: written next to the fio output, summed up in the RESULT line.
cpu_snap() { # cpu_snap FILE
	python3 - "$1" <<'PY'
import glob, sys
with open(sys.argv[1], "w") as out:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    out.write("guest %d %d %d\n" % (sum(v) - v[3] - v[4], v[3] + v[4], v[6] if len(v) > 6 else 0))
    for path in glob.glob("/proc/[0-9]*/task/[0-9]*/stat"):
        try:
            s = open(path).read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
        f = s[s.rindex(")") + 2:].split()
        pid = path.split("/")[2]
        tid = path.split("/")[4]
        out.write("%s %s %s %d %d\n" % (tid, pid, comm, int(f[11]), int(f[12])))
PY
}
# cpu_diff BEFORE AFTER IOS DAEMON_PID: writes the top threads, prints "busy_ticks daemon_ticks
# guest_us_per_io daemon_us_per_io"
cpu_diff() {
	python3 - "$@" <<'PY'
import sys, os
hz = os.sysconf("SC_CLK_TCK")
def load(p):
    g, t = None, {}
    for line in open(p):
        w = line.split()
        if w[0] == "guest":
            g = (int(w[1]), int(w[2]), int(w[3]))
        else:
            t[w[0]] = (w[1], w[2], int(w[3]), int(w[4]))
    return g, t
(gb, tb), (ga, ta) = load(sys.argv[1]), load(sys.argv[2])
ios, daemon = float(sys.argv[3]), sys.argv[4]
busy, idle, soft = ga[0] - gb[0], ga[1] - gb[1], ga[2] - gb[2]
rows, dticks = [], 0
for tid, (pid, comm, u, s) in ta.items():
    u0, s0 = tb.get(tid, (pid, comm, 0, 0))[2:]
    du, ds = u - u0, s - s0
    if pid == daemon:
        dticks += du + ds
    if du + ds > 0:
        rows.append((du + ds, du, ds, tid, pid, comm))
rows.sort(reverse=True)
with open(sys.argv[5], "w") as out:
    out.write("guest: busy %d ticks, idle+iowait %d, of which softirq %d (%d ticks/s)\n" % (busy, idle, soft, hz))
    out.write("ticks user sys tid pid comm\n")
    for r in rows[:15]:
        out.write("%d %d %d %s %s %s\n" % r)
us = 1e6 / hz
print("%d %d %.0f %.0f" % (busy, dticks, busy * us / ios if ios else 0, dticks * us / ios if ios else 0))
PY
}

declare -A runs cpu_guest cpu_daemon
bench_once() { # bench_once WHO ROUND
	local who=$1 r=$2 w label rw bs qd unit json v ios cpu
	session_login "$who"
	log "$who round $r on $DISK"
	for w in $WORKLOADS; do
		IFS=: read -r label rw bs qd unit <<< "$w"
		json=$SO/fio-$who-$label-$r.json
		cpu_snap "$WORK/cpu0"
		fio --name="$label" --filename="$DISK" --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" \
			--iodepth="$qd" --size=${SIZE_MIB}M --time_based --runtime="$RUNTIME" \
			--output-format=json --output="$json" || fail "fio $label against $who failed"
		cpu_snap "$WORK/cpu1"
		# (no process substitution: the guest has no /dev/fd)
		vals=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["write" if "write" in sys.argv[2] else "read"]
if j["error"] or d["total_ios"] == 0: sys.exit(1)
print(round(d["iops"]) if sys.argv[3] == "IOPS" else round(d["bw"] / 1024, 1), d["total_ios"])' "$json" "$rw" "$unit") ||
			fail "fio $label against $who reported an error or no I/O ($json)"
		read -r v ios <<< "$vals"
		cpu=$(cpu_diff "$WORK/cpu0" "$WORK/cpu1" "$ios" "$([ "$who" = targed ] && echo "$TARGED_PID" || echo none)" \
			"$SO/cpu-$who-$label-$r.txt")
		runs[$who-$label]+="$v "
		cpu_guest[$who-$label]+="$(echo "$cpu" | cut -d' ' -f3) "
		cpu_daemon[$who-$label]+="$(echo "$cpu" | cut -d' ' -f4) "
		log "$who round $r $label: $v $unit; guest CPU $(echo "$cpu" | cut -d' ' -f3) us/IO (targed's threads $(echo "$cpu" | cut -d' ' -f4))"
	done
	session_logout "$who"
	target_alive || fail "targed died during $who's round $r"
}

for r in $(seq 1 "$ROUNDS"); do
	step "round $r of $ROUNDS"
	bench_once targed "$r"
	bench_once lio "$r"
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
csv() { echo "$1" | xargs | tr ' ' ','; }
step "results (median of $ROUNDS rounds, ${RUNTIME} s each)"
# One RESULT line per path, target and workload: the format bench/guest.sh collects.
for w in $WORKLOADS; do
	IFS=: read -r label rw bs qd unit <<< "$w"
	for who in targed lio; do
		echo "RESULT path=iscsi_tcp target=$who workload=$label unit=$unit" \
			"median=$(echo "${runs[$who-$label]}" | median) runs=$(csv "${runs[$who-$label]}")" \
			"guest_cpu_us_per_io=$(echo "${cpu_guest[$who-$label]}" | median)" \
			"daemon_cpu_us_per_io=$([ $who = targed ] && echo "${cpu_daemon[$who-$label]}" | median || echo -)"
	done
done | tee "$RESULTS"
cp "$RESULTS" "$SO/summary.txt"

target_stop
lio_teardown
log "PASS"
