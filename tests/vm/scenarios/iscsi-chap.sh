#!/bin/bash
# Scenario (PENDING: needs CHAP in targed): one-way and mutual CHAP logins through iscsiadm; wrong secrets are refused.
. "$(dirname "$0")/common.sh"

CHAP_USER=alice
CHAP_SECRET=twelve+chars
CHAP_MUTUAL_USER=tgt
CHAP_MUTUAL_SECRET=other12chars
TARGED_TARGET_BODY="    chap = { user = \"$CHAP_USER\"; secret = \"$CHAP_SECRET\";
             mutual_user = \"$CHAP_MUTUAL_USER\"; mutual_secret = \"$CHAP_MUTUAL_SECRET\"; };
    luns = ( { lun = 0; device = \"disk0\"; } );"

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
	log "refused, as it should be"
}

make_disk 32
iscsid_start
target_start
discover

node_set node.session.auth.authmethod None
login_refused "the initiator offered no CHAP"
auth "$CHAP_USER" "wrong-secret-12"
login_refused "the CHAP secret was wrong"
auth "someone" "$CHAP_SECRET"
login_refused "the CHAP user was unknown"

auth "$CHAP_USER" "$CHAP_SECRET"
login
dd if="$DISK" of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null || fail "cannot read after a one-way CHAP login"
logout

auth "$CHAP_USER" "$CHAP_SECRET" "$CHAP_MUTUAL_USER" "$CHAP_MUTUAL_SECRET"
login
dd if="$DISK" of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null || fail "cannot read after a mutual CHAP login"
logout

auth "$CHAP_USER" "$CHAP_SECRET" "$CHAP_MUTUAL_USER" "not-the-target-secret"
login_refused "the target could not prove the mutual secret the initiator expects"

target_alive || fail "the target died during the CHAP logins"
target_stop
log "PASS"
