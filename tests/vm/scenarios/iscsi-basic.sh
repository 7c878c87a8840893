#!/bin/bash
# Scenario: discovery, login, ext4 written through the target survives logout/login with identical checksums and a clean fsck.
. "$(dirname "$0")/common.sh"

make_disk 128
iscsid_start
target_start
discover
login

step "mkfs.ext4 and write files"
mkfs.ext4 -q -F "$DISK" || fail "mkfs.ext4 on $DISK failed"
mount "$DISK" "$MNT" || fail "cannot mount the fresh ext4 on $DISK"
mkdir -p "$MNT/d1/d2"
for i in 1 2 3 4 5 6; do
	head -c $((i * 700 * 1024 + i * 13)) /dev/urandom > "$MNT/file$i" || fail "writing file$i failed"
done
head -c 3000000 /dev/urandom > "$MNT/d1/d2/deep"
seq 1 20000 > "$MNT/d1/numbers"
(cd "$MNT" && find . -type f ! -path './lost+found/*' | sort | xargs sha256sum) > "$WORK/sums"
log "$(wc -l < "$WORK/sums") files, $(du -sk "$MNT" | cut -f1) KiB"
umount "$MNT" || fail "umount failed"
logout

step "login again and compare"
login
mount "$DISK" "$MNT" || fail "cannot mount the ext4 after logging in again"
(cd "$MNT" && sha256sum -c --quiet "$WORK/sums") || fail "checksums differ after logout/login: the data read back is not what was written"
umount "$MNT" || fail "umount failed"
fsck.ext4 -n -f "$DISK" > "$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n reports errors on $DISK"; }
logout
target_stop

# the backing file is a plain image (the contract): the same filesystem, readable without the target
if [ "$DISK_BACKEND" = file ]; then
	step "fsck the backing file directly"
	fsck.ext4 -n -f "$DISK_IMG" > "$WORK/fsck-img.out" 2>&1 || { cat "$WORK/fsck-img.out"; fail "the backing file is not the clean ext4 the initiator wrote"; }
fi
log "PASS"
