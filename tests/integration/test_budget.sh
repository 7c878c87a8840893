#!/bin/bash
# global.buffer_memory: past the data-buffer budget commands get TASK SET FULL, nothing is lost, and I/O resumes.
source "$(dirname "$0")/lib.sh"

tg_require_targed "buffer_memory is a targed setting"
TG_GLOBAL_EXTRA='buffer_memory = "16M";'
tg_start
python3 "$TG_INTEGRATION_DIR/budget.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" \
	--pid "$TG_PID" --log "$TG_LOG" || tg_fail "data-buffer budget"
tg_assert_alive "after the budget checks"
