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
	# shellcheck disable=SC2086
	fio --name=underio --filename="$DISK" --direct=1 --ioengine=libaio $workload \
		--time_based --runtime=60 --output="$SO/fio-round$round.txt" &
	fio_pid=$!
	sleep 4
	kill -0 $fio_pid 2>/dev/null || fail "fio ended before the logout (see fio-round$round.txt)"
	t0=$(date +%s)
	logout
	log "logout took $(($(date +%s) - t0)) s with I/O in flight"
	# fio now sees its disk gone; it must not stay blocked on the dead session for long
	i=0
	while kill -0 $fio_pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
	if kill -0 $fio_pid 2>/dev/null; then
		log "fio still running 30 s after logout; killing it"
		kill -9 $fio_pid
	fi
	wait $fio_pid 2>/dev/null
	log "fio exit $? (errors expected: its disk went away)"
	target_alive || fail "the target died when the initiator logged out under I/O (round $round)"
done

step "login once more: the target still serves and its data is sound"
login
fio --name=after --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=8M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$SO/fio-after.txt" || fail "write+verify after the logouts failed: $(grep -m1 -iE 'verify|error' "$SO/fio-after.txt")"
logout
target_alive || fail "the target died after the logouts"
target_stop
log "PASS"
