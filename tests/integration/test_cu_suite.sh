#!/bin/bash
# One libiscsi iscsi-test-cu suite against a fresh target: any FAILED test fails, skips are listed.
source "$(dirname "$0")/lib.sh"

suite=${1:?usage: test_cu_suite.sh SUITE [SECONDS]}
seconds=${2:-60}
tg_start

out=$TG_DIR/cu.out
rc=0
timeout -k 5 "$seconds" iscsi-test-cu --dataloss --test="ALL.$suite" \
	--initiator-name=iqn.2026-11.org.targe:cu-1 --initiator-name-2=iqn.2026-11.org.targe:cu-2 \
	"$(tg_url 0)" >"$out" 2>&1 || rc=$?
sed -n '/^Suite:/,$p' "$out"
[ $rc -ne 124 ] || tg_fail "iscsi-test-cu ALL.$suite did not finish within ${seconds}s"

# CUnit's "tests  Total Ran Passed Failed Inactive" line is the verdict; the exit status is not reliable.
summary=$(grep -E '^ +tests +[0-9]' "$out") || { cat "$out"; tg_fail "no CUnit summary (iscsi-test-cu exit status $rc)"; }
read -r _ total ran passed failed inactive <<<"$summary"
[ "$ran" -gt 0 ] || tg_fail "suite ALL.$suite ran no tests (is it in 'iscsi-test-cu --list'?)"
skipped=$(grep -c '\[SKIPPED\]' "$out" || true)
if [ "$skipped" -gt 0 ]; then
	tg_log "$skipped test(s) skipped:"
	grep -h '\[SKIPPED\]' "$out" | sed -E 's/^ +/  /; s/ \.\.\. +/: /' >&2 || true
fi
if [ "$failed" -ne 0 ]; then
	grep -E 'Test: .*FAILED' "$out" >&2 || true
	tg_fail "ALL.$suite: $failed of $ran test(s) FAILED"
fi
[ "$passed" -eq "$ran" ] || tg_fail "ALL.$suite: only $passed of $ran passed"
tg_assert_alive "after ALL.$suite"
tg_log "ALL.$suite: $passed/$total passed, $skipped skipped, $inactive inactive"
