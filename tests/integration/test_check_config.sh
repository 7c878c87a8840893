#!/bin/bash
# targed --check accepts a good config and rejects bad ones with FILE:LINE; a bad config never starts listening.
source "$(dirname "$0")/lib.sh"
tg_require_targed "--check and the config format are targed's"

tg_default_layout
TG_PORT=$(tg_pick_port)
tg_write_config
good=$TG_CONF

run_targed() { # expected-status, output-file, args...
	local want=$1 out=$2 rc=0
	shift 2
	timeout 10 "$TARGED" "$@" >"$out" 2>&1 || rc=$?
	[ $rc -ne 124 ] || tg_fail "targed $* did not exit within 10 s"
	if [ $rc -ne "$want" ]; then
		cat "$out" >&2
		tg_fail "targed $* exited with $rc, expected $want"
	fi
}

run_targed 0 "$TG_DIR/good.out" -c "$good" --check
tg_log "good config: --check exit 0 ($(tr '\n' ' ' <"$TG_DIR/good.out"))"
! tg_port_accepts "$TG_PORT" || tg_fail "--check left something listening on $TG_PORT"

# Each bad config is the good one with one line changed; the message must point at that line.
bad_config() { # name, line number, replacement text -> path
	local path=$TG_DIR/$1.conf
	awk -v n="$2" -v text="$3" 'NR == n { print text; next } { print }' "$good" >"$path"
	echo "$path"
}
line_of() { grep -n -- "$1" "$good" | head -1 | cut -d: -f1; }

check_bad() { # name, line, replacement, a word the message must contain
	local name=$1 line=$2 path
	path=$(bad_config "$name" "$line" "$3")
	run_targed 1 "$TG_DIR/$name.out" -c "$path" --check
	if ! grep -qF "$path:$line:" "$TG_DIR/$name.out"; then
		cat "$TG_DIR/$name.out" >&2
		tg_fail "$name: message does not start with $path:$line:"
	fi
	grep -qiF -- "$4" "$TG_DIR/$name.out" || { cat "$TG_DIR/$name.out" >&2; tg_fail "$name: message does not mention '$4'"; }
	tg_log "$name: $(head -1 "$TG_DIR/$name.out")"
}

check_bad unknown-key "$(line_of log_level)" '  colour = "blue";' colour
check_bad bad-log-level "$(line_of log_level)" '  log_level = "loud";' log_level
check_bad syntax "$(line_of log_level)" '  log_level = = "info";' ""
check_bad unknown-device "$(line_of 'lun = 0;')" '      { lun = 0; device = "nosuchdisk"; }' nosuchdisk
check_bad bad-size "$(line_of 'backend = "file"')" \
	"  { name = \"disk0\"; backend = \"file\"; path = \"$TG_DIR/disk0.img\"; size = \"12Q\"; block_size = 512; }" size
check_bad bad-portal "$(line_of 'listen =')" 'transports = { iscsi = { listen = [ "127.0.0.1:99999" ]; }; };' 99999

# Without --check, a bad config stops the daemon before it listens.
path=$TG_DIR/unknown-key.conf
run_targed 1 "$TG_DIR/start-bad.out" -c "$path"
grep -qF "$path:" "$TG_DIR/start-bad.out" || { cat "$TG_DIR/start-bad.out" >&2; tg_fail "starting with a bad config: no FILE:LINE message"; }
! tg_port_accepts "$TG_PORT" || tg_fail "a bad config still opened $TG_PORT"

run_targed 1 "$TG_DIR/missing.out" -c "$TG_DIR/does-not-exist.conf" --check
grep -qF "does-not-exist.conf" "$TG_DIR/missing.out" || { cat "$TG_DIR/missing.out" >&2; tg_fail "missing config: message does not name the file"; }

# And the good config really serves.
tg_start
"$RWCHECK" --count 4 --max-blocks 16 "$(tg_url 0)" || tg_fail "the config that passed --check does not serve"
