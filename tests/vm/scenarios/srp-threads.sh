#!/bin/bash
# Scenario: SRP channels on I/O threads (io_threads = 2): the two channels of one nexus run on different threads; fio verify across both, a LUN reset, a logout and a new login; no copy, no warning.
. "$(dirname "$0")/common.sh"
TARGED_IO_THREADS=${TARGED_IO_THREADS:-2}
. "$(dirname "$0")/srp-lib.sh"

make_disk 128
srp_target_start
grep -q "channels run on $TARGED_IO_THREADS I/O threads" "$SO/target.log" ||
	fail "targed did not start SRP I/O threads (io_threads = $TARGED_IO_THREADS)"

# thread_of CHANNEL: the SRP I/O thread targed logged for the channel's latest login
thread_of() {
	grep " $1: runs on SRP I/O thread " "$SO/target.log" | tail -n 1 | sed -n 's/.*thread \([0-9]*\)$/\1/p'
}

srp_add ch_count=2
[ "$(srp_host_attr ch_count)" = 2 ] || fail "ch_count=2 gave $(srp_host_attr ch_count) channels"
t0=$(thread_of ch0); t1=$(thread_of ch1)
log "ch0 on I/O thread ${t0:-?}, ch1 on I/O thread ${t1:-?}"
[ -n "$t0" ] && [ -n "$t1" ] || fail "targed did not log which I/O thread the channels run on"
[ "$t0" != "$t1" ] || fail "both channels of the nexus landed on I/O thread $t0"

srp_fio threads-4k --bs=4k --iodepth=16 --numjobs=2 --cpus_allowed=0-1 \
	--cpus_allowed_policy=split --size=16M --offset=0 --offset_increment=16M
srp_fio threads-large --bsrange=4k-1m --iodepth=4 --size=32M --offset=32M

step "LUN reset (sg_reset -d) with both channels live"
SG=/dev/$(ls "/sys/block/${DISK#/dev/}/device/scsi_generic/")
[ -c "$SG" ] || fail "no sg device for $DISK"
sg_reset -d "$SG" || fail "sg_reset -d failed"
grep -q "task management function 0x8: complete" "$SO/target.log" ||
	fail "targed answered no LOGICAL UNIT RESET"
srp_fio after-reset --bs=8k --iodepth=8 --numjobs=2 --cpus_allowed=0-1 \
	--cpus_allowed_policy=split --size=8M --offset=64M --offset_increment=8M

step "logout, then a new login"
srp_remove
for ch in ch0 ch1; do
	n=$(srp_channel_stat $ch commands)
	[ "${n:-0}" -gt 500 ] || fail "channel $ch carried ${n:-no} commands; both should have worked"
done
logins=$(grep -c "logged in to $IQN" "$SO/target.log")
srp_add ch_count=2
[ "$(grep -c "logged in to $IQN" "$SO/target.log")" -ge $((logins + 2)) ] ||
	fail "the new login did not bring two channels"
t0=$(thread_of ch0); t1=$(thread_of ch1)
log "after the new login: ch0 on I/O thread ${t0:-?}, ch1 on I/O thread ${t1:-?}"
[ "$t0" != "$t1" ] || fail "after the new login both channels landed on I/O thread $t0"
srp_fio relogin --bsrange=4k-256k --iodepth=8 --size=16M --offset=80M
srp_remove

target_stop
expect_zero_copies
expect_no_warnings
log "PASS"
