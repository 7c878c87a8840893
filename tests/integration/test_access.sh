#!/bin/bash
# LUN masking: initiators named by access rules and groups see their own LUN views of shared devices, read-only mappings refuse writes, unnamed initiators are refused and not listed.
source "$(dirname "$0")/lib.sh"
tg_require_targed "access rules are targed's config"
: "${ACCESSCHECK:?ACCESSCHECK must name the accesscheck binary (ctest sets it)}"

PRIVATE=iqn.2026-11.org.targe:private
WEB1=iqn.2026-11.org.test:web1
WEB2=iqn.2026-11.org.test:Web2 # the group names it in upper case; names match case-insensitively
DB=iqn.2026-11.org.test:db
STRANGER=iqn.2026-11.org.test:stranger

# d0 is mapped six times: default LUN 0, web LUN 3 (read-only) and db LUN 5 of the test
# target, db LUN 2 (read-only) of the private one. The private target has no default LUNs.
tg_write_config() {
	cat >"$TG_CONF" <<EOF
global = { log_level = "${TG_LOG_LEVEL:-info}"; control_socket = "$TG_DIR/targed.sock"; };
transports = { iscsi = { listen = [ "$TG_HOST:$TG_PORT" ]; }; };
devices = (
  { name = "d0"; backend = "file"; path = "$TG_DIR/d0.img"; size = "16M"; block_size = 512; },
  { name = "d1"; backend = "file"; path = "$TG_DIR/d1.img"; size = "8M"; block_size = 512; },
  { name = "d2"; backend = "file"; path = "$TG_DIR/d2.img"; size = "4M"; block_size = 4096; }
);
initiator_groups = (
  { name = "web"; initiators = [ "$WEB1", "IQN.2026-11.ORG.TEST:WEB2" ]; }
);
targets = (
  { name = "$TG_IQN";
    luns = ( { lun = 0; device = "d0"; } );
    access = (
      { group = "web";
        luns = ( { lun = 3; device = "d0"; read_only = true; }, { lun = 0; device = "d1"; } ); },
      # web1 is named here too, but the group rule above comes first and wins.
      { initiators = [ "$DB", "$WEB1" ];
        luns = ( { lun = 5; device = "d0"; }, { lun = 7; device = "d2"; } ); }
    );
  },
  { name = "$PRIVATE";
    access = (
      { initiators = [ "$DB" ];
        luns = ( { lun = 1; device = "d1"; }, { lun = 2; device = "d0"; read_only = true; } ); }
    );
  }
);
EOF
}
tg_start

portal="iscsi://$TG_HOST:$TG_PORT"
url() { echo "$portal/$1/$2"; } # target, LUN

# check WHO COMMAND TARGET LUN [ARGS...]: accesscheck's stdout; its failure fails the test.
check() {
	local who=$1 command=$2 target=$3 lun=$4 out
	shift 4
	out=$("$ACCESSCHECK" -i "$who" "$command" "$(url "$target" "$lun")" "$@") ||
		{ echo "$out" >&2; tg_fail "$who: accesscheck $command on $target LUN $lun failed"; }
	echo "$out"
}

expect() { # what, expected, actual
	[ "$2" = "$3" ] || tg_fail "$1: expected '$2', got '$3'"
	tg_log "$1: $3"
}

# ---- REPORT LUNS: each initiator's own view ----
expect "web1 LUNs on $TG_IQN" "0 3" "$(check "$WEB1" luns "$TG_IQN" 0)"
expect "Web2 LUNs on $TG_IQN" "0 3" "$(check "$WEB2" luns "$TG_IQN" 0)"
expect "db LUNs on $TG_IQN" "5 7" "$(check "$DB" luns "$TG_IQN" 5)"
expect "stranger LUNs on $TG_IQN" "0" "$(check "$STRANGER" luns "$TG_IQN" 0)"
expect "db LUNs on $PRIVATE" "1 2" "$(check "$DB" luns "$PRIVATE" 1)"

# ---- device identity behind each LUN (VPD 0x83 NAA) ----
naa_d0=$(check "$STRANGER" naa "$TG_IQN" 0)
naa_d1=$(check "$WEB1" naa "$TG_IQN" 0)
naa_d2=$(check "$DB" naa "$TG_IQN" 7)
[ "${#naa_d0}" -eq 32 ] || tg_fail "d0's NAA designator '$naa_d0' is not 16 bytes"
[ "$naa_d0" != "$naa_d1" ] && [ "$naa_d0" != "$naa_d2" ] && [ "$naa_d1" != "$naa_d2" ] ||
	tg_fail "d0, d1, d2 must have distinct NAA designators: $naa_d0 $naa_d1 $naa_d2"
expect "NAA of web1 $TG_IQN LUN 3 (d0)" "$naa_d0" "$(check "$WEB1" naa "$TG_IQN" 3)"
expect "NAA of Web2 $TG_IQN LUN 3 (d0)" "$naa_d0" "$(check "$WEB2" naa "$TG_IQN" 3)"
expect "NAA of Web2 $TG_IQN LUN 0 (d1)" "$naa_d1" "$(check "$WEB2" naa "$TG_IQN" 0)"
expect "NAA of db $TG_IQN LUN 5 (d0)" "$naa_d0" "$(check "$DB" naa "$TG_IQN" 5)"
expect "NAA of db $PRIVATE LUN 1 (d1)" "$naa_d1" "$(check "$DB" naa "$PRIVATE" 1)"
expect "NAA of db $PRIVATE LUN 2 (d0)" "$naa_d0" "$(check "$DB" naa "$PRIVATE" 2)"

# A LUN of someone else's view does not exist for this initiator.
if out=$("$ACCESSCHECK" -i "$WEB1" read "$(url "$TG_IQN" 5)" 0 2>&1); then
	echo "$out" >&2
	tg_fail "web1 read db's LUN 5"
fi
# libiscsi's login already sends TEST UNIT READY to the LUN, so that is where it shows.
grep -qE "5/25/00|ILLEGAL_REQUEST\(5\) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED\(0x2500\)" <<<"$out" ||
	{ echo "$out" >&2; tg_fail "web1 on LUN 5: expected LOGICAL UNIT NOT SUPPORTED"; }

# ---- read-only mappings ----
expect "WP of web1 $TG_IQN LUN 3" "wp6=1 wp10=1" "$(check "$WEB1" wp "$TG_IQN" 3)"
expect "WP of db $PRIVATE LUN 2" "wp6=1 wp10=1" "$(check "$DB" wp "$PRIVATE" 2)"
expect "WP of db $TG_IQN LUN 5" "wp6=0 wp10=0" "$(check "$DB" wp "$TG_IQN" 5)"
expect "WP of stranger $TG_IQN LUN 0" "wp6=0 wp10=0" "$(check "$STRANGER" wp "$TG_IQN" 0)"

# db writes d0 through its read-write LUN 5; everyone else mapping d0 reads it back.
token="rw-by-db-$$-$RANDOM"
expect "db WRITE(10) on $TG_IQN LUN 5" "WRITE(10): GOOD" "$(check "$DB" write "$TG_IQN" 5 10 "$token")"

# Every write-class command through a read-only mapping: DATA PROTECT / WRITE PROTECTED.
# Commands the target does not implement yet are recognised by probing db's read-write
# LUN 5 at scratch LBA 100 (accesscheck fails the run if only the read-only side refuses).
for ro in "$WEB1 $TG_IQN 3 100" "$DB $PRIVATE 2 101"; do
	read -r who target lun probe_lba <<<"$ro"
	out=$("$ACCESSCHECK" -i "$who" refuse-writes "$(url "$target" "$lun")" 10 \
		"$DB" "$(url "$TG_IQN" 5)" "$probe_lba") || { echo "$out" >&2; tg_fail "$who: refuse-writes on $target LUN $lun failed"; }
	echo "$out" | sed "s/^/[$who $target LUN $lun] /" >&2
	for cmd in "WRITE(6)" "WRITE(10)" "WRITE(12)" "WRITE(16)"; do
		grep -qxF "$cmd: refused 7/27/00" <<<"$out" || tg_fail "$who $target LUN $lun: $cmd not refused with 7/27/00"
	done
done

expect "web1 reads d0 via $TG_IQN LUN 3" "$token" "$(check "$WEB1" read "$TG_IQN" 3 10)"
expect "Web2 reads d0 via $TG_IQN LUN 3" "$token" "$(check "$WEB2" read "$TG_IQN" 3 10)"
expect "stranger reads d0 via $TG_IQN LUN 0" "$token" "$(check "$STRANGER" read "$TG_IQN" 0 10)"
expect "db reads d0 via $PRIVATE LUN 2" "$token" "$(check "$DB" read "$PRIVATE" 2 10)"

# The default mapping is read-write too, and its write shows through web's read-only LUN.
token2="rw-by-stranger-$$-$RANDOM"
expect "stranger WRITE(10) on $TG_IQN LUN 0" "WRITE(10): GOOD" "$(check "$STRANGER" write "$TG_IQN" 0 11 "$token2")"
expect "web1 reads it via $TG_IQN LUN 3" "$token2" "$(check "$WEB1" read "$TG_IQN" 3 11)"
# And web's read-write LUN 0 is d1, not d0.
expect "web1 WRITE(10) on $TG_IQN LUN 0 (d1)" "WRITE(10): GOOD" "$(check "$WEB1" write "$TG_IQN" 0 10 "web-on-d1")"
expect "db reads d1 via $PRIVATE LUN 1" "web-on-d1" "$(check "$DB" read "$PRIVATE" 1 10)"
expect "d0 LBA 10 unchanged" "$token" "$(check "$DB" read "$TG_IQN" 5 10)"

# ---- refused logins: no rule and no default LUNs ----
mark=$(tg_log_mark)
for who in "$STRANGER" "$WEB1"; do
	if out=$("$ACCESSCHECK" -i "$who" login "$(url "$PRIVATE" 0)" 2>&1); then
		echo "$out" >&2
		tg_fail "$who logged in to $PRIVATE"
	fi
	grep -qF "Authorization failure(514)" <<<"$out" || { echo "$out" >&2; tg_fail "$who: expected login status 0x0202 (514)"; }
	tg_log "$who refused by $PRIVATE: $out"
done
tg_log_since "$mark" | grep -q "login of $STRANGER to $PRIVATE refused (status 0x0202)" ||
	tg_fail "the daemon did not log the 0x0202 refusal of $STRANGER"

# ---- SendTargets lists only what the initiator may log in to ----
expect "targets SendTargets lists to stranger" "$TG_IQN" "$("$ACCESSCHECK" -i "$STRANGER" discover "$portal" | sort | tr '\n' ' ' | sed 's/ $//')"
expect "targets SendTargets lists to web1" "$TG_IQN" "$("$ACCESSCHECK" -i "$WEB1" discover "$portal" | sort | tr '\n' ' ' | sed 's/ $//')"
expect "targets SendTargets lists to db" "$PRIVATE $TG_IQN" "$("$ACCESSCHECK" -i "$DB" discover "$portal" | sort | tr '\n' ' ' | sed 's/ $//')"

# libiscsi's own tool agrees: discovery, then REPORT LUNS in each listed target.
ls_view() { # initiator -> "target:lun ..." sorted
	local out
	out=$(timeout 30 iscsi-ls -s -i "$1" "$portal" 2>&1) || { echo "$out" >&2; tg_fail "iscsi-ls -i $1 failed"; }
	awk '/^Target:/ { t = substr($1, 8) } /^Lun:/ { print t ":" substr($1, 5) }' <<<"$out" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect "iscsi-ls view of stranger" "$TG_IQN:0" "$(ls_view "$STRANGER")"
expect "iscsi-ls view of Web2" "$TG_IQN:0 $TG_IQN:3" "$(ls_view "$WEB2")"
expect "iscsi-ls view of db" "$PRIVATE:1 $PRIVATE:2 $TG_IQN:5 $TG_IQN:7" "$(ls_view "$DB")"

tg_assert_alive "after the access checks"
