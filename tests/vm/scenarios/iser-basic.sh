#!/bin/bash
# Scenario: open-iscsi over ib_iser discovers and logs in to targed; ext4 written over iSER survives logout/login; the same LUN read over iSCSI/TCP at the same time has the same bytes.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/iser-lib.sh"

rdma_check
make_disk 128
iscsid_start
target_start
iser_wait_portal
iser_iface
iser_discover
iser_login

step "mkfs.ext4 and write files over iSER"
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
iser_logout

step "login over iSER again and compare"
iser_login
mount "$DISK" "$MNT" || fail "cannot mount the ext4 after logging in again"
(cd "$MNT" && sha256sum -c --quiet "$WORK/sums") || fail "checksums differ after iSER logout/login"
umount "$MNT" || fail "umount failed"
fsck.ext4 -n -f "$DISK" > "$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n reports errors on $DISK"; }
ISER_DISK=$DISK

step "the same LUN over iSCSI/TCP while the iSER session is up"
discover
tcp_login
[ "$TCP_DISK" != "$ISER_DISK" ] || fail "the TCP session shows the iSER disk"
log "iSER $ISER_DISK, TCP $TCP_DISK"
# the first 64 MiB (superblock, journal, the files' blocks) read around the page cache
a=$(dd if="$ISER_DISK" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
b=$(dd if="$TCP_DISK" bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1)
log "sha256 of 64 MiB: iSER $a, TCP $b"
[ "$a" = "$b" ] || fail "iSER and iSCSI/TCP read different bytes from the same LUN"
# and a write over TCP is read back over iSER
head -c 1048576 /dev/urandom > "$WORK/mib"
dd if="$WORK/mib" of="$TCP_DISK" bs=1M seek=100 oflag=direct conv=fsync status=none || fail "write over TCP failed"
dd if="$ISER_DISK" of="$WORK/mib.back" bs=1M skip=100 count=1 iflag=direct status=none || fail "read over iSER failed"
cmp -s "$WORK/mib" "$WORK/mib.back" || fail "iSER does not read back what TCP wrote"
tcp_logout
DISK=$ISER_DISK
iser_logout
target_stop
grep -q "data path copies: [0-9]* bytes$" "$SO/target.log" || fail "targed did not log its data path copies at exit"
log "$(grep 'data path copies' "$SO/target.log" | tail -n 1)"

step "fsck the backing file directly"
fsck.ext4 -n -f "$DISK_IMG" > "$WORK/fsck-img.out" 2>&1 || { cat "$WORK/fsck-img.out"; fail "the backing file is not the clean ext4 the initiator wrote"; }
log "PASS"
