#!/bin/bash
# targectl over the control socket: targets, devices, sessions and stats match the live daemon; junk on the socket does not hurt it; the socket's life cycle.
source "$(dirname "$0")/lib.sh"
tg_require_targed "the control socket is targed's"
: "${TARGECTL:?TARGECTL must name the targectl binary (ctest sets it)}"

SOCK=$TG_DIR/targed.sock
DB1=iqn.2026-11.org.test:DB1 # the group names it in lower case; names match case-insensitively
OTHER=iqn.2026-11.org.test:other
CPU=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))') # both I/O threads pinned there

tg_write_config() {
	cat >"$TG_CONF" <<EOF
global = { log_level = "${TG_LOG_LEVEL:-info}"; control_socket = "$SOCK"; io_threads = 2;
           io_thread_cpus = [ $CPU, $CPU ]; buffer_memory = "32M"; };
transports = { iscsi = { listen = [ "$TG_HOST:$TG_PORT" ]; }; };
devices = (
  { name = "d0"; backend = "file"; path = "$TG_DIR/d0.img"; size = "16M"; block_size = 512; },
  { name = "d1"; backend = "file"; path = "$TG_DIR/d1.img"; size = "8M"; block_size = 512;
    removable = true; },
  { name = "d2"; backend = "file"; path = "$TG_DIR/d2.img"; size = "4M"; block_size = 512;
    protection = { type = 1; }; }
);
initiator_groups = ( { name = "db"; initiators = [ "iqn.2026-11.org.test:db1", "iqn.2026-11.org.test:db2" ]; } );
targets = (
  { name = "$TG_IQN";
    luns = ( { lun = 0; device = "d0"; } );
    access = ( { group = "db"; luns = ( { lun = 0; device = "d0"; }, { lun = 1; device = "d1"; read_only = true; },
                                      { lun = 2; device = "d2"; } ); } );
  },
  { name = "$TG_IQN-b"; luns = ( { lun = 4; device = "d1"; read_only = true; } ); }
);
EOF
}

# expect_exit STATUS PATTERN COMMAND...: the exit status and a message on stderr.
expect_exit() {
	local want=$1 pattern=$2 rc=0 err
	shift 2
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = "$want" ] || tg_fail "$*: exit $rc, expected $want ($err)"
	grep -qiE "$pattern" <<<"$err" || tg_fail "$*: expected /$pattern/ on stderr, got: $err"
}

# No daemon yet: a clear message and exit 1; usage errors exit 2; the reserved verbs exit 3.
expect_exit 1 "not running" "$TARGECTL" -s "$SOCK" stats
expect_exit 2 "usage" "$TARGECTL" -s "$SOCK" frobnicate
expect_exit 2 "usage" "$TARGECTL"
expect_exit 2 "usage" "$TARGECTL" -s "$SOCK" -c "$TG_CONF" stats
for verb in add-lun remove-lun reload; do
	expect_exit 3 "$verb is not implemented yet" "$TARGECTL" -s "$SOCK" "$verb"
done

tg_start
python3 "$TG_INTEGRATION_DIR/targectl_check.py" --targectl "$TARGECTL" --socket "$SOCK" \
	--config "$TG_CONF" --dir "$TG_DIR" --host "$TG_HOST" --port "$TG_PORT" --target "$TG_IQN" \
	--db1 "$DB1" --other "$OTHER" || tg_fail "targectl checks"
tg_assert_alive "after the targectl checks"

# A second daemon on the same config stops at the socket the first one answers on.
rc=0
err=$("$TARGED" -c "$TG_CONF" 2>&1) || rc=$?
[ "$rc" = 1 ] || tg_fail "a second daemon on the same socket exited $rc"
grep -q "global.control_socket: .* is in use" <<<"$err" || tg_fail "second daemon said: $err"
tg_assert_alive "after a second daemon tried its socket"

# A clean stop removes the socket; targectl then says the daemon is not running.
tg_stop || exit 1
[ ! -e "$SOCK" ] || tg_fail "the control socket outlived the daemon"
expect_exit 1 "not running" "$TARGECTL" -c "$TG_CONF" sessions

# What a killed daemon leaves behind is replaced at the next start.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || tg_fail "could not plant a stale socket"
mark=$(tg_log_mark)
tg_start
tg_log_since "$mark" | grep -q "removed the stale control socket" || tg_fail "stale socket not reported"
"$TARGECTL" -s "$SOCK" stats >/dev/null || tg_fail "targectl after replacing a stale socket"
