#!/bin/sh
# Runs one libFuzzer binary for a bounded time on a scratch copy of its seed corpus; any
# crash, leak, sanitizer report or timeout fails the run (the repository is never written).
# Usage: run-fuzzer.sh BINARY CORPUS_DIR   (FUZZ_TIME=seconds overrides the default 30)
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY CORPUS_DIR" >&2
	exit 2
fi
bin=$1
corpus=$2
seconds=${FUZZ_TIME:-30}
if [ ! -x "$bin" ]; then
	echo "run-fuzzer.sh: $bin is missing: build it with -DTARGE_FUZZ=ON (make fuzz-build)" >&2
	exit 1
fi
if [ ! -d "$corpus" ]; then
	echo "run-fuzzer.sh: no seed corpus at $corpus" >&2
	exit 1
fi

name=$(basename "$bin")
# A dictionary beside this script, named after the target, steers it to the keywords.
dict=$(dirname "$0")/$name.dict
set -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
[ -f "$dict" ] && set -- "$@" -dict="$dict"

work=$(mktemp -d "${TMPDIR:-/tmp}/targe-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp -R "$corpus"/. "$work/corpus/"

# halt_on_error: the first report ends the run with a non-zero status, whatever kind it is.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:halt_on_error=1" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1" \
	"$bin" "$@" -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
status=$?

found=0
[ "$status" -ne 0 ] && found=1
[ -n "$(ls -A "$work/artifacts")" ] && found=1
grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: ' "$work/log" && found=1

if [ "$found" -ne 0 ]; then
	tail -n 60 "$work/log"
	echo "run-fuzzer.sh: $name FAILED (exit $status); log and reproducers kept in $work" >&2
	exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "run-fuzzer.sh: $name ran ${runs:-?} inputs in ${seconds}s with no finding"
rm -rf "$work"
exit 0
