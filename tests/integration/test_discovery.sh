#!/bin/bash
# SendTargets discovery and REPORT LUNS via iscsi-ls: every configured target, LUN and size, nothing more.
source "$(dirname "$0")/lib.sh"

other=iqn.2026-11.org.targe:other
tg_device disk0 64M 512
tg_device disk1 8M 4096
tg_device disk2 16M 512
tg_lun "$TG_IQN" 0 disk0
tg_lun "$TG_IQN" 1 disk1
tg_lun "$other" 0 disk2
tg_start

# iscsi-ls prints READ CAPACITY(10)'s last LBA times the block size, divided down by 1024.
ls_size() {
	local size=$(($2 * ($(tg_size_bytes "$1") / $2 - 1))) pf=0 suffix=(" " k M G T)
	while [ $pf -lt 4 ] && [ $size -gt 1024 ]; do
		size=$((size / 1024))
		pf=$((pf + 1))
	done
	echo "$size${suffix[$pf]}"
}

expected=$(
	printf '%s\n' \
		"$TG_IQN lun=0 DIRECT_ACCESS $(ls_size 64M 512)" \
		"$TG_IQN lun=1 DIRECT_ACCESS $(ls_size 8M 4096)" \
		"$other lun=0 DIRECT_ACCESS $(ls_size 16M 512)" | sort
)

out=$TG_DIR/iscsi-ls.out
rc=0
timeout 30 iscsi-ls -s -i iqn.2026-11.org.targe:discovery "iscsi://$TG_HOST:$TG_PORT" >"$out" 2>&1 || rc=$?
cat "$out"
[ $rc -eq 0 ] || tg_fail "iscsi-ls exited with status $rc"

# Normalise to "target lun=N TYPE SIZE"; tgt's own controller LUN 0 is not part of the layout.
actual=$(awk -v tgt="$TARGE_TEST_TARGET" -v portal="$TG_HOST:$TG_PORT" '
	/^Target:/ {
		target = substr($1, 8)
		if ($2 !~ "^Portal:" portal ",[0-9]+$") { print "BAD-PORTAL " $0; next }
		next
	}
	/^Lun:/ {
		lun = substr($1, 5); type = substr($2, 6); size = $3
		sub(/^\(Size:/, "", size); sub(/\)$/, "", size)
		if (tgt == "tgt") { if (type == "STORAGE_ARRAY_CONTROLLER") next; lun = lun - 1 }
		print target " lun=" lun " " type " " size
	}' "$out" | sort)

if [ "$actual" != "$expected" ]; then
	echo "expected:"; echo "$expected"
	echo "got:"; echo "$actual"
	tg_fail "iscsi-ls does not list exactly the configured targets, LUNs and sizes"
fi
targets=$(grep -c '^Target:' "$out")
[ "$targets" -eq 2 ] || tg_fail "SendTargets listed $targets target entries, expected 2"
