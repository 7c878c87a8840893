#!/bin/bash
# Scenario: the RDMA device goes away under fio (rdma link delete rxe0): targed lets go of it without hanging the kernel, keeps serving iSCSI/TCP, listens again when the device is back, and exits 0 on SIGTERM.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

# rxe0 must exist again for whatever runs after this scenario in the same boot
rxe_restore() {
	[ -e /sys/class/infiniband/rxe0 ] || rdma link add rxe0 type rxe netdev eth0 2>/dev/null
	return 0
}
trap 'rc_=$?; srp_cleanup; rxe_restore; (exit $rc_); cleanup' EXIT

# an iSER portal too: every RDMA-CM listener of the daemon must release the device
SRP_EXTRA_TRANSPORTS='iser = { listen = [ "'$IP:$PORT'" ]; };'
make_disk 128
srp_target_start

srp_add
step "data written over SRP before the removal"
head -c $((8 << 20)) /dev/urandom > "$WORK/base"
dd if="$WORK/base" of="$DISK" bs=1M seek=16 oflag=direct status=none || fail "writing over SRP failed"
base_sum=$(sha256sum < "$WORK/base")

step "fio over both channels, then rdma link delete rxe0 under it"
fio --name=removal-load --filename="$DISK" --direct=1 --ioengine=libaio --rw=randrw --bs=4k-64k \
	--iodepth=16 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --size=8M \
	--offset=64M --offset_increment=16M --time_based --runtime=60 \
	--output="$SO/fio-removal.txt" > /dev/null 2> "$SO/fio-removal.err" &
loader=$!
i=0
until [ "$(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight")" -ge 4 ]; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "fio did not get going within 60 s"
	sleep 0.2
done
sleep 2
t0=$(date +%s.%N)
timeout 30 rdma link delete rxe0 2> "$WORK/rdma-del.err" &
deleter=$!
i=0
while kill -0 $deleter 2>/dev/null; do
	i=$((i + 1))
	if [ $i -eq 100 ]; then # 20 s: show where it waits
		log "rdma link delete still waits after 20 s; its kernel stack:"
		cat "/proc/$(pgrep -x rdma | head -n 1)/stack" 2>/dev/null
		log "targed's threads:"
		for t in /proc/"$(target_pid)"/task/*; do echo "$t: $(cat "$t/wchan" 2>/dev/null)"; done
	fi
	sleep 0.2
done
wait $deleter || fail "rdma link delete rxe0 failed or hung ($(cat "$WORK/rdma-del.err")): targed did not let go of the device"
log "rxe0 deleted after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
[ -e /sys/class/infiniband/rxe0 ] && fail "rxe0 still exists after rdma link delete"
target_alive || fail "targed died when the RDMA device went away: $(tail -n 3 "$SO/target.log")"
grep -q "RDMA device removed" "$SO/target.log" || fail "targed did not log the device removal"
wait $loader
log "fio ended (exit $?, expected to fail: its disk lost its path)"
srp_cleanup
i=0
while [ -n "$(srp_scsi_host)" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the SRP SCSI host remains 20 s after its device went away"
	sleep 0.2
done
DISK=""
i=0
until grep -q "rxe0: device closed" "$SO/target.log"; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "targed did not close the removed device within 10 s"
	sleep 0.2
done

step "iSCSI/TCP still serves the data written over SRP"
iscsid_start
discover
login
sum=$(dd if="$DISK" bs=1M skip=16 count=8 iflag=direct status=none | sha256sum)
[ "$sum" = "$base_sum" ] || fail "the data written over SRP before the removal reads back differently over iSCSI/TCP"
logout

step "rdma link add rxe0 again: targed listens again, ib_srp logs in again"
rdma link add rxe0 type rxe netdev eth0 || fail "cannot add rxe0 again"
i=0
until [ "$(grep -c "listening on $IP:$SRP_PORT again" "$SO/target.log")" -ge 1 ]; do
	i=$((i + 1)); [ $i -gt 75 ] && fail "targed did not listen on $IP:$SRP_PORT again within 15 s of the device's return"
	sleep 0.2
done
i=0
until [ -d "$SRP_HOST_DIR" ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "ib_srp did not attach to the new rxe0"; sleep 0.2
done
srp_add
sum=$(dd if="$DISK" bs=1M skip=16 count=8 iflag=direct status=none | sha256sum)
[ "$sum" = "$base_sum" ] || fail "the data reads back differently over SRP after the device's return"
srp_fio after-return --bs=4k --iodepth=8 --size=4M --offset=32M
srp_remove

target_stop
# expected: the removal itself, and the connections and commands it cut short
expect_no_warnings 'RDMA device removed|connection closing|aborted|failed: (WR flushed|transport retry)|will listen again|work requests never completed'
log "PASS"
