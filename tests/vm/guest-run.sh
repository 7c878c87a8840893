#!/bin/sh
# The lab guest's job (runs as the guest's root shell): network + soft-RoCE, then each scenario with its own verdict and logs.
OUT=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^lab.out=//p')
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. "$OUT/guest.env"
export LAB_OUT="$OUT" LAB_TARGET LAB_TARGED LAB_FAULT LAB_SCENARIO_DIR
[ -n "${TARGED_IO_THREADS:-}" ] && export TARGED_IO_THREADS
[ -n "${TARGED_IO_THREAD_CPUS:-}" ] && export TARGED_IO_THREAD_CPUS

uptime_s() { cut -d' ' -f1 /proc/uptime; }
uptime_s > "$OUT/booted"

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
# soft-RoCE is part of every boot: the iSER/SRP scenarios need it, and a guest where it cannot
# attach should say so in every log rather than fail mysteriously later
rdma link add rxe0 type rxe netdev eth0 2> "$OUT/rxe.err" || echo "guest: rdma link add rxe0 failed: $(cat "$OUT/rxe.err")"
dmesg -c > "$OUT/boot-dmesg.txt"

for name in $LAB_SCENARIOS; do
	SO=$OUT/$name
	rm -rf "$SO"; mkdir -p "$SO"
	script=$LAB_SCENARIO_DIR/$name.sh
	t0=$(uptime_s)
	echo "guest: scenario $name start (uptime $t0)"
	if [ ! -f "$script" ]; then
		echo "no such scenario: $script" > "$SO/reason"; rc=127
	else
		# timeout signals its whole process group, so a hung fio or iscsiadm goes with the script
		SCENARIO_OUT=$SO timeout -k 10 "$LAB_SCENARIO_TIMEOUT" bash "$script" > "$SO/scenario.log" 2>&1
		rc=$?
	fi
	t1=$(uptime_s)
	awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f\n", b-a}' > "$SO/seconds"
	case $rc in
	0) echo pass > "$SO/verdict" ;;
	124|137) echo timeout > "$SO/verdict"
		[ -s "$SO/reason" ] || echo "scenario did not finish within ${LAB_SCENARIO_TIMEOUT}s" > "$SO/reason" ;;
	*) echo fail > "$SO/verdict"
		[ -s "$SO/reason" ] || echo "scenario exited $rc without saying why" > "$SO/reason" ;;
	esac
	echo "guest: scenario $name $(cat "$SO/verdict") in $(cat "$SO/seconds")s"
	# a scenario that died half-way must not leave sessions or daemons to the next one
	timeout 30 iscsiadm -m session -u > /dev/null 2>&1
	[ -s /run/targe-lab/pids ] && while read -r pid; do kill -9 "$pid" 2>/dev/null; done < /run/targe-lab/pids
	DM_DISABLE_UDEV=1 dmsetup remove_all > /dev/null 2>&1
	losetup -D > /dev/null 2>&1
	rm -rf /run/targe-lab /etc/iscsi/nodes /etc/iscsi/send_targets
	dmesg -c > "$SO/dmesg.txt"
done
echo yes > "$OUT/finished"
sync
echo o > /proc/sysrq-trigger
sleep 30
