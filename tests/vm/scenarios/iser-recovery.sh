#!/bin/bash
# Scenario: an iSER initiator that goes away mid-transfer (logout under load; a disconnect after its ping timed out) leaves targed alive with every registered buffer back, and its new login carries on.
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

# 2. The initiator gives up on a target that stopped answering (SIGSTOP for longer than its
# NOP-Out ping timeout): it disconnects with commands in flight and logs in again with the same
# ISID. When targed runs again it sees the old connection gone under its commands and the new
# login for the same initiator port, which reinstates the session; the I/O carries on.
iser_node_set node.session.timeo.replacement_timeout 30
iser_login
step "fio over iSER, targed frozen under it"
ios0=$(disk_ios)
logins=$(grep -c "logged in to $IQN over iser" "$SO/target.log")
fio_out=fio-frozen.txt
fio --name=frozen --filename="$DISK" --size=100M --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=64k --iodepth=16 --time_based --runtime=120 --output="$SO/$fio_out" &
fio_pid=$!
wait_ios 64
log "$(($(disk_ios) - ios0)) I/Os done, $(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight") in flight when targed stops"
kill -STOP "$(target_pid)"
i=0
until dmesg | grep -q 'ping timeout'; do
	i=$((i + 1)); [ $i -gt 150 ] && { kill -CONT "$(target_pid)"; fail "the initiator did not give up on the frozen target within 30 s"; }
	sleep 0.2
done
sleep 2
kill -CONT "$(target_pid)"
step "waiting for the initiator's new login"
i=0
until [ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ]; do
	i=$((i + 1)); [ $i -gt 150 ] && fail "the initiator did not log in again within 30 s"
	target_alive || fail "targed died after the initiator left"
	sleep 0.2
done
log "targed: $(grep -E 'reinstating|waiting for|disconnected by the peer|logged in to .* over iser' "$SO/target.log" | tail -n 4 | sed 's/^[0-9:.]* info *//' | tr '\n' ' ')"
ios1=$(disk_ios)
i=0
until [ $(($(disk_ios) - ios1)) -ge 32 ]; do
	i=$((i + 1)); [ $i -gt 150 ] && fail "no I/O completed within 30 s of the new login"
	sleep 0.2
done
log "I/O flows again: $(($(disk_ios) - ios1)) I/Os since the new login"
stop_fio

step "write and verify over the new session"
DISK=/dev/$(transport_disk iser)
fio --name=after --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M --offset=100M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$SO/fio-after.txt" 2> "$SO/fio-after.err" ||
	fail "write+verify after the new login failed: $(grep -m1 -iE 'verify|error' "$SO/fio-after.err" "$SO/fio-after.txt" | cut -d: -f2-)"

iser_logout
# Every session is gone: every registered data buffer must be back in the pool.
i=0
until grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | grep -q '(0 registered data buffers in use'; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "registered buffers not returned: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1)"
	sleep 0.2
done
log "targed: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | sed 's/.*iser *//')"
target_stop
log "PASS"
