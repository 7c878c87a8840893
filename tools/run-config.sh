#!/bin/sh
# Prints the config `make run` serves: config/default.conf, plus an iSER portal on port 3260 of each IPv4 address of the network interfaces behind RDMA devices, when there are any.
# Usage: tools/run-config.sh [CONFIG]   (a config that already sets transports.iser is printed unchanged)
set -eu
conf=${1:-config/default.conf}

# The netdevs of RoCE/iWARP ports (InfiniBand-only ports have none: their IPoIB interface is
# listed by its own driver under the same gid_attrs).
netdevs=$(cat /sys/class/infiniband/*/ports/*/gid_attrs/ndevs/* 2>/dev/null | sort -u || true)
portals=""
for nd in $netdevs; do
	for a in $(ip -4 -o addr show dev "$nd" 2>/dev/null | awk '{print $4}' | cut -d/ -f1); do
		portals="$portals${portals:+, }\"$a:3260\""
	done
done

if [ -z "$portals" ] || grep -Eq '^[[:space:]]*iser[[:space:]]*=' "$conf"; then
	cat "$conf"
	exit 0
fi
# the iser line goes right after the iscsi one, inside transports = { ... }
awk -v portals="$portals" '
	{ print }
	!done && /^[[:space:]]*iscsi[[:space:]]*=[[:space:]]*\{/ {
		print "  iser  = { listen = [ " portals " ]; };   # added by tools/run-config.sh: RDMA devices found"
		done = 1
	}' "$conf"
