#!/bin/bash
# Scenario: logging out while fio has commands in flight leaves the target alive and serving the next login.
. "$(dirname "$0")/common.sh"

make_disk 128
iscsid_start
target_start
discover

# one round per direction: queued 4 KiB writes, then larger reads, each cut off by a logout
round=0
for workload in "--rw=randwrite --bs=4k --iodepth=32" "--rw=randread --bs=256k --iodepth=8"; do
	round=$((round + 1))
	login
	step "round $round: fio $workload, logout under it"
	ios0=$(disk_ios)
	# shellcheck disable=SC2086
	fio --name=underio --filename="$DISK" --size=120M --direct=1 --ioengine=libaio $workload \
		--time_based --runtime=40 --output="$SO/fio-round$round.txt" &
	fio_pid=$!
	# the logout must hit a disk that is busy: wait for completed I/O, then cut in
	i=0
	while [ $(($(disk_ios) - ios0)) -lt 64 ]; do
		kill -0 $fio_pid 2>/dev/null || fail "fio ended before the logout: $(grep -m1 -iE 'error|err=' "$SO/fio-round$round.txt")"
		i=$((i + 1)); [ $i -gt 300 ] && fail "fio completed only $(($(disk_ios) - ios0)) I/Os in 60 s"
		sleep 0.2
	done
	sleep 1
	log "$(($(disk_ios) - ios0)) I/Os done, $(cat "/sys/block/${DISK#/dev/}/inflight" | awk '{print $1 + $2}') in flight at the logout"
	t0=$(date +%s)
	logout
	log "logout took $(($(date +%s) - t0)) s with I/O in flight"
	# fio now sees its disk gone (reads of a removed disk may just return nothing, so it can
	# also run on until its runtime); what matters here is the target, not fio
	i=0
	while kill -0 $fio_pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	if kill -0 $fio_pid 2>/dev/null; then
		log "fio still running 10 s after logout; killing it"
		kill -9 $fio_pid
	fi
	wait $fio_pid 2>/dev/null
	log "fio exit $? (errors expected: its disk went away)"
	target_alive || fail "the target died when the initiator logged out under I/O (round $round)"
done

step "login once more: the target still serves and its data is sound"
login
fio --name=after --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$SO/fio-after.txt" 2> "$SO/fio-after.err" ||
	fail "write+verify after the logouts failed: $(grep -m1 -iE 'verify|error' "$SO/fio-after.err" "$SO/fio-after.txt" | cut -d: -f2-)"
logout
target_alive || fail "the target died after the logouts"
target_stop
log "PASS"
