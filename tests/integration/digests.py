#!/usr/bin/env python3
# CRC32C header and data digests with a raw client: good data round-trips, corrupted digests are refused.
"""usage: digests.py HOST PORT TARGET LUN --pid PID [--log FILE]

libiscsi 1.19 never negotiates DataDigest, so data digests are checked here: the client offers
only CRC32C for both, verifies every digest the target sends, and sends PDUs whose digests are
wrong on purpose. A corrupted write must never reach the disk.
"""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iscsi_raw as raw  # noqa: E402

checks = raw.Checks("digests")
fail, note, finish = checks.fail, checks.note, checks.finish


def login(args, initiator, header_digest, data_digest):
    conn = raw.Connection(args.host, args.port)
    keys = conn.login(initiator, args.target, header_digest=header_digest, data_digest=data_digest)
    want = [("HeaderDigest", header_digest), ("DataDigest", data_digest)]
    for key, on in want:
        if on and keys.get(key) != "CRC32C":
            raise raw.ProtocolError("offered only %s=CRC32C, target answered %r" % (key, keys.get(key)))
    raw.clear_unit_attentions(conn, args.lun)
    return conn


def check_alive(args, after):
    try:
        os.kill(args.pid, 0)
    except OSError:
        fail("after %s: the daemon (pid %d) is gone" % (after, args.pid))
        raise SystemExit(finish())


def read_blocks(conn, args, lba, nbytes, block_size):
    status, sense, data = conn.scsi(raw.cdb_read16(lba, nbytes // block_size), args.lun, read_len=nbytes)
    if status != raw.STATUS_GOOD:
        raise raw.ProtocolError("READ(16) at LBA %d: status 0x%02x sense %s" % (lba, status, sense.hex()))
    return data


def main():
    args = raw.parse_target_args(with_daemon=True)

    # 1. Header and data digests on a good session; a transfer big enough for several PDUs and R2Ts.
    good = login(args, "iqn.2026-11.org.targe:digests-good", True, True)
    nblocks, block_size = raw.read_capacity(good, args.lun)
    note("good session: HeaderDigest=CRC32C DataDigest=CRC32C, %d blocks of %d" % (nblocks, block_size))
    lba = nblocks // 4
    pattern = os.urandom(640 * 512 // block_size * block_size)
    status, sense, _ = good.scsi(raw.cdb_write16(lba, len(pattern) // block_size), args.lun, data_out=pattern)
    if status != raw.STATUS_GOOD:
        fail("WRITE(16) of %d bytes with digests: status 0x%02x sense %s" % (len(pattern), status, sense.hex()))
    if read_blocks(good, args, lba, len(pattern), block_size) != pattern:
        fail("data written with digests reads back different")
    else:
        note("%d bytes written and read back with every digest verified" % len(pattern))

    # 2. A header with a wrong digest cannot be trusted (not even its length): the connection must go.
    case = "NOP-Out with a corrupted header digest"
    mark = raw.log_mark(args.log)
    bad = login(args, "iqn.2026-11.org.targe:digests-bad", True, False)
    bhs = bytearray(raw.BHS_LEN)
    bhs[0] = raw.IMMEDIATE | raw.OP_NOP_OUT
    bhs[1] = raw.FINAL
    struct.pack_into(">I", bhs, 16, bad.next_itt())
    struct.pack_into(">I", bhs, 20, raw.NO_TAG)
    struct.pack_into(">I", bhs, 24, bad.cmdsn)
    struct.pack_into(">I", bhs, 28, bad.exp_statsn)
    bad.send_pdu(bhs, b"ping", bad_header_digest=True)
    closed, pdus = bad.wait_closed(5.0)
    bad.close()
    if any(p.opcode == raw.OP_NOP_IN for p in pdus):
        fail("%s: the target answered the PDU it should have discarded" % case)
    if not closed:
        fail("%s: target kept the connection open for 5 s" % case)
    else:
        note("%s: connection closed by the target" % case)
    raw.expect_log(checks, args.log, mark, r"digest", case)
    check_alive(args, case)

    # 3. Write data with a wrong data digest: refused, and the blocks keep their old contents.
    case = "WRITE(16) whose data carries a corrupted data digest"
    mark = raw.log_mark(args.log)
    bad = login(args, "iqn.2026-11.org.targe:digests-bad", True, True)
    junk = bytes([0x5A]) * (8 * block_size)
    bhs = bad.scsi_bhs(raw.cdb_write16(lba, 8), args.lun, write_len=len(junk))
    itt = struct.unpack_from(">I", bhs, 16)[0]
    if bad.immediate_data:
        bad.send_pdu(bhs, junk, bad_data_digest=True)
    else:
        bad.send_pdu(bhs)
    bad.cmdsn += 1
    outcome = None
    deadline = time.monotonic() + 5.0
    try:
        while outcome is None and time.monotonic() < deadline:
            p = bad.recv_pdu_within(deadline - time.monotonic())
            if p is None:
                break
            if p.opcode == raw.OP_R2T and not bad.immediate_data:
                out = bytearray(raw.BHS_LEN)
                out[0] = raw.OP_DATA_OUT
                out[1] = raw.FINAL
                out[8:16] = raw.encode_lun(args.lun)
                struct.pack_into(">I", out, 16, itt)
                struct.pack_into(">I", out, 20, p.u32(20))
                struct.pack_into(">I", out, 28, bad.exp_statsn)
                struct.pack_into(">I", out, 40, p.u32(40))
                bad.send_pdu(out, junk[p.u32(40):p.u32(40) + p.u32(44)], bad_data_digest=True)
            elif p.opcode == raw.OP_REJECT:
                outcome = "Reject reason 0x%02x" % p.bhs[2]
                if p.bhs[2] != 0x02:
                    fail("%s: Reject reason 0x%02x, expected 0x02 (data digest error)" % (case, p.bhs[2]))
            elif p.opcode == raw.OP_SCSI_RSP:
                if p.bhs[3] == raw.STATUS_GOOD and p.bhs[2] == 0:
                    fail("%s: the command completed GOOD" % case)
                outcome = "SCSI Response status 0x%02x" % p.bhs[3]
    except raw.ConnectionClosed:
        outcome = "connection closed"
    except (raw.ProtocolError, OSError) as e:
        outcome = "connection dropped (%s)" % e
    bad.close()
    if outcome is None:
        fail("%s: no Reject, error status or close within 5 s" % case)
    else:
        note("%s: %s" % (case, outcome))
    raw.expect_log(checks, args.log, mark, r"digest", case)
    check_alive(args, case)
    try:
        if read_blocks(good, args, lba, len(pattern), block_size) != pattern:
            fail("%s: the blocks changed although the data digest was wrong" % case)
        good.nop(b"after-bad-digests")
        good.logout()
        note("good session unaffected, logged out")
    except (raw.ConnectionClosed, raw.ProtocolError, OSError) as e:
        fail("good session broke after the bad digests: %s" % e)
    return finish()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (raw.ConnectionClosed, raw.ProtocolError, OSError) as e:
        fail(str(e))
        sys.exit(finish())
