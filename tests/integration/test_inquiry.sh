#!/bin/bash
# INQUIRY (standard and VPD 0x00/0x80/0x83/0xb0/0xb1) and READ CAPACITY(16) through libiscsi's tools.
source "$(dirname "$0")/lib.sh"

tg_device disk0 64M 512
tg_device disk1 8M 4096
tg_lun "$TG_IQN" 0 disk0
tg_lun "$TG_IQN" 1 disk1
tg_start

INQ=(timeout 20 iscsi-inq -i iqn.2026-11.org.targe:inquiry)

must_contain() { # file, fixed string, what
	grep -qF -- "$2" "$1" || { cat "$1" >&2; tg_fail "$3: no '$2'"; }
}

# Prints "serial|page-0x83-text" so identities can be compared between LUNs and across a restart.
check_lun() {
	local lun=$1 blocks=$2 bs=$3 url out=$TG_DIR/inq.$1
	url=$(tg_url "$lun")

	"${INQ[@]}" "$url" >"$out.std" 2>&1 || { cat "$out.std" >&2; tg_fail "LUN $lun: standard INQUIRY failed"; }
	must_contain "$out.std" "Peripheral Qualifier:CONNECTED" "LUN $lun standard INQUIRY"
	must_contain "$out.std" "Peripheral Device Type:DIRECT_ACCESS" "LUN $lun standard INQUIRY"
	grep -qE '^Vendor:.*[^ ]' "$out.std" || { cat "$out.std" >&2; tg_fail "LUN $lun: empty T10 vendor"; }
	grep -qE '^Product:.*[^ ]' "$out.std" || { cat "$out.std" >&2; tg_fail "LUN $lun: empty product"; }
	local version
	version=$(sed -nE 's/^Version:([0-9]+).*/\1/p' "$out.std")
	if [ -z "$version" ] || [ "$version" -lt 5 ]; then
		cat "$out.std" >&2
		tg_fail "LUN $lun: VERSION '$version' below SPC-3 (5)"
	fi

	"${INQ[@]}" -e 1 -c 0 "$url" >"$out.vpd00" 2>&1 || { cat "$out.vpd00" >&2; tg_fail "LUN $lun: VPD 0x00 failed"; }
	for page in 0x80 0x83 0xb0 0xb1; do
		must_contain "$out.vpd00" "Page:$page " "LUN $lun supported VPD pages"
	done

	"${INQ[@]}" -e 1 -c 128 "$url" >"$out.vpd80" 2>&1 || { cat "$out.vpd80" >&2; tg_fail "LUN $lun: VPD 0x80 failed"; }
	local serial
	serial=$(sed -nE 's/^Unit Serial Number:\[ *(.*[^ ]) *\]$/\1/p' "$out.vpd80")
	[ -n "$serial" ] || { cat "$out.vpd80" >&2; tg_fail "LUN $lun: empty unit serial number"; }

	"${INQ[@]}" -e 1 -c 131 "$url" >"$out.vpd83" 2>&1 || { cat "$out.vpd83" >&2; tg_fail "LUN $lun: VPD 0x83 failed"; }
	# At least one designator of the logical unit itself, of a type that names it uniquely.
	awk '/^Association:\(0\) LOGICAL_UNIT/ { lu = 1; next }
	     lu && /^Designator Type:\((1|2|3|8)\)/ { found = 1 }
	     /^DEVICE DESIGNATOR/ { lu = 0 }
	     END { exit !found }' "$out.vpd83" ||
		{ cat "$out.vpd83" >&2; tg_fail "LUN $lun: VPD 0x83 has no T10/EUI-64/NAA/SCSI-name designator for the LU"; }

	"${INQ[@]}" -e 1 -c 176 "$url" >"$out.vpdb0" 2>&1 || { cat "$out.vpdb0" >&2; tg_fail "LUN $lun: VPD 0xb0 failed"; }
	must_contain "$out.vpdb0" "maximum transfer length:" "LUN $lun block limits VPD"
	"${INQ[@]}" -e 1 -c 177 "$url" >"$out.vpdb1" 2>&1 || { cat "$out.vpdb1" >&2; tg_fail "LUN $lun: VPD 0xb1 failed"; }
	must_contain "$out.vpdb1" "Medium Rotation Rate:" "LUN $lun block device characteristics VPD"

	# A page nobody implements must be refused, not answered with garbage.
	if "${INQ[@]}" -e 1 -c 192 "$url" >"$out.vpdc0" 2>&1; then
		cat "$out.vpdc0" >&2
		tg_fail "LUN $lun: VPD page 0xc0 was answered"
	fi
	must_contain "$out.vpdc0" "ILLEGAL_REQUEST" "LUN $lun VPD 0xc0"
	must_contain "$out.vpdc0" "INVALID_FIELD_IN_CDB" "LUN $lun VPD 0xc0"

	timeout 20 iscsi-readcapacity16 -i iqn.2026-11.org.targe:inquiry "$url" >"$out.rc16" 2>&1 ||
		{ cat "$out.rc16" >&2; tg_fail "LUN $lun: READ CAPACITY(16) failed"; }
	must_contain "$out.rc16" "RETURNED LOGICAL BLOCK ADDRESS:$((blocks - 1))" "LUN $lun READ CAPACITY(16)"
	must_contain "$out.rc16" "LOGICAL BLOCK LENGTH IN BYTES:$bs" "LUN $lun READ CAPACITY(16)"
	must_contain "$out.rc16" "Total size:$((blocks * bs))" "LUN $lun READ CAPACITY(16)"

	echo "$serial|$(grep -v '^Peripheral' "$out.vpd83" | tr '\n' ' ')"
}

id0=$(check_lun 0 131072 512)
id1=$(check_lun 1 2048 4096)
tg_log "LUN 0 serial ${id0%%|*}, LUN 1 serial ${id1%%|*}"
[ "${id0%%|*}" != "${id1%%|*}" ] || tg_fail "LUN 0 and LUN 1 report the same unit serial number '${id0%%|*}'"
[ "${id0#*|}" != "${id1#*|}" ] || tg_fail "LUN 0 and LUN 1 report identical device identification pages"

# Identity belongs to the device, not to the process: the same after a restart.
tg_restart
[ "$(check_lun 0 131072 512)" = "$id0" ] || tg_fail "LUN 0 identity changed across a restart"
[ "$(check_lun 1 2048 4096)" = "$id1" ] || tg_fail "LUN 1 identity changed across a restart"
