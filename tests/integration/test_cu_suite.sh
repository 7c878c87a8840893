#!/bin/bash
# One libiscsi iscsi-test-cu suite against a fresh target: any FAILED test fails, skips are listed.
source "$(dirname "$0")/lib.sh"

suite=${1:?usage: test_cu_suite.sh SUITE [SECONDS [LAYOUT]]}
seconds=${2:-60}
layout=${3:-}
case "$layout" in
"") ;;
read_only) # LUN 0 mapped read-only, for suites that check writes are refused
	tg_device disk0 64M 512
	tg_lun "$TG_IQN" 0 disk0 ro
	;;
protected) # LUN 0 formatted with type 1 protection information, for the PI-aware tests
	tg_device disk0 64M 512 1
	tg_lun "$TG_IQN" 0 disk0
	;;
*) tg_fail "unknown layout '$layout' (known: read_only, protected)" ;;
esac
tg_start

out=$TG_DIR/cu.out
timeout -k 5 "$seconds" iscsi-test-cu --dataloss --allow-sanitize --test="ALL.$suite" \
	--initiator-name=iqn.2026-11.org.targe:cu-1 --initiator-name-2=iqn.2026-11.org.targe:cu-2 \
	"$(tg_url 0)" >"$out" 2>&1 &
cu=$!
# libiscsi retries a dead target forever: stop waiting as soon as the daemon is gone.
while kill -0 $cu 2>/dev/null; do
	if ! tg_alive; then
		sleep 0.5
		kill $cu 2>/dev/null || true
		wait $cu || true
		sed -n '/^Suite:/,$p' "$out"
		tg_fail "$TARGE_TEST_TARGET died during ALL.$suite"
	fi
	sleep 0.1
done
rc=0
wait $cu || rc=$?
sed -n '/^Suite:/,$p' "$out"
echo
[ $rc -ne 124 ] || tg_fail "iscsi-test-cu ALL.$suite did not finish within ${seconds}s"

# CUnit's "tests  Total Ran Passed Failed Inactive" line is the verdict; the exit status is not reliable.
summary=$(grep -E '^ +tests +[0-9]' "$out") || tg_fail "no CUnit summary (iscsi-test-cu exit status $rc)"
read -r _ total ran passed failed inactive <<<"$summary"
[ "$ran" -gt 0 ] || tg_fail "suite ALL.$suite ran no tests (is it in 'iscsi-test-cu --list'?)"

# A test is skipped when a [SKIPPED] note appears while it runs; list each with its first reason.
skips=$(awk '
	/^  Test: / { name = $2 }
	/\[SKIPPED\]/ && name != "" && !(name in seen) {
		reason = $0; sub(/.*\[SKIPPED\] */, "", reason)
		seen[name] = 1; print name ": " reason
	}' "$out")
skipped=0
if [ -n "$skips" ]; then
	skipped=$(wc -l <<<"$skips")
	tg_log "$skipped test(s) skipped:"
	sed 's/^/  /' <<<"$skips" >&2
fi
if [ "$failed" -ne 0 ]; then
	names=$(awk '/^  Test: / { name = $2 } /FAILED$/ && name != "" && !(name in seen) { seen[name] = 1; printf "%s ", name }' "$out")
	tg_fail "ALL.$suite: $failed of $ran test(s) FAILED: $names"
fi
[ "$passed" -eq "$ran" ] || tg_fail "ALL.$suite: only $passed of $ran passed"
# The read-only suites skip everything, and pass, on a LUN without WP.
if [ "$layout" = read_only ] && grep -q "not write-protected" "$out"; then
	tg_fail "ALL.$suite did not see LUN 0 as write-protected"
fi
tg_assert_alive "after ALL.$suite"
tg_log "ALL.$suite: $passed/$total passed ($skipped skipped, $inactive inactive)"
