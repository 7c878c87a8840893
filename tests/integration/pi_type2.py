#!/usr/bin/env python3
# Type 2 protection over raw iSCSI PDUs: READ(32)/WRITE(32) in an Extended CDB AHS, their expected tags, and the 16-byte CDB refusals.
"""usage: pi_type2.py HOST PORT TARGET LUN

libiscsi's CDBs stop at 16 bytes, so the 32-byte commands type 2 needs are sent here: the CDB's
first 16 bytes in the BHS, the rest in an Extended CDB AHS (RFC 7143 11.3.4), with PI
interleaved after each block in the data.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402

BS = 512
checks = raw.Checks("pi_type2")
fail, note, finish = checks.fail, checks.note, checks.finish


def crc16_t10dif(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8BB7) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


class Conn32(raw.Connection):
    """A connection whose next SCSI Command PDU carries an Extended CDB AHS."""

    pending_ahs = b""

    def encode_pdu(self, bhs, data=b"", **kw):
        if not self.pending_ahs or bhs[0] & 0x3F != raw.OP_SCSI_CMD:
            return super().encode_pdu(bhs, data, **kw)
        ahs, self.pending_ahs = self.pending_ahs, b""
        bhs = bytearray(bhs)
        bhs[4] = len(ahs) // 4
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytearray(bhs) + ahs
        if self.header_digest:
            out += struct.pack("<I", raw.crc32c(bytes(out)))
        if data:
            padded = data + b"\0" * raw.pad4(len(data))
            out += padded
            if self.data_digest:
                out += struct.pack("<I", raw.crc32c(padded))
        return bytes(out)

    def scsi32(self, cdb, data_out=b"", read_len=0):
        assert len(cdb) == 32
        # AHSLength = CDB length - 15: a reserved byte, then CDB bytes 16..31.
        self.pending_ahs = struct.pack(">HBB", 17, 1, 0) + cdb[16:]
        return self.scsi(cdb[:16], self.lun, data_out=data_out, read_len=read_len)


def cdb32(sa, protect, lba, blocks, ref, app=0, mask=0):
    return struct.pack(">BB4xBBHBxQIHHI", 0x7F, 0, 0, 0x18, sa, protect << 5, lba, ref, app,
                       mask, blocks)


def wire(blocks, seed, ref, app):
    out = bytearray()
    for i in range(blocks):
        block = bytes((seed + i * 31 + j * 7) & 0xFF for j in range(BS))
        out += block + struct.pack(">HHI", crc16_t10dif(block), app, ref + i)
    return bytes(out)


def expect_pi_error(result, ascq, lba, what):
    status, sense, _ = result
    kaq = raw.sense_key_asc(sense)
    if status != raw.STATUS_CHECK_CONDITION or kaq != (0xB, 0x10, ascq):
        fail("%s: want ABORTED COMMAND 10/%02x, got status 0x%02x %s" % (what, ascq, status, kaq))
    elif not sense[0] & 0x80 or struct.unpack_from(">I", sense, 3)[0] != lba:
        fail("%s: INFORMATION is not LBA %d" % (what, lba))
    else:
        note("%s: 10/%02x at LBA %d" % (what, ascq, lba))


def main():
    args = raw.parse_target_args()

    conn = Conn32(args.host, args.port)
    conn.login("iqn.2026-11.org.targe:pi-type2", args.target)
    conn.lun = args.lun
    raw.clear_unit_attentions(conn, args.lun)
    status, _, data = conn.scsi(raw.cdb_read_capacity16(), args.lun, read_len=32)
    if status != raw.STATUS_GOOD or data[12] != 0x03:
        fail("READ CAPACITY(16) byte 12 %s: want P_TYPE 1 (type 2), PROT_EN" % data[12:13].hex())

    lba, n, ref, app = 50, 3, 0x00A0_0000, 0x7700
    sent = wire(n, 5, ref, app)
    status, sense, _ = conn.scsi32(cdb32(0x000B, 1, lba, n, ref, app, 0xFFFF), data_out=sent)
    if status != raw.STATUS_GOOD:
        fail("WRITE(32) WRPROTECT=1: status 0x%02x %s" % (status, raw.sense_key_asc(sense)))
    status, sense, back = conn.scsi32(cdb32(0x0009, 1, lba, n, ref, app, 0xFFFF),
                                      read_len=len(sent))
    if status != raw.STATUS_GOOD or back != sent:
        fail("READ(32) RDPROTECT=1: status 0x%02x, %s" % (
            status, "same bytes" if back == sent else "other bytes"))
    else:
        note("WRITE(32)/READ(32) with PI and expected tags: %d bytes round trip" % len(sent))
    expect_pi_error(conn.scsi32(cdb32(0x0009, 1, lba, n, ref + 1, app, 0xFFFF),
                                read_len=len(sent)), 0x03, lba,
                    "READ(32) expecting another initial reference tag")
    expect_pi_error(conn.scsi32(cdb32(0x0009, 1, lba, n, ref, 0x7800, 0xFF00),
                                read_len=len(sent)), 0x02, lba,
                    "READ(32) expecting another application tag")
    bad = bytearray(sent)
    bad[BS + 8 + 100] ^= 1  # block 1's data no longer matches its guard
    expect_pi_error(conn.scsi32(cdb32(0x000B, 1, lba, n, ref, app, 0xFFFF), data_out=bytes(bad)),
                    0x01, lba + 1, "WRITE(32) with a damaged block")
    # Type 2 moves PI only in 32-byte CDBs; READ(16) without PI still checks the guard.
    cdb16 = bytearray(raw.cdb_read16(lba, n))
    cdb16[1] = 1 << 5
    status, sense, _ = conn.scsi(bytes(cdb16), args.lun, read_len=n * (BS + 8))
    if raw.sense_key_asc(sense) != (0x5, 0x24, 0x00):
        fail("READ(16) RDPROTECT=1 on type 2: want INVALID FIELD IN CDB, got %s" %
             (raw.sense_key_asc(sense),))
    status, _, data = conn.scsi(raw.cdb_read16(lba, n), args.lun, read_len=n * BS)
    if status != raw.STATUS_GOOD or data != b"".join(
            sent[i * (BS + 8):i * (BS + 8) + BS] for i in range(n)):
        fail("READ(16) RDPROTECT=0 on type 2: status 0x%02x" % status)
    conn.logout()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
