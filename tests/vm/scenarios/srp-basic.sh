#!/bin/bash
# Scenario: ib_srp logs in to targed over soft-RoCE (two channels); ext4 written over SRP survives deleting and re-adding the remote port, and reads back the same over iSCSI/TCP and iSER; `make run`'s config gets an SRP portal.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

step "make run's config on a machine with an RDMA device has SRP and iSER portals"
repo=$(cd "$LAB_SCENARIO_DIR/../../.." && pwd)
(cd "$repo" && sh tools/run-config.sh config/default.conf) > "$WORK/run.conf" || fail "tools/run-config.sh failed"
cp "$WORK/run.conf" "$SO/run.conf"
grep -q "^  srp   = { listen = \[ \"$IP:5555\" \]; };" "$WORK/run.conf" || fail "tools/run-config.sh added no SRP portal on $IP:5555"
grep -q "^  iser  = { listen = \[ \"$IP:3260\" \]; };" "$WORK/run.conf" || fail "tools/run-config.sh added no iSER portal on $IP:3260"
grep -Eq 'transports = \[ "iscsi", "iser", "srp" \]' "$WORK/run.conf" || fail "the default target does not list srp in its transports"
"$LAB_TARGED" -c "$WORK/run.conf" --check || fail "targed rejects the config make run would serve"

# the same LUN over iSER at the end
SRP_EXTRA_TRANSPORTS='iser = { listen = [ "'$IP:$PORT'" ]; };'
make_disk 128
srp_target_start

step "a login naming a target port id that no target has is rejected"
guid=$(srp_guid)
bad="id_ext=0123456789abcdef,ioc_guid=$guid,dest=$IP:$SRP_PORT"
echo "\$ echo $bad > $SRP_HOST_DIR/add_target" >> "$SO/initiator.log"
if echo "$bad" 2>> "$SO/initiator.log" > "$SRP_HOST_DIR/add_target"; then
	fail "add_target with an unknown id_ext succeeded"
fi
[ -z "$(srp_scsi_host)" ] || fail "an SRP SCSI host exists after a rejected login"
grep -q "target port 0x0123456789abcdef$guid: no target has that port id" "$SO/target.log" ||
	fail "targed did not log why it rejected the login"

srp_add
[ "$(srp_host_attr ch_count)" = 2 ] ||
	fail "expected ib_srp's default of 2 channels on 2 CPUs, got $(srp_host_attr ch_count)"
n=$(grep -c "logged in to $IQN" "$SO/target.log")
[ "$n" -eq 2 ] || fail "targed logged $n channel logins, expected 2"
grep -q "$(srp_initiator_id) ch1: logged in to $IQN (channel 1 of the nexus" "$SO/target.log" ||
	fail "the second channel did not join the first one's nexus"

step "mkfs.ext4 and write files over SRP"
mkfs.ext4 -q -F "$DISK" || fail "mkfs.ext4 on $DISK failed"
mount "$DISK" "$MNT" || fail "cannot mount the fresh ext4 on $DISK"
write_files
umount "$MNT" || fail "umount failed"
srp_remove

step "add the remote port again and compare"
srp_add
mount "$DISK" "$MNT" || fail "cannot mount the ext4 after re-adding the remote port"
check_files "after deleting and re-adding the SRP remote port"
umount "$MNT" || fail "umount failed"
fsck.ext4 -n -f "$DISK" > "$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n reports errors on $DISK"; }
srp_remove

step "the same LUN over iSCSI/TCP reads back the same files"
iscsid_start
discover
login
mount -o ro "$DISK" "$MNT" || fail "cannot mount the ext4 over iSCSI/TCP"
check_files "read back over iSCSI/TCP"
umount "$MNT" || fail "umount failed"
logout

step "and over iSER"
iadm -m iface -I iser -o new
iadm -m iface -I iser -o update -n iface.transport_name -v iser
out=$(timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" -I iser 2>&1)
echo "$out" >> "$SO/initiator.log"
echo "$out" | grep -q "^$IP:$PORT,[0-9]* $IQN\$" || fail "iSER discovery did not list $IQN"
iadm -m node -T "$IQN" -p "$IP:$PORT" -I iser --login || fail "iSER login failed"
d=""; i=0
while [ $i -lt 100 ]; do
	d=$(timeout 20 iscsiadm -m session -P 3 2>/dev/null | awk '/Iface Transport:/ { t = $3 } /Attached scsi disk/ && t == "iser" { print $4; exit }')
	[ -n "$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
	d=""; sleep 0.3; i=$((i + 1))
done
[ -n "$d" ] || fail "logged in over iSER, but no disk appeared"
mount -o ro "/dev/$d" "$MNT" || fail "cannot mount the ext4 over iSER"
check_files "read back over iSER"
umount "$MNT" || fail "umount failed"
iadm -m node -T "$IQN" -p "$IP:$PORT" -I iser --logout || fail "iSER logout failed"

target_stop
step "fsck the backing file directly"
fsck.ext4 -n -f "$DISK_IMG" > "$WORK/fsck-img.out" 2>&1 || { cat "$WORK/fsck-img.out"; fail "the backing file is not the clean ext4 the initiator wrote"; }
# (the one expected warning: the rejected login at the start)
expect_no_warnings 'no target has that port id'
log "PASS"
