#!/bin/bash
# Benchmark (not a test): fio 4 KiB random read QD32 and 1 MiB sequential read QD8 over iSER against targed, LIO (ib_isert) and tgt in one guest boot, alternating rounds, medians, RESULT lines and per-thread CPU.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

FIO_RUNTIME=${ISER_COMPARE_RUNTIME:-8}
ROUNDS=${ISER_COMPARE_ROUNDS:-3}
RESULTS=$SO/results.txt
: > "$RESULTS"

rdma_check
make_disk 256
# the same bytes behind every target: a file in the guest's tmpfs, filled (no holes to read)
dd if=/dev/zero of="$DISK_IMG" bs=1M count=256 conv=notrunc status=none || fail "cannot fill the image"
iscsid_start
INITIATOR=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)

# iser_node: the node record of the iser iface made by hand (the same for every target;
# discovery over iSER is not what is measured)
iser_node() {
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" -o new || fail "cannot create the iser node record"
	iser_node_set node.session.timeo.replacement_timeout 15
}

WORKLOADS="randread-4k-qd32:randread:4k:32:IOPS read-1m-qd8:read:1M:8:MiB/s"
# measure LABEL DAEMON_PID ROUND: one run of each workload on $DISK
measure() {
	local label=$1 daemon=$2 r=$3 w name rw bs qd unit
	for w in $WORKLOADS; do
		IFS=: read -r name rw bs qd unit <<< "$w"
		fio_measure "$label-$name-$r" "$daemon" $rw $bs $qd $unit --size=256M
		fio_record "$label-$name"
	done
}

session_login() {
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" --login || fail "iSER login to $1 failed"
	local i=0 d=""
	while [ $i -lt 100 ]; do
		d=$(transport_disk iser)
		[ -n "$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
		d=""; sleep 0.3; i=$((i + 1))
	done
	[ -n "$d" ] || fail "no disk over iSER from $1"
	DISK=/dev/$d
	log "$1 over iSER: $DISK"
}
session_logout() {
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" --logout || fail "logout from $1 failed"
	sleep 1
}

# Each round runs targed, LIO and tgt one after the other, so that a change in the host's load
# during the boot weighs on all three alike.
round_targed() {
	step "targed, round $1"
	LAB_TARGET=targed
	target_start
	iser_wait_portal
	[ "$1" = 1 ] && iser_node
	session_login targed
	measure targed "$(target_pid)" "$1"
	session_logout targed
	target_stop
}

round_lio() { # LIO with ib_isert on the same portal
	step "LIO (ib_isert), round $1"
	LAB_TARGET=lio
	modprobe ib_isert || fail "cannot load ib_isert"
	target_start
	echo 1 > "$LIO/iscsi/$IQN/tpgt_1/np/$IP:$PORT/iser" || fail "cannot enable iSER on the LIO portal"
	session_login LIO
	measure lio none "$1"
	session_logout LIO
	echo 0 > "$LIO/iscsi/$IQN/tpgt_1/np/$IP:$PORT/iser"
	target_stop
}

round_tgt() { # tgt's iSER driver (listens on port 3260 of every RDMA device)
	step "tgt (iser), round $1"
	LAB_TARGET=tgt
	tgtd -f --iscsi "portal=$IP:$PORT" >> "$SO/target.log" 2>&1 &
	echo $! > "$WORK/target.pid"; track_pid $!
	local i=0
	until tgtadm --lld iser --mode target --op show > /dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "tgtd has no iser driver (tgtadm --lld iser fails)"; sleep 0.2
	done
	{ tgtadm --lld iser --mode target --op new --tid 1 -T "$IQN" &&
	  tgtadm --lld iser --mode logicalunit --op new --tid 1 --lun 1 -b "$DISK_IMG" &&
	  tgtadm --lld iser --mode target --op bind --tid 1 -I ALL &&
	  tgtadm --lld iser --mode target --op bind --tid 1 --initiator-name "$INITIATOR"; } >> "$SO/target.log" 2>&1 ||
		fail "tgtadm could not configure the iser target"
	session_login tgt
	measure tgt "$(target_pid)" "$1"
	session_logout tgt
	tgtadm --lld iser --mode target --op delete --force --tid 1 >> "$SO/target.log" 2>&1
	tgtadm --lld iser --mode system --op delete >> "$SO/target.log" 2>&1
	kill "$(target_pid)" 2>/dev/null
	wait "$(target_pid)" 2>/dev/null
	rm -f "$WORK/target.pid"
}

for r in $(seq "$ROUNDS"); do
	round_targed "$r"
	round_lio "$r"
	round_tgt "$r"
done

fio_result_lines iser "targed lio tgt" "$WORKLOADS" | tee "$RESULTS"
cp "$RESULTS" "$SO/summary.txt"
log "PASS"
