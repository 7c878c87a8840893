#!/bin/bash
# Session reinstatement replaces the old session and acknowledges nothing it did not write.
source "$(dirname "$0")/lib.sh"

tg_start
python3 "$TG_INTEGRATION_DIR/reinstate.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" ||
	tg_fail "session reinstatement"
tg_assert_alive "after reinstatement"
if [ "$TARGE_TEST_TARGET" = targed ]; then
	grep -q "reinstating session" "$TG_LOG" || tg_fail "no reinstatement line in the daemon log"
fi
