#!/bin/bash
# Scenario: an iSER initiator that goes away mid-transfer (logout under load; a disconnect after its ping timed out, with targed's commands held in its backend) leaves targed alive, aborts what was in flight, returns every registered buffer, and its new login carries on.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

rdma_check
make_disk 128
hold_disk
# whatever happens, nothing stays held for the next scenario's sake
trap 'rc=$?; hold_set 0 > /dev/null 2>&1; (exit $rc); cleanup' EXIT
iscsid_start
target_start
iser_wait_portal
iser_iface
iser_discover

# wait_ios N: until N more I/Os have completed on $DISK since $ios0 (fio must still run)
wait_ios() {
	local i=0
	while [ $(($(disk_ios) - ios0)) -lt "$1" ]; do
		fio_running || fail "fio ended early: $(grep -m1 -iE 'error|err=' "$SO/$fio_out")"
		i=$((i + 1)); [ $i -gt 300 ] && fail "fio completed only $(($(disk_ios) - ios0)) I/Os in 60 s"
		sleep 0.2
	done
}
# fio_running: its main process has not exited (a zombie waiting for `wait` has)
fio_running() {
	local st
	st=$(cut -d')' -f2 "/proc/$fio_pid/stat" 2>/dev/null | cut -d' ' -f2)
	[ -n "$st" ] && [ "$st" != Z ]
}
# stop_fio [GRACE]: lets fio end by itself for GRACE tenths of a second (default 50), then
# stops it; fio's own SIGTERM handling ends its job processes too (SIGKILL on the main process
# alone would leave them writing); never an unbounded wait on I/O stuck in the kernel
stop_fio() {
	local i=0
	while fio_running && [ $i -lt $((${1:-50} / 2)) ]; do sleep 0.2; i=$((i + 1)); done
	fio_running && kill -TERM "$fio_pid" 2>/dev/null
	i=0
	while fio_running && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
	if fio_running; then
		pkill -9 -P "$fio_pid"; kill -9 "$fio_pid"
		fail "fio did not end within 30 s of SIGTERM: its I/O is stuck ($(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight" 2>/dev/null) in flight)"
	fi
	wait "$fio_pid" 2>/dev/null
}

# 1. Logout with commands in flight, once per direction.
round=0
for workload in "--rw=randwrite --bs=4k --iodepth=32" "--rw=randread --bs=64k --iodepth=16"; do
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
# NOP-Out ping timeout) and disconnects. Meanwhile targed's disk holds every I/O (dm-delay), so
# when targed runs again its connection is gone under commands still in its backend: they must
# end without an answer, and only once the disk lets them go may the old connection's buffers
# and work requests be released. The initiator logs in again with the same ISID; I/O carries on.
iser_node_set node.session.timeo.replacement_timeout 30
# a ping every 3 s, given up after 3 s: the initiator notices the frozen target within seconds
iser_node_set 'node.conn[0].timeo.noop_out_interval' 3
iser_node_set 'node.conn[0].timeo.noop_out_timeout' 3
iser_login
step "fio over iSER; the disk holds targed's I/O, then targed freezes"
ios0=$(disk_ios)
logins=$(grep -c "logged in to $IQN over iser" "$SO/target.log")
old_peer=$(grep "logged in to $IQN over iser" "$SO/target.log" | sed -n "${logins}p" | sed 's/^[0-9:.]* *[a-z]* *iscsi *\([0-9.:]*\): .*/\1/')
[ -n "$old_peer" ] || fail "cannot find the iSER session's connection in the target log"
fio_out=fio-frozen.txt
fio --name=frozen --filename="$DISK" --size=100M --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=64k --iodepth=16 --time_based --runtime=120 --output="$SO/$fio_out" &
fio_pid=$!
wait_ios 64
# longer than anything below takes: what is held is let go only by hold_io 0
hold_io 60000
i=0
until [ "$(held_ios)" -gt 0 ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "targed sent no I/O to its disk within 20 s of the hold (dm: $(dmsetup table targe-hold) / $(dmsetup status targe-hold))"
	sleep 0.2
done
sleep 0.5
log "$(($(disk_ios) - ios0)) I/Os done, $(held_ios) of targed's held by its disk, $(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight") in flight on the initiator when targed stops"
kill -STOP "$(target_pid)"
i=0
until dmesg | grep -q 'ping timeout'; do
	i=$((i + 1)); [ $i -gt 150 ] && { kill -CONT "$(target_pid)"; fail "the initiator did not give up on the frozen target within 30 s"; }
	sleep 0.2
done
sleep 2
kill -CONT "$(target_pid)"
step "targed runs again: its connection is gone"
i=0
until grep -q "iser .*$old_peer: connection closed" "$SO/target.log"; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "targed did not notice within 20 s that $old_peer had gone"
	target_alive || fail "targed died after the initiator left"
	sleep 0.2
done
closed=$(grep "iser .*$old_peer: connection closed" "$SO/target.log" | sed 's/.*closed: //')
log "targed: $closed"
unanswered=$(echo "$closed" | sed -n 's/.* \([0-9]*\) commands unanswered.*/\1/p')
[ "${unanswered:-0}" -gt 0 ] || fail "no command was in flight on the lost connection ($closed): nothing was aborted"
grep -q "iser .*$old_peer: RDMA resources released" "$SO/target.log" &&
	fail "the lost connection was released while its commands were still in the backend"
step "the disk lets the held I/O go"
# A new login of the same initiator port must wait until the old session's commands are out of
# the backend, or its writes could be overtaken by the old ones.
[ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ] &&
	fail "the initiator's new session started while its old commands were still held in the backend"
grep -q "waiting for the commands of .*previous session" "$SO/target.log" &&
	log "targed: $(grep -m1 "waiting for the commands of .*previous session" "$SO/target.log" | sed 's/.*iscsi *//')"
hold_io 0
i=0
until grep -q "iser .*$old_peer: RDMA resources released" "$SO/target.log"; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "the lost connection $old_peer was not released within 20 s of its commands' return: $(grep "$old_peer" "$SO/target.log" | tail -n 2 | tr '\n' ' ')"
	sleep 0.2
done
log "targed: $(grep "iser .*$old_peer: RDMA resources released" "$SO/target.log" | sed 's/.*iser *//')"
step "waiting for the initiator's new login"
i=0
until [ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ]; do
	i=$((i + 1)); [ $i -gt 150 ] && fail "the initiator did not log in again within 30 s"
	target_alive || fail "targed died after the initiator left"
	sleep 0.2
done
log "targed: $(grep -E 'reinstating|waiting for|disconnected by the peer|logged in to .* over iser' "$SO/target.log" | tail -n 3 | sed 's/^[0-9:.]* info *//' | tr '\n' ' ')"
ios1=$(disk_ios)
i=0
until [ $(($(disk_ios) - ios1)) -ge 32 ]; do
	i=$((i + 1)); [ $i -gt 150 ] && fail "no I/O completed within 30 s of the new login"
	sleep 0.2
done
log "I/O flows again: $(($(disk_ios) - ios1)) I/Os since the new login"
stop_fio 0

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
