#!/bin/bash
# Random-extent write/read round trip over iSCSI, then a daemon restart must still serve the same bytes.
source "$(dirname "$0")/lib.sh"

: "${RWCHECK:?RWCHECK must name the rwcheck binary (ctest sets it)}"
seed=$((RANDOM * 32768 + RANDOM))
tg_start
url=$(tg_url 0)

tg_log "round trip with seed $seed"
"$RWCHECK" --seed "$seed" --expect-blocks 131072 --expect-block-size 512 "$url" ||
	tg_fail "rwcheck round trip (seed $seed)"

# The check itself must be able to fail: a seed that was never written cannot verify.
if "$RWCHECK" --verify-only $((seed + 1)) --no-eol-checks "$url" >"$TG_DIR/wrong-seed.out"; then
	cat "$TG_DIR/wrong-seed.out"
	tg_fail "rwcheck --verify-only accepted data written with another seed"
fi
grep -q "FAIL: verify-only: LBA .* stamped seed=$seed" "$TG_DIR/wrong-seed.out" ||
	{ cat "$TG_DIR/wrong-seed.out"; tg_fail "wrong-seed verify did not report seed $seed's blocks"; }

tg_restart
tg_log "after restart: verify seed $seed"
"$RWCHECK" --verify-only "$seed" --no-eol-checks "$url" ||
	tg_fail "data written before the restart is not served after it (seed $seed)"

# Clean shutdown flushed everything: the image file holds the initiator's bytes at the same offsets.
tg_stop || exit 1
"$RWCHECK" --image "$TG_DIR/disk0.img" --block-size 512 --verify-only "$seed" ||
	tg_fail "backing image does not hold the written data (seed $seed)"
