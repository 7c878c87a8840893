#!/bin/bash
# Malformed PDUs (reserved opcode, truncated header, absurd DataSegmentLength) on side connections must not hurt a live session.
source "$(dirname "$0")/lib.sh"

tg_start
log_arg=(--log "$TG_LOG")
# tgt is only a reference for the protocol behaviour; its log wording is its own.
[ "$TARGE_TEST_TARGET" = targed ] || log_arg=()
python3 "$TG_INTEGRATION_DIR/malformed.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" \
	--pid "$TG_PID" "${log_arg[@]}" || tg_fail "malformed-PDU checks"
tg_assert_alive "after the malformed-PDU checks"

# A fresh libiscsi session must work too: nothing leaked into the target's state.
"$RWCHECK" --count 8 --max-blocks 64 "$(tg_url 0)" || tg_fail "new session after the malformed PDUs"
