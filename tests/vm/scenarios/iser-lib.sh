# Guest helpers for the iSER scenarios: targed on iSCSI/TCP and iSER at the same address, an open-iscsi iface of transport iser, the target's copy counter, a disk that holds the target's I/O on demand.
# Sourced after common.sh by iser-*.sh (bash, root, inside the lab guest).

ISER_IFACE=iser

# targed serves LUN 0 over iSCSI/TCP and iSER on the same IP:port (RDMA-CM and TCP ports are
# separate spaces), so one discovery finds the node for both transports.
TARGED_EXTRA_PORTALS="
  iser = { listen = [ \"$IP:$PORT\" ]; };"
TARGED_TRANSPORTS='"iscsi", "iser"'

# iser_iface: the open-iscsi iface that logs in over ib_iser (open-iscsi has a built-in one
# named iser; it is created only where it is missing)
iser_iface() {
	if ! iscsiadm -m iface -I "$ISER_IFACE" 2>/dev/null | grep -q 'iface.transport_name = iser'; then
		iadm -m iface -I "$ISER_IFACE" -o new
		iadm -m iface -I "$ISER_IFACE" -o update -n iface.transport_name -v iser
	fi
	iscsiadm -m iface -I "$ISER_IFACE" 2>/dev/null | grep -q 'iface.transport_name = iser' ||
		fail "no iface of transport iser"
}

# iser_discover: SendTargets (over TCP) through the iser iface records the node for iSER
iser_discover() {
	step "discovery through the iser iface"
	local out
	out=$(timeout 60 iscsiadm -m discovery -t st -p "$IP:$PORT" -I "$ISER_IFACE" 2>&1)
	echo "$out" | tee -a "$SO/initiator.log"
	echo "$out" | grep -q "^$IP:$PORT,[0-9]* $IQN\$" || fail "iser discovery did not list $IQN (got: $(echo "$out" | tr '\n' ' '))"
	iser_node_set node.session.timeo.replacement_timeout "${REPLACEMENT_TIMEOUT:-15}"
}

iser_node_set() { # iser_node_set KEY VALUE: in the node record of the iser iface
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" -o update -n "$1" -v "$2" ||
		fail "cannot set $1 on the iser node"
}

# the sd device of our session over the given transport (iser or tcp)
transport_disk() {
	timeout 20 iscsiadm -m session -P 3 2>/dev/null | awk -v t="$1" '
		/Iface Transport:/ { cur = $3 }
		/Attached scsi disk/ && cur == t { print $4; exit }'
}

# iser_login: sets DISK to the iSER session's disk
iser_login() {
	step "login over iSER"
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" --login ||
		fail "iSER login to $IQN failed ($(grep -E '^iscsiadm: (initiator reported|Could not)' "$SO/initiator.log" | tail -n 1))"
	local i=0 d=""
	while [ $i -lt 100 ]; do
		d=$(transport_disk iser)
		[ -n "$d" ] && [ -e "/dev/$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
		d=""; sleep 0.3; i=$((i + 1))
	done
	[ -n "$d" ] || fail "logged in over iSER, but no SCSI disk appeared within 30 s"
	DISK=/dev/$d
	grep -q "logged in to $IQN over iser" "$SO/target.log" || fail "targed did not log an iSER login"
	log "iSER LUN 0 is $DISK ($(($(cat "/sys/block/$d/size") / 2048)) MiB)"
}

iser_logout() {
	step "logout of the iSER session"
	local d=${DISK#/dev/}
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I "$ISER_IFACE" --logout || fail "iSER logout failed"
	local i=0
	while [ -n "$d" ] && [ -e "/sys/block/$d" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	[ -n "$d" ] && [ -e "/sys/block/$d" ] && fail "$DISK still present 10 s after the iSER logout"
	DISK=""
	sync; echo 3 > /proc/sys/vm/drop_caches
}

# tcp_login / tcp_logout: the iSCSI/TCP session of the default iface alone (common.sh's login
# and logout act on every iface's record of the node)
tcp_login() {
	step "login over iSCSI/TCP"
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I default --login || fail "TCP login to $IQN failed"
	local i=0 d=""
	while [ $i -lt 100 ]; do
		d=$(transport_disk tcp)
		[ -n "$d" ] && [ -e "/dev/$d" ] && [ "$(cat "/sys/block/$d/size" 2>/dev/null || echo 0)" -gt 0 ] && break
		d=""; sleep 0.3; i=$((i + 1))
	done
	[ -n "$d" ] || fail "logged in over TCP, but no SCSI disk appeared within 30 s"
	TCP_DISK=/dev/$d
}
tcp_logout() {
	step "logout of the TCP session"
	iadm -m node -T "$IQN" -p "$IP:$PORT" -I default --logout || fail "TCP logout failed"
	TCP_DISK=""
}

# iser_closes: how many iSER connections targed has logged as closed so far
iser_closes() { grep -c 'iser .*connection closed:' "$SO/target.log"; }

# iser_conn_stats AFTER: waits (10 s) for an iSER connection close beyond the first AFTER ones
# and sets COPIES, RDMA_READ, RDMA_WRITE from the newest one's log line
iser_conn_stats() {
	local i=0 line
	while [ "$(iser_closes)" -le "$1" ]; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "targed logged no close of the iSER connection"
		sleep 0.2
	done
	line=$(grep 'iser .*connection closed:' "$SO/target.log" | tail -n 1)
	log "targed: ${line#*iser }"
	COPIES=$(echo "$line" | sed -n 's/.*data path copies: \([0-9]*\) bytes.*/\1/p')
	RDMA_READ=$(echo "$line" | sed -n 's/.*closed: \([0-9]*\) bytes by RDMA READ.*/\1/p')
	RDMA_WRITE=$(echo "$line" | sed -n 's/.*, \([0-9]*\) by RDMA WRITE.*/\1/p')
}

# iser_wait_portal: targed opens its TCP portal first; the RDMA-CM one follows a moment later
iser_wait_portal() {
	local i=0
	until grep -q "iser .*listening on $IP:$PORT (RDMA-CM)" "$SO/target.log"; do
		target_alive || fail "targed exited: $(tail -n 1 "$SO/target.log")"
		i=$((i + 1)); [ $i -gt 100 ] && fail "targed did not start its iSER portal within 20 s"
		sleep 0.2
	done
}

rdma_check() {
	[ -d /sys/class/infiniband/rxe0 ] || fail "no rxe0 in the guest: $(cat "$LAB_OUT/rxe.err" 2>/dev/null)"
}

# hold_disk: puts LUN 0 on dm-delay (no delay yet), so that a scenario can keep the target's
# commands in its backend for as long as it likes (hold_io)
hold_disk() {
	modprobe loop 2>/dev/null; modprobe dm_delay || fail "cannot load dm_delay"
	HOLD_UNDER=$DISK_PATH
	if [ "$DISK_BACKEND" = file ]; then
		HOLD_LOOP=$(losetup --find --show "$DISK_PATH") || fail "losetup $DISK_PATH failed"
		HOLD_UNDER=$HOLD_LOOP
	fi
	HOLD_SECTORS=$(blockdev --getsz "$HOLD_UNDER") || fail "no size for $HOLD_UNDER"
	echo "0 $HOLD_SECTORS delay $HOLD_UNDER 0 0" |
		DM_DISABLE_UDEV=1 dmsetup create targe-hold --noudevsync || fail "dmsetup create targe-hold failed"
	DISK_PATH=/dev/mapper/targe-hold
	DISK_BACKEND=block
}

# hold_io MS: every read and write of the LUN's device waits MS ms from now on; hold_io 0 lets
# what is held go at once (dm-delay flushes its queue when the table is swapped)
hold_set() {
	echo "0 $HOLD_SECTORS delay $HOLD_UNDER 0 $1" |
		DM_DISABLE_UDEV=1 dmsetup reload targe-hold --noudevsync &&
		DM_DISABLE_UDEV=1 dmsetup resume targe-hold --noudevsync
}
hold_io() { hold_set "$1" || fail "cannot set the hold to $1 ms"; }

# held_ios: I/Os of the target waiting in the hold (dm-delay's status after "START LEN delay":
# the reads, writes and flushes it holds now)
held_ios() {
	DM_DISABLE_UDEV=1 dmsetup status targe-hold 2>/dev/null |
		awk '$3 == "delay" { for (f = 4; f <= NF; f++) n += $f } END { print n + 0 }'
}
