#!/bin/bash
# Scenario: fio verify over SRP with two channels and with one; ib_srp without memory registration sends large S/G lists as partial indirect tables, which targed fetches by RDMA READ; no byte copied on the data path.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/srp-lib.sh"

make_disk 256
srp_target_start

srp_add ch_count=2
[ "$(srp_host_attr ch_count)" = 2 ] || fail "ch_count=2 gave $(srp_host_attr ch_count) channels"
# one job per CPU: blk-mq maps each CPU to its own hardware queue, i.e. its own RDMA channel
srp_fio two-channels-4k --bs=4k --iodepth=16 --numjobs=2 --cpus_allowed=0-1 \
	--cpus_allowed_policy=split --size=16M --offset=0 --offset_increment=16M
srp_fio two-channels-large --bsrange=4k-1m --iodepth=4 --size=64M --offset=32M
srp_remove
for ch in ch0 ch1; do
	n=$(srp_channel_stat $ch commands)
	[ "${n:-0}" -gt 1000 ] || fail "channel $ch carried ${n:-no} commands; both channels should have worked"
done
n=$(srp_channel_stat ch0 "with immediate data")
[ "${n:-0}" -gt 0 ] || fail "no command used immediate data"

srp_add ch_count=1
[ "$(srp_host_attr ch_count)" = 1 ] || fail "ch_count=1 gave $(srp_host_attr ch_count) channels"
srp_fio one-channel --bsrange=4k-128k --iodepth=16 --size=32M --offset=96M
srp_remove

# Without registration every physically contiguous piece of a request is its own descriptor;
# with room for only 2 in the SRP_CMD, longer lists are sent as partial indirect tables the
# target must fetch. (fio's buffers in transparent huge pages would be one piece: off for this.)
thp=/sys/kernel/mm/transparent_hugepage/enabled
thp_was=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$thp" 2>/dev/null)
[ -n "$thp_was" ] && echo never > "$thp"
srp_reload never_register=1
# Whether fio's buffers come in more than 2 physical pieces depends on what the guest's page
# allocator hands out (a fresh guest may give contiguous pages): a few more verified runs, with
# the page cache churned in between, until some command needed its table fetched.
for attempt in 1 2 3; do
	srp_add ch_count=1,cmd_sg_entries=2,allow_ext_sg=1,sg_tablesize=64
	srp_fio "partial-tables-$attempt" --bsrange=4k-512k --iodepth=8 --size=32M --offset=128M
	srp_remove
	n=$(srp_channel_stat ch0 "with a fetched descriptor table")
	[ "${n:-0}" -gt 0 ] && break
	log "attempt $attempt: no command needed a partial indirect table; fragmenting memory"
	dd if=/dev/urandom of="$WORK/churn" bs=4k count=16384 2> /dev/null
	rm -f "$WORK/churn"
done
[ -n "$thp_was" ] && echo "$thp_was" > "$thp"
[ "${n:-0}" -gt 0 ] || fail "no command came with a partial indirect table in 3 runs (ib_srp never_register=1, cmd_sg_entries=2)"
log "$n commands needed their descriptor table fetched"
srp_reload

target_stop
expect_zero_copies
expect_no_warnings
log "PASS"
