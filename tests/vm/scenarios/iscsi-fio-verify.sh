#!/bin/bash
# Scenario: fio random writes through the target, each block read back and checked with crc32c.
. "$(dirname "$0")/common.sh"

make_disk 128
iscsid_start
target_start
discover
login

# 4 KiB random writes at queue depth 16, then larger ones (up to 1 MiB, so writes span several
# Data-Out sequences and R2Ts); every block is verified after its job finishes writing
run_fio() {
	local label=$1; shift
	step "fio $label"
	fio --name="$label" --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_dump=1 --runtime=90 \
		--output="$SO/fio-$label.txt" "$@" 2> "$SO/fio-$label.err"
	local rc=$?
	cat "$SO/fio-$label.txt" "$SO/fio-$label.err"
	[ $rc -eq 0 ] || fail "fio $label failed (exit $rc): $(grep -m1 -iE 'verify|error|bad' "$SO/fio-$label.err" "$SO/fio-$label.txt" | cut -d: -f2-)"
	grep -q 'err= 0' "$SO/fio-$label.txt" || fail "fio $label reported errors"
}
run_fio small --bs=4k --iodepth=16 --size=32M --offset=0
run_fio large --bsrange=4k-1m --iodepth=4 --size=64M --offset=32M

logout
target_stop
log "PASS"
