#!/bin/bash
# Benchmark (not run by ctest): targed's SRP target, as configured by default and with one I/O thread pinned per CPU, against LIO's ib_srpt in one guest boot; fio 4 KiB random read QD32 and 1 MiB sequential read QD8, alternating rounds, medians.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

ROUNDS=${SRP_COMPARE_ROUNDS:-3}
FIO_RUNTIME=${SRP_COMPARE_RUNTIME:-10}
# more ib_srp add_target options for every login, e.g. ch_count=1; more fio options for every
# run, e.g. "--numjobs=2 --cpus_allowed_policy=split --group_reporting" (one job per CPU)
ADD_OPTS=${SRP_COMPARE_ADD_OPTS:-}
read -r -a FIO_OPTS <<< "${SRP_COMPARE_FIO_OPTS:-}"
# targed's configurations: "targed" is the default one (or what TARGED_IO_THREADS and
# TARGED_IO_THREAD_CPUS say), "targed-pinned" has one I/O thread per CPU, each pinned to its CPU.
# ib_srp opens one channel per CPU and sends a CPU's requests down its channel; LIO works on the
# CPU a request came from. Pinned, targed does the same for channel N on CPU N, which is what
# lets the initiator use both channels for large reads under rxe (docs/performance.md).
VARIANTS=${SRP_COMPARE_TARGEDS:-targed targed-pinned}
NCPU=$(nproc)
DEFAULT_THREADS=${TARGED_IO_THREADS:-}
DEFAULT_CPUS=${TARGED_IO_THREAD_CPUS:-}
SIZE_MIB=64
TARGED_PORT=5556
LIO_PORT=5555
# label:fio-rw:bs:iodepth:unit
WORKLOADS="randread-4k-qd32:randread:4k:32:IOPS read-1m-qd8:read:1M:8:MiB/s"

# targed: a 256 MiB file on tmpfs, as LIO's below
make_disk 256
# targed_as VARIANT: targed restarted in that configuration
targed_as() {
	target_alive && target_stop
	case "$1" in
	targed) TARGED_IO_THREADS=$DEFAULT_THREADS TARGED_IO_THREAD_CPUS=$DEFAULT_CPUS ;;
	targed-pinned) TARGED_IO_THREADS=$NCPU TARGED_IO_THREAD_CPUS=$(seq -s ', ' 0 $((NCPU - 1))) ;;
	*) fail "unknown targed configuration $1 (SRP_COMPARE_TARGEDS: targed, targed-pinned)" ;;
	esac
	SRP_PORT=$TARGED_PORT
	srp_target_start
	log "$1: io_threads ${TARGED_IO_THREADS:-1}${TARGED_IO_THREAD_CPUS:+, pinned to CPUs $TARGED_IO_THREAD_CPUS}"
}

step "LIO ib_srpt on port $LIO_PORT"
T=/sys/kernel/config/target
for m in target_core_mod target_core_file ib_srpt; do modprobe $m || fail "cannot load $m"; done
truncate -s 256M "$WORK/lio.img"
{
	mkdir -p $T/srpt && echo $LIO_PORT > $T/srpt/discovery_auth/rdma_cm_port &&
	mkdir -p $T/core/fileio_0/lun0 &&
	echo "fd_dev_name=$WORK/lio.img,fd_dev_size=268435456" > $T/core/fileio_0/lun0/control &&
	echo 1 > $T/core/fileio_0/lun0/enable
} >> "$SO/target.log" 2>&1 || fail "LIO backstore setup failed"
ng=$(cat /sys/class/infiniband/rxe0/node_guid)
S=$T/srpt/$ng/tpgt_1
mkdir -p "$S" 2>/dev/null || { S=$T/srpt/$ng/tpg; mkdir -p "$S"; } || fail "cannot create the srpt port $ng"
mkdir -p "$S/lun/lun_0" && ln -s $T/core/fileio_0/lun0 "$S/lun/lun_0/vol" || fail "srpt LUN setup failed"
# ib_srpt names an RDMA/CM initiator by its IP address (and IB ones by port id)
for acl in "$IP" "0x0000000000000000$(srp_guid)"; do
	mkdir "$S/acls/$acl" 2>/dev/null && mkdir "$S/acls/$acl/lun_0" &&
		ln -s "$S/lun/lun_0" "$S/acls/$acl/lun_0/m" && log "srpt ACL $acl"
done
echo 1 > "$S/enable" || fail "cannot enable the srpt port"

bench_once() { # bench_once WHO PORT ROUND
	SRP_PORT=$2
	srp_add "$ADD_OPTS" || fail "$1: add_target failed: $SRP_ADD_ERR"
	local q=/sys/block/${DISK#/dev/}/queue
	log "$1: max_sectors_kb $(cat $q/max_sectors_kb) (hw $(cat $q/max_hw_sectors_kb)), max_segments $(cat $q/max_segments), nr_requests $(cat $q/nr_requests)"
	if [ "$3" = 1 ]; then
		step "$1: fill the first $SIZE_MIB MiB"
		dd if=/dev/urandom of="$DISK" bs=1M count=$SIZE_MIB oflag=direct status=none || fail "fill failed"
	fi
	local w label rw bs qd unit daemon
	daemon=$([ "$1" != lio ] && target_pid || echo none)
	for w in $WORKLOADS; do
		IFS=: read -r label rw bs qd unit <<< "$w"
		fio_measure "$1-$label-$3" "$daemon" $rw $bs $qd $unit --size=${SIZE_MIB}M "${FIO_OPTS[@]}"
		fio_record "$1-$label"
	done
	srp_remove
	# fio has finished, so a channel that closes with requests unanswered lost them
	if [ "$1" != lio ] && grep 'channel closed' "$SO/target.log" | grep -qv ' 0 requests still in progress'; then
		fail "targed closed a channel with requests unanswered: $(grep 'channel closed' "$SO/target.log" | grep -v ' 0 requests still' | head -n 1)"
	fi
}
for r in $(seq 1 "$ROUNDS"); do
	for v in $VARIANTS; do
		targed_as "$v"
		bench_once "$v" $TARGED_PORT "$r"
	done
	bench_once lio $LIO_PORT "$r"
done

step "results (median of $ROUNDS rounds, ${FIO_RUNTIME} s each)"
fio_result_lines srp "$VARIANTS lio" "$WORKLOADS" | tee "$SO/results.txt"
cp "$SO/results.txt" "$SO/summary.txt"

target_stop
# LIO's srpt listens on its RDMA/CM port until the module goes: the next scenario may want it.
step "LIO teardown"
{
	echo 0 > "$S/enable"
	for acl in "$S"/acls/*/; do
		[ -d "$acl" ] || continue
		rm -f "$acl"lun_0/m; rmdir "$acl"lun_0 "$acl"
	done
	rm -f "$S/lun/lun_0/vol"; rmdir "$S/lun/lun_0" "$S" "$T/srpt/$ng"
	rmdir "$T/core/fileio_0/lun0" "$T/core/fileio_0"
	rmdir "$T/srpt"   # the fabric's directory holds the module
	modprobe -r ib_srpt
} >> "$SO/target.log" 2>&1 || fail "LIO teardown failed (ib_srpt still holds port $LIO_PORT)"
log "PASS"
