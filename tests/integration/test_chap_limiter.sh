#!/bin/bash
# The CHAP failure limiter: the 5th wrong secret within 60 s from one address starts a logged back-off that refuses even the right secret, on targets and discovery alike, while logins without CHAP go on.
source "$(dirname "$0")/lib.sh"
tg_require_targed "the CHAP limiter and its log line are targed's"
: "${ACCESSCHECK:?ACCESSCHECK must name the accesscheck binary (ctest sets it)}"

CHAP_TARGET=iqn.2026-11.org.targe:chap
OPEN_TARGET=iqn.2026-11.org.targe:open
INITIATOR=iqn.2026-11.org.test:guesser
SECRET=right-secret-01
DISCO_SECRET=disco-secret-01
TRIP_LINE="5 CHAP failures within 60 s: refusing CHAP logins from 127.0.0.1 for 60 s"

tg_write_config() {
	cat >"$TG_CONF" <<EOF
global = {
  log_level = "debug"; control_socket = "$TG_DIR/targed.sock";
  discovery_auth = { user = "disco"; secret = "$DISCO_SECRET"; };
};
transports = { iscsi = { listen = [ "$TG_HOST:$TG_PORT" ]; }; };
devices = ( { name = "d0"; backend = "file"; path = "$TG_DIR/d0.img"; size = "8M"; } );
targets = (
  { name = "$CHAP_TARGET"; luns = ( { lun = 0; device = "d0"; } );
    chap = { user = "alice"; secret = "$SECRET"; }; },
  { name = "$OPEN_TARGET"; luns = ( { lun = 0; device = "d0"; } ); }
);
EOF
}
tg_start
portal="$TG_HOST:$TG_PORT"

attempt() { # URL -> libiscsi's refusal; a successful login is printed as "logged in"
	"$ACCESSCHECK" -i "$INITIATOR" login "$1" 2>&1 || true
}
trip_lines() { grep -cF "$TRIP_LINE" "$TG_LOG" || true; }

login_ok() { # what, URL
	local out
	out=$("$ACCESSCHECK" -i "$INITIATOR" login "$2" 2>&1) || { echo "$out" >&2; tg_fail "$1: login refused"; }
	tg_log "$1: logged in"
}

login_ok "right secret before any failure" "iscsi://alice%$SECRET@$portal/$CHAP_TARGET/0"
for n in 1 2 3 4 5; do
	out=$(attempt "iscsi://alice%wrong-secret-0$n@$portal/$CHAP_TARGET/0")
	grep -qF "Authentication failure(513)" <<<"$out" || { echo "$out" >&2; tg_fail "wrong secret #$n: expected status 0x0201"; }
	sleep 0.1 # the daemon logs after answering
	lines=$(trip_lines)
	if [ "$n" -lt 5 ] && [ "$lines" -ne 0 ]; then
		tg_fail "the limiter tripped after $n failures"
	fi
	tg_log "wrong secret #$n refused; back-off lines so far: $lines"
done
[ "$(trip_lines)" -eq 1 ] || { grep auth "$TG_LOG" >&2; tg_fail "the 5th failure did not log '$TRIP_LINE' exactly once"; }
grep "refusing CHAP logins" "$TG_LOG" >&2

# During the back-off the right secret is refused too, without another verdict on it.
mark=$(tg_log_mark)
out=$(attempt "iscsi://alice%$SECRET@$portal/$CHAP_TARGET/0")
grep -qF "Authentication failure(513)" <<<"$out" || { echo "$out" >&2; tg_fail "the right secret got in during the back-off"; }
sleep 0.1
tg_log_since "$mark" | grep -qF "127.0.0.1 is backing off after repeated failures" ||
	{ tg_log_since "$mark" >&2; tg_fail "the refused attempt during the back-off was not logged at debug level"; }
! tg_log_since "$mark" | grep -q "wrong CHAP_R" || tg_fail "a back-off attempt was still checked against the secret"
tg_log "right secret during the back-off: refused"

# Switching to discovery does not escape it.
out=$("$ACCESSCHECK" -i "$INITIATOR" discover "iscsi://disco%$DISCO_SECRET@$portal" 2>&1) && { echo "$out" >&2; tg_fail "discovery CHAP got in during the back-off"; }
grep -qF "Authentication failure(513)" <<<"$out" || { echo "$out" >&2; tg_fail "discovery during the back-off: expected status 0x0201"; }

# More failures during the back-off do not log the back-off again.
attempt "iscsi://alice%wrong-secret-06@$portal/$CHAP_TARGET/0" >/dev/null
sleep 0.1
[ "$(trip_lines)" -eq 1 ] || tg_fail "the back-off line was logged again during the back-off"

# Logins that need no CHAP are not affected.
login_ok "open target during the back-off" "iscsi://$portal/$OPEN_TARGET/0"

# The limiter lives in the daemon: a restarted daemon starts with a clean count.
tg_restart
login_ok "right secret after a restart" "iscsi://alice%$SECRET@$portal/$CHAP_TARGET/0"
