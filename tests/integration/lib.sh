# Harness sourced by every integration test: runs the target under test on a free loopback port with a throwaway config.
#
# Environment (ctest sets the paths):
#   TARGED             targed binary under test
#   RWCHECK            the rwcheck client built beside it
#   TARGE_TEST_TARGET  targed (default) | tgt: run the same test against Debian's tgtd for reference
#   TG_KEEP=1          keep the temporary directory (config, images, logs) after the test
#   TG_IO_THREADS      targed's global.io_threads (unset: its default, one loop)
#   TG_GLOBAL_EXTRA    more settings of global, e.g. 'buffer_memory = "16M";'
#   TG_ISCSI_EXTRA     more settings of transports.iscsi, e.g. "login_timeout = 1;"
#
# A test declares devices and LUNs (or takes the default: one 64 MiB file device on LUN 0 of
# iqn.2026-11.org.targe:test), calls tg_start, and talks to tg_url. On exit the daemon gets
# SIGTERM and must exit 0 within TG_STOP_TIMEOUT seconds; on failure its log is printed.

set -eEuo pipefail
# set -e alone exits silently: name the command that failed.
trap 'echo "FAIL: status $? from \"$BASH_COMMAND\" at ${BASH_SOURCE[0]##*/}:$LINENO" >&2' ERR

TARGE_TEST_TARGET=${TARGE_TEST_TARGET:-targed}
export PYTHONDONTWRITEBYTECODE=1 # keep __pycache__ out of the source tree
TG_IQN=iqn.2026-11.org.targe:test
TG_HOST=127.0.0.1
TG_STOP_TIMEOUT=${TG_STOP_TIMEOUT:-15}
TG_START_TIMEOUT=${TG_START_TIMEOUT:-15}
TG_INTEGRATION_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TG_NAME=$(basename "$0" .sh)

TG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/targe-it.$TG_NAME.XXXXXX")
TG_CONF=$TG_DIR/targed.conf
TG_LOG=$TG_DIR/daemon.log
TG_PID=
TG_PORT=
TG_PORT2= # a second portal of the same targets, when tg_second_portal asked for one
TG_STARTS=0
TG_TGT_CONTROL=$((($$ % 32000) + 100)) # tgtd's management channel number (at most 32767)
: >"$TG_LOG"

# Declared layout: "name size block_size" and "target lun device [ro]".
TG_DEVICES=()
TG_LUNS=()

case "$TARGE_TEST_TARGET" in
targed)
	: "${TARGED:?TARGED must name the targed binary (ctest sets it)}"
	[ -x "$TARGED" ] || { echo "FAIL: TARGED=$TARGED is not an executable" >&2; exit 1; }
	;;
tgt) command -v tgtd >/dev/null || { echo "FAIL: tgtd not installed (package tgt)" >&2; exit 1; } ;;
*) echo "FAIL: TARGE_TEST_TARGET must be targed or tgt, not '$TARGE_TEST_TARGET'" >&2; exit 1 ;;
esac

tg_log() { echo "[$TG_NAME] $*" >&2; }
tg_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Tests that exercise targed-only behaviour (its config, its log) report "not run" under tgt.
tg_require_targed() {
	if [ "$TARGE_TEST_TARGET" != targed ]; then
		tg_log "not applicable to $TARGE_TEST_TARGET: $*"
		exit 77
	fi
}

# tg_device NAME SIZE [BLOCK_SIZE [PI_TYPE [HOST_GUARD]]]: PI_TYPE 1-3 formats the device with
# protection information (PATH.pi beside the image), HOST_GUARD names the PI profile on the wire.
tg_device() { TG_DEVICES+=("$1 $2 ${3:-512} ${4:-0} ${5:-}"); }
# tg_removable NAME: the declared device NAME gets a removable medium (eject, load, prevent).
TG_REMOVABLE=()
tg_removable() { TG_REMOVABLE+=("$1"); }
tg_is_removable() {
	local name
	for name in "${TG_REMOVABLE[@]}"; do [ "$name" != "$1" ] || return 0; done
	return 1
}
# Call before tg_start: the targets listen on a second port too (tg_url2), for multipath tests.
tg_second_portal() { TG_PORT2=$(tg_pick_port); }
# tg_lun TARGET LUN DEVICE [ro]: "ro" maps the LUN read-only (writes get DATA PROTECT).
tg_lun() { TG_LUNS+=("$1 $2 $3 ${4:-}"); }

# tgt keeps LUN 0 for its controller, so disk LUN n of the declared layout is n+1 there.
tg_wire_lun() {
	if [ "$TARGE_TEST_TARGET" = tgt ]; then echo $(($1 + 1)); else echo "$1"; fi
}

# iscsi://127.0.0.1:PORT/TARGET/LUN for a declared LUN (default: LUN 0 of the test target).
tg_url() {
	local lun=${1:-0} target=${2:-$TG_IQN}
	echo "iscsi://$TG_HOST:$TG_PORT/$target/$(tg_wire_lun "$lun")"
}
# The same through the second portal (tg_second_portal).
tg_url2() {
	local lun=${1:-0} target=${2:-$TG_IQN}
	[ -n "$TG_PORT2" ] || tg_fail "tg_url2 without tg_second_portal"
	echo "iscsi://$TG_HOST:$TG_PORT2/$target/$(tg_wire_lun "$lun")"
}

tg_size_bytes() {
	local s=$1
	case "$s" in
	*K) echo $((${s%K} * 1024)) ;;
	*M) echo $((${s%M} * 1024 * 1024)) ;;
	*G) echo $((${s%G} * 1024 * 1024 * 1024)) ;;
	*) echo "$s" ;;
	esac
}

tg_pick_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tg_port_accepts() {
	(exec 3<>"/dev/tcp/$TG_HOST/$1") 2>/dev/null
}

tg_targets() {
	local entry target lun device
	for entry in "${TG_LUNS[@]}"; do
		read -r target lun device <<<"$entry"
		echo "$target"
	done | awk '!seen[$0]++'
}

tg_block_size_of() {
	local entry name size bs
	for entry in "${TG_DEVICES[@]}"; do
		read -r name size bs _ <<<"$entry"
		if [ "$name" = "$1" ]; then echo "$bs"; fi
	done
}

tg_write_config() {
	local entry name size bs pi guard target lun device ro sep lsep listen
	listen="\"$TG_HOST:$TG_PORT\""
	[ -z "$TG_PORT2" ] || listen="$listen, \"$TG_HOST:$TG_PORT2\""
	{
		echo "# Generated by tests/integration/lib.sh for $TG_NAME."
		echo "global = {"
		echo "  log_level      = \"${TG_LOG_LEVEL:-info}\";"
		echo "  control_socket = \"$TG_DIR/targed.sock\";"
		[ -z "${TG_IO_THREADS:-}" ] || echo "  io_threads     = $TG_IO_THREADS;"
		[ -z "${TG_GLOBAL_EXTRA:-}" ] || echo "  $TG_GLOBAL_EXTRA"
		echo "};"
		echo "transports = { iscsi = { listen = [ $listen ];${TG_ISCSI_EXTRA:+ $TG_ISCSI_EXTRA} }; };"
		echo "devices = ("
		sep=" "
		for entry in "${TG_DEVICES[@]}"; do
			read -r name size bs pi guard <<<"$entry"
			local protection=
			[ "$pi" = 0 ] || protection=" protection = { type = $pi;${guard:+ host_guard = \"$guard\";} };"
			local removable=
			! tg_is_removable "$name" || removable=" removable = true;"
			echo " $sep{ name = \"$name\"; backend = \"file\"; path = \"$TG_DIR/$name.img\"; size = \"$size\"; block_size = $bs;$protection$removable }"
			sep=","
		done
		echo ");"
		echo "targets = ("
		sep=" "
		for target in $(tg_targets); do
			echo " $sep{ name = \"$target\";"
			echo "    luns = ("
			lsep=" "
			for entry in "${TG_LUNS[@]}"; do
				read -r name lun device ro <<<"$entry"
				[ "$name" = "$target" ] || continue
				echo "     $lsep{ lun = $lun; device = \"$device\";${ro:+ read_only = true;} }"
				lsep=","
			done
			echo "    );"
			echo "  }"
			sep=","
		done
		echo ");"
	} >"$TG_CONF"
}

tg_default_layout() {
	if [ ${#TG_DEVICES[@]} -eq 0 ]; then
		tg_device disk0 64M 512
		tg_lun "$TG_IQN" 0 disk0
	fi
}

# Starts tgtd in the foreground and builds the same layout with tgtadm.
tg_start_tgt() {
	local entry tid=0 target name size bs lun device ro
	setpriv --pdeathsig KILL -- tgtd -f -C "$TG_TGT_CONTROL" --iscsi "portal=$TG_HOST:$TG_PORT" >>"$TG_LOG" 2>&1 &
	TG_PID=$!
	tg_wait_port
	[ -z "$TG_PORT2" ] || tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op new --mode portal \
		--param "portal=$TG_HOST:$TG_PORT2"
	for entry in "${TG_DEVICES[@]}"; do
		read -r name size bs _ <<<"$entry"
		[ -e "$TG_DIR/$name.img" ] || truncate -s "$(tg_size_bytes "$size")" "$TG_DIR/$name.img"
	done
	for target in $(tg_targets); do
		tid=$((tid + 1))
		tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op new --mode target --tid $tid -T "$target"
		tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op bind --mode target --tid $tid -I ALL
		# tgt answers None to a CRC32C-only offer unless the target allows digests.
		tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op update --mode target --tid $tid -n HeaderDigest -v CRC32C,None
		tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op update --mode target --tid $tid -n DataDigest -v CRC32C,None
		for entry in "${TG_LUNS[@]}"; do
			read -r name lun device ro <<<"$entry"
			[ "$name" = "$target" ] || continue
			tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op new --mode logicalunit --tid $tid \
				--lun $((lun + 1)) -b "$TG_DIR/$device.img" --blocksize "$(tg_block_size_of "$device")"
			[ -z "$ro" ] || tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op update --mode logicalunit \
				--tid $tid --lun $((lun + 1)) --params readonly=1
			! tg_is_removable "$device" || tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op update \
				--mode logicalunit --tid $tid --lun $((lun + 1)) --params removable=1
		done
	done
}

tg_wait_port() {
	local deadline=$((SECONDS + TG_START_TIMEOUT))
	until tg_port_accepts "$TG_PORT"; do
		if ! kill -0 "$TG_PID" 2>/dev/null; then
			local rc=0
			wait "$TG_PID" || rc=$?
			TG_PID=
			tg_fail "$TARGE_TEST_TARGET exited with status $rc before listening on $TG_HOST:$TG_PORT"
		fi
		[ $SECONDS -lt $deadline ] || tg_fail "$TARGE_TEST_TARGET not listening on $TG_HOST:$TG_PORT after ${TG_START_TIMEOUT}s"
		sleep 0.05
	done
}

# tg_wait_ready MARK: until targed has logged "ready" since log offset MARK. Its first portal
# accepts before the rest of the start (other portals, I/O threads) is done.
tg_wait_ready() {
	local deadline=$((SECONDS + TG_START_TIMEOUT))
	until tg_log_since "$1" | grep -q " targed   ready: "; do
		kill -0 "$TG_PID" 2>/dev/null || tg_fail "targed exited during its start"
		[ $SECONDS -lt $deadline ] || tg_fail "targed not ready after ${TG_START_TIMEOUT}s"
		sleep 0.05
	done
}

# Starts the daemon (same port and data files on a restart) and returns once it is ready (tgt:
# once the port accepts).
tg_start() {
	[ -z "$TG_PID" ] || tg_fail "tg_start: daemon already running"
	tg_default_layout
	[ -n "$TG_PORT" ] || TG_PORT=$(tg_pick_port)
	while [ -n "$TG_PORT2" ] && [ "$TG_PORT2" = "$TG_PORT" ]; do TG_PORT2=$(tg_pick_port); done
	TG_STARTS=$((TG_STARTS + 1))
	echo "==== start #$TG_STARTS of $TARGE_TEST_TARGET on $TG_HOST:$TG_PORT ====" >>"$TG_LOG"
	if [ "$TARGE_TEST_TARGET" = tgt ]; then
		tg_start_tgt
	else
		tg_write_config
		local mark
		mark=$(tg_log_mark)
		# If ctest kills this script on a timeout, the daemon must not outlive it.
		setpriv --pdeathsig KILL -- "$TARGED" -c "$TG_CONF" >>"$TG_LOG" 2>&1 &
		TG_PID=$!
		tg_wait_port
		tg_wait_ready "$mark"
	fi
	tg_log "$TARGE_TEST_TARGET pid $TG_PID serving $TG_HOST:$TG_PORT (dir $TG_DIR)"
}

tg_alive() {
	[ -n "$TG_PID" ] && kill -0 "$TG_PID" 2>/dev/null
}

tg_assert_alive() {
	tg_alive || tg_fail "$TARGE_TEST_TARGET (pid $TG_PID) is no longer running: $*"
}

# SIGTERM (tgt: its management shutdown), wait, and demand exit status 0.
tg_stop() {
	[ -n "$TG_PID" ] || return 0
	local pid=$TG_PID rc=0 tid
	TG_PID=
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" || rc=$?
		echo "FAIL: $TARGE_TEST_TARGET died before it was stopped (status $rc)" >&2
		return 1
	fi
	if [ "$TARGE_TEST_TARGET" = tgt ]; then
		# tgtd ignores SIGTERM; its own shutdown is a management request.
		for tid in $(seq 1 "$(tg_targets | wc -l)"); do
			tgtadm -C "$TG_TGT_CONTROL" --lld iscsi --op delete --mode target --tid "$tid" --force || true
		done
		tgtadm -C "$TG_TGT_CONTROL" --op delete --mode system || true
	else
		kill -TERM "$pid"
	fi
	local deadline=$((SECONDS + TG_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			echo "FAIL: $TARGE_TEST_TARGET did not exit within ${TG_STOP_TIMEOUT}s of SIGTERM" >&2
			return 1
		fi
		sleep 0.05
	done
	wait "$pid" || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: $TARGE_TEST_TARGET exited with status $rc after SIGTERM (expected 0)" >&2
		return 1
	fi
	echo "==== stopped, exit status 0 ====" >>"$TG_LOG"
	[ "$TARGE_TEST_TARGET" != tgt ] || rm -f "/var/run/tgtd/socket.$TG_TGT_CONTROL" "/var/run/tgtd/socket.$TG_TGT_CONTROL.lock"
	return 0
}

tg_restart() {
	tg_stop || exit 1
	tg_start
}

# Lines the daemon logged since byte offset $1 of its log (take the offset with tg_log_mark).
tg_log_mark() { stat -c %s "$TG_LOG"; }
tg_log_since() { tail -c +$(($1 + 1)) "$TG_LOG"; }

tg__on_exit() {
	local rc=$?
	set +e
	tg_stop || { [ $rc -ne 0 ] || rc=1; }
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "---- $TARGE_TEST_TARGET log ($TG_LOG) ----" >&2
		tail -n 300 "$TG_LOG" >&2
		echo "---- end of log ----" >&2
		echo "$TG_NAME: FAILED" >&2
	elif [ $rc -eq 0 ]; then
		echo "$TG_NAME: passed" >&2
	fi
	if [ "${TG_KEEP:-0}" = 1 ]; then
		echo "kept $TG_DIR" >&2
	else
		rm -rf "$TG_DIR"
	fi
	exit $rc
}
trap tg__on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
