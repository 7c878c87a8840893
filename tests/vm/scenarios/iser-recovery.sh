#!/bin/bash
# Scenario: an iSER initiator that goes away mid-transfer (logout under load; the RDMA device removed under load) leaves targed alive with every registered buffer back, and the initiator's session comes back.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

rdma_check
make_disk 128
iscsid_start
target_start
iser_wait_portal
iser_iface
iser_discover

# wait_ios N: until N more I/Os have completed on $DISK since $ios0 (fio must still run)
wait_ios() {
	local i=0
	while [ $(($(disk_ios) - ios0)) -lt "$1" ]; do
		kill -0 "$fio_pid" 2>/dev/null || fail "fio ended early: $(grep -m1 -iE 'error|err=' "$SO/$fio_out")"
		i=$((i + 1)); [ $i -gt 300 ] && fail "fio completed only $(($(disk_ios) - ios0)) I/Os in 60 s"
		sleep 0.2
	done
}
stop_fio() {
	local i=0
	while kill -0 "$fio_pid" 2>/dev/null && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
	kill -9 "$fio_pid" 2>/dev/null
	wait "$fio_pid" 2>/dev/null
}

# 1. Logout with commands in flight, once per direction.
round=0
for workload in "--rw=randwrite --bs=4k --iodepth=32" "--rw=randread --bs=256k --iodepth=8"; do
	round=$((round + 1))
	iser_login
	step "round $round: fio $workload over iSER, logout under it"
	ios0=$(disk_ios)
	fio_out=fio-round$round.txt
	# shellcheck disable=SC2086
	fio --name=underio --filename="$DISK" --size=100M --direct=1 --ioengine=libaio $workload \
		--time_based --runtime=30 --output="$SO/$fio_out" &
	fio_pid=$!
	wait_ios 64
	log "$(($(disk_ios) - ios0)) I/Os done, $(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight") in flight at the logout"
	iser_logout
	stop_fio
	target_alive || fail "the target died when the initiator logged out under I/O (round $round)"
done

# 2. The RDMA device disappears under load: both ends lose it (one guest). targed must drop the
# connection and its commands, and give every registered buffer back: only then does it close
# the device. With the device back, the listener binds again and the initiator's recovery logs
# in; the session carries on.
iser_login
step "fio over iSER, then the RDMA device removed under it"
ios0=$(disk_ios)
fio_out=fio-removal.txt
fio --name=removal --filename="$DISK" --size=100M --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=64k --iodepth=16 --time_based --runtime=60 --output="$SO/$fio_out" &
fio_pid=$!
wait_ios 64
log "$(($(disk_ios) - ios0)) I/Os done, $(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight") in flight at the removal"
rdma link delete rxe0 || fail "cannot remove rxe0"
i=0
until grep -q 'rxe0: device closed' "$SO/target.log"; do
	i=$((i + 1)); [ $i -gt 75 ] && fail "targed did not let go of rxe0 within 15 s (buffers or connections still held)"
	target_alive || fail "targed died when the RDMA device went away"
	sleep 0.2
done
log "targed: $(grep -E 'connection closing|device closed|will listen again' "$SO/target.log" | tail -n 3 | tr '\n' ' ')"
rdma link add rxe0 type rxe netdev eth0 || fail "cannot add rxe0 back"
i=0
until grep -q 'listening on .* again' "$SO/target.log"; do
	i=$((i + 1)); [ $i -gt 75 ] && fail "targed did not listen again within 15 s of the device's return"
	sleep 0.2
done
logins=$(grep -c "logged in to $IQN over iser" "$SO/target.log")
step "waiting for the initiator's recovery"
i=0
until [ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ] &&
      timeout 10 iscsiadm -m session -P 3 2>/dev/null | grep -q 'iSCSI Session State: LOGGED_IN'; do
	i=$((i + 1)); [ $i -gt 150 ] && fail "the iSER session did not come back within 30 s of the device"
	sleep 0.2
done
log "session recovered: $(grep "over iser" "$SO/target.log" | tail -n 1)"
stop_fio
target_alive || fail "targed died during the recovery"

step "write and verify over the recovered session"
fio --name=after --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M --offset=100M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$SO/fio-after.txt" 2> "$SO/fio-after.err" ||
	fail "write+verify after the recovery failed: $(grep -m1 -iE 'verify|error' "$SO/fio-after.err" "$SO/fio-after.txt" | cut -d: -f2-)"
iser_logout
target_stop
log "PASS"
