#!/bin/bash
# transports.iscsi.login_timeout and max_sessions: stalled logins are closed, excess sessions refused.
source "$(dirname "$0")/lib.sh"

tg_require_targed "login_timeout and max_sessions are targed settings"
TG_ISCSI_EXTRA="login_timeout = 1; max_sessions = 2;"
tg_start
python3 "$TG_INTEGRATION_DIR/limits.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" \
	--pid "$TG_PID" --log "$TG_LOG" || tg_fail "connection limits"
tg_assert_alive "after the limit checks"
