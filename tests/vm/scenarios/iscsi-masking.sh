#!/bin/bash
# Scenario: each initiator name sees exactly its LUNs in lsscsi, and only the targets an access rule grants it.
. "$(dirname "$0")/common.sh"
[ "$LAB_TARGET" = targed ] || fail "the masking scenario is written for targed's access rules"

INIT_A=iqn.2026-11.org.targe.lab:host-a      # named by a rule: LUN 0 = disk0, LUN 1 = disk1 read-only
INIT_B=iqn.2026-11.org.targe.lab:host-b      # named by a rule: LUN 0 = disk1 only
INIT_C=iqn.2026-11.org.targe.lab:host-c      # named by no rule: the target's default luns (disk0)
IQN_PRIVATE=iqn.2026-11.org.targe:vm-private # no default luns: only host-a may see or log in to it

make_disk 64
truncate -s 32M "$WORK/disk1.img"
TARGED_EXTRA_DEVICES=",
  { name = \"disk1\"; backend = \"file\"; path = \"$WORK/disk1.img\"; size = \"32M\"; }"
TARGED_TARGET_BODY="    luns = ( { lun = 0; device = \"disk0\"; } );
    access = (
      { initiators = [ \"$INIT_A\" ]; luns = ( { lun = 0; device = \"disk0\"; },
                                          { lun = 1; device = \"disk1\"; read_only = true; } ); },
      { initiators = [ \"$INIT_B\" ]; luns = ( { lun = 0; device = \"disk1\"; } ); }
    );
  },
  { name = \"$IQN_PRIVATE\";
    transports = [ \"iscsi\" ];
    access = ( { initiators = [ \"$INIT_A\" ]; luns = ( { lun = 0; device = \"disk1\"; } ); } );"

# iscsiadm needs iscsid's lock directory before it will write any iface record
iscsid_start
# one open-iscsi interface per initiator name, so three names share this one guest
for who in "a $INIT_A" "b $INIT_B" "c $INIT_C"; do
	iadm -m iface -I "host-${who% *}" -o new || fail "cannot create iface host-${who% *}"
	iadm -m iface -I "host-${who% *}" -o update -n iface.initiatorname -v "${who#* }" ||
		fail "cannot name iface host-${who% *}"
done

target_start

# luns_of IFACE TARGET: "LUN:SIZE_MIB:RO" per disk the session through IFACE shows, sorted
luns_of() {
	local sid host d
	sid=$(iscsiadm -m session 2>/dev/null | awk -v t="$2" -v i="$1" '$4 == t {gsub(/[\[\]]/, "", $2); print $2}' |
		while read -r s; do iscsiadm -m session -r "$s" -P 1 | grep -q "Iface Name: $1\$" && echo "$s"; done | head -1)
	[ -n "$sid" ] || return 1
	host=$(iscsiadm -m session -r "$sid" -P 3 | awk '/Host Number:/ {print $3; exit}')
	lsscsi -t "$host" 2>/dev/null >> "$SO/initiator.log"
	for d in /sys/class/scsi_host/host"$host"/device/session*/target*/*:*:*:*; do
		[ -d "$d/block" ] || continue
		local lun=${d##*:} bd
		bd=$(ls "$d/block")
		echo "$lun:$(($(cat "/sys/block/$bd/size") / 2048)):$(cat "/sys/block/$bd/ro")"
	done | sort
}

# expect_view IFACE WANT: discovery + login through IFACE, then exactly WANT (space-separated)
expect_view() {
	local iface=$1 want=$2 got i=0
	step "$iface must see: $want"
	timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" -I "$iface" >> "$SO/initiator.log" 2>&1 || fail "discovery through $iface failed"
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$iface" --login || fail "login as $iface failed"
	while [ $i -lt 50 ]; do
		got=$(luns_of "$iface" "$IQN" | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$want" ] && break
		sleep 0.3; i=$((i + 1))
	done
	lsscsi >> "$SO/initiator.log"
	[ "$got" = "$want" ] || fail "$iface sees LUNs [$got], expected [$want] (LUN:MiB:read-only)"
}

expect_view host-a "0:64:0 1:32:1"
expect_view host-b "0:32:0"
expect_view host-c "0:64:0"

step "the private target: listed to and reachable by host-a only"
for who in b c; do
	timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" -I "host-$who" > "$WORK/disc-$who" 2>&1
	grep -q "$IQN_PRIVATE" "$WORK/disc-$who" && fail "SendTargets listed $IQN_PRIVATE to host-$who, which no rule names"
	iscsiadm -m node -T "$IQN_PRIVATE" -p "$IP:$PORT" -I "host-$who" -o new > /dev/null 2>&1
	iadm -m node -T "$IQN_PRIVATE" -p "$IP:$PORT" -I "host-$who" --login && fail "host-$who logged in to $IQN_PRIVATE"
done
timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" -I host-a | grep -q "$IQN_PRIVATE" || fail "SendTargets hid $IQN_PRIVATE from host-a"

step "writes to host-a's read-only LUN 1 are refused by the target"
# straight through sg, because the kernel already refuses writes to a disk it knows is read-only
sg=$(for s in /sys/class/scsi_host/host*/device/session*/target*/*:*:*:1; do ls "$s/scsi_generic" 2>/dev/null; done | head -1)
[ -n "$sg" ] || fail "no sg device for host-a's LUN 1"
sg_raw -s 512 -i /dev/zero "/dev/$sg" 2a 00 00 00 00 00 00 00 01 00 > "$WORK/sgraw" 2>&1 && fail "WRITE(10) to the read-only LUN succeeded"
cat "$WORK/sgraw"
grep -qi 'data protect' "$WORK/sgraw" || fail "WRITE(10) to the read-only LUN failed without DATA PROTECT: $(tr '\n' ' ' < "$WORK/sgraw")"

iadm -m session -u
target_stop
log "PASS"
