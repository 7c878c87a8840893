#!/bin/bash
# Checks iscsi-load's data check mode: stamped writes read back clean, and a corrupted or foreign block is caught.
source "$(dirname "$0")/../tests/integration/lib.sh"

: "${ISCSI_LOAD:?ISCSI_LOAD must name the iscsi-load binary (ctest sets it)}"
tg_device disk0 16M 512
tg_lun "$TG_IQN" 0 disk0
tg_start
url=$(tg_url 0)
seed=$((RANDOM * 32768 + RANDOM))
load() { "$ISCSI_LOAD" --url "$url" --seed "$seed" --verify "$@"; }
ios_of() { sed -n 's/.*"ios":\([0-9]*\).*/\1/p' "$1"; }

tg_log "sequential stamped write of all 16 MiB (seed $seed), then read back by two sessions"
load --rw write --bs 64K --qd 8 --once --json >"$TG_DIR/write.json" || tg_fail "stamped write pass"
[ "$(ios_of "$TG_DIR/write.json")" = 256 ] || tg_fail "write pass did $(ios_of "$TG_DIR/write.json") I/Os, not 256"
load --rw read --bs 64K --qd 8 --sessions 2 --once --json >"$TG_DIR/read.json" || tg_fail "verify read pass"
[ "$(ios_of "$TG_DIR/read.json")" = 256 ] || tg_fail "read pass did $(ios_of "$TG_DIR/read.json") I/Os, not 256"

tg_log "random writes and random reads keep and check the same stamps"
load --rw randwrite --bs 4K --qd 16 --sessions 2 --duration 1 --ramp 0 || tg_fail "stamped random writes"
load --rw randread --bs 8K --qd 16 --duration 1 --ramp 0 || tg_fail "verified random reads"
load --rw read --bs 1M --qd 4 --once || tg_fail "full verify after random writes"

tg_log "four sessions split over two client threads: stamped write pass, verified read pass"
json_has() { grep -q "\"$2\":$3[,}]" "$1" || { cat "$1"; tg_fail "$1: expected \"$2\":$3"; }; }
load --rw write --bs 64K --qd 8 --sessions 4 --threads 2 --once --json >"$TG_DIR/write2.json" ||
	tg_fail "stamped write pass on two threads"
json_has "$TG_DIR/write2.json" threads 2
json_has "$TG_DIR/write2.json" ios 256
load --rw read --bs 64K --qd 8 --sessions 4 --threads 2 --once --json >"$TG_DIR/read2.json" ||
	{ cat "$TG_DIR/read2.json"; tg_fail "verify read pass on two threads"; }
json_has "$TG_DIR/read2.json" ios 256
json_has "$TG_DIR/read2.json" verified_reads 256
json_has "$TG_DIR/read2.json" verify_mismatches 0
if "$ISCSI_LOAD" --url "$url" --threads 3 --sessions 2 >"$TG_DIR/usage.out" 2>&1; then
	tg_fail "--threads 3 --sessions 2 was accepted"
else
	rc=$?
fi
[ "$rc" = 2 ] && grep -q -- "--threads 3 is more than --sessions 2" "$TG_DIR/usage.out" ||
	{ cat "$TG_DIR/usage.out"; tg_fail "--threads above --sessions: expected a usage error (status 2), got $rc"; }

tg_log "a block changed behind the target's back must be reported"
lba=12345
printf '\xa5' | dd of="$TG_DIR/disk0.img" bs=1 seek=$((lba * 512 + 300)) conv=notrunc status=none
if load --rw read --bs 64K --qd 8 --once >"$TG_DIR/corrupt.out" 2>&1; then
	cat "$TG_DIR/corrupt.out"
	tg_fail "verify pass accepted a corrupted block"
fi
grep -q "verify: LBA $lba differs at byte 300" "$TG_DIR/corrupt.out" ||
	{ cat "$TG_DIR/corrupt.out"; tg_fail "corruption at LBA $lba byte 300 not reported as such"; }
grep -q "verify mismatches 1$" "$TG_DIR/corrupt.out" ||
	{ cat "$TG_DIR/corrupt.out"; tg_fail "expected exactly one mismatching block"; }
# Four sessions on two threads: the first block lies in the first thread's share, this one in
# the second's; both mismatches must reach the summed result.
lba2=24000
printf '\x5a' | dd of="$TG_DIR/disk0.img" bs=1 seek=$((lba2 * 512 + 17)) conv=notrunc status=none
if load --rw read --bs 64K --qd 8 --sessions 4 --threads 2 --once >"$TG_DIR/corrupt2.out" 2>&1; then
	cat "$TG_DIR/corrupt2.out"
	tg_fail "verify pass on two threads accepted corrupted blocks"
fi
grep -q "verify: LBA $lba differs at byte 300" "$TG_DIR/corrupt2.out" &&
	grep -q "verify: LBA $lba2 differs at byte 17" "$TG_DIR/corrupt2.out" &&
	grep -q "verify mismatches 2$" "$TG_DIR/corrupt2.out" ||
	{ cat "$TG_DIR/corrupt2.out"; tg_fail "two threads: expected exactly the mismatches at LBA $lba and $lba2"; }

tg_log "data stamped with another seed must not verify"
if "$ISCSI_LOAD" --url "$url" --seed $((seed + 1)) --verify --rw read --bs 64K --once >"$TG_DIR/seed.out" 2>&1; then
	cat "$TG_DIR/seed.out"
	tg_fail "verify accepted blocks written with another seed"
fi
grep -q "verify mismatches 32768$" "$TG_DIR/seed.out" ||
	{ cat "$TG_DIR/seed.out"; tg_fail "expected every one of the 32768 blocks to mismatch"; }

tg_log "randrw on two threads: each write a new generation, read back and checked again at the end"
load --rw randrw --bs 4K --qd 8 --sessions 4 --threads 2 --duration 1 --ramp 0 --json >"$TG_DIR/randrw2.json" ||
	{ cat "$TG_DIR/randrw2.json"; tg_fail "randrw --verify on two threads"; }
json_has "$TG_DIR/randrw2.json" verify_mismatches 0
json_has "$TG_DIR/randrw2.json" errors 0
grep -q '"verified_reads":[1-9]' "$TG_DIR/randrw2.json" && grep -q '"final_check_reads":[1-9]' "$TG_DIR/randrw2.json" ||
	{ cat "$TG_DIR/randrw2.json"; tg_fail "randrw on two threads checked no reads"; }
