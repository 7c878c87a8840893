#!/bin/bash
# Scenario: task management over SRP: LUN reset idle and under load, ABORT TASK of a command stuck in a slow backend, a bus reset that makes ib_srp log in again (nexus reinstatement with commands in flight); data intact and every credit returned.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

# LUN 0 on dm-delay, so that commands can be held in the backend on demand
DISK_IMG=$WORK/disk0.img
DISK_MIB=128
truncate -s "${DISK_MIB}M" "$DISK_IMG"
modprobe loop 2>/dev/null; modprobe dm_delay || fail "cannot load dm_delay"
LOOP=$(losetup --find --show "$DISK_IMG") || fail "losetup failed"
SECTORS=$((DISK_MIB * 2048))
set_delay() { # set_delay MS: backend latency from now on
	DM_DISABLE_UDEV=1 dmsetup suspend --noudevsync targe-delay &&
	DM_DISABLE_UDEV=1 dmsetup load --noudevsync targe-delay --table "0 $SECTORS delay $LOOP 0 $1" &&
	DM_DISABLE_UDEV=1 dmsetup resume --noudevsync targe-delay || fail "cannot set the backend delay to $1 ms"
	log "backend delay ${1} ms"
}
echo "0 $SECTORS delay $LOOP 0 0" | DM_DISABLE_UDEV=1 dmsetup create targe-delay --noudevsync ||
	fail "dmsetup create failed"
DISK_PATH=/dev/mapper/targe-delay
DISK_BACKEND=block

srp_target_start
srp_add
SG=/dev/$(ls "/sys/block/${DISK#/dev/}/device/scsi_generic/")
[ -c "$SG" ] || fail "no sg device for $DISK"
log "sg device $SG"
echo 8 > "/sys/block/${DISK#/dev/}/device/timeout"

step "baseline data"
head -c $((8 << 20)) /dev/urandom > "$WORK/base"
dd if="$WORK/base" of="$DISK" bs=1M oflag=direct status=none || fail "writing the baseline failed"
base_sum=$(sha256sum < "$WORK/base")

tmf_count() { grep -c "task management function $1: complete" "$SO/target.log"; }
# wait_inflight N: until the initiator has at least N commands outstanding (fio takes seconds
# to start under TCG, and the resets below must hit commands held in the slow backend)
wait_inflight() {
	local i=0 n
	while :; do
		n=$(awk '{print $1 + $2}' "/sys/block/${DISK#/dev/}/inflight")
		[ "$n" -ge "$1" ] && { log "$n commands in flight"; return 0; }
		i=$((i + 1)); [ $i -gt 300 ] && fail "fewer than $1 commands in flight after 60 s"
		sleep 0.2
	done
}

step "LUN reset with nothing in flight (sg_reset -d)"
sg_reset -d "$SG" || fail "sg_reset -d failed"
[ "$(tmf_count 0x8)" -ge 1 ] || fail "targed answered no LOGICAL UNIT RESET"

step "ABORT TASK of a read held in the backend"
set_delay 12000
t0=$(date +%s)
dd if="$DISK" of=/dev/null bs=4k count=1 skip=100 iflag=direct status=none &
reader=$!
i=0
until [ "$(tmf_count 0x1)" -ge 1 ]; do
	i=$((i + 1)); [ $i -gt 200 ] && fail "no ABORT TASK reached targed within 40 s"
	sleep 0.2
done
log "ABORT TASK answered after $(($(date +%s) - t0)) s"
set_delay 0
wait $reader || fail "the read whose first attempt was aborted failed in the end"

step "LUN reset with writes in flight on both channels"
set_delay 1500
fio --name=reset-load --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --size=16M \
	--offset=32M --offset_increment=16M --time_based --runtime=20 \
	--output="$SO/fio-reset-load.txt" 2> "$SO/fio-reset-load.err" &
loader=$!
wait_inflight 12
n=$(tmf_count 0x8)
sg_reset -d "$SG" || fail "sg_reset -d under load failed"
[ "$(tmf_count 0x8)" -gt "$n" ] || fail "the second LOGICAL UNIT RESET was not answered"
set_delay 0
wait $loader || fail "fio failed after the LUN reset: $(tail -n 3 "$SO/fio-reset-load.err")"

step "bus reset under load: ib_srp logs in again (reinstatement)"
set_delay 1500
logins=$(grep -c "logged in to $IQN" "$SO/target.log")
fio --name=bus-load --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=16M --offset=64M --time_based --runtime=20 \
	--output="$SO/fio-bus-load.txt" 2> "$SO/fio-bus-load.err" &
loader=$!
wait_inflight 6
sg_reset -b "$SG" || fail "sg_reset -b failed"
set_delay 0
wait $loader || fail "fio failed across the bus reset: $(tail -n 3 "$SO/fio-bus-load.err")"
[ "$(grep -c "logged in to $IQN" "$SO/target.log")" -ge $((logins + 2)) ] ||
	fail "ib_srp did not log in again (two channels) after the bus reset"
# the LUN reset under load aborted commands of both channels: those of the channel the reset
# did not come on had no response to carry their credits back
creds=$(( $(srp_channel_stat ch0 "credit requests") + $(srp_channel_stat ch1 "credit requests") ))
log "credits returned by SRP_CRED_REQ: $creds"
[ "$creds" -ge 1 ] || fail "no SRP_CRED_REQ returned the credits of commands the LUN reset aborted"
grep -q "login waits for the previous nexus to drain" "$SO/target.log" ||
	log "(the old nexus had drained before the new login arrived)"

step "data and credits after the resets"
sum=$(dd if="$DISK" bs=1M count=8 iflag=direct status=none | sha256sum)
[ "$sum" = "$base_sum" ] || fail "the baseline data changed across the resets"
srp_fio after-resets --bs=4k --iodepth=16 --size=16M --offset=96M
sleep 1
lim=$(srp_host_attr req_lim)
[ "$lim" = 128 ] || fail "the initiator holds $lim credits after going idle, not the 128 granted: credits were lost"
srp_remove
target_stop
expect_no_warnings
log "PASS"
