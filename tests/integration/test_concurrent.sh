#!/bin/bash
# Two sessions with different initiator names write at the same time and each reads what the other wrote.
source "$(dirname "$0")/lib.sh"

tg_start
url=$(tg_url 0)
half=65536 # the 64 MiB LUN has 131072 blocks of 512
seed_a=$((RANDOM * 32768 + RANDOM))
seed_b=$((seed_a + 7919))
barrier=$TG_DIR/barrier
mkdir "$barrier"
common=(--count 32 --max-blocks 512 --no-eol-checks)

# Both are logged in before either writes (barrier "login"), and each checks the peer's half only
# after both finished writing (barrier "written"), over its own still-open session.
"$RWCHECK" "${common[@]}" --initiator iqn.2026-11.org.targe:concurrent-a --barrier "$barrier:0:2" \
	--seed "$seed_a" --range "0:$half" --peer "$seed_b:$half:$half" "$url" >"$TG_DIR/a.out" 2>&1 &
pid_a=$!
"$RWCHECK" "${common[@]}" --initiator iqn.2026-11.org.targe:concurrent-b --barrier "$barrier:1:2" \
	--seed "$seed_b" --range "$half:$half" --peer "$seed_a:0:$half" "$url" >"$TG_DIR/b.out" 2>&1 &
pid_b=$!
rc_a=0 rc_b=0
wait $pid_a || rc_a=$?
wait $pid_b || rc_b=$?
sed 's/^/[a] /' "$TG_DIR/a.out"
sed 's/^/[b] /' "$TG_DIR/b.out"
[ $rc_a -eq 0 ] || tg_fail "session A (seed $seed_a) failed"
[ $rc_b -eq 0 ] || tg_fail "session B (seed $seed_b) failed"
grep -q "peer's data: 32 extents.*intact (seed $seed_b)" "$TG_DIR/a.out" || tg_fail "A did not verify B's writes"
grep -q "peer's data: 32 extents.*intact (seed $seed_a)" "$TG_DIR/b.out" || tg_fail "B did not verify A's writes"

# And a third, later session sees both halves.
"$RWCHECK" "${common[@]}" --verify-only "$seed_a" --range "0:$half" "$url" || tg_fail "A's half after both sessions ended"
"$RWCHECK" "${common[@]}" --verify-only "$seed_b" --range "$half:$half" "$url" || tg_fail "B's half after both sessions ended"
