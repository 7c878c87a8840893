#!/usr/bin/env python3
# Sends malformed PDUs on side connections and checks the target drops them while a good session keeps working.
"""usage: malformed.py HOST PORT TARGET LUN --pid PID [--log FILE]

With --log, every bad PDU that the target must notice (reserved opcode, absurd length) has to
leave a line in the daemon log naming what was wrong.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402

CLOSE_WAIT = 5.0
RESERVED_OPCODE = 0x0B  # between Logout Request (0x06) and SNACK (0x10): reserved for initiators

checks = raw.Checks("malformed")
fail, note, finish = checks.fail, checks.note, checks.finish


class Checker:
    def __init__(self, args):
        self.args = args
        self.good = None
        self.pattern = None
        self.lba = 0
        self.blocks = 8
        self.block_size = 512

    def connect(self):
        return raw.Connection(self.args.host, self.args.port)

    def login(self, initiator):
        conn = self.connect()
        conn.login(initiator, self.args.target)
        return conn

    # -- the session that must survive everything ----------------------------------------------

    def open_good_session(self):
        self.good = self.login("iqn.2026-11.org.targe:malformed-good")
        raw.clear_unit_attentions(self.good, self.args.lun)
        nblocks, self.block_size = raw.read_capacity(self.good, self.args.lun)
        self.lba = nblocks // 2
        self.pattern = os.urandom(self.blocks * self.block_size)
        status, sense, _ = self.good.scsi(raw.cdb_write16(self.lba, self.blocks), self.args.lun,
                                          data_out=self.pattern)
        if status != raw.STATUS_GOOD:
            raise raw.ProtocolError("WRITE(16) on the good session: status 0x%02x sense %s" %
                                    (status, sense.hex()))
        note("good session logged in, wrote %d blocks at LBA %d" % (self.blocks, self.lba))

    def check_good_session(self, after):
        try:
            status, sense, _ = self.good.scsi(raw.cdb_test_unit_ready(), self.args.lun)
            if status != raw.STATUS_GOOD:
                fail("after %s: TEST UNIT READY on the good session: status 0x%02x sense %s" %
                     (after, status, sense.hex()))
            status, sense, data = self.good.scsi(raw.cdb_read16(self.lba, self.blocks), self.args.lun,
                                                 read_len=len(self.pattern))
            if status != raw.STATUS_GOOD:
                fail("after %s: READ(16) on the good session: status 0x%02x sense %s" %
                     (after, status, sense.hex()))
            elif data != self.pattern:
                fail("after %s: the good session reads back different data" % after)
            self.good.nop(b"still-there")
        except (raw.ConnectionClosed, raw.ProtocolError, OSError) as e:
            fail("after %s: the good session broke: %s" % (after, e))
            raise SystemExit(finish())
        self.check_alive(after)

    def check_alive(self, after):
        try:
            os.kill(self.args.pid, 0)
        except OSError:
            fail("after %s: the daemon (pid %d) is gone" % (after, self.args.pid))
            raise SystemExit(finish())

    # -- daemon log --------------------------------------------------------------------------------

    def log_mark(self):
        return raw.log_mark(self.args.log)

    def expect_log(self, mark, pattern, case):
        raw.expect_log(checks, self.args.log, mark, pattern, case)

    # -- the cases ---------------------------------------------------------------------------------

    def expect_closed(self, conn, case, allowed_replies):
        closed, pdus = conn.wait_closed(CLOSE_WAIT)
        conn.close()
        for pdu in pdus:
            if pdu.opcode not in allowed_replies:
                fail("%s: unexpected reply %r before the close" % (case, pdu))
        if not closed:
            fail("%s: target kept the connection open for %.0f s" % (case, CLOSE_WAIT))
        else:
            note("%s: connection closed by the target (replies: %s)" %
                 (case, ", ".join("0x%02x" % p.opcode for p in pdus) or "none"))
        return pdus

    def case_reserved_opcode_before_login(self):
        case = "reserved opcode 0x%02x as the first PDU" % RESERVED_OPCODE
        mark = self.log_mark()
        conn = self.connect()
        bhs = bytearray(raw.BHS_LEN)
        bhs[0] = raw.IMMEDIATE | RESERVED_OPCODE
        bhs[1] = raw.FINAL
        conn.send_raw(conn.encode_pdu(bhs))
        # A Login Response refusing the connection or a Reject may precede the close.
        self.expect_closed(conn, case, (raw.OP_LOGIN_RSP, raw.OP_REJECT))
        self.expect_log(mark, r"opcode", case)
        self.check_good_session(case)

    def case_reserved_opcode_in_session(self):
        case = "reserved opcode 0x%02x in full feature phase" % RESERVED_OPCODE
        mark = self.log_mark()
        conn = self.login("iqn.2026-11.org.targe:malformed-bad")
        bhs = bytearray(raw.BHS_LEN)
        bhs[0] = RESERVED_OPCODE
        bhs[1] = raw.FINAL
        struct.pack_into(">I", bhs, 16, conn.next_itt())
        struct.pack_into(">I", bhs, 24, conn.cmdsn)
        struct.pack_into(">I", bhs, 28, conn.exp_statsn)
        conn.send_pdu(bhs)
        # Either is correct: Reject ("command not supported" / "protocol error") keeping the
        # connection usable, or dropping the connection. Silence is not.
        closed, pdus = conn.wait_closed(1.0)
        rejects = [p for p in pdus if p.opcode == raw.OP_REJECT]
        others = [p for p in pdus if p.opcode != raw.OP_REJECT]
        if others:
            fail("%s: unexpected reply %r" % (case, others[0]))
        for r in rejects:
            if r.bhs[2] not in (0x04, 0x05):
                fail("%s: Reject reason 0x%02x, expected 0x04 or 0x05" % (case, r.bhs[2]))
            if r.data[:1] and r.data[0] & 0x3F != RESERVED_OPCODE:
                fail("%s: Reject does not carry the offending header (opcode 0x%02x)" %
                     (case, r.data[0] & 0x3F))
        if closed:
            note("%s: connection closed by the target (%d Reject)" % (case, len(rejects)))
        elif rejects:
            try:
                conn.nop(b"after-reject")
                note("%s: Reject reason 0x%02x, connection still usable" % (case, rejects[0].bhs[2]))
            except (raw.ConnectionClosed, raw.ProtocolError, OSError) as e:
                note("%s: Reject, then the connection went away (%s)" % (case, e))
        else:
            fail("%s: neither a Reject nor a close within 1 s" % case)
        conn.close()
        self.expect_log(mark, r"opcode", case)
        self.check_good_session(case)

    def case_truncated_header_before_login(self):
        case = "truncated Login header, then half-close"
        conn = self.connect()
        bhs = bytearray(raw.BHS_LEN)
        bhs[0] = raw.IMMEDIATE | raw.OP_LOGIN_REQ
        bhs[1] = 0x80 | (1 << 2) | 3
        conn.send_raw(bytes(bhs[:20]))
        conn.sock.shutdown(socket.SHUT_WR)
        self.expect_closed(conn, case, ())
        self.check_good_session(case)

    def case_truncated_header_in_session(self):
        case = "truncated SCSI Command header in a session, then close"
        conn = self.login("iqn.2026-11.org.targe:malformed-bad")
        bhs = conn.scsi_bhs(raw.cdb_read16(0, 1), self.args.lun, read_len=self.block_size)
        conn.send_raw(bytes(bhs[:30]))
        conn.sock.shutdown(socket.SHUT_WR)
        self.expect_closed(conn, case, ())
        self.check_good_session(case)

    def case_absurd_length_before_login(self):
        case = "Login Request with DataSegmentLength 0xFFFFFF"
        mark = self.log_mark()
        conn = self.connect()
        bhs = bytearray(raw.BHS_LEN)
        bhs[0] = raw.IMMEDIATE | raw.OP_LOGIN_REQ
        bhs[1] = 0x80 | (1 << 2) | 3
        bhs[8:14] = bytes([0x80, 0, 0, 0, 0, 1])
        bhs[5:8] = b"\xff\xff\xff"
        # Only a little of the promised 16 MiB follows: the target must judge the header alone.
        conn.send_raw(bytes(bhs) + raw.text_keys([("InitiatorName", "iqn.2026-11.org.targe:x")]))
        self.expect_closed(conn, case, (raw.OP_LOGIN_RSP, raw.OP_REJECT))
        self.expect_log(mark, r"length|segment|0xffffff|16777215", case)
        self.check_good_session(case)

    def case_absurd_length_in_session(self):
        case = "SCSI Command with DataSegmentLength 0xFFFFFF in a session"
        mark = self.log_mark()
        conn = self.login("iqn.2026-11.org.targe:malformed-bad")
        bhs = conn.scsi_bhs(raw.cdb_write16(0, 1), self.args.lun, write_len=self.block_size)
        bhs[5:8] = b"\xff\xff\xff"
        conn.send_raw(bytes(bhs) + bytes(512))
        self.expect_closed(conn, case, (raw.OP_REJECT, raw.OP_SCSI_RSP))
        self.expect_log(mark, r"length|segment|0xffffff|16777215", case)
        self.check_good_session(case)


def main():
    args = raw.parse_target_args(with_daemon=True)

    checker = Checker(args)
    checker.open_good_session()
    for case in (checker.case_reserved_opcode_before_login,
                 checker.case_reserved_opcode_in_session,
                 checker.case_truncated_header_before_login,
                 checker.case_truncated_header_in_session,
                 checker.case_absurd_length_before_login,
                 checker.case_absurd_length_in_session):
        try:
            case()
        except (raw.ConnectionClosed, raw.ProtocolError, OSError) as e:
            fail("%s: %s" % (case.__name__, e))
            checker.check_good_session(case.__name__)
    checker.good.logout()
    note("good session logged out cleanly")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
