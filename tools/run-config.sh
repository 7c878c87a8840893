#!/bin/sh
# Prints the config `make run` serves: config/default.conf, plus iSER (port 3260) and SRP (port 5555) portals on each IPv4 address of the network interfaces behind RDMA devices, when there are any.
# Usage: tools/run-config.sh [CONFIG]   (a transport the config already sets is left as it is)
set -eu
conf=${1:-config/default.conf}
ISER_PORT=3260
SRP_PORT=5555

# The netdevs of RoCE/iWARP ports (InfiniBand-only ports have none: their IPoIB interface is
# listed by its own driver under the same gid_attrs).
netdevs=$(cat /sys/class/infiniband/*/ports/*/gid_attrs/ndevs/* 2>/dev/null | sort -u || true)
addrs=""
for nd in $netdevs; do
	for a in $(ip -4 -o addr show dev "$nd" 2>/dev/null | awk '{print $4}' | cut -d/ -f1); do
		addrs="$addrs $a"
	done
done

portals() { # portals PORT: "A:PORT", "B:PORT" for every address found
	p=""
	for a in $addrs; do p="$p${p:+, }\"$a:$1\""; done
	echo "$p"
}
sets() { grep -Eq "^[[:space:]]*$1[[:space:]]*=" "$conf"; }

iser=""
srp=""
if [ -n "$addrs" ]; then
	sets iser || iser=$(portals $ISER_PORT)
	sets srp || srp=$(portals $SRP_PORT)
fi
if [ -z "$iser" ] && [ -z "$srp" ]; then
	cat "$conf"
	exit 0
fi
# the new lines go right after the iscsi one, inside transports = { ... }
awk -v iser="$iser" -v srp="$srp" '
	{ print }
	!done && /^[[:space:]]*iscsi[[:space:]]*=[[:space:]]*\{/ {
		if (iser != "")
			print "  iser  = { listen = [ " iser " ]; };   # added by tools/run-config.sh: RDMA devices found"
		if (srp != "")
			print "  srp   = { listen = [ " srp " ]; };   # added by tools/run-config.sh: RDMA devices found"
		done = 1
	}' "$conf"
