#!/usr/bin/env python3
# iSCSI task management over raw PDUs: ABORT TASK, QUERY TASK(SET), I_T NEXUS RESET, LUN RESET, TARGET COLD RESET and the UAs and reservations they touch.
"""usage: tmf.py HOST PORT TARGET LUN

libiscsi's iscsi-test-cu covers ABORT TASK and LUN RESET against a running WRITE; this checks
what it does not: the RFC 7144 functions (QUERY TASK, QUERY TASK SET, I_T NEXUS RESET), the
response codes of RFC 7143 11.6.1, a command aborted while waiting for its Data-Out, and the
side effects (unit attentions, SPC-2 reservations) seen from a second session.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402

OP_TMF_REQ = 0x02
OP_TMF_RSP = 0x22

ABORT_TASK, ABORT_TASK_SET, CLEAR_ACA, CLEAR_TASK_SET, LUN_RESET = 1, 2, 3, 4, 5
TARGET_WARM_RESET, TARGET_COLD_RESET, TASK_REASSIGN = 6, 7, 8
QUERY_TASK, QUERY_TASK_SET, I_T_NEXUS_RESET, QUERY_ASYNC_EVENT = 9, 10, 11, 12

COMPLETE, NO_TASK, NO_LUN, NOT_SUPPORTED, SUCCEEDED = 0, 1, 2, 5, 7

STATUS_RESERVATION_CONFLICT = 0x18

checks = raw.Checks("tmf")
fail, note, finish = checks.fail, checks.note, checks.finish


def tmf(conn, function, lun=0, ref_itt=raw.NO_TAG, ref_cmdsn=None):
    """Sends an immediate TMF request and returns its response code."""
    itt = conn.next_itt()
    bhs = bytearray(raw.BHS_LEN)
    bhs[0] = raw.IMMEDIATE | OP_TMF_REQ
    bhs[1] = 0x80 | function
    bhs[8:16] = raw.encode_lun(lun)
    struct.pack_into(">I", bhs, 16, itt)
    struct.pack_into(">I", bhs, 20, ref_itt)
    struct.pack_into(">I", bhs, 24, conn.cmdsn)
    struct.pack_into(">I", bhs, 28, conn.exp_statsn)
    struct.pack_into(">I", bhs, 32, conn.cmdsn if ref_cmdsn is None else ref_cmdsn)
    conn.send_pdu(bhs)
    rsp = conn.recv_for(itt)
    if rsp.opcode != OP_TMF_RSP:
        raise raw.ProtocolError("TMF %d answered by %r" % (function, rsp))
    conn.exp_statsn = (rsp.u32(24) + 1) & 0xFFFFFFFF
    return rsp.bhs[2]


def expect_tmf(conn, function, want, what, **kw):
    got = tmf(conn, function, **kw)
    if got != want:
        fail("%s: TMF response %d, expected %d" % (what, got, want))


def start_write_waiting_for_data(conn, lun, blocks=256):
    """A WRITE(16) longer than the first burst: the target asks for the rest with R2T (and
    waits for the first burst too, which never comes): it waits in its data phase."""
    bhs = conn.scsi_bhs(raw.cdb_write16(0, blocks), lun, write_len=blocks * 512)
    itt = struct.unpack_from(">I", bhs, 16)[0]
    cmdsn = conn.cmdsn
    conn.send_pdu(bhs)  # F = 1, no immediate data: nothing unsolicited follows
    conn.cmdsn = (conn.cmdsn + 1) & 0xFFFFFFFF
    r2t = conn.recv_for(itt)
    if r2t.opcode != raw.OP_R2T:
        raise raw.ProtocolError("WRITE(16) waiting for data answered by %r" % r2t)
    return itt, cmdsn


def tur_sense(conn, lun):
    """TEST UNIT READY: (status, (key, asc, ascq) or None)."""
    status, sense, _ = conn.scsi(raw.cdb_test_unit_ready(), lun)
    return status, raw.sense_key_asc(sense) if sense else None


def expect_ua(conn, lun, asc, ascq, who):
    status, kaq = tur_sense(conn, lun)
    if status != raw.STATUS_CHECK_CONDITION or not kaq or kaq != (0x6, asc, ascq):
        fail("%s: TEST UNIT READY gave status 0x%02x sense %s, expected UNIT ATTENTION %02X/%02X"
             % (who, status, kaq, asc, ascq))


def expect_good_tur(conn, lun, who):
    status, kaq = tur_sense(conn, lun)
    if status != raw.STATUS_GOOD:
        fail("%s: TEST UNIT READY gave status 0x%02x sense %s" % (who, status, kaq))


def main():
    args = raw.parse_target_args()
    lun = args.lun

    def session(name, isid):
        conn = raw.Connection(args.host, args.port)
        conn.login("iqn.2026-11.org.targe:tmf-" + name, args.target, isid=isid)
        raw.clear_unit_attentions(conn, lun)
        return conn

    a = session("a", bytes([0x80, 0, 0, 0, 0, 0xa1]))
    b = session("b", bytes([0x80, 0, 0, 0, 0, 0xb1]))

    # REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS tells what follows is there.
    cdb = bytes([0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0])
    status, _, data = a.scsi(cdb, lun, read_len=4)
    if status != raw.STATUS_GOOD or data[:2] != bytes([0xde, 0x03]):
        fail("REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS: status 0x%02x data %s" % (status, data.hex()))

    # A WRITE stuck in its data phase: QUERY TASK sees it, ABORT TASK ends it without status.
    itt, cmdsn = start_write_waiting_for_data(a, lun)
    expect_tmf(a, QUERY_TASK, SUCCEEDED, "QUERY TASK of a waiting WRITE", lun=lun, ref_itt=itt)
    expect_tmf(a, QUERY_TASK_SET, SUCCEEDED, "QUERY TASK SET with a waiting WRITE", lun=lun)
    expect_tmf(b, QUERY_TASK_SET, COMPLETE, "QUERY TASK SET of another session", lun=lun)
    expect_tmf(a, ABORT_TASK, COMPLETE, "ABORT TASK of a waiting WRITE", lun=lun, ref_itt=itt,
               ref_cmdsn=cmdsn)
    expect_tmf(a, QUERY_TASK, COMPLETE, "QUERY TASK after the abort", lun=lun, ref_itt=itt)
    expect_good_tur(a, lun, "session a after ABORT TASK")
    if any(p.opcode == raw.OP_SCSI_RSP and p.itt == itt for p in a.received):
        fail("the aborted WRITE got a SCSI Response")
    note("ABORT TASK / QUERY TASK of a WRITE waiting for Data-Out: done")

    # 11.6.1: a task that is gone and was received (RefCmdSN below ExpCmdSN) does not exist.
    expect_tmf(a, ABORT_TASK, NO_TASK, "ABORT TASK of a finished task", lun=lun, ref_itt=itt,
               ref_cmdsn=cmdsn)
    expect_tmf(a, CLEAR_ACA, NOT_SUPPORTED, "CLEAR ACA", lun=lun)
    expect_tmf(a, TASK_REASSIGN, NOT_SUPPORTED, "TASK REASSIGN", lun=lun)
    expect_tmf(a, QUERY_ASYNC_EVENT, NOT_SUPPORTED, "QUERY ASYNCHRONOUS EVENT", lun=lun)
    expect_tmf(a, LUN_RESET, NO_LUN, "LUN RESET of an unmapped LUN", lun=lun + 200)

    # SPC-2 RESERVE by a keeps b out; I_T NEXUS RESET of a drops it and tells a.
    status, _, _ = a.scsi(bytes([0x16, 0, 0, 0, 0, 0]), lun)
    if status != raw.STATUS_GOOD:
        fail("RESERVE(6): status 0x%02x" % status)
    status, _, _ = b.scsi(raw.cdb_read16(0, 1), lun, read_len=512)
    if status != STATUS_RESERVATION_CONFLICT:
        fail("READ from b under a's RESERVE: status 0x%02x" % status)
    expect_tmf(a, I_T_NEXUS_RESET, COMPLETE, "I_T NEXUS RESET")
    expect_ua(a, lun, 0x29, 0x07, "session a after I_T NEXUS RESET")
    status, _, _ = b.scsi(raw.cdb_read16(0, 1), lun, read_len=512)
    if status != raw.STATUS_GOOD:
        fail("READ from b after a's I_T NEXUS RESET: status 0x%02x" % status)
    note("I_T NEXUS RESET: done")

    # LUN RESET: every nexus of the unit hears of it, the requester's included.
    itt, cmdsn = start_write_waiting_for_data(b, lun)
    expect_tmf(a, LUN_RESET, COMPLETE, "LUN RESET", lun=lun)
    expect_tmf(b, QUERY_TASK, COMPLETE, "QUERY TASK of b's WRITE after the LUN RESET", lun=lun,
               ref_itt=itt)
    expect_ua(a, lun, 0x29, 0x03, "session a after LUN RESET")
    expect_ua(b, lun, 0x29, 0x03, "session b after LUN RESET")
    if any(p.opcode == raw.OP_SCSI_RSP and p.itt == itt for p in b.received):
        fail("b's WRITE aborted by the LUN RESET got a SCSI Response")
    note("LUN RESET: done")

    # TARGET COLD RESET: the response, then every session of the target goes.
    expect_tmf(a, TARGET_COLD_RESET, COMPLETE, "TARGET COLD RESET")
    for name, conn in (("a", a), ("b", b)):
        closed, _ = conn.wait_closed(5.0)
        if not closed:
            fail("session %s still open after TARGET COLD RESET" % name)
        conn.close()
    c = session("c", bytes([0x80, 0, 0, 0, 0, 0xc1]))
    expect_good_tur(c, lun, "a new session after the cold reset")
    c.logout()
    note("TARGET COLD RESET: done")

    return finish()


if __name__ == "__main__":
    sys.exit(main())
