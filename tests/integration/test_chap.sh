#!/bin/bash
# CHAP on targets and discovery (global.discovery_auth): good and bad secrets, mutual CHAP, hex/base64 secrets, the 12-byte minimum, and no secret in the log.
source "$(dirname "$0")/lib.sh"
tg_require_targed "CHAP settings are targed's config"
: "${ACCESSCHECK:?ACCESSCHECK must name the accesscheck binary (ctest sets it)}"

CHAP_TARGET=iqn.2026-11.org.targe:chap
MUTUAL_TARGET=iqn.2026-11.org.targe:mutual
OPEN_TARGET=iqn.2026-11.org.targe:open
INITIATOR=iqn.2026-11.org.test:chap-client

# Each secret is written in another encoding; initiators always use the decoded bytes.
ALICE_SECRET=alice-secret-01                       # plain text in the config
BOB_SECRET=bob-secret-00001                        # 16 bytes: base64 with "==" padding
DISCO_SECRET=disco-secret-01                       # hex in the config
TARGET_SECRET=target-secret-1                      # the target's own (mutual) secret
hex() { printf '0x%s' "$(printf %s "$1" | od -An -tx1 | tr -d ' \n')"; }
b64() { printf '0b%s' "$(printf %s "$1" | base64 -w0)"; }
BOB_B64=$(b64 "$BOB_SECRET")
DISCO_HEX=$(hex "$DISCO_SECRET")
[ "$BOB_B64" = "0bYm9iLXNlY3JldC0wMDAwMQ==" ] || tg_fail "base64 helper produced $BOB_B64"

write_chap_config() { # file, secret of alice as written in the config
	cat >"$1" <<EOF
global = {
  log_level = "${TG_LOG_LEVEL:-info}"; control_socket = "$TG_DIR/targed.sock";
  discovery_auth = { user = "disco"; secret = "$DISCO_HEX"; };
};
transports = { iscsi = { listen = [ "$TG_HOST:${TG_PORT:-3260}" ]; }; };
devices = ( { name = "d0"; backend = "file"; path = "$TG_DIR/d0.img"; size = "8M"; } );
targets = (
  { name = "$CHAP_TARGET"; luns = ( { lun = 0; device = "d0"; } );
    chap = { user = "alice"; secret = "$2"; }; },
  { name = "$MUTUAL_TARGET"; luns = ( { lun = 0; device = "d0"; } );
    chap = { user = "bob"; secret = "$BOB_B64";
             mutual_user = "tgt-mutual"; mutual_secret = "$TARGET_SECRET"; }; },
  { name = "$OPEN_TARGET"; luns = ( { lun = 0; device = "d0"; } ); }
);
EOF
}

# ---- the 12-byte minimum counts decoded bytes, in every encoding ----
for short in short-11chr "$(hex short-11chr)" "$(b64 short-11chr)"; do
	write_chap_config "$TG_DIR/short.conf" "$short"
	if out=$("$TARGED" -c "$TG_DIR/short.conf" --check 2>&1); then
		tg_fail "a CHAP secret of 11 bytes ('$short') passed --check"
	fi
	grep -qE "short.conf:[0-9]+: targets\[0\]\.chap\.secret: CHAP secret is 11 bytes, needs at least 12" <<<"$out" ||
		{ echo "$out" >&2; tg_fail "the 11-byte secret '$short' was refused for the wrong reason"; }
done
write_chap_config "$TG_DIR/ok.conf" "$(hex twelve-bytes)"
"$TARGED" -c "$TG_DIR/ok.conf" --check >/dev/null 2>&1 || tg_fail "a 12-byte hex secret was refused"

tg_write_config() { write_chap_config "$TG_CONF" "$ALICE_SECRET"; }
tg_start

portal="$TG_HOST:$TG_PORT"
# Guesses at a secret (wrong CHAP_R, unknown CHAP_N) count towards the limiter's 5 per
# minute per address; this test makes 4 so that every later attempt is judged on its merits.
guesses=0

login_ok() { # what, URL
	local out
	out=$("$ACCESSCHECK" -i "$INITIATOR" login "$2" 2>&1) || { echo "$out" >&2; tg_fail "$1: login refused"; }
	tg_log "$1: logged in"
}

login_refused() { # what, URL, expected text of libiscsi's error, expected daemon log text ("" = none)
	local out mark
	mark=$(tg_log_mark)
	if out=$("$ACCESSCHECK" -i "$INITIATOR" login "$2" 2>&1); then
		tg_fail "$1: login succeeded"
	fi
	grep -qF -- "$3" <<<"$out" || { echo "$out" >&2; tg_fail "$1: expected '$3'"; }
	if [ -n "$4" ]; then
		sleep 0.1 # the daemon logs after answering
		tg_log_since "$mark" | grep -qF -- "$4" || { tg_log_since "$mark" >&2; tg_fail "$1: the daemon did not log '$4'"; }
	fi
	tg_log "$1: refused ($out)"
}

AUTH_FAILED="Status: Authentication failure(513)"

# ---- one-way CHAP ----
login_ok "alice, right secret" "iscsi://alice%$ALICE_SECRET@$portal/$CHAP_TARGET/0"
# libiscsi's own tool with the same URL syntax.
timeout 20 iscsi-inq -i "$INITIATOR" "iscsi://alice%$ALICE_SECRET@$portal/$CHAP_TARGET/0" >"$TG_DIR/inq.out" 2>&1 ||
	{ cat "$TG_DIR/inq.out" >&2; tg_fail "iscsi-inq with CHAP in the URL failed"; }
grep -q "Peripheral Device Type:DIRECT_ACCESS" "$TG_DIR/inq.out" || tg_fail "iscsi-inq over CHAP: no INQUIRY data"
login_refused "no credentials" "iscsi://$portal/$CHAP_TARGET/0" "$AUTH_FAILED" "(status 0x0201)"
login_refused "alice, wrong secret" "iscsi://alice%wrong-secret-01@$portal/$CHAP_TARGET/0" "$AUTH_FAILED" \
	"failed: wrong CHAP_R for CHAP_N \"alice\""
guesses=$((guesses + 1))
login_refused "unknown user" "iscsi://mallory%$ALICE_SECRET@$portal/$CHAP_TARGET/0" "$AUTH_FAILED" \
	"failed: unknown CHAP_N \"mallory\""
guesses=$((guesses + 1))
login_refused "mutual CHAP asked of a one-way target" \
	"iscsi://alice%$ALICE_SECRET@$portal/$CHAP_TARGET/0?target_user=tgt-mutual&target_password=$TARGET_SECRET" \
	"$AUTH_FAILED" "the initiator asked for mutual CHAP, which is not configured"

# ---- mutual CHAP ----
mutual="iscsi://bob%$BOB_SECRET@$portal/$MUTUAL_TARGET/0"
login_ok "bob, mutual, both secrets right" "$mutual?target_user=tgt-mutual&target_password=$TARGET_SECRET"
timeout 20 iscsi-inq -i "$INITIATOR" "$mutual?target_user=tgt-mutual&target_password=$TARGET_SECRET" >"$TG_DIR/inq.out" 2>&1 ||
	{ cat "$TG_DIR/inq.out" >&2; tg_fail "iscsi-inq with mutual CHAP in the URL failed"; }
# The target proves a secret the initiator does not expect: the initiator walks away.
login_refused "bob, mutual, wrong target secret" "$mutual?target_user=tgt-mutual&target_password=not-the-target-1" \
	"Invalid CHAP_R response from the target" ""
login_refused "bob, mutual, wrong target user" "$mutual?target_user=someone-else&target_password=$TARGET_SECRET" \
	"Wrong CHAP targetname received: tgt-mutual" ""
login_refused "bob, one-way only" "$mutual" "$AUTH_FAILED" \
	"mutual CHAP is configured but the initiator sent no CHAP_I/CHAP_C"
login_refused "bob, wrong own secret" "iscsi://bob%bob-secret-00002@$portal/$MUTUAL_TARGET/0?target_user=tgt-mutual&target_password=$TARGET_SECRET" \
	"$AUTH_FAILED" "failed: wrong CHAP_R for CHAP_N \"bob\""
guesses=$((guesses + 1))

# A target without chap needs none, even while discovery does.
login_ok "open target, no credentials" "iscsi://$portal/$OPEN_TARGET/0"

# ---- discovery CHAP (global.discovery_auth) ----
all_targets=$(printf '%s\n' "$CHAP_TARGET" "$MUTUAL_TARGET" "$OPEN_TARGET" | sort)
out=$("$ACCESSCHECK" -i "$INITIATOR" discover "iscsi://disco%$DISCO_SECRET@$portal" 2>&1) ||
	{ echo "$out" >&2; tg_fail "discovery with the right secret failed"; }
[ "$(sort <<<"$out")" = "$all_targets" ] || { echo "$out" >&2; tg_fail "discovery over CHAP did not list the three targets"; }
out=$(timeout 20 iscsi-ls -i "$INITIATOR" "iscsi://disco%$DISCO_SECRET@$portal" 2>&1) ||
	{ echo "$out" >&2; tg_fail "iscsi-ls discovery over CHAP failed"; }
[ "$(sed -n 's/^Target:\([^ ]*\) .*/\1/p' <<<"$out" | sort)" = "$all_targets" ] ||
	{ echo "$out" >&2; tg_fail "iscsi-ls over discovery CHAP did not list the three targets"; }
tg_log "discovery with CHAP lists: $(tr '\n' ' ' <<<"$all_targets")"
for bad in "iscsi://$portal" "iscsi://disco%disco-secret-02@$portal"; do
	mark=$(tg_log_mark)
	if out=$("$ACCESSCHECK" -i "$INITIATOR" discover "$bad" 2>&1); then
		echo "$out" >&2
		tg_fail "discovery via $bad succeeded"
	fi
	grep -qF "$AUTH_FAILED" <<<"$out" || { echo "$out" >&2; tg_fail "discovery via $bad: expected $AUTH_FAILED"; }
	tg_log "discovery via $bad refused"
done
guesses=$((guesses + 1))
tg_log_since "$mark" | grep -qF "to discovery failed: wrong CHAP_R for CHAP_N \"disco\"" ||
	tg_fail "the daemon did not log the failed discovery CHAP"

# ---- the limiter stayed quiet, and no secret reached the log ----
[ "$guesses" -lt 5 ] || tg_fail "test design: $guesses guesses would trip the limiter"
login_ok "alice after $guesses failed guesses" "iscsi://alice%$ALICE_SECRET@$portal/$CHAP_TARGET/0"
! grep -q "refusing CHAP logins" "$TG_LOG" || tg_fail "the CHAP failure limiter tripped on $guesses guesses"
tg_stop || exit 1
for secret in "$ALICE_SECRET" "$BOB_SECRET" "$DISCO_SECRET" "$TARGET_SECRET" wrong-secret-01 \
	not-the-target-1 bob-secret-00002 disco-secret-02 "$DISCO_HEX" "${BOB_B64#0b}"; do
	! grep -qF -- "$secret" "$TG_LOG" || tg_fail "the daemon log contains the secret '$secret'"
done
