#!/usr/bin/env python3
# Session reinstatement: a second login with the same initiator name and ISID replaces the first session, whose unfinished write is never acknowledged.
"""usage: reinstate.py HOST PORT TARGET LUN [BASE_LBA]

BASE_LBA (default 0) moves the blocks used below up by that many: a test running other I/O on
the LUN at the same time keeps its own range clear of them.

1. Session A writes pattern 1 at LBA 8 and leaves a second write (pattern 2, LBA 16) waiting
   for its solicited data (R2T received, Data-Out withheld).
2. Session B logs in with the same InitiatorName and ISID: the target must accept it and
   close A's connection (reinstatement, RFC 7143 6.3.5).
3. B reads LBA 8 (pattern 1, acknowledged to A) and LBA 16 (unchanged: A's write never got
   its data and was never acknowledged), then writes and reads back through B.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402

INITIATOR = "iqn.2026-11.org.targe:reinstate"
ISID = bytes([0x80, 0x00, 0x00, 0x00, 0x42, 0x01])
BLOCK = 512


def check(cond, msg):
    if not cond:
        print("reinstate: FAIL: " + msg, flush=True)
        sys.exit(1)
    print("reinstate: ok: " + msg, flush=True)


def clear_unit_attentions(conn, lun):
    # A new nexus may start with a unit attention (e.g. POWER ON OCCURRED): consume them.
    for _ in range(8):
        status, _, _ = conn.scsi(raw.cdb_test_unit_ready(), lun=lun)
        if status == 0:
            return
    check(False, "TEST UNIT READY keeps failing")


def read_block(conn, lun, lba):
    status, sense, data = conn.scsi(raw.cdb_read16(lba, 1), lun=lun, read_len=BLOCK)
    check(status == 0, "READ(16) LBA %d GOOD (status %#x sense %s)" % (lba, status, sense.hex()))
    return data


def main():
    host, port, target, lun = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    base = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    acked_lba, withheld_lba = base + 8, base + 16
    pattern1 = bytes([0xA1]) * BLOCK
    pattern2 = bytes([0xB2]) * BLOCK
    pattern3 = bytes([0xC3]) * BLOCK

    a = raw.Connection(host, port)
    a.login(INITIATOR, target, isid=ISID)
    clear_unit_attentions(a, lun)
    status, sense, _ = a.scsi(raw.cdb_write16(acked_lba, 1), lun=lun, data_out=pattern1)
    check(status == 0, "session A: WRITE(16) LBA %d acknowledged" % acked_lba)

    b0 = raw.Connection(host, port)
    b0.login(INITIATOR + "-reader", target)
    clear_unit_attentions(b0, lun)
    baseline = read_block(b0, lun, withheld_lba)
    b0.logout()

    # A write whose data is withheld (no immediate data, no unsolicited Data-Out): the
    # command waits in the target for data. The NOP round trip proves it was received.
    bhs = a.scsi_bhs(raw.cdb_write16(withheld_lba, 1), lun, write_len=BLOCK)
    a.send_pdu(bhs)
    a.cmdsn = (a.cmdsn + 1) & 0xFFFFFFFF
    a.nop()
    check(True, "session A: write with withheld data is pending in the target")

    b = raw.Connection(host, port)
    b.login(INITIATOR, target, isid=ISID)
    check(True, "session B (same initiator port) logged in")
    check(a.wait_closed(5.0), "session A's connection was closed by the reinstatement")
    clear_unit_attentions(b, lun)

    check(read_block(b, lun, acked_lba) == pattern1, "acknowledged write of session A is there")
    check(read_block(b, lun, withheld_lba) == baseline, "unacknowledged write of session A left no trace")
    status, _, _ = b.scsi(raw.cdb_write16(withheld_lba, 1), lun=lun, data_out=pattern3)
    check(status == 0, "session B: WRITE(16) LBA %d acknowledged" % withheld_lba)
    check(read_block(b, lun, withheld_lba) == pattern3, "session B reads its own write")
    check(pattern2 != pattern3, "patterns differ")
    b.logout()


if __name__ == "__main__":
    main()
