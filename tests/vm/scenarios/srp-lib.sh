# Guest helpers for the SRP scenarios: targed with an SRP portal, ib_srp add_target/remove, checks on what the initiator sees.
# Sourced after common.sh by srp-*.sh (bash, root, inside the lab guest).

SRP_PORT=5555
SRP_HOST_DIR=/sys/class/infiniband_srp/srp-rxe0-1

# targed serves LUN 0 over iSCSI/TCP (so that the same data can be read back through it and so
# that common.sh's wait_listening has a TCP port to watch) and over SRP on the soft-RoCE address;
# SRP_EXTRA_TRANSPORTS (a transports.* line) adds iSER too.
#
# srp_target_start: target_start, then until targed's SRP portal listens (it opens after the
# iSCSI one that target_start waits for, and opening the RDMA device takes a moment)
srp_target_start() {
	TARGED_EXTRA_PORTALS="
  srp = { listen = [ \"$IP:$SRP_PORT\" ]; };${SRP_EXTRA_TRANSPORTS:+
  $SRP_EXTRA_TRANSPORTS}"
	TARGED_TRANSPORTS='"iscsi", "srp"'${SRP_EXTRA_TRANSPORTS:+', "iser"'}
	target_start
	local i=0
	until grep -q "listening on $IP:$SRP_PORT (RDMA-CM)" "$SO/target.log"; do
		target_alive || fail "targed exited at start: $(tail -n 1 "$SO/target.log")"
		i=$((i + 1)); [ $i -gt 100 ] && fail "targed did not start its SRP portal within 20 s"
		sleep 0.2
	done
}

srp_guid() { tr -d ':' < /sys/class/infiniband/rxe0/node_guid; }

# The initiator port id ib_srp sends on RoCE: initiator_ext (0) then the port GUID.
srp_initiator_id() { echo "0x0000000000000000$(srp_guid)"; }

srp_log_target_port() { grep -E 'srp|rdma' "$SO/target.log" | tail -n 5; }

# srp_add [extra add_target options]: logs in to targed's default target port and sets DISK to
# the new sd device. Returns 1 (with SRP_ADD_ERR) if the kernel refused the login.
srp_add() {
	local guid opts
	guid=$(srp_guid)
	opts="id_ext=$guid,ioc_guid=$guid,dest=$IP:$SRP_PORT${1:+,$1}"
	step "ib_srp add_target $opts"
	[ -d "$SRP_HOST_DIR" ] || fail "no $SRP_HOST_DIR (ib_srp not attached to rxe0)"
	echo "\$ echo $opts > $SRP_HOST_DIR/add_target" >> "$SO/initiator.log"
	if ! SRP_ADD_ERR=$(echo "$opts" 2>&1 > "$SRP_HOST_DIR/add_target"); then
		echo "$SRP_ADD_ERR" >> "$SO/initiator.log"
		return 1
	fi
	local i=0 d=""
	while [ $i -lt 100 ]; do
		d=$(srp_disk)
		[ -n "$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
		d=""; sleep 0.3; i=$((i + 1))
	done
	[ -n "$d" ] || fail "add_target succeeded, but no SCSI disk appeared within 30 s"
	DISK=/dev/$d
	log "SRP LUN 0 is $DISK ($(($(cat "/sys/block/$d/size") / 2048)) MiB), $(srp_host_attr ch_count) channel(s)"
}

# The sd device behind an ib_srp SCSI host (the only SRP target in these scenarios).
srp_disk() {
	local b h
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		h=$(readlink -f "$b/device" | grep -o 'host[0-9]*' | head -n 1)
		[ -n "$h" ] && grep -q ib_srp "/sys/class/scsi_host/$h/proc_name" 2>/dev/null && { basename "$b"; return; }
	done
}

srp_scsi_host() { # hostN of the SRP target port
	local h
	for h in /sys/class/scsi_host/host*; do
		grep -q ib_srp "$h/proc_name" 2>/dev/null && { basename "$h"; return; }
	done
}

srp_host_attr() { local h; h=$(srp_scsi_host); [ -n "$h" ] && cat "/sys/class/scsi_host/$h/$1" 2>/dev/null; }

# srp_remove: deletes the SRP remote port (ib_srp disconnects every channel) and waits for the
# disk to go.
srp_remove() {
	step "delete the SRP remote port"
	local p d=${DISK#/dev/} i=0
	for p in /sys/class/srp_remote_ports/*/delete; do
		[ -e "$p" ] || continue
		echo "\$ echo 1 > $p" >> "$SO/initiator.log"
		echo 1 > "$p"
	done
	while { [ -n "$d" ] && [ -e "/sys/block/$d" ]; } || [ -n "$(srp_scsi_host)" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "the SRP disk/host still exists 20 s after delete"
		sleep 0.2
	done
	DISK=""
	sync; echo 3 > /proc/sys/vm/drop_caches
}

srp_cleanup() {
	local p
	for p in /sys/class/srp_remote_ports/*/delete; do [ -e "$p" ] && echo 1 > "$p" 2>/dev/null; done
	return 0
}
# common.sh's cleanup runs on exit; the SRP ports go first (its exit status is kept)
trap 'rc_=$?; srp_cleanup; (exit $rc_); cleanup' EXIT

# Files with known contents, their checksums in $WORK/sums.
write_files() {
	mkdir -p "$MNT/d1/d2"
	local i
	for i in 1 2 3 4 5 6; do
		head -c $((i * 700 * 1024 + i * 13)) /dev/urandom > "$MNT/file$i" || fail "writing file$i failed"
	done
	head -c 3000000 /dev/urandom > "$MNT/d1/d2/deep"
	seq 1 20000 > "$MNT/d1/numbers"
	(cd "$MNT" && find . -type f ! -path './lost+found/*' | sort | xargs sha256sum) > "$WORK/sums"
	log "$(wc -l < "$WORK/sums") files, $(du -sk "$MNT" | cut -f1) KiB"
}

check_files() { # check_files WHAT
	(cd "$MNT" && sha256sum -c --quiet "$WORK/sums") || fail "checksums differ $1"
}

# Every line the target logged at warning level or worse, for scenarios that expect none.
target_warnings() { grep -E '^[0-9:.]+ (warn|error)' "$SO/target.log"; }

# expect_no_warnings [EXPECTED]: fails on any warning or error targed logged, but those
# matching the extended regex EXPECTED
expect_no_warnings() {
	if target_warnings | grep -vE "${1:-^$}" > "$WORK/warnings"; then
		cat "$WORK/warnings"
		fail "targed logged unexpected warnings: $(head -n 1 "$WORK/warnings")"
	fi
}

expect_zero_copies() {
	grep -q "data path copies: 0 bytes" "$SO/target.log" ||
		fail "targed copied data on the SRP data path: $(grep 'data path copies' "$SO/target.log")"
}

# srp_fio LABEL FIO-OPTIONS...: random writes on $DISK, every block read back and checked (crc32c).
srp_fio() {
	local label=$1; shift
	step "fio $label"
	fio --name="$label" --filename="$DISK" --direct=1 --ioengine=libaio --rw=randwrite \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_dump=1 --runtime=90 \
		--output="$SO/fio-$label.txt" "$@" 2> "$SO/fio-$label.err"
	local rc=$?
	cat "$SO/fio-$label.txt" "$SO/fio-$label.err"
	[ $rc -eq 0 ] || fail "fio $label failed (exit $rc): $(grep -m1 -iE 'verify|error|bad' "$SO/fio-$label.err" "$SO/fio-$label.txt" | cut -d: -f2-)"
	grep -q 'err= 0' "$SO/fio-$label.txt" || fail "fio $label reported errors"
}

# srp_channel_stat CHANNEL WHAT: the count targed logged for the channel's last close, e.g.
# srp_channel_stat ch1 "commands" or srp_channel_stat ch0 "with a fetched descriptor table".
srp_channel_stat() {
	grep " $1: channel closed;" "$SO/target.log" | tail -n 1 |
		sed -n "s/.*[;(,] *\([0-9]*\) $2.*/\1/p"
}

# Reloads ib_srp with module parameters (no SRP target may exist).
srp_reload() {
	step "reload ib_srp $*"
	modprobe -r ib_srp || fail "cannot unload ib_srp"
	modprobe ib_srp "$@" || fail "cannot load ib_srp $*"
	local i=0
	until [ -d "$SRP_HOST_DIR" ]; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "ib_srp did not attach to rxe0 again"; sleep 0.2
	done
}
