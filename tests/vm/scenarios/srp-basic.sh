#!/bin/bash
# Scenario: ib_srp logs in to targed over soft-RoCE (two channels); ext4 written over SRP survives deleting and re-adding the remote port, and reads back the same over iSCSI/TCP.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

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

target_stop
step "fsck the backing file directly"
fsck.ext4 -n -f "$DISK_IMG" > "$WORK/fsck-img.out" 2>&1 || { cat "$WORK/fsck-img.out"; fail "the backing file is not the clean ext4 the initiator wrote"; }
# (the one expected warning: the rejected login at the start)
if target_warnings | grep -v 'no target has that port id' > "$WORK/warnings"; then
	cat "$WORK/warnings"
	fail "targed logged warnings: $(head -n 1 "$WORK/warnings")"
fi
log "PASS"
