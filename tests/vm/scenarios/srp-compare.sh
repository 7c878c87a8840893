#!/bin/bash
# Benchmark (not run by ctest): targed's SRP target against LIO's ib_srpt in one guest boot; fio 4 KiB random read QD32 and 1 MiB sequential read QD8, alternating rounds, medians and ratios.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

ROUNDS=${SRP_COMPARE_ROUNDS:-3}
RUNTIME=${SRP_COMPARE_RUNTIME:-10}
SIZE_MIB=64
TARGED_PORT=5556
LIO_PORT=5555

# targed: a 256 MiB file on tmpfs, as LIO's below
make_disk 256
SRP_PORT=$TARGED_PORT
srp_target_start

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

declare -A results
bench_once() { # bench_once WHO PORT ROUND
	SRP_PORT=$2
	srp_add || fail "$1: add_target failed: $SRP_ADD_ERR"
	if [ "$3" = 1 ]; then
		step "$1: fill the first $SIZE_MIB MiB"
		dd if=/dev/urandom of="$DISK" bs=1M count=$SIZE_MIB oflag=direct status=none || fail "fill failed"
	fi
	local job out
	for job in rand4k seq1m; do
		out=$SO/fio-$1-$job-$3.json
		case $job in
		rand4k) set -- "$@" ; fio --name=$job --filename="$DISK" --direct=1 --ioengine=libaio \
			--rw=randread --bs=4k --iodepth=32 --size=${SIZE_MIB}M --time_based \
			--runtime=$RUNTIME --output-format=json --output="$out" ;;
		seq1m) fio --name=$job --filename="$DISK" --direct=1 --ioengine=libaio \
			--rw=read --bs=1M --iodepth=8 --size=${SIZE_MIB}M --time_based \
			--runtime=$RUNTIME --output-format=json --output="$out" ;;
		esac || fail "fio $job against $1 failed"
		local v
		v=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1]))['jobs'][0]['read']; print(round(j['iops']) if sys.argv[2]=='rand4k' else round(j['bw']/1024))" "$out" $job)
		results[$1-$job]+="$v "
		log "$1 round $3 $job: $v $([ $job = rand4k ] && echo IOPS || echo MiB/s)"
	done
	srp_remove
}
for r in $(seq 1 "$ROUNDS"); do
	bench_once targed $TARGED_PORT "$r"
	bench_once lio $LIO_PORT "$r"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
step "results (median of $ROUNDS rounds, ${RUNTIME} s each)"
{
	for job in rand4k seq1m; do
		t=$(echo "${results[targed-$job]}" | median)
		l=$(echo "${results[lio-$job]}" | median)
		unit=$([ $job = rand4k ] && echo "IOPS" || echo "MiB/s")
		ratio=$(awk -v a="$t" -v b="$l" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
		echo "$job: targed $t $unit [${results[targed-$job]% }], LIO ib_srpt $l $unit [${results[lio-$job]% }], ratio $ratio"
	done
} | tee "$SO/summary.txt"

echo 0 > "$S/enable"
target_stop
log "PASS"
