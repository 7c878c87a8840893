#!/bin/bash
# Scenario: a userspace SRP initiator (srp-probe) sends what ib_srp never does: rejected logins, partial indirect tables, immediate data, residuals, malformed IUs, task management, a replacing single-channel login, a wrong R_Key; then ib_srp still works.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

PROBE=$(dirname "$LAB_TARGED")/srp-probe
[ -x "$PROBE" ] || fail "no srp-probe beside $LAB_TARGED (build the srp-probe target)"
make_disk 64
srp_target_start
guid=$(srp_guid)
step "srp-probe"
"$PROBE" "$IP" "$SRP_PORT" "0x$guid$guid" "0x00000000000000aa$guid" > "$SO/probe.txt" 2>&1
rc=$?
cat "$SO/probe.txt"
[ $rc -eq 0 ] || fail "srp-probe: $(grep -m1 '^FAIL' "$SO/probe.txt")"
target_alive || fail "targed died under srp-probe"

step "ib_srp after the probe"
srp_add
srp_fio after-probe --bs=4k --iodepth=8 --size=8M
srp_remove
target_stop
log "PASS"
