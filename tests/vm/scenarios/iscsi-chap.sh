#!/bin/bash
# Scenario (PENDING: needs CHAP in targed): one-way and mutual CHAP logins through iscsiadm; wrong secrets are refused.
. "$(dirname "$0")/common.sh"

CHAP_USER=alice
CHAP_SECRET=twelve+chars
MUTUAL_USER=tgt
MUTUAL_SECRET=other12chars

# chap_target [mutual]: (re)start the target requiring CHAP, with target credentials if asked
chap_target() {
	CHAP_MUTUAL_USER="" CHAP_MUTUAL_SECRET=""
	local mutual=""
	if [ "${1:-}" = mutual ]; then
		CHAP_MUTUAL_USER=$MUTUAL_USER CHAP_MUTUAL_SECRET=$MUTUAL_SECRET
		mutual=" mutual_user = \"$MUTUAL_USER\"; mutual_secret = \"$MUTUAL_SECRET\";"
	fi
	TARGED_TARGET_BODY="    chap = { user = \"$CHAP_USER\"; secret = \"$CHAP_SECRET\";$mutual };
    luns = ( { lun = 0; device = \"disk0\"; } );"
	target_alive && target_stop
	target_start
}

node_set() { iadm -m node -T "$IQN" -p "$IP:$PORT" -o update -n "$1" -v "$2"; }
# auth USER SECRET [USER_IN SECRET_IN]: what the initiator presents (and expects back, if given)
auth() {
	node_set node.session.auth.authmethod CHAP
	node_set node.session.auth.username "$1"
	node_set node.session.auth.password "$2"
	node_set node.session.auth.username_in "${3:-}"
	node_set node.session.auth.password_in "${4:-}"
}
# login_refused WHY: the login must fail and leave no session behind
login_refused() {
	step "login must be refused: $1"
	if iadm -m node -T "$IQN" -p "$IP:$PORT" --login; then
		fail "login succeeded although $1"
	fi
	iscsiadm -m session > /dev/null 2>&1 && fail "a session exists after a refused login ($1)"
	log "refused, as it should be: $(grep 'initiator reported' "$SO/initiator.log" | tail -n 1)"
}
read_some() { dd if="$DISK" of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null || fail "cannot read after a $1 login"; }

make_disk 32
iscsid_start

step "target with one-way CHAP"
chap_target
discover
node_set node.session.auth.authmethod None
login_refused "the initiator offered no CHAP"
auth "$CHAP_USER" "wrong-secret-12"
login_refused "the CHAP secret was wrong"
auth "someone" "$CHAP_SECRET"
login_refused "the CHAP user was unknown"
auth "$CHAP_USER" "$CHAP_SECRET"
login
read_some "one-way CHAP"
logout

step "target with mutual CHAP"
chap_target mutual
auth "$CHAP_USER" "$CHAP_SECRET" "$MUTUAL_USER" "$MUTUAL_SECRET"
login
read_some "mutual CHAP"
logout
auth "$CHAP_USER" "$CHAP_SECRET" "$MUTUAL_USER" "not-the-target-secret"
login_refused "the target could not prove the mutual secret the initiator expects"
auth "$CHAP_USER" "wrong-secret-12" "$MUTUAL_USER" "$MUTUAL_SECRET"
login_refused "the initiator's secret was wrong (mutual)"

target_alive || fail "the target died during the CHAP logins"
target_stop
log "PASS"
