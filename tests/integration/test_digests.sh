#!/bin/bash
# CRC32C digests: libiscsi with header digests through a digest-checking relay, and a raw client with data digests too.
source "$(dirname "$0")/lib.sh"

tg_start

# libiscsi 1.19 takes the header digest from the URL; it would silently accept "None" back, so the
# relay proves CRC32C was negotiated and that every header carried a correct digest both ways.
python3 "$TG_INTEGRATION_DIR/digest_proxy.py" "$TG_HOST" "$TG_PORT" \
	--port-file "$TG_DIR/proxy.port" --report "$TG_DIR/proxy.report" &
proxy=$!
for _ in $(seq 100); do [ -s "$TG_DIR/proxy.port" ] && break; sleep 0.05; done
[ -s "$TG_DIR/proxy.port" ] || tg_fail "digest relay did not start"
proxy_url="iscsi://$TG_HOST:$(cat "$TG_DIR/proxy.port")/$TG_IQN/$(tg_wire_lun 0)?header_digest=crc32c"
seed=$((RANDOM * 32768 + RANDOM))
"$RWCHECK" --seed "$seed" --count 24 --max-blocks 512 "$proxy_url" || rw_failed=1
kill -TERM "$proxy"
wait "$proxy" || true
cat "$TG_DIR/proxy.report"
[ -z "${rw_failed:-}" ] || tg_fail "rwcheck with header_digest=crc32c (seed $seed)"
report=$(grep -c . "$TG_DIR/proxy.report" || true)
[ "$report" -eq 1 ] || tg_fail "expected 1 relayed connection, saw $report"
line=$(cat "$TG_DIR/proxy.report")
field() { sed -E "s/.*[ ^]$1=([^ ]*).*/\1/" <<<" $line"; }
[ "$(field offered_header_digest)" = CRC32C ] || tg_fail "libiscsi did not offer HeaderDigest=CRC32C: $line"
[ "$(field header_digest)" = CRC32C ] || tg_fail "target did not answer HeaderDigest=CRC32C: $line"
[ "$(field bad)" -eq 0 ] || tg_fail "digest errors on the wire: $line"
# Every PDU after the login exchange carries a header digest; the login request and response
# that negotiate it do not (RFC 7143 13.1), so exactly two headers go unchecked.
pdus=$(( $(field pdus_to_target) + $(field pdus_to_initiator) ))
[ "$pdus" -ge 100 ] || tg_fail "too few PDUs relayed: $line"
[ "$(field checked_headers)" -eq $((pdus - 2)) ] || tg_fail "not every full-feature header was digested: $line"
[ "$(field pdus_to_initiator)" -ge 48 ] || tg_fail "too few PDUs from the target: $line"
tg_log "header digests verified on $(field checked_headers) PDUs"

# The data also reached the disk: a plain session (no digests) reads the same pattern.
"$RWCHECK" --verify-only "$seed" --count 24 --max-blocks 512 --no-eol-checks "$(tg_url 0)" ||
	tg_fail "data written over the digest session is not readable without digests"

log_arg=(--log "$TG_LOG")
[ "$TARGE_TEST_TARGET" = targed ] || log_arg=()
python3 "$TG_INTEGRATION_DIR/digests.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" "$(tg_wire_lun 0)" \
	--pid "$TG_PID" "${log_arg[@]}" || tg_fail "raw-client digest checks"
tg_assert_alive "after the digest checks"
