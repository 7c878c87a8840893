#!/bin/bash
# Task management over raw iSCSI PDUs (tmf.py): RFC 7143/7144 functions, response codes, and their side effects on a second session.
source "$(dirname "$0")/lib.sh"

# QUERY TASK, QUERY TASK SET and I_T NEXUS RESET (RFC 7144) are targed's; tgt answers them
# "not supported".
tg_require_targed "RFC 7144 task management functions"
tg_start
python3 "$TG_INTEGRATION_DIR/tmf.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" ||
	tg_fail "task management checks"
tg_assert_alive "after the task management checks"
