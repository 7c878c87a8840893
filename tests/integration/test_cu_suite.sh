#!/bin/bash
# One `run` line of cu-suites.txt: libiscsi iscsi-test-cu over a fresh target; any FAILED test, or a skip no `skip` line allows, fails.
source "$(dirname "$0")/lib.sh"

name=${1:?usage: test_cu_suite.sh NAME SECONDS LAYOUT PATTERNS}
seconds=${2:?seconds}
layout=${3:?layout}
patterns=${4:?comma-separated Suite or Suite.Test patterns}
suites_file=$TG_INTEGRATION_DIR/cu-suites.txt

urls=()
case "$layout" in
default) ;;
read_only) # LUN 0 mapped read-only, for suites that check writes are refused
	tg_device disk0 64M 512
	tg_lun "$TG_IQN" 0 disk0 ro
	;;
removable) # LUN 0 with a removable medium: PREVENT ALLOW, eject and load
	tg_device disk0 64M 512
	tg_removable disk0
	tg_lun "$TG_IQN" 0 disk0
	;;
multipath) # the default LUN through two portals; the second URL is the multipath path
	tg_second_portal
	;;
4k) # 4096-byte logical blocks: one logical block per physical block
	tg_device disk0 64M 4096
	tg_lun "$TG_IQN" 0 disk0
	;;
protected) # LUN 0 formatted with type 1 protection information, for the PI-aware tests
	tg_device disk0 64M 512 1
	tg_lun "$TG_IQN" 0 disk0
	;;
*) tg_fail "unknown layout '$layout' (known: default, read_only, removable, multipath, 4k, protected)" ;;
esac
tg_start
urls+=("$(tg_url 0)")
[ "$layout" != multipath ] || urls+=("$(tg_url2 0)")

tests=$(tr ',' '\n' <<<"$patterns" | sed 's/^/ALL./' | paste -sd, -)
out=$TG_DIR/cu.out
timeout -k 5 "$seconds" iscsi-test-cu --dataloss --allow-sanitize --test="$tests" \
	--initiator-name=iqn.2026-11.org.targe:cu-1 --initiator-name-2=iqn.2026-11.org.targe:cu-2 \
	"${urls[@]}" >"$out" 2>&1 &
cu=$!
# libiscsi retries a dead target forever: stop waiting as soon as the daemon is gone.
while kill -0 $cu 2>/dev/null; do
	if ! tg_alive; then
		sleep 0.5
		kill $cu 2>/dev/null || true
		wait $cu || true
		sed -n '/^Suite:/,$p' "$out"
		tg_fail "$TARGE_TEST_TARGET died during $name ($patterns)"
	fi
	sleep 0.1
done
rc=0
wait $cu || rc=$?
sed -n '/^Suite:/,$p' "$out"
echo
# For docs/conformance.md (tests/integration/cu-report.py): keep the output where asked.
[ -z "${TG_CU_RESULTS:-}" ] || cp "$out" "$TG_CU_RESULTS/$name.out"
[ $rc -ne 124 ] || tg_fail "iscsi-test-cu $name did not finish within ${seconds}s"

# CUnit's "tests  Total Ran Passed Failed Inactive" line is the verdict; the exit status is not reliable.
summary=$(grep -E '^ +tests +[0-9]' "$out") || tg_fail "no CUnit summary (iscsi-test-cu exit status $rc)"
read -r _ total ran passed failed inactive <<<"$summary"
[ "$ran" -gt 0 ] || tg_fail "$name ran no tests (are they in 'iscsi-test-cu --list'?)"
for pattern in $(tr ',' ' ' <<<"$patterns"); do
	suite=${pattern%%.*}
	grep -q "^Suite: $suite\$" "$out" || tg_fail "suite $suite ($pattern) did not run"
done

# Suite.Test of every test that printed [SKIPPED] while it ran, with its first reason.
skips=$(awk '
	/^Suite: / { suite = $2 }
	/^  Test: / { name = suite "." $2 }
	/\[SKIPPED\]/ && name != "" && !(name in seen) {
		reason = $0; sub(/.*\[SKIPPED\] */, "", reason)
		seen[name] = 1; print name " " reason
	}' "$out")
allowed=$(awk '$1 == "skip" { print $2 }' "$suites_file")
skipped=0 unexpected=
while read -r test reason; do
	[ -n "$test" ] || continue
	skipped=$((skipped + 1))
	ok=
	for pattern in $allowed; do
		# shellcheck disable=SC2053 # the skip pattern is a glob on purpose
		if [[ $test == $pattern ]]; then ok=1; fi
	done
	if [ -n "$ok" ]; then
		tg_log "skipped (allowed): $test: $reason"
	else
		tg_log "skipped, and no skip line of cu-suites.txt allows it: $test: $reason"
		unexpected="$unexpected $test"
	fi
done <<<"$skips"
if [ "$failed" -ne 0 ]; then
	names=$(awk '/^Suite: / { suite = $2 } /^  Test: / { name = suite "." $2 }
		/FAILED$/ && name != "" && !(name in seen) { seen[name] = 1; printf "%s ", name }' "$out")
	tg_fail "$name: $failed of $ran test(s) FAILED: $names"
fi
[ "$passed" -eq "$ran" ] || tg_fail "$name: only $passed of $ran passed"
[ -z "$unexpected" ] || tg_fail "$name: unexpected skips:$unexpected"
# The read-only suite skips everything, and passes, on a LUN without WP.
if [ "$layout" = read_only ] && grep -q "not write-protected" "$out"; then
	tg_fail "$name did not see LUN 0 as write-protected"
fi
tg_assert_alive "after $name"
tg_log "$name: $passed/$total passed ($skipped skipped, $inactive inactive)"
