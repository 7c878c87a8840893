#!/bin/bash
# Scenario: an iSER initiator that goes away mid-transfer (logout under load; the cable pulled under load) leaves targed alive with every registered buffer back, and the session is reinstated.
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

# 2. The cable is pulled under load: with eth0 down the RDMA operations in flight fail on both
# sides. targed must drop the connection and the commands on it and give every registered
# buffer back; with the link back the initiator logs in again (by itself, or told to when the
# rxe port's return outlasts its recovery) and the data path works.
iser_node_set node.session.timeo.replacement_timeout 20
iser_login
step "fio over iSER, then eth0 down under it"
ios0=$(disk_ios)
closes=$(iser_closes)
logins=$(grep -c "logged in to $IQN over iser" "$SO/target.log")
fio_out=fio-cable.txt
fio --name=cable --filename="$DISK" --size=100M --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=64k --iodepth=16 --time_based --runtime=90 --output="$SO/$fio_out" &
fio_pid=$!
wait_ios 64
log "$(($(disk_ios) - ios0)) I/Os done, $(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight") in flight when the link goes down"
ip link set eth0 down || fail "cannot take eth0 down"
i=0
until [ "$(iser_closes)" -gt "$closes" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "targed did not notice the dead connection within 20 s"
	target_alive || fail "targed died when the link went down"
	sleep 0.2
done
log "targed: $(grep -E 'rdma .*(failed|connection closing)|iser .*connection closed' "$SO/target.log" | tail -n 3 | tr '\n' ' ')"
i=0
until grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | grep -q '(0 registered data buffers in use'; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "the dead connection's registered buffers did not come back: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1)"
	sleep 0.2
done
log "targed: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | sed 's/.*iser *//')"
ip link set eth0 up || fail "cannot bring eth0 back"
stop_fio
step "the initiator logs in again"
i=0
until [ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && break
	sleep 0.2
done
if [ "$(grep -c "logged in to $IQN over iser" "$SO/target.log")" -gt "$logins" ]; then
	log "the session recovered by itself"
	DISK=/dev/$(transport_disk iser)
else
	log "no recovery within 20 s of the link (ib_iser waits for the rxe port): log out and in"
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" --logout
	sync; echo 3 > /proc/sys/vm/drop_caches
	iser_login
fi
target_alive || fail "targed died during the recovery"

step "write and verify over the recovered session"
fio --name=after --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M --offset=100M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$SO/fio-after.txt" 2> "$SO/fio-after.err" ||
	fail "write+verify after the recovery failed: $(grep -m1 -iE 'verify|error' "$SO/fio-after.err" "$SO/fio-after.txt" | cut -d: -f2-)"
iser_logout
# Every session is gone: every registered data buffer must be back in the pool.
i=0
until grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | grep -q '(0 registered data buffers in use'; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "registered buffers still in use after the last session: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1)"
	sleep 0.2
done
log "targed: $(grep 'RDMA resources released' "$SO/target.log" | tail -n 1 | sed 's/.*iser *//')"
target_stop
log "PASS"
