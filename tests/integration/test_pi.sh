#!/bin/bash
# Protection information end to end: a type 1 LUN advertises it, PI round-trips with WRPROTECT/RDPROTECT, bad PI is refused, a bit flipped in the image fails the next read of that block only; type 2's 32-byte CDBs.
source "$(dirname "$0")/lib.sh"
tg_require_targed "protection information and its sidecar file are targed's"
: "${PICHECK:?PICHECK must name the picheck client (ctest sets it)}"

tg_device pi0 16M 512 1
tg_lun "$TG_IQN" 0 pi0
tg_device pi2 4M 512 2
tg_lun "$TG_IQN" 1 pi2
tg_start
url=$(tg_url 0)
grep -q "pi0: protection type 1, 512+8 bytes per block, PI profile t10dif-crc16" "$TG_LOG" ||
	tg_fail "the start-up log does not describe pi0's PI format"

"$PICHECK" "$url" advertise 1 || tg_fail "advertising"
"$PICHECK" "$url" roundtrip 100 || tg_fail "WRPROTECT/RDPROTECT round trip"
"$PICHECK" "$url" write-plain 200 16 7 || tg_fail "plain write with generated PI"

# The sidecar is the contract's format: block N's tuple at 8 * N, big-endian, and agrees with
# the plain image beside it (checked with a CRC written here, not the daemon's).
image=$TG_DIR/pi0.img
python3 - "$image" "$image.pi" <<'EOF' || tg_fail "PATH.pi does not match the image"
import struct, sys
def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8BB7) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
img, pi = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
for lba, app in [(100, 0x4000), (107, 0x4007), (200, 0), (215, 0)]:
    img.seek(lba * 512); pi.seek(lba * 8)
    guard, app_tag, ref = struct.unpack(">HHI", pi.read(8))
    want = (crc16(img.read(512)), app, lba)
    if (guard, app_tag, ref) != want:
        sys.exit(f"LBA {lba}: PI {(guard, app_tag, ref)} want {want}")
print("PATH.pi: tuples at 8*N match the image's blocks")
EOF

flip_bit() { # IMAGE LBA: one bit of the block changes, by a tool that knows nothing of PI
	python3 - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]) * 512 + 77)
    b = f.read(1)[0]
    f.seek(-1, 1)
    f.write(bytes([b ^ 0x20]))
EOF
}

# Behind the stopped daemon's back, then behind the running one's.
tg_stop || tg_fail "stop"
flip_bit "$image" 205
tg_start
"$PICHECK" "$url" read-fails 200 8 205 || tg_fail "corruption made while stopped"
flip_bit "$image" 212
"$PICHECK" "$url" read-fails 208 8 212 || tg_fail "corruption made while running"
# Rewriting the block heals it.
"$PICHECK" "$url" write-plain 205 1 9 || tg_fail "rewrite of the corrupted block"

# Type 2: its 32-byte CDBs travel in an Extended CDB AHS (raw PDUs; libiscsi stops at 16).
python3 "$TG_INTEGRATION_DIR/pi_type2.py" "$TG_HOST" "$TG_PORT" "$TG_IQN" 1 ||
	tg_fail "type 2 32-byte CDBs"
tg_assert_alive "after the PI checks"
