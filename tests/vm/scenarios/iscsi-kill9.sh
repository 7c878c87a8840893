#!/bin/bash
# Scenario: kill -9 of the target during synchronous writes; after a restart every acknowledged write is on the disk.
. "$(dirname "$0")/common.sh"
BLOCKSEQ=$(dirname "$0")/blockseq.py
ACKED=$SO/acked.log
STOP=$WORK/stop-writer

acked() { grep -cE '^[0-9]+$' "$ACKED" 2>/dev/null || echo 0; }
# wait_acked N SECONDS: until the writer has N acknowledged blocks
wait_acked() {
	local i=0
	while [ "$(acked)" -lt "$1" ]; do
		kill -0 $writer 2>/dev/null || fail "the writer stopped early at $(acked) blocks: $(grep -m1 failed "$ACKED")"
		i=$((i + 1)); [ $i -gt $(($2 * 5)) ] && return 1
		sleep 0.2
	done
}

make_disk 64
iscsid_start
target_start
discover
login

step "synchronous numbered writes (O_DIRECT|O_DSYNC, one 4 KiB block each)"
rm -f "$STOP"
python3 "$BLOCKSEQ" write "$DISK" "$ACKED" "$STOP" &
writer=$!
wait_acked 300 60 || fail "only $(acked) blocks acknowledged in 60 s before the kill"

target_kill9
at_kill=$(acked)
log "$at_kill blocks acknowledged when the target died"
sleep 2
target_start
# the initiator reconnects by itself (replacement_timeout 15 s); writes must resume
wait_acked $((at_kill + 300)) 60 || fail "writes did not resume after the restart ($(acked) acknowledged, $at_kill at the kill)"
touch "$STOP"
wait $writer || fail "the writer failed: $(grep failed "$ACKED" | tail -1)"
log "$(acked) blocks acknowledged in all, $(grep -c failed "$ACKED") writes failed and were retried"

step "log out, log in again, read back every acknowledged block"
logout
login
python3 "$BLOCKSEQ" check "$DISK" "$ACKED" > "$WORK/check.out" 2>&1
rc=$?
cat "$WORK/check.out"
[ $rc -eq 0 ] || fail "acknowledged writes lost across kill -9: $(tail -2 "$WORK/check.out" | tr '\n' ' ')"
logout
target_alive || fail "the restarted target is gone"
target_stop
log "PASS"
