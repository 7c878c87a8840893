#!/bin/bash
# Benchmark (not a test): fio 4 KiB random read QD32 and 1 MiB sequential read QD8 over iSER against targed, LIO (ib_isert) and tgt in one guest boot, median of 3 runs each.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

FIO_RT=${FIO_RT:-8}
REPS=${REPS:-3}
SUMMARY=$SO/summary.txt
: > "$SUMMARY"

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

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# measure LABEL: REPS runs of each workload on $DISK; one summary line per workload
measure() {
	local label=$1 r iops bw
	: > "$WORK/iops"; : > "$WORK/bw"
	for r in $(seq "$REPS"); do
		fio --name=rr --filename="$DISK" --direct=1 --ioengine=libaio --rw=randread --bs=4k \
			--iodepth=32 --size=256M --runtime="$FIO_RT" --time_based --output-format=json \
			--output="$SO/fio-$label-4k-$r.json" || fail "fio 4k against $label failed"
		fio --name=sr --filename="$DISK" --direct=1 --ioengine=libaio --rw=read --bs=1M \
			--iodepth=8 --size=256M --runtime="$FIO_RT" --time_based --output-format=json \
			--output="$SO/fio-$label-1m-$r.json" || fail "fio 1m against $label failed"
		python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"]))' \
			"$SO/fio-$label-4k-$r.json" >> "$WORK/iops"
		python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["jobs"][0]["read"]["bw"] / 1024, 1))' \
			"$SO/fio-$label-1m-$r.json" >> "$WORK/bw"
	done
	iops=$(median < "$WORK/iops")
	bw=$(median < "$WORK/bw")
	log "$label: 4k randread QD32 IOPS $(tr '\n' ' ' < "$WORK/iops")-> median $iops; 1M read QD8 MiB/s $(tr '\n' ' ' < "$WORK/bw")-> median $bw"
	echo "$label $iops $bw $(tr '\n' ',' < "$WORK/iops") $(tr '\n' ',' < "$WORK/bw")" >> "$SUMMARY"
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

# 1. targed
step "targed"
LAB_TARGET=targed
target_start
iser_wait_portal
iser_node
session_login targed
measure targed
session_logout targed
target_stop

# 2. LIO with ib_isert on the same portal
step "LIO (ib_isert)"
LAB_TARGET=lio
modprobe ib_isert || fail "cannot load ib_isert"
target_start
echo 1 > "$LIO/iscsi/$IQN/tpgt_1/np/$IP:$PORT/iser" || fail "cannot enable iSER on the LIO portal"
session_login LIO
measure lio
session_logout LIO
echo 0 > "$LIO/iscsi/$IQN/tpgt_1/np/$IP:$PORT/iser"
target_stop

# 3. tgt's iSER driver (listens on port 3260 of every RDMA device)
step "tgt (iser)"
LAB_TARGET=tgt
tgtd -f --iscsi "portal=$IP:$PORT" >> "$SO/target.log" 2>&1 &
echo $! > "$WORK/target.pid"; track_pid $!
i=0
until tgtadm --lld iser --mode target --op show > /dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "tgtd has no iser driver (tgtadm --lld iser fails)"; sleep 0.2
done
{ tgtadm --lld iser --mode target --op new --tid 1 -T "$IQN" &&
  tgtadm --lld iser --mode logicalunit --op new --tid 1 --lun 1 -b "$DISK_IMG" &&
  tgtadm --lld iser --mode target --op bind --tid 1 -I ALL &&
  tgtadm --lld iser --mode target --op bind --tid 1 --initiator-name "$INITIATOR"; } >> "$SO/target.log" 2>&1 ||
	fail "tgtadm could not configure the iser target"
session_login tgt
measure tgt
session_logout tgt
tgtadm --lld iser --mode target --op delete --force --tid 1 >> "$SO/target.log" 2>&1
tgtadm --lld iser --mode system --op delete >> "$SO/target.log" 2>&1
kill "$(target_pid)" 2>/dev/null
wait "$(target_pid)" 2>/dev/null
rm -f "$WORK/target.pid"

step "summary (label, median IOPS 4k randread QD32, median MiB/s 1M read QD8, runs)"
cat "$SUMMARY"
log "PASS"
