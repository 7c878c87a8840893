#!/bin/bash
# Scenario: fio verify over iSER with the target's data-path copy counter at 0 (no immediate data, InitialR2T=Yes) and exactly the immediate bytes with open-iscsi's defaults.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

rdma_check
make_disk 128
iscsid_start
target_start
iser_wait_portal
iser_iface
iser_discover

run_fio() {
	local label=$1; shift
	step "fio $label"
	fio --name="$label" --filename="$DISK" --direct=1 --ioengine=libaio \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_dump=1 --runtime=90 \
		--output="$SO/fio-$label.txt" "$@" 2> "$SO/fio-$label.err"
	local rc=$?
	cat "$SO/fio-$label.txt" "$SO/fio-$label.err"
	[ $rc -eq 0 ] || fail "fio $label failed (exit $rc): $(grep -m1 -iE 'verify|error|bad' "$SO/fio-$label.err" "$SO/fio-$label.txt" | cut -d: -f2-)"
	grep -q 'err= 0' "$SO/fio-$label.txt" || fail "fio $label reported errors"
}

# 1. Zero copy: every write byte comes by RDMA READ into the buffer the backend writes from,
# every read byte goes by RDMA WRITE from the buffer the backend read into. Aligned sizes
# from 4 KiB to 1 MiB, so both below and far above FirstBurstLength (8 KiB).
iser_node_set node.session.iscsi.InitialR2T Yes
iser_node_set node.session.iscsi.ImmediateData No
closes=$(iser_closes)
iser_login
grep -q "InitialR2T=Yes ImmediateData=No" "$SO/target.log" || fail "the session did not negotiate InitialR2T=Yes ImmediateData=No"
run_fio zc-small --rw=randwrite --bs=4k --iodepth=16 --size=8M --offset=0
run_fio zc-large --rw=randwrite --bsrange=4k-1m --iodepth=4 --size=24M --offset=8M
iser_logout
iser_conn_stats "$closes"
log "zero-copy session: $COPIES bytes copied, $RDMA_READ by RDMA READ, $RDMA_WRITE by RDMA WRITE"
[ "$COPIES" = 0 ] || fail "$COPIES bytes copied on the data path of an iSER session without immediate data (expected 0)"
[ "${RDMA_READ:-0}" -ge $((32 << 20)) ] || fail "only ${RDMA_READ:-0} bytes came by RDMA READ (fio wrote 32 MiB)"
[ "${RDMA_WRITE:-0}" -ge $((32 << 20)) ] || fail "only ${RDMA_WRITE:-0} bytes went by RDMA WRITE (fio verified 32 MiB)"

# 2. open-iscsi's defaults (ImmediateData=Yes, InitialR2T=No): a 4 KiB write travels whole
# in its command's SEND (FirstBurstLength and TargetRecvDataSegmentLength are 8 KiB) and is
# copied out of the receive buffer once: the counter must show exactly fio's write bytes.
iser_node_set node.session.iscsi.InitialR2T No
iser_node_set node.session.iscsi.ImmediateData Yes
closes=$(iser_closes)
iser_login
grep -q "InitialR2T=No ImmediateData=Yes" "$SO/target.log" || fail "the session did not negotiate ImmediateData=Yes"
run_fio imm-4k --rw=randwrite --bs=4k --iodepth=16 --size=4M --offset=64M
iser_logout
iser_conn_stats "$closes"
log "immediate-data session: $COPIES bytes copied, $RDMA_READ by RDMA READ"
[ "$COPIES" = $((4 << 20)) ] || fail "$COPIES bytes copied for 4 MiB of 4 KiB immediate-data writes (expected exactly 4194304)"
[ "$RDMA_READ" = 0 ] || fail "$RDMA_READ bytes came by RDMA READ though every write fitted its command's SEND"

target_stop
grep -E '^[0-9:.]+ (error)' "$SO/target.log" && fail "targed logged errors"
log "PASS"
