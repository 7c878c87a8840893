# Helpers shared by the guest scenarios: start/stop/kill the target under test, drive open-iscsi, assert.
# shellcheck shell=bash
set -u

SO=${SCENARIO_OUT:?run scenarios through tests/vm/run-scenario}
NAME=$(basename "$0" .sh)
IP=10.0.2.15
PORT=3260
IQN=iqn.2026-11.org.targe:vm
WORK=/run/targe-lab
MNT=/run/targe-lab/mnt
mkdir -p "$WORK" "$MNT"
: > "$SO/initiator.log"

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
step() { log "== $*"; }
# fail MESSAGE: the verdict's one-line reason, shown first by run-scenario
fail() {
	echo "$*" > "$SO/reason"
	log "FAIL: $*"
	exit 1
}
track_pid() { echo "$1" >> "$WORK/pids"; }

# ---------------------------------------------------------------- the disk behind the target

# make_disk MIB: the target's LUN 0 backing store. With LAB_FAULT set it sits on dm-flakey, a
# device that loses or fails writes now and then: the way to prove a broken target fails here.
make_disk() {
	DISK_IMG=$WORK/disk0.img
	DISK_MIB=$1
	rm -f "$DISK_IMG"
	truncate -s "${1}M" "$DISK_IMG"
	DISK_PATH=$DISK_IMG
	DISK_BACKEND="file"
	case "${LAB_FAULT:-}" in
	"") return 0 ;;
	drop-writes|error-writes|flaky-writes) ;;
	*) fail "unknown LAB_FAULT ${LAB_FAULT}" ;;
	esac
	modprobe loop 2>/dev/null; modprobe dm_flakey || fail "cannot load dm_flakey for the fault knob"
	FAULT_LOOP=$(losetup --find --show "$DISK_IMG") || fail "losetup failed"
	# dm-flakey: "up" seconds of normal service, then "down" seconds of misbehaviour, repeated
	local up=0 down=1 feature=drop_writes
	case "$LAB_FAULT" in
	drop-writes) ;;                 # every write acknowledged and lost
	error-writes) feature=error_writes ;;   # every write fails
	flaky-writes) up=1 ;;           # writes lost during one second out of two
	esac
	echo "0 $((${1} * 2048)) flakey $FAULT_LOOP 0 $up $down 1 $feature" |
		DM_DISABLE_UDEV=1 dmsetup create targe-fault --noudevsync || fail "dmsetup create failed"
	DISK_PATH=/dev/mapper/targe-fault
	DISK_BACKEND=block
	log "fault injection: LUN 0 is $DISK_PATH ($LAB_FAULT over $FAULT_LOOP)"
}

remove_fault_disk() {
	[ -n "${FAULT_LOOP:-}" ] || return 0
	# the target's last close of the device may trail its exit by a moment
	local i=0
	until DM_DISABLE_UDEV=1 dmsetup remove --noudevsync targe-fault 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 20 ] && { log "cannot remove the fault device"; break; }; sleep 0.25
	done
	losetup -d "$FAULT_LOOP" 2>/dev/null
	FAULT_LOOP=""
}

# ---------------------------------------------------------------- the target under test

# TARGED_TARGET_BODY, TARGED_EXTRA_DEVICES, TARGED_EXTRA_TOP, TARGED_EXTRA_PORTALS (more
# transports.* lines) and TARGED_TRANSPORTS (the target's list) shape it per scenario;
# TARGED_IO_THREADS=N and TARGED_IO_THREAD_CPUS="0, 1" (a scenario's settings, or
# run-scenario's environment) set global.io_threads and global.io_thread_cpus.
write_targed_config() {
	local dev body=${TARGED_TARGET_BODY:-} transports=${TARGED_TRANSPORTS:-}
	# (a default inside ${...:-} would end at the first closing brace of the config text)
	[ -n "$body" ] || body='    luns = ( { lun = 0; device = "disk0"; } );'
	[ -n "$transports" ] || transports='"iscsi"'
	if [ "$DISK_BACKEND" = file ]; then
		dev="{ name = \"disk0\"; backend = \"file\"; path = \"$DISK_PATH\"; size = \"${DISK_MIB}M\"; block_size = 512; }"
	else
		dev="{ name = \"disk0\"; backend = \"block\"; path = \"$DISK_PATH\"; }"
	fi
	cat > "$WORK/targed.conf" <<EOF
global = {
  log_level = "${TARGED_LOG_LEVEL:-info}";
  control_socket = "$WORK/targed.sock";
  ${TARGED_IO_THREADS:+io_threads = $TARGED_IO_THREADS;}
  ${TARGED_IO_THREAD_CPUS:+io_thread_cpus = [ $TARGED_IO_THREAD_CPUS ];}
};
transports = {
  iscsi = { listen = [ "$IP:$PORT" ]; };${TARGED_EXTRA_PORTALS:-}
};
devices = ( $dev${TARGED_EXTRA_DEVICES:-} );
${TARGED_EXTRA_TOP:-}
targets = (
  { name = "$IQN";
    transports = [ $transports ];
$body
  }
);
EOF
	cp "$WORK/targed.conf" "$SO/targed.conf"
}

# wait_listening SECONDS: until something accepts on IP:PORT
wait_listening() {
	local i=0
	while [ $i -lt $(($1 * 5)) ]; do
		ss -Hltn "sport = :$PORT" | grep -q . && return 0
		target_alive || return 1
		sleep 0.2; i=$((i + 1))
	done
	return 1
}

target_pid() { cat "$WORK/target.pid" 2>/dev/null; }
target_alive() {
	case "$LAB_TARGET" in
	lio) [ -d "/sys/kernel/config/target/iscsi/$IQN" ] ;;
	*) local p; p=$(target_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null ;;
	esac
}

target_start() {
	step "start target ($LAB_TARGET) on $DISK_PATH"
	echo "==== $(date +%T) start" >> "$SO/target.log"
	case "$LAB_TARGET" in
	targed)
		write_targed_config
		"$LAB_TARGED" -c "$WORK/targed.conf" >> "$SO/target.log" 2>&1 &
		echo $! > "$WORK/target.pid"; track_pid $!
		wait_listening 20 || {
			target_alive && fail "targed did not listen on $IP:$PORT within 20 s"
			fail "targed exited at start: $(tail -n 1 "$SO/target.log")"
		}
		;;
	tgt)
		tgtd -f --iscsi "portal=$IP:$PORT" >> "$SO/target.log" 2>&1 &
		echo $! > "$WORK/target.pid"; track_pid $!
		wait_listening 20 || fail "tgtd did not listen on $IP:$PORT within 20 s"
		local a="--lld iscsi" tgt_flags=""
		# a block device (the fault knob's) is used without the page cache, as targed does by default
		[ "$DISK_BACKEND" = block ] && tgt_flags="--bsoflags direct"
		# tgtd's management socket appears a moment after the portal
		local i=0
		until tgtadm $a --mode target --op show > /dev/null 2>&1; do
			i=$((i + 1)); [ $i -gt 50 ] && fail "tgtadm cannot reach tgtd"; sleep 0.2
		done
		{ tgtadm $a --mode target --op new --tid 1 -T "$IQN" &&
		  tgtadm $a --mode logicalunit --op new --tid 1 --lun 1 -b "$DISK_PATH" $tgt_flags &&
		  tgtadm $a --mode target --op bind --tid 1 -I ALL; } >> "$SO/target.log" 2>&1 ||
			fail "tgtadm could not configure the target"
		if [ -n "${CHAP_USER:-}" ]; then
			{ tgtadm $a --mode account --op new --user "$CHAP_USER" --password "$CHAP_SECRET" &&
			  tgtadm $a --mode account --op bind --tid 1 --user "$CHAP_USER" &&
			  if [ -n "${CHAP_MUTUAL_USER:-}" ]; then
				tgtadm $a --mode account --op new --user "$CHAP_MUTUAL_USER" --password "$CHAP_MUTUAL_SECRET" &&
				tgtadm $a --mode account --op bind --tid 1 --user "$CHAP_MUTUAL_USER" --outgoing
			  fi; } >> "$SO/target.log" 2>&1 ||
				fail "tgtadm could not set up the CHAP accounts"
		fi
		;;
	lio)
		lio_start
		;;
	esac
	log "target up (pid $(target_pid))"
}

# target_stop: an orderly stop must finish within 15 s and, for targed, exit 0 (the contract)
target_stop() {
	step "stop target"
	case "$LAB_TARGET" in
	lio) lio_stop; return ;;
	esac
	local p rc i=0
	p=$(target_pid)
	[ -n "$p" ] || return 0
	if [ "$LAB_TARGET" = tgt ]; then
		# tgtd ignores SIGTERM while it has targets; its own way out is through tgtadm
		tgtadm --lld iscsi --mode target --op delete --force --tid 1 >> "$SO/target.log" 2>&1
		tgtadm --lld iscsi --mode system --op delete >> "$SO/target.log" 2>&1
	else
		kill -TERM "$p" 2>/dev/null
	fi
	while kill -0 "$p" 2>/dev/null && [ $i -lt 75 ]; do sleep 0.2; i=$((i + 1)); done
	if kill -0 "$p" 2>/dev/null; then
		kill -9 "$p"; wait "$p" 2>/dev/null; rm -f "$WORK/target.pid"
		fail "$LAB_TARGET did not exit within 15 s of SIGTERM"
	fi
	wait "$p" 2>/dev/null; rc=$?
	rm -f "$WORK/target.pid"
	[ "$LAB_TARGET" = targed ] && [ "$rc" -ne 0 ] && fail "targed exited $rc on SIGTERM (expected 0)"
	log "target stopped (exit $rc)"
}

target_kill9() {
	local p; p=$(target_pid)
	[ "$LAB_TARGET" = lio ] && fail "kill -9 needs a userspace target (LIO lives in the kernel)"
	step "kill -9 target (pid $p)"
	echo "==== $(date +%T) kill -9" >> "$SO/target.log"
	kill -9 "$p"
	wait "$p" 2>/dev/null
	rm -f "$WORK/target.pid"
}

# LIO through configfs: fileio (or iblock for the fault device) LUN 0 on the same portal
LIO=/sys/kernel/config/target
lio_start() {
	modprobe target_core_mod && modprobe target_core_file && modprobe target_core_iblock &&
		modprobe iscsi_target_mod || fail "cannot load the LIO modules"
	local hba=fileio_0 ctl="fd_dev_name=$DISK_PATH,fd_dev_size=$(stat -c %s "$DISK_IMG")"
	[ "$DISK_BACKEND" = block ] && { hba=iblock_0; ctl="udev_path=$DISK_PATH"; }
	local tp=$LIO/iscsi/$IQN/tpgt_1
	{ mkdir -p "$LIO/core/$hba/disk0" && echo "$ctl" > "$LIO/core/$hba/disk0/control" &&
	  echo 1 > "$LIO/core/$hba/disk0/enable" &&
	  mkdir -p "$tp/lun/lun_0" && ln -s "$LIO/core/$hba/disk0" "$tp/lun/lun_0/disk0" &&
	  mkdir "$tp/np/$IP:$PORT" &&
	  for a in generate_node_acls=1 cache_dynamic_acls=1 demo_mode_write_protect=0 authentication=0; do
		echo "${a#*=}" > "$tp/attrib/${a%=*}" || exit 1; done &&
	  echo 1 > "$tp/enable"; } >> "$SO/target.log" 2>&1 || fail "LIO configfs setup failed"
	echo "$hba" > "$WORK/lio.hba"
}
lio_stop() {
	local tp=$LIO/iscsi/$IQN/tpgt_1 hba
	hba=$(cat "$WORK/lio.hba" 2>/dev/null) || return 0
	echo 0 > "$tp/enable"
	rm -f "$tp/lun/lun_0/disk0"; rmdir "$tp/lun/lun_0" "$tp/np/$IP:$PORT" "$tp" "$LIO/iscsi/$IQN"
	rmdir "$LIO/core/$hba/disk0" "$LIO/core/$hba"
	rm -f "$WORK/lio.hba"
}

# ---------------------------------------------------------------- the Linux initiator

iadm() { # iscsiadm with a time limit, its output kept in initiator.log
	echo "\$ iscsiadm $*" >> "$SO/initiator.log"
	timeout 90 iscsiadm "$@" >> "$SO/initiator.log" 2>&1
}

iscsid_start() {
	step "start iscsid"
	mkdir -p /run/lock/iscsi
	# foreground with debug output so its messages end up in the scenario's logs; in a session of
	# its own because on SIGTERM it signals its whole process group, which would include us
	setsid iscsid -f -d "${ISCSID_DEBUG:-1}" >> "$SO/iscsid.log" 2>&1 &
	echo $! > "$WORK/iscsid.pid"; track_pid $!
	local i=0
	until iscsiadm -m session > /dev/null 2>&1 || [ $? -eq 21 ]; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "iscsid did not come up"; sleep 0.2
	done
}

# discover: SendTargets must list $IQN at $IP:$PORT
discover() {
	step "discovery"
	local out
	out=$(timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" 2>&1)
	echo "$out" | tee -a "$SO/initiator.log"
	echo "$out" | grep -q "^$IP:$PORT,[0-9]* $IQN\$" || fail "discovery at $IP:$PORT did not list $IQN (got: $(echo "$out" | tr '\n' ' '))"
	# a node that survived the guest's previous I/O errors must give up within 15 s, not 120
	iadm -m node -T "$IQN" -p "$IP:$PORT" -o update -n node.session.timeo.replacement_timeout -v "${REPLACEMENT_TIMEOUT:-15}"
}

session_disk() { # the sd device of LUN 0 (the only disk LUN) of our session, if attached
	timeout 20 iscsiadm -m session -P 3 2>/dev/null | awk '/Attached scsi disk/ {print $4; exit}'
}

# wait_session_disk WHAT: sets DISK=/dev/sdX once the session's LUN 0 disk is there with a size
wait_session_disk() {
	local i=0 d=""
	while [ $i -lt 100 ]; do
		d=$(session_disk)
		[ -n "$d" ] && [ -e "/dev/$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
		d=""; sleep 0.3; i=$((i + 1))
	done
	[ -n "$d" ] || fail "logged in to $1, but no SCSI disk appeared within 30 s"
	DISK=/dev/$d
}

# login: sets DISK=/dev/sdX once the LUN's disk is there and has a size
login() {
	step "login"
	iadm -m node -T "$IQN" -p "$IP:$PORT" --login ||
		fail "login to $IQN failed ($(grep -E '^iscsiadm: (initiator reported|Could not)' "$SO/initiator.log" | tail -n 1))"
	wait_session_disk "$IQN"
	log "LUN 0 is $DISK ($(($(cat "/sys/block/${DISK#/dev/}/size") / 2048)) MiB)"
}

logout() {
	step "logout"
	local d=${DISK#/dev/}
	iadm -m node -T "$IQN" -p "$IP:$PORT" --logout || fail "logout from $IQN failed"
	local i=0
	while [ -n "$d" ] && [ -e "/sys/block/$d" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	[ -n "$d" ] && [ -e "/sys/block/$d" ] && fail "$DISK still present 10 s after logout"
	DISK=""
	# what the next session reads must come from the target's backing store, not from pages the
	# target (or a file under it) still caches in this guest
	sync; echo 3 > /proc/sys/vm/drop_caches
}

disk_ios() { # reads + writes completed on $DISK so far
	awk '{print $1 + $5}' "/sys/block/${DISK#/dev/}/stat"
}

# ---------------------------------------------------------------- clean-up, whatever happened

cleanup() {
	local rc=$?
	set +e
	log "cleanup (scenario exit $rc)"
	mountpoint -q "$MNT" && umount -l "$MNT"
	# background workloads go first; the daemons are needed for an orderly logout
	local p daemons
	daemons=" $(target_pid) $(cat "$WORK/iscsid.pid" 2>/dev/null) "
	for p in $(jobs -p); do
		case "$daemons" in *" $p "*) ;; *) kill -9 "$p" 2>/dev/null ;; esac
	done
	if iscsiadm -m session > /dev/null 2>&1; then
		echo "\$ (cleanup) iscsiadm -m session -u" >> "$SO/initiator.log"
		timeout 30 iscsiadm -m session -u >> "$SO/initiator.log" 2>&1 ||
			log "cleanup: could not log out every session (the next scenario may see it)"
	fi
	if [ "$LAB_TARGET" = lio ]; then lio_stop 2>/dev/null
	elif target_alive; then kill -9 "$(target_pid)"; wait "$(target_pid)" 2>/dev/null; fi
	[ -s "$WORK/iscsid.pid" ] && kill "$(cat "$WORK/iscsid.pid")" 2>/dev/null
	remove_fault_disk
	# a target that logged a sanitizer report or a crash has failed even if the I/O looked fine
	if [ $rc -eq 0 ] && grep -qE 'ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:' "$SO/target.log" 2>/dev/null; then
		echo "the target log has a sanitizer report" > "$SO/reason"; rc=1
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

log "scenario $NAME against $LAB_TARGET${LAB_FAULT:+ (fault: $LAB_FAULT)}"

# Where the guest's CPU went during one fio run, by thread (what `top -H` would show), plus the
# whole guest's busy ticks: written next to the fio output, summed up in the RESULT line.
# Per CPU and per RDMA queue pair (packets sent, from the send PSN) too, since one CPU or one
# channel doing all the work is what limits large transfers under rxe.
cpu_snap() { # cpu_snap FILE
	python3 - "$1" <<'PY'
import glob, json, subprocess, sys
with open(sys.argv[1], "w") as out:
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if not w[0].startswith("cpu"):
                break
            v = [int(x) for x in w[1:]]
            name = "guest" if w[0] == "cpu" else w[0]
            out.write("%s %d %d %d\n" % (name, sum(v) - v[3] - v[4], v[3] + v[4], v[6] if len(v) > 6 else 0))
    try:
        qps = json.loads(subprocess.run(["rdma", "-j", "res", "show", "qp"], capture_output=True,
                                        text=True, timeout=5).stdout or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        qps = []
    for q in qps:
        if q.get("type") == "RC" and "sq-psn" in q:
            out.write("qp%s %s %d\n" % (q["lqpn"], q.get("comm", "?").strip("[]").replace(" ", "_"), q["sq-psn"]))
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
    g, t, cpus, qps = None, {}, {}, {}
    for line in open(p):
        w = line.split()
        if w[0] == "guest":
            g = (int(w[1]), int(w[2]), int(w[3]))
        elif w[0].startswith("cpu"):
            cpus[w[0]] = (int(w[1]), int(w[2]), int(w[3]))
        elif w[0].startswith("qp"):
            qps[w[0] + "(" + w[1] + ")"] = int(w[2])
        else:
            t[w[0]] = (w[1], w[2], int(w[3]), int(w[4]))
    return g, t, cpus, qps
(gb, tb, cb, qb), (ga, ta, ca, qa) = load(sys.argv[1]), load(sys.argv[2])
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
    for c in sorted(ca):
        b0 = cb.get(c, (0, 0, 0))
        out.write("%s: busy %d, idle+iowait %d, softirq %d\n" % (c, ca[c][0] - b0[0], ca[c][1] - b0[1], ca[c][2] - b0[2]))
    sent = {q: (qa[q] - qb[q]) % (1 << 24) for q in qa if q in qb and qa[q] != qb[q]}
    if sent:
        out.write("packets sent per queue pair: %s\n" % ", ".join("%s %d" % (q, sent[q]) for q in sorted(sent)))
    out.write("ticks user sys tid pid comm\n")
    for r in rows[:15]:
        out.write("%d %d %d %s %s %s\n" % r)
us = 1e6 / hz
print("%d %d %.0f %.0f" % (busy, dticks, busy * us / ios if ios else 0, dticks * us / ios if ios else 0))
PY
}

# guest_perf SECONDS NAME (with GUEST_PERF=1, else nothing): in the background, after a second of
# warm-up, a system-wide perf profile (cpu-clock: TCG has no PMU) of the next SECONDS, written as
# $SO/perf-NAME.txt by command, shared object and symbol. perf_wait waits for the last one.
guest_perf() {
	[ "${GUEST_PERF:-0}" = 1 ] || return 0
	command -v perf > /dev/null || { log "GUEST_PERF=1 but no perf here"; return 0; }
	echo -1 > /proc/sys/kernel/perf_event_paranoid
	echo 0 > /proc/sys/kernel/kptr_restrict
	(
		sleep 1
		perf record -q -a -e cpu-clock -F 499 -o "$WORK/perf-$2.data" -- sleep "$1" > "$SO/perf-$2.err" 2>&1 &&
			perf report -i "$WORK/perf-$2.data" --stdio --no-children --percent-limit 0.7 \
				--sort comm,dso,sym > "$SO/perf-$2.txt" 2>> "$SO/perf-$2.err"
		rm -f "$WORK/perf-$2.data"
	) &
	GUEST_PERF_PID=$!
}
perf_wait() { [ -z "${GUEST_PERF_PID:-}" ] || wait "$GUEST_PERF_PID"; GUEST_PERF_PID=""; }

# median of whitespace-separated numbers on stdin; csv: "a b c" -> "a,b,c"
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
csv() { echo "$1" | xargs | tr ' ' ','; }

# fio_measure LABEL-OF-RUN DAEMON_PID RW BS QD UNIT [fio options...]: one fio run on $DISK with the
# guest's CPU (and GUEST_PERF's profile) around it; sets FIO_VALUE (IOPS or MiB/s, by UNIT),
# FIO_GUEST_US and FIO_DAEMON_US (CPU microseconds per I/O: whole guest, DAEMON_PID's threads).
fio_measure() {
	local name=$1 daemon=$2 rw=$3 bs=$4 qd=$5 unit=$6 json vals ios cpu
	shift 6
	json=$SO/fio-$name.json
	cpu_snap "$WORK/cpu0"
	guest_perf $((FIO_RUNTIME - 2)) "$name"
	fio --name="$name" --filename="$DISK" --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --time_based --runtime="$FIO_RUNTIME" --output-format=json \
		--output="$json" "$@" || fail "fio $name failed"
	cpu_snap "$WORK/cpu1"
	perf_wait
	# (no process substitution: the guest has no /dev/fd)
	vals=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["write" if "write" in sys.argv[2] else "read"]
if j["error"] or d["total_ios"] == 0: sys.exit(1)
print(round(d["iops"]) if sys.argv[3] == "IOPS" else round(d["bw"] / 1024, 1), d["total_ios"])' "$json" "$rw" "$unit") ||
		fail "fio $name reported an error or no I/O ($json)"
	read -r FIO_VALUE ios <<< "$vals"
	cpu=$(cpu_diff "$WORK/cpu0" "$WORK/cpu1" "$ios" "$daemon" "$SO/cpu-$name.txt")
	FIO_GUEST_US=$(echo "$cpu" | cut -d' ' -f3)
	FIO_DAEMON_US=$(echo "$cpu" | cut -d' ' -f4)
	[ "$daemon" = none ] && FIO_DAEMON_US=-
	log "$name: $FIO_VALUE $unit; guest CPU $FIO_GUEST_US us/IO (the target daemon's threads $FIO_DAEMON_US)"
	log "$name: $(grep -E '^(cpu[0-9]|packets sent)' "$SO/cpu-$name.txt" | paste -sd ';')"
}

# fio_record KEY: keeps the last fio_measure's figures under KEY ("TARGET-WORKLOAD");
# fio_result_lines PATH "TARGET..." "LABEL:RW:BS:QD:UNIT...": one RESULT line per target and workload,
# medians of what was recorded (the format bench/guest.sh collects).
declare -A FIO_RUNS FIO_GUEST FIO_DAEMON
fio_record() {
	FIO_RUNS[$1]+="$FIO_VALUE "
	FIO_GUEST[$1]+="$FIO_GUEST_US "
	FIO_DAEMON[$1]+="$FIO_DAEMON_US "
}
fio_result_lines() {
	local path=$1 who w label unit k
	for w in $3; do
		IFS=: read -r label _ _ _ unit <<< "$w"
		for who in $2; do
			k=$who-$label
			echo "RESULT path=$path target=$who workload=$label unit=$unit" \
				"median=$(echo "${FIO_RUNS[$k]}" | median) runs=$(csv "${FIO_RUNS[$k]}")" \
				"guest_cpu_us_per_io=$(echo "${FIO_GUEST[$k]}" | median)" \
				"daemon_cpu_us_per_io=$(echo "${FIO_DAEMON[$k]}" | median)"
		done
	done
}
